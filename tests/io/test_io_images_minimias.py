"""read_mammogram on PNG / TIFF / PGM and the mini-MIAS Info.txt."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import io as skio

from napari_mcdet.io import minimias_labels, read_mammogram, read_minimias_info, read_pgm
from napari_mcdet.io.minimias import MiniMiasRecord

CALC_IMAGES = {
    "mdb209": "M",
    "mdb213": "M",
    "mdb216": "M",
    "mdb238": "M",
    "mdb241": "M",
    "mdb253": "M",
    "mdb212": "B",
    "mdb218": "B",
    "mdb222": "B",
    "mdb226": "B",
    "mdb236": "B",
    "mdb248": "B",
}


# --- PNG / TIFF / PGM ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_tiff_8_and_16_bit(tmp_path, rng, suffix, dtype):
    arr = rng.integers(0, np.iinfo(dtype).max, size=(33, 21), endpoint=True).astype(dtype)
    path = tmp_path / f"img{suffix}"
    skio.imsave(path, arr, check_contrast=False)
    m = read_mammogram(path, pixel_spacing=(0.1, 0.12))
    np.testing.assert_array_equal(m.pixels, arr.astype(np.float32))
    assert m.pixels.dtype == np.float32
    assert m.pixel_spacing == (0.1, 0.12)
    assert m.metadata["value_range"] == (0.0, float(np.iinfo(dtype).max))
    assert read_mammogram(path).pixel_spacing is None


def test_rgb_png_is_rejected(tmp_path):
    path = tmp_path / "rgb.png"
    skio.imsave(path, np.zeros((8, 9, 3), dtype=np.uint8), check_contrast=False)
    with pytest.raises(ValueError, match="colour image"):
        read_mammogram(path)


def test_3d_tiff_is_rejected(tmp_path):
    path = tmp_path / "stack.tif"
    skio.imsave(path, np.zeros((5, 8, 9), dtype=np.uint16), check_contrast=False)
    with pytest.raises(ValueError, match="not a 2-D image"):
        read_mammogram(path)


def test_non_image_and_missing_files(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ValueError, match="not a recognised image"):
        read_mammogram(path)
    with pytest.raises(FileNotFoundError):
        read_mammogram(tmp_path / "absent.png")
    with pytest.raises(ValueError, match="pixel_spacing"):
        read_mammogram(path, pixel_spacing=(-1, 1))


def test_pgm_16_bit_ascii_and_truncated(tmp_path):
    arr = np.array([[0, 1000], [65535, 7]], dtype=np.uint16)
    p16 = tmp_path / "a.pgm"
    p16.write_bytes(b"P5\n# comment\n2 2\n65535\n" + arr.astype(">u2").tobytes())
    np.testing.assert_array_equal(read_pgm(p16), arr)
    p2 = tmp_path / "b.pgm"
    p2.write_text("P2\n2 2\n255\n0 10\n20 255\n")
    np.testing.assert_array_equal(read_pgm(p2), [[0, 10], [20, 255]])
    cut = tmp_path / "c.pgm"
    cut.write_bytes(b"P5\n4 4\n255\n" + bytes(5))
    with pytest.raises(ValueError, match="truncated"):
        read_mammogram(cut)
    ppm = tmp_path / "d.pgm"
    ppm.write_bytes(b"P6\n1 1\n255\n" + bytes(3))
    with pytest.raises(ValueError, match="colour"):
        read_mammogram(ppm)


def test_pgm_not_named_like_minimias_has_no_spacing(tmp_path):
    path = tmp_path / "scan.pgm"
    path.write_bytes(b"P5\n2 2\n255\n" + bytes(4))
    m = read_mammogram(path)
    assert m.pixel_spacing is None and "refnum" not in m.metadata


# --- mini-MIAS ---------------------------------------------------------------------------------


def test_minimias_images(shared_data):
    folder = shared_data / "mini-mias"
    for name, laterality in (("mdb209.pgm", "R"), ("mdb212.pgm", "L"), ("mdb003.pgm", "R")):
        m = read_mammogram(folder / name)
        assert m.shape == (1024, 1024)
        assert m.pixel_spacing == (0.2, 0.2)
        assert m.laterality == laterality and m.view == "MLO"
        assert m.metadata["refnum"] == name[:6] and m.metadata["dataset"] == "mini-mias"
        assert 0 <= m.pixels.min() and m.pixels.max() <= 255
        # orientation: the breast (bright) sits against the side of its laterality
        half = 512
        left, right = m.pixels[:, :half].mean(), m.pixels[:, half:].mean()
        assert (left > right) == (laterality == "L")
    assert read_mammogram(folder / "mdb209.pgm", pixel_spacing=0.05).pixel_spacing == (0.05, 0.05)


def test_minimias_info_parsing(shared_data):
    records = read_minimias_info(shared_data / "mini-mias" / "Info.txt")
    assert len(records) == 330  # every row of the database, several per image for some
    first = records[0]
    assert first == MiniMiasRecord("mdb001", "G", "CIRC", "B", 1023 - 425, 535, 197, 535, 425)
    by = {}
    for r in records:
        by.setdefault(r.refnum, []).append(r)
    r209 = by["mdb209"][0]
    assert (r209.tissue, r209.abnormality, r209.severity) == ("G", "CALC", "M")
    assert (r209.row, r209.col, r209.radius) == (1023 - 503, 647, 87)
    assert r209["refnum"] == "mdb209" and r209.label == 2
    r216 = by["mdb216"][0]
    assert r216.severity == "M" and r216.row is None and r216.radius is None
    assert r216.note == "*NOTE 3*"
    assert len(by["mdb226"]) == 3
    assert by["mdb003"][0].abnormality == "NORM" and by["mdb003"][0].severity is None
    present = read_minimias_info(shared_data / "mini-mias" / "Info.txt", present_only=True)
    present_ids = {r.refnum for r in present}
    assert len(present_ids) == 178
    calc = {r.refnum: r.severity for r in present if r.abnormality == "CALC"}
    assert calc == CALC_IMAGES


def test_minimias_labels(shared_data):
    records = read_minimias_info(shared_data / "mini-mias" / "Info.txt")
    lab = minimias_labels(records, refnum="mdb209")
    assert lab.dtype == np.uint8 and lab.shape == (1024, 1024)
    assert lab[1023 - 503, 647] == 2 and set(np.unique(lab)) == {0, 2}
    assert abs(int((lab == 2).sum()) - np.pi * 87**2) < 0.02 * np.pi * 87**2
    benign = minimias_labels(records, refnum="mdb226")
    assert set(np.unique(benign)) == {0, 1}
    assert benign[1023 - 610, 287] == 1 and benign[1023 - 721, 531] == 1
    with pytest.warns(UserWarning, match="no coordinates"):
        diffuse = minimias_labels(records, refnum="mdb216")
    assert not diffuse.any()
    assert not minimias_labels(records, refnum="mdb003").any()
    with pytest.raises(ValueError, match="refnum"):
        minimias_labels(records)


def test_minimias_info_rejects_other_text(tmp_path):
    path = tmp_path / "Info.txt"
    path.write_text("nothing to see\r\n")
    with pytest.raises(ValueError, match="mini-MIAS"):
        read_minimias_info(path)
