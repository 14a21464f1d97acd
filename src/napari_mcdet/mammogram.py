"""The one in-memory image record that every reader returns and every algorithm takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .spacing import as_spacing


@dataclass
class Mammogram:
    """A 2-D mammogram, bright = dense or calcified.

    Attributes
    ----------
    pixels : ndarray of shape (M, N), float32
        Intensities after the modality and VOI transforms; MONOCHROME1 is already inverted.
    pixel_spacing : tuple of float or None
        ``(row_mm, col_mm)``; None when the file does not say.
    laterality : str or None
        ``'L'`` or ``'R'``.
    view : str or None
        ``'CC'``, ``'MLO'``...
    metadata : dict
        Free-form: source path, DICOM tags, dataset identifiers.
    """

    pixels: np.ndarray
    pixel_spacing: tuple[float, float] | None = None
    laterality: str | None = None
    view: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pixels = np.asarray(self.pixels)
        if pixels.ndim != 2:
            raise ValueError(
                f"a mammogram must be a 2-D grey-level image, got shape {pixels.shape}; "
                "convert RGB to grey or pick one frame/slice first"
            )
        self.pixels = pixels.astype(np.float32, copy=False)
        self.pixel_spacing = as_spacing(self.pixel_spacing, required=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape  # type: ignore[return-value]
