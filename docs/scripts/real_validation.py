"""Training's real validation of finished models, each scored as a run scores its checkpoints.

The selection score of every bundled model (docs/model-card.md): ``Trainer.validate_real`` at a
fixed setting, 128 px tiles with a quarter overlap and 128 px evaluation patches, on the
mini-MIAS calcification cases and the 33 ``val`` normals of ``configs/minimias_split.json``: the
strict-rule cluster FROC (mean sensitivity at 0.25-2 false clusters per image) and the paper's
patch AUCs. Prints one line per model: the three figures, their mean (the selection score) and
the FROC's four points.

With ``--bootstrap N`` it then prints each figure's percentile interval from N resamples of the
images (stratified: malignant cases, benign cases, normals;
:func:`napari_mcdet.train.selection.bootstrap_selection`) and, for every model after the first,
the paired interval of its difference from the first and the share of resamples in which its
score is higher.

Usage (from the project root; MINIMIAS is the mini-MIAS folder):
    python docs/scripts/real_validation.py MINIMIAS MODEL [MODEL ...] \
        [--config configs/bundled_model.yaml] [--patch-size 128] [--bootstrap 2000 --seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from napari_mcdet.train.config import TrainConfig
from napari_mcdet.train.loop import Trainer
from napari_mcdet.train.selection import (
    FIGURES,
    RealValidationRecord,
    bootstrap_selection,
    selection_figures,
    selection_score,
)

ROOT = Path(__file__).resolve().parents[2]
#: The tile and evaluation patch side every bundled model was selected at.
SELECTION_PATCH_SIZE = 128


def validation_record(model: Path, minimias: Path, setting: TrainConfig,
                      patch_size: int = SELECTION_PATCH_SIZE) -> RealValidationRecord:
    """``setting``'s real validation of ``model`` at ``patch_size`` (a trainer that starts from
    it, never steps). Only the split, the pixel spacing and the patch size enter the figures."""
    with tempfile.TemporaryDirectory() as out_dir:
        config = TrainConfig.from_dict({
            **setting.to_dict(), "patch_size": patch_size, "negatives": [str(minimias)],
            "real_val": f"minimias:{minimias}", "init": str(model), "steps": 1,
            "mine_every": 0, "num_workers": 0, "out_dir": out_dir})
        return Trainer(config).real_validation_record()


def print_intervals(models: list[Path], result: dict) -> None:
    """The bootstrap's intervals, one line per model (and per difference from the first)."""
    level = f"{100 * result['confidence']:g} %"
    strata = ", ".join(f"{n} {k}s" for k, n in result["strata"].items())
    print(f"bootstrap: {result['n_resamples']} resamples of the images ({strata}), "
          f"seed {result['seed']}, {level} percentile intervals")
    for i, model in enumerate(models):
        cells = [f"{name} {v:.4f} [{lo:.4f}, {hi:.4f}]" for name, v, lo, hi in zip(
            result["names"], result["value"][i], result["low"][i], result["high"][i])]
        print(f"{model}: " + "  ".join(cells))
        if i:
            diff = result["value"][i] - result["value"][0]
            cells = [f"{name} {d:+.4f} [{lo:+.4f}, {hi:+.4f}]" for name, d, lo, hi in zip(
                result["names"], diff, result["difference_low"][i],
                result["difference_high"][i])]
            print(f"  minus {models[0]}: " + "  ".join(cells)
                  + f"  higher in {100 * result['higher'][i]:.1f} % of resamples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("minimias", type=Path, help="the mini-MIAS folder")
    parser.add_argument("models", type=Path, nargs="+", metavar="MODEL")
    parser.add_argument("--config", type=Path,
                        default=ROOT / "configs" / "bundled_model.yaml",
                        help="the training configuration whose split and pixel spacing are used")
    parser.add_argument("--patch-size", type=int, default=SELECTION_PATCH_SIZE,
                        help="tile and evaluation patch side in pixels "
                             f"({SELECTION_PATCH_SIZE}: the setting the bundled model was selected "
                             "at)")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="resamples for the intervals (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    args = parser.parse_args()
    setting = TrainConfig.load(args.config)
    records = []
    for model in args.models:
        record = validation_record(model.resolve(), args.minimias.resolve(), setting,
                                   args.patch_size)
        result = selection_figures(record)
        values = [result[k] for k in FIGURES]
        froc = " ".join(f"{k.split('@')[1]}:{v:.3f}" for k, v in result.items() if "@" in k)
        print(f"{model}: cluster sensitivity {values[0]:.4f} AUC_MCs {values[1]:.4f} "
              f"AUC_mlg {values[2]:.4f} mean {selection_score(result):.4f} | FROC {froc}",
              flush=True)
        records.append(record)
    if args.bootstrap:
        print_intervals(args.models, bootstrap_selection(records, n_resamples=args.bootstrap,
                                                         seed=args.seed))


if __name__ == "__main__":
    main()
