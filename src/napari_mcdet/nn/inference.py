"""Preparing a network for fast inference: eval mode, BatchNorm folded into convolutions."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .blocks import ConvBNReLU


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Return an eval-mode copy of ``model`` with each Conv -> BN pair of :class:`ConvBNReLU`
    folded into one convolution (the same outputs up to float rounding, fewer passes over
    memory). The input model is not changed. SAPF's shared-weight branches are left as they are.
    """
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if isinstance(module, ConvBNReLU) and isinstance(module[1], nn.BatchNorm2d):
            module[0] = fuse_conv_bn_eval(module[0], module[1])
            module[1] = nn.Identity()
    return model


def prepare_for_inference(model: nn.Module, *, device: torch.device | str = "cpu",
                          channels_last: bool = True) -> nn.Module:
    """Eval-mode, BN-folded copy on ``device``, in channels-last memory format when asked."""
    model = fold_batchnorm(model).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return model
