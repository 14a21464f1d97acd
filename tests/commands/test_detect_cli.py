"""``mcdet detect`` end to end: on the two real CBIS-DDSM DICOMs and on a phantom PNG.

Speed: a randomly initialised tiny MCDetNet whose checkpoint says 0.8 mm pixels and 64-pixel
patches, so a 4,400 x 2,600 DICOM at 0.05 mm becomes a 275 x 163 grid: a handful of tiles. The
command and its files are what is tested, not the (random) detections.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from napari_mcdet.cli import main


def _check_outputs(out, stem, shape=None):
    import tifffile

    from napari_mcdet.io.images import read_mask

    probs = tifffile.imread(out / f"{stem}_probabilities.tif")
    shape = shape or probs.shape[1:]
    assert probs.dtype == np.float32 and probs.shape == (2, *shape)
    labels = read_mask(out / f"{stem}_labels.png")
    assert labels.shape == shape and set(np.unique(labels)) <= {0, 1, 2}
    rows = list(csv.DictReader(open(out / f"{stem}_calcifications.csv")))
    doc = json.loads((out / f"{stem}_detection.json").read_text())
    assert len(rows) == doc["n_calcifications"] == len(doc["calcifications"])
    assert json.loads((out / f"{stem}_clusters.json").read_text()) == doc["clusters"]
    with open(out / f"{stem}_clusters.csv") as fh:
        assert fh.readline().startswith("id,r0,c0,r1,c1")
    assert (out / f"{stem}_overlay.png").read_bytes()[:4] == b"\x89PNG"
    assert doc["shape"] == list(shape)
    return doc


@pytest.mark.slow
def test_detect_real_dicoms(shared_data, coarse_model, tmp_path, capsys):
    dicoms = sorted((shared_data / "dicom-mg").glob("*.dcm"))
    assert len(dicoms) == 2
    out = tmp_path / "out"
    rc = main(["detect", *map(str, dicoms), "--out", str(out), "--model", str(coarse_model),
               "--spacing", "0.05"])
    assert rc == 0
    for path in dicoms:
        doc = _check_outputs(out, path.stem)
        assert min(doc["shape"]) > 2000  # full resolution, not the model's grid
        assert doc["pixel_spacing"] == [0.05, 0.05] and doc["n_tiles_run"] >= 1
    out_lines = capsys.readouterr().out.splitlines()
    assert len(out_lines) == 2
    for line in out_lines:
        assert "0.05 mm pixels (--spacing)" in line and "regions (those holding breast)" in line


@pytest.fixture
def phantom_png(tmp_path):
    from skimage import io as skio

    from napari_mcdet.synth.phantom import breast_phantom

    ph = breast_phantom((200, 160), pixel_spacing=0.4, seed=0)
    img = np.clip(ph.pixels / ph.pixels.max() * 65535, 0, 65535).astype(np.uint16)
    path = tmp_path / "phantom.png"
    skio.imsave(path, img, check_contrast=False)
    return path


def test_detect_without_spacing_fails_with_the_fix(phantom_png, coarse_model, tmp_path, capsys):
    rc = main(["detect", str(phantom_png), "--out", str(tmp_path), "--model", str(coarse_model)])
    err = capsys.readouterr().err
    assert rc == 2 and "--spacing MM" in err
    assert "a PNG file states no pixel spacing" in err and "pixel_spacing" not in err


def test_detect_png_npy_and_fixed_threshold(phantom_png, coarse_model, tmp_path):
    path = phantom_png
    out = tmp_path / "out"
    rc = main(["detect", str(path), "--out", str(out), "--model", str(coarse_model),
               "--spacing", "0.4", "--format", "npy", "--threshold", "0.5", "--no-overlay"])
    assert rc == 0
    probs = np.load(out / "phantom_probabilities.npy")
    assert probs.shape == (2, 200, 160) and probs.dtype == np.float32
    doc = json.loads((out / "phantom_detection.json").read_text())
    assert doc["thresholds"] == {"benign": 0.5, "malignant": 0.5}
    assert not (out / "phantom_overlay.png").exists()


def test_detect_missing_file(coarse_model, tmp_path, capsys):
    assert main(["detect", str(tmp_path / "nope.dcm"), "--out", str(tmp_path)]) == 2
    assert "no such image" in capsys.readouterr().err


@pytest.mark.parametrize("options, gate, engine", [
    ([], 0.2, None),  # the gate stored with the model
    (["--gate", "auto"], 0.2, None),
    (["--no-gate", "--engine", "eager"], None, "eager"),
    (["--gate", "0.3"], 0.3, None),
])
def test_gate_and_engine_options_reach_detect(phantom_png, coarse_model, tmp_path, options, gate,
                                              engine):
    from napari_mcdet.models.checkpoint import update_metadata

    model = update_metadata(coarse_model, {"decoder_gate": 0.2}, dst=tmp_path / "gated.safetensors")
    out = tmp_path / "out"
    rc = main(["detect", str(phantom_png), "--out", str(out), "--model", str(model),
               "--spacing", "0.4", "--threshold", "0.5", "--no-overlay", *options])
    assert rc == 0
    doc = json.loads((out / "phantom_detection.json").read_text())
    assert doc["gate"] == gate
    assert doc["n_tiles_decoded"] <= doc["n_tiles_run"]
    if gate is None:
        assert doc["n_tiles_decoded"] == doc["n_tiles_run"]
    if engine is not None:
        assert doc["engine"] == engine


def test_a_gate_outside_zero_one_is_refused(phantom_png, coarse_model, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["detect", str(phantom_png), "--out", str(tmp_path), "--model", str(coarse_model),
              "--spacing", "0.4", "--gate", "1.5"])
    assert "probability in [0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["detect", str(phantom_png), "--out", str(tmp_path), "--model", str(coarse_model),
              "--spacing", "0.4", "--gate", "sure"])
    assert "'auto' or a probability" in capsys.readouterr().err
