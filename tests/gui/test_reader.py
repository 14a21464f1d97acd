"""The npe2 reader on the real files, through a real napari viewer."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

from napari_mcdet.gui._layers import TRUTH_COLOR, TRUTH_KEY
from napari_mcdet.gui._reader import get_reader


def test_get_reader_accepts_and_declines(shared_data, tmp_path):
    assert get_reader(str(shared_data / "dicom-mg" / "cbis-ddsm-P00173-benign-case-1-130.dcm"))
    assert get_reader(str(shared_data / "inbreast" / "AllXML" / "26933801.xml"))
    assert get_reader(str(shared_data / "mini-mias" / "mdb209.pgm"))
    other = tmp_path / "pom.xml"
    other.write_text("<project><modelVersion>4.0.0</modelVersion></project>")
    assert get_reader(str(other)) is None
    assert get_reader(str(shared_data / "mini-mias" / "Info.txt")) is None
    assert get_reader(str(shared_data / "mini-mias")) is None


def test_bad_dicom_raises_a_clear_error(tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"\0" * 300)
    reader = get_reader(str(bad))
    with pytest.raises(ValueError, match="broken.dcm"):
        reader(str(bad))


def test_viewer_opens_minimias(make_napari_viewer, shared_data):
    viewer = make_napari_viewer()
    layers = viewer.open(str(shared_data / "mini-mias" / "mdb209.pgm"), plugin="napari-mcdet")
    image, labels, shapes = layers
    assert image.data.shape == (1024, 1024)
    np.testing.assert_allclose(image.scale, (0.2, 0.2))
    assert image.metadata["pixel_spacing"] == (0.2, 0.2) and image.metadata["refnum"] == "mdb209"
    assert labels._type_string == "labels" and labels.data[1023 - 503, 647] == 2
    np.testing.assert_allclose(labels.scale, (0.2, 0.2))
    assert list(labels.features["class"]) == ["soft tissue", "benign", "malignant"]
    # truth, drawn as outlines in the truth colour: the circles show, the labels wait hidden
    assert labels.metadata[TRUTH_KEY] == "mini-mias" and labels.metadata["image"] == "mdb209"
    assert not labels.visible and shapes.visible
    np.testing.assert_allclose(labels.colormap.map(np.array([2]))[0], TRUTH_COLOR)
    np.testing.assert_allclose(shapes.edge_color[0], TRUTH_COLOR)
    np.testing.assert_allclose(shapes.face_color[0][3], 0.0)
    assert shapes._type_string == "shapes" and list(shapes.features["name"]) == ["CALC M"]
    # the Info.txt circle (x 647, y 503, radius 87) is drawn centred there with that radius
    corners = shapes.data[0]
    np.testing.assert_allclose(corners.mean(0), (1023 - 503, 647), atol=0.5)
    np.testing.assert_allclose(np.ptp(corners, axis=0), (2 * 87, 2 * 87), atol=0.5)
    # a normal image: just the image
    normal = viewer.open(str(shared_data / "mini-mias" / "mdb003.pgm"), plugin="napari-mcdet")
    assert [layer._type_string for layer in normal] == ["image"]


def test_viewer_opens_cbis_dicom(make_napari_viewer, shared_data):
    viewer = make_napari_viewer()
    with pytest.warns(UserWarning, match="PixelSpacing"):
        (image,) = viewer.open(
            str(shared_data / "dicom-mg" / "cbis-ddsm-P00820-malignant-case-1-282.dcm"),
            plugin="napari-mcdet",
        )
    assert image.data.shape == (4688, 2592) and image.data.dtype == np.float32
    assert image.metadata["Modality"] == "MG" and image.metadata["laterality"] == "R"
    np.testing.assert_allclose(image.scale, (1.0, 1.0))  # no spacing in the file


def test_viewer_opens_inbreast_xml_alone(make_napari_viewer, shared_data):
    viewer = make_napari_viewer()
    with pytest.warns(UserWarning, match="AllDICOMs"):
        layers = viewer.open(
            str(shared_data / "inbreast" / "AllXML" / "26933801.xml"), plugin="napari-mcdet"
        )
    labels, shapes, points = layers
    assert labels.data.shape == (4084, 3328)
    assert set(np.unique(labels.data)) == {0, 1, 2}
    np.testing.assert_allclose(labels.scale, (0.07, 0.07))
    assert labels.metadata["birads"] == "4b" and labels.metadata[TRUTH_KEY] == "inbreast"
    assert "image" not in labels.metadata  # no image layer for it to belong to
    assert not labels.visible and shapes.visible and points.visible
    np.testing.assert_allclose(shapes.edge_color[0], TRUTH_COLOR)
    np.testing.assert_allclose(points.border_color[0], TRUTH_COLOR)
    assert len(shapes.data) == 9 and len(points.data) == 18
    assert set(shapes.features["name"]) == {"Cluster", "Calcification"}
    assert set(points.features["type"]) == {19}


def test_inbreast_xml_with_sibling_dicom(make_napari_viewer, shared_data, tmp_path):
    """A folder laid out like INbreast: the XML brings its DICOM (matched by number)."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    root = tmp_path / "INbreast"
    (root / "AllXML").mkdir(parents=True)
    (root / "AllDICOMs").mkdir()
    shutil.copy(shared_data / "inbreast" / "AllXML" / "22613624.xml", root / "AllXML")
    shutil.copy(shared_data / "inbreast" / "INbreast.csv", root)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = pydicom.uid.UID("1.2.840.10008.5.1.4.1.1.1.2")
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("x", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Modality, ds.PhotometricInterpretation, ds.SamplesPerPixel = "MG", "MONOCHROME2", 1
    ds.Rows, ds.Columns = 4084, 3328
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelSpacing, ds.ImageLaterality, ds.ViewPosition = [0.07, 0.07], "R", "CC"
    ds.PixelData = np.zeros((4084, 3328), np.uint8).tobytes()
    ds.save_as(
        root / "AllDICOMs" / "22613624_5530d5782fc89dd7_MG_R_CC_ANON.dcm", enforce_file_format=True
    )
    viewer = make_napari_viewer()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "image missing" warning
        layers = viewer.open(str(root / "AllXML" / "22613624.xml"), plugin="napari-mcdet")
    image, labels = layers[:2]
    assert image._type_string == "image" and image.metadata["view"] == "CC"
    np.testing.assert_allclose(image.scale, (0.07, 0.07))
    assert labels.data.shape == image.data.shape
    assert set(np.unique(labels.data)) == {0, 1} and labels.metadata["birads"] == "2"
    assert labels.metadata["image"] == image.name


@pytest.mark.parametrize("x, grid", [(50000.0, "50001 x 50001"),
                                     (1e9, "1000000001 x 1000000001")])
def test_inbreast_xml_alone_with_a_point_beyond_any_mammogram_is_refused(make_napari_viewer,
                                                                         tmp_path, x, grid):
    """The reader refuses what every image reader refuses: more pixels than any mammogram has,
    before allocating them (no 2.5 GB labels layer, no numpy memory error)."""
    import plistlib

    roi = {"Name": "Calcification", "Type": 19, "NumberOfPoints": 1, "Point_px": [f"({x}, {x})"],
           "IndexInImage": 0, "Area": 0.0}
    path = tmp_path / "AllXML" / "12345678.xml"
    path.parent.mkdir()
    path.write_bytes(plistlib.dumps({"Images": [{"ImageIndex": 0, "ROIs": [roi]}]}))
    viewer = make_napari_viewer()
    with pytest.raises(Exception) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        viewer.open(str(path), plugin="napari-mcdet")
    chain, err = [], info.value
    while err is not None:
        chain.append(err)
        err = err.__cause__ or err.__context__
    refusal = [e for e in chain if isinstance(e, ValueError) and "ROI points" in str(e)]
    assert refusal, chain
    assert f"12345678.xml: its ROI points need a grid of {grid} pixels" in str(refusal[0])
    assert "more than any mammogram" in str(refusal[0])
    assert len(viewer.layers) == 0
