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


def _thickness(prims: list, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Normalised projected thickness (max over primitives) at local coordinates ``u, v`` (mm)."""
    t = np.zeros(np.broadcast(u, v).shape, dtype=np.float32)
    for p in prims:
        name = p[0]
        if name == "ellipse":
            _, cu, cv, a, b = p
            val = _sphere(((u - cu) / a) ** 2 + ((v - cv) / b) ** 2)
        elif name == "capsule":
            _, u0, v0, u1, v1, r = p
            du, dv = u1 - u0, v1 - v0
            den = du * du + dv * dv
            s = (
                np.minimum(np.maximum(((u - u0) * du + (v - v0) * dv) * (1 / den), 0), 1)
                if den > 0 else 0.0
            )
            val = _sphere(((u - u0 - s * du) ** 2 + (v - v0 - s * dv) ** 2) / (r * r))
        elif name == "shell":
            _, a, wall = p
            rho2 = (u * u + v * v) / (a * a)
            inner = 1.0 - wall
            val = _sphere(rho2) - inner * _sphere(rho2 / (inner * inner))
            val = val / np.sqrt(1.0 - inner * inner)  # peak (at the inner radius) -> 1
        elif name == "star":
            _, a, b, ks, amps, phis = p
            theta = np.arctan2(v / b, u / a)
            rr = np.ones_like(theta)
            for k, amp, phi in zip(ks, amps, phis):
                rr = rr + amp * np.cos(k * theta + phi)
            val = _sphere(((u / a) ** 2 + (v / b) ** 2) / (rr * rr))
        else:  # pragma: no cover - guarded by make_shape
            raise ValueError(f"unknown primitive {name!r}")
        np.maximum(t, val, out=t)
    return t


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
    return int(np.clip(np.ceil(4 * max(pixel_spacing) / max(thin, 1e-3)), 2, 8))


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
        Extra empty pixels on each side (room for the point-spread blur).

    Returns
    -------
    thickness : ndarray of shape (h, w), float32
        Pixel-averaged normalised thickness in [0, 1] (anti-aliased, partial volume).
    coverage : ndarray of shape (h, w), float32
        Fraction of each pixel covered by the calcification, in [0, 1].
    origin : (int, int)
        Row and column of the box's top-left pixel in the image (may be negative).
    """
    sr, sc = (float(s) for s in pixel_spacing)
    cr, cc = calc.centre_mm[0] / sr, calc.centre_mm[1] / sc  # centre in pixels
    rr, rc = calc.radius_mm / sr, calc.radius_mm / sc
    r0, r1 = int(np.floor(cr - rr - 0.5)) - pad, int(np.ceil(cr + rr + 0.5)) + pad + 1
    c0, c1 = int(np.floor(cc - rc - 0.5)) - pad, int(np.ceil(cc + rc + 0.5)) + pad + 1
    h, w = r1 - r0, c1 - c0
    ss = supersampling((sr, sc), calc)
    off = (np.arange(ss) + 0.5) / ss - 0.5
    rows = ((np.arange(r0, r1)[:, None] + off[None, :]).ravel() * sr - calc.centre_mm[0])
    cols = ((np.arange(c0, c1)[:, None] + off[None, :]).ravel() * sc - calc.centre_mm[1])
    ca, sa = np.cos(calc.angle), np.sin(calc.angle)
    y = rows[:, None].astype(np.float32)
    x = cols[None, :].astype(np.float32)
    u = x * ca + y * sa  # local frame: u along the shape's axis
    v = -x * sa + y * ca
    t = _thickness(calc.primitives, u, v)
    t4 = t.reshape(h, ss, w, ss)
    inv = np.float32(1.0 / (ss * ss))
    thickness = t4.sum(axis=(1, 3)) * inv
    coverage = np.count_nonzero(t4 > 0, axis=(1, 3)).astype(np.float32) * inv
    return thickness, coverage, (r0, c0)
