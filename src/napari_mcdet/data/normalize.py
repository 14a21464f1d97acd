"""The one intensity normalisation, used by training, evaluation and inference alike."""

from __future__ import annotations

import numpy as np

#: Percentiles inside the breast mapped to 0 and 1.
LOW_PERCENTILE, HIGH_PERCENTILE = 1.0, 99.5


def normalize_image(
    pixels: np.ndarray,
    *,
    breast: np.ndarray | None = None,
    low: float = LOW_PERCENTILE,
    high: float = HIGH_PERCENTILE,
) -> np.ndarray:
    """Map an image's intensities to about [0, 1], per image, robustly, inside the breast.

    ``out = (pixels - p_low) / (p_high - p_low)`` where ``p_low`` and ``p_high`` are the ``low``-th
    and ``high``-th percentiles (default 1 and 99.5) of the breast pixels; pixels outside the
    breast are set to 0. Values are **not clipped**: breast pixels darker than ``p_low`` go
    slightly negative and calcifications brighter than ``p_high`` keep their contrast above 1.
    Percentiles are computed on a strided subsample of at most ~1 M breast pixels (they move by
    far less than 1 % of the range on a mammogram).

    Parameters
    ----------
    pixels : ndarray of shape (M, N)
        Bright = dense, any dtype.
    breast : ndarray of bool of shape (M, N), optional
        The breast; :func:`napari_mcdet.data.breast.breast_mask` when None.
    low, high : float
        Percentiles, ``0 <= low < high <= 100``.

    Returns
    -------
    out : ndarray of shape (M, N), float32
    """
    img = np.asarray(pixels)
    if img.ndim != 2:
        raise ValueError(f"pixels must be a 2-D image (M, N), got shape {img.shape}")
    if not 0 <= low < high <= 100:
        raise ValueError(f"need 0 <= low < high <= 100, got low={low}, high={high}")
    img = img.astype(np.float32, copy=False)
    if breast is None:
        from .breast import breast_mask

        breast = breast_mask(img)
    breast = np.asarray(breast, dtype=bool)
    if breast.shape != img.shape:
        raise ValueError(f"breast mask shape {breast.shape} differs from image shape {img.shape}")
    step = max(1, int(np.sqrt(img.size / 1_000_000)))
    sample = img[::step, ::step][breast[::step, ::step]]
    if sample.size == 0:
        sample = img[breast] if breast.any() else img.ravel()
    p_lo, p_hi = np.percentile(sample, [low, high])
    scale = float(p_hi - p_lo)
    if scale <= 0:
        scale = 1.0
    out = (img - np.float32(p_lo)) * np.float32(1.0 / scale)
    out[~breast] = 0.0
    return out.astype(np.float32, copy=False)
