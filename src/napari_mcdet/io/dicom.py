"""DICOM mammograms -> :class:`~napari_mcdet.mammogram.Mammogram` (pydicom 3).

The pixel pipeline follows DICOM PS3.3 C.11 in float32 (no full-resolution float64 copy):

1. decode the stored values (RLE with numpy alone; JPEG / JPEG 2000 need the optional decoders,
   ``pip install "napari-mcdet[jpeg]"``, i.e. pylibjpeg with pylibjpeg-libjpeg and
   pylibjpeg-openjpeg);
2. modality LUT (Rescale Slope / Intercept, or a Modality LUT Sequence);
3. VOI LUT (a VOI LUT Sequence item, else a window with the LINEAR, LINEAR_EXACT or SIGMOID
   function); after this step the values lie in ``[0, 1]``;
4. MONOCHROME1 is inverted so that bright is always dense.

Without a VOI LUT or window the values stay in modality units (for example 0-65535 for the
CBIS-DDSM files); ``metadata['value_range']`` gives the possible range in every case.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..mammogram import Mammogram
from .images import check_image_size

__all__ = ["read_dicom", "dicom_spacing", "spacing_problem", "is_dicom", "JPEG_EXTRA_HINT"]

#: What to install when a compressed transfer syntax cannot be decoded.
JPEG_EXTRA_HINT = (
    'pip install "napari-mcdet[jpeg]" (pylibjpeg, pylibjpeg-libjpeg for JPEG / JPEG-LS, '
    "pylibjpeg-openjpeg for JPEG 2000)"
)

_VIEWS = ("MLO", "CC", "ML", "LM", "XCCL", "XCCM", "FB", "SIO", "LMO", "AT", "CV")
# tags copied into Mammogram.metadata (when present)
_META_TAGS = (
    "Modality",
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "PatientID",
    "StudyDate",
    "SeriesDescription",
    "Manufacturer",
    "ManufacturerModelName",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "Rows",
    "Columns",
    "PatientOrientation",
    "BodyPartExamined",
    "PresentationIntentType",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "RescaleSlope",
    "RescaleIntercept",
)


def is_dicom(path: str | os.PathLike) -> bool:
    """True when the file has the DICOM ``DICM`` preamble marker (or a .dcm/.dicom name)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    return path.suffix.lower() in (".dcm", ".dicom")


def _plain(value: Any) -> Any:
    """DICOM element value -> plain python (str, float, int, list) for metadata."""
    from pydicom.multival import MultiValue
    from pydicom.valuerep import IS, DSfloat, PersonName

    if isinstance(value, MultiValue | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, DSfloat):
        return float(value)
    if isinstance(value, IS):
        return int(value)
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return None
    if isinstance(value, str):
        return str(value)
    return value


def _spacing(ds: Any) -> tuple[tuple[float, float] | None, str | None, list[str]]:
    """``(spacing, tag, problems)``: the first valid spacing tag, and what was wrong with the
    tags that are present but unusable (so the warning can say so instead of 'no tag')."""
    problems: list[str] = []

    def valid(values: Any, tag: str) -> tuple[float, float] | None:
        items = list(values)
        if len(items) != 2:
            # a third number is no third axis of a 2-D image: the tag is damaged, and which two
            # of the numbers are row and column cannot be known
            problems.append(f"invalid {tag} {_spacing_text(items)}: {len(items)} value"
                            f"{'s' if len(items) != 1 else ''}, not two (row and column mm)")
            return None
        try:
            row, col = float(items[0]), float(items[1])
        except (TypeError, ValueError) as exc:
            problems.append(f"invalid {tag} {_spacing_text(items)}: not numbers ({exc})")
            return None
        if np.isfinite(row) and np.isfinite(col) and row > 0 and col > 0:
            return row, col
        problems.append(f"invalid {tag} {_spacing_text(items)}: not a pixel size (positive mm)")
        return None

    for tag in ("PixelSpacing", "ImagerPixelSpacing"):
        try:
            value = ds.get(tag)
        except (TypeError, ValueError) as exc:  # an unparsable DS string in the file
            problems.append(f"invalid {tag}: not numbers ({exc})")
            continue
        if value is not None and value != "":
            found = valid(value if not isinstance(value, str | float | int) else [value], tag)
            if found:
                return found, tag, problems
    # enhanced / multi-frame objects keep it in a functional group
    try:
        measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        found = valid(measures.PixelSpacing, "PixelMeasuresSequence PixelSpacing")
        if found:
            return found, "PixelMeasuresSequence", problems
    except (AttributeError, IndexError, TypeError, KeyError):
        pass
    return None, None, problems


def _spacing_text(items: list[Any]) -> str:
    """``0\\0`` for the values of a spacing tag, as DICOM writes them."""
    return "\\".join(str(_plain(v)) for v in items)


def spacing_problem(problems: list[str]) -> str:
    """Why a file has no pixel spacing, in words: what is wrong with its spacing tags, or that
    it has none (``problems`` as :func:`_spacing` lists them)."""
    if problems:
        return "; ".join(problems)
    return "no PixelSpacing or ImagerPixelSpacing tag"


def dataset_spacing(ds: Any) -> tuple[float, float] | None:
    """The ``(row_mm, col_mm)`` a DICOM header states (PixelSpacing, else ImagerPixelSpacing),
    as :func:`read_dicom` reads it, or None."""
    return _spacing(ds)[0]


def dicom_spacing(path: str | os.PathLike) -> tuple[tuple[float, float] | None, str]:
    """The pixel spacing a DICOM file states, after checking its header as :func:`read_dicom`
    does, without decoding its pixels.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    spacing : (float, float) or None
        ``(row_mm, col_mm)``, as :func:`read_dicom` would give it.
    source : str
        The tag it comes from (``'PixelSpacing'``...), or, without a spacing, why
        (:func:`spacing_problem`).

    Raises
    ------
    ValueError
        A file :func:`read_dicom` refuses for its header: not DICOM, truncated, colour,
        several frames, damaged rescale or window values, an impossible size.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such DICOM file: {path}")
    with warnings.catch_warnings():
        # read_dicom gives the same warnings when it reads the pixels
        warnings.simplefilter("ignore")
        ds = _read_dataset(path)
        _check_grey_image(ds, path, frame=None)
    _check_rescale(ds, path, windows=True)
    _check_size(ds, path, ds.file_meta.get("TransferSyntaxUID"))
    spacing, tag, problems = _spacing(ds)
    return spacing, (tag if spacing is not None else spacing_problem(problems))


def laterality_of(ds: Any) -> str | None:
    """'L' or 'R' from Image / series / frame laterality, else None."""
    for tag in ("ImageLaterality", "Laterality", "FrameLaterality"):
        value = ds.get(tag)
        if value and str(value).strip().upper()[:1] in ("L", "R"):
            return str(value).strip().upper()[:1]
    return None


def _view_from_text(text: str) -> str | None:
    tokens = re.split(r"[^A-Z]+", text.upper())
    for view in _VIEWS:
        if view in tokens:
            return view
    return None


def view_of(ds: Any) -> str | None:
    """The view ('CC', 'MLO'...) from View Position, the view code, or the descriptions."""
    value = ds.get("ViewPosition")
    if value and str(value).strip():
        return str(value).strip().upper()
    try:  # ViewCodeSequence: code meaning such as "cranio-caudal" / "medio-lateral oblique"
        meaning = str(ds.ViewCodeSequence[0].CodeMeaning).lower()
        if "oblique" in meaning:
            return "MLO"
        if "cranio-caudal" in meaning or "craniocaudal" in meaning:
            return "CC"
        if "medio-lateral" in meaning or "mediolateral" in meaning:
            return "ML"
    except (AttributeError, IndexError):
        pass
    for tag in ("SeriesDescription", "ProtocolName", "PatientOrientation"):
        value = ds.get(tag)
        if value:
            text = "\\".join(value) if not isinstance(value, str) else value
            view = _view_from_text(text)
            if view:
                return view
    return None


def _decode(ds: Any, path: Path) -> np.ndarray:
    from pydicom.pixels import get_decoder

    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise ValueError(f"{path} is a DICOM file without pixel data (no image to read)")
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if tsyntax is not None and tsyntax.is_compressed:
        try:
            decoder = get_decoder(tsyntax)
        except NotImplementedError as exc:
            raise ValueError(
                f"{path}: transfer syntax {tsyntax.name} ({tsyntax}) is not supported by pydicom"
            ) from exc
        if not decoder.is_available:
            missing = "; ".join(getattr(decoder, "missing_dependencies", []) or [])
            raise ImportError(
                f"{path} is compressed with {tsyntax.name} and no decoder for it is installed; "
                f"install one with: {JPEG_EXTRA_HINT}"
                + (f" (pydicom's decoder options: {missing})" if missing else "")
            )
    _check_size(ds, path, tsyntax)
    try:
        return ds.pixel_array
    except (ValueError, EOFError, OSError, IndexError, RuntimeError, MemoryError) as exc:
        text = " ".join(str(exc).split())
        raise ValueError(
            f"{path}: could not decode the pixel data ({type(exc).__name__}: {text}); the file "
            "may be truncated or corrupt: re-export or re-download it"
        ) from exc


#: RLE stores a run of up to 128 equal bytes in 2 bytes: no segment expands more than 64-fold.
_RLE_MAX_EXPANSION = 64


def _check_size(ds: Any, path: Path, tsyntax: Any) -> None:
    """Refuse pixel data whose claimed size is impossible, before the decoder allocates it."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        bits = int(ds.get("BitsAllocated", 16) or 16)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: Rows, Columns or BitsAllocated missing or not numbers ({exc}); "
                         "the header is damaged: re-export the file") from exc
    check_image_size(path, rows, cols, frames=frames)
    native = tsyntax is None or not tsyntax.is_compressed
    if native and "PixelData" in ds and bits >= 8:
        # pydicom reads a cut-off native file without a word: the length tells
        stored, need = len(ds.PixelData), rows * cols * frames * (bits // 8)
        if stored < need:
            raise ValueError(
                f"{path} is truncated: its pixel data holds {stored:,} of the {need:,} bytes its "
                "header claims; the download or copy is incomplete - fetch the file again"
            )
    if tsyntax is not None and str(tsyntax) == "1.2.840.10008.1.2.5":  # RLE Lossless
        stored = len(ds.PixelData) if "PixelData" in ds else 0
        need = rows * cols * frames * max(bits // 8, 1)
        if need > stored * _RLE_MAX_EXPANSION + 1024:
            raise ValueError(
                f"{path}: its header claims {rows} x {cols} pixels ({need:,} bytes), but its "
                f"{stored:,} bytes of RLE data can hold at most {stored * _RLE_MAX_EXPANSION:,}; "
                "the header is damaged: re-export or re-download the file"
            )


def _value_range(ds: Any) -> tuple[float, float]:
    """Possible range of the modality-LUT output (PS3.3 C.11.1)."""
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    if ds.get("ModalityLUTSequence"):
        depth = int(ds.ModalityLUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**depth - 1)
    if int(ds.get("PixelRepresentation", 0)) == 0:
        lo, hi = 0.0, float(2**bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    a, b = lo * slope + intercept, hi * slope + intercept
    return (min(a, b), max(a, b))


def _check_rescale(ds: Any, path: Path, *, windows: bool) -> None:
    """Refuse rescale (and, when applied, window) values that are not finite numbers: they
    would silently turn every pixel into NaN."""
    tags = ("RescaleSlope", "RescaleIntercept")
    for tag in tags + (("WindowCenter", "WindowWidth") if windows else ()):
        if tag not in ds:
            continue
        value = ds[tag].value
        values = list(value) if ds[tag].VM > 1 else [value]
        try:
            numbers = [float(v) for v in values if v is not None and v != ""]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {tag} {_plain(value)!r} is not a number ({exc}); the "
                             "header is damaged: fix the tag (e.g. with pydicom) or re-export "
                             "the file") from exc
        if not np.all(np.isfinite(numbers)):
            raise ValueError(
                f"{path}: {tag} is {_plain(value)!r}, which would turn every pixel into NaN; the "
                "header is damaged: fix the tag (e.g. with pydicom) or re-export the file"
            )


def _modality(arr: np.ndarray, ds: Any) -> np.ndarray:
    if ds.get("ModalityLUTSequence"):
        from pydicom.pixels import apply_modality_lut

        return np.asarray(apply_modality_lut(arr, ds)).astype(np.float32, copy=False)
    out = arr.astype(np.float32)
    slope = ds.get("RescaleSlope")
    intercept = ds.get("RescaleIntercept")
    if slope is not None and float(slope) != 1.0:
        out *= np.float32(slope)
    if intercept is not None and float(intercept) != 0.0:
        out += np.float32(intercept)
    return out


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """Window ``values`` in place to ``[0, 1]`` (PS3.3 C.11.2.1.2 / C.11.2.1.3)."""
    function = (function or "LINEAR").upper()
    if function == "LINEAR":
        if width < 1:
            raise ValueError(f"Window Width must be >= 1 for LINEAR windowing, got {width}")
        c, w = center - 0.5, width - 1.0
        if w == 0:  # a threshold
            return (values > c).astype(np.float32)
        values -= np.float32(c)
        values /= np.float32(w)
        values += np.float32(0.5)
    elif function == "LINEAR_EXACT":
        if width <= 0:
            raise ValueError(f"Window Width must be > 0 for LINEAR_EXACT windowing, got {width}")
        values -= np.float32(center)
        values /= np.float32(width)
        values += np.float32(0.5)
    elif function == "SIGMOID":
        if width <= 0:
            raise ValueError(f"Window Width must be > 0 for SIGMOID windowing, got {width}")
        values -= np.float32(center)
        values *= np.float32(-4.0 / width)
        np.clip(values, -80, 80, out=values)  # exp overflow guard in float32
        np.exp(values, out=values)
        values += np.float32(1.0)
        np.reciprocal(values, out=values)
        return values
    else:
        raise ValueError(
            f"unsupported VOI LUT Function {function!r} (expected LINEAR, LINEAR_EXACT or SIGMOID)"
        )
    np.clip(values, 0.0, 1.0, out=values)
    return values


def _lut(item: Any, ds: Any) -> tuple[np.ndarray, int, int]:
    """(entries, first mapped value, bits per entry) of a VOI LUT sequence item (PS3.3 C.11.2)."""
    n_entries, first, depth = (int(v) for v in item.LUTDescriptor[:3])
    n_entries = n_entries or 2**16
    if not 8 <= depth <= 16:
        raise ValueError(f"VOI LUT with {depth} bits per entry is not valid DICOM (8-16)")
    data = item.LUTData
    if isinstance(data, bytes | bytearray):
        little = ds.file_meta.TransferSyntaxUID.is_little_endian
        lut = np.frombuffer(data, dtype="<u2" if little else ">u2")[:n_entries]
    else:
        lut = np.asarray(data if not np.isscalar(data) else [data], dtype=np.int64)[:n_entries]
    if lut.size == 0:
        raise ValueError("empty VOI LUT Data")
    if first >= 2**15 and int(ds.get("PixelRepresentation", 0)) == 1:
        first -= 2**16  # signed first-mapped value stored as US
    return lut, first, depth


def _voi(values: np.ndarray, ds: Any, index: int) -> tuple[np.ndarray, str | None]:
    """Apply the VOI LUT sequence item or window ``index``; returns values in [0, 1]."""
    seq = ds.get("VOILUTSequence")
    if seq:
        if not 0 <= index < len(seq):
            raise ValueError(f"voi_index {index} out of range: the file has {len(seq)} VOI LUTs")
        lut, first, depth = _lut(seq[index], ds)
        # input values below `first` map to the first entry, above the last to the last one
        idx = np.rint(values - np.float32(first))
        np.clip(idx, 0, len(lut) - 1, out=idx)
        out = (lut.astype(np.float32) / np.float32(2**depth - 1))[idx.astype(np.intp)]
        del idx
        return out, "lut"
    if "WindowCenter" in ds and "WindowWidth" in ds:
        centers = ds["WindowCenter"].value
        widths = ds["WindowWidth"].value
        centers = list(centers) if ds["WindowCenter"].VM > 1 else [centers]
        widths = list(widths) if ds["WindowWidth"].VM > 1 else [widths]
        if not 0 <= index < min(len(centers), len(widths)):
            raise ValueError(f"voi_index {index} out of range: the file has {len(centers)} windows")
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR")
        return _window(values, float(centers[index]), float(widths[index]), function), "window"
    return values, None


def read_dicom(
    path: str | os.PathLike,
    *,
    apply_voi: bool = True,
    voi_index: int = 0,
    frame: int | None = None,
) -> Mammogram:
    """Read a DICOM mammogram.

    Parameters
    ----------
    path : str or path-like
        A DICOM file (with or without the ``DICM`` preamble).
    apply_voi : bool, optional
        Apply the VOI LUT or window (the display transform chosen by the modality). When it is
        applied the values lie in ``[0, 1]``; otherwise they stay in modality units.
    voi_index : int, optional
        Which VOI LUT sequence item / window (files may carry several).
    frame : int, optional
        For multi-frame files (tomosynthesis, enhanced MG): the frame to read. By default a
        multi-frame file is an error, since a 3-D volume is not a mammogram.

    Returns
    -------
    Mammogram
        ``pixels`` float32 (M, N) with bright = dense (MONOCHROME1 inverted),
        ``pixel_spacing`` (row_mm, col_mm) from PixelSpacing, else ImagerPixelSpacing, else None
        (with a warning), ``laterality`` ('L'/'R'), ``view`` ('CC', 'MLO'...), ``metadata``
        (source path, selected tags, 'spacing_tag', 'voi', 'value_range', 'transfer_syntax').

    Raises
    ------
    ValueError
        Not a DICOM file, truncated or corrupt pixel data, colour image, multi-frame without
        ``frame``.
    ImportError
        A JPEG / JPEG 2000 file whose decoder is not installed (the message names the package).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such DICOM file: {path}")
    ds = _read_dataset(path)
    photometric, n_frames = _check_grey_image(ds, path, frame=frame)
    _check_rescale(ds, path, windows=apply_voi)
    values = _modality(_frame_pixels(ds, path, frame=frame, n_frames=n_frames), ds)
    values, voi, value_range = _display_values(values, ds, photometric=photometric,
                                               apply_voi=apply_voi, voi_index=voi_index)
    spacing, spacing_tag = _spacing_or_warn(ds, path)
    meta = _metadata(ds, path, spacing_tag=spacing_tag, voi=voi, value_range=value_range,
                     inverted=photometric == "MONOCHROME1")
    if n_frames > 1:
        meta["frame"] = frame
        meta["number_of_frames"] = n_frames
    return Mammogram(
        values,
        pixel_spacing=spacing,
        laterality=laterality_of(ds),
        view=view_of(ds),
        metadata=meta,
    )


def _read_dataset(path: Path) -> Any:
    """Parse the file (without its pixel data decoded) and give it a transfer syntax.

    pydicom reports a truncated file as a warning and reads on; here it is an error, since the
    pixels would be incomplete. A file without a meta header is taken as implicit VR little
    endian, as pydicom guesses it.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, force=True)
    except InvalidDicomError as exc:
        raise ValueError(f"{path} is not a readable DICOM file ({exc})") from exc
    except (EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} could not be parsed as DICOM ({type(exc).__name__}: {exc}); the file may be "
            "truncated or corrupt"
        ) from exc
    for w in caught:
        text = str(w.message)
        if "End of file" in text or "truncat" in text.lower():
            raise ValueError(
                f"{path} is truncated ({text}); the download or copy is incomplete - fetch the "
                "file again"
            )
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if "PixelData" not in ds and "Rows" not in ds:
        raise ValueError(
            f"{path} has no pixel data: not a DICOM image, or a file truncated in its header"
        )
    if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
        from pydicom.uid import ImplicitVRLittleEndian

        ds.file_meta = getattr(ds, "file_meta", pydicom.dataset.FileMetaDataset())
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


def _check_grey_image(ds: Any, path: Path, *, frame: int | None) -> tuple[str, int]:
    """``(photometric interpretation, number of frames)`` of a one-sample grey image.

    Another modality than MG warns (and is read); a colour image, or several frames without
    ``frame``, is an error.
    """
    modality = str(ds.get("Modality", "") or "")
    if modality and modality.upper() != "MG":
        warnings.warn(
            f"{path.name}: Modality is {modality!r}, not 'MG' (mammography); reading it anyway",
            UserWarning,
            stacklevel=3,
        )
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(
            f"{path} is a colour image ({photometric}, {samples} samples per pixel), not a "
            "grey-level mammogram; convert it to grey first (e.g. skimage.color.rgb2gray) and "
            "build a Mammogram from the array"
        )
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if n_frames > 1 and frame is None:
        raise ValueError(
            f"{path} has {n_frames} frames (tomosynthesis or a multi-frame object); a mammogram "
            "is one 2-D image: pass frame=<index> to read one frame"
        )
    return photometric, n_frames


def _frame_pixels(ds: Any, path: Path, *, frame: int | None, n_frames: int) -> np.ndarray:
    """The stored values of the one image (frame ``frame`` of a multi-frame file), (M, N)."""
    arr = _decode(ds, path)
    if n_frames > 1:
        if not 0 <= frame < n_frames:  # type: ignore[operator]
            raise ValueError(f"frame {frame} out of range: {path} has {n_frames} frames")
        arr = arr[frame]
    elif frame not in (None, 0):
        raise ValueError(f"frame {frame} out of range: {path} has a single frame")
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D image, decoded an array of shape {arr.shape}")
    return arr


def _display_values(
    values: np.ndarray, ds: Any, *, photometric: str, apply_voi: bool, voi_index: int
) -> tuple[np.ndarray, str | None, tuple[float, float]]:
    """Modality values -> values with bright = dense (steps 3-4 of the module's pipeline).

    Parameters
    ----------
    values : ndarray of shape (M, N), float32
        The modality LUT's output (:func:`_modality`); windowed in place.
    ds : pydicom Dataset
    photometric : {'MONOCHROME1', 'MONOCHROME2'}, keyword-only
    apply_voi : bool, keyword-only
    voi_index : int, keyword-only
        As in :func:`read_dicom`.

    Returns
    -------
    values : ndarray of shape (M, N), float32
        In ``[0, 1]`` when a VOI LUT or window was applied, else in modality units.
    voi : {'lut', 'window'} or None
        The VOI transform applied.
    value_range : (float, float)
        The values' possible range (MONOCHROME1 is inverted within it).
    """
    value_range = _value_range(ds)
    voi = None
    if apply_voi:
        values, voi = _voi(values, ds, voi_index)
        if voi is not None:
            value_range = (0.0, 1.0)
    if photometric == "MONOCHROME1":
        lo, hi = value_range
        values *= np.float32(-1.0)
        values += np.float32(lo + hi)
    return values, voi, value_range


def _spacing_or_warn(ds: Any, path: Path) -> tuple[tuple[float, float] | None, str | None]:
    """``(spacing, tag)`` of :func:`_spacing`; when there is none, one warning that says whether
    the tags are missing or unusable, and what to pass instead."""
    spacing, spacing_tag, spacing_problems = _spacing(ds)
    if spacing is None:
        warnings.warn(
            f"{path.name}: {spacing_problem(spacing_problems)}, so pixel_spacing is None; pass "
            "pixel_spacing=(row_mm, col_mm) to read_mammogram if you know it",
            UserWarning,
            stacklevel=3,
        )
    return spacing, spacing_tag


def _metadata(ds: Any, path: Path, *, spacing_tag: str | None, voi: str | None,
              value_range: tuple[float, float], inverted: bool) -> dict[str, Any]:
    """``Mammogram.metadata``: the source, the tags of :data:`_META_TAGS` present, and how the
    values were made."""
    meta: dict[str, Any] = {"source": str(path), "format": "dicom"}
    for tag in _META_TAGS:
        if tag in ds:
            meta[tag] = _plain(ds[tag].value)
    meta["transfer_syntax"] = str(ds.file_meta.TransferSyntaxUID)
    meta["spacing_tag"] = spacing_tag
    meta["voi"] = voi
    meta["value_range"] = tuple(float(v) for v in value_range)
    meta["inverted"] = inverted
    return meta
