"""Scoring one image (the Score widget's engine, without Qt): values derived by hand."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from napari_mcdet.infer.score import (
    export_report,
    na_reason,
    report_rows,
    score_image,
    strict_tolerance_px,
)
from napari_mcdet.models.checkpoint import TrainedModel

SPACING = (0.1, 0.1)


@pytest.fixture
def oracle_model(brightest_pixel_net):
    """``oracle_model(constant=...)``: the brightest-pixel classifier as a TrainedModel."""

    def build(*, constant: bool = False, patch_size: int = 32) -> TrainedModel:
        return TrainedModel(network=brightest_pixel_net(constant=constant), architecture="test",
                            config={}, pixel_spacing=SPACING, patch_size=patch_size)

    return build


def test_strict_tolerance_is_two_mm_in_pixels_of_the_finer_axis():
    assert strict_tolerance_px((0.1, 0.05)) == pytest.approx(40.0)
    assert strict_tolerance_px(0.2) == pytest.approx(10.0)
    assert strict_tolerance_px(None) == 0.0


def _labels():
    gt = np.zeros((64, 64), np.uint8)
    gt[10:14, 10:14] = 2          # one malignant region, 16 pixels
    gt[40:43, 40:43] = 1          # one benign region
    pred = np.zeros_like(gt)
    pred[12:16, 10:14] = 2        # 8 of its 16 pixels on the malignant region
    return pred, gt


def test_pixel_metrics_and_froc_of_one_image():
    pred, gt = _labels()
    calcs = np.array([[12.0, 12.0, 0.9],    # inside the malignant region
                      [30.0, 30.0, 0.95]])  # on nothing, scored higher
    report = score_image(pred, gt, calcifications=calcs)
    summary = report["pixel"]["summary"]
    assert summary["Rec_M"] == summary["Prec_M"] == summary["DSC_M"] == pytest.approx(0.5)
    assert math.isnan(summary["Prec_B"])  # no benign pixel detected
    calc = report["froc_calcifications"]
    assert (calc["n_regions"], calc["n_detections"]) == (2, 2)
    assert (calc["n_true_positives"], calc["n_false_positives"]) == (1, 1)
    # the false one comes first: the curve steps from (0 FP, 0) to (1 FP, 0.5); below 1 FP per
    # image no threshold finds anything
    assert calc["sensitivity_at_fp"] == {"0.25": 0.0, "0.5": 0.0, "1": 0.5, "2": 0.5}
    assert "froc_clusters" not in report and "patch_auc" not in report


def test_cluster_hits_follow_the_strict_two_mm_rule():
    pred, gt = _labels()
    # a box centred about 16 pixels right of the malignant region: 1.6 mm at 0.1 mm/pixel,
    # 3.2 mm at 0.2 mm/pixel
    box = np.array([[10.0, 27.0, 15.0, 32.0, 0.8]])
    near = score_image(pred, gt, clusters=box, pixel_spacing=0.1)["froc_clusters"]
    far = score_image(pred, gt, clusters=box, pixel_spacing=0.2)["froc_clusters"]
    assert (near["n_true_positives"], near["n_false_positives"]) == (1, 0)
    assert (far["n_true_positives"], far["n_false_positives"]) == (0, 1)
    assert near["n_regions"] == 1  # clusters are scored against malignant regions only


def _bright_image():
    """A phantom whose benign pixels are 3 and malignant pixels 10 (tissue is 0.2-0.7)."""
    from napari_mcdet.synth.phantom import breast_phantom

    m = breast_phantom((256, 256), pixel_spacing=SPACING, seed=0)
    gt = np.zeros(m.shape, np.uint8)
    gt[100:103, 100:103] = 2   # inside the tile at (96, 96) of a 32-pixel grid
    gt[164:167, 60:63] = 1     # inside the tile at (160, 32)
    assert m.metadata["breast_mask"][gt > 0].all()
    image = m.pixels.copy()
    image[gt == 1], image[gt == 2] = 3.0, 10.0
    return image, gt


def test_patch_aucs_of_a_perfect_and_of_a_constant_classifier(oracle_model):
    image, gt = _bright_image()
    report = score_image(gt, gt, image=image, pixel_spacing=SPACING, model=oracle_model())
    auc = report["patch_auc"]
    assert auc["AUC_MCs"] == 1.0 and auc["AUC_mlg"] == 1.0
    # malignant: the patch centred on it and its tile; benign: its tile
    assert auc["n_per_class"]["2"] == 2 and auc["n_per_class"]["1"] == 1
    assert auc["n_patches"] == sum(auc["n_per_class"].values())
    assert set(report["_curves"]) == {"AUC_MCs", "AUC_mlg"}
    tied = score_image(gt, gt, image=image, pixel_spacing=SPACING,
                       model=oracle_model(constant=True))["patch_auc"]
    assert tied["AUC_MCs"] == 0.5 and tied["AUC_mlg"] == 0.5


def test_one_class_of_patches_gives_a_note_not_an_auc(oracle_model):
    image, gt = _bright_image()
    empty = np.zeros_like(gt)
    report = score_image(empty, empty, image=image, pixel_spacing=SPACING, model=oracle_model())
    assert "patch_auc" not in report
    assert report["notes"] == ["patch AUCs need evaluation patches of two classes; this image "
                               "has only class 0"]


def test_rows_and_export(tmp_path):
    pred, gt = _labels()
    report = score_image(pred, gt, calcifications=np.array([[12.0, 12.0, 0.9]]))
    rows = dict(report_rows(report))
    assert rows["pixel DSC_M"] == pytest.approx(0.5)
    assert rows["calcification sensitivity @ 0.25 FP/image"] == 0.5
    assert rows["calcification regions"] == 2 and rows["calcification false positives"] == 0
    with open(export_report(report, tmp_path / "out" / "s.csv"), newline="") as fh:
        parsed = list(csv.reader(fh))
    assert parsed[0] == ["metric", "value"] and len(parsed) == len(rows) + 1
    assert float(dict(parsed[1:])["pixel DSC_M"]) == pytest.approx(0.5)
    data = json.loads(export_report(report, tmp_path / "s.json").read_text())
    assert data["froc_calcifications"]["n_true_positives"] == 1
    assert "_curves" not in data


def test_na_reasons_name_the_missing_class():
    assert "no benign pixels" in na_reason("pixel Rec_B")
    assert "detection has no malignant pixels" in na_reason("pixel Prec_M")
    assert "malignant regions" in na_reason("cluster sensitivity @ 0.5 FP/image")
    assert "one of the two classes" in na_reason("patch AUC_mlg")
