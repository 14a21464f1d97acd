"""``synthesize``: draw one benign or malignant lesion into an image, in physical units.

Example
-------
>>> import napari_mcdet as mc
>>> from napari_mcdet.synth.phantom import breast_phantom
>>> mammo = breast_phantom(seed=1)
>>> les = mc.synthesize(mammo.pixels, pixel_spacing=mammo.pixel_spacing, kind="malignant", seed=3)
>>> les.image.shape == mammo.pixels.shape, int(les.mask.max())
(True, 2)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..classes import BENIGN, MALIGNANT
from ..mammogram import Mammogram
from ..spacing import as_spacing
from .blend import MODES, add_boxes, blur_many, local_background, white_level
from .clusters import LesionParams, choose, lesion_params, place
from .conspicuity import (
    MIN_TEXTURE_FRACTION,
    TOPHAT_RADIUS_MM,
    WINDOW_MM,
    disk_radius_px,
    white_tophat,
    window_levels,
)
from .shapes import Calcification, make_shape, render_many


@dataclass
class SyntheticLesion:
    """The result of :func:`synthesize`.

    Attributes
    ----------
    image : ndarray of shape (M, N), float32
        The input image with the lesion blended in.
    mask : ndarray of shape (M, N), uint8
        0 background, 1 benign, 2 malignant (``napari_mcdet.classes``): pixels at least
        ``mask_threshold`` covered by a calcification, or holding at least 40 % of that
        calcification's peak pixel thickness (so sub-pixel and thin linear calcifications keep a
        connected mask).
    centre : (float, float)
        Lesion centre (row, col), pixels.
    calcifications : list of dict
        One per calcification: ``centroid_px`` (row, col), ``centroid_mm``, ``size_mm`` (largest
        dimension), ``area_mm2`` (covered area), ``kind`` (shape), ``contrast``, ``bbox``
        (r0, c0, r1, c1) pixels.
    lesion : dict
        ``kind``, ``label``, ``layout``, ``n_requested``, ``n_placed``, ``extent_mm`` (drawn),
        ``extent_measured_mm`` (largest distance between two centroids), ``centre_px``,
        ``centre_mm``, ``bbox`` (r0, c0, r1, c1) of the mask, ``mode``, ``white``, ``seed``,
        ``params`` (the :class:`~.clusters.LesionParams` as a dict), ``psf_sigma_px`` (the
        point-spread sigma this lesion was blurred with, pixels).
    pixel_spacing : (float, float)
        (row_mm, col_mm).
    """

    image: np.ndarray
    mask: np.ndarray
    centre: tuple[float, float]
    calcifications: list[dict[str, Any]] = field(default_factory=list)
    lesion: dict[str, Any] = field(default_factory=dict)
    pixel_spacing: tuple[float, float] = (0.07, 0.07)


def pick_centre(
    breast: np.ndarray, spacing: tuple[float, float], margin_mm: float, rng: np.random.Generator
) -> tuple[float, float]:
    """A random breast pixel whose surroundings (+- margin_mm on rows and cols) are breast too."""
    h, w = breast.shape
    mr, mc = margin_mm / spacing[0], margin_mm / spacing[1]
    rows, cols = np.nonzero(breast[:: max(1, h // 256), :: max(1, w // 256)])
    if rows.size == 0:
        raise ValueError("the breast mask is empty: there is nowhere to put a lesion")
    step_r, step_c = max(1, h // 256), max(1, w // 256)
    best = None
    for _ in range(200):
        i = int(rng.integers(rows.size))
        r = rows[i] * step_r + rng.uniform(0, step_r)
        c = cols[i] * step_c + rng.uniform(0, step_c)
        r, c = min(r, h - 1), min(c, w - 1)
        best = best or (r, c)
        ok = all(
            0 <= rr < h and 0 <= cc < w and breast[int(rr), int(cc)]
            for rr, cc in ((r - mr, c), (r + mr, c), (r, c - mc), (r, c + mc))
        )
        if ok:
            return float(r), float(c)
    return float(best[0]), float(best[1])


def _record(calc: Calcification, rs: slice, cs: slice, sel: np.ndarray, cov: np.ndarray,
            th: np.ndarray, spacing: tuple[float, float], bg: float,
            centre_px: tuple[float, float], amplitude: float | None,
            target: float | None) -> dict[str, Any]:
    """The record of one blended calcification (see :class:`SyntheticLesion`)."""
    tot = float(th.sum())
    if tot > 0:
        cen = (
            float(th.sum(axis=1) @ np.arange(rs.start, rs.stop)) / tot,
            float(th.sum(axis=0) @ np.arange(cs.start, cs.stop)) / tot,
        )
    else:
        cen = centre_px
    rows_sel, cols_sel = np.nonzero(sel)
    return {
        "centroid_px": cen,
        "centroid_mm": (cen[0] * spacing[0], cen[1] * spacing[1]),
        "size_mm": calc.size_mm,
        "area_mm2": float(cov.sum()) * spacing[0] * spacing[1],
        "kind": calc.kind,
        "contrast": calc.contrast if amplitude is None else None,
        "amplitude": amplitude,
        "conspicuity_target": target,
        "conspicuity": None,
        "local_background": bg,
        "bbox": (
            rs.start + int(rows_sel.min()),
            cs.start + int(cols_sel.min()),
            rs.start + int(rows_sel.max()) + 1,
            cs.start + int(cols_sel.max()) + 1,
        ),
    }


class _Texture:
    """Top-hats of the lesion's surroundings, before and after blending, for conspicuity.

    Every calcification's texture window (:data:`~.conspicuity.WINDOW_MM`, centred on its box)
    lies in one crop of the image; the top-hats are those of that crop, borders reflected at the
    crop's edges. Each is computed only on the part a question needs (the windows of the
    calcifications of one disk radius before blending, their boxes after it) plus a margin of
    twice the disk radius, beyond which a pixel cannot change a top-hat value, so the values
    read are those of the whole crop's top-hat, at a fraction of its cost.

    Parameters
    ----------
    src : ndarray of shape (M, N)
        The image before any calcification is added.
    boxes : list of (int, int, int, int)
        (r0, c0, h, w) of each drawn calcification's box, pixels (may hang outside the image).
    radii_mm : list of float
        Each calcification's bounding radius, mm (larger ones get a larger disk).
    spacing : (float, float)
        (row_mm, col_mm).
    floor : float
        Keyword-only. Lowest texture level, image units.
    """

    def __init__(self, src: np.ndarray, boxes: list[tuple[int, int, int, int]],
                 radii_mm: list[float], spacing: tuple[float, float], *, floor: float) -> None:
        half = (int(np.ceil(WINDOW_MM / 2 / spacing[0])), int(np.ceil(WINDOW_MM / 2 / spacing[1])))
        base = disk_radius_px(min(spacing), TOPHAT_RADIUS_MM)
        self.floor = floor
        self.radius = [max(base, int(np.ceil(r / min(spacing))) + 1) for r in radii_mm]
        h, w = src.shape
        self.r0 = int(max(0, min(b[0] for b in boxes) - half[0]))
        self.c0 = int(max(0, min(b[1] for b in boxes) - half[1]))
        self.r1 = int(min(h, max(b[0] + b[2] for b in boxes) + half[0]))
        self.c1 = int(min(w, max(b[1] + b[3] for b in boxes) + half[1]))
        self.src = src[self.r0:self.r1, self.c0:self.c1]
        hc, wc = self.src.shape
        self.windows = []  # (r0, r1, c0, c1) in the crop, clipped as slicing clips
        for r0, c0, bh, bw in boxes:
            cr, cc = int(r0 + bh / 2), int(c0 + bw / 2)
            a0, a1 = max(0, cr - half[0] - self.r0), max(0, cr + half[0] - self.r0)
            b0, b1 = max(0, cc - half[1] - self.c0), max(0, cc + half[1] - self.c0)
            self.windows.append((min(a0, hc), min(a1, hc), min(b0, wc), min(b1, wc)))
        self.levels: list[float] = []

    def _region(self, spans: list[tuple[int, int, int, int]], radius: int
                ) -> tuple[int, int, int, int]:
        """The bounding box of ``spans`` (crop pixels) grown by 2 ``radius``, inside the crop."""
        hc, wc = self.src.shape
        return (max(0, min(s[0] for s in spans) - 2 * radius),
                min(hc, max(s[1] for s in spans) + 2 * radius),
                max(0, min(s[2] for s in spans) - 2 * radius),
                min(wc, max(s[3] for s in spans) + 2 * radius))

    def measure_levels(self) -> list[float]:
        """Texture level (p99 of the top-hat in its window) of each calcification, image units."""
        levels = [float(self.floor)] * len(self.radius)
        for radius in sorted(set(self.radius)):
            ks = [k for k, r in enumerate(self.radius) if r == radius
                  and self.windows[k][1] > self.windows[k][0]
                  and self.windows[k][3] > self.windows[k][2]]
            if not ks:
                continue
            r0, r1, c0, c1 = self._region([self.windows[k] for k in ks], radius)
            tophat = white_tophat(self.src[r0:r1, c0:c1], radius)
            found = window_levels(
                tophat, [(a0 - r0, a1 - r0, b0 - c0, b1 - c0)
                         for a0, a1, b0, b1 in (self.windows[k] for k in ks)],
                floor=self.floor)
            for k, level in zip(ks, found.tolist()):
                levels[k] = level
        self.levels = levels
        return levels

    def conspicuity(self, out: np.ndarray, footprints: list[tuple[int, slice, slice, np.ndarray]]
                    ) -> list[float]:
        """Measured conspicuity of each footprint ``(k, rows, cols, selected)`` in ``out``."""
        values = [0.0] * len(footprints)
        for radius in sorted({self.radius[f[0]] for f in footprints}):
            idx = [i for i, f in enumerate(footprints) if self.radius[f[0]] == radius]
            spans = [(f[1].start - self.r0, f[1].stop - self.r0,
                      f[2].start - self.c0, f[2].stop - self.c0)
                     for f in (footprints[i] for i in idx)]
            r0, r1, c0, c1 = self._region(spans, radius)
            tophat = white_tophat(out[self.r0 + r0:self.r0 + r1, self.c0 + c0:self.c0 + c1],
                                  radius)
            for i, (a0, a1, b0, b1) in zip(idx, spans):
                k, sel = footprints[i][0], footprints[i][3]
                level = self.levels[k]
                th = tophat[a0 - r0:a1 - r0, b0 - c0:b1 - c0]
                values[i] = float(th[sel].max() / level) if level > 0 and sel.any() else 0.0
        return values


def _image_and_spacing(
    image: np.ndarray | Mammogram, pixel_spacing: float | tuple[float, float]
) -> tuple[np.ndarray, tuple[float, float]]:
    """The pixels, shape (M, N), and their spacing, a ``Mammogram``'s own spacing winning."""
    if isinstance(image, Mammogram):
        if image.pixel_spacing is not None:
            pixel_spacing = image.pixel_spacing
        image = image.pixels
    src = np.asarray(image)
    if src.ndim != 2:
        raise ValueError(f"image must be 2-D (M, N), got shape {src.shape}")
    return src, pixel_spacing


def _breast_mask(src: np.ndarray, breast: np.ndarray | None) -> np.ndarray:
    """The breast mask, bool of shape (M, N) like ``src``, computed when not given."""
    if breast is None:
        from ..data.breast import breast_mask

        breast = breast_mask(src)
    breast = np.asarray(breast, dtype=bool)
    if breast.shape != src.shape:
        raise ValueError(f"breast mask shape {breast.shape} differs from image shape {src.shape}")
    return breast


def _random_streams(seed: int | np.random.SeedSequence | None) -> list[np.random.Generator]:
    """Generators for the centre, the lesion's draws, the placement, the conspicuity draws and
    the point-spread function's draw."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    # one child per kind of draw, added at the end: the first children are the same whatever
    # the count, so a lesion that does not use a later stream is unchanged by its existence
    return [np.random.default_rng(s) for s in ss.spawn(5)]


def _psf_sigma(psf: float | tuple[float, float], rng: np.random.Generator) -> float:
    """The lesion's point-spread sigma, pixels: ``psf`` itself, or drawn uniformly in a range."""
    if np.ndim(psf) == 0:
        return float(psf)
    lo, hi = (float(v) for v in psf)
    return float(rng.uniform(lo, hi)) if hi > lo else lo


def _draw_calcifications(p: LesionParams, layout: str | None, rng: np.random.Generator
                         ) -> tuple[str, int, float, list[Calcification]]:
    """Draw everything of the lesion that is independent of the image, in mm.

    Parameters
    ----------
    p : LesionParams
    layout : str or None
        Forced arrangement (:data:`~.clusters.LAYOUTS`), or drawn from ``p.layout_mix``.
    rng : numpy.random.Generator
        The lesion's own stream; the draws' order fixes the lesion for a seed.

    Returns
    -------
    layout : str
    n : int
        Calcifications requested.
    extent : float
        Lesion diameter, mm.
    calcs : list of Calcification
        ``n`` shapes centred at (0, 0) mm, not placed yet.
    """
    lay = layout or choose(p.layout_mix, rng)
    n = 1 if lay == "isolated" else int(rng.integers(p.count[0], p.count[1] + 1))
    extent = float(rng.uniform(*p.extent_mm))
    kinds = list(p.shape_mix)
    weights = np.array([p.shape_mix[k] for k in kinds], dtype=float)
    drawn = rng.choice(len(kinds), size=n, p=weights / weights.sum())
    calcs = []
    for j in range(n):
        shape_kind = kinds[int(drawn[j])]
        prims, size, radius = make_shape(shape_kind, rng, size_range_mm=p.size_mm)
        calcs.append(
            Calcification(
                kind=shape_kind,
                centre_mm=(0.0, 0.0),
                angle=float(rng.uniform(0, 2 * np.pi)),
                primitives=prims,
                size_mm=size,
                radius_mm=radius,
                contrast=float(rng.uniform(*p.contrast)),
            )
        )
    return lay, n, extent, calcs


def _place_calcifications(
    calcs: list[Calcification], src: np.ndarray, breast: np.ndarray,
    spacing: tuple[float, float], centre_mm: np.ndarray, lay: str, extent: float,
    p: LesionParams, rng: np.random.Generator, *, min_density: float | None,
    bg_px: tuple[float, float],
) -> list[Calcification]:
    """Place the calcifications around the lesion centre, with repulsion, inside the breast.

    Parameters
    ----------
    calcs : list of Calcification
        The drawn shapes; the placed ones get their ``centre_mm`` (image mm) set.
    src : ndarray of shape (M, N)
        The image (for ``min_density``).
    breast : ndarray of bool of shape (M, N)
        Where a calcification's centre and the ends of its bounding circle's axes may lie.
    spacing : (float, float)
        (row_mm, col_mm).
    centre_mm : ndarray of shape (2,)
        Lesion centre (row, col), mm.
    lay : str
        Layout (:data:`~.clusters.LAYOUTS`).
    extent : float
        Lesion diameter, mm.
    p : LesionParams
    rng : numpy.random.Generator
        The placement stream.
    min_density : float or None
        Keyword-only. Lowest local tissue level, image units; None for any tissue.
    bg_px : (float, float)
        Keyword-only. Half-size of the local tissue window, pixels (rows, cols).

    Returns
    -------
    list of Calcification
        The placed calcifications, in placement order (some may not fit).
    """
    h, w = src.shape

    def accept(offset: np.ndarray, radius: float) -> bool:
        r, c = (centre_mm + offset) / spacing
        dr, dc = radius / spacing[0] + 0.5, radius / spacing[1] + 0.5
        for rr, ccol in ((r, c), (r - dr, c), (r + dr, c), (r, c - dc), (r, c + dc)):
            ri, ci = int(round(rr)), int(round(ccol))
            if not (0 <= ri < h and 0 <= ci < w and breast[ri, ci]):
                return False
        if min_density is not None and local_background(src, (r, c), bg_px) < min_density:
            return False
        return True

    offsets, placed = place(
        np.array([c.radius_mm for c in calcs]),
        lay,
        extent,
        rng,
        min_gap_mm=p.min_gap_mm,
        core_count=p.core_count,
        core_radius_mm=p.core_radius_mm,
        accept=accept,
    )
    for off, i in zip(offsets, placed):
        calcs[i].centre_mm = (float(centre_mm[0] + off[0]), float(centre_mm[1] + off[1]))
    return [calcs[i] for i in placed]


def _render_and_blur(calcs: list[Calcification], spacing: tuple[float, float],
                     psf_sigma_px: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray,
                                                        tuple[int, int]]]:
    """Render every calcification in its own box and blur it with the point-spread function.

    Parameters
    ----------
    calcs : list of Calcification
        Placed shapes (image mm).
    spacing : (float, float)
        (row_mm, col_mm).
    psf_sigma_px : float
        Gaussian sigma, pixels; the boxes are padded by ceil(3 sigma) for it.

    Returns
    -------
    list of (blurred, thickness, coverage, origin)
        Per calcification: float32 arrays of its box's shape (h, w) and the box's top-left
        (row, col) pixel (see :func:`~.shapes.render`).
    """
    boxes = render_many(calcs, spacing, pad=int(np.ceil(3 * psf_sigma_px)))
    blurred = blur_many([thick for thick, _, _ in boxes], psf_sigma_px)
    return [(b, thick, cover, origin) for b, (thick, cover, origin) in zip(blurred, boxes)]


def _blend(
    out: np.ndarray, src: np.ndarray, breast: np.ndarray, calcs: list[Calcification],
    boxes: list, spacing: tuple[float, float], *, mode: str, white: float | None,
    bg_px: tuple[float, float], mask_threshold: float, targets: np.ndarray | None,
    texture: _Texture | None,
) -> tuple[list[dict[str, Any]], list[tuple[int, slice, slice, np.ndarray]]]:
    """Blend every box into ``out``; the records and mask footprints of those that show.

    A calcification whose box lies outside the image, or whose clipped box holds no mask pixel,
    is blended (if at all) but not recorded.

    Parameters
    ----------
    out : ndarray of shape (M, N), float32
        The image being drawn into, modified in place.
    src : ndarray of shape (M, N)
        The image before any calcification (local tissue level, texture).
    breast : ndarray of bool of shape (M, N)
        Only these pixels change.
    calcs : list of Calcification
        Placed shapes.
    boxes : list of (blurred, thickness, coverage, origin)
        From :func:`_render_and_blur`, one per calcification.
    spacing : (float, float)
        (row_mm, col_mm).
    mode : {'presentation', 'raw'}
        Keyword-only.
    white : float or None
        Keyword-only. White level of the contrast rule, image units.
    bg_px : (float, float)
        Keyword-only. Half-size of the local tissue window, pixels.
    mask_threshold : float
        Keyword-only. Coverage (0-1) from which a pixel is in a footprint.
    targets : ndarray of shape (len(calcs),) or None
        Keyword-only. Drawn conspicuity of each calcification; None for the contrast rule.
    texture : _Texture or None
        Keyword-only. The lesion's texture, given with ``targets``.

    Returns
    -------
    records : list of dict
        One per recorded calcification (:class:`SyntheticLesion`'s ``calcifications``).
    footprints : list of (int, slice, slice, ndarray of bool)
        Per record: the calcification's index, the image rows and columns of its clipped box,
        and its mask pixels in that box.
    """
    centres = [(c.centre_mm[0] / spacing[0], c.centre_mm[1] / spacing[1]) for c in calcs]
    levels = texture.measure_levels() if texture is not None else None
    backgrounds, scales, amplitudes = [], [], []
    for k, (calc, (blurred, _, _, _)) in enumerate(zip(calcs, boxes)):
        bg = local_background(src, centres[k], bg_px) if mode == "presentation" else 0.0
        amplitude = None
        if levels is not None:
            peak = float(blurred.max()) if blurred.size else 0.0
            amplitude = float(targets[k]) * levels[k] / max(peak, 1e-6)
            scales.append(amplitude)
        elif mode == "presentation":
            wl = float(white or 0.0)
            scales.append(calc.contrast * max(wl - bg, 0.15 * abs(wl)))
        else:
            scales.append(calc.contrast)
        backgrounds.append(bg)
        amplitudes.append(amplitude)
    spans = add_boxes(out, [b[0] for b in boxes], [b[3] for b in boxes], scales, mode=mode,
                      where=breast)

    records: list[dict[str, Any]] = []
    footprints = []
    for k, (calc, (_, thick, cover, (r0, c0)), span) in enumerate(zip(calcs, boxes, spans)):
        if span is None:
            continue
        rs, cs = span
        cov = cover[rs.start - r0 : rs.stop - r0, cs.start - c0 : cs.stop - c0]
        th = thick[rs.start - r0 : rs.stop - r0, cs.start - c0 : cs.stop - c0]
        sel = (cov >= mask_threshold) | (th >= 0.4 * float(th.max()))
        if not sel.any():
            continue
        footprints.append((k, rs, cs, sel))
        records.append(_record(calc, rs, cs, sel, cov, th, spacing, backgrounds[k], centres[k],
                               amplitudes[k], None if targets is None else float(targets[k])))
    return records, footprints


def _label_visible(mask: np.ndarray, out: np.ndarray, records: list[dict[str, Any]],
                   footprints: list, texture: _Texture | None, *, floor: float,
                   label: int) -> None:
    """Measure each recorded calcification's conspicuity; label the visible ones in ``mask``.

    Parameters
    ----------
    mask : ndarray of shape (M, N), uint8
        Filled in place with ``label`` on the visible calcifications' pixels.
    out : ndarray of shape (M, N), float32
        The blended image.
    records, footprints : list
        From :func:`_blend`; the records get ``conspicuity`` and ``visible``.
    texture : _Texture or None
        None under the contrast rule: every recorded calcification is visible.
    floor : float
        Keyword-only. Visibility floor of the measured conspicuity.
    label : int
        Keyword-only. Mask value (``napari_mcdet.classes``).
    """
    measured = texture.conspicuity(out, footprints) if texture is not None else None
    for i, (rec, (_, rs, cs, sel)) in enumerate(zip(records, footprints)):
        visible = True
        if measured is not None:
            rec["conspicuity"] = measured[i]
            visible = rec["conspicuity"] >= floor
        rec["visible"] = visible
        if visible:
            mask[rs, cs][sel] = label


def conspicuity_targets(lo: float, hi: float, skew: float, n: int,
                        rng: np.random.Generator) -> np.ndarray:
    """``n`` conspicuity targets in [lo, hi): ``lo * (hi / lo) ** (u ** skew)``, u uniform.

    ``skew`` 1 is the log-uniform draw (bit for bit ``exp(rng.uniform(log lo, log hi))``).
    """
    u = rng.uniform(size=n)
    if skew != 1:
        u = u ** float(skew)
    return np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * u)


def _lesion_record(records: list[dict[str, Any]], centre: tuple[float, float],
                   **fields: Any) -> dict[str, Any]:
    """The lesion's record (:class:`SyntheticLesion`'s ``lesion``).

    Parameters
    ----------
    records : list of dict
        The calcifications' records.
    centre : (float, float)
        Lesion centre (row, col), pixels.
    **fields
        ``kind``, ``label``, ``layout``, ``n_requested``, ``extent_mm``, ``centre_mm``,
        ``mode``, ``white``, ``seed``, ``params``, ``psf_sigma_px``.

    Returns
    -------
    dict
        ``fields`` with the counts, the measured extent (mm, largest distance between two
        centroids) and the mask's bounding box (r0, c0, r1, c1) added.
    """
    cents = np.array([r["centroid_mm"] for r in records]).reshape(-1, 2)
    measured = 0.0
    if len(cents) > 1:
        d = np.hypot(*(cents[:, None, :] - cents[None, :, :]).transpose(2, 0, 1))
        measured = float(d.max())
    if records:
        bb = np.array([r["bbox"] for r in records])
        bbox = (int(bb[:, 0].min()), int(bb[:, 1].min()), int(bb[:, 2].max()), int(bb[:, 3].max()))
    else:
        bbox = (int(centre[0]), int(centre[1]), int(centre[0]), int(centre[1]))
    info = {key: fields[key] for key in ("kind", "label", "layout", "n_requested")}
    info.update(
        n_placed=len(records),
        n_visible=sum(bool(r["visible"]) for r in records),
        extent_mm=fields["extent_mm"],
        extent_measured_mm=measured,
        centre_px=centre,
        centre_mm=fields["centre_mm"],
        bbox=bbox,
    )
    info.update({key: fields[key] for key in ("mode", "white", "seed", "params",
                                              "psf_sigma_px")})
    return info


def _kind_and_params(kind: str, mode: str, params: LesionParams | None,
                     overrides: dict[str, Any]) -> tuple[int, LesionParams]:
    """The lesion's mask label (``napari_mcdet.classes``) and its checked parameters: ``params``
    itself, or the preset of ``kind`` with ``overrides``.

    Raises
    ------
    ValueError
        An unknown ``kind`` or ``mode``, or parameters out of range.
    TypeError
        Both ``params`` and ``overrides``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    label = {"benign": BENIGN, "malignant": MALIGNANT}.get(kind)
    if label is None:
        raise ValueError(f"kind must be 'benign' or 'malignant', got {kind!r}")
    p = params.validate() if params is not None else lesion_params(kind, **overrides)
    if params is not None and overrides:
        raise TypeError("pass either params=LesionParams(...) or keyword overrides, not both")
    return label, p


def _lesion_centre(centre: tuple[float, float] | None, breast: np.ndarray,
                   spacing: tuple[float, float], extent: float, rng: np.random.Generator
                   ) -> tuple[float, float]:
    """The lesion centre (row, col), pixels: ``centre``, or drawn inside the breast with half
    the lesion's ``extent`` (mm, at most 5 mm) of breast around it.

    Raises
    ------
    ValueError
        A given centre outside the image.
    """
    if centre is None:
        centre = pick_centre(breast, spacing, min(extent / 2, 5.0), rng)
    cr, cc = float(centre[0]), float(centre[1])
    if not (0 <= cr < breast.shape[0] and 0 <= cc < breast.shape[1]):
        raise ValueError(f"centre {centre} lies outside the image of shape {breast.shape}")
    return cr, cc


def _conspicuity_rule(p: LesionParams, src: np.ndarray, placed: list[Calcification],
                      boxes: list, spacing: tuple[float, float], *, white: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, _Texture]:
    """The drawn conspicuity of each placed calcification and the texture it is measured in.

    Parameters
    ----------
    p : LesionParams
        With ``conspicuity`` (lo, hi) and ``conspicuity_skew``.
    src : ndarray of shape (M, N)
        The image before any calcification.
    placed : list of Calcification
    boxes : list of (blurred, thickness, coverage, origin)
        From :func:`_render_and_blur`, one per placed calcification.
    spacing : (float, float)
        (row_mm, col_mm).
    white : float, keyword-only
        White level, image units; the texture's floor is a fraction of it.
    rng : numpy.random.Generator, keyword-only
        The conspicuity stream.

    Returns
    -------
    targets : ndarray of shape (len(placed),), float64
    texture : _Texture
    """
    lo, hi = p.conspicuity
    targets = conspicuity_targets(lo, hi, p.conspicuity_skew, len(placed), rng)
    texture = _Texture(src, [(o[0], o[1], t.shape[0], t.shape[1]) for _, t, _, o in boxes],
                       [c.radius_mm for c in placed], spacing,
                       floor=MIN_TEXTURE_FRACTION * abs(white))
    return targets, texture


def synthesize(
    image: np.ndarray | Mammogram,
    *,
    pixel_spacing: float | tuple[float, float] = (0.07, 0.07),
    kind: str = "malignant",
    seed: int | np.random.SeedSequence | None = 0,
    centre: tuple[float, float] | None = None,
    breast: np.ndarray | None = None,
    mode: str = "presentation",
    layout: str | None = None,
    white: float | None = None,
    min_density: float | None = None,
    bg_radius_mm: float = 1.5,
    mask_threshold: float = 0.3,
    params: LesionParams | None = None,
    **overrides: Any,
) -> SyntheticLesion:
    """Blend one synthetic benign or malignant lesion into ``image``.

    Parameters
    ----------
    image : ndarray of shape (M, N) or Mammogram
        A normal (negative) mammogram or a region of one, bright = dense. A ``Mammogram``'s own
        pixel spacing wins over ``pixel_spacing`` when it has one.
    pixel_spacing : float or (float, float)
        (row_mm, col_mm) of the image, mm/pixel; INbreast 0.07, mini-MIAS 0.2.
    kind : {'malignant', 'benign'}
        Which preset (:data:`~.clusters.MALIGNANT` / :data:`~.clusters.BENIGN`).
    seed : int or SeedSequence or None
        Same seed, same image and same settings -> same lesion.
    centre : (float, float), optional
        Lesion centre (row, col) in pixels; random inside the breast when None.
    breast : ndarray of bool of shape (M, N), optional
        Where calcifications may go; computed with
        :func:`napari_mcdet.data.breast.breast_mask` when None. Pass ``np.ones(shape, bool)`` for
        a region that is all breast.
    mode : {'presentation', 'raw'}
        Additive bright bump (log / presentation images) or multiplicative attenuation (raw).
    layout : str, optional
        Force an arrangement (:data:`~.clusters.LAYOUTS`); drawn from ``layout_mix`` when None.
    white : float, optional
        White level ``W`` of the presentation-mode formula; estimated as the 99.5th percentile
        inside the breast when None (pass 1.0 for images from
        :func:`napari_mcdet.data.normalize.normalize_image`).
    min_density : float, optional
        Place calcifications only where the local tissue level (mean within
        ``bg_radius_mm``) is at least this (dense tissue only), in image units.
    bg_radius_mm : float
        Half-size of the box for the local tissue level ``B``, mm (1.5 mm: the surroundings of a
        calcification without the neighbouring ones dominating).
    mask_threshold : float
        Pixel coverage (0-1) from which a pixel belongs to the mask.
    params : LesionParams, optional
        Full parameter set; the preset of ``kind`` when None.
    **overrides
        Any field of :class:`~.clusters.LesionParams` (``count``, ``extent_mm``, ``size_mm``,
        ``shape_mix``, ``layout_mix``, ``contrast``, ``min_gap_mm``, ``core_count``,
        ``core_radius_mm``, ``psf_sigma_px``), replacing the preset's value.

    Returns
    -------
    SyntheticLesion
    """
    src, pixel_spacing = _image_and_spacing(image, pixel_spacing)
    label, p = _kind_and_params(kind, mode, params, overrides)
    spacing = as_spacing(pixel_spacing)
    breast = _breast_mask(src, breast)
    rng_centre, rng_lesion, rng_place, rng_visible, rng_psf = _random_streams(seed)

    # 1. everything drawn in mm, independent of the image and its pixel grid
    lay, n, extent, calcs = _draw_calcifications(p, layout, rng_lesion)

    # 2. where: the centre, then positions with repulsion, inside the breast
    cr, cc = _lesion_centre(centre, breast, spacing, extent, rng_centre)
    centre_mm = np.array([cr * spacing[0], cc * spacing[1]])
    bg_px = (bg_radius_mm / spacing[0], bg_radius_mm / spacing[1])
    placed = _place_calcifications(calcs, src, breast, spacing, centre_mm, lay, extent, p,
                                   rng_place, min_density=min_density, bg_px=bg_px)

    # 3. render all calcifications in their own boxes, blur, blend; label the visible ones
    out = src.astype(np.float32, copy=True)
    mask = np.zeros(src.shape, dtype=np.uint8)
    if white is None and mode == "presentation":
        white = white_level(src, breast)
    psf = _psf_sigma(p.psf_sigma_px, rng_psf)
    boxes = _render_and_blur(placed, spacing, psf)
    targets = texture = None
    if p.conspicuity is not None and mode == "presentation" and placed:
        targets, texture = _conspicuity_rule(p, src, placed, boxes, spacing, white=white,
                                             rng=rng_visible)
    records, footprints = _blend(out, src, breast, placed, boxes, spacing, mode=mode,
                                 white=white, bg_px=bg_px, mask_threshold=mask_threshold,
                                 targets=targets, texture=texture)
    _label_visible(mask, out, records, footprints, texture, floor=p.visibility_floor,
                   label=label)

    info = _lesion_record(
        records, (cr, cc), kind=kind, label=label, layout=lay, n_requested=n, extent_mm=extent,
        centre_mm=(float(centre_mm[0]), float(centre_mm[1])), mode=mode, white=white,
        seed=seed if not isinstance(seed, np.random.SeedSequence) else seed.entropy,
        params=asdict(p), psf_sigma_px=psf,
    )
    return SyntheticLesion(image=out, mask=mask, centre=(cr, cc), calcifications=records,
                           lesion=info, pixel_spacing=spacing)
