"""The one tiler: training patches, evaluation tiles and inference tiles all come from here.

Coordinates are (row, col) in pixels; a tile is addressed by its top-left corner.
"""

from __future__ import annotations

import numpy as np


def tile_starts(length: int, tile: int, *, overlap: int = 0) -> np.ndarray:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)``.

    Tiles step by ``tile - overlap``; the last tile is shifted back so it ends at ``length``
    (no tile hangs outside the image unless the image is smaller than one tile, in which case a
    single tile starts at 0 and the caller pads).

    Parameters
    ----------
    length : int
        Image extent along the axis, pixels.
    tile : int
        Tile extent, pixels.
    overlap : int, optional
        Overlap between neighbouring tiles, pixels, ``0 <= overlap < tile``.

    Returns
    -------
    starts : ndarray of int64
    """
    if tile <= 0:
        raise ValueError(f"tile must be positive, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got overlap={overlap}, tile={tile}")
    if length <= tile:
        return np.zeros(1, dtype=np.int64)
    stride = tile - overlap
    n = int(np.ceil((length - tile) / stride)) + 1
    starts = np.arange(n, dtype=np.int64) * stride
    starts[-1] = length - tile
    return np.unique(starts)


def tile_grid(
    shape: tuple[int, int], tile: int | tuple[int, int], *, overlap: int | tuple[int, int] = 0
) -> list[tuple[int, int]]:
    """Top-left corners ``(row, col)`` of the tiles that cover an image of ``shape``.

    With ``overlap=0`` the tiles do not overlap except for the last row/column of tiles, which
    is shifted back to stay inside the image.
    """
    th, tw = (tile, tile) if np.isscalar(tile) else tile
    oh, ow = (overlap, overlap) if np.isscalar(overlap) else overlap
    rows = tile_starts(int(shape[0]), int(th), overlap=int(oh))
    cols = tile_starts(int(shape[1]), int(tw), overlap=int(ow))
    return [(int(r), int(c)) for r in rows for c in cols]


def extract_patch(
    image: np.ndarray,
    origin: tuple[int, int],
    size: int | tuple[int, int],
    *,
    fill: float = 0.0,
) -> np.ndarray:
    """Copy the ``size`` patch whose top-left corner is ``origin``, padding outside with ``fill``.

    Parameters
    ----------
    image : ndarray of shape (M, N) or (C, M, N)
        The last two axes are rows and columns.
    origin : (int, int)
        Top-left corner (row, col), may be negative or run past the image.
    size : int or (int, int)
        Patch extent in pixels.
    fill : float
        Value for pixels outside the image.

    Returns
    -------
    patch : ndarray of shape (..., size_r, size_c), same dtype as ``image``
    """
    sr, sc = (size, size) if np.isscalar(size) else size
    r0, c0 = int(origin[0]), int(origin[1])
    h, w = image.shape[-2:]
    out = np.full(image.shape[:-2] + (int(sr), int(sc)), fill, dtype=image.dtype)
    rr0, cc0 = max(r0, 0), max(c0, 0)
    rr1, cc1 = min(r0 + sr, h), min(c0 + sc, w)
    if rr1 > rr0 and cc1 > cc0:
        out[..., rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = image[..., rr0:rr1, cc0:cc1]
    return out


def blend_window(size: int | tuple[int, int], overlap: int | tuple[int, int]) -> np.ndarray:
    """Separable weight window for blending overlapping tiles smoothly.

    Flat (1) in the middle, with a raised-cosine ramp over ``overlap`` pixels at each border, never
    exactly 0, so that dividing the accumulated weighted predictions by the accumulated weights
    gives every pixel a weight-normalised average (each pixel counted exactly once in total).

    Returns
    -------
    window : ndarray of shape (size_r, size_c), float32, values in (0, 1]
    """
    sr, sc = (size, size) if np.isscalar(size) else size
    orr, occ = (overlap, overlap) if np.isscalar(overlap) else overlap

    def ramp(n: int, o: int) -> np.ndarray:
        w = np.ones(n, dtype=np.float32)
        o = min(int(o), n // 2)
        if o > 0:
            t = (np.arange(o, dtype=np.float32) + 0.5) / o
            r = 0.5 - 0.5 * np.cos(np.pi * t)
            w[:o] = r
            w[n - o :] = r[::-1]
        return w

    return np.outer(ramp(int(sr), orr), ramp(int(sc), occ)).astype(np.float32)
