import numpy as np
import pytest

from napari_mcdet.data.normalize import normalize_image
from napari_mcdet.data.resample import resample_labels, resample_to_spacing, target_shape


def test_normalize_percentiles_and_background():
    rng = np.random.default_rng(0)
    img = rng.uniform(100, 1100, size=(300, 300)).astype(np.float32)
    breast = np.zeros_like(img, bool)
    breast[:, :200] = True
    img[~breast] = 5000  # bright text outside the breast must not matter
    out = normalize_image(img, breast=breast)
    assert out.dtype == np.float32
    assert np.all(out[~breast] == 0)
    inside = out[breast]
    assert np.percentile(inside, 1) == pytest.approx(0, abs=0.01)
    assert np.percentile(inside, 99.5) == pytest.approx(1, abs=0.01)
    # not clipped: values above the 99.5th percentile exceed 1
    assert inside.max() > 1.0


def test_normalize_computes_breast_when_missing():
    img = np.zeros((100, 100), np.float32)
    img[20:80, :60] = np.linspace(10, 20, 60)[None]
    out = normalize_image(img)
    assert out[50, 59] == pytest.approx(1, abs=0.05) and out[50, 90] == 0


def test_resample_keeps_physical_extent():
    img = np.zeros((700, 350), np.float32)
    img[350:, :] = 1
    out = resample_to_spacing(img, 0.07, 0.2)
    assert out.shape == target_shape(img.shape, 0.07, 0.2)
    assert out.shape[0] == 245 and abs(out.shape[1] - 122.5) == 0.5
    assert out.dtype == np.float32
    assert out[:100].max() < 0.01 and out[-100:].min() > 0.99
    same = resample_to_spacing(img, (0.1, 0.1), 0.1)
    assert same.shape == img.shape


def test_resample_labels_nearest():
    lab = np.zeros((100, 100), np.uint8)
    lab[40:60, 40:60] = 2
    out = resample_labels(lab, 0.1, 0.05)
    assert out.shape == (200, 200) and out.dtype == np.uint8
    assert set(np.unique(out)) == {0, 2}
    assert (out == 2).sum() == 4 * 400


def test_resample_bad_spacing():
    with pytest.raises(ValueError, match="positive"):
        resample_to_spacing(np.zeros((4, 4)), 0, 0.1)


def _width_mm(image: np.ndarray, spacing: float) -> float:
    """Root second moment (mm) of a spot along the rows, about its centre of mass."""
    profile = image.sum(axis=1)
    rows = np.arange(len(profile)) * spacing
    centre = (profile * rows).sum() / profile.sum()
    return float(np.sqrt((profile * (rows - centre) ** 2).sum() / profile.sum()))


def test_shrinking_blurs_a_sharp_speck_at_least_as_asked():
    # a one-pixel speck at 0.1 mm, shrunk to 0.2 mm: the default anti-aliasing leaves it about
    # as sharp as a 0.2 mm pixel allows; a least blur of 0.14 mm widens it to at least that
    img = np.zeros((64, 64), np.float32)
    img[31, 31] = 1.0
    plain = resample_to_spacing(img, 0.1, 0.2)
    blurred = resample_to_spacing(img, 0.1, 0.2, blur_sigma_mm=0.14)
    assert blurred.shape == plain.shape == (32, 32)
    assert _width_mm(plain, 0.2) < 0.12
    assert 0.14 <= _width_mm(blurred, 0.2) < 0.2
    # the blur keeps the speck's integrated signal (4 source pixels per target pixel)
    assert blurred.sum() * 4 == pytest.approx(1.0, rel=0.02)
    assert blurred.max() < plain.max()


def test_least_blur_narrower_than_the_default_changes_nothing():
    rng = np.random.default_rng(3)
    img = rng.normal(size=(90, 70)).astype(np.float32)
    plain = resample_to_spacing(img, 0.1, 0.2)
    # scikit-image's default at a factor of 2 is 0.5 source pixels = 0.05 mm
    assert np.array_equal(resample_to_spacing(img, 0.1, 0.2, blur_sigma_mm=0.03), plain)
    assert not np.allclose(resample_to_spacing(img, 0.1, 0.2, blur_sigma_mm=0.1), plain,
                           atol=1e-3)


def test_least_blur_leaves_enlarging_and_equal_grids_alone():
    rng = np.random.default_rng(4)
    img = rng.normal(size=(40, 30)).astype(np.float32)
    assert np.array_equal(resample_to_spacing(img, 0.2, 0.1, blur_sigma_mm=0.14),
                          resample_to_spacing(img, 0.2, 0.1))
    assert np.array_equal(resample_to_spacing(img, 0.2, 0.2, blur_sigma_mm=0.14), img)
    with pytest.raises(ValueError, match="blur_sigma_mm"):
        resample_to_spacing(img, 0.1, 0.2, blur_sigma_mm=-1)
