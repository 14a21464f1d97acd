"""The paper's losses (section 3.2): per-scale CCE, soft Dice / MAE segmentation, L_global."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def soft_dice_loss(probs: torch.Tensor, target: torch.Tensor, *, eps: float = 1e-6) -> torch.Tensor:
    """Per-sample soft Dice loss with squared denominators (Milletari et al. 2016).

    ``1 - 2 sum(p g) / (sum(p^2) + sum(g^2) + eps)``, sums over all channels and pixels of a sample.

    Parameters
    ----------
    probs, target : tensor of shape (B, C, H, W), values in [0, 1]

    Returns
    -------
    loss : tensor of shape (B,)
    """
    dims = tuple(range(1, probs.ndim))
    inter = (probs * target).sum(dims)
    denom = (probs * probs).sum(dims) + (target * target).sum(dims)
    return 1.0 - 2.0 * inter / (denom + eps)


def mae_loss(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample mean absolute error, shape (B,)."""
    return (probs - target).abs().flatten(1).mean(1)


class SegmentationLoss(nn.Module):
    """Soft Dice for samples with lesion pixels, MAE for soft-tissue samples (empty target).

    Mixed batches work: each sample takes its own rule; the result is the batch mean.

    Forward: ``seg_logits`` (B, C, H, W) raw logits (a sigmoid is applied), ``target``
    (B, C, H, W) in {0, 1}. Returns a scalar.
    """

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, seg_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probs = torch.sigmoid(seg_logits.float())
        target = target.float()
        has_lesion = target.flatten(1).amax(1) > 0
        per_sample = torch.where(has_lesion, soft_dice_loss(probs, target, eps=self.eps),
                                 mae_loss(probs, target))
        return per_sample.mean()


class MCDetLoss(nn.Module):
    """``L_global = (mean_s L_seg_s + mean_s L_cls_s) / 2`` over the network's scales.

    When one task is switched off (mono-task ablation), the loss is that task's scale mean.

    Forward
    -------
    outputs : list of ScaleOutput (class_logits (B, K) or None, seg_logits (B, 2, H, W) or None)
    labels : tensor (B,) int64, 0 soft tissue / 1 benign / 2 malignant
    masks : tensor (B, 2, H, W) float, channel 0 benign, channel 1 malignant

    Returns a dict of scalar tensors: ``loss`` (to back-propagate), ``cls`` and ``seg`` (scale
    means, detached; NaN when the task is off).
    """

    def __init__(self) -> None:
        super().__init__()
        self.seg_loss = SegmentationLoss()

    def forward(self, outputs: Sequence, labels: torch.Tensor,
                masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        cls_terms = [F.cross_entropy(o.class_logits.float(), labels)
                     for o in outputs if o.class_logits is not None]
        seg_terms = []
        if any(o.seg_logits is not None for o in outputs):
            if masks is None:
                raise ValueError("the network has segmentation heads: pass the masks too")
            seg_terms = [self.seg_loss(o.seg_logits, masks)
                         for o in outputs if o.seg_logits is not None]
        means = [torch.stack(t).mean() for t in (cls_terms, seg_terms) if t]
        loss = torch.stack(means).mean()
        nan = torch.tensor(float("nan"), device=loss.device)
        return {
            "loss": loss,
            "cls": torch.stack(cls_terms).mean().detach() if cls_terms else nan,
            "seg": torch.stack(seg_terms).mean().detach() if seg_terms else nan,
        }
