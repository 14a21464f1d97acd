"""Screenshots of the user guide, taken from a real napari window with the real plugin.

Each task of the guide is done here as a user would (open the sample or a file, dock the widget,
press its button) and the whole window is saved with ``viewer.screenshot(canvas_only=False)``:

- ``screenshot_synthesis.png``: the Synthetic calcifications widget's live preview on the phantom;
- ``screenshot_training.png``: the Train detector widget after a short run (loss curve);
- ``screenshot_detection.png``: ``mcdet demo`` as it opens: the sample mammogram in the model's
  domain, its truth outlined, the detections filled, the Detect panel's counts and legend;
- ``screenshot_annotation.png``: a mini-MIAS image read with its abnormality circle (the truth's
  yellow outline), and the Calcification annotations widget with a labels layer being painted;
- ``screenshot_scoring.png``: the Score widget against the synthetic lesions;
- ``screenshot_reader.png``: a real CBIS-DDSM DICOM mammogram opened with the reader.

Run it under a (virtual) screen::

    xvfb-run -a -s "-screen 0 1600x1200x24" python docs/scripts/make_screenshots.py

``--model CKPT`` uses a checkpoint instead of the bundled default model; ``--quick`` fills in the
training widget without starting the run and skips the patch AUCs (what the test suite runs).
Real files come from ``$MCDET_DATA`` or ``../shared/data`` beside the checkout; the tasks that
need them are skipped (with a message) when it is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
TASKS = ("synthesis", "training", "detection", "annotation", "scoring", "reader")
WINDOW = (1500, 950)


def data_root() -> Path:
    env = os.environ.get("MCDET_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def wait_until(condition: Callable[[], bool], *, timeout: float = 300.0) -> None:
    """Process Qt events until ``condition()`` holds (workers report through the event loop)."""
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"gave up after {timeout:.0f} s")
        QApplication.processEvents()
        time.sleep(0.02)


def settle(seconds: float = 0.3) -> None:
    """Let the window draw (layouts, the canvas, the dock tabs)."""
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def new_viewer(title: str):
    import napari

    viewer = napari.Viewer(title=f"napari-mcdet: {title}")
    viewer.window.resize(*WINDOW)
    viewer.scale_bar.visible = False
    return viewer


def dock(viewer, name: str):
    """Dock one of the plugin's widgets by its display name (as Plugins > ... does)."""
    dock_widget, widget = viewer.window.add_plugin_dock_widget("napari-mcdet", name)
    dock_widget.show()
    dock_widget.raise_()  # its tab in front when the plugin's widgets are tabbed (mcdet demo)
    return widget


def save(viewer, out: Path, task: str) -> Path:
    settle()
    path = out / f"screenshot_{task}.png"
    viewer.screenshot(str(path), canvas_only=False, flash=False)
    print(f"wrote {path}")
    return path


# -- the tasks -----------------------------------------------------------------------------------
def shot_synthesis(out: Path, args: argparse.Namespace) -> Path:
    viewer = new_viewer("synthetic calcifications")
    viewer.open_sample("napari-mcdet", "phantom")
    w = dock(viewer, "Synthetic calcifications")
    w.image.value = viewer.layers["phantom"]
    w.spacing.value = 0.1
    w.kind.value = "malignant"
    w.seed.value = 3
    w.n_lesions.value = 2
    w.run()
    viewer.layers["phantom"].visible = False
    labels = viewer.layers["synthetic labels"]
    labels.opacity = 0.35
    rows, cols = np.nonzero(labels.data)
    if rows.size:  # close on the lesions: the calcifications themselves, not only their mask
        viewer.camera.center = (float(np.median(rows)) * 0.1, float(np.median(cols)) * 0.1)
        viewer.camera.zoom = viewer.camera.zoom * 3
    path = save(viewer, out, "synthesis")
    viewer.close()
    return path


def shot_training(out: Path, args: argparse.Namespace) -> Path:
    viewer = new_viewer("train detector")
    viewer.open_sample("napari-mcdet", "phantom")
    w = dock(viewer, "Train detector")
    w.steps.setValue(2 if args.quick else 12)
    w.epoch_steps.setValue(1 if args.quick else 4)
    w.batch_size.setValue(2)
    w.patch_size.setValue(64)
    w.val_length.setValue(3)
    w.filters.setText("4, 8, 16, 32, 64")
    w.lr.setValue(1e-3)
    w.out_edit.setText(str(Path(args.workdir) / "train-run"))
    if args.quick:  # the widget filled in, not run
        path = save(viewer, out, "training")
        viewer.close()
        return path
    worker = w.start()
    if worker is None:
        raise RuntimeError(f"training did not start: {w.status.text()}")
    wait_until(lambda: w.worker is None, timeout=600)
    path = save(viewer, out, "training")
    viewer.close()
    return path


def shot_detection(out: Path, args: argparse.Namespace):
    from napari_mcdet.gui._demo import open_demo

    viewer = new_viewer("demo")
    widget = open_demo(viewer, model=args.model)
    wait_until(lambda: widget.worker is None, timeout=600)
    if widget.last_result is None:
        raise RuntimeError(f"detection failed: {widget.status.text()}")
    # the window as `mcdet demo` leaves it: what a new user sees first
    path = save(viewer, out, "detection")
    return path, viewer, widget


def shot_scoring(out: Path, args: argparse.Namespace, viewer=None) -> Path:
    own = viewer is None
    if own:
        _, viewer, _ = shot_detection(out, args)
    viewer.reset_view()
    w = dock(viewer, "Score against ground truth")
    w.pred_combo.setCurrentText("detection labels")
    w.gt_combo.setCurrentText("synthetic lesions")
    w.patch_auc.setChecked(not args.quick)
    if w.run() is None:
        raise RuntimeError(f"scoring did not start: {w.status.text()}")
    wait_until(lambda: w.worker is None, timeout=600)
    path = save(viewer, out, "scoring")
    viewer.close()
    return path


def shot_annotation(out: Path, args: argparse.Namespace) -> Path | None:
    pgm = data_root() / "mini-mias" / "mdb209.pgm"
    if not pgm.is_file():
        print(f"skip annotation: {pgm} not found (set MCDET_DATA)")
        return None
    viewer = new_viewer("annotations")
    viewer.open(str(pgm), plugin="napari-mcdet")
    w = dock(viewer, "Calcification annotations")
    image = next(layer for layer in viewer.layers if layer._type_string == "image")
    w.image_combo.setCurrentText(image.name)
    w.class_combo.setCurrentText("malignant")
    labels = w.new_labels_layer()  # painted inside the Info.txt circle, the truth's outline
    # paint the brightest specks of the cluster as a user would with the brush (mdb209: cluster
    # at x 647, y 503 from the bottom -> row 520, col 647, radius 87 px)
    from skimage.feature import peak_local_max
    from skimage.morphology import disk, white_tophat

    r0, c0 = 520 - 60, 647 - 60
    crop = np.asarray(image.data[r0:r0 + 120, c0:c0 + 120], np.float32)
    specks = peak_local_max(white_tophat(crop, disk(3)), min_distance=5, num_peaks=12)
    for r, c in specks + (r0, c0):
        labels.data[r - 1:r + 2, c - 1:c + 2] = 2
    labels.refresh()
    w.update_counts()
    viewer.layers.selection.active = labels
    labels.mode = "paint"
    viewer.camera.center = (520 * 0.2, 647 * 0.2)
    viewer.camera.zoom = viewer.camera.zoom * 4
    path = save(viewer, out, "annotation")
    viewer.close()
    return path


def shot_reader(out: Path, args: argparse.Namespace) -> Path | None:
    files = sorted((data_root() / "dicom-mg").glob("*.dcm"))
    if not files:
        print(f"skip reader: no DICOM in {data_root() / 'dicom-mg'} (set MCDET_DATA)")
        return None
    viewer = new_viewer("reader")
    viewer.open(str(files[-1]), plugin="napari-mcdet")
    viewer.reset_view()
    path = save(viewer, out, "reader")
    viewer.close()
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "images"),
                        help="folder for the PNGs (docs/images)")
    parser.add_argument("--model", default=None,
                        help="checkpoint for detection (default: the bundled default model)")
    parser.add_argument("--quick", action="store_true",
                        help="no training run, no patch AUCs (for the test suite)")
    parser.add_argument("--only", nargs="*", choices=TASKS, default=None,
                        help="only these screenshots")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = args.only or TASKS

    from napari_mcdet.commands.demo import demo_model_path
    from napari_mcdet.gui._models import current_model

    try:
        demo_model_path(args.model)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        args.workdir = tmp
        for task in tasks:
            current_model.clear()
            t0 = time.perf_counter()
            if task == "detection":
                _, viewer, _ = shot_detection(out, args)
                if "scoring" in tasks:
                    shot_scoring(out, args, viewer)
                else:
                    viewer.close()
            elif task == "scoring":
                if "detection" not in tasks:
                    shot_scoring(out, args)
            else:
                globals()[f"shot_{task}"](out, args)
            print(f"  {task}: {time.perf_counter() - t0:.1f} s")
    current_model.clear()
    return 0


def _quiet_settings(folder: str) -> None:
    """napari settings of this run only (never the user's file): no warning toasts on the canvas."""
    os.environ["NAPARI_CONFIG"] = str(Path(folder) / "napari-settings.yaml")
    from napari.settings import get_settings

    get_settings().application.gui_notification_level = "error"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as settings_dir:
        _quiet_settings(settings_dir)
        sys.exit(main())
