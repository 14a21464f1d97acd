"""INbreast: OsiriX XML annotations, the csv / xls metadata, and an index of a dataset folder.

Coordinates: ``Point_px`` strings are ``"(x, y)"`` with x = column, y = row, origin top-left, in
full-resolution pixels. They are converted once, here, to ``(row, col)`` arrays. ``Point_mm`` and
``Center`` are zeros in the real files and are ignored.

Class mapping (:func:`inbreast_labels`):

- ``mapping='paper'`` (the SPIE 2024 paper): ``Cluster`` outlines -> malignant (2), isolated
  ``Calcification`` ROIs -> benign (1); a calcification inside a cluster is malignant.
- ``mapping='birads'``: every calcification and cluster of the image gets one class from the
  image's BI-RADS in ``INbreast.csv``: 4a, 4b, 4c, 5, 6 -> malignant, 1-3 -> benign.

Masses, asymmetries, distortions and other lesion types are not calcifications: they are kept as
ROIs but not drawn into the label image. Unknown ROI names warn and are skipped.
"""

from __future__ import annotations

import csv
import io
import os
import plistlib
import re
import struct
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

import numpy as np

from ..classes import BENIGN, MALIGNANT
from ..constants import INBREAST_SPACING_MM
from ..spacing import as_spacing
from .images import check_image_size

__all__ = [
    "InbreastROI",
    "InbreastEntry",
    "read_inbreast_xml",
    "is_inbreast_xml",
    "inbreast_labels",
    "read_inbreast_csv",
    "read_inbreast_xls",
    "index_inbreast",
    "inbreast_case",
    "inbreast_grid",
    "read_inbreast_table",
    "case_number",
    "INBREAST_DICOM_FOLDER",
    "INBREAST_XML_FOLDER",
    "INBREAST_CSV",
    "INBREAST_XLS",
    "INBREAST_SHAPES",
    "birads_class",
    "draw_roi",
    "POINT_RADIUS_MM",
    "MAX_POINT_RADIUS_MM",
    "ROI_POLYGON",
    "ROI_POINT",
    "ROI_ELLIPSE",
    "CALCIFICATION_NAMES",
    "CLUSTER_NAMES",
    "OTHER_LESION_NAMES",
]

#: Default radius (mm) of the disk drawn for a single-point calcification.
POINT_RADIUS_MM = 0.15
#: The largest ``PointRadius_mm`` read: a point mark stands for one calcification (at most a
#: few mm across); a larger radius is a damaged value, and drawing it could fill the memory.
MAX_POINT_RADIUS_MM = 10.0
#: OsiriX ROI types seen in INbreast.
ROI_ELLIPSE, ROI_POLYGON, ROI_POINT = 9, 15, 19
CALCIFICATION_NAMES = frozenset({"calcification", "calcifications", "calcificacao", "micro"})
CLUSTER_NAMES = frozenset({"cluster", "clusters", "calcification cluster"})
#: Lesions of the full database that are not calcifications (kept, not drawn).
OTHER_LESION_NAMES = frozenset(
    {
        "mass",
        "spiculated region",
        "espiculated region",
        "spiculated",
        "asymmetry",
        "assymetry",
        "distortion",
        "architectural distortion",
        "point 1",
        "point 3",
    }
)
_NUMBER = re.compile(
    r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?)", re.IGNORECASE
)


@dataclass
class InbreastROI:
    """One annotation of an INbreast XML.

    Attributes
    ----------
    name : str
        ``'Calcification'``, ``'Cluster'``, ``'Mass'``...
    type : int
        OsiriX ROI type: 15 closed polygon, 19 single point, 9 ellipse (drawn as a polygon).
    points : ndarray of shape (N, 2), float
        Vertices as ``(row, col)`` in full-resolution pixels (origin top-left).
    index : int
        ``IndexInImage``.
    image_index : int
        ``ImageIndex`` of the image the ROI belongs to (0 in INbreast).
    area : float
        The file's ``Area`` (cm^2 in INbreast; 0 for points).
    """

    name: str
    type: int
    points: np.ndarray
    index: int = 0
    image_index: int = 0
    area: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float64).reshape(-1, 2)
        self.points = pts
        self.type = int(self.type)

    def __getitem__(self, key: str) -> Any:  # roi["name"] works as well as roi.name
        return getattr(self, key)

    @property
    def kind(self) -> str:
        """``'calcification'``, ``'cluster'``, ``'other'`` (known non-calcification lesion) or
        ``'unknown'``."""
        key = self.name.strip().lower()
        if key in CALCIFICATION_NAMES:
            return "calcification"
        if key in CLUSTER_NAMES:
            return "cluster"
        if key in OTHER_LESION_NAMES:
            return "other"
        return "unknown"


@dataclass
class InbreastEntry:
    """One image of an INbreast folder (see :func:`index_inbreast`)."""

    file_name: str
    dicom: Path | None = None
    xml: Path | None = None
    laterality: str | None = None
    view: str | None = None
    birads: str | None = None
    acr: str | None = None
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


def _parse_point(text: str) -> tuple[float, float]:
    numbers = _NUMBER.findall(str(text))
    if len(numbers) < 2:
        raise ValueError(f"bad Point_px entry {text!r} (expected '(x, y)')")
    x, y = float(numbers[0]), float(numbers[1])
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"non-finite coordinates in Point_px entry {text!r}")
    return y, x  # (row, col)


def _load_plist(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            return plistlib.load(fh)
    except (plistlib.InvalidFileException, ExpatError, ValueError, TypeError, KeyError,
            IndexError, OverflowError, RecursionError) as exc:
        raise ValueError(
            f"{path} is not an OsiriX / INbreast property list ({type(exc).__name__}: {exc}); "
            "check that it is an AllXML file, or fetch it again"
        ) from exc


def is_inbreast_xml(path: str | os.PathLike) -> bool:
    """True when the file is a property list with an ``Images`` array of ROI dicts."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    if not head.startswith(b"bplist"):
        # decode as read_inbreast_xml's parser will (UTF-16 and UTF-32 files carry a BOM)
        for bom, codec in ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                           (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
            if head.startswith(bom):
                text = head[len(bom):].decode(codec, errors="ignore")
                break
        else:
            text = head.decode("utf-8", errors="ignore")
        if "<plist" not in text and "PropertyList" not in text:
            return False
    try:
        data = _load_plist(path)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("Images"), list)


def read_inbreast_xml(path: str | os.PathLike) -> list[InbreastROI]:
    """Read the ROIs of an INbreast (OsiriX) XML file.

    Parameters
    ----------
    path : str or path-like
        An ``AllXML/<number>.xml`` file.

    Returns
    -------
    list of InbreastROI
        In file order; ``points`` as ``(row, col)`` pixels (converted from the ``(x, y)`` strings).

    Raises
    ------
    ValueError
        Not a property list, or no ``Images`` array (not an INbreast annotation file).
    """
    path = Path(path)
    data = _load_plist(path)
    if not isinstance(data, dict) or not isinstance(data.get("Images"), list):
        raise ValueError(
            f"{path} is a property list but not an INbreast annotation file (no 'Images' array)"
        )
    rois: list[InbreastROI] = []
    for k, image in enumerate(data["Images"]):
        if not isinstance(image, dict) or not isinstance(image.get("ROIs", []), list):
            raise ValueError(
                f"{path}: Images[{k}] is not a dict with a 'ROIs' array (got "
                f"{type(image).__name__}); not an INbreast annotation file, or a damaged one"
            )
        try:
            image_index = int(image.get("ImageIndex", 0))
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"{path}: Images[{k}] has a bad ImageIndex ({exc}); the file is "
                             "damaged: fetch it again") from exc
        for i, raw in enumerate(image.get("ROIs", [])):
            roi = _read_roi(path, raw, i, image_index)
            if roi is not None:
                rois.append(roi)
    return rois


def _read_roi(path: Path, raw: Any, i: int, image_index: int) -> InbreastROI | None:
    """One ROI dict of the file; None (with a warning naming the file) when it is unusable."""

    def skip(reason: str) -> None:
        warnings.warn(f"{path}: ROI {i} skipped: {reason}", UserWarning, stacklevel=3)

    if not isinstance(raw, dict):
        skip(f"a {type(raw).__name__}, not a dict of ROI keys (damaged file?)")
        return None
    name = str(raw.get("Name", "")).strip() or "unnamed"
    raw_points = raw.get("Point_px", [])
    if not isinstance(raw_points, list):
        skip(f"({name}) Point_px is a {type(raw_points).__name__}, not a list")
        return None
    try:
        points = [_parse_point(p) for p in raw_points]
    except ValueError as exc:
        skip(f"({name}) {exc}")
        return None
    if not points:
        skip(f"({name}) has no points")
        return None
    extra = {
        k: v
        for k, v in raw.items()
        if k not in ("Name", "Type", "Point_px", "IndexInImage", "Area")
        and isinstance(v, int | float | str)
    }
    if "PointRadius_mm" in extra:
        try:
            radius = float(extra["PointRadius_mm"])
        except ValueError:
            radius = float("nan")
        if not 0.0 <= radius <= MAX_POINT_RADIUS_MM:  # NaN fails too
            skip(f"({name}) PointRadius_mm {extra['PointRadius_mm']!r} is not a radius in "
                 f"0-{MAX_POINT_RADIUS_MM:g} mm (damaged value: fix or delete it)")
            return None
        extra["PointRadius_mm"] = radius
    try:
        kind = int(raw.get("Type", ROI_POLYGON if len(points) > 1 else ROI_POINT))
        index = int(raw.get("IndexInImage", i))
        area = float(raw.get("Area", 0.0) or 0.0)
    except (TypeError, ValueError, OverflowError) as exc:
        skip(f"({name}) Type, IndexInImage or Area is not a number ({exc})")
        return None
    return InbreastROI(name=name, type=kind, points=np.asarray(points, dtype=np.float64),
                       index=index, image_index=image_index, area=area, extra=extra)


def birads_class(birads: str | int | float) -> int:
    """BI-RADS -> class code: 4 (4a, 4b, 4c), 5 and 6 -> malignant (2); 0-3 -> benign (1)."""
    m = re.match(r"\s*(\d+)", str(birads))
    if not m:
        raise ValueError(f"not a BI-RADS category: {birads!r} (expected 1-6, 4a, 4b, 4c)")
    return MALIGNANT if int(m.group(1)) >= 4 else BENIGN


def draw_roi(
    roi: InbreastROI,
    shape: Sequence[int],
    *,
    pixel_spacing: tuple[float, float] = (INBREAST_SPACING_MM, INBREAST_SPACING_MM),
    point_radius_mm: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel indices ``(rr, cc)`` covered by one ROI inside an image of ``shape``.

    Polygons and ellipses: pixels whose centre lies inside (``skimage.draw.polygon``); a polygon
    too small to contain a pixel centre gives the pixels of its vertices. Single points: a disk of
    ``point_radius_mm`` (0 -> the one nearest pixel; None -> the ROI's own ``PointRadius_mm``
    written by :func:`napari_mcdet.io.write_inbreast_xml`, else :data:`POINT_RADIUS_MM`). Two
    points: the line between them.
    """
    from skimage.draw import line, polygon

    rows, cols = int(shape[0]), int(shape[1])
    pts = roi.points
    if not np.all(np.isfinite(pts)):
        raise ValueError(f"ROI {roi.index} ({roi.name}) has non-finite points; fix or drop it")
    if len(pts) >= 3:
        rr, cc = polygon(pts[:, 0], pts[:, 1], shape=(rows, cols))
        if rr.size:
            return rr, cc
        rc = np.rint(pts).astype(np.int64)
    elif len(pts) == 2:
        (r0, c0), (r1, c1) = np.rint(pts).astype(np.int64)
        rr, cc = line(r0, c0, r1, c1)
        rc = np.stack([rr, cc], axis=1)
    else:
        r0, c0 = pts[0]
        sr, sc = as_spacing(pixel_spacing)
        if point_radius_mm is None:
            point_radius_mm = float(roi.extra.get("PointRadius_mm", POINT_RADIUS_MM))
        if not 0.0 <= point_radius_mm <= MAX_POINT_RADIUS_MM:
            raise ValueError(
                f"ROI {roi.index} ({roi.name}): point radius {point_radius_mm} mm is not in "
                f"0-{MAX_POINT_RADIUS_MM:g} mm"
            )
        rad_r, rad_c = point_radius_mm / sr, point_radius_mm / sc
        centre = np.rint(pts[:1]).astype(np.int64)
        if rad_r > 0 and rad_c > 0:
            # the grid covers only the part of the disk inside the image: its memory is bounded
            # by the image whatever the radius and the spacing
            r_lo, r_hi = max(int(np.floor(r0 - rad_r)), 0), min(int(np.ceil(r0 + rad_r)), rows - 1)
            c_lo, c_hi = max(int(np.floor(c0 - rad_c)), 0), min(int(np.ceil(c0 + rad_c)), cols - 1)
            r_hi, c_hi = max(r_hi, r_lo - 1), max(c_hi, c_lo - 1)  # empty when wholly outside
            gr, gc = np.mgrid[r_lo : r_hi + 1, c_lo : c_hi + 1]
            inside = ((gr - r0) / rad_r) ** 2 + ((gc - c0) / rad_c) ** 2 <= 1.0
            rc = np.concatenate([centre, np.stack([gr[inside], gc[inside]], axis=1)])
        else:
            rc = centre
    keep = (rc[:, 0] >= 0) & (rc[:, 0] < rows) & (rc[:, 1] >= 0) & (rc[:, 1] < cols)
    rc = rc[keep]
    return rc[:, 0], rc[:, 1]


def inbreast_labels(
    rois: Iterable[InbreastROI],
    shape: Sequence[int],
    *,
    pixel_spacing: float | tuple[float, float] = (INBREAST_SPACING_MM, INBREAST_SPACING_MM),
    point_radius_mm: float | None = None,
    mapping: str = "paper",
    birads: str | int | None = None,
    fill_clusters: bool = True,
) -> np.ndarray:
    """Label image of the calcification ROIs of one INbreast image.

    Parameters
    ----------
    rois : iterable of InbreastROI
        From :func:`read_inbreast_xml`.
    shape : (int, int)
        Image shape (rows, cols), e.g. ``(4084, 3328)``.
    pixel_spacing : float or (float, float), optional
        ``(row_mm, col_mm)``; INbreast's :data:`~napari_mcdet.constants.INBREAST_SPACING_MM`.
        Only used to size the point disks.
    point_radius_mm : float, optional
        Radius of the disk drawn for a single-point calcification (type 19), in mm. 0 draws the
        one nearest pixel (as the paper does; its metrics dilate benign ground truth instead).
        None (default): 0.15 mm (:data:`POINT_RADIUS_MM`), or the value a file written by
        :func:`napari_mcdet.io.write_inbreast_xml` records for its one-pixel marks (0), so that
        such files read back exactly.
    mapping : {'paper', 'birads'}, optional
        ``'paper'``: clusters malignant, isolated calcifications benign (a calcification inside
        a cluster outline is malignant). ``'birads'``: every calcification and cluster gets the
        class of ``birads`` (>= 4 malignant, else benign).
    birads : str or int, optional
        The image's BI-RADS (``'4b'``); required for ``mapping='birads'``.
    fill_clusters : bool, optional
        Fill cluster outlines with their class (default). False draws only the calcifications
        (those inside a cluster outline get the cluster's class) and leaves the cluster area 0.

    Returns
    -------
    ndarray of shape ``shape``, uint8
        0 background, 1 benign, 2 malignant.

    Warns
    -----
    UserWarning
        Unknown ROI names (skipped) and points outside the image (clipped).
    """
    shape = _check_shape(shape)
    spacing = as_spacing(pixel_spacing)
    if point_radius_mm is not None and point_radius_mm < 0:
        raise ValueError(f"point_radius_mm must be >= 0, got {point_radius_mm}")
    image_class = _image_class(mapping, birads)
    calcs, clusters = _calcification_rois(rois, shape)

    def pixels(roi: InbreastROI) -> tuple[np.ndarray, np.ndarray]:
        return draw_roi(roi, shape, pixel_spacing=spacing, point_radius_mm=point_radius_mm)

    calc_class = image_class if image_class is not None else BENIGN
    cluster_class = image_class if image_class is not None else MALIGNANT
    if fill_clusters:
        return _draw_filled(calcs, clusters, shape, pixels, calc_class=calc_class,
                            cluster_class=cluster_class)
    return _draw_calcifications(calcs, clusters, shape, pixels, calc_class=calc_class,
                                cluster_class=cluster_class)


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) <= 0:
        raise ValueError(f"shape must be (rows, cols) of positive ints, got {shape}")
    return shape


def _image_class(mapping: str, birads: str | int | None) -> int | None:
    """The one class of every calcification of the image (``'birads'``), or None (``'paper'``:
    the class comes from the ROI's kind)."""
    if mapping not in ("paper", "birads"):
        raise ValueError(f"mapping must be 'paper' or 'birads', got {mapping!r}")
    if mapping == "paper":
        return None
    if birads is None:
        raise ValueError(
            "mapping='birads' needs the image's BI-RADS (birads='4b'); find it with "
            "read_inbreast_csv or index_inbreast"
        )
    return birads_class(birads)


def _calcification_rois(
    rois: Iterable[InbreastROI], shape: tuple[int, int]
) -> tuple[list[InbreastROI], list[InbreastROI]]:
    """``(calcifications, clusters)`` among ``rois``, in order.

    Other lesions are left out silently, unknown names with one warning; ROIs reaching
    outside the image are kept (drawing clips them) with one warning, since the image shape or
    orientation is likely wrong.
    """
    calcs: list[InbreastROI] = []
    clusters: list[InbreastROI] = []
    unknown: set[str] = set()
    outside = 0
    for roi in rois:
        kind = roi.kind
        if kind == "unknown":
            unknown.add(roi.name)
            continue
        if kind == "other":
            continue
        pts = roi.points
        if np.any((pts < -0.5) | (pts > np.asarray(shape) - 0.5)):
            outside += 1
        (calcs if kind == "calcification" else clusters).append(roi)
    if unknown:
        warnings.warn(
            f"INbreast ROI names not recognised, skipped: {sorted(unknown)} (known: "
            "Calcification, Cluster; masses and other lesions are not drawn)",
            UserWarning,
            stacklevel=3,
        )
    if outside:
        warnings.warn(
            f"{outside} INbreast ROI(s) reach outside the {shape} image; clipped to the image "
            "(wrong image shape or orientation?)",
            UserWarning,
            stacklevel=3,
        )
    return calcs, clusters


_Pixels = Callable[[InbreastROI], tuple[np.ndarray, np.ndarray]]


def _draw_filled(calcs: list[InbreastROI], clusters: list[InbreastROI], shape: tuple[int, int],
                 pixels: _Pixels, *, calc_class: int, cluster_class: int) -> np.ndarray:
    """Calcifications, then cluster areas over them, each filled with its class (M, N)."""
    out = np.zeros(shape, dtype=np.uint8)
    for roi in calcs:
        out[pixels(roi)] = calc_class
    for roi in clusters:
        out[pixels(roi)] = cluster_class
    return out


def _draw_calcifications(calcs: list[InbreastROI], clusters: list[InbreastROI],
                         shape: tuple[int, int], pixels: _Pixels, *, calc_class: int,
                         cluster_class: int) -> np.ndarray:
    """Calcifications only (M, N): one touching a cluster's area takes the cluster's class."""
    out = np.zeros(shape, dtype=np.uint8)
    inside_cluster = np.zeros(shape, dtype=bool)
    for roi in clusters:
        inside_cluster[pixels(roi)] = True
    for roi in calcs:
        rr, cc = pixels(roi)
        out[rr, cc] = cluster_class if inside_cluster[rr, cc].any() else calc_class
    return out


_CSV_KEYS = {
    "patient id": "patient_id",
    "patient age": "patient_age",
    "laterality": "laterality",
    "view": "view",
    "acquisition date": "acquisition_date",
    "file name": "file_name",
    "acr": "acr",
    "bi-rads": "birads",
    "mass": "mass",
    "micros": "micros",
    "distortion": "distortion",
    "asymmetry": "asymmetry",
    "findings notes (in portuguese)": "findings_notes",
    "other notes": "other_notes",
    "lesion annotation status": "lesion_annotation_status",
    "pectoral muscle annotation": "pectoral_muscle_annotation",
    "other annotations": "other_annotations",
}
_FLAGS = ("mass", "micros", "distortion", "asymmetry")


def _key(header: str) -> str:
    text = header.strip().lower()
    return _CSV_KEYS.get(text, re.sub(r"\W+", "_", text).strip("_"))


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _finish_record(rec: dict[str, Any]) -> dict[str, Any]:
    for key in _FLAGS:
        if key in rec:
            rec[key] = rec[key].strip().upper() == "X"
    for key in ("file_name", "birads", "acr", "laterality", "view"):
        if key in rec:
            rec[key] = rec[key] or None
    if rec.get("birads"):
        rec["birads"] = rec["birads"].lower()
    return rec


def read_inbreast_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read ``INbreast.csv`` (``;``-separated) into one dict per image.

    Keys: ``patient_id, patient_age, laterality, view, acquisition_date, file_name, acr, birads``
    (strings; ``birads`` lower-case, e.g. ``'4b'``; ``file_name`` is the number that names the
    XML and starts the DICOM name).
    """
    path = Path(path)
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    reader = csv.reader(text.splitlines(), delimiter=";")
    try:
        header = [_key(h) for h in next(reader)]
    except StopIteration as exc:
        raise ValueError(f"{path} is empty") from exc
    if "file_name" not in header or "birads" not in header:
        raise ValueError(
            f"{path} does not look like INbreast.csv (header {header}; expected 'File Name' and "
            "'Bi-Rads' columns separated by ';')"
        )
    records = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        rec = {k: (row[i].strip() if i < len(row) else "") for i, k in enumerate(header)}
        if not rec.get("file_name"):
            continue
        records.append(_finish_record(rec))
    return records


def read_inbreast_xls(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read ``INbreast.xls`` (first sheet) into one dict per image.

    The keys of :func:`read_inbreast_csv` plus the finding flags ``mass, micros, distortion,
    asymmetry`` (bools, from the ``X`` marks), ``findings_notes`` (Portuguese),
    ``other_notes``, ``lesion_annotation_status``, ``pectoral_muscle_annotation``,
    ``other_annotations``. The blank row and the totals row after the images are dropped.
    """
    import xlrd

    path = Path(path)
    try:
        # xlrd reports damage on stdout by default; the error below says it in one line
        book = xlrd.open_workbook(str(path), logfile=io.StringIO())
    except xlrd.XLRDError as exc:
        raise ValueError(f"{path} is not a readable .xls workbook ({exc})") from exc
    except (IndexError, KeyError, AssertionError, EOFError, ValueError, struct.error) as exc:
        raise ValueError(
            f"{path} is a damaged or truncated .xls workbook ({type(exc).__name__}: {exc}); "
            "fetch it again, or use INbreast.csv"
        ) from exc
    sheet = book.sheet_by_index(0)
    if sheet.nrows == 0:
        raise ValueError(f"{path}: the first sheet is empty")
    header = [_key(str(v)) for v in sheet.row_values(0)]
    if "file_name" not in header:
        raise ValueError(f"{path} does not look like INbreast.xls (header {header})")
    records = []
    for r in range(1, sheet.nrows):
        rec = {k: _cell_text(v) for k, v in zip(header, sheet.row_values(r))}
        if not rec.get("file_name") or not rec["file_name"].isdigit():
            continue  # blank row, totals row
        records.append(_finish_record(rec))
    return records


# -- the dataset's folder layout ----------------------------------------------------------------
#: INbreast's folders and metadata tables, under the dataset's root folder: the images are
#: ``AllDICOMs/<number>_<hash>_MG_<side>_<view>_ANON.dcm``, the annotations ``AllXML/<number>.xml``.
INBREAST_DICOM_FOLDER = "AllDICOMs"
INBREAST_XML_FOLDER = "AllXML"
INBREAST_CSV = "INbreast.csv"
INBREAST_XLS = "INbreast.xls"
_DICOM_SUFFIXES = (".dcm", ".dicom")
#: INbreast's image sizes (rows, cols), the most common first (24 x 30 cm and 18 x 24 cm plates).
INBREAST_SHAPES = ((4084, 3328), (3328, 2560))


def case_number(name: str) -> str | None:
    """The number that names an INbreast case: the digits that start a DICOM or XML file name
    (``'22613624'`` for ``'22613624_5530d5782fc89dd7_MG_R_CC_ANON.dcm'``); None without one."""
    m = re.match(r"^(\d+)", name)
    return m.group(1) if m else None


def read_inbreast_table(root: str | os.PathLike) -> list[dict[str, Any]]:
    """The metadata records of an INbreast folder: ``INbreast.csv``, else ``INbreast.xls``
    (:func:`read_inbreast_csv`, :func:`read_inbreast_xls`); an empty list when it has neither."""
    root = Path(root)
    if (root / INBREAST_CSV).is_file():
        return read_inbreast_csv(root / INBREAST_CSV)
    if (root / INBREAST_XLS).is_file():
        return read_inbreast_xls(root / INBREAST_XLS)
    return []


def index_inbreast(root: str | os.PathLike) -> dict[str, InbreastEntry]:
    """Pair the files of an INbreast folder by their number.

    Parameters
    ----------
    root : str or path-like
        The folder holding ``AllDICOMs/``, ``AllXML/`` and ``INbreast.csv`` (or ``INbreast.xls``);
        any of them may be missing.

    Returns
    -------
    dict of str -> InbreastEntry
        Keyed by the file number (``'22580192'``), sorted; ``dicom`` / ``xml`` are None where the
        file is absent; laterality, view, BI-RADS and ACR come from the csv (else the xls).
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    entries: dict[str, InbreastEntry] = {}

    def entry(number: str) -> InbreastEntry:
        return entries.setdefault(number, InbreastEntry(file_name=number))

    for rec in read_inbreast_table(root):
        e = entry(str(rec["file_name"]))
        e.laterality, e.view = rec.get("laterality"), rec.get("view")
        e.birads, e.acr, e.info = rec.get("birads"), rec.get("acr"), rec
    for folder, attr, suffixes in (
        (INBREAST_DICOM_FOLDER, "dicom", _DICOM_SUFFIXES),
        (INBREAST_XML_FOLDER, "xml", (".xml",)),
    ):
        if not (root / folder).is_dir():
            continue
        for path in sorted((root / folder).iterdir()):
            number = case_number(path.name)
            if number and path.suffix.lower() in suffixes:
                setattr(entry(number), attr, path)
    return dict(sorted(entries.items()))


def inbreast_case(xml_path: str | os.PathLike) -> InbreastEntry:
    """The case of one annotation file: its image and metadata, found as :func:`index_inbreast`
    finds them in the dataset folder that holds the file's ``AllXML/``.

    Parameters
    ----------
    xml_path : str or path-like
        An ``AllXML/<number>.xml`` file; it need not lie in an INbreast folder.

    Returns
    -------
    InbreastEntry
        ``xml`` is ``xml_path``; ``dicom`` is the case's image in ``../AllDICOMs/`` and
        ``birads``, ``laterality``, ``view``, ``acr`` its metadata from ``../INbreast.csv`` (else
        ``../INbreast.xls``), each None where the folder does not have it.
    """
    xml_path = Path(xml_path)
    number = case_number(xml_path.name)
    found = index_inbreast(xml_path.parent.parent).get(number) if number else None
    case = found or InbreastEntry(file_name=number or xml_path.stem)
    case.xml = xml_path
    return case


def inbreast_grid(rois: Sequence[InbreastROI], *,
                  source: str | os.PathLike = "the INbreast ROIs") -> tuple[int, int]:
    """Image shape (rows, cols) for annotations shown without their image: the first of
    :data:`INBREAST_SHAPES` that holds every ROI point, else a grid just large enough.

    Parameters
    ----------
    rois : sequence of InbreastROI
    source : str or path-like, keyword-only
        The annotation file, named in the error.

    Raises
    ------
    ValueError
        Points so far out that the grid would hold more pixels than any mammogram
        (:func:`napari_mcdet.io.images.check_image_size`, the check every image file passes).
    """
    extent = np.max([r.points.max(axis=0) for r in rois], axis=0) if rois else np.zeros(2)
    fitting = [s for s in INBREAST_SHAPES if extent[0] < s[0] and extent[1] < s[1]]
    if fitting:
        return fitting[0]
    shape = tuple(int(np.ceil(e)) + 1 for e in extent)
    check_image_size(source, *shape, claim="its ROI points need a grid of")
    return shape


def inbreast_findings(
    rois: Iterable[InbreastROI],
    labels: np.ndarray,
    *,
    mapping: str = "paper",
    birads: str | int | None = None,
) -> list[Any]:
    """The calcification findings of one image's ROIs, for a structured report.

    Parameters
    ----------
    rois : iterable of InbreastROI
    labels : ndarray of shape (M, N)
        :func:`inbreast_labels` of the same ROIs and ``mapping``: a calcification's class is the
        label under its centre (so one inside a cluster outline is malignant under ``'paper'``).
    mapping, birads
        As in :func:`inbreast_labels`; a cluster gets the class that mapping gives clusters.

    Returns
    -------
    list of napari_mcdet.io.dicom_sr.Finding
        One ``'calcification'`` per calcification ROI (at the mean of its points), one
        ``'cluster'`` per cluster outline (its bounding box, pixel edges).
    """
    from .dicom_sr import Finding

    image_class = _image_class(mapping, birads)
    calcs, clusters = _calcification_rois(rois, tuple(labels.shape))
    out = []
    for i, roi in enumerate(calcs, start=1):
        row, col = (float(v) for v in np.asarray(roi.points, dtype=float).mean(axis=0))
        r = min(max(int(round(row)), 0), labels.shape[0] - 1)
        c = min(max(int(round(col)), 0), labels.shape[1] - 1)
        cls = int(labels[r, c]) or (image_class or BENIGN)
        out.append(Finding(kind="calcification", center=(row, col), class_id=cls, id=i))
    for i, roi in enumerate(clusters, start=1):
        pts = np.asarray(roi.points, dtype=float)
        (r0, c0), (r1, c1) = pts.min(axis=0), pts.max(axis=0)
        # the box through the outline's vertices, in the edge coordinates Finding.bbox uses
        # (pixel centres at +0.5)
        out.append(Finding(kind="cluster", center=((r0 + r1) / 2, (c0 + c1) / 2),
                           class_id=image_class or MALIGNANT,
                           bbox=(r0 + 0.5, c0 + 0.5, r1 + 0.5, c1 + 0.5), id=i))
    return out
