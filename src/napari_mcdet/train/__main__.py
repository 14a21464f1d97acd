"""``python -m napari_mcdet.train CONFIG`` (also under ``torchrun --nproc_per_node N``)."""

from __future__ import annotations

import sys

from ..commands.train import main

if __name__ == "__main__":
    sys.exit(main())
