"""Synthesis speed: lesion patches per second, and the dataset's patches per second.

Run: ``python benchmarks/synth_speed.py`` (pins itself to one core via OMP/MKL thread counts).
Setting: a 512 x 512 region at 70 um, one malignant cluster of exactly 20 calcifications (target
>= 200 patches/s on one core); then ``SyntheticPatchDataset`` items (512 px, phantom negatives,
augment on), which issue 5 compares with one training step.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from napari_mcdet.data.normalize import normalize_image  # noqa: E402
from napari_mcdet.synth.lesions import synthesize  # noqa: E402
from napari_mcdet.synth.phantom import breast_phantom  # noqa: E402
from napari_mcdet.train.dataset import SyntheticPatchDataset  # noqa: E402


def main(n: int = 200) -> None:
    m = breast_phantom((2048, 1536), pixel_spacing=0.07, seed=0)
    region = normalize_image(m.pixels, breast=m.metadata["breast_mask"])[700:1212, 100:612].copy()
    breast = np.ones(region.shape, bool)
    kw = dict(pixel_spacing=0.07, kind="malignant", centre=(256, 256), breast=breast,
              white=1.0, count=(20, 20))
    synthesize(region, seed=0, **kw)
    t = time.perf_counter()
    for s in range(n):
        synthesize(region, seed=s, **kw)
    per = (time.perf_counter() - t) / n
    print(f"synthesize 512x512 @70um, malignant cluster of 20: {1 / per:.0f} patches/s "
          f"({per * 1e3:.2f} ms each; target >= 200/s)")

    negs = [breast_phantom((2048, 1536), pixel_spacing=0.07, seed=s) for s in range(2)]
    ds = SyntheticPatchDataset(negs, patch_size=512, seed=0, length=3 * n, augment=True)
    for k in range(2):
        ds.prepared(k)  # images cached, as in a running DataLoader worker
    t = time.perf_counter()
    for i in range(3 * (n // 3)):
        ds[i]
    per_item = (time.perf_counter() - t) / (3 * (n // 3))
    print(f"SyntheticPatchDataset 512 px, augment, balanced: {1 / per_item:.0f} patches/s "
          f"({per_item * 1e3:.2f} ms each, one worker)")


if __name__ == "__main__":
    main()
