"""Detection figures of a model on the mini-MIAS development data (docs/results.md).

The 10 usable calcification cases and the split's 33 ``val`` normals (never a training image),
prepared at the model's grid and run as ``detect`` runs them. Prints, as JSON:

- the strict-rule cluster FROC (threshold swept): sensitivity at 0.25, 0.5, 1 and 2 false clusters
  per image (a cluster is a hit only when its centroid lies within 2 mm of an Info.txt circle);
- at the model's operating point: lesions found, false clusters per image, and on the median
  normal image the number of candidate calcifications and clusters.

Usage (from the project root):
    python docs/scripts/dev_detection_figures.py MINIMIAS_FOLDER [--model CKPT]
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def dev_maps(description: str):
    """Parse ``minimias [--model CKPT] [--split JSON]`` and run the model over the dev images.

    Returns
    -------
    model : TrainedModel
    images : list of LabelledImage
        The calcification cases and the split's ``val`` normals, at the model's grid.
    maps : list of ImageMaps
        Their network outputs, as ``detect`` computes them by default (tiling, gate, engine).
    """
    import torch

    from napari_mcdet.infer.steps import detection_runner, image_maps
    from napari_mcdet.metrics.realsets import minimias_images, read_split
    from napari_mcdet.models.checkpoint import load_model

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("minimias", type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--split", type=Path, default=ROOT / "configs" / "minimias_split.json")
    args = ap.parse_args()

    model = load_model(args.model)
    spacing = tuple(float(s) for s in model.pixel_spacing)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        images = minimias_images(args.minimias, pixel_spacing=spacing,
                                 normals=read_split(args.split)["val"])
    net, run = detection_runner(model, device=torch.device("cpu"))  # as detect runs by default
    run.pop("engine")
    maps = [image_maps(net, im.image, im.breast, pixel_spacing=spacing, labels=im.labels,
                       name=im.name, **run) for im in images]
    return model, images, maps


def strict_counts(maps, detections) -> dict:
    """Strict-rule counts over the dev images of one setting.

    ``detections`` gives ``(calcifications, clusters)`` for each of ``maps`` in turn. Returns
    ``lesions_found``, ``false_clusters`` (all images), and per normal image its number of
    ``normal_candidates`` and ``normal_clusters``.
    """
    from napari_mcdet.infer.calibrate import DEFAULT_TOLERANCE_MM
    from napari_mcdet.metrics.froc import found_and_false, regions_of

    out = {"lesions_found": 0, "false_clusters": 0, "normal_candidates": [],
           "normal_clusters": []}
    for m, (calcs, clusters) in zip(maps, detections):
        cents = np.array([c["centroid"] for c in clusters]).reshape(-1, 2)
        hit, fp = found_and_false(cents, regions_of(m.labels),
                                  tolerance=DEFAULT_TOLERANCE_MM / min(m.pixel_spacing))
        out["lesions_found"] += hit
        out["false_clusters"] += fp
        if not m.labels.any():
            out["normal_candidates"].append(len(calcs))
            out["normal_clusters"].append(len(clusters))
    return out


def compare_setting(maps, detect_at, *, fp_rates=(0.25, 0.5, 1.0, 2.0)) -> dict:
    """One detection setting of a study, swept and calibrated as ``mcdet calibrate`` does.

    ``detect_at(i, threshold)`` gives ``(calcifications, clusters)`` of ``maps[i]``. Returns the
    strict cluster sensitivity at ``fp_rates``, the operating point (the lowest swept threshold
    with at most 0.5 false clusters per normal image) with its counts, and the calcification
    FROC and image AUC there.
    """
    from scipy import ndimage as ndi

    from napari_mcdet.infer import calibrate as cal
    from napari_mcdet.metrics.froc import froc, sensitivity_at_fp

    n_regions = sum(int(ndi.label(np.isin(m.labels, (1, 2)))[1]) for m in maps)
    rows = []
    for t in np.sort(cal.THRESHOLDS)[::-1]:
        n = strict_counts(maps, (detect_at(i, float(t)) for i in range(len(maps))))
        rows.append({"threshold": float(t), "lesions_found": n["lesions_found"],
                     "fp_per_image": n["false_clusters"] / len(maps),
                     "normal_fp_per_image": float(np.mean(n["normal_clusters"])),
                     "median_normal_candidates": float(np.median(n["normal_candidates"])),
                     "median_normal_clusters": float(np.median(n["normal_clusters"]))})
    sens = sensitivity_at_fp([r["fp_per_image"] for r in rows],
                             [r["lesions_found"] / n_regions for r in rows], fp_rates).tolist()
    point = next(r for r in rows[::-1] if r["normal_fp_per_image"] <= cal.DEFAULT_TARGET_FP)
    calcs = [detect_at(i, point["threshold"])[0] for i in range(len(maps))]
    result = froc(calcs, [m.labels for m in maps])
    return {"strict_cluster_sensitivity_at_fp": dict(zip([f"{r:g}" for r in fp_rates], sens)),
            "operating_point": point,
            "calcification_froc_at_fp": [float(s) for s in result.sensitivity_at],
            "calcification_image_auc": float(result.image_roc.auc)}


def main() -> None:
    from napari_mcdet.infer.calibrate import cluster_froc, clusters_at
    from napari_mcdet.infer.detect import operating_point

    model, _, maps = dev_maps(__doc__.splitlines()[0])
    sweep = cluster_froc(maps)
    out = {"model": str(model.metadata.get("path")), "images": len(maps),
           "lesions": sweep["n_regions"],
           "strict_cluster_sensitivity_at_fp": dict(zip([f"{r:g}" for r in sweep["fp_rates"]],
                                                        sweep["sensitivity_at"]))}
    point = operating_point(model.metadata)
    if point is not None:
        t = point["benign"]
        n = strict_counts(maps, (clusters_at(m, t) for m in maps))
        out["operating_point"] = {
            "threshold": t, "lesions_found": n["lesions_found"],
            "false_clusters_per_image": n["false_clusters"] / len(maps),
            "median_normal_candidates": float(np.median(n["normal_candidates"])),
            "median_normal_clusters": float(np.median(n["normal_clusters"])),
            "max_normal_candidates": int(np.max(n["normal_candidates"])),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
