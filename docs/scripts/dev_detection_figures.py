"""Detection figures of a model on the mini-MIAS development data (docs/results.md).

The 10 usable calcification cases and the split's 33 ``val`` normals (never a training image),
prepared at the model's grid and run as ``detect`` runs them. Prints, as JSON:

- the strict-rule cluster FROC (threshold swept): sensitivity at 0.25, 0.5, 1 and 2 false clusters
  per image (a cluster is a hit only when its centroid lies within 2 mm of an Info.txt circle);
- at the model's operating point: lesions found, false clusters per image, and on the median
  normal image the number of candidate calcifications and clusters.

Usage (from the project root):
    python docs/scripts/dev_detection_figures.py ../shared/data/mini-mias [--model CKPT]
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    import torch

    from napari_mcdet.infer.calibrate import (
        DEFAULT_TOLERANCE_MM,
        cluster_froc,
        clusters_at,
        detection_runner,
        image_maps,
        strict_hits,
    )
    from napari_mcdet.infer.detect import operating_point
    from napari_mcdet.metrics.realsets import minimias_images, read_split
    from napari_mcdet.models.checkpoint import load_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    sweep = cluster_froc(maps)
    out = {"model": str(model.metadata.get("path")), "images": len(maps),
           "lesions": sweep["n_regions"],
           "strict_cluster_sensitivity_at_fp": dict(zip([f"{r:g}" for r in sweep["fp_rates"]],
                                                        sweep["sensitivity_at"]))}
    point = operating_point(model.metadata)
    if point is not None:
        t = point["benign"]
        found, fps, cand_normal, clus_normal = 0, 0, [], []
        for m in maps:
            calcs, clusters = clusters_at(m, t)
            cents = np.array([c["centroid"] for c in clusters]).reshape(-1, 2)
            f, fp = strict_hits(cents, m.labels, tolerance_px=DEFAULT_TOLERANCE_MM / spacing[0])
            found += len(f)
            fps += fp
            if not m.labels.any():
                cand_normal.append(len(calcs))
                clus_normal.append(len(clusters))
        out["operating_point"] = {
            "threshold": t, "lesions_found": found,
            "false_clusters_per_image": fps / len(maps),
            "median_normal_candidates": float(np.median(cand_normal)),
            "median_normal_clusters": float(np.median(clus_normal)),
            "max_normal_candidates": int(np.max(cand_normal)),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
