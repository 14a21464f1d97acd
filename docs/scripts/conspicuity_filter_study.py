"""Would dropping candidates that a reader could not see help detection? (docs/results.md)

A study, not a feature: every calcification candidate whose image conspicuity (the synthesis
measure of :mod:`napari_mcdet.synth.conspicuity`: the white top-hat's peak within a pixel of the
candidate over the 99th percentile of the top-hat in the 12 mm window around it) is below
``VISIBILITY_FLOOR`` (1.2, the floor below which synthesis does not label a calcification) is
dropped before clustering. Both settings are calibrated on the split's 33 ``val`` normals (0.5
false clusters per image, as ``mcdet calibrate``) and scored on the mini-MIAS development data:
the strict-rule cluster FROC, lesions found at the operating point, the median normal image, and
the calcification FROC and image AUC (calcification scores weighed by the tile heads, as
``detect`` does). Prints one JSON line per setting.

Usage (from the project root):
    python docs/scripts/conspicuity_filter_study.py MINIMIAS_FOLDER [--model CKPT]
"""

from __future__ import annotations

import json

import numpy as np


def conspicuity_at(tophat: np.ndarray, point, *, half: int, floor: float) -> float:
    """The top-hat's peak within a pixel of ``point`` over its 99th percentile in the window
    of half-side ``half`` px around it (the 9 x 9 px around the point left out)."""
    from napari_mcdet.synth.conspicuity import texture_level

    r, c = (int(round(v)) for v in point)
    r0, c0 = max(0, r - half), max(0, c - half)
    crop = tophat[r0:r + half + 1, c0:c + half + 1]
    rim = np.zeros(crop.shape, bool)
    rim[max(0, r - r0 - 4):r - r0 + 5, max(0, c - c0 - 4):c - c0 + 5] = True
    peak = tophat[max(0, r - 1):r + 2, max(0, c - 1):c + 2].max()
    return float(peak / texture_level(crop, rim, floor=floor))


def main() -> None:
    # the folder of this script: the same dev images, maps and counts
    from dev_detection_figures import compare_setting, dev_maps

    from napari_mcdet.infer.candidates import find_candidates, group_clusters, weigh_by_tiles
    from napari_mcdet.synth.conspicuity import (
        MIN_TEXTURE_FRACTION,
        VISIBILITY_FLOOR,
        WINDOW_MM,
        disk_radius_px,
        white_tophat,
    )

    model, images, maps = dev_maps(__doc__.splitlines()[0])
    sp = tuple(float(s) for s in model.pixel_spacing)
    tophats = [white_tophat(np.asarray(im.image, np.float32), disk_radius_px(sp[0]))
               for im in images]
    floors = [MIN_TEXTURE_FRACTION * (float(np.ptp(im.image)) or 1.0) for im in images]
    half = int(np.ceil(WINDOW_MM / 2 / sp[0]))
    seen: dict[tuple[int, int, int], float] = {}

    def visible(i: int, point) -> bool:
        key = (i, *(int(round(v)) for v in point))
        if key not in seen:
            seen[key] = conspicuity_at(tophats[i], point, half=half, floor=floors[i])
        return seen[key] >= VISIBILITY_FLOOR

    def detect_at(i: int, t: float, drop_invisible: bool):
        m = maps[i]
        if float(m.probabilities.max()) <= t:
            return [], []
        calcs, _ = find_candidates(m.probabilities, m.breast, {"benign": t, "malignant": t},
                                   pixel_spacing=sp)
        if drop_invisible:
            calcs = [c for c in calcs if visible(i, c["centroid"])]
        calcs = weigh_by_tiles(calcs, tiles=m.tiles, tile=m.tile)
        return calcs, group_clusters(calcs, pixel_spacing=sp, tiles=m.tiles, tile=m.tile)

    for drop in (False, True):
        print(json.dumps({"drop_below_visibility_floor": drop,
                          **compare_setting(maps, lambda i, t, d=drop: detect_at(i, t, d))}),
              flush=True)


if __name__ == "__main__":
    main()
