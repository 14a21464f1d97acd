"""``mcdet train CONFIG``: train on normal images with synthetic lesions (also under torchrun).

Ctrl-C stops at the end of the current step and saves a resumable ``last.safetensors``;
``--resume`` continues from it exactly.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys

_STOP = {"requested": False}


def _interrupt(signum, frame):  # noqa: ARG001
    """The first Ctrl-C / SIGTERM asks the loop to stop after the current step (raising here
    could land inside tqdm or numpy and leave them half-updated); a second one stops at once."""
    if _STOP["requested"]:
        raise KeyboardInterrupt
    _STOP["requested"] = True


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="training configuration (YAML or JSON; see TrainConfig)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue from a last.safetensors")
    p.add_argument("--steps", type=int, help="override the number of steps")
    p.add_argument("--device", help="override the device (auto, cpu, cuda, cuda:1, mps)")
    p.add_argument("--out-dir", help="override the output folder")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any configuration key (YAML value), repeatable")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train the detector on normal images",
                              description=__doc__)
    _add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import yaml
    from tqdm import tqdm

    from ..train.config import TrainConfig
    from ..train.distributed import cleanup_distributed, init_distributed
    from ..train.loop import Trainer

    config = TrainConfig.load(args.config)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set needs KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    if args.steps:
        overrides["steps"] = args.steps
    if args.device:
        overrides["device"] = args.device
    if args.out_dir:
        overrides["out_dir"] = args.out_dir
    if overrides:
        config = TrainConfig.from_dict({**config.to_dict(), **overrides})
    dist = init_distributed(config.device)
    # SIGTERM (a cluster scheduler, `kill`) stops like Ctrl-C: at the end of the step, saving a
    # resumable last.safetensors; SIGINT is re-armed too, since a shell ignores it in jobs
    # started in the background
    _STOP["requested"] = False
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    try:
        trainer = Trainer(config, resume=args.resume, dist=dist)
        bar = tqdm(total=config.steps, initial=trainer.step, unit="step",
                   disable=not dist.is_main, dynamic_ncols=True)
        events = trainer.run()
        try:
            for ev in events:
                post = {"loss": f"{ev['loss']:.4f}", "patch/s": f"{ev['patches_per_s']:.1f}"}
                if "val_AUC_MCs" in ev:
                    post.update({k: f"{ev[k]:.3f}" for k in ev if "AUC" in k
                                 and not math.isnan(ev[k])})
                bar.set_postfix(post)
                bar.update(1)
                if _STOP["requested"]:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            events.close()  # saves last.safetensors at the last completed step
            bar.close()
            if dist.is_main:
                print(f"\nstopped at step {trainer.step}; resume with --resume "
                      f"{trainer.out_dir / 'last.safetensors'}", file=sys.stderr)
            return 130
        bar.close()
        if dist.is_main:
            print(f"done: {trainer.out_dir / 'last.safetensors'} (best: "
                  f"{trainer.out_dir / 'best.safetensors'})")
    finally:
        cleanup_distributed()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m napari_mcdet.train", description=__doc__)
    _add_arguments(parser)
    return run(parser.parse_args(argv))
