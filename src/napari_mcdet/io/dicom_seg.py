"""Calcification segmentations as DICOM Segmentation objects (highdicom), out and back in.

One SEG holds two segments on the source image's pixel grid: benign and malignant
calcifications (property category *Morphologically abnormal structure*, type *Radiographic
calcification finding*, modified *Benign* / *Malignant*, SNOMED CT). Binary segments come from
the thresholded class codes; fractional (probability) segments from the probability maps.

The SEG references the source image's SOP instance, series and study, and its frame of reference
when it has one; it carries the pixel spacing the result was made at (Pixel Measures), the
source's Patient Orientation and laterality. A projection image has no slice: the Pixel Measures
must still give a Slice Thickness when a frame of reference is present (and highdicom's reader
always wants one), so the compressed breast thickness is written when the source states it, else
1 mm (docs/design.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import BENIGN, MALIGNANT
from .dicom import dataset_spacing, laterality_of, view_of
from .dicom_derived import (
    SEG_SOP_CLASS,
    Producer,
    quiet_person_names,
    read_derived,
    write_dicom,
)

__all__ = ["segmentation_dataset", "write_segmentation", "read_segmentation", "SegmentationRead",
           "check_segmentation_grid"]

_SEGMENTS = ((BENIGN, "Benign calcifications", "Benign"),
             (MALIGNANT, "Malignant calcifications", "Malignant"))
#: SEG series numbers: high, so that they sort after the source series in a viewer.
SEG_SERIES_NUMBER = 990
_DEFAULT_THICKNESS_MM = 1.0


def _codes() -> dict[str, Any]:
    from pydicom.sr.codedict import codes

    return {"category": codes.SCT.MorphologicallyAbnormalStructure,
            "type": codes.SCT.RadiographicCalcificationFinding,
            "Benign": codes.SCT.Benign, "Malignant": codes.SCT.Malignant}


def _segment_descriptions(producer: Producer) -> list[Any]:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    code = _codes()
    algorithm = None
    if not producer.manual:
        algorithm = hd.AlgorithmIdentificationSequence(
            name=producer.name, family=codes.DCM.ArtificialIntelligence,
            version=producer.version, parameters=producer.parameter_text() or None)
    out = []
    for number, (_, label, modifier) in enumerate(_SEGMENTS, start=1):
        desc = hd.seg.SegmentDescription(
            segment_number=number, segment_label=label,
            segmented_property_category=code["category"],
            segmented_property_type=code["type"],
            algorithm_type="MANUAL" if producer.manual else "AUTOMATIC",
            algorithm_identification=algorithm)
        item = desc.SegmentedPropertyTypeCodeSequence[0]
        item.SegmentedPropertyTypeModifierCodeSequence = [hd.sr.CodedConcept.from_code(
            code[modifier])]
        out.append(desc)
    return out


def _pixel_measures(source: Any, pixel_spacing: tuple[float, float] | None) -> Any:
    import highdicom as hd

    if pixel_spacing is None:
        pixel_spacing = dataset_spacing(source)
    if pixel_spacing is None:
        return None
    thickness = source.get("BodyPartThickness")
    thickness = float(thickness) if thickness and float(thickness) > 0 else _DEFAULT_THICKNESS_MM
    return hd.PixelMeasuresSequence(pixel_spacing=[float(v) for v in pixel_spacing],
                                    slice_thickness=thickness)


def segmentation_dataset(
    classes: np.ndarray,
    *,
    source: Any,
    producer: Producer,
    pixel_spacing: tuple[float, float] | None = None,
    probabilities: np.ndarray | None = None,
) -> Any:
    """Build the SEG of a class-code image on its source image.

    Parameters
    ----------
    classes : ndarray of shape (M, N), integer
        0 background, 1 benign, 2 malignant, on the source image's grid.
    source : pydicom.Dataset
        The source image's header (:func:`napari_mcdet.io.dicom_derived.source_header`).
    producer : Producer
        Who made it: written as the segments' algorithm and the equipment.
    pixel_spacing : (float, float), optional
        (row_mm, col_mm) the result was made at; by default the spacing the source states (a
        SEG of a source that states none, without this, states none either).
    probabilities : ndarray of shape (2, M, N), optional
        Benign and malignant probabilities in [0, 1]: a FRACTIONAL (probability) SEG is
        written from them instead of the binary one.

    Returns
    -------
    highdicom.seg.Segmentation

    Raises
    ------
    ValueError
        The arrays are not on the source image's grid.
    """
    import highdicom as hd

    shape = (int(source.Rows), int(source.Columns))
    classes = np.asarray(classes)
    _check_shape(classes.shape, shape, "the class image")
    if probabilities is not None:
        probabilities = np.asarray(probabilities, dtype=np.float32)
        _check_shape(probabilities.shape[1:], shape, "the probability maps")
        if probabilities.shape[0] != 2:
            raise ValueError(f"probabilities must be (2, M, N), got {probabilities.shape}")
        pixels = np.clip(np.moveaxis(probabilities, 0, -1), 0.0, 1.0)[None]
        kind = "FRACTIONAL"
    else:
        pixels = np.stack([classes == code for code, _, _ in _SEGMENTS], axis=-1)[None]
        kind = "BINARY"
    with quiet_person_names():
        seg = hd.seg.Segmentation(
            source_images=[source], pixel_array=pixels, segmentation_type=kind,
            segment_descriptions=_segment_descriptions(producer),
            series_instance_uid=hd.UID(), series_number=SEG_SERIES_NUMBER,
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="napari-mcdet",
            manufacturer_model_name=producer.name[:64], software_versions=producer.version,
            device_serial_number=(producer.sha256 or "manual")[:64],
            pixel_measures=_pixel_measures(source, pixel_spacing), omit_empty_frames=False,
            content_label="CALCIFICATIONS", content_description=_description(source, producer),
            series_description=_description(source, producer))
    _carry_orientation(seg, source)
    return seg


def _check_shape(got: tuple[int, ...], want: tuple[int, int], what: str) -> None:
    if tuple(got) != want:
        raise ValueError(
            f"{what} is {got[0]}x{got[1]} pixels but the source image is {want[0]}x{want[1]}: a "
            "DICOM SEG lies on its source image's grid; detect on (or resample to) the source's "
            "grid first")


def _description(source: Any, producer: Producer) -> str:
    side = laterality_of(source) or ""
    view = view_of(source) or ""
    who = "manual annotation" if producer.manual else f"model {producer.name}"
    return " ".join(part for part in ("Calcifications", side, view, f"({who})") if part)[:64]


def _carry_orientation(ds: Any, source: Any) -> None:
    """Patient Orientation (Type 2C for an image without Image Orientation) and the body part.

    The SEG IOD has no Image Laterality, and dciodvfy refuses the series' Laterality on it: the
    side and view are written in the content and series descriptions instead.
    """
    if "ImageOrientationPatient" not in ds:
        ds.PatientOrientation = _orientation(source)
    ds.BodyPartExamined = "BREAST"


def _orientation(source: Any) -> list[str] | str:
    """The source's Patient Orientation when it is valid (two values of L/R/A/P/H/F; research
    files hold things like 'CC'), else empty."""
    value = source.get("PatientOrientation")
    values = list(value) if value is not None and not isinstance(value, str) else [value]
    if len(values) == 2 and all(v and set(str(v)) <= set("LRAPHF") for v in values):
        return [str(v) for v in values]
    return ""


def write_segmentation(
    classes: np.ndarray,
    path: str | os.PathLike,
    *,
    source: Any,
    producer: Producer,
    pixel_spacing: tuple[float, float] | None = None,
    probabilities: np.ndarray | None = None,
) -> Path:
    """Write :func:`segmentation_dataset` to ``path`` atomically; returns the path."""
    seg = segmentation_dataset(classes, source=source, producer=producer,
                               pixel_spacing=pixel_spacing, probabilities=probabilities)
    return write_dicom(seg, path)


@dataclass
class SegmentationRead:
    """A SEG read back (:func:`read_segmentation`).

    Attributes
    ----------
    labels : ndarray of shape (M, N), uint8
        Class codes (0 background, 1 benign, 2 malignant) when every segment is one we know,
        else the segment numbers (overlaps: the highest number wins).
    known : bool
        Every segment is a benign or malignant calcification segment.
    probabilities : ndarray of shape (S, M, N), float32, or None
        The segments' fractional values in [0, 1] (FRACTIONAL SEGs only).
    segments : list of dict
        ``number``, ``label``, ``class`` (1, 2 or 0 for a segment we do not know).
    pixel_spacing : (float, float) or None
        From the Pixel Measures (row_mm, col_mm).
    source_sop_instance_uid, source_series_instance_uid, study_instance_uid : str
    fractional : bool
    algorithm : str or None
        The first segment's algorithm name.
    """

    labels: np.ndarray
    known: bool
    probabilities: np.ndarray | None
    segments: list[dict[str, Any]]
    pixel_spacing: tuple[float, float] | None
    source_sop_instance_uid: str
    source_series_instance_uid: str
    study_instance_uid: str
    fractional: bool
    algorithm: str | None


def _segment_class(item: Any) -> int:
    code = _codes()
    modifiers = []
    for prop in item.get("SegmentedPropertyTypeCodeSequence", []):
        modifiers += [str(m.CodeValue) for m in prop.get(
            "SegmentedPropertyTypeModifierCodeSequence", [])]
    for cls, _, name in _SEGMENTS:
        if code[name].value in modifiers:
            return cls
    label = str(item.get("SegmentLabel", "")).lower()
    if "calcif" in label:
        if "malignan" in label:
            return MALIGNANT
        if "benign" in label:
            return BENIGN
    return 0


def read_segmentation(path: str | os.PathLike) -> SegmentationRead:
    """Read a DICOM SEG of one projection image.

    Raises
    ------
    ValueError
        Not a SEG, a SEG of several source images, or unreadable (the message names the file).
    """
    import highdicom as hd

    seg = read_derived(path, hd.seg.segread, sop_classes=(SEG_SOP_CLASS,),
                       what="DICOM Segmentation")
    sources = seg.get_source_image_uids()
    if len(sources) != 1:
        raise ValueError(f"{path} segments {len(sources)} source images; napari-mcdet reads a "
                         "SEG of one mammogram")
    study, series, sop = (str(v) for v in sources[0])
    numbers = list(seg.segment_numbers)
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=[sop],
                                               segment_numbers=numbers)[0]
    segments = [{"number": n, "label": str(item.get("SegmentLabel", "")),
                 "class": _segment_class(item)}
                for n, item in zip(numbers, (seg.get_segment_description(n) for n in numbers))]
    known = all(s["class"] for s in segments)
    fractional = str(seg.SegmentationType) == "FRACTIONAL"
    labels = np.zeros(pixels.shape[:2], np.uint8)
    for i, s in enumerate(segments):
        inside = pixels[..., i] >= 0.5 if fractional else pixels[..., i] > 0
        labels[inside] = s["class"] if known else s["number"]
    probabilities = np.moveaxis(pixels, -1, 0).astype(np.float32) if fractional else None
    return SegmentationRead(
        labels=labels, known=known, probabilities=probabilities, segments=segments,
        pixel_spacing=_spacing(seg), source_sop_instance_uid=sop,
        source_series_instance_uid=series, study_instance_uid=study, fractional=fractional,
        algorithm=_algorithm(seg, numbers[0]) if numbers else None)


def _spacing(seg: Any) -> tuple[float, float] | None:
    try:
        item = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        return (float(item.PixelSpacing[0]), float(item.PixelSpacing[1]))
    except (AttributeError, IndexError, KeyError):
        return None


def _algorithm(seg: Any, number: int) -> str | None:
    item = seg.get_segment_description(number)
    algo = item.get("SegmentationAlgorithmIdentificationSequence")
    return str(algo[0].AlgorithmName) if algo else None


def check_segmentation_grid(seg: SegmentationRead, *, shape: tuple[int, int],
                            sop_instance_uid: str | None, path: str | os.PathLike) -> None:
    """Refuse a SEG that does not lie on the image it is opened on.

    Raises
    ------
    ValueError
        Another size, or (when the image's SOP instance UID is known) another source instance;
        the message names the SEG file and what differs.
    """
    if tuple(seg.labels.shape) != tuple(shape):
        raise ValueError(
            f"{path} is {seg.labels.shape[0]}x{seg.labels.shape[1]} pixels but the image is "
            f"{shape[0]}x{shape[1]}: this SEG was made on another image; open it on its source "
            f"(SOP instance {seg.source_sop_instance_uid})")
    if sop_instance_uid and sop_instance_uid != seg.source_sop_instance_uid:
        raise ValueError(
            f"{path} was made on SOP instance {seg.source_sop_instance_uid}, not on this image "
            f"({sop_instance_uid}); open it on its source image")
