"""Are lesions drawn on a finer grid than the model's found as often? (docs/results.md)

The bundled model works at 0.2 mm and was trained on lesions drawn at 0.2 mm. An image with
smaller pixels (the demo phantom at 0.1 mm, INbreast at 0.07 mm) is resampled to 0.2 mm by
``detect``, and so are its calcifications. This study draws the same synthetic lesions (default
presets, fixed seeds) on two grids of one background and counts what ``detect`` recovers, as
``mcdet demo`` counts it (``infer.recovery.recovery_summary``: a calcification is recovered by a
mark centred within 0.5 mm; the figures in docs/experiments/2026-12-04-resolution-gap.md were
counted before, by a detected pixel within 0.5 mm):

- ``phantom``: the normal demo phantom, malignant lesions at the demo's centre, seeds 1-12
  (seed 1 is the demo's), drawn on the 0.1 mm phantom or on the phantom resampled to 0.2 mm;
- ``film``: the split's 33 ``val`` normals (mini-MIAS film at 0.2 mm, never trained on), one
  malignant lesion each (seed 100 + index), drawn at 0.2 mm or on the image resampled to 0.1 mm.

Then, at 0.2 mm on both backgrounds, the same lesions blurred with a point-spread sigma of 0.35
px (what the preset's 0.7 px at 0.1 mm is at 0.2 mm) and 1.2 px instead of the preset's 0.7 px,
their conspicuity still drawn at 0.2 mm: does the network key on the blur it was trained with?

Prints the conspicuity of the demo lesion's visible specks after resampling to 0.2 mm, then one
JSON line per background, grid and blur: lesions found, calcifications recovered, the
median peak class probability inside the lesions' boxes, and the false objects per image. A
diagnosis, not a criterion: no model or threshold is chosen on it.

Usage (from the project root):
    python docs/scripts/resolution_gap_study.py MINIMIAS_FOLDER [--model CKPT]
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
COARSE, FINE = 0.2, 0.1


def recovered(model, image: np.ndarray, breast: np.ndarray, spacing: float, *, seed: int,
              centre: tuple[float, float] | None = None, psf_sigma_px: float = 0.7) -> dict:
    """Draw one malignant lesion on ``image`` (``spacing`` mm/pixel, the point-spread sigma
    ``psf_sigma_px`` pixels), detect, and count."""
    from napari_mcdet.infer.detect import detect
    from napari_mcdet.infer.recovery import recovery_summary
    from napari_mcdet.mammogram import Mammogram
    from napari_mcdet.synth.lesions import synthesize

    les = synthesize(image, pixel_spacing=spacing, kind="malignant", seed=seed, breast=breast,
                     centre=centre, psf_sigma_px=psf_sigma_px)
    det = detect(Mammogram(np.asarray(les.image, np.float32), pixel_spacing=(spacing, spacing)),
                 model)
    rec = recovery_summary(det, les.mask, lesions=[les.lesion])
    lesion = rec.lesions[0]
    r0, c0, r1, c1 = les.lesion["bbox"]
    return {"found": lesion["calcifications_found"], "total": lesion["calcifications_total"],
            "false": rec.false_marks,
            "peak": float(det.probabilities[:, r0:r1 + 1, c0:c1 + 1].max())}


def summary(background: str, spacing: float, rows: list[dict], psf: float = 0.7) -> dict:
    rows = [r for r in rows if r["total"] > 0]
    return {"background": background, "lesions_drawn_at_mm": spacing, "psf_sigma_px": psf,
            "lesions_found": sum(r["found"] > 0 for r in rows), "lesions": len(rows),
            "calcifications_recovered": sum(r["found"] for r in rows),
            "calcifications": sum(r["total"] for r in rows),
            "median_peak_probability": round(float(np.median([r["peak"] for r in rows])), 3),
            "false_objects_per_image": round(float(np.mean([r["false"] for r in rows])), 2)}


def blur_rows(model, folder: Path, split: Path) -> list[dict]:
    """At the model's grid, lesions blurred with 0.35 px (the preset's 0.7 px at 0.1 mm, seen at
    0.2 mm) and 1.2 px instead of the preset's 0.7 px: is the blur what the network keys on?"""
    from napari_mcdet.data.breast import breast_mask
    from napari_mcdet.data.resample import resample_to_spacing
    from napari_mcdet.io.images import read_mammogram
    from napari_mcdet.synth.samples import MALIGNANT_CENTRE, normal_phantom

    normal = normal_phantom()
    phantom = resample_to_spacing(np.asarray(normal.pixels, np.float32), FINE, COARSE)
    phantom_breast = resample_to_spacing(normal.metadata["breast_mask"].astype(np.float32), FINE,
                                         COARSE) > 0.5
    centre = (MALIGNANT_CENTRE[0] * FINE / COARSE, MALIGNANT_CENTRE[1] * FINE / COARSE)
    films = []
    for name in json.loads(split.read_text())["val"]:
        image = np.asarray(read_mammogram(folder / name, pixel_spacing=COARSE).pixels,
                           np.float32)
        films.append((image, breast_mask(image)))
    out = []
    for psf in (0.35, 1.2):
        rows = [recovered(model, phantom, phantom_breast, COARSE, seed=seed, centre=centre,
                          psf_sigma_px=psf) for seed in range(1, 13)]
        out.append(summary("phantom", COARSE, rows, psf))
        rows = [recovered(model, image, breast, COARSE, seed=100 + i, psf_sigma_px=psf)
                for i, (image, breast) in enumerate(films)]
        out.append(summary("film", COARSE, rows, psf))
    return out


def phantom_rows(model) -> dict[float, list[dict]]:
    from napari_mcdet.data.resample import resample_to_spacing
    from napari_mcdet.synth.samples import MALIGNANT_CENTRE, normal_phantom

    normal = normal_phantom()
    fine = np.asarray(normal.pixels, np.float32)
    fine_breast = normal.metadata["breast_mask"]
    coarse = resample_to_spacing(fine, FINE, COARSE)
    coarse_breast = resample_to_spacing(fine_breast.astype(np.float32), FINE, COARSE) > 0.5
    scale = FINE / COARSE
    coarse_centre = (MALIGNANT_CENTRE[0] * scale, MALIGNANT_CENTRE[1] * scale)
    rows: dict[float, list[dict]] = {FINE: [], COARSE: []}
    for seed in range(1, 13):
        rows[FINE].append(recovered(model, fine, fine_breast, FINE, seed=seed,
                                    centre=MALIGNANT_CENTRE))
        rows[COARSE].append(recovered(model, coarse, coarse_breast, COARSE, seed=seed,
                                      centre=coarse_centre))
    return rows


def demo_lesion_specks() -> list[float]:
    """Conspicuity of the visible specks of the demo's malignant lesion once resampled to the
    model's grid, measured as the real dev calcifications are (``region_specks`` inside the
    lesion's mask grown by 0.6 mm)."""
    from scipy import ndimage as ndi

    from napari_mcdet.data.resample import resample_to_spacing
    from napari_mcdet.synth.conspicuity import VISIBILITY_FLOOR, region_specks
    from napari_mcdet.synth.samples import phantom_with_lesions

    sample, truth, _ = phantom_with_lesions()
    region = ndi.binary_dilation(truth == 2, iterations=int(round(0.6 / FINE)))
    image = resample_to_spacing(np.asarray(sample.pixels, np.float32), FINE, COARSE)
    region = resample_to_spacing(region.astype(np.float32), FINE, COARSE) > 0.25
    specks = region_specks(image, region, pixel_spacing=COARSE, min_conspicuity=VISIBILITY_FLOOR)
    return [round(sp.conspicuity, 2) for sp in specks]


def film_rows(model, folder: Path, split: Path) -> dict[float, list[dict]]:
    from napari_mcdet.data.breast import breast_mask
    from napari_mcdet.data.resample import resample_to_spacing
    from napari_mcdet.io.images import read_mammogram

    rows: dict[float, list[dict]] = {FINE: [], COARSE: []}
    for i, name in enumerate(json.loads(split.read_text())["val"]):
        image = np.asarray(read_mammogram(folder / name, pixel_spacing=COARSE).pixels,
                           np.float32)
        breast = breast_mask(image)
        rows[COARSE].append(recovered(model, image, breast, COARSE, seed=100 + i))
        fine = resample_to_spacing(image, COARSE, FINE)
        fine_breast = resample_to_spacing(breast.astype(np.float32), COARSE, FINE) > 0.5
        rows[FINE].append(recovered(model, fine, fine_breast, FINE, seed=100 + i))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("minimias", type=Path, help="the mini-MIAS folder")
    parser.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--split", type=Path, default=ROOT / "configs" / "minimias_split.json")
    args = parser.parse_args()

    from napari_mcdet.models.checkpoint import default_model_path, load_model

    model = load_model(args.model or default_model_path())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        print(json.dumps({"demo_malignant_lesion_specks_at_model_grid": demo_lesion_specks()}),
              flush=True)
        for background, rows in (("phantom", phantom_rows(model)),
                                 ("film", film_rows(model, args.minimias, args.split))):
            for spacing in (COARSE, FINE):
                print(json.dumps(summary(background, spacing, rows[spacing])), flush=True)
        for row in blur_rows(model, args.minimias, args.split):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
