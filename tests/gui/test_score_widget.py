"""The Score widget in a real viewer: the table equals napari_mcdet.metrics on the same arrays,
patch AUCs take the values a perfect and a constant classifier must have, and the export parses
back."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from napari_mcdet.gui._models import current_model
from napari_mcdet.gui.widgets.detect_widget import CLUSTERS_NAME, LABELS_NAME, POINTS_NAME
from napari_mcdet.infer.candidates import group_clusters
from napari_mcdet.infer.detect import Detection, find_calcifications
from napari_mcdet.infer.score import report_rows
from napari_mcdet.metrics import froc, pixel_metrics
from napari_mcdet.models.checkpoint import TrainedModel

SPACING = (0.1, 0.1)
SHAPE = (256, 200)


def _ground_truth():
    gt = np.zeros(SHAPE, np.uint8)
    for r, c in ((100, 80), (106, 90), (112, 84), (118, 96)):
        gt[r:r + 3, c:c + 3] = 2  # a malignant cluster
    gt[180:183, 60:63] = 1
    gt[40:42, 150:152] = 1
    return gt


def _detection():
    """A real Detection: some hits, one miss, one false positive, scores from probabilities."""
    labels = np.zeros(SHAPE, np.uint8)
    for r, c in ((100, 80), (106, 90), (113, 85)):
        labels[r:r + 2, c:c + 2] = 2
    labels[180:182, 60:62] = 1
    labels[20:22, 20:22] = 1  # false positive
    rng = np.random.default_rng(0)
    probs = np.zeros((2, *SHAPE), np.float32)
    probs[0][labels == 1] = rng.uniform(0.5, 1, (labels == 1).sum())
    probs[1][labels == 2] = rng.uniform(0.5, 1, (labels == 2).sum())
    calcs = find_calcifications(labels, probs, pixel_spacing=SPACING)
    clusters = group_clusters(calcs, pixel_spacing=SPACING)
    return Detection(probabilities=probs, labels=labels, calcifications=calcs,
                     clusters=clusters, tile_scores=[], pixel_spacing=SPACING,
                     thresholds={"benign": 0.5, "malignant": 0.5})


@pytest.fixture
def setup(plugin_widget):
    from napari_mcdet.synth.phantom import breast_phantom

    viewer, detect = plugin_widget("Detect calcifications")
    image = viewer.add_image(breast_phantom(SHAPE, pixel_spacing=0.1, seed=0).pixels,
                             name="mammo", scale=SPACING)
    det = _detection()
    detect.show_result(det, image)
    viewer.add_labels(_ground_truth(), name="ground truth", scale=SPACING)
    _, w = plugin_widget("Score against ground truth", viewer=viewer)
    return viewer, w, det


def _score(w, qtbot):
    assert w.run() is not None, w.status.text()
    qtbot.waitUntil(lambda: w.worker is None, timeout=60_000)
    assert w.report is not None, w.status.text()


def test_defaults_pick_the_detect_layers(setup):
    _, w, _ = setup
    assert w.pred_combo.currentText() == LABELS_NAME
    assert w.gt_combo.currentText() == "ground truth"
    assert w.points_combo.currentText() == POINTS_NAME
    assert w.shapes_combo.currentText() == CLUSTERS_NAME


def test_table_equals_direct_metrics(setup, qtbot):
    _, w, det = setup
    _score(w, qtbot)
    gt = _ground_truth()
    pixel = pixel_metrics([det.labels], [gt]).summary()
    calc = froc([det.calcification_points()], [gt], classes=(1, 2))
    clus = froc([det.cluster_boxes()], [gt], classes=(2,))
    shown = w.table_values()
    for key, value in pixel.items():
        assert shown[f"pixel {key}"] == ("n/a" if np.isnan(value) else f"{value:.4f}")
    for fp, s in zip(calc.fp_rates, calc.sensitivity_at):
        assert shown[f"calcification sensitivity @ {fp:g} FP/image"] == f"{s:.4f}"
    for fp, s in zip(clus.fp_rates, clus.sensitivity_at):
        assert shown[f"cluster sensitivity @ {fp:g} FP/image"] == f"{s:.4f}"
    assert shown["calcification false positives"] == str(calc.n_false_positives) == "1"
    assert shown["calcification regions"] == "6"
    assert w.figure.axes  # curves drawn


def test_export_csv_and_json_parse_back(setup, qtbot, tmp_path):
    _, w, _ = setup
    _score(w, qtbot)
    rows = dict(report_rows(w.report))
    with open(w.export(tmp_path / "s.csv"), newline="") as fh:
        parsed = {r["metric"]: r["value"] for r in csv.DictReader(fh)}
    assert parsed.keys() == rows.keys()
    assert float(parsed["pixel DSC_M"]) == pytest.approx(rows["pixel DSC_M"])
    data = json.loads(w.export(tmp_path / "s.json").read_text())
    assert data["pixel"]["summary"]["DSC_M"] == pytest.approx(rows["pixel DSC_M"])
    assert "froc_clusters" in data and "_curves" not in data


@pytest.mark.parametrize("constant,expected", [(False, "1.0000"), (True, "0.5000")])
def test_patch_aucs_with_the_current_model(setup, qtbot, constant, expected, brightest_pixel_net):
    """A classifier that is right on every patch scores 1 on both tasks; one that gives every
    patch the same probabilities scores 0.5 (all ties)."""
    viewer, w, _ = setup
    image = np.asarray(viewer.layers["mammo"].data).copy()
    gt = _ground_truth()
    gt[40:42, 150:152] = 0  # outside the phantom's breast, where normalisation makes it 0
    image[gt == 1], image[gt == 2] = 3.0, 10.0
    viewer.add_image(image, name="bright calcifications", scale=SPACING)
    viewer.add_labels(gt, name="breast truth", scale=SPACING)
    w.image_combo.setCurrentText("bright calcifications")
    w.gt_combo.setCurrentText("breast truth")
    current_model.set(TrainedModel(network=brightest_pixel_net(constant=constant),
                                   architecture="test", config={}, pixel_spacing=SPACING,
                                   patch_size=32), source="test")
    _score(w, qtbot)
    shown = w.table_values()
    assert shown["patch AUC_MCs"] == shown["patch AUC_mlg"] == expected


def test_detection_arriving_after_docking_becomes_the_prediction(make_napari_viewer,
                                                                   plugin_widget):
    """Docked before detection runs (as in the demo): the new detection layer is picked."""
    from napari_mcdet.synth.phantom import breast_phantom

    viewer = make_napari_viewer()
    image = viewer.add_image(breast_phantom(SHAPE, pixel_spacing=0.1, seed=0).pixels,
                             name="mammo", scale=SPACING)
    viewer.add_labels(_ground_truth(), name="ground truth", scale=SPACING)
    _, w = plugin_widget("Score against ground truth", viewer=viewer)
    assert w.pred_combo.currentText() == "ground truth"
    plugin_widget("Detect calcifications", viewer=viewer)[1].show_result(_detection(), image)
    assert w.pred_combo.currentText() == LABELS_NAME
    assert w.gt_combo.currentText() == "ground truth"


# -- with the real data, the widgets docked as napari docks them (through a proxy viewer) ------
@pytest.fixture
def docked(plugin_widget, tiny_checkpoint):
    """A viewer with the Detect and Score widgets docked by napari, the tiny model loaded."""
    viewer, detect = plugin_widget("Detect calcifications")
    _, score = plugin_widget("Score against ground truth", viewer=viewer)
    assert detect.load_model(str(tiny_checkpoint)) is not None, detect.status.text()
    score.patch_auc.setChecked(False)
    return viewer, detect, score


def _detect(detect, qtbot, image_name):
    detect.image_combo.setCurrentText(image_name)
    assert detect.run() is not None, detect.status.text()
    qtbot.waitUntil(lambda: detect.worker is None, timeout=240_000)
    assert detect.last_result is not None, detect.status.text()


def _errors_since(n):
    from napari.utils.notifications import NotificationSeverity, notification_manager

    return [r for r in notification_manager.records[n:]
            if r.severity == NotificationSeverity.ERROR]


@pytest.mark.slow
def test_a_detection_is_never_scored_against_itself(docked, qtbot, shared_data):
    """An image without ground truth: Score proposes none and refuses the detection itself."""
    from napari.utils.notifications import notification_manager

    from napari_mcdet.gui.widgets.score_widget import NONE

    viewer, detect, score = docked
    viewer.open(str(shared_data / "mini-mias" / "mdb003.pgm"), plugin="napari-mcdet")
    assert [lyr.name for lyr in viewer.layers] == ["mdb003"]  # a normal image: no annotations
    _detect(detect, qtbot, "mdb003")
    assert score.pred_combo.currentText() == LABELS_NAME
    assert score.gt_combo.currentText() == NONE
    assert score.run() is None
    assert "ground-truth labels layer" in score.status.text()

    n = len(notification_manager.records)
    score.gt_combo.setCurrentText(LABELS_NAME)  # chosen by hand: still refused
    assert score.run() is None
    assert "same layer" in score.status.text()
    assert score.report is None and score.table.rowCount() == 0
    assert len(_errors_since(n)) == 1


def test_a_failing_score_shows_one_message_and_clears_the_table(setup, qtbot, shared_data):
    """Scoring on mismatched grids fails in the worker: one clear message, no stale table."""
    from napari.utils.notifications import notification_manager

    viewer, w, _ = setup
    w.patch_auc.setChecked(False)
    _score(w, qtbot)
    assert w.table.rowCount() > 0
    viewer.open(str(shared_data / "mini-mias" / "mdb209.pgm"), plugin="napari-mcdet")
    w.gt_combo.setCurrentText("mdb209 calcifications")  # 1024 x 1024 against 256 x 200
    n = len(notification_manager.records)
    assert w.run() is not None
    qtbot.waitUntil(lambda: w.worker is None, timeout=60_000)
    errors = _errors_since(n)
    assert len(errors) == 1, [e.message for e in errors]
    assert errors[0].message.startswith("scoring failed: ")
    assert "same shape" in errors[0].message and "Traceback" not in errors[0].message
    assert w.status.text() == errors[0].message
    assert w.report is None and w.table.rowCount() == 0 and not w.export_button.isEnabled()
    assert w.run_button.isEnabled()


@pytest.mark.slow
def test_circle_ground_truth_marks_pixel_metrics_not_meaningful(docked, qtbot, shared_data):
    """mini-MIAS circles: the pixel rows say they are not meaningful, and why; names are whole."""
    from napari_mcdet.gui.widgets.score_widget import CIRCLE_NOTE

    viewer, detect, score = docked
    viewer.open(str(shared_data / "mini-mias" / "mdb209.pgm"), plugin="napari-mcdet")
    _detect(detect, qtbot, "mdb209")
    assert score.gt_combo.currentText() == "mdb209 calcifications"
    _score(score, qtbot)
    shown, tips = score.table_values(), score.table_tooltips()
    pixel = [k for k in shown if k.startswith("pixel ")]
    assert pixel and all("not meaningful" in shown[k] for k in pixel)
    assert all(tips[k] == CIRCLE_NOTE for k in pixel)
    assert CIRCLE_NOTE in score.report["notes"] and CIRCLE_NOTE in score.status.text()
    assert not any("not meaningful" in v for k, v in shown.items() if not k.startswith("pixel"))
    # the metric column is wide enough for its longest name
    metrics = score.table.fontMetrics()
    longest = max(metrics.horizontalAdvance(k) for k in shown)
    assert score.table.columnWidth(0) >= longest


def test_undefined_values_say_why(setup, qtbot):
    viewer, w, _ = setup
    gt = _ground_truth()
    gt[gt == 1] = 0
    viewer.add_labels(gt, name="malignant only", scale=SPACING)
    w.gt_combo.setCurrentText("malignant only")
    w.patch_auc.setChecked(False)
    _score(w, qtbot)
    shown, tips = w.table_values(), w.table_tooltips()
    assert shown["pixel Rec_B"] == "n/a"
    assert "no benign pixels" in tips["pixel Rec_B"]
    assert all(tips[k] for k, v in shown.items() if v == "n/a")
    assert not tips["pixel DSC_M"]  # a defined value needs no excuse
