"""DICOM SEG and TID 1500 SR out and back in: real files (a synthetic full-field digital
mammogram with a PACS's identity, the real CBIS-DDSM images), dciodvfy on every object written,
highdicom (not our reader) reading them back, and the bad inputs."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from dicom_files import dciodvfy_errors, write_ffdm
from pydicom.sr.codedict import codes

from napari_mcdet.io.dicom_derived import Producer, source_header
from napari_mcdet.io.dicom_seg import (
    check_segmentation_grid,
    read_segmentation,
    write_segmentation,
)
from napari_mcdet.io.dicom_sr import Finding, read_report, write_report

MODEL = Producer("default", "1.0", sha256="ab" * 32,
                 parameters={"threshold_benign": "0.85", "threshold_malignant": "0.8"})


@pytest.fixture
def ffdm(tmp_path):
    return write_ffdm(tmp_path / "ffdm.dcm", pixel_spacing=0.2)


def _classes(shape):
    classes = np.zeros(shape, np.uint8)
    classes[10:15, 20:30] = 1
    classes[50:52, 60:61] = 2
    classes[100, 100] = 2
    return classes


FINDINGS = [
    Finding("calcification", (12.0, 25.0), 1, score=0.7, malignant_score=0.2, id=0),
    Finding("calcification", (100.0, 100.0), 2, score=0.9, malignant_score=0.9, id=1),
    Finding("cluster", (12.0, 24.5), 2, score=0.9, bbox=(10, 20, 15, 30), malignant_score=0.8,
            n_calcifications=3, id=0),
]


def test_binary_seg_round_trip_is_valid_and_read_by_highdicom(ffdm, tmp_path):
    source = source_header(ffdm)
    classes = _classes((source.Rows, source.Columns))
    path = write_segmentation(classes, tmp_path / "a_seg.dcm", source=source, producer=MODEL,
                              pixel_spacing=(0.2, 0.2))
    assert dciodvfy_errors(path) == []
    seg = hd.seg.segread(path)
    assert [str(uid) for uid in seg.get_source_image_uids()[0]] == [
        source.StudyInstanceUID, source.SeriesInstanceUID, source.SOPInstanceUID]
    assert seg.StudyInstanceUID == source.StudyInstanceUID
    assert seg.FrameOfReferenceUID == source.FrameOfReferenceUID
    assert seg.PatientID == source.PatientID and list(seg.PatientOrientation) == ["P", "R"]
    pixels = seg.get_pixels_by_source_instance([source.SOPInstanceUID], segment_numbers=[1, 2])
    assert np.array_equal(pixels[0, ..., 0], classes == 1)
    assert np.array_equal(pixels[0, ..., 1], classes == 2)
    types = [seg.get_segment_description(n).SegmentedPropertyTypeCodeSequence[0] for n in (1, 2)]
    modifiers = [t.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue for t in types]
    assert modifiers == [codes.SCT.Benign.value, codes.SCT.Malignant.value]
    assert "L CC" in seg.ContentDescription  # laterality and view carried over
    back = read_segmentation(path)
    assert back.known and np.array_equal(back.labels, classes)
    assert back.pixel_spacing == (0.2, 0.2) and back.algorithm == "default"


def test_fractional_seg_keeps_the_probabilities(ffdm, tmp_path):
    source = source_header(ffdm)
    shape = (source.Rows, source.Columns)
    probs = np.zeros((2, *shape), np.float32)
    probs[0, 10:15, 20:30] = 0.6
    probs[1, 50:60, 60:70] = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    path = write_segmentation(_classes(shape), tmp_path / "f_seg.dcm", source=source,
                              producer=MODEL, pixel_spacing=(0.2, 0.2), probabilities=probs)
    assert dciodvfy_errors(path) == []
    back = read_segmentation(path)
    assert back.fractional
    assert np.abs(back.probabilities - probs).max() <= 0.5 / 255 + 1e-6
    assert np.array_equal(back.labels[50:60, 60:70] == 2, probs[1, 50:60, 60:70] >= 0.5)


def test_sr_round_trip_is_valid_and_read_by_highdicom(ffdm, tmp_path):
    source = source_header(ffdm)
    path = write_report(FINDINGS, tmp_path / "a_sr.dcm", source=source, producer=MODEL)
    assert dciodvfy_errors(path) == []
    sr = hd.sr.srread(path)
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == 3
    point = groups[0].roi
    assert point.graphic_type == hd.sr.GraphicTypeValues.POINT
    # SCOORD: (column, row) with the top-left pixel's centre at (0.5, 0.5)
    assert np.allclose(point.value, [[25.5, 12.5]])
    box = groups[2].roi
    assert box.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
    assert np.allclose(box.value, [[20, 10], [30, 10], [30, 15], [20, 15], [20, 10]])
    assert groups[2].finding_type.value == codes.SCT.CalcificationCluster.value
    [ev] = groups[1].get_qualitative_evaluations(name=codes.DCM.Pathology)
    assert ev.value.value == codes.SCT.Malignant.value
    [score] = groups[1].get_measurements(name=codes.DCM.Probability)
    assert score.value == pytest.approx(0.9)
    back = read_report(path)
    assert back.findings == FINDINGS
    assert back.source_sop_instance_uid == source.SOPInstanceUID
    assert back.algorithm == "default" and back.parameters["sha256"] == "ab" * 32
    assert back.parameters["threshold_malignant"] == "0.8"


def test_a_report_of_no_findings_still_says_what_looked(ffdm, tmp_path):
    source = source_header(ffdm)
    path = write_report([], tmp_path / "none_sr.dcm", source=source, producer=MODEL)
    assert dciodvfy_errors(path) == []
    back = read_report(path)
    assert back.findings == [] and back.source_sop_instance_uid is None
    sr = hd.sr.srread(path)
    [group] = sr.content.get_image_measurement_groups()
    [count] = group.get_measurements(name=codes.DCM.NumberOfCalcifications)
    assert count.value == 0


def test_manual_annotation_names_a_person_and_no_algorithm(ffdm, tmp_path):
    source = source_header(ffdm)
    annotator = Producer("Doe^Jane", "1.0", manual=True)
    seg = write_segmentation(_classes((source.Rows, source.Columns)), tmp_path / "m_seg.dcm",
                             source=source, producer=annotator)
    sr = write_report(FINDINGS[:1], tmp_path / "m_sr.dcm", source=source, producer=annotator)
    assert dciodvfy_errors(seg) == [] and dciodvfy_errors(sr) == []
    assert hd.seg.segread(seg).get_segment_description(1).SegmentAlgorithmType == "MANUAL"
    assert read_report(sr).algorithm is None
    assert read_segmentation(seg).pixel_spacing == (0.2, 0.2)  # the source's own


def test_real_cbis_ddsm_source_without_spacing_or_frame_of_reference(shared_data, tmp_path):
    path = sorted((shared_data / "dicom-mg").glob("*.dcm"))[0]
    source = source_header(path)
    classes = _classes((source.Rows, source.Columns))
    seg = write_segmentation(classes, tmp_path / "c_seg.dcm", source=source, producer=MODEL,
                             pixel_spacing=(0.05, 0.05))
    sr = write_report(FINDINGS, tmp_path / "c_sr.dcm", source=source, producer=MODEL)
    assert dciodvfy_errors(seg) == [] and dciodvfy_errors(sr) == []
    assert "FrameOfReferenceUID" not in pydicom.dcmread(seg, stop_before_pixels=True)
    assert np.array_equal(read_segmentation(seg).labels, classes)
    assert read_report(sr).findings == FINDINGS


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"])
def test_a_source_without_its_identity_is_refused(tmp_path, missing):
    path = write_ffdm(tmp_path / "anon.dcm", drop=(missing,))
    with pytest.raises(ValueError) as err:
        source_header(path)
    text = str(err.value)
    assert str(path) in text and missing in text and "\n" not in text


def test_a_non_dicom_source_is_refused_with_why(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(ValueError, match="no study, series and instance identity"):
        source_header(png)


def test_classes_off_the_source_grid_are_refused_and_nothing_is_written(ffdm, tmp_path):
    source = source_header(ffdm)
    out = tmp_path / "bad_seg.dcm"
    with pytest.raises(ValueError, match="source image's grid"):
        write_segmentation(np.zeros((10, 10), np.uint8), out, source=source, producer=MODEL)
    assert not out.exists() and list(tmp_path.glob(".bad_seg*")) == []


def test_a_seg_on_another_image_is_refused(ffdm, tmp_path):
    source = source_header(ffdm)
    seg = read_segmentation(write_segmentation(
        _classes((source.Rows, source.Columns)), tmp_path / "s.dcm", source=source,
        producer=MODEL))
    check_segmentation_grid(seg, shape=seg.labels.shape, sop_instance_uid=source.SOPInstanceUID,
                            path="s.dcm")
    with pytest.raises(ValueError, match="made on another image"):
        check_segmentation_grid(seg, shape=(10, 10), sop_instance_uid=None, path="s.dcm")
    with pytest.raises(ValueError, match="not on this image"):
        check_segmentation_grid(seg, shape=seg.labels.shape, sop_instance_uid="1.2.3",
                                path="s.dcm")


def test_a_report_from_another_tool_with_unknown_codes_reads_correctly(ffdm, tmp_path):
    """Another tool's TID 1500 report: a mass (not a calcification) with a circle region and a
    qualitative evaluation we do not know - kept as an 'other' finding of unknown class."""
    source = source_header(ffdm)
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.CIRCLE,
        graphic_data=np.array([[50.5, 40.5], [55.5, 40.5]], np.float32),
        source_image=hd.sr.SourceImageForRegion(source.SOPClassUID, source.SOPInstanceUID))
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="lesion A"),
        referenced_region=region, finding_type=codes.SCT.Mass,
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(
            name=codes.DCM.Pathology, value=hd.sr.CodedConcept("X1", "99OTHER", "Odd"))])
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(),
        procedure_reported=codes.SCT.Mammography, imaging_measurements=[group])
    sr = hd.sr.Comprehensive3DSR(evidence=[source], content=report,
                                 series_instance_uid=hd.UID(), series_number=5,
                                 sop_instance_uid=hd.UID(), instance_number=1,
                                 manufacturer="another tool")
    path = tmp_path / "other_sr.dcm"
    sr.save_as(path, enforce_file_format=True)
    back = read_report(path)
    assert back.unknown == 1
    [finding] = back.findings
    assert finding.kind == "other" and finding.class_id == 0 and finding.score is None
    # a circle's first point is its centre
    assert finding.center[0] == pytest.approx(40.0) and finding.id is None


def test_a_report_that_is_not_tid_1500_is_refused(ffdm, tmp_path):
    source = source_header(ffdm)
    content = hd.sr.ContainerContentItem(
        name=hd.sr.CodedConcept("18748-4", "LN", "Diagnostic imaging report"))
    content.ContentSequence = [hd.sr.TextContentItem(
        name=codes.DCM.Finding, value="no calcifications", relationship_type="CONTAINS")]
    sr = hd.sr.ComprehensiveSR(evidence=[source], content=content, series_instance_uid=hd.UID(),
                               series_number=5, sop_instance_uid=hd.UID(), instance_number=1,
                               manufacturer="another tool")
    path = tmp_path / "free_sr.dcm"
    sr.save_as(path, enforce_file_format=True)
    with pytest.raises(ValueError, match="not a TID 1500 measurement report") as err:
        read_report(path)
    assert str(path) in str(err.value)


def test_an_image_is_not_a_seg_nor_a_report(ffdm):
    with pytest.raises(ValueError, match=str(ffdm)):
        read_segmentation(ffdm)
    with pytest.raises(ValueError, match=str(ffdm)):
        read_report(ffdm)


def test_report_labels_draw_disks_and_filled_boxes():
    from napari_mcdet.io.dicom_sr import Finding, report_labels

    findings = [
        Finding(kind="calcification", center=(50.0, 60.0), class_id=1),
        Finding(kind="calcification", center=(80.0, 20.0), class_id=0),  # no class: benign
        Finding(kind="calcification", center=(12.0, 22.0), class_id=1),  # inside the box
        Finding(kind="cluster", center=(12.0, 22.0), bbox=(10.0, 20.0, 14.0, 25.0)),
        Finding(kind="other", center=(5.0, 5.0), class_id=2),
    ]
    # 0.06 mm pixels: a 0.15 mm radius is 2.5 pixels
    labels = report_labels(findings, (100, 90), pixel_spacing=0.06)
    assert labels.shape == (100, 90) and labels.dtype == np.uint8
    assert labels[50, 62] == labels[48, 60] == labels[52, 61] == 1
    assert labels[50, 63] == labels[52, 62] == 0
    assert labels[80, 20] == 1
    box = labels[10:14, 20:25]
    assert (box == 2).all(), "a cluster of no class is malignant and fills its box"
    assert labels[9, 20] == labels[14, 20] == labels[10, 19] == labels[10, 25] == 0
    assert labels[5, 5] == 0, "a finding of a kind we do not know is not drawn"
    n_disk = int((labels[44:57, 54:67] == 1).sum())
    assert n_disk == sum(r * r + c * c <= 6.25 for r in range(-3, 4) for c in range(-3, 4))
