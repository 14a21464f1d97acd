"""Calcification findings as a DICOM structured report (TID 1500 measurement report), out and in.

One report per image. Each calcification is a planar ROI group (TID 1410) whose region is an
image SCOORD POINT at its centre; each cluster one whose region is the closed POLYLINE of its
box. A group carries the finding type (*Radiographic individual calcification* or *Calcification
cluster*, SNOMED CT), the class as a qualitative evaluation (*Pathology*: *Benign* /
*Malignant*), and for a detection its score (*Probability*) and malignant probability
(*Probability of cancer*), plus the member count of a cluster. The algorithm (model name,
version, SHA-256, operating point) is identified on every group. Why TID 1500 rather than
Mammography CAD SR (TID 4000): docs/design.md.

Coordinates: SCOORD columns / rows with the top-left corner of the top-left pixel at (0, 0)
(DICOM PS3.3 C.18.6.1.1), so the centre of pixel (row r, column c) is (c + 0.5, r + 0.5); boxes
(r0, c0, r1, c1), end exclusive, are their pixel edges.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import BENIGN, MALIGNANT
from .dicom import laterality_of
from .dicom_derived import (
    SR_SOP_CLASSES,
    Producer,
    quiet_person_names,
    read_derived,
    write_dicom,
)

__all__ = ["Finding", "ReportRead", "report_dataset", "write_report", "read_report",
           "report_labels"]

SR_SERIES_NUMBER = 991
KINDS = ("calcification", "cluster")


@dataclass(frozen=True)
class Finding:
    """One finding of a report, in the source image's pixels.

    Attributes
    ----------
    kind : {'calcification', 'cluster', 'other'}
        'other' only when read from a report whose finding type we do not know.
    center : (float, float)
        (row, col) pixel coordinates (pixel centres at integers).
    class_id : int
        1 benign, 2 malignant, 0 not stated (or a code we do not know).
    score : float or None
        The detection score (None for an annotation).
    bbox : (float, float, float, float) or None
        (r0, c0, r1, c1) pixel edges of a cluster's box (None for a point).
    malignant_score : float or None
    n_calcifications : int or None
        A cluster's members.
    id : int or None
        The finding's number in its table (written as its tracking identifier).
    """

    kind: str
    center: tuple[float, float]
    class_id: int = 0
    score: float | None = None
    bbox: tuple[float, float, float, float] | None = None
    malignant_score: float | None = None
    n_calcifications: int | None = None
    id: int | None = None


@dataclass
class ReportRead:
    """A report read back (:func:`read_report`).

    Attributes
    ----------
    findings : list of Finding
    source_sop_instance_uid : str or None
        The image the regions are on (the first group's).
    study_instance_uid : str
    algorithm : str or None
        The first group's algorithm name (None: a person's annotation).
    parameters : dict
        That algorithm's parameters (``sha256``, thresholds...).
    unknown : int
        Groups whose finding type we do not know (read as kind 'other').
    """

    findings: list[Finding]
    source_sop_instance_uid: str | None
    study_instance_uid: str
    algorithm: str | None
    parameters: dict[str, str] = field(default_factory=dict)
    unknown: int = 0


def _codes() -> dict[str, Any]:
    from pydicom.sr.codedict import codes

    return {"calcification": codes.SCT.RadiographicIndividualCalcification,
            "cluster": codes.SCT.CalcificationCluster,
            "category": codes.SCT.MorphologicallyAbnormalStructure,
            "pathology": codes.DCM.Pathology, BENIGN: codes.SCT.Benign,
            MALIGNANT: codes.SCT.Malignant, "score": codes.DCM.Probability,
            "malignant": codes.DCM.ProbabilityOfCancer,
            "count": codes.DCM.NumberOfCalcifications, "procedure": codes.SCT.Mammography,
            "type": codes.SCT.RadiographicCalcificationFinding}


def _unit(name: str) -> Any:
    import highdicom as hd

    return hd.sr.CodedConcept(value="1", scheme_designator="UCUM", meaning=name)


def _region(finding: Finding, source: Any) -> Any:
    import highdicom as hd

    ref = hd.sr.SourceImageForRegion(referenced_sop_class_uid=source.SOPClassUID,
                                     referenced_sop_instance_uid=source.SOPInstanceUID)
    if finding.bbox is None:
        row, col = finding.center
        data = np.array([[col + 0.5, row + 0.5]], dtype=np.float32)
        kind = hd.sr.GraphicTypeValues.POINT
    else:
        r0, c0, r1, c1 = finding.bbox
        data = np.array([[c0, r0], [c1, r0], [c1, r1], [c0, r1], [c0, r0]], dtype=np.float32)
        kind = hd.sr.GraphicTypeValues.POLYLINE
    return hd.sr.ImageRegion(graphic_type=kind, graphic_data=data, source_image=ref)


def _sites(source: Any) -> list[Any] | None:
    """The breast and its side (a finding site), when the source states the side."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    side = laterality_of(source)
    if side is None:
        return None
    return [hd.sr.FindingSite(anatomic_location=codes.SCT.Breast,
                              laterality=codes.SCT.Left if side == "L" else codes.SCT.Right)]


def _group(finding: Finding, number: int, source: Any, algorithm: Any) -> Any:
    import highdicom as hd

    code = _codes()
    if finding.kind not in KINDS:
        raise ValueError(f"finding kind must be one of {KINDS}, got {finding.kind!r}")
    measurements = []
    if finding.score is not None:
        measurements.append(hd.sr.Measurement(name=code["score"], value=float(finding.score),
                                              unit=_unit("probability")))
    if finding.malignant_score is not None:
        measurements.append(hd.sr.Measurement(name=code["malignant"],
                                              value=float(finding.malignant_score),
                                              unit=_unit("probability")))
    if finding.n_calcifications is not None:
        measurements.append(hd.sr.Measurement(name=code["count"],
                                              value=float(finding.n_calcifications),
                                              unit=_unit("calcifications")))
    evaluations = []
    if finding.class_id in (BENIGN, MALIGNANT):
        evaluations.append(hd.sr.QualitativeEvaluation(name=code["pathology"],
                                                       value=code[finding.class_id]))
    ident = finding.id if finding.id is not None else number
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(),
                                                     identifier=f"{finding.kind} {ident}"),
        referenced_region=_region(finding, source), finding_type=code[finding.kind],
        finding_category=code["category"], algorithm_id=algorithm, finding_sites=_sites(source),
        measurements=measurements or None, qualitative_evaluations=evaluations or None)


def _image_group(findings: list[Finding], source: Any, algorithm: Any) -> Any:
    """The image-level group (TID 1501): how many calcifications were found on the image, so
    that an image with none still says so (and what looked)."""
    import highdicom as hd

    code = _codes()
    n = sum(f.kind == "calcification" for f in findings)
    ref = hd.sr.SourceImageForMeasurementGroup(
        referenced_sop_class_uid=source.SOPClassUID,
        referenced_sop_instance_uid=source.SOPInstanceUID)
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="image"),
        finding_type=code["type"], algorithm_id=algorithm, source_images=[ref],
        measurements=[hd.sr.Measurement(name=code["count"], value=float(n),
                                        unit=_unit("calcifications"))])


def _observer(producer: Producer) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    if producer.manual:
        person = hd.sr.PersonObserverIdentifyingAttributes(name=producer.name or "Annotator^")
        return hd.sr.ObservationContext(observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person, observer_identifying_attributes=person))
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=hd.UID(), name=producer.name[:64], manufacturer_name="napari-mcdet",
        model_name=producer.name[:64], serial_number=(producer.sha256 or "")[:64] or None)
    return hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device, observer_identifying_attributes=device))


def report_dataset(findings: list[Finding], *, source: Any, producer: Producer) -> Any:
    """Build the TID 1500 report of ``findings`` on ``source``.

    Parameters
    ----------
    findings : list of Finding
        In the source image's pixels; clusters need a ``bbox``.
    source : pydicom.Dataset
        The source image's header (:func:`napari_mcdet.io.dicom_derived.source_header`).
    producer : Producer
        The model (algorithm identification, device observer) or, ``manual``, the annotator.

    Returns
    -------
    highdicom.sr.Comprehensive3DSR
    """
    import highdicom as hd

    code = _codes()
    algorithm = None
    if not producer.manual:
        params = [f"{k}={v}" for k, v in producer.parameter_text().items()]
        algorithm = hd.sr.AlgorithmIdentification(name=producer.name[:64],
                                                  version=producer.version,
                                                  parameters=params or None)
    groups = [_image_group(findings, source, algorithm)]
    groups += [_group(f, i, source, algorithm) for i, f in enumerate(findings, start=1)]
    report = hd.sr.MeasurementReport(
        observation_context=_observer(producer), procedure_reported=code["procedure"],
        imaging_measurements=groups)
    with quiet_person_names():
        sr = hd.sr.Comprehensive3DSR(
            evidence=[source], content=report, series_instance_uid=hd.UID(),
            series_number=SR_SERIES_NUMBER, sop_instance_uid=hd.UID(), instance_number=1,
            manufacturer="napari-mcdet", is_complete=True,
            series_description=f"{producer.name} calcification findings"[:64])
    return sr


def write_report(findings: list[Finding], path: str | os.PathLike, *, source: Any,
                 producer: Producer) -> Path:
    """Write :func:`report_dataset` to ``path`` atomically; returns the path."""
    return write_dicom(report_dataset(findings, source=source, producer=producer), path)


def _kind(group: Any, code: dict[str, Any]) -> str:
    found = getattr(group, "finding_type", None)
    for kind in KINDS:
        if found is not None and found.value == code[kind].value:
            return kind
    return "other"


def _finding(group: Any, code: dict[str, Any]) -> Finding:
    import highdicom as hd

    roi = group.roi
    data = np.asarray(roi.value, dtype=np.float64)
    kind = _kind(group, code)
    bbox = None
    if roi.graphic_type == hd.sr.GraphicTypeValues.POINT or len(data) == 1:
        center = (float(data[0, 1] - 0.5), float(data[0, 0] - 0.5))
    else:
        c0, r0 = data.min(axis=0)
        c1, r1 = data.max(axis=0)
        bbox = (float(r0), float(c0), float(r1), float(c1))
        center = ((r0 + r1) / 2 - 0.5, (c0 + c1) / 2 - 0.5)
    class_id = 0
    for ev in group.get_qualitative_evaluations(name=code["pathology"]):
        value = ev.value
        class_id = next((c for c in (BENIGN, MALIGNANT) if value.value == code[c].value), 0)
    values = {key: _measured(group, code[key]) for key in ("score", "malignant", "count")}
    ident = str(group.tracking_identifier or "").rsplit(" ", 1)[-1]
    return Finding(kind=kind, center=(float(center[0]), float(center[1])), class_id=class_id,
                   score=values["score"], bbox=bbox, malignant_score=values["malignant"],
                   n_calcifications=None if values["count"] is None else int(values["count"]),
                   id=int(ident) if ident.isdigit() else None)


def _measured(group: Any, name: Any) -> float | None:
    found = group.get_measurements(name=name)
    return float(found[0].value) if found else None


def read_report(path: str | os.PathLike) -> ReportRead:
    """Read the findings of a TID 1500 report with image (2-D) regions.

    Groups of a finding type we do not know are kept as kind ``'other'`` (counted in
    ``unknown``); groups without an image region (volumetric, segmentation-referenced) are
    skipped, since they have no place on the image.

    Raises
    ------
    ValueError
        Not a structured report, or a report that is not a TID 1500 measurement report (the
        message names the file and the template it found).
    """
    import highdicom as hd

    path = Path(path)
    sr = read_derived(path, hd.sr.srread, sop_classes=SR_SOP_CLASSES,
                      what="DICOM structured report (Enhanced, Comprehensive or Comprehensive 3D "
                           "SR)")
    try:
        report = sr.content
        groups = report.get_planar_roi_measurement_groups()
    except (AttributeError, ValueError, KeyError, TypeError) as exc:
        title = sr.ConceptNameCodeSequence[0].CodeMeaning if "ConceptNameCodeSequence" in sr \
            else "untitled"
        raise ValueError(f"{path} is a '{title}' report, not a TID 1500 measurement report "
                         "(imaging measurements with planar regions); napari-mcdet reads "
                         "those") from exc
    code = _codes()
    findings, uid, algorithm, params = [], None, None, {}
    for group in groups:
        roi = group.roi
        if not isinstance(roi, hd.sr.ImageRegion):
            continue
        findings.append(_finding(group, code))
        uid = uid or _referenced_instance(roi)
        if algorithm is None:
            algorithm, params = _algorithm(group)
    return ReportRead(findings=findings, source_sop_instance_uid=uid,
                      study_instance_uid=str(sr.StudyInstanceUID), algorithm=algorithm,
                      parameters=params, unknown=sum(f.kind == "other" for f in findings))


def _referenced_instance(roi: Any) -> str | None:
    for item in roi.get("ContentSequence", []):
        for ref in item.get("ReferencedSOPSequence", []):
            return str(ref.ReferencedSOPInstanceUID)
    return None


def _algorithm(group: Any) -> tuple[str | None, dict[str, str]]:
    """The group's algorithm identification (TID 4019): name and ``key=value`` parameters."""
    name, params = None, {}
    for item in group[0].get("ContentSequence", []):
        concept = item.ConceptNameCodeSequence[0]
        if (concept.CodingSchemeDesignator, concept.CodeValue) == ("DCM", "111001"):
            name = str(item.TextValue)
        elif (concept.CodingSchemeDesignator, concept.CodeValue) == ("DCM", "111002"):
            key, _, value = str(item.TextValue).partition("=")
            params[key] = value
    return name, params


def report_labels(findings: list[Finding], shape: tuple[int, int], *,
                  pixel_spacing: float | tuple[float, float],
                  point_radius_mm: float | None = None) -> np.ndarray:
    """Ground-truth labels of a report's findings on its image's grid, for scoring.

    A report holds points and boxes, not regions: each calcification becomes a disk around its
    centre (the disk INbreast point annotations get), each cluster its box, filled with its
    class over the calcifications inside it (as INbreast cluster outlines are). A SEG of the
    same annotation holds the exact regions: prefer it for pixel metrics.

    Parameters
    ----------
    findings : list of Finding
        From :func:`read_report`; kind ``'other'`` is left out.
    shape : (int, int)
        The source image's (Rows, Columns).
    pixel_spacing : float or (float, float)
        mm per pixel (row, col): sizes the disks.
    point_radius_mm : float, optional
        The disks' radius in mm; None: :data:`napari_mcdet.io.inbreast.POINT_RADIUS_MM`.

    Returns
    -------
    ndarray of shape ``shape``, uint8
        0 background, 1 benign, 2 malignant; a calcification of no stated class counts as
        benign, a cluster of none as malignant (INbreast's paper mapping).
    """
    from .inbreast import POINT_RADIUS_MM, ROI_POINT, InbreastROI, draw_roi

    radius = POINT_RADIUS_MM if point_radius_mm is None else float(point_radius_mm)
    rows, cols = (int(v) for v in shape)
    out = np.zeros((rows, cols), dtype=np.uint8)
    for f in findings:
        if f.kind == "calcification":
            roi = InbreastROI("Calcification", ROI_POINT, [f.center])
            out[draw_roi(roi, (rows, cols), pixel_spacing=pixel_spacing,
                         point_radius_mm=radius)] = f.class_id or BENIGN
    for f in findings:
        if f.kind == "cluster" and f.bbox is not None:
            # pixel k lies in the box when its centre, k + 0.5 in edge coordinates, does
            r0, c0, r1, c1 = f.bbox
            rs = slice(max(int(np.ceil(r0 - 0.5)), 0), max(int(np.floor(r1 - 0.5)) + 1, 0))
            cs = slice(max(int(np.ceil(c0 - 0.5)), 0), max(int(np.floor(c1 - 0.5)) + 1, 0))
            out[rs, cs] = f.class_id or MALIGNANT
    return out
