"""The one tiler: training patches, evaluation tiles and inference tiles all come from here,
and the one tiled loop (:func:`run_tiles`) that runs any predictor over them.

Coordinates are (row, col) in pixels; a tile is addressed by its top-left corner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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


class DetectionCancelled(RuntimeError):
    """Raised by :func:`run_tiles` (hence ``detect``, Grad-CAM maps, mining) when
    ``should_stop()`` returned True; checked between batches."""


def breast_tiles(
    shape: tuple[int, int],
    breast: np.ndarray | None,
    tile: int,
    *,
    overlap: int,
    min_breast_fraction: float,
) -> list[tuple[tuple[int, int], float]]:
    """``(origin, breast fraction)`` of the tiles of :func:`tile_grid` worth running: those with
    at least ``min_breast_fraction`` (and some) breast; every tile when ``breast`` is None."""
    out = []
    for origin in tile_grid(shape, tile, overlap=overlap):
        frac = 1.0 if breast is None else float(
            extract_patch(breast, origin, tile, fill=False).mean())
        if breast is None or (frac >= min_breast_fraction and frac > 0):
            out.append((origin, frac))
    return out


class TileAccumulator:
    """Smooth blending of overlapping tiles into a float32 map.

    Each tile's values are weighted by :func:`blend_window` and summed; :meth:`result` divides by
    the summed weights, so every covered pixel gets the weighted average of the tiles that cover
    it (a tile of ones everywhere gives exactly 1: each pixel counted once in total). Tiles may
    hang over the image border (images smaller than a tile): the part outside is dropped. Pixels
    no tile covers are 0.

    Parameters
    ----------
    shape : (int, int)
        Map size (rows, cols), pixels.
    tile : int or (int, int)
        Tile size, pixels.
    overlap : int or (int, int)
        Overlap used to build the tile grid (sets the window's ramps), pixels.
    channels : int
        Channels accumulated.
    """

    def __init__(self, shape: tuple[int, int], tile: int | tuple[int, int],
                 overlap: int | tuple[int, int], *, channels: int = 2) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.window = blend_window(tile, overlap)
        self.sum = np.zeros((channels, *self.shape), np.float32)
        self.weight = np.zeros(self.shape, np.float32)

    def add(self, origin: tuple[int, int], values: np.ndarray) -> None:
        """Add one tile ``values`` (C, th, tw) whose top-left corner is ``origin`` (row, col)."""
        r0, c0 = int(origin[0]), int(origin[1])
        th, tw = self.window.shape
        if values.shape[-2:] != (th, tw):
            raise ValueError(f"tile values {values.shape} do not match the window {(th, tw)}")
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r0 + th, self.shape[0]), min(c0 + tw, self.shape[1])
        if rr1 <= rr0 or cc1 <= cc0:
            return
        w = self.window[rr0 - r0:rr1 - r0, cc0 - c0:cc1 - c0]
        v = values[..., rr0 - r0:rr1 - r0, cc0 - c0:cc1 - c0]
        self.sum[:, rr0:rr1, cc0:cc1] += v * w
        self.weight[rr0:rr1, cc0:cc1] += w

    def result(self) -> np.ndarray:
        """Weight-normalised map (C, M, N), float32, computed in place (spends the sum)."""
        covered = self.weight > 0
        np.divide(self.sum, self.weight, out=self.sum, where=covered)
        self.sum[:, ~covered] = 0.0
        return self.sum


def run_tiles(
    predict: Callable[[np.ndarray], tuple[np.ndarray, Sequence[dict[str, Any]] | None]],
    image: np.ndarray,
    *,
    tile: int,
    overlap: int,
    channels: int,
    breast: np.ndarray | None = None,
    min_breast_fraction: float = 0.05,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    task: str = "detection",
) -> tuple[np.ndarray, list[dict[str, Any]], int]:
    """Run any tile predictor over an image in overlapping tiles and blend its maps.

    As MONAI's ``sliding_window_inference``, the predictor is any callable; unlike it, tiles
    with too little breast are never run, and the predictor may return per-tile values (class
    probabilities) besides its maps.

    Parameters
    ----------
    predict : callable
        ``predict(batch)`` with ``batch`` an ndarray of shape (B, tile, tile), float32, returns
        ``(maps, per_tile)``: ``maps`` of shape (B, channels, tile, tile) and ``per_tile`` None or
        B dicts merged into the tiles' records.
    image : ndarray of shape (M, N), float32
        Prepared image (smaller than a tile: padded with 0).
    tile, overlap : int
        Tile side and overlap, pixels.
    channels : int
        Channels of the predictor's maps.
    breast : ndarray of shape (M, N), bool, optional
        Tiles with less than ``min_breast_fraction`` breast pixels are not run.
    batch_size : int
        Tiles per call of ``predict``.
    progress : callable, optional
        ``progress(tiles done, tiles to run)`` after each batch (and once with 0 at the start).
    should_stop : callable, optional
        Checked before each batch; when it returns True, :class:`DetectionCancelled` is raised.
    task : str
        Named in the cancellation message.

    Returns
    -------
    maps : ndarray of shape (channels, M, N), float32
        Blended maps (0 where no tile ran).
    tiles : list of dict
        Per tile run: ``origin`` (row, col), ``breast_fraction`` and the predictor's values.
    n_tiles : int
        Tiles in the grid (run or skipped).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0.0 <= min_breast_fraction <= 1.0:
        raise ValueError(f"min_breast_fraction must be in [0, 1], got {min_breast_fraction}")
    n_grid = len(tile_grid(image.shape, tile, overlap=overlap))
    todo = breast_tiles(image.shape, breast, tile, overlap=overlap,
                        min_breast_fraction=min_breast_fraction)
    acc = TileAccumulator(image.shape, tile, overlap, channels=channels)
    records: list[dict[str, Any]] = []
    total = len(todo)
    if progress is not None:
        progress(0, total)
    for start in range(0, total, batch_size):
        if should_stop is not None and should_stop():
            raise DetectionCancelled(f"{task} cancelled after {start} of {total} tiles")
        chunk = todo[start:start + batch_size]
        maps, per_tile = predict(np.stack([extract_patch(image, o, tile, fill=0.0)
                                           for o, _ in chunk]))
        for k, (origin, frac) in enumerate(chunk):
            acc.add(origin, maps[k])
            records.append({"origin": origin, "breast_fraction": frac,
                            **(per_tile[k] if per_tile is not None else {})})
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return acc.result(), records, n_grid
