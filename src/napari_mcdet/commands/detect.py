"""``mcdet detect``: whole-mammogram detection, written as maps, tables and a quick-look PNG."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "detect",
        help="detect microcalcifications and clusters in mammograms",
        description=(
            "Run the model over each image in overlapping tiles and write, per image: "
            "<stem>_probabilities.tif (float32, benign and malignant), <stem>_labels.png "
            "(0/1/2), <stem>_calcifications.csv/.json, <stem>_clusters.csv/.json, "
            "<stem>_detection.json (settings and counts) and <stem>_overlay.png."
        ),
    )
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="DICOM, PNG/TIFF or PGM mammograms")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--model", default=None,
                   help="checkpoint (.safetensors); default: the bundled default model")
    p.add_argument("--spacing", type=float, default=None,
                   help="pixel spacing in mm for images whose files carry none (overrides the "
                        "file's); e.g. 0.05 for digitised film, 0.2 for mini-MIAS")
    p.add_argument("--tile", type=int, default=None,
                   help="tile side in pixels at the model's grid (default: its patch size)")
    p.add_argument("--overlap", type=float, default=0.25,
                   help="tile overlap as a fraction of the tile (default 0.25)")
    p.add_argument("--batch-size", type=int, default=8, help="tiles per forward pass (8)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best)")
    p.add_argument("--threshold", default="li",
                   help="'li' (default) or a probability in [0, 1], for both classes")
    p.add_argument("--min-breast-fraction", type=float, default=0.05,
                   help="skip tiles with less breast than this fraction (0.05)")
    p.add_argument("--cluster-distance", type=float, default=10.0,
                   help="single-linkage distance between calcifications of a cluster, mm (10)")
    p.add_argument("--cluster-min-count", type=int, default=3,
                   help="calcifications needed for a cluster (3)")
    p.add_argument("--format", choices=("tiff", "npy"), default="tiff",
                   help="probability map format (tiff)")
    p.add_argument("--no-overlay", action="store_true", help="skip the PNG overlay")
    p.set_defaults(func=run)


def _threshold(text: str):
    if text == "li":
        return "li"
    try:
        value = float(text)
    except ValueError as err:
        raise ValueError(f"--threshold must be 'li' or a probability, got {text!r}") from err
    return value


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..infer.detect import detect
    from ..infer.export import write_detection
    from ..io.images import read_mammogram
    from ..train.checkpoint import load_model

    threshold = _threshold(args.threshold)
    paths = [Path(p) for p in args.images]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such image: {', '.join(missing)}")
    model = load_model(args.model)
    out = Path(args.out)
    stems: dict[str, int] = {}
    for path in paths:
        mammo = read_mammogram(path)
        stem = path.stem if path.suffix.lower() != ".gz" else Path(path.stem).stem
        if stem in stems:  # two inputs with the same name from different folders
            stems[stem] += 1
            stem = f"{stem}_{stems[stem]}"
        else:
            stems[stem] = 0
        spacing = (args.spacing, args.spacing) if args.spacing is not None else None
        with tqdm(desc=path.name, unit="tile", leave=True) as bar:
            def progress(done: int, total: int, bar=bar) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            det = detect(mammo, model, pixel_spacing=spacing, tile=args.tile,
                         overlap=args.overlap, batch_size=args.batch_size, device=args.device,
                         threshold=threshold, min_breast_fraction=args.min_breast_fraction,
                         cluster_distance_mm=args.cluster_distance,
                         cluster_min_count=args.cluster_min_count, progress=progress)
        write_detection(det, out, stem, image=mammo.pixels, probabilities=args.format,
                        overlay=not args.no_overlay)
        s = det.summary()
        print(f"{path.name}: {s['n_calcifications']} calcifications, {s['n_clusters']} clusters, "
              f"{det.n_tiles_run}/{det.n_tiles} tiles run -> {out}/{stem}_*")
    return 0
