"""Running a network on a stack of patches (the one place that does: validation, evaluation,
comparison and tiled detection all call :func:`predict_patches`), and the tile predictors of
:func:`napari_mcdet.data.tiling.run_tiles`: :func:`segmentation_predictor` (the whole network on
every tile) and :func:`gated_predictor` (the decoder only where the encoder is unsure), both
optionally averaged over a tile and its left-right mirror, with :func:`resolve_gate`, the gate a
model is run with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..models.checkpoint import GATE_KEY  # noqa: F401  (public here as well)
from ..nn.outputs import combine_scales


def predict_patches(
    network: torch.nn.Module,
    patches: np.ndarray,
    *,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    segmentation: bool = True,
    progress: Callable[[int, int], None] | None = None,
    channels_last: bool = False,
    autocast: bool | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Class and segmentation probabilities of normalised patches.

    Parameters
    ----------
    network : torch.nn.Module
        :class:`~napari_mcdet.nn.MCDetNet` or a baseline classifier, in eval mode.
    patches : ndarray of shape (N, P, Q), float32
        Normalised with :func:`napari_mcdet.data.normalize.normalize_image`.
    batch_size : int
    device : torch device, optional
        Defaults to the device of the network's parameters.
    segmentation : bool
        Return the segmentation probabilities (when the network has them).
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch.
    channels_last : bool
        Feed the input in channels-last memory format (for a network prepared with
        :func:`napari_mcdet.nn.inference.prepare_for_inference`).
    autocast : bool, optional
        Run the network under ``torch.autocast`` (float16 on CUDA, bfloat16 elsewhere); None
        (default) means on CUDA only. Probabilities are always computed and returned in float32.

    Returns
    -------
    class_probs : ndarray of shape (N, 3), float32 (soft tissue, benign, malignant)
    seg_probs : ndarray of shape (N, 2, P, Q), float32, or None
    """
    patches = np.asarray(patches, dtype=np.float32)
    if patches.ndim != 3:
        raise ValueError(f"patches must be a (N, P, Q) stack, got shape {patches.shape}")
    if device is None:
        device = next(network.parameters()).device
    device = torch.device(device)
    if autocast is None:
        autocast = device.type == "cuda"
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    n = len(patches)
    cls_out = np.zeros((n, 3), np.float32)
    seg_out = None
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                x = torch.from_numpy(patches[start:start + batch_size, None]).to(device)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=bool(autocast)):
                    outputs = network(x)
                cls, seg = combine_scales(outputs)
                if cls is not None:
                    cls_out[start:start + len(x)] = cls.cpu().numpy()
                if segmentation and seg is not None:
                    if seg_out is None:
                        seg_out = np.zeros((n, seg.shape[1], *patches.shape[1:]), np.float32)
                    seg_out[start:start + len(x)] = seg.cpu().numpy()
                if progress is not None:
                    progress(min(start + batch_size, n), n)
    finally:
        network.train(was_training)
    return cls_out, seg_out


def with_mirror(batch: np.ndarray) -> np.ndarray:
    """``(B, P, Q)`` tiles followed by their left-right mirrors: ``(2B, P, Q)``."""
    return np.concatenate([batch, batch[..., ::-1]])


def mean_of_mirrors(values: np.ndarray, *, maps: bool) -> np.ndarray:
    """Average the two views of :func:`with_mirror` outputs, ``(2B, ...)`` -> ``(B, ...)``.

    With ``maps`` (images whose last axis is the columns) the mirrored view is mirrored back
    first; per-tile values (class probabilities) are averaged as they are."""
    n = len(values) // 2
    second = values[n:, ..., ::-1] if maps else values[n:]
    return 0.5 * (values[:n] + second)


def segmentation_predictor(
    network: torch.nn.Module,
    *,
    device: str | torch.device | None = None,
    channels_last: bool = False,
    mirror: bool = False,
) -> Callable[[np.ndarray], tuple[np.ndarray, list[dict[str, Any]]]]:
    """A tile predictor for :func:`napari_mcdet.data.tiling.run_tiles` from a segmenting network.

    With ``mirror``, every tile also runs left-right mirrored and the two views' maps (mirrored
    back) and class probabilities are averaged: a response to the texture of one orientation
    weakens, a calcification (seen the same way in both) does not. Twice the work.

    Returns
    -------
    predict : callable
        ``predict(batch (B, P, Q))`` -> ``(seg (B, 2, P, Q), [{'probabilities': [3 floats]}] * B)``.
    """

    def predict(batch: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
        views = with_mirror(batch) if mirror else batch
        cls, seg = predict_patches(network, views, batch_size=len(views), device=device,
                                   channels_last=channels_last)
        if seg is None:
            raise ValueError("the network returned no segmentation: detection needs an MCDetNet "
                             "with its segmentation task switched on")
        if mirror:
            cls, seg = mean_of_mirrors(cls, maps=False), mean_of_mirrors(seg, maps=True)
        return seg, [{"probabilities": row.tolist()} for row in cls]

    return predict


def resolve_gate(gate: float | str | None, model: Any) -> float | None:
    """The decoder gate to run ``model`` with (see :func:`gated_predictor`).

    Parameters
    ----------
    gate : 'auto', float or None
        ``'auto'``: the gate stored in the model's metadata under :data:`GATE_KEY` when its
        network can gate, else None. A gate is only safe for the model it was chosen on (where
        it skips no tile holding a calcification), so a model without one runs whole. A float
        in [0, 1]: that gate. None: no gate, the whole network on every tile.
    model : TrainedModel
        :func:`napari_mcdet.load_model` result.

    Returns
    -------
    gate : float or None

    Raises
    ------
    ValueError
        A gate outside [0, 1] (given or stored), or a float gate for a network without the
        bottleneck classification head.
    """
    path = (getattr(model, "metadata", None) or {}).get("path", "the model")
    can_gate = bool(getattr(model.network, "can_gate", False))
    if isinstance(gate, str):
        if gate != "auto":
            raise ValueError(f"gate must be 'auto', a probability in [0, 1] or None, got {gate!r}")
        stored = (model.metadata or {}).get(GATE_KEY)
        if stored is None or not can_gate:
            return None
        try:
            value = float(stored)
        except (TypeError, ValueError):
            value = float("nan")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{path}: its metadata holds {GATE_KEY}={stored!r}, not a "
                             "probability in [0, 1]; pass gate=None (or --no-gate), or store a "
                             "gate again with mcdet calibrate MODEL NORMALS... --gate")
        return value
    if gate is None:
        return None
    value = float(gate)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"gate must be a probability in [0, 1] or None, got {value}")
    if not can_gate:
        raise ValueError(f"model {model.architecture!r} has no bottleneck classification "
                         "head to gate the decoder with: pass gate=None")
    return value


def gated_predictor(
    network: torch.nn.Module,
    *,
    gate: float,
    device: str | torch.device | None = None,
    channels_last: bool = False,
    autocast: bool | None = None,
    mirror: bool = False,
) -> Callable[[np.ndarray], tuple[np.ndarray, list[dict[str, Any]]]]:
    """A tile predictor for :func:`napari_mcdet.data.tiling.run_tiles` that runs the decoder only
    where the encoder is unsure a tile is soft tissue.

    Every tile goes through the encoder, the bottleneck and the bottleneck's classification head
    (:meth:`~napari_mcdet.nn.MCDetNet.encode`, about a quarter of the forward pass); the decoder
    runs on the tiles whose calcification probability under that head, ``1 - p(soft tissue)``,
    is at least ``gate``. The other tiles get zero segmentation maps and that head's class
    probabilities.

    Parameters
    ----------
    network : MCDetNet or OnnxNetwork
        Ready for inference (:func:`napari_mcdet.nn.inference.inference_network`), with the
        bottleneck's classification head (``can_gate``).
    gate : float, keyword-only
        In [0, 1]; 0 decodes every tile (the same maps as :func:`segmentation_predictor`).
    device : torch device, keyword-only, optional
        Where the network runs; the CPU when None.
    channels_last : bool, keyword-only
        Feed channels-last tensors (an eager network from ``prepare_for_inference``).
    autocast : bool, keyword-only, optional
        As :func:`predict_patches`: None means on CUDA only.
    mirror : bool, keyword-only
        Also run every tile left-right mirrored (:func:`segmentation_predictor`): the gate
        decides on the mean of the two views' scores, so both views of a tile are decoded or
        neither, and the maps and class probabilities are the two views' means.

    Returns
    -------
    predict : callable
        ``predict(batch (B, P, Q) float32)`` -> ``(seg (B, 2, P, Q) float32, records)``, one record
        per tile: ``probabilities`` (soft tissue, benign, malignant), ``decoded`` (bool) and
        ``gate_score`` (the bottleneck head's ``1 - p(soft tissue)``).
    """
    if not getattr(network, "can_gate", False):
        raise ValueError("gating needs the bottleneck's classification head: an MCDetNet with "
                         "classification and multi-scale heads (MuTMuS, UNet3+)")
    gate = float(gate)
    if not 0.0 <= gate <= 1.0:
        raise ValueError(f"gate must be a probability in [0, 1], got {gate}")
    device = torch.device("cpu" if device is None else device)
    if autocast is None:
        autocast = device.type == "cuda"
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    layout = torch.channels_last if channels_last else torch.contiguous_format

    def predict(batch: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
        batch = np.asarray(batch, dtype=np.float32)
        n = len(batch)
        views = with_mirror(batch) if mirror else batch
        seg_out = np.zeros((len(views), 2, *batch.shape[1:]), np.float32)
        with torch.inference_mode():
            x = torch.from_numpy(views[:, None]).to(device).contiguous(memory_format=layout)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=bool(autocast)):
                enc = network.encode(x)
            cls = torch.softmax(enc.class_logits.float(), dim=1)
            score = 1.0 - cls[:, 0]
            if mirror:
                score = 0.5 * (score[:n] + score[n:])
            # written so that a NaN score passes: a broken network's NaNs then reach the maps,
            # where detection reports them, instead of hiding behind a skipped tile
            keep = ~(score < gate)
            if mirror:
                keep = torch.cat([keep, keep])
            if bool(keep.all()):
                feats = enc.features
            elif bool(keep.any()):
                # index_select copies in the default layout; the eager network's convolutions
                # expect channels-last
                feats = tuple(f[keep].contiguous(memory_format=layout) for f in enc.features)
            else:
                feats = None
            if feats is not None:
                with torch.autocast(device.type, dtype=amp_dtype, enabled=bool(autocast)):
                    outputs = network.decode(feats, coarse_segmentation=False)
                dec_cls, seg = combine_scales(outputs)
                idx = keep.nonzero().flatten().cpu().numpy()
                seg_out[idx] = seg.cpu().numpy()
                cls[keep] = dec_cls.to(cls.device)
        cls_np, score_np, keep_np = cls.cpu().numpy(), score.cpu().numpy(), keep.cpu().numpy()
        if mirror:
            cls_np, seg_out = (mean_of_mirrors(cls_np, maps=False),
                               mean_of_mirrors(seg_out, maps=True))
        return seg_out, [{"probabilities": cls_np[k].tolist(), "decoded": bool(keep_np[k]),
                          "gate_score": float(score_np[k])} for k in range(n)]

    return predict
