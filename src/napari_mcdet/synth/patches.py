"""Training patches: lesion patches (>= 80 % of the lesion inside) and soft-tissue patches (>= 20 %
breast), cut with the one tiler :func:`napari_mcdet.data.tiling.extract_patch` (method.md §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..classes import SOFT_TISSUE
from ..data.tiling import extract_patch
from .clusters import LesionParams
from .lesions import SyntheticLesion, pick_centre, synthesize

#: Lesion patches keep at least this fraction of the lesion's mask pixels (method.md §4).
MIN_LESION_FRACTION = 0.8
#: Soft-tissue patches hold at least this fraction of breast pixels (method.md §4).
MIN_BREAST_FRACTION = 0.2


@dataclass
class Patch:
    """One training patch.

    Attributes
    ----------
    image : ndarray of shape (P, P), float32
    mask : ndarray of shape (P, P), uint8
        0 / 1 benign / 2 malignant.
    label : int
        Patch class: 0 soft tissue, 1 benign, 2 malignant.
    origin : (int, int)
        Top-left (row, col) of the patch in the image it was cut from.
    info : dict
        The lesion record (:attr:`SyntheticLesion.lesion`, with ``calcifications``) or, for a
        soft-tissue patch, ``breast_fraction``.
    """

    image: np.ndarray
    mask: np.ndarray
    label: int
    origin: tuple[int, int]
    info: dict[str, Any] = field(default_factory=dict)


def _size(size) -> tuple[int, int]:
    sr, sc = (size, size) if np.isscalar(size) else size
    sr, sc = int(sr), int(sc)
    if sr <= 0 or sc <= 0:
        raise ValueError(f"patch size must be positive pixels, got {size}")
    return sr, sc


def fraction_inside(mask: np.ndarray, origin: tuple[int, int], size) -> float:
    """Fraction of the non-zero pixels of ``mask`` that fall inside the patch (1.0 if none)."""
    total = int(np.count_nonzero(mask))
    if total == 0:
        return 1.0
    inside = int(np.count_nonzero(extract_patch(mask, origin, _size(size), fill=0)))
    return inside / total


def breast_fraction(breast: np.ndarray, origin: tuple[int, int], size) -> float:
    """Fraction of the patch's pixels that are breast (outside the image counts as not breast)."""
    sr, sc = _size(size)
    return float(np.count_nonzero(extract_patch(breast, origin, (sr, sc), fill=False))) / (sr * sc)


def tissue_patch_origin(
    breast: np.ndarray,
    size,
    rng: np.random.Generator,
    *,
    min_fraction: float = MIN_BREAST_FRACTION,
    tries: int = 100,
) -> tuple[int, int]:
    """A random patch origin where at least ``min_fraction`` of the patch is breast.

    A random breast pixel is drawn and the patch placed at a random offset around it; the first
    origin passing the rule is returned.

    Raises
    ------
    ValueError
        When no such origin is found in ``tries`` draws (breast too small for the patch).
    """
    sr, sc = _size(size)
    h, w = breast.shape
    step = max(1, max(h, w) // 512)
    rows, cols = np.nonzero(breast[::step, ::step])
    if rows.size == 0:
        raise ValueError("the breast mask is empty: no soft-tissue patch can be cut")
    for _ in range(tries):
        i = int(rng.integers(rows.size))
        r, c = int(rows[i]) * step, int(cols[i]) * step
        origin = (r - int(rng.integers(sr)), c - int(rng.integers(sc)))
        origin = (min(max(origin[0], min(0, h - sr)), max(h - sr, 0)),
                  min(max(origin[1], min(0, w - sc)), max(w - sc, 0)))
        if breast_fraction(breast, origin, (sr, sc)) >= min_fraction:
            return origin
    raise ValueError(
        f"no {sr}x{sc} patch with >= {min_fraction:.0%} breast found in {tries} tries: "
        "use a smaller patch size or a larger image"
    )


def lesion_patch_origin(
    mask: np.ndarray,
    size,
    rng: np.random.Generator,
    *,
    min_fraction: float = MIN_LESION_FRACTION,
    tries: int = 20,
) -> tuple[int, int] | None:
    """A random patch origin holding at least ``min_fraction`` of the lesion pixels of ``mask``.

    When the lesion's bounding box fits in the patch the patch is placed uniformly among the
    positions that hold it whole; otherwise around the lesion's centroid with some jitter, kept
    only if it passes the rule. None when no origin passes in ``tries`` draws.
    """
    sr, sc = _size(size)
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    for _ in range(tries):
        if r1 - r0 <= sr:
            orow = int(rng.integers(r1 - sr, r0 + 1))
        else:
            orow = int(rows.mean() - sr / 2 + rng.normal(0, (r1 - r0 - sr) / 4 + 1))
        if c1 - c0 <= sc:
            ocol = int(rng.integers(c1 - sc, c0 + 1))
        else:
            ocol = int(cols.mean() - sc / 2 + rng.normal(0, (c1 - c0 - sc) / 4 + 1))
        if fraction_inside(mask, (orow, ocol), (sr, sc)) >= min_fraction:
            return orow, ocol
    return None


def crop_half_size(params: LesionParams, pixel_spacing: tuple[float, float]) -> tuple[int, int]:
    """Half-size (rows, cols) in pixels of the crop a lesion is drawn in.

    The lesion's largest extent plus one calcification cluster's size and 1 mm, and 4 pixels of
    blending room: every pixel the lesion can touch lies inside the crop.
    """
    margin_mm = params.extent_mm[1] / 2 + (params.size_mm[1] if params.size_mm else 5.0) / 2 + 1.0
    return (int(np.ceil(margin_mm / pixel_spacing[0])) + 4,
            int(np.ceil(margin_mm / pixel_spacing[1])) + 4)


def synthesize_in_crop(
    image: np.ndarray,
    breast: np.ndarray,
    *,
    centre: tuple[float, float],
    pixel_spacing: tuple[float, float],
    kind: str,
    params: LesionParams,
    seed: int | np.random.SeedSequence,
    mode: str = "presentation",
    white: float | None = None,
    layout: str | None = None,
) -> tuple[SyntheticLesion, tuple[int, int]]:
    """Blend one lesion into a crop of ``image`` around ``centre``; the image is not changed.

    Only the crop (:func:`crop_half_size` around the centre) is copied and blended, so the cost
    does not grow with the image. The caller pastes what it needs: a training patch cut from the
    crop, or the crop back into a preview.

    Parameters
    ----------
    image : ndarray of shape (M, N), float32
    breast : ndarray of shape (M, N), bool
    centre : (float, float)
        Lesion centre (row, col) in ``image``, pixels.
    pixel_spacing : (float, float)
        mm/pixel of ``image``.
    kind : {'benign', 'malignant'}
    params : LesionParams
        From :func:`napari_mcdet.synth.clusters.lesion_params` (the preset of ``kind``, edited).
    seed, mode, white, layout :
        Passed to :func:`napari_mcdet.synth.lesions.synthesize`.

    Returns
    -------
    lesion : SyntheticLesion
        On the crop's grid (its image and mask are the crop's size).
    origin : (int, int)
        Top-left corner (row, col) of the crop in ``image``; may be negative near the border
        (the part outside the image is 0 and not breast).
    """
    mr, mc = crop_half_size(params, pixel_spacing)
    origin = (int(centre[0]) - mr, int(centre[1]) - mc)
    size = (2 * mr + 1, 2 * mc + 1)
    lesion = synthesize(
        extract_patch(image, origin, size, fill=0.0),
        pixel_spacing=pixel_spacing, kind=kind, seed=seed,
        centre=(centre[0] - origin[0], centre[1] - origin[1]),
        breast=extract_patch(breast, origin, size, fill=False),
        mode=mode, white=white, layout=layout, params=params,
    )
    return lesion, origin


def lesions_in_crops(
    image: np.ndarray,
    breast: np.ndarray,
    centres: list[tuple[float, float] | None],
    *,
    pixel_spacing: tuple[float, float],
    kind: str,
    params: LesionParams,
    seed: int,
    mode: str = "presentation",
    layout: str | None = None,
) -> list[SyntheticLesion]:
    """One lesion per centre, each blended into its own crop of ``image``.

    Each is drawn by :func:`synthesize_in_crop`, so the cost does not grow with the image.
    Lesion ``i`` takes the ``i``-th child of ``seed``'s SeedSequence, so adding a centre leaves
    the lesions already there as they were; a None centre is drawn inside the breast from that
    child. Paste the results into a copy of the image with :func:`paste_lesion`.

    Parameters
    ----------
    image : ndarray of shape (M, N), float32
        The normal image; not changed.
    breast : ndarray of shape (M, N), bool
    centres : list of (float, float) or None
        Lesion centres (row, col) in ``image``, pixels; None for a random one.
    pixel_spacing : (float, float), keyword-only
        mm/pixel of ``image``.
    kind : {'benign', 'malignant'}, keyword-only
    params : LesionParams, keyword-only
        From :func:`napari_mcdet.synth.clusters.lesion_params`.
    seed : int, keyword-only
    mode : {'presentation', 'raw'}, keyword-only
        Under ``'presentation'`` every lesion is blended at the whole image's white level
        (:func:`napari_mcdet.synth.blend.white_level`), not its crop's.
    layout : str, keyword-only, optional
        Force an arrangement (:data:`napari_mcdet.synth.clusters.LAYOUTS`).

    Returns
    -------
    list of SyntheticLesion
        On their crops' grids, one per centre; ``lesion['region_origin']`` is the crop's
        top-left (row, col) in ``image`` (may be negative near the border).
    """
    from .blend import white_level

    white = white_level(image, breast) if mode == "presentation" else None
    seeds = np.random.SeedSequence(int(seed)).spawn(len(centres))
    lesions = []
    for centre, child in zip(centres, seeds, strict=True):
        if centre is None:
            # spawned from the lesion's own child before it draws the lesion: the lesion's
            # streams are that child's later children, as they always were
            rng = np.random.default_rng(child.spawn(1)[0])
            centre = pick_centre(breast, pixel_spacing, min(params.extent_mm[0] / 2, 5.0), rng)
        les, origin = synthesize_in_crop(
            image, breast, centre=centre, pixel_spacing=pixel_spacing, kind=kind,
            params=params, seed=child, mode=mode, white=white, layout=layout)
        les.lesion["region_origin"] = origin
        lesions.append(les)
    return lesions


def paste_lesion(image: np.ndarray, labels: np.ndarray, lesion: SyntheticLesion, *,
                 base: np.ndarray) -> tuple[slice, slice]:
    """Copy a lesion of :func:`lesions_in_crops` into ``image`` and ``labels``, in place.

    Only the pixels the lesion changed are copied, so lesions whose crops overlap all show;
    labels keep the larger class code where two meet.

    Parameters
    ----------
    image : ndarray of shape (M, N), float32
        The picture being built (a copy of ``base``, maybe with other lesions in it).
    labels : ndarray of shape (M, N), uint8
        Its labels (0 / 1 benign / 2 malignant).
    lesion : SyntheticLesion
        With ``lesion.lesion['region_origin']``, its crop's top-left (row, col) in ``image``.
    base : ndarray of shape (M, N), keyword-only
        The image the lesion was drawn into.

    Returns
    -------
    (slice, slice)
        The rows and columns of ``image`` the crop covers (clipped to the image): resetting them
        to ``base`` and 0 undoes the paste.
    """
    (o_r, o_c), (h, w) = lesion.lesion["region_origin"], lesion.image.shape
    r0, c0 = max(o_r, 0), max(o_c, 0)
    r1, c1 = min(o_r + h, image.shape[0]), min(o_c + w, image.shape[1])
    rs, cs = slice(r0, r1), slice(c0, c1)
    crop = lesion.image[r0 - o_r:r1 - o_r, c0 - o_c:c1 - o_c]
    changed = crop != base[rs, cs]
    image[rs, cs][changed] = crop[changed]
    labels[rs, cs] = np.maximum(labels[rs, cs], lesion.mask[r0 - o_r:r1 - o_r, c0 - o_c:c1 - o_c])
    return rs, cs


def lesion_patch(
    image: np.ndarray,
    breast: np.ndarray,
    *,
    kind: str,
    size,
    pixel_spacing: tuple[float, float],
    rng: np.random.Generator,
    white: float | None = None,
    mode: str = "presentation",
    min_fraction: float = MIN_LESION_FRACTION,
    attempts: int = 10,
    **params: Any,
) -> Patch:
    """Draw one lesion into ``image`` and cut a patch holding >= ``min_fraction`` of it.

    Only the region around the lesion is copied and blended (the lesion's extent plus a margin),
    so the cost does not grow with the image.

    Parameters
    ----------
    image : ndarray of shape (M, N), float32
        A normal image (e.g. already normalised; then pass ``white=1.0``).
    breast : ndarray of bool of shape (M, N)
    kind : {'benign', 'malignant'}
    size : int or (int, int)
        Patch size, pixels.
    pixel_spacing : (float, float)
        mm/pixel of ``image``.
    rng : numpy.random.Generator
    white, mode, **params :
        Passed to :func:`napari_mcdet.synth.synthesize`.
    min_fraction : float
        The lesion-pixel rule.
    attempts : int
        New lesions drawn before giving up.
    """
    from .clusters import lesion_params

    sr, sc = _size(size)
    sp = (float(pixel_spacing[0]), float(pixel_spacing[1]))
    p = lesion_params(kind, **params)
    if white is None and mode == "presentation":
        from .blend import white_level

        white = white_level(image, breast)
    for _ in range(attempts):
        centre = pick_centre(breast, sp, min(p.extent_mm[0] / 2, 5.0), rng)
        les, ro = synthesize_in_crop(image, breast, centre=centre, pixel_spacing=sp, kind=kind,
                                     params=p, seed=int(rng.integers(2**63)), mode=mode,
                                     white=white)
        rsize = les.image.shape
        if les.lesion.get("n_visible", les.lesion["n_placed"]) == 0:
            continue  # nothing a reader could see: not a lesion
        local = lesion_patch_origin(les.mask, (sr, sc), rng, min_fraction=min_fraction)
        if local is None:
            continue
        origin = (ro[0] + local[0], ro[1] + local[1])
        img = extract_patch(image, origin, (sr, sc), fill=0.0)
        msk = extract_patch(les.mask, local, (sr, sc), fill=0)
        # paste the blended region over the patch where they overlap
        a0, b0 = max(local[0], 0), max(local[1], 0)
        a1, b1 = min(local[0] + sr, rsize[0]), min(local[1] + sc, rsize[1])
        img[a0 - local[0] : a1 - local[0], b0 - local[1] : b1 - local[1]] = les.image[a0:a1, b0:b1]
        info = dict(les.lesion)
        info["calcifications"] = [
            {**c, "centroid_px": (c["centroid_px"][0] - local[0], c["centroid_px"][1] - local[1])}
            for c in les.calcifications
        ]
        info["fraction_inside"] = fraction_inside(les.mask, local, (sr, sc))
        label = int(les.lesion["label"])
        return Patch(img.astype(np.float32, copy=False), msk, label, origin, info)
    raise ValueError(
        f"could not place a {kind} lesion patch of {sr}x{sc} pixels holding >= "
        f"{min_fraction:.0%} of the lesion in {attempts} attempts: the breast may be too small, "
        "or the lesion extent too large for the patch (lower extent_mm or enlarge the patch)"
    )


def tissue_patch(
    image: np.ndarray,
    breast: np.ndarray,
    *,
    size,
    rng: np.random.Generator,
    min_fraction: float = MIN_BREAST_FRACTION,
) -> Patch:
    """A soft-tissue patch (label 0, empty mask) where >= ``min_fraction`` is breast."""
    sr, sc = _size(size)
    origin = tissue_patch_origin(breast, (sr, sc), rng, min_fraction=min_fraction)
    img = extract_patch(image, origin, (sr, sc), fill=0.0).astype(np.float32, copy=False)
    return Patch(
        img,
        np.zeros((sr, sc), dtype=np.uint8),
        SOFT_TISSUE,
        origin,
        {"breast_fraction": breast_fraction(breast, origin, (sr, sc))},
    )


def centred_patch_origin(
    breast: np.ndarray,
    centre: tuple[float, float],
    size,
    rng: np.random.Generator,
    *,
    jitter: float = 0.25,
    min_fraction: float = MIN_BREAST_FRACTION,
    tries: int = 10,
) -> tuple[int, int] | None:
    """A patch origin holding ``centre`` (row, col), shifted at random by up to ``jitter`` of the
    patch side, with at least ``min_fraction`` breast; None when no draw passes."""
    sr, sc = _size(size)
    for _ in range(tries):
        dr, dc = rng.uniform(-jitter, jitter, size=2)
        origin = (int(round(centre[0] - sr / 2 + dr * sr)),
                  int(round(centre[1] - sc / 2 + dc * sc)))
        if breast_fraction(breast, origin, (sr, sc)) >= min_fraction:
            return origin
    return None


def breast_edge(breast: np.ndarray, *, width: int = 3) -> np.ndarray:
    """Pixels of the breast within ``width`` pixels of its outline (the skin line), (K, 2) rows
    and columns."""
    from scipy import ndimage as ndi

    inner = ndi.binary_erosion(breast, iterations=width, border_value=1)
    return np.argwhere(breast & ~inner)


def negative_patch(
    image: np.ndarray,
    breast: np.ndarray,
    centre: tuple[float, float],
    *,
    size,
    rng: np.random.Generator,
    info: dict[str, Any] | None = None,
) -> Patch | None:
    """A soft-tissue patch around ``centre`` (a hard negative or a skin-line point); None when
    no patch there holds enough breast."""
    sr, sc = _size(size)
    origin = centred_patch_origin(breast, centre, (sr, sc), rng)
    if origin is None:
        return None
    img = extract_patch(image, origin, (sr, sc), fill=0.0).astype(np.float32, copy=False)
    return Patch(img, np.zeros((sr, sc), dtype=np.uint8), SOFT_TISSUE, origin,
                 {"breast_fraction": breast_fraction(breast, origin, (sr, sc)), **(info or {})})
