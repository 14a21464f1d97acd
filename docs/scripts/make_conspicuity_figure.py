"""Real versus synthetic conspicuity: histograms and a table for docs/synthesis.md.

Real: the visible specks (conspicuity >= the visibility floor) inside the Info.txt circles of the
mini-MIAS calcification cases (development data). Synthetic: every calcification of lesions drawn
with the default presets (log-uniform conspicuity) and with the fine-tuning recipe's
``conspicuity_skew`` 2 into the split's first ``--normals`` training normals, three seeds each.
All measured with :mod:`napari_mcdet.synth.conspicuity` at 0.2 mm.

Usage (from the project root):
    python docs/scripts/make_conspicuity_figure.py MINIMIAS_FOLDER
It writes docs/images/conspicuity_real_vs_synthetic.png and rewrites the table between the
``conspicuity-table`` markers of docs/synthesis.md.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MARK_BEGIN, MARK_END = "<!-- conspicuity-table -->", "<!-- /conspicuity-table -->"


def real_values(folder: Path) -> np.ndarray:
    from skimage.measure import label

    from napari_mcdet.metrics.realsets import minimias_cases
    from napari_mcdet.synth.conspicuity import VISIBILITY_FLOOR, region_specks

    vals = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cases = minimias_cases(folder)
    for _, mammo, labels in cases:
        image = np.asarray(mammo.pixels, np.float32)
        comp = label(labels > 0)
        for k in range(1, comp.max() + 1):
            vals += [s.conspicuity for s in region_specks(
                image, comp == k, pixel_spacing=0.2, min_conspicuity=VISIBILITY_FLOOR)]
    return np.array(vals)


def synthetic_values(folder: Path, normals: list[str], **params
                     ) -> tuple[np.ndarray, np.ndarray]:
    import napari_mcdet as mc

    vals, visible = [], []
    for name in normals:
        image = np.asarray(mc.read_mammogram(folder / name).pixels, np.float32)
        for kind in ("benign", "malignant"):
            for seed in range(3):
                les = mc.synthesize(image, pixel_spacing=0.2, kind=kind, seed=seed, **params)
                vals += [c["conspicuity"] for c in les.calcifications]
                visible += [c["visible"] for c in les.calcifications]
    return np.array(vals), np.array(visible)


def table(sets: dict[str, np.ndarray]) -> str:
    qs = (5, 25, 50, 75, 95)
    rows = ["| calcifications | n | " + " | ".join(f"p{q}" for q in qs) + " |",
            "|---|---:|" + "---:|" * len(qs)]
    for name, v in sets.items():
        rows.append(f"| {name} | {len(v)} | "
                    + " | ".join(f"{p:.2f}" for p in np.percentile(v, qs)) + " |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("minimias", type=Path)
    ap.add_argument("--normals", type=int, default=8)
    args = ap.parse_args()
    split = json.loads((ROOT / "configs" / "minimias_split.json").read_text())
    normals = split["train"][: args.normals]
    sets = {"real (mini-MIAS dev circles, visible specks)": real_values(args.minimias)}
    for name, params in (("synthetic (default presets, log-uniform)", {}),
                         ("synthetic (conspicuity_skew 2, the fine-tuning recipe)",
                          {"conspicuity_skew": 2.0})):
        synth, visible = synthetic_values(args.minimias, normals, **params)
        print(f"{name}: {len(synth)} calcifications ({visible.mean():.1%} visible)")
        sets[name] = synth[visible]
    text = table(sets)
    print(text)

    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.6), dpi=120)
    ax = fig.add_subplot()
    bins = np.geomspace(1.0, 10.0, 25)
    for name, v in sets.items():
        ax.hist(v, bins=bins, density=True, histtype="step", linewidth=1.5,
                label=f"{name}, n={len(v)}")
    ax.set_xscale("log")
    ax.set_xlabel("conspicuity (top-hat peak / local texture p99)")
    ax.set_ylabel("density")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "images" / "conspicuity_real_vs_synthetic.png")

    doc = ROOT / "docs" / "synthesis.md"
    md = doc.read_text()
    if MARK_BEGIN in md and MARK_END in md:
        head, rest = md.split(MARK_BEGIN, 1)
        md = head + MARK_BEGIN + "\n" + text + "\n" + MARK_END + rest.split(MARK_END, 1)[1]
        doc.write_text(md)


if __name__ == "__main__":
    main()
