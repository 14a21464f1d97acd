"""What a derived DICOM object (a Segmentation, a structured report) needs from its source image
and from the program that made it.

A SEG or SR is only useful in an archive when it points at the image it was made on: the same
patient, study, series, SOP instance and frame of reference. :func:`source_header` reads that
identity (without the pixels) and refuses a file that lacks it; :class:`Producer` names the model
that made the result (name, version, SHA-256, operating point) so that every object says which
detector wrote it. :func:`write_dicom` is the one atomic DICOM writer.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .writers import atomic_write

__all__ = ["Producer", "source_header", "write_dicom", "write_dicom_pair", "REQUIRED_IDENTITY",
           "SEG_SOP_CLASS", "SR_SOP_CLASSES", "sop_class_of", "quiet_person_names",
           "class_name", "read_derived"]

#: The attributes without which a derived object cannot reference its source image.
REQUIRED_IDENTITY = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
                     "Rows", "Columns")

#: Type 2 attributes of the patient and study that highdicom copies: present (maybe empty) in a
#: valid image, absent in many research files; written empty when the source has none.
_TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                 "StudyTime", "ReferringPhysicianName", "AccessionNumber", "StudyID")

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
#: Enhanced, Comprehensive and Comprehensive 3D SR: the classes a TID 1500 report comes in.
SR_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33",
                  "1.2.840.10008.5.1.4.1.1.88.34")


@dataclass(frozen=True)
class Producer:
    """The program and model a derived object comes from.

    Attributes
    ----------
    name : str
        The model's (or annotator's) name, e.g. ``'default'``.
    version : str
        The software version (napari-mcdet's).
    sha256 : str or None
        The model file's SHA-256 (None for manual annotations).
    parameters : mapping of str to str
        The operating point and settings (thresholds, cluster rule), written as algorithm
        parameters.
    manual : bool
        A person's annotation rather than a detector's output (SEG algorithm type MANUAL).
    """

    name: str
    version: str
    sha256: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    manual: bool = False

    def parameter_text(self) -> dict[str, str]:
        """The parameters with the SHA-256 first, every value a string."""
        out = {"sha256": self.sha256} if self.sha256 else {}
        out.update({str(k): str(v) for k, v in self.parameters.items()})
        return out


def sop_class_of(path: str | os.PathLike) -> str | None:
    """The SOP Class UID of a DICOM file (read without pixel data), or None if it has none."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True,
                             specific_tags=["SOPClassUID"])
    except (EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} could not be parsed as DICOM ({type(exc).__name__}); the file "
                         "may be truncated or not DICOM") from exc
    value = ds.get("SOPClassUID")
    return str(value) if value else None


def class_name(sop_class: str | None) -> str:
    """A SOP class in words ('a Digital Mammography X-Ray Image Storage - For Presentation
    object'), for messages."""
    from pydicom.uid import UID

    if not sop_class:
        return "a DICOM file without a SOP class"
    name = UID(sop_class).name
    return f"a {name} object" if name and name != sop_class else f"an object of SOP class " \
        f"{sop_class}"


def read_derived(path: str | os.PathLike, read: Callable[[Path], Any], *,
                 sop_classes: tuple[str, ...], what: str) -> Any:
    """``read(path)`` (highdicom's reader) after checking that the file is one of
    ``sop_classes``; every failure is one ``ValueError`` line naming the file and ``what`` it
    should have been."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such {what} file: {path}")
    sop_class = sop_class_of(path)
    if sop_class not in sop_classes:
        raise ValueError(f"{path} is {class_name(sop_class)}, not a {what}; open it as an image, "
                         f"or give the {what} file")
    try:
        return read(path)
    except (AttributeError, ValueError, KeyError, TypeError, OSError, RuntimeError) as exc:
        raise ValueError(f"{path} is not a readable {what} ({type(exc).__name__}: {exc})") from exc


def source_header(path: str | os.PathLike) -> Any:
    """The source image's header (no pixel data), ready for a derived object.

    Parameters
    ----------
    path : str or path-like
        The DICOM image the derived object is made on.

    Returns
    -------
    pydicom.Dataset
        The header, with absent Type 2 patient and study attributes added empty.

    Raises
    ------
    ValueError
        The file is not DICOM (a PNG, TIFF or PGM has no identity to reference), or lacks one of
        :data:`REQUIRED_IDENTITY`; the message names the file, what is missing and the fix.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such DICOM file: {path}")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a DICOM file ({type(exc).__name__}), so it has no study, series and "
            "instance identity for a DICOM SEG or SR to reference; write DICOM outputs only for "
            "DICOM sources"
        ) from exc
    missing = [key for key in REQUIRED_IDENTITY if not ds.get(key)]
    if missing:
        raise ValueError(
            f"{path} lacks {', '.join(missing)}: a DICOM SEG or SR must reference its source "
            "image's study, series and instance; add the identity to the source (e.g. with "
            "pydicom or dcmodify) or write the non-DICOM outputs only"
        )
    for key in _TYPE2_COPIED:
        if key not in ds:
            setattr(ds, key, "")
    return ds


def write_dicom(dataset: Any, path: str | os.PathLike) -> Path:
    """Write a DICOM dataset atomically (a complete file replaces ``path`` in one step)."""
    return atomic_write(path, lambda tmp: dataset.save_as(tmp, enforce_file_format=True))


def write_dicom_pair(seg: Any, sr: Any, out_dir: Path, stem: str) -> dict[str, Path]:
    """Write ``<stem>_seg.dcm`` and ``<stem>_sr.dcm`` together: the SR is put in place only
    once the SEG's complete temporary file exists, and the SEG only once the SR is in place, so
    a failure leaves neither new file (and the old pair untouched)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"seg": out_dir / f"{stem}_seg.dcm", "sr": out_dir / f"{stem}_sr.dcm"}

    def seg_then_sr(tmp: Path) -> None:
        seg.save_as(tmp, enforce_file_format=True)
        write_dicom(sr, paths["sr"])

    atomic_write(paths["seg"], seg_then_sr)
    return paths


@contextmanager
def quiet_person_names() -> Iterator[None]:
    """Hide highdicom's warning on one-component patient names (common in research archives,
    and not ours to fix)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore",
                                message=".*unlikely to represent the intended person name")
        yield
