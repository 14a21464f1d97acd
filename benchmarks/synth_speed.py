"""Synthesis speed: lesion patches per second, and the dataset's patches per second.

Run: ``python benchmarks/synth_speed.py [--repeats 5] [--n 100] [--against REV]`` (pins itself to
one core's worth of threads via OMP/MKL thread counts; pin the process too, e.g. ``taskset -c 0``).

Settings, each a malignant cluster of exactly 20 calcifications on a phantom region:

* ``70 um``: a 512 x 512 region at 0.07 mm (the paper's grid), default brightness rule
  (conspicuity-calibrated), the target of >= 200 patches/s on one core;
* ``70 um, contrast rule``: the same with ``conspicuity=None`` (no top-hats);
* ``0.2 mm``: a 256 x 256 region at 0.2 mm (the default training recipe's grid), conspicuity.

Each setting runs ``--n`` lesions (seeds 0..n-1) ``--repeats`` times; the table gives the median
wall-clock and CPU-time rates. ``--against REV`` also times the ``synthesize`` of git revision
REV of this repository (exported to a temporary folder) in the same run, alternating the two,
so both see the same machine load (use a small ``--n``, e.g. 10: before the disk top-hat was
rewritten, one lesion at 70 um took about half a second). Last, ``SyntheticPatchDataset``
items (512 px at 0.07 mm, phantom negatives, augment on, images cached as in a running worker).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from napari_mcdet.data.normalize import normalize_image  # noqa: E402
from napari_mcdet.synth.lesions import synthesize  # noqa: E402
from napari_mcdet.synth.phantom import breast_phantom  # noqa: E402
from napari_mcdet.train.dataset import SyntheticPatchDataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def settings() -> dict[str, tuple[np.ndarray, dict]]:
    """name -> (region, synthesize keywords) for the three timed settings."""
    m = breast_phantom((2048, 1536), pixel_spacing=0.07, seed=0)
    r70 = normalize_image(m.pixels, breast=m.metadata["breast_mask"])[700:1212, 100:612].copy()
    m = breast_phantom((1024, 768), pixel_spacing=0.2, seed=0)
    r20 = normalize_image(m.pixels, breast=m.metadata["breast_mask"])[350:606, 50:306].copy()
    common = dict(kind="malignant", white=1.0, count=(20, 20))
    k70 = dict(pixel_spacing=0.07, centre=(256, 256), breast=np.ones(r70.shape, bool), **common)
    k20 = dict(pixel_spacing=0.2, centre=(128, 128), breast=np.ones(r20.shape, bool), **common)
    return {
        "70 um, 512 px, conspicuity": (r70, k70),
        "70 um, 512 px, contrast rule": (r70, dict(k70, conspicuity=None)),
        "0.2 mm, 256 px, conspicuity": (r20, k20),
    }


def reference_synthesize(rev: str, folder: Path):
    """``synthesize`` of git revision ``rev``, imported as package ``napari_mcdet_ref``."""
    archive = folder / "ref.tar"
    with open(archive, "wb") as f:
        subprocess.run(["git", "-C", str(REPO), "archive", rev, "src/napari_mcdet"], stdout=f,
                       check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    (folder / "src" / "napari_mcdet").rename(folder / "napari_mcdet_ref")
    sys.path.insert(0, str(folder))
    return importlib.import_module("napari_mcdet_ref.synth.lesions").synthesize


def rates(fn, region: np.ndarray, kw: dict, n: int) -> tuple[float, float]:
    """(wall, CPU) lesions per second over seeds 0..n-1."""
    wall, cpu = time.perf_counter(), time.process_time()
    for s in range(n):
        fn(region, seed=s, **kw)
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100, help="lesions per repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--against", metavar="REV", help="also time this git revision's synthesize")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        fns = {"this tree": synthesize}
        if args.against:
            fns[args.against] = reference_synthesize(args.against, Path(tmp))
        print("| setting | code | patches/s (wall, median) | patches/s (CPU, median) |"
              " ms each (CPU) |")
        print("|---|---|---:|---:|---:|")
        for name, (region, kw) in settings().items():
            got: dict[str, list] = {code: [] for code in fns}
            for fn in fns.values():
                fn(region, seed=0, **kw)  # warm caches and imports
            for _ in range(args.repeats):
                for code, fn in fns.items():  # alternate, so both see the same load
                    got[code].append(rates(fn, region, kw, args.n))
            for code, values in got.items():
                wall, cpu = np.median(np.array(values), axis=0)
                print(f"| {name} | {code} | {wall:.1f} | {cpu:.1f} | {1e3 / cpu:.2f} |",
                      flush=True)

    negs = [breast_phantom((2048, 1536), pixel_spacing=0.07, seed=s) for s in range(2)]
    ds = SyntheticPatchDataset(negs, patch_size=512, seed=0, length=3 * args.n + 4,
                              augment=True)
    for k in range(2):
        ds.prepared(k)  # images cached, as in a running DataLoader worker
    ds[0]  # the first item imports torch
    items = 3 * max(1, args.n // 3)
    t = time.perf_counter()
    for i in range(1, items + 1):
        ds[i]
    per_item = (time.perf_counter() - t) / items
    print(f"SyntheticPatchDataset 512 px @70um, augment, balanced: {1 / per_item:.0f} patches/s "
          f"({per_item * 1e3:.2f} ms each, one worker, wall clock)")


if __name__ == "__main__":
    main()
