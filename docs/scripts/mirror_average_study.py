"""Would averaging each tile with its left-right mirror help detection? (docs/results.md)

A study of ``detect(mirror=True)``: every tile also runs mirrored, and the two views' maps
(mirrored back) and class probabilities are averaged, the decoder gate deciding on the mean of
both views' scores. Both settings are calibrated on the split's 33 ``val`` normals (0.5 false
clusters per image, as ``mcdet calibrate``) and scored on the mini-MIAS development data: the
strict-rule cluster FROC, lesions found at the operating point, the median normal image, and
the calcification FROC and image AUC (calcification scores weighed by the tile heads, as
``detect`` does), and the time the network took over the dev images. Prints one JSON line per
setting.

Usage (from the project root):
    python docs/scripts/mirror_average_study.py MINIMIAS_FOLDER [--model CKPT]
"""

from __future__ import annotations

import json
import time


def detector(maps, spacing):
    """``detect_at(i, threshold)`` for :func:`dev_detection_figures.compare_setting`: the
    candidates and clusters of ``maps[i]``, as ``detect`` forms them."""
    from napari_mcdet.infer.calibrate import clusters_at

    def detect_at(i: int, t: float):
        m = maps[i]
        if float(m.probabilities.max()) <= t:
            return [], []
        return clusters_at(m, t)

    return detect_at


def main() -> None:
    import torch

    # the folder of this script: the same dev images and maps
    from dev_detection_figures import compare_setting, dev_maps

    from napari_mcdet.infer.steps import detection_runner, image_maps

    start = time.perf_counter()
    model, images, plain = dev_maps(__doc__.splitlines()[0])
    seconds = {False: time.perf_counter() - start}
    spacing = tuple(float(s) for s in model.pixel_spacing)
    net, run = detection_runner(model, device=torch.device("cpu"))
    run.pop("engine")
    start = time.perf_counter()
    mirrored = [image_maps(net, im.image, im.breast, pixel_spacing=spacing, labels=im.labels,
                           name=im.name, mirror=True, **run) for im in images]
    seconds[True] = time.perf_counter() - start
    for mirror, maps in ((False, plain), (True, mirrored)):
        print(json.dumps({"mirror": mirror, "seconds_with_reading": round(seconds[mirror], 1),
                          **compare_setting(maps, detector(maps, spacing))}), flush=True)


if __name__ == "__main__":
    main()
