"""Annotations widget: make a calcification labels layer for an image, count, save and load.

The widget only moves data between layers and :mod:`napari_mcdet.io`; counting
(:func:`napari_mcdet.io.label_counts`), writing and reading live in the core library. "Save as
DICOM..." writes the labels on a DICOM image as a manual SEG + SR
(:func:`napari_mcdet.infer.export_dicom.write_annotation_dicom`, in a worker).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...classes import BENIGN, CLASS_NAMES, MALIGNANT
from ...constants import INBREAST_SPACING_MM
from ...spacing import as_spacing
from .._layers import labels_layer_kwargs, layer_spacing

SAVE_FILTERS = "INbreast XML (*.xml);;PNG mask (*.png);;TIFF mask (*.tif *.tiff)"
LOAD_FILTERS = "Annotations (*.xml *.png *.tif *.tiff);;All files (*)"


class AnnotationsWidget(QWidget):
    """Create, count, save and load calcification annotations (0 / 1 benign / 2 malignant)."""

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self._watched: Any = None
        self.worker: Any = None  # a DICOM save running
        self.saved_dicom: dict[str, Path] | None = None

        self.image_combo = QComboBox()
        self.labels_combo = QComboBox()
        self.class_combo = QComboBox()
        for code in (BENIGN, MALIGNANT):
            self.class_combo.addItem(CLASS_NAMES[code], code)
        self.new_button = QPushButton("New labels layer")
        self.save_button = QPushButton("Save...")
        self.load_button = QPushButton("Load...")
        self.dicom_button = QPushButton("Save as DICOM...")
        self.dicom_button.setToolTip(
            "write the labels as <image>_seg.dcm (DICOM Segmentation, manual) and "
            "<image>_sr.dcm (TID 1500 report, one finding per calcification) into a folder; "
            "only on an image read from a DICOM file")
        self.table = QTableWidget(2, 2)
        self.table.setHorizontalHeaderLabels(["calcifications", "pixels"])
        self.table.setVerticalHeaderLabels([CLASS_NAMES[BENIGN], CLASS_NAMES[MALIGNANT]])
        self.table.setMaximumHeight(90)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("image", self.image_combo)
        form.addRow("labels", self.labels_combo)
        form.addRow("paint class", self.class_combo)
        buttons = QHBoxLayout()
        for b in (self.new_button, self.save_button, self.dicom_button, self.load_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(300)
        self._timer.timeout.connect(self.update_counts)

        self.new_button.clicked.connect(self._on_new)
        self.save_button.clicked.connect(self._on_save)
        self.dicom_button.clicked.connect(self._on_save_dicom)
        self.load_button.clicked.connect(self._on_load)
        self.class_combo.currentIndexChanged.connect(self._on_class)
        self.labels_combo.currentIndexChanged.connect(self._on_labels_choice)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.viewer.layers.events.reordered.connect(self._refresh_layers)
        self._refresh_layers()

    # --- layer choices -----------------------------------------------------------------------

    def _layers_of(self, kind: str) -> list[Any]:
        return [layer for layer in self.viewer.layers if layer._type_string == kind]

    def _refresh_layers(self, _event: Any = None) -> None:
        for combo, kind in ((self.image_combo, "image"), (self.labels_combo, "labels")):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            names = [layer.name for layer in self._layers_of(kind)]
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
            combo.blockSignals(False)
        self._on_labels_choice()

    @property
    def image_layer(self) -> Any:
        name = self.image_combo.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    @property
    def labels_layer(self) -> Any:
        name = self.labels_combo.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def _on_labels_choice(self, _index: int = 0) -> None:
        layer = self.labels_layer
        if layer is self._watched:
            self.update_counts()
            return
        if self._watched is not None:
            for ev in ("paint", "data", "labels_update"):
                emitter = getattr(self._watched.events, ev, None)
                if emitter is not None:
                    emitter.disconnect(self._schedule_counts)
        self._watched = layer
        if layer is not None:
            for ev in ("paint", "data", "labels_update"):
                emitter = getattr(layer.events, ev, None)
                if emitter is not None:
                    emitter.connect(self._schedule_counts)
        self.update_counts()

    def _schedule_counts(self, _event: Any = None) -> None:
        self._timer.start()

    def _on_class(self, _index: int = 0) -> None:
        layer = self.labels_layer
        if layer is not None:
            layer.selected_label = int(self.class_combo.currentData())

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        if error:
            from napari.utils.notifications import show_error

            show_error(text)

    # --- actions -----------------------------------------------------------------------------

    def new_labels_layer(self, image: Any = None) -> Any:
        """Add an empty labels layer matching ``image`` (default: the chosen image layer)."""
        image = image if image is not None else self.image_layer
        if image is None:
            raise ValueError("open or choose an image layer first")
        shape = np.shape(image.data)[-2:] if not image.rgb else np.shape(image.data)[-3:-1]
        spacing = layer_spacing(image)
        # not "<image> calcifications": that is the name the reader gives the ground truth
        kwargs = labels_layer_kwargs(
            f"{image.name} annotation",
            scale=tuple(float(s) for s in image.scale[-2:]),
            metadata={"pixel_spacing": spacing, "image": image.name},
        )
        kwargs["translate"] = tuple(float(t) for t in image.translate[-2:])
        layer = self.viewer.add_labels(np.zeros(shape, dtype=np.uint8), **kwargs)
        layer.selected_label = int(self.class_combo.currentData())
        layer.brush_size = 3
        self.labels_combo.setCurrentText(layer.name)
        self._on_labels_choice()
        return layer

    def counts(self) -> dict[int, dict[str, int]]:
        """Per class: ``{'components': n, 'pixels': p}`` of the chosen labels layer."""
        from ...io.writers import label_counts

        layer = self.labels_layer
        if layer is None:
            return {code: {"components": 0, "pixels": 0} for code in (BENIGN, MALIGNANT)}
        return label_counts(np.asarray(layer.data))

    def update_counts(self) -> None:
        try:
            counts = self.counts()
        except ValueError as exc:  # codes other than 0/1/2 painted
            self._say(str(exc))
            return
        for row, code in enumerate((BENIGN, MALIGNANT)):
            for col, key in enumerate(("components", "pixels")):
                self.table.setItem(row, col, QTableWidgetItem(str(counts[code][key])))

    def save(self, path: str | Path) -> Path:
        """Write the chosen labels layer as INbreast XML (.xml) or a mask (.png / .tif)."""
        from ...io.writers import write_annotations

        layer = self.labels_layer
        if layer is None:
            raise ValueError("no labels layer to save: create one with 'New labels layer'")
        path = write_annotations(path, np.asarray(layer.data), pixel_spacing=layer_spacing(layer))
        self._say(f"saved {path.name}")
        return path

    def _dicom_inputs(self) -> tuple[np.ndarray, Path, Any]:
        """The labels, the DICOM file of the chosen image and its spacing; ValueError (one
        line) when there is no labels layer or the image was not read from a DICOM file."""
        from .._dicom_layers import dicom_source

        layer = self.labels_layer
        if layer is None:
            raise ValueError("no labels layer to save: create one with 'New labels layer'")
        image = self.image_layer
        source = dicom_source(image)
        return np.asarray(layer.data), source, layer_spacing(image) or layer_spacing(layer)

    def save_dicom(self, folder: str | Path, *, annotator: str = "") -> Any:
        """Write the chosen labels layer on the chosen DICOM image as ``<stem>_seg.dcm`` +
        ``<stem>_sr.dcm`` in ``folder`` (:func:`~napari_mcdet.infer.export_dicom.
        write_annotation_dicom`: algorithm type MANUAL, ``annotator`` the person observer), in
        a worker; no dialog. Returns the worker, or None with the reason shown."""
        from .._workers import make_worker

        if self.worker is not None:
            self._say("busy: wait for the DICOM save that is running")
            return None
        try:
            labels, source, spacing = self._dicom_inputs()
        except ValueError as exc:
            self._say(str(exc), error=True)
            return None

        def work() -> dict[str, Path]:
            from ...infer.export_dicom import write_annotation_dicom

            return write_annotation_dicom(labels, source, folder, source.stem,
                                          annotator=annotator, pixel_spacing=spacing)

        self.saved_dicom = None
        self.worker = make_worker(work, what="saving as DICOM",
                                  on_error=lambda text: self._say(text, error=True),
                                  returned=self._on_dicom_saved,
                                  finished=self._on_dicom_finished)
        self.dicom_button.setEnabled(False)
        self._say("writing the DICOM SEG and SR...")
        self.worker.start()
        return self.worker

    def _on_dicom_saved(self, paths: dict[str, Path]) -> None:
        self.saved_dicom = paths
        self._say(f"saved {paths['seg'].name} (DICOM SEG) and {paths['sr'].name} (TID 1500 SR) "
                  f"in {paths['seg'].parent}")

    def _on_dicom_finished(self) -> None:
        self.worker = None
        self.dicom_button.setEnabled(True)

    def _on_save_dicom(self) -> None:
        try:
            self._dicom_inputs()
        except ValueError as exc:  # say why before asking for a folder
            self._say(str(exc), error=True)
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder for the DICOM SEG and SR")
        if folder:
            self.save_dicom(folder)

    def load(self, path: str | Path) -> Any:
        """Read an INbreast XML or a mask into a labels layer matching the chosen image."""
        from ...io.images import read_mask
        from ...io.inbreast import inbreast_labels, read_inbreast_xml

        path = Path(path)
        image = self.image_layer
        if path.suffix.lower() == ".xml":
            if image is None:
                raise ValueError("choose the image the XML annotates first (its shape is needed)")
            shape = np.shape(image.data)[-2:]
            # INbreast's own grid when the image states none: the XML's points are pixels there
            spacing = layer_spacing(image) or as_spacing(INBREAST_SPACING_MM)
            data = inbreast_labels(read_inbreast_xml(path), shape, pixel_spacing=spacing)
        else:
            data = read_mask(path)
            if image is not None and data.shape != tuple(np.shape(image.data)[-2:]):
                raise ValueError(
                    f"the mask is {data.shape[0]} x {data.shape[1]} but the image "
                    f"{image.name!r} is {np.shape(image.data)[0]} x {np.shape(image.data)[1]}"
                )
        scale = tuple(float(s) for s in image.scale[-2:]) if image is not None else None
        kwargs = labels_layer_kwargs(
            path.stem,
            scale=scale,
            metadata={
                "source": str(path),
                "pixel_spacing": layer_spacing(image) if image else None,
            },
        )
        layer = self.viewer.add_labels(data, **kwargs)
        self.labels_combo.setCurrentText(layer.name)
        self._on_labels_choice()
        self._say(f"loaded {path.name}")
        return layer

    def _on_new(self) -> None:
        try:
            self.new_labels_layer()
        except ValueError as exc:
            self._say(str(exc), error=True)

    def _on_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save annotations", "", SAVE_FILTERS)
        if not path:
            return
        try:
            self.save(path)
        except (ValueError, OSError, TypeError) as exc:
            self._say(f"could not save {path}: {exc}", error=True)

    def _on_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load annotations", "", LOAD_FILTERS)
        if not path:
            return
        try:
            self.load(path)
        except (ValueError, OSError) as exc:
            self._say(f"could not load {path}: {exc}", error=True)
