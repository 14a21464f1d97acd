"""The one automatic threshold: Li's minimum cross-entropy, and binarising a map with it.

Detection (a floor under Li's level, per class), pixel metrics and Grad-CAM masks all threshold
through here, so a map is binarised the same way wherever it comes from.
"""

from __future__ import annotations

import numpy as np

#: Li's threshold is computed on at most this many values (an even subsample of larger maps);
#: a whole INbreast image at 0.07 mm has 13.6 M pixels and the level moves by < 1e-3.
LI_MAX_VALUES = 1_000_000


def li_threshold(values: np.ndarray) -> float:
    """Li's minimum cross-entropy threshold of ``values`` (``skimage.filters.threshold_li``).

    Parameters
    ----------
    values : ndarray
        Any shape; non-finite values are ignored. Larger arrays than :data:`LI_MAX_VALUES` are
        evenly subsampled.

    Returns
    -------
    threshold : float
        Foreground is ``values > threshold``. For constant input (or none) the maximum (1.0 when
        empty), so that nothing is foreground.
    """
    from skimage.filters import threshold_li

    values = np.asarray(values).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0 or values.min() == values.max():
        return float(values.max()) if values.size else 1.0
    step = max(1, values.size // LI_MAX_VALUES)
    return float(threshold_li(values[::step]))


def binarize(probability: np.ndarray, *, method: str | float = "li") -> np.ndarray:
    """Binarise a probability map with Li's minimum cross-entropy threshold or a fixed one.

    Parameters
    ----------
    probability : ndarray of shape (M, N) or (C, M, N)
        Probabilities in [0, 1]; with 3 dimensions each channel is thresholded on its own.
    method : 'li' or float, keyword-only
        ``'li'``: :func:`li_threshold` of the map (per channel); a float: that threshold. Pixels
        strictly above the threshold are foreground.

    Returns
    -------
    mask : ndarray of bool, same shape as ``probability``
        A constant map gives an all-False mask.
    """
    p = np.asarray(probability)
    if p.ndim not in (2, 3):
        raise ValueError(f"probability must have shape (M, N) or (C, M, N), got {p.shape}")
    if p.ndim == 3:
        return np.stack([binarize(ch, method=method) for ch in p])
    if isinstance(method, str):
        if method != "li":
            raise ValueError(f"method must be 'li' or a float threshold, got {method!r}")
        if p.size == 0:
            return np.zeros(p.shape, dtype=bool)
        threshold = li_threshold(p)
    elif isinstance(method, int | float | np.floating | np.integer):
        threshold = float(method)
    else:
        raise TypeError(f"method must be 'li' or a float threshold, got {type(method).__name__}")
    return p > threshold
