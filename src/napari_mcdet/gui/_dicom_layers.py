"""DICOM Segmentation and TID 1500 structured report files <-> napari layers.

The reader (:mod:`napari_mcdet.gui._reader`) opens

- a SEG (:func:`napari_mcdet.io.dicom_seg.read_segmentation`) as a labels layer of class codes
  (0 / 1 benign / 2 malignant), ``scale`` its Pixel Measures' spacing in mm, so that it lies on
  the image the same reader opened (whose ``scale`` is its pixel spacing). A detector's SEG is
  drawn in the class colours, as the Detect panel's ``detection labels``; a person's (algorithm
  type MANUAL) as ground truth, the way an INbreast XML opens: a hidden labels layer with
  :data:`~napari_mcdet.gui._layers.TRUTH_KEY` in its metadata (the class codes stay in the
  data) and its regions' outlines (and rings around one-pixel marks) in
  :data:`~napari_mcdet.gui._layers.TRUTH_COLOR`. Segments that are not benign / malignant
  calcifications are shown by segment number, with a note;
- an SR (:func:`napari_mcdet.io.dicom_sr.read_report`) as a points layer of the calcifications
  and a shapes layer of the cluster boxes, with the findings' ``id``, ``class``, ``class_name``,
  ``score``, ``malignant_score`` (and for clusters ``n_calcifications`` and the box ``r0``,
  ``c0``, ``r1``, ``c1``, as the Score panel reads boxes) as features. A report has no pixel
  spacing: it is taken from the source image (the file of the folder whose SOPInstanceUID the
  report references), else from a SEG of that image in the folder; without either the layers
  get scale 1 and a warning says how to fix it. A person's report also gives a hidden
  ground-truth labels layer on the source image's grid (disks and filled cluster boxes:
  :func:`napari_mcdet.io.dicom_sr.report_labels`), which the Score panel takes as ground truth.

Every layer's metadata holds the file (``source``), ``format`` (``'dicom-seg'`` /
``'dicom-sr'``), ``source_sop_instance_uid`` and the algorithm, so that the Score panel can check
that it belongs to the image it is scored on (:func:`check_on_image`).

The panels' writing side: :func:`dicom_source` says whether an image layer was read from a DICOM
file (only such a source gives a SEG or SR a study, series and instance to reference).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import CLASS_COLORS, CLASS_NAMES
from ._layers import (
    OUTLINE_MM,
    POINT_RING_MM,
    TRUTH_COLOR,
    labels_layer_kwargs,
    roi_outline_layer,
    roi_ring_layer,
    truth_labels_kwargs,
)

__all__ = ["read_seg_layers", "read_sr_layers", "dicom_source", "check_on_image", "SEG_FORMAT",
           "SR_FORMAT", "is_structured_report"]

LayerData = tuple[Any, dict[str, Any], str]

SEG_FORMAT = "dicom-seg"
SR_FORMAT = "dicom-sr"
#: Diameter of a detected calcification's dot and opacity of a cluster box's filling, as the
#: Detect panel draws its own detections.
DOT_MM = 0.8
BOX_FILL_ALPHA = 0.25
#: Ground-truth kind (``metadata[TRUTH_KEY]``) of a person's SEG, and of the labels drawn from
#: a person's report.
TRUTH_KIND = "dicom-seg"
TRUTH_KIND_SR = "dicom-sr"
_DICOM_SUFFIXES = (".dcm", ".dicom")
#: Every DICOM structured report SOP class starts so (the reader says which ones it reads).
_SR_ROOT = "1.2.840.10008.5.1.4.1.1.88."


def is_structured_report(sop_class: str | None) -> bool:
    """Whether ``sop_class`` is a structured report's SOP class (any kind)."""
    return bool(sop_class) and str(sop_class).startswith(_SR_ROOT)


# --- spacing of a report (and of a SEG without one): the source image's ---------------------


def _seg_sources(ds: Any) -> set[str]:
    """The SOP instances a SEG header references (its series references and derivation)."""
    uids: set[str] = set()
    for series in ds.get("ReferencedSeriesSequence", []):
        for item in series.get("ReferencedInstanceSequence", []):
            uids.add(str(item.get("ReferencedSOPInstanceUID", "")))
    groups = list(ds.get("SharedFunctionalGroupsSequence", []))
    groups += list(ds.get("PerFrameFunctionalGroupsSequence", []))
    for group in groups:
        for derivation in group.get("DerivationImageSequence", []):
            for item in derivation.get("SourceImageSequence", []):
                uids.add(str(item.get("ReferencedSOPInstanceUID", "")))
    return uids


def source_grid(path: Path, sop_instance_uid: str | None
                ) -> tuple[tuple[float, float] | None, tuple[int, int] | None, Path | None]:
    """``(spacing, (rows, cols), file)`` of the image ``sop_instance_uid``, from the DICOM files
    beside ``path`` (headers only): the image itself, else a SEG made on it; ``(None, None,
    None)`` when neither is there."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from ..io.dicom import dataset_spacing
    from ..io.dicom_derived import SEG_SOP_CLASS

    nothing: tuple[Any, Any, Any] = (None, None, None)
    if not sop_instance_uid:
        return nothing
    from_seg = nothing
    for other in sorted(path.parent.iterdir()):
        if other == path or other.suffix.lower() not in _DICOM_SUFFIXES or not other.is_file():
            continue
        try:
            ds = pydicom.dcmread(other, stop_before_pixels=True)
        except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError,
                AttributeError):
            continue  # not ours to judge: a broken neighbour is simply not the source
        try:
            found = (dataset_spacing(ds), (int(ds.Rows), int(ds.Columns)), other)
            if str(ds.get("SOPInstanceUID", "")) == sop_instance_uid:
                if found[0] is not None:
                    return found
            elif (from_seg[0] is None and str(ds.get("SOPClassUID", "")) == SEG_SOP_CLASS
                  and sop_instance_uid in _seg_sources(ds) and found[0] is not None):
                from_seg = found
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
    return from_seg


def _grid_or_warn(path: Path, stated: tuple[float, float] | None, uid: str | None, what: str
                  ) -> tuple[tuple[float, float], tuple[int, int] | None, str]:
    """The spacing to draw at, the source image's shape (None when the file states its spacing
    or the source is not found) and where the spacing came from; scale 1 and one warning
    without one."""
    if stated is not None:
        return stated, None, "file"
    spacing, shape, where = source_grid(path, uid)
    if spacing is not None:
        return spacing, shape, str(where)
    warnings.warn(
        f"{path.name}: {what} states no pixel spacing and no DICOM file beside it is its source "
        f"image (SOP instance {uid or 'not stated'}) or a SEG of it, so it is drawn at scale 1 "
        "(pixels) and will not lie on an image opened in mm; put the report beside its image "
        "(or the image's SEG) and open it again",
        UserWarning, stacklevel=3)
    return (1.0, 1.0), None, "none"


# --- SEG --------------------------------------------------------------------------------------


def read_seg_layers(path: Path) -> list[LayerData]:
    """A DICOM SEG as one labels layer (see the module docstring)."""
    from ..io.dicom_seg import read_segmentation

    seg = read_segmentation(path)
    spacing, _, found = _grid_or_warn(path, seg.pixel_spacing, seg.source_sop_instance_uid,
                                      "this SEG")
    meta: dict[str, Any] = {
        "source": str(path), "format": SEG_FORMAT,
        "source_sop_instance_uid": seg.source_sop_instance_uid,
        "source_series_instance_uid": seg.source_series_instance_uid,
        "study_instance_uid": seg.study_instance_uid,
        "segments": [dict(s) for s in seg.segments], "algorithm": seg.algorithm,
        "manual": seg.algorithm is None, "fractional": seg.fractional, "known": seg.known,
        "pixel_spacing": spacing if found != "none" else None, "spacing_from": found,
    }
    labels = np.asarray(seg.labels, np.uint8)
    if not seg.known:
        unknown = [f"{s['number']} {s['label']!r}" for s in seg.segments if not s["class"]]
        note = (f"{path.name}: segment(s) {', '.join(unknown)} are not benign or malignant "
                "calcifications; the layer shows segment numbers, not class codes")
        meta["note"] = note
        warnings.warn(note, UserWarning, stacklevel=2)
        numbers = [0] + [int(s["number"]) for s in seg.segments]
        kwargs = {"name": path.stem, "scale": spacing, "opacity": 0.7, "metadata": meta,
                  "features": {"index": numbers,
                               "segment": ["background"] + [s["label"] for s in seg.segments]}}
        return [(labels, kwargs, "labels")]
    if seg.algorithm is None:  # a person's annotation: ground truth, drawn as outlines
        kwargs = truth_labels_kwargs(path.stem, kind=TRUTH_KIND, scale=spacing, metadata=meta)
        return [(labels, kwargs, "labels"), *truth_outlines(labels, spacing, path)]
    return [(labels, labels_layer_kwargs(path.stem, scale=spacing, metadata=meta), "labels")]


# --- SR ---------------------------------------------------------------------------------------


def _colors(codes: list[int], *, alpha: float = 1.0) -> Any:
    if not codes:
        return [(*CLASS_COLORS[2][:3], alpha)]
    rgba = np.asarray([CLASS_COLORS[int(c)] for c in codes], float).reshape(-1, 4)
    rgba[:, 3] = alpha
    return rgba


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _features(findings: list[Any]) -> dict[str, list]:
    return {"id": [f.id if f.id is not None else i + 1 for i, f in enumerate(findings)],
            "class": [int(f.class_id) for f in findings],
            "class_name": [CLASS_NAMES[int(f.class_id)] if f.class_id in (0, 1, 2) else ""
                           for f in findings],
            "score": [_number(f.score) for f in findings],
            "malignant_score": [_number(f.malignant_score) for f in findings],
            "kind": [f.kind for f in findings]}


def read_sr_layers(path: Path) -> list[LayerData]:
    """A TID 1500 report as a points layer of its calcifications (always) and a shapes layer of
    its cluster boxes (when it has clusters); see the module docstring."""
    from ..io.dicom_sr import read_report

    report = read_report(path)
    spacing, shape, found = _grid_or_warn(path, None, report.source_sop_instance_uid,
                                          "a report")
    manual = report.algorithm is None
    meta = {"source": str(path), "format": SR_FORMAT,
            "source_sop_instance_uid": report.source_sop_instance_uid,
            "study_instance_uid": report.study_instance_uid, "algorithm": report.algorithm,
            "parameters": dict(report.parameters), "manual": manual,
            "pixel_spacing": spacing if found != "none" else None, "spacing_from": found}
    if report.unknown:
        meta["note"] = (f"{path.name}: {report.unknown} finding(s) of a type other than a "
                        "calcification or a cluster are shown with kind 'other'")
    # before the layers copy meta, so that a note on missing truth reaches them
    truth = _report_truth(report, shape, spacing, path, meta) if manual else []
    points = [f for f in report.findings if f.bbox is None]
    boxes = [f for f in report.findings if f.bbox is not None]
    mm = min(spacing)
    calc = _features(points)
    point_kw: dict[str, Any] = {"name": f"{path.stem} calcifications", "scale": spacing,
                                "features": calc, "metadata": dict(meta)}
    if manual:
        point_kw.update(size=POINT_RING_MM / mm, face_color="transparent",
                        border_color=[TRUTH_COLOR], border_width=OUTLINE_MM / POINT_RING_MM)
    else:
        point_kw.update(size=DOT_MM / mm, symbol="disc", face_color=_colors(calc["class"]),
                        border_color="black", border_width=0.1)
    centres = np.array([f.center for f in points], float).reshape(-1, 2)
    layers: list[LayerData] = [(centres, point_kw, "points")]
    if boxes:
        feats = _features(boxes)
        feats["n_calcifications"] = [f.n_calcifications if f.n_calcifications is not None
                                     else 0 for f in boxes]
        for i, key in enumerate(("r0", "c0", "r1", "c1")):
            feats[key] = [float(f.bbox[i]) for f in boxes]
        feats["row"] = [float(f.center[0]) for f in boxes]
        feats["col"] = [float(f.center[1]) for f in boxes]
        # boxes are pixel edges (end exclusive); pixel k covers [k - 0.5, k + 0.5] in napari
        rects = [np.array([[r0, c0], [r0, c1], [r1, c1], [r1, c0]], float) - 0.5
                 for r0, c0, r1, c1 in (f.bbox for f in boxes)]
        shape_kw: dict[str, Any] = {"name": f"{path.stem} clusters", "scale": spacing,
                                    "shape_type": "rectangle", "features": feats,
                                    "metadata": dict(meta)}
        if manual:
            shape_kw.update(edge_color=[TRUTH_COLOR], face_color="transparent",
                            edge_width=OUTLINE_MM / mm)
        else:
            shape_kw.update(edge_color=_colors(feats["class"]),
                            face_color=_colors(feats["class"], alpha=BOX_FILL_ALPHA),
                            edge_width=2,
                            text={"string": "{class_name} {score:.2f}", "size": 10,
                                  "color": "white", "anchor": "upper_left"})
        layers.append((rects, shape_kw, "shapes"))
    return truth + layers


def _report_truth(report: Any, shape: tuple[int, int] | None, spacing: tuple[float, float],
                  path: Path, meta: dict[str, Any]) -> list[LayerData]:
    """A person's report as ground truth for the Score panel: a hidden labels layer on its
    image's grid (:func:`napari_mcdet.io.dicom_sr.report_labels`), when the image (or a SEG of
    it) lies beside the report to give that grid."""
    from ..io.dicom_sr import report_labels

    if shape is None:
        meta["note"] = (f"{path.name}: no ground-truth labels, since its source image is not "
                        "beside it to give the grid; put the report beside its image")
        return []
    labels = report_labels(report.findings, shape, pixel_spacing=spacing)
    kwargs = truth_labels_kwargs(f"{path.stem} truth", kind=TRUTH_KIND_SR, scale=spacing,
                                 metadata=dict(meta))
    return [(labels, kwargs, "labels")]


def truth_outlines(labels: np.ndarray, spacing: tuple[float, float],
                   path: Path) -> list[LayerData]:
    """Outlines in the truth colour of a person's labels (a manual SEG): a shapes layer of the
    regions' contours and a points layer of rings around one-pixel marks, as an INbreast XML's
    ROIs are drawn."""
    from ..io.writers import labels_to_rois

    rois = labels_to_rois(labels)
    outlines = [r for r in rois if len(r.points) >= 3]
    points = [r for r in rois if len(r.points) < 3]
    return ([roi_outline_layer(outlines, spacing, path)] if outlines else []) + \
        ([roi_ring_layer(points, spacing, path)] if points else [])


# --- the panels -------------------------------------------------------------------------------


def dicom_source(layer: Any) -> Path:
    """The DICOM file an image layer was read from (the reader's ``metadata['source']``).

    Raises
    ------
    ValueError
        One line: the layer was not read from a DICOM file (a PNG, TIFF, PGM, a sample or a
        computed image), so a SEG or SR would have no study, series and instance to reference.
    """
    if layer is None:
        raise ValueError("choose the DICOM image layer the result lies on first")
    meta = getattr(layer, "metadata", None) or {}
    source = meta.get("source")
    if not source or meta.get("format") != "dicom":
        where = f"from {Path(str(source)).name}" if source else "not from a file"
        raise ValueError(
            f"image layer {layer.name!r} was not read from a DICOM file ({where}), so there is "
            "no study, series and instance for a DICOM SEG or SR to reference; open the DICOM "
            "mammogram with napari-mcdet's reader and work on that layer, or save the other "
            "formats")
    path = Path(str(source))
    if not path.is_file():
        raise ValueError(f"the DICOM file of image layer {layer.name!r} is gone ({path}): a SEG "
                         "or SR copies its identity from it; put it back or open it again")
    return path


def check_on_image(layer: Any, image: Any) -> None:
    """Refuse a SEG labels layer or SR layer that does not lie on image layer ``image``.

    A SEG: another size, or another source SOP instance than the image's SOPInstanceUID
    (:func:`napari_mcdet.io.dicom_seg.check_segmentation_grid`); an SR: another source SOP
    instance. Layers that came from elsewhere pass (nothing to check). ValueError, one line.
    """
    meta = getattr(layer, "metadata", None) or {}
    kind = meta.get("format")
    if kind not in (SEG_FORMAT, SR_FORMAT) or image is None:
        return
    image_uid = (getattr(image, "metadata", None) or {}).get("SOPInstanceUID")
    if kind == SEG_FORMAT:
        from ..io.dicom_seg import SegmentationRead, check_segmentation_grid

        seg = SegmentationRead(
            labels=np.asarray(layer.data), known=bool(meta.get("known", True)),
            probabilities=None, segments=list(meta.get("segments", [])),
            pixel_spacing=meta.get("pixel_spacing"),
            source_sop_instance_uid=str(meta.get("source_sop_instance_uid", "")),
            source_series_instance_uid=str(meta.get("source_series_instance_uid", "")),
            study_instance_uid=str(meta.get("study_instance_uid", "")),
            fractional=bool(meta.get("fractional", False)), algorithm=meta.get("algorithm"))
        shape = tuple(np.shape(image.data))[-2:]
        check_segmentation_grid(seg, shape=shape, sop_instance_uid=image_uid,
                                path=meta.get("source", layer.name))
        return
    uid = meta.get("source_sop_instance_uid")
    if image_uid and uid and str(uid) != str(image_uid):
        raise ValueError(
            f"{meta.get('source', layer.name)} was made on SOP instance {uid}, not on image "
            f"{image.name!r} ({image_uid}); open it on its source image")
