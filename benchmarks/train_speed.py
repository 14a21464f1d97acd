"""Training speed on this CPU, as ratios measured in one run.

Prints training patches per second at the default patch size (or --patch-size), the fraction of
each step spent waiting for data, and the ratio of the achieved step time to the floor
``3 x forward FLOPs / matrix-product rate`` (backward costs about twice the forward), in float32
and, on a CPU with native bfloat16, under ``amp`` (bfloat16 autocast), the two
measured in one run.

    python benchmarks/train_speed.py [--images DIR] [--patch-size 96] [--batch-size 4] [--steps 8]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import matmul_gflops
from skimage import io as skio
from torch.utils.flop_counter import FlopCounterMode

from napari_mcdet.models.device import cpu_has_native_bf16
from napari_mcdet.nn import MCDetNet
from napari_mcdet.synth.phantom import breast_phantom
from napari_mcdet.train.config import TrainConfig
from napari_mcdet.train.loop import Trainer


def _phantoms(folder: Path, n: int = 4) -> Path:
    for seed in range(n):
        img = breast_phantom(shape=(1024, 768), pixel_spacing=0.2, seed=seed).pixels
        img = (img - img.min()) / (np.ptp(img) or 1) * 60000
        skio.imsave(folder / f"n{seed}.png", img.astype(np.uint16), check_contrast=False)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", help="folder of normal images (default: 4 phantoms)")
    parser.add_argument("--patch-size", type=int, default=TrainConfig().patch_size)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    modes = [False, True] if cpu_has_native_bf16() else [False]
    with tempfile.TemporaryDirectory() as tmp:
        images = args.images or str(_phantoms(Path(tmp)))
        runs = {amp: _timed_steps(images, args, amp=amp, out_dir=Path(tmp) / f"run{amp}")
                for amp in modes}
    x = torch.zeros(1, 1, args.patch_size, args.patch_size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        MCDetNet().eval()(x)
    fwd = counter.get_total_flops()
    ref = matmul_gflops()
    floor = 3 * fwd * args.batch_size / (ref * 1e9)
    print(f"threads {torch.get_num_threads()}, patch {args.patch_size} px, batch "
          f"{args.batch_size}, {args.steps} timed steps per mode")
    print(f"forward FLOPs per patch {fwd / 1e9:.2f} GFLOP, matrix product rate {ref:.1f} "
          f"GFLOP/s, floor step time (3 x fwd / matmul rate) {floor:.2f} s")
    print("| mode | step time (median) | training patches / s | data wait | achieved / floor | "
          "speed vs float32 |")
    print("|---|---:|---:|---:|---:|---:|")
    base = float(np.median([r["seconds"] for r in runs[False]]))
    for amp, records in runs.items():
        step = float(np.median([r["seconds"] for r in records]))
        wait = float(np.median([r["data_wait"] for r in records]))
        name = "amp (bfloat16)" if amp else "float32"
        print(f"| {name} | {step:.2f} s | {args.batch_size / step:.2f} | {wait:.1%} | "
              f"{step / floor:.2f} | {base / step:.2f}x |")


def _timed_steps(images: str, args, *, amp: bool, out_dir: Path) -> list[dict]:
    cfg = TrainConfig(negatives=[images], source_spacing=0.2, patch_size=args.patch_size,
                      batch_size=args.batch_size, steps=args.steps + 2, epoch_steps=10**6,
                      val_length=3, device="cpu", amp=amp, num_workers=args.workers,
                      out_dir=str(out_dir))
    events = Trainer(cfg).run()
    # the first two steps warm up (image cache, allocator): not counted
    records = [ev for i, ev in zip(range(cfg.steps), events) if i >= 2]
    events.close()
    return records


if __name__ == "__main__":
    main()
