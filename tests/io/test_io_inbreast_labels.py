"""The steps of INbreast's label image, on the real XML files."""

from __future__ import annotations

import plistlib

import pytest

from napari_mcdet.io.inbreast import (
    InbreastROI,
    _calcification_rois,
    _image_class,
    read_inbreast_xml,
)


def test_calcification_rois_sorted_by_kind(shared_data, inbreast_xml):
    path = inbreast_xml("20587902")
    with open(path, "rb") as fh:  # the file's own names, read without the code under test
        names = [r["Name"] for r in plistlib.load(fh)["Images"][0]["ROIs"]]
    assert names == ["Mass", "Calcification"]
    calcs, clusters = _calcification_rois(read_inbreast_xml(path), (4084, 3328))
    assert [r.name for r in calcs] == ["Calcification"] and clusters == []
    rois = read_inbreast_xml(inbreast_xml("26933801"))
    with pytest.warns(UserWarning, match="reach outside"):
        calcs, clusters = _calcification_rois(rois, (100, 100))
    assert len(calcs) + len(clusters) == 27
    with pytest.warns(UserWarning, match="not recognised"):
        assert _calcification_rois([InbreastROI("Nodule", 19, [[1, 1]])], (5, 5)) == ([], [])


def test_image_class_of_a_mapping():
    assert _image_class("paper", "5") is None
    assert _image_class("birads", "4a") == 2 and _image_class("birads", 3) == 1
    with pytest.raises(ValueError, match="BI-RADS"):
        _image_class("birads", None)
    with pytest.raises(ValueError, match="mapping"):
        _image_class("lesion", None)
