"""The one preparation of an image for the network: breast mask, resampling, normalisation.

Training, calibration, detection and evaluation all call :func:`prepare_image`, so the network
sees the same arrays in training and in use.

Order: the breast mask is found on the image as read (or taken from its metadata), then carried
to the network's grid by nearest neighbour; the image is resampled and normalised inside it.
Measured against the other order (resample, then find the mask) on breast phantoms with a
0.5 mm skin line, drawn at 0.07, 0.1 and 0.2 mm and prepared at the two other spacings, also as
a small breast in a field twice its size (36 cases, ``docs/scripts/preparation_order_study.py``):
both orders keep the whole 1 mm band inside the skin line in every case, and their Dice with
the true breast differ by at most 0.007 (0.96-0.98 both), neither order winning consistently.
So the order the bundled model was trained with is the one: a mask known on the source grid
(a phantom's, a reader's) is used as is, and training and use see the same arrays.
"""

from __future__ import annotations

import numpy as np

from ..mammogram import Mammogram
from ..spacing import as_spacing
from .breast import breast_mask
from .normalize import normalize_image
from .resample import resample_labels, resample_to_spacing


def prepare_image(
    mammogram: Mammogram,
    *,
    pixel_spacing: float | tuple[float, float],
    labels: np.ndarray | None = None,
    breast: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Prepare a mammogram for the network at ``pixel_spacing``.

    Parameters
    ----------
    mammogram : Mammogram
        With its pixel spacing; a known breast mask in ``metadata['breast_mask']`` (source grid)
        is used instead of finding one.
    pixel_spacing : float or (float, float), keyword-only
        The network's grid, mm/pixel.
    labels : ndarray of shape (M, N), keyword-only, optional
        Ground truth on the source grid (0/1/2), carried to the new grid (nearest neighbour).
    breast : ndarray of shape (M, N), bool, keyword-only, optional
        A known breast mask on the source grid (overrides the metadata's).

    Returns
    -------
    image : ndarray of shape (P, Q), float32
        Resampled and normalised (:func:`~napari_mcdet.data.normalize.normalize_image`).
    breast : ndarray of shape (P, Q), bool
    labels : ndarray of shape (P, Q), uint8, or None

    Raises
    ------
    ValueError
        The mammogram has no pixel spacing.
    """
    src = mammogram.pixel_spacing
    if src is None:
        raise ValueError(
            f"{mammogram.metadata.get('source', 'the image')} has no pixel spacing: pass "
            "pixel_spacing=(row_mm, col_mm) when reading it (mini-MIAS: 0.2, INbreast: 0.07)")
    src = as_spacing(src)
    dst = as_spacing(pixel_spacing, name="pixel_spacing")
    pixels = mammogram.pixels
    if breast is None:
        breast = (mammogram.metadata or {}).get("breast_mask")
    source_breast = breast_mask(pixels) if breast is None else np.asarray(breast, bool)
    if source_breast.shape != pixels.shape:
        raise ValueError(f"the breast mask {source_breast.shape} and the image {pixels.shape} "
                         "of " + str(mammogram.metadata.get("source", "the image"))
                         + " differ in shape; pass a mask of the image's own grid")
    breast = resample_labels(source_breast, src, dst)
    image = resample_to_spacing(pixels, src, dst)
    if labels is not None:
        labels = resample_labels(np.asarray(labels), src, dst).astype(np.uint8, copy=False)
    breast = np.ascontiguousarray(breast, dtype=bool)
    return normalize_image(image, breast=breast), breast, labels
