"""Sample data: a synthetic breast phantom, with and without synthetic calcifications."""

from __future__ import annotations

import numpy as np

from ..classes import CLASS_COLORS


def _phantom():
    from ..synth.phantom import breast_phantom

    return breast_phantom((1024, 768), pixel_spacing=0.1, seed=0)


def phantom() -> list[tuple]:
    """A normal breast phantom (0.1 mm/pixel) as a napari image layer, scale in mm."""
    m = _phantom()
    return [
        (
            m.pixels,
            {
                "name": "phantom",
                "scale": m.pixel_spacing,
                "colormap": "gray",
                "metadata": {"pixel_spacing": m.pixel_spacing, "source": "phantom"},
            },
            "image",
        )
    ]


def phantom_with_lesions() -> list[tuple]:
    """The phantom with one malignant cluster and one benign lesion, plus their labels layer."""
    from ..synth.lesions import synthesize

    m = _phantom()
    breast = m.metadata["breast_mask"]
    mal = synthesize(
        m.pixels,
        pixel_spacing=m.pixel_spacing,
        kind="malignant",
        seed=1,
        breast=breast,
        centre=(420.0, 260.0),
    )
    ben = synthesize(
        mal.image,
        pixel_spacing=m.pixel_spacing,
        kind="benign",
        seed=2,
        breast=breast,
        centre=(650.0, 200.0),
        white=mal.lesion["white"],
    )
    labels = np.maximum(mal.mask, ben.mask)
    return [
        (
            ben.image,
            {
                "name": "phantom with lesions",
                "scale": m.pixel_spacing,
                "colormap": "gray",
                "metadata": {"pixel_spacing": m.pixel_spacing, "source": "phantom"},
            },
            "image",
        ),
        (
            labels,
            {
                "name": "synthetic lesions",
                "scale": m.pixel_spacing,
                "opacity": 0.6,
                "colormap": {k: v for k, v in CLASS_COLORS.items()} | {None: (0, 0, 0, 0)},
                "metadata": {"lesions": [mal.lesion, ben.lesion]},
            },
            "labels",
        ),
    ]
