"""The one hit rule and the one FROC of the package, and the image-level AUC.

Every figure of detection quality (training's model selection, calibration studies,
``mcdet evaluate``, the Score widget, ``mcdet compare``) matches detections to annotated regions
with :func:`match_points` and reads the curve with :func:`sensitivity_at_fp`.

Inputs are plain arrays, one entry per image, so that any detector can be scored:

- detections: an ``(K, 3)`` array of ``(row, col, score)`` points, an ``(K, 5)`` array of
  ``(r0, c0, r1, c1, score)`` boxes (end exclusive), or a list of dicts with ``'score'`` and either
  ``'centroid'`` ``(row, col)`` or ``'bbox'`` ``(r0, c0, r1, c1)``; ``None`` for no detections;
- ground truth: a labels image (M, N) whose pixels with a code in ``classes`` form the annotated
  regions (one region per 8-connected component), or a list of boolean region masks (M, N).

Hit rule (strict)
-----------------
A detection is a point (a box counts where its centre is: a breast-sized box over an annotated
circle is a false positive). Rounded to the nearest pixel, it hits **the nearest** region whose
pixels lie within ``tolerance`` pixels (Euclidean; 0: the point must fall inside a region); on a
tie, the region listed first. One detection therefore never finds two regions. At a score
threshold ``t`` (detections with ``score >= t`` kept):

- a region is *found* when at least one kept detection hits it; each region counts once;
- a kept detection that hits no region is a *false positive*;
- a kept detection that hits a region already found by another is neither TP nor FP.

Sensitivity is ``found regions / all regions`` and the FP rate is ``false positives / images``,
both over the whole data set. The sensitivity at an FP rate (0.25, 0.5, 1, 2 per image by
default) is the highest sensitivity of an operating point whose FP rate does not exceed it (a
step reading: every reported figure is reached by a real threshold).

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

#: The hit rule and the reading, in words (written into every report).
HIT_RULE = ("a detection (a box: its centre) hits the nearest annotated region within the "
            "tolerance; each region counted once; extra hits on a found region are neither TP "
            "nor FP; sensitivity at an FP rate: the best operating point at or under it")


@dataclass
class _Regions:
    """Annotated regions of one image: bounding boxes and cropped masks."""

    bboxes: np.ndarray  # (R, 4) int64, r0 c0 r1 c1 end exclusive
    crops: list[np.ndarray]  # R boolean masks of bbox size


def regions_of(ground_truth: Any, classes: Sequence[int] = (BENIGN, MALIGNANT)) -> _Regions:
    """The annotated regions of one image (see the module's ground-truth forms)."""
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


def match_points(points: np.ndarray, regions: _Regions, *, tolerance: float) -> np.ndarray:
    """The hit rule: the region each point hits, ``-1`` for none.

    Parameters
    ----------
    points : ndarray of shape (K, 2)
        (row, col), pixels; rounded to the nearest pixel.
    regions : _Regions
        The annotated regions (:func:`regions_of`).
    tolerance : float
        Largest distance from the point's pixel to a region pixel, pixels.

    Returns
    -------
    region : ndarray of shape (K,), int64
        Index of the nearest region within ``tolerance`` (the first on a tie), or -1.
    """
    pts = np.rint(np.asarray(points, dtype=np.float64).reshape(-1, 2)).astype(np.int64)
    out = np.full(len(pts), -1, dtype=np.int64)
    bb = regions.bboxes
    grow = int(np.ceil(tolerance))
    for k, (r, c) in enumerate(pts):
        near = np.flatnonzero((bb[:, 0] <= r + grow) & (bb[:, 2] > r - grow)
                              & (bb[:, 1] <= c + grow) & (bb[:, 3] > c - grow))
        best, best_d2 = -1, np.inf
        for i in near:
            rr, cc = np.nonzero(regions.crops[i])
            d2 = float(np.min((rr + bb[i, 0] - r) ** 2 + (cc + bb[i, 1] - c) ** 2))
            if d2 <= tolerance ** 2 and d2 < best_d2:
                best, best_d2 = int(i), d2
        out[k] = best
    return out


def _centres(geom: np.ndarray, is_box: bool) -> np.ndarray:
    """Points (K, 2): a box's centre, end-exclusive corners."""
    if not is_box:
        return geom.reshape(-1, 2)
    return np.stack([(geom[:, 0] + geom[:, 2] - 1) / 2, (geom[:, 1] + geom[:, 3] - 1) / 2], 1)


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
        Sensitivity at ``fp_rates`` (:func:`sensitivity_at_fp`).
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
            "hit_rule": HIT_RULE,
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
    """Sensitivity at given FP rates: the best operating point that does not exceed each rate.

    A step reading rather than a linear interpolation between two operating points: the figure
    is one that a threshold actually gives (an interpolated one is reached by no threshold, and
    on few images it rises between the steps of a curve that has not risen).

    Parameters
    ----------
    fp_per_image, sensitivity : ndarray of shape (T,)
        Operating points (any order), false positives per image and the fraction of regions
        found at each.
    fp_rates : sequence of float
        False positives per image at which to read the curve.

    Returns
    -------
    sensitivity_at : ndarray of shape (F,)
        The highest sensitivity whose FP rate is at most each rate; 0 when no operating point is.
    """
    f = np.asarray(fp_per_image, dtype=np.float64)
    s = np.asarray(sensitivity, dtype=np.float64)
    out = []
    for rate in np.asarray(fp_rates, dtype=np.float64):
        ok = f <= rate + 1e-12
        out.append(float(s[ok].max()) if ok.any() else 0.0)
    return np.array(out)


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
    regions = regions_of(ground_truth, classes)
    geom, scores, is_box = _parse_detections(det)
    if not np.all(np.isfinite(scores)):
        raise ValueError("detection scores contain NaN or inf")
    hits = match_points(_centres(geom, is_box), regions, tolerance=tolerance)
    region_best = np.full(len(regions.crops), -np.inf)
    found = np.zeros(len(regions.crops), dtype=bool)
    new_regions = 0
    for k in np.argsort(-scores, kind="stable"):
        h = hits[k]
        if h >= 0:
            region_best[h] = max(region_best[h], scores[k])
            new_regions += int(not found[h])
            found[h] = True
    false_positive = hits < 0
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


def found_and_false(points: np.ndarray, regions: _Regions, *, tolerance: float) -> tuple[int, int]:
    """The hit rule's counts for one image's kept detections: ``(regions found, false
    positives)`` (points (K, 2), pixels; ``tolerance`` in pixels)."""
    hits = match_points(points, regions, tolerance=tolerance)
    return int(np.unique(hits[hits >= 0]).size), int((hits < 0).sum())


@dataclass
class FrocCounts:
    """What the hit rule counts per image and threshold: an FROC before it is summed.

    For a detector whose detections change with the threshold (clusters formed anew at each
    threshold of the probability maps), where a single scored list of detections cannot
    describe the curve.

    Attributes
    ----------
    thresholds : ndarray of shape (T,)
        Decreasing.
    found : ndarray of shape (T, N), int
        Regions found in image n at threshold t.
    false : ndarray of shape (T, N), int
        False positives in image n at threshold t.
    regions : ndarray of shape (N,), int
        Annotated regions per image.
    tolerance_mm : float
        The hit rule's tolerance, mm.
    """

    thresholds: np.ndarray
    found: np.ndarray
    false: np.ndarray
    regions: np.ndarray
    tolerance_mm: float

    @staticmethod
    def join(parts: Sequence[FrocCounts]) -> FrocCounts:
        """The counts of several image sets swept at the same thresholds, side by side."""
        if not parts:
            raise ValueError("no counts to join")
        first = parts[0]
        for p in parts[1:]:
            if not np.array_equal(p.thresholds, first.thresholds) or (
                    p.tolerance_mm != first.tolerance_mm):
                raise ValueError("counts swept at different thresholds or tolerances cannot be "
                                 "joined")
        return FrocCounts(first.thresholds, np.concatenate([p.found for p in parts], axis=1),
                          np.concatenate([p.false for p in parts], axis=1),
                          np.concatenate([p.regions for p in parts]), first.tolerance_mm)

    def result(self, *, image_roc: RocCurve, fp_rates: Sequence[float] = FP_RATES
               ) -> FrocResult:
        """The counts as a :class:`FrocResult` (what the report writers take); the image-level
        ROC comes from the caller, as counts carry no scores. Detections and true and false
        positives are counted at the lowest threshold."""
        d = froc_from_counts(self, fp_rates=fp_rates)
        return FrocResult(
            thresholds=np.asarray(d["thresholds"]), fp_per_image=np.asarray(d["fp_per_image"]),
            sensitivity=np.asarray(d["sensitivity"]), fp_rates=np.asarray(d["fp_rates"]),
            sensitivity_at=np.asarray(d["sensitivity_at"]), n_images=d["n_images"],
            n_regions=d["n_regions"],
            n_detections=int(self.found[-1].sum() + self.false[-1].sum()),
            n_true_positives=int(self.found[-1].sum()),
            n_false_positives=int(self.false[-1].sum()), image_roc=image_roc)


def froc_from_counts(counts: FrocCounts, *, fp_rates: Sequence[float] = FP_RATES,
                     images: np.ndarray | None = None) -> dict[str, Any]:
    """FROC figures from per-image counts, over all images or over ``images``.

    Parameters
    ----------
    counts : FrocCounts
    fp_rates : sequence of float, keyword-only
        False positives per image at which the sensitivity is read (:func:`sensitivity_at_fp`).
    images : ndarray of int, keyword-only
        Indices of the images to sum over, repeats allowed (a bootstrap resample); all when None.

    Returns
    -------
    dict
        ``thresholds``, ``fp_per_image``, ``sensitivity`` (the curve, decreasing threshold),
        ``fp_rates``, ``sensitivity_at``, ``mean_sensitivity``, ``n_regions``, ``n_images``,
        ``tolerance_mm``, ``hit_rule``.
    """
    idx = np.arange(counts.regions.size) if images is None else np.asarray(images, np.int64)
    if idx.size == 0:
        raise ValueError("no images to score")
    n_regions = int(counts.regions[idx].sum())
    if n_regions == 0:
        raise ValueError("no annotated region in the images scored: a sensitivity needs at "
                         "least one lesion")
    sens = counts.found[:, idx].sum(axis=1) / n_regions
    fp = counts.false[:, idx].sum(axis=1) / idx.size
    at = sensitivity_at_fp(fp, sens, fp_rates)
    return {
        "thresholds": np.asarray(counts.thresholds, np.float64).tolist(),
        "fp_per_image": fp.tolist(),
        "sensitivity": sens.tolist(),
        "fp_rates": [float(r) for r in fp_rates],
        "sensitivity_at": at.tolist(),
        "mean_sensitivity": float(np.mean(at)),
        "n_regions": n_regions,
        "n_images": int(idx.size),
        "tolerance_mm": float(counts.tolerance_mm),
        "hit_rule": HIT_RULE,
    }
