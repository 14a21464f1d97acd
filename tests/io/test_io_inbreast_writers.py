"""INbreast XML / csv / xls / index, labels, and the writers (exact round trips, atomic writes)."""

from __future__ import annotations

import os
import plistlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from skimage.draw import disk, polygon

from napari_mcdet.io import (
    InbreastROI,
    birads_class,
    draw_roi,
    inbreast_labels,
    index_inbreast,
    is_inbreast_xml,
    labels_to_rois,
    read_inbreast_csv,
    read_inbreast_xls,
    read_inbreast_xml,
    read_mask,
    write_inbreast_xml,
    write_mask,
)

XMLS = ("20587784", "20587902", "22613624", "26933801")
SHAPE = (4084, 3328)


def xml(shared_data: Path, number: str) -> Path:
    return shared_data / "inbreast" / "AllXML" / f"{number}.xml"


def test_read_real_xmls(shared_data):
    rois = {n: read_inbreast_xml(xml(shared_data, n)) for n in XMLS}
    assert [len(rois[n]) for n in XMLS] == [2, 2, 3, 27]
    cluster = rois["26933801"][0]
    assert (cluster.name, cluster.type, cluster.points.shape) == ("Cluster", 9, (200, 2))
    singles = [r for r in rois["26933801"] if r.type == 19]
    assert len(singles) == 18 and all(r.points.shape == (1, 2) for r in singles)
    # Point_px "(x, y)" -> (row, col): the first calcification of 20587784 is at x 1281.99,
    # y 1751.05
    first = rois["20587784"][0]
    np.testing.assert_allclose(first.points[0], [1751.050049, 1281.989990])
    assert first["name"] == "Calcification" and first.kind == "calcification"
    assert [r.name for r in rois["20587902"]] == ["Mass", "Calcification"]
    assert all(is_inbreast_xml(xml(shared_data, n)) for n in XMLS)


def test_labels_of_real_xmls(shared_data):
    for n in XMLS:
        rois = read_inbreast_xml(xml(shared_data, n))
        lab = inbreast_labels(rois, SHAPE)
        assert lab.dtype == np.uint8 and lab.shape == SHAPE
        for r in rois:  # every calcification covers some pixels, all of them labelled
            if r.kind == "calcification":
                rr, cc = draw_roi(r, SHAPE)
                assert rr.size > 0 and np.all(lab[rr, cc] > 0)
        # every single-point calcification is a small disk around its point
        for r in rois:
            if r.type == 19:
                row, col = np.rint(r.points[0]).astype(int)
                assert lab[row, col] > 0
    # paper mapping: the ellipse cluster of 26933801 is filled malignant; isolated
    # calcifications are benign (in this file they lie outside the cluster outline)
    rois = read_inbreast_xml(xml(shared_data, "26933801"))
    lab = inbreast_labels(rois, SHAPE)
    cluster = rois[0].points
    rr, cc = polygon(cluster[:, 0], cluster[:, 1], SHAPE)
    assert np.all(lab[rr, cc] == 2)
    assert set(np.unique(lab)) == {0, 1, 2}
    # the mass of 20587902 is not a calcification: only the calcification is drawn
    mass_file = read_inbreast_xml(xml(shared_data, "20587902"))
    lab = inbreast_labels(mass_file, SHAPE)
    mass = mass_file[0].points
    assert not lab[polygon(mass[:, 0], mass[:, 1], SHAPE)].any()
    assert (lab == 1).sum() > 0


def test_birads_mapping(shared_data):
    table = {
        r["file_name"]: r for r in read_inbreast_csv(shared_data / "inbreast" / "INbreast.csv")
    }
    rois = read_inbreast_xml(xml(shared_data, "26933801"))
    assert table["26933801"]["birads"] == "4b"
    lab = inbreast_labels(rois, SHAPE, mapping="birads", birads=table["26933801"]["birads"])
    assert set(np.unique(lab)) == {0, 2}
    lab3 = inbreast_labels(
        read_inbreast_xml(xml(shared_data, "20587784")),
        SHAPE,
        mapping="birads",
        birads=table["20587784"]["birads"],
    )
    assert set(np.unique(lab3)) == {0, 1}
    assert [birads_class(b) for b in ("1", "3", "4a", "4C", 5, "6")] == [1, 1, 2, 2, 2, 2]
    with pytest.raises(ValueError, match="birads"):
        inbreast_labels(rois, SHAPE, mapping="birads")
    with pytest.raises(ValueError, match="BI-RADS"):
        birads_class("n/a")


def test_point_radius_and_spacing():
    roi = InbreastROI("Calcification", 19, [[50.0, 60.0]])
    one = inbreast_labels([roi], (100, 100), point_radius_mm=0)
    assert one.sum() == 1 and one[50, 60] == 1
    small = inbreast_labels([roi], (100, 100), point_radius_mm=0.15, pixel_spacing=0.07)
    big = inbreast_labels([roi], (100, 100), point_radius_mm=0.15, pixel_spacing=0.035)
    assert 1 < small.sum() < big.sum()
    assert abs(int(big.sum()) - np.pi * (0.15 / 0.035) ** 2) < 12


def test_unknown_names_and_outside_points_warn():
    rois = [
        InbreastROI("Spiculated Region", 15, [[1, 1], [1, 5], [5, 5]]),
        InbreastROI("Mystery", 15, [[1, 1], [1, 5], [5, 5]]),
        InbreastROI("Calcification", 15, [[8, 8], [8, 30], [12, 30]]),
        InbreastROI("Calcification", 19, [[200, 5]]),
    ]
    with pytest.warns(UserWarning) as record:
        lab = inbreast_labels(rois, (20, 20))
    text = " ".join(str(w.message) for w in record)
    assert "Mystery" in text and "outside" in text and "Spiculated" not in text
    assert lab[:, :8].sum() == 0 and (lab == 1).sum() > 0


def test_fill_clusters_off_marks_calcifications_inside_clusters():
    cluster = InbreastROI("Cluster", 9, [[10, 10], [10, 40], [40, 40], [40, 10]])
    inside = InbreastROI("Calcification", 19, [[20.0, 20.0]])
    outside = InbreastROI("Calcification", 19, [[45.0, 45.0]])
    lab = inbreast_labels(
        [cluster, inside, outside], (50, 50), fill_clusters=False, point_radius_mm=0
    )
    assert lab[20, 20] == 2 and lab[45, 45] == 1 and lab.sum() == 3
    filled = inbreast_labels([cluster, inside, outside], (50, 50), point_radius_mm=0)
    assert (filled == 2).sum() > 800 and filled[45, 45] == 1


def test_bad_xml_files(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<html><body>no plist</body></html>")
    assert not is_inbreast_xml(bad)
    with pytest.raises(ValueError, match="property list"):
        read_inbreast_xml(bad)
    other = tmp_path / "other.xml"
    with open(other, "wb") as fh:
        plistlib.dump({"Something": 1}, fh)
    assert not is_inbreast_xml(other)
    with pytest.raises(ValueError, match="Images"):
        read_inbreast_xml(other)


def test_csv_and_xls(shared_data):
    csv_rows = read_inbreast_csv(shared_data / "inbreast" / "INbreast.csv")
    xls_rows = read_inbreast_xls(shared_data / "inbreast" / "INbreast.xls")
    assert len(csv_rows) == len(xls_rows) == 410
    assert csv_rows[0] == {
        "patient_id": "removed",
        "patient_age": "removed",
        "laterality": "R",
        "view": "CC",
        "acquisition_date": "201001",
        "file_name": "22678622",
        "acr": "4",
        "birads": "1",
    }
    for c, x in zip(csv_rows, xls_rows):
        for key in ("file_name", "laterality", "view", "birads", "acr"):
            assert c[key] == x[key], (key, c, x)
    assert xls_rows[1]["mass"] is True and xls_rows[1]["micros"] is False
    assert sum(r["micros"] for r in xls_rows) == 308  # the totals row of the sheet
    assert sum(r["mass"] for r in xls_rows) == 108
    assert {r["birads"] for r in csv_rows} == {"1", "2", "3", "4a", "4b", "4c", "5", "6"}


def test_index_pairs_files_by_number(shared_data, tmp_path):
    idx = index_inbreast(shared_data / "inbreast")
    assert len(idx) == 410
    e = idx["26933801"]
    assert e.xml.name == "26933801.xml" and e.dicom is None
    assert (e.laterality, e.view, e.birads) == ("L", "CC", "4b")
    # a folder laid out like the real database, with a DICOM named as INbreast names them
    root = tmp_path / "INbreast"
    (root / "AllXML").mkdir(parents=True)
    (root / "AllDICOMs").mkdir()
    shutil.copy(xml(shared_data, "22613624"), root / "AllXML")
    (root / "AllDICOMs" / "22613624_5530d5782fc89dd7_MG_R_CC_ANON.dcm").write_bytes(b"")
    (root / "AllDICOMs" / "readme.txt").write_text("x")
    idx = index_inbreast(root)
    assert list(idx) == ["22613624"]
    assert idx["22613624"].dicom.name.startswith("22613624_")


# --- writers -----------------------------------------------------------------------------------


def random_labels(rng: np.random.Generator, shape=(160, 200)) -> np.ndarray:
    lab = np.zeros(shape, dtype=np.uint8)
    for _ in range(40):
        center = rng.integers(4, np.array(shape) - 4)
        lab[disk(tuple(center), rng.uniform(0.4, 6), shape=shape)] = rng.integers(1, 3)
    lab[60:80, 60:90] = 2
    lab[65:70, 70:75] = 0  # a hole ...
    lab[67, 72] = 1  # ... with a benign calcification in it
    lab[10, 10] = lab[11, 11] = 1  # diagonal neighbours: one 8-connected component
    lab[rng.random(shape) < 0.003] = 1  # one-pixel marks
    lab[0, :5] = 2  # touching the border
    return lab


def test_labels_xml_round_trip_is_exact(tmp_path, rng):
    lab = random_labels(rng)
    path = write_inbreast_xml(tmp_path / "a.xml", lab, pixel_spacing=(0.07, 0.07))
    assert is_inbreast_xml(path)
    rois = read_inbreast_xml(path)
    assert {r.type for r in rois} == {15, 19}
    assert {r.name for r in rois} == {"Calcification", "Cluster"}
    back = inbreast_labels(rois, lab.shape)  # the file says its points are one pixel
    np.testing.assert_array_equal(back, lab)
    np.testing.assert_array_equal(inbreast_labels(rois, lab.shape, point_radius_mm=0), lab)
    assert (inbreast_labels(rois, lab.shape, point_radius_mm=0.3) > 0).sum() > (lab > 0).sum()
    assert os.listdir(tmp_path) == ["a.xml"]  # no temporary file left behind


def test_real_xml_labels_round_trip(shared_data, tmp_path):
    for n in ("20587902", "26933801"):  # a mass + calcification; a cluster + 26 calcifications
        lab = inbreast_labels(read_inbreast_xml(xml(shared_data, n)), SHAPE)
        path = write_inbreast_xml(tmp_path / f"{n}.xml", lab)
        back = inbreast_labels(read_inbreast_xml(path), SHAPE, point_radius_mm=0)
        np.testing.assert_array_equal(back, lab)


def test_labels_to_rois_points_and_names():
    lab = np.zeros((10, 10), dtype=np.uint8)
    lab[3, 4] = 2
    lab[6:8, 6:8] = 1
    rois = labels_to_rois(lab, names={1: "Calcification", 2: "Calcification"})
    assert [(r.name, r.type) for r in rois] == [("Calcification", 15), ("Calcification", 19)]
    np.testing.assert_array_equal(rois[1].points, [[3, 4]])
    assert labels_to_rois(np.zeros((5, 5), np.uint8)) == []
    with pytest.raises(ValueError, match="codes"):
        labels_to_rois(np.full((3, 3), 7))
    with pytest.raises(ValueError, match="2-D"):
        labels_to_rois(np.zeros((2, 3, 3), np.uint8))


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff"])
def test_mask_round_trip(tmp_path, rng, suffix):
    lab = random_labels(rng)
    path = write_mask(tmp_path / f"m{suffix}", lab)
    np.testing.assert_array_equal(read_mask(path), lab)
    assert os.listdir(tmp_path) == [f"m{suffix}"]


def test_masks_reject_bad_input(tmp_path):
    with pytest.raises(ValueError, match=".png"):
        write_mask(tmp_path / "m.jpg", np.zeros((4, 4), np.uint8))
    binary = tmp_path / "b.png"
    from skimage import io as skio

    skio.imsave(binary, np.full((4, 4), 255, np.uint8), check_contrast=False)
    with pytest.raises(ValueError, match="0 background"):
        read_mask(binary)


def test_failed_write_leaves_the_old_file_intact(tmp_path):
    path = tmp_path / "a.xml"
    lab = np.zeros((20, 20), np.uint8)
    lab[5:9, 5:9] = 1
    write_inbreast_xml(path, lab)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        write_inbreast_xml(path, [object()])  # fails before anything is written
    bad = np.zeros((20, 20), np.uint8)
    bad[0, 0] = 9
    with pytest.raises(ValueError):
        write_mask(tmp_path / "m.png", bad)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["a.xml"]


def test_atomic_write_cleans_up_on_error(tmp_path):
    from napari_mcdet.io.writers import atomic_write

    target = tmp_path / "x.xml"
    target.write_text("old")

    def boom(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["x.xml"]
