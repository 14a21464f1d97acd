"""The Train widget in a real viewer: a tiny training completes and becomes the current model;
a cancelled run stops early and keeps a resumable last.safetensors."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_mcdet.gui._models import current_model
from napari_mcdet.gui.widgets.train_widget import write_layer_negatives
from napari_mcdet.models.checkpoint import read_checkpoint


@pytest.fixture
def widget(make_napari_viewer, plugin_widget, tmp_path):
    from napari_mcdet.synth.phantom import breast_phantom

    viewer = make_napari_viewer()
    m = breast_phantom((256, 200), pixel_spacing=0.1, seed=0)
    viewer.add_image(m.pixels, name="normal phantom", scale=(0.1, 0.1))
    _, w = plugin_widget("Train detector", viewer=viewer)
    w.steps.setValue(3)
    w.epoch_steps.setValue(3)
    w.batch_size.setValue(2)
    w.patch_size.setValue(32)
    w.val_length.setValue(6)
    w.filters.setText("4, 8, 16, 32, 64")
    w.device.setCurrentText("cpu")
    w.out_edit.setText(str(tmp_path / "run"))
    return w


def test_layer_negatives_are_written_at_the_training_spacing(widget, tmp_path):
    layer = widget.viewer.layers["normal phantom"]
    (path,) = write_layer_negatives([layer], tmp_path / "neg", pixel_spacing=0.2)
    from napari_mcdet.io.images import read_mammogram

    m = read_mammogram(path)
    assert m.pixels.shape == (128, 100)
    assert m.pixels.max() == 65535


def test_config_from_fields(widget):
    assert widget.selected_layer_names() == ["normal phantom"]
    cfg = widget.config()
    assert cfg.patch_size == 32 and cfg.steps == 3 and cfg.batch_size == 2
    assert cfg.model["filters"] in ([4, 8, 16, 32, 64], (4, 8, 16, 32, 64))
    assert cfg.source_spacing == cfg.pixel_spacing == 0.2
    assert cfg.device == "cpu"
    widget.filters.setText("4, 8")
    with pytest.raises(ValueError, match="5 integers"):
        widget.config()


@pytest.mark.slow
def test_tiny_training_completes_and_becomes_current(widget, qtbot, tmp_path):
    seen = []
    current_model.changed.connect(seen.append)
    try:
        worker = widget.start()
        assert worker is not None, widget.status.text()
        qtbot.waitUntil(lambda: widget.worker is None, timeout=240_000)
    finally:
        current_model.changed.disconnect(seen.append)
    assert [e["step"] for e in widget.history] == [1, 2, 3], widget.status.text()
    assert all(np.isfinite(e["loss"]) for e in widget.history)
    assert current_model.model is not None and seen and seen[-1] is current_model.model
    assert current_model.model.architecture == "mcdet"
    assert current_model.model.patch_size == 32
    assert (tmp_path / "run" / "last.safetensors").is_file()
    assert widget.progress.value() == 3
    assert widget.ax.lines  # the loss curve was drawn


@pytest.mark.slow
def test_cancel_stops_early_and_keeps_last(widget, qtbot, tmp_path):
    widget.steps.setValue(200)
    worker = widget.start()
    assert worker is not None, widget.status.text()
    worker.yielded.connect(lambda _e: widget.cancel())
    qtbot.waitUntil(lambda: widget.worker is None, timeout=240_000)
    assert 1 <= len(widget.history) < 200
    last = tmp_path / "run" / "last.safetensors"
    assert last.is_file()
    _, meta = read_checkpoint(last)
    assert meta["step"] == len(widget.history)
    assert "optimizer" in meta  # resumable
    assert current_model.model is None  # a cancelled run does not replace the current model
    assert "cancelled" in widget.status.text()


def test_spacing_field_shows_what_is_used(widget, tmp_path):
    """The layers' own spacing, read-only; asked for only when a checked layer has none."""
    assert widget.image_spacing.text() == "0.1" and not widget.image_spacing.isEnabled()
    widget.viewer.add_image(np.random.default_rng(0).random((100, 80)).astype(np.float32),
                            name="no spacing")
    assert widget.selected_layer_names() == ["normal phantom", "no spacing"]
    assert widget.image_spacing.isEnabled() and widget.image_spacing.text() == ""
    assert "no spacing" in widget.image_spacing.placeholderText()
    with pytest.raises(ValueError, match="no pixel spacing"):
        widget.config()
    widget.image_spacing.setText("0.05")
    widget.image_spacing.textEdited.emit("0.05")  # as typed
    assert widget.config().negatives  # now both layers can be resampled
    widget.layer_list.item(1).setCheckState(Qt.Unchecked)  # only layers with a spacing left
    assert widget.image_spacing.text() == "0.1" and not widget.image_spacing.isEnabled()


def test_a_failing_training_shows_one_message(widget, qtbot, tmp_path):
    from napari.utils.notifications import NotificationSeverity, notification_manager

    empty = tmp_path / "no images"
    empty.mkdir()
    widget.use_folder.setChecked(True)
    widget.folder_edit.setText(str(empty))
    n = len(notification_manager.records)
    assert widget.start() is not None, widget.status.text()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    errors = [r for r in notification_manager.records[n:]
              if r.severity == NotificationSeverity.ERROR]
    assert len(errors) == 1, [e.message for e in errors]
    assert errors[0].message.startswith("training failed: ")
    assert widget.status.text() == errors[0].message
    assert widget.start_button.isEnabled() and current_model.model is None
