"""The real-validation score that chooses between finished models, and how far it can be trusted.

Three figures are measured on the real validation images (the mini-MIAS calcification cases and
the split's ``val`` normals): the strict-rule cluster sensitivity averaged over 0.25-2 false
clusters per image, and the paper's patch AUC_MCs and AUC_mlg on the images' evaluation patches.
A run keeps as ``best`` the checkpoint with the highest cluster sensitivity; finished models
(averages, interpolations, rival runs) are compared by the mean of the three
(:func:`selection_score`). :class:`RealValidationRecord` holds what a model did
on each image, so that :func:`selection_figures` can score the whole set or any resample of it.

With 12 lesions and a few dozen lesion patches, two models a few hundredths apart may be
indistinguishable. :func:`bootstrap_selection` answers that with a bootstrap over images
(Efron & Tibshirani 1993): the images are drawn with replacement within three strata
(malignant cases, benign cases, normals; each stratum keeps its size, so every resample has
lesions of both kinds and normals), each image bringing its clusters and its patches along, and
the figures are recomputed. Models scored on the same images share the resamples, so the
interval of their difference is a paired one. Percentile intervals, from
:func:`scipy.stats.bootstrap`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..classes import BENIGN, MALIGNANT
from ..metrics.auc import patch_aucs
from ..metrics.froc import FrocCounts, froc_from_counts

#: The three figures whose mean is the selection score.
FIGURES = ("real_cluster_sensitivity", "real_AUC_MCs", "real_AUC_mlg")

#: Stratum codes of :attr:`RealValidationRecord.strata`.
STRATA = ("malignant case", "benign case", "normal")


@dataclass
class RealValidationRecord:
    """What one model did on each real validation image.

    names : (N,) image names; strata : (N,) int, an index into :data:`STRATA`;
    clusters : the strict rule's counts per image and threshold; patch_labels : (P,) int 0/1/2;
    patch_probabilities : (P, 3) float; patch_images : (P,) int, the image each patch is cut from.
    """

    names: list[str]
    strata: np.ndarray
    clusters: FrocCounts
    patch_labels: np.ndarray
    patch_probabilities: np.ndarray
    patch_images: np.ndarray


def image_stratum(labels: np.ndarray | None) -> int:
    """The stratum of an image from its ground truth (M, N): malignant, benign or normal."""
    if labels is not None and np.any(labels == MALIGNANT):
        return 0
    if labels is not None and np.any(labels == BENIGN):
        return 1
    return 2


def selection_figures(record: RealValidationRecord, images: np.ndarray | None = None
                      ) -> dict[str, float]:
    """The selection figures over all images or over ``images`` (indices, repeats allowed).

    Returns ``real_cluster_sensitivity`` (and its value at each false-cluster rate,
    ``real_cluster_sensitivity@<rate>``), ``real_AUC_MCs`` and ``real_AUC_mlg``.
    """
    froc = froc_from_counts(record.clusters, images=images)
    out = {"real_cluster_sensitivity": froc["mean_sensitivity"]}
    for rate, sens in zip(froc["fp_rates"], froc["sensitivity_at"]):
        out[f"real_cluster_sensitivity@{rate:g}"] = sens
    patches = slice(None)
    if images is not None:
        # each patch as often as its image was drawn
        drawn = np.bincount(np.asarray(images, np.int64), minlength=len(record.names))
        patches = np.repeat(np.arange(record.patch_labels.size), drawn[record.patch_images])
    aucs = patch_aucs(record.patch_labels[patches], record.patch_probabilities[patches])
    out.update({f"real_{k}": v for k, v in aucs.items()})
    return out


def selection_score(figures: dict[str, float]) -> float:
    """The mean of the three :data:`FIGURES`."""
    return float(np.mean([figures[k] for k in FIGURES]))


def _values(record: RealValidationRecord, images: np.ndarray | None) -> np.ndarray:
    figures = selection_figures(record, images)
    return np.array([figures[k] for k in FIGURES] + [selection_score(figures)])


def bootstrap_selection(
    records: Sequence[RealValidationRecord],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Bootstrap intervals of the selection figures of models scored on the same images.

    Parameters
    ----------
    records : sequence of RealValidationRecord
        One per model, all on the same images in the same order.
    n_resamples : int, keyword-only
        Bootstrap resamples of the images.
    confidence : float, keyword-only
        Coverage of the two-sided percentile intervals.
    seed : int, keyword-only
        Seed of the resampling.

    Returns
    -------
    dict
        ``names`` (the figures: :data:`FIGURES` and ``score``); ``value`` (R, 4) on all images,
        ``low``/``high`` (R, 4) the intervals; ``difference_low``/``difference_high`` (R, 4),
        the paired interval of each model minus the first (row 0: zeros); ``higher`` (R,), the
        share of resamples in which the model's score exceeds the first model's;
        ``strata`` (stratum name -> images); ``n_resamples``, ``confidence``, ``seed``.
    """
    from scipy.stats import bootstrap

    if not records:
        raise ValueError("no model to score")
    first = records[0]
    for r in records[1:]:
        if r.names != first.names:
            raise ValueError("the models were scored on different images; score them on the "
                             "same real validation set")
    groups = [np.flatnonzero(first.strata == s) for s in range(len(STRATA))]
    groups = [g for g in groups if g.size]
    if any(g.size < 2 for g in groups):
        sizes = {STRATA[s]: int(np.sum(first.strata == s)) for s in range(len(STRATA))}
        raise ValueError(f"every stratum needs at least 2 images to resample, got {sizes}")
    n_fig = len(FIGURES) + 1

    def statistic(*samples: np.ndarray) -> np.ndarray:
        idx = np.concatenate(samples).astype(np.int64)
        values = np.stack([_values(r, idx) for r in records])
        return np.concatenate([values.ravel(), (values[1:] - values[0]).ravel()])

    result = bootstrap(tuple(groups), statistic, n_resamples=n_resamples, vectorized=False,
                       paired=False, confidence_level=confidence, method="percentile",
                       rng=np.random.default_rng(seed))
    n = len(records)
    low = result.confidence_interval.low
    high = result.confidence_interval.high
    dist = result.bootstrap_distribution
    diff_low = np.vstack([np.zeros(n_fig), low[n * n_fig:].reshape(n - 1, n_fig)])
    diff_high = np.vstack([np.zeros(n_fig), high[n * n_fig:].reshape(n - 1, n_fig)])
    diff_score = dist[n * n_fig:].reshape(n - 1, n_fig, -1)[:, -1]
    return {
        "names": [*FIGURES, "score"],
        "value": np.stack([_values(r, None) for r in records]),
        "low": low[:n * n_fig].reshape(n, n_fig),
        "high": high[:n * n_fig].reshape(n, n_fig),
        "difference_low": diff_low,
        "difference_high": diff_high,
        "higher": np.concatenate([[0.0], np.mean(diff_score > 0, axis=1)]),
        "strata": {STRATA[s]: int(np.sum(first.strata == s)) for s in range(len(STRATA))},
        "n_resamples": int(n_resamples),
        "confidence": float(confidence),
        "seed": int(seed),
    }
