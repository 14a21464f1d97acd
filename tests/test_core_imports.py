"""The core library must run without napari, Qt or magicgui (scripts, clusters, torchrun)."""

import subprocess
import sys

CORE = ["napari_mcdet", "napari_mcdet.nn", "napari_mcdet.data.tiling", "napari_mcdet.cli"]
OPTIONAL_CORE = ["napari_mcdet.io", "napari_mcdet.synth", "napari_mcdet.data", "napari_mcdet.train",
                 "napari_mcdet.infer", "napari_mcdet.metrics"]


def test_core_imports_without_gui_packages():
    code = (
        "import importlib, sys\n"
        f"for m in {CORE + OPTIONAL_CORE!r}:\n"
        "    importlib.import_module(m)\n"
        "import napari_mcdet as mc\n"
        "for name in mc.__all__:\n"
        "    getattr(mc, name)\n"
        "gui = ('napari', 'qtpy', 'magicgui', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6')\n"
        "bad = [m for m in gui if m in sys.modules]\n"
        "print(bad)\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr + res.stdout


def test_top_level_import_is_light():
    code = "import sys, napari_mcdet; print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"
