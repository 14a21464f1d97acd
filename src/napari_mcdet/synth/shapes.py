"""Single calcifications: shapes drawn in millimetres, rendered anti-aliased at a pixel spacing.

A calcification is a small union of *primitives* (ellipsoids, capsules, star-shaped shards, shells)
in a local frame measured in millimetres. Each primitive gives a normalised projected thickness
``t`` in [0, 1] (1 at the thickest point): the X-ray path length through a sphere or a rod, which is
what attenuates the beam. Rendering evaluates ``t`` on a supersampled grid inside the
calcification's own small bounding box only, so a calcification narrower than a pixel becomes a
faint partial pixel (partial-volume effect), never a full bright one.

Shape kinds and their clinical meaning (BI-RADS 5th edition, Sickles et al. 2013; method.md §5):

============  =========  ===========================================================
kind          class      look
============  =========  ===========================================================
punctate      both       round, < 0.5 mm
round         benign     round, smooth, 0.5-2 mm
oval          benign     smooth ellipse, elongation 1.3-2
coarse        benign     "popcorn": lobulated union of 3-5 blobs, 1-3 mm
rim           benign     eggshell: a thin shell, bright rim, darker centre, 1-3 mm
rod           benign     large rod-like (secretory), 0.4-1 mm wide, 1.5-5 mm long
pleomorphic   malignant  fine pleomorphic "shard": irregular outline, 0.15-0.5 mm
linear        malignant  fine linear: thin rod < 0.5 mm wide, 0.5-2 mm long
branching     malignant  fine linear-branching: 2-3 thin rods forming a Y
============  =========  ===========================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: All shape kinds the generator knows.
SHAPE_KINDS: tuple[str, ...] = (
    "punctate",
    "round",
    "oval",
    "coarse",
    "rim",
    "rod",
    "pleomorphic",
    "linear",
    "branching",
)

#: Size ranges in mm for each kind: (min, max) of the calcification's largest dimension, and for
#: the rod-like kinds also the width. Sources: BI-RADS 5th ed. (fine < 0.5 mm, coarse/large benign
#: 0.5-2+ mm, rod-like >= 0.5 mm wide); Sickles 1986; simulation studies (0.2-0.6 mm MCs).
SIZE_RANGES_MM: dict[str, tuple[float, float]] = {
    "punctate": (0.1, 0.5),
    "round": (0.5, 2.0),
    "oval": (0.5, 1.5),
    "coarse": (1.0, 3.0),
    "rim": (1.0, 3.0),
    "rod": (1.5, 5.0),
    "pleomorphic": (0.15, 0.5),
    "linear": (0.5, 2.0),
    "branching": (0.8, 2.5),
}
#: Width ranges in mm of the rod-like kinds (fine linear < 0.5 mm wide; BI-RADS).
WIDTH_RANGES_MM: dict[str, tuple[float, float]] = {
    "rod": (0.4, 1.0),
    "linear": (0.1, 0.3),
    "branching": (0.1, 0.3),
}


@dataclass
class Calcification:
    """One calcification in physical units.

    Attributes
    ----------
    kind : str
        One of :data:`SHAPE_KINDS`.
    centre_mm : (float, float)
        Centre (row, col) in mm from the image's top-left pixel centre.
    angle : float
        Orientation of the local frame, radians.
    primitives : list of tuple
        Local-frame primitives in mm (see :func:`_thickness`).
    size_mm : float
        Largest dimension, mm.
    radius_mm : float
        Radius of a circle around ``centre_mm`` that holds the whole shape, mm.
    contrast : float
        Peak contrast of this calcification (see :mod:`napari_mcdet.synth.blend`).
    """

    kind: str
    centre_mm: tuple[float, float]
    angle: float
    primitives: list = field(default_factory=list)
    size_mm: float = 0.0
    radius_mm: float = 0.0
    contrast: float = 1.0


def make_shape(
    kind: str,
    rng: np.random.Generator,
    *,
    size_mm: float | None = None,
    size_range_mm: tuple[float, float] | None = None,
    width_range_mm: tuple[float, float] | None = None,
) -> tuple[list, float, float]:
    """Draw the primitives of one calcification of ``kind``.

    Parameters
    ----------
    kind : str
        One of :data:`SHAPE_KINDS`.
    rng : numpy.random.Generator
        Source of randomness.
    size_mm : float, optional
        Largest dimension in mm; drawn uniformly from ``size_range_mm`` when None.
    size_range_mm, width_range_mm : (float, float), optional
        Override :data:`SIZE_RANGES_MM` / :data:`WIDTH_RANGES_MM` for this kind.

    Returns
    -------
    primitives : list of tuple
        Local-frame primitives (mm).
    size_mm : float
        Largest dimension, mm.
    radius_mm : float
        Bounding radius around the local origin, mm.
    """
    if kind not in SHAPE_KINDS:
        raise ValueError(f"unknown calcification shape {kind!r}; choose one of {SHAPE_KINDS}")
    lo, hi = size_range_mm or SIZE_RANGES_MM[kind]
    if not 0 < lo <= hi:
        raise ValueError(f"size range must be 0 < min <= max mm, got {(lo, hi)} for {kind!r}")
    size = float(size_mm) if size_mm is not None else float(rng.uniform(lo, hi))
    wlo, whi = width_range_mm or WIDTH_RANGES_MM.get(kind, (0.1, 0.3))
    half = size / 2
    prims: list = []
    if kind in ("punctate", "round"):
        b = half * rng.uniform(0.85, 1.0)
        prims.append(("ellipse", 0.0, 0.0, half, b))
    elif kind == "oval":
        prims.append(("ellipse", 0.0, 0.0, half, half / rng.uniform(1.3, 2.0)))
    elif kind == "coarse":
        n = int(rng.integers(3, 6))
        for _ in range(n):
            r = half * rng.uniform(0.35, 0.55)
            ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0, half - r)
            prims.append(
                ("ellipse", dist * np.cos(ang), dist * np.sin(ang), r, r * rng.uniform(0.6, 1.0))
            )
    elif kind == "rim":
        prims.append(("shell", half, rng.uniform(0.15, 0.3)))
    elif kind in ("rod", "linear"):
        w = min(float(rng.uniform(wlo, whi)), size * 0.8)
        prims.append(("capsule", -half + w / 2, 0.0, half - w / 2, 0.0, w / 2))
    elif kind == "branching":
        w = min(float(rng.uniform(wlo, whi)), size * 0.5)
        # a trunk and 1-2 branches leaving it at 20-60 degrees: a "Y" or a twig
        trunk = size * rng.uniform(0.45, 0.6)
        u0, u1 = -half + w / 2, -half + trunk
        prims.append(("capsule", u0, 0.0, u1, 0.0, w / 2))
        for sign in rng.permutation([-1.0, 1.0])[: int(rng.integers(1, 3))]:
            ang = sign * rng.uniform(np.deg2rad(20), np.deg2rad(60))
            length = max(size - trunk, w) * rng.uniform(0.7, 1.0)
            prims.append(
                ("capsule", u1, 0.0, u1 + length * np.cos(ang), length * np.sin(ang),
                 w / 2 * rng.uniform(0.7, 1.0))
            )
    elif kind == "pleomorphic":
        # star-shaped shard: r(theta) = a (1 + sum_k amp_k cos(k theta + phi_k)), k = 2..5;
        # the harmonics remove about 20-30 % of the disc, like the "voxels removed" simulators
        ks = np.arange(2, 6)
        amps = rng.uniform(0.05, 0.22, size=ks.size) / np.sqrt(ks - 1)
        phis = rng.uniform(0, 2 * np.pi, size=ks.size)
        elong = rng.uniform(1.0, 1.8)
        a = half / (1 + amps.sum())
        prims.append(("star", a, a / elong, tuple(ks), tuple(amps), tuple(phis)))
    radius = _bounding_radius(prims)
    return prims, size, radius


def _bounding_radius(prims: list) -> float:
    r = 0.0
    for p in prims:
        if p[0] == "ellipse":
            r = max(r, np.hypot(p[1], p[2]) + max(p[3], p[4]))
        elif p[0] == "capsule":
            r = max(r, np.hypot(p[1], p[2]) + p[5], np.hypot(p[3], p[4]) + p[5])
        elif p[0] == "shell":
            r = max(r, p[1])
        elif p[0] == "star":
            r = max(r, p[1] * (1 + float(np.sum(p[4]))))
    return float(r)


def _sphere(rho2: np.ndarray) -> np.ndarray:
    """Projected thickness of a unit sphere at squared normalised radius ``rho2``."""
    return np.sqrt(np.maximum(1.0 - rho2, 0.0))


def _primitive_row(prim: tuple) -> tuple[tuple[float, float, float], tuple]:
    """Where a primitive can have thickness, and the numbers :func:`_primitive_values` reads.

    Returns
    -------
    extent : (float, float, float)
        A circle (u, v, radius), mm in the local frame, outside which ``prim`` is exactly 0.
    params : tuple of float
        Ellipse ``(cu, cv, a, b)``; capsule ``(u0, v0, du, dv, 1 / length^2, r^2)``; shell
        ``(a^2, inner, inner^2, sqrt(1 - inner^2))``; star ``(a, b, k..., amp..., phi...)``.
    """
    name = prim[0]
    if name == "ellipse":
        _, cu, cv, a, b = prim
        return (cu, cv, max(abs(a), abs(b))), (cu, cv, a, b)
    if name == "capsule":
        _, u0, v0, u1, v1, r = prim
        du, dv = u1 - u0, v1 - v0
        den = du * du + dv * dv
        extent = ((u0 + u1) / 2, (v0 + v1) / 2, math.hypot(du, dv) / 2 + abs(r))
        # a capsule of zero length is a sphere: its projection parameter s stays 0
        return extent, (u0, v0, du, dv, (1 / den) if den > 0 else 0.0, r * r)
    if name == "shell":
        _, a, wall = prim
        inner = 1.0 - wall
        return (0.0, 0.0, abs(a)), (a * a, inner, inner * inner, math.sqrt(1.0 - inner * inner))
    if name == "star":
        _, a, b, ks, amps, phis = prim
        reach = max(abs(a), abs(b)) * (1 + sum(abs(x) for x in amps))
        return (0.0, 0.0, reach), (a, b, *ks, *amps, *phis)
    raise ValueError(f"unknown primitive {name!r}")


def _primitive_values(name: str, u: np.ndarray, v: np.ndarray, par: np.ndarray) -> np.ndarray:
    """Normalised projected thickness of primitives of kind ``name``, one sample per element.

    ``u, v`` are float64 local coordinates (mm) of shape (P, ss, ss) and ``par`` the parameters
    (:func:`_primitive_row`) of each sample's primitive, shape (P, n_params). The arithmetic is
    the one-primitive formula of the module docstring, operation for operation, so a sample gets
    the same bits whether its calcification is rendered alone or with others.
    """
    col = [par[:, i, None, None] for i in range(par.shape[1])]
    if name == "ellipse":
        cu, cv, a, b = col
        return _sphere(((u - cu) / a) ** 2 + ((v - cv) / b) ** 2)
    if name == "capsule":
        u0, v0, du, dv, inv_den, r2 = col
        s = np.minimum(np.maximum(((u - u0) * du + (v - v0) * dv) * inv_den, 0), 1)
        return _sphere(((u - u0 - s * du) ** 2 + (v - v0 - s * dv) ** 2) / r2)
    if name == "shell":
        a2, inner, inner2, norm = col
        rho2 = (u * u + v * v) / a2
        val = _sphere(rho2) - inner * _sphere(rho2 / inner2)
        return val / norm  # peak (at the inner radius) -> 1
    if name == "star":
        a, b = col[:2]
        n = (len(col) - 2) // 3  # harmonics
        ks, amps, phis = col[2 : 2 + n], col[2 + n : 2 + 2 * n], col[2 + 2 * n :]
        theta = np.arctan2(v / b, u / a)
        rr = np.ones_like(theta)
        for k, amp, phi in zip(ks, amps, phis):
            rr = rr + amp * np.cos(k * theta + phi)
        return _sphere(((u / a) ** 2 + (v / b) ** 2) / (rr * rr))
    raise ValueError(f"unknown primitive {name!r}")  # pragma: no cover - guarded by make_shape


def supersampling(pixel_spacing: tuple[float, float], calc: Calcification) -> int:
    """Sub-samples per pixel and axis: about 4 samples across the thinnest part (2 to 8)."""
    thin = calc.size_mm
    for p in calc.primitives:
        if p[0] == "capsule":
            thin = min(thin, 2 * p[5])
        elif p[0] == "shell":
            thin = min(thin, p[1] * p[2])
        elif p[0] == "star":
            thin = min(thin, 2 * p[2])
    return min(max(math.ceil(4 * max(pixel_spacing) / max(thin, 1e-3)), 2), 8)


def _ragged_ranges(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(length)`` for each length, and which length each item came from."""
    owner = np.repeat(np.arange(lengths.size), lengths)
    first = np.cumsum(lengths) - lengths
    return np.arange(int(lengths.sum())) - np.repeat(first, lengths), owner


def subsample_mean(samples: np.ndarray) -> np.ndarray:
    """Mean of each pixel's ss x ss sub-samples, summed in one fixed order.

    Each sub-row is summed left to right, then the sub-row sums top to bottom (eight sub-samples
    pairwise: ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))), in float32: the order in which
    numpy sums ``t.reshape(h, ss, w, ss).sum(axis=(1, 3))`` for boxes at least 2 pixels wide,
    so rendering many calcifications at once gives the bits of rendering each alone.

    Parameters
    ----------
    samples : ndarray of shape (P, ss, ss), float32
        Sub-samples of P pixels (sub-row, sub-column).

    Returns
    -------
    ndarray of shape (P,), float32
    """
    ss = samples.shape[1]
    acc = np.zeros(samples.shape[0], dtype=np.float32)
    for a in range(ss):
        row = [samples[:, a, b] for b in range(ss)]
        if ss == 8:
            part = ((row[0] + row[1]) + (row[2] + row[3])) + ((row[4] + row[5]) + (row[6] + row[7]))
        else:
            part = row[0]
            for b in range(1, ss):
                part = part + row[b]
        acc += part
    return acc * np.float32(1.0 / (ss * ss))


def render(
    calc: Calcification, pixel_spacing: tuple[float, float], *, pad: int = 0
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Render one calcification inside its own bounding box.

    Parameters
    ----------
    calc : Calcification
        The shape, in mm.
    pixel_spacing : (float, float)
        (row_mm, col_mm) of the target grid.
    pad : int
        Keyword-only. Extra empty pixels on each side (room for the point-spread blur).

    Returns
    -------
    thickness : ndarray of shape (h, w), float32
        Pixel-averaged normalised thickness in [0, 1] (anti-aliased, partial volume).
    coverage : ndarray of shape (h, w), float32
        Fraction of each pixel covered by the calcification, in [0, 1].
    origin : (int, int)
        Row and column of the box's top-left pixel in the image (may be negative).
    """
    return render_many([calc], pixel_spacing, pad=pad)[0]


@dataclass
class _Boxes:
    """Every calcification's box on the target grid, as arrays of one row per calcification.

    Attributes
    ----------
    spacing : (float, float)
        (row_mm, col_mm) of the grid.
    r0, c0 : ndarray of shape (n,), int64
        Top-left pixel (row, col) of each box in the image (may be negative).
    h, w : ndarray of shape (n,), int64
        Box sizes, pixels.
    rate : ndarray of shape (n,), int64
        Sub-samples per pixel side (:func:`supersampling`).
    centre : ndarray of shape (n, 2), float64
        Calcification centres (row, col), image mm.
    cos, sin : ndarray of shape (n,), float64
        Of each calcification's angle.
    first_pixel : ndarray of shape (n,), int64
        Row of each box's first pixel in the sample buffer of its rate.
    """

    spacing: tuple[float, float]
    r0: np.ndarray
    c0: np.ndarray
    h: np.ndarray
    w: np.ndarray
    rate: np.ndarray
    centre: np.ndarray
    cos: np.ndarray
    sin: np.ndarray
    first_pixel: np.ndarray


def _boxes(calcs: list[Calcification], spacing: tuple[float, float], pad: int) -> _Boxes:
    """The boxes of ``calcs`` (bounding circle plus half a pixel and ``pad`` pixels a side)."""
    sr, sc = spacing
    n = len(calcs)
    r0, c0, h, w, ss = (np.empty(n, dtype=np.int64) for _ in range(5))
    centre = np.empty((n, 2), dtype=np.float64)
    for k, calc in enumerate(calcs):
        cr, cc = calc.centre_mm[0] / sr, calc.centre_mm[1] / sc
        rr, rc = calc.radius_mm / sr, calc.radius_mm / sc
        r0[k] = math.floor(cr - rr - 0.5) - pad
        c0[k] = math.floor(cc - rc - 0.5) - pad
        h[k] = math.ceil(cr + rr + 0.5) + pad + 1 - r0[k]
        w[k] = math.ceil(cc + rc + 0.5) + pad + 1 - c0[k]
        ss[k] = supersampling((sr, sc), calc)
        centre[k] = calc.centre_mm
    angle = np.array([c.angle for c in calcs], dtype=np.float64)
    first_pixel = np.zeros(n, dtype=np.int64)
    for rate in set(ss.tolist()):
        sel = np.flatnonzero(ss == rate)
        npix = h[sel] * w[sel]
        first_pixel[sel] = np.cumsum(npix) - npix
    return _Boxes(spacing, r0, c0, h, w, ss, centre, np.cos(angle), np.sin(angle), first_pixel)


def _sample_buffers(boxes: _Boxes) -> dict[int, np.ndarray]:
    """One zeroed buffer of (pixel, sub-row, sub-column) samples per sampling rate, float32,
    holding the pixels of every box of that rate in order."""
    buffers = {}
    for rate in sorted(set(boxes.rate.tolist())):
        sel = np.flatnonzero(boxes.rate == rate)
        buffers[rate] = np.zeros((int((boxes.h[sel] * boxes.w[sel]).sum()), rate, rate),
                                 dtype=np.float32)
    return buffers


def _primitive_groups(calcs: list[Calcification], boxes: _Boxes, half_diagonal: float
                      ) -> dict[tuple, tuple[list, list]]:
    """The primitives of all calcifications, grouped for one vectorised evaluation each.

    Returns
    -------
    dict
        ``(kind, parameter count, sampling rate) -> (rows, params)``: per primitive, ``rows``
        holds ``(k, p0, p1, q0, q1, dy, dx, radius)`` (its calcification, the rectangle of box
        pixels it can reach, its offset from the calcification's centre and its bounding
        radius, mm) and ``params`` its shape parameters (see ``_primitive_row``).
    """
    sr, sc = boxes.spacing
    groups: dict[tuple, tuple[list, list]] = {}
    for k, calc in enumerate(calcs):
        ck, sk = float(boxes.cos[k]), float(boxes.sin[k])
        row0 = boxes.centre[k, 0] / sr - boxes.r0[k]
        col0 = boxes.centre[k, 1] / sc - boxes.c0[k]
        h, w = boxes.h[k], boxes.w[k]
        for prim in calc.primitives:
            (pu, pv, radius), params = _primitive_row(prim)
            dy, dx = pu * sk + pv * ck, pu * ck - pv * sk  # local frame -> (row, col), mm
            reach = radius + half_diagonal
            row, col = row0 + dy / sr, col0 + dx / sc
            box = (max(0, math.ceil(row - reach / sr)), min(h, math.floor(row + reach / sr) + 1),
                   max(0, math.ceil(col - reach / sc)), min(w, math.floor(col + reach / sc) + 1))
            if box[1] > box[0] and box[3] > box[2]:
                # one group per kind, parameter count (stars' harmonics) and sampling rate
                rows, pars = groups.setdefault((prim[0], len(params), int(boxes.rate[k])),
                                               ([], []))
                rows.append((k, *box, dy, dx, radius))
                pars.append(params)
    return groups


def _reached_pixels(name: str, geo: np.ndarray, par: np.ndarray, boxes: _Boxes,
                    half_diagonal: float) -> tuple[np.ndarray, ...]:
    """The box pixels each primitive of one group can reach.

    Parameters
    ----------
    name : str
        The primitives' kind.
    geo : ndarray of shape (P, 8), float64
        The group's ``rows`` (see :func:`_primitive_groups`).
    par : ndarray of shape (P, K), float64
        The group's shape parameters.
    boxes : _Boxes
    half_diagonal : float
        Half a pixel's diagonal (and a hair), mm.

    Returns
    -------
    kk, prow, pcol, owner : ndarray of shape (Q,), int64
        Per reached pixel: its calcification, its row and column in that calcification's box,
        and the primitive (row of ``geo``) reaching it.
    """
    sr, sc = boxes.spacing
    k, pa, pb, qa, qb = (geo[:, i].astype(np.int64) for i in range(5))
    width = qb - qa
    local, owner = _ragged_ranges((pb - pa) * width)
    kk = k[owner]
    prow = pa[owner] + local // width[owner]
    pcol = qa[owner] + local % width[owner]
    # pixel centres relative to the primitive's circle, mm: keep those it can reach
    yc = (boxes.r0[kk] + prow) * sr - boxes.centre[kk, 0]
    xc = (boxes.c0[kk] + pcol) * sc - boxes.centre[kk, 1]
    ext = geo[owner, 5:8]
    near = (yc - ext[:, 0]) ** 2 + (xc - ext[:, 1]) ** 2 <= (ext[:, 2] + half_diagonal) ** 2
    if name == "capsule":  # long and thin: keep the pixels near the segment, not its circle
        cos_a, sin_a = boxes.cos[kk], boxes.sin[kk]
        uc = xc * cos_a + yc * sin_a
        vc = -xc * sin_a + yc * cos_a
        u0, v0, du, dv, inv_den, r2 = par[owner].T
        t = np.clip(((uc - u0) * du + (vc - v0) * dv) * inv_den, 0, 1)
        dist2 = (uc - u0 - t * du) ** 2 + (vc - v0 - t * dv) ** 2
        near &= dist2 <= (np.sqrt(r2) + half_diagonal) ** 2
    keep = np.flatnonzero(near)
    return kk[keep], prow[keep], pcol[keep], owner[keep]


def _sample_values(name: str, rate: int, kk: np.ndarray, prow: np.ndarray, pcol: np.ndarray,
                   par: np.ndarray, boxes: _Boxes) -> np.ndarray:
    """The primitive's thickness at the ``rate`` x ``rate`` sub-samples of the pixels, float32
    of shape (Q, rate, rate), as the one-calcification formula computes them: sample position
    (pixel + sub-sample offset) * spacing - centre, rounded to float32, in the shape's frame."""
    sr, sc = boxes.spacing
    off = (np.arange(rate) + 0.5) / rate - 0.5
    y = (((boxes.r0[kk] + prow)[:, None] + off[None, :]) * sr - boxes.centre[kk, 0][:, None])
    x = (((boxes.c0[kk] + pcol)[:, None] + off[None, :]) * sc - boxes.centre[kk, 1][:, None])
    y = y.astype(np.float32)[:, :, None]
    x = x.astype(np.float32)[:, None, :]
    ca, sa = boxes.cos[kk][:, None, None], boxes.sin[kk][:, None, None]
    u = x * ca + y * sa  # local frame: u along the shape's axis
    v = -x * sa + y * ca
    return _primitive_values(name, u, v, par).astype(np.float32)


def _box_pixels(buffers: dict[int, np.ndarray], boxes: _Boxes
                ) -> list[tuple[np.ndarray, np.ndarray, tuple[int, int]]]:
    """Average the sample buffers to pixels: ``(thickness, coverage, origin)`` per box."""
    thickness, coverage = {}, {}
    for rate, buf in buffers.items():
        thickness[rate] = subsample_mean(buf)
        count = np.count_nonzero(buf.reshape(buf.shape[0], -1) > 0, axis=1)
        coverage[rate] = count.astype(np.float32) * np.float32(1.0 / (rate * rate))
    out = []
    for k in range(len(boxes.rate)):
        h, w = int(boxes.h[k]), int(boxes.w[k])
        rate, start = int(boxes.rate[k]), int(boxes.first_pixel[k])
        sl = slice(start, start + h * w)
        out.append((thickness[rate][sl].reshape(h, w), coverage[rate][sl].reshape(h, w),
                    (int(boxes.r0[k]), int(boxes.c0[k]))))
    return out


def render_many(
    calcs: list[Calcification], pixel_spacing: tuple[float, float], *, pad: int = 0
) -> list[tuple[np.ndarray, np.ndarray, tuple[int, int]]]:
    """Render several calcifications, each in its own bounding box, in one vectorised pass.

    Each calcification's box gets :func:`supersampling` x :func:`supersampling` samples per
    pixel. A primitive is evaluated only on the pixels it can reach (centre within its reach
    plus half a pixel diagonal; everything else is exactly 0, so leaving it out changes no bit),
    all primitives of one kind and sampling rate at once, then :func:`subsample_mean` averages
    the samples to pixels. The result is, bit for bit, that of evaluating each calcification
    alone on the full supersampled grid of its box and averaging with numpy's own pixel sums.

    Parameters
    ----------
    calcs : list of Calcification
        The shapes, in mm (centres in image mm).
    pixel_spacing : (float, float)
        (row_mm, col_mm) of the target grid.
    pad : int
        Keyword-only. Extra empty pixels on each side of every box (room for the blur).

    Returns
    -------
    list of (thickness, coverage, origin)
        One per calcification, as :func:`render` returns them: ``thickness`` and ``coverage``
        float32 arrays of the box's shape (h, w), ``origin`` its top-left (row, col) pixel.
    """
    sr, sc = (float(s) for s in pixel_spacing)
    if not calcs:
        return []
    boxes = _boxes(calcs, (sr, sc), pad)
    buffers = _sample_buffers(boxes)
    # a primitive can touch a pixel's sub-samples only when its circle comes within half the
    # pixel's diagonal of the pixel's centre; the thousandth of a pixel more absorbs rounding
    half_diagonal = 0.5 * math.hypot(sr, sc) + 1e-3 * min(sr, sc)
    groups = _primitive_groups(calcs, boxes, half_diagonal)
    for (name, _, rate), (rows, pars) in groups.items():
        geo = np.array(rows, dtype=np.float64)
        par = np.array(pars, dtype=np.float64)
        kk, prow, pcol, owner = _reached_pixels(name, geo, par, boxes, half_diagonal)
        values = _sample_values(name, rate, kk, prow, pcol, par[owner], boxes)
        target = boxes.first_pixel[kk] + prow * boxes.w[kk] + pcol
        if len({row[0] for row in rows}) == len(rows):  # one primitive per calcification
            buffers[rate][target] = values
        else:  # popcorn blobs, branches: overlapping primitives keep the thicker
            np.maximum.at(buffers[rate], target, values)
    return _box_pixels(buffers, boxes)
