"""Bad and hostile inputs of the readers and writers: each refused (or warned about) with a
message naming the file, the problem and the fix, before any large allocation."""

from __future__ import annotations

import os
import stat
import warnings

import numpy as np
import pytest

from napari_mcdet.io import write_inbreast_xml, write_mask
from napari_mcdet.io.writers import atomic_write


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> str:
    return oct(stat.S_IMODE(os.stat(path).st_mode))


def test_masks_and_xmls_get_the_umask_mode(tmp_path, umask_022):
    labels = np.zeros((20, 30), np.uint8)
    labels[5, 5] = 1
    labels[10:13, 10:14] = 2
    assert _mode(write_mask(tmp_path / "m.png", labels)) == "0o644"
    assert _mode(write_inbreast_xml(tmp_path / "m.xml", labels)) == "0o644"
    os.umask(0o077)
    assert _mode(write_mask(tmp_path / "private.png", labels)) == "0o600"


def test_atomic_write_replaces_a_symlink_instead_of_its_target(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("keep\n")
    link = tmp_path / "out.txt"
    link.symlink_to(target)
    atomic_write(link, lambda tmp: tmp.write_text("new\n"))
    assert target.read_text() == "keep\n"
    assert not link.is_symlink() and link.read_text() == "new\n"


# -- DICOM --------------------------------------------------------------------------------
def _dicom(path, arr, *, syntax=None, pixel_bytes=None, rows=None, cols=None, **tags):
    """A small MG DICOM file; ``rows``/``cols`` may claim another size than ``arr`` has."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax or ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "MG", "test"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = rows or arr.shape[0], cols or arr.shape[1]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    for key, value in tags.items():
        setattr(ds, key, value)
    if pixel_bytes is None:
        ds.PixelData = arr.astype(np.uint16).tobytes()
    else:
        ds.PixelData = pixel_bytes
        ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_rle_dicom_claiming_65535_squared_is_refused_before_decoding(tmp_path):
    from pydicom.encaps import encapsulate
    from pydicom.uid import RLELossless

    from napari_mcdet.io import read_mammogram

    # 250 KB of RLE data (header: one segment at offset 64) claiming 65535 x 65535 x 16 bit
    segment = (1).to_bytes(4, "little") + (64).to_bytes(4, "little") + bytes(56)
    body = segment + bytes([0x81, 0]) * 125_000
    path = _dicom(tmp_path / "bomb.dcm", np.zeros((1, 1)), syntax=RLELossless,
                  pixel_bytes=encapsulate([body]), rows=65535, cols=65535,
                  PixelSpacing=[0.07, 0.07])
    assert path.stat().st_size < 300_000
    with pytest.raises(ValueError, match=r"bomb\.dcm: its header claims 65535 x 65535"):
        read_mammogram(path)
    # within the pixel limit, but more than 64-fold the stored RLE bytes
    small = _dicom(tmp_path / "claims.dcm", np.zeros((1, 1)), syntax=RLELossless,
                   pixel_bytes=encapsulate([segment + bytes([0x81, 0]) * 100]), rows=4000,
                   cols=3000, PixelSpacing=[0.07, 0.07])
    with pytest.raises(ValueError, match=r"claims\.dcm.*RLE data can hold at most"):
        read_mammogram(small)


def test_rescale_slope_nan_is_refused(tmp_path):
    from napari_mcdet.io import read_mammogram

    arr = np.arange(64, dtype=np.uint16).reshape(8, 8)
    with pytest.warns(UserWarning, match="Invalid value for VR DS"):
        path = _dicom(tmp_path / "nan.dcm", arr, RescaleSlope="NaN", RescaleIntercept="0",
                      PixelSpacing=[0.1, 0.1])
    with pytest.raises(ValueError, match=r"nan\.dcm: RescaleSlope is nan.*every pixel into NaN"):
        read_mammogram(path)


@pytest.mark.parametrize("spacing", [["0", "0"], ["nan", "0.1"]])
def test_invalid_pixel_spacing_is_not_reported_missing(tmp_path, spacing):
    from napari_mcdet.io import read_mammogram

    arr = np.arange(64, dtype=np.uint16).reshape(8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's own complaint about 'nan' as a DS
        path = _dicom(tmp_path / "sp.dcm", arr, PixelSpacing=spacing)
    with pytest.warns(UserWarning, match="sp.dcm: invalid PixelSpacing") as record:
        m = read_mammogram(path)
    assert m.pixel_spacing is None
    assert not any("no PixelSpacing" in str(w.message) for w in record)
    assert len(record) == 1


def test_three_pixel_spacing_values_are_refused_with_a_warning(tmp_path):
    from napari_mcdet.io import read_mammogram
    from napari_mcdet.io.dicom import dicom_spacing

    arr = np.arange(64, dtype=np.uint16).reshape(8, 8)
    path = _dicom(tmp_path / "three.dcm", arr, PixelSpacing=["0.07", "0.07", "0.07"])
    with pytest.warns(UserWarning, match=r"three\.dcm: invalid PixelSpacing 0\.07\\0\.07\\0\.07: "
                                         r"3 values, not two \(row and column mm\)"):
        m = read_mammogram(path)
    assert m.pixel_spacing is None
    spacing, why = dicom_spacing(path)
    assert spacing is None and why.startswith("invalid PixelSpacing 0.07\\0.07\\0.07: 3 values")


@pytest.mark.parametrize("tag", ["PixelSpacing", "ImagerPixelSpacing"])
def test_a_spacing_given_silences_the_files_invalid_one(tmp_path, tag):
    from napari_mcdet.io import read_mammogram

    arr = np.arange(64, dtype=np.uint16).reshape(8, 8)
    path = _dicom(tmp_path / "zero.dcm", arr, **{tag: ["0", "0"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = read_mammogram(path, pixel_spacing=0.07)
    assert m.pixel_spacing == (0.07, 0.07) and m.metadata["spacing_tag"] == "caller"


def test_corrupt_jpeg2000_is_a_value_error_naming_the_file(tmp_path):
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000Lossless

    from napari_mcdet.io import read_mammogram

    if not get_decoder(JPEG2000Lossless).is_available:
        pytest.skip("no JPEG 2000 decoder installed: the missing-decoder message is tested")
    junk = b"\xff\x4f\xff\x51" + bytes(200)
    path = _dicom(tmp_path / "j2k.dcm", np.zeros((32, 24)), syntax=JPEG2000Lossless,
                  pixel_bytes=encapsulate([junk]), PixelSpacing=[0.07, 0.07])
    with pytest.raises(ValueError, match=r"j2k\.dcm: could not decode.*re-export"):
        read_mammogram(path)


# -- PNG / TIFF / PGM ---------------------------------------------------------------------
def _png_header_only(path, width, height):
    """A PNG whose header claims ``width`` x ``height`` 8-bit grey pixels, with one tiny IDAT."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))
    return path


def test_png_claiming_more_pixels_than_any_mammogram_is_refused(tmp_path):
    from napari_mcdet.io import read_mammogram

    path = _png_header_only(tmp_path / "huge.png", 65535, 65535)
    with pytest.raises(ValueError, match=r"huge\.png: its header claims 65535 x 65535 pixels"):
        read_mammogram(path)


def test_pillow_decompression_bomb_is_a_value_error_naming_the_file(tmp_path):
    from PIL import Image

    from napari_mcdet.io import read_mammogram
    from napari_mcdet.io.images import MAX_PIXELS

    side = int((2 * Image.MAX_IMAGE_PIXELS + MAX_PIXELS) / 2) ** 0.5  # between both limits
    path = _png_header_only(tmp_path / "bomb.png", int(side) + 1, int(side) + 1)
    with pytest.raises(ValueError, match=r"bomb\.png is larger than Pillow's decompression"):
        read_mammogram(path)


def test_ascii_pgm_values_above_maxval_are_refused(tmp_path):
    from napari_mcdet.io import read_pgm

    path = tmp_path / "wrap.pgm"
    path.write_text("P2\n3 1\n255\n0 128 300\n")
    with pytest.raises(ValueError, match=r"wrap\.pgm: pixel value 300 exceeds.*maximum 255"):
        read_pgm(path)
    neg = tmp_path / "neg.pgm"
    neg.write_text("P2\n2 1\n255\n-4 3\n")
    with pytest.raises(ValueError, match=r"neg\.pgm: negative pixel value"):
        read_pgm(neg)
    above = tmp_path / "above.pgm"
    above.write_text("P2\n2 1\n100\n50 101\n")
    with pytest.raises(ValueError, match="exceeds"):
        read_pgm(above)


@pytest.mark.parametrize("spacing,match", [(float("inf"), "finite"), ((0.1, 0.1, 0.1),
                                                                      "one number or two")])
def test_read_mammogram_refuses_bad_spacing(tmp_path, spacing, match):
    from napari_mcdet.io import read_mammogram

    path = tmp_path / "a.pgm"
    path.write_text("P2\n2 2\n255\n1 2 3 4\n")
    with pytest.raises(ValueError, match=match):
        read_mammogram(path, pixel_spacing=spacing)


def test_folder_is_not_reported_as_a_missing_file(tmp_path):
    from napari_mcdet.io import read_mammogram, read_mask

    for reader in (read_mammogram, read_mask):
        with pytest.raises(IsADirectoryError, match="is a folder, not an image file"):
            reader(tmp_path)


# -- INbreast -----------------------------------------------------------------------------
def _xml(path, rois, encoding="utf-8"):
    import plistlib

    data = plistlib.dumps({"Images": [{"ImageIndex": 0, "NumberOfROIs": len(rois),
                                       "ROIs": rois}]}, fmt=plistlib.FMT_XML)
    if encoding != "utf-8":
        data = data.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode(encoding)
    path.write_bytes(data)
    return path


def _point(text, **extra):
    return {"Name": "Calcification", "Type": 19, "NumberOfPoints": 1, "Point_px": [text],
            "IndexInImage": 0, "Area": 0.0, **extra}


def test_point_radius_of_1000_mm_is_skipped_before_drawing(tmp_path):
    from napari_mcdet.io import inbreast_labels, read_inbreast_xml

    path = _xml(tmp_path / "r.xml", [_point("(50.0, 40.0)", PointRadius_mm=1000.0),
                                     _point("(20.0, 10.0)", PointRadius_mm=0.0)])
    with pytest.warns(UserWarning, match=r"r\.xml: ROI 0 skipped.*PointRadius_mm 1000"):
        rois = read_inbreast_xml(path)
    assert len(rois) == 1
    labels = inbreast_labels(rois, (100, 80))
    assert labels.sum() == 1 and labels[10, 20] == 1


def test_drawing_a_point_needs_memory_of_the_image_only():
    import resource

    from napari_mcdet.io import InbreastROI, draw_roi

    roi = InbreastROI("Calcification", 19, [[50.0, 40.0]])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # 5 mm at 0.1 um pixels: a disk of radius 50,000 pixels, clipped to the 100 x 80 image
    rr, cc = draw_roi(roi, (100, 80), pixel_spacing=(1e-4, 1e-4), point_radius_mm=5.0)
    assert len(set(zip(rr.tolist(), cc.tolist()))) == 100 * 80
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 200
    with pytest.raises(ValueError, match="point radius 1000.0 mm"):
        draw_roi(roi, (100, 80), point_radius_mm=1000.0)
    with pytest.raises(ValueError, match="one number or two"):
        draw_roi(roi, (100, 80), pixel_spacing=(0.07, 0.07, 1.0))


@pytest.mark.parametrize("text", ["(inf, 5.0)", "(1e999, 5.0)", "(nan, 3.0)"])
def test_non_finite_points_are_skipped_with_a_warning(tmp_path, text):
    from napari_mcdet.io import read_inbreast_xml

    path = _xml(tmp_path / "nf.xml", [_point(text), _point("(2.0, 3.0)")])
    with pytest.warns(UserWarning, match=r"nf\.xml: ROI 0 skipped.*non-finite"):
        rois = read_inbreast_xml(path)
    assert len(rois) == 1 and rois[0].points.tolist() == [[3.0, 2.0]]


def test_non_finite_points_are_not_written(tmp_path):
    from napari_mcdet.io import InbreastROI

    for bad in ([[np.nan, 1.0]], [[1.0, np.inf], [2.0, 2.0], [3.0, 1.0]]):
        roi = InbreastROI("Calcification", 19 if len(bad) == 1 else 15, bad)
        with pytest.raises(ValueError, match=r"cannot write .*w\.xml: ROI 0 .*non-finite"):
            write_inbreast_xml(tmp_path / "w.xml", [roi])
    assert not (tmp_path / "w.xml").exists()


def test_utf16_xml_is_recognised_as_it_is_read(tmp_path):
    from napari_mcdet.io import is_inbreast_xml, read_inbreast_xml

    for encoding in ("utf-16", "utf-16-be"):
        path = _xml(tmp_path / f"{encoding}.xml", [_point("(2.0, 3.0)")], encoding=encoding)
        if encoding == "utf-16-be":
            path.write_bytes(b"\xfe\xff" + path.read_bytes())
        assert len(read_inbreast_xml(path)) == 1
        assert is_inbreast_xml(path)


@pytest.mark.parametrize("images", [["not a dict"], [{"ROIs": "not a list"}]])
def test_bad_xml_structure_names_the_file(tmp_path, images):
    import plistlib

    from napari_mcdet.io import read_inbreast_xml

    path = tmp_path / "s.xml"
    path.write_bytes(plistlib.dumps({"Images": images}))
    with pytest.raises(ValueError, match=r"s\.xml: Images\[0\] is not a dict"):
        read_inbreast_xml(path)


def test_bad_roi_entries_are_skipped_naming_the_file(tmp_path):
    from napari_mcdet.io import read_inbreast_xml

    path = _xml(tmp_path / "e.xml", ["a string", _point("(1.0, 1.0)", Type="polygon"),
                                     _point("(2.0, 3.0)")])
    with pytest.warns(UserWarning, match=r"e\.xml: ROI [01] skipped") as record:
        rois = read_inbreast_xml(path)
    assert len(record) == 2 and len(rois) == 1


def test_truncated_xls_is_a_value_error_naming_the_file(shared_data, tmp_path, capsys):
    from napari_mcdet.io import read_inbreast_xls

    data = (shared_data / "inbreast" / "INbreast.xls").read_bytes()
    cut = tmp_path / "INbreast.xls"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"INbreast\.xls is a damaged or truncated .xls"):
        read_inbreast_xls(cut)
    assert capsys.readouterr().out == ""  # xlrd's own complaints are not printed


# -- mini-MIAS ----------------------------------------------------------------------------
def test_negative_minimias_radius_is_named(tmp_path):
    from napari_mcdet.io import minimias_labels, read_minimias_info
    from napari_mcdet.io.minimias import MiniMiasRecord

    info = tmp_path / "Info.txt"
    info.write_text("mdb209 G CALC M 647 503 -87\r\nmdb210 G CALC B 500 500 20\r\n")
    with pytest.warns(UserWarning, match=r"Info\.txt line 1: radius -87 of mdb209 is not a "
                                         "positive number"):
        records = read_minimias_info(info)
    assert records[0].radius is None and records[1].radius == 20
    bad = MiniMiasRecord("mdb001", "G", "CALC", "M", row=100.0, col=100.0, radius=-5.0)
    with pytest.raises(ValueError, match="radius must be a positive number"):
        minimias_labels([bad])


@pytest.mark.parametrize("text, grid", [("(50000.0, 50000.0)", "50001 x 50001"),
                                        ("(1e9, 1e9)", "1000000001 x 1000000001")])
def test_annotations_alone_far_beyond_any_mammogram_are_refused(tmp_path, text, grid):
    from napari_mcdet.io import read_inbreast_xml
    from napari_mcdet.io.inbreast import inbreast_grid

    path = _xml(tmp_path / "far.xml", [_point(text), _point("(20.0, 10.0)")])
    with pytest.raises(ValueError, match=rf"far\.xml: its ROI points need a grid of {grid} "
                                         r"pixels, more than any mammogram"):
        inbreast_grid(read_inbreast_xml(path), source=path)
    # within INbreast's grid, or a little beyond it, the grid holds them
    near = _xml(tmp_path / "near.xml", [_point("(3500.0, 4500.0)")])
    assert inbreast_grid(read_inbreast_xml(near), source=near) == (4501, 3501)
