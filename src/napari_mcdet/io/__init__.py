"""Reading and writing mammograms and their annotations (DICOM, PNG/TIFF/PGM, INbreast, mini-MIAS).

Coordinates are rows / columns everywhere; the datasets' own x / y conventions are converted at
the file boundary (INbreast ``Point_px`` ``(x, y)``, mini-MIAS bottom-left y). See docs/io.md.
"""

from __future__ import annotations

from .dicom import read_dicom
from .dicom_derived import Producer, source_header
from .dicom_seg import read_segmentation, write_segmentation
from .dicom_sr import Finding, read_report, report_labels, write_report
from .images import read_mammogram, read_mask, read_pgm
from .inbreast import (
    InbreastEntry,
    InbreastROI,
    birads_class,
    draw_roi,
    inbreast_case,
    inbreast_labels,
    index_inbreast,
    is_inbreast_xml,
    read_inbreast_csv,
    read_inbreast_table,
    read_inbreast_xls,
    read_inbreast_xml,
)
from .minimias import MiniMiasRecord, minimias_labels, read_minimias_info
from .writers import label_counts, labels_to_rois, write_inbreast_xml, write_mask

__all__ = [
    "read_mammogram",
    "read_dicom",
    "source_header",
    "Producer",
    "read_segmentation",
    "write_segmentation",
    "Finding",
    "read_report",
    "report_labels",
    "write_report",
    "read_pgm",
    "read_mask",
    "read_inbreast_xml",
    "is_inbreast_xml",
    "inbreast_labels",
    "read_inbreast_csv",
    "read_inbreast_xls",
    "index_inbreast",
    "inbreast_case",
    "read_inbreast_table",
    "birads_class",
    "draw_roi",
    "InbreastROI",
    "InbreastEntry",
    "read_minimias_info",
    "minimias_labels",
    "MiniMiasRecord",
    "write_inbreast_xml",
    "write_mask",
    "labels_to_rois",
    "label_counts",
]
