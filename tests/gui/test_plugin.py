"""napari finds the plugin through its npe2 manifest, and a real viewer opens with it."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _manifest():
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    return pm.get_manifest("napari-mcdet")


def test_manifest_at_top_level_is_the_installed_one():
    top = yaml.safe_load((REPO / "napari.yaml").read_text())
    mf = _manifest()
    assert mf.name == top["name"] == "napari-mcdet"
    ids = {c.id for c in mf.contributions.commands}
    assert {c["id"] for c in top["contributions"]["commands"]} == ids


@pytest.mark.slow
def test_npe2_validate_passes():
    npe2 = Path(sys.executable).with_name("npe2")
    res = subprocess.run([str(npe2), "validate", "napari-mcdet"], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "valid" in (res.stdout + res.stderr).lower()


def test_every_manifest_python_name_imports():
    import importlib

    for cmd in _manifest().contributions.commands:
        module, attr = cmd.python_name.split(":")
        assert callable(getattr(importlib.import_module(module), attr)), cmd.python_name


def test_viewer_opens_with_plugin_widgets(plugin_widget):
    mf = _manifest()
    viewer = None
    for widget in mf.contributions.widgets:
        viewer, w = plugin_widget(widget.display_name, viewer=viewer)
        assert w is not None
    assert len(viewer.window._dock_widgets) >= len(mf.contributions.widgets)


def test_extras_install_a_supported_qt_binding():
    """napari deprecates its PyQt5 backend (a warning on every window): the extras pull Qt6."""
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for name in ("napari", "testing"):
        napari_reqs = [r for r in extras[name] if r.startswith("napari[")]
        assert napari_reqs and all("pyqt6" in r or "pyside6" in r for r in napari_reqs), name
