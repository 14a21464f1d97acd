"""What writing the DICOM SEG + SR adds to ``mcdet detect`` on an INbreast-size mammogram, as
ratios measured in one run.

A full-field digital mammogram of INbreast's size (4084 x 3328 pixels at 0.07 mm, a seeded breast
phantom filling the grid, with its PACS identity) is written to a temporary folder; then, in
turns (``--repeats`` times, alternating so that load drifts hit both alike):

1. ``mcdet detect IMAGE --out A`` (today's outputs);
2. ``mcdet detect IMAGE --out B --dicom`` (the same plus ``<stem>_seg.dcm`` + ``<stem>_sr.dcm``).

Printed: each run's wall time, the medians and their ratio (the target: at most 1.10), and, from
one detection, the time of the SEG + SR writing alone, binary and ``--seg-fractional``, with the
files' sizes.

    python benchmarks/dicom_outputs.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_mcdet.cli import main as mcdet

SHAPE = (4084, 3328)
SPACING_MM = 0.07


def write_inbreast_size_dicom(path: Path) -> Path:
    """A seeded phantom of INbreast's size as a "For Presentation" digital mammogram."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from napari_mcdet.synth.phantom import breast_phantom

    mammo = breast_phantom(SHAPE, pixel_spacing=SPACING_MM, seed=0)
    pixels = np.clip(mammo.pixels / float(mammo.pixels.max()) * 4095, 0, 4095)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    for key, value in {
        "SOPClassUID": meta.MediaStorageSOPClassUID,
        "SOPInstanceUID": meta.MediaStorageSOPInstanceUID, "StudyInstanceUID": generate_uid(),
        "SeriesInstanceUID": generate_uid(), "FrameOfReferenceUID": generate_uid(),
        "Modality": "MG", "PatientName": "Bench^Mark", "PatientID": "BENCH",
        "ImageLaterality": "L", "ViewPosition": "CC", "PatientOrientation": ["P", "R"],
        "PixelSpacing": [SPACING_MM, SPACING_MM], "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2", "Rows": SHAPE[0], "Columns": SHAPE[1],
        "BitsAllocated": 16, "BitsStored": 12, "HighBit": 11, "PixelRepresentation": 0,
    }.items():
        setattr(ds, key, value)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _timed(argv: list[str]) -> float:
    start = time.perf_counter()
    if mcdet(argv) != 0:
        raise SystemExit(f"mcdet {' '.join(argv)} failed")
    return time.perf_counter() - start


def _writing_alone(image: Path, out: Path) -> None:
    from napari_mcdet.infer.detect import detect
    from napari_mcdet.infer.export_dicom import write_detection_dicom
    from napari_mcdet.io import read_mammogram
    from napari_mcdet.models.checkpoint import load_model

    det = detect(read_mammogram(image), load_model(None))
    for fractional in (False, True):
        start = time.perf_counter()
        paths = write_detection_dicom(det, image, out, f"alone_{int(fractional)}",
                                      fractional=fractional)
        took = time.perf_counter() - start
        sizes = ", ".join(f"{k} {p.stat().st_size / 1e6:.1f} MB" for k, p in paths.items())
        print(f"SEG + SR alone ({'fractional' if fractional else 'binary'}): {took:.2f} s "
              f"({sizes}; {len(det.calcifications)} calcifications, {len(det.clusters)} "
              "clusters)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image = write_inbreast_size_dicom(tmp / "inbreast_size.dcm")
        times: dict[str, list[float]] = {"plain": [], "dicom": []}
        _timed(["detect", str(image), "--out", str(tmp / "warm")])  # caches, engine build
        for i in range(args.repeats):
            times["plain"].append(_timed(["detect", str(image), "--out", str(tmp / "a")]))
            times["dicom"].append(_timed(["detect", str(image), "--out", str(tmp / "b"),
                                          "--dicom"]))
            print(f"run {i + 1}: plain {times['plain'][-1]:.2f} s, --dicom "
                  f"{times['dicom'][-1]:.2f} s")
        plain, dicom = (statistics.median(times[k]) for k in ("plain", "dicom"))
        print(f"median: plain {plain:.2f} s, --dicom {dicom:.2f} s, ratio {dicom / plain:.3f} "
              "(target <= 1.10)")
        _writing_alone(image, tmp / "alone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
