"""Networks, blocks, losses, baselines and Grad-CAM (torch).

``MCDetNet(MCDetConfig())`` is the paper's reduced UNet3+ with SAPF and ASPP.
"""

from __future__ import annotations

import importlib
from typing import Any

from .blocks import ASPP, SAPF, ConvBNReLU, DoubleConv
from .losses import MCDetLoss, SegmentationLoss, mae_loss, soft_dice_loss
from .mcdetnet import MCDetConfig, MCDetNet, ScaleOutput, count_parameters

_LAZY = {
    "build_baseline": "napari_mcdet.nn.baselines",
    "BaselineConfig": "napari_mcdet.nn.baselines",
    "ResNet22": "napari_mcdet.nn.baselines",
    "ConvNeXtV2": "napari_mcdet.nn.baselines",
    "grad_cam": "napari_mcdet.nn.gradcam",
}

__all__ = [
    "ASPP", "SAPF", "ConvBNReLU", "DoubleConv", "MCDetConfig", "MCDetNet", "ScaleOutput",
    "count_parameters", "MCDetLoss", "SegmentationLoss", "soft_dice_loss", "mae_loss", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'napari_mcdet.nn' has no attribute {name!r}")
