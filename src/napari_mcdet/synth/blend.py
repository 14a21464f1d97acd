"""Blending a rendered calcification into an image: contrast relative to the local tissue, PSF blur.

Two image kinds (method.md §5):

``'presentation'`` (log-like "for presentation" data: INbreast, mini-MIAS, most PNG/PGM/DICOM
    presentation images; bright = dense). Attenuation is additive in the log domain, so a
    calcification is a bright bump added to the tissue::

        I' = I + c * (W - B) * t

    where ``t`` is the PSF-blurred normalised thickness (peak 1), ``c`` the calcification's contrast
    (0-1), ``B`` the local tissue level (mean of the original image within ``bg_radius_mm`` of the
    calcification) and ``W`` the image's white level (99.5th percentile inside the breast). The
    bump is thus relative to the local tissue: a calcification of contrast 1 reaches the white
    level whatever the tissue around it, and shows less in already bright (dense) tissue, as on
    film. The headroom ``W - B`` is floored at ``0.15 * |W|`` so calcifications in tissue at the
    white level still show faintly.

``'raw'`` ("for processing" data, linear in detected signal). Attenuation is multiplicative::

        I' = I * (1 - c * t)        (c about 0.1-0.3)

The point-spread function is a Gaussian of ``psf_sigma_px`` pixels (about one pixel), applied to
the calcification's own small box, never to the whole image.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi

MODES: tuple[str, ...] = ("presentation", "raw")


def white_level(image: np.ndarray, breast: np.ndarray | None = None, *, q: float = 99.5) -> float:
    """The image's white level: the ``q``-th percentile inside the breast.

    Computed on a strided subsample (about 250k pixels) so it costs milliseconds on a full-field
    image.

    Parameters
    ----------
    image : ndarray of shape (M, N)
    breast : ndarray of bool of shape (M, N), optional
        Pixels to consider; all when None.
    q : float
        Percentile, 0-100.
    """
    step = max(1, int(np.sqrt(image.size / 250_000)))
    sub = image[::step, ::step]
    if breast is not None:
        sub = sub[breast[::step, ::step]]
    if sub.size == 0:
        raise ValueError("the breast mask is empty: cannot estimate a white level")
    return float(np.percentile(sub, q))


@lru_cache(maxsize=64)
def _kernel(sigma_px: float) -> np.ndarray:
    radius = int(np.ceil(3.0 * sigma_px))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (x / sigma_px) ** 2)
    return (k / k.sum()).astype(np.float32)


def blur_psf(thickness: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian point-spread blur of a small rendered box (``sigma_px`` in pixels; 0 = none).

    Separable, truncated at 3 sigma, zero outside the box (render the box with a padding of
    ``ceil(3 sigma)`` pixels so nothing is cut).
    """
    if sigma_px <= 0:
        return thickness
    k = _kernel(float(sigma_px))
    out = ndi.correlate1d(thickness, k, axis=0, mode="constant")
    return ndi.correlate1d(out, k, axis=1, mode="constant")


def blur_many(boxes: list[np.ndarray], sigma_px: float) -> list[np.ndarray]:
    """:func:`blur_psf` of many small boxes in two filter passes.

    The boxes are stacked down one zero canvas, each followed by as many zero rows as the
    kernel's radius, so no box's blur reaches another's and every pixel sees exactly the zeros
    that ``mode='constant'`` gives it alone: the values are :func:`blur_psf`'s, bit for bit.

    Parameters
    ----------
    boxes : list of ndarray of shape (h_k, w_k), float32
    sigma_px : float
        Gaussian sigma, pixels; 0 returns the boxes unchanged.

    Returns
    -------
    list of ndarray of shape (h_k, w_k), float32
        Views into one canvas.
    """
    if sigma_px <= 0 or not boxes:
        return list(boxes)
    k = _kernel(float(sigma_px))
    gap = k.size // 2
    heights = [b.shape[0] for b in boxes]
    starts = np.cumsum([0] + [hb + gap for hb in heights[:-1]])
    canvas = np.zeros((int(starts[-1]) + heights[-1] + gap, max(b.shape[1] for b in boxes)
                       + gap), dtype=np.float32)
    for b, r in zip(boxes, starts):
        canvas[r : r + b.shape[0], : b.shape[1]] = b
    canvas = ndi.correlate1d(canvas, k, axis=0, mode="constant")
    canvas = ndi.correlate1d(canvas, k, axis=1, mode="constant")
    return [canvas[r : r + b.shape[0], : b.shape[1]] for b, r in zip(boxes, starts)]


def local_background(
    image: np.ndarray, centre_px: tuple[float, float], radius_px: tuple[float, float]
) -> float:
    """Mean of ``image`` in the box of half-size ``radius_px`` around ``centre_px``.

    Call it on the image *before* any calcification is added, so neighbours do not bias it.
    """
    r, c = centre_px
    h, w = image.shape
    r0, r1 = max(int(r - radius_px[0]), 0), min(int(r + radius_px[0]) + 1, h)
    c0, c1 = max(int(c - radius_px[1]), 0), min(int(c + radius_px[1]) + 1, w)
    if r1 <= r0 or c1 <= c0:
        raise ValueError(f"centre {centre_px} lies outside the image of shape {image.shape}")
    return float(image[r0:r1, c0:c1].mean(dtype=np.float64))


def add_to_image(
    out: np.ndarray,
    values: np.ndarray,
    origin: tuple[int, int],
    *,
    mode: str,
    contrast: float,
    background: float = 0.0,
    white: float = 1.0,
    where: np.ndarray | None = None,
    amplitude: float | None = None,
) -> tuple[slice, slice, np.ndarray] | None:
    """Blend a blurred thickness box into ``out`` in place.

    Parameters
    ----------
    out : ndarray of shape (M, N), float32
        Image modified in place.
    values : ndarray of shape (h, w)
        Blurred normalised thickness, peak about 1.
    origin : (int, int)
        Top-left pixel of ``values`` in ``out`` (may hang outside; clipped).
    mode : {'presentation', 'raw'}
    contrast : float
        ``c`` in the formulas of the module docstring.
    background, white : float
        ``B`` and ``W`` (presentation mode only).
    where : ndarray of bool of shape (M, N), optional
        Only these pixels change (the breast: the blur's tail never leaks outside it).
    amplitude : float, optional
        Presentation mode: add ``amplitude * values`` instead of the contrast rule (the
        conspicuity-calibrated amplitude of :func:`napari_mcdet.synth.synthesize`), image units.

    Returns
    -------
    (rows, cols, clipped_values) or None when the box lies outside the image.
    """
    h, w = out.shape
    r0, c0 = origin
    rr0, cc0 = max(r0, 0), max(c0, 0)
    rr1, cc1 = min(r0 + values.shape[0], h), min(c0 + values.shape[1], w)
    if rr1 <= rr0 or cc1 <= cc0:
        return None
    v = values[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0]
    rs, cs = slice(rr0, rr1), slice(cc0, cc1)
    if where is not None:
        v = v * where[rs, cs]
    if mode == "presentation" and amplitude is not None:
        out[rs, cs] += np.float32(amplitude) * v
    elif mode == "presentation":
        headroom = max(white - background, 0.15 * abs(white))
        out[rs, cs] += np.float32(contrast * headroom) * v
    elif mode == "raw":
        out[rs, cs] *= 1 - np.float32(contrast) * v
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return rs, cs, v


def add_boxes(
    out: np.ndarray,
    boxes: list[np.ndarray],
    origins: list[tuple[int, int]],
    scales: list[float],
    *,
    mode: str,
    where: np.ndarray | None = None,
) -> list[tuple[slice, slice] | None]:
    """Blend many blurred thickness boxes into ``out`` in place, in one vectorised pass.

    The result is that of :func:`add_to_image` called on each box in turn: where boxes overlap,
    their contributions are applied in list order (``numpy.add.at`` / ``numpy.multiply.at``
    apply repeated indices one after another), so every float32 rounding happens as it would
    box by box.

    Parameters
    ----------
    out : ndarray of shape (M, N), float32, C-contiguous
        Image modified in place.
    boxes : list of ndarray of shape (h_k, w_k), float32
        Blurred normalised thickness of each calcification.
    origins : list of (int, int)
        Top-left pixel (row, col) of each box in ``out``; boxes may hang outside (clipped).
    scales : list of float
        Presentation mode: the amplitude added at thickness 1, image units (the conspicuity
        amplitude, or ``contrast * headroom`` of the contrast rule). Raw mode: the contrast
        ``c`` of ``I (1 - c t)``.
    mode : {'presentation', 'raw'}
        Keyword-only.
    where : ndarray of bool of shape (M, N), optional
        Keyword-only. Only these pixels change.

    Returns
    -------
    list of (rows, cols) or None
        The slices of ``out`` each box touched, None for a box wholly outside the image.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    h, w = out.shape
    spans: list[tuple[slice, slice] | None] = []
    geo = []  # per touched box: first row/col in out, rows, cols, row/col offset in the box
    for k, (values, (r0, c0)) in enumerate(zip(boxes, origins)):
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r0 + values.shape[0], h), min(c0 + values.shape[1], w)
        if rr1 <= rr0 or cc1 <= cc0:
            spans.append(None)
            continue
        spans.append((slice(rr0, rr1), slice(cc0, cc1)))
        geo.append((k, rr0, cc0, rr1 - rr0, cc1 - cc0, rr0 - r0, cc0 - c0, values.shape[1]))
    if not geo:
        return spans
    k, rr0, cc0, nr, nc, dr, dc, bw = (np.array(col, dtype=np.int64) for col in zip(*geo))
    size = nr * nc
    owner = np.repeat(np.arange(k.size), size)
    local = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    row, col = local // nc[owner], local % nc[owner]
    target = (rr0[owner] + row) * w + cc0[owner] + col
    first = np.cumsum([b.size for b in boxes]) - [b.size for b in boxes]
    source = first[k][owner] + (dr[owner] + row) * bw[owner] + dc[owner] + col
    v = np.concatenate([b.ravel() for b in boxes]).astype(np.float32, copy=False)[source]
    if where is not None:
        v = v * where.ravel()[target]
    scale = np.asarray(scales, dtype=np.float64)[k].astype(np.float32)[owner]
    if mode == "presentation":
        np.add.at(out.reshape(-1), target, scale * v)
    else:
        np.multiply.at(out.reshape(-1), target, 1 - scale * v)
    return spans
