"""Reading and writing mammograms and their annotations (DICOM, PNG/TIFF/PGM, INbreast, mini-MIAS).

Coordinates are rows / columns everywhere; the datasets' own x / y conventions are converted at
the file boundary (INbreast ``Point_px`` ``(x, y)``, mini-MIAS bottom-left y). See docs/io.md.
"""

from __future__ import annotations

from .dicom import read_dicom
from .images import read_mammogram, read_pgm
from .minimias import MiniMiasRecord, minimias_labels, read_minimias_info

__all__ = [
    "read_mammogram",
    "read_dicom",
    "read_pgm",
    "read_minimias_info",
    "minimias_labels",
    "MiniMiasRecord",
]
