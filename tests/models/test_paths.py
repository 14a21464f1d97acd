"""Choosing the checkpoint file: the one asked for, else the bundled default."""

from __future__ import annotations

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
