"""Pixel metrics per class: recall, precision and Dice after binarisation (paper, section 7).

For each class c in (benign, malignant):

- prediction: a binary mask (the binarised probability map of channel c, or ``labels == c``);
- ground truth: ``gt == c``; for *benign* it is first dilated with a 10 x 10 square, because many
  benign calcifications are annotated as single pixels;
- TP, FP, FN are pixel counts; recall ``TP / (TP + FN)``, precision ``TP / (TP + FP)``,
  Dice ``2 TP / (2 TP + FP + FN)`` (equal to ``2 Rec Prec / (Rec + Prec)`` wherever that is
  defined, and 0 rather than 0/0 when TP = 0 but FP + FN > 0).

Over a data set the counts are **summed over images first** (pooled, "micro" aggregation) and the
ratios taken once; the per-image ratios and their NaN-ignoring mean are reported beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..classes import BENIGN, CLASS_NAMES, MALIGNANT
from ..data.threshold import binarize  # noqa: F401  (public here as well: metrics.binarize)

#: Side of the square used to dilate the benign ground truth, pixels.
BENIGN_DILATION = 10
#: Classes scored by the pixel metrics, with their short report suffixes (``DSC_B``, ``DSC_M``).
PIXEL_CLASSES = {BENIGN: "B", MALIGNANT: "M"}


def _nan_div(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


@dataclass(frozen=True)
class PixelCounts:
    """True positive, false positive and false negative pixel counts of one class.

    Counts add (``a + b``), which is how a data set is pooled.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: PixelCounts) -> PixelCounts:
        return PixelCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def recall(self) -> float:
        """``TP / (TP + FN)``; NaN when the ground truth is empty."""
        return _nan_div(self.tp, self.tp + self.fn)

    @property
    def precision(self) -> float:
        """``TP / (TP + FP)``; NaN when the prediction is empty."""
        return _nan_div(self.tp, self.tp + self.fp)

    @property
    def dice(self) -> float:
        """``2 TP / (2 TP + FP + FN)``; NaN when prediction and ground truth are both empty."""
        return _nan_div(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def as_dict(self) -> dict[str, float]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "recall": self.recall,
            "precision": self.precision,
            "dice": self.dice,
        }


def dilate_benign(mask: np.ndarray, *, size: int = BENIGN_DILATION) -> np.ndarray:
    """Dilate a binary mask with a ``size`` x ``size`` square.

    For even ``size`` the square is placed as scipy places it: a single pixel at (r, c) becomes
    rows ``r - size//2 .. r + size//2 - 1`` (and the same for columns), clipped to the image.

    Parameters
    ----------
    mask : ndarray of shape (M, N), bool
    size : int, keyword-only
        Side of the square, pixels; ``size <= 1`` returns the mask unchanged.
    """
    from scipy.ndimage import maximum_filter

    mask = np.asarray(mask, dtype=bool)
    if size <= 1 or not mask.any():
        return mask.copy()
    # a separable maximum filter, placed like binary_dilation with np.ones((size, size)) (the
    # origin shift matters for even sizes) and much faster on full mammograms
    return maximum_filter(mask, size=size, origin=-1 if size % 2 == 0 else 0, mode="constant")


def _prediction_masks(prediction: np.ndarray, shape: tuple[int, ...]) -> dict[int, np.ndarray]:
    pred = np.asarray(prediction)
    if pred.ndim == 2:
        if pred.shape != shape:
            raise ValueError(f"prediction shape {pred.shape} differs from ground truth {shape}")
        return {c: pred == c for c in PIXEL_CLASSES}
    if pred.ndim == 3 and pred.shape[0] == 2 and pred.shape[1:] == shape:
        if pred.dtype != bool:
            raise TypeError(
                "a (2, M, N) prediction must be boolean masks (benign, malignant); binarise "
                "probabilities first with binarize(prob, method='li')"
            )
        return {BENIGN: pred[0], MALIGNANT: pred[1]}
    raise ValueError(
        f"prediction must be a labels image of shape {shape} or boolean masks of shape "
        f"(2, {shape[0]}, {shape[1]}) (benign, malignant); got {pred.shape}"
    )


def pixel_counts(
    prediction: np.ndarray, ground_truth: np.ndarray, *, benign_dilation: int = BENIGN_DILATION
) -> dict[int, PixelCounts]:
    """TP/FP/FN pixel counts of the benign and malignant classes on one image.

    Parameters
    ----------
    prediction : ndarray of shape (M, N) int or (2, M, N) bool
        A labels image (0/1/2) or binary masks (benign, malignant), which may overlap.
    ground_truth : ndarray of shape (M, N), int
        Labels 0 soft tissue, 1 benign, 2 malignant.
    benign_dilation : int, keyword-only
        Side of the square dilating the benign ground truth, pixels (10 in the paper; 0 = none).

    Returns
    -------
    counts : dict
        ``{1: PixelCounts, 2: PixelCounts}`` (class code -> counts).
    """
    gt = np.asarray(ground_truth)
    if gt.ndim != 2:
        raise ValueError(f"ground_truth must be a labels image of shape (M, N), got {gt.shape}")
    masks = _prediction_masks(prediction, gt.shape)
    out = {}
    for c in PIXEL_CLASSES:
        truth = gt == c
        if c == BENIGN:
            truth = dilate_benign(truth, size=benign_dilation)
        pred = masks[c]
        tp = int(np.count_nonzero(pred & truth))
        out[c] = PixelCounts(
            tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(truth)) - tp
        )
    return out


def summarize_counts(counts: dict[int, PixelCounts]) -> dict[str, float]:
    """Flat ``{'DSC_B', 'Rec_B', 'Prec_B', 'DSC_M', 'Rec_M', 'Prec_M'}`` from per-class counts."""
    out: dict[str, float] = {}
    for c, s in PIXEL_CLASSES.items():
        k = counts[c]
        out[f"DSC_{s}"], out[f"Rec_{s}"], out[f"Prec_{s}"] = k.dice, k.recall, k.precision
    return out


@dataclass
class PixelMetrics:
    """Pixel metrics over a data set.

    Attributes
    ----------
    pooled : dict
        Class code -> counts summed over all images (the headline numbers).
    per_image : list of dict
        Class code -> counts, one dict per image, in input order.
    """

    pooled: dict[int, PixelCounts]
    per_image: list[dict[int, PixelCounts]]

    def summary(self) -> dict[str, float]:
        """Pooled ``DSC_B``, ``Rec_B``, ``Prec_B``, ``DSC_M``, ``Rec_M``, ``Prec_M`` (Table 4)."""
        return summarize_counts(self.pooled)

    def mean_per_image(self) -> dict[str, float]:
        """Mean over images of each per-image metric, ignoring images where it is NaN."""
        rows = [summarize_counts(c) for c in self.per_image]
        out = {}
        for key in summarize_counts(self.pooled):
            vals = np.array([r[key] for r in rows], dtype=float)
            out[key] = (
                float(np.mean(vals[~np.isnan(vals)])) if np.any(~np.isnan(vals)) else float("nan")
            )
        return out

    def as_dict(self) -> dict:
        """JSON-friendly dictionary: pooled counts and ratios, per-image ones, per-image means."""

        def named(c: dict[int, PixelCounts]) -> dict:
            return {CLASS_NAMES[k]: v.as_dict() for k, v in c.items()}

        return {
            "aggregation": "pooled: TP/FP/FN summed over images, then the ratios",
            "pooled": named(self.pooled),
            "summary": self.summary(),
            "mean_per_image": self.mean_per_image(),
            "per_image": [named(c) for c in self.per_image],
        }


def pixel_metrics(
    predictions: Sequence[np.ndarray],
    ground_truths: Sequence[np.ndarray],
    *,
    benign_dilation: int = BENIGN_DILATION,
) -> PixelMetrics:
    """Pixel recall, precision and Dice per class over a data set (counts pooled over images).

    Parameters
    ----------
    predictions : sequence of ndarray
        Per image a labels image (M, N) or boolean masks (2, M, N); see :func:`pixel_counts`.
    ground_truths : sequence of ndarray of shape (M, N)
        Per image the ground-truth labels 0/1/2 (shapes may differ between images).
    benign_dilation : int, keyword-only
        Side of the square dilating the benign ground truth, pixels.

    Returns
    -------
    metrics : PixelMetrics
    """
    if len(predictions) != len(ground_truths):
        raise ValueError(
            f"{len(predictions)} predictions but {len(ground_truths)} ground truths; pass one "
            "of each per image"
        )
    per_image = [
        pixel_counts(p, g, benign_dilation=benign_dilation)
        for p, g in zip(predictions, ground_truths)
    ]
    pooled = {c: sum((d[c] for d in per_image), PixelCounts()) for c in PIXEL_CLASSES}
    return PixelMetrics(pooled, per_image)
