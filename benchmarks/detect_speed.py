"""Whole-image detection speed and memory against MONAI's sliding window, in one run.

An INbreast-size (4084 x 3328 rows x cols, 0.07 mm) breast phantom at the network's own
resolution, a randomly initialised default MCDetNet (timing does not depend on the weights):

- ``napari_mcdet.detect``: wall time, tiles run / tiles in the grid, achieved GFLOP/s (FLOPs of
  the tiles run / time of the tile loop, and / whole wall time), peak resident memory;
- the same network under MONAI's ``sliding_window_inference`` over the whole image, 25 % overlap,
  Gaussian blending, ``torch.no_grad`` (MONAI's usual call: no tile skipping, no BN folding);
- the float32 matrix-product rate measured in the same run (``_common.matmul_gflops``).

This CPU is slow: ``--fraction f`` times a phantom of ``f`` times each side (the breast covers
the same share of it) and prints the measured numbers; the ratios do not depend on the size.

    python benchmarks/detect_speed.py [--fraction 0.25] [--tile 256] [--batch-size 4]

Needs MONAI for the baseline only (``pip install monai --no-deps``; it leaves torch alone).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import matmul_gflops
from torch.utils.flop_counter import FlopCounterMode

import napari_mcdet as mc
from napari_mcdet.models.checkpoint import save_checkpoint
from napari_mcdet.nn import MCDetNet
from napari_mcdet.nn.inference import prepare_for_inference
from napari_mcdet.synth.phantom import breast_phantom

FULL = (4084, 3328)
SPACING = 0.07


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tile_flops(net: torch.nn.Module, tile: int) -> int:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 1, tile, tile))
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.25,
                        help="side of the timed phantom as a fraction of 4084 x 3328 (0.25)")
    parser.add_argument("--tile", type=int, default=256, help="tile side, pixels (256)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--no-monai", action="store_true", help="skip the baseline")
    args = parser.parse_args()
    shape = (round(FULL[0] * args.fraction), round(FULL[1] * args.fraction))
    torch.manual_seed(0)
    net = MCDetNet().eval()
    phantom = breast_phantom(shape, pixel_spacing=SPACING, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.safetensors"
        save_checkpoint(path, net, pixel_spacing=(SPACING, SPACING), patch_size=args.tile)
        model = mc.load_model(path)
    rss_before = peak_rss_mb()
    ref = matmul_gflops()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; image {shape[0]} x "
          f"{shape[1]} at {SPACING} mm (fraction {args.fraction} of 4084 x 3328); tile "
          f"{args.tile}, batch {args.batch_size}")
    print(f"matrix product (2048^2 float32): {ref:.1f} GFLOP/s")

    stamps: list[float] = []
    t0 = time.perf_counter()
    det = mc.detect(phantom, model, batch_size=args.batch_size, device="cpu",
                    progress=lambda d, t: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    loop = stamps[-1] - stamps[0]
    rss = peak_rss_mb()
    flops = tile_flops(prepare_for_inference(net), args.tile) * det.n_tiles_run
    print("\n| what | value |\n|---|---|")
    print(f"| detect wall time | {wall:.1f} s (tile loop {loop:.1f} s) |")
    print(f"| tiles run / in the grid | {det.n_tiles_run} / {det.n_tiles} |")
    print(f"| FLOPs of the tiles run | {flops / 1e9:.0f} GFLOP |")
    print(f"| achieved, tile loop | {flops / loop / 1e9:.1f} GFLOP/s = "
          f"{flops / loop / 1e9 / ref:.2f} x matmul |")
    print(f"| achieved, whole wall time | {flops / wall / 1e9:.1f} GFLOP/s = "
          f"{flops / wall / 1e9 / ref:.2f} x matmul |")
    print(f"| peak resident memory (process) | {rss:.0f} MB (before detect {rss_before:.0f} MB) |")
    area = FULL[0] * FULL[1] / (shape[0] * shape[1])
    print(f"| projected full-size wall time | {wall * area:.0f} s (x {area:.1f} area) |")

    if args.no_monai:
        return
    from monai.inferers import sliding_window_inference

    from napari_mcdet.metrics.realsets import prepare_image

    image, _, _ = prepare_image(phantom, pixel_spacing=(SPACING, SPACING))
    x = torch.from_numpy(image)[None, None]

    def predictor(batch: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(net(batch)[0].seg_logits)

    t0 = time.perf_counter()
    with torch.no_grad():
        out = sliding_window_inference(x, (args.tile, args.tile), args.batch_size, predictor,
                                       overlap=0.25, mode="gaussian")
    base = time.perf_counter() - t0
    grid = int(np.prod([np.ceil((s - args.tile) / (args.tile * 0.75)) + 1 for s in shape]))
    print(f"| MONAI sliding_window_inference (25 % overlap, gaussian, no_grad) | {base:.1f} s, "
          f"~{grid} tiles, output {tuple(out.shape)} |")
    print(f"| speed-up of detect over MONAI | {base / wall:.2f} x (target >= 3) |")


if __name__ == "__main__":
    main()
