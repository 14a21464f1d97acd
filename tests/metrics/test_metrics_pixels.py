"""Pixel metrics on tiny hand-computed arrays, the 10 x 10 benign dilation, Li binarisation."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from napari_mcdet.metrics import (
    PixelCounts,
    binarize,
    dilate_benign,
    pixel_counts,
    pixel_metrics,
)


def test_malignant_counts_by_hand():
    gt = np.zeros((4, 5), np.uint8)
    gt[1:3, 1:4] = 2  # 6 malignant pixels
    pred = np.zeros_like(gt)
    pred[2, 2:5] = 2  # 3 predicted: (2,2), (2,3) inside, (2,4) outside
    pred[0, 0] = 2  # one more outside
    k = pixel_counts(pred, gt)[2]
    assert (k.tp, k.fp, k.fn) == (2, 2, 4)
    assert k.recall == pytest.approx(2 / 6)
    assert k.precision == pytest.approx(2 / 4)
    r, p = 2 / 6, 2 / 4
    assert k.dice == pytest.approx(2 * r * p / (r + p))  # the paper's formula
    assert k.dice == pytest.approx(4 / 10)


def test_against_sklearn(rng):
    gt = rng.choice([0, 1, 2], size=(30, 30), p=[0.8, 0.1, 0.1]).astype(np.uint8)
    pred = np.where(rng.random((30, 30)) < 0.7, gt, rng.integers(0, 3, (30, 30))).astype(np.uint8)
    k = pixel_counts(pred, gt, benign_dilation=0)
    for c in (1, 2):
        t, q = (gt == c).ravel(), (pred == c).ravel()
        assert k[c].recall == pytest.approx(recall_score(t, q))
        assert k[c].precision == pytest.approx(precision_score(t, q))
        assert k[c].dice == pytest.approx(f1_score(t, q))


def test_single_pixel_benign_is_dilated_to_a_10x10_square():
    gt = np.zeros((40, 40), np.uint8)
    gt[20, 20] = 1
    d = dilate_benign(gt == 1)
    rows, cols = np.nonzero(d)
    assert d.sum() == 100
    assert rows.max() - rows.min() == 9 and cols.max() - cols.min() == 9
    assert d[20, 20]
    assert rows.min() in (15, 16) and cols.min() in (15, 16)  # centred (even size: off by one)


def test_dilation_changes_benign_metrics():
    gt = np.zeros((40, 40), np.uint8)
    gt[20, 20] = 1
    pred = np.zeros_like(gt)
    pred[23, 22] = 1  # 3 rows, 2 cols from the mark: inside the 10 x 10 square either way
    with_d = pixel_counts(pred, gt)[1]
    assert (with_d.tp, with_d.fp, with_d.fn) == (1, 0, 99)
    without = pixel_counts(pred, gt, benign_dilation=0)[1]
    assert (without.tp, without.fp, without.fn) == (0, 1, 1)
    assert without.dice == 0.0


def test_malignant_ground_truth_is_not_dilated():
    gt = np.zeros((40, 40), np.uint8)
    gt[20, 20] = 2
    pred = np.zeros_like(gt)
    pred[23, 22] = 2
    k = pixel_counts(pred, gt)[2]
    assert (k.tp, k.fp, k.fn) == (0, 1, 1)


def test_mask_prediction_may_overlap():
    gt = np.zeros((3, 3), np.uint8)
    gt[1, 1] = 2
    masks = np.zeros((2, 3, 3), bool)
    masks[:, 1, 1] = True  # a pixel called both benign and malignant
    k = pixel_counts(masks, gt, benign_dilation=0)
    assert (k[2].tp, k[2].fp, k[2].fn) == (1, 0, 0)
    assert (k[1].tp, k[1].fp, k[1].fn) == (0, 1, 0)
    with pytest.raises(TypeError, match="binarize"):
        pixel_counts(masks.astype(float), gt)


def test_dataset_counts_are_pooled():
    gt1 = np.zeros((4, 4), np.uint8)
    gt1[0, :] = 2  # 4 pixels, all predicted
    gt2 = np.zeros((4, 4), np.uint8)
    gt2[:2, :2] = 2  # 4 pixels, none predicted; 2 false positives
    p2 = np.zeros_like(gt2)
    p2[3, 2:] = 2
    m = pixel_metrics([gt1.copy(), p2], [gt1, gt2])
    pooled = m.pooled[2]
    assert (pooled.tp, pooled.fp, pooled.fn) == (4, 2, 4)
    s = m.summary()
    assert s["Rec_M"] == pytest.approx(4 / 8)
    assert s["Prec_M"] == pytest.approx(4 / 6)
    assert s["DSC_M"] == pytest.approx(8 / 14)
    # per-image mean differs from the pooled value: recall 1 and 0 -> 0.5, precision 1 and 0 -> 0.5
    mean = m.mean_per_image()
    assert mean["Prec_M"] == pytest.approx(0.5)
    assert mean["DSC_M"] == pytest.approx(0.5)
    assert np.isnan(s["Rec_B"])  # no benign ground truth anywhere


def test_counts_add_and_empty_ratios_are_nan():
    assert PixelCounts(1, 2, 3) + PixelCounts(4, 5, 6) == PixelCounts(5, 7, 9)
    e = PixelCounts()
    assert np.isnan(e.recall) and np.isnan(e.precision) and np.isnan(e.dice)


def test_binarize_li_separates_two_levels():
    p = np.full((20, 20), 0.05, np.float32)
    p[5:9, 5:9] = 0.9
    m = binarize(p, method="li")
    assert np.array_equal(m, p > 0.5)


def test_binarize_fixed_threshold_is_strict_and_per_channel():
    p = np.array([[[0.2, 0.5, 0.7]], [[0.9, 0.1, 0.5]]])
    m = binarize(p, method=0.5)
    assert m.tolist() == [[[False, False, True]], [[True, False, False]]]
    assert not binarize(np.full((4, 4), 0.3)).any()  # constant map -> nothing


def test_binarize_rejects_bad_method():
    with pytest.raises(ValueError, match="li"):
        binarize(np.zeros((2, 2)), method="otsu")
    with pytest.raises(ValueError, match="shape"):
        binarize(np.zeros(4))


@pytest.mark.parametrize("size", [2, 3, 10, 11])
def test_dilation_matches_scipy_binary_dilation(size, rng):
    from scipy.ndimage import binary_dilation

    m = rng.random((60, 70)) < 0.01
    m[0, 0] = m[-1, -1] = m[0, -1] = True  # corners: clipping at the border
    ref = binary_dilation(m, structure=np.ones((size, size), bool))
    np.testing.assert_array_equal(dilate_benign(m, size=size), ref)
