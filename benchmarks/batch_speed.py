"""Batch detection throughput: the plain loop, one Dask worker and two, on the same mini-MIAS
images, as ratios measured in one run.

``napari_mcdet.infer.batch.run_batch`` over the first ``--images`` mini-MIAS files (default 20),
with the bundled model (or ``--model``) and ``mcdet detect``'s defaults except the overlay, which
is left out as a writer's cost, not a scheduler's (``--overlay`` keeps it). Each configuration
writes into a fresh folder and runs every image (``force``):

1. the plain loop in this process, one tensor thread;
2. a LocalCluster of one worker process, one thread: the plain loop plus Dask's scheduling and
   pickling (the scheduling overhead; each worker first runs one image outside the timing, as
   the plain loop does, so that the model load and engine build are not counted);
3. a LocalCluster of two worker processes, one thread each (workers x threads = the cores of the
   2-core machine it was written for; ``--workers`` changes it).

Printed per configuration: the cluster's start time (not in the batch time), the batch's wall
time, seconds per image, and the ratio to the plain loop; then the throughput ratio of the widest
cluster to one worker, and the projection for 100,000 images at the measured per-image cost.

    python benchmarks/batch_speed.py [--data DIR/mini-mias] [--images 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from napari_mcdet.infer.batch import expand_inputs, run_batch, run_image
from napari_mcdet.models.checkpoint import file_sha256
from napari_mcdet.models.paths import checkpoint_path

REPO = Path(__file__).resolve().parents[1]


def _run(items, model, settings, *, client=None) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        rows = run_batch(items, out=out, model_path=model, settings=settings, force=True,
                         client=client, progress=False)
        return time.perf_counter() - start, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("MCDET_DATA", REPO.parent / "shared" / "data"))
                        / "mini-mias")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default=None)
    parser.add_argument("--overlay", action="store_true")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    files = sorted(args.data.glob("mdb*.pgm"))[:args.images]
    if len(files) < args.images:
        sys.exit(f"--data {args.data}: {len(files)} mini-MIAS images, {args.images} needed; "
                 "point --data at the mini-mias folder")
    items = expand_inputs(files)
    model = str(checkpoint_path(args.model))
    settings = {"spacing": None, "probabilities": "tiff", "overlay": args.overlay}
    print(f"{len(items)} mini-MIAS images, model {Path(model).name}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} before")

    torch.set_num_threads(1)
    _run(items[:1], model, settings)  # the model load and ONNX export, outside the timings
    results = {}
    elapsed, rows = _run(items, model, settings)
    results["plain loop"] = (0.0, elapsed, rows)
    for n in sorted({1, args.workers}):
        start = time.perf_counter()
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.wait_for_workers(n, timeout=120)
            startup = time.perf_counter() - start
            # every worker loads the model and builds its engine once, outside the timing, as
            # the plain loop did above
            with tempfile.TemporaryDirectory() as warm:
                client.run(run_image, items[0], out=warm, model_path=model,
                           model_sha=file_sha256(model), settings=settings)
            elapsed, rows = _run(items, model, settings, client=client)
        results[f"{n} worker{'s' if n > 1 else ''}"] = (startup, elapsed, rows)

    plain = results["plain loop"][1]
    print(f"{'configuration':<14} {'start s':>8} {'batch s':>8} {'s/image':>8} {'x plain':>8}"
          f"  failed")
    for name, (startup, elapsed, rows) in results.items():
        failed = sum(r["status"] != "ok" for r in rows)
        print(f"{name:<14} {startup:8.1f} {elapsed:8.1f} {elapsed / len(items):8.2f} "
              f"{elapsed / plain:8.2f}  {failed}")
    one = results["1 worker"][1]
    widest = results[f"{args.workers} worker{'s' if args.workers > 1 else ''}"][1]
    print(f"{args.workers} workers vs 1 worker: {one / widest:.2f}x the throughput; "
          f"1 worker vs the plain loop: {100 * (one / plain - 1):+.1f} % time")
    print(f"load average {os.getloadavg()[0]:.1f} after (other processes share the cores)")
    per_image = widest / len(items)
    print(f"100,000 images at {per_image:.2f} s/image ({args.workers} workers): "
          f"{100_000 * per_image / 3600:.1f} h on this machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
