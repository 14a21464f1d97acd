"""``mcdet calibrate MODEL NORMALS...``: choose and store a model's operating point.

The model runs over the normal images (no calcification) as detection does; images that their
data set's own table lists as abnormal (mini-MIAS ``Info.txt``, INbreast's csv or xls beside
them) are refused, and fewer than 20 normals give a warning; the lowest
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
from pathlib import Path

from ..constants import DEFAULT_TARGET_FP, MINIMIAS_SPACING_MM
from ..infer.gate import DEFAULT_MISS_RATE
from ..spacing import as_spacing
from .detect import SPACING_RANGE_MM, check_spacing


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
                        f"{MINIMIAS_SPACING_MM:g}); "
                        f"{SPACING_RANGE_MM[0]:g}-{SPACING_RANGE_MM[1]:g} mm")
    p.add_argument("--force-spacing", action="store_true",
                   help="accept a --spacing outside that range")
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


def model_destination(model: Path, out: str | None) -> tuple[Path, str]:
    """Where the calibrated model goes, checked writable before any work, and what to say of it.

    Parameters
    ----------
    model : Path
        MODEL, the checkpoint calibrated.
    out : str or None
        ``--out``; None rewrites MODEL itself, or the file it links to (a symbolic link stays a
        link, and the model it names gets the operating point).

    Returns
    -------
    destination : Path
    note : str
        A line for the user when the destination is not the path given ('' otherwise).

    Raises
    ------
    IsADirectoryError
        ``--out`` is a folder.
    NotADirectoryError, PermissionError
        The destination's folder lies under a file, or cannot be written
        (:func:`napari_mcdet.io.writers.writable_file`).
    """
    from ..io.writers import writable_file

    if out is not None:
        return writable_file(out, what="--out"), ""
    dst, note = model, ""
    if model.is_symlink():
        dst = model.resolve(strict=True)
        note = f"{model} is a link to {dst}: the calibrated model is written there"
    return writable_file(dst, what="MODEL"), note


def refuse_abnormal(files: list[Path]) -> None:
    """Refuse normals that their data set's table lists as abnormal
    (:func:`napari_mcdet.infer.calibrate.listed_abnormal`): their calcifications would count as
    false clusters and raise the threshold."""
    from ..infer.calibrate import listed_abnormal

    listed = listed_abnormal(files)
    if listed:
        shown = ", ".join(f"{f} ({what})" for f, what in listed[:5])
        more = f" and {len(listed) - 5} more" if len(listed) > 5 else ""
        raise ValueError(
            f"{shown}{more}: listed as abnormal by {'its' if len(listed) == 1 else 'their'} "
            "data set's table (mini-MIAS Info.txt, INbreast.csv or INbreast.xls); calibration "
            "needs normal images without calcifications: leave these out")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..infer.calibrate import calibrate, check_target_fp
    from ..infer.gate import check_miss_rate
    from ..io.images import read_mammogram
    from ..models.checkpoint import (
        calibration_metadata,
        load_model,
        update_metadata,
    )
    from ..models.paths import checkpoint_path
    from ..train.dataset import expand_images

    # every option, input and the destination is checked before the first image is read
    target_fp = check_target_fp(args.target_fp, name="--target-fp")
    miss_rate = check_miss_rate(args.miss_rate, name="--miss-rate")
    spacing = as_spacing(check_spacing(args.spacing, force=args.force_spacing), name="--spacing",
                         required=False)
    if args.model == "default" and args.out is None:
        raise ValueError("the bundled model is part of the installed package: pass --out PATH "
                         "to write a calibrated copy")
    src = checkpoint_path(args.model)
    dst, note = model_destination(src, args.out)
    model = load_model(src)
    files = expand_images(args.normals, what="normal image")
    refuse_abnormal(files)
    normals = [read_mammogram(f) for f in files]
    gate, chosen = "auto", None
    if args.gate:
        from ..infer.gate import choose_gate

        with tqdm(total=len(normals), unit="image", desc="choosing the gate") as bar:
            chosen = choose_gate(model, normals, pixel_spacing=spacing, miss_rate=miss_rate,
                                 seed=args.seed, device=args.device,
                                 progress=lambda done, _: bar.update(1))
        print(json.dumps({"decoder_gate": chosen}, indent=1))
        gate = chosen["gate"]
    with tqdm(total=len(normals), unit="image", desc="calibrating") as bar:
        point = calibrate(model, normals, target_fp=target_fp, pixel_spacing=spacing,
                          gate=gate, mirror=args.mirror, device=args.device,
                          progress=lambda done, _: bar.update(1))
    updates = calibration_metadata(point, images=files,
                                   gate=chosen["gate"] if chosen is not None else None)
    out = update_metadata(src, updates, dst=dst)
    print(json.dumps(point, indent=1))
    if not point["reached"]:
        print(f"warning: no threshold reaches {target_fp} false clusters per image; the "
              "highest one swept is stored")
    if note:
        print(note)
    kind = "operating point with mirror averaging" if args.mirror else "operating point"
    print(f"{'decoder gate and ' if args.gate else ''}{kind} stored in {out}")
    return 0
