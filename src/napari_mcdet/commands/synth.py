"""``mcdet synth``: write balanced synthetic training patches from a folder of normal images."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synth",
        help="write N balanced synthetic patches (soft tissue / benign / malignant)",
        description=(
            "Draw synthetic benign and malignant calcifications into normal (negative) "
            "mammograms and write N patches, classes balanced 1:1:1: images/*.npy (float32, "
            "normalised), masks/*.npy (uint8 0/1/2), index.csv and params.json."
        ),
    )
    p.add_argument("negatives", help="folder of normal images (DICOM, PNG, TIFF, PGM)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("-n", type=int, default=300, help="number of patches (default 300)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--patch-size", type=int, default=512, help="patch side in pixels (512)")
    size.add_argument("--patch-size-mm", type=float, default=None, help="patch side in mm")
    p.add_argument("--spacing", type=float, default=None,
                   help="resample every image to this pixel spacing, mm (default: keep)")
    p.add_argument("--source-spacing", type=float, default=None,
                   help="spacing of images whose files carry none, mm (mini-MIAS: 0.2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--augment", action="store_true", help="apply the training augmentations")
    p.add_argument("--mode", choices=("presentation", "raw"), default="presentation",
                   help="blending: additive (presentation images) or multiplicative (raw)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..train.dataset import SyntheticPatchDataset, write_patches

    if args.n <= 0:
        raise ValueError(f"-n must be positive, got {args.n}")
    if args.spacing is None and args.source_spacing is None:
        print("mcdet synth: note: no --spacing/--source-spacing; images must carry their own")
    ds = SyntheticPatchDataset(
        args.negatives,
        patch_size=args.patch_size,
        patch_size_mm=args.patch_size_mm,
        pixel_spacing=args.spacing,
        source_spacing=args.source_spacing,
        seed=args.seed,
        length=args.n,
        augment=args.augment,
        mode=args.mode,
    )
    for _ in tqdm(write_patches(ds, args.out, n=args.n), total=args.n, desc="patches",
                  unit="patch"):
        pass
    print(f"wrote {args.n} patches ({ds.patch_size} px) to {args.out}")
    return 0
