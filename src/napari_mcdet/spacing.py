"""The one pixel-spacing helper: every reader, algorithm and face checks spacings with it."""

from __future__ import annotations

from typing import Any, overload

import numpy as np

from .constants import INBREAST_SPACING_MM, MINIMIAS_SPACING_MM

_EXAMPLES = (f"INbreast {INBREAST_SPACING_MM:g}, mini-MIAS {MINIMIAS_SPACING_MM:g}, "
             "digitised film about 0.05")


@overload
def as_spacing(value: Any, *, name: str = ..., required: bool = ...) -> tuple[float, float]: ...


def as_spacing(value: Any, *, name: str = "pixel_spacing",
               required: bool = True) -> tuple[float, float] | None:
    """A pixel spacing as ``(row_mm, col_mm)``, checked.

    Parameters
    ----------
    value : float, (float, float) or None
        One number for square pixels or ``(row_mm, col_mm)``, millimetres per pixel.
    name : str, keyword-only
        What the value is called in error messages (an argument or option name).
    required : bool, keyword-only
        When False, None is returned for None; when True, None is an error.

    Returns
    -------
    spacing : (float, float) or None

    Raises
    ------
    ValueError
        None while required; not one or two numbers; not finite and positive.
    """
    if value is None:
        if required:
            raise ValueError(f"{name} is required: millimetres per pixel, one number or "
                             f"(row_mm, col_mm) ({_EXAMPLES})")
        return None
    try:
        values = np.atleast_1d(np.asarray(value, dtype=float))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a positive number of mm or (row_mm, col_mm), "
                         f"got {value!r}") from exc
    if values.size == 1:
        values = np.repeat(values.ravel(), 2)
    if values.ndim != 1 or values.size != 2:
        raise ValueError(f"{name} must be one number or two, (row_mm, col_mm); got "
                         f"{values.size} values {value!r}")
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"{name} must be positive finite millimetres per pixel, got {value!r} "
                         f"({_EXAMPLES})")
    return float(values[0]), float(values[1])
