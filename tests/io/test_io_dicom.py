"""DICOM reading: the two real CBIS-DDSM files and small files built here with pydicom."""

from __future__ import annotations

import io as pyio
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from napari_mcdet.io import read_dicom, read_mammogram

DIGITAL_MG = UID("1.2.840.10008.5.1.4.1.1.1.2")


def make_dicom(
    path: Path,
    arr: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    transfer_syntax: UID = ExplicitVRLittleEndian,
    pixel_bytes: bytes | None = None,
    bits_stored: int | None = None,
    **tags,
) -> Path:
    """Write ``arr`` as a small DICOM file (uncompressed unless pixel_bytes is given)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = tags.pop("SOPClassUID", DIGITAL_MG)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = tags.pop("Modality", "MG")
    ds.PatientID = "test"
    samples = 3 if arr.ndim == 3 and photometric == "RGB" else 1
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = arr.shape[:2]
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored or arr.dtype.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    for key, value in tags.items():
        setattr(ds, key, value)
    if pixel_bytes is None:
        ds.PixelData = arr.tobytes()
    else:
        ds.PixelData = pixel_bytes
        ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def ramp() -> np.ndarray:
    return (np.arange(40 * 30, dtype=np.uint16).reshape(40, 30) * 3).astype(np.uint16)


# --- real files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, shape, laterality",
    [
        ("cbis-ddsm-P00173-benign-case-1-130.dcm", (4432, 2864), "L"),
        ("cbis-ddsm-P00820-malignant-case-1-282.dcm", (4688, 2592), "R"),
    ],
)
def test_real_cbis_ddsm(shared_data, name, shape, laterality):
    path = shared_data / "dicom-mg" / name
    with pytest.warns(UserWarning, match="no PixelSpacing"):
        mammo = read_mammogram(path)
    assert mammo.shape == shape
    assert mammo.pixels.dtype == np.float32
    assert mammo.pixel_spacing is None
    assert mammo.laterality == laterality
    assert mammo.view == "CC"  # CBIS-DDSM stores the view in PatientOrientation
    assert mammo.metadata["transfer_syntax"] == pydicom.uid.RLELossless
    assert mammo.metadata["voi"] is None and mammo.metadata["value_range"] == (0.0, 65535.0)
    # MONOCHROME2 film scan: the breast is bright, the background (most of the border) dark
    p = mammo.pixels
    assert np.median(p) < np.percentile(p, 95)
    assert p.max() > 10 * max(np.percentile(p, 5), 1.0)
    # orientation: a left breast lies against the left edge (more tissue in the left half)
    half = mammo.shape[1] // 2
    assert (p[:, :half].mean() > p[:, half:].mean()) == (laterality == "L")
    # the caller's spacing overrides, without the warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = read_mammogram(path, pixel_spacing=0.05)
    assert again.pixel_spacing == (0.05, 0.05)
    assert np.array_equal(again.pixels, p)


# --- built files ------------------------------------------------------------------------------


def test_monochrome2_and_spacing_tags(tmp_path, ramp):
    path = make_dicom(
        tmp_path / "a.dcm",
        ramp,
        PixelSpacing=[0.1, 0.085],
        ImagerPixelSpacing=[0.2, 0.2],
        ImageLaterality="R",
        ViewPosition="MLO",
    )
    m = read_dicom(path)
    assert np.array_equal(m.pixels, ramp.astype(np.float32))
    assert m.pixel_spacing == (0.1, 0.085)
    assert m.metadata["spacing_tag"] == "PixelSpacing"
    assert (m.laterality, m.view) == ("R", "MLO")


def test_imager_pixel_spacing_and_view_from_description(tmp_path, ramp):
    path = make_dicom(
        tmp_path / "b.dcm",
        ramp,
        ImagerPixelSpacing=[0.07, 0.07],
        Laterality="L",
        SeriesDescription="L CC tomo-synthesised 2D",
    )
    m = read_dicom(path)
    assert m.pixel_spacing == (0.07, 0.07)
    assert m.metadata["spacing_tag"] == "ImagerPixelSpacing"
    assert (m.laterality, m.view) == ("L", "CC")


def test_no_spacing_warns(tmp_path, ramp):
    path = make_dicom(tmp_path / "c.dcm", ramp)
    with pytest.warns(UserWarning, match="pixel_spacing is None"):
        m = read_dicom(path)
    assert m.pixel_spacing is None and m.laterality is None and m.view is None


def test_monochrome1_is_inverted(tmp_path, ramp):
    path = make_dicom(
        tmp_path / "m1.dcm", ramp, photometric="MONOCHROME1", bits_stored=12, PixelSpacing=[1, 1]
    )
    m = read_dicom(path)
    assert m.metadata["inverted"]
    np.testing.assert_array_equal(m.pixels, 4095.0 - ramp.astype(np.float32))
    # bright = dense: the largest stored value (least attenuation in MONOCHROME1) is darkest
    assert m.pixels.flat[np.argmax(ramp)] == m.pixels.min()


def test_rescale_slope_intercept(tmp_path, ramp):
    path = make_dicom(
        tmp_path / "r.dcm", ramp, RescaleSlope=2, RescaleIntercept=-100, PixelSpacing=[1, 1]
    )
    m = read_dicom(path)
    np.testing.assert_allclose(m.pixels, ramp * 2.0 - 100)


def test_linear_window(tmp_path, ramp):
    path = make_dicom(
        tmp_path / "w.dcm", ramp, WindowCenter=1800, WindowWidth=1001, PixelSpacing=[1, 1]
    )
    m = read_dicom(path)
    assert m.metadata["voi"] == "window" and m.metadata["value_range"] == (0.0, 1.0)
    x = ramp.astype(np.float64)
    expected = np.clip(((x - 1799.5) / 1000.0) + 0.5, 0, 1)
    np.testing.assert_allclose(m.pixels, expected, atol=1e-6)
    assert m.pixels.min() == 0.0 and m.pixels.max() == 1.0
    raw = read_dicom(path, apply_voi=False)
    np.testing.assert_array_equal(raw.pixels, ramp.astype(np.float32))


def test_sigmoid_window_and_second_window(tmp_path, ramp):
    path = make_dicom(
        tmp_path / "s.dcm",
        ramp,
        WindowCenter=[1800, 500],
        WindowWidth=[600, 200],
        VOILUTFunction="SIGMOID",
        PixelSpacing=[1, 1],
    )
    x = ramp.astype(np.float64)
    for index, (c, w) in enumerate([(1800, 600), (500, 200)]):
        m = read_dicom(path, voi_index=index)
        np.testing.assert_allclose(m.pixels, 1 / (1 + np.exp(-4 * (x - c) / w)), atol=1e-6)
    with pytest.raises(ValueError, match="voi_index 2 out of range"):
        read_dicom(path, voi_index=2)


def test_sigmoid_with_monochrome1(tmp_path, ramp):
    path = make_dicom(
        tmp_path / "s1.dcm",
        ramp,
        photometric="MONOCHROME1",
        WindowCenter=1800,
        WindowWidth=600,
        VOILUTFunction="SIGMOID",
        PixelSpacing=[1, 1],
    )
    m = read_dicom(path)
    x = ramp.astype(np.float64)
    np.testing.assert_allclose(m.pixels, 1 - 1 / (1 + np.exp(-4 * (x - 1800) / 600)), atol=1e-6)


def test_voi_lut_sequence_wins_over_window(tmp_path, ramp):
    item = pydicom.Dataset()
    lut = (np.arange(1000) // 4).astype(np.uint16)  # 1000 entries, first mapped 1000, 8 bits
    item.LUTDescriptor = [1000, 1000, 8]
    item.LUTData = lut.tolist()
    item["LUTDescriptor"].VR = "US"
    item["LUTData"].VR = "US"
    path = make_dicom(
        tmp_path / "lut.dcm",
        ramp,
        VOILUTSequence=Sequence([item]),
        WindowCenter=10,
        WindowWidth=10,
        PixelSpacing=[1, 1],
    )
    m = read_dicom(path)
    assert m.metadata["voi"] == "lut"
    idx = np.clip(ramp.astype(np.int64) - 1000, 0, 999)
    np.testing.assert_allclose(m.pixels, lut[idx] / 255.0, atol=1e-6)


def test_non_mg_modality_warns(tmp_path, ramp):
    path = make_dicom(tmp_path / "ct.dcm", ramp, Modality="CT", PixelSpacing=[1, 1])
    with pytest.warns(UserWarning, match="Modality is 'CT'"):
        m = read_dicom(path)
    assert m.shape == ramp.shape


def test_multiframe_needs_a_frame(tmp_path):
    frames = np.arange(3 * 8 * 6, dtype=np.uint16).reshape(3, 8, 6)
    path = tmp_path / "tomo.dcm"
    make_dicom(path, frames[0], NumberOfFrames=3, PixelSpacing=[0.1, 0.1])
    ds = pydicom.dcmread(path)
    ds.PixelData = frames.tobytes()
    ds.save_as(path)
    with pytest.raises(ValueError, match="3 frames.*frame=<index>"):
        read_mammogram(path)
    m = read_mammogram(path, frame=2)
    np.testing.assert_array_equal(m.pixels, frames[2])
    assert m.metadata["frame"] == 2
    with pytest.raises(ValueError, match="out of range"):
        read_mammogram(path, frame=3)


def test_rgb_secondary_capture_is_rejected(tmp_path):
    rgb = np.zeros((10, 12, 3), dtype=np.uint8)
    path = make_dicom(
        tmp_path / "sc.dcm",
        rgb,
        photometric="RGB",
        SOPClassUID=SecondaryCaptureImageStorage,
        Modality="OT",
    )
    with pytest.raises(ValueError, match="colour image"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_mammogram(path)


def test_truncated_uncompressed_file(tmp_path, ramp):
    path = make_dicom(tmp_path / "t.dcm", ramp, PixelSpacing=[1, 1])
    data = path.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 500])
    with pytest.raises(ValueError, match="truncated"):
        read_mammogram(cut)


def test_truncated_real_rle_file(shared_data, tmp_path):
    data = (shared_data / "dicom-mg" / "cbis-ddsm-P00820-malignant-case-1-282.dcm").read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_mammogram(cut)


def test_not_a_dicom(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("this is not a DICOM file\n" * 20)
    with pytest.raises(ValueError, match="DICOM"):
        read_mammogram(path)


def _j2k_codestream(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = pyio.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG2000", no_jp2=True, irreversible=False)
    return buf.getvalue()


def test_jpeg2000_decodes_when_a_decoder_is_installed(tmp_path):
    if not get_decoder(JPEG2000Lossless).is_available:
        pytest.skip("no JPEG 2000 decoder installed (pip install 'napari-mcdet[jpeg]')")
    arr = (np.arange(32 * 24, dtype=np.uint16).reshape(32, 24) * 7).astype(np.uint16)
    try:
        stream = _j2k_codestream(arr)
    except (OSError, KeyError) as exc:
        pytest.skip(f"Pillow cannot encode JPEG 2000 here: {exc}")
    path = make_dicom(
        tmp_path / "j2k.dcm",
        arr,
        transfer_syntax=JPEG2000Lossless,
        pixel_bytes=encapsulate([stream]),
        PixelSpacing=[0.07, 0.07],
    )
    m = read_mammogram(path)
    np.testing.assert_array_equal(m.pixels, arr.astype(np.float32))


@pytest.mark.parametrize(
    "syntax",
    [
        JPEG2000Lossless,
        pydicom.uid.HTJ2KLossless,
        pydicom.uid.JPEGLSLossless,
        pydicom.uid.JPEGLosslessSV1,
    ],
    ids=lambda s: s.name,
)
def test_compressed_without_decoder_names_the_package(tmp_path, syntax):
    """A JPEG-family file whose decoder plugin is missing: the error says what to install.

    Real pydicom decoder lookup, no mocks: each syntax is checked only where its decoder is
    really absent in this environment (JPEG 2000 may be decodable through Pillow; HTJ2K and
    JPEG-LS need pylibjpeg plugins that the base install lacks).
    """
    if get_decoder(syntax).is_available:
        pytest.skip(f"a decoder for {syntax.name} is installed here, so there is no error to see")
    arr = np.zeros((8, 8), dtype=np.uint16)
    path = make_dicom(
        tmp_path / "c.dcm",
        arr,
        transfer_syntax=syntax,
        pixel_bytes=encapsulate([b"\xff\x4f\xff\x51junk-not-a-codestream"]),
        PixelSpacing=[0.1, 0.1],
    )
    with pytest.raises(ImportError, match=r"napari-mcdet\[jpeg\].*pylibjpeg"):
        read_mammogram(path)


def test_at_least_one_compressed_syntax_checks_the_missing_decoder_path():
    missing = [
        s
        for s in (
            pydicom.uid.HTJ2KLossless,
            pydicom.uid.JPEGLSLossless,
            pydicom.uid.JPEGLosslessSV1,
        )
        if not get_decoder(s).is_available
    ]
    if not missing:
        pytest.skip("every JPEG decoder is installed: the missing-decoder error cannot occur")
    assert missing


def test_single_frame_file_reads_frame_zero_only(tmp_path, ramp):
    path = make_dicom(tmp_path / "one.dcm", ramp, PixelSpacing=[0.1, 0.1])
    np.testing.assert_array_equal(read_dicom(path, frame=0).pixels, ramp)
    assert "frame" not in read_dicom(path, frame=0).metadata
    with pytest.raises(ValueError, match="single frame"):
        read_dicom(path, frame=1)


def test_file_without_meta_header_is_read_as_implicit_little_endian(tmp_path, ramp):
    # a bare data set (no preamble, no group 2), as some old exporters write
    ds = pydicom.Dataset()
    ds.Modality, ds.PhotometricInterpretation, ds.SamplesPerPixel = "MG", "MONOCHROME2", 1
    ds.Rows, ds.Columns = ramp.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelSpacing = [0.1, 0.1]
    ds.PixelData = ramp.tobytes()
    path = tmp_path / "bare.dcm"
    pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[128:132] != b"DICM"
    m = read_dicom(path)
    np.testing.assert_array_equal(m.pixels, ramp)
    assert m.metadata["transfer_syntax"] == str(ImplicitVRLittleEndian)
