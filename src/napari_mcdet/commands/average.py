"""``mcdet average CKPT... --out MODEL``: the weight average of one run's kept checkpoints.

Stochastic weight averaging (Izmailov et al. 2018): a run with a constant learning rate and
``keep_every`` writes ``step_N.safetensors`` along the way; their uniform average is often a
better model than any one of them. BatchNorm running statistics are averaged too; with
``--refresh-bn CONFIG`` they are then measured again, the averaged network running once in
training mode over ``--bn-batches`` batches of the run's own training patches (CONFIG: the
run's configuration file). The result is a final model (no optimizer state, no metrics):
validate it, then ``mcdet calibrate`` it before use.

Only distinct kept steps of one run are averaged: their recipes name the same ``out_dir``,
``seed`` and ``init``, no file comes twice (by path or by content), and none is itself a merged
model (an average or an interpolation, such as the bundled model). ``--out`` is checked before
any checkpoint is read.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("average", help="average the kept checkpoints of a run (SWA)",
                              description=__doc__)
    p.add_argument("checkpoints", nargs="+", metavar="CKPT",
                   help="two or more kept steps of one run, each once "
                        "(runs/NAME/step_*.safetensors; one run: the same out_dir, seed and "
                        "init in their recipes)")
    p.add_argument("--out", required=True, metavar="MODEL",
                   help="the averaged model to write (.safetensors)")
    add_refresh_arguments(p)
    p.set_defaults(func=run)


def add_refresh_arguments(p: argparse.ArgumentParser) -> None:
    """The BatchNorm re-estimation options ``average`` and ``interpolate`` share."""
    p.add_argument("--refresh-bn", default=None, metavar="CONFIG",
                   help="re-estimate BatchNorm statistics on the training patches of this run "
                        "configuration (YAML or JSON)")
    p.add_argument("--bn-batches", type=int, default=200, metavar="N",
                   help="with --refresh-bn: batches of the run's batch size to measure on (200)")
    p.add_argument("--seed", type=int, default=0,
                   help="with --refresh-bn: seed of those patches (0)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best)")


def existing(paths: list[str]) -> list[Path]:
    """``paths`` as checkpoint files, each checked to exist (``'default'``: the bundled model)."""
    from ..models.paths import checkpoint_path

    return [checkpoint_path(p) for p in paths]


def checked_out(out: str) -> Path:
    """``--out`` checked writable before any merging (a folder or a path under a file would
    otherwise fail only once the work is done)."""
    from ..io.writers import writable_file

    return writable_file(out, what="--out")


def write_refreshed(write: Callable[[Path], Path], out: Path, args: argparse.Namespace) -> str:
    """``write(path)`` a merged model to ``out``, its BatchNorm statistics re-estimated when
    ``args.refresh_bn`` names a configuration; returns what was done, for the message."""
    from ..models.device import resolve_device
    from ..train.config import TrainConfig
    from ..train.swa import refresh_batchnorm

    config = TrainConfig.load(args.refresh_bn) if args.refresh_bn else None
    if config is None:
        write(out)
        return ""
    # MODEL appears only once its statistics are refreshed: a failed refresh leaves no file
    # that could pass for the finished model
    partial = out.with_name(out.name + ".partial")
    try:
        write(partial)
        refresh_batchnorm(partial, out, config, batches=args.bn_batches, seed=args.seed,
                          device=resolve_device(args.device or "auto"))
    finally:
        partial.unlink(missing_ok=True)
    return (f"; BatchNorm statistics re-estimated on {args.bn_batches * config.batch_size} "
            f"training patches (seed {args.seed})")


def run(args: argparse.Namespace) -> int:
    from ..models.checkpoint import average_checkpoints

    out = checked_out(args.out)
    paths = existing(args.checkpoints)
    done = write_refreshed(lambda dst: average_checkpoints(paths, dst), out, args)
    print(f"averaged {len(paths)} checkpoints into {out}{done}")
    return 0
