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
#: Centre (row, col) of the malignant cluster, pixels: well inside the phantom's breast.
MALIGNANT_CENTRE = (420.0, 260.0)
#: Centre (row, col) of the benign lesion, pixels: lower in the breast, away from the cluster.
BENIGN_CENTRE = (650.0, 200.0)


def normal_phantom() -> Mammogram:
    """The normal sample: a breast phantom without lesions.

    Returns
    -------
    mammogram : Mammogram
        ``pixels`` float32 of shape :data:`SAMPLE_SHAPE` at :data:`SAMPLE_SPACING_MM` mm/pixel;
        ``metadata['breast_mask']`` the phantom's breast (bool, same shape).
    """
    from .phantom import breast_phantom

    return breast_phantom(SAMPLE_SHAPE, pixel_spacing=SAMPLE_SPACING_MM, seed=0)


def phantom_with_lesions() -> tuple[Mammogram, np.ndarray, list[dict[str, Any]]]:
    """The phantom with one malignant cluster and one benign lesion, and their truth.

    Returns
    -------
    mammogram : Mammogram
        ``pixels`` float32 of shape :data:`SAMPLE_SHAPE` at :data:`SAMPLE_SPACING_MM` mm/pixel;
        ``metadata['source']`` is ``'phantom with lesions'``.
    truth : ndarray of shape :data:`SAMPLE_SHAPE`, uint8
        The synthetic calcifications' labels (0 background, 1 benign, 2 malignant).
    lesions : list of dict
        The two lesion records of :func:`napari_mcdet.synth.lesions.synthesize` (``kind``,
        ``label``, ``bbox`` in pixels, ``n_placed``...), malignant first.
    """
    from .lesions import synthesize

    normal = normal_phantom()
    breast = normal.metadata["breast_mask"]
    mal = synthesize(normal.pixels, pixel_spacing=normal.pixel_spacing, kind="malignant",
                     seed=1, breast=breast, centre=MALIGNANT_CENTRE)
    # the benign lesion is blended into the malignant result, at the same white level, so the
    # two lesions share one image
    ben = synthesize(mal.image, pixel_spacing=normal.pixel_spacing, kind="benign", seed=2,
                     breast=breast, centre=BENIGN_CENTRE, white=mal.lesion["white"])
    mammogram = Mammogram(np.asarray(ben.image, np.float32), pixel_spacing=normal.pixel_spacing,
                          metadata={"source": "phantom with lesions"})
    truth = np.maximum(mal.mask, ben.mask).astype(np.uint8)
    return mammogram, truth, [mal.lesion, ben.lesion]
