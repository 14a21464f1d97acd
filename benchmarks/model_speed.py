"""Inference speed of the bundled network per engine on this CPU, as ratios measured in one run.

The same batch of tiles through each engine, in turn, best of ``--repeats``:

- eager PyTorch, plain eval mode under ``no_grad`` (no BN folding);
- eager, BN folded + channels-last + ``inference_mode`` (``nn.inference.prepare_for_inference``);
- ``torch.compile`` of that network (inductor; its compile time is printed);
- on a CPU with native bfloat16, the folded network under bfloat16 autocast (channels-last
  and not);
- ONNX Runtime's CPU provider (``nn.inference.OnnxNetwork``, the ``fast`` extra).

Printed per engine: seconds per batch, ratio to the BN-folded eager network, achieved GFLOP/s
(FLOPs of one forward pass counted with ``torch.utils.flop_counter``) and its fraction of a
float32 matrix product's GFLOP/s measured in the same run, and the largest absolute difference
of the probabilities (``combine_scales``) from the BN-folded eager network's. Also the share of
the FLOPs in the encoder + bottleneck head (what a tile the decoder gate skips still costs).

    python benchmarks/model_speed.py [--tile 128] [--batch 8] [--no-compile] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import matmul_gflops
from torch.utils.flop_counter import FlopCounterMode

import napari_mcdet as mc
from napari_mcdet.models.device import cpu_has_native_bf16
from napari_mcdet.nn import count_parameters
from napari_mcdet.nn.inference import OnnxNetwork, onnx_available, prepare_for_inference
from napari_mcdet.nn.outputs import combine_scales


def count(fn) -> int:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", type=int, default=128, help="tile side, pixels (128)")
    parser.add_argument("--batch", type=int, default=8, help="tiles per batch (8)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    net = mc.load_model().network.eval()
    x = torch.randn(args.batch, 1, args.tile, args.tile)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    one = x[:1]
    full = count(lambda: net(one))
    enc = count(lambda: net.encode(one))
    ref = matmul_gflops()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, parameters "
          f"{count_parameters(net):,}; batch {args.batch} x {args.tile} x {args.tile}")
    print(f"forward FLOPs per tile: {full / 1e9:.2f} GFLOP; encoder + bottleneck head: "
          f"{enc / full:.1%} of them")
    print(f"matrix product (2048^2 float32): {ref:.1f} GFLOP/s")
    folded = prepare_for_inference(net)
    folded_plain = prepare_for_inference(net, channels_last=False)
    engines = {
        "eager, eval, no_grad": (lambda: net(x), torch.no_grad),
        "eager, BN folded + channels_last + inference_mode": (lambda: folded(x_cl),
                                                               torch.inference_mode),
    }
    if cpu_has_native_bf16():
        def bf16(fn):
            def run():
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return fn()
            return run

        engines["eager, BN folded + channels_last, bfloat16 autocast"] = (
            bf16(lambda: folded(x_cl)), torch.inference_mode)
        engines["eager, BN folded, bfloat16 autocast"] = (
            bf16(lambda: folded_plain(x)), torch.inference_mode)
    if not args.no_compile:
        compiled = torch.compile(folded, dynamic=False)
        t0 = time.perf_counter()
        with torch.inference_mode():
            compiled(x_cl)
        print(f"torch.compile: first call (compilation) {time.perf_counter() - t0:.0f} s")
        engines["torch.compile (inductor) of the folded network"] = (lambda: compiled(x_cl),
                                                                     torch.inference_mode)
    if onnx_available():
        t0 = time.perf_counter()
        onnx = OnnxNetwork(net)
        print(f"ONNX export + session: {time.perf_counter() - t0:.1f} s")
        engines["ONNX Runtime, CPU provider"] = (lambda: onnx(x), torch.inference_mode)
    else:
        print("ONNX Runtime missing (pip install 'napari-mcdet[fast]'): row left out")
    outputs, best = {}, {name: float("inf") for name in engines}
    for name, (fn, ctx) in engines.items():  # warm-up, and the outputs compared
        with ctx():
            outputs[name] = combine_scales(fn())
    for _ in range(args.repeats):
        for name, (fn, ctx) in engines.items():  # in turn: the machine's load is shared alike
            with ctx():
                t0 = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - t0)
    base_name = "eager, BN folded + channels_last + inference_mode"
    base_cls, base_seg = outputs[base_name]
    print("\n| engine | s / batch | ratio to BN-folded eager | GFLOP/s | fraction of matmul | "
          "max abs diff of probabilities |\n|---|---|---|---|---|---|")
    for name, t in best.items():
        cls, seg = outputs[name]
        diff = max(float((cls - base_cls).abs().max()), float((seg - base_seg).abs().max()))
        rate = full * args.batch / t / 1e9
        print(f"| {name} | {t:.2f} | {best[base_name] / t:.2f}x | {rate:.1f} | "
              f"{rate / ref:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
