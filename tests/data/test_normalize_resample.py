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
