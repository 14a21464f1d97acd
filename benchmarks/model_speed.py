"""Inference speed of the default network on this CPU, as ratios measured in one run.

Prints FLOPs of one 512 x 512 forward pass, the achieved GFLOP/s at batch 1 and 4 for several
execution modes, and the ratio to a float32 matrix product's GFLOP/s measured in the same run.

    python benchmarks/model_speed.py [--size 512] [--threads N]
"""

from __future__ import annotations

import argparse

import torch
from _common import best_time, matmul_gflops
from torch.utils.flop_counter import FlopCounterMode

from napari_mcdet.nn import MCDetNet, count_parameters
from napari_mcdet.nn.inference import prepare_for_inference


def forward_flops(net: torch.nn.Module, size: int) -> int:
    x = torch.zeros(1, 1, size, size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = MCDetNet().eval()
    flops = forward_flops(net, args.size)
    ref = matmul_gflops()
    print(f"threads {torch.get_num_threads()}, parameters {count_parameters(net):,}")
    print(f"forward FLOPs at {args.size} x {args.size}: {flops / 1e9:.1f} GFLOP")
    print(f"matrix product (2048^2, float32): {ref:.1f} GFLOP/s")
    modes = {
        "eval, no_grad": (net, False, torch.no_grad),
        "eval, inference_mode": (net, False, torch.inference_mode),
        "BN folded + channels_last + inference_mode": (prepare_for_inference(net), True,
                                                       torch.inference_mode),
    }
    print("| mode | batch | s / batch | GFLOP/s | ratio to matmul |")
    print("|---|---|---|---|---|")
    for name, (model, cl, ctx) in modes.items():
        for batch in (1, 4):
            x = torch.randn(batch, 1, args.size, args.size)
            if cl:
                x = x.contiguous(memory_format=torch.channels_last)

            def run(model=model, x=x, ctx=ctx):
                with ctx():
                    model(x)

            t = best_time(run, repeats=2)
            rate = flops * batch / t / 1e9
            print(f"| {name} | {batch} | {t:.2f} | {rate:.1f} | {rate / ref:.2f} |")


if __name__ == "__main__":
    main()
