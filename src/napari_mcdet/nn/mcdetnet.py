"""The paper's network: a reduced UNet3+ with an SAPF bottleneck, ASPP in the decoder and
multi-task (3-class classification + 2-channel segmentation), multi-scale outputs.

The four ablations of the paper (multi/mono-task x multi/mono-scale) and a plain UNet3+ are
configurations of :class:`MCDetConfig`, not separate classes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ASPP, SAPF, ConvBNReLU, DoubleConv


@dataclass
class MCDetConfig:
    """Configuration of :class:`MCDetNet`, saved beside the weights in every checkpoint.

    Attributes
    ----------
    in_channels : int
        Input channels (1 for a grey-level mammogram).
    filters : tuple of 5 int
        Channels of encoder levels 1..5 (level 5 is the bottleneck). The default
        ``(10, 20, 40, 80, 160)`` gives 1,435,178 trainable parameters (MuTMuS).
    cat_channels : int or None
        Channels of each full-scale skip connection in the decoder; None means ``filters[0]``.
    num_classes : int
        Patch classes: 0 soft tissue, 1 benign, 2 malignant.
    seg_channels : int
        Segmentation channels: 0 benign, 1 malignant.
    classification, segmentation : bool
        Tasks switched on (multi-task = both).
    multiscale : bool
        Heads on the bottleneck and every decoder stage (True) or on the finest stage only.
    sapf : bool
        SAPF on the bottleneck (False: plain UNet3+ bottleneck).
    aspp : bool
        ASPP after the fusion conv of every decoder stage.
    aspp_rates : tuple of int
        Atrous rates of every ASPP (pixels of that stage's resolution).
    sapf_dilations : tuple of int
        Dilations of the shared SAPF convolution.
    aspp_dropout : float
        Dropout after the ASPP projection.
    """

    in_channels: int = 1
    filters: tuple[int, ...] = (10, 20, 40, 80, 160)
    cat_channels: int | None = None
    num_classes: int = 3
    seg_channels: int = 2
    classification: bool = True
    segmentation: bool = True
    multiscale: bool = True
    sapf: bool = True
    aspp: bool = True
    aspp_rates: tuple[int, ...] = (6, 12, 18)
    sapf_dilations: tuple[int, ...] = field(default=(1, 2, 4))
    aspp_dropout: float = 0.1

    def __post_init__(self) -> None:
        self.filters = tuple(int(f) for f in self.filters)
        self.aspp_rates = tuple(int(r) for r in self.aspp_rates)
        self.sapf_dilations = tuple(int(d) for d in self.sapf_dilations)
        if len(self.filters) != 5:
            raise ValueError(f"filters must list 5 levels, got {self.filters}")
        if not (self.classification or self.segmentation):
            raise ValueError("switch on at least one task (classification or segmentation)")

    @classmethod
    def variant(cls, name: str, **overrides: Any) -> MCDetConfig:
        """The paper's named configurations.

        ``'MuTMuS'`` (default, multi-task multi-scale), ``'MoTMuS'`` (classification only),
        ``'MuTMoS'`` (both tasks at the finest scale only), ``'MoTMoS'``, and ``'UNet3+'`` (no SAPF,
        no ASPP, multi-task multi-scale).
        """
        presets: dict[str, dict[str, Any]] = {
            "MuTMuS": {},
            "MoTMuS": {"segmentation": False},
            "MuTMoS": {"multiscale": False},
            "MoTMoS": {"segmentation": False, "multiscale": False},
            "UNet3+": {"sapf": False, "aspp": False},
        }
        if name not in presets:
            raise ValueError(f"unknown variant {name!r}; choose one of {sorted(presets)}")
        return cls(**{**presets[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MCDetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown MCDetConfig keys {sorted(unknown)}")
        return cls(**d)


class ScaleOutput(NamedTuple):
    """Outputs at one scale; None where a task is switched off.

    class_logits : (B, num_classes); seg_logits : (B, seg_channels, H, W) at the input size.
    """

    class_logits: torch.Tensor | None
    seg_logits: torch.Tensor | None


class Encoded(NamedTuple):
    """What :meth:`MCDetNet.encode` returns.

    features : 5 tensors, encoder levels 1-4 then the bottleneck, finest first
        ((B, filters[i], H / 2^i, W / 2^i)); class_logits : (B, num_classes), the bottleneck's
        classification head (its softmax's first column is the soft-tissue probability).
    """

    features: tuple[torch.Tensor, ...]
    class_logits: torch.Tensor


class _DecoderStage(nn.Module):
    """UNet3+ decoder stage: 5 sources resampled to this level, Conv3x3 each, concat, fuse."""

    def __init__(self, level: int, src_channels: list[int], cat: int, aspp: ASPP | None) -> None:
        super().__init__()
        self.level = level  # 0 = full resolution ... 3 = 1/8
        self.convs = nn.ModuleList(ConvBNReLU(c, cat) for c in src_channels)
        up = cat * len(src_channels)
        self.fuse = ConvBNReLU(up, up)
        self.aspp = aspp

    def forward(self, sources: list[tuple[torch.Tensor, int]]) -> torch.Tensor:
        feats = []
        for conv, (x, src_level) in zip(self.convs, sources):
            if src_level < self.level:
                x = F.max_pool2d(x, 2 ** (self.level - src_level))
            elif src_level > self.level:
                x = F.interpolate(x, scale_factor=2 ** (src_level - self.level),
                                  mode="bilinear", align_corners=False)
            feats.append(conv(x))
        y = self.fuse(torch.cat(feats, dim=1))
        return self.aspp(y) if self.aspp is not None else y


class MCDetNet(nn.Module):
    """Reduced UNet3+ with SAPF and ASPP, multi-task and multi-scale heads.

    Parameters
    ----------
    config : MCDetConfig, optional

    Forward
    -------
    x : tensor of shape (B, in_channels, H, W), H and W multiples of 16.
    Returns a list of :class:`ScaleOutput`, finest first: decoder stages d1, d2, d3, d4, then the
    bottleneck (multi-scale), or only d1 (mono-scale).

    ``forward(x)`` is ``decode(features)`` after the encoder; :meth:`encode` runs the encoder
    and the bottleneck's classification head alone, so that inference can decide from it which
    tiles are worth the decoder (:func:`napari_mcdet.infer.patches.gated_predictor`).
    """

    #: Height and width must be multiples of this (4 max-poolings).
    size_multiple = 16

    def __init__(self, config: MCDetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MCDetConfig()
        f = cfg.filters
        cat = cfg.cat_channels or f[0]
        up = 5 * cat
        self.encoder = nn.ModuleList(
            [DoubleConv(cfg.in_channels, f[0])] + [DoubleConv(f[i - 1], f[i]) for i in range(1, 5)]
        )
        self.bottleneck = SAPF(f[4], cfg.sapf_dilations) if cfg.sapf else nn.Identity()
        # decoder stage at level L (3 = d4 ... 0 = d1): encoder levels 0..L, decoder levels L+1..4
        self.decoder = nn.ModuleDict()
        for level in (3, 2, 1, 0):
            src = [f[i] for i in range(level + 1)] + [up] * (3 - level) + [f[4]]
            aspp = ASPP(up, up, cfg.aspp_rates, dropout=cfg.aspp_dropout) if cfg.aspp else None
            self.decoder[f"d{level + 1}"] = _DecoderStage(level, src, cat, aspp)
        # heads, finest first: d1, d2, d3, d4, bottleneck
        head_channels = [up, up, up, up, f[4]] if cfg.multiscale else [up]
        self.cls_heads = nn.ModuleList(
            nn.Linear(c, cfg.num_classes) for c in head_channels
        ) if cfg.classification else None
        self.seg_heads = nn.ModuleList(
            nn.Conv2d(c, cfg.seg_channels, 3, padding=1) for c in head_channels
        ) if cfg.segmentation else None

    @classmethod
    def check_size(cls, height: int, width: int) -> None:
        """Raise a ValueError naming the nearest valid size when (height, width) is not valid."""
        m = cls.size_multiple
        bad = [s for s in (height, width) if s % m or s < m]
        if bad:
            near = tuple(max(m, int(round(s / m)) * m) for s in (height, width))
            raise ValueError(
                f"input size {height} x {width} is not a multiple of {m} (4 poolings); "
                f"the nearest valid size is {near[0]} x {near[1]}: crop or pad the patch to it"
            )

    @property
    def can_gate(self) -> bool:
        """Whether :meth:`encode` has a deepest-scale classification head to gate the decoder
        with (multi-scale with classification on)."""
        return self.cls_heads is not None and self.config.multiscale

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"expected input of shape (B, {self.config.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        self.check_size(*x.shape[-2:])

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        y = x
        for i, level in enumerate(self.encoder):
            if i:
                y = F.max_pool2d(y, 2)
            y = level(y)
            feats.append(y)
        feats[4] = self.bottleneck(feats[4])
        return feats

    def encode(self, x: torch.Tensor) -> Encoded:
        """Encoder, bottleneck and the deepest scale's classification head: about a quarter of
        the forward pass's FLOPs (the decoder's full-resolution stages are the rest).

        Parameters
        ----------
        x : tensor of shape (B, in_channels, H, W)
            H and W multiples of 16.

        Returns
        -------
        encoded : Encoded
            ``features`` for :meth:`decode` and ``class_logits`` (B, num_classes) of the
            bottleneck's head.

        Raises
        ------
        ValueError
            Without that head (:attr:`can_gate` is False), or for a bad input shape.
        """
        if not self.can_gate:
            raise ValueError("encode needs the bottleneck's classification head: a multi-scale "
                             "network with classification on (MuTMuS, MoTMuS, UNet3+)")
        self._check_input(x)
        feats = self._features(x)
        return Encoded(tuple(feats), self.cls_heads[-1](feats[4].mean(dim=(2, 3))))

    def decode(self, features: tuple[torch.Tensor, ...] | list[torch.Tensor], *,
               coarse_segmentation: bool = True) -> list[ScaleOutput]:
        """The decoder and every head, from :meth:`encode`'s features (any subset of its batch).

        Parameters
        ----------
        features : sequence of 5 tensors
            Encoder levels 1-4 and the bottleneck, finest first; level 1 at the input size.
        coarse_segmentation : bool, keyword-only
            Compute the segmentation of the coarse scales (training supervises them; inference
            reads the finest only, so it may leave them out: their ``seg_logits`` are then
            None).

        Returns
        -------
        outputs : list of ScaleOutput
            As :meth:`forward`.
        """
        enc = list(features)
        h, w = enc[0].shape[-2:]
        dec: dict[int, torch.Tensor] = {4: enc[4]}
        for level in (3, 2, 1, 0):
            sources = [(enc[i], i) for i in range(level + 1)]
            sources += [(dec[j], j) for j in range(level + 1, 5)]
            dec[level] = self.decoder[f"d{level + 1}"](sources)
        feats = [dec[0], dec[1], dec[2], dec[3], dec[4]] if self.config.multiscale else [dec[0]]
        outs = []
        for s, feat in enumerate(feats):
            logits = seg = None
            if self.cls_heads is not None:
                logits = self.cls_heads[s](feat.mean(dim=(2, 3)))
            if self.seg_heads is not None and (s == 0 or coarse_segmentation):
                seg = self.seg_heads[s](feat)
                if seg.shape[-2:] != (h, w):
                    seg = F.interpolate(seg, size=(h, w), mode="bilinear", align_corners=False)
            outs.append(ScaleOutput(logits, seg))
        return outs

    def forward(self, x: torch.Tensor) -> list[ScaleOutput]:
        self._check_input(x)
        return self.decode(self._features(x))


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
