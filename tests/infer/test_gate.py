"""Choosing the decoder gate on normals with synthetic lesions (``mcdet calibrate --gate``)."""

from __future__ import annotations

import numpy as np
import pytest

import napari_mcdet as mc
from napari_mcdet.data.prepare import prepare_image
from napari_mcdet.infer.gate import blend_lesions, gate_from_scores, positive_tiles
from napari_mcdet.infer.patches import GATE_KEY
from napari_mcdet.models.checkpoint import load_model

SP = (0.2, 0.2)


def test_the_gate_skips_at_most_the_allowed_share_of_positive_tiles():
    positive = np.r_[0.031, 0.0504, np.linspace(0.2, 0.9, 198)]
    every = np.r_[positive, np.full(300, 0.01)]
    chosen = gate_from_scores(positive, every, miss_rate=0.01)
    # 1 % of 200 positives: the 2nd lowest score, 0.0504, rounded down to 0.050
    assert chosen["gate"] == 0.05
    assert chosen["positives_skipped"] == 1 / 200 and chosen["tiles_skipped"] == 301 / 500
    strict = gate_from_scores(positive, every, miss_rate=0.0)
    assert strict["gate"] == 0.031 and strict["positives_skipped"] == 0.0


def test_no_positive_tile_or_nan_scores_are_errors():
    with pytest.raises(ValueError, match="no tile holds a calcification"):
        gate_from_scores(np.zeros(0), np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        gate_from_scores(np.array([0.2, np.nan]), np.ones(5))


def test_positive_tiles_are_those_holding_a_mask_pixel():
    mask = np.zeros((100, 100), np.uint8)
    mask[70, 10] = 2
    hits = positive_tiles([(-10, -10), (60, 0), (60, 20), (0, 0)], mask, 32)
    assert hits.tolist() == [False, True, False, False]


def test_blended_lesions_are_visible_inside_the_breast_and_seeded(shared_data):
    mammo = mc.read_mammogram(shared_data / "mini-mias" / "mdb003.pgm")
    image, breast, _ = prepare_image(mammo, pixel_spacing=SP)
    out, mask = blend_lesions(image, breast, pixel_spacing=SP, rng=np.random.default_rng(4))
    again, mask2 = blend_lesions(image, breast, pixel_spacing=SP, rng=np.random.default_rng(4))
    assert np.array_equal(out, again) and np.array_equal(mask, mask2)
    assert set(np.unique(mask)) == {0, 1, 2}
    assert breast[mask > 0].mean() > 0.95
    # calcifications are brighter than the tissue they were drawn on
    assert (out - image)[mask > 0].mean() > 0 and np.array_equal(out[~breast], image[~breast])


def test_mcdet_calibrate_gate_stores_a_gate_the_threshold_was_calibrated_behind(
        shared_data, tmp_path):
    from napari_mcdet.cli import main

    out = tmp_path / "gated.safetensors"
    normals = [str(shared_data / "mini-mias" / f"{n}.pgm") for n in ("mdb003", "mdb004")]
    assert main(["calibrate", "default", *normals, "--gate", "--seed", "1",
                 "--out", str(out)]) == 0
    meta = load_model(out).metadata
    gate = meta[GATE_KEY]
    assert 0.0 <= gate < 1.0
    assert meta["operating_point"]["tiling"]["gate"] == gate
    det = mc.detect(mc.read_mammogram(normals[0]), out, device="cpu")
    assert det.gate == gate


# -- a gate under which nothing is decoded --------------------------------------------------------
def test_a_gate_that_decodes_no_tile_is_an_error_not_zero_findings(shared_data, coarse_model,
                                                                  tmp_path):
    from napari_mcdet.models.checkpoint import update_metadata

    mammo = mc.read_mammogram(shared_data / "mini-mias" / "mdb209.pgm")
    with pytest.raises(ValueError, match=r"mdb209\.pgm: nothing was analysed: the decoder gate 1 "
                                         r"skipped all \d+ breast tiles"):
        mc.detect(mammo, coarse_model, gate=1.0, threshold=0.5, engine="eager")
    # a model that stores such a gate runs with it by default, and fails the same way
    stored = update_metadata(coarse_model, {GATE_KEY: 1.0}, dst=tmp_path / "g1.safetensors")
    with pytest.raises(ValueError, match="no tile decoded"):
        mc.detect(mammo, stored, threshold=0.5, engine="eager")
    # a gate that lets tiles through still detects
    assert mc.detect(mammo, coarse_model, gate=0.0, threshold=0.5,
                     engine="eager").n_tiles_decoded > 0


def test_mcdet_detect_gate_1_exits_with_one_line_naming_the_image(shared_data, coarse_model,
                                                                  tmp_path, capsys):
    from napari_mcdet.cli import main

    image = shared_data / "mini-mias" / "mdb209.pgm"
    assert main(["detect", str(image), "--model", str(coarse_model), "--gate", "1",
                 "--threshold", "0.5", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "mdb209.pgm" in err and "no tile decoded" in err and "--no-gate" in err


def test_a_gate_that_would_leave_a_normal_undecoded_is_refused():
    from napari_mcdet.infer.gate import refuse_gate_skipping_images

    refuse_gate_skipping_images(0.5, [0.7, 0.5], ["a.pgm", "b.pgm"], miss_rate=0.01)
    with pytest.raises(ValueError, match=r"skips every tile of 1 of 2 normal images \(b\.pgm\)"
                                         r".*--miss-rate"):
        refuse_gate_skipping_images(0.5, [0.7, 0.49], ["a.pgm", "b.pgm"], miss_rate=0.9)


def test_mcdet_calibrate_refuses_a_gate_that_skips_every_tile(shared_data, tmp_path, capsys):
    from napari_mcdet.cli import main

    out = tmp_path / "gated.safetensors"
    normal = str(shared_data / "mini-mias" / "mdb003.pgm")
    assert main(["calibrate", "default", normal, "--gate", "--miss-rate", "0.99",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "skips every tile" in err and "mdb003.pgm" in err and "--miss-rate" in err
    assert not out.exists()


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2.0, float("nan"), "x"])
def test_miss_rate_outside_0_1_is_refused_in_the_callers_words(bad):
    from napari_mcdet.infer.gate import check_miss_rate

    with pytest.raises(ValueError, match=r"^--miss-rate .* \[0, 1\)"):
        check_miss_rate(bad, name="--miss-rate")
    assert check_miss_rate("0.05") == 0.05
