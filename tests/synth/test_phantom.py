import numpy as np
import pytest

from napari_mcdet.data.breast import breast_mask
from napari_mcdet.mammogram import Mammogram
from napari_mcdet.synth.phantom import breast_phantom, power_law_noise


@pytest.mark.parametrize("view,lat", [("CC", "L"), ("MLO", "R")])
def test_phantom(view, lat):
    m = breast_phantom((256, 192), pixel_spacing=0.4, view=view, laterality=lat, seed=1)
    assert isinstance(m, Mammogram) and m.pixels.dtype == np.float32
    assert m.pixel_spacing == (0.4, 0.4) and m.view == view and m.laterality == lat
    truth = m.metadata["breast_mask"]
    assert 0.2 < truth.mean() < 0.8
    # the chest wall is on the side laterality says
    half = truth.shape[1] // 2
    left, right = truth[:, :half].sum(), truth[:, half:].sum()
    assert (left > right) == (lat == "L")
    # breast brighter than background, and breast_mask finds it
    assert m.pixels[truth].mean() > m.pixels[~truth].mean() + 0.2
    found = breast_mask(m.pixels)
    assert (found & truth).sum() / (found | truth).sum() > 0.9


def test_phantom_seeded():
    a, b = breast_phantom((128, 96), seed=4), breast_phantom((128, 96), seed=4)
    c = breast_phantom((128, 96), seed=5)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert not np.array_equal(a.pixels, c.pixels)


def test_power_law_slope():
    f = power_law_noise((256, 256), beta=3.0, rng=np.random.default_rng(0))
    spec = np.abs(np.fft.fft2(f)) ** 2
    fr = np.hypot(*np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256), indexing="ij"))
    sel = (fr > 0.02) & (fr < 0.3)
    slope = np.polyfit(np.log(fr[sel]), np.log(spec[sel]), 1)[0]
    assert slope == pytest.approx(-3.0, abs=0.3)


def test_phantom_bad_input():
    with pytest.raises(ValueError, match="view"):
        breast_phantom(view="XX")
