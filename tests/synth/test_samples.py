"""The sample mammograms: the same seeded phantom everywhere, lesions where they were placed."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from napari_mcdet.mammogram import Mammogram
from napari_mcdet.synth.samples import (
    BENIGN_CENTRE,
    MALIGNANT_CENTRE,
    normal_phantom,
    phantom_with_lesions,
)


def test_normal_phantom_is_the_seeded_phantom():
    a, b = normal_phantom(), normal_phantom()
    assert isinstance(a, Mammogram)
    assert a.shape == (1024, 768) and a.pixel_spacing == (0.1, 0.1)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    breast = a.metadata["breast_mask"]
    for r, c in (MALIGNANT_CENTRE, BENIGN_CENTRE):
        assert breast[int(r), int(c)]  # both lesions are placed inside the breast


def test_lesions_are_where_they_were_placed():
    mammo, truth, lesions = phantom_with_lesions()
    normal = normal_phantom()
    assert mammo.shape == truth.shape == (1024, 768) and truth.dtype == np.uint8
    assert mammo.pixel_spacing == (0.1, 0.1)
    assert mammo.metadata == {"source": "phantom with lesions"}
    assert [les["kind"] for les in lesions] == ["malignant", "benign"]
    # every calcification of each class lies within half the largest lesion extent (20 mm, i.e.
    # 100 pixels at 0.1 mm) of that class's centre
    for code, centre in ((2, MALIGNANT_CENTRE), (1, BENIGN_CENTRE)):
        rows, cols = np.nonzero(truth == code)
        assert rows.size > 0
        assert np.hypot(rows - centre[0], cols - centre[1]).max() <= 100
    # the image differs from the normal phantom only around the lesions
    changed = mammo.pixels != normal.pixels
    near = ndi.binary_dilation(truth > 0, iterations=30)
    assert changed.any() and not (changed & ~near).any()


def test_sample_with_lesions_is_always_the_same():
    (m1, t1, _), (m2, t2, _) = phantom_with_lesions(), phantom_with_lesions()
    np.testing.assert_array_equal(m1.pixels, m2.pixels)
    np.testing.assert_array_equal(t1, t2)
