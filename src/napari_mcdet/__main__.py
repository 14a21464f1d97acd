"""``python -m napari_mcdet COMMAND ...``: the ``mcdet`` command line, also under ``torchrun``
(``torchrun --nproc_per_node N -m napari_mcdet train CONFIG``)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
