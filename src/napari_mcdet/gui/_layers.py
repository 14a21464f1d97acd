"""Small helpers shared by the readers and widgets: core objects <-> napari layer arguments.

Every image layer gets its pixel spacing (mm) as ``scale`` (so napari's scale bar and
measurements are in mm) and ``metadata['pixel_spacing']``; every labels layer gets the class
colours and names of :mod:`napari_mcdet.classes`, built here, in one way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..classes import CLASS_COLORS, CLASS_NAMES
from ..mammogram import Mammogram
from ..spacing import as_spacing

__all__ = [
    "image_layer_kwargs",
    "labels_layer_kwargs",
    "labels_colormap",
    "layer_spacing",
    "layer_to_mammogram",
]


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
