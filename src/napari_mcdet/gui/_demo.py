"""``mcdet demo`` in a viewer: the sample (or an image), the plugin's widgets, detection layers.

No algorithm here: the sample is the plugin's own sample data (File > Open Sample), the widgets
are docked through napari's plugin machinery, and detection runs in the Detect widget's worker,
which makes the layers exactly as when a user presses Detect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..mammogram import Mammogram

PLUGIN = "napari-mcdet"
SAMPLE_KEY = "phantom_lesions"
DETECT_WIDGET = "Detect calcifications"


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
        The image to show (with its pixel spacing); the plugin's sample "Breast phantom with
        synthetic calcifications" when None.
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
    from ..commands.demo import demo_model_path
    from ._layers import image_layer_kwargs
    from .widgets.detect_widget import MODEL_DEFAULT

    demo_model_path(model)
    if mammogram is None:
        layers = viewer.open_sample(PLUGIN, SAMPLE_KEY)
        image = next(layer for layer in layers if layer._type_string == "image")
    else:
        image = viewer.add_image(mammogram.pixels, **image_layer_kwargs(mammogram))

    detect_dock = detect_widget = None
    for name in widget_names():
        dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=True)
        if name == DETECT_WIDGET:
            detect_dock, detect_widget = dock, widget
        timer = getattr(widget, "_timer", None)
        if timer is not None:  # the synthesis widget's live preview, due on construction:
            timer.stop()       # the demo shows the image as it is, not a preview on top
    if detect_widget is None:  # pragma: no cover - the manifest declares it
        raise ValueError(f"the plugin declares no {DETECT_WIDGET!r} widget")
    # the Detect tab in front: it is the one that shows what the demo is doing
    detect_dock.show()
    detect_dock.raise_()

    detect_widget.image_combo.setCurrentText(image.name)
    if model is None:
        detect_widget.model_combo.setCurrentText(MODEL_DEFAULT)
    elif detect_widget.load_model(str(model)) is None:
        raise ValueError(detect_widget.status.text())
    viewer.layers.selection.active = image
    if run and detect_widget.run() is None:
        raise ValueError(f"detection did not start: {detect_widget.status.text()}")
    return detect_widget


def show_demo_window(mammogram: Mammogram | None = None, *, model: Any = None) -> None:
    """Open a napari window with :func:`open_demo` and run the event loop until it closes."""
    import napari

    viewer = napari.Viewer(title="napari-mcdet demo")
    open_demo(viewer, mammogram, model=model)
    napari.run()
