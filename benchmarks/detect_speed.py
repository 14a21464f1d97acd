"""Whole-image detection speed, step by step from the training-tile eager run to the defaults,
as ratios measured in one run.

The bundled model (``napari_mcdet.load_model()``, 0.2 mm) on an INbreast-size (4084 x 3328 rows x
cols at 0.07 mm) breast phantom, or on a mini-MIAS image (``--image PATH``), with
``napari_mcdet.detect`` in these configurations, each run once, in turn:

1. the training tile (96 px, 25 % overlap), eager PyTorch (BN folded, channels-last), no gate:
   detection as it ran before the engine, tile and gate options;
2. the same on ONNX Runtime (``engine='onnx'``, a default dependency);
3. plus the default tile and overlap (``DEFAULT_TILE``, ``DEFAULT_TILE_OVERLAP``);
4. plus the model's decoder gate (``gate='auto'``), first on eager PyTorch (an install without
   ONNX Runtime), then on ONNX Runtime: ``detect``'s defaults;
5. the defaults plus mirror averaging (``mirror=True``: every tile also runs mirrored);
6. MONAI's ``sliding_window_inference`` (training tile, 25 % overlap, Gaussian, ``no_grad``,
   eager network without BN folding), when MONAI is installed (``pip install monai --no-deps``).

Printed per configuration (best of ``--repeats`` runs, in turn): time of the tile loop and of the
whole call, their ratio to configuration 1, tiles run and decoded, and the achieved GFLOP/s of
the tile loop (FLOPs of the encoder on the tiles run + the decoder on the tiles decoded, counted
with ``torch.utils.flop_counter``) as a fraction of the float32 matrix-product rate measured in
the same run; then the process's peak resident memory.

    python benchmarks/detect_speed.py [--fraction 1.0] [--image mdb209.pgm] [--repeats 2]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
from _common import encoder_flops, matmul_gflops

import napari_mcdet as mc
from napari_mcdet.constants import DEFAULT_TILE, DEFAULT_TILE_OVERLAP
from napari_mcdet.infer.patches import resolve_gate
from napari_mcdet.nn.inference import onnx_available
from napari_mcdet.synth.phantom import breast_phantom

FULL = (4084, 3328)
SPACING = 0.07


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=1.0,
                        help="side of the phantom as a fraction of 4084 x 3328 (1.0)")
    parser.add_argument("--image", default=None, help="a mammogram file instead of the phantom")
    parser.add_argument("--spacing", type=float, default=0.2,
                        help="pixel spacing of --image, mm (0.2: mini-MIAS)")
    parser.add_argument("--no-monai", action="store_true", help="skip the MONAI baseline")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each configuration, in turn; the best time is kept (2)")
    args = parser.parse_args()
    model = mc.load_model()
    if args.image:
        mammo = mc.read_mammogram(args.image)
        mammo = mc.Mammogram(mammo.pixels, pixel_spacing=(args.spacing, args.spacing))
        what = f"{args.image} at {args.spacing} mm"
    else:
        shape = (round(FULL[0] * args.fraction), round(FULL[1] * args.fraction))
        mammo = breast_phantom(shape, pixel_spacing=SPACING, seed=0)
        what = f"breast phantom at {SPACING} mm (fraction {args.fraction} of 4084 x 3328)"
    patch = int(model.patch_size)
    configs = [
        ("training tile, eager, no gate", dict(tile=patch, overlap=0.25, engine="eager",
                                               gate=None)),
        ("training tile, ONNX Runtime, no gate", dict(tile=patch, overlap=0.25, engine="onnx",
                                                      gate=None)),
        (f"tile {DEFAULT_TILE}/{DEFAULT_TILE_OVERLAP} px, ONNX Runtime, no gate",
         dict(engine="onnx", gate=None)),
        (f"tile {DEFAULT_TILE}/{DEFAULT_TILE_OVERLAP} px, eager, gate "
         f"{resolve_gate('auto', model)} (the defaults without ONNX Runtime)",
         dict(engine="eager")),
        (f"tile {DEFAULT_TILE}/{DEFAULT_TILE_OVERLAP} px, ONNX Runtime, gate "
         f"{resolve_gate('auto', model)} "
         "(defaults)", dict(engine="onnx")),
        ("defaults + mirror averaging", dict(engine="onnx", mirror=True)),
    ]
    if not onnx_available():
        print("ONNX Runtime missing (pip install onnxruntime onnx): eager rows only")
        configs = [(n.replace("ONNX Runtime", "eager"), {**kw, "engine": "eager"})
                   for n, kw in configs[:1] + configs[2:3] + configs[4:]]
    defaults = len(configs) - 2  # the row before mirror averaging
    ref = matmul_gflops()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; {what}; model grid "
          f"{model.pixel_spacing[0]} mm; matrix product (2048^2 float32): {ref:.1f} GFLOP/s")
    net = model.network.eval()
    counts = {t: encoder_flops(net, t) for t in {patch, DEFAULT_TILE}}
    mc.detect(breast_phantom((256, 256), pixel_spacing=0.2, seed=1), model, device="cpu",
              engine=configs[-1][1]["engine"], tile=patch)  # warm-up: export, first calls
    best: dict[str, tuple] = {}
    for _ in range(args.repeats):
        for name, kw in configs:  # in turn: the machine's load is shared alike
            stamps: list[float] = []
            t0 = time.perf_counter()
            det = mc.detect(mammo, model, device="cpu",
                            progress=lambda d, t, s=stamps: s.append(time.perf_counter()), **kw)
            wall = time.perf_counter() - t0
            loop = stamps[-1] - stamps[0]
            print(f"{name}: tile loop {loop:.1f} s, wall {wall:.1f} s", flush=True)
            old = best.get(name)
            best[name] = (det, min(loop, old[1]) if old else loop,
                          min(wall, old[2]) if old else wall)
    rows = []
    for name, _ in configs:
        det, loop, wall = best[name]
        enc, full = counts[det.tile]
        views = 2 if det.mirror else 1
        rows.append((name, det, loop, wall, views * (enc * det.n_tiles_run
                                                     + (full - enc) * det.n_tiles_decoded)))
    base_loop, base_wall = rows[0][2], rows[0][3]
    print("\n| configuration | tile loop | ratio | detect wall | ratio | tiles run / decoded / "
          "grid | GFLOP/s of the loop / matmul | candidates, clusters |")
    print("|---|---|---|---|---|---|---|---|")
    for name, det, loop, wall, work in rows:
        rate = work / loop / 1e9
        print(f"| {name} | {loop:.1f} s | {base_loop / loop:.2f}x | {wall:.1f} s | "
              f"{base_wall / wall:.2f}x | {det.n_tiles_run} / {det.n_tiles_decoded} / "
              f"{det.n_tiles} | {rate:.1f} = {rate / ref:.2f} | {len(det.calcifications)}, "
              f"{len(det.clusters)} |")
    print(f"\nmirror averaging costs {rows[-1][3] / rows[defaults][3]:.2f}x the defaults' wall "
          "time")
    if onnx_available():
        slower = rows[defaults - 1][3] / rows[defaults][3]
        print(f"the defaults without ONNX Runtime (eager) take {slower:.2f}x their wall time "
              "with it")
    print(f"peak resident memory of the process: {peak_rss_mb():.0f} MB")

    if args.no_monai:
        return
    try:
        from monai.inferers import sliding_window_inference
    except ImportError:
        print("MONAI not installed: baseline skipped (pip install monai --no-deps)")
        return
    from napari_mcdet.data.prepare import prepare_image

    image, _, _ = prepare_image(mammo, pixel_spacing=model.pixel_spacing)
    x = torch.from_numpy(image)[None, None]

    def predictor(batch: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(net(batch)[0].seg_logits)

    t0 = time.perf_counter()
    with torch.no_grad():
        sliding_window_inference(x, (patch, patch), 8, predictor, overlap=0.25, mode="gaussian")
    base = time.perf_counter() - t0
    grid = int(np.prod([np.ceil((s - patch) / (patch * 0.75)) + 1 for s in image.shape]))
    print(f"| MONAI sliding_window_inference (training tile, 25 %, gaussian, no_grad) | "
          f"{base:.1f} s, ~{grid} tiles | defaults' speed-up over it: "
          f"{base / rows[defaults][3]:.2f}x |")


if __name__ == "__main__":
    main()
