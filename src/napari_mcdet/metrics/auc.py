"""Patch-level ROC analysis: the paper's AUC_MCs and AUC_mlg (scikit-learn underneath).

Class codes follow :mod:`napari_mcdet.classes`: 0 soft tissue, 1 benign, 2 malignant.

- **AUC_MCs**: calcified (benign or malignant) against soft tissue;
  score ``p_benign + p_malignant``.
- **AUC_mlg**: malignant against the rest (soft tissue and benign); score ``p_malignant``.

When only one class is present the AUC is undefined: these functions then return NaN and emit a
:class:`UndefinedMetricWarning` instead of raising, so that a report over a small data set still
comes out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..classes import BENIGN, MALIGNANT

TASKS = ("mcs", "mlg")
#: Report names of the two tasks, as in the paper's Table 2.
TASK_NAMES = {"mcs": "AUC_MCs", "mlg": "AUC_mlg"}


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined on the given data (e.g. an AUC with one class only) and is NaN."""


@dataclass
class RocCurve:
    """A ROC curve and its area.

    Attributes
    ----------
    fpr, tpr : ndarray of shape (T,)
        False and true positive rates, from ``sklearn.metrics.roc_curve`` (empty when undefined).
    thresholds : ndarray of shape (T,)
        Score thresholds (``score >= threshold`` is called positive).
    auc : float
        Area under the curve, NaN when only one class is present.
    n_pos, n_neg : int
        Number of positive and negative samples.
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    n_pos: int
    n_neg: int


def _check_binary(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(bool).ravel()
    score = np.asarray(score, dtype=np.float64).ravel()
    if y.shape != score.shape:
        raise ValueError(
            f"labels and scores must have the same length, got {y.size} labels and "
            f"{score.size} scores"
        )
    if not np.all(np.isfinite(score)):
        raise ValueError("scores contain NaN or inf; replace them (e.g. with 0) before the ROC")
    return y, score


def binary_roc(y: np.ndarray, score: np.ndarray, *, name: str = "AUC") -> RocCurve:
    """ROC curve and AUC of a binary problem; NaN AUC with a warning if one class is missing.

    Parameters
    ----------
    y : array_like of shape (P,)
        True labels, truthy = positive.
    score : array_like of shape (P,)
        Scores, higher = more likely positive.
    name : str, optional
        Metric name used in the warning message.

    Returns
    -------
    curve : RocCurve
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    y, score = _check_binary(y, score)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        warnings.warn(
            f"{name} is undefined with {n_pos} positive and {n_neg} negative samples "
            "(both classes are needed); returning NaN",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        empty = np.zeros(0)
        return RocCurve(empty, empty, empty, float("nan"), n_pos, n_neg)
    fpr, tpr, thr = roc_curve(y, score)
    return RocCurve(fpr, tpr, thr, float(roc_auc_score(y, score)), n_pos, n_neg)


def _task_targets(
    y_true: np.ndarray, probabilities: np.ndarray, task: str
) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels and scores of ``task`` from class codes and class probabilities."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    y_true = np.asarray(y_true).ravel()
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] not in (2, 3):
        raise ValueError(
            "probabilities must have shape (P, 3) (soft tissue, benign, malignant) or (P, 2) "
            f"(benign, malignant), got {p.shape}"
        )
    if p.shape[0] != y_true.size:
        raise ValueError(f"{y_true.size} labels but {p.shape[0]} rows of probabilities")
    bad = ~np.isin(y_true, (0, BENIGN, MALIGNANT))
    if bad.any():
        raise ValueError(
            f"class codes must be 0 (soft tissue), 1 (benign) or 2 (malignant); found "
            f"{np.unique(y_true[bad]).tolist()}"
        )
    p_benign, p_malignant = p[:, -2], p[:, -1]
    if task == "mcs":
        return y_true != 0, p_benign + p_malignant
    return y_true == MALIGNANT, p_malignant


def patch_roc(y_true: np.ndarray, probabilities: np.ndarray, *, task: str) -> RocCurve:
    """ROC curve of one of the paper's patch tasks.

    Parameters
    ----------
    y_true : array_like of int, shape (P,)
        Patch class codes: 0 soft tissue, 1 benign, 2 malignant.
    probabilities : array_like of shape (P, 3) or (P, 2)
        Class probabilities per patch: (soft tissue, benign, malignant), or (benign, malignant).
    task : {'mcs', 'mlg'}
        ``'mcs'``: calcified vs soft tissue, score ``p_benign + p_malignant``;
        ``'mlg'``: malignant vs the rest, score ``p_malignant``.

    Returns
    -------
    curve : RocCurve
    """
    y, score = _task_targets(y_true, probabilities, task)
    return binary_roc(y, score, name=TASK_NAMES[task])


def auc_mcs(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """AUC_MCs: calcified (benign or malignant) vs soft tissue, score ``p_benign + p_malignant``.

    See :func:`patch_roc` for the arguments. NaN (with a warning) when one class is missing.
    """
    return patch_roc(y_true, probabilities, task="mcs").auc


def auc_mlg(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """AUC_mlg: malignant vs the rest (soft tissue and benign), score ``p_malignant``.

    See :func:`patch_roc` for the arguments. NaN (with a warning) when one class is missing.
    """
    return patch_roc(y_true, probabilities, task="mlg").auc


def patch_aucs(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Both patch AUCs as ``{'AUC_MCs': ..., 'AUC_mlg': ...}`` (the paper's Table 2 columns)."""
    return {TASK_NAMES[t]: patch_roc(y_true, probabilities, task=t).auc for t in TASKS}
