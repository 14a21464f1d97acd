"""From probability maps to calcifications and clusters, on the network's grid.

Calcifications are the local maxima of the calcification probability (the larger of the benign
and malignant maps) that pass a class's threshold, with non-maximum suppression, none within
``skin_margin_mm`` of the breast's outline (the skin line and the film edge light up on film) and
none on a connected response larger than a calcification can be (``max_area_mm2``).

Each calcification's ``score`` then also weighs the classification heads of the tiles under it
(:func:`weigh_by_tiles`, the rule clusters use): a bright speck on tissue the heads call normal
ranks below one where they see calcifications. The thresholds apply to the probability maps, so
the candidates themselves do not depend on it.

Clusters follow BI-RADS ("at least 3 calcifications within 1 cm^2"): complete-linkage groups of
calcification centroids whose members are all within ``diameter_mm`` (10 mm) of each other, so a
cluster fits in a 1 cm circle (0.79 cm^2) and candidates can never chain into breast-sized boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..classes import BENIGN, MALIGNANT
from ..constants import (  # noqa: F401  (public here as well)
    DEFAULT_CLUSTER_DIAMETER_MM,
    DEFAULT_CLUSTER_MIN_COUNT,
    DEFAULT_MAX_AREA_MM2,
    DEFAULT_NMS_MM,
    DEFAULT_SKIN_MARGIN_MM,
)


def skin_margin_mask(breast: np.ndarray, *, margin_mm: float, pixel_spacing: float) -> np.ndarray:
    """The breast without a band of ``margin_mm`` along its outline (bool, same shape)."""
    from scipy import ndimage as ndi

    px = int(round(float(margin_mm) / float(pixel_spacing)))
    if px <= 0:
        return np.asarray(breast, bool)
    return ndi.binary_erosion(breast, iterations=px, border_value=0)


def find_candidates(
    probabilities: np.ndarray,
    breast: np.ndarray,
    thresholds: dict[str, float],
    *,
    pixel_spacing: tuple[float, float],
    skin_margin_mm: float = DEFAULT_SKIN_MARGIN_MM,
    max_area_mm2: float = DEFAULT_MAX_AREA_MM2,
    nms_mm: float = DEFAULT_NMS_MM,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Calcification candidates on the grid of ``probabilities``.

    Parameters
    ----------
    probabilities : ndarray of shape (2, M, N), float32
        Benign and malignant probabilities.
    breast : ndarray of shape (M, N), bool
    thresholds : dict
        ``{'benign': t_b, 'malignant': t_m}``: a pixel responds when either class passes.
    pixel_spacing : (float, float)
        mm per pixel of this grid.
    skin_margin_mm, max_area_mm2, nms_mm : float
        See the module docstring.

    Returns
    -------
    calcifications : list of dict
        ``id``, ``centroid`` (row, col) (the peak), ``bbox`` (r0, c0, r1, c1) of its response,
        ``area_px``, ``area_mm2`` (of the connected response it sits on), ``class``, ``score``
        and ``pixel_score`` (that class's probability at the peak), ``tile_score`` (None: see
        :func:`weigh_by_tiles`), ``benign_score``, ``malignant_score``; strongest first.
    kept : ndarray of shape (M, N), bool
        The responses the candidates sit on (for a labels image).
    """
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max

    pb, pm = probabilities[0], probabilities[1]
    responds = ((pb > thresholds["benign"]) | (pm > thresholds["malignant"])) & breast
    comp, n = ndi.label(responds, structure=np.ones((3, 3), bool))
    kept = np.zeros(responds.shape, bool)
    if n == 0:
        return [], kept
    pixel_mm2 = float(pixel_spacing[0] * pixel_spacing[1])
    areas = np.bincount(comp.ravel(), minlength=n + 1) * pixel_mm2
    inner = skin_margin_mask(breast, margin_mm=skin_margin_mm, pixel_spacing=min(pixel_spacing))
    ok_comp = areas <= max_area_mm2
    ok_comp[0] = False
    score = np.maximum(pb, pm)
    allowed = ok_comp[comp] & inner
    nms_px = max(1, int(round(nms_mm / min(pixel_spacing))))
    peaks = peak_local_max(np.where(allowed, score, 0.0), min_distance=nms_px,
                           threshold_abs=float(min(thresholds.values())), exclude_border=False)
    slices = ndi.find_objects(comp)
    out: list[dict[str, Any]] = []
    for r, c in peaks:
        k = int(comp[r, c])
        if k == 0:
            continue
        b, m = float(pb[r, c]), float(pm[r, c])
        passes_m, passes_b = m > thresholds["malignant"], b > thresholds["benign"]
        cls = MALIGNANT if passes_m and (m >= b or not passes_b) else BENIGN
        sl = slices[k - 1]
        kept[sl] |= comp[sl] == k
        out.append({
            "centroid": _peak_centroid(score, comp, k, (r, c), nms_px),
            "bbox": (sl[0].start, sl[1].start, sl[0].stop, sl[1].stop),
            "area_px": int(round(areas[k] / pixel_mm2)),
            "area_mm2": float(areas[k]),
            "class": int(cls),
            "score": m if cls == MALIGNANT else b,
            "pixel_score": m if cls == MALIGNANT else b,
            "tile_score": None,
            "benign_score": b,
            "malignant_score": m,
        })
    out.sort(key=lambda d: -d["score"])
    for i, d in enumerate(out):
        d["id"] = i
    return out, kept


def weigh_by_tiles(calcifications: Sequence[dict[str, Any]], *,
                   tiles: Sequence[dict[str, Any]] | None, tile: int | None,
                   ) -> list[dict[str, Any]]:
    """Calcification scores that also weigh the classification heads of the tiles under them.

    Parameters
    ----------
    calcifications : sequence of dict
        From :func:`find_candidates` (``centroid`` on the tiles' grid, ``score``).
    tiles : sequence of dict or None
        The tiles run (``origin`` (row, col), ``probabilities`` (soft, benign, malignant) of the
        classification heads), with their side ``tile`` in pixels.

    Returns
    -------
    list of dict
        Copies with ``pixel_score`` (the probability at the peak), ``tile_score`` (1 - soft
        tissue of the most confident tile holding the peak, None where no tile does) and
        ``score = (pixel_score + tile_score) / 2`` (``pixel_score`` without a tile score),
        strongest first and numbered again; unchanged copies without tiles.

    Notes
    -----
    The pixel maps see a few millimetres around a speck; the heads see the whole tile, which
    tells film grain and vessel walls from calcified tissue better (their patch AUCs are the
    model's strongest figures). Clusters combine the two the same way (:func:`group_clusters`).
    """
    heads = _tile_heads(tiles, tile)
    out = []
    for c in calcifications:
        d = dict(c)
        d["pixel_score"] = pixel = float(c.get("pixel_score", c["score"]))
        d["tile_score"] = None if heads is None else heads(np.asarray(c["centroid"], float))[0]
        d["score"] = pixel if d["tile_score"] is None else 0.5 * (pixel + d["tile_score"])
        out.append(d)
    out.sort(key=lambda d: -d["score"])
    for i, d in enumerate(out):
        d["id"] = i
    return out


def _peak_centroid(score: np.ndarray, comp: np.ndarray, k: int, peak: tuple[int, int],
                   radius: int) -> tuple[float, float]:
    """Score-weighted centroid of response ``k`` within ``radius`` pixels of its ``peak``
    (a plateau's peak pixel is an arbitrary one of its pixels)."""
    r, c = int(peak[0]), int(peak[1])
    r0, c0 = max(0, r - radius), max(0, c - radius)
    w = score[r0:r + radius + 1, c0:c + radius + 1] * (comp[r0:r + radius + 1,
                                                            c0:c + radius + 1] == k)
    total = float(w.sum())
    if total <= 0:
        return float(r), float(c)
    rows, cols = np.indices(w.shape)
    return float((w * rows).sum() / total + r0), float((w * cols).sum() / total + c0)


def group_clusters(
    calcifications: Sequence[dict[str, Any]],
    *,
    pixel_spacing: tuple[float, float],
    diameter_mm: float = DEFAULT_CLUSTER_DIAMETER_MM,
    min_count: int = DEFAULT_CLUSTER_MIN_COUNT,
    tiles: Sequence[dict[str, Any]] | None = None,
    tile: int | None = None,
) -> list[dict[str, Any]]:
    """Clusters: complete-linkage groups of calcifications all within ``diameter_mm``.

    Parameters
    ----------
    calcifications : sequence of dict
        With ``centroid``, ``bbox``, ``score``, ``benign_score``, ``malignant_score``, ``class``.
    pixel_spacing : (float, float)
        mm per pixel of the calcifications' coordinates.
    diameter_mm : float
        Largest centroid distance between two members (complete linkage cut), mm.
    min_count : int
        Members needed.
    tiles : sequence of dict, optional
        The tiles run (``origin`` (row, col) on the same grid, ``probabilities`` (soft, benign,
        malignant) of the classification heads), with their side ``tile``: the cluster's score
        then also weighs the heads of the tiles that hold its centroid.

    Returns
    -------
    list of dict
        ``id``, ``bbox`` (the members' extent), ``centroid``, ``n_calcifications``,
        ``calcification_ids``, ``class``, ``score``, ``benign_score``, ``malignant_score``,
        ``member_score`` (mean of the three best members' ``pixel_score``, else ``score``),
        ``tile_score`` (1 - soft tissue of the most confident tile holding the centroid, or
        None); highest score first.

    Notes
    -----
    ``score = (member_score + tile_score) / 2`` (``member_score`` alone without tiles). The class
    is malignant when the mean of the tile heads' malignant share and the members' malignant
    share reaches one half; ``benign_score`` and ``malignant_score`` split ``score`` by it.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    if not diameter_mm > 0:
        raise ValueError(f"cluster diameter must be a positive number of mm, got {diameter_mm}")
    if min_count < 1:
        raise ValueError(f"cluster_min_count must be >= 1, got {min_count}")
    n = len(calcifications)
    if n < min_count or n == 0:
        return []
    pts = np.array([c["centroid"] for c in calcifications], dtype=np.float64).reshape(-1, 2)
    mm = pts * np.asarray(pixel_spacing, dtype=np.float64)
    group = (np.ones(1, int) if n == 1
             else fcluster(linkage(mm, "complete"), float(diameter_mm), "distance"))
    heads = _tile_heads(tiles, tile)
    out = []
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        if members.size < min_count:
            continue
        sub = [calcifications[i] for i in members]
        boxes = np.array([c["bbox"] for c in sub])
        centroid = pts[members].mean(0)
        # the members' own probabilities: their tile-weighed scores would count the heads twice
        scores = np.sort([c.get("pixel_score", c["score"]) for c in sub])[::-1]
        member_score = float(scores[:3].mean())
        mal_members = float(np.mean([c["class"] == MALIGNANT for c in sub]))
        tile_score, mal_share = None, mal_members
        if heads is not None:
            tile_score, tile_mal = heads(centroid)
            if tile_score is not None:
                mal_share = 0.5 * (mal_members + tile_mal)
        score = member_score if tile_score is None else 0.5 * (member_score + tile_score)
        cls = MALIGNANT if mal_share >= 0.5 else BENIGN
        out.append({
            "bbox": (int(boxes[:, 0].min()), int(boxes[:, 1].min()),
                     int(boxes[:, 2].max()), int(boxes[:, 3].max())),
            "centroid": (float(centroid[0]), float(centroid[1])),
            "n_calcifications": int(members.size),
            "calcification_ids": [int(c["id"]) for c in sub],
            "class": int(cls),
            "score": float(score),
            "benign_score": float(score * (1 - mal_share)),
            "malignant_score": float(score * mal_share),
            "member_score": member_score,
            "tile_score": tile_score,
        })
    out.sort(key=lambda c: -c["score"])
    for k, c in enumerate(out):
        c["id"] = k
    return out


def _tile_heads(tiles, tile):
    """A function centroid -> (1 - soft tissue, malignant share) of the most confident tile
    holding the centroid, or None when no tiles are given."""
    if not tiles or tile is None:
        return None
    origins = np.array([t["origin"] for t in tiles], dtype=np.float64).reshape(-1, 2)
    probs = np.array([t["probabilities"] for t in tiles], dtype=np.float64).reshape(-1, 3)

    def heads(centroid):
        inside = np.all((origins <= centroid) & (centroid < origins + tile), axis=1)
        if not inside.any():
            return None, 0.5
        p = probs[inside]
        best = int(np.argmin(p[:, 0]))
        b, m = p[best, 1], p[best, 2]
        return float(1.0 - p[best, 0]), float(m / (b + m)) if b + m > 0 else 0.5

    return heads
