"""Building blocks: conv-BN-ReLU, SAPF (CPFNet) and ASPP (DeepLab v3).

All blocks keep the spatial size of their input.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> ReLU; ``padding = dilation * (kernel // 2)``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, *, dilation: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, padding=dilation * (kernel // 2), dilation=dilation,
                      bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class DoubleConv(nn.Sequential):
    """One UNet3+ encoder level: 2 x (Conv3x3 -> BN -> ReLU)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(ConvBNReLU(in_ch, out_ch), ConvBNReLU(out_ch, out_ch))


class _ScaleAttention(nn.Module):
    """Pixel-wise softmax weights between two feature maps (CPFNet's scale-aware module)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = max(channels // 2, 1)
        self.net = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, half, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, 2, 3, padding=1),
        )

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.net(torch.cat([a, b], dim=1)), dim=1)
        return w[:, 0:1] * a + w[:, 1:2] * b


class SAPF(nn.Module):
    """Scale-Aware Pyramid Fusion (Feng et al. 2020, CPFNet) for the bottleneck.

    One 3x3 convolution weight is applied at dilations ``dilations`` (separate BatchNorm per
    branch); the branches are fused pairwise by one shared scale-attention module; the result
    is mixed with the input through a learnable gate ``g`` (initialised at 0, so the block
    starts as identity), then Conv1x1 -> BN -> ReLU.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, dilations: Sequence[int] = (1, 2, 4)) -> None:
        super().__init__()
        self.dilations = tuple(int(d) for d in dilations)
        if len(self.dilations) < 2:
            raise ValueError("SAPF needs at least two dilations")
        self.weight = nn.Parameter(torch.empty(channels, channels, 3, 3))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.bns = nn.ModuleList(nn.BatchNorm2d(channels) for _ in self.dilations)
        # one attention module serves every pairwise fusion, as in CPFNet's reference code
        self.attention = _ScaleAttention(channels)
        self.gate = nn.Parameter(torch.zeros(1))
        self.out = ConvBNReLU(channels, channels, kernel=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [
            bn(F.conv2d(x, self.weight, padding=d, dilation=d))
            for d, bn in zip(self.dilations, self.bns)
        ]
        fused = branches[0]
        for branch in branches[1:]:
            fused = self.attention(fused, branch)
        g = self.gate
        return self.out(F.relu(g * fused + (1 - g) * x))


class ASPP(nn.Module):
    """Atrous Spatial Pyramid Pooling (Chen et al., DeepLab v3; torchvision's layout).

    Branches: Conv1x1; one Conv3x3 per atrous rate (padding = dilation = rate); image pooling
    (global average pool -> Conv1x1 -> ReLU -> upsample). Each conv branch is conv -> BN -> ReLU.
    Concatenate -> Conv1x1 projection -> BN -> ReLU -> dropout.

    The pooling branch has a bias instead of BatchNorm (torchvision uses BN there, which fails in
    training on a batch of one 1 x 1 map; the paper trains with batches of 3).

    Shape: (B, in_ch, H, W) -> (B, out_ch, H, W).
    """

    def __init__(self, in_ch: int, out_ch: int, rates: Sequence[int] = (6, 12, 18),
                 *, dropout: float = 0.1) -> None:
        super().__init__()
        self.rates = tuple(int(r) for r in rates)
        self.branches = nn.ModuleList(
            [ConvBNReLU(in_ch, out_ch, kernel=1)]
            + [ConvBNReLU(in_ch, out_ch, kernel=3, dilation=r) for r in self.rates]
        )
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_ch, out_ch, 1),
                                  nn.ReLU(inplace=True))
        n = len(self.branches) + 1
        self.project = nn.Sequential(ConvBNReLU(n * out_ch, out_ch, kernel=1), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        pooled = self.pool(x).expand(-1, -1, x.shape[-2], x.shape[-1])
        return self.project(torch.cat([*outs, pooled], dim=1))
