"""``mcdet compare CONFIG``: the paper's comparison study (baselines, ablations, Grad-CAM) in one
command: trains every model with the same engine and seed, scores them on the same real patches,
and writes Tables 2, 3 and 4 (Markdown and CSV), ROC curves and Figure 2.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help="train and compare baselines and ablations",
                              description=__doc__)
    p.add_argument("config",
                   help="comparison configuration (YAML; see configs/compare_minimias.yaml)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: the config's out_dir)")
    p.add_argument("--steps", type=int, help="training steps of every model (overrides the config)")
    p.add_argument("--device", help="device of every model (auto, cpu, cuda, cuda:1, mps)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..compare import CompareConfig, run_comparison

    config = CompareConfig.load(args.config)
    if args.device:
        config = CompareConfig.from_dict({**config.to_dict(),
                                          "train": {**config.train, "device": args.device}})
    written = run_comparison(config, out_dir=args.out, steps=args.steps,
                             progress=lambda msg: print(msg, flush=True))
    for key in ("table2_md", "table3_md", "table4_md"):
        if key in written:
            print(f"\n{written[key].name}\n{written[key].read_text()}", end="")
    return 0
