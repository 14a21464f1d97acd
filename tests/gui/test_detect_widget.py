"""The Detect widget in a real viewer: layers appear, re-run replaces them, cancel, Grad-CAM."""

from __future__ import annotations

import shutil

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
def widget(make_napari_viewer, plugin_widget, phantom):
    viewer = make_napari_viewer()
    viewer.add_image(phantom[0], name="mammo", scale=SPACING, translate=(5.0, 3.0))
    return plugin_widget("Detect calcifications", viewer=viewer)[1]


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


def test_a_layer_without_spacing_asks_for_one(make_napari_viewer, plugin_widget, qtbot,
                                              shared_data):
    """No default and no leftover from another layer: the field is empty until typed."""
    viewer = make_napari_viewer()
    viewer.open(str(shared_data / DICOM), plugin="napari-mcdet")
    film = viewer.layers[-1].name
    _, w = plugin_widget("Detect calcifications", viewer=viewer)
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
    for name in (LABELS_NAME, CLUSTERS_NAME, POINTS_NAME):
        assert name in viewer.layers, widget.status.text()
    benign, malignant = widget.output_layer("benign"), widget.output_layer("malignant")
    assert benign.name.startswith(BENIGN_NAME) and malignant.name.startswith(MALIGNANT_NAME)
    shape = phantom[0].shape
    for layer in (benign, malignant, viewer.layers[LABELS_NAME]):
        assert layer.data.shape == shape
        np.testing.assert_allclose(layer.scale, SPACING)
        np.testing.assert_allclose(layer.translate, (5.0, 3.0))
    assert benign.blending == "additive"
    probs = np.asarray(widget.last_result.probabilities)
    np.testing.assert_array_equal(malignant.data, probs[1])
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


def test_what_is_bright_is_what_the_model_calls_a_finding(widget, qtbot, mcdet_checkpoint):
    """The probability layers' contrast runs from half the threshold to 1 (the slider still
    goes to 0), their names say the threshold; detections are filled; the status has a legend."""
    from napari_mcdet.classes import CLASS_COLORS
    from napari_mcdet.gui.widgets.detect_widget import BOX_FILL_ALPHA, LEGEND

    widget.load_model(str(mcdet_checkpoint))
    _run(widget, qtbot)
    result = widget.last_result
    for role in ("benign", "malignant"):
        t = result.thresholds[role]
        layer = widget.output_layer(role)
        assert f"threshold {t:.3f}" in layer.name
        np.testing.assert_allclose(layer.contrast_limits, (t / 2, 1.0), rtol=1e-6)
        np.testing.assert_allclose(layer.contrast_limits_range, (0.0, 1.0))
        layer.contrast_limits = (0.0, 1.0)  # the user may still look at weaker responses
        np.testing.assert_allclose(layer.contrast_limits, (0.0, 1.0))
    status = widget.status.text()
    assert LEGEND in status and f"benign {result.thresholds['benign']:.3f}" in status
    points = widget.viewer.layers[POINTS_NAME]
    if len(points.data):
        codes = np.asarray(points.features["class"])
        np.testing.assert_allclose(points.face_color, [CLASS_COLORS[int(c)] for c in codes])
    boxes = widget.viewer.layers[CLUSTERS_NAME]
    if len(boxes.data):
        np.testing.assert_allclose(boxes.face_color[:, 3], BOX_FILL_ALPHA)

    _run(widget, qtbot)  # again: the same two layers, updated
    assert sum(layer.name.startswith(BENIGN_NAME) for layer in widget.viewer.layers) == 1


def test_the_status_counts_what_was_recovered_of_the_truth(widget, qtbot, mcdet_checkpoint,
                                                           phantom, tmp_path):
    """A truth layer that belongs to the image: its recovery under the strict rule; the image
    outside the model's domain: said in the status and once as a napari warning."""
    from napari.utils.notifications import NotificationSeverity, notification_manager

    from napari_mcdet.gui._layers import truth_labels_kwargs
    from napari_mcdet.infer.recovery import recovery_summary
    from napari_mcdet.synth.lesions import synthesize

    viewer = widget.viewer
    lesion = synthesize(phantom[0], pixel_spacing=SPACING, kind="malignant", seed=1,
                        centre=(128.0, 100.0)).lesion
    viewer.add_labels(phantom[1], translate=(5.0, 3.0), **truth_labels_kwargs(
        "truth", kind="synthetic", scale=SPACING,
        metadata={"lesions": [lesion], "image": "mammo"}))
    assert not viewer.layers["truth"].visible  # its outlines would show it; here there are none
    # a model file of its own: the once-per-process warning has not been given for it yet
    widget.load_model(str(shutil.copy(mcdet_checkpoint, tmp_path / "fresh.safetensors")))
    n = len(notification_manager.records)
    _run(widget, qtbot)
    expected = recovery_summary(widget.last_result, phantom[1], lesions=[lesion]).line()
    status = widget.status.text()
    assert f"against truth: {expected}" in status and "strict rule" in status
    assert "this image (0.1 mm) is outside the model's training domain, 0.2 mm" in status
    _run(widget, qtbot)
    assert "outside the model's training domain" in widget.status.text()
    viewer.add_image(np.ones((8, 8), np.float32), name="other", scale=(0.07, 0.07))
    assert f"against truth: {expected}" in widget.status.text()  # a new layer keeps the status
    warned = [r.message for r in notification_manager.records[n:]
              if r.severity == NotificationSeverity.WARNING and "training domain" in r.message]
    assert len(warned) == 1 and "mcdet calibrate" in warned[0]


def test_a_read_minimias_image_is_compared_with_its_circles(make_napari_viewer, plugin_widget,
                                                             qtbot, tiny_checkpoint, shared_data,
                                                             tmp_path):
    """mini-MIAS with its Info.txt: the circles are the lesions; a film model sees it in its
    domain."""
    from napari_mcdet.models.checkpoint import TRAINING_DOMAIN_KEY, update_metadata

    film = shutil.copy(tiny_checkpoint, tmp_path / "film.safetensors")
    update_metadata(film, {TRAINING_DOMAIN_KEY: {"modality": "film", "pixel_spacing": [0.2, 0.2],
                                                 "data": "mini-MIAS normals"}})
    viewer = make_napari_viewer()
    viewer.open(str(shared_data / "mini-mias" / "mdb209.pgm"), plugin="napari-mcdet")
    _, w = plugin_widget("Detect calcifications", viewer=viewer)
    assert w.load_model(str(film)) is not None
    w.image_combo.setCurrentText("mdb209")
    _run(w, qtbot)
    status = w.status.text()
    assert "against mdb209 calcifications: lesions found " in status and " of 1, " in status
    assert "calcifications " not in status.split("against")[1].split("(strict")[0]
    assert "this image (film at 0.2 mm) is in the model's training domain, film at 0.2 mm" \
        in status


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
    assert widget.output_layer("malignant") is None


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
    widget.gate_spin.setValue(1.0)  # no tile is that sure: none decoded, which is no result
    _run(widget, qtbot)
    assert "no tile decoded" in widget.status.text()
    assert widget.last_result is None  # an error, not a result of "0 found"


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
