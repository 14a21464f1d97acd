"""``mcdet demo``: headless (prints what it found) and in a real viewer (widgets, layers)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from napari_mcdet.cli import build_parser, command_function, main
from napari_mcdet.commands.demo import demo_model_path, run, sample_mammogram


def test_sample_is_the_phantom_with_two_lesions():
    """At the bundled model's 0.2 mm by default, and the same breast in mm on a finer grid."""
    m1, truth, lesions = sample_mammogram()
    assert m1.shape == truth.shape == (512, 384)
    assert m1.pixel_spacing == (0.2, 0.2)
    assert sorted(les["kind"] for les in lesions) == ["benign", "malignant"]
    assert set(np.unique(truth)) == {0, 1, 2}
    m2, truth2, lesions2 = sample_mammogram(pixel_spacing=0.1)
    assert m2.shape == (1024, 768) and m2.pixel_spacing == (0.1, 0.1)
    for coarse, fine in zip(lesions, lesions2):  # the lesions sit at the same place in mm
        centre = np.array(coarse["bbox"]).reshape(2, 2).mean(axis=0) * 0.2
        np.testing.assert_allclose(centre, np.array(fine["bbox"]).reshape(2, 2).mean(axis=0)
                                   * 0.1, atol=1.0)


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        demo_model_path(tmp_path / "none.safetensors")
    assert main(["demo", "--headless", "--model", str(tmp_path / "none.safetensors")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


def test_headless_prints_what_it_found(tiny_checkpoint, capsys):
    """The sample in the model's domain, then twice as fine with the domain warning on stdout
    (once, not again on stderr), and what was recovered of each under the strict rule."""
    assert main(["demo", "--headless", "--model", str(tiny_checkpoint), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "model domain: 0.2 mm" in out  # a model without a recorded domain: its spacing
    first, second = out.split("\nimage  ")[1:]
    assert first.startswith("sample phantom") and "512 x 384 pixels at 0.2 mm" in first
    assert "matches the pixel spacing of the model's training domain" in first
    assert second.startswith("the same phantom drawn twice as fine: 1024 x 768 pixels at 0.1 mm")
    assert "is outside the model's training domain" in second and "mcdet calibrate" in second
    assert "outside" not in captured.err
    for part in (first, second):
        assert "calcification(s)" in part and "cluster(s)" in part
        assert "truth  lesions found " in part and " away from any truth" in part
        assert "strict rule" in part and "malignant lesion:" in part


@pytest.mark.slow
def test_headless_with_the_bundled_model_names_its_domain(capsys):
    """The bundled model records its domain: the demo says it, and warns on the finer image."""
    from napari_mcdet.models.checkpoint import default_model_path

    if not default_model_path().is_file():
        pytest.skip("no bundled model")
    assert main(["demo", "--headless", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "model domain: film at 0.2 mm (mini-MIAS normals)" in out
    first, second = out.split("\nimage  ")[1:]
    assert "outside" not in first and "training domain, film at 0.2 mm" in first
    assert "(0.1 mm) is outside the model's training domain, film at 0.2 mm" in second


def test_headless_on_an_image_needs_its_spacing(tiny_checkpoint, tmp_path, capsys):
    from skimage.io import imsave

    m, _, _ = sample_mammogram(pixel_spacing=0.1)
    png = tmp_path / "mammo.png"
    imsave(png, (m.pixels[::2, ::2] * 255).clip(0, 255).astype(np.uint8), check_contrast=False)
    assert main(["demo", str(png), "--headless", "--model", str(tiny_checkpoint)]) == 2
    assert "--spacing" in capsys.readouterr().err
    assert main(["demo", str(png), "--headless", "--model", str(tiny_checkpoint),
                 "--spacing", "-0.2"]) == 2
    assert "--spacing must be positive" in capsys.readouterr().err
    assert main(["demo", str(png), "--headless", "--model", str(tiny_checkpoint),
                 "--spacing", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "mammo.png: 512 x 384 pixels at 0.2 mm" in out
    assert "synthetic" not in out


def test_the_window_checks_its_inputs_before_opening(tiny_checkpoint, tmp_path, capsys):
    """Without --headless the same checks come first: a missing model, or an image without a
    spacing, ends in one line and status 2 before any window."""
    from skimage.io import imsave

    assert main(["demo", "--model", str(tmp_path / "none.safetensors")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    png = tmp_path / "flat.png"
    imsave(png, np.full((32, 32), 128, np.uint8), check_contrast=False)
    assert main(["demo", str(png), "--model", str(tiny_checkpoint)]) == 2
    assert "--spacing" in capsys.readouterr().err


def test_the_command_line_sends_the_window_to_the_napari_face():
    """The headless path is the command's own; the window is opened by the command line."""
    windowed = command_function(build_parser().parse_args(["demo"]))
    assert windowed is not None and windowed is not run
    assert windowed.__module__ == "napari_mcdet.cli"
    assert command_function(build_parser().parse_args(["demo", "--headless"])) is run


@pytest.mark.slow
def test_headless_does_not_import_napari(tiny_checkpoint):
    code = (
        "import sys\n"
        "from napari_mcdet.cli import main\n"
        f"rc = main(['demo', '--headless', '--model', {str(tiny_checkpoint)!r}])\n"
        "bad = [m for m in ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide6', 'magicgui')\n"
        "       if m in sys.modules]\n"
        "assert rc == 0 and not bad, (rc, bad)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]


# -- in a real viewer ---------------------------------------------------------------------------
@pytest.mark.slow
def test_open_demo_in_a_viewer(make_napari_viewer, qtbot, tiny_checkpoint):
    """The sample at the model's spacing with its truth outlined, the same phantom twice as fine
    hidden beside it, the detection layers with their contrast at the threshold, and a status
    that says what was found, what was recovered, the legend and the domain."""
    from napari_mcdet.gui._demo import open_demo, widget_names
    from napari_mcdet.gui._models import current_model
    from napari_mcdet.gui.widgets.detect_widget import (
        CLUSTERS_NAME,
        LABELS_NAME,
        LEGEND,
        POINTS_NAME,
    )

    current_model.clear()
    viewer = make_napari_viewer()
    try:
        widget = open_demo(viewer, model=tiny_checkpoint)
        assert widget.worker is not None
        qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
        qtbot.waitUntil(lambda: "choose 'phantom with lesions 0.1 mm'" in widget.status.text(),
                        timeout=10_000)
        names = [layer.name for layer in viewer.layers]
        assert names[:6] == ["phantom with lesions", "synthetic lesions",
                             "synthetic lesions outlines", "phantom with lesions 0.1 mm",
                             "synthetic lesions 0.1 mm", "synthetic lesions 0.1 mm outlines"]
        assert [viewer.layers[n].visible for n in names[:6]] == [True, False, True] + [False] * 3
        for name in (LABELS_NAME, CLUSTERS_NAME, POINTS_NAME):
            assert name in names, widget.status.text()
        assert viewer.layers[LABELS_NAME].data.shape == (512, 384)
        np.testing.assert_allclose(viewer.layers[LABELS_NAME].scale, (0.2, 0.2))
        t = widget.last_result.thresholds["malignant"]
        np.testing.assert_allclose(widget.output_layer("malignant").contrast_limits, (t / 2, 1))
        status = widget.status.text()
        assert "against synthetic lesions: lesions found " in status and LEGEND in status
        assert "matches the pixel spacing of the model's training domain, 0.2 mm" in status
        docked = set(viewer.window.dock_widgets)
        assert len(widget_names()) == 5
        for name in widget_names():
            assert f"{name} (napari-mcdet)" in docked
        # the finer phantom, chosen: the panel says at once that it lies outside the domain
        widget.image_combo.setCurrentText("phantom with lesions 0.1 mm")
        assert "(0.1 mm) is outside the model's training domain" in widget.status.text()
    finally:
        current_model.clear()


@pytest.mark.slow
def test_demo_window_fits_the_image_and_the_panels(make_napari_viewer, qtbot, tiny_checkpoint):
    """Most of the screen, a canvas wider than the panels, the camera on the breast."""
    from qtpy.QtWidgets import QApplication

    from napari_mcdet.data.breast import breast_mask
    from napari_mcdet.gui._demo import MAX_WINDOW, SCREEN_SHARE, open_demo
    from napari_mcdet.gui._models import current_model

    current_model.clear()
    viewer = make_napari_viewer(show=True)
    try:
        detect = open_demo(viewer, model=tiny_checkpoint, run=False)
        qtbot.wait(100)
        free = QApplication.primaryScreen().availableGeometry()
        _, _, width, height = viewer.window.geometry()
        assert abs(width - min(int(free.width() * SCREEN_SHARE), MAX_WINDOW[0])) <= 2
        assert abs(height - min(int(free.height() * SCREEN_SHARE), MAX_WINDOW[1])) <= 2
        canvas_h, canvas_w = viewer.canvas.size
        assert canvas_w >= 0.4 * width and canvas_w > detect.width()
        assert detect.width() >= detect.minimumSizeHint().width()

        image = viewer.layers["phantom with lesions"]
        rows, cols = np.nonzero(breast_mask(np.asarray(image.data)))
        sy, sx = image.scale[-2:]
        extent = np.array([(np.ptp(rows) + 1) * sy, (np.ptp(cols) + 1) * sx])
        on_screen = extent * viewer.camera.zoom
        assert np.all(on_screen <= (canvas_h, canvas_w))  # the whole breast is in view
        assert np.max(on_screen / (canvas_h, canvas_w)) >= 0.9  # and fills the canvas
        centre = np.array(viewer.camera.center)[-2:]
        assert rows.min() * sy <= centre[0] <= rows.max() * sy
        assert cols.min() * sx <= centre[1] <= cols.max() * sx
    finally:
        current_model.clear()


def test_every_widget_is_in_the_menus(make_napari_viewer):
    """Plugins > Microcalcification detection holds every widget, a Layers submenu each, and the
    samples sit under File > Open Sample (napari's own app-model menus)."""
    from napari._app_model import get_app_model

    from napari_mcdet.gui._demo import widget_names

    make_napari_viewer()
    menus = get_app_model().menus

    def titles(menu_id):
        return [item.command.title.removesuffix(" (Microcalcification detection)")
                for item in menus.get_menu(menu_id)
                if hasattr(item, "command") and item.command.id.startswith("napari-mcdet.")]

    assert sorted(titles("napari/plugins/napari-mcdet")) == sorted(widget_names())
    layers = [t for sub in ("segment", "annotate", "measure")
              for t in titles(f"napari/layers/{sub}")]
    assert sorted(layers) == sorted(widget_names())
    assert titles("napari/layers/annotate") == ["Calcification annotations"]
    assert titles("napari/layers/measure") == ["Score against ground truth"]
    assert titles("napari/file/samples/napari-mcdet") == [
        "Breast phantom (normal)", "Breast phantom with synthetic calcifications (0.2 mm)",
        "Breast phantom with synthetic calcifications (0.1 mm)"]
