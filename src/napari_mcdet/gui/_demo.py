"""``mcdet demo`` in a viewer: the sample (or an image), the plugin's widgets, detection layers.

No algorithm here: the sample is the plugin's own sample data (File > Open Sample) drawn at the
spacing of the model's training domain, with the same phantom twice as fine, hidden, to try the
model outside it (:func:`napari_mcdet.infer.domain.showcase_spacings`); the widgets are docked
through napari's plugin machinery, and detection runs in the Detect widget's worker, which makes
the layers exactly as when a user presses Detect.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..mammogram import Mammogram

PLUGIN = "napari-mcdet"
DETECT_WIDGET = "Detect calcifications"
#: The window takes this share of the screen's free area, up to MAX_WINDOW (w, h) pixels.
SCREEN_SHARE = 0.9
MAX_WINDOW = (1800, 1200)
#: The docked panels' share of the window width, at most.
PANEL_SHARE = 0.3


def widget_names() -> list[str]:
    """Display names of the plugin's widgets, in the manifest's order."""
    from npe2 import PluginManager

    manifest = PluginManager.instance().get_manifest(PLUGIN)
    return [w.display_name for w in manifest.contributions.widgets or []]


def open_demo(viewer: Any, mammogram: Mammogram | None = None, *,
              model: str | Path | None = None, run: bool = True) -> Any:
    """Fill ``viewer`` with the demo and start detection.

    Parameters
    ----------
    viewer : napari.Viewer
    mammogram : Mammogram, optional
        The image to show (with its pixel spacing). When None: the plugin's sample "Breast
        phantom with synthetic calcifications" at the spacing of the model's training domain,
        and the same phantom twice as fine, hidden, to try the model outside it
        (:func:`add_samples`).
    model : path, optional
        A checkpoint to load into the Detect widget ("trained / loaded"); the bundled default
        model when None.
    run : bool
        Start detection (in the Detect widget's worker thread).

    Returns
    -------
    DetectWidget
        Its ``worker`` is the running detection (None when ``run`` is False); the layers appear
        when the worker returns.

    Raises
    ------
    FileNotFoundError
        ``model`` does not exist, or the bundled default model is missing.
    ValueError
        The model could not be loaded or detection could not start (the reason is given).
    """
    from ..models.paths import checkpoint_path
    from ._layers import image_layer_kwargs
    from .widgets.detect_widget import MODEL_DEFAULT

    checkpoint_path(model)
    detect_dock = detect_widget = None
    for name in widget_names():
        dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=True)
        if name == DETECT_WIDGET:
            detect_dock, detect_widget = dock, widget
    if detect_widget is None:  # pragma: no cover - the manifest declares it
        raise ValueError(f"the plugin declares no {DETECT_WIDGET!r} widget")
    if model is None:
        detect_widget.model_combo.setCurrentText(MODEL_DEFAULT)
    elif detect_widget.load_model(str(model)) is None:
        raise ValueError(detect_widget.status.text())
    hint = ""
    if mammogram is None:
        image, finer = add_samples(viewer, detect_widget.model())
        hint = (f"\nto see the model outside its domain: choose {finer.name!r} as the image "
                "and press Detect")
    else:
        image = viewer.add_image(mammogram.pixels, **image_layer_kwargs(mammogram))
    # the Detect tab in front: it is the one that shows what the demo is doing
    detect_dock.show()
    detect_dock.raise_()
    frame_window(viewer, detect_dock)
    zoom_to_breast(viewer, image)

    detect_widget.image_combo.setCurrentText(image.name)
    viewer.layers.selection.active = image
    if run:
        worker = detect_widget.run()
        if worker is None:
            raise ValueError(f"detection did not start: {detect_widget.status.text()}")
        def finish(_result: Any) -> None:  # after the widget's own handler has drawn
            detect_widget.say(detect_widget.status.text() + hint)
            viewer.layers.selection.active = image  # the layer controls of the mammogram

        worker.returned.connect(finish)
    return detect_widget


def add_samples(viewer: Any, model: Any) -> tuple[Any, Any]:
    """Add the sample phantom with lesions at the spacing of ``model``'s training domain, and
    the same phantom twice as fine (hidden, its layer names ending in its spacing).

    Returns the two image layers (in the domain, finer).
    """
    from napari.layers import Layer

    from ..infer.domain import showcase_spacings
    from ._sample_data import lesion_layers

    own, finer = showcase_spacings(model)
    images = []
    for spacing, suffix, visible in ((own, "", True), (finer, f" {finer:g} mm", False)):
        layers = [viewer.add_layer(Layer.create(*data))
                  for data in lesion_layers(spacing, suffix=suffix, visible=visible)]
        images.append(next(layer for layer in layers if layer._type_string == "image"))
    return images[0], images[1]


def frame_window(viewer: Any, dock: Any) -> tuple[int, int]:
    """Size the window to most of the screen and the docked panels to under a third of it, so that
    the canvas keeps most of the width (napari's default window is about 1090 x 970, which the
    tabbed panels leave under 200 pixels of canvas).

    Returns the window's (width, height).
    """
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication

    main = dock.window()  # the QMainWindow the panels are docked in
    screen = main.screen() or QApplication.primaryScreen()
    free = screen.availableGeometry()
    width = min(int(free.width() * SCREEN_SHARE), MAX_WINDOW[0])
    height = min(int(free.height() * SCREEN_SHARE), MAX_WINDOW[1])
    viewer.window.resize(width, height)
    panel = max(dock.minimumSizeHint().width(), int(width * PANEL_SHARE))
    main.resizeDocks([dock], [min(panel, width // 2)], Qt.Horizontal)
    QApplication.processEvents()  # the canvas learns its new size before the zoom uses it
    return width, height


def zoom_to_breast(viewer: Any, image: Any, margin: float = 0.05) -> None:
    """Centre the camera on the breast of ``image`` and zoom so that it fills the canvas.

    The breast is :func:`napari_mcdet.data.breast.breast_mask` of the layer's data; a constant
    image (no breast found) is fitted whole.
    """
    from ..data.breast import breast_mask

    data = np.asarray(image.data, np.float32)
    try:
        mask = breast_mask(data)
    except ValueError:
        mask = np.zeros(data.shape, bool)
    rows, cols = np.nonzero(np.any(mask, axis=1))[0], np.nonzero(np.any(mask, axis=0))[0]
    if rows.size == 0:
        viewer.reset_view()
        return
    # pixel k covers [k - 0.5, k + 0.5]: the box's corners in data, then world coordinates
    lo = np.asarray(image.data_to_world((rows[0] - 0.5, cols[0] - 0.5)), float)[-2:]
    hi = np.asarray(image.data_to_world((rows[-1] + 0.5, cols[-1] + 0.5)), float)[-2:]
    extent = np.maximum(np.abs(hi - lo), 1e-9)
    canvas = np.asarray(viewer.canvas.size, float)  # (height, width) pixels
    viewer.camera.center = tuple((lo + hi) / 2)
    viewer.camera.zoom = float((1 - margin) * np.min(canvas / extent))


def show_demo_window(mammogram: Mammogram | None = None, *, model: Any = None) -> None:
    """Open a napari window with :func:`open_demo` and run the event loop until it closes."""
    import napari

    viewer = napari.Viewer(title="napari-mcdet demo")
    open_demo(viewer, mammogram, model=model)
    napari.run()


def run_window(mammogram: Mammogram | None = None, *, model: str | Path | None = None) -> int:
    """``mcdet demo`` without ``--headless``: the window, or a one-line reason on stderr.

    Parameters
    ----------
    mammogram : Mammogram, optional
        Checked by :func:`napari_mcdet.commands.demo.window_mammogram`; None for the sample.
    model : path, optional
        A checkpoint; None for the bundled default model.

    Returns
    -------
    status : int
        0 once the window is closed; 2 when napari is not installed.
    """
    from importlib.util import find_spec

    if find_spec("napari") is None:
        print("mcdet demo: error: the window needs napari: pip install 'napari-mcdet[napari]', "
              "or run mcdet demo --headless", file=sys.stderr)
        return 2
    show_demo_window(mammogram, model=model)
    return 0
