"""Preparing a network for fast inference: eval mode, BatchNorm folded into convolutions, and
the engines that run it (eager PyTorch or ONNX Runtime)."""

from __future__ import annotations

import copy
import weakref

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


# -- engines ----------------------------------------------------------------------------------
#: Inference engines: ``'eager'`` (PyTorch, BN folded, channels-last), ``'onnx'`` (ONNX Runtime's
#: CPU provider, the ``fast`` extra) and ``'auto'`` (ONNX Runtime on the CPU when installed, else
#: eager).
ENGINES = ("auto", "eager", "onnx")


def onnx_available() -> bool:
    """Whether the ``fast`` extra (``onnxruntime`` and ``onnx``, for the export) is installed."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def exportable(network: nn.Module) -> bool:
    """Whether :class:`OnnxNetwork` can export ``network``: an MCDetNet with both tasks and
    multi-scale heads."""
    return bool(getattr(network, "can_gate", False)) and getattr(network, "seg_heads",
                                                                 None) is not None


def resolve_engine(engine: str, device: torch.device | str = "cpu", *,
                   network: nn.Module | None = None) -> str:
    """The engine ``engine`` means on ``device`` for ``network``: ``'eager'`` or ``'onnx'``.

    ``'auto'`` is ONNX Runtime on the CPU when the ``fast`` extra is installed and the network
    is :func:`exportable` (when given), eager otherwise (and always eager on an accelerator).
    ``'onnx'`` asked for explicitly raises an ImportError naming the extra when it is missing,
    and a ValueError on a non-CPU device or for a network it cannot export.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    cpu = torch.device(device).type == "cpu"
    fits = network is None or exportable(network)
    if engine == "auto":
        return "onnx" if cpu and fits and onnx_available() else "eager"
    if engine == "onnx":
        if not fits:
            raise ValueError("engine 'onnx' exports MCDetNets with both tasks and multi-scale "
                             "heads (MuTMuS, UNet3+); use engine='eager'")
        if not onnx_available():
            raise ImportError("engine 'onnx' needs ONNX Runtime: pip install 'napari-mcdet[fast]' "
                              "(onnxruntime, onnx), or use engine='eager'")
        if not cpu:
            raise ValueError(f"engine 'onnx' runs on the CPU only, not on {device}; use "
                             "engine='eager' there")
    return engine


class _Encoder(nn.Module):
    """Export wrapper: x -> encoder features and the bottleneck's class logits, flat."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        enc = self.net.encode(x)
        return (*enc.features, enc.class_logits)


class _Decoder(nn.Module):
    """Export wrapper: features -> finest segmentation logits and every scale's class logits."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = self.net.decode(features, coarse_segmentation=False)
        return (outs[0].seg_logits, *(o.class_logits for o in outs))


class OnnxNetwork(nn.Module):
    """An MCDetNet exported to ONNX and run by ONNX Runtime's CPU provider.

    It answers as the network does for inference: ``forward(x)`` returns the list of
    :class:`~napari_mcdet.nn.mcdetnet.ScaleOutput` (finest first; only the finest carries a
    segmentation, which is all that :func:`~napari_mcdet.nn.outputs.combine_scales` reads),
    :meth:`encode` and :meth:`decode` as :class:`~napari_mcdet.nn.MCDetNet`'s. Two graphs (encoder
    + bottleneck head; decoder + heads) so that the decoder can run on a subset of the batch;
    batch, height and width are dynamic (multiples of 16). It holds no parameters: build it
    again after changing the network's weights (:func:`inference_network` does).

    Parameters
    ----------
    network : MCDetNet
        Multi-task, multi-scale (its :attr:`~napari_mcdet.nn.MCDetNet.can_gate` is True).
    threads : int, keyword-only, optional
        ONNX Runtime's intra-op threads; ``torch.get_num_threads()`` when None.
    """

    size_multiple = 16

    def __init__(self, network: nn.Module, *, threads: int | None = None) -> None:
        super().__init__()
        import io
        import warnings

        import onnxruntime as ort

        if not exportable(network):
            raise ValueError("the ONNX engine exports MCDetNets with both tasks and multi-scale "
                             "heads (MuTMuS, UNet3+)")
        net = fold_batchnorm(network)
        self.config = network.config
        self.can_gate = True
        self.threads = int(threads or torch.get_num_threads())
        n_scales = len(net.cls_heads)
        x = torch.zeros(1, network.config.in_channels, 32, 32)
        with torch.no_grad():
            feats = net.encode(x).features
        feat_names = [f"f{i}" for i in range(len(feats))]
        spatial = {0: "batch", 2: "height", 3: "width"}
        graphs = {
            "encode": (_Encoder(net).eval(), (x,), ["x"], [*feat_names, "cls_deep"],
                       {"x": spatial, **{n: spatial for n in feat_names},
                        "cls_deep": {0: "batch"}}),
            "decode": (_Decoder(net).eval(), tuple(feats), feat_names,
                       ["seg", *(f"cls{s}" for s in range(n_scales))],
                       {**{n: spatial for n in feat_names}, "seg": spatial,
                        **{f"cls{s}": {0: "batch"} for s in range(n_scales)}}),
        }
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        self._sessions = {}
        for name, (module, args, inputs, outputs, axes) in graphs.items():
            buf = io.BytesIO()
            with warnings.catch_warnings(), torch.no_grad():
                # the TorchScript exporter needs no extra package beyond onnx; its tracer warns
                # about the input-size checks, which the dynamic axes make irrelevant
                warnings.simplefilter("ignore")
                torch.onnx.export(module, args, buf, input_names=inputs, output_names=outputs,
                                  dynamic_axes=axes, opset_version=17, dynamo=False)
            self._sessions[name] = ort.InferenceSession(
                buf.getvalue(), options, providers=["CPUExecutionProvider"])

    @staticmethod
    def _numpy(x: torch.Tensor):
        import numpy as np

        return np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())

    def encode(self, x: torch.Tensor):
        """Encoder, bottleneck and its head: an :class:`~napari_mcdet.nn.mcdetnet.Encoded`."""
        from .mcdetnet import Encoded, MCDetNet

        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"expected input of shape (B, {self.config.in_channels}, H, W), "
                             f"got {tuple(x.shape)}")
        MCDetNet.check_size(*x.shape[-2:])
        out = self._sessions["encode"].run(None, {"x": self._numpy(x)})
        return Encoded(tuple(torch.from_numpy(a) for a in out[:-1]), torch.from_numpy(out[-1]))

    def decode(self, features, *, coarse_segmentation: bool = False):
        """Decoder and heads from :meth:`encode`'s features; coarse scales carry no
        segmentation (``coarse_segmentation=True`` is refused: the graph leaves them out)."""
        from .mcdetnet import ScaleOutput

        if coarse_segmentation:
            raise ValueError("the ONNX graph computes the finest segmentation only")
        out = self._sessions["decode"].run(
            None, {f"f{i}": self._numpy(f) for i, f in enumerate(features)})
        seg, cls = torch.from_numpy(out[0]), [torch.from_numpy(a) for a in out[1:]]
        return [ScaleOutput(c, seg if s == 0 else None) for s, c in enumerate(cls)]

    def forward(self, x: torch.Tensor):
        return self.decode(self.encode(x).features)


_ONNX_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _weights_key(model: nn.Module) -> tuple:
    # a tensor's version counter moves on every in-place change (optimiser steps, load_state_dict
    # copies), so a cached export never outlives the weights it was made from
    return tuple((t.data_ptr(), t._version) for t in (*model.parameters(), *model.buffers()))


def inference_network(model: nn.Module, *, engine: str = "auto",
                      device: torch.device | str = "cpu") -> tuple[nn.Module, str]:
    """The network to run tiles with, on the engine ``engine`` resolves to.

    Parameters
    ----------
    model : MCDetNet
    engine : {'auto', 'eager', 'onnx'}, keyword-only
        See :func:`resolve_engine`.
    device : torch device, keyword-only

    Returns
    -------
    network : nn.Module
        Eager: :func:`prepare_for_inference`'s copy (channels-last except on MPS). ONNX: an
        :class:`OnnxNetwork`, exported once per model, weights and thread count (cached while
        the model lives).
    engine : str
        ``'eager'`` or ``'onnx'``.
    """
    dev = torch.device(device)
    engine = resolve_engine(engine, dev, network=model)
    if engine == "eager":
        return prepare_for_inference(model, device=dev, channels_last=dev.type != "mps"), engine
    key = (_weights_key(model), torch.get_num_threads())
    cached = _ONNX_CACHE.get(model)
    if cached is None or cached[0] != key:
        cached = (key, OnnxNetwork(model))
        _ONNX_CACHE[model] = cached
    return cached[1], engine
