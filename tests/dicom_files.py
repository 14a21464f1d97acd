"""DICOM files for the tests: a synthetic full-field digital mammogram with a PACS identity, and
the errors ``dciodvfy`` finds in a file. A module of its own (not conftest.py): test folders
with their own conftest.py would shadow ``conftest`` in ``sys.modules``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_ffdm(path: Path, *, pixel_spacing: float = 0.2, laterality: str = "L",
               study_uid: str | None = None, drop: tuple[str, ...] = (),
               shape: tuple[int, int] | None = None, **tags) -> Path:
    """Write the demo's phantom with synthetic calcifications as a full-field digital mammogram
    ("For Presentation") with the identity a PACS gives: patient, study, series, instance and
    frame of reference UIDs, PixelSpacing and ImagerPixelSpacing, laterality, view, Patient
    Orientation. ``shape`` puts the phantom in the top-left corner of a larger image (an
    INbreast-size one is 4084 x 3328); ``drop`` removes attributes (bad-input tests); ``tags``
    override them."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from napari_mcdet.synth.samples import phantom_with_lesions

    mammo, _, _ = phantom_with_lesions(pixel_spacing=pixel_spacing)
    pixels = np.clip(mammo.pixels / max(float(mammo.pixels.max()), 1e-6) * 4095, 0, 4095)
    if shape is not None:
        canvas = np.zeros(shape, np.float32)
        rows, cols = min(shape[0], pixels.shape[0]), min(shape[1], pixels.shape[1])
        canvas[:rows, :cols] = pixels[:rows, :cols]
        pixels = canvas
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    values = {
        "SOPClassUID": meta.MediaStorageSOPClassUID,
        "SOPInstanceUID": meta.MediaStorageSOPInstanceUID,
        "StudyInstanceUID": study_uid or generate_uid(), "SeriesInstanceUID": generate_uid(),
        "FrameOfReferenceUID": generate_uid(), "Modality": "MG", "PatientName": "Phantom^Test",
        "PatientID": "PHANTOM1", "PatientBirthDate": "", "PatientSex": "F",
        "StudyDate": "20261206", "StudyTime": "120000", "StudyID": "1", "AccessionNumber": "",
        "ReferringPhysicianName": "", "SeriesNumber": 1, "InstanceNumber": 1,
        "Manufacturer": "napari-mcdet tests", "ImageLaterality": laterality,
        "ViewPosition": "CC", "PatientOrientation": ["P", "L" if laterality == "R" else "R"],
        "PixelSpacing": [pixel_spacing, pixel_spacing],
        "ImagerPixelSpacing": [pixel_spacing, pixel_spacing], "BodyPartThickness": 45,
        "PresentationIntentType": "FOR PRESENTATION", "BodyPartExamined": "BREAST",
        "SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2",
        "Rows": pixels.shape[0], "Columns": pixels.shape[1], "BitsAllocated": 16,
        "BitsStored": 12, "HighBit": 11, "PixelRepresentation": 0,
    }
    values.update(tags)
    for key, value in values.items():
        if key not in drop:
            setattr(ds, key, value)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def dciodvfy_errors(path: Path) -> list[str]:
    """The error lines ``dciodvfy`` (dicom3tools) prints for ``path``; skips when it is absent
    (CI installs it)."""
    import shutil
    import subprocess

    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    out = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (out.stdout + out.stderr).splitlines() if "Error" in line]
