"""The paper's evaluation patches (section 7).

1. One patch centred on each malignant annotation (each 8-connected component of label 2, centred
   on its centroid rounded to the nearest pixel; the part outside the image is padded).
2. Then a non-overlapping tiling of the whole image (:func:`napari_mcdet.data.tiling.tile_grid`
   with ``overlap=0``; the last row/column of tiles is shifted back inside the image, so it may
   overlap its neighbour).

Each patch is labelled by the ground truth it contains, with priority malignant > benign > soft
tissue. Optionally, given a breast mask, tiles with too little breast are skipped; a tile holding
any annotated pixel is always kept, and so is every malignant-centred patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..classes import BENIGN, MALIGNANT, SOFT_TISSUE
from ..data.tiling import extract_patch, tile_grid

#: Patch side used by the paper, pixels.
PATCH_SIZE = 512


@dataclass(frozen=True)
class EvalPatch:
    """One evaluation patch.

    Attributes
    ----------
    origin : (int, int)
        Top-left corner (row, col), pixels; may be negative for centred patches near the border.
    size : (int, int)
        Patch extent (rows, cols), pixels.
    label : int
        0 soft tissue, 1 benign, 2 malignant (malignant > benign > soft tissue).
    source : str
        ``'malignant-centred'`` or ``'tile'``.
    breast_fraction : float
        Fraction of the patch inside the breast mask (1.0 when no mask was given).
    """

    origin: tuple[int, int]
    size: tuple[int, int]
    label: int
    source: str
    breast_fraction: float = 1.0

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """``(r0, c0, r1, c1)``, end exclusive."""
        r, c = self.origin
        return (r, c, r + self.size[0], c + self.size[1])


def patch_label(labels: np.ndarray) -> int:
    """Class of a patch from the ground truth it contains: malignant > benign > soft tissue.

    Parameters
    ----------
    labels : ndarray of int
        Ground-truth labels (0/1/2) of the patch.
    """
    labels = np.asarray(labels)
    if np.any(labels == MALIGNANT):
        return MALIGNANT
    if np.any(labels == BENIGN):
        return BENIGN
    return SOFT_TISSUE


def malignant_centres(labels: np.ndarray) -> np.ndarray:
    """Centroids ``(row, col)`` of the 8-connected components of ``labels == 2``.

    Returns
    -------
    centres : ndarray of shape (K, 2), float64
        In the order of ``skimage.measure.label`` (raster order of each component's first pixel).
    """
    from skimage.measure import label, regionprops

    comp = label(np.asarray(labels) == MALIGNANT, connectivity=2)
    return np.array([p.centroid for p in regionprops(comp)], dtype=np.float64).reshape(-1, 2)


def evaluation_patches(
    labels: np.ndarray,
    *,
    size: int | tuple[int, int] = PATCH_SIZE,
    breast_mask: np.ndarray | None = None,
    min_breast_fraction: float = 0.1,
    malignant_centred: bool = True,
) -> list[EvalPatch]:
    """List the evaluation patches of one image (malignant-centred first, then the tiling).

    Parameters
    ----------
    labels : ndarray of shape (M, N), int
        Ground truth: 0 soft tissue, 1 benign, 2 malignant.
    size : int or (int, int), keyword-only
        Patch extent, pixels (512 in the paper, at the network's pixel spacing).
    breast_mask : ndarray of shape (M, N), bool, optional
        Breast pixels; when given, tiles whose breast fraction is below ``min_breast_fraction``
        and that hold no annotation are skipped.
    min_breast_fraction : float, keyword-only
        In [0, 1]; ignored without ``breast_mask``.
    malignant_centred : bool, keyword-only
        Include the patches centred on malignant annotations (the paper does).

    Returns
    -------
    patches : list of EvalPatch
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D labels image (M, N), got shape {labels.shape}")
    sr, sc = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    if sr <= 0 or sc <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if not 0.0 <= min_breast_fraction <= 1.0:
        raise ValueError(f"min_breast_fraction must be in [0, 1], got {min_breast_fraction}")
    if breast_mask is not None:
        breast_mask = np.asarray(breast_mask, dtype=bool)
        if breast_mask.shape != labels.shape:
            raise ValueError(
                f"breast_mask shape {breast_mask.shape} differs from labels shape {labels.shape}"
            )

    def fraction(origin: tuple[int, int]) -> float:
        if breast_mask is None:
            return 1.0
        return float(extract_patch(breast_mask, origin, (sr, sc), fill=False).mean())

    out: list[EvalPatch] = []
    if malignant_centred:
        for r, c in malignant_centres(labels):
            origin = (int(round(r)) - sr // 2, int(round(c)) - sc // 2)
            lab = patch_label(extract_patch(labels, origin, (sr, sc), fill=0))
            out.append(EvalPatch(origin, (sr, sc), lab, "malignant-centred", fraction(origin)))
    for origin in tile_grid(labels.shape, (sr, sc), overlap=0):
        lab = patch_label(extract_patch(labels, origin, (sr, sc), fill=0))
        frac = fraction(origin)
        if breast_mask is not None and lab == SOFT_TISSUE and frac < min_breast_fraction:
            continue
        out.append(EvalPatch(origin, (sr, sc), lab, "tile", frac))
    return out


def extract_evaluation_patches(
    image: np.ndarray, patches: list[EvalPatch], *, fill: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the listed patches out of an image.

    Parameters
    ----------
    image : ndarray of shape (M, N) or (C, M, N)
    patches : list of EvalPatch
        From :func:`evaluation_patches` (all of one size).
    fill : float, keyword-only
        Value outside the image.

    Returns
    -------
    stack : ndarray of shape (P, size_r, size_c) or (P, C, size_r, size_c), dtype of ``image``
    labels : ndarray of shape (P,), int64
    """
    image = np.asarray(image)
    if not patches:
        raise ValueError("no patches to extract; evaluation_patches returned an empty list")
    sizes = {p.size for p in patches}
    if len(sizes) != 1:
        raise ValueError(f"patches must share one size, got {sorted(sizes)}")
    stack = np.stack([extract_patch(image, p.origin, p.size, fill=fill) for p in patches])
    return stack, np.array([p.label for p in patches], dtype=np.int64)
