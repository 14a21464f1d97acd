"""npe2 reader: DICOM mammograms, INbreast XML annotations, mini-MIAS PGM images.

- ``*.dcm`` / ``*.dicom``: one image layer, ``scale`` = pixel spacing in mm, DICOM metadata; a
  DICOM Segmentation as a labels layer and a structured report (TID 1500) as a points layer of
  calcifications and a shapes layer of cluster boxes, in mm on the same image
  (:mod:`napari_mcdet.gui._dicom_layers`).
- INbreast ``*.xml``: the case's image and BI-RADS found in the dataset folder that holds the XML
  (``napari_mcdet.io.inbreast.inbreast_case``: ``../AllDICOMs/``, ``../INbreast.csv``), a labels
  layer (paper mapping: clusters malignant, isolated calcifications benign) and the original
  ROIs: a Shapes layer of the outlines and a Points layer of the single-point calcifications,
  with ``name`` / ``type`` features. Without the image the annotations use INbreast's spacing
  (``napari_mcdet.constants.INBREAST_SPACING_MM``) on its usual 4084 x 3328 grid (or a grid just
  large enough for points beyond it: ``napari_mcdet.io.inbreast.inbreast_grid``, which refuses
  points that would need more pixels than any mammogram, as every image reader does).
- mini-MIAS ``mdbNNN.pgm``: the image (0.2 mm) plus, when ``Info.txt`` is beside it, a labels layer
  (circles) and a Shapes layer of the circles of every abnormality listed for the image.

XML files that are not INbreast property lists are left to other readers (None). A file that
claims to be supported but is broken raises a clear error, which napari reports.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import INBREAST_SPACING_MM
from ._layers import (
    OUTLINE_MM,
    TRUTH_COLOR,
    image_layer_kwargs,
    roi_outline_layer,
    roi_ring_layer,
    truth_labels_kwargs,
)

LayerData = tuple[Any, dict[str, Any], str]
PathOrPaths = str | os.PathLike | list | tuple

_DICOM_SUFFIXES = (".dcm", ".dicom")
#: INbreast's pixel spacing (row_mm, col_mm), where the case's image does not say it.
INBREAST_SPACING = (INBREAST_SPACING_MM, INBREAST_SPACING_MM)


def _kind(path: str | os.PathLike) -> str | None:
    path = Path(path)
    if path.is_dir():
        return None
    suffix = path.suffix.lower()
    if suffix in _DICOM_SUFFIXES:
        return "dicom"
    if suffix == ".pgm":
        return "pgm"
    if suffix == ".xml":
        from ..io.inbreast import is_inbreast_xml

        return "inbreast" if is_inbreast_xml(path) else None
    return None


def get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """Return :func:`read_layers` when every path is a supported file, else None."""
    paths = list(path) if isinstance(path, list | tuple) else [path]
    if not paths or any(_kind(p) is None for p in paths):
        return None
    return read_layers


def read_layers(path: PathOrPaths) -> list[LayerData]:
    """Read one or several supported files into napari LayerData tuples."""
    paths = list(path) if isinstance(path, list | tuple) else [path]
    layers: list[LayerData] = []
    for p in paths:
        kind = _kind(p)
        if kind == "dicom":
            layers += _read_dicom(Path(p))
        elif kind == "pgm":
            layers += _read_pgm(Path(p))
        elif kind == "inbreast":
            layers += _read_inbreast(Path(p))
        else:
            raise ValueError(f"napari-mcdet cannot read {p} (DICOM, INbreast XML or PGM expected)")
    return layers


def _image_layer(mammo: Any) -> LayerData:
    return (mammo.pixels, image_layer_kwargs(mammo), "image")


def _read_dicom(path: Path) -> list[LayerData]:
    from pydicom.errors import InvalidDicomError

    from ..io.dicom_derived import SEG_SOP_CLASS, sop_class_of
    from ..io.images import read_mammogram
    from ._dicom_layers import is_structured_report, read_seg_layers, read_sr_layers

    try:
        sop_class = sop_class_of(path)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError,
            AttributeError):
        sop_class = None  # the image reader below says what is wrong with the file
    if sop_class == SEG_SOP_CLASS:
        return read_seg_layers(path)
    if is_structured_report(sop_class):
        return read_sr_layers(path)
    return [_image_layer(read_mammogram(path))]


# --- mini-MIAS ---------------------------------------------------------------------------------


def _read_pgm(path: Path) -> list[LayerData]:
    from ..io.images import read_mammogram
    from ..io.minimias import minimias_labels, read_minimias_info

    mammo = read_mammogram(path)
    layers = [_image_layer(mammo)]
    refnum = mammo.metadata.get("refnum")
    info = path.parent / "Info.txt"
    if refnum is None or not info.is_file():
        return layers
    records = [r for r in read_minimias_info(info) if r.refnum == refnum]
    mammo.metadata["minimias"] = [
        {k: getattr(r, k) for k in ("abnormality", "severity", "tissue", "row", "col", "radius")}
        for r in records
    ]
    if records:
        layers[0][1]["metadata"]["tissue"] = records[0].tissue
    drawn = [r for r in records if r.row is not None and r.radius is not None]
    name = layers[0][1]["name"]
    spacing = mammo.pixel_spacing
    if any(r.abnormality == "CALC" for r in records):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # diffuse (*NOTE 3*) rows: reported in metadata
            labels = minimias_labels(records, mammo.shape, refnum=refnum)
        notes = [r.note for r in records if r.note]
        layers.append(
            (
                labels,
                truth_labels_kwargs(
                    f"{name} calcifications",
                    kind="mini-mias",
                    scale=spacing,
                    # circles around whole abnormalities, not outlines of calcifications:
                    # the Score widget says pixel metrics against them mean nothing
                    metadata={"source": str(info), "refnum": refnum, "notes": notes,
                              "region_shape": "circle", "image": name},
                ),
                "labels",
            )
        )
    if drawn:
        ellipses = [
            np.array(
                # napari reads a 2-row ellipse as (centre, radii)
                [[r.row, r.col], [r.radius, r.radius]],
                dtype=float,
            )
            for r in drawn
        ]
        layers.append(
            (
                ellipses,
                {
                    "name": f"{name} Info.txt",
                    "shape_type": "ellipse",
                    "scale": spacing,
                    "edge_color": [TRUTH_COLOR],
                    "face_color": "transparent",
                    "edge_width": OUTLINE_MM / (spacing[0] if spacing else 0.2),
                    "features": {
                        "name": [f"{r.abnormality} {r.severity or ''}".strip() for r in drawn],
                        "type": [r.abnormality for r in drawn],
                        "severity": [r.severity or "" for r in drawn],
                        "radius_px": [float(r.radius) for r in drawn],
                    },
                    "metadata": {"source": str(info), "refnum": refnum},
                },
                "shapes",
            )
        )
    return layers


# --- INbreast ----------------------------------------------------------------------------------


def _read_inbreast(path: Path) -> list[LayerData]:
    from ..io.images import read_mammogram
    from ..io.inbreast import (
        INBREAST_DICOM_FOLDER,
        inbreast_case,
        inbreast_grid,
        inbreast_labels,
        read_inbreast_xml,
    )

    rois = read_inbreast_xml(path)
    case = inbreast_case(path)
    layers: list[LayerData] = []
    if case.dicom is not None:
        mammo = read_mammogram(case.dicom)
        spacing = mammo.pixel_spacing or INBREAST_SPACING
        shape = mammo.shape
        layers.append(_image_layer(mammo))
    else:
        spacing = INBREAST_SPACING
        shape = inbreast_grid(rois, source=path)
        warnings.warn(
            f"{path.name}: no ../{INBREAST_DICOM_FOLDER}/{path.stem}_*.dcm beside the XML; "
            f"showing the annotations alone on a {shape[0]} x {shape[1]} grid at "
            f"{INBREAST_SPACING_MM:g} mm",
            UserWarning,
            stacklevel=2,
        )
    meta = {"source": str(path), "birads": case.birads, "mapping": "paper",
            "image_file": str(case.dicom or "")}
    if layers:
        meta["image"] = layers[0][1]["name"]
    labels = inbreast_labels(rois, shape, pixel_spacing=spacing)
    layers.append(
        (
            labels,
            truth_labels_kwargs(f"{path.stem} calcifications", kind="inbreast", scale=spacing,
                                metadata=meta),
            "labels",
        )
    )
    outlines = [r for r in rois if len(r.points) >= 3]
    points = [r for r in rois if len(r.points) < 3]
    if outlines:
        layers.append(roi_outline_layer(outlines, spacing, path))
    if points:
        layers.append(roi_ring_layer(points, spacing, path))
    return layers
