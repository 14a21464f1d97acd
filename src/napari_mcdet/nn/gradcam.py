"""Grad-CAM heat maps for any patch classifier (Selvaraju et al. 2017), own code.

A forward hook on the target layer keeps its activations; their gradient is taken with
``torch.autograd.grad`` (the same quantity a backward hook would see, without touching the
parameters' ``.grad``).

For a class ``c`` with score ``y_c`` (the logit) and the activations ``A`` of a target layer
(``(K, h, w)``), the channel weights are the spatial mean of the gradients,
``alpha_k = mean_{i,j} d y_c / d A_k[i, j]``; the map is ``ReLU(sum_k alpha_k A_k)``, bilinearly
resized to the input size and scaled to [0, 1] by its maximum (method.md section 6).
:func:`binarize_cam` applies Li's threshold so the pixel metrics apply to classifiers too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["binarize_cam", "grad_cam"]


def grad_cam(
    model: nn.Module,
    x: torch.Tensor | np.ndarray,
    *,
    target_class: int | Sequence[int] | None,
    layer: nn.Module | None = None,
) -> np.ndarray:
    """Grad-CAM heat maps of a classifier, at input size.

    Parameters
    ----------
    model : nn.Module
        Classifier mapping ``(B, C, H, W)`` to logits ``(B, num_classes)``. It is run in eval
        mode (its training flag is restored afterwards); its parameters are not changed and
        their ``.grad`` is left as it was.
    x : Tensor or ndarray of shape (B, C, H, W) or (H, W)
        Input patches; a 2-D array is taken as one single-channel patch. Moved to the model's
        device and dtype.
    target_class : int, sequence of int of length B, or None
        Class whose score is explained, for all images or per image; None explains the
        predicted (arg-max) class of each image.
    layer : nn.Module, optional
        Layer whose output activations are used; default ``model.target_layer`` (the baselines
        of :mod:`napari_mcdet.nn.baselines` expose it). Its output must be ``(B, K, h, w)``.

    Returns
    -------
    cam : ndarray of shape (B, H, W), float32
        Heat maps in [0, 1] (each divided by its maximum; all zeros where no location has
        positive evidence for the class).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if layer is None:
        layer = getattr(model, "target_layer", None)
        if layer is None:
            raise ValueError(
                "model has no 'target_layer'; pass layer=<the last convolutional block>"
            )
    if not isinstance(layer, nn.Module):
        raise TypeError(f"layer must be a torch.nn.Module, got {type(layer).__name__}")
    if not any(layer is m for m in model.modules()):
        raise ValueError("layer is not a sub-module of model")

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = torch.as_tensor(x)
    if x.ndim == 2:
        x = x[None, None]
    if x.ndim != 4:
        raise ValueError(
            f"x must have shape (B, C, H, W) or (H, W), got {tuple(x.shape)}; "
            "add a batch axis for a single (C, H, W) patch"
        )
    batch, height, width = x.shape[0], x.shape[-2], x.shape[-1]

    # the input requires grad so the graph exists even for a frozen model
    x = x.to(device=device, dtype=dtype).detach().requires_grad_(True)
    store: dict[str, torch.Tensor] = {}

    def _forward_hook(_module, _inputs, output):
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            raise ValueError("the Grad-CAM layer must output a (B, K, h, w) tensor")
        store["act"] = output

    was_training = model.training
    handle = layer.register_forward_hook(_forward_hook)
    try:
        model.eval()
        with torch.enable_grad():
            logits = model(x)
            if logits.ndim != 2 or logits.shape[0] != batch:
                raise ValueError(
                    f"model must return logits (B, classes), got {tuple(logits.shape)}"
                )
            classes = _target_indices(target_class, logits)
            if "act" not in store:
                raise ValueError("the Grad-CAM layer was not called in the model's forward pass")
            score = logits.gather(1, classes[:, None]).sum()
            act = store["act"]
            # d score / d activations; autograd.grad leaves the parameters' .grad untouched
            grad = torch.autograd.grad(score, act)[0]
    finally:
        handle.remove()
        model.train(was_training)

    with torch.no_grad():
        weights = grad.mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1)
        cam = F.relu((weights * act.detach()).sum(dim=1, keepdim=True))  # (B, 1, h, w)
        cam = F.interpolate(cam.float(), size=(height, width), mode="bilinear", align_corners=False)
        cam = cam[:, 0].clamp_min(0)
        peak = cam.amax(dim=(1, 2), keepdim=True)
        cam = torch.where(peak > 0, cam / peak.clamp_min(torch.finfo(cam.dtype).tiny), 0.0)
    return cam.cpu().numpy().astype(np.float32, copy=False)


def _target_indices(target_class, logits: torch.Tensor) -> torch.Tensor:
    batch, n_classes = logits.shape
    if target_class is None:
        return logits.detach().argmax(dim=1)
    if isinstance(target_class, (int, np.integer)) and not isinstance(target_class, bool):
        classes = [int(target_class)] * batch
    else:
        classes = [int(c) for c in np.asarray(target_class).ravel()]
        if len(classes) != batch:
            raise ValueError(f"target_class has {len(classes)} entries for a batch of {batch}")
    bad = [c for c in classes if not 0 <= c < n_classes]
    if bad:
        raise ValueError(f"target_class {bad} out of range for {n_classes} classes")
    return torch.tensor(classes, device=logits.device, dtype=torch.long)


def binarize_cam(cam: np.ndarray) -> np.ndarray:
    """Binarise Grad-CAM heat maps with Li's minimum cross-entropy threshold, per image.

    Uses :func:`napari_mcdet.data.threshold.binarize` (Li's threshold), so
    classifier maps and segmentations are thresholded the same way.

    Parameters
    ----------
    cam : ndarray of shape (H, W) or (B, H, W)
        Heat maps, e.g. from :func:`grad_cam`.

    Returns
    -------
    mask : ndarray of bool, same shape as ``cam``
        Pixels above each map's Li threshold; an all-False mask for a constant map.
    """
    from ..data.threshold import binarize

    cam = np.asarray(cam)
    if cam.ndim not in (2, 3):
        raise ValueError(f"cam must have shape (H, W) or (B, H, W), got {cam.shape}")
    return binarize(cam, method="li")
