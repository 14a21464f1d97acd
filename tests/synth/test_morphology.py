"""The disk erosion/dilation behind every top-hat equals scipy's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import disk

from napari_mcdet.synth.conspicuity import disk_filter, white_tophat


@pytest.mark.parametrize("radius", [1, 2, 3, 5, 9, 15])
def test_disk_filter_equals_scipy(radius):
    rng = np.random.default_rng(radius)
    for shape in [(4, 4), (7, 31), (40, 9), (2 * radius + 1, 50), (64, 80)]:
        image = rng.normal(size=shape).astype(np.float32)
        image[::3] = np.round(image[::3], 1)  # ties between neighbours
        for maximum, fn in ((False, ndi.grey_erosion), (True, ndi.grey_dilation)):
            expected = fn(image, footprint=disk(radius))
            got = disk_filter(image, radius, maximum=maximum)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, expected)
        expected = image - ndi.grey_opening(image, footprint=disk(radius))
        np.testing.assert_array_equal(white_tophat(image, radius), expected)


def test_tophat_keeps_small_bright_spots_and_drops_the_background():
    image = np.tile(np.linspace(0, 10, 60, dtype=np.float32), (60, 1))  # a smooth ramp
    image[30, 30] += 5.0  # a speck narrower than the disk
    th = white_tophat(image, 3)
    # the best-fitting disk touches the speck with its one leftmost pixel: its minimum is the
    # ramp one column to the right
    assert th[30, 30] == pytest.approx(5.0 - 10 / 59, abs=1e-5)
    th[30, 30] = 0
    # a ramp is its own opening, except where the reflected border folds it into a ridge
    assert np.abs(th[:, :-3]).max() < 1e-5
    assert th[:, -1].min() == pytest.approx(3 * 10 / 59, abs=1e-5)
