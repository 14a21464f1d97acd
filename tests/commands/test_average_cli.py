"""``mcdet average`` and ``mcdet interpolate`` refusing what would give a wrong model: steps of
different runs, one file twice, NaN weights, an ``--out`` that cannot be written."""

from __future__ import annotations

import shutil

import pytest
import torch

from napari_mcdet.cli import main
from napari_mcdet.models.checkpoint import default_model_path, read_checkpoint, save_checkpoint
from napari_mcdet.nn import MCDetConfig, MCDetNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"filters": [4, 8, 16, 32, 64]}


def _step(folder, step, *, run="runs/a", seed=0, config=TINY, patch_size=64):
    """A kept step of a run as ``mcdet train`` writes it (recipe with out_dir and seed)."""
    torch.manual_seed(step)
    folder.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(folder / f"step_{step}.safetensors",
                           MCDetNet(MCDetConfig.from_dict(dict(config))),
                           pixel_spacing=(0.2, 0.2), patch_size=patch_size, step=step,
                           recipe={"out_dir": run, "seed": seed, "init": None})


def test_average_refuses_the_bundled_model_with_a_step_of_another_run(tmp_path, capsys):
    _, meta = read_checkpoint(default_model_path())
    other = _step(tmp_path / "b", 250, run="runs/b", seed=meta["recipe"]["seed"],
                  config=meta["config"], patch_size=meta["patch_size"])
    out = tmp_path / "avg.safetensors"
    assert main(["average", str(default_model_path()), str(other), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "default.safetensors" in err and "not a kept step" in err
    assert "one run" in err and not out.exists()


def test_average_refuses_steps_of_different_runs(tmp_path, capsys):
    a = _step(tmp_path / "a", 1, run="runs/a")
    b = _step(tmp_path / "b", 2, run="runs/b")
    out = tmp_path / "avg.safetensors"
    assert main(["average", str(a), str(b), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "different runs" in err and "out_dir" in err
    assert str(a) in err and str(b) in err and not out.exists()
    seeded = _step(tmp_path / "c", 2, run="runs/a", seed=5)
    assert main(["average", str(a), str(seeded), "--out", str(out)]) == 2
    assert "different runs (recipe seed" in capsys.readouterr().err
    same_run = _step(tmp_path / "a", 2, run="runs/a")
    assert main(["average", str(a), str(same_run), "--out", str(out)]) == 0
    assert "averaged 2 checkpoints" in capsys.readouterr().out


def test_average_refuses_one_file_twice(tmp_path, capsys):
    a = _step(tmp_path / "a", 1)
    out = tmp_path / "avg.safetensors"
    assert main(["average", str(a), str(a), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "step_1.safetensors is given twice" in err
    assert main(["average", str(a), str(a.parent / "." / ".." / "a" / a.name),
                 "--out", str(out)]) == 2
    assert "are the same file" in capsys.readouterr().err
    copy = shutil.copy(a, tmp_path / "copy.safetensors")
    assert main(["average", str(a), str(copy), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "same contents" in err and "copy.safetensors" in err
    assert not out.exists()


def test_average_checks_out_before_the_work(tmp_path, capsys):
    a, b = _step(tmp_path / "a", 1), _step(tmp_path / "a", 2)
    assert main(["average", str(a), str(b), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "is a folder" in err and "Errno" not in err
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["average", str(a), str(b), "--out", str(afile / "c.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "which is a file" in err and "Errno" not in err
    # checked first: a bad --out is named even when a checkpoint is missing too
    assert main(["average", str(a), str(tmp_path / "gone.safetensors"),
                 "--out", str(tmp_path)]) == 2
    assert "is a folder: pass a file path" in capsys.readouterr().err


def test_average_says_a_folder_is_a_folder(tmp_path, capsys):
    a = _step(tmp_path / "a", 1)
    assert main(["average", str(a), str(tmp_path / "a"),
                 "--out", str(tmp_path / "avg.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "is a folder, not a checkpoint file" in err and "no such checkpoint" not in err


def test_interpolate_refuses_nan_weights_and_writes_nothing(tmp_path, capsys):
    start, tuned = _step(tmp_path / "a", 1), _step(tmp_path / "a", 2)
    tensors, meta = read_checkpoint(tuned)
    net = MCDetNet(MCDetConfig.from_dict(dict(TINY)))
    state = {k[len("model."):]: v for k, v in tensors.items()}
    conv = next(k for k, v in state.items() if v.ndim == 4)
    state[conv] = state[conv].clone()
    state[conv][0, 0, 0, 0] = float("nan")
    net.load_state_dict(state)
    nan = save_checkpoint(tmp_path / "nan.safetensors", net, pixel_spacing=(0.2, 0.2),
                          patch_size=64, step=2)
    out = tmp_path / "mid.safetensors"
    for args in ([str(start), str(nan)], [str(nan), str(start)]):
        assert main(["interpolate", *args, "--weight", "0.5", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "nan.safetensors" in err and "NaN or infinite" in err
        assert not out.exists()
    # at weight 0 the input adds nothing in exact arithmetic, but 0 * NaN is NaN: refused too
    assert main(["interpolate", str(start), str(nan), "--weight", "0", "--out", str(out)]) == 2
    assert not out.exists()
