"""Choosing the checkpoint file: the one asked for, else the bundled default."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcdet.models.checkpoint import default_model_path
from napari_mcdet.models.paths import checkpoint_path


def test_a_given_file_is_used(tmp_path):
    ckpt = tmp_path / "mine.safetensors"
    ckpt.write_bytes(b"not checked here")
    assert checkpoint_path(ckpt) == ckpt
    assert checkpoint_path(str(ckpt)) == ckpt


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint: .*none.safetensors"):
        checkpoint_path(tmp_path / "none.safetensors")


def test_none_is_the_bundled_default():
    if not default_model_path().is_file():
        with pytest.raises(FileNotFoundError, match="bundled default model is missing"):
            checkpoint_path(None)
    else:
        assert checkpoint_path(None) == default_model_path()


def test_default_names_the_bundled_model_everywhere(tmp_path, capsys):
    from napari_mcdet.cli import main
    from napari_mcdet.models.checkpoint import load_model, read_checkpoint

    if not default_model_path().is_file():
        pytest.skip("no bundled default model in this install")
    assert checkpoint_path("default") == default_model_path()
    assert load_model("default").metadata["path"] == str(default_model_path())
    assert read_checkpoint("default")[1]["patch_size"] == load_model().patch_size
    # mcdet detect takes the spelling mcdet calibrate takes
    from skimage import io as skio

    image = tmp_path / "small.png"
    pixels = np.random.default_rng(0).integers(500, 3000, (96, 96)).astype(np.uint16)
    skio.imsave(image, pixels, check_contrast=False)
    assert main(["detect", str(image), "--model", "default", "--spacing", "0.2",
                 "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err


def test_a_folder_is_named_as_one(tmp_path):
    from napari_mcdet.models.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="is a folder, not a checkpoint file"):
        checkpoint_path(tmp_path)
