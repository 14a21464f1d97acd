"""``mcdet interpolate START FINETUNED --weight W --out MODEL``: a fine-tune pulled back towards
the model it started from.

WiSE-FT (Wortsman et al. 2022): the weights ``(1 - W) * START + W * FINETUNED``. A fine-tune
that gained on one thing often lost on another; points on the line between the two models can
keep both. The two must share the architecture and the pixel spacing (the patch size may
differ); the metadata is the fine-tune's. With ``--refresh-bn CONFIG`` (the fine-tune's run
configuration) the BatchNorm statistics are measured again on its training patches, as
``mcdet average`` does. The result is a final model: validate it, then ``mcdet calibrate`` it
before use.
"""

from __future__ import annotations

import argparse

from .average import add_refresh_arguments, checked_out, existing, write_refreshed


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "interpolate", help="interpolate a fine-tune with its start model (WiSE-FT)",
        description=__doc__)
    p.add_argument("start", metavar="START", help="the model the fine-tune started from")
    p.add_argument("finetuned", metavar="FINETUNED", help="the fine-tuned model")
    p.add_argument("--weight", type=float, required=True, metavar="W",
                   help="the fine-tune's share, 0 to 1 (1 gives FINETUNED's weights)")
    p.add_argument("--out", required=True, metavar="MODEL",
                   help="the interpolated model to write (.safetensors)")
    add_refresh_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models.checkpoint import interpolate_models

    out = checked_out(args.out)
    start, finetuned = existing([args.start, args.finetuned])
    done = write_refreshed(
        lambda dst: interpolate_models(start, finetuned, dst, weight=args.weight), out, args)
    print(f"interpolated {start.name} ({1 - args.weight:g}) and {finetuned.name} "
          f"({args.weight:g}) into {out}{done}")
    return 0
