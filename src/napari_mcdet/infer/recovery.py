"""What a detection recovered of an image's ground truth, under the package's strict hit rule.

One summary for every place that shows it next to a detection (``mcdet demo --headless``, the
Detect panel): lesions and calcifications found, and the marks and clusters away from any truth.
The hit rule is :func:`napari_mcdet.metrics.froc.match_points` (a detection's centre within a
tolerance of a region, the nearest region, each counted once):

- **lesions**: a detected cluster's centre within ``cluster_tolerance_mm`` (2 mm, as the
  cluster FROC) of a lesion. A synthetic lesion's region is the convex hull of its
  calcifications (what an annotator outlines); an annotation's regions (INbreast cluster
  outlines and single calcifications, mini-MIAS circles) are its 8-connected components.
- **calcifications** (calcification-level truth only: synthetic lesions): a detected mark's
  centre within ``tolerance_mm`` (0.5 mm) of the calcification.
- **away from any truth**: marks farther than ``tolerance_mm``, and clusters farther than
  ``cluster_tolerance_mm``, from every truth region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..constants import DEFAULT_TOLERANCE_MM

__all__ = ["RECOVERY_TOLERANCE_MM", "Recovery", "lesion_regions", "recovery_summary"]

#: Largest distance (mm) from a detected mark's centre to a calcification that recovers it: a
#: calcification is 0.1-1 mm across, and marks sit on the probability peak inside it.
RECOVERY_TOLERANCE_MM = 0.5


@dataclass
class Recovery:
    """The counts of :func:`recovery_summary`.

    Attributes
    ----------
    lesions_found, lesions_total : int
        Lesions hit by a detected cluster, and all lesions.
    calcifications_found, calcifications_total : int or None
        Calcifications hit by a detected mark, and all of them; None for lesion-level truth.
    false_marks, false_clusters : int
        Detected marks and clusters that hit no truth.
    lesions : list of dict
        Per synthetic lesion: ``kind``, ``found`` (by a cluster), ``calcifications_found``,
        ``calcifications_total``; empty for lesion-level truth.
    tolerance_mm, cluster_tolerance_mm : float
        The hit rule's tolerances for marks and clusters.
    """

    lesions_found: int
    lesions_total: int
    calcifications_found: int | None
    calcifications_total: int | None
    false_marks: int
    false_clusters: int
    lesions: list[dict[str, Any]] = field(default_factory=list)
    tolerance_mm: float = RECOVERY_TOLERANCE_MM
    cluster_tolerance_mm: float = DEFAULT_TOLERANCE_MM

    def line(self) -> str:
        """``'lesions found 0 of 2, calcifications 1 of 16, 8 marks and 1 cluster away from
        any truth'``."""
        parts = [f"lesions found {self.lesions_found} of {self.lesions_total}"]
        if self.calcifications_total is not None:
            parts.append(f"calcifications {self.calcifications_found} of "
                         f"{self.calcifications_total}")
        marks = f"{self.false_marks} mark{'' if self.false_marks == 1 else 's'}"
        clusters = f"{self.false_clusters} cluster{'' if self.false_clusters == 1 else 's'}"
        return f"{', '.join(parts)}, {marks} and {clusters} away from any truth"

    def rule(self) -> str:
        """The hit rule in words, with its tolerances."""
        text = f"a lesion is found by a cluster centred within {self.cluster_tolerance_mm:g} mm"
        if self.calcifications_total is not None:
            text += (f", a calcification by a mark centred within {self.tolerance_mm:g} mm")
        return text


def lesion_regions(truth: np.ndarray, lesions: Sequence[dict[str, Any]]) -> list[np.ndarray]:
    """One boolean mask per synthetic lesion: the convex hull of the truth pixels in its box.

    Parameters
    ----------
    truth : ndarray of shape (M, N)
        Calcification labels (0 background).
    lesions : sequence of dict
        With ``bbox`` (r0, c0, r1, c1), pixels, end exclusive.
    """
    from skimage.morphology import convex_hull_image

    out = []
    for lesion in lesions:
        r0, c0, r1, c1 = (int(v) for v in lesion["bbox"])
        r0, c0 = max(r0, 0), max(c0, 0)
        mask = np.zeros(truth.shape, bool)
        inside = truth[r0:r1, c0:c1] > 0
        if inside.any():
            mask[r0:r1, c0:c1] = convex_hull_image(inside) if inside.sum() > 2 else inside
        out.append(mask)
    return out


def _centroids(records: Sequence[dict[str, Any]]) -> np.ndarray:
    return np.array([r["centroid"] for r in records], np.float64).reshape(-1, 2)


def recovery_summary(
    detection: Any,
    truth: np.ndarray,
    *,
    lesions: Sequence[dict[str, Any]] | None = None,
    tolerance_mm: float = RECOVERY_TOLERANCE_MM,
    cluster_tolerance_mm: float = DEFAULT_TOLERANCE_MM,
) -> Recovery:
    """Lesions and calcifications of ``truth`` that ``detection`` recovered (strict rule).

    Parameters
    ----------
    detection : Detection
        :func:`napari_mcdet.detect`'s result (its calcifications, clusters and pixel spacing).
    truth : ndarray of shape (M, N), int
        Ground truth on the detection's grid: 0 background, 1 benign, 2 malignant.
    lesions : sequence of dict, keyword-only, optional
        Synthetic lesions (``bbox``, ``kind``; :func:`napari_mcdet.synth.lesions.synthesize`'s
        records): ``truth`` then holds their calcifications. None: ``truth`` holds lesion-level
        regions (annotated clusters and calcifications, circles), each of which is a lesion.
    tolerance_mm, cluster_tolerance_mm : float, keyword-only
        How far (mm) a mark's or a cluster's centre may lie from a region to hit it.

    Returns
    -------
    Recovery
    """
    from ..metrics.froc import match_points, regions_of

    truth = np.asarray(truth)
    if truth.shape != tuple(detection.shape):
        raise ValueError(f"the ground truth is {truth.shape[0]} x {truth.shape[1]} pixels and "
                         f"the detection {detection.shape[0]} x {detection.shape[1]}: they must "
                         "cover the same image grid")
    px = float(min(detection.pixel_spacing))
    marks = _centroids(detection.calcifications)
    clusters = _centroids(detection.clusters)
    truth_regions = regions_of(truth)
    mark_hits = match_points(marks, truth_regions, tolerance=tolerance_mm / px)
    n_truth = len(truth_regions.bboxes)
    if lesions is None:
        cluster_hits = match_points(clusters, truth_regions,
                                    tolerance=cluster_tolerance_mm / px)
    else:  # a lesion with no calcification in the image has no region to hit
        masks = lesion_regions(truth, lesions)
        drawn = np.array([i for i, m in enumerate(masks) if m.any()] + [-1], np.int64)
        hits = match_points(clusters, regions_of([masks[i] for i in drawn[:-1]]),
                            tolerance=cluster_tolerance_mm / px)
        cluster_hits = drawn[hits]  # -1 stays -1 (the appended last entry)
    common = {"false_marks": int((mark_hits < 0).sum()),
              "false_clusters": int((cluster_hits < 0).sum()),
              "lesions_found": int(np.unique(cluster_hits[cluster_hits >= 0]).size),
              "tolerance_mm": tolerance_mm, "cluster_tolerance_mm": cluster_tolerance_mm}
    if lesions is None:
        return Recovery(lesions_total=n_truth, calcifications_found=None,
                        calcifications_total=None, **common)

    found = set(mark_hits[mark_hits >= 0].tolist())
    per_lesion = []
    for i, lesion in enumerate(lesions):
        r0, c0, r1, c1 = (int(v) for v in lesion["bbox"])
        bb = truth_regions.bboxes
        inside = np.flatnonzero((bb[:, 0] >= r0) & (bb[:, 1] >= c0)
                                & (bb[:, 2] <= r1) & (bb[:, 3] <= c1))
        per_lesion.append({
            "kind": str(lesion.get("kind", "lesion")),
            "found": bool((cluster_hits == i).any()),
            "calcifications_found": sum(int(k) in found for k in inside),
            "calcifications_total": int(inside.size),
        })
    return Recovery(lesions_total=len(lesions), calcifications_found=len(found),
                    calcifications_total=n_truth, lesions=per_lesion, **common)
