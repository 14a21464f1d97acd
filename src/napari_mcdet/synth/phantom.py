"""A synthetic negative mammogram: breast outline, skin line, 1/f^beta texture, pectoral muscle.

Used as sample data and in tests, where no real normal image may be at hand. Not a substitute for
real negatives in training.

Model (bright = dense, intensities roughly in [0, 1]):

* **outline**: a half-ellipse against the chest wall (compressed breast, CC view), a little
  irregular; for MLO the breast hangs lower and the pectoral muscle fills the upper chest-wall
  corner (a bright, smooth triangle).
* **thickness fall-off**: the compressed breast thins over the last ~``edge_mm`` mm to the skin, so
  the periphery is darker (``sqrt`` profile of the distance to the outline).
* **skin line**: a band ``skin_mm`` wide (about 1.5 mm; skin thickness 0.5-2.5 mm) along the
  outline, slightly brighter than the fat beneath.
* **parenchyma**: power-law noise with spectrum ``P(f) ~ f^-beta``, ``beta`` about 3 (Burgess
  1999/2001: mammographic anatomical noise beta ~ 2.7-3.2), thresholded softly into
  fibroglandular tissue covering ``density`` of the breast, denser towards the chest wall.
* **quantum noise**: white Gaussian noise of ``noise`` standard deviation.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..mammogram import Mammogram
from ..spacing import as_spacing


def power_law_noise(
    shape: tuple[int, int], *, beta: float = 3.0, rng: np.random.Generator
) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian noise with power spectrum ``|f|^-beta``.

    Parameters
    ----------
    shape : (int, int)
    beta : float
        Spectral exponent (0 white, 3 mammographic texture).
    rng : numpy.random.Generator
    """
    fr = np.fft.fftfreq(shape[0])[:, None]
    fc = np.fft.rfftfreq(shape[1])[None, :]
    f = np.hypot(fr, fc)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2)
    amp[0, 0] = 0.0
    spec = amp * (rng.normal(size=amp.shape) + 1j * rng.normal(size=amp.shape))
    field = np.fft.irfft2(spec, s=shape)
    field -= field.mean()
    return (field / (field.std() + 1e-12)).astype(np.float32)


def breast_phantom(
    shape: tuple[int, int] = (1024, 768),
    *,
    pixel_spacing: float | tuple[float, float] = 0.2,
    view: str = "CC",
    laterality: str = "L",
    beta: float = 3.0,
    density: float = 0.4,
    skin_mm: float = 1.5,
    edge_mm: float = 12.0,
    noise: float = 0.01,
    seed: int | None = 0,
) -> Mammogram:
    """A synthetic normal mammogram.

    Parameters
    ----------
    shape : (int, int)
        Image size (rows, cols), pixels.
    pixel_spacing : float or (float, float)
        mm/pixel; 0.2 (mini-MIAS) by default, 0.07 like INbreast.
    view : {'CC', 'MLO'}
        MLO adds the pectoral muscle.
    laterality : {'L', 'R'}
        'L': chest wall on the left (column 0), 'R': on the right.
    beta : float
        Spectral exponent of the parenchymal texture, about 3 (range 2-4).
    density : float
        Fraction of the breast that is fibroglandular, 0-1 (BI-RADS A ~ 0.1 ... D ~ 0.8).
    skin_mm : float
        Skin line width, mm (0.5-2.5).
    edge_mm : float
        Width of the thickness fall-off at the periphery, mm.
    noise : float
        Standard deviation of the white quantum noise (image units, 0-0.05).
    seed : int or None

    Returns
    -------
    Mammogram
        ``pixels`` float32 in about [0, 1]; ``metadata['breast_mask']`` the true breast (bool).
    """
    if view not in ("CC", "MLO"):
        raise ValueError(f"view must be 'CC' or 'MLO', got {view!r}")
    if laterality not in ("L", "R"):
        raise ValueError(f"laterality must be 'L' or 'R', got {laterality!r}")
    if not 0 <= density <= 1:
        raise ValueError(f"density must be in [0, 1], got {density}")
    sr, sc = as_spacing(pixel_spacing)
    h, w = int(shape[0]), int(shape[1])
    if h < 32 or w < 32:
        raise ValueError(f"shape must be at least 32 x 32 pixels, got {shape}")
    rng = np.random.default_rng(seed)

    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    # outline: half-ellipse from the chest wall (col 0), centre at mid-height (lower for MLO)
    cy = h * (0.55 if view == "MLO" else 0.5) + rng.uniform(-0.03, 0.03) * h
    ry = h * rng.uniform(0.40, 0.46)
    rx = w * rng.uniform(0.62, 0.78)
    theta = np.arctan2((rows - cy) / ry, cols / rx)
    wobble = np.ones_like(theta)
    for k in (3, 5, 7):
        wobble += rng.uniform(0.0, 0.02) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    rho = np.hypot((rows - cy) / ry, cols / rx) / wobble
    breast = rho < 1.0
    if view == "MLO":
        breast |= (rows < cy) & (cols < w * 0.35 * (1 - rows / max(cy, 1)))  # axillary tail
    dist_mm = ndi.distance_transform_edt(breast, sampling=(sr, sc)).astype(np.float32)

    tissue = power_law_noise((h, w), beta=beta, rng=rng)
    # denser towards the chest wall and the centre line
    trend = 1.0 - 0.8 * np.clip(cols / rx, 0, 1)
    thresh = np.quantile(tissue[breast], 1 - density) if density > 0 else np.inf
    gland = 1 / (1 + np.exp(-(tissue + 0.6 * trend - thresh) / 0.25))
    fine = power_law_noise((h, w), beta=2.0, rng=rng)
    img = 0.35 + 0.4 * gland + 0.03 * fine
    img *= np.sqrt(np.clip(dist_mm / edge_mm, 0, 1)) * 0.6 + 0.4
    img += 0.08 * np.exp(-((dist_mm - skin_mm / 2) ** 2) / (2 * (skin_mm / 2) ** 2))

    if view == "MLO":
        # pectoral muscle: triangle in the top chest-wall corner
        top, depth = h * rng.uniform(0.45, 0.6), w * rng.uniform(0.25, 0.35)
        edge = depth * (1 - rows / top) + 3 * fine
        muscle = (cols < edge) & (rows < top)
        img = np.where(muscle, 0.8 + 0.03 * fine, img)
        breast |= muscle

    img = np.where(breast, img, 0.02).astype(np.float32)
    img += rng.normal(0, noise, size=img.shape).astype(np.float32)
    if laterality == "R":
        img, breast = img[:, ::-1].copy(), breast[:, ::-1].copy()
    return Mammogram(
        pixels=img.astype(np.float32),
        pixel_spacing=(sr, sc),
        laterality=laterality,
        view=view,
        metadata={"breast_mask": breast, "source": "phantom", "seed": seed, "beta": beta},
    )
