"""``mcdet calibrate MODEL NORMALS...``: choose and store a model's operating point.

The model runs over the normal images (no calcification) as detection does; the lowest
probability threshold that gives at most ``--target-fp`` clusters per image becomes the model's
operating point, stored in its metadata (the file is rewritten atomically, or ``--out`` is
written), where ``mcdet detect`` and the Detect panel read it.

With ``--gate``, the model's decoder gate is chosen first, on the same normals with synthetic
benign and malignant lesions blended in: the highest gate that skips at most ``--miss-rate`` of
the tiles holding a visible calcification. It is stored with the model (``decoder_gate``) and
the threshold is then calibrated with it, as detection will run. With ``--mirror`` the point
is chosen for detection with mirror averaging (``mcdet detect --mirror``) and stored beside the
plain one.
"""

from __future__ import annotations

import argparse
import json

from ..constants import DEFAULT_TARGET_FP, MINIMIAS_SPACING_MM
from ..infer.gate import DEFAULT_MISS_RATE
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
    p.add_argument("--gate", action="store_true",
                   help="also choose the decoder gate on the normals with synthetic lesions "
                        "blended in, and store it before calibrating the threshold")
    p.add_argument("--miss-rate", type=float, default=DEFAULT_MISS_RATE,
                   help="with --gate: share of the tiles holding a synthetic calcification the "
                        f"gate may skip ({DEFAULT_MISS_RATE:g})")
    p.add_argument("--seed", type=int, default=0,
                   help="with --gate: seed of the synthetic lesions (0)")
    p.add_argument("--mirror", action="store_true",
                   help="calibrate for detection with mirror averaging (mcdet detect --mirror): "
                        "stored beside the plain operating point, which stays")
    p.add_argument("--out", default=None,
                   help="write the calibrated model here instead of rewriting MODEL")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from ..infer.calibrate import calibrate
    from ..io.images import read_mammogram
    from ..models.checkpoint import (
        calibration_metadata,
        default_model_path,
        load_model,
        update_metadata,
    )
    from ..train.dataset import expand_images

    src = default_model_path() if args.model == "default" else Path(args.model)
    if args.model == "default" and args.out is None:
        raise ValueError("the bundled model is part of the installed package: pass --out PATH "
                         "to write a calibrated copy")
    model = load_model(src)
    files = expand_images(args.normals, what="normal image")
    spacing = as_spacing(args.spacing, name="--spacing", required=False)
    normals = [read_mammogram(f) for f in files]
    gate, chosen = "auto", None
    if args.gate:
        from ..infer.gate import choose_gate

        with tqdm(total=len(normals), unit="image", desc="choosing the gate") as bar:
            chosen = choose_gate(model, normals, pixel_spacing=spacing, miss_rate=args.miss_rate,
                                 seed=args.seed, device=args.device,
                                 progress=lambda done, _: bar.update(1))
        print(json.dumps({"decoder_gate": chosen}, indent=1))
        gate = chosen["gate"]
    with tqdm(total=len(normals), unit="image", desc="calibrating") as bar:
        point = calibrate(model, normals, target_fp=args.target_fp, pixel_spacing=spacing,
                          gate=gate, mirror=args.mirror, device=args.device,
                          progress=lambda done, _: bar.update(1))
    updates = calibration_metadata(point, images=files,
                                   gate=chosen["gate"] if chosen is not None else None)
    out = update_metadata(src, updates, dst=args.out)
    print(json.dumps(point, indent=1))
    if not point["reached"]:
        print(f"warning: no threshold reaches {args.target_fp} false clusters per image; the "
              "highest one swept is stored")
    kind = "operating point with mirror averaging" if args.mirror else "operating point"
    print(f"{'decoder gate and ' if args.gate else ''}{kind} stored in {out}")
    return 0
