"""The Detect widget in a real viewer: layers appear, re-run replaces them, cancel, Grad-CAM."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcdet.constants import DEFAULT_ENGINE
from napari_mcdet.gui._models import current_model
from napari_mcdet.gui.widgets.detect_widget import (
    BENIGN_NAME,
    CLUSTERS_NAME,
    GRADCAM_NAME,
    LABELS_NAME,
    MALIGNANT_NAME,
    MODEL_CURRENT,
    POINTS_NAME,
    DetectWidget,
)
from napari_mcdet.infer.export import CALC_COLUMNS, CLUSTER_COLUMNS

SPACING = (0.1, 0.1)


@pytest.fixture(scope="module")
def phantom():
    from napari_mcdet.synth.lesions import synthesize
    from napari_mcdet.synth.phantom import breast_phantom

    m = breast_phantom((256, 200), pixel_spacing=SPACING[0], seed=0)
    les = synthesize(m.pixels, pixel_spacing=SPACING, kind="malignant", seed=1,
                     breast=m.metadata["breast_mask"], centre=(128.0, 100.0))
    return les.image, les.mask


@pytest.fixture(scope="module")
def mcdet_checkpoint(tiny_checkpoint, tmp_path_factory):
    """A copy of the tiny checkpoint: calibration in this module writes into it."""
    import shutil

    return shutil.copy(tiny_checkpoint, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(scope="module")
def baseline_checkpoint(tmp_path_factory):
    import torch

    from napari_mcdet.models.checkpoint import save_checkpoint
    from napari_mcdet.nn.baselines import build_baseline

    torch.manual_seed(0)
    net = build_baseline("resnet22-separable")
    path = tmp_path_factory.mktemp("ckpt") / "baseline.safetensors"
    return save_checkpoint(path, net, pixel_spacing=(0.2, 0.2), patch_size=64)


@pytest.fixture
def widget(make_napari_viewer, qtbot, phantom):
    current_model.clear()
    viewer = make_napari_viewer()
    viewer.add_image(phantom[0], name="mammo", scale=SPACING, translate=(5.0, 3.0))
    w = DetectWidget(viewer)
    qtbot.addWidget(w)
    yield w
    current_model.clear()


def _run(widget, qtbot):
    worker = widget.run()
    assert worker is not None, widget.status.text()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    return worker


def test_spacing_comes_from_the_layer(widget):
    assert widget.image_combo.currentText() == "mammo"
    assert widget.pixel_spacing() == SPACING
    assert not widget.spacing_edit.isEnabled()
    assert widget.spacing_edit.text() == "0.1"  # what is used is what is shown


DICOM = "dicom-mg/cbis-ddsm-P00173-benign-case-1-130.dcm"  # digitised film: no PixelSpacing


def test_a_layer_without_spacing_asks_for_one(make_napari_viewer, qtbot, shared_data):
    """No default and no leftover from another layer: the field is empty until typed."""
    current_model.clear()
    viewer = make_napari_viewer()
    viewer.open(str(shared_data / DICOM), plugin="napari-mcdet")
    film = viewer.layers[-1].name
    _, w = viewer.window.add_plugin_dock_widget("napari-mcdet", "Detect calcifications")
    assert w.image_combo.currentText() == film
    assert w.spacing_edit.text() == "" and w.spacing_edit.isEnabled()  # a fresh panel
    with pytest.raises(ValueError, match="no pixel spacing"):
        w.pixel_spacing()
    assert w.run() is None
    assert "type it in mm" in w.status.text()

    viewer.open(str(shared_data / "mini-mias" / "mdb003.pgm"), plugin="napari-mcdet")
    w.image_combo.setCurrentText("mdb003")
    assert w.spacing_edit.text() == "0.2" and not w.spacing_edit.isEnabled()
    w.image_combo.setCurrentText(film)
    assert w.spacing_edit.text() == "" and w.spacing_edit.isEnabled()  # not mdb003's 0.2

    qtbot.keyClicks(w.spacing_edit, "0.05")
    assert w.pixel_spacing() == (0.05, 0.05)
    w.image_combo.setCurrentText("mdb003")
    assert w.pixel_spacing() == (0.2, 0.2)
    w.image_combo.setCurrentText(film)
    assert w.spacing_edit.text() == "0.05"  # what was typed for this layer stays with it
    current_model.clear()


def test_a_failing_detection_shows_one_message(widget, qtbot, mcdet_checkpoint):
    """An error in the worker: one notification, in words, and the status says the same."""
    from napari.utils.notifications import NotificationSeverity, notification_manager

    viewer = widget.viewer
    widget.load_model(str(mcdet_checkpoint))
    viewer.add_image(np.zeros((64, 64), np.float32), name="blank", scale=SPACING)
    widget.image_combo.setCurrentText("blank")
    n = len(notification_manager.records)
    _run(widget, qtbot)
    errors = [r for r in notification_manager.records[n:]
              if r.severity == NotificationSeverity.ERROR]
    assert len(errors) == 1, [e.message for e in errors]
    assert errors[0].message.startswith("detection failed: the mammogram is constant")
    assert widget.status.text() == errors[0].message
    assert widget.last_result is None and LABELS_NAME not in viewer.layers
    assert widget.run_button.isEnabled()


def test_load_model_becomes_current(widget, mcdet_checkpoint):
    assert widget.load_model(str(mcdet_checkpoint)) is not None
    assert current_model.model is not None and current_model.model.architecture == "mcdet"
    assert widget.model_combo.currentText() == MODEL_CURRENT
    assert "mcdet" in widget.model_label.text()


def test_bad_checkpoint_is_reported_not_raised(widget, tmp_path, mcdet_checkpoint):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(mcdet_checkpoint.read_bytes()[:100])
    assert widget.load_model(str(bad)) is None
    assert "could not load" in widget.status.text()
    assert current_model.model is None


def test_detect_layers_appear_and_rerun_replaces(widget, qtbot, mcdet_checkpoint, phantom):
    viewer = widget.viewer
    widget.load_model(str(mcdet_checkpoint))
    _run(widget, qtbot)
    for name in (BENIGN_NAME, MALIGNANT_NAME, LABELS_NAME, CLUSTERS_NAME, POINTS_NAME):
        assert name in viewer.layers, widget.status.text()
    shape = phantom[0].shape
    for name in (BENIGN_NAME, MALIGNANT_NAME, LABELS_NAME):
        layer = viewer.layers[name]
        assert layer.data.shape == shape
        np.testing.assert_allclose(layer.scale, SPACING)
        np.testing.assert_allclose(layer.translate, (5.0, 3.0))
    assert viewer.layers[BENIGN_NAME].blending == "additive"
    probs = np.asarray(widget.last_result.probabilities)
    np.testing.assert_array_equal(viewer.layers[MALIGNANT_NAME].data, probs[1])
    np.testing.assert_array_equal(viewer.layers[LABELS_NAME].data, widget.last_result.labels)
    assert list(viewer.layers[LABELS_NAME].features["class"]) == [
        "soft tissue", "benign", "malignant"]
    pts = viewer.layers[POINTS_NAME]
    assert len(pts.data) == len(widget.last_result.calcifications)
    # the layers' tables are the CSV files' columns
    assert list(pts.features.columns) == list(CALC_COLUMNS)
    assert list(viewer.layers[CLUSTERS_NAME].features.columns) == list(CLUSTER_COLUMNS)
    np.testing.assert_allclose(pts.scale, SPACING)
    n_layers = len(viewer.layers)
    order = [layer.name for layer in viewer.layers]

    _run(widget, qtbot)
    assert len(viewer.layers) == n_layers
    assert [layer.name for layer in viewer.layers] == order


def test_cancel_leaves_the_layers_alone(widget, qtbot, mcdet_checkpoint):
    viewer = widget.viewer
    widget.load_model(str(mcdet_checkpoint))
    assert widget.run() is not None
    widget.cancel()  # before the first batch of tiles: nothing may change
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert widget.cancelled and widget.last_result is None
    assert [layer.name for layer in viewer.layers] == ["mammo"]
    assert "cancel" in widget.status.text()


def test_baseline_shows_gradcam(widget, qtbot, baseline_checkpoint, phantom):
    viewer = widget.viewer
    widget.load_model(str(baseline_checkpoint))
    _run(widget, qtbot)
    assert GRADCAM_NAME in viewer.layers, widget.status.text()
    heat = viewer.layers[GRADCAM_NAME]
    assert heat.data.shape == phantom[0].shape
    assert 0.0 <= heat.data.min() and heat.data.max() <= 1.0
    np.testing.assert_allclose(heat.scale, SPACING)
    assert MALIGNANT_NAME not in viewer.layers


def test_an_mcdetnet_without_segmentation_goes_to_gradcam(widget, qtbot, tmp_path):
    """What the model can do decides, not its architecture's name: a classification-only
    MCDetNet (the MoTMuS ablation) has no map to threshold, so the widget asks for Grad-CAM
    (which names what the network lacks) instead of a detection."""
    import torch

    from napari_mcdet.models.checkpoint import save_checkpoint
    from napari_mcdet.nn import MCDetConfig, MCDetNet

    torch.manual_seed(0)
    net = MCDetNet(MCDetConfig(filters=(4, 8, 16, 32, 64), segmentation=False))
    path = save_checkpoint(tmp_path / "cls.safetensors", net, pixel_spacing=(0.2, 0.2),
                           patch_size=64)
    model = widget.load_model(str(path))
    assert model.architecture == "mcdet" and not model.is_segmenter
    _run(widget, qtbot)
    assert widget.status.text().startswith("Grad-CAM failed: ")
    assert "target_layer" in widget.status.text()
    assert LABELS_NAME not in widget.viewer.layers


@pytest.mark.slow
def test_calibrate_stores_an_operating_point_that_detect_uses(widget, qtbot, mcdet_checkpoint,
                                                              shared_data, tmp_path):
    import shutil

    from napari_mcdet.models.checkpoint import load_model

    own = tmp_path / "mine.safetensors"
    shutil.copy(mcdet_checkpoint, own)
    widget.load_model(str(own))
    normals = [str(shared_data / "mini-mias" / f"{n}.pgm") for n in ("mdb003", "mdb004")]
    widget.spacing_edit.setText("0.2")  # the normals are mini-MIAS files (0.2 mm)
    worker = widget.calibrate(normals, target_fp=1.0)
    assert worker is not None, widget.status.text()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    point = current_model.model.metadata["operating_point"]
    assert point["fp_per_image"] <= 1.0 and "written into" in widget.status.text()
    assert load_model(own).metadata["operating_point"]["benign"] == point["benign"]
    _run(widget, qtbot)
    assert widget.last_result.thresholds["benign"] == point["benign"]


def test_calibrate_can_choose_the_gate_that_the_threshold_and_detect_then_use(
        widget, qtbot, tiny_checkpoint, shared_data, tmp_path):
    import shutil

    from napari_mcdet.infer.patches import GATE_KEY
    from napari_mcdet.models.checkpoint import load_model

    own = shutil.copy(tiny_checkpoint, tmp_path / "gated.safetensors")
    widget.load_model(str(own))
    widget.spacing_edit.setText("0.2")
    widget.calibrate_gate_check.setChecked(True)
    normals = [str(shared_data / "mini-mias" / f"{n}.pgm") for n in ("mdb003", "mdb004")]
    assert widget.calibrate(normals, target_fp=1.0) is not None, widget.status.text()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    gate = current_model.model.metadata[GATE_KEY]
    assert "decoder gate" in widget.status.text() and "written into" in widget.status.text()
    stored = load_model(own).metadata
    assert stored[GATE_KEY] == gate and stored["operating_point"]["tiling"]["gate"] == gate
    _run(widget, qtbot)  # the panel's default, the model's gate
    assert widget.last_result.gate == gate


def test_the_speed_settings_reach_detect(widget, qtbot, mcdet_checkpoint):
    widget.load_model(str(mcdet_checkpoint))
    assert widget.detect_options() == {"gate": "auto", "engine": DEFAULT_ENGINE,
                                       "mirror": False}
    assert widget.gate_spin.text() == "model's"
    widget.gate_spin.stepUp()  # one step off the model's gate: a plain gate of 0
    assert widget.detect_options()["gate"] == 0.0
    widget.gate_spin.stepDown()
    assert widget.detect_options()["gate"] == "auto"
    _run(widget, qtbot)  # the checkpoint stores no gate: 'auto' decodes every tile
    assert widget.last_result.gate is None
    assert widget.last_result.n_tiles_decoded == widget.last_result.n_tiles_run
    widget.gate_check.setChecked(False)
    assert not widget.gate_spin.isEnabled()
    widget.engine_combo.setCurrentText("eager")
    _run(widget, qtbot)
    det = widget.last_result
    assert det.gate is None and det.engine == "eager"
    assert det.n_tiles_decoded == det.n_tiles_run
    widget.gate_check.setChecked(True)
    widget.gate_spin.setValue(1.0)  # no tile is that sure: none decoded, none marked
    _run(widget, qtbot)
    det = widget.last_result
    assert det.gate == 1.0 and det.n_tiles_decoded < det.n_tiles_run


def test_mirror_averaging_reaches_detect_and_calibration(widget, qtbot, tiny_checkpoint,
                                                         shared_data, tmp_path):
    import shutil

    from napari_mcdet.models.checkpoint import load_model

    own = shutil.copy(tiny_checkpoint, tmp_path / "mirrored.safetensors")
    widget.load_model(str(own))
    widget.spacing_edit.setText("0.2")
    widget.mirror_check.setChecked(True)
    assert widget.detect_options()["mirror"] is True
    normals = [str(shared_data / "mini-mias" / f"{n}.pgm") for n in ("mdb003", "mdb004")]
    assert widget.calibrate(normals, target_fp=1.0) is not None, widget.status.text()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert "mirror averaging" in widget.status.text()
    stored = load_model(own).metadata
    assert "operating_point" not in stored and stored["operating_point_mirror"]["tiling"]["mirror"]
    _run(widget, qtbot)
    det = widget.last_result
    assert det.mirror and det.thresholds["benign"] == stored["operating_point_mirror"]["benign"]
