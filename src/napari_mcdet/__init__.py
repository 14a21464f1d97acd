"""napari-mcdet: annotation-free detection of microcalcifications on mammograms.

The public API is loaded lazily, so ``import napari_mcdet`` stays cheap (no torch, no napari)::

    import napari_mcdet as mc
    mammo = mc.read_mammogram(path)
    det = mc.detect(mammo, mc.load_model())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> (module, attribute)
_LAZY = {
    "Mammogram": ("napari_mcdet.mammogram", "Mammogram"),
    "read_mammogram": ("napari_mcdet.io.images", "read_mammogram"),
    "synthesize": ("napari_mcdet.synth.lesions", "synthesize"),
    "load_model": ("napari_mcdet.models.checkpoint", "load_model"),
    "detect": ("napari_mcdet.infer.detect", "detect"),
}
_SUBMODULES = {"io", "synth", "data", "nn", "metrics", "models", "train", "infer"}

__all__ = ["__version__", *_LAZY, *sorted(_SUBMODULES)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"napari_mcdet.{name}")
    raise AttributeError(f"module 'napari_mcdet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from .infer.detect import detect  # noqa: F401
    from .io.images import read_mammogram  # noqa: F401
    from .mammogram import Mammogram  # noqa: F401
    from .models.checkpoint import load_model  # noqa: F401
    from .synth.lesions import synthesize  # noqa: F401
