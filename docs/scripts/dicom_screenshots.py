"""Screenshots of docs/guide-dicom.md, from a real napari window with the real plugin.

A synthetic full-field digital mammogram (the test suite's ``write_ffdm``: the demo phantom with
calcifications, a PACS's identity, 0.2 mm) is opened with the reader, the Detect panel detects
with the bundled model and its "Save as DICOM..." writes ``<stem>_seg.dcm`` and ``<stem>_sr.dcm``;
then the two files are opened in the viewer, as a user drags them in:

- ``dicom_save.png``: the Detect panel after Save as DICOM (its status names the files);
- ``dicom_layers.png``: the SEG (labels) and the SR (calcification dots, cluster box) on their
  image, zoomed on the cluster, the layer list showing the three files' layers.

Run it under a (virtual) screen::

    xvfb-run -a -s "-screen 0 1600x1200x24" python docs/scripts/dicom_screenshots.py
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPACING = 0.2


def _helpers():
    """docs/scripts/make_screenshots.py (window, waiting) and tests/dicom_files.py (write_ffdm)."""
    out = []
    for name, path in (("make_screenshots", REPO / "docs" / "scripts" / "make_screenshots.py"),
                       ("mcdet_dicom_files", REPO / "tests" / "dicom_files.py")):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out.append(module)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "images"),
                        help="folder for the PNGs (docs/images)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # the phantom is digital, the model's training film: said in the guide, not on screen
        warnings.simplefilter("ignore")
        return _shoot(out)


def _shoot(out: Path) -> int:
    shots, tests = _helpers()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image_path = tests.write_ffdm(tmp / "mammo.dcm", pixel_spacing=SPACING)
        viewer = shots.new_viewer("DICOM SEG and SR")
        (image,) = viewer.open(str(image_path), plugin="napari-mcdet")
        panel = shots.dock(viewer, "Detect calcifications")
        panel.image_combo.setCurrentText(image.name)
        panel.run()
        shots.wait_until(lambda: panel.worker is None)
        saved = tmp / "dicom"
        panel.save_dicom(saved)
        shots.wait_until(lambda: panel.worker is None)
        seg_path, sr_path = saved / "mammo_seg.dcm", saved / "mammo_sr.dcm"
        if not (seg_path.is_file() and sr_path.is_file()):
            print(f"error: Save as DICOM failed: {panel.status.text()}", file=sys.stderr)
            return 1
        viewer.reset_view()
        path = out / "dicom_save.png"
        shots.settle()
        viewer.screenshot(str(path), canvas_only=False, flash=False)
        print(f"wrote {path}")
        # the panel's own layers out; the files in, as dragged onto the window
        for layer in [lyr for lyr in viewer.layers if lyr is not image]:
            viewer.layers.remove(layer)
        viewer.window.remove_dock_widget("all")
        viewer.open(str(seg_path), plugin="napari-mcdet")
        _, boxes = viewer.open(str(sr_path), plugin="napari-mcdet")
        if len(boxes.features):
            f = boxes.features.iloc[0]
            viewer.camera.center = ((f["r0"] + f["r1"]) / 2 * SPACING,
                                    (f["c0"] + f["c1"]) / 2 * SPACING)
            viewer.camera.zoom = viewer.camera.zoom * 3
        path = out / "dicom_layers.png"
        shots.settle()
        viewer.screenshot(str(path), canvas_only=False, flash=False)
        print(f"wrote {path}")
        viewer.close()
    return 0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as settings_dir:
        _helpers()[0]._quiet_settings(settings_dir)  # no warning toasts on the canvas
        sys.exit(main())
