"""``mcdet detect --dicom`` and ``mcdet convert``: SEG + SR files on real DICOM sources, checked
against the command's own tables and maps, by dciodvfy and by highdicom; and their bad inputs."""

from __future__ import annotations

import csv
import json

import highdicom as hd
import numpy as np
import pytest
import tifffile
from dicom_files import dciodvfy_errors, write_ffdm
from skimage import io as skio

from napari_mcdet.cli import main
from napari_mcdet.io import inbreast_labels, read_inbreast_xml
from napari_mcdet.io.dicom_seg import read_segmentation
from napari_mcdet.io.dicom_sr import read_report


@pytest.fixture(scope="module")
def ffdm(tmp_path_factory):
    return write_ffdm(tmp_path_factory.mktemp("src") / "ffdm.dcm", pixel_spacing=0.2)


@pytest.fixture(scope="module")
def detected(ffdm, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    assert main(["detect", str(ffdm), "--out", str(out), "--dicom"]) == 0
    return out


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_detect_dicom_writes_a_valid_seg_of_the_labels(detected):
    seg_path = detected / "ffdm_seg.dcm"
    assert dciodvfy_errors(seg_path) == []
    seg = read_segmentation(seg_path)
    labels = skio.imread(detected / "ffdm_labels.png")
    assert (labels > 0).any(), "the phantom's calcifications should be found"
    assert np.array_equal(seg.labels, labels)
    assert seg.pixel_spacing == (0.2, 0.2) and not seg.fractional


def test_detect_dicom_writes_a_valid_report_of_the_tables(detected):
    sr_path = detected / "ffdm_sr.dcm"
    assert dciodvfy_errors(sr_path) == []
    report = read_report(sr_path)
    calcs = _rows(detected / "ffdm_calcifications.csv")
    clusters = _rows(detected / "ffdm_clusters.csv")
    got_calcs = [f for f in report.findings if f.kind == "calcification"]
    got_clusters = [f for f in report.findings if f.kind == "cluster"]
    assert len(got_calcs) == len(calcs) > 0 and len(got_clusters) == len(clusters)
    for f, row in zip(got_calcs, calcs):
        assert f.center == pytest.approx((float(row["row"]), float(row["col"])), abs=1e-3)
        assert f.class_id == int(row["class"])
        assert f.score == pytest.approx(float(row["score"]), rel=1e-6)
    for f, row in zip(got_clusters, clusters):
        assert f.bbox == pytest.approx(tuple(float(row[k]) for k in ("r0", "c0", "r1", "c1")))
        assert f.n_calcifications == int(row["n_calcifications"])
    doc = json.loads((detected / "ffdm_detection.json").read_text())
    assert report.algorithm == doc["model"]
    assert float(report.parameters["threshold_benign"]) == pytest.approx(
        doc["thresholds"]["benign"], rel=1e-5)
    assert len(report.parameters["sha256"]) == 64


def test_seg_fractional_holds_the_probability_maps(ffdm, tmp_path):
    assert main(["detect", str(ffdm), "--out", str(tmp_path), "--dicom", "--seg-fractional"]) == 0
    seg = read_segmentation(tmp_path / "ffdm_seg.dcm")
    probs = tifffile.imread(tmp_path / "ffdm_probabilities.tif")
    assert seg.fractional and np.abs(seg.probabilities - probs).max() <= 0.5 / 255 + 1e-6
    assert dciodvfy_errors(tmp_path / "ffdm_seg.dcm") == []
    assert hd.seg.segread(tmp_path / "ffdm_seg.dcm").SegmentationType == "FRACTIONAL"


def test_dicom_on_a_png_says_why_before_any_work(ffdm, tmp_path, capsys):
    png = tmp_path / "phantom.png"
    skio.imsave(png, np.full((64, 64), 1000, np.uint16), check_contrast=False)
    out = tmp_path / "out"
    rc = main(["detect", str(ffdm), str(png), "--out", str(out), "--dicom", "--spacing", "0.2"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert str(png) in err and "not DICOM" in err and "study, series and instance" in err
    assert not out.exists() or list(out.iterdir()) == []  # not even the DICOM's outputs


def test_dicom_on_a_source_without_identity_names_the_attribute(tmp_path, capsys):
    path = write_ffdm(tmp_path / "anon.dcm", drop=("StudyInstanceUID",))
    rc = main(["detect", str(path), "--out", str(tmp_path / "out"), "--dicom"])
    err = capsys.readouterr().err
    assert rc == 2 and "StudyInstanceUID" in err and str(path) in err


def test_seg_fractional_without_dicom_is_refused(ffdm, tmp_path, capsys):
    rc = main(["detect", str(ffdm), "--out", str(tmp_path), "--seg-fractional"])
    assert rc == 2 and "add --dicom" in capsys.readouterr().err


def test_a_batch_with_dicom_writes_seg_and_sr_and_fails_only_the_png(ffdm, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ffdm.dcm").write_bytes(ffdm.read_bytes())
    skio.imsave(folder / "plain.png", np.full((64, 64), 1000, np.uint16), check_contrast=False)
    out = tmp_path / "out"
    args = ["detect", str(folder), "--out", str(out), "--dicom", "--spacing", "0.2"]
    assert main(args) == 1  # one failed row
    rows = {r["id"]: r for r in _rows(out / "summary.csv")}
    assert rows["ffdm"]["status"] == "ok" and rows["plain"]["status"] == "failed"
    assert "not a DICOM file" in rows["plain"]["error"]
    seg = read_segmentation(out / "ffdm_seg.dcm")
    assert np.array_equal(seg.labels, skio.imread(out / "ffdm_labels.png"))
    assert dciodvfy_errors(out / "ffdm_sr.dcm") == []
    capsys.readouterr()
    main(args)  # a rerun resumes: the DICOM image is done, with the same settings
    rows = {r["id"]: r for r in _rows(out / "summary.csv")}
    assert rows["ffdm"]["status"] == "skipped"


# --- mcdet convert --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inbreast_size_dicom(tmp_path_factory):
    return write_ffdm(tmp_path_factory.mktemp("inb") / "case.dcm", pixel_spacing=0.07,
                      shape=(4084, 3328))


def test_convert_an_inbreast_annotation(shared_data, inbreast_size_dicom, tmp_path):
    xml = shared_data / "inbreast" / "AllXML" / "26933801.xml"
    rc = main(["convert", str(xml), "--image", str(inbreast_size_dicom), "--out",
               str(tmp_path), "--annotator", "Doe^Jane"])
    assert rc == 0
    seg_path, sr_path = tmp_path / "26933801_seg.dcm", tmp_path / "26933801_sr.dcm"
    assert dciodvfy_errors(seg_path) == [] and dciodvfy_errors(sr_path) == []
    rois = read_inbreast_xml(xml)
    expected = inbreast_labels(rois, (4084, 3328), pixel_spacing=0.07)
    seg = read_segmentation(seg_path)
    assert np.array_equal(seg.labels, expected) and seg.pixel_spacing == (0.07, 0.07)
    assert hd.seg.segread(seg_path).get_segment_description(1).SegmentAlgorithmType == "MANUAL"
    report = read_report(sr_path)
    kinds = [f.kind for f in report.findings]
    assert kinds.count("calcification") == sum(r.kind == "calcification" for r in rois) == 26
    assert kinds.count("cluster") == 1 and report.algorithm is None
    [cluster] = [f for f in report.findings if f.kind == "cluster"]
    outline = next(r for r in rois if r.kind == "cluster").points
    assert cluster.bbox[0] == pytest.approx(outline[:, 0].min() + 0.5, abs=1e-3)
    assert cluster.class_id == 2
    # a calcification inside the cluster outline is malignant under the paper's mapping
    for f in report.findings:
        if f.kind == "calcification":
            assert f.class_id == expected[round(f.center[0]), round(f.center[1])]


def test_convert_refuses_a_png_image_and_a_foreign_xml(shared_data, tmp_path, capsys):
    xml = shared_data / "inbreast" / "AllXML" / "26933801.xml"
    png = tmp_path / "a.png"
    skio.imsave(png, np.zeros((8, 8), np.uint8), check_contrast=False)
    assert main(["convert", str(xml), "--image", str(png), "--out", str(tmp_path)]) == 2
    assert "not a DICOM file" in capsys.readouterr().err
    other = tmp_path / "other.xml"
    other.write_text("<root><a>1</a></root>")
    assert main(["convert", str(other), "--image", str(png), "--out", str(tmp_path)]) == 2
    assert "not an INbreast annotation" in capsys.readouterr().err
