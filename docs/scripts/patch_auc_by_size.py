"""Patch AUCs of several models on the same evaluation patches, at several patch sizes.

``mcdet evaluate`` cuts the evaluation patches at each model's own patch size, so two models
trained at different patch sizes are scored on different patches. This script scores every model
on the very same patches, once per size, on the mini-MIAS development data (the 10 usable
calcification cases and the split's 33 ``val`` normals; docs/results.md). Prints a Markdown table.

Usage (from the project root):
    python docs/scripts/patch_auc_by_size.py MINIMIAS_FOLDER MODEL [MODEL ...] \
        [--sizes 96 128]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    import torch

    from napari_mcdet.data.prepare import prepare_image
    from napari_mcdet.infer.evaluate import minimias_dataset
    from napari_mcdet.infer.patches import predict_patches
    from napari_mcdet.metrics.auc import patch_aucs
    from napari_mcdet.metrics.realsets import LabelledImage, evaluation_patch_set
    from napari_mcdet.models.checkpoint import load_model
    from napari_mcdet.nn.inference import prepare_for_inference

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="mini-MIAS folder (Info.txt and the .pgm images)")
    ap.add_argument("models", nargs="+", help="checkpoints to score")
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 128],
                    help="evaluation patch sizes in pixels at the models' grid")
    ap.add_argument("--split", default=str(ROOT / "configs" / "minimias_split.json"))
    args = ap.parse_args()

    models = [load_model(m) for m in args.models]
    spacing = tuple(models[0].pixel_spacing)
    if any(tuple(m.pixel_spacing) != spacing for m in models):
        raise SystemExit("the models run at different pixel spacings; score them separately")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cases = minimias_dataset(args.folder, split=args.split)
    prepared = [prepare_image(c.mammogram, pixel_spacing=spacing, labels=c.labels) for c in cases]
    device = torch.device("cpu")
    nets = [prepare_for_inference(m.network, device=device, channels_last=True) for m in models]

    print("| patch size (px) | soft / benign / malignant patches | model | AUC_MCs | AUC_mlg |")
    print("|---:|---|---|---:|---:|")
    for size in args.sizes:
        images = [LabelledImage(c.name, image, labels, breast, spacing)
                  for c, (image, breast, labels) in zip(cases, prepared)]
        x, y = evaluation_patch_set(images, patch_size=size, min_breast_fraction=0.2)
        counts = " / ".join(str(n) for n in np.bincount(y, minlength=3))
        for path, net in zip(args.models, nets):
            probs, _ = predict_patches(net, x, batch_size=16, device=device,
                                       segmentation=False, channels_last=True)
            aucs = patch_aucs(y, probs)
            print(f"| {size} | {counts} | `{path}` | {aucs['AUC_MCs']:.3f} | "
                  f"{aucs['AUC_mlg']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
