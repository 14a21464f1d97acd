"""The study's tables and Figure 2's case choice, on hand-made results with hand-written
expected text."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcdet.compare import (
    EvaluationSet,
    ModelEntry,
    ModelResult,
    comparison_tables,
    render_comparison_table,
)
from napari_mcdet.compare.figure import _choose_cases

PIXEL = {"DSC_B": 0.1, "Rec_B": 0.2, "Prec_B": 0.3, "DSC_M": 0.4, "Rec_M": 0.5, "Prec_M": 0.6}


def _result(entry: ModelEntry, aucs: tuple[float, float], pixel=None) -> ModelResult:
    return ModelResult(entry, {"AUC_MCs": aucs[0], "AUC_mlg": aucs[1]}, {}, pixel, None,
                       parameters=1, train_seconds=0.0, eval_seconds=0.0, checkpoint="")


def _results() -> dict[str, ModelResult]:
    return {
        "ResNet-22 optimized": _result(ModelEntry("ResNet-22 optimized", "resnet22-separable"),
                                       (0.5, 0.25), PIXEL),
        "R22": _result(ModelEntry("R22", "resnet22"), (0.125, float("nan"))),
        "MoTMoS": _result(ModelEntry("MoTMoS", variant="MoTMoS"), (0.75, 0.5), PIXEL),
    }


def test_table2_sets_each_model_beside_the_paper():
    tables = comparison_tables(_results(), "mini-MIAS")
    assert render_comparison_table("table2", tables["table2"], fmt="markdown") == (
        "| run | mini-MIAS AUC_MCs | mini-MIAS AUC_mlg | paper (INbreast val.) AUC_MCs "
        "| paper (INbreast val.) AUC_mlg |\n"
        "|---|---:|---:|---:|---:|\n"
        "| ResNet-22 optimized | 0.50 | 0.25 | 0.88 | 0.93 |\n"
        "| R22 | 0.12 | - | 0.73 | 0.89 |\n"
        "| MoTMoS | 0.75 | 0.50 | - | - |\n")
    assert render_comparison_table("table2", tables["table2"], fmt="csv").splitlines()[2] == (
        "R22,0.125,,0.73,0.89")


def test_table3_holds_the_ablation_variants_only():
    tables = comparison_tables(_results(), "mini-MIAS")
    assert list(tables["table3"]) == ["MoTMoS"]
    assert render_comparison_table("table3", tables["table3"], fmt="csv") == (
        "run,multi-task,multi-scale,mini-MIAS AUC_MCs,mini-MIAS AUC_mlg,"
        "paper (INbreast val.) AUC_MCs,paper (INbreast val.) AUC_mlg\n"
        "MoTMoS,no,no,0.75,0.5,,\n")


def test_table4_drops_the_paper_columns_when_the_paper_has_no_row():
    only_ours = {"MoTMoS": _results()["MoTMoS"]}
    tables = comparison_tables(only_ours, "mini-MIAS")
    assert list(tables["table4"]) == ["MoTMoS (segmentation)"]
    assert render_comparison_table("table4", tables["table4"], fmt="markdown") == (
        "| run | mini-MIAS DSC_B | mini-MIAS Rec_B | mini-MIAS Prec_B | mini-MIAS DSC_M "
        "| mini-MIAS Rec_M | mini-MIAS Prec_M |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n"
        "| MoTMoS (segmentation) | 0.10 | 0.20 | 0.30 | 0.40 | 0.50 | 0.60 |\n")
    with pytest.raises(ValueError, match="table2"):
        render_comparison_table("table5", tables["table4"], fmt="markdown")


def _evaluation_set() -> EvaluationSet:
    """Five calcified patches of four images: mdb1 (malignant) has a tile and a
    malignant-centred patch; mdb2 and mdb3 are benign; mdb4's only patch is flat."""
    patches = np.zeros((5, 4, 4), np.float32)
    patches[:4, 0, 0] = 1.0  # every patch but the last shows something
    maps = np.zeros((5, 4, 4), np.uint8)
    maps[0, :3] = 2  # the tile of mdb1 has more lesion pixels than its centred patch
    maps[1, 0, 0] = 2
    maps[2, 0, :2] = 1
    maps[3, 0, 0] = 1
    maps[4, 0, 0] = 1
    return EvaluationSet(patches, np.array([2, 2, 1, 1, 1]), maps,
                         np.array(["mdb1", "mdb1", "mdb3", "mdb2", "mdb4"]),
                         np.array(["tile", "malignant-centred", "tile", "tile", "tile"]),
                         np.zeros((5, 2), int))


def test_figure_cases_one_patch_per_image_classes_alternating():
    ev = _evaluation_set()
    lesion = np.arange(5)
    # mdb1's malignant-centred patch (1) beats its bigger tile; then the benign images by name;
    # mdb4 shows nothing
    assert _choose_cases(ev, lesion, figure_cases=5) == [1, 3, 2]
    assert _choose_cases(ev, lesion, figure_cases=2) == [1, 3]
    assert _choose_cases(ev, lesion, figure_cases=["mdb3", "mdb1"]) == [2, 1]
    with pytest.raises(ValueError, match="mdb4"):
        _choose_cases(ev, lesion, figure_cases=["mdb4"])
