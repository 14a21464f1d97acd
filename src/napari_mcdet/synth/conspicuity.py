"""Conspicuity: how much a calcification stands out of the tissue texture around it.

One measure serves the real calcifications we hold and the synthetic ones we draw, so the
generator can be calibrated against what a reader actually sees:

    conspicuity = (peak white top-hat inside the calcification)
                  / (99th percentile of the white top-hat in the surrounding window)

The white top-hat (image minus its grey opening by a disk) keeps bright structures smaller than
the disk and removes the smooth tissue background, so the ratio compares the calcification's
peak with the brightest 1 % of the small bright texture (film grain, fibres, vessels' edges)
around it, at the image's own resolution and after its blur. A value of 1 is the level of that
texture: a calcification below about 1.2 cannot be told from it. The measure is scale-free: it
does not change when the image is brightened, darkened or stretched.

The disk's radius is :data:`TOPHAT_RADIUS_MM` (0.6 mm: 3 pixels at 0.2 mm, as fine
calcifications are under 0.5 mm wide), or the calcification's own radius plus a pixel for larger
(benign) ones, which a smaller disk would remove with the background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Radius of the top-hat's disk, mm.
TOPHAT_RADIUS_MM = 0.6
#: Side of the window the texture level is taken in, mm.
WINDOW_MM = 12.0
#: Calcifications whose conspicuity is below this cannot be told from the texture: they are not
#: labelled (a lesion none of whose calcifications passes is not a lesion).
VISIBILITY_FLOOR = 1.2
#: Texture level floor, as a fraction of the image's dynamic range (flat phantoms, padding).
MIN_TEXTURE_FRACTION = 0.005


def disk_radius_px(pixel_spacing: float, radius_mm: float = TOPHAT_RADIUS_MM) -> int:
    """The top-hat disk radius in pixels at ``pixel_spacing`` mm/pixel (at least 1)."""
    return max(1, int(round(radius_mm / float(pixel_spacing))))


def white_tophat(image: np.ndarray, radius_px: int) -> np.ndarray:
    """White top-hat of ``image`` by a disk of ``radius_px`` pixels, float32."""
    from scipy import ndimage as ndi
    from skimage.morphology import disk

    img = np.asarray(image, np.float32)
    return img - ndi.grey_opening(img, footprint=disk(int(radius_px)))


def texture_level(tophat: np.ndarray, exclude: np.ndarray | None = None, *,
                  floor: float = 0.0) -> float:
    """The 99th percentile of ``tophat`` outside ``exclude`` (at least ``floor``)."""
    values = tophat if exclude is None else tophat[~exclude]
    if values.size == 0:
        return float(floor)
    return max(float(np.percentile(values, 99)), float(floor))


@dataclass
class Speck:
    """One visible bright speck of a real annotated region: position (row, col) and conspicuity."""

    row: int
    col: int
    conspicuity: float


def region_specks(
    image: np.ndarray,
    region: np.ndarray,
    *,
    pixel_spacing: float,
    window_mm: float = WINDOW_MM,
    min_conspicuity: float = 1.0,
    max_specks: int = 50,
) -> list[Speck]:
    """The visible specks inside an annotated region and their conspicuity.

    Local maxima of the white top-hat inside ``region`` whose value reaches at least
    ``min_conspicuity`` times the texture level of the surrounding window (the region and its
    3-pixel rim left out). This is how real calcifications are measured when only a circle or
    outline around the cluster is annotated (mini-MIAS).

    Parameters
    ----------
    image : ndarray of shape (M, N)
        The mammogram (any intensity scale).
    region : ndarray of bool of shape (M, N)
        The annotated region (one cluster).
    pixel_spacing : float
        mm per pixel.
    window_mm : float
        The texture window extends ``window_mm / 2`` beyond the region on every side.
    min_conspicuity : float
        Specks below this are texture, not calcifications.
    max_specks : int
        At most this many (the brightest).

    Returns
    -------
    list of Speck, brightest first.
    """
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max

    region = np.asarray(region, bool)
    if region.shape != np.shape(image):
        raise ValueError(f"region shape {region.shape} differs from image shape {np.shape(image)}")
    if not region.any():
        return []
    rows, cols = np.nonzero(region)
    half = int(np.ceil(window_mm / 2 / pixel_spacing))
    r0, c0 = max(0, rows.min() - half), max(0, cols.min() - half)
    r1 = min(region.shape[0], rows.max() + half + 1)
    c1 = min(region.shape[1], cols.max() + half + 1)
    crop = np.asarray(image[r0:r1, c0:c1], np.float32)
    sel = region[r0:r1, c0:c1]
    th = white_tophat(crop, disk_radius_px(pixel_spacing))
    rim = ndi.binary_dilation(sel, iterations=3)
    level = texture_level(th, rim, floor=MIN_TEXTURE_FRACTION * float(np.ptp(crop) or 1.0))
    peaks = peak_local_max(np.where(sel, th, 0), min_distance=2,
                           threshold_abs=min_conspicuity * level, num_peaks=max_specks)
    return [Speck(int(r + r0), int(c + c0), float(th[r, c] / level)) for r, c in peaks]


def calcification_conspicuity(
    tophat_after: np.ndarray,
    footprint: np.ndarray,
    level: float,
) -> float:
    """Conspicuity of one drawn calcification: its top-hat peak over the texture ``level``.

    ``tophat_after`` is the top-hat of the image with the calcification blended in, cropped like
    ``footprint`` (the calcification's pixels).
    """
    if not footprint.any() or level <= 0:
        return 0.0
    return float(tophat_after[footprint].max() / level)
