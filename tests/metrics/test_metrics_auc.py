"""Patch AUCs against hand-computed values and scikit-learn / scipy."""

import numpy as np
import pytest
from scipy.stats import mannwhitneyu
from sklearn.metrics import roc_auc_score

from napari_mcdet.metrics import UndefinedMetricWarning, auc_mcs, auc_mlg, patch_aucs, patch_roc

# six patches: class codes and (p_benign, p_malignant)
Y = np.array([0, 1, 2, 0, 2, 1])
P_B = np.array([0.10, 0.50, 0.35, 0.50, 0.10, 0.60])
P_M = np.array([0.10, 0.40, 0.35, 0.20, 0.80, 0.30])
PROBS3 = np.column_stack([1 - P_B - P_M, P_B, P_M])


def test_auc_mlg_hand_computed():
    # positives (class 2) p_m = 0.35, 0.8; negatives 0.1, 0.4, 0.2, 0.3
    # 0.35 beats 3 of 4, 0.8 beats 4 of 4 -> 7/8
    assert auc_mlg(Y, PROBS3) == pytest.approx(7 / 8)


def test_auc_mcs_hand_computed():
    # score p_b + p_m = 0.2, 0.9, 0.7, 0.7, 0.9, 0.9; positives = classes 1, 2; negatives 0.2, 0.7
    # the three 0.9 beat both (6 pairs); 0.7 beats 0.2 and ties 0.7 (1.5) -> 7.5 / 8
    assert auc_mcs(Y, PROBS3) == pytest.approx(7.5 / 8)


def test_two_column_probabilities_give_the_same_aucs():
    assert patch_aucs(Y, PROBS3) == pytest.approx(patch_aucs(Y, np.column_stack([P_B, P_M])))


def test_against_sklearn_and_mann_whitney(rng):
    y = rng.integers(0, 3, size=200)
    p = rng.dirichlet([1, 1, 1], size=200) + 0.3 * np.eye(3)[y]
    p /= p.sum(1, keepdims=True)
    assert auc_mcs(y, p) == pytest.approx(roc_auc_score(y > 0, p[:, 1] + p[:, 2]))
    assert auc_mlg(y, p) == pytest.approx(roc_auc_score(y == 2, p[:, 2]))
    pos, neg = p[y == 2, 2], p[y != 2, 2]
    u = mannwhitneyu(pos, neg).statistic
    assert auc_mlg(y, p) == pytest.approx(u / (pos.size * neg.size))


def test_roc_curve_endpoints_and_counts():
    c = patch_roc(Y, PROBS3, task="mlg")
    assert (c.n_pos, c.n_neg) == (2, 4)
    assert c.fpr[0] == 0 and c.tpr[-1] == 1 and c.fpr[-1] == 1
    assert np.all(np.diff(c.fpr) >= 0)


def test_one_class_gives_nan_with_warning():
    y = np.array([0, 0, 1, 1])  # no malignant patch
    p = np.full((4, 3), 1 / 3)
    with pytest.warns(UndefinedMetricWarning, match="AUC_mlg"):
        assert np.isnan(auc_mlg(y, p))
    assert auc_mcs(y, np.array([[0.9, 0.05, 0.05]] * 2 + [[0.1, 0.8, 0.1]] * 2)) == 1.0


@pytest.mark.parametrize(
    "y,p,err",
    [
        (np.array([0, 3]), np.full((2, 3), 0.3), "class codes"),
        (np.array([0, 1]), np.full((3, 3), 0.3), "labels"),
        (np.array([0, 1]), np.full((2, 4), 0.3), "shape"),
    ],
)
def test_bad_input_is_rejected(y, p, err):
    with pytest.raises(ValueError, match=err):
        auc_mcs(y, p)


def test_unknown_task():
    with pytest.raises(ValueError, match="task"):
        patch_roc(Y, PROBS3, task="benign")
