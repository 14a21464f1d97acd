"""FROC for calcifications and clusters, and the image-level AUC.

Inputs are plain arrays, one entry per image, so that any detector can be scored:

- detections: an ``(K, 3)`` array of ``(row, col, score)`` points, an ``(K, 5)`` array of
  ``(r0, c0, r1, c1, score)`` boxes (end exclusive), or a list of dicts with ``'score'`` and either
  ``'centroid'`` ``(row, col)`` or ``'bbox'`` ``(r0, c0, r1, c1)``; ``None`` for no detections;
- ground truth: a labels image (M, N) whose pixels with a code in ``classes`` form the annotated
  regions (one region per 8-connected component), or a list of boolean region masks (M, N).

Hit rule (strict)
-----------------
A point hits a region when the pixel it falls in (coordinates rounded to the nearest pixel) belongs
to the region, or, with ``tolerance > 0``, when some region pixel lies within ``tolerance`` pixels
(Euclidean) of that pixel. A box is judged by its centre, as a point: a box that merely overlaps a
region (a breast-sized box over an annotated circle) is a false positive. Clusters are best
scored by their centroids (``Detection.cluster_points``) with a tolerance of 2 mm. At a score
threshold ``t`` (detections with ``score >= t`` kept):

- a region is *found* when at least one kept detection hits it; each region counts once;
- a kept detection that hits no region is a *false positive*;
- a kept detection that hits only regions already hit by others is neither TP nor FP.

Sensitivity is ``found regions / all regions`` and the FP rate is ``false positives / images``,
both over the whole data set. Sensitivities at given FP rates (0.25, 0.5, 1, 2 by default) are read
off the curve by linear interpolation between its operating points (for a repeated FP rate the
highest sensitivity is used); beyond the last operating point the curve stays flat at its last
sensitivity.

Image-level AUC: the score of an image is its highest detection score (``empty_score`` when it has
none); positive images are those with at least one annotated region.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..classes import BENIGN, MALIGNANT
from .auc import RocCurve, UndefinedMetricWarning, binary_roc

#: False-positive rates (per image) at which the sensitivity is reported.
FP_RATES = (0.25, 0.5, 1.0, 2.0)


@dataclass
class _Regions:
    """Annotated regions of one image: bounding boxes and cropped masks."""

    bboxes: np.ndarray  # (R, 4) int64, r0 c0 r1 c1 end exclusive
    crops: list[np.ndarray]  # R boolean masks of bbox size


def _regions(ground_truth: Any, classes: Sequence[int]) -> _Regions:
    from skimage.measure import label, regionprops

    if isinstance(ground_truth, np.ndarray) and ground_truth.ndim == 2:
        comp = label(np.isin(ground_truth, classes), connectivity=2)
        props = regionprops(comp)
    elif isinstance(ground_truth, Sequence | np.ndarray):
        props = []
        for i, m in enumerate(ground_truth):
            m = np.asarray(m)
            if m.ndim != 2:
                raise ValueError(f"region mask {i} must be 2-D (M, N), got shape {m.shape}")
            props += regionprops(m.astype(bool).astype(np.uint8))  # one region, may be disjoint
    else:
        raise TypeError(
            "ground truth must be a labels image (M, N) or a list of boolean region masks, got "
            f"{type(ground_truth).__name__}"
        )
    bboxes = np.array([p.bbox for p in props], dtype=np.int64).reshape(-1, 4)
    return _Regions(bboxes, [p.image for p in props])


def _parse_detections(det: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """-> (geometry (K, 2) points or (K, 4) boxes, scores (K,), is_box)."""
    if det is None:
        return np.zeros((0, 2)), np.zeros(0), False
    if isinstance(det, np.ndarray) or (
        isinstance(det, Sequence) and det and not isinstance(det[0], dict)
    ):
        a = np.asarray(det, dtype=np.float64)
        if a.size == 0:
            return np.zeros((0, 2)), np.zeros(0), False
        if a.ndim != 2 or a.shape[1] not in (3, 5):
            raise ValueError(
                "detections must be an (K, 3) array of (row, col, score) or an (K, 5) array of "
                f"(r0, c0, r1, c1, score); got shape {a.shape}"
            )
        return a[:, :-1], a[:, -1], a.shape[1] == 5
    if isinstance(det, Sequence):
        if not det:
            return np.zeros((0, 2)), np.zeros(0), False
        if "centroid" in det[0]:
            key, n = "centroid", 2
        elif "bbox" in det[0]:
            key, n = "bbox", 4
        else:
            raise ValueError("detection dicts need a 'centroid' (row, col) or a 'bbox' key")
        try:
            geom = np.array([d[key] for d in det], dtype=np.float64).reshape(-1, n)
            scores = np.array([d["score"] for d in det], dtype=np.float64)
        except KeyError as err:
            raise ValueError(
                f"every detection dict needs {key!r} and 'score'; missing {err}"
            ) from err
        return geom, scores, n == 4
    raise TypeError(f"unsupported detections type {type(det).__name__}")


def _hits(regions: _Regions, geom: np.ndarray, is_box: bool, tolerance: float) -> list[list[int]]:
    """Indices of the regions each detection hits."""
    out: list[list[int]] = []
    bb = regions.bboxes
    grow = int(np.ceil(tolerance))
    for g in geom:
        hit: list[int] = []
        if is_box:  # strict: a box counts where its centre is
            g = ((g[0] + g[2] - 1) / 2, (g[1] + g[3] - 1) / 2)
        r, c = int(np.rint(g[0])), int(np.rint(g[1]))
        cand = np.flatnonzero(
            (bb[:, 0] <= r + grow)
            & (bb[:, 2] > r - grow)
            & (bb[:, 1] <= c + grow)
            & (bb[:, 3] > c - grow)
        )
        for i in cand:
            br, bc = bb[i, 0], bb[i, 1]
            rr, cc = np.nonzero(regions.crops[i])
            d2 = (rr + br - r) ** 2 + (cc + bc - c) ** 2
            if np.any(d2 <= tolerance**2):
                hit.append(int(i))
        out.append(hit)
    return out


@dataclass
class FrocResult:
    """An FROC curve with its summary numbers.

    Attributes
    ----------
    thresholds : ndarray of shape (T + 1,)
        Score thresholds, ``inf`` first (nothing kept), then the distinct scores, decreasing.
    fp_per_image : ndarray of shape (T + 1,)
        False positives per image at each threshold.
    sensitivity : ndarray of shape (T + 1,)
        Fraction of annotated regions found at each threshold (NaN if there are no regions).
    fp_rates : ndarray of shape (F,)
        FP rates at which the sensitivity is reported.
    sensitivity_at : ndarray of shape (F,)
        Interpolated sensitivity at ``fp_rates``.
    n_images, n_regions, n_detections : int
    n_true_positives, n_false_positives : int
        At the lowest threshold (all detections kept): detections that found a new region (counted
        in score order) and detections that hit no region.
    image_roc : RocCurve
        Image-level ROC (image score = max detection score).
    """

    thresholds: np.ndarray
    fp_per_image: np.ndarray
    sensitivity: np.ndarray
    fp_rates: np.ndarray
    sensitivity_at: np.ndarray
    n_images: int
    n_regions: int
    n_detections: int
    n_true_positives: int
    n_false_positives: int
    image_roc: RocCurve = field(repr=False)

    @property
    def mean_sensitivity(self) -> float:
        """Mean of ``sensitivity_at`` (a CPM-like single number)."""
        return float(np.mean(self.sensitivity_at))

    @property
    def image_auc(self) -> float:
        return self.image_roc.auc

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (curve included)."""
        return {
            "hit_rule": "detection (a box: its centre) inside, or within the tolerance of, an "
            "annotated region; each "
            "region counted once; extra hits on a found region are neither TP nor FP",
            "n_images": self.n_images,
            "n_regions": self.n_regions,
            "n_detections": self.n_detections,
            "n_true_positives": self.n_true_positives,
            "n_false_positives": self.n_false_positives,
            "sensitivity_at_fp": {
                f"{f:g}": float(s) for f, s in zip(self.fp_rates, self.sensitivity_at)
            },
            "mean_sensitivity": self.mean_sensitivity,
            "image_auc": self.image_auc,
            "curve": {
                "threshold": [float(t) for t in self.thresholds],
                "fp_per_image": self.fp_per_image.tolist(),
                "sensitivity": self.sensitivity.tolist(),
            },
        }


def sensitivity_at_fp(
    fp_per_image: np.ndarray, sensitivity: np.ndarray, fp_rates: Sequence[float] = FP_RATES
) -> np.ndarray:
    """Sensitivity at given FP rates by linear interpolation along an FROC curve.

    Parameters
    ----------
    fp_per_image, sensitivity : ndarray of shape (T,)
        Operating points, ordered by decreasing threshold (both non-decreasing), starting at
        FP rate 0.
    fp_rates : sequence of float
        Where to read the curve. For a repeated FP rate the highest sensitivity is used; beyond
        the last operating point the last sensitivity is returned.
    """
    f = np.asarray(fp_per_image, dtype=np.float64)
    s = np.asarray(sensitivity, dtype=np.float64)
    fu, inv = np.unique(f, return_inverse=True)
    su = np.full(fu.shape, -np.inf)
    np.maximum.at(su, inv.ravel(), s)
    return np.interp(np.asarray(fp_rates, dtype=np.float64), fu, su)


def froc(
    detections: Sequence[Any],
    ground_truths: Sequence[Any],
    *,
    classes: Sequence[int] = (BENIGN, MALIGNANT),
    tolerance: float | Sequence[float] = 0.0,
    fp_rates: Sequence[float] = FP_RATES,
    empty_score: float = 0.0,
) -> FrocResult:
    """FROC analysis of point or box detections over a set of images.

    Parameters
    ----------
    detections : sequence, one entry per image
        ``(K, 3)`` (row, col, score) points, ``(K, 5)`` (r0, c0, r1, c1, score) boxes, a list of
        dicts with ``'score'`` and ``'centroid'`` or ``'bbox'``, or None. Pixels.
    ground_truths : sequence, one entry per image
        Labels image (M, N) (regions = 8-connected components of the pixels whose code is in
        ``classes``) or a list of boolean region masks (M, N).
    classes : sequence of int, keyword-only
        Codes forming regions in labels images: ``(1, 2)`` for calcifications, ``(2,)`` for
        malignant clusters (INbreast clusters are mapped to 2).
    tolerance : float or sequence of float, keyword-only
        Hit distance, pixels (0: the detection must fall inside the region); one per image when
        the images have different pixel spacings.
    fp_rates : sequence of float, keyword-only
        FP rates per image at which to report the sensitivity.
    empty_score : float, keyword-only
        Image score for the image-level AUC when an image has no detection.

    Returns
    -------
    result : FrocResult
    """
    if len(detections) != len(ground_truths):
        raise ValueError(
            f"{len(detections)} detection entries but {len(ground_truths)} ground truths; pass "
            "one of each per image (None or an empty array for no detections)"
        )
    n_images = len(ground_truths)
    if n_images == 0:
        raise ValueError("no images to score")
    tolerances = _tolerances(tolerance, n_images)
    images = [_match_image(det, gt, classes=classes, tolerance=float(tol))
              for det, gt, tol in zip(detections, ground_truths, tolerances)]
    scores = np.concatenate([m.scores for m in images])
    fp = np.concatenate([m.false_positive for m in images])
    region_best = np.concatenate([m.region_best for m in images])
    thresholds, fp_per_image, sensitivity = _curve(scores, fp, region_best, n_images=n_images)
    if region_best.size:
        sens_at = sensitivity_at_fp(fp_per_image, sensitivity, fp_rates)
    else:
        warnings.warn(
            "no annotated regions: FROC sensitivity is undefined (NaN)",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        sens_at = np.full(len(fp_rates), np.nan)
    image_scores = [m.scores.max() if m.scores.size else empty_score for m in images]
    image_pos = [m.region_best.size > 0 for m in images]
    image_roc = binary_roc(np.array(image_pos), np.array(image_scores), name="image-level AUC")
    return FrocResult(
        thresholds=thresholds,
        fp_per_image=fp_per_image,
        sensitivity=sensitivity,
        fp_rates=np.asarray(fp_rates, dtype=np.float64),
        sensitivity_at=sens_at,
        n_images=n_images,
        n_regions=region_best.size,
        n_detections=int(scores.size),
        n_true_positives=sum(m.new_regions for m in images),
        n_false_positives=int(fp.sum()),
        image_roc=image_roc,
    )


def _tolerances(tolerance: float | Sequence[float], n_images: int) -> np.ndarray:
    """One hit distance per image, pixels (N,); a single value is repeated."""
    tolerances = (np.full(n_images, float(tolerance)) if np.isscalar(tolerance)
                  else np.asarray(tolerance, dtype=np.float64))
    if tolerances.shape != (n_images,) or not np.all(tolerances >= 0):
        raise ValueError(f"tolerance must be >= 0 pixels, one value or one per image; got "
                         f"{tolerance}")
    return tolerances


@dataclass
class _ImageMatch:
    """How the detections of one image met its regions.

    Attributes
    ----------
    scores : ndarray of shape (K,), float64
        Detection scores.
    false_positive : ndarray of shape (K,), bool
        Detections that hit no region.
    region_best : ndarray of shape (R,), float64
        Per region, the highest score of a detection hitting it (``-inf``: never hit); a region
        is found at every threshold up to this score.
    new_regions : int
        Detections that found a region no higher-scored detection had found (the true
        positives with all detections kept).
    """

    scores: np.ndarray
    false_positive: np.ndarray
    region_best: np.ndarray
    new_regions: int


def _match_image(det: Any, ground_truth: Any, *, classes: Sequence[int],
                 tolerance: float) -> _ImageMatch:
    """Apply the hit rule to one image's detections and ground truth."""
    regions = _regions(ground_truth, classes)
    geom, scores, is_box = _parse_detections(det)
    if not np.all(np.isfinite(scores)):
        raise ValueError("detection scores contain NaN or inf")
    hits = _hits(regions, geom, is_box, tolerance)
    region_best = np.full(len(regions.crops), -np.inf)
    found = np.zeros(len(regions.crops), dtype=bool)
    new_regions = 0
    for k in np.argsort(-scores, kind="stable"):
        h = hits[k]
        if h:
            region_best[h] = np.maximum(region_best[h], scores[k])
            if not found[h].all():
                new_regions += 1
                found[h] = True
    false_positive = np.array([not h for h in hits], dtype=bool)
    return _ImageMatch(scores, false_positive, region_best, new_regions)


def _curve(scores: np.ndarray, false_positive: np.ndarray, region_best: np.ndarray, *,
           n_images: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The FROC operating points over the whole data set.

    Parameters
    ----------
    scores, false_positive : ndarray of shape (K,)
        Every detection's score and whether it hit no region.
    region_best : ndarray of shape (R,)
        Every region's highest hitting score (``-inf``: never hit).
    n_images : int, keyword-only

    Returns
    -------
    thresholds : ndarray of shape (T + 1,)
        ``inf``, then the distinct scores, decreasing.
    fp_per_image : ndarray of shape (T + 1,)
        False positives (score >= threshold) per image.
    sensitivity : ndarray of shape (T + 1,)
        Fraction of regions found (NaN without regions).
    """
    thresholds = np.concatenate([[np.inf], np.unique(scores)[::-1]])
    fp_sorted = np.sort(scores[false_positive])
    n_fp = fp_sorted.size - np.searchsorted(fp_sorted, thresholds, side="left")
    fp_per_image = n_fp / n_images
    n_regions = region_best.size
    if not n_regions:
        return thresholds, fp_per_image, np.full(thresholds.shape, np.nan)
    rb = np.sort(region_best)
    sensitivity = (n_regions - np.searchsorted(rb, thresholds, side="left")) / n_regions
    return thresholds, fp_per_image, sensitivity
