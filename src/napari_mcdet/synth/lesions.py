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
from .blend import MODES, add_to_image, blur_psf, local_background, white_level
from .clusters import LesionParams, choose, lesion_params, place
from .conspicuity import (
    MIN_TEXTURE_FRACTION,
    TOPHAT_RADIUS_MM,
    disk_radius_px,
    texture_level,
    white_tophat,
)
from .shapes import Calcification, make_shape, render


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
        ``params`` (the :class:`~.clusters.LesionParams` as a dict).
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

    Computed once per disk radius on one crop holding every calcification and its texture window
    (:data:`~.conspicuity.WINDOW_MM`), so the cost follows the lesion, not the image.
    """

    def __init__(self, src: np.ndarray, drawn: list, spacing: tuple[float, float], *,
                 floor: float) -> None:
        from .conspicuity import WINDOW_MM

        self.spacing, self.floor = spacing, floor
        self.half = (int(np.ceil(WINDOW_MM / 2 / spacing[0])),
                     int(np.ceil(WINDOW_MM / 2 / spacing[1])))
        base = disk_radius_px(min(spacing), TOPHAT_RADIUS_MM)
        self.radius, self.centre = [], []
        r_lo = c_lo = np.inf
        r_hi = c_hi = -np.inf
        for calc, _, thick, _, (r0, c0) in drawn:
            self.radius.append(max(base, int(np.ceil(calc.radius_mm / min(spacing))) + 1))
            cr, cc = r0 + thick.shape[0] / 2, c0 + thick.shape[1] / 2
            self.centre.append((cr, cc))
            r_lo, r_hi = min(r_lo, r0), max(r_hi, r0 + thick.shape[0])
            c_lo, c_hi = min(c_lo, c0), max(c_hi, c0 + thick.shape[1])
        h, w = src.shape
        self.r0 = int(max(0, r_lo - self.half[0]))
        self.c0 = int(max(0, c_lo - self.half[1]))
        self.r1 = int(min(h, r_hi + self.half[0]))
        self.c1 = int(min(w, c_hi + self.half[1]))
        self.src = src[self.r0:self.r1, self.c0:self.c1]
        self._before: dict[int, np.ndarray] = {}
        self._after: dict[int, np.ndarray] = {}
        self.level: dict[int, float] = {}

    def _window(self, k: int) -> tuple[slice, slice]:
        cr, cc = self.centre[k]
        h0, h1 = self.half
        return (slice(max(0, int(cr) - h0 - self.r0), max(0, int(cr) + h0 - self.r0)),
                slice(max(0, int(cc) - h1 - self.c0), max(0, int(cc) + h1 - self.c0)))

    def amplitude(self, k: int, target: float, blurred: np.ndarray, origin: tuple[int, int],
                  breast: np.ndarray) -> float:
        """Blend amplitude giving calcification ``k`` the conspicuity ``target``."""
        rad = self.radius[k]
        if rad not in self._before:
            self._before[rad] = white_tophat(self.src, rad)
        ws = self._window(k)
        self.level[k] = texture_level(self._before[rad][ws], floor=self.floor)
        peak = float(blurred.max()) if blurred.size else 0.0
        return target * self.level[k] / max(peak, 1e-6)

    def measure(self, k: int, out: np.ndarray, rs: slice, cs: slice, sel: np.ndarray) -> float:
        """Measured conspicuity of calcification ``k`` in the blended image ``out``."""
        rad = self.radius[k]
        if rad not in self._after:
            self._after[rad] = white_tophat(out[self.r0:self.r1, self.c0:self.c1], rad)
        th = self._after[rad][rs.start - self.r0:rs.stop - self.r0,
                              cs.start - self.c0:cs.stop - self.c0]
        level = self.level.get(k, 0.0)
        return float(th[sel].max() / level) if level > 0 and sel.any() else 0.0


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
    if isinstance(image, Mammogram):
        if image.pixel_spacing is not None:
            pixel_spacing = image.pixel_spacing
        image = image.pixels
    src = np.asarray(image)
    if src.ndim != 2:
        raise ValueError(f"image must be 2-D (M, N), got shape {src.shape}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    label = {"benign": BENIGN, "malignant": MALIGNANT}.get(kind)
    if label is None:
        raise ValueError(f"kind must be 'benign' or 'malignant', got {kind!r}")
    spacing = as_spacing(pixel_spacing)
    p = params.validate() if params is not None else lesion_params(kind, **overrides)
    if params is not None and overrides:
        raise TypeError("pass either params=LesionParams(...) or keyword overrides, not both")
    if breast is None:
        from ..data.breast import breast_mask

        breast = breast_mask(src)
    breast = np.asarray(breast, dtype=bool)
    if breast.shape != src.shape:
        raise ValueError(f"breast mask shape {breast.shape} differs from image shape {src.shape}")

    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    # a fourth child for the conspicuity draws: the first three streams stay those of the
    # contrast rule, so a lesion drawn without conspicuity is unchanged
    rng_centre, rng_lesion, rng_place, rng_visible = (
        np.random.default_rng(s) for s in ss.spawn(4))

    # 1. everything drawn in mm, independent of the image and its pixel grid
    lay = layout or choose(p.layout_mix, rng_lesion)
    n = 1 if lay == "isolated" else int(rng_lesion.integers(p.count[0], p.count[1] + 1))
    extent = float(rng_lesion.uniform(*p.extent_mm))
    calcs: list[Calcification] = []
    kinds = list(p.shape_mix)
    weights = np.array([p.shape_mix[k] for k in kinds], dtype=float)
    drawn = rng_lesion.choice(len(kinds), size=n, p=weights / weights.sum())
    for j in range(n):
        shape_kind = kinds[int(drawn[j])]
        prims, size, radius = make_shape(shape_kind, rng_lesion, size_range_mm=p.size_mm)
        calcs.append(
            Calcification(
                kind=shape_kind,
                centre_mm=(0.0, 0.0),
                angle=float(rng_lesion.uniform(0, 2 * np.pi)),
                primitives=prims,
                size_mm=size,
                radius_mm=radius,
                contrast=float(rng_lesion.uniform(*p.contrast)),
            )
        )

    # 2. where: the centre, then positions with repulsion, inside the breast
    if centre is None:
        centre = pick_centre(breast, spacing, min(extent / 2, 5.0), rng_centre)
    cr, cc = float(centre[0]), float(centre[1])
    h, w = src.shape
    if not (0 <= cr < h and 0 <= cc < w):
        raise ValueError(f"centre {centre} lies outside the image of shape {src.shape}")
    centre_mm = np.array([cr * spacing[0], cc * spacing[1]])
    bg_px = (bg_radius_mm / spacing[0], bg_radius_mm / spacing[1])

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

    radii = np.array([c.radius_mm for c in calcs])
    offsets, placed = place(
        radii,
        lay,
        extent,
        rng_place,
        min_gap_mm=p.min_gap_mm,
        core_count=p.core_count,
        core_radius_mm=p.core_radius_mm,
        accept=accept,
    )

    # 3. render each calcification in its own box, blur, blend
    out = src.astype(np.float32, copy=True)
    mask = np.zeros(src.shape, dtype=np.uint8)
    if white is None and mode == "presentation":
        white = white_level(src, breast)
    calibrated = p.conspicuity is not None and mode == "presentation"
    drawn_calcs = []
    for off, i in zip(offsets, placed):
        calc = calcs[i]
        calc.centre_mm = (float(centre_mm[0] + off[0]), float(centre_mm[1] + off[1]))
        thick, cover, origin = render(calc, spacing, pad=int(np.ceil(3 * p.psf_sigma_px)))
        drawn_calcs.append((calc, blur_psf(thick, p.psf_sigma_px), thick, cover, origin))
    targets = None
    if calibrated and drawn_calcs:  # none placed (no room in the breast): nothing to calibrate
        lo, hi = p.conspicuity
        targets = np.exp(rng_visible.uniform(np.log(lo), np.log(hi), size=len(drawn_calcs)))
        texture = _Texture(src, drawn_calcs, spacing, floor=MIN_TEXTURE_FRACTION * abs(white))
    records: list[dict[str, Any]] = []
    footprints = []
    for k, (calc, blurred, thick, cover, (r0, c0)) in enumerate(drawn_calcs):
        pr, pc = calc.centre_mm[0] / spacing[0], calc.centre_mm[1] / spacing[1]
        bg = local_background(src, (pr, pc), bg_px) if mode == "presentation" else 0.0
        amplitude = None
        if targets is not None:
            amplitude = texture.amplitude(k, float(targets[k]), blurred, (r0, c0), breast)
        done = add_to_image(
            out,
            blurred,
            (r0, c0),
            mode=mode,
            contrast=calc.contrast,
            background=bg,
            white=float(white or 0.0),
            where=breast,
            amplitude=amplitude,
        )
        if done is None:
            continue
        rs, cs, _ = done
        cov = cover[rs.start - r0 : rs.stop - r0, cs.start - c0 : cs.stop - c0]
        th = thick[rs.start - r0 : rs.stop - r0, cs.start - c0 : cs.stop - c0]
        sel = (cov >= mask_threshold) | (th >= 0.4 * float(th.max()))
        if not sel.any():
            continue
        footprints.append((k, rs, cs, sel))
        records.append(_record(calc, rs, cs, sel, cov, th, spacing, bg, (pr, pc), amplitude,
                               None if targets is None else float(targets[k])))
    for rec, (k, rs, cs, sel) in zip(records, footprints):
        visible = True
        if targets is not None:
            rec["conspicuity"] = texture.measure(k, out, rs, cs, sel)
            visible = rec["conspicuity"] >= p.visibility_floor
        rec["visible"] = visible
        if visible:
            mask[rs, cs][sel] = label

    cents = np.array([r["centroid_mm"] for r in records]).reshape(-1, 2)
    measured = 0.0
    if len(cents) > 1:
        d = np.hypot(*(cents[:, None, :] - cents[None, :, :]).transpose(2, 0, 1))
        measured = float(d.max())
    if records:
        bb = np.array([r["bbox"] for r in records])
        bbox = (int(bb[:, 0].min()), int(bb[:, 1].min()), int(bb[:, 2].max()), int(bb[:, 3].max()))
    else:
        bbox = (int(cr), int(cc), int(cr), int(cc))
    info = {
        "kind": kind,
        "label": label,
        "layout": lay,
        "n_requested": n,
        "n_placed": len(records),
        "n_visible": sum(bool(r["visible"]) for r in records),
        "extent_mm": extent,
        "extent_measured_mm": measured,
        "centre_px": (cr, cc),
        "centre_mm": (float(centre_mm[0]), float(centre_mm[1])),
        "bbox": bbox,
        "mode": mode,
        "white": white,
        "seed": seed if not isinstance(seed, np.random.SeedSequence) else seed.entropy,
        "params": asdict(p),
    }
    return SyntheticLesion(
        image=out,
        mask=mask,
        centre=(cr, cc),
        calcifications=records,
        lesion=info,
        pixel_spacing=spacing,
    )
