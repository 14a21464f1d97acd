"""Shared fixtures: where the real data lives, and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    """``$MCDET_DATA`` if set, else ``<checkout>/../shared/data``."""
    env = os.environ.get("MCDET_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_root()
    if not (root / "mini-mias" / "Info.txt").is_file():
        pytest.skip(
            f"real data not found at {root} (set MCDET_DATA or put shared/ beside the checkout)"
        )
    return root


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def coarse_model(tmp_path_factory) -> Path:
    """A random tiny MCDetNet at 0.8 mm with 64 px patches: whole-image detection in a second.
    Its outputs mean nothing; it exercises the pipeline around the network."""
    import torch

    from napari_mcdet.models.checkpoint import save_checkpoint
    from napari_mcdet.nn import MCDetConfig, MCDetNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "coarse.safetensors"
    save_checkpoint(path, MCDetNet(MCDetConfig(filters=(4, 8, 16, 32, 64))),
                    pixel_spacing=(0.8, 0.8), patch_size=64)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A random tiny MCDetNet at 0.2 mm with 64 px patches (the mini-MIAS grid): pipelines, not
    accuracy."""
    import torch

    from napari_mcdet.models.checkpoint import save_checkpoint
    from napari_mcdet.nn import MCDetConfig, MCDetNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return save_checkpoint(path, MCDetNet(MCDetConfig(filters=(4, 8, 16, 32, 64))),
                           pixel_spacing=(0.2, 0.2), patch_size=64)
