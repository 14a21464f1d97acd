"""Scoring one detection against its ground truth: the paper's metrics for one image.

The Score widget's engine, usable without napari: pixel metrics (Table 4, benign ground truth
dilated 10 x 10) of a labels image, calcification and cluster FROC of point and box detections,
and, with a model, the patch AUCs (Table 2) on the image's evaluation patches. The result is a
JSON-friendly report; :func:`report_rows` flattens it into ``(metric, value)`` rows and
:func:`export_report` writes it as CSV or JSON.

Report keys: ``pixel`` (:meth:`PixelMetrics.as_dict`), ``froc_calcifications`` and
``froc_clusters`` (:meth:`FrocResult.as_dict`, when detections were given), ``patch_auc`` (when
the patches hold two classes), ``notes`` (list of str) and ``_curves`` (the ROC and FROC objects
for plotting; keys starting with ``_`` are never exported).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import BENIGN, MALIGNANT
from ..constants import DEFAULT_TOLERANCE_MM
from ..spacing import as_spacing

__all__ = ["export_report", "na_reason", "report_rows", "score_image", "strict_tolerance_px"]

_CLASS_OF = {"B": "benign", "M": "malignant"}


def strict_tolerance_px(pixel_spacing: Any) -> float:
    """The strict cluster rule's distance (:data:`~napari_mcdet.constants.DEFAULT_TOLERANCE_MM`)
    in pixels of the finer axis; 0 (inside the region) when the spacing is unknown.

    Parameters
    ----------
    pixel_spacing : float, (float, float) or None
        mm per pixel.
    """
    spacing = as_spacing(pixel_spacing, required=False)
    return 0.0 if spacing is None else DEFAULT_TOLERANCE_MM / min(spacing)


def score_image(
    prediction: np.ndarray,
    ground_truth: np.ndarray,
    *,
    calcifications: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    image: np.ndarray | None = None,
    pixel_spacing: Any = None,
    model: Any = None,
) -> dict[str, Any]:
    """The metrics of one image (see the module docstring for the report's keys).

    Parameters
    ----------
    prediction, ground_truth : ndarray of shape (M, N), int
        Labels 0 background, 1 benign, 2 malignant.
    calcifications : ndarray of shape (K, 3), optional
        (row, col, score) in pixels -> calcification FROC (regions: benign and malignant).
    clusters : ndarray of shape (K, 5), optional
        (r0, c0, r1, c1, score) in pixels -> cluster FROC (regions: malignant), with the strict
        rule's tolerance (:func:`strict_tolerance_px`).
    image : ndarray of shape (M, N), optional
        With ``pixel_spacing`` and ``model``: the patch AUCs.
    pixel_spacing : float or (float, float), optional
        mm per pixel of the image.
    model : TrainedModel, optional

    Returns
    -------
    report : dict

    Raises
    ------
    ValueError
        The prediction and the ground truth differ in shape.
    """
    from ..metrics import froc, pixel_metrics

    prediction, ground_truth = np.asarray(prediction), np.asarray(ground_truth)
    if prediction.shape != ground_truth.shape:
        raise ValueError(f"the prediction {prediction.shape} and the ground truth "
                         f"{ground_truth.shape} must have the same shape")
    report: dict[str, Any] = {"pixel": pixel_metrics([prediction], [ground_truth]).as_dict(),
                              "notes": [], "_curves": {}}
    if calcifications is not None:
        result = froc([calcifications], [ground_truth], classes=(BENIGN, MALIGNANT))
        report["froc_calcifications"] = result.as_dict()
        report["_curves"]["calcifications"] = result
    if clusters is not None:
        result = froc([clusters], [ground_truth], classes=(MALIGNANT,),
                      tolerance=strict_tolerance_px(pixel_spacing))
        report["froc_clusters"] = result.as_dict()
        report["_curves"]["clusters"] = result
    if image is not None and model is not None and pixel_spacing is not None:
        _add_patch_aucs(report, image, ground_truth, pixel_spacing=pixel_spacing, model=model)
    return report


def _add_patch_aucs(report: dict[str, Any], image: np.ndarray, ground_truth: np.ndarray, *,
                    pixel_spacing: Any, model: Any) -> None:
    """Patch AUCs of ``model`` on the image's evaluation patches, into ``report``.

    The image is prepared at the model's grid and cut into the paper's evaluation patches at the
    model's patch size by :func:`~napari_mcdet.metrics.realsets.evaluation_patch_set`, the one
    protocol of training's real validation and ``mcdet evaluate``.
    """
    from ..data.prepare import prepare_image
    from ..mammogram import Mammogram
    from ..metrics import patch_aucs, patch_roc
    from ..metrics.auc import TASK_NAMES, TASKS
    from ..metrics.realsets import LabelledImage, evaluation_patch_set
    from .patches import predict_patches

    spacing = as_spacing(model.pixel_spacing, name="the model's pixel spacing")
    img, breast, labels = prepare_image(
        Mammogram(np.asarray(image, np.float32), pixel_spacing=as_spacing(pixel_spacing)),
        pixel_spacing=spacing, labels=np.asarray(ground_truth, np.uint8))
    x, y = evaluation_patch_set([LabelledImage("image", img, labels, breast, spacing)],
                                patch_size=int(model.patch_size))
    if len(np.unique(y)) < 2:
        report["notes"].append("patch AUCs need evaluation patches of two classes; this image "
                               f"has only class {int(y[0])}")
        return
    probs, _ = predict_patches(model.network, x, segmentation=False)
    report["_curves"].update({TASK_NAMES[t]: patch_roc(y, probs, task=t) for t in TASKS})
    report["patch_auc"] = {**patch_aucs(y, probs), "n_patches": int(len(y)),
                           "n_per_class": {str(k): int((y == k).sum()) for k in (0, 1, 2)}}


def report_rows(report: dict[str, Any]) -> list[tuple[str, float | int | str]]:
    """Flatten a report into ``(metric, value)`` rows (the widget's table, the CSV export).

    Rows: ``pixel <metric>`` per pixel summary value, ``patch AUC_MCs`` / ``patch AUC_mlg`` /
    ``patch n_patches``, and per FROC (``calcification`` / ``cluster``) the sensitivity at each
    FP rate (``... sensitivity @ 0.5 FP/image``) and the detection, region, true and false
    positive counts.
    """
    rows: list[tuple[str, Any]] = [(f"pixel {k}", v)
                                   for k, v in report["pixel"]["summary"].items()]
    rows += [(f"patch {k}", v) for k, v in report.get("patch_auc", {}).items()
             if not isinstance(v, dict)]
    for key, label in (("froc_calcifications", "calcification"), ("froc_clusters", "cluster")):
        if key in report:
            rows += _froc_rows(report[key], label)
    return rows


def _froc_rows(result: dict[str, Any], label: str) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [(f"{label} sensitivity @ {fp} FP/image", s)
                                   for fp, s in result["sensitivity_at_fp"].items()]
    for key, name in (("n_detections", "detections"), ("n_regions", "regions"),
                      ("n_true_positives", "true positives"),
                      ("n_false_positives", "false positives")):
        rows.append((f"{label} {name}", result[key]))
    return rows


def na_reason(metric: str) -> str:
    """Why ``metric`` (a row name of :func:`report_rows`) can be undefined on one image."""
    if metric.startswith("pixel "):
        kind, _, cls = metric[len("pixel "):].partition("_")
        name = _CLASS_OF.get(cls, cls)
        return {
            "Rec": f"the ground truth has no {name} pixels: recall = TP / (TP + FN) is 0 / 0",
            "Prec": f"the detection has no {name} pixels: precision = TP / (TP + FP) is 0 / 0",
            "DSC": f"neither the detection nor the ground truth has {name} pixels: Dice is 0 / 0",
        }.get(kind, "undefined on this image")
    if metric.startswith("patch "):
        return ("this image's evaluation patches hold only one of the two classes this AUC "
                "separates")
    if " sensitivity @ " in metric:
        what = "malignant regions" if metric.startswith("cluster") else "calcification regions"
        return f"the ground truth has no {what}: sensitivity is 0 / 0"
    return "undefined on this image"


def export_report(report: dict[str, Any], path: str | Path) -> Path:
    """Write a report as JSON (``.json``) or as ``metric,value`` CSV (any other suffix).

    The folder is created if needed; the file is replaced in one step
    (:func:`napari_mcdet.io.writers.atomic_write`). Returns the path written.
    """
    from ..io.writers import atomic_write
    from ..metrics.report import to_jsonable

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        public = {k: v for k, v in report.items() if not k.startswith("_")}
        text = json.dumps(to_jsonable(public), indent=2)
    else:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(["metric", "value"])
        writer.writerows(report_rows(report))
        text = buffer.getvalue()
    return atomic_write(path, lambda tmp: tmp.write_text(text, newline=""))
