"""The decoder gate on the dev data: how many tiles holding a calcification it would skip, and
how many tiles it skips in all, per tile size.

Every tile of ``napari_mcdet.detect``'s grid (breast tiles only) goes through the bundled model's
encoder, bottleneck and bottleneck classification head (``MCDetNet.encode``); its gate score is
that head's ``1 - p(soft tissue)``. A tile is positive when it holds a calcification:

- real: the mini-MIAS calcification cases (the mini-MIAS folder, circles as ground
  truth): tiles touching a circle, and (stricter) tiles holding a circle's centre;
- synthetic: held-back normal images (the ``val`` list of ``configs/minimias_split.json``,
  never trained on) with one benign and one malignant lesion each, drawn as training draws them
  (``infer.gate.blend_lesions``, as ``mcdet calibrate --gate`` draws them); tiles holding a
  visible calcification's mask.

Printed per tile size: for each candidate gate, the share of positive tiles skipped (real
touching, real centre, synthetic) and of all tiles skipped, and the projected time of the tile
loop relative to no gate (encoder share of the FLOPs + decoder share x tiles decoded); and the
largest gate that skips at most 1 % of the positive tiles of every set. With ``--store``, that
gate at detection's default tiling, rounded down to 0.001, is written into the model's metadata
(``decoder_gate``, what ``detect(gate='auto')`` uses); re-calibrate afterwards.

    python benchmarks/gate_study.py [--tiles 96/24 256/32] [--normals 16] [--model M --store]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from _common import encoder_flops
from scipy import ndimage as ndi

import napari_mcdet as mc
from napari_mcdet.constants import DEFAULT_TILE, DEFAULT_TILE_OVERLAP
from napari_mcdet.data.prepare import prepare_image
from napari_mcdet.data.tiling import breast_tiles, extract_patch
from napari_mcdet.infer.gate import blend_lesions, gate_from_scores
from napari_mcdet.infer.patches import GATE_KEY, resolve_gate
from napari_mcdet.metrics.realsets import minimias_cases, read_split
from napari_mcdet.models.checkpoint import update_metadata
from napari_mcdet.nn.inference import inference_network

FOLDER = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mini-mias")
SPLIT = Path(__file__).resolve().parents[1] / "configs" / "minimias_split.json"
GATES = [0.05, 0.055, 0.06, 0.065, 0.07, 0.075, 0.08, 0.09, 0.1, 0.2, 0.3, 0.5]


def synthetic_images(folder: str, n: int, spacing: tuple[float, float], seed: int = 0):
    """``(name, image, breast, mask)`` of ``n`` val normals with a benign and a malignant lesion."""
    names = read_split(SPLIT)["val"][:n]
    rng = np.random.default_rng(seed)
    out = []
    for name in names:
        mammo = mc.read_mammogram(Path(folder) / name)
        image, breast, _ = prepare_image(mammo, pixel_spacing=spacing)
        image, mask = blend_lesions(image, breast, pixel_spacing=spacing, rng=rng, per_kind=1)
        out.append((name, image, breast, mask))
    return out


def gate_scores(network, head, image, breast, tile, overlap, batch=8):
    """Per breast tile: origin, the bottleneck head's 1 - p(soft tissue) (the gate), and the
    same head applied to each bottleneck cell instead of their mean, highest cell (a local
    variant, reported for comparison only)."""
    todo = breast_tiles(image.shape, breast, tile, overlap=overlap, min_breast_fraction=0.05)
    origins = [o for o, _ in todo]
    scores, local = [], []
    with torch.inference_mode():
        for s in range(0, len(origins), batch):
            x = np.stack([extract_patch(image, o, tile) for o in origins[s:s + batch]])
            enc = network.encode(torch.from_numpy(x[:, None]))
            scores.append(1 - torch.softmax(enc.class_logits.float(), 1)[:, 0].numpy())
            cells = head(enc.features[4].permute(0, 2, 3, 1).float())  # (B, h, w, K)
            local.append((1 - torch.softmax(cells, -1)[..., 0]).amax((1, 2)).numpy())
    if not scores:
        return origins, np.zeros(0), np.zeros(0)
    return origins, np.concatenate(scores), np.concatenate(local)


def encoder_share(net: torch.nn.Module, tile: int) -> float:
    enc, full = encoder_flops(net, tile)
    return enc / full


def compare_detect(folder: str, engine: str, model) -> None:
    """``detect`` with the model's gate against no gate on the real cases: tiles decoded, and
    candidates and clusters not matched by the ungated run's (within 1 mm and 2 mm)."""
    import time

    sp = model.pixel_spacing[0]
    rows, t_off, t_on = [], 0.0, 0.0
    for name, mammo, _ in minimias_cases(folder):
        t0 = time.perf_counter()
        off = mc.detect(mammo, model, device="cpu", engine=engine, gate=None)
        t1 = time.perf_counter()
        on = mc.detect(mammo, model, device="cpu", engine=engine)
        t_off, t_on = t_off + t1 - t0, t_on + time.perf_counter() - t1
        rows.append((name, off, on))
    print(f"gate {resolve_gate('auto', model)}, engine {rows[0][2].engine}, tile {rows[0][2].tile}/"
          f"{rows[0][2].overlap}; detect wall, gate on / off, summed: {t_on / t_off:.2f}\n")
    print("| case | tiles run | decoded | candidates off / on (on unmatched, off lost) | "
          "clusters off / on (lost) | max abs diff of the maps |\n|---|---|---|---|---|---|")
    for name, off, on in rows:
        def lost(a, b, r):
            if len(a) == 0:
                return 0
            if len(b) == 0:
                return len(a)
            d = np.hypot(*(a[:, None, :2] - b[None, :, :2]).transpose(2, 0, 1))
            return int((d.min(1) > r).sum())
        c_off, c_on = off.calcification_points(), on.calcification_points()
        k_off, k_on = off.cluster_points(), on.cluster_points()
        print(f"| {name} | {on.n_tiles_run} | {on.n_tiles_decoded} | {len(c_off)} / {len(c_on)} "
              f"({lost(c_on, c_off, 1 / sp)}, {lost(c_off, c_on, 1 / sp)}) | {len(k_off)} / "
              f"{len(k_on)} ({lost(k_off, k_on, 2 / sp)}) | "
              f"{np.abs(on.probabilities - off.probabilities).max():.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=FOLDER)
    parser.add_argument("--tiles", nargs="+", default=["96/24", "128/16", "256/16"])
    parser.add_argument("--normals", type=int, default=16, help="val normals with lesions (16)")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--compare-detect", action="store_true",
                        help="only compare detect with the model's gate and without, on the real "
                             "cases (defaults otherwise)")
    parser.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--store", action="store_true",
                        help=f"write the largest safe gate at tile {DEFAULT_TILE}/"
                             f"{DEFAULT_TILE_OVERLAP} into the model's metadata ({GATE_KEY})")
    args = parser.parse_args()
    model = mc.load_model(args.model)
    if args.compare_detect:
        compare_detect(args.folder, args.engine, model)
        return
    default_spec = f"{DEFAULT_TILE}/{DEFAULT_TILE_OVERLAP}"
    if args.store and default_spec not in args.tiles:
        parser.error(f"--store needs detection's default tiling among --tiles: {default_spec}")
    spacing = tuple(float(s) for s in model.pixel_spacing)
    network, engine = inference_network(model.network, engine=args.engine)
    head = model.network.eval().cls_heads[-1]
    real = []
    for name, mammo, labels in minimias_cases(args.folder):
        image, breast, lab = prepare_image(mammo, pixel_spacing=spacing, labels=labels)
        comp, n = ndi.label(lab > 0)
        centres = [tuple(int(v) for v in c) for c in ndi.center_of_mass(lab > 0, comp,
                                                                         range(1, n + 1))]
        real.append((name, image, breast, lab, centres))
    synth = synthetic_images(args.folder, args.normals, spacing)
    print(f"engine {engine}; {len(real)} real cases ({sum(len(r[4]) for r in real)} circles), "
          f"{len(synth)} val normals with 2 synthetic lesions each")
    for spec in args.tiles:
        tile, ov = (int(v) for v in spec.split("/"))
        share = encoder_share(model.network.eval(), tile)
        every, touch, centre, syn = [], [], [], []
        for _, image, breast, lab, centres in real:
            origins, s, loc = gate_scores(network, head, image, breast, tile, ov)
            every.append(np.stack([s, loc], 1))
            for (r, c), v, w in zip(origins, s, loc):
                if lab[max(r, 0):r + tile, max(c, 0):c + tile].any():
                    touch.append((v, w))
                if any(r <= cr < r + tile and c <= cc < c + tile for cr, cc in centres):
                    centre.append((v, w))
        for _, image, breast, mask in synth:
            origins, s, loc = gate_scores(network, head, image, breast, tile, ov)
            every.append(np.stack([s, loc], 1))
            syn += [(v, w) for (r, c), v, w in zip(origins, s, loc)
                    if mask[max(r, 0):r + tile, max(c, 0):c + tile].any()]
        both = np.concatenate(every)
        every, every_local = both[:, 0], both[:, 1]
        pairs = {"real, touching": np.array(touch).reshape(-1, 2),
                 "real, centre": np.array(centre).reshape(-1, 2),
                 "synthetic": np.array(syn).reshape(-1, 2)}
        sets = {k: v[:, 0] for k, v in pairs.items()}
        print(f"\n### tile {tile}, overlap {ov}: {every.size} tiles, positives "
              + ", ".join(f"{k} {v.size}" for k, v in sets.items())
              + f"; encoder + bottleneck head = {share:.1%} of the forward FLOPs")
        print("\n| gate | " + " | ".join(f"{k} skipped" for k in sets)
              + " | all tiles skipped | projected tile-loop time |")
        print("|---|" + "---|" * (len(sets) + 2))
        for g in GATES:
            skipped = (every < g).mean()
            print(f"| {g} | " + " | ".join(f"{(v < g).mean():.1%} ({(v < g).sum()})"
                                           for v in sets.values())
                  + f" | {skipped:.1%} | {share + (1 - share) * (1 - skipped):.2f} |")
        pos = np.concatenate(list(sets.values()))
        # the largest gate keeping every set's misses at or under 1 %
        best = min(float(np.quantile(v, 0.01, method="lower")) for v in sets.values() if v.size)
        print(f"\nlargest gate with <= 1 % of every set skipped: {best:.4f} (positive scores: "
              f"min {pos.min():.4f}, 1st pct {np.quantile(pos, 0.01):.4f}; all tiles: median "
              f"{np.median(every):.4f}); tiles skipped there: {(every < best).mean():.1%}")
        loc_best = min(float(np.quantile(v[:, 1], 0.01, method="lower"))
                       for v in pairs.values() if v.size)
        print(f"local variant (highest bottleneck cell): largest gate with <= 1 % of every set "
              f"skipped {loc_best:.4f}, tiles skipped there {(every_local < loc_best).mean():.1%}")
        if args.store and spec == default_spec:
            # the real and synthetic sets each keep their misses at or under 1 %
            stored = min(gate_from_scores(v, every)["gate"] for v in sets.values() if v.size)
            update_metadata(model.metadata["path"], {GATE_KEY: stored})
            print(f"stored {GATE_KEY}={stored:g} in {model.metadata['path']}; run mcdet "
                  "calibrate again, as the gate changes which tiles are decoded")


if __name__ == "__main__":
    main()
