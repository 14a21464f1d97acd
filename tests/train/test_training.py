import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from napari_mcdet.models.checkpoint import load_model, read_checkpoint
from napari_mcdet.models.device import cpu_has_native_bf16
from napari_mcdet.train.config import TrainConfig
from napari_mcdet.train.loop import Trainer, learning_rate, train


def _weights(path):
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model.")}


def test_config_round_trip_and_errors(tmp_path, tiny_config):
    for name in ("c.yaml", "c.json"):
        path = tiny_config.save(tmp_path / name)
        assert TrainConfig.load(path) == tiny_config
    with pytest.raises(ValueError, match="unknown training configuration keys"):
        TrainConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="multiple of 16"):
        TrainConfig(patch_size=100)
    with pytest.raises(ValueError, match="lr_final"):
        TrainConfig(lr=1e-4, lr_final=1e-3)


@pytest.mark.slow
def test_a_few_steps_reduce_the_loss(tiny_config):
    torch.set_num_threads(1)
    cfg = TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 30, "epoch_steps": 30,
                                 "val_length": 6})
    trainer = train(cfg)
    losses = [e["loss"] for e in trainer.history]
    assert np.mean(losses[-8:]) < np.mean(losses[:8])
    out = Path(cfg.out_dir)
    assert {"last.safetensors", "best.safetensors", "log.jsonl", "config.yaml"} <= {
        p.name for p in out.iterdir()}
    last = trainer.history[-1]
    assert 0 <= last["val_AUC_MCs"] <= 1 and 0 <= last["data_wait"] <= 1
    model = load_model(out / "best.safetensors")
    assert model.metadata["recipe"]["steps"] == 30


@pytest.mark.slow
def test_resume_is_exact(tiny_config, tmp_path):
    torch.set_num_threads(1)
    straight = TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 4,
                                      "out_dir": str(tmp_path / "straight")})
    train(straight)
    first = TrainConfig.from_dict({**straight.to_dict(), "steps": 2,
                                   "out_dir": str(tmp_path / "parts")})
    train(first)
    second = TrainConfig.from_dict({**first.to_dict(), "steps": 4})
    train(second, resume=tmp_path / "parts" / "last.safetensors")
    a = _weights(tmp_path / "straight" / "last.safetensors")
    b = _weights(tmp_path / "parts" / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert read_checkpoint(tmp_path / "parts" / "last.safetensors")[1]["step"] == 4


def test_closing_the_run_saves_a_resumable_checkpoint(tiny_config):
    trainer = Trainer(TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 50}))
    events = trainer.run()
    for ev in events:
        if ev["step"] == 2:
            break
    events.close()
    _, meta = read_checkpoint(Path(tiny_config.out_dir) / "last.safetensors")
    assert meta["step"] == 2 and "optimizer" in meta


def test_the_learning_rate_follows_a_cosine_to_lr_final(tiny_config):
    cfg = TrainConfig.from_dict({**tiny_config.to_dict(), "lr": 1e-3, "lr_final": 1e-5,
                                 "steps": 100})
    assert learning_rate(cfg, 0) == pytest.approx(1e-3)
    assert learning_rate(cfg, 50) == pytest.approx((1e-3 + 1e-5) / 2)
    assert learning_rate(cfg, 100) == pytest.approx(1e-5)
    rates = [learning_rate(cfg, s) for s in range(101)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    constant = TrainConfig.from_dict({**cfg.to_dict(), "lr_final": None})
    assert {learning_rate(constant, s) for s in (0, 50, 100)} == {1e-3}
    trainer = Trainer(TrainConfig.from_dict({**cfg.to_dict(), "steps": 4}))
    first, second = trainer.train_step(), trainer.train_step()
    assert first["lr"] == pytest.approx(1e-3)
    assert second["lr"] < first["lr"]
    assert trainer.optimizer.param_groups[0]["lr"] == second["lr"]


def test_a_non_finite_loss_stops_the_run_with_an_intact_checkpoint(tiny_config):
    trainer = Trainer(TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 10, "amp": False}))
    events = trainer.run()
    next(events)
    batch = next(trainer._batches)
    batch["image"][0, 0, 0, 0] = float("nan")  # one corrupt pixel: every output turns NaN
    trainer._batches = itertools.chain([batch], trainer._batches)
    with pytest.raises(FloatingPointError, match="last.safetensors"):
        next(events)
    tensors, meta = read_checkpoint(Path(tiny_config.out_dir) / "last.safetensors")
    assert meta["step"] == 1
    assert all(torch.isfinite(v).all() for k, v in tensors.items() if k.startswith("model."))


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bfloat16")
def test_amp_on_a_bfloat16_cpu_trains_in_bfloat16_close_to_float32(tiny_config):
    losses = {}
    for amp in (False, True):
        torch.manual_seed(0)
        trainer = Trainer(TrainConfig.from_dict({**tiny_config.to_dict(), "amp": amp,
                                                 "model": {"filters": [8, 16, 32, 64, 128]},
                                                 "patch_size": 64}))
        assert trainer._amp_dtype() == (torch.bfloat16 if amp else None)
        losses[amp] = [trainer.train_step()["loss"] for _ in range(3)]
    assert np.isfinite(losses[True]).all()
    # bfloat16 has 8 mantissa bits: the losses agree to about a percent, not bit for bit
    assert losses[True] != losses[False]
    assert losses[True] == pytest.approx(losses[False], rel=0.05)


def test_real_validation_logs_the_papers_patch_aucs(tiny_config, shared_data):
    # without a split: the mini-MIAS calcification cases alone (their tiling gives soft tissue)
    cfg = TrainConfig.from_dict({**tiny_config.to_dict(),
                                 "real_val": f"minimias:{shared_data / 'mini-mias'}"})
    trainer = Trainer(cfg)
    aucs = trainer.validate_real_patches()
    assert set(aucs) == {"real_AUC_MCs", "real_AUC_mlg"}
    assert all(0.0 <= v <= 1.0 for v in aucs.values()), aucs
    x, y, owners = trainer._real_patch_set()
    assert owners.shape == y.shape
    assert {0, 1, 2} <= set(y.tolist()) and x.shape[1:] == (32, 32)


WORKER = Path(__file__).with_name("_ddp_worker.py")


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_single_process_with_combined_batch(tiny_config, tmp_path):
    cfg = TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 3, "batch_size": 2,
                                 "out_dir": str(tmp_path / "ddp")})
    cfg_path = cfg.save(tmp_path / "ddp.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(WORKER), str(cfg_path), str(tmp_path)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r0, r1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    params = {k for k in r0 if k.endswith(("weight", "bias", "gate"))
              and not k.endswith(("running_mean", "running_var"))}
    assert len(params) > 50
    # parameters are identical on both ranks (BatchNorm running statistics are per rank: DDP
    # broadcasts rank 0's buffers at the start of each forward pass, and rank 0 saves them)
    for k in params:
        assert torch.equal(r0[k], r1[k]), f"ranks differ at {k}"
    # one process, the combined batch as 2 accumulated micro-batches of the same patches
    torch.set_num_threads(1)
    single = TrainConfig.from_dict({**cfg.to_dict(), "accumulate": 2,
                                    "out_dir": str(tmp_path / "single")})
    trainer = train(single)
    ref = trainer.network.state_dict()
    assert params == {name for name, _ in trainer.network.named_parameters()}
    for k in params:
        torch.testing.assert_close(r0[k], ref[k], rtol=1e-4, atol=1e-5, msg=k)


@pytest.mark.slow
def test_mcdet_train_stops_on_sigterm_with_a_resumable_checkpoint(tiny_config, tmp_path):
    import signal
    import time

    cfg = TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 10_000,
                                 "out_dir": str(tmp_path / "sig")})
    path = cfg.save(tmp_path / "sig.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "napari_mcdet", "train", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "sig" / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "resume with --resume" in err
    _, meta = read_checkpoint(tmp_path / "sig" / "last.safetensors")
    assert meta["step"] >= 2 and "optimizer" in meta


def test_kept_steps_between_validations_are_written_and_resumable(tiny_config):
    cfg = TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 4, "epoch_steps": 100,
                                 "keep_every": 2})
    train(cfg)
    out = Path(cfg.out_dir)
    kept = sorted(p.name for p in out.glob("step_*.safetensors"))
    assert kept == ["step_000002.safetensors", "step_000004.safetensors"]
    _, meta = read_checkpoint(out / "step_000002.safetensors")
    assert meta["step"] == 2 and "optimizer" in meta
    # step 4 is the run's end, so it was validated; step 2 was not
    assert "val_AUC_MCs" in read_checkpoint(out / "step_000004.safetensors")[1]["metrics"]
    assert "val_AUC_MCs" not in meta["metrics"]


@pytest.mark.slow
def test_worker_processes_draw_from_the_freshly_mined_pool(tiny_config, tmp_path):
    """Every soft patch is a mined hard negative here, so a worker that kept the pool of its
    start (empty: mining happens after the workers exist) would train on other patches."""
    torch.set_num_threads(1)
    start = TrainConfig.from_dict({**tiny_config.to_dict(), "steps": 2,
                                   "out_dir": str(tmp_path / "start")})
    train(start)
    init = str(tmp_path / "start" / "last.safetensors")
    losses = {}
    for workers in (0, 2):
        cfg = TrainConfig.from_dict({
            **tiny_config.to_dict(), "init": init, "steps": 4, "mine_every": 2,
            "mine_images": 2, "mine_per_image": 3, "hard_negative_fraction": 1.0,
            "edge_fraction": 0.0, "num_workers": workers,
            "out_dir": str(tmp_path / f"workers{workers}")})
        trainer = train(cfg)
        assert trainer.train_set.hard_negatives
        losses[workers] = [e["loss"] for e in trainer.history]
    assert losses[2] == losses[0]
