"""The Detect panel's "Detect a folder...": the batch engine in a worker, its summary docked as
a sortable table, and Cancel between images."""

from __future__ import annotations

import shutil

import pytest

from napari_mcdet.gui.widgets.detect_widget import MODEL_CURRENT, SUMMARY_DOCK

# mdb005 is not in the shared mini-MIAS subset: mdb006 stands in for it
IMAGES = ("mdb003.pgm", "mdb004.pgm", "mdb006.pgm")


@pytest.fixture
def folder(shared_data, tmp_path):
    """tmp_path/in: three mini-MIAS images and one corrupt file."""
    src = tmp_path / "in"
    src.mkdir()
    for name in IMAGES:
        shutil.copy(shared_data / "mini-mias" / name, src / name)
    (src / "bad.pgm").write_bytes(b"\x13\x37\x00\xffP5 garbage")
    return src


@pytest.fixture
def widget(plugin_widget, tiny_checkpoint):
    viewer, w = plugin_widget("Detect calcifications")
    assert w.load_model(str(tiny_checkpoint)) is not None
    assert w.model_combo.currentText() == MODEL_CURRENT
    return viewer, w


def _column(table, header):
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    c = headers.index(header)
    return [table.item(r, c).text() for r in range(table.rowCount())]


def test_detect_folder_docks_a_sortable_summary(widget, folder, tmp_path, qtbot):
    viewer, w = widget
    out = tmp_path / "out"
    assert w.detect_folder(folder, out) is not None
    qtbot.waitUntil(lambda: w.worker is None, timeout=120_000)
    dock = viewer.window._wrapped_dock_widgets.get(SUMMARY_DOCK)
    assert dock is not None
    table = w.summary_table
    assert table.rowCount() == 4
    status = _column(table, "status")
    assert sorted(status) == ["failed", "ok", "ok", "ok"]
    assert table.isSortingEnabled()
    suspicion = [float(t) for t, s in zip(_column(table, "suspicion"), status, strict=True)
                 if s == "ok"]
    assert suspicion == sorted(suspicion, reverse=True)
    assert _column(table, "id")[status.index("failed")] == "bad"
    text = w.status.text()
    assert "4 images: 3 ok, 0 skipped, 1 failed" in text
    assert str(out / "summary.csv") in text
    assert (out / "summary.csv").is_file()
    assert w.progress.value() == 4

    # a second run skips the images done and replaces the dock
    assert w.detect_folder(folder, out) is not None
    qtbot.waitUntil(lambda: w.worker is None, timeout=120_000)
    assert "4 images: 0 ok, 3 skipped, 1 failed" in w.status.text()
    assert list(viewer.window._wrapped_dock_widgets).count(SUMMARY_DOCK) == 1
    assert w.summary_table.rowCount() == 4


def test_cancel_folder_detection(widget, folder, tmp_path, qtbot):
    viewer, w = widget
    out = tmp_path / "out"
    assert w.detect_folder(folder, out) is not None
    w.cancel()
    qtbot.waitUntil(lambda: w.worker is None, timeout=120_000)
    assert "cancelled" in w.status.text()
    assert w.summary_table.rowCount() < 4
    assert (out / "summary.csv").is_file()
    assert w.folder_button.isEnabled() and not w.cancel_button.isEnabled()
    viewer.add_points([[1.0, 1.0]])  # the viewer still answers
    assert len(viewer.layers) == 1
