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


@pytest.fixture(scope="session")
def brightest_pixel_net():
    """A hand-made patch classifier (class, called with ``constant=False/True``) whose outputs
    are known without running it: see its docstring."""
    import torch

    class _BrightestPixelNet(torch.nn.Module):
        """Class logits from the log10 of a normalised patch's brightest pixel: near 0 (the
        tissue's 1) soft tissue, near 0.65 benign, near 1.2 malignant. On a phantom (tissue
        0.2-0.7) whose benign pixels are 3 and malignant ones 10, normalised to about 4.5 and
        15, it classifies every patch right; with ``constant`` it gives every patch the same
        probabilities."""

        def __init__(self, *, constant: bool = False) -> None:
            super().__init__()
            self.constant = constant
            self.anchor = torch.nn.Parameter(torch.zeros(()))  # a device for predict_patches

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.constant:
                return self.anchor.expand(len(x), 3)
            level = torch.log10(x.amax(dim=(1, 2, 3)).clamp_min(1e-3))
            return -10.0 * (level[:, None] - torch.tensor([0.0, 0.65, 1.2])) ** 2 + self.anchor

    return _BrightestPixelNet


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors: one torch thread avoids OpenMP spin-waiting on a shared 2-core machine
    (``pytestmark = pytest.mark.usefixtures("one_torch_thread")`` in a module)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def inbreast_xml(shared_data):
    """``inbreast_xml(number)``: the path of a shared INbreast annotation file."""
    return lambda number: shared_data / "inbreast" / "AllXML" / f"{number}.xml"


@pytest.fixture
def own_napari_app(mock_app_model):
    """For a script that opens its own ``napari.Viewer`` (the screenshot scripts): a fresh app
    model, as ``make_napari_viewer`` gives, so that the plugin's actions are registered on it
    and dropped after the test, never twice on napari's own application."""
    from napari._qt._qapp_model.qactions import init_qactions
    from napari.plugins import _initialize_plugins

    _initialize_plugins.cache_clear()
    init_qactions.cache_clear()
    return mock_app_model
