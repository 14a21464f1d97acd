"""Inference tile size and overlap: speed and agreement with the training tile, in one run.

The bundled model over mini-MIAS calcification cases (the mini-MIAS folder, at the model's
own 0.2 mm grid) with ``napari_mcdet.detect`` (no decoder gate, one engine), for several tile
sides and overlaps against the reference, the training patch (96 px) with 25 % overlap:

- time of ``detect``'s tile loop summed over the images, and its ratio to the reference's (each
  configuration runs once per image, in turn, so the machine's load is shared alike), and the
  pixels computed per breast pixel (tiles run x tile area / breast area: tile size sets how
  much overlap and background is recomputed);
- maximum, 99.9th percentile and mean absolute difference of the blended probability maps (both
  channels, breast pixels at least 3 mm inside the skin line, where candidates may lie) from the
  reference's; the mean inside the configuration's overlap bands (where tiles are blended: seams
  show there) and away from them;
- calcification candidates and clusters at the model's calibrated operating point: counts, and
  how many are not matched by the reference's (candidates within 1 mm, clusters within 2 mm).

    python benchmarks/tile_size.py [--images mdb209 mdb238 mdb253] [--engine auto]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

import napari_mcdet as mc
from napari_mcdet.constants import DEFAULT_SKIN_MARGIN_MM
from napari_mcdet.data.prepare import prepare_image
from napari_mcdet.data.tiling import tile_grid
from napari_mcdet.metrics.realsets import minimias_cases

FOLDER = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mini-mias")
REFERENCE = (96, 24)
#: (tile, overlap, shift): ``shift`` pixels of background added above and left of the image move
#: the tile grid over the breast; the training tile shifted by half a stride measures how much the
#: maps depend on where the grid falls at all (the floor for every other row)
CONFIGS = [(*REFERENCE, 0), (*REFERENCE, 36), (96, 16, 0), (128, 16, 0), (160, 16, 0),
           (192, 16, 0), (256, 16, 0), (256, 32, 0), (384, 48, 0)]


def band_mask(shape: tuple[int, int], tile: int, overlap: int) -> np.ndarray:
    """Pixels covered by more than one tile of the grid (where the blend window ramps)."""
    count = np.zeros(shape, np.int16)
    for r, c in tile_grid(shape, tile, overlap=overlap):
        count[r:r + tile, c:c + tile] += 1
    return count > 1


def unmatched(points: np.ndarray, ref: np.ndarray, radius_px: float) -> int:
    """Points with no reference point within ``radius_px``."""
    if len(points) == 0:
        return 0
    if len(ref) == 0:
        return len(points)
    d = np.hypot(*(points[:, None, :2] - ref[None, :, :2]).transpose(2, 0, 1))
    return int((d.min(axis=1) > radius_px).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=FOLDER)
    parser.add_argument("--images", nargs="+", default=["mdb209", "mdb238", "mdb253"])
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="tiles per batch at 96 px (fewer for larger tiles: same pixels)")
    parser.add_argument("--configs", nargs="+", default=None,
                        help="tile/overlap/shift triples (default: the table's rows)")
    args = parser.parse_args()
    configs = CONFIGS if args.configs is None else [
        tuple(int(v) for v in c.split("/")) for c in args.configs]
    if configs[0] != (*REFERENCE, 0):
        configs = [(*REFERENCE, 0), *configs]
    model = mc.load_model()
    cases = [c for c in minimias_cases(args.folder) if c[0] in args.images]
    spacing = model.pixel_spacing[0]
    breasts = [prepare_image(m, pixel_spacing=model.pixel_spacing)[1] for _, m, _ in cases]
    inner = [ndi.distance_transform_edt(b) * spacing >= DEFAULT_SKIN_MARGIN_MM for b in breasts]
    wall: dict[tuple[int, int, int], list[float]] = {c: [] for c in configs}
    dets: dict[tuple[int, int, int], list] = {c: [] for c in configs}
    mc.detect(cases[0][1], model, device="cpu", engine=args.engine, gate=None, tile=96,
              overlap=16)  # warm-up: the engine's export and first-call costs
    for name, mammo, _ in cases:
        for tile, ov, shift in configs:
            stamps: list[float] = []
            pixels = np.pad(mammo.pixels, ((shift, 0), (shift, 0)), mode="edge") if shift else (
                mammo.pixels)
            det = mc.detect(pixels, model, pixel_spacing=mammo.pixel_spacing, device="cpu",
                            engine=args.engine, gate=None, tile=tile, overlap=ov,
                            batch_size=max(1, args.batch_size * 96**2 // tile**2),
                            progress=lambda d, t, s=stamps: s.append(time.perf_counter()))
            if shift:
                det.probabilities = det.probabilities[:, shift:, shift:]
                for c in (*det.calcifications, *det.clusters):
                    c["centroid"] = (c["centroid"][0] - shift, c["centroid"][1] - shift)
            wall[(tile, ov, shift)].append(stamps[-1] - stamps[0])
            dets[(tile, ov, shift)].append(det)
            print(f"{name} {tile}/{ov}+{shift}: tile loop {stamps[-1] - stamps[0]:.1f} s, "
                  f"{det.n_tiles_run} tiles", flush=True)
    print(f"\nengine {dets[(*REFERENCE, 0)][0].engine}; images {', '.join(c[0] for c in cases)} "
          f"({cases[0][1].shape[0]} x {cases[0][1].shape[1]} at {spacing} mm)")
    print("\n| tile / overlap px | tile-loop time ratio to 96/24 | px computed / breast px | "
          "max abs diff | 99.9th pct | mean abs diff | mean in overlap bands / elsewhere | "
          "candidates (unmatched) | clusters (unmatched) |\n|---|---|---|---|---|---|---|---|---|")
    ref_key = (*REFERENCE, 0)
    ref_wall = sum(wall[ref_key])
    for tile, ov, shift in configs:
        diffs, band, away, px, breast_px = [], [], [], 0, 0
        n_c = n_c_un = n_k = n_k_un = 0
        for det, ref, breast, deep in zip(dets[(tile, ov, shift)], dets[ref_key], breasts, inner):
            # the images are at the model's grid, so the maps are the network's; pixels that
            # only one configuration's tiles cover (a tile with < 5 % breast) are left out
            covered = deep & (ref.probabilities.sum(0) > 0) & (det.probabilities.sum(0) > 0)
            d = np.abs(det.probabilities - ref.probabilities)[:, covered]
            diffs.append(d.ravel())
            bands = band_mask(breast.shape, tile, ov) if not shift else np.zeros_like(breast)
            band.append(np.abs(det.probabilities - ref.probabilities)[:, covered & bands].ravel())
            away.append(np.abs(det.probabilities - ref.probabilities)[:, covered & ~bands].ravel())
            px += det.n_tiles_run * tile * tile
            breast_px += int(breast.sum())
            n_c += len(det.calcifications)
            n_c_un += unmatched(det.calcification_points(), ref.calcification_points(), 1 / spacing)
            n_k += len(det.clusters)
            n_k_un += unmatched(det.cluster_points(), ref.cluster_points(), 2 / spacing)
        d = np.concatenate(diffs)
        b, i = np.concatenate(band), np.concatenate(away)
        seam = f"{b.mean():.1e} / {i.mean():.1e}" if b.size and i.size else "-"
        name = f"{tile} / {ov}" + (f", grid shifted {shift} px" if shift else "")
        print(f"| {name} | {sum(wall[(tile, ov, shift)]) / ref_wall:.2f} | "
              f"{px / breast_px:.2f} | {d.max(initial=0):.3f} | {np.quantile(d, 0.999):.3f} | "
              f"{d.mean():.1e} | {seam} | {n_c} ({n_c_un}) | {n_k} ({n_k_un}) |")


if __name__ == "__main__":
    main()
