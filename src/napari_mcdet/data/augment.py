"""Training augmentations, applied identically to an image patch and its mask (method.md §4).

Geometric (image and mask together): vertical flip, horizontal flip, transpose, each with
probability 1/2. Intensity (image only): exactly one of

* Gaussian blur, sigma uniform in ``blur_sigma`` pixels (0.3-1.0);
* Gaussian noise, standard deviation uniform in ``noise_std`` (0.005-0.03, normalised units);
* gamma contrast, ``x -> x ** gamma`` on the non-negative part, gamma uniform in ``gamma``
  (0.7-1.5);
* intensity inversion, ``x -> 1 - x`` (normalised images live in about [0, 1]).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

INTENSITY_AUGMENTATIONS: tuple[str, ...] = ("blur", "noise", "gamma", "invert")


def flip_transpose(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Random flips and transpose on the last two axes of ``image`` (..., P, P) and ``mask``."""
    ops = {
        "flip_rows": bool(rng.integers(2)),
        "flip_cols": bool(rng.integers(2)),
        "transpose": bool(rng.integers(2)),
    }
    for arr_name in ("image", "mask"):
        arr = image if arr_name == "image" else mask
        if ops["flip_rows"]:
            arr = arr[..., ::-1, :]
        if ops["flip_cols"]:
            arr = arr[..., :, ::-1]
        if ops["transpose"]:
            arr = np.swapaxes(arr, -1, -2)
        if arr_name == "image":
            image = arr
        else:
            mask = arr
    return np.ascontiguousarray(image), np.ascontiguousarray(mask), ops


def intensity(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    which: str | None = None,
    blur_sigma: tuple[float, float] = (0.3, 1.0),
    noise_std: tuple[float, float] = (0.005, 0.03),
    gamma: tuple[float, float] = (0.7, 1.5),
) -> tuple[np.ndarray, dict]:
    """Apply one intensity augmentation (random among :data:`INTENSITY_AUGMENTATIONS`)."""
    name = which or INTENSITY_AUGMENTATIONS[int(rng.integers(len(INTENSITY_AUGMENTATIONS)))]
    img = image.astype(np.float32, copy=True)
    if name == "blur":
        s = float(rng.uniform(*blur_sigma))
        axes = (img.ndim - 2, img.ndim - 1)
        img = ndi.gaussian_filter(img, s, axes=axes).astype(np.float32)
        return img, {"intensity": name, "sigma": s}
    if name == "noise":
        s = float(rng.uniform(*noise_std))
        img += rng.normal(0, s, size=img.shape).astype(np.float32)
        return img, {"intensity": name, "std": s}
    if name == "gamma":
        g = float(rng.uniform(*gamma))
        pos = np.clip(img, 0, None)
        img = np.where(img > 0, pos**g, img).astype(np.float32)
        return img, {"intensity": name, "gamma": g}
    if name == "invert":
        return (1.0 - img).astype(np.float32), {"intensity": name}
    raise ValueError(f"unknown intensity augmentation {name!r}; choose {INTENSITY_AUGMENTATIONS}")


def augment(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator | int,
    *,
    geometric: bool = True,
    intensity_aug: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Flips/transpose (image and mask alike) then one intensity augmentation (image only).

    Parameters
    ----------
    image : ndarray of shape (..., P, P), float
    mask : ndarray of shape (..., P, P)
    rng : numpy.random.Generator or int seed

    Returns
    -------
    image, mask : ndarrays of the input shapes
    ops : dict
        What was applied.
    """
    rng = np.random.default_rng(rng)
    if image.shape[-2:] != mask.shape[-2:]:
        raise ValueError(f"image {image.shape} and mask {mask.shape} differ in their last two axes")
    ops: dict = {}
    if geometric:
        image, mask, ops = flip_transpose(image, mask, rng)
    if intensity_aug:
        image, more = intensity(image, rng)
        ops.update(more)
    return image, mask, ops
