"""The "Detect calcifications" widget: run a model over an image layer and show what it found.

No algorithm lives here: detection is :func:`napari_mcdet.detect` (tiling, blending, thresholds,
calcifications and clusters), the Grad-CAM of a baseline classifier is
:func:`napari_mcdet.infer.gradcam_map.gradcam_map`. The widget converts the image layer to a
:class:`~napari_mcdet.mammogram.Mammogram`, runs the work in a napari worker thread (per-tile
progress, Cancel stops before the next batch of tiles), and turns the result into layers:

- ``benign probability`` and ``malignant probability``: image layers (green / red, additive),
  their names ending in the class's threshold; their contrast runs from half the threshold to
  1, so what is bright is what the model calls a finding (the sliders still go down to 0);
- ``detection labels``: the segmentation (0 / 1 benign / 2 malignant, the package's colours);
- ``detected clusters``: filled boxes with class and score as text;
- ``detected calcifications``: filled dots at the centroids, with their table as ``features``;
- ``Grad-CAM (malignant)``: for a baseline classifier, instead of the above.

All share the image layer's ``scale`` and ``translate``. Re-running updates these layers in
place (image and labels data) or replaces them at the same position (points and shapes), so
they never pile up. Ground truth is drawn as outlines (:mod:`napari_mcdet.gui._layers`); the
status line carries a legend, what was recovered of the image's ground truth when a truth layer
belongs to it (:func:`napari_mcdet.infer.recovery.recovery_summary`), and where the image lies
against the model's training domain (:func:`napari_mcdet.infer.domain.domain_note`).

"Save as DICOM..." writes the last detection as ``<stem>_seg.dcm`` + ``<stem>_sr.dcm``
(:func:`napari_mcdet.infer.export_dicom.write_detection_dicom`, in a worker) when the image layer
was read from a DICOM file; otherwise it says why not (:func:`~napari_mcdet.gui._dicom_layers.
dicom_source`).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QLocale, Qt
from qtpy.QtGui import QDoubleValidator
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...classes import CLASS_COLORS
from ...constants import (
    DEFAULT_ENGINE,
    DEFAULT_TARGET_FP,
    INBREAST_SPACING_MM,
    MINIMIAS_SPACING_MM,
)
from ...infer.export import calcification_columns, cluster_columns
from ...mammogram import Mammogram
from ...spacing import as_spacing
from .._layers import (
    TRUTH_KEY,
    labels_layer_kwargs,
    layer_spacing,
    layer_to_mammogram,
    truth_labels_of,
)
from .._models import (
    ModelLoading,
    current_model,
    describe_model,
    follow_current_model,
)
from .._workers import WorkerWidget

BENIGN_NAME = "benign probability"
MALIGNANT_NAME = "malignant probability"
LABELS_NAME = "detection labels"
CLUSTERS_NAME = "detected clusters"
POINTS_NAME = "detected calcifications"
GRADCAM_NAME = "Grad-CAM (malignant)"
OUTPUT_NAMES = (BENIGN_NAME, MALIGNANT_NAME, LABELS_NAME, CLUSTERS_NAME, POINTS_NAME,
                GRADCAM_NAME)

#: Metadata key naming which output a layer is (its name may change with the threshold).
OUTPUT_KEY = "mcdet_output"
#: The probability layers' contrast starts at this fraction of the class's threshold.
CONTRAST_FROM = 0.5
#: Diameter of a detected calcification's dot, mm (the rings around synthetic truth are 2 mm).
DOT_MM = 0.8
#: Opacity of a detected cluster's filling (its edge is opaque).
BOX_FILL_ALPHA = 0.25
LEGEND = ("legend: yellow outlines = ground truth; filled dots and boxes = detections "
          "(green benign, red malignant)")

#: The dock showing the last folder's summary rows.
SUMMARY_DOCK = "batch summary"
#: Its columns: (header, row key).
SUMMARY_COLUMNS = (("id", "id"), ("status", "status"), ("clusters", "clusters"),
                   ("highest cluster score", "max_cluster_score"), ("suspicion", "suspicion"),
                   ("error", "error"))

MODEL_DEFAULT = "default (bundled)"
MODEL_CURRENT = "trained / loaded"
MODEL_GATE = "model's"


def _detect(mammogram: Any, model: Any, should_stop: Any, *, gradcam: bool,
            progress: Any, truth: Any = None, **options: Any) -> Any:
    """The Detect worker's work: :func:`~napari_mcdet.infer.detect.detect` (with ``options``:
    gate, engine, mirror) and, with ``truth`` ``(labels, lesions)``, what it recovered of them
    (:func:`~napari_mcdet.infer.recovery.recovery_summary`; its error text when the grids
    differ) as ``(detection, recovery)``; for a classifier ``{'gradcam': heat map}``; None when
    cancelled."""
    from ...infer.detect import DetectionCancelled, detect
    from ...infer.gradcam_map import gradcam_map
    from ...infer.recovery import recovery_summary

    try:
        if gradcam:
            return {"gradcam": gradcam_map(mammogram, model, progress=progress,
                                           should_stop=should_stop)}
        found = detect(mammogram, model, progress=progress, should_stop=should_stop, **options)
    except DetectionCancelled:
        return None
    recovery = None
    if truth is not None:
        try:
            recovery = recovery_summary(found, truth[0], lesions=truth[1])
        except ValueError as err:
            recovery = str(err)
    return found, recovery


def _save_dicom(result: Any, source: Path, folder: Path, stem: str, _should_stop: Any, *,
                fractional: bool = False) -> dict[str, Path]:
    """The DICOM worker's work: :func:`~napari_mcdet.infer.export_dicom.write_detection_dicom`
    (it runs to the end: no Cancel)."""
    from ...infer.export_dicom import write_detection_dicom

    return write_detection_dicom(result, source, folder, stem, fractional=fractional)


def _calibrate(paths: list[str], model: Any, _should_stop: Any, *, target_fp: float,
               pixel_spacing: Any, progress: Any, gate: bool = False, mirror: bool = False
               ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The calibration worker's work: read the normal images, choose the decoder gate on them
    when ``gate`` (:func:`~napari_mcdet.infer.gate.choose_gate`), then
    :func:`~napari_mcdet.infer.calibrate.calibrate` behind it, for detection with or without
    ``mirror`` averaging (it runs to the end: no Cancel). Returns the operating point and the
    gate's record (None without ``gate``)."""
    from ...infer.calibrate import calibrate
    from ...infer.gate import choose_gate
    from ...io.images import read_mammogram

    normals = [read_mammogram(p) for p in paths]
    chosen = None
    if gate:
        chosen = choose_gate(model, normals, pixel_spacing=pixel_spacing, progress=progress)
    point = calibrate(model, normals, target_fp=target_fp, pixel_spacing=pixel_spacing,
                      gate=chosen["gate"] if chosen else "auto", mirror=mirror,
                      progress=progress)
    return point, chosen


def _detect_folder(items: list, out: str, model_path: str, settings: dict,
                   should_stop: Any, *, progress: Any) -> list[dict[str, Any]]:
    """The folder worker's work: :func:`~napari_mcdet.infer.batch.run_batch`, one image after
    another, ``progress(done, total)`` after each, stopping between images when asked."""
    from ...infer.batch import run_batch

    done = 0

    def on_row(_row: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        progress(done, len(items))

    return run_batch(items, out=out, model_path=model_path, settings=settings, progress=False,
                     on_row=on_row, should_stop=should_stop)


class _NumberItem(QTableWidgetItem):
    """A table cell holding a number: it sorts by value (a missing value below all)."""

    def __init__(self, value: Any) -> None:
        try:
            self.value = float(value)
        except (TypeError, ValueError):
            self.value = float("nan")
        missing = self.value != self.value
        text = "" if missing else (str(value) if isinstance(value, int)
                                   else f"{self.value:.3f}")
        super().__init__(text)
        if missing:
            self.value = float("-inf")

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _NumberItem):
            return self.value < other.value
        return super().__lt__(other)


def summary_table(rows: list[dict[str, Any]]) -> QTableWidget:
    """The batch summary rows as a sortable table (:data:`SUMMARY_COLUMNS`), by suspicion,
    highest first."""
    table = QTableWidget(len(rows), len(SUMMARY_COLUMNS))
    table.setHorizontalHeaderLabels([header for header, _ in SUMMARY_COLUMNS])
    table.setEditTriggers(QTableWidget.NoEditTriggers)
    for r, row in enumerate(rows):
        for c, (_, key) in enumerate(SUMMARY_COLUMNS):
            value = row.get(key, "")
            number = key in ("clusters", "max_cluster_score", "suspicion")
            table.setItem(r, c, _NumberItem(value) if number
                          else QTableWidgetItem("" if value is None else str(value)))
    table.setSortingEnabled(True)
    table.sortItems(4, Qt.DescendingOrder)
    table.resizeColumnsToContents()
    return table


def _class_colors(codes: list[int], *, alpha: float = 1.0) -> Any:
    """RGBA rows (K, 4) of the class codes' colours with opacity ``alpha``; one colour when
    there are none (napari needs a colour even for an empty layer)."""
    if not codes:
        return [(*CLASS_COLORS[2][:3], alpha)]
    rgba = np.asarray([CLASS_COLORS[int(c)] for c in codes], float).reshape(-1, 4)
    rgba[:, 3] = alpha
    return rgba


def probability_name(base: str, threshold: float) -> str:
    """``'benign probability (threshold 0.846)'``."""
    return f"{base} (threshold {threshold:.3f})"


class DetectWidget(ModelLoading, WorkerWidget):
    """Detect calcifications (or a classifier's Grad-CAM) in an image layer.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(napari_viewer, parent)
        self.last_result: Any = None
        self._result_image: Any = None  # the image layer the last detection was made on
        self._default_model: Any = None
        self._domain: str | None = None  # the domain note of the image being detected
        self._build_fields()
        self._build_controls()
        self._lay_out()
        self._connect()
        follow_current_model(self, self._on_current_changed)
        self.follow_layers()
        if current_model.model is not None:
            self.model_combo.setCurrentText(MODEL_CURRENT)
        self._update_model_label()

    # -- building the panel --------------------------------------------------------------------
    def _build_fields(self) -> None:
        """The image, its spacing, the model and the speed settings (gate, engine, mirror)."""
        self.image_combo = QComboBox()
        # empty unless the layer states its spacing or the user types one: a default here
        # would be a guess shown as a fact (film is about 0.05 mm, INbreast and mini-MIAS differ)
        self.spacing_edit = QLineEdit()
        validator = QDoubleValidator(0.001, 5.0, 4, self.spacing_edit)
        validator.setLocale(QLocale.c())  # "0.07" whatever the system's decimal separator
        self.spacing_edit.setValidator(validator)
        self.spacing_edit.setPlaceholderText("unknown: type it in mm")
        self.spacing_edit.setToolTip("pixel spacing of the image in mm; read from the layer "
                                     "when it states one, else typed here")
        self._typed_spacing: dict[str, str] = {}
        self.model_combo = QComboBox()
        self.model_combo.addItems([MODEL_DEFAULT, MODEL_CURRENT])
        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)
        self.gate_check = QCheckBox("on")
        self.gate_check.setChecked(True)
        self.gate_check.setToolTip("skip the decoder on tiles the encoder finds sure soft tissue")
        self.gate_spin = QDoubleSpinBox()
        # the lowest value stands for the model's own gate (detect's gate='auto'); one step
        # below 0, so that the first step up from it is a gate of 0
        self.gate_spin.setRange(-0.01, 1.0)
        self.gate_spin.setSpecialValueText(MODEL_GATE)
        self.gate_spin.setSingleStep(0.01)
        self.gate_spin.setDecimals(3)
        self.gate_spin.setValue(self.gate_spin.minimum())
        self.gate_spin.setToolTip("the decoder runs only on tiles whose bottleneck gives a "
                                  "calcification probability of at least this; "
                                  f"'{MODEL_GATE}': the gate stored with the model (none if it "
                                  "has none)")
        self.engine_combo = QComboBox()
        self.engine_combo.addItems(["auto", "eager", "onnx"])
        self.engine_combo.setCurrentText(DEFAULT_ENGINE)
        self.engine_combo.setToolTip("auto: ONNX Runtime when the 'fast' extra is installed, "
                                     "else PyTorch")
        self.mirror_check = QCheckBox("average with the mirrored image")
        self.mirror_check.setToolTip(
            "run every tile also left-right mirrored and average the two: fewer responses to "
            "texture, about twice the time; calibrating with it checked sets its own threshold")

    def _build_controls(self) -> None:
        """Buttons (load, detect, cancel, calibrate), progress and status."""
        self.load_button = QPushButton("Load model...")
        self.run_button = QPushButton("Detect")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.calibrate_button = QPushButton("Calibrate on normals...")
        self.folder_button = QPushButton("Detect a folder...")
        self.dicom_button = QPushButton("Save as DICOM...")
        self.dicom_button.setToolTip(
            "write the last detection as <image>_seg.dcm (DICOM Segmentation) and "
            "<image>_sr.dcm (TID 1500 structured report) into a folder; only for an image read "
            "from a DICOM file, whose study, series and instance they reference")
        self.folder_button.setToolTip(
            "detect on every image of a folder with the chosen model and these settings; the "
            "outputs and summary.csv go to an output folder (images done before are skipped)")
        self.calibrate_button.setToolTip(
            "choose normal mammograms (no calcification): the model's operating point becomes "
            f"the threshold giving at most {DEFAULT_TARGET_FP:g} false clusters per image on "
            "them")
        self.calibrate_gate_check = QCheckBox("and choose the decoder gate")
        self.calibrate_gate_check.setToolTip(
            "first choose the model's decoder gate on the same normals, with synthetic lesions "
            "blended in: the largest gate that skips at most 1 % of the tiles holding a "
            "calcification (twice the work)")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("tiles %v / %m")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.run_buttons = [self.run_button, self.calibrate_button, self.folder_button,
                            self.dicom_button]
        self.summary_dock: Any = None

    def _lay_out(self) -> None:
        form = QFormLayout()
        form.addRow("image", self.image_combo)
        form.addRow("pixel spacing (mm)", self.spacing_edit)
        form.addRow("model", self.model_combo)
        form.addRow("", self.model_label)
        gate_row = QHBoxLayout()
        gate_row.addWidget(self.gate_check)
        gate_row.addWidget(self.gate_spin)
        form.addRow("decoder gate", gate_row)
        form.addRow("engine", self.engine_combo)
        form.addRow("mirror", self.mirror_check)
        buttons = QHBoxLayout()
        for b in (self.load_button, self.run_button, self.cancel_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        calibrate_row = QHBoxLayout()
        calibrate_row.addWidget(self.calibrate_button)
        calibrate_row.addWidget(self.calibrate_gate_check)
        layout.addLayout(calibrate_row)
        save_row = QHBoxLayout()
        save_row.addWidget(self.folder_button)
        save_row.addWidget(self.dicom_button)
        layout.addLayout(save_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def _connect(self) -> None:
        self.gate_check.toggled.connect(self.gate_spin.setEnabled)
        self.load_button.clicked.connect(self._on_load)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.calibrate_button.clicked.connect(self._on_calibrate)
        self.folder_button.clicked.connect(self._on_detect_folder)
        self.dicom_button.clicked.connect(self._on_save_dicom)
        self.image_combo.currentIndexChanged.connect(self._on_image_chosen)
        self.spacing_edit.textEdited.connect(self._on_spacing_typed)
        self.model_combo.currentIndexChanged.connect(self._update_model_label)

    # -- choices -------------------------------------------------------------------------------
    def detect_options(self) -> dict[str, Any]:
        """The panel's speed settings as :func:`~napari_mcdet.infer.detect.detect` options."""
        if not self.gate_check.isChecked():
            gate = None
        elif self.gate_spin.value() == self.gate_spin.minimum():
            gate = "auto"
        else:
            gate = float(self.gate_spin.value())
        return {"gate": gate, "engine": self.engine_combo.currentText(),
                "mirror": self.mirror_check.isChecked()}

    def _image_layers(self) -> list:
        from napari.layers import Image

        return [
            layer for layer in self.viewer.layers
            if isinstance(layer, Image) and layer.ndim == 2 and not layer.rgb
            and layer.name not in OUTPUT_NAMES and not (layer.metadata or {}).get(OUTPUT_KEY)
        ]

    def output_layer(self, role: str) -> Any:
        """The output layer ``role`` (``'benign'``, ``'malignant'`` probability) or None."""
        for layer in self.viewer.layers:
            if (layer.metadata or {}).get(OUTPUT_KEY) == role:
                return layer
        return None

    def _refresh_layers(self, _event: Any = None) -> None:
        current = self.image_combo.currentText()
        names = [layer.name for layer in self._image_layers()]
        self.image_combo.blockSignals(True)
        self.image_combo.clear()
        self.image_combo.addItems(names)
        if current in names:
            self.image_combo.setCurrentText(current)
        self.image_combo.blockSignals(False)
        self._on_image()

    def image_layer(self):
        """The chosen image layer, or None."""
        name = self.image_combo.currentText()
        return self.viewer.layers[name] if name and name in self.viewer.layers else None

    def _on_image(self, _index: int = 0) -> None:
        layer = self.image_layer()
        spacing = layer_spacing(layer) if layer is not None else None
        self.spacing_edit.setEnabled(spacing is None)
        if spacing is not None:
            r, c = spacing
            self.spacing_edit.setText(f"{r:g}" if r == c else f"{r:g} x {c:g}")
        else:  # what the user typed for this layer, if anything, never another layer's value
            self.spacing_edit.setText(self._typed_spacing.get(self.image_combo.currentText(), ""))

    def _on_image_chosen(self, _index: int = 0) -> None:
        """The user chose another image: its spacing, and at once whether it lies outside the
        loaded model's domain (a layer-list refresh keeps the status as it is)."""
        self._on_image()
        layer = self.image_layer()
        if self.worker is None and layer is not None and layer_spacing(layer) is not None:
            self._say_domain(layer)

    def _loaded_model(self) -> Any:
        """The chosen model if it is already in memory (choosing an image never loads one)."""
        if self.model_combo.currentText() == MODEL_CURRENT:
            return current_model.model
        return self._default_model

    def _say_domain(self, layer: Any) -> None:
        """Before Detect: where the chosen image lies against the loaded model's domain."""
        from ...infer.domain import domain_message

        model = self._loaded_model()
        if model is None or not model.is_segmenter:
            return
        try:
            message = domain_message(layer_to_mammogram(layer), model)
        except ValueError:
            return
        if message is not None:
            self.say(message)

    def _on_spacing_typed(self, text: str) -> None:
        self._typed_spacing[self.image_combo.currentText()] = text

    def pixel_spacing(self) -> tuple[float, float]:
        """The chosen layer's spacing (metadata or non-unit scale), else the typed one.

        Raises ValueError when neither is there.
        """
        layer = self.image_layer()
        spacing = layer_spacing(layer) if layer is not None else None
        if spacing is not None:
            return spacing
        text = self.spacing_edit.text().strip()
        try:
            v = float(text)
        except ValueError:
            v = 0.0
        if not 0.0 < v <= 5.0:
            raise ValueError("this image states no pixel spacing: type it in mm (digitised "
                             f"film about 0.05, INbreast {INBREAST_SPACING_MM:g}, mini-MIAS "
                             f"{MINIMIAS_SPACING_MM:g})")
        return as_spacing(v)

    # -- the model -----------------------------------------------------------------------------
    def _on_current_changed(self, model: Any) -> None:
        if model is not None:
            self.model_combo.setCurrentText(MODEL_CURRENT)
        self._update_model_label()

    def _update_model_label(self, _index: int = 0) -> None:
        if self.model_combo.currentText() == MODEL_CURRENT:
            text = describe_model(current_model.model, current_model.source)
            if current_model.model is None:
                text = "no model trained or loaded yet: train one or press Load model"
        else:
            text = "the model shipped with napari-mcdet"
        self.model_label.setText(text)

    def model(self) -> Any:
        """The chosen TrainedModel (loading the bundled default on first use)."""
        if self.model_combo.currentText() == MODEL_CURRENT:
            if current_model.model is None:
                raise ValueError("no model trained or loaded yet: train one, press Load model, "
                                 "or choose the default model")
            return current_model.model
        if self._default_model is None:
            from ...models.checkpoint import load_model

            self._default_model = load_model()
        return self._default_model

    # -- running -------------------------------------------------------------------------------
    def run(self) -> Any:
        """Start detection (or a classifier's Grad-CAM) on the chosen layer in a worker thread;
        returns the worker, or None (with the reason shown) when it cannot start."""
        from ...models.checkpoint import CheckpointError

        layer = self.image_layer()
        if layer is None:
            self.show_error("add or open an image layer first")
            return None
        try:
            mammo = layer_to_mammogram(layer)
            spacing = self.pixel_spacing()
            model = self.model()
        except (ValueError, CheckpointError, FileNotFoundError) as err:
            self.show_error(str(err))
            return None
        mammo = Mammogram(mammo.pixels, pixel_spacing=spacing, laterality=mammo.laterality,
                          view=mammo.view, metadata=mammo.metadata)
        # a model without a segmentation head can only explain its class: Grad-CAM
        gradcam = not model.is_segmenter
        self._domain = None if gradcam else self._warn_domain(mammo, model)
        options = {} if gradcam else self.detect_options()
        truth_layer = None if gradcam else truth_labels_of(self.viewer.layers, layer)
        if truth_layer is not None:
            synthetic = truth_layer.metadata.get(TRUTH_KEY) == "synthetic"
            options["truth"] = (np.asarray(truth_layer.data),
                                truth_layer.metadata.get("lesions") if synthetic else None)
        truth_name = truth_layer.name if truth_layer is not None else None
        self.progress.setFormat("tiles %v / %m")
        return self.start_worker(
            partial(_detect, mammo, model, gradcam=gradcam, progress=self.report_progress,
                    **options),
            what="Grad-CAM" if gradcam else "detection",
            busy="Grad-CAM..." if gradcam else "detecting...", total=1,
            returned=lambda result: self._on_returned(result, layer, truth_name))

    @staticmethod
    def _warn_domain(mammo: Mammogram, model: Any) -> str:
        """The domain note for the status line; the library's once-per-process domain warning,
        when it is due, as a napari notification (detection in the worker then stays quiet:
        the rule counts it said)."""
        from napari.utils.notifications import show_warning

        from ...infer.domain import domain_note, take_domain_warning

        first = take_domain_warning(mammo, model)
        if first is not None:
            show_warning(first)
        return domain_note(mammo, model)

    def _on_calibrate(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Normal mammograms to calibrate on", "",
            "Mammograms (*.dcm *.dicom *.png *.tif *.tiff *.pgm);;All files (*)")
        if paths:
            self.calibrate(paths)

    def calibrate(self, paths: list[str], *, target_fp: float = DEFAULT_TARGET_FP) -> Any:
        """Calibrate the chosen model's operating point on normal image files, in a worker.

        With "and choose the decoder gate" checked, the gate is chosen first and the threshold
        calibrated behind it; with "mirror" checked, the threshold is the one for detection with
        mirror averaging. Both are stored in the model (used by the next Detect) and, for a
        model loaded from a file other than the bundled one, written into that file. Returns
        the worker.
        """
        try:
            model = self.model()
            spacing = self.pixel_spacing() if self.spacing_edit.text().strip() else None
        except (ValueError, FileNotFoundError) as err:
            self.show_error(str(err))
            return None
        gate = self.calibrate_gate_check.isChecked()
        self.progress.setFormat("images %v / %m")
        return self.start_worker(
            partial(_calibrate, paths, model, target_fp=target_fp, pixel_spacing=spacing,
                    progress=self.report_progress, gate=gate,
                    mirror=self.mirror_check.isChecked()),
            what="calibration", busy=f"calibrating on {len(paths)} normal image(s)...",
            total=len(paths), returned=lambda found: self._on_calibrated(model, *found, paths))

    def _on_calibrated(self, model: Any, point: dict, chosen: dict | None,
                       paths: list[str]) -> None:
        from ...models.checkpoint import calibration_metadata, default_model_path, update_metadata

        updates = calibration_metadata(point, images=paths,
                                       gate=chosen["gate"] if chosen is not None else None)
        model.metadata.update(updates)
        where = "kept for this session (the bundled model is not rewritten)"
        path = model.metadata.get("path")
        if path and Path(path).resolve() != default_model_path().resolve():
            try:
                update_metadata(path, updates)
                where = f"written into {path}"
            except (OSError, ValueError) as err:
                where = f"kept for this session; writing {path} failed: {err}"
        gate = (f"decoder gate {chosen['gate']:.3f} ({chosen['positives_skipped']:.1%} of "
                f"{chosen['positive_tiles']} synthetic calcification tiles skipped); "
                if chosen is not None else "")
        self.say(
            f"{gate}operating point{' with mirror averaging' if point['tiling']['mirror'] else ''}"
            f" {point['benign']:.3f}: {point['fp_per_image']:.2f} false "
            f"clusters per normal image over {point['n_images']}; {where}")

    def _on_detect_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of mammograms to detect on")
        if not folder:
            return
        out = QFileDialog.getExistingDirectory(self, "Output folder (results, summary.csv)")
        if out:
            self.detect_folder(folder, out)

    def _model_path(self) -> str:
        """The chosen model's checkpoint file (the batch engine loads it by path)."""
        from ...models.paths import checkpoint_path

        if self.model_combo.currentText() == MODEL_CURRENT:
            path = self.model().metadata.get("path")
            if not path:
                raise ValueError("the current model is not saved in a file: save it, load a "
                                 "model file, or choose the default model")
            return str(path)
        return str(checkpoint_path(None))

    def detect_folder(self, folder: str | Path, out: str | Path) -> Any:
        """Detect on every image of ``folder`` (:func:`~napari_mcdet.infer.batch.run_batch`
        with the chosen model and the panel's settings), outputs in ``out``, in a worker;
        the summary is docked as a table when done. Returns the worker, or None."""
        from ...infer.batch import expand_inputs
        from ...models.checkpoint import CheckpointError

        try:
            items = expand_inputs([folder])
            model_path = self._model_path()
        except (ValueError, OSError, CheckpointError) as err:
            self.show_error(str(err))
            return None
        out = str(out)
        self.progress.setFormat("images %v / %m")
        return self.start_worker(
            partial(_detect_folder, items, out, model_path, self.detect_options(),
                    progress=self.report_progress),
            what="folder detection", busy=f"detecting on {len(items)} image(s)...",
            total=len(items), returned=lambda rows: self._on_folder_done(rows, len(items), out))

    def _on_folder_done(self, rows: list[dict[str, Any]], total: int, out: str) -> None:
        counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "failed")}
        table = summary_table(rows)
        if self.summary_dock is not None:
            try:
                self.viewer.window.remove_dock_widget(self.summary_dock)
            except (KeyError, LookupError, RuntimeError):
                pass  # closed by the user
        self.summary_dock = self.viewer.window.add_dock_widget(table, name=SUMMARY_DOCK)
        self.summary_table = table
        text = (f"{len(rows)} images: {counts['ok']} ok, {counts['skipped']} skipped, "
                f"{counts['failed']} failed -> {Path(out) / 'summary.csv'}")
        if self.cancelled:
            text = f"cancelled after {len(rows)} of {total} images; {text}"
        self.say(text)

    def _on_save_dicom(self) -> None:
        try:
            self._dicom_inputs()
        except ValueError as err:  # say why before asking for a folder
            self.show_error(str(err))
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder for the DICOM SEG and SR")
        if folder:
            self.save_dicom(folder)

    def _dicom_inputs(self) -> tuple[Any, Path]:
        """The last detection and the DICOM file of the image it was made on; ValueError (one
        line) when there is none, or the image was not read from a DICOM file."""
        from .._dicom_layers import dicom_source

        result = self.last_result
        if result is None:
            raise ValueError("nothing to save as DICOM: press Detect first")
        if isinstance(result, dict):
            raise ValueError("a classifier's Grad-CAM has no calcifications to save as DICOM: "
                             "detect with a segmentation model")
        return result, dicom_source(self._result_image)

    def save_dicom(self, folder: str | Path, *, fractional: bool = False) -> Any:
        """Write the last detection as ``<stem>_seg.dcm`` + ``<stem>_sr.dcm`` into ``folder``
        (:func:`~napari_mcdet.infer.export_dicom.write_detection_dicom`; ``<stem>`` is the
        source file's), in a worker; no dialog. Returns the worker, or None with the reason
        shown (no detection, or an image not read from a DICOM file)."""
        try:
            result, source = self._dicom_inputs()
        except ValueError as err:
            self.show_error(str(err))
            return None
        return self.start_worker(
            partial(_save_dicom, result, source, Path(folder), source.stem,
                    fractional=fractional),
            what="saving as DICOM", busy="writing the DICOM SEG and SR...",
            returned=self._on_dicom_saved)

    def _on_dicom_saved(self, paths: dict[str, Path]) -> None:
        self.saved_dicom = paths
        self.say(f"wrote {paths['seg']} (DICOM SEG) and {paths['sr'].name} (TID 1500 SR)")

    def on_worker_error(self, text: str) -> None:
        """The output layers are left as the last good run made them (a failed DICOM save
        keeps the detection it was saving)."""
        if self._what != "saving as DICOM":
            self.last_result = None
        self.show_error(text)

    def _on_returned(self, result: Any, layer: Any, truth_name: str | None = None) -> None:
        if self.cancelled or result is None:
            self.say("cancelled: the layers were left as they were")
            return
        if layer not in self.viewer.layers:
            self.say("the image layer was removed during detection")
            return
        layer.visible = True  # the layers drawn over it are its own
        if isinstance(result, dict) and "gradcam" in result:
            self.last_result = result
            self.show_gradcam(result["gradcam"], layer)
            self.say("Grad-CAM of the malignant class (tiles x their probability)")
            return
        self.last_result, recovery = result
        self._result_image = layer
        self.show_result(self.last_result, layer, recovery=recovery, truth_name=truth_name)

    # -- layers --------------------------------------------------------------------------------
    def _geometry(self, layer: Any) -> dict[str, Any]:
        return {"scale": tuple(np.asarray(layer.scale)[-2:]),
                "translate": tuple(np.asarray(layer.translate)[-2:])}

    def _put_image(self, name: str, data: np.ndarray, layer: Any, *, role: str | None = None,
                   **kwargs: Any) -> Any:
        """Update the output image layer ``role`` (else the one called ``name``) or add it."""
        geo = self._geometry(layer)
        out = self.output_layer(role) if role is not None else None
        if out is None and name in self.viewer.layers:
            out = self.viewer.layers[name]
        if out is not None:
            out.data = data
            out.scale, out.translate = geo["scale"], geo["translate"]
            out.name = name
            return out
        if role is not None:
            kwargs["metadata"] = {**kwargs.get("metadata", {}), OUTPUT_KEY: role}
        return self.viewer.add_image(data, name=name, **geo, **kwargs)

    def _replace(self, name: str, new: Any) -> Any:
        """Insert ``new`` where a layer called ``name`` was (removing it), else on top."""
        if name in self.viewer.layers:
            index = self.viewer.layers.index(name)
            self.viewer.layers.remove(name)
            self.viewer.layers.insert(index, new)
        else:
            self.viewer.layers.append(new)
        return new

    def show_gradcam(self, heat: np.ndarray, layer: Any) -> Any:
        """Push (or update) the Grad-CAM heat map layer."""
        return self._put_image(GRADCAM_NAME, np.asarray(heat, np.float32), layer,
                               colormap="inferno", blending="additive", opacity=0.6,
                               contrast_limits=(0.0, 1.0),
                               metadata={"pixel_spacing": layer_spacing(layer)})

    def show_result(self, result: Any, layer: Any, *, recovery: Any = None,
                    truth_name: str | None = None) -> None:
        """Turn a detection result into the five output layers (updated or replaced) and the
        status (:meth:`result_text`)."""
        from napari.layers import Points, Shapes

        geo = self._geometry(layer)
        probs = np.asarray(result.probabilities, np.float32)
        for channel, (role, base, cmap) in enumerate((("benign", BENIGN_NAME, "green"),
                                                      ("malignant", MALIGNANT_NAME, "red"))):
            t = float(result.thresholds[role])
            out = self._put_image(probability_name(base, t), probs[channel], layer, role=role,
                                  colormap=cmap, blending="additive", opacity=0.7)
            # below half the threshold stays dark: only what nears a finding lights up
            out.contrast_limits_range = (0.0, 1.0)
            out.contrast_limits = (min(CONTRAST_FROM * t, 0.99), 1.0)
            out.metadata = {**out.metadata, "threshold": t}
        labels = np.asarray(result.labels, np.uint8)
        if LABELS_NAME in self.viewer.layers:
            lab = self.viewer.layers[LABELS_NAME]
            lab.data = labels
            lab.scale, lab.translate = geo["scale"], geo["translate"]
        else:
            kw = labels_layer_kwargs(LABELS_NAME, scale=geo["scale"],
                                     metadata={"pixel_spacing": layer_spacing(layer)})
            self.viewer.add_labels(labels, translate=geo["translate"], **kw)

        calc = calcification_columns(result)
        centroids = np.column_stack([calc["row"], calc["col"]]).reshape(-1, 2)
        points = Points(
            centroids, name=POINTS_NAME, features=calc, size=DOT_MM / min(geo["scale"]),
            symbol="disc",
            face_color=_class_colors(calc["class"]), border_color="black", border_width=0.1,
            **geo,
        )
        self._replace(POINTS_NAME, points)

        clus = cluster_columns(result)
        # boxes are end-exclusive pixel indices; pixel k covers [k - 0.5, k + 0.5] in napari
        rects = [np.array([[r0, c0], [r0, c1], [r1, c1], [r1, c0]], float) - 0.5
                 for r0, c0, r1, c1 in zip(clus["r0"], clus["c0"], clus["r1"], clus["c1"])]
        shapes = Shapes(
            rects, shape_type="rectangle", name=CLUSTERS_NAME, features=clus,
            edge_color=_class_colors(clus["class"]),
            face_color=_class_colors(clus["class"], alpha=BOX_FILL_ALPHA), edge_width=2,
            text={"string": "{class_name} {score:.2f}", "size": 10, "color": "white",
                  "anchor": "upper_left"} if rects else None,
            ndim=2, **geo,
        )
        self._replace(CLUSTERS_NAME, shapes)
        self.say(self.result_text(result, recovery=recovery, truth_name=truth_name))

    def result_text(self, result: Any, *, recovery: Any = None,
                    truth_name: str | None = None) -> str:
        """The status after detection: counts, what was recovered of the ground truth layer
        ``truth_name`` (a :class:`~napari_mcdet.infer.recovery.Recovery`, or why it was not
        compared), the legend and the image's domain."""
        t = result.thresholds
        lines = [f"{len(result.calcifications)} calcification(s), {len(result.clusters)} "
                 f"cluster(s) found (thresholds: benign {t['benign']:.3f}, malignant "
                 f"{t['malignant']:.3f})"]
        if isinstance(recovery, str):
            lines.append(f"{truth_name}: not compared ({recovery})")
        elif recovery is not None:
            lines.append(f"against {truth_name}: {recovery.line()} (strict rule: "
                         f"{recovery.rule()})")
        lines.append(f"{LEGEND}; the probability layers are bright from half the threshold "
                     "up (slide their contrast down to see weaker responses)")
        if self._domain:
            lines.append(self._domain)
        return "\n".join(lines)
