"""npe2 writers for calcification labels layers: INbreast-style XML and PNG / TIFF masks.

Both write atomically (a temporary file in the destination folder, then ``os.replace``) through
:mod:`napari_mcdet.io.writers`; the XML reads back to the same label image
(``io.inbreast_labels(io.read_inbreast_xml(path), shape, point_radius_mm=0)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..spacing import as_spacing


def _labels(data: Any) -> np.ndarray:
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ValueError(f"a 2-D labels layer is needed, got data of shape {arr.shape}")
    return arr


def _spacing(meta: dict[str, Any]) -> tuple[float, float] | None:
    """The layer's pixel spacing (mm): ``metadata['pixel_spacing']``, else a non-unit ``scale``
    (napari's default (1, 1) means "not stated"), else None."""
    spacing = (meta.get("metadata") or {}).get("pixel_spacing")
    if spacing is None:
        scale = meta.get("scale")
        if scale is not None and tuple(float(s) for s in scale[-2:]) != (1.0, 1.0):
            spacing = scale[-2:]
    return as_spacing(spacing, name="the layer's pixel spacing", required=False)


def _save(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    from ..io.writers import write_annotations

    write_annotations(path, _labels(data), pixel_spacing=_spacing(meta))
    return [path]


def write_inbreast_xml(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Save a labels layer (0/1/2) as an INbreast / OsiriX XML; returns ``[path]``."""
    return _save(path, data, meta)


def write_mask(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Save a labels layer (0/1/2) as an 8-bit PNG / TIFF mask; returns ``[path]``."""
    return _save(path, data, meta)
