"""Choosing the compute device: ``auto`` is CUDA, then Apple MPS, then CPU (with a warning)."""

from __future__ import annotations

import warnings

import torch


def available_devices() -> list[str]:
    """Device names usable here, best first, e.g. ``['cuda:0', 'cpu']``."""
    devices = []
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    devices.append("cpu")
    return devices


def resolve_device(device: str | torch.device = "auto", *, warn: bool = True) -> torch.device:
    """Turn ``'auto'``, ``'cpu'``, ``'cuda'``, ``'cuda:1'`` or ``'mps'`` into a torch device.

    ``'auto'`` warns when it falls back to the CPU, since training there is slow.
    Asking for a device that is not present raises a ValueError that lists those that are.
    """
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    found = available_devices()
    if name == "auto":
        if found[0] == "cpu" and warn:
            warnings.warn("no GPU found (CUDA or Apple MPS): running on the CPU, which is slow "
                          "for training", RuntimeWarning, stacklevel=2)
        return torch.device(found[0])
    if name == "cuda":
        name = "cuda:0"
    if name not in found:
        raise ValueError(f"device {device!r} is not available here; available: {found}")
    return torch.device(name)


def describe_devices() -> str:
    """One line naming the devices found, with GPU names."""
    parts = []
    for d in available_devices():
        if d.startswith("cuda"):
            parts.append(f"{d} ({torch.cuda.get_device_name(int(d.split(':')[1]))})")
        else:
            parts.append(d)
    return ", ".join(parts)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 convolutions natively (oneDNN's AVX-512 BF16 or AMX),
    where autocast about halves a training step; emulated bfloat16 is slower than float32."""
    return bool(torch.backends.mkldnn.is_available()
                and torch.ops.mkldnn._is_mkldnn_bf16_supported())
