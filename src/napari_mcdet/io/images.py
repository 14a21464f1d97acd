"""One entry point for every mammogram file: :func:`read_mammogram`.

The format is recognised by the file's content (magic bytes), the extension only breaks ties:

- DICOM (``DICM`` marker, or a ``.dcm`` / ``.dicom`` name) -> :func:`.dicom.read_dicom`;
- PGM (``P5`` binary, ``P2`` ASCII; 8 or 16 bit) -> read with numpy; a mini-MIAS file
  (``mdbNNN.pgm``) gets the database's 0.2 mm spacing, its laterality (even numbers left, odd
  right) and the MLO view;
- PNG / TIFF (8 or 16 bit grey) -> scikit-image (imageio / tifffile).

Grey values are kept as stored (float32, no rescaling): 8-bit files give 0-255, 16-bit files
0-65535; ``metadata['value_range']`` gives the range of the file's type.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..mammogram import Mammogram
from ..spacing import as_spacing

__all__ = [
    "read_mammogram",
    "read_mask",
    "read_pgm",
    "minimias_refnum",
    "MINIMIAS_SPACING_MM",
    "MAX_PIXELS",
    "check_image_size",
    "stated_spacing",
]

#: mini-MIAS: 200 um pixels.
MINIMIAS_SPACING_MM = 0.2
_MINIMIAS_NAME = re.compile(r"^(mdb\d{3})[a-z]?\.pgm$", re.IGNORECASE)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: The most pixels an image file may claim. A full-field mammogram has at most about 30 million
#: (INbreast 4,084 x 3,328; film scanned at 43.5 um about 5,500 x 7,000); a header claiming far
#: more is damaged or hostile, and decoding it would exhaust the memory.
MAX_PIXELS = 200_000_000


def check_image_size(path: str | os.PathLike, rows: int, cols: int, *, frames: int = 1,
                     claim: str = "its header claims") -> None:
    """Refuse an image whose header claims more pixels than any mammogram, before decoding it.

    Parameters
    ----------
    path : str or path-like
        The file, named in the message.
    rows, cols : int
        The size claimed.
    frames : int, keyword-only
        Frames claimed.
    claim : str, keyword-only
        What in the file makes the claim, in the message (an annotation file's points).

    Raises
    ------
    ValueError
        Zero or negative sizes, or more than :data:`MAX_PIXELS` pixels.
    """
    rows, cols, frames = int(rows), int(cols), int(frames)
    if rows <= 0 or cols <= 0 or frames <= 0:
        raise ValueError(f"{path}: {claim} an image of {rows} x {cols} pixels; the file "
                         "is damaged: export or fetch it again")
    if rows * cols * frames > MAX_PIXELS:
        what = f"{frames} frames of " if frames > 1 else ""
        raise ValueError(
            f"{path}: {claim} {what}{rows} x {cols} pixels, more than any mammogram "
            f"(at most {MAX_PIXELS:,} are read); the file is damaged or not a mammogram: "
            "check it, or crop / downsample it first"
        )


def minimias_refnum(path: str | os.PathLike) -> str | None:
    """``'mdb209'`` for ``.../mdb209.pgm``; None when the name is not a mini-MIAS name."""
    m = _MINIMIAS_NAME.match(Path(path).name)
    return m.group(1).lower() if m else None


def _pgm_tokens(data: bytes, count: int) -> tuple[list[bytes], int]:
    """The first ``count`` whitespace-separated header tokens (skipping ``#`` comments)."""
    tokens: list[bytes] = []
    pos = 0
    n = len(data)
    while len(tokens) < count:
        while pos < n and data[pos : pos + 1].isspace():
            pos += 1
        if pos < n and data[pos : pos + 1] == b"#":
            while pos < n and data[pos : pos + 1] not in (b"\n", b"\r"):
                pos += 1
            continue
        start = pos
        while pos < n and not data[pos : pos + 1].isspace() and data[pos : pos + 1] != b"#":
            pos += 1
        if start == pos:
            raise ValueError("truncated PGM header")
        tokens.append(data[start:pos])
    return tokens, pos


def read_pgm(path: str | os.PathLike) -> np.ndarray:
    """Read a binary (P5) or ASCII (P2) PGM into a uint8 / uint16 array of shape (M, N).

    Raises
    ------
    ValueError
        Not a PGM file, a bad header, or fewer pixels than the header announces.
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:2] not in (b"P5", b"P2"):
        kind = data[:2].decode("latin-1")
        raise ValueError(
            f"{path} is not a grey-level PGM (magic {kind!r}; P5 or P2 expected"
            + ("; PPM colour images are not mammograms)" if kind in ("P6", "P3") else ")")
        )
    try:
        tokens, pos = _pgm_tokens(data, 4)
        width, height, maxval = (int(t) for t in tokens[1:4])
    except ValueError as exc:
        raise ValueError(f"{path}: bad PGM header ({exc})") from exc
    if width <= 0 or height <= 0 or not 0 < maxval < 65536:
        raise ValueError(f"{path}: bad PGM header (width {width}, height {height}, max {maxval})")
    check_image_size(path, height, width)
    dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")
    if data[:2] == b"P5":
        body = data[pos + 1 :]  # exactly one whitespace byte after maxval
        need = width * height * dtype.itemsize
        if len(body) < need:
            raise ValueError(
                f"{path} is truncated: {len(body)} bytes of pixels, {need} expected "
                f"for {height} x {width}"
            )
        arr = np.frombuffer(body, dtype=dtype, count=width * height).reshape(height, width)
    else:
        try:
            values = np.array(data[pos:].split(), dtype=np.int64)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"{path}: an ASCII PGM pixel is not a whole number ({exc}); the "
                             "file is damaged: export it again") from exc
        if values.size < width * height:
            raise ValueError(f"{path} is truncated: {values.size} of {width * height} pixels")
        arr = values[: width * height].reshape(height, width)
        if arr.size and arr.min() < 0:
            raise ValueError(f"{path}: negative pixel value {int(arr.min())} in an ASCII PGM; "
                             "the file is damaged: export it again")
    # a value above maxval is invalid PGM; casting it would wrap it round to a wrong grey
    top = int(arr.max()) if arr.size else 0
    if top > maxval:
        raise ValueError(
            f"{path}: pixel value {top} exceeds the header's maximum {maxval}; the file is "
            "damaged or its header wrong: fix maxval (the third header number) or export it again"
        )
    return arr.astype(np.uint8 if maxval < 256 else np.uint16)


def _type_range(arr: np.ndarray) -> tuple[float, float]:
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        return float(info.min), float(info.max)
    return float(np.nanmin(arr)), float(np.nanmax(arr))


def _raster_size(path: Path) -> tuple[int, int, int] | None:
    """``(rows, cols, planes)`` from a PNG or TIFF header, without decoding any pixel."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if head[:8] == _PNG_MAGIC and head[12:16] == b"IHDR":
        return int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big"), 1
    if head[:4] in _TIFF_MAGICS:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                shape = tif.series[0].shape if tif.series else ()
        except Exception:  # noqa: BLE001 - any damage is reported by the full read below
            return None
        if len(shape) >= 2:
            planes = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            return int(shape[-2]), int(shape[-1]), planes
    return None


def _read_raster(path: Path) -> np.ndarray:
    from PIL.Image import DecompressionBombError
    from skimage import io as skio

    size = _raster_size(path)
    if size is not None:
        check_image_size(path, size[0], size[1], frames=size[2])
    try:
        arr = np.asarray(skio.imread(path))
    except DecompressionBombError as exc:
        raise ValueError(
            f"{path} is larger than Pillow's decompression limit ({exc}); a mammogram is far "
            "smaller: the file is damaged or not a mammogram"
        ) from exc
    except (OSError, ValueError, SyntaxError, RuntimeError, IndexError) as exc:
        raise ValueError(f"{path} could not be read as an image ({exc}); the file may be "
                         "truncated or corrupt: export or fetch it again") from exc
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        raise ValueError(
            f"{path} is a colour image of shape {arr.shape}; a mammogram is grey-level: convert "
            "it first (e.g. skimage.color.rgb2gray) and build a Mammogram from the array"
        )
    if arr.ndim == 3 and arr.shape[-1] == 2:
        raise ValueError(f"{path} is a grey + alpha image; save it without the alpha channel")
    if arr.ndim != 2:
        raise ValueError(
            f"{path} holds an array of shape {arr.shape}, not a 2-D image (a stack or volume?); "
            "save one 2-D slice"
        )
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    return arr


def _existing_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a folder, not an image file: pass one of the files inside it"
        )
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return path


def _sniff(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(132)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head[:8] == _PNG_MAGIC:
        return "png"
    if head[:4] in _TIFF_MAGICS:
        return "tiff"
    if head[:2] in (b"P5", b"P2"):
        return "pgm"
    if head[:2] in (b"P6", b"P3"):
        return "ppm"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    suffix = path.suffix.lower()
    if suffix in (".dcm", ".dicom", ""):
        return "dicom"  # DICOM without preamble; read_dicom gives a clear error if it is not
    return "unknown"


def read_mammogram(
    path: str | os.PathLike,
    *,
    pixel_spacing: float | tuple[float, float] | None = None,
    frame: int | None = None,
) -> Mammogram:
    """Read a mammogram file (DICOM, PNG, TIFF or PGM) into a :class:`Mammogram`.

    Parameters
    ----------
    path : str or path-like
        The image file. The format is recognised from the content.
    pixel_spacing : float or (float, float), optional
        ``(row_mm, col_mm)`` (or one number for square pixels). Overrides what the file or the
        dataset says; needed for PNG / TIFF, which carry no reliable spacing.
    frame : int, optional
        For multi-frame DICOM files only: the frame to read (otherwise they are an error).

    Returns
    -------
    Mammogram
        ``pixels`` float32 (M, N), bright = dense; ``pixel_spacing`` in mm or None;
        ``metadata['source']``, ``metadata['format']`` and ``metadata['value_range']``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Not an image, a colour image, a 3-D stack, a truncated file.
    ImportError
        A compressed DICOM whose decoder is not installed (the message names the package).
    """
    path = _existing_file(path)
    spacing = as_spacing(pixel_spacing, required=False)
    kind = _sniff(path)
    if kind == "dicom":
        from .dicom import read_dicom

        if spacing is None:
            mammo = read_dicom(path, frame=frame)
        else:
            with warnings.catch_warnings():
                # the spacing given replaces the one the file lacks
                warnings.filterwarnings("ignore", message=".*so pixel_spacing is None")
                mammo = read_dicom(path, frame=frame)
            mammo.metadata["spacing_tag"] = "caller"
            mammo.pixel_spacing = spacing
        return mammo
    if frame not in (None, 0):
        raise ValueError(f"frame={frame} applies to multi-frame DICOM files only, not {path.name}")
    if kind == "ppm":
        raise ValueError(f"{path} is a colour PPM image; a mammogram is grey-level")
    if kind == "unknown":
        raise ValueError(
            f"{path} is not a recognised image file (expected DICOM, PNG, TIFF or PGM content)"
        )

    meta: dict[str, Any] = {"source": str(path), "format": kind}
    laterality = view = None
    if kind == "pgm":
        arr = read_pgm(path)
        refnum = minimias_refnum(path)
        if refnum is not None:
            meta.update(dataset="mini-mias", refnum=refnum)
            laterality = "L" if int(refnum[3:]) % 2 == 0 else "R"
            view = "MLO"
            if spacing is None:
                spacing = (MINIMIAS_SPACING_MM, MINIMIAS_SPACING_MM)
    else:
        arr = _read_raster(path)
    meta["value_range"] = _type_range(arr)
    meta["dtype"] = str(arr.dtype)
    meta["spacing_tag"] = (
        "caller" if pixel_spacing is not None else ("dataset" if spacing is not None else None)
    )
    return Mammogram(
        arr.astype(np.float32),
        pixel_spacing=spacing,
        laterality=laterality,
        view=view,
        metadata=meta,
    )


def stated_spacing(path: str | os.PathLike) -> tuple[tuple[float, float] | None, str]:
    """The pixel spacing :func:`read_mammogram` would give a file, and where it comes from, from
    the file's header and name alone (no pixel is decoded).

    Parameters
    ----------
    path : str or path-like
        A mammogram file, as :func:`read_mammogram` takes it.

    Returns
    -------
    spacing : (float, float) or None
        ``(row_mm, col_mm)``.
    source : str
        With a spacing: the DICOM tag (``'PixelSpacing'``...) or ``'mini-MIAS'`` (the database's
        0.2 mm, assumed from the file name). Without: why there is none, in words.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        No such file; a folder.
    ValueError
        A file :func:`read_mammogram` refuses for its header or format.
    """
    path = _existing_file(path)
    kind = _sniff(path)
    if kind == "dicom":
        from .dicom import dicom_spacing

        return dicom_spacing(path)
    if kind in ("ppm", "unknown"):
        read_mammogram(path)  # raises the reader's own message for the format
    if kind == "pgm" and minimias_refnum(path) is not None:
        return (MINIMIAS_SPACING_MM, MINIMIAS_SPACING_MM), "mini-MIAS"
    size = _raster_size(path) if kind in ("png", "tiff") else None
    if size is not None:
        check_image_size(path, size[0], size[1], frames=size[2])
    return None, f"a {kind.upper()} file states no pixel spacing"


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a label mask written by :func:`napari_mcdet.io.write_mask` (PNG / TIFF / PGM).

    Returns
    -------
    ndarray of shape (M, N), uint8
        0 background, 1 benign, 2 malignant.

    Raises
    ------
    ValueError
        Not a 2-D grey image, or values other than 0, 1, 2 (e.g. a 0/255 binary mask: divide it
        first, or save class codes).
    """
    path = _existing_file(path)
    kind = _sniff(path)
    if kind == "pgm":
        arr = read_pgm(path)
    elif kind in ("png", "tiff"):
        arr = _read_raster(path)
    else:
        raise ValueError(f"{path} is not a PNG, TIFF or PGM mask")
    bad = np.setdiff1d(np.unique(arr), [0, 1, 2])
    if bad.size:
        raise ValueError(
            f"{path} holds values {bad[:10].tolist()}; a label mask holds only 0 background, "
            "1 benign, 2 malignant"
        )
    return arr.astype(np.uint8)
