"""Patch classifiers the paper compares against: ResNet-22 and ConvNeXt-V2 (method.md section 6).

All models take a batch of single-channel patches ``(B, in_channels, H, W)`` and return class
logits ``(B, num_classes)`` (class codes from :mod:`napari_mcdet.classes`: 0 soft tissue,
1 benign, 2 malignant). Each exposes ``target_layer``, the module whose output is the last
convolutional feature map, for :func:`napari_mcdet.nn.gradcam.grad_cam`.

* :class:`ResNet22` follows Wu et al. 2020 (nyukat/breast_cancer_classifier, ``ResNetV2`` with
  ``BasicBlockV2``); ``separable=True`` replaces every 3 x 3 convolution by a depthwise 3 x 3
  followed by a pointwise 1 x 1 ("ResNet-22 optimized", Walsh & Tardy 2023).
* :class:`ConvNeXtV2` is our own plain-torch implementation of the official ConvNeXt-V2 design
  (Woo et al. 2023, facebookresearch/ConvNeXt-V2) so that timm is not a dependency.

Parameter counts at 1 input channel and 3 classes (measured, see docs/baselines.md):
ResNet-22 2.80 M, separable 0.45 M, ConvNeXt-V2 Atto 3.39 M, Zepto 2.19 M, Yocto 1.25 M.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "BASELINE_NAMES",
    "BaselineConfig",
    "ConvNeXtV2",
    "ResNet22",
    "build_baseline",
]


# --------------------------------------------------------------------------------------------
# ResNet-22 (Wu et al. 2020)
# --------------------------------------------------------------------------------------------


def _conv3x3(in_ch: int, out_ch: int, stride: int, separable: bool) -> nn.Module:
    """3 x 3 convolution, padding 1, no bias; depthwise + pointwise when ``separable``."""
    if not separable:
        return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
    return nn.Sequential(
        nn.Conv2d(in_ch, in_ch, 3, stride=stride, padding=1, groups=in_ch, bias=False),
        nn.Conv2d(in_ch, out_ch, 1, bias=False),
    )


class _PreActBasicBlock(nn.Module):
    """Pre-activation basic block (BN-ReLU-conv3x3-BN-ReLU-conv3x3 + shortcut), nyukat's
    ``BasicBlockV2``: the 1 x 1 shortcut, when present, takes the pre-activated input."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, shortcut: bool, separable: bool):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = _conv3x3(in_ch, out_ch, stride, separable)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = _conv3x3(out_ch, out_ch, 1, separable)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False) if shortcut else None
        if self.shortcut is None and (in_ch != out_ch or stride != 1):
            raise ValueError("a block that changes shape needs a 1x1 shortcut")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        residual = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + residual


class ResNet22(nn.Module):
    """ResNet-22 patch classifier of Wu et al. 2020 (pre-activation ResNet).

    Stem: 7 x 7 convolution, stride 2, 16 filters, then 3 x 3 max-pool, stride 2. Five stages of
    two pre-activation basic blocks with 16, 32, 64, 128, 256 filters and strides 1, 2, 2, 2, 2;
    the first block of each stage has a 1 x 1 shortcut convolution. Then BN-ReLU, global average
    pooling, a 256-unit fully connected layer with ReLU and the output layer.

    Parameters
    ----------
    in_channels : int, optional
        Channels of the input patches (1 for grey-level mammograms).
    num_classes : int, optional
        Number of output logits.
    separable : bool, optional
        If True, every 3 x 3 convolution is depthwise-separable (depthwise 3 x 3 then pointwise
        1 x 1): about 0.45 M parameters instead of 2.8 M.

    Attributes
    ----------
    target_layer : nn.Module
        The final BN-ReLU; its output ``(B, 256, H/64, W/64)`` is the last convolutional feature
        map, used by Grad-CAM.

    Notes
    -----
    The spatial size shrinks by 64 (stem 4, four strided stages 16): a 64 x 64 patch gives a
    1 x 1 feature map, 512 x 512 gives 8 x 8. nyukat's stem uses no padding; we pad the stem
    convolution by 3 and the pool by 1 so that sizes divide exactly (no parameter changes).
    """

    stage_filters: tuple[int, ...] = (16, 32, 64, 128, 256)
    stage_strides: tuple[int, ...] = (1, 2, 2, 2, 2)
    blocks_per_stage: int = 2

    def __init__(self, in_channels: int = 1, num_classes: int = 3, *, separable: bool = False):
        super().__init__()
        _check_sizes(in_channels, num_classes)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.separable = separable
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 16, 7, stride=2, padding=3, bias=False),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages = []
        ch = 16
        for filters, stride in zip(self.stage_filters, self.stage_strides):
            blocks = [_PreActBasicBlock(ch, filters, stride, shortcut=True, separable=separable)]
            for _ in range(self.blocks_per_stage - 1):
                blocks.append(_PreActBasicBlock(filters, filters, 1, False, separable))
            stages.append(nn.Sequential(*blocks))
            ch = filters
        self.stages = nn.Sequential(*stages)
        self.final = nn.Sequential(nn.BatchNorm2d(ch), nn.ReLU())
        self.fc = nn.Linear(ch, 256)
        self.head = nn.Linear(256, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @property
    def target_layer(self) -> nn.Module:
        return self.final

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Last feature map ``(B, 256, h, w)`` after the final BN-ReLU."""
        return self.final(self.stages(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, num_classes)`` of patches ``(B, in_channels, H, W)``."""
        f = self.forward_features(_check_input(x, self.in_channels)).mean(dim=(-2, -1))
        return self.head(F.relu(self.fc(f)))


# --------------------------------------------------------------------------------------------
# ConvNeXt-V2 (Woo et al. 2023), plain torch
# --------------------------------------------------------------------------------------------


class _LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel axis of a ``(B, C, H, W)`` tensor (ConvNeXt's
    ``channels_first`` LayerNorm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class _GRN(nn.Module):
    """Global Response Normalization on channels-last tensors ``(B, H, W, C)``."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class _DropPath(nn.Module):
    """Stochastic depth per sample (identity at evaluation or when ``p == 0``)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class _ConvNeXtV2Block(nn.Module):
    """Depthwise 7 x 7 -> LayerNorm -> Linear 4x -> GELU -> GRN -> Linear -> drop path, residual."""

    def __init__(self, dim: int, drop_path: float = 0.0):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = _GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.drop_path = _DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(y)))))
        return x + self.drop_path(y.permute(0, 3, 1, 2))


class ConvNeXtV2(nn.Module):
    """ConvNeXt-V2 patch classifier (Woo et al. 2023), written in plain torch.

    Stem: 4 x 4 convolution, stride 4, then channels-first LayerNorm. Between stages:
    LayerNorm then 2 x 2 convolution, stride 2. Blocks: depthwise 7 x 7 convolution, LayerNorm,
    Linear to 4x channels, GELU, Global Response Normalization, Linear back, drop path, residual.
    Head: global average pooling, LayerNorm, Linear.

    Parameters
    ----------
    in_channels : int, optional
        Channels of the input patches.
    num_classes : int, optional
        Number of output logits.
    depths : tuple of int, optional
        Blocks per stage (Atto, Zepto and Yocto all use ``(2, 2, 6, 2)``).
    dims : tuple of int, optional
        Channels per stage: Atto ``(40, 80, 160, 320)``, Zepto ``(32, 64, 128, 256)``,
        Yocto ``(24, 48, 96, 192)``.
    drop_path_rate : float, optional
        Stochastic depth rate, increased linearly over the blocks from 0 (official recipe).
    head_init_scale : float, optional
        Multiplies the initial head weights and bias (official default 1).

    Attributes
    ----------
    target_layer : nn.Module
        The last stage; its output ``(B, dims[-1], H/32, W/32)`` is used by Grad-CAM.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 3,
        *,
        depths: tuple[int, ...] = (2, 2, 6, 2),
        dims: tuple[int, ...] = (40, 80, 160, 320),
        drop_path_rate: float = 0.0,
        head_init_scale: float = 1.0,
    ):
        super().__init__()
        _check_sizes(in_channels, num_classes)
        if len(depths) != len(dims) or not depths:
            raise ValueError(f"depths {depths} and dims {dims} need the same, non-zero length")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.depths = tuple(int(d) for d in depths)
        self.dims = tuple(int(d) for d in dims)
        self.downsample_layers = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(in_channels, dims[0], 4, stride=4), _LayerNorm2d(dims[0], eps=1e-6)
                )
            ]
        )
        for i in range(len(dims) - 1):
            self.downsample_layers.append(
                nn.Sequential(
                    _LayerNorm2d(dims[i], eps=1e-6), nn.Conv2d(dims[i], dims[i + 1], 2, stride=2)
                )
            )
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stages = nn.ModuleList()
        k = 0
        for depth, dim in zip(depths, dims):
            self.stages.append(
                nn.Sequential(*[_ConvNeXtV2Block(dim, rates[k + j]) for j in range(depth)])
            )
            k += depth
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)
        self.apply(_init_convnext)
        with torch.no_grad():
            self.head.weight.mul_(head_init_scale)
            self.head.bias.mul_(head_init_scale)

    @property
    def target_layer(self) -> nn.Module:
        return self.stages[-1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Last feature map ``(B, dims[-1], H/32, W/32)``."""
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, num_classes)`` of patches ``(B, in_channels, H, W)``."""
        f = self.forward_features(_check_input(x, self.in_channels))
        return self.head(self.norm(f.mean(dim=(-2, -1))))


def _init_convnext(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------------------------
# Factory and config
# --------------------------------------------------------------------------------------------

_CONVNEXT_DIMS = {
    "convnextv2-atto": (40, 80, 160, 320),
    "convnextv2-zepto": (32, 64, 128, 256),
    "convnextv2-yocto": (24, 48, 96, 192),
}
BASELINE_NAMES: tuple[str, ...] = ("resnet22", "resnet22-separable", *_CONVNEXT_DIMS)


@dataclass(frozen=True)
class BaselineConfig:
    """What is needed to rebuild a baseline classifier (saved in checkpoints).

    Parameters
    ----------
    name : str
        One of :data:`BASELINE_NAMES`.
    in_channels : int
        Channels of the input patches.
    num_classes : int
        Number of output logits.
    """

    name: str = "resnet22"
    in_channels: int = 1
    num_classes: int = 3

    def __post_init__(self) -> None:
        if self.name not in BASELINE_NAMES:
            raise ValueError(f"unknown baseline {self.name!r}; choose one of {BASELINE_NAMES}")
        _check_sizes(self.in_channels, self.num_classes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-safe) of the fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BaselineConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        if not isinstance(d, dict):
            raise TypeError(f"BaselineConfig.from_dict needs a dict, got {type(d).__name__}")
        unknown = set(d) - {"name", "in_channels", "num_classes"}
        if unknown:
            raise ValueError(f"unknown BaselineConfig keys {sorted(unknown)}")
        return cls(**d)

    def build(self) -> nn.Module:
        """The model described by this config (see :func:`build_baseline`)."""
        return build_baseline(self.name, in_channels=self.in_channels, num_classes=self.num_classes)


def build_baseline(name: str, *, in_channels: int = 1, num_classes: int = 3) -> nn.Module:
    """Build a baseline patch classifier by name.

    Parameters
    ----------
    name : str
        ``'resnet22'``, ``'resnet22-separable'``, ``'convnextv2-atto'``, ``'convnextv2-zepto'``
        or ``'convnextv2-yocto'``.
    in_channels : int, optional
        Channels of the input patches.
    num_classes : int, optional
        Number of output logits.

    Returns
    -------
    model : nn.Module
        Maps ``(B, in_channels, H, W)`` to logits ``(B, num_classes)``; has ``target_layer``
        and ``config`` (a :class:`BaselineConfig`) attributes.
    """
    if not isinstance(name, str):
        raise TypeError(f"baseline name must be a str, got {type(name).__name__}")
    key = name.lower()
    if key not in BASELINE_NAMES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {BASELINE_NAMES}")
    config = BaselineConfig(key, in_channels, num_classes)
    if key.startswith("resnet22"):
        model: nn.Module = ResNet22(in_channels, num_classes, separable=key == "resnet22-separable")
    else:
        model = ConvNeXtV2(in_channels, num_classes, dims=_CONVNEXT_DIMS[key])
    model.config = config
    return model


def _check_sizes(in_channels: int, num_classes: int) -> None:
    for label, v in (("in_channels", in_channels), ("num_classes", num_classes)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{label} must be a positive int, got {v!r}")


def _check_input(x: torch.Tensor, in_channels: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor (B, C, H, W), got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(
            f"expected input of shape (B, {in_channels}, H, W), got {tuple(x.shape)}; "
            "add batch/channel axes with x[None, None] for a single 2-D patch"
        )
    return x
