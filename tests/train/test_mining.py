"""Hard negatives: where the model fires on a normal image, and the patches cut around them."""

from __future__ import annotations

import numpy as np
import pytest

import napari_mcdet as mc
from napari_mcdet.train.dataset import SyntheticPatchDataset
from napari_mcdet.train.mining import mine_hard_negatives, mining_images, response_peaks


def test_response_peaks_are_the_strongest_local_maxima_in_the_breast():
    score = np.zeros((100, 100), np.float32)
    score[20, 20], score[60, 70], score[80, 10] = 0.9, 0.6, 0.99
    breast = np.ones((100, 100), bool)
    breast[75:, :] = False  # the strongest one lies outside the breast
    peaks = response_peaks(score, breast, per_image=5, min_distance=3)
    assert [(r, c) for r, c, _ in peaks] == [(20, 20), (60, 70)]


@pytest.mark.slow
def test_mining_returns_where_the_model_fires_on_a_normal(shared_data):
    normal = shared_data / "mini-mias" / "mdb003.pgm"
    model = mc.load_model()
    ds = SyntheticPatchDataset([normal], patch_size=model.patch_size, pixel_spacing=0.2,
                               source_spacing=0.2)
    mined = mine_hard_negatives(model.network, ds, [0], tile=model.patch_size, per_image=4)
    assert len(mined) == 4
    # detection on mining's own tiling (the training tile, a quarter overlap, every tile decoded)
    det = mc.detect(mc.read_mammogram(normal), model, threshold=0.5, tile=model.patch_size,
                    overlap=0.25, engine="eager", gate=None)
    score = det.probabilities.max(0)
    inside = score[det.probabilities.max(0) > 0]
    for k, r, c, s in mined:
        assert k == 0
        assert s == pytest.approx(float(score[r, c]), abs=2e-3)
        assert s >= np.percentile(inside, 99)


def test_hard_negative_and_edge_patches(shared_data):
    normal = shared_data / "mini-mias" / "mdb003.pgm"
    ds = SyntheticPatchDataset([normal], patch_size=64, pixel_spacing=0.2, source_spacing=0.2,
                               hard_negative_fraction=0.5, edge_fraction=0.5, seed=3,
                               length=300)
    ds.hard_negatives = [(0, 500, 400, 0.9)]
    kinds = {"hard": 0, "edge": 0}
    for i in range(0, 300, 3):  # soft-tissue items
        s = ds.sample(i)
        assert s["label"] == 0 and not s["mask"].any()
        if "hard_negative" in s["info"]:
            kinds["hard"] += 1
            r0, c0 = s["origin"]
            assert r0 <= 500 < r0 + 64 and c0 <= 400 < c0 + 64
        if "edge" in s["info"]:
            kinds["edge"] += 1
            r, c = s["info"]["edge"]
            r0, c0 = s["origin"]
            assert r0 <= r < r0 + 64 and c0 <= c < c0 + 64
    assert kinds["hard"] > 25 and kinds["edge"] > 25
    again = SyntheticPatchDataset([normal], patch_size=64, pixel_spacing=0.2,
                                  source_spacing=0.2, hard_negative_fraction=0.5,
                                  edge_fraction=0.5, seed=3, length=300)
    again.hard_negatives = [(0, 500, 400, 0.9)]
    assert np.array_equal(again.sample(9)["image"], ds.sample(9)["image"])


def test_every_normal_is_mined_in_turn():
    seen = set()
    for k in range(5):
        seen.update(mining_images(20, k, 4, seed=0))
    assert seen == set(range(20))
    assert mining_images(20, 2, 4, seed=0) == mining_images(20, 2, 4, seed=0)
