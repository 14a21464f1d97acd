"""mini-MIAS: the database's ``Info.txt`` -> per-row records and label images (circles).

``Info.txt`` has CRLF line endings, a long README-like header, then one row per abnormality::

    REFNUM BG CLASS [SEVERITY X Y RADIUS]
    mdb209 G CALC M 647 503 87
    mdb216 D CALC M *NOTE 3*
    mdb003 D NORM

The x, y coordinates have their origin at the **bottom-left** corner of the 1024 x 1024 image;
they are converted here, once: ``row = 1023 - y``, ``col = x``. A calcification radius circles
the whole cluster (not one calcification); rows marked ``*NOTE 3*`` have no coordinates.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import BENIGN, MALIGNANT

__all__ = ["MiniMiasRecord", "read_minimias_info", "minimias_labels", "minimias_abnormality",
           "MINIMIAS_SIZE", "MINIMIAS_INFO"]

#: Every mini-MIAS image is 1024 x 1024 pixels.
MINIMIAS_SIZE = 1024
#: The database's table of rows, beside the images.
MINIMIAS_INFO = "Info.txt"
_ROW = re.compile(r"^(mdb\d{3})\s+([A-Za-z])\s+([A-Za-z]{4})\b(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class MiniMiasRecord:
    """One row of ``Info.txt``.

    Attributes
    ----------
    refnum : str
        ``'mdb209'`` (the image file is ``<refnum>.pgm``).
    tissue : str
        Background tissue: ``'F'`` fatty, ``'G'`` fatty-glandular, ``'D'`` dense-glandular.
    abnormality : str
        ``'CALC'``, ``'CIRC'``, ``'SPIC'``, ``'MISC'``, ``'ARCH'``, ``'ASYM'`` or ``'NORM'``.
    severity : str or None
        ``'B'`` benign, ``'M'`` malignant, None for normal images.
    row, col : float or None
        Centre of the abnormality in image rows / columns (top-left origin, already flipped
        from the file's bottom-left y); None where the file gives no coordinates.
    radius : float or None
        Radius in pixels of a circle enclosing the abnormality (the whole cluster for CALC).
    x, y : float or None
        The file's own coordinates (bottom-left origin), kept for reference.
    note : str or None
        ``'*NOTE 3*'`` and the like when the row carries a note instead of coordinates.
    """

    refnum: str
    tissue: str
    abnormality: str
    severity: str | None = None
    row: float | None = None
    col: float | None = None
    radius: float | None = None
    x: float | None = None
    y: float | None = None
    note: str | None = None

    def __getitem__(self, key: str) -> Any:  # record["refnum"] works as well as record.refnum
        return getattr(self, key)

    @property
    def label(self) -> int | None:
        """Class code: 1 benign, 2 malignant, None for normal rows."""
        return {"B": BENIGN, "M": MALIGNANT}.get(self.severity or "")


def _number(token: str) -> float:
    value = float(token)
    return int(value) if value.is_integer() else value


def read_minimias_info(
    path: str | os.PathLike,
    *,
    image_size: int = MINIMIAS_SIZE,
    present_only: bool = False,
) -> list[MiniMiasRecord]:
    """Parse the mini-MIAS ``Info.txt``.

    Parameters
    ----------
    path : str or path-like
        The database's ``Info.txt`` (CRLF or LF line endings, header included).
    image_size : int, optional
        Image height used to flip y (``row = image_size - 1 - y``); 1024 for mini-MIAS.
    present_only : bool, optional
        Keep only rows whose ``<refnum>.pgm`` exists beside ``Info.txt`` (the folder may hold a
        subset of the database).

    Returns
    -------
    list of MiniMiasRecord
        One record per abnormality row, in file order (an image may have several rows).

    Raises
    ------
    ValueError
        No row of the expected form was found (not a mini-MIAS Info.txt).
    """
    path = Path(path)
    text = path.read_bytes().decode("latin-1")
    records: list[MiniMiasRecord] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _ROW.match(line.strip())
        if not m:
            continue
        refnum, tissue, abnormality, rest = m.groups()
        refnum, tissue, abnormality = refnum.lower(), tissue.upper(), abnormality.upper()
        note = None
        note_match = re.search(r"\*[^*]*\*", rest)
        if note_match:
            note = note_match.group(0)
            rest = rest.replace(note, " ")
        tokens = rest.split()
        severity = None
        if tokens and tokens[0].upper() in ("B", "M"):
            severity = tokens.pop(0).upper()
        x = y = radius = None
        if len(tokens) >= 3:
            try:
                x, y, radius = (_number(t) for t in tokens[:3])
            except ValueError:
                warnings.warn(
                    f"{path.name} line {lineno}: coordinates {tokens[:3]} are not numbers; "
                    "row kept without coordinates",
                    UserWarning,
                    stacklevel=2,
                )
                x = y = radius = None
            if radius is not None and not (np.isfinite(radius) and radius > 0):
                warnings.warn(
                    f"{path} line {lineno}: radius {radius} of {refnum} is not a positive number "
                    "of pixels; row kept without coordinates (fix the radius in the file)",
                    UserWarning,
                    stacklevel=2,
                )
                x = y = radius = None
            elif not (np.isfinite(x) and np.isfinite(y)):
                warnings.warn(
                    f"{path} line {lineno}: coordinates {x}, {y} of {refnum} are not finite; row "
                    "kept without coordinates (fix them in the file)",
                    UserWarning,
                    stacklevel=2,
                )
                x = y = radius = None
        elif tokens:
            warnings.warn(
                f"{path.name} line {lineno}: incomplete coordinates {tokens}; kept without them",
                UserWarning,
                stacklevel=2,
            )
        row = (image_size - 1 - y) if y is not None else None
        records.append(
            MiniMiasRecord(
                refnum=refnum,
                tissue=tissue,
                abnormality=abnormality,
                severity=severity,
                row=row,
                col=x,
                radius=radius,
                x=x,
                y=y,
                note=note,
            )
        )
    if not records:
        raise ValueError(
            f"{path} has no rows like 'mdb209 G CALC M 647 503 87': is it the mini-MIAS Info.txt?"
        )
    if present_only:
        folder = path.parent
        records = [r for r in records if (folder / f"{r.refnum}.pgm").is_file()]
    return records


def minimias_abnormality(path: str | os.PathLike) -> str | None:
    """What the ``Info.txt`` beside a mini-MIAS image lists for it, when that is not normal.

    Parameters
    ----------
    path : str or path-like
        An image file (``.../mdb209.pgm``).

    Returns
    -------
    str or None
        The image's abnormal rows as ``Info.txt`` writes them (``'CALC M'``, ``'CIRC B, CALC
        B'``); None for an image listed ``NORM``, one not named ``mdbNNN``, one without a
        mini-MIAS ``Info.txt`` beside it, or one that table does not list.
    """
    path = Path(path)
    m = re.fullmatch(r"(mdb\d{3})", path.stem, re.IGNORECASE)
    info = path.parent / MINIMIAS_INFO
    if m is None or not info.is_file():
        return None
    try:
        with warnings.catch_warnings():
            # a row's damaged coordinates do not change what the row says about the image
            warnings.simplefilter("ignore", UserWarning)
            records = read_minimias_info(info)
    except ValueError:
        return None  # some other table named Info.txt: it lists nothing
    refnum = m.group(1).lower()
    rows = [" ".join(filter(None, (r.abnormality, r.severity))) for r in records
            if r.refnum == refnum and r.abnormality != "NORM"]
    return ", ".join(dict.fromkeys(rows)) or None


def minimias_labels(
    records: Iterable[MiniMiasRecord],
    shape: Sequence[int] = (MINIMIAS_SIZE, MINIMIAS_SIZE),
    *,
    refnum: str | None = None,
    abnormalities: Sequence[str] = ("CALC",),
) -> np.ndarray:
    """Label image of one mini-MIAS image: filled circles, 1 benign / 2 malignant.

    Parameters
    ----------
    records : iterable of MiniMiasRecord
        Rows of :func:`read_minimias_info` (all of them, or those of one image).
    shape : (int, int), optional
        Output shape (rows, cols); 1024 x 1024 for mini-MIAS.
    refnum : str, optional
        Keep only the rows of this image (``'mdb209'``). Required when ``records`` holds rows of
        more than one image.
    abnormalities : sequence of str, optional
        Classes drawn (``('CALC',)``: calcification clusters only; add ``'CIRC'`` etc. for
        masses).

    Returns
    -------
    ndarray of shape ``shape``, uint8
        0 background, 1 benign, 2 malignant (malignant drawn last, so it wins on overlaps).
        A row without coordinates (``*NOTE 3*``, diffuse calcifications) draws nothing and warns.
    """
    records = list(records)
    if refnum is not None:
        refnum = refnum.lower().removesuffix(".pgm")
        records = [r for r in records if r.refnum == refnum]
    elif len({r.refnum for r in records}) > 1:
        raise ValueError(
            "records hold rows of several images; pass refnum='mdbNNN' to pick one image"
        )
    wanted = {a.upper() for a in abnormalities}
    out = np.zeros(tuple(int(s) for s in shape), dtype=np.uint8)
    if out.ndim != 2:
        raise ValueError(f"shape must be (rows, cols), got {shape}")
    rows = np.arange(out.shape[0], dtype=np.float32)[:, None]
    cols = np.arange(out.shape[1], dtype=np.float32)[None, :]
    for record in sorted(records, key=lambda r: r.label or 0):
        if record.abnormality not in wanted or record.label is None:
            continue
        if record.row is None or record.col is None or record.radius is None:
            warnings.warn(
                f"{record.refnum}: {record.abnormality} {record.severity} has no coordinates "
                f"({record.note or 'none given'}, e.g. diffuse calcifications); nothing drawn",
                UserWarning,
                stacklevel=2,
            )
            continue
        r0, c0, rad = float(record.row), float(record.col), float(record.radius)
        if not (np.isfinite(rad) and rad > 0 and np.isfinite(r0) and np.isfinite(c0)):
            raise ValueError(
                f"{record.refnum}: circle at row {r0}, col {c0} with radius {rad}: the radius "
                "must be a positive number of pixels and the centre finite; fix the record"
            )
        if not (-rad <= r0 < out.shape[0] + rad and -rad <= c0 < out.shape[1] + rad):
            warnings.warn(
                f"{record.refnum}: circle at row {r0}, col {c0} lies outside the {out.shape} image",
                UserWarning,
                stacklevel=2,
            )
            continue
        lo_r, hi_r = max(int(np.floor(r0 - rad)), 0), min(int(np.ceil(r0 + rad)) + 1, out.shape[0])
        lo_c, hi_c = max(int(np.floor(c0 - rad)), 0), min(int(np.ceil(c0 + rad)) + 1, out.shape[1])
        inside = (rows[lo_r:hi_r] - r0) ** 2 + (cols[:, lo_c:hi_c] - c0) ** 2 <= rad**2
        out[lo_r:hi_r, lo_c:hi_c][inside] = record.label
    return out
