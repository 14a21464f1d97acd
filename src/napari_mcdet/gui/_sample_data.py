"""Sample data: the package's synthetic breast phantom (:mod:`napari_mcdet.synth.samples`), with
and without synthetic calcifications, as napari layer data.

The phantom with lesions comes at 0.2 mm, the grid of mini-MIAS and of the bundled model's
training domain, and twice as fine, at 0.1 mm, outside it. Its truth is drawn as the package draws
all truth (:func:`napari_mcdet.gui._layers.truth_labels_kwargs`): outlines in one colour that no
detection uses, here a ring around every calcification and an ellipse around every lesion, beside
a hidden labels layer of the calcifications themselves (what the Score and Detect panels compare
with).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..constants import MINIMIAS_SPACING_MM
from ..mammogram import Mammogram
from ._layers import TRUTH_COLOR, truth_labels_kwargs

#: Spacing (mm) of the finer sample: twice as fine as the bundled model's.
FINE_SPACING_MM = MINIMIAS_SPACING_MM / 2
#: Radius of the ring drawn around a synthetic calcification, mm: wider than a detection's dot,
#: so that a hit reads as a dot inside a ring.
RING_RADIUS_MM = 1.0
#: Width of the outlines, mm.
EDGE_MM = 0.3
#: Margin of the ellipse drawn around a synthetic lesion, mm, beyond its calcifications' box.
LESION_MARGIN_MM = 2.0


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


def _box(r0: float, c0: float, r1: float, c1: float) -> np.ndarray:
    """An ellipse's bounding box as napari's four corners."""
    return np.array([[r0, c0], [r0, c1], [r1, c1], [r1, c0]], float)


def lesion_layers(pixel_spacing: float, *, suffix: str = "",
                  visible: bool = True) -> list[tuple]:
    """The phantom with one malignant cluster and one benign lesion drawn at ``pixel_spacing``
    (mm), with its truth: the image, the calcifications' labels and their outlines.

    Layer names end in ``suffix``; ``visible`` False adds them hidden.
    """
    from skimage.measure import regionprops

    from ..synth.samples import phantom_with_lesions as sample

    mammogram, truth, lesions = sample(pixel_spacing=pixel_spacing)
    image_name = f"phantom with lesions{suffix}"
    spacing = mammogram.pixel_spacing
    labels_kw = truth_labels_kwargs(f"synthetic lesions{suffix}", kind="synthetic", scale=spacing,
                                    metadata={"lesions": lesions, "image": image_name})
    ring = RING_RADIUS_MM / spacing[0]
    margin = LESION_MARGIN_MM / spacing[0]
    shapes, captions = [], []
    for p in regionprops(_components(truth)):
        r, c = p.centroid
        shapes.append(_box(r - ring, c - ring, r + ring, c + ring))
        captions.append("")
    for lesion in lesions:
        r0, c0, r1, c1 = lesion["bbox"]
        shapes.append(_box(r0 - margin, c0 - margin, r1 - 1 + margin, c1 - 1 + margin))
        captions.append(f"truth: {lesion['kind']}")
    outlines = (
        shapes,
        {
            "name": f"synthetic lesions{suffix} outlines",
            "shape_type": "ellipse",
            "scale": spacing,
            "edge_color": [TRUTH_COLOR],
            "face_color": [(0.0, 0.0, 0.0, 0.0)],
            "edge_width": EDGE_MM / spacing[0],  # pixels of the layer's data
            "features": {"caption": captions},
            "text": {"string": "{caption}", "color": TRUTH_COLOR, "size": 10,
                     "anchor": "upper_left"},
            "metadata": {"source": "phantom", "image": image_name},
            "visible": visible,
        },
        "shapes",
    )
    image = _image_layer(mammogram, image_name)
    image[1]["visible"] = visible
    return [image, (truth, labels_kw, "labels"), outlines]


def _components(truth: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.label(truth > 0, structure=np.ones((3, 3), bool))[0]


def phantom() -> list[tuple]:
    """A normal breast phantom (0.1 mm/pixel) as a napari image layer, scale in mm."""
    from ..synth.samples import normal_phantom

    return [_image_layer(normal_phantom(), "phantom")]


def phantom_with_lesions() -> list[tuple]:
    """The phantom with one malignant cluster and one benign lesion at 0.2 mm, and its truth."""
    return lesion_layers(MINIMIAS_SPACING_MM)


def phantom_with_lesions_fine() -> list[tuple]:
    """The same phantom twice as fine (0.1 mm), and its truth; layer names end in the spacing."""
    return lesion_layers(FINE_SPACING_MM, suffix=f" {FINE_SPACING_MM:g} mm")
