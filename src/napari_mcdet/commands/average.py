"""``mcdet average CKPT... --out MODEL``: the weight average of one run's kept checkpoints.

Stochastic weight averaging (Izmailov et al. 2018): a run with a constant learning rate and
``keep_every`` writes ``step_N.safetensors`` along the way; their uniform average is often a
better model than any one of them. BatchNorm running statistics are averaged too; with
``--refresh-bn CONFIG`` they are then measured again, the averaged network running once in
training mode over ``--bn-batches`` batches of the run's own training patches (CONFIG: the
run's configuration file). The result is a final model (no optimizer state, no metrics):
validate it, then ``mcdet calibrate`` it before use.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("average", help="average the kept checkpoints of a run (SWA)",
                              description=__doc__)
    p.add_argument("checkpoints", nargs="+", metavar="CKPT",
                   help="two or more checkpoints of one run (runs/NAME/step_*.safetensors)")
    p.add_argument("--out", required=True, metavar="MODEL",
                   help="the averaged model to write (.safetensors)")
    p.add_argument("--refresh-bn", default=None, metavar="CONFIG",
                   help="re-estimate BatchNorm statistics on the training patches of this run "
                        "configuration (YAML or JSON)")
    p.add_argument("--bn-batches", type=int, default=200, metavar="N",
                   help="with --refresh-bn: batches of the run's batch size to measure on (200)")
    p.add_argument("--seed", type=int, default=0,
                   help="with --refresh-bn: seed of those patches (0)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..models.checkpoint import average_checkpoints
    from ..models.device import resolve_device
    from ..train.config import TrainConfig
    from ..train.swa import refresh_batchnorm

    config = TrainConfig.load(args.refresh_bn) if args.refresh_bn else None
    paths = [Path(p) for p in args.checkpoints]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"no such checkpoint: {p}")
    out = Path(args.out)
    if config is None:
        average_checkpoints(paths, out)
        print(f"averaged {len(paths)} checkpoints into {out}")
        return 0
    # MODEL appears only once its statistics are refreshed: a failed refresh leaves no file
    # that could pass for the finished model
    partial = out.with_name(out.name + ".average-partial")
    try:
        average_checkpoints(paths, partial)
        refresh_batchnorm(partial, out, config, batches=args.bn_batches, seed=args.seed,
                          device=resolve_device(args.device or "auto"))
    finally:
        partial.unlink(missing_ok=True)
    print(f"averaged {len(paths)} checkpoints into {out}; BatchNorm statistics re-estimated on "
          f"{args.bn_batches * config.batch_size} training patches (seed {args.seed})")
    return 0
