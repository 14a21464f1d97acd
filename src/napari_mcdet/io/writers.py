"""Writing annotations: label images -> INbreast-style XML (OsiriX plist) and PNG / TIFF masks.

Every file is written atomically: to a temporary file in the destination folder, flushed, then
moved over the destination with :func:`os.replace`, so an existing file is never half-overwritten.

Label image -> ROIs (:func:`labels_to_rois`), per class and per 8-connected component:

- a one-pixel component -> a single point (type 19) at the pixel centre;
- otherwise -> closed polygons (type 15) from the marching-squares contours at 0.5
  (:func:`skimage.measure.find_contours`); the vertices lie on pixel-edge midpoints, so no pixel
  centre is on an outline and filling them again (pixel centres inside) gives back exactly the
  component. This is checked for every component; a component with holes (which one INbreast
  polygon cannot express) is written as one rectangle per run of pixels in each row instead.

Benign components are named ``Calcification`` and malignant ones ``Cluster``, and single points
carry an extra key ``PointRadius_mm`` = 0 (one pixel), so that
:func:`napari_mcdet.io.inbreast_labels` (paper mapping, default arguments) reads the file back
to the same label image.
"""

from __future__ import annotations

import os
import plistlib
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import BENIGN, MALIGNANT
from .inbreast import ROI_POINT, ROI_POLYGON, InbreastROI

__all__ = [
    "atomic_write",
    "writable_folder",
    "writable_file",
    "label_counts",
    "labels_to_rois",
    "write_inbreast_xml",
    "write_mask",
    "write_annotations",
    "safe_stem",
    "write_uint16_tiff",
    "write_uint16_tiffs",
    "DEFAULT_NAMES",
]

#: ROI names written for each class code.
DEFAULT_NAMES: dict[int, str] = {BENIGN: "Calcification", MALIGNANT: "Cluster"}
_MASK_SUFFIXES = (".png", ".tif", ".tiff")


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` then move the temporary file onto ``path`` in one step.

    The temporary file lives in the destination folder (same file system, so the final
    :func:`os.replace` is atomic) and keeps the destination's suffix (for writers that choose
    the format from it). It is flushed to disk before the move and gets the mode the umask
    gives new files (0644 under the usual 022). A symlink at ``path`` is replaced by the new
    file, never followed. On any error the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {folder} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp makes 0600 files; an output is an ordinary file, readable as the umask says
        os.chmod(tmp, 0o666 & ~_umask())
        # replacing the name, never writing through it: a symlink planted at ``path`` is itself
        # replaced and its target is left alone
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def writable_folder(path: str | os.PathLike, *, what: str = "output folder") -> Path:
    """Create ``path`` if needed and prove it writable, before any long work writes into it.

    A probe file is created and removed (permission bits alone say nothing for root, read-only
    mounts or full disks).

    Parameters
    ----------
    path : str or path-like
        The folder.
    what : str, keyword-only
        How messages name it (``'--out'``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    NotADirectoryError
        ``path`` is a file, or lies under a file.
    PermissionError
        The folder cannot be created or written to.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            f"{what} {path} is a file, not a folder: pass a folder (created if missing)"
        )
    _refuse_a_file_above(path, what=what, kind="folder")
    _probe_folder(path, what=what, path=path)
    return path


def _refuse_a_file_above(path: Path, *, what: str, kind: str) -> None:
    """The nearest existing parent of ``path`` must be a folder."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    f"{what} {path} lies under {parent}, which is a file: pass a {kind} path "
                    "whose parents are folders"
                )
            return


def _probe_folder(folder: Path, *, what: str, path: Path) -> None:
    """Create ``folder`` if needed and prove it writable with a probe file (permission bits say
    nothing for root, read-only mounts or full disks)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".mcdet-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise PermissionError(
            f"{what} {path} cannot be written ({err.strerror or err}): choose a folder you can "
            "write to, or fix its permissions or free space"
        ) from err


def writable_file(path: str | os.PathLike, *, what: str = "output file") -> Path:
    """Prove that a file can be written at ``path``, before any long work produces it.

    The file itself is not created (a failed run must leave nothing that could pass for its
    result); its folder is created if missing and probed with a temporary file, removed again.
    An existing file at ``path`` is fine: writers replace it atomically.

    Parameters
    ----------
    path : str or path-like
        The file to be written.
    what : str, keyword-only
        How messages name it (``'--out'``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    IsADirectoryError
        ``path`` is a folder.
    NotADirectoryError
        ``path`` lies under a file.
    PermissionError
        Its folder cannot be created or written to.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"{what} {path} is a folder: pass a file path, e.g. {path / 'model.safetensors'}"
        )
    _refuse_a_file_above(path, what=what, kind="file")
    _probe_folder(path.parent if str(path.parent) else Path("."), what=what, path=path)
    return path


def _check_labels(labels: Any) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D image (M, N), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) and labels.dtype != bool:
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise ValueError(f"labels must hold integer class codes, got dtype {labels.dtype}")
    labels = labels.astype(np.int64, copy=False)
    bad = np.setdiff1d(np.unique(labels), [0, BENIGN, MALIGNANT])
    if bad.size:
        raise ValueError(
            f"labels hold codes {bad.tolist()}; only 0 background, 1 benign, 2 malignant are valid"
        )
    return labels


def label_counts(labels: np.ndarray) -> dict[int, dict[str, int]]:
    """Calcifications per class of a label image, as the writers will see them.

    Returns
    -------
    dict
        ``{1: {'components': n, 'pixels': p}, 2: {...}}``: 8-connected components (one per
        calcification or cluster outline) and pixels of each class.
    """
    from scipy import ndimage

    labels = _check_labels(labels)
    out = {}
    for code in (BENIGN, MALIGNANT):
        mask = labels == code
        n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))[1] if mask.any() else 0
        out[code] = {"components": int(n), "pixels": int(mask.sum())}
    return out


def _fill(contours: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    from skimage.draw import polygon

    out = np.zeros(shape, dtype=bool)
    for pts in contours:
        rr, cc = polygon(pts[:, 0], pts[:, 1], shape=shape)
        out[rr, cc] = True
    return out


def _row_runs(mask: np.ndarray) -> list[np.ndarray]:
    """One rectangle (4 corners on pixel edges) per horizontal run of True pixels."""
    polys = []
    for r in range(mask.shape[0]):
        row = np.concatenate([[False], mask[r], [False]])
        edges = np.flatnonzero(np.diff(row.astype(np.int8)))
        for c0, c1 in zip(edges[::2], edges[1::2] - 1):
            top, bottom, left, right = r - 0.5, r + 0.5, c0 - 0.5, c1 + 0.5
            polys.append(np.array([[top, left], [top, right], [bottom, right], [bottom, left]]))
    return polys


def labels_to_rois(
    labels: np.ndarray,
    *,
    names: Mapping[int, str] | None = None,
    pixel_spacing: tuple[float, float] | None = None,
) -> list[InbreastROI]:
    """Convert a label image into INbreast ROIs that fill back to exactly the same image.

    Parameters
    ----------
    labels : ndarray of shape (M, N), int
        0 background, 1 benign, 2 malignant.
    names : mapping of int to str, optional
        ROI name per class; default ``{1: 'Calcification', 2: 'Cluster'}``.
    pixel_spacing : (float, float), optional
        ``(row_mm, col_mm)``; when given, each ROI's ``area`` is set in cm^2 (as INbreast does).

    Returns
    -------
    list of InbreastROI
        Points as ``(row, col)``; benign ROIs first, then malignant.
    """
    from scipy import ndimage
    from skimage.measure import find_contours

    labels = _check_labels(labels)
    names = dict(DEFAULT_NAMES if names is None else names)
    pixel_cm2 = 0.0 if pixel_spacing is None else pixel_spacing[0] * pixel_spacing[1] / 100.0
    rois: list[InbreastROI] = []
    for code in (BENIGN, MALIGNANT):
        mask = labels == code
        if not mask.any():
            continue
        name = names.get(code, DEFAULT_NAMES[code])
        comps, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
        for i, sl in enumerate(ndimage.find_objects(comps), start=1):
            r0, c0 = sl[0].start - 1, sl[1].start - 1
            crop = np.pad(comps[sl] == i, 1)
            area = float(crop.sum()) * pixel_cm2
            if crop.sum() == 1:
                r, c = np.argwhere(crop)[0]
                # a one-pixel mark: recorded as such, so inbreast_labels draws one pixel
                rois.append(
                    InbreastROI(
                        name,
                        ROI_POINT,
                        [[r + r0, c + c0]],
                        index=len(rois),
                        area=0.0,
                        extra={"PointRadius_mm": 0.0},
                    )
                )
                continue
            contours = [pts[:-1] for pts in find_contours(crop.astype(np.float32), 0.5)]
            if not np.array_equal(_fill(contours, crop.shape), crop):
                contours = _row_runs(crop)
            for pts in contours:
                rois.append(
                    InbreastROI(name, ROI_POLYGON, pts + [r0, c0], index=len(rois), area=area)
                )
                area = 0.0  # the component's area goes on its first polygon only
    return rois


def _roi_dict(roi: InbreastROI, index: int, spacing: tuple[float, float] | None) -> dict:
    pts = np.asarray(roi.points, dtype=np.float64).reshape(-1, 2)
    px = [f"({c:.6f}, {r:.6f})" for r, c in pts]
    if spacing is None:
        mm = ["(0.000000, 0.000000, 0.000000)"] * len(pts)
    else:
        mm = [f"({c * spacing[1]:.6f}, {r * spacing[0]:.6f}, 0.000000)" for r, c in pts]
    out = {
        "Area": float(roi.area),
        "Center": "(0.000000, 0.000000, 0.000000)",
        "Dev": 0.0,
        "IndexInImage": int(index),
        "Max": 0.0,
        "Mean": 0.0,
        "Min": 0.0,
        "Name": str(roi.name),
        "NumberOfPoints": len(pts),
        "Point_mm": mm,
        "Point_px": px,
        "Total": 0.0,
        "Type": int(roi.type),
    }
    if len(pts) == 1 and "PointRadius_mm" in roi.extra:
        out["PointRadius_mm"] = float(roi.extra["PointRadius_mm"])
    return out


def write_inbreast_xml(
    path: str | os.PathLike,
    rois: Sequence[InbreastROI] | np.ndarray,
    *,
    pixel_spacing: tuple[float, float] | None = None,
    names: Mapping[int, str] | None = None,
) -> Path:
    """Write ROIs (or a label image) as an INbreast / OsiriX XML property list.

    Parameters
    ----------
    path : str or path-like
        Destination ``.xml``; replaced atomically if it exists.
    rois : list of InbreastROI, or ndarray of shape (M, N)
        ROIs with ``(row, col)`` points, or a label image (0/1/2) converted by
        :func:`labels_to_rois`.
    pixel_spacing : (float, float), optional
        ``(row_mm, col_mm)``: fills ``Point_mm`` (zeros otherwise, as in INbreast) and the areas.
    names : mapping of int to str, optional
        ROI names per class for a label image (see :func:`labels_to_rois`).

    Returns
    -------
    Path
        ``path``.
    """
    if isinstance(rois, np.ndarray):
        rois = labels_to_rois(rois, names=names, pixel_spacing=pixel_spacing)
    rois = list(rois)
    for i, roi in enumerate(rois):
        if not isinstance(roi, InbreastROI):
            raise TypeError(f"cannot write {path}: expected InbreastROI records or a label "
                            f"image, got {type(roi).__name__}")
        # NaN / inf would be written as text that no reader turns back into a point
        if not np.all(np.isfinite(roi.points)):
            raise ValueError(
                f"cannot write {path}: ROI {i} ({roi.name}) has non-finite points "
                f"{roi.points[~np.all(np.isfinite(roi.points), axis=1)][:3].tolist()}; drop "
                "or fix those points first"
            )
        radius = roi.extra.get("PointRadius_mm")
        if radius is not None and not np.isfinite(float(radius)):
            raise ValueError(f"cannot write {path}: ROI {i} ({roi.name}) has PointRadius_mm "
                             f"{radius}; give a radius in mm (0 for one pixel)")
    plist = {
        "Images": [
            {
                "ImageIndex": 0,
                "NumberOfROIs": len(rois),
                "ROIs": [_roi_dict(roi, i, pixel_spacing) for i, roi in enumerate(rois)],
            }
        ]
    }

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            plistlib.dump(plist, fh, fmt=plistlib.FMT_XML, sort_keys=True)

    return atomic_write(path, write)


def write_mask(path: str | os.PathLike, labels: np.ndarray) -> Path:
    """Write a label image (0/1/2) as an 8-bit PNG or TIFF mask, atomically.

    The values are the class codes themselves (0, 1, 2: the file looks black in an ordinary
    viewer); read it back with :func:`napari_mcdet.io.read_mask`.
    """
    from skimage import io as skio

    path = Path(path)
    if path.suffix.lower() not in _MASK_SUFFIXES:
        raise ValueError(f"mask files are .png, .tif or .tiff, got {path.name!r}")
    data = _check_labels(labels).astype(np.uint8)

    def write(tmp: Path) -> None:
        skio.imsave(tmp, data, check_contrast=False)

    return atomic_write(path, write)


def write_annotations(
    path: str | os.PathLike, labels: np.ndarray, *,
    pixel_spacing: tuple[float, float] | None = None,
) -> Path:
    """Write a label image (0/1/2) in the format its file name asks for, atomically.

    Parameters
    ----------
    path : str or path-like
        ``.xml``: INbreast / OsiriX XML (:func:`write_inbreast_xml`); ``.png``, ``.tif`` or
        ``.tiff``: an 8-bit mask of the class codes (:func:`write_mask`).
    labels : ndarray of shape (M, N), int
        0 background, 1 benign, 2 malignant.
    pixel_spacing : (float, float), keyword-only, optional
        ``(row_mm, col_mm)``; fills the XML's ``Point_mm`` and areas (a mask has no place for
        it).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        Another suffix, or labels other than 2-D class codes.
    """
    path = Path(path)
    if path.suffix.lower() == ".xml":
        return write_inbreast_xml(path, _check_labels(labels), pixel_spacing=pixel_spacing)
    if path.suffix.lower() in _MASK_SUFFIXES:
        return write_mask(path, labels)
    raise ValueError(f"annotations are written as .xml, .png, .tif or .tiff, got {path.name!r}")


def safe_stem(name: str) -> str:
    """A file-name stem from any text (a layer name): runs of characters other than letters,
    digits, ``_``, ``.`` and ``-`` become one ``_``; leading and trailing dots and ``_`` go
    (no hidden files); ``'image'`` when nothing is left."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "image"


def write_uint16_tiff(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a grey image as a 16-bit TIFF, stretched linearly from its minimum (0) to its
    maximum (65535), atomically.

    For training inputs: training normalises every image per image, so the stretch loses only
    what 16 bits cannot hold.

    Parameters
    ----------
    path : str or path-like
        The ``.tif`` file; its folder must exist.
    image : ndarray of shape (M, N), real
        Any real values, finite.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        Not 2-D, not finite, or constant (nothing to stretch).
    """
    import tifffile

    data = np.asarray(image, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"a 2-D grey image is needed, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError("the image holds NaN or infinite values: it cannot be stretched")
    lo, hi = float(data.min()), float(data.max())
    if hi <= lo:
        raise ValueError(f"the image is constant ({lo:g}): there is nothing to stretch")
    u16 = np.round((data - lo) / (hi - lo) * 65535.0).astype(np.uint16)
    return atomic_write(path, lambda tmp: tifffile.imwrite(tmp, u16))


def write_uint16_tiffs(images: Mapping[str, np.ndarray], folder: str | os.PathLike) -> list[Path]:
    """Write named grey images as 16-bit TIFFs ``<folder>/<stem>.tif`` (:func:`write_uint16_tiff`).

    Each name becomes a stem with :func:`safe_stem`; names that give the same stem (``'a b'``
    and ``'a_b'``) get ``_2``, ``_3``... after it, so no image overwrites another.

    Parameters
    ----------
    images : mapping of str to ndarray of shape (M, N)
        Name (a layer's, a file's) -> image, any real finite values, not constant.
    folder : str or path-like
        Created if needed.

    Returns
    -------
    list of Path
        One per image, in the mapping's order.

    Raises
    ------
    ValueError
        An image that cannot be stretched; the message names it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    taken: set[str] = set()
    for name, image in images.items():
        stem = base = safe_stem(name)
        n = 1
        while stem.lower() in taken:  # case-insensitive file systems hold one of 'A' and 'a'
            n += 1
            stem = f"{base}_{n}"
        taken.add(stem.lower())
        try:
            paths.append(write_uint16_tiff(folder / f"{stem}.tif", image))
        except ValueError as err:
            raise ValueError(f"{name!r} cannot be written as a 16-bit image: {err}") from err
    return paths
