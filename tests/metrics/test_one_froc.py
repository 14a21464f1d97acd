"""One hand-computed FROC case through every entry point that scores detections.

Three annotated lesions in four images at 0.2 mm, tolerance 2 mm (10 px):

- image 0: lesion A (rows 100-109, cols 40-109) and lesion B (rows 100-109, cols 129-198).
  A cluster at (105, 119), score 0.95, lies 10 px from both: a tie, which goes to A only (the
  first region); a cluster inside B (0.7) finds B; a second cluster inside A (0.65) finds A
  again and counts as nothing.
- image 1: lesion C, never found; two false clusters (0.9, 0.8).
- image 2: a normal image with one false cluster (0.6).
- image 3: a normal image with nothing on it.

By hand, the operating points (threshold: false per image, sensitivity):
0.95: (0, 1/3); 0.9: (0.25, 1/3); 0.8: (0.5, 1/3); 0.7: (0.5, 2/3); 0.6: (0.75, 2/3).
Read at 0.1, 0.4, 0.5 and 1 false cluster per image: 1/3, 1/3, 2/3, 2/3.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcdet.infer.calibrate import ImageMaps, cluster_froc
from napari_mcdet.infer.score import score_image
from napari_mcdet.metrics.froc import froc

SPACING = (0.2, 0.2)
SHAPE = (300, 300)
RATES = (0.1, 0.4, 0.5, 1.0)
EXPECTED = [1 / 3, 1 / 3, 2 / 3, 2 / 3]

# (image, row, col, score) of every cluster
CLUSTERS = [(0, 105, 119, 0.95), (0, 105, 190, 0.7), (0, 105, 45, 0.65),
            (1, 220, 220, 0.9), (1, 40, 220, 0.8), (2, 150, 150, 0.6)]


def _truth() -> list[np.ndarray]:
    images = [np.zeros(SHAPE, np.uint8) for _ in range(4)]
    images[0][100:110, 40:110] = 2  # A
    images[0][100:110, 129:199] = 2  # B
    images[1][200:210, 60:70] = 2  # C
    return images


def _points(image: int) -> np.ndarray:
    return np.array([(r, c, s) for i, r, c, s in CLUSTERS if i == image], float).reshape(-1, 3)


def _maps(image: int, labels: np.ndarray) -> ImageMaps:
    """Probability maps on which each cluster is four specks around its centre, at its score:
    the sweep forms it, centred there, at every threshold below its score."""
    p = np.zeros((2, *SHAPE), np.float32)
    for r, c, s in _points(image):
        r, c = int(r), int(c)
        for dr, dc in ((-6, 0), (6, 0), (0, -6), (0, 6)):
            p[1, r + dr - 1:r + dr + 2, c + dc - 1:c + dc + 2] = s
    return ImageMaps(p, np.ones(SHAPE, bool), [], 96, SPACING, labels)


def test_scored_points_give_the_hand_computed_froc():
    truth = _truth()
    r = froc([_points(i) for i in range(4)], truth, classes=(2,), tolerance=10.0,
             fp_rates=RATES)
    np.testing.assert_allclose(r.sensitivity_at, EXPECTED)
    assert (r.n_regions, r.n_true_positives, r.n_false_positives) == (3, 2, 3)
    np.testing.assert_allclose(r.fp_per_image, [0, 0, 0.25, 0.5, 0.5, 0.5, 0.75])
    np.testing.assert_allclose(r.sensitivity, np.array([0, 1, 1, 1, 2, 2, 2]) / 3)


def test_the_threshold_sweep_gives_the_same_froc():
    truth = _truth()
    sweep = cluster_froc([_maps(i, truth[i]) for i in range(4)], classes=(2,), fp_rates=RATES)
    np.testing.assert_allclose(sweep["sensitivity_at"], EXPECTED)
    assert sweep["n_regions"] == 3 and sweep["n_images"] == 4
    # the whole curve, read where each cluster appears
    points = sorted(set(zip(sweep["fp_per_image"], sweep["sensitivity"])))
    assert points == [(0.0, 0.0), (0.0, 1 / 3), (0.25, 1 / 3), (0.5, 1 / 3), (0.5, 2 / 3),
                      (0.75, 2 / 3)]


def test_one_image_through_the_score_widgets_function_and_the_sweep():
    truth = _truth()[0]
    boxes = np.array([(r - 6, c - 6, r + 7, c + 7, s) for r, c, s in _points(0)], float)
    report = score_image(truth, truth, clusters=boxes, pixel_spacing=SPACING)
    got = report["froc_clusters"]
    sweep = cluster_froc([_maps(0, truth)], classes=(2,), fp_rates=RATES)
    direct = froc([_points(0)], [truth], classes=(2,), tolerance=10.0, fp_rates=RATES)
    # a tie goes to A, B is found by its own cluster: 2 of 2, no false cluster
    assert got["n_true_positives"] == direct.n_true_positives == 2
    assert got["n_false_positives"] == 0 and got["sensitivity_at_fp"]["1"] == 1.0
    assert sweep["sensitivity_at"] == pytest.approx(list(direct.sensitivity_at)) == [1.0] * 4
    assert got["hit_rule"] == sweep["hit_rule"]


def test_the_old_every_region_rule_would_differ():
    # the tie cluster alone: under "every region within the tolerance" it would find both
    truth = _truth()[0]
    r = froc([np.array([[105, 119, 0.95]])], [truth], classes=(2,), tolerance=10.0)
    assert r.n_true_positives == 1 and r.sensitivity[-1] == pytest.approx(0.5)
