"""Real mini-MIAS calcifications beside synthetic ones at the same 0.2 mm spacing and window.

Writes ``docs/images/synthesis_real_vs_synthetic.png`` and prints a Markdown table of simple
statistics measured *the same way* on real and synthetic crops (white top-hat spots).

Run: ``python docs/scripts/make_synthesis_figure.py [DATA_DIR]`` (default ``../shared/data``
beside the checkout, or ``$MCDET_DATA``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage import io, morphology

from napari_mcdet.data.breast import breast_mask
from napari_mcdet.synth.lesions import synthesize

REPO = Path(__file__).resolve().parents[2]
SPACING = 0.2  # mini-MIAS, mm/pixel
HALF = 40  # crop half-size, pixels (16 mm crops)
BENIGN = ("mdb212", "mdb218", "mdb222", "mdb226", "mdb236", "mdb248")
MALIGNANT = ("mdb209", "mdb213", "mdb216", "mdb238", "mdb241", "mdb253")
TOPHAT_RADIUS_PX = 6  # 1.2 mm: keeps calcifications up to ~2 mm, removes tissue
SPOT_THRESHOLD = 12.0  # grey levels (8-bit) of the top-hat


def read_info(path: Path) -> dict[str, list[tuple]]:
    """refnum -> [(severity, row, col, radius_px)], rows flipped (row = 1023 - y)."""
    try:
        from napari_mcdet.io.minimias import read_minimias_info

        out: dict[str, list[tuple]] = {}
        for rec in read_minimias_info(path):
            get = rec.get if isinstance(rec, dict) else lambda k, r=rec: getattr(r, k, None)
            if get("abnormality") == "CALC":
                out.setdefault(get("refnum"), []).append(
                    (get("severity"), get("row"), get("col"), get("radius"))
                )
        return out
    except ImportError:
        pass
    out = {}
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].startswith("mdb") and parts[2] == "CALC":
            if len(parts) >= 7 and parts[4].isdigit():
                x, y, r = int(parts[4]), int(parts[5]), int(parts[6])
                out.setdefault(parts[0], []).append((parts[3], 1023 - y, x, r))
            else:
                out.setdefault(parts[0], []).append((parts[3], None, None, None))
    return out


def crop(img: np.ndarray, r: float, c: float) -> np.ndarray:
    r, c = int(round(r)), int(round(c))
    padded = np.pad(img, HALF, mode="constant")
    return padded[r : r + 2 * HALF, c : c + 2 * HALF]


def spots(patch: np.ndarray, radius_px: float) -> dict[str, float]:
    """Top-hat spots within ``radius_px`` of the crop centre: count, size, contrast, density."""
    th = morphology.white_tophat(patch.astype(np.float32), morphology.disk(TOPHAT_RADIUS_PX))
    rr, cc = np.mgrid[: patch.shape[0], : patch.shape[1]]
    inside = np.hypot(rr - HALF, cc - HALF) <= radius_px
    lab, n = ndi.label((th > SPOT_THRESHOLD) & inside)
    if n == 0:
        return {"n": 0, "size_mm": np.nan, "contrast": np.nan, "per_cm2": 0.0}
    idx = np.arange(1, n + 1)
    area = ndi.sum(np.ones_like(th), lab, idx)
    peak = ndi.maximum(th, lab, idx)
    diam = 2 * np.sqrt(area / np.pi) * SPACING
    area_cm2 = np.pi * (radius_px * SPACING / 10) ** 2
    return {"n": n, "size_mm": float(np.median(diam)), "contrast": float(np.median(peak)),
            "per_cm2": n / area_cm2}


def main(data: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mias = data / "mini-mias"
    info = read_info(mias / "Info.txt")
    real = {"benign": [], "malignant": []}
    for kind, refs in (("benign", BENIGN), ("malignant", MALIGNANT)):
        for ref in refs:
            rows = [r for r in info.get(ref, []) if r[1] is not None]
            if not rows or not (mias / f"{ref}.pgm").is_file():
                continue  # mdb216: no coordinates
            sev, r, c, rad = max(rows, key=lambda t: t[3])
            img = io.imread(mias / f"{ref}.pgm")
            real[kind].append((ref, crop(img, r, c), min(rad, HALF)))
    normals = sorted(p for p in mias.glob("mdb*.pgm") if p.stem not in BENIGN + MALIGNANT)[:12]
    synth = {"benign": [], "malignant": []}
    for k, path in enumerate(normals):
        kind = ("benign", "malignant")[k % 2]
        img = io.imread(path).astype(np.float32)
        les = synthesize(img, pixel_spacing=SPACING, kind=kind, seed=k, breast=breast_mask(img))
        r, c = les.centre
        rad = min(les.lesion["extent_mm"] / 2 / SPACING + 3, HALF)
        synth[kind].append((path.stem, crop(np.clip(les.image, 0, 255), r, c), rad))

    ncol = 6
    fig, axes = plt.subplots(4, ncol, figsize=(2 * ncol, 8.6))
    titles = [("real", "benign"), ("synthetic", "benign"), ("real", "malignant"),
              ("synthetic", "malignant")]
    for row, (src, kind) in enumerate(titles):
        items = (real if src == "real" else synth)[kind]
        for j in range(ncol):
            ax = axes[row, j]
            ax.axis("off")
            if j < len(items):
                name, patch, rad = items[j]
                ax.imshow(patch, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
                ax.add_patch(plt.Circle((HALF, HALF), rad, fill=False, color="y", lw=0.6))
                ax.set_title(f"{src} {kind}\n{name}", fontsize=7)
    fig.suptitle("mini-MIAS at 0.2 mm/pixel, 16 mm crops, same window (0-255); yellow: "
                 "Info.txt radius (real) / lesion extent (synthetic)", fontsize=9)
    fig.tight_layout()
    out = REPO / "docs" / "images" / "synthesis_real_vs_synthetic.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")

    print("\n| set | kind | crops | spots per lesion (median) | spot size mm (median) | "
          "top-hat contrast, grey levels (median) | spots per cm^2 (median) |")
    print("|---|---|---|---|---|---|---|")
    for src, table in (("real", real), ("synthetic", synth)):
        for kind in ("benign", "malignant"):
            st = [spots(p, rad) for _, p, rad in table[kind]]
            if not st:
                continue
            med = {k: np.nanmedian([s[k] for s in st]) for k in st[0]}
            print(f"| {src} | {kind} | {len(st)} | {med['n']:.0f} | {med['size_mm']:.2f} | "
                  f"{med['contrast']:.0f} | {med['per_cm2']:.1f} |")


if __name__ == "__main__":
    default = Path(os.environ.get("MCDET_DATA", REPO.parent / "shared" / "data"))
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
