"""The paper's comparison study in one call: baselines, ablations, Grad-CAM, tables and figures.

:func:`run_comparison` trains every model of a :class:`CompareConfig` with the one training engine
(:class:`napari_mcdet.train.loop.Trainer`: same synthetic patches, augmentations and seed for every
model; classification loss only for the baseline classifiers), scores every model on the same real
evaluation patches (:func:`evaluation_set`, the protocol of
:func:`napari_mcdet.train.loop.real_validation_patches`), and writes

- ``table2.md/.csv``: patch ``AUC_MCs`` and ``AUC_mlg`` of every model (the paper's Table 2);
- ``table3.md/.csv``: the ablation of our network, multi/mono-task x multi/mono-scale (Table 3);
- ``table4.md/.csv``: pixel ``DSC``/``Rec``/``Prec`` for benign (B) and malignant (M) of our
  segmentation (finest-scale sigmoid) and of the Grad-CAM maps of chosen classifiers, all
  binarised with Li's threshold (Table 4);
- ``roc_mcs.png``, ``roc_mlg.png``: ROC curves of every model;
- ``figure2.png``: chosen cases, input with the ground-truth contour, the Grad-CAM maps of two
  classifiers and our segmentation (the paper's Figure 2);
- ``report.json``: everything above plus training times and the evaluation set's make-up.

Runs are deterministic: the same configuration and seed give the same tables (the CSV files
are compared byte for byte in the tests); timings go to ``report.json`` only.

Modules, by job:

- :mod:`.config`: :class:`ModelEntry` and :class:`CompareConfig` (the YAML file), checked on
  construction;
- :mod:`.evaluation`: the real evaluation patches (:class:`EvaluationSet`) and the scoring of
  one trained network (:class:`ModelResult`);
- :mod:`.tables`: the rows of Tables 2-4 beside the paper's numbers, rendered by
  :mod:`napari_mcdet.metrics.report`;
- :mod:`.figure`: Figure 2;
- :mod:`.run`: :func:`run_comparison` and :func:`write_comparison`.

No napari here; matplotlib is imported inside the plotting functions (object API, Agg).
"""

from __future__ import annotations

from .config import CompareConfig, ModelEntry
from .evaluation import EvaluationSet, ModelResult, evaluation_set, subsample_negatives
from .figure import figure2_panels, plot_figure2
from .run import run_comparison, write_comparison
from .tables import (
    ABLATIONS,
    PAPER_TABLE2,
    PAPER_TABLE3,
    PAPER_TABLE4,
    comparison_tables,
    render_comparison_table,
)

__all__ = [
    "ABLATIONS",
    "PAPER_TABLE2",
    "PAPER_TABLE3",
    "PAPER_TABLE4",
    "CompareConfig",
    "EvaluationSet",
    "ModelEntry",
    "ModelResult",
    "comparison_tables",
    "evaluation_set",
    "figure2_panels",
    "plot_figure2",
    "render_comparison_table",
    "run_comparison",
    "subsample_negatives",
    "write_comparison",
]
