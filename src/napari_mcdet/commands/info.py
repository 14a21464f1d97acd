"""``mcdet info``: versions, the compute device found, and the default network's size."""

from __future__ import annotations

import argparse
import platform


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("info", help="versions, device found, model parameter count")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy
    import torch

    from .._version import __version__
    from ..models.device import describe_devices
    from ..nn import MCDetConfig, MCDetNet, count_parameters

    print(f"napari-mcdet   {__version__}")
    print(f"python         {platform.python_version()} ({platform.system()} {platform.machine()})")
    print(f"torch          {torch.__version__}")
    print(f"numpy          {numpy.__version__}")
    for name in ("pydicom", "highdicom", "skimage", "napari"):
        try:
            module = __import__(name)
            print(f"{name:<14} {getattr(module, '__version__', '?')}")
        except ImportError:
            print(f"{name:<14} not installed")
    print(f"devices        {describe_devices()}")
    cfg = MCDetConfig()
    print(f"model          MCDetNet filters={list(cfg.filters)} "
          f"parameters={count_parameters(MCDetNet(cfg)):,}")
    return 0
