"""Weight averaging's BatchNorm re-estimation (``train.swa``), ``mcdet average`` and
``mcdet interpolate``."""

import pytest
import torch

from napari_mcdet.cli import main
from napari_mcdet.models.checkpoint import load_model, read_checkpoint, save_checkpoint
from napari_mcdet.nn import MCDetConfig, MCDetNet
from napari_mcdet.train.config import TrainConfig
from napari_mcdet.train.swa import refresh_batchnorm, training_patches


def _kept_steps(tmp_path, config, steps=(1, 2)):
    """Checkpoints of one tiny run whose BatchNorm statistics hold arbitrary values."""
    paths = []
    for step in steps:
        torch.manual_seed(step)
        net = MCDetNet(MCDetConfig(**config.model))
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.fill_(float(step))
                m.running_var.fill_(float(step) * 3)
        paths.append(save_checkpoint(
            tmp_path / f"step_{step}.safetensors", net, pixel_spacing=(0.2, 0.2),
            patch_size=config.patch_size, step=step, recipe=config.to_dict(),
            extra={"hard_negatives": [], "decoder_gate": 0.05}))
    return paths


def _first_batchnorm(net):
    return next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_refreshed_statistics_are_those_of_the_training_patches(tmp_path, tiny_config):
    src = _kept_steps(tmp_path, tiny_config, steps=(1,))[0]
    out = refresh_batchnorm(src, tmp_path / "refreshed.safetensors", tiny_config, batches=3,
                            seed=7)
    # oracle: the input of the first BatchNorm (a convolution of the image only), captured by a
    # hook on the source network over the same patches, and its per-channel mean
    source = load_model(src).network.eval()
    seen = []
    bn = _first_batchnorm(source)
    hook = bn.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach()))
    with torch.no_grad():
        for batch in training_patches(tiny_config, batches=3, seed=7):
            source(batch)
    hook.remove()
    feats = torch.cat(seen)
    want = feats.mean(dim=(0, 2, 3))
    got = _first_batchnorm(load_model(out).network).running_mean
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, torch.ones_like(got))  # the stored statistic was replaced
    meta = load_model(out).metadata
    assert meta["batchnorm_refreshed"] == {"batches": 3, "patches": 9, "seed": 7}
    assert meta["metrics"] == {} and meta["step"] == 1
    assert "decoder_gate" not in meta  # the source's calibration is not the new maps'
    # weights other than the statistics are untouched
    a, _ = read_checkpoint(src)
    b, _ = read_checkpoint(out)
    conv = next(k for k in a if k.endswith("weight") and a[k].ndim == 4)
    assert torch.equal(a[conv], b[conv])


def test_refresh_refuses_another_grid(tmp_path, tiny_config):
    src = _kept_steps(tmp_path, tiny_config, steps=(1,))[0]
    other = TrainConfig.from_dict({**tiny_config.to_dict(), "patch_size": 48})
    with pytest.raises(ValueError, match="configuration of the run"):
        refresh_batchnorm(src, tmp_path / "x.safetensors", other, batches=1)
    assert not (tmp_path / "x.safetensors").exists()


def test_average_command_averages_and_refreshes(tmp_path, tiny_config, capsys):
    paths = _kept_steps(tmp_path, tiny_config)
    cfg = tiny_config.save(tmp_path / "run.yaml")
    plain = tmp_path / "plain.safetensors"
    assert main(["average", *map(str, paths), "--out", str(plain)]) == 0
    bn = _first_batchnorm(load_model(plain).network)
    assert torch.allclose(bn.running_mean, torch.full_like(bn.running_mean, 1.5))
    fresh = tmp_path / "fresh.safetensors"
    assert main(["average", *map(str, paths), "--out", str(fresh), "--refresh-bn", str(cfg),
                 "--bn-batches", "2", "--device", "cpu"]) == 0
    model = load_model(fresh)
    assert [s["step"] for s in model.metadata["averaged_from"]] == [1, 2]
    assert "decoder_gate" not in load_model(plain).metadata
    assert model.metadata["batchnorm_refreshed"]["patches"] == 2 * tiny_config.batch_size
    assert not torch.allclose(_first_batchnorm(model.network).running_mean, bn.running_mean)
    assert "re-estimated" in capsys.readouterr().out
    other = TrainConfig.from_dict({**tiny_config.to_dict(), "patch_size": 48})
    failed = tmp_path / "failed.safetensors"
    assert main(["average", *map(str, paths), "--out", str(failed), "--refresh-bn",
                 str(other.save(tmp_path / "other.yaml"))]) == 2
    assert "configuration of the run" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.glob("failed*")) == []
    assert main(["average", str(paths[0]), str(tmp_path / "gone.safetensors"),
                 "--out", str(tmp_path / "y.safetensors")]) == 2
    assert "gone.safetensors" in capsys.readouterr().err


def test_interpolate_command_refreshes_and_names_its_sources(tmp_path, tiny_config, capsys):
    start, tuned = _kept_steps(tmp_path, tiny_config)
    cfg = tiny_config.save(tmp_path / "run.yaml")
    plain = tmp_path / "plain.safetensors"
    assert main(["interpolate", str(start), str(tuned), "--weight", "0.25",
                 "--out", str(plain)]) == 0
    bn = _first_batchnorm(load_model(plain).network)
    # the statistics lie on the line too: 0.75 * 1 + 0.25 * 2
    assert torch.allclose(bn.running_mean, torch.full_like(bn.running_mean, 1.25))
    fresh = tmp_path / "fresh.safetensors"
    assert main(["interpolate", str(start), str(tuned), "--weight", "0.25", "--out", str(fresh),
                 "--refresh-bn", str(cfg), "--bn-batches", "2", "--device", "cpu"]) == 0
    model = load_model(fresh)
    assert [s["weight"] for s in model.metadata["interpolated_from"]] == [0.75, 0.25]
    assert model.metadata["batchnorm_refreshed"]["patches"] == 2 * tiny_config.batch_size
    assert not torch.allclose(_first_batchnorm(model.network).running_mean, bn.running_mean)
    assert "re-estimated" in capsys.readouterr().out
    bad = tmp_path / "bad.safetensors"
    assert main(["interpolate", str(start), str(tuned), "--weight", "2", "--out", str(bad)]) == 2
    assert "[0, 1]" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.glob("bad*")) == []


def test_refresh_refuses_nan_weights_and_writes_nothing(tmp_path, tiny_config):
    from napari_mcdet.models.checkpoint import CheckpointError

    src = _kept_steps(tmp_path, tiny_config, steps=(1,))[0]
    net = load_model(src).network
    with torch.no_grad():
        next(p for p in net.parameters() if p.ndim == 4)[0, 0, 0, 0] = float("nan")
    nan = save_checkpoint(tmp_path / "nan.safetensors", net, pixel_spacing=(0.2, 0.2),
                          patch_size=tiny_config.patch_size, step=1)
    out = tmp_path / "refreshed.safetensors"
    with pytest.raises(CheckpointError, match="nan.safetensors.*NaN or infinite"):
        refresh_batchnorm(nan, out, tiny_config, batches=1)
    assert not out.exists()
