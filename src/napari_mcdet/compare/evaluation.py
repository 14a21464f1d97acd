"""The study's real evaluation patches and how one trained model is scored on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..classes import BENIGN, CLASS_NAMES, MALIGNANT, SOFT_TISSUE
from .config import ModelEntry


@dataclass
class EvaluationSet:
    """The real evaluation patches, with what the pixel metrics and figures need.

    Attributes
    ----------
    patches : ndarray of shape (P, S, S), float32
        Normalised patches (S pixels a side at the study's pixel spacing).
    labels : ndarray of shape (P,), int64
        Patch classes (0 soft tissue, 1 benign, 2 malignant).
    label_maps : ndarray of shape (P, S, S), uint8
        Ground truth per pixel, same codes.
    images : ndarray of shape (P,), str
        Name of the image each patch comes from (``'mdb209'``).
    sources : ndarray of shape (P,), str
        ``'malignant-centred'`` or ``'tile'``.
    origins : ndarray of shape (P, 2), int
        ``(row, col)`` of each patch's top-left corner in its image, pixels.
    """

    patches: np.ndarray
    labels: np.ndarray
    label_maps: np.ndarray
    images: np.ndarray
    sources: np.ndarray
    origins: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> EvaluationSet:
        """The patches at ``index`` (an integer or boolean index of shape (P,))."""
        return EvaluationSet(*(getattr(self, f)[index] for f in (
            "patches", "labels", "label_maps", "images", "sources", "origins")))

    def counts(self) -> dict[str, int]:
        """Patches per class name."""
        return {CLASS_NAMES[c]: int(np.sum(self.labels == c)) for c in range(len(CLASS_NAMES))}


def evaluation_set(train_config) -> EvaluationSet:
    """The evaluation patches of :func:`~napari_mcdet.train.loop.real_validation_patches`, with
    their ground-truth maps and image names.

    The same images, patch list and order (malignant-centred patches, then the tiling, tiles with
    under 20 % breast and no annotation skipped); ``patches`` and ``labels`` equal what
    ``real_validation_patches(train_config)`` returns (checked in the tests).

    Parameters
    ----------
    train_config : TrainConfig
        With ``real_val = 'minimias:<folder>'``, ``split``, ``pixel_spacing``, ``patch_size``.

    Returns
    -------
    EvaluationSet
    """
    from ..train.loop import real_validation_patches

    x, y, d = real_validation_patches(train_config, details=True)
    return EvaluationSet(x, y, d["label_maps"], d["images"], d["sources"], d["origins"])


def subsample_negatives(labels: np.ndarray, *, max_negatives: int | None,
                        seed: int) -> np.ndarray:
    """Keep every calcified patch and a seeded random subset of the soft-tissue ones.

    Parameters
    ----------
    labels : ndarray of shape (P,)
        Patch classes (0 is soft tissue).
    max_negatives : int or None, keyword-only
        Soft-tissue patches kept at most; None keeps all.
    seed : int, keyword-only
        Seed of ``np.random.default_rng`` that draws the subset.

    Returns
    -------
    ndarray of shape (K,), int
        Sorted indices into ``labels``.
    """
    labels = np.asarray(labels)
    pos = np.flatnonzero(labels != SOFT_TISSUE)
    neg = np.flatnonzero(labels == SOFT_TISSUE)
    if max_negatives is not None and len(neg) > max_negatives:
        neg = np.random.default_rng(seed).choice(neg, size=int(max_negatives), replace=False)
    return np.sort(np.concatenate([pos, neg]))


@dataclass
class ModelResult:
    """What one model scored (and the maps Figure 2 needs).

    Attributes
    ----------
    entry : ModelEntry
    aucs : dict
        ``{'AUC_MCs', 'AUC_mlg'}`` -> patch AUC.
    rocs : dict
        ``{'mcs', 'mlg'}`` -> :class:`~napari_mcdet.metrics.auc.RocCurve`.
    pixel : dict or None
        Table 4 values (``DSC_B`` ... ``Prec_M``); None for a classifier without Grad-CAM.
    maps : dict or None
        ``{'benign', 'malignant'}`` -> float32 maps of shape (L, S, S) in [0, 1] on the L
        calcified patches (Grad-CAM or segmentation probabilities), or None.
    parameters : int
        Trainable parameters.
    train_seconds, eval_seconds : float
        Wall-clock time of the training and of the scoring, s.
    checkpoint : str
        Path of the scored weights.
    """

    entry: ModelEntry
    aucs: dict[str, float]
    rocs: dict[str, Any]
    pixel: dict[str, float] | None
    maps: dict[str, np.ndarray] | None
    parameters: int
    train_seconds: float
    eval_seconds: float
    checkpoint: str


def score_model(network, ev: EvaluationSet, lesion: np.ndarray, *, gradcam: bool,
                batch_size: int):
    """Patch AUCs, ROC curves, pixel metrics and maps of one trained network.

    Parameters
    ----------
    network : torch.nn.Module
        In eval mode.
    ev : EvaluationSet
        P patches.
    lesion : ndarray of shape (L,), int
        Indices of the calcified patches of ``ev`` (where the pixel metrics are taken).
    gradcam : bool, keyword-only
        For a network without segmentation: compute its Grad-CAM maps (else it gets no pixel
        metrics and no maps).
    batch_size : int, keyword-only
        Patches per forward pass.

    Returns
    -------
    aucs : dict
    rocs : dict
    pixel : dict or None
    maps : dict or None
        As in :class:`ModelResult`.
    """
    from ..infer.patches import predict_patches
    from ..metrics.auc import patch_aucs, patch_roc

    probs, seg = predict_patches(network, ev.patches, batch_size=batch_size, segmentation=True)
    seg = seg[lesion] if seg is not None else None
    aucs = patch_aucs(ev.labels, probs)
    rocs = {t: patch_roc(ev.labels, probs, task=t) for t in ("mcs", "mlg")}
    maps = _pixel_maps(network, ev.patches[lesion], seg, gradcam=gradcam, batch_size=batch_size)
    pixel = _pixel_table(maps, ev.label_maps[lesion]) if maps is not None else None
    return aucs, rocs, pixel, maps


def _pixel_maps(network, patches: np.ndarray, seg: np.ndarray | None, *, gradcam: bool,
                batch_size: int) -> dict[str, np.ndarray] | None:
    """Benign and malignant maps of the calcified patches (L, S, S): the segmentation when the
    network has one, else Grad-CAM when asked, else None."""
    if seg is not None:
        return {"benign": seg[:, 0], "malignant": seg[:, 1]}
    if not gradcam:
        return None
    from ..nn.gradcam import grad_cam

    out = {}
    for name, cls in (("benign", BENIGN), ("malignant", MALIGNANT)):
        maps = [grad_cam(network, patches[i:i + batch_size, None], target_class=cls)
                for i in range(0, len(patches), batch_size)]
        out[name] = np.concatenate(maps) if maps else np.zeros((0, *patches.shape[1:]),
                                                                np.float32)
    return out


def _pixel_table(maps: dict[str, np.ndarray], label_maps: np.ndarray) -> dict[str, float]:
    """Table 4's pixel metrics of the maps, each binarised with Li's threshold."""
    from ..metrics.pixels import binarize, pixel_metrics

    preds = [np.stack([binarize(b), binarize(m)]) for b, m in
             zip(maps["benign"], maps["malignant"])]
    return pixel_metrics(preds, list(label_maps)).summary()
