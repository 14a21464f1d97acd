"""The one way the GUI tests open a viewer with the plugin's widgets: docked from the plugin's
manifest, as napari's Plugins menu docks them."""

from __future__ import annotations

import pytest


@pytest.fixture
def plugin_widget(make_napari_viewer):
    """Dock a widget of the plugin, by its display name, in a viewer, as napari does it (the
    widget gets napari's proxy of the viewer): ``viewer, widget = plugin_widget("Train
    detector")``.

    Parameters of the returned function
    -----------------------------------
    name : str
        The widget's display name in the manifest (napari.yaml).
    viewer : napari.Viewer, keyword-only, optional
        Dock into this viewer (a second widget beside the first); a new viewer by default.

    The session's current model (:data:`napari_mcdet.gui._models.current_model`) is cleared
    before and after the test, so no test sees a model another one trained or loaded.
    """
    from napari_mcdet.gui._models import current_model

    current_model.clear()

    def dock(name: str, *, viewer=None):
        viewer = viewer if viewer is not None else make_napari_viewer()
        _, widget = viewer.window.add_plugin_dock_widget("napari-mcdet", name)
        return viewer, widget

    yield dock
    current_model.clear()
