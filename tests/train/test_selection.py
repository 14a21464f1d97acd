"""The selection score over resamples of the real validation images, and its bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcdet.infer.calibrate import ImageMaps, cluster_counts
from napari_mcdet.metrics.froc import froc_from_counts
from napari_mcdet.train.config import TrainConfig
from napari_mcdet.train.loop import Trainer
from napari_mcdet.train.selection import (
    FIGURES,
    RealValidationRecord,
    bootstrap_selection,
    image_stratum,
    selection_figures,
)

SP = (0.2, 0.2)


def _maps(peak, *, lesion=False, centre=(100, 100)):
    """A 200 x 200 image with one three-speck cluster of probability ``peak`` at ``centre``
    and, with ``lesion``, an annotated malignant region around (100, 100)."""
    p = np.zeros((2, 200, 200), np.float32)
    r, c = centre
    for dr, dc in ((0, 0), (10, 12), (-8, 15)):
        p[1, r + dr - 1:r + dr + 2, c + dc - 1:c + dc + 2] = peak
    labels = np.zeros((200, 200), np.uint8)
    if lesion:
        labels[90:125, 95:130] = 2
    return ImageMaps(p, np.ones((200, 200), bool), [], 96, SP, labels)


def _images():
    # two lesions (one found at 0.9, one missed: its cluster lies elsewhere) and two normals
    return [_maps(0.9, lesion=True), _maps(0.7, lesion=True, centre=(30, 30)),
            _maps(0.6), _maps(0.8)]


def test_froc_from_counts_over_a_resample_by_hand():
    # image 0: its lesion found by a 0.9 cluster; image 1: its lesion missed, a 0.7 cluster
    # elsewhere (false); images 2 and 3: normals with a false 0.6 and 0.8 cluster
    counts = cluster_counts(_images())
    assert counts.found.shape == counts.false.shape == (counts.thresholds.size, 4)
    assert counts.regions.tolist() == [1, 1, 0, 0]
    cases = {  # drawn images -> (sensitivity at 0.25, 0.5, 1, 2; false per image, all kept)
        None: ([0.5] * 4, 3 / 4),
        (0, 0, 2, 3): ([1.0] * 4, 2 / 4),  # both lesions are image 0's: found at once
        (1, 1, 2, 2): ([0.0] * 4, 4 / 4),  # both lesions missed
        (0, 1, 3, 3, 3): ([0.5] * 4, 4 / 5),
    }
    for drawn, (sens, false_rate) in cases.items():
        got = froc_from_counts(counts, images=None if drawn is None else np.array(drawn))
        assert got["sensitivity_at"] == sens
        assert got["fp_per_image"][-1] == pytest.approx(false_rate)
        assert got["n_regions"] == 2 and got["n_images"] == (4 if drawn is None else len(drawn))
    with pytest.raises(ValueError, match="no images"):
        froc_from_counts(counts, images=np.array([], int))
    with pytest.raises(ValueError, match="no annotated region"):
        froc_from_counts(counts, images=np.array([2, 3]))


def _record(names, strata, images, labels, probabilities, owners):
    return RealValidationRecord(names=names, strata=np.array(strata),
                                clusters=cluster_counts(images),
                                patch_labels=np.array(labels),
                                patch_probabilities=np.array(probabilities, np.float64),
                                patch_images=np.array(owners))


def _probs(p_malignant):
    return [[1 - p, 0.0, p] for p in p_malignant]


def test_selection_figures_follow_the_images_drawn():
    # image 0 brings a malignant patch that outranks image 2's soft tissue; image 1's
    # malignant patch scores below image 3's soft tissue
    labels = [2, 0, 2, 0, 0]
    owners = [0, 0, 1, 2, 3]
    rec = _record(list("abcd"), [0, 0, 2, 2], _images(), labels,
                  _probs([0.9, 0.1, 0.3, 0.2, 0.5]), owners)
    full = selection_figures(rec)
    # malignant scores {0.9, 0.3} against soft tissue {0.1, 0.2, 0.5}: 5 of 6 pairs
    assert full["real_AUC_mlg"] == pytest.approx(5 / 6)
    assert full["real_cluster_sensitivity@2"] == 0.5
    only_first = selection_figures(rec, np.array([0, 0, 2, 3]))
    # malignant {0.9, 0.9} against {0.1, 0.1, 0.2, 0.5}: all pairs
    assert only_first["real_AUC_mlg"] == 1.0
    assert only_first["real_cluster_sensitivity@2"] == 1.0
    only_second = selection_figures(rec, np.array([1, 1, 2, 3]))
    assert only_second["real_AUC_mlg"] == pytest.approx(2 / 4)  # 0.3 beats 0.2, not 0.5
    assert only_second["real_cluster_sensitivity@2"] == 0.0


def _pair():
    images = [_maps(0.9, lesion=True), _maps(0.8, lesion=True), _maps(0.7, lesion=True),
              _maps(0.6), _maps(0.5), _maps(0.4)]
    labels = [2, 0, 2, 0, 2, 0, 0, 0, 0]
    owners = [0, 0, 1, 1, 2, 2, 3, 4, 5]
    names, strata = list("abcdef"), [0, 0, 0, 2, 2, 2]
    weak = _record(names, strata, images, labels,
                   _probs([0.6, 0.1, 0.2, 0.3, 0.5, 0.7, 0.4, 0.8, 0.1]), owners)
    # the same clusters, and every malignant patch above every other one
    strong = _record(names, strata, images, labels,
                     _probs([0.9, 0.1, 0.95, 0.3, 0.85, 0.7, 0.4, 0.8, 0.1]), owners)
    return weak, strong


def test_the_bootstrap_brackets_the_figures_and_separates_a_better_model():
    weak, strong = _pair()
    res = bootstrap_selection([weak, strong], n_resamples=200, seed=1)
    assert res["names"] == [*FIGURES, "score"]
    assert res["strata"] == {"malignant case": 3, "benign case": 0, "normal": 3}
    assert np.all(res["low"] <= res["value"] + 1e-12)
    assert np.all(res["value"] <= res["high"] + 1e-12)
    assert res["value"][1, 2] == 1.0 and res["value"][0, 2] < 1.0
    # same clusters: the cluster difference is zero in every resample; AUC_mlg never lower
    assert res["difference_low"][1, 0] == res["difference_high"][1, 0] == 0.0
    assert res["difference_low"][1, 2] >= 0.0 and res["difference_high"][1, 2] > 0.0
    assert 0.9 < res["higher"][1] <= 1.0 and res["higher"][0] == 0.0
    again = bootstrap_selection([weak, strong], n_resamples=200, seed=1)
    assert np.array_equal(again["low"], res["low"])


def test_a_model_against_itself_differs_by_nothing():
    weak, _ = _pair()
    res = bootstrap_selection([weak, weak], n_resamples=200, seed=0)
    assert np.all(res["difference_low"] == 0.0) and np.all(res["difference_high"] == 0.0)
    assert res["higher"][1] == 0.0


def test_the_bootstrap_refuses_what_it_cannot_resample():
    weak, strong = _pair()
    lonely = RealValidationRecord(names=weak.names, strata=np.array([0, 0, 0, 0, 0, 2]),
                                  clusters=weak.clusters, patch_labels=weak.patch_labels,
                                  patch_probabilities=weak.patch_probabilities,
                                  patch_images=weak.patch_images)
    with pytest.raises(ValueError, match="at least 2 images"):
        bootstrap_selection([lonely])
    renamed = RealValidationRecord(names=list("uvwxyz"), strata=strong.strata,
                                   clusters=strong.clusters, patch_labels=strong.patch_labels,
                                   patch_probabilities=strong.patch_probabilities,
                                   patch_images=strong.patch_images)
    with pytest.raises(ValueError, match="different images"):
        bootstrap_selection([weak, renamed])


def test_image_strata_come_from_the_ground_truth():
    lab = np.zeros((4, 4), np.uint8)
    assert image_stratum(lab) == 2 and image_stratum(None) == 2
    lab[1, 1] = 1
    assert image_stratum(lab) == 1
    lab[2, 2] = 2
    assert image_stratum(lab) == 0


def test_the_trainers_record_keeps_each_image_with_its_patches(tiny_config, shared_data):
    # 64 px tiles: a quarter of the tiles of the tiny network's 32 px
    cfg = TrainConfig.from_dict({**tiny_config.to_dict(), "patch_size": 64,
                                 "real_val": f"minimias:{shared_data / 'mini-mias'}"})
    trainer = Trainer(cfg)
    record = trainer.real_validation_record()
    n = len(record.names)
    assert record.clusters.found.shape[1] == n == record.strata.size
    assert record.patch_probabilities.shape == (record.patch_labels.size, 3)
    # malignant patches come from malignant cases, benign ones from benign cases
    owners = record.strata[record.patch_images]
    assert set(owners[record.patch_labels == 2].tolist()) == {0}
    assert set(owners[record.patch_labels == 1].tolist()) == {1}
    assert record.clusters.regions[record.strata == 2].sum() == 0
    assert record.clusters.regions[record.strata < 2].min() >= 1
    figures = selection_figures(record)
    assert 0.0 <= figures["real_cluster_sensitivity"] <= 1.0
    assert all(0.0 <= figures[k] <= 1.0 for k in FIGURES)
