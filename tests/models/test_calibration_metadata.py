"""What a calibration stores in a model (models.checkpoint.calibration_metadata): the one
composition ``mcdet calibrate`` and the Detect panel share."""

from __future__ import annotations

import pytest

from napari_mcdet.infer.calibrate import calibrate
from napari_mcdet.infer.detect import operating_point
from napari_mcdet.models.checkpoint import (
    GATE_KEY,
    calibration_metadata,
    load_model,
    update_metadata,
)
from napari_mcdet.synth.phantom import breast_phantom


@pytest.fixture(scope="module")
def normal():
    return breast_phantom((400, 300), pixel_spacing=0.2, seed=3)


@pytest.mark.parametrize("mirror", [False, True])
def test_a_calibrated_point_is_found_where_detection_looks_for_it(coarse_model, normal, tmp_path,
                                                                   mirror):
    model = load_model(coarse_model)
    point = calibrate(model, [normal], mirror=mirror, gate=None)
    updates = calibration_metadata(point, images=[tmp_path / "normals" / "n1.png"], gate=0.25)
    out = update_metadata(coarse_model, updates, dst=tmp_path / "calibrated.safetensors")
    meta = load_model(out).metadata
    stored = operating_point(meta, mirror=mirror)
    assert stored is not None
    assert stored["benign"] == point["benign"] and stored["images"] == ["n1.png"]
    assert operating_point(meta, mirror=not mirror) is None  # the other key is left alone
    assert meta[GATE_KEY] == 0.25
    assert "images" not in point  # the caller's point is not changed


def test_without_a_gate_the_stored_gate_stays(coarse_model, normal, tmp_path):
    model = load_model(coarse_model)
    point = calibrate(model, [normal], gate=None)
    first = update_metadata(coarse_model, {GATE_KEY: 0.4}, dst=tmp_path / "a.safetensors")
    updates = calibration_metadata(point, images=["n1.png"])
    assert GATE_KEY not in updates
    assert load_model(update_metadata(first, updates)).metadata[GATE_KEY] == 0.4
