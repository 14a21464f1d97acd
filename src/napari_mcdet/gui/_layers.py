"""Small helpers shared by the readers and widgets: core objects <-> napari layer arguments.

Every image layer gets its pixel spacing (mm) as ``scale`` (so napari's scale bar and
measurements are in mm) and ``metadata['pixel_spacing']``; every labels layer gets the class
colours and names of :mod:`napari_mcdet.classes`, built here, in one way.

Ground truth and a model's answer must not be mistaken for each other: truth (synthetic lesions,
INbreast and mini-MIAS annotations) is drawn as outlines in :data:`TRUTH_COLOR`, a colour no
detection layer uses; its labels layers (hidden beside their outlines) carry :data:`TRUTH_KEY`
in their metadata, so that the Detect panel finds them. Detections are filled marks and boxes
in the class colours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..classes import CLASS_COLORS, CLASS_NAMES
from ..mammogram import Mammogram
from ..spacing import as_spacing

__all__ = [
    "TRUTH_COLOR",
    "TRUTH_KEY",
    "image_layer_kwargs",
    "labels_layer_kwargs",
    "labels_colormap",
    "layer_spacing",
    "layer_to_mammogram",
    "truth_labels_kwargs",
    "truth_labels_of",
    "roi_outline_layer",
    "roi_ring_layer",
    "OUTLINE_MM",
    "POINT_RING_MM",
]

#: Colour of every ground-truth outline: yellow, which neither class colour (green, red) nor the
#: cluster captions (white) use.
TRUTH_COLOR = (1.0, 0.85, 0.0, 1.0)
#: Metadata key of a ground-truth labels layer: what the truth is (``'synthetic'``,
#: ``'inbreast'``, ``'mini-mias'``).
TRUTH_KEY = "ground_truth"
#: Width of the truth's outlines, and diameter of the ring around a point annotation, mm.
OUTLINE_MM = 0.3
POINT_RING_MM = 2.0


def labels_colormap() -> dict[int | None, tuple[float, float, float, float]]:
    """Colour per class code (0 transparent, 1 benign, 2 malignant); other values transparent."""
    return {**CLASS_COLORS, None: (0.0, 0.0, 0.0, 0.0)}


def image_layer_kwargs(mammogram: Mammogram, *, name: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``viewer.add_image(mammogram.pixels, **kwargs)`` or a LayerData.

    ``scale`` is the pixel spacing in mm ((1, 1) when unknown), ``metadata`` the mammogram's
    metadata plus ``pixel_spacing``, ``laterality`` and ``view``.
    """
    meta = dict(mammogram.metadata)
    meta.update(
        pixel_spacing=mammogram.pixel_spacing,
        laterality=mammogram.laterality,
        view=mammogram.view,
    )
    if name is None:
        source = str(meta.get("source", "mammogram"))
        name = source.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0] or "mammogram"
    kwargs: dict[str, Any] = {
        "name": name,
        "scale": tuple(mammogram.pixel_spacing or (1.0, 1.0)),
        "colormap": "gray",
        "metadata": meta,
    }
    return kwargs


def labels_layer_kwargs(
    name: str = "calcifications",
    *,
    scale: tuple[float, float] | None = None,
    metadata: dict[str, Any] | None = None,
    opacity: float = 0.7,
) -> dict[str, Any]:
    """Keyword arguments for a calcification labels layer (``viewer.add_labels(data, **kw)``).

    The colours come from :data:`napari_mcdet.classes.CLASS_COLORS` and the class names from
    :data:`~napari_mcdet.classes.CLASS_NAMES` (as the layer's ``features``: napari shows the
    class name of the label under the cursor).
    """
    kwargs: dict[str, Any] = {
        "name": name,
        "colormap": labels_colormap(),
        "features": {"index": list(range(len(CLASS_NAMES))), "class": list(CLASS_NAMES)},
        "opacity": opacity,
        "metadata": {"class_names": list(CLASS_NAMES), **(metadata or {})},
    }
    if scale is not None:
        kwargs["scale"] = tuple(float(s) for s in scale)
    return kwargs


def truth_labels_kwargs(
    name: str,
    *,
    kind: str,
    scale: tuple[float, float] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for a ground-truth labels layer: :func:`labels_layer_kwargs` (class
    names in the features, codes 1 benign / 2 malignant kept in the data) in
    :data:`TRUTH_COLOR`, with ``metadata[TRUTH_KEY] = kind``.

    The layer starts hidden: the outlines layer that comes with every truth (rings, ROIs,
    circles) shows it, and filled yellow regions would read as findings. The Score and Detect
    panels use its data all the same.
    """
    kwargs = labels_layer_kwargs(name, scale=scale, metadata={**(metadata or {}), TRUTH_KEY: kind},
                                 opacity=0.6)
    kwargs["colormap"] = {0: (0.0, 0.0, 0.0, 0.0), 1: TRUTH_COLOR, 2: TRUTH_COLOR,
                          None: (0.0, 0.0, 0.0, 0.0)}
    kwargs["visible"] = False
    return kwargs


def truth_labels_of(layers: Any, image: Any) -> Any:
    """The ground-truth labels layer of image layer ``image`` among ``layers``, or None: the one
    whose ``metadata['image']`` names it, else the first with the image's shape."""
    from napari.layers import Labels

    shape = tuple(np.shape(image.data))[-2:]
    truths = [layer for layer in layers
              if isinstance(layer, Labels) and (layer.metadata or {}).get(TRUTH_KEY)
              and tuple(layer.data.shape)[-2:] == shape]
    named = [layer for layer in truths if layer.metadata.get("image") == image.name]
    return (named or truths or [None])[0]


def layer_spacing(layer: Any) -> tuple[float, float] | None:
    """Pixel spacing (row_mm, col_mm) of a layer: ``metadata['pixel_spacing']``, else a
    non-unit ``scale`` (napari's default (1, 1) means "not stated"), else None.

    Raises ValueError (naming the layer) for a stated spacing that is not one or two positive
    numbers.
    """
    name = f"the pixel spacing of layer {getattr(layer, 'name', '')!r}"
    spacing = (getattr(layer, "metadata", None) or {}).get("pixel_spacing")
    if spacing is not None:
        return as_spacing(spacing, name=name)
    scale = tuple(float(s) for s in np.asarray(layer.scale)[-2:])
    return None if scale == (1.0, 1.0) else as_spacing(scale, name=name)


def layer_to_mammogram(layer: Any) -> Mammogram:
    """An image layer -> :class:`Mammogram` (2-D, grey; spacing from metadata or scale)."""
    data = np.asarray(layer.data)
    if getattr(layer, "rgb", False):
        raise ValueError(f"layer {layer.name!r} is an RGB image; a mammogram is grey-level")
    if data.ndim != 2:
        raise ValueError(f"layer {layer.name!r} has shape {data.shape}; a 2-D image is needed")
    meta = dict(getattr(layer, "metadata", None) or {})
    return Mammogram(
        data,
        pixel_spacing=layer_spacing(layer),
        laterality=meta.get("laterality"),
        view=meta.get("view"),
        metadata=meta,
    )


def _roi_features(rois: list[Any]) -> dict[str, list]:
    """The ROIs' ``name``, ``type`` and ``index``, as a layer's features."""
    return {"name": [r.name for r in rois], "type": [r.type for r in rois],
            "index": [r.index for r in rois]}


def roi_outline_layer(outlines: list[Any], spacing: tuple[float, float],
                      path: Any) -> tuple[Any, dict[str, Any], str]:
    """A shapes layer of annotation ROIs (:class:`~napari_mcdet.io.InbreastROI` of three
    points or more) drawn as polygons in :data:`TRUTH_COLOR`; ``spacing`` in mm, ``path`` the
    file they came from (the layer is named after its stem)."""
    return (
        [r.points for r in outlines],
        {
            "name": f"{Path(path).stem} ROIs",
            "shape_type": "polygon",
            "scale": spacing,
            "edge_color": [TRUTH_COLOR],
            "face_color": "transparent",
            "edge_width": OUTLINE_MM / spacing[0],
            "features": _roi_features(outlines),
            "metadata": {"source": str(path)},
        },
        "shapes",
    )


def roi_ring_layer(points: list[Any], spacing: tuple[float, float],
                   path: Any) -> tuple[Any, dict[str, Any], str]:
    """A points layer of rings in :data:`TRUTH_COLOR` around annotation ROIs of one or two
    points (at their mean)."""
    return (
        np.array([r.points.mean(axis=0) for r in points]),
        {
            "name": f"{Path(path).stem} point ROIs",
            "scale": spacing,
            "size": POINT_RING_MM / spacing[0],  # pixels of the layer's data
            "face_color": "transparent",
            "border_color": [TRUTH_COLOR],
            "border_width": OUTLINE_MM / POINT_RING_MM,
            "features": _roi_features(points),
            "metadata": {"source": str(path)},
        },
        "points",
    )
