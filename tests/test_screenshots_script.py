"""docs/scripts/make_screenshots.py runs: every task's screenshot from a real napari window."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "scripts" / "make_screenshots.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_screenshots(script, qapp, own_napari_app, tmp_path, tiny_checkpoint,
                           shared_data):
    from skimage.io import imread

    rc = script.main(["--out", str(tmp_path), "--quick", "--model", str(tiny_checkpoint)])
    assert rc == 0
    for task in script.TASKS:
        png = tmp_path / f"screenshot_{task}.png"
        assert png.is_file(), task
        img = imread(png)
        assert img.ndim == 3 and img.shape[0] > 500 and img.shape[1] > 1000, img.shape
        assert np.ptp(img[..., :3]) > 100, f"{task}: a blank screenshot"


def test_missing_model_is_reported(script, tmp_path, capsys):
    assert script.main(["--out", str(tmp_path), "--model", str(tmp_path / "no.safetensors")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
