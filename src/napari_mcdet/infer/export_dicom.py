"""A detection (or an annotation) as DICOM objects on its source image: a SEG and a TID 1500 SR.

``<stem>_seg.dcm`` holds the benign and malignant segmentations (binary from the thresholded
maps, or fractional from the probabilities); ``<stem>_sr.dcm`` one finding per calcification
(a point) and per cluster (its box), with class, score and the model's name, version, SHA-256 and
operating point. Both reference the source image's study, series and SOP instance
(:mod:`napari_mcdet.io.dicom_seg`, :mod:`napari_mcdet.io.dicom_sr`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._version import __version__
from ..io.dicom_derived import Producer, source_header, write_dicom_pair
from ..io.dicom_seg import segmentation_dataset
from ..io.dicom_sr import Finding, report_dataset
from .detect import Detection

__all__ = ["detection_producer", "detection_findings", "write_detection_dicom",
           "annotation_findings", "write_annotation_dicom"]


def detection_producer(det: Detection) -> Producer:
    """The model that made ``det``: name, package version, the model file's SHA-256 and the
    operating point (thresholds, mirror averaging, decoder gate, engine)."""
    from ..models.checkpoint import file_sha256

    path = det.model_metadata.get("path")
    sha = file_sha256(path) if path and Path(str(path)).is_file() else None
    params = {"threshold_benign": f"{det.thresholds['benign']:.6g}",
              "threshold_malignant": f"{det.thresholds['malignant']:.6g}",
              "mirror": str(bool(det.mirror)).lower(), "gate": str(det.gate),
              "engine": det.engine,
              "model_pixel_spacing_mm": f"{det.model_pixel_spacing[0]:.6g}"}
    return Producer(name=det.model_name, version=__version__, sha256=sha, parameters=params)


def detection_findings(det: Detection) -> list[Finding]:
    """One finding per calcification (its peak) and per cluster (its box)."""
    out = [Finding(kind="calcification", center=tuple(map(float, c["centroid"])),
                   class_id=int(c["class"]), score=float(c["score"]),
                   malignant_score=float(c["malignant_score"]), id=int(c["id"]))
           for c in det.calcifications]
    out += [Finding(kind="cluster", center=tuple(map(float, c["centroid"])),
                    class_id=int(c["class"]), score=float(c["score"]),
                    bbox=tuple(float(v) for v in c["bbox"]),
                    malignant_score=float(c["malignant_score"]),
                    n_calcifications=int(c["n_calcifications"]), id=int(c["id"]))
            for c in det.clusters]
    return out


def write_detection_dicom(det: Detection, source: str | os.PathLike, out_dir: str | os.PathLike,
                          stem: str, *, fractional: bool = False) -> dict[str, Path]:
    """Write ``<stem>_seg.dcm`` and ``<stem>_sr.dcm`` of ``det`` into ``out_dir``.

    Parameters
    ----------
    det : Detection
        On the source image's grid (as :func:`napari_mcdet.infer.detect.detect` returns it).
    source : path
        The DICOM image ``det`` was made on.
    out_dir : path
    stem : str
    fractional : bool
        Write probability (fractional) segments instead of the thresholded binary ones.

    Returns
    -------
    dict
        ``{'seg': path, 'sr': path}``.

    Raises
    ------
    ValueError
        A source that is not DICOM or lacks its identity, or a detection not on its grid; nothing
        is written then.
    """
    header = source_header(source)
    producer = detection_producer(det)
    seg = segmentation_dataset(det.labels, source=header, producer=producer,
                               pixel_spacing=det.pixel_spacing,
                               probabilities=det.probabilities if fractional else None)
    sr = report_dataset(detection_findings(det), source=header, producer=producer)
    return write_dicom_pair(seg, sr, Path(out_dir), stem)


def annotation_findings(labels: np.ndarray, *,
                        clusters: list[tuple[tuple[float, float, float, float], int]] = ()
                        ) -> list[Finding]:
    """Findings of an annotation: one calcification per 8-connected component of each class
    (at its centroid), one cluster per ``(bbox, class)`` drawn box."""
    from skimage.measure import label, regionprops

    out: list[Finding] = []
    for cls in (1, 2):
        for region in regionprops(label(labels == cls, connectivity=2)):
            out.append(Finding(kind="calcification", center=tuple(map(float, region.centroid)),
                               class_id=cls, id=len(out) + 1))
    for i, (bbox, cls) in enumerate(clusters, start=1):
        r0, c0, r1, c1 = (float(v) for v in bbox)
        out.append(Finding(kind="cluster", center=((r0 + r1) / 2 - 0.5, (c0 + c1) / 2 - 0.5),
                           class_id=int(cls), bbox=(r0, c0, r1, c1), id=i))
    return out


def write_annotation_dicom(labels: np.ndarray, source: str | os.PathLike,
                           out_dir: str | os.PathLike, stem: str, *, annotator: str = "",
                           pixel_spacing: tuple[float, float] | None = None,
                           clusters: list[tuple[tuple[float, float, float, float], int]] = (),
                           findings: list[Finding] | None = None) -> dict[str, Path]:
    """Write a manual annotation (class codes on the source grid, and cluster boxes) as
    ``<stem>_seg.dcm`` + ``<stem>_sr.dcm`` (algorithm type MANUAL, a person observer).

    ``findings`` replaces the report's findings made from ``labels`` and ``clusters``
    (:func:`annotation_findings`), e.g. with the ROIs of an INbreast file."""
    header = source_header(source)
    producer = Producer(name=annotator or "Annotator^", version=__version__, manual=True)
    seg = segmentation_dataset(labels, source=header, producer=producer,
                               pixel_spacing=pixel_spacing)
    if findings is None:
        findings = annotation_findings(labels, clusters=clusters)
    sr = report_dataset(findings, source=header, producer=producer)
    return write_dicom_pair(seg, sr, Path(out_dir), stem)

