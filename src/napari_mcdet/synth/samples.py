"""The package's sample mammograms: a synthetic breast phantom, normal or with two lesions.

napari's File > Open Sample, ``mcdet demo`` and the documentation's examples all show these
images, so they are built here, once, seeded (always the same pixels).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..mammogram import Mammogram

__all__ = [
    "BENIGN_CENTRE",
    "MALIGNANT_CENTRE",
    "SAMPLE_SHAPE",
    "SAMPLE_SPACING_MM",
    "normal_phantom",
    "phantom_with_lesions",
]

#: Size (rows, cols) of the sample images, pixels.
SAMPLE_SHAPE = (1024, 768)
#: Pixel spacing of the sample images (both axes), mm.
SAMPLE_SPACING_MM = 0.1
#: Centre (row, col) of the malignant cluster, pixels of the 0.1 mm grid: well inside the breast.
MALIGNANT_CENTRE = (420.0, 260.0)
#: Centre (row, col) of the benign lesion, pixels of the 0.1 mm grid: lower, away from the cluster.
BENIGN_CENTRE = (650.0, 200.0)


def _scaled(pixel_spacing: float) -> tuple[float, tuple[int, int]]:
    """``(scale, shape)`` of the sample drawn at ``pixel_spacing``: ``scale`` takes positions on
    the :data:`SAMPLE_SPACING_MM` grid to this one; the breast keeps its size in mm."""
    spacing = float(pixel_spacing)
    if not spacing > 0:
        raise ValueError(f"pixel_spacing must be positive, got {pixel_spacing}")
    scale = SAMPLE_SPACING_MM / spacing
    return scale, (int(round(SAMPLE_SHAPE[0] * scale)), int(round(SAMPLE_SHAPE[1] * scale)))


def normal_phantom(*, pixel_spacing: float = SAMPLE_SPACING_MM) -> Mammogram:
    """The normal sample: a breast phantom without lesions.

    Parameters
    ----------
    pixel_spacing : float, keyword-only
        mm/pixel; the breast keeps its size in mm (:data:`SAMPLE_SHAPE` pixels at
        :data:`SAMPLE_SPACING_MM`), so a coarser grid has fewer pixels.

    Returns
    -------
    mammogram : Mammogram
        ``pixels`` float32 of shape :data:`SAMPLE_SHAPE` at :data:`SAMPLE_SPACING_MM` mm/pixel by
        default; ``metadata['breast_mask']`` the phantom's breast (bool, same shape).
    """
    from .phantom import breast_phantom

    _, shape = _scaled(pixel_spacing)
    return breast_phantom(shape, pixel_spacing=float(pixel_spacing), seed=0)


def phantom_with_lesions(*, pixel_spacing: float = SAMPLE_SPACING_MM
                         ) -> tuple[Mammogram, np.ndarray, list[dict[str, Any]]]:
    """The phantom with one malignant cluster and one benign lesion, and their truth.

    Parameters
    ----------
    pixel_spacing : float, keyword-only
        mm/pixel; the breast and the lesions' centres keep their place in mm, and the lesions
        are drawn for this spacing (:func:`napari_mcdet.synth.lesions.synthesize`).

    Returns
    -------
    mammogram : Mammogram
        ``pixels`` float32 of shape :data:`SAMPLE_SHAPE` at :data:`SAMPLE_SPACING_MM` mm/pixel by
        default; ``metadata['source']`` is ``'phantom with lesions'``.
    truth : ndarray of shape :data:`SAMPLE_SHAPE`, uint8
        The synthetic calcifications' labels (0 background, 1 benign, 2 malignant).
    lesions : list of dict
        The two lesion records of :func:`napari_mcdet.synth.lesions.synthesize` (``kind``,
        ``label``, ``bbox`` in pixels, ``n_placed``...), malignant first.
    """
    from .lesions import synthesize

    scale, _ = _scaled(pixel_spacing)
    normal = normal_phantom(pixel_spacing=pixel_spacing)
    breast = normal.metadata["breast_mask"]
    mal = synthesize(normal.pixels, pixel_spacing=normal.pixel_spacing, kind="malignant",
                     seed=1, breast=breast,
                     centre=(MALIGNANT_CENTRE[0] * scale, MALIGNANT_CENTRE[1] * scale))
    # the benign lesion is blended into the malignant result, at the same white level, so the
    # two lesions share one image
    ben = synthesize(mal.image, pixel_spacing=normal.pixel_spacing, kind="benign", seed=2,
                     breast=breast, centre=(BENIGN_CENTRE[0] * scale, BENIGN_CENTRE[1] * scale),
                     white=mal.lesion["white"])
    mammogram = Mammogram(np.asarray(ben.image, np.float32), pixel_spacing=normal.pixel_spacing,
                          metadata={"source": "phantom with lesions"})
    truth = np.maximum(mal.mask, ben.mask).astype(np.uint8)
    return mammogram, truth, [mal.lesion, ben.lesion]
