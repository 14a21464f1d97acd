"""Conspicuity: the measure on real calcifications, and lesions calibrated to it by design."""

from __future__ import annotations

import numpy as np
import pytest

import napari_mcdet as mc
from napari_mcdet.synth.conspicuity import region_specks, white_tophat
from napari_mcdet.synth.patches import lesion_patch


def _normal(shared_data, name="mdb003"):
    return np.asarray(mc.read_mammogram(shared_data / "mini-mias" / f"{name}.pgm").pixels,
                      np.float32)


def test_a_bright_speck_is_measured_against_its_texture():
    rng = np.random.default_rng(0)
    image = rng.normal(100.0, 2.0, (200, 200)).astype(np.float32)
    th = white_tophat(image, 3)
    level = np.percentile(th, 99)
    image[100, 100] += 6 * level  # a one-pixel speck six times the texture's p99
    region = np.zeros(image.shape, bool)
    region[90:110, 90:110] = True
    specks = region_specks(image, region, pixel_spacing=0.2)
    assert specks and (specks[0].row, specks[0].col) == (100, 100)
    assert specks[0].conspicuity == pytest.approx(7.0, rel=0.25)


def test_real_calcifications_stand_out(shared_data):
    from napari_mcdet.metrics.realsets import minimias_cases

    cases = {name: (m, lab) for name, m, lab in minimias_cases(shared_data / "mini-mias")
             if name in ("mdb209", "mdb241")}
    for mammo, labels in cases.values():
        specks = region_specks(np.asarray(mammo.pixels, np.float32), labels > 0,
                               pixel_spacing=0.2, min_conspicuity=1.2)
        assert len(specks) >= 5
        assert max(s.conspicuity for s in specks) > 2.0


@pytest.mark.parametrize("kind", ["benign", "malignant"])
def test_generated_conspicuity_is_within_the_configured_range(shared_data, kind):
    measured = []
    for name in ("mdb003", "mdb007", "mdb011"):  # fatty to dense normals
        image = _normal(shared_data, name)
        for seed in range(3):
            les = mc.synthesize(image, pixel_spacing=0.2, kind=kind, seed=seed,
                                conspicuity=(2.0, 3.0))
            measured += [c["conspicuity"] for c in les.calcifications]
    measured = np.array(measured)
    inside = (measured >= 2.0 * 0.8) & (measured <= 3.0 * 1.4)
    assert inside.mean() >= 0.8, np.round(np.percentile(measured, [5, 50, 95]), 2)
    assert 2.0 <= np.median(measured) <= 3.0 * 1.3


def test_conspicuity_does_not_depend_on_brightness(shared_data):
    image = _normal(shared_data, "mdb007")
    a = mc.synthesize(image, pixel_spacing=0.2, kind="malignant", seed=4)
    b = mc.synthesize(3.0 * image + 500.0, pixel_spacing=0.2, kind="malignant", seed=4)
    ca = [c["conspicuity"] for c in a.calcifications]
    cb = [c["conspicuity"] for c in b.calcifications]
    assert ca == pytest.approx(cb, rel=1e-3)
    assert np.array_equal(a.mask, b.mask)


def test_a_lesion_below_the_visibility_floor_is_not_labelled(shared_data):
    image = _normal(shared_data, "mdb003")
    les = mc.synthesize(image, pixel_spacing=0.2, kind="malignant", seed=1,
                        conspicuity=(0.05, 0.1), visibility_floor=2.0)
    assert les.lesion["n_placed"] > 0
    assert les.lesion["n_visible"] == 0
    assert not les.mask.any()
    assert not np.array_equal(les.image, image)  # drawn, just not labelled
    from napari_mcdet.data.breast import breast_mask

    breast = breast_mask(image)
    with pytest.raises(ValueError, match="could not place"):
        lesion_patch(image, breast, kind="malignant", size=96, pixel_spacing=(0.2, 0.2),
                     rng=np.random.default_rng(0), conspicuity=(0.05, 0.1),
                     visibility_floor=2.0, attempts=3)


def test_a_skewed_draw_puts_more_calcifications_near_the_floor_of_the_range(shared_data):
    image = _normal(shared_data, "mdb007")
    lo, hi = 1.3, 4.0
    measured = {}
    for skew in (1.0, 3.0):
        values = []
        for seed in range(4):
            les = mc.synthesize(image, pixel_spacing=0.2, kind="malignant", seed=seed,
                                conspicuity=(lo, hi), conspicuity_skew=skew)
            values += [c["conspicuity"] for c in les.calcifications]
        measured[skew] = np.median(values)
    # the target medians are lo (hi/lo)^(0.5^skew): 2.28 log-uniform, 1.49 at skew 3
    assert measured[3.0] < measured[1.0] - 0.4, measured
    assert measured[3.0] < 2.0 < measured[1.0], measured


def test_skew_one_is_the_log_uniform_draw(shared_data):
    image = _normal(shared_data, "mdb003")
    a = mc.synthesize(image, pixel_spacing=0.2, kind="benign", seed=2)
    b = mc.synthesize(image, pixel_spacing=0.2, kind="benign", seed=2, conspicuity_skew=1.0)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    with pytest.raises(ValueError, match="conspicuity_skew"):
        mc.synthesize(image, pixel_spacing=0.2, kind="benign", seed=2, conspicuity_skew=0.0)


def test_conspicuity_range_is_validated():
    with pytest.raises(ValueError, match="conspicuity"):
        mc.synthesize(np.ones((64, 64), np.float32), pixel_spacing=0.2, conspicuity=(3.0, 1.0),
                      breast=np.ones((64, 64), bool))


def test_an_explicit_contrast_uses_the_contrast_rule():
    from napari_mcdet.synth.clusters import lesion_params

    assert lesion_params("malignant").conspicuity is not None
    assert lesion_params("malignant", contrast=(0.5, 0.6)).conspicuity is None


def test_a_lesion_with_no_room_is_empty_not_an_error():
    image = np.random.default_rng(0).normal(0.5, 0.05, (64, 64)).astype(np.float32)
    breast = np.zeros((64, 64), bool)
    breast[30:33, 30:33] = True  # 0.6 mm of breast: no calcification fits
    les = mc.synthesize(image, pixel_spacing=0.2, kind="benign", seed=0, breast=breast,
                        centre=(31.0, 31.0), size_mm=(2.0, 3.0))
    assert les.lesion["n_placed"] == 0 and les.lesion["n_visible"] == 0
    assert not les.mask.any()
