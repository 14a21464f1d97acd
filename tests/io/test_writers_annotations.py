"""One writer for annotations, chosen by the file's suffix (io.writers.write_annotations)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcdet.io.images import read_mask
from napari_mcdet.io.inbreast import inbreast_labels, read_inbreast_xml
from napari_mcdet.io.writers import write_annotations


@pytest.fixture
def labels() -> np.ndarray:
    out = np.zeros((40, 50), np.uint8)
    out[5:9, 6:12] = 1
    out[20, 30] = 2
    out[25:33, 10:14] = 2
    return out


@pytest.mark.parametrize("name", ["a.png", "a.tif", "a.TIFF"])
def test_a_mask_suffix_writes_the_class_codes(tmp_path, labels, name):
    path = write_annotations(tmp_path / name, labels, pixel_spacing=(0.07, 0.07))
    np.testing.assert_array_equal(read_mask(path), labels)


def test_xml_reads_back_to_the_same_labels_with_the_spacing_in_mm(tmp_path, labels):
    path = write_annotations(tmp_path / "a.xml", labels, pixel_spacing=(0.1, 0.05))
    rois = read_inbreast_xml(path)
    np.testing.assert_array_equal(inbreast_labels(rois, labels.shape), labels)
    text = path.read_text()
    assert "(1.500000, 2.000000, 0.000000)" in text  # pixel (20, 30): col 30 x 0.05, row 20 x 0.1


def test_another_suffix_is_refused_and_nothing_is_written(tmp_path, labels):
    with pytest.raises(ValueError, match=r"\.xml, \.png"):
        write_annotations(tmp_path / "a.jpg", labels)
    assert not list(tmp_path.iterdir())


def test_labels_other_than_class_codes_are_refused(tmp_path, labels):
    labels[0, 0] = 7
    with pytest.raises(ValueError, match="codes"):
        write_annotations(tmp_path / "a.xml", labels)
