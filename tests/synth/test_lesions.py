"""The synthetic lesion generator: determinism, physical units, masks, clinical rules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

import napari_mcdet as mc
from napari_mcdet.synth.clusters import lesion_params
from napari_mcdet.synth.phantom import breast_phantom
from napari_mcdet.synth.shapes import SHAPE_KINDS, Calcification, make_shape, render


@pytest.fixture(scope="module")
def phantom():
    return breast_phantom((512, 384), pixel_spacing=0.2, seed=3)


def flat(shape=(400, 400), value=0.4):
    return np.full(shape, value, dtype=np.float32), np.ones(shape, dtype=bool)


def test_public_api_and_record(phantom):
    les = mc.synthesize(phantom, kind="malignant", seed=1)
    assert les.image.dtype == np.float32 and les.image.shape == phantom.shape
    assert les.mask.dtype == np.uint8 and set(np.unique(les.mask)) <= {0, 2}
    assert les.lesion["n_placed"] == len(les.calcifications) > 0
    c = les.calcifications[0]
    assert {"centroid_px", "centroid_mm", "size_mm", "kind", "area_mm2"} <= set(c)
    assert c["kind"] in SHAPE_KINDS
    assert np.allclose(np.multiply(c["centroid_px"], les.pixel_spacing), c["centroid_mm"])


def test_determinism(phantom):
    a = mc.synthesize(phantom.pixels, pixel_spacing=0.2, seed=7, breast=None)
    b = mc.synthesize(phantom.pixels, pixel_spacing=0.2, seed=7, breast=None)
    c = mc.synthesize(phantom.pixels, pixel_spacing=0.2, seed=8, breast=None)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert a.centre == b.centre
    assert not np.array_equal(a.mask, c.mask)


@pytest.mark.parametrize("kind", ["malignant", "benign"])
def test_same_extent_in_mm_at_two_spacings(kind):
    """The same lesion at 0.07 and 0.2 mm/pixel spans the same mm, within one pixel."""
    extents = {}
    for sp in (0.07, 0.2):
        n = int(round(30 / sp))  # a 30 mm square region
        img, br = flat((n, n))
        les = mc.synthesize(
            img, pixel_spacing=sp, kind=kind, seed=5, centre=(n / 2, n / 2), breast=br, white=1.0
        )
        rows, cols = np.nonzero(les.mask)
        extents[sp] = (
            (rows.max() - rows.min() + 1) * sp,
            (cols.max() - cols.min() + 1) * sp,
            les.lesion["n_placed"],
            np.array([c["centroid_mm"] for c in les.calcifications]),
        )
    a, b = extents[0.07], extents[0.2]
    assert a[2] == b[2]
    assert abs(a[0] - b[0]) <= 0.2 + 0.07 and abs(a[1] - b[1]) <= 0.2 + 0.07
    # centroids in mm agree (relative to the lesion centre), within a pixel
    assert np.abs((a[3] - a[3].mean(0)) - (b[3] - b[3].mean(0))).max() < 0.2


def test_subpixel_calcification_is_faint():
    """A 0.15 mm calcification at 0.2 mm/pixel is a partial pixel, not a full one."""
    prims, size, radius = make_shape("punctate", np.random.default_rng(0), size_mm=0.15)
    calc = Calcification("punctate", (10.1, 10.1), 0.0, prims, size, radius)
    thick, cover, _ = render(calc, (0.2, 0.2))
    assert cover.max() < 0.5 and 0 < thick.max() < 0.5
    thick7, cover7, _ = render(calc, (0.07, 0.07))
    assert cover7.max() == 1.0
    # the total projected "mass" is the same in mm^2 at both spacings (partial volume)
    assert thick.sum() * 0.04 == pytest.approx(thick7.sum() * 0.0049, rel=0.15)


@pytest.mark.parametrize("kind", ["malignant", "benign"])
@pytest.mark.parametrize("mode", ["presentation", "raw"])
def test_mask_covers_the_change(phantom, kind, mode):
    les = mc.synthesize(phantom, kind=kind, seed=11, mode=mode)
    diff = np.abs(les.image - phantom.pixels)
    assert diff.max() > 0
    changed = diff > 0.25 * diff.max()
    drawn = les.mask > 0
    for c in les.calcifications:  # drawn but below the visibility floor: not labelled
        if not c["visible"]:
            r0, c0, r1, c1 = c["bbox"]
            drawn[r0:r1, c0:c1] = True
    grown = ndi.binary_dilation(drawn, iterations=1)
    assert not np.any(changed & ~grown)
    # the mask pixels did change
    assert np.all(diff[les.mask > 0] > 0)


def test_raw_mode_attenuates():
    img, br = flat(value=100.0)
    les = mc.synthesize(img, pixel_spacing=0.1, seed=0, mode="raw", breast=br, contrast=(0.2, 0.2))
    assert les.image.min() < 100 and les.image.max() <= 100 + 1e-4
    assert les.image.min() >= 100 * (1 - 0.2) - 1e-3


def test_contrast_relative_to_local_tissue():
    """Presentation mode: the bump is c * (white - local tissue)."""
    bumps = []
    for level in (0.2, 0.6):
        img, br = flat(value=level)
        les = mc.synthesize(
            img, pixel_spacing=0.07, kind="benign", seed=2, breast=br, white=1.0,
            contrast=(1.0, 1.0), psf_sigma_px=0.0, shape_mix={"round": 1.0},
        )
        bumps.append(float((les.image - img).max()))
    assert bumps[0] == pytest.approx(0.8, abs=0.02) and bumps[1] == pytest.approx(0.4, abs=0.02)


def _max_within(cents: np.ndarray, radius: float) -> int:
    d = np.hypot(*(cents[:, None] - cents[None]).transpose(2, 0, 1))
    return int((d <= radius).sum(axis=1).max())


@pytest.mark.parametrize("seed", range(6))
def test_malignant_rules(seed):
    img, br = flat((500, 500))
    les = mc.synthesize(img, pixel_spacing=0.07, kind="malignant", seed=seed, breast=br, white=1.0)
    cents = np.array([c["centroid_mm"] for c in les.calcifications])
    assert len(cents) >= 5
    # >= 5 within one circle of 1 cm diameter: all within 5 mm of one of them... use the centre
    d = np.hypot(*(cents - np.array(les.lesion["centre_mm"])).T)
    assert (d <= 5.0).sum() >= 5
    assert les.lesion["extent_measured_mm"] <= 20.0
    sizes = [c["size_mm"] for c in les.calcifications if c["kind"] in ("pleomorphic", "punctate")]
    assert all(s <= 0.5 for s in sizes)


def test_benign_rules():
    img, br = flat((500, 500))
    benign, malignant = [], []
    for seed in range(6):
        les = mc.synthesize(img, pixel_spacing=0.07, kind="benign", seed=seed, breast=br, white=1.0)
        cents = np.array([c["centroid_mm"] for c in les.calcifications])
        assert 1 <= len(cents) <= 6
        # few per cm^2: fewer than 10 in any circle of 1 cm^2 (radius 5.64 mm)
        assert _max_within(cents, 5.64) < 10
        benign += [c["size_mm"] for c in les.calcifications]
        mal = mc.synthesize(img, pixel_spacing=0.07, kind="malignant", seed=seed, breast=br,
                            white=1.0)
        malignant += [c["size_mm"] for c in mal.calcifications]
    # benign calcifications are larger
    assert np.median(benign) > 2 * np.median(malignant)


def test_no_overlap_between_calcifications():
    img, br = flat((400, 400))
    les = mc.synthesize(img, pixel_spacing=0.07, seed=4, breast=br, white=1.0, count=(40, 40),
                        extent_mm=(5, 5))
    lab, n = ndi.label(les.mask > 0)
    # repulsion: the calcifications stay apart (8-connected masks may rarely touch)
    assert n >= 0.9 * les.lesion["n_placed"]


def test_nothing_outside_the_breast(phantom):
    breast = phantom.metadata["breast_mask"]
    for seed in range(5):
        kind = ("benign", "malignant")[seed % 2]
        les = mc.synthesize(phantom, seed=seed, breast=breast, kind=kind)
        assert not np.any(les.mask[~breast])
        assert np.allclose(les.image[~breast], phantom.pixels[~breast])


def test_lesion_near_the_edge_stays_inside():
    img, br = flat((300, 300))
    br[:, 150:] = False
    les = mc.synthesize(img, pixel_spacing=0.07, seed=1, centre=(150, 148), breast=br, white=1.0)
    assert les.lesion["n_placed"] > 0 and not np.any(les.mask[:, 150:])


def test_layouts_and_overrides():
    img, br = flat((400, 400))
    for layout in ("clustered", "linear", "segmental"):
        les = mc.synthesize(img, pixel_spacing=0.07, seed=0, breast=br, layout=layout, white=1.0)
        assert les.lesion["layout"] == layout
    les = mc.synthesize(img, pixel_spacing=0.07, seed=0, breast=br, white=1.0, count=(7, 7),
                        size_mm=(0.3, 0.3), shape_mix={"punctate": 1.0}, extent_mm=(4, 4))
    assert les.lesion["n_placed"] == 7
    assert all(c["size_mm"] == pytest.approx(0.3) for c in les.calcifications)


def test_bad_input():
    img, br = flat((50, 50))
    with pytest.raises(ValueError, match="kind"):
        mc.synthesize(img, kind="weird", breast=br)
    with pytest.raises(TypeError, match="unknown lesion parameter"):
        mc.synthesize(img, breast=br, colour=3)
    with pytest.raises(ValueError, match="count"):
        lesion_params("malignant", count=(5, 2))
    with pytest.raises(ValueError, match="2-D"):
        mc.synthesize(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="outside"):
        mc.synthesize(img, breast=br, centre=(80, 10))


def test_psf_range_draws_one_blur_per_lesion_and_changes_nothing_else():
    image = breast_phantom((512, 384), pixel_spacing=0.2, seed=3)
    drawn = []
    for seed in (1, 2, 3, 4):
        ranged = mc.synthesize(image, kind="malignant", seed=seed, psf_sigma_px=(0.3, 1.2))
        sigma = ranged.lesion["psf_sigma_px"]
        assert 0.3 <= sigma <= 1.2
        drawn.append(sigma)
        # oracle: the same seed with that sigma fixed draws the same lesion, so the range
        # moves nothing but the blur
        fixed = mc.synthesize(image, kind="malignant", seed=seed, psf_sigma_px=sigma)
        np.testing.assert_array_equal(ranged.image, fixed.image)
        np.testing.assert_array_equal(ranged.mask, fixed.mask)
    assert len(set(drawn)) == len(drawn)
    again = mc.synthesize(image, kind="malignant", seed=1, psf_sigma_px=(0.3, 1.2))
    assert again.lesion["psf_sigma_px"] == drawn[0]
    # a fixed sigma is recorded as given
    assert mc.synthesize(image, kind="benign", seed=1).lesion["psf_sigma_px"] == 0.7


@pytest.mark.parametrize("bad", [(1.2, 0.3), (-0.1, 0.5), (0.1, 0.2, 0.3), -1.0, "sharp"])
def test_psf_must_be_a_number_or_an_ordered_range(bad):
    with pytest.raises(ValueError, match="psf_sigma_px"):
        lesion_params("malignant", psf_sigma_px=bad)
