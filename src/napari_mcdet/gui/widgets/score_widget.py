"""The "Score against ground truth" widget: the paper's metrics for one image, in napari.

No metric is computed here: the widget gathers arrays from the chosen layers, runs
:func:`napari_mcdet.infer.score.score_image` in a worker, shows the report's rows
(:func:`~napari_mcdet.infer.score.report_rows`) in a table with the ROC / FROC curves, and
exports it with :func:`~napari_mcdet.infer.score.export_report`.

Inputs (layers made by the Detect widget, the reader, or the Annotations widget):

- the prediction: a labels layer (0 / 1 benign / 2 malignant), by default ``detection labels``;
- calcification detections: a points layer with a ``score`` feature (``detected calcifications``),
  optional; cluster detections: a shapes layer with ``r0``, ``c0``, ``r1``, ``c1`` and ``score``
  features (``detected clusters``: :func:`napari_mcdet.infer.export.cluster_columns`), optional;
- the ground truth: a labels layer of the same shape;
- any of these may be a DICOM SEG (labels) or TID 1500 SR (points, boxes) opened with the reader:
  it must lie on the chosen image (same size, and its source SOP instance the image's), else a
  one-line error (:func:`napari_mcdet.gui._dicom_layers.check_on_image`);
- the image and the current (or default) model, for the patch AUCs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...infer.score import export_report, na_reason, report_rows, score_image
from .._dicom_layers import check_on_image
from .._layers import layer_spacing
from .._models import current_model
from .._workers import WorkerWidget
from .detect_widget import CLUSTERS_NAME, LABELS_NAME, OUTPUT_KEY, OUTPUT_NAMES, POINTS_NAME

NONE = "(none)"
EXPORT_FILTERS = "CSV (*.csv);;JSON (*.json)"


def points_detections(layer: Any) -> np.ndarray:
    """``(K, 3)`` (row, col, score) pixels from a points layer with a ``score`` feature."""
    if layer is None or len(layer.data) == 0:
        return np.zeros((0, 3))
    if "score" not in layer.features:
        raise ValueError(f"points layer {layer.name!r} has no 'score' feature")
    pts = np.asarray(layer.data, float)[:, -2:]
    scores = np.asarray(layer.features["score"], float)
    _check_scores(scores, layer)
    return np.column_stack([pts, scores])


def _check_scores(scores: np.ndarray, layer: Any) -> None:
    if np.isnan(scores).any():
        raise ValueError(f"layer {layer.name!r} has findings without a score (an annotation, "
                         "not a detection): choose a detector's points and boxes, or none")


def box_detections(layer: Any) -> np.ndarray:
    """``(K, 5)`` (r0, c0, r1, c1, score) from a shapes layer's ``r0``, ``c0``, ``r1``, ``c1``
    and ``score`` features (pixels, end-exclusive boxes)."""
    if layer is None or len(layer.data) == 0:
        return np.zeros((0, 5))
    keys = ["r0", "c0", "r1", "c1", "score"]
    missing = [k for k in keys if k not in layer.features]
    if missing:
        raise ValueError(f"shapes layer {layer.name!r} lacks the features {missing}")
    _check_scores(np.asarray(layer.features["score"], float), layer)
    return np.column_stack([np.asarray(layer.features[k], float) for k in keys])


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.4f}"
    return str(v)


#: ``metadata['region_shape']`` of a ground-truth labels layer whose regions are circles around
#: whole abnormalities (mini-MIAS ``Info.txt``), not outlines of calcifications.
CIRCLE_REGIONS = "circle"
CIRCLE_NOTE = ("the ground truth marks circles around whole clusters, not calcifications: pixel "
               "recall, precision and Dice against it are not meaningful (the FROC is)")


class ScoreWidget(WorkerWidget):
    """Score a detection against a ground-truth labels layer: table, curves, export.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(napari_viewer, parent)
        self.report: dict[str, Any] | None = None

        self.image_combo = QComboBox()
        self.pred_combo = QComboBox()
        self.points_combo = QComboBox()
        self.shapes_combo = QComboBox()
        self.gt_combo = QComboBox()
        self.patch_auc = QCheckBox("patch AUCs with the current model")
        self.patch_auc.setChecked(True)
        self.run_button = QPushButton("Score")
        self.export_button = QPushButton("Export...")
        self.export_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["metric", "value"])
        header = self.table.horizontalHeader()
        # the metric names are long ("calcification sensitivity @ 0.25 FP/image"): never cut
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)

        form = QFormLayout()
        form.addRow("image", self.image_combo)
        form.addRow("detection labels", self.pred_combo)
        form.addRow("calcification points", self.points_combo)
        form.addRow("cluster boxes", self.shapes_combo)
        form.addRow("ground truth", self.gt_combo)
        form.addRow(self.patch_auc)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        self._make_plot(layout)

        self.run_button.clicked.connect(self.run)
        self.export_button.clicked.connect(self._on_export)
        self.run_buttons = [self.run_button]
        self.follow_layers()

    def _make_plot(self, layout: QVBoxLayout) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(5, 2.4), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(200)
        layout.addWidget(self.canvas)

    # -- layer choices -------------------------------------------------------------------------
    def _fill(self, combo: QComboBox, names: list[str], preferred: str | None,
              optional: bool = False) -> None:
        current = combo.currentText()
        before = {combo.itemText(i) for i in range(combo.count())}
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(([NONE] if optional else []) + names)
        if preferred in names and preferred not in before:
            combo.setCurrentText(preferred)  # a detection that just arrived is the natural pick
        elif current in names:
            combo.setCurrentText(current)
        elif preferred in names:
            combo.setCurrentText(preferred)
        combo.blockSignals(False)

    def _refresh_layers(self, _event: Any = None) -> None:
        from napari.layers import Image, Labels, Points, Shapes

        layers = list(self.viewer.layers)
        images = [lyr.name for lyr in layers if isinstance(lyr, Image) and lyr.ndim == 2
                  and not lyr.rgb and lyr.name not in OUTPUT_NAMES
                  and not (lyr.metadata or {}).get(OUTPUT_KEY)]
        labels = [lyr.name for lyr in layers if isinstance(lyr, Labels)]
        self._fill(self.image_combo, images, None, optional=True)
        if self.image_combo.currentText() == NONE and images:
            self.image_combo.setCurrentText(images[0])
        self._fill(self.pred_combo, labels, LABELS_NAME)
        # a detection is never its own ground truth: without another labels layer, none
        gt_pref = next((n for n in labels if n != self.pred_combo.currentText()), None)
        self._fill(self.gt_combo, labels, gt_pref, optional=True)
        self._fill(self.points_combo, [lyr.name for lyr in layers if isinstance(lyr, Points)],
                   POINTS_NAME, optional=True)
        self._fill(self.shapes_combo, [lyr.name for lyr in layers if isinstance(lyr, Shapes)],
                   CLUSTERS_NAME, optional=True)
        for combo, pref in ((self.points_combo, POINTS_NAME), (self.shapes_combo, CLUSTERS_NAME)):
            if combo.currentText() == NONE and pref in self.viewer.layers:
                combo.setCurrentText(pref)

    def _layer(self, combo: QComboBox) -> Any:
        name = combo.currentText()
        return self.viewer.layers[name] if name and name != NONE and name in self.viewer.layers \
            else None

    def inputs(self) -> dict[str, Any]:
        """The arrays :func:`~napari_mcdet.infer.score.score_image` gets from the chosen
        layers."""
        pred, gt = self._layer(self.pred_combo), self._layer(self.gt_combo)
        if pred is None:
            raise ValueError("choose a detection labels layer (press Detect first)")
        if gt is None:
            raise ValueError("choose a ground-truth labels layer: open the image's annotations "
                             "(an INbreast XML, a mini-MIAS image with its Info.txt) or draw "
                             "them in 'Calcification annotations'")
        # layer names are unique in a viewer, and the viewer a plugin gets hands out a new
        # proxy object per lookup, so the name is what identifies a layer here
        if pred.name == gt.name:
            raise ValueError(f"the detection and the ground truth are the same layer "
                             f"({pred.name!r}): a detection scored against itself is perfect "
                             "by construction; choose the image's annotations as ground truth")
        image = self._layer(self.image_combo)
        # a DICOM SEG or SR must lie on the image it is scored on (its size, its SOP instance)
        for layer in (pred, gt, self._layer(self.points_combo), self._layer(self.shapes_combo)):
            if layer is not None:
                check_on_image(layer, image)
        kw: dict[str, Any] = {
            "prediction": np.asarray(pred.data), "ground_truth": np.asarray(gt.data),
            "calcifications": (points_detections(self._layer(self.points_combo))
                               if self._layer(self.points_combo) is not None else None),
            "clusters": (box_detections(self._layer(self.shapes_combo))
                         if self._layer(self.shapes_combo) is not None else None),
        }
        if self.patch_auc.isChecked() and image is not None:
            spacing = layer_spacing(image)
            model = current_model.model
            if model is None:
                from ...models.checkpoint import default_model_path, load_model

                if default_model_path().is_file():
                    model = load_model()
            if spacing is not None and model is not None:
                kw.update(image=np.asarray(image.data), pixel_spacing=spacing, model=model)
        return kw

    # -- running -------------------------------------------------------------------------------
    def run(self) -> Any:
        """Compute the metrics in a worker thread; returns the worker."""
        from ...models.checkpoint import CheckpointError

        if self.worker is not None:
            return None
        try:
            kw = self.inputs()
        except (ValueError, CheckpointError, FileNotFoundError) as err:
            self.on_worker_error(str(err))
            return None
        circles = self._layer(self.gt_combo).metadata.get("region_shape") == CIRCLE_REGIONS
        self.clear_results()
        return self.start_worker(
            lambda _should_stop: score_image(**kw), what="scoring", busy="scoring...",
            returned=lambda report: self.show_report(report, circles=circles))

    def on_worker_error(self, text: str) -> None:
        """Show one error and drop the previous results, which no longer match the inputs."""
        self.clear_results()
        self.show_error(text)

    def clear_results(self) -> None:
        """Empty the table and the curves; nothing to export."""
        self.report = None
        self.table.setRowCount(0)
        self.export_button.setEnabled(False)
        self.figure.clear()
        self.canvas.draw_idle()

    def show_report(self, report: dict[str, Any], *, circles: bool = False) -> None:
        """Fill the table and the curves from a report.

        ``circles``: the ground truth is circles around clusters, so the pixel rows are marked
        as not meaningful (the values stay in the report and the export, with a note).
        """
        if circles and CIRCLE_NOTE not in report.get("notes", []):
            report.setdefault("notes", []).append(CIRCLE_NOTE)
        self.report = report
        rows = report_rows(report)
        self.table.setRowCount(len(rows))
        for i, (name, value) in enumerate(rows):
            item = QTableWidgetItem(name)
            item.setToolTip(name)
            text, tip = _fmt(value), ""
            if circles and name.startswith("pixel "):
                text, tip = f"({text}) not meaningful", CIRCLE_NOTE
            elif text == "n/a":
                tip = na_reason(name)
            shown = QTableWidgetItem(text)
            shown.setToolTip(tip)
            self.table.setItem(i, 0, item)
            self.table.setItem(i, 1, shown)
        self.export_button.setEnabled(True)
        self.status.setText("; ".join(report.get("notes", [])) or "scored")
        self._plot(report.get("_curves", {}))

    def table_values(self) -> dict[str, str]:
        """``{metric: shown text}`` of the table."""
        return {self.table.item(i, 0).text(): self.table.item(i, 1).text()
                for i in range(self.table.rowCount())}

    def table_tooltips(self) -> dict[str, str]:
        """``{metric: tooltip of its value}`` (why a value is n/a or not meaningful)."""
        return {self.table.item(i, 0).text(): self.table.item(i, 1).toolTip()
                for i in range(self.table.rowCount())}

    def _plot(self, curves: dict[str, Any]) -> None:
        from ...metrics import FrocResult, RocCurve

        self.figure.clear()
        rocs = {k: c for k, c in curves.items() if isinstance(c, RocCurve)}
        frocs = {k: c for k, c in curves.items() if isinstance(c, FrocResult)}
        axes = self.figure.subplots(1, 2)
        ax = axes[0]
        ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
        for name, c in rocs.items():
            if c.fpr.size:
                ax.plot(c.fpr, c.tpr, lw=1.5, label=f"{name} {_fmt(c.auc)}")
        ax.set(title="patch ROC", xlabel="FPR", ylabel="TPR", xlim=(0, 1), ylim=(0, 1.01))
        ax = axes[1]
        for name, r in frocs.items():
            if not np.all(np.isnan(r.sensitivity)):
                ax.step(r.fp_per_image, r.sensitivity, where="post", lw=1.5, label=name)
        ax.set(title="FROC", xlabel="FP / image", ylabel="sensitivity", ylim=(0, 1.01))
        for ax in axes:
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=6, loc="lower right")
        self.canvas.draw_idle()

    # -- export --------------------------------------------------------------------------------
    def export(self, path: str | Path) -> Path:
        """Write the last report as CSV or JSON (by extension); no dialog."""
        if self.report is None:
            raise ValueError("nothing to export: press Score first")
        out = export_report(self.report, path)
        self.status.setText(f"wrote {out}")
        return out

    def _on_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the scores", "scores.csv",
                                              EXPORT_FILTERS)
        if path:
            try:
                self.export(path)
            except (ValueError, OSError) as err:
                self.show_error(f"export failed: {err}")
