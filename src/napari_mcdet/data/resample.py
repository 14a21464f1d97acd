"""Resampling images and label images to a target pixel spacing (mm)."""

from __future__ import annotations

import numpy as np
from skimage import transform

from ..spacing import as_spacing


def target_shape(
    shape: tuple[int, int], spacing, target_spacing
) -> tuple[int, int]:
    """Shape of an image of ``shape`` at ``spacing`` once resampled to ``target_spacing``."""
    s, t = as_spacing(spacing, name="spacing"), as_spacing(target_spacing, name="target_spacing")
    return (
        max(1, int(round(shape[0] * s[0] / t[0]))),
        max(1, int(round(shape[1] * s[1] / t[1]))),
    )


def resample_to_spacing(
    image: np.ndarray,
    spacing: float | tuple[float, float],
    target_spacing: float | tuple[float, float],
    *,
    order: int = 1,
) -> np.ndarray:
    """Resample a 2-D image from ``spacing`` to ``target_spacing`` (mm/pixel).

    Shrinking applies a Gaussian anti-aliasing filter first (``skimage.transform.resize`` with
    ``anti_aliasing=True``); enlarging interpolates with spline ``order`` (1 = bilinear). The
    physical extent is kept: ``new_shape = round(shape * spacing / target_spacing)``. Returns the
    image itself (as float32) when the spacings already agree to 0.1 %.

    Parameters
    ----------
    image : ndarray of shape (M, N)
    spacing, target_spacing : float or (float, float)
        (row_mm, col_mm) per pixel.
    order : int
        Spline order, 0-5.

    Returns
    -------
    out : ndarray of shape (M', N'), float32
    """
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"image must be 2-D (M, N), got shape {img.shape}")
    s, t = as_spacing(spacing, name="spacing"), as_spacing(target_spacing, name="target_spacing")
    if abs(s[0] / t[0] - 1) < 1e-3 and abs(s[1] / t[1] - 1) < 1e-3:
        return img.astype(np.float32, copy=False)
    shape = target_shape(img.shape, s, t)
    shrink = shape[0] < img.shape[0] or shape[1] < img.shape[1]
    out = transform.resize(
        img.astype(np.float32, copy=False),
        shape,
        order=order,
        mode="edge",
        anti_aliasing=shrink,
        preserve_range=True,
    )
    return out.astype(np.float32, copy=False)


def resample_labels(
    labels: np.ndarray,
    spacing: float | tuple[float, float],
    target_spacing: float | tuple[float, float],
) -> np.ndarray:
    """Resample a label image (or a boolean mask) with nearest neighbour, keeping its dtype."""
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"labels must be 2-D (M, N), got shape {lab.shape}")
    s, t = as_spacing(spacing, name="spacing"), as_spacing(target_spacing, name="target_spacing")
    if abs(s[0] / t[0] - 1) < 1e-3 and abs(s[1] / t[1] - 1) < 1e-3:
        return lab
    shape = target_shape(lab.shape, s, t)
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * lab.shape[0] / shape[0]).astype(int),
                      lab.shape[0] - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * lab.shape[1] / shape[1]).astype(int),
                      lab.shape[1] - 1)
    return lab[rows[:, None], cols[None, :]]
