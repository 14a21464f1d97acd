"""Training's real validation of finished models, each scored as a run scores its checkpoints.

The selection score of every bundled model (docs/results.md, docs/model-card.md):
``Trainer.validate_real`` at a fixed setting, by default ``configs/finetune6_minimias.yaml``'s
(128 px tiles with a quarter overlap): the strict-rule cluster FROC over the mini-MIAS
calcification cases and the split's 33 ``val`` normals (mean sensitivity at 0.25-2 false
clusters per image), and the paper's patch AUCs on their evaluation patches. Prints one line per
model: the three figures, their mean (the selection score) and the FROC's four points.

Usage (from the project root):
    python docs/scripts/real_validation.py ../shared/data/mini-mias MODEL [MODEL ...] \
        [--config configs/finetune6_minimias.yaml]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from napari_mcdet.train.config import TrainConfig
from napari_mcdet.train.loop import Trainer

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("real_cluster_sensitivity", "real_AUC_MCs", "real_AUC_mlg")


def validate_model(model: Path, minimias: Path, setting: TrainConfig) -> dict[str, float]:
    """``setting``'s real validation of ``model`` (a trainer that starts from it, never steps)."""
    with tempfile.TemporaryDirectory() as out_dir:
        config = TrainConfig.from_dict({
            **setting.to_dict(), "negatives": [str(minimias)],
            "real_val": f"minimias:{minimias}", "init": str(model), "steps": 1,
            "mine_every": 0, "num_workers": 0, "out_dir": out_dir})
        return Trainer(config).validate_real()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("minimias", type=Path, help="the mini-MIAS folder")
    parser.add_argument("models", type=Path, nargs="+", metavar="MODEL")
    parser.add_argument("--config", type=Path,
                        default=ROOT / "configs" / "finetune6_minimias.yaml",
                        help="the training configuration whose validation setting is used")
    args = parser.parse_args()
    setting = TrainConfig.load(args.config)
    for model in args.models:
        result = validate_model(model.resolve(), args.minimias.resolve(), setting)
        values = [result[k] for k in FIGURES]
        froc = " ".join(f"{k.split('@')[1]}:{v:.3f}" for k, v in result.items() if "@" in k)
        print(f"{model}: cluster sensitivity {values[0]:.4f} AUC_MCs {values[1]:.4f} "
              f"AUC_mlg {values[2]:.4f} mean {sum(values) / 3:.4f} | FROC {froc}", flush=True)


if __name__ == "__main__":
    main()
