"""``mcdet calibrate MODEL NORMALS...``: choose and store a model's operating point.

The model runs over the normal images (no calcification) as detection does; the lowest
probability threshold that gives at most ``--target-fp`` clusters per image becomes the model's
operating point, stored in its metadata (the file is rewritten atomically, or ``--out`` is
written), where ``mcdet detect`` and the Detect panel read it.
"""

from __future__ import annotations

import argparse
import json

from ..constants import DEFAULT_TARGET_FP, MINIMIAS_SPACING_MM
from ..spacing import as_spacing


def register(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="choose a model's operating point on normals",
                              description=__doc__)
    p.add_argument("model", help="checkpoint (.safetensors) to calibrate ('default': the "
                                 "bundled model, written with --out only)")
    p.add_argument("normals", nargs="+", metavar="NORMAL",
                   help="normal mammograms (DICOM, PNG/TIFF, PGM) or folders of them")
    p.add_argument("--target-fp", type=float, default=DEFAULT_TARGET_FP,
                   help="false clusters per normal image at the operating point "
                        f"({DEFAULT_TARGET_FP:g})")
    p.add_argument("--spacing", type=float, default=None,
                   help="pixel spacing in mm for images whose files carry none (mini-MIAS "
                        f"{MINIMIAS_SPACING_MM:g})")
    p.add_argument("--out", default=None,
                   help="write the calibrated model here instead of rewriting MODEL")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from ..infer.calibrate import calibrate
    from ..io.images import read_mammogram
    from ..models.checkpoint import default_model_path, load_model, update_metadata
    from ..train.dataset import expand_images

    src = default_model_path() if args.model == "default" else Path(args.model)
    if args.model == "default" and args.out is None:
        raise ValueError("the bundled model is part of the installed package: pass --out PATH "
                         "to write a calibrated copy")
    model = load_model(src)
    files = expand_images(args.normals, what="normal image")
    spacing = as_spacing(args.spacing, name="--spacing", required=False)
    normals = [read_mammogram(f) for f in files]
    with tqdm(total=len(normals), unit="image", desc="calibrating") as bar:
        point = calibrate(model, normals, target_fp=args.target_fp, pixel_spacing=spacing,
                          device=args.device, progress=lambda done, _: bar.update(1))
    point["images"] = [f.name for f in files]
    out = update_metadata(src, {"operating_point": point}, dst=args.out)
    print(json.dumps({k: v for k, v in point.items() if k != "images"}, indent=1))
    if not point["reached"]:
        print(f"warning: no threshold reaches {args.target_fp} false clusters per image; the "
              "highest one swept is stored")
    print(f"operating point stored in {out}")
    return 0
