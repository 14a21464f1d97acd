"""FROC on a hand-made set with sensitivities computed by hand; hit rule; image-level AUC."""

import numpy as np
import pytest

from napari_mcdet.metrics import UndefinedMetricWarning, froc, sensitivity_at_fp


def _set():
    a = np.zeros((50, 50), np.uint8)
    a[10:15, 10:15] = 2  # region A1
    a[30:33, 30:33] = 1  # region A2
    b = np.zeros((50, 50), np.uint8)
    b[20:25, 20:25] = 2  # region B1, never found
    c = np.zeros((50, 50), np.uint8)  # normal image
    dets = [
        np.array([[12, 12, 0.9], [12, 13, 0.8], [40, 5, 0.7], [31, 31, 0.65]]),
        np.array([[0, 0, 0.6], [45, 45, 0.2]]),
        np.array([[10, 10, 0.5]]),
    ]
    return dets, [a, b, c]


def test_froc_curve_by_hand():
    dets, gts = _set()
    r = froc(dets, gts)
    # threshold: inf  .9   .8   .7   .65  .6   .5   .2
    # FPs:        0    0    0    1    1    2    3    4   (0.8 is a second hit on A1: not an FP)
    # found:      0    1    1    1    2    2    2    2   (of 3 regions)
    np.testing.assert_allclose(r.thresholds[1:], [0.9, 0.8, 0.7, 0.65, 0.6, 0.5, 0.2])
    np.testing.assert_allclose(r.fp_per_image, np.array([0, 0, 0, 1, 1, 2, 3, 4]) / 3)
    np.testing.assert_allclose(r.sensitivity, np.array([0, 1, 1, 1, 2, 2, 2, 2]) / 3)
    # at 0.25 FP/image the best point at or under it is (0, 1/3); (1/3, 2/3) only from 0.5 on
    np.testing.assert_allclose(r.sensitivity_at, [1 / 3, 2 / 3, 2 / 3, 2 / 3])
    assert (r.n_images, r.n_regions, r.n_detections) == (3, 3, 7)
    assert (r.n_true_positives, r.n_false_positives) == (2, 4)
    assert r.mean_sensitivity == pytest.approx((1 / 3 + 3 * 2 / 3) / 4)
    # image scores 0.9 (pos), 0.6 (pos), 0.5 (neg)
    assert r.image_auc == 1.0


def test_dict_detections_equal_arrays():
    dets, gts = _set()
    as_dicts = [[{"centroid": (d[0], d[1]), "score": d[2]} for d in det] for det in dets]
    a, b = froc(dets, gts), froc(as_dicts, gts)
    np.testing.assert_allclose(a.sensitivity, b.sensitivity)
    np.testing.assert_allclose(a.fp_per_image, b.fp_per_image)


def test_region_masks_equal_labels_image():
    dets, gts = _set()
    from skimage.measure import label

    masks = [[lab == i for i in range(1, lab.max() + 1)] for lab in (label(g > 0) for g in gts)]
    a, b = froc(dets, gts), froc(dets, masks)
    np.testing.assert_allclose(a.sensitivity, b.sensitivity)
    assert b.n_regions == 3


def test_classes_select_regions():
    dets, gts = _set()
    r = froc(dets, gts, classes=(2,))
    # A2 (benign) is no region now: the 0.65 hit on it becomes a false positive
    assert r.n_regions == 2
    assert r.n_false_positives == 5
    np.testing.assert_allclose(r.sensitivity[-1], 1 / 2)


@pytest.mark.filterwarnings("ignore:image-level AUC is undefined")
def test_tolerance_in_pixels():
    gt = np.zeros((20, 20), np.uint8)
    gt[10, 10] = 1
    det = [np.array([[12.0, 10.0, 0.7]])]
    assert froc(det, [gt]).n_false_positives == 1
    assert froc(det, [gt], tolerance=1.9).n_false_positives == 1
    r = froc(det, [gt], tolerance=2)
    assert r.n_false_positives == 0 and r.sensitivity[-1] == 1.0
    # rounding: 10.4 falls in pixel 10
    assert froc([np.array([[10.4, 9.6, 0.5]])], [gt]).n_true_positives == 1


@pytest.mark.filterwarnings("ignore:image-level AUC is undefined")
def test_boxes_hit_by_their_centre_only():
    gt = np.zeros((20, 20), np.uint8)
    gt[10, 10] = 2
    overlapping = np.array([[5, 5, 11, 11, 0.9]])  # holds the region, centre (7.5, 7.5)
    centred = np.array([[8, 8, 13, 13, 0.9]])      # centre (10, 10)
    assert froc([overlapping], [gt]).n_false_positives == 1
    assert froc([centred], [gt]).n_true_positives == 1
    assert froc([overlapping], [gt], tolerance=4).n_true_positives == 1
    assert froc([[{"bbox": (9, 9, 12, 12), "score": 0.3}]], [gt]).n_true_positives == 1


def test_tolerance_per_image():
    gt = np.zeros((20, 20), np.uint8)
    gt[10, 10] = 2
    pts = np.array([[10, 14, 0.5]])
    r = froc([pts, pts], [gt, gt], tolerance=[5.0, 1.0])
    assert r.n_true_positives == 1 and r.n_false_positives == 1


def test_image_level_auc_by_hand():
    pos = np.zeros((10, 10), np.uint8)
    pos[5, 5] = 2
    neg = np.zeros((10, 10), np.uint8)
    dets = [np.array([[0, 0, 0.3]]), np.array([[0, 0, 0.8]]), np.array([[0, 0, 0.5]]), None]
    r = froc(dets, [pos, pos, neg, neg])
    # positives 0.3, 0.8; negatives 0.5, 0 (no detection): 0.3 > 0, 0.8 > both -> 3/4
    assert r.image_auc == pytest.approx(3 / 4)


def test_step_reading():
    f = [0, 0, 0.5, 0.5, 1.5]
    s = [0, 0.2, 0.2, 0.6, 0.8]
    # best point at or under each rate: .25 -> (0, .2), 1 -> (.5, .6), 2 -> (1.5, .8)
    np.testing.assert_allclose(sensitivity_at_fp(f, s, [0.25, 0.5, 1, 2]), [0.2, 0.6, 0.6, 0.8])
    # no point at or under the rate: nothing is found there
    np.testing.assert_allclose(sensitivity_at_fp([0.5, 1.0], [0.5, 1.0], [0.25]), [0.0])


def test_no_regions_warns():
    with pytest.warns(UndefinedMetricWarning):
        r = froc([np.array([[1, 1, 0.5]])], [np.zeros((5, 5), np.uint8)])
    assert np.all(np.isnan(r.sensitivity_at))


def test_bad_input():
    with pytest.raises(ValueError, match="one of each per image"):
        froc([None], [])
    with pytest.raises(ValueError, match="shape"):
        froc([np.zeros((2, 4))], [np.zeros((5, 5))])
    with pytest.raises(ValueError, match="centroid"):
        froc([[{"score": 1.0}]], [np.zeros((5, 5))])


def test_one_image_match_counts_each_region_once():
    from napari_mcdet.metrics.froc import _match_image

    gt = np.zeros((30, 30), np.uint8)
    gt[10, 10] = 1  # region 0
    gt[10, 14] = 2  # region 1, 4 px to the right
    dets = np.array([
        [10, 12, 0.4],  # 2 px from both regions: a tie, goes to the first (region 0) only
        [10, 10, 0.7],  # on region 0, the best score there
        [10, 14, 0.3],  # on region 1: finds it
        [10, 13, 0.35],  # 1 px from region 1, 3 from region 0: the nearest, region 1
        [25, 25, 0.9],  # nothing near: a false positive
    ])
    m = _match_image(dets, gt, classes=(1, 2), tolerance=2.0)
    np.testing.assert_array_equal(m.false_positive, [False, False, False, False, True])
    np.testing.assert_array_equal(m.region_best, [0.7, 0.35])
    # in score order: 0.9 (FP), 0.7 finds region 0, 0.4 region 0 again, 0.35 finds region 1
    assert m.new_regions == 2


def test_curve_operating_points_by_hand():
    from napari_mcdet.metrics.froc import _curve

    scores = np.array([0.9, 0.5, 0.5, 0.2])
    fp = np.array([False, True, False, True])
    region_best = np.array([0.9, 0.5, -np.inf])
    t, f, s = _curve(scores, fp, region_best, n_images=2)
    np.testing.assert_array_equal(t, [np.inf, 0.9, 0.5, 0.2])
    np.testing.assert_allclose(f, [0, 0, 0.5, 1.0])
    np.testing.assert_allclose(s, [0, 1 / 3, 2 / 3, 2 / 3])
    _, _, empty = _curve(scores, fp, np.zeros(0), n_images=2)
    assert np.all(np.isnan(empty))
