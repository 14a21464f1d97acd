"""``mcdet evaluate``: the paper's tables, FROC and plots for a model on annotated images."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..constants import DEFAULT_BATCH_SIZE
from ..spacing import as_spacing
from .detect import SPACING_RANGE_MM

_RANGE = f"{SPACING_RANGE_MM[0]:g}-{SPACING_RANGE_MM[1]:g} mm"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a model: patch AUCs, pixel metrics, FROC, image-level AUC",
        description=(
            "Score a model on a mini-MIAS folder (calcification cases + the split's 'val' "
            "normals), an INbreast folder (AllDICOMs/ + AllXML/) or a folder with images/ and "
            "masks/ (0/1/2). Writes table2.md/.csv (patch AUCs), table4.md/.csv (pixel metrics), "
            "froc.md, roc.png, froc.png and report.json into --out."
        ),
    )
    p.add_argument("folder", help="mini-MIAS, INbreast or images/+masks/ folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--model", default=None,
                   help="checkpoint (.safetensors), or 'default' for the bundled default model "
                        "(also when left out)")
    p.add_argument("--kind", choices=("auto", "minimias", "inbreast", "masks"), default="auto",
                   help="data set layout (auto: Info.txt -> minimias, AllDICOMs/ -> inbreast, "
                        "images/ -> masks)")
    p.add_argument("--split", default=None,
                   help="mini-MIAS split file (default: the split shipped with the package, "
                        "whose 'val' normals selected and calibrated the bundled model); its "
                        "--split-set normals are scored")
    p.add_argument("--split-set", default="val", help="which list of the split (val)")
    p.add_argument("--limit", type=int, default=None,
                   help="score only the first N annotated and the first N normal images "
                        "(quick checks)")
    p.add_argument("--spacing", type=float, default=None,
                   help=f"pixel spacing in mm for a masks folder whose images carry none "
                        f"({_RANGE})")
    p.add_argument("--force-spacing", action="store_true",
                   help=f"accept a --spacing outside {_RANGE}")
    p.add_argument("--mapping", choices=("paper", "birads"), default="paper",
                   help="INbreast label mapping (paper: clusters malignant, isolated benign)")
    p.add_argument("--name", default=None, help="data set name in the tables (default: folder)")
    p.add_argument("--run", default=None, help="row name in the tables (default: model file)")
    p.add_argument("--tile", type=int, default=None, help="detection tile side, model pixels")
    p.add_argument("--patch-size", type=int, default=None,
                   help="evaluation patch side in model pixels, 16 to 1024 (default: the "
                        "model's training patch size); fix it to compare models trained at "
                        "different sizes")
    p.add_argument("--mirror", action="store_true",
                   help="detect with mirror averaging (mcdet detect --mirror) for the pixel "
                        "metrics and FROC; the patch AUCs are the network's on plain patches")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help=f"patches per forward pass ({DEFAULT_BATCH_SIZE})")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best)")
    p.set_defaults(func=run)


def _kind(folder: Path, kind: str) -> str:
    if kind != "auto":
        return kind
    if (folder / "Info.txt").is_file():
        return "minimias"
    if (folder / "AllDICOMs").is_dir():
        return "inbreast"
    if (folder / "images").is_dir():
        return "masks"
    raise ValueError(f"cannot tell the layout of {folder}: expected Info.txt (mini-MIAS), "
                     "AllDICOMs/ (INbreast) or images/ + masks/; or pass --kind")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..infer.evaluate import (
        check_cases,
        check_limit,
        check_patch_size,
        evaluate,
        inbreast_dataset,
        limit_cases,
        mask_dataset,
        minimias_dataset,
        write_evaluation,
    )
    from ..io.writers import writable_folder
    from ..metrics.report import froc_table, table2, table4
    from ..models.checkpoint import load_model
    from .detect import check_spacing

    folder = Path(args.folder)
    if folder.is_file():
        raise NotADirectoryError(f"{folder} is a file: pass the data set folder (mini-MIAS, "
                                 "INbreast or images/ + masks/)")
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    # arguments, the output folder and the model are checked before any image is read
    spacing_mm = check_spacing(args.spacing, force=getattr(args, "force_spacing", False))
    check_patch_size(args.patch_size)
    check_limit(args.limit)
    kind = _kind(folder, args.kind)
    writable_folder(args.out, what="--out")
    model = load_model(args.model)
    args.current_file = folder  # named by the command line's error messages
    if kind == "minimias":
        cases = minimias_dataset(folder, split=args.split, split_set=args.split_set)
        cluster_classes = (1, 2)
    elif kind == "inbreast":
        cases = inbreast_dataset(folder, mapping=args.mapping)
        cluster_classes = (2,)
    else:
        cases = mask_dataset(folder, pixel_spacing=as_spacing(spacing_mm, name="--spacing",
                                                             required=False))
        cluster_classes = (1, 2)
    cases = limit_cases(cases, args.limit)
    check_cases(cases, folder)
    name = args.name or kind
    run_name = args.run or Path(str(model.metadata.get("path", "model"))).stem
    bar = tqdm(total=len(cases), desc="images", unit="image")

    def progress(done: int, total: int, case: str) -> None:
        bar.n = done
        bar.set_postfix_str(case)
        bar.refresh()

    try:
        ev = evaluate(cases, model, dataset=name, cluster_classes=cluster_classes,
                      patch_size=args.patch_size, batch_size=args.batch_size,
                      device=args.device,
                      detect_options={**({"tile": args.tile} if args.tile else {}),
                                      **({"mirror": True} if args.mirror else {})} or None,
                      progress=progress)
    finally:
        bar.close()
    write_evaluation(ev, args.out, run=run_name)
    print(table2({run_name: {name: ev.patch_aucs}}, with_paper=True))
    print(table4({run_name: {name: ev.pixel.summary()}}, with_paper=True))
    print(froc_table({f"{name} calcifications": ev.froc_calcifications,
                      f"{name} clusters": ev.froc_clusters}))
    print(f"image-level AUC: {ev.image_auc:.3f}; {len(cases)} images, "
          f"{len(ev.patch_labels)} patches; report in {args.out}")
    return 0
