"""The breast mask: breast tissue only, without background, label text and burned-in markers."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage import filters, morphology, transform


def breast_mask(
    image: np.ndarray,
    *,
    smooth_sigma: float = 2.0,
    work_size: int = 512,
    threshold: float | None = None,
) -> np.ndarray:
    """Boolean mask of the breast (and pectoral muscle) in a mammogram.

    The image is shrunk to at most ``work_size`` pixels on its longest side (block mean), smoothed,
    thresholded, and the largest connected component is kept, with its holes filled; a small
    opening first cuts thin bridges to labels or markers touching the breast. Works on 8-bit film
    scans (mini-MIAS: noisy film background, bright labels) and on 12/14/16-bit digital images
    (background at or near zero).

    Threshold: the lower of Otsu's and the triangle threshold on the smoothed work image (a
    fatty breast is much darker than dense tissue; Otsu alone can split fat from gland, the
    triangle method follows the background peak), raised to at least 2 % of the range above the
    background level so film grain stays out.

    Parameters
    ----------
    image : ndarray of shape (M, N)
        Bright = dense, any dtype.
    smooth_sigma : float
        Gaussian smoothing on the work image, pixels of the work image.
    work_size : int
        Longest side of the shrunk work image, pixels.
    threshold : float, optional
        Fixed threshold in the image's units instead of the automatic one.

    Returns
    -------
    mask : ndarray of bool of shape (M, N)
    """
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"image must be 2-D (M, N), got shape {img.shape}")
    if img.size == 0:
        raise ValueError("image is empty")
    img = img.astype(np.float32, copy=False)
    factor = max(1, int(np.ceil(max(img.shape) / work_size)))
    if factor > 1:
        small = transform.downscale_local_mean(img, (factor, factor))
    else:
        small = img
    small = filters.gaussian(small, smooth_sigma, preserve_range=True)
    lo, hi = float(small.min()), float(small.max())
    if hi - lo <= 0:
        return np.zeros(img.shape, dtype=bool)
    if threshold is None:
        t = min(filters.threshold_otsu(small), filters.threshold_triangle(small))
        t = max(t, lo + 0.02 * (hi - lo))
    else:
        t = float(threshold)
    fg = small > t
    fg = ndi.binary_opening(fg, structure=morphology.disk(2))
    lab, n = ndi.label(fg)
    if n == 0:
        return np.zeros(img.shape, dtype=bool)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    fg = ndi.binary_fill_holes(lab == int(np.argmax(sizes)))
    if factor > 1:
        fg = np.repeat(np.repeat(fg, factor, axis=0), factor, axis=1)
        fg = fg[: img.shape[0], : img.shape[1]]
        pad = ((0, img.shape[0] - fg.shape[0]), (0, img.shape[1] - fg.shape[1]))
        fg = np.pad(fg, pad, mode="edge")
    return np.ascontiguousarray(fg)
