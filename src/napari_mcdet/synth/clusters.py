"""Lesion layouts: where the calcifications of one benign or malignant lesion sit, in millimetres.

Every parameter of a lesion lives in :class:`LesionParams`, with its unit, range and source. Two
presets, :data:`BENIGN` and :data:`MALIGNANT`, follow the clinical facts of method.md §5:

* **Malignant** (BI-RADS 5th ed. "grouped": >= 5 calcifications within 1 cm, the group at most 2 cm
  across; older definition >= 3 within 1 cm^2; often > 20 per cm^2): 10-50 fine calcifications
  (pleomorphic shards, punctate, fine linear and linear-branching, < 0.5 mm wide) over 5-20 mm, as
  published simulators do (clusters of 10-50 MCs over 5, 10 or 20 mm, FDA DIDSR / LAVI-USP).
  Arrangements: *clustered* (2-D Gaussian, sigma = extent / 4, like the simulators' sigma ~ 2 mm
  for an 8 mm cluster), *linear* (along a gently curved line, perpendicular jitter 0.25 mm, the
  DIDSR linear clusters) and *segmental* (a wedge of 2-4 diverging ducts, BI-RADS "segmental").
  The first 5 calcifications are placed within 4.5 mm of the centre, so the ">= 5 within 1 cm"
  rule holds by construction.
* **Benign**: 1-6 larger, smooth calcifications (round, punctate, oval, coarse/popcorn, rim,
  rod-like; 0.5-3 mm), *scattered* uniformly over 5-20 mm or *isolated*, fewer than ~10 per cm^2.

Placement uses a repulsion rule (a candidate is rejected when it comes closer than the two
bounding radii plus ``min_gap_mm`` to an already placed calcification), so calcifications never
merge, as in the LAVI-USP and DIDSR generators.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from .conspicuity import VISIBILITY_FLOOR
from .shapes import SHAPE_KINDS

LAYOUTS: tuple[str, ...] = ("clustered", "linear", "segmental", "scattered", "isolated")


@dataclass(frozen=True)
class LesionParams:
    """Parameters of one synthetic lesion (all lengths in mm).

    Attributes
    ----------
    count : (int, int)
        Number of calcifications, drawn uniformly in ``[min, max]``. Malignant 10-50 (simulators
        use 10-50 MCs per cluster); benign 1-6 (BI-RADS: scattered/isolated, few per cm^2).
    extent_mm : (float, float)
        Lesion diameter in mm (cluster extent; line length for linear layouts), drawn uniformly.
        Malignant 5-20 mm (BI-RADS grouped: <= 2 cm); benign 5-20 mm.
    size_mm : (float, float) or None
        If set, overrides every shape's own size range (:data:`~.shapes.SIZE_RANGES_MM`): the
        largest dimension of each calcification, mm. Range 0.05-5 mm.
    shape_mix : dict of str to float
        Relative frequency of each shape kind (:data:`~.shapes.SHAPE_KINDS`); normalised.
    layout_mix : dict of str to float
        Relative frequency of the arrangements (:data:`LAYOUTS`); normalised.
    contrast : (float, float)
        Peak contrast of each calcification, drawn uniformly: the fraction of the local headroom
        (white level minus local tissue) for presentation images, or the attenuation fraction
        ``c`` of ``I * (1 - c t)`` for raw images. Range 0-1; relative contrasts 0.5-1 (LAVI-USP)
        for presentation images, c ~ 0.1-0.3 for raw data (method.md §5).
    min_gap_mm : float
        Repulsion: minimum free gap between two calcifications' bounding circles, mm (>= 0).
    core_count : int
        At least this many calcifications are placed within ``core_radius_mm`` of the centre
        (5 for malignant: BI-RADS ">= 5 within 1 cm"; 0 for benign).
    core_radius_mm : float
        Radius of that core, mm (4.5 mm keeps the 5 inside a 1 cm circle).
    psf_sigma_px : float or (float, float)
        Standard deviation of the Gaussian point-spread function, pixels (method.md §5: about one
        pixel). 0 disables the blur. A (min, max) range draws one value per lesion, uniformly:
        a network trained on one blur learns that blur as part of what a calcification is, and
        misses sharper ones (an image with finer pixels, resampled to the network's grid, gives
        sharper calcifications; ``docs/results.md``).
    conspicuity : (float, float) or None
        Range of each calcification's conspicuity (:mod:`~.conspicuity`: its top-hat peak over the
        99th percentile of the local texture's), drawn log-uniformly; the blend amplitude is set
        so that the drawn value is reached whatever the image's brightness. When None, the
        ``contrast`` rule (relative to the white level) is used instead. Presentation images
        only; the default is the range measured on real mini-MIAS calcifications
        (``docs/synthesis.md``).
    conspicuity_skew : float
        Shape of the conspicuity draw within its range: ``lo * (hi / lo) ** (u ** skew)`` with
        ``u`` uniform on [0, 1). 1 is log-uniform; larger values put more calcifications near
        ``lo``, where the real ones pile up (about 2 gives the real median, 1.6, over the
        default range; ``docs/synthesis.md``).
    visibility_floor : float
        Calcifications whose measured conspicuity is below this are drawn but not labelled; a
        lesion with no calcification above it is not a lesion (1.2: below it a speck cannot be
        told from the texture).
    """

    count: tuple[int, int] = (10, 50)
    extent_mm: tuple[float, float] = (5.0, 20.0)
    size_mm: tuple[float, float] | None = None
    shape_mix: dict[str, float] = field(default_factory=dict)
    layout_mix: dict[str, float] = field(default_factory=dict)
    contrast: tuple[float, float] = (0.3, 0.8)
    min_gap_mm: float = 0.15
    core_count: int = 5
    core_radius_mm: float = 4.5
    psf_sigma_px: float | tuple[float, float] = 0.7
    conspicuity: tuple[float, float] | None = None
    conspicuity_skew: float = 1.0
    visibility_floor: float = VISIBILITY_FLOOR

    def validate(self) -> LesionParams:
        """Check ranges; raise ValueError naming the bad parameter and the fix."""
        lo, hi = self.count
        if not 1 <= lo <= hi:
            raise ValueError(f"count must satisfy 1 <= min <= max, got {self.count}")
        if not 0 < self.extent_mm[0] <= self.extent_mm[1]:
            raise ValueError(f"extent_mm must satisfy 0 < min <= max, got {self.extent_mm}")
        if self.size_mm is not None and not 0 < self.size_mm[0] <= self.size_mm[1]:
            raise ValueError(f"size_mm must satisfy 0 < min <= max, got {self.size_mm}")
        if not 0 <= self.contrast[0] <= self.contrast[1]:
            raise ValueError(f"contrast must satisfy 0 <= min <= max, got {self.contrast}")
        for name, mix, allowed in (
            ("shape_mix", self.shape_mix, SHAPE_KINDS),
            ("layout_mix", self.layout_mix, LAYOUTS),
        ):
            bad = set(mix) - set(allowed)
            if bad:
                raise ValueError(f"{name} has unknown keys {sorted(bad)}; allowed: {allowed}")
            if not mix or sum(mix.values()) <= 0 or min(mix.values()) < 0:
                raise ValueError(
                    f"{name} needs non-negative weights with a positive sum, got {mix}"
                )
        if self.conspicuity is not None and not 0 < self.conspicuity[0] <= self.conspicuity[1]:
            raise ValueError(
                f"conspicuity must satisfy 0 < min <= max, got {self.conspicuity}; typical real "
                "calcifications lie between 1.5 and 6"
            )
        if not self.conspicuity_skew > 0:
            raise ValueError(f"conspicuity_skew must be > 0 (1: log-uniform), got "
                             f"{self.conspicuity_skew}")
        if not self.visibility_floor >= 0:
            raise ValueError(f"visibility_floor must be >= 0, got {self.visibility_floor}")
        if isinstance(self.psf_sigma_px, (tuple, list)):
            if len(self.psf_sigma_px) != 2 or not 0 <= self.psf_sigma_px[0] <= self.psf_sigma_px[1]:
                raise ValueError(f"a psf_sigma_px range must be (min, max) with 0 <= min <= max, "
                                 f"got {self.psf_sigma_px}")
        elif not isinstance(self.psf_sigma_px, numbers.Real) or not self.psf_sigma_px >= 0:
            raise ValueError(f"psf_sigma_px must be a number >= 0 or a (min, max) range, got "
                             f"{self.psf_sigma_px!r}")
        if self.min_gap_mm < 0 or self.core_radius_mm <= 0:
            raise ValueError("min_gap_mm must be >= 0, core_radius_mm > 0")
        return self


#: Conspicuity range of the real calcifications of the mini-MIAS development cases (5th-95th
#: percentiles of their visible specks; ``docs/scripts/make_conspicuity_figure.py``).
REAL_CONSPICUITY = (1.25, 3.7)

#: Malignant preset (see the module docstring for the sources).
MALIGNANT = LesionParams(
    count=(10, 50),
    extent_mm=(5.0, 20.0),
    shape_mix={"pleomorphic": 0.5, "punctate": 0.15, "linear": 0.2, "branching": 0.15},
    layout_mix={"clustered": 0.5, "linear": 0.25, "segmental": 0.25},
    contrast=(0.3, 0.8),
    min_gap_mm=0.15,
    core_count=5,
    conspicuity=REAL_CONSPICUITY,
)

#: Benign preset.
BENIGN = LesionParams(
    count=(1, 6),
    extent_mm=(5.0, 20.0),
    shape_mix={"round": 0.35, "punctate": 0.15, "oval": 0.15, "coarse": 0.15, "rim": 0.1,
               "rod": 0.1},
    layout_mix={"scattered": 0.8, "isolated": 0.2},
    contrast=(0.5, 1.0),
    min_gap_mm=1.5,
    core_count=0,
    conspicuity=REAL_CONSPICUITY,
)

PRESETS: dict[str, LesionParams] = {"benign": BENIGN, "malignant": MALIGNANT}


def lesion_params(kind: str = "malignant", **overrides) -> LesionParams:
    """The preset for ``kind`` ('benign' or 'malignant') with some fields replaced."""
    if kind not in PRESETS:
        raise ValueError(f"kind must be 'benign' or 'malignant', got {kind!r}")
    unknown = set(overrides) - set(LesionParams.__dataclass_fields__)
    if unknown:
        raise TypeError(
            f"unknown lesion parameter(s) {sorted(unknown)}; "
            f"known: {sorted(LesionParams.__dataclass_fields__)}"
        )
    fields = {k: v for k, v in overrides.items() if v is not None}
    if "contrast" in overrides and "conspicuity" not in overrides:
        # an explicit contrast asks for the contrast rule, which conspicuity would override
        fields["conspicuity"] = None
    elif "conspicuity" in overrides and overrides["conspicuity"] is None:
        fields["conspicuity"] = None
    params = replace(PRESETS[kind], **fields)
    return params.validate()


def choose(mix: dict[str, float], rng: np.random.Generator) -> str:
    keys = list(mix)
    p = np.array([mix[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


class _Sampler:
    """Candidate positions (mm, relative to the lesion centre) for one layout."""

    def __init__(self, layout: str, extent: float, rng: np.random.Generator):
        self.layout, self.extent, self.rng = layout, extent, rng
        theta = rng.uniform(0, np.pi)
        self.d = np.array([np.sin(theta), np.cos(theta)])  # (row, col) direction
        self.n = np.array([self.d[1], -self.d[0]])
        self.curv = rng.uniform(-1, 1) * 0.3 / max(extent, 1e-6)
        if layout == "segmental":
            half_angle = rng.uniform(np.deg2rad(15), np.deg2rad(35))
            self.rays = rng.uniform(-half_angle, half_angle, size=int(rng.integers(2, 5)))

    def __call__(self, k: int) -> np.ndarray:
        """``k`` candidate offsets, shape (k, 2), mm."""
        rng, e = self.rng, self.extent
        if self.layout == "clustered":
            return rng.normal(0, e / 4, size=(k, 2))
        if self.layout == "linear":
            s = rng.uniform(-e / 2, e / 2, size=k)
            across = self.curv * s * s + rng.normal(0, 0.25, size=k)
            return s[:, None] * self.d + across[:, None] * self.n
        if self.layout == "segmental":
            a = self.rays[rng.integers(len(self.rays), size=k)]
            s = rng.uniform(0, e, size=k)
            along = s * np.cos(a) - e / 2
            across = s * np.sin(a) + rng.normal(0, 0.2, size=k)
            return along[:, None] * self.d + across[:, None] * self.n
        if self.layout == "scattered":
            r, t = e / 2 * np.sqrt(rng.uniform(size=k)), rng.uniform(0, 2 * np.pi, size=k)
            return np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        return np.zeros((k, 2))  # isolated


def place(
    radii: np.ndarray,
    layout: str,
    extent_mm: float,
    rng: np.random.Generator,
    *,
    min_gap_mm: float = 0.15,
    core_count: int = 0,
    core_radius_mm: float = 4.5,
    accept: Callable[[np.ndarray, float], bool] | None = None,
    tries: int = 60,
) -> tuple[np.ndarray, np.ndarray]:
    """Place calcifications with repulsion.

    Parameters
    ----------
    radii : ndarray of shape (K,)
        Bounding radius of each calcification, mm.
    layout : str
        One of :data:`LAYOUTS`.
    extent_mm : float
        Lesion diameter, mm: every centre lies within ``extent_mm / 2`` of the lesion centre.
    rng : numpy.random.Generator
    min_gap_mm : float
        Minimum gap between bounding circles, mm.
    core_count, core_radius_mm :
        The first ``core_count`` placed centres lie within ``core_radius_mm`` of the centre.
    accept : callable, optional
        ``accept(offset_mm, radius_mm) -> bool``: extra test (inside the breast, dense tissue).
    tries : int
        Candidates drawn per calcification before giving it up.

    Returns
    -------
    offsets : ndarray of shape (K', 2)
        Placed centres (row, col) in mm relative to the lesion centre, K' <= K.
    placed : ndarray of shape (K',) of int
        Index into ``radii`` of each placed calcification.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")
    sampler = _Sampler(layout, float(extent_mm), rng)
    pos = np.zeros((len(radii), 2))
    idx: list[int] = []
    half = extent_mm / 2
    batch = 16
    for i, r in enumerate(radii):
        limit = core_radius_mm if len(idx) < core_count else half
        for _ in range(max(1, tries // batch)):
            cand = sampler(batch)
            ok = np.hypot(cand[:, 0], cand[:, 1]) <= limit
            if idx:
                d = np.hypot(
                    pos[None, : len(idx), 0] - cand[:, None, 0],
                    pos[None, : len(idx), 1] - cand[:, None, 1],
                )
                ok &= np.all(d >= radii[idx][None, :] + r + min_gap_mm, axis=1)
            found = None
            for j in np.flatnonzero(ok):
                if accept is None or accept(cand[j], float(r)):
                    found = cand[j]
                    break
            if found is not None:
                pos[len(idx)] = found
                idx.append(i)
                break
    return pos[: len(idx)], np.asarray(idx, dtype=int)
