"""Write docs/cli.md from the `mcdet <command> --help` texts.

Run: ``python docs/scripts/make_cli_md.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "cli.md"
COMMANDS = ["", "info", "demo", "synth", "train", "average", "interpolate", "detect", "calibrate",
            "evaluate", "compare", "convert"]
HEADER = """# Command line reference

Every task of the plugin also runs from a terminal through one program, `mcdet`, installed with
the package. This page is the output of `mcdet <command> --help` (regenerate it with
`python docs/scripts/make_cli_md.py`, or read the same text in your terminal).

| command | use it to |
|---|---|
| `mcdet info` | check the install: versions, the devices torch sees, the model size |
| `mcdet demo` | see the plugin work on the sample mammogram (or your image) |
| `mcdet synth` | write synthetic training patches from normal mammograms |
| `mcdet train` | train a detector on normal mammograms (CPU, one GPU, or many with `torchrun`) |
| `mcdet average` | average a run's kept checkpoints into one model (SWA), BatchNorm refreshed |
| `mcdet interpolate` | pull a fine-tune part of the way back to its start model (WiSE-FT) |
| `mcdet detect` | detect calcifications and clusters in mammograms, write maps and tables |
| `mcdet calibrate` | choose a model's operating point (and decoder gate) on your normal images |
| `mcdet evaluate` | score a model on annotated images (the paper's metrics, FROC) |
| `mcdet compare` | train and compare the paper's baselines and ablations |
| `mcdet convert` | turn an INbreast XML annotation (with its DICOM) into a DICOM SEG + SR |

Errors in the input (a missing file, no pixel spacing, a broken checkpoint) end with a one-line
message `mcdet <command>: error: ...` and exit status 2.
"""


def main() -> int:
    env = dict(os.environ, COLUMNS="100")
    parts = [HEADER]
    for cmd in COMMANDS:
        args = [sys.executable, "-m", "napari_mcdet.cli", *([cmd] if cmd else []), "--help"]
        text = subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
        title = f"mcdet {cmd}".strip()
        parts.append(f"## `{title}`\n\n```text\n{text.rstrip()}\n```\n")
    OUT.write_text("\n".join(parts))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
