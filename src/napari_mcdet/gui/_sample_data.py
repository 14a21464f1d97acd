"""Sample data: the package's synthetic breast phantom (:mod:`napari_mcdet.synth.samples`), with
and without synthetic calcifications, as napari layer data."""

from __future__ import annotations

from typing import Any

from ..mammogram import Mammogram
from ._layers import labels_colormap


def _image_layer(mammogram: Mammogram, name: str) -> tuple[Any, dict[str, Any], str]:
    # only the spacing and the source travel with the layer: the phantom's breast mask would be
    # a second full-size array in the layer's metadata
    return (
        mammogram.pixels,
        {
            "name": name,
            "scale": mammogram.pixel_spacing,
            "colormap": "gray",
            "metadata": {"pixel_spacing": mammogram.pixel_spacing, "source": "phantom"},
        },
        "image",
    )


def phantom() -> list[tuple]:
    """A normal breast phantom (0.1 mm/pixel) as a napari image layer, scale in mm."""
    from ..synth.samples import normal_phantom

    return [_image_layer(normal_phantom(), "phantom")]


def phantom_with_lesions() -> list[tuple]:
    """The phantom with one malignant cluster and one benign lesion, plus their labels layer."""
    from ..synth.samples import phantom_with_lesions as sample

    mammogram, truth, lesions = sample()
    labels = (
        truth,
        {
            "name": "synthetic lesions",
            "scale": mammogram.pixel_spacing,
            "opacity": 0.6,
            "colormap": labels_colormap(),
            "metadata": {"lesions": lesions},
        },
        "labels",
    )
    return [_image_layer(mammogram, "phantom with lesions"), labels]
