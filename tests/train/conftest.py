from pathlib import Path

import numpy as np
import pytest
from skimage import io as skio

from napari_mcdet.synth.phantom import breast_phantom
from napari_mcdet.train.config import TrainConfig

TINY_MODEL = {"filters": [4, 8, 16, 32, 64], "aspp_dropout": 0.0}


@pytest.fixture(scope="session")
def phantom_folder(tmp_path_factory) -> Path:
    """Two small normal phantoms saved as 16-bit PNG (no spacing in the file: 0.2 mm)."""
    folder = tmp_path_factory.mktemp("negatives")
    for seed in (0, 1):
        ph = breast_phantom(shape=(192, 160), pixel_spacing=(0.2, 0.2), seed=seed)
        img = np.asarray(ph.pixels, np.float64)
        img = (img - img.min()) / (np.ptp(img) or 1) * 60000
        skio.imsave(folder / f"normal{seed}.png", img.astype(np.uint16), check_contrast=False)
    return folder


@pytest.fixture
def tiny_config(phantom_folder, tmp_path) -> TrainConfig:
    return TrainConfig(
        negatives=[str(phantom_folder)], source_spacing=0.2, pixel_spacing=0.2, patch_size=32,
        model=dict(TINY_MODEL), lr=1e-3, batch_size=3, steps=4, epoch_steps=100, val_length=6,
        seed=3, device="cpu", out_dir=str(tmp_path / "run"),
    )
