"""The "Train detector" widget: train MCDetNet on normal images, live, from napari.

No algorithm lives here: training is :class:`napari_mcdet.train.loop.Trainer` (synthetic lesions,
losses, validation, checkpoints), configured by :class:`napari_mcdet.train.config.TrainConfig`.
The widget

- builds the configuration from its fields (negatives, steps, batch, patch, learning rate, pixel
  spacing, seed, device, output folder, network filters);
- runs ``Trainer.run()`` (a generator of one event per step) in a napari worker thread, with a
  progress bar and a live loss curve; **Cancel** stops at the next step and closes the generator,
  which saves a resumable ``last.safetensors``;
- when the run completes, loads ``best.safetensors`` (or ``last``) with
  :func:`~napari_mcdet.models.checkpoint.load_model` and makes it the current model
  (:data:`napari_mcdet.gui._models.current_model`), which the Detect widget then uses.

Negatives from open image layers: the trainer reads files, so each chosen layer is resampled to
the training pixel spacing (:func:`napari_mcdet.data.resample.resample_to_spacing`) and written as
a 16-bit TIFF into ``<output folder>/negatives/``; ``negatives`` points at those files and
``source_spacing`` is the training spacing. The files stay beside the checkpoints, so the run can
be repeated or resumed from the command line (``mcdet train <output folder>/config.yaml``).
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
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...spacing import as_spacing
from .._layers import layer_spacing
from .._models import (
    ModelLoading,
    current_model,
    describe_model,
    follow_current_model,
)
from .._workers import WorkerWidget

DEFAULT_FILTERS = "16, 32, 64, 128, 256"


def write_layer_negatives(
    layers: list[Any], folder: str | Path, *, pixel_spacing: float,
    fallback_spacing: float | None = None,
) -> list[Path]:
    """Write image layers as 16-bit TIFFs at ``pixel_spacing`` mm/pixel into ``folder``.

    The trainer reads files that state no spacing, so each layer is resampled from its own
    spacing (:func:`~napari_mcdet.gui._layers.layer_spacing`, else ``fallback_spacing``) to
    ``pixel_spacing`` with :func:`~napari_mcdet.data.resample.resample_to_spacing` and written
    by :func:`~napari_mcdet.io.writers.write_uint16_tiffs` as ``<layer name>.tif``.

    Parameters
    ----------
    layers : list of napari Image layers
        2-D grey images.
    folder : path
        Created if needed.
    pixel_spacing : float, keyword-only
        Training spacing, mm/pixel.
    fallback_spacing : float, keyword-only, optional
        Spacing (mm/pixel) of layers that state none.

    Returns
    -------
    paths : list of Path
        One per layer, in order.
    """
    from ...data.resample import resample_to_spacing
    from ...io.writers import write_uint16_tiffs

    images = {}
    for layer in layers:
        data = np.asarray(layer.data)
        if data.ndim != 2 or getattr(layer, "rgb", False):
            raise ValueError(f"layer {layer.name!r} is not a 2-D grey image (shape {data.shape})")
        spacing = layer_spacing(layer) or as_spacing(fallback_spacing, required=False)
        if spacing is None:
            raise ValueError(f"layer {layer.name!r} has no pixel spacing: set its scale in mm "
                             "or the 'image spacing' field")
        images[layer.name] = resample_to_spacing(data.astype(np.float32), spacing,
                                                 pixel_spacing)
    return write_uint16_tiffs(images, folder)


def _train(cfg: Any, resume_from: Path | None, should_stop: Any) -> Any:
    """The training worker's work: one event per step of :meth:`Trainer.run`; on Cancel the
    run is closed after the current step, which saves a resumable ``last.safetensors``.
    Returns the :class:`~napari_mcdet.train.loop.Trainer`."""
    from ...train.loop import Trainer

    trainer = Trainer(cfg, resume=resume_from)
    run = trainer.run()
    try:
        for event in run:
            yield event
            if should_stop():
                break
    finally:
        run.close()
    return trainer


class TrainWidget(ModelLoading, WorkerWidget):
    """Train the detector on normal images (open layers or a folder) and make it current.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        from ...train.config import TrainConfig

        super().__init__(napari_viewer, parent)
        self.history: list[dict[str, Any]] = []
        self.last_out_dir: Path | None = None
        self._build_source_fields()
        self._build_training_fields(TrainConfig())
        self._build_controls()
        self._lay_out()
        self._connect()
        follow_current_model(self, self._on_current_changed)
        self.follow_layers()
        self._fill_devices()
        self._on_current_changed(current_model.model)

    # -- building the panel --------------------------------------------------------------------
    def _build_source_fields(self) -> None:
        """Where the normal images come from: checked layers or a folder, and their spacing."""
        self.use_layers = QRadioButton("open image layers")
        self.use_folder = QRadioButton("folder")
        self.use_layers.setChecked(True)
        self.layer_list = QListWidget()
        self.layer_list.setMaximumHeight(90)
        self.folder_edit = QLineEdit()
        self.folder_button = QPushButton("...")
        # shows the spacing the layers state; typed only for layers or files without one
        self.image_spacing = QLineEdit()
        validator = QDoubleValidator(0.001, 5.0, 4, self.image_spacing)
        validator.setLocale(QLocale.c())
        self.image_spacing.setValidator(validator)
        self._typed_spacing = ""

    def _build_training_fields(self, defaults: Any) -> None:
        """The recipe's fields, starting at ``defaults`` (a TrainConfig: one place for them)."""
        self.steps = self._ispin(1, 10_000_000, defaults.steps)
        self.epoch_steps = self._ispin(1, 1_000_000, defaults.epoch_steps)
        self.batch_size = self._ispin(1, 1024, defaults.batch_size)
        self.patch_size = self._ispin(16, 4096, defaults.patch_size)
        self.patch_size.setSingleStep(16)
        self.lr = self._dspin(1e-7, 1.0, defaults.lr, 7, "")
        self.pixel_spacing = self._dspin(0.01, 2.0, defaults.pixel_spacing, 3, " mm")
        self.seed = self._ispin(0, 2**31 - 1, defaults.seed)
        self.val_length = self._ispin(3, 100_000, defaults.val_length)
        self.filters = QLineEdit(DEFAULT_FILTERS)
        self.filters.setToolTip("MCDetNet channels at its five levels (the paper: 32..512)")
        self.device = QComboBox()
        self.out_edit = QLineEdit(str(Path.home() / "mcdet-runs" / "run"))
        self.out_button = QPushButton("...")
        self.resume = QCheckBox("resume from last.safetensors")
        self.resume.setToolTip("continue the run saved as last.safetensors in the output folder")

    def _build_controls(self) -> None:
        """Buttons, progress, status and the current model's line."""
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.run_buttons = [self.start_button]
        self.load_button = QPushButton("Load model...")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setFormat("step %v / %m")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)

    @staticmethod
    def _row(*widgets: QWidget) -> QHBoxLayout:
        row = QHBoxLayout()
        for widget in widgets:
            row.addWidget(widget)
        return row

    def _lay_out(self) -> None:
        form = QFormLayout()
        for label, field in (
            ("negatives from", self._row(self.use_layers, self.use_folder)),
            ("layers", self.layer_list),
            ("folder", self._row(self.folder_edit, self.folder_button)),
            ("image spacing (mm)", self.image_spacing), ("steps", self.steps),
            ("validate every", self.epoch_steps), ("batch size", self.batch_size),
            ("patch size (px)", self.patch_size), ("learning rate", self.lr),
            ("training spacing", self.pixel_spacing), ("seed", self.seed),
            ("validation patches", self.val_length), ("network filters", self.filters),
            ("device", self.device), ("output folder", self._row(self.out_edit, self.out_button)),
        ):
            form.addRow(label, field)
        form.addRow(self.resume)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(self._row(self.start_button, self.cancel_button, self.load_button))
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self._make_plot(layout)
        layout.addWidget(QLabel("current model:"))
        layout.addWidget(self.model_label)
        layout.addStretch(1)

    def _connect(self) -> None:
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.load_button.clicked.connect(self._on_load)
        self.folder_button.clicked.connect(self._pick_folder)
        self.out_button.clicked.connect(self._pick_out)
        self.image_spacing.textEdited.connect(self._on_spacing_typed)
        self.layer_list.itemChanged.connect(self._show_spacing)
        self.use_layers.toggled.connect(self._show_spacing)

    # -- small builders ------------------------------------------------------------------------
    @staticmethod
    def _ispin(lo: int, hi: int, value: int) -> QSpinBox:
        s = QSpinBox()
        s.setRange(lo, hi)
        s.setValue(value)
        return s

    @staticmethod
    def _dspin(lo: float, hi: float, value: float, decimals: int, suffix: str) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setDecimals(decimals)
        s.setRange(lo, hi)
        s.setValue(value)
        s.setSingleStep(10 ** -min(decimals, 3))
        s.setSuffix(suffix)
        return s

    def _make_plot(self, layout: QVBoxLayout) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, 2.4), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(180)
        self.ax = self.figure.add_subplot(111)
        self._style_axes()
        layout.addWidget(self.canvas)

    def _style_axes(self) -> None:
        self.ax.set_xlabel("step")
        self.ax.set_ylabel("loss")
        self.ax.grid(True, alpha=0.3)

    def _fill_devices(self) -> None:
        from ...models.device import available_devices

        self.device.clear()
        self.device.addItems(available_devices())

    def _refresh_layers(self, _event: Any = None) -> None:
        from napari.layers import Image

        checked = set(self.selected_layer_names())
        known = {self.layer_list.item(i).text() for i in range(self.layer_list.count())}
        self.layer_list.clear()
        for layer in self.viewer.layers:
            if isinstance(layer, Image) and layer.ndim == 2 and not layer.rgb:
                item = QListWidgetItem(layer.name)
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                on = layer.name in checked or layer.name not in known
                item.setCheckState(Qt.Checked if on else Qt.Unchecked)
                self.layer_list.addItem(item)
        self._show_spacing()

    def _on_spacing_typed(self, text: str) -> None:
        self._typed_spacing = text

    def _show_spacing(self, *_args: Any) -> None:
        """The spacing field shows what training will use: the checked layers' own spacing
        (read-only) when they all state one; otherwise it asks for the missing one."""
        unknown: list[str] = []
        known: set[float] = set()
        if self.use_layers.isChecked():
            for name in self.selected_layer_names():
                spacing = (layer_spacing(self.viewer.layers[name])
                           if name in self.viewer.layers else None)
                if spacing is None:
                    unknown.append(name)
                else:
                    known.update(spacing)
        from_layers = self.use_layers.isChecked() and not unknown and bool(known)
        self.image_spacing.setEnabled(not from_layers)
        if from_layers:
            self.image_spacing.setText(" / ".join(f"{v:g}" for v in sorted(known)))
            self.image_spacing.setToolTip("the checked layers' own pixel spacing")
            return
        self.image_spacing.setText(self._typed_spacing)
        if unknown:
            self.image_spacing.setPlaceholderText(f"{unknown[0]!r} states none: type it")
            self.image_spacing.setToolTip("spacing of the checked layers that state none: "
                                          + ", ".join(unknown))
        else:
            self.image_spacing.setPlaceholderText("files without one: type it")
            self.image_spacing.setToolTip("spacing of the folder's files that state none "
                                          "(DICOM PixelSpacing and mini-MIAS names are read)")

    def _typed_image_spacing(self) -> float | None:
        text = self._typed_spacing.strip()
        try:
            v = float(text)
        except ValueError:
            return None
        return v if 0.0 < v <= 5.0 else None

    def selected_layer_names(self) -> list[str]:
        """Names of the checked image layers."""
        return [self.layer_list.item(i).text() for i in range(self.layer_list.count())
                if self.layer_list.item(i).checkState() == Qt.Checked]

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of normal mammograms")
        if path:
            self.folder_edit.setText(path)
            self.use_folder.setChecked(True)

    def _pick_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Output folder")
        if path:
            self.out_edit.setText(path)

    # -- the model -----------------------------------------------------------------------------
    def _on_current_changed(self, model: Any) -> None:
        self.model_label.setText(describe_model(model, current_model.source)
                                 if model is not None else "the bundled default")

    # -- configuration -------------------------------------------------------------------------
    def config(self) -> Any:
        """The :class:`TrainConfig` of the fields (writes layer negatives to the output folder)."""
        from ...nn.mcdetnet import MCDetConfig
        from ...train.config import TrainConfig

        out_dir = Path(self.out_edit.text()).expanduser()
        if not self.out_edit.text().strip():
            raise ValueError("choose an output folder")
        spacing = float(self.pixel_spacing.value())
        try:
            filters = tuple(int(f) for f in self.filters.text().replace(",", " ").split())
        except ValueError as err:
            raise ValueError(f"network filters must be 5 integers, e.g. {DEFAULT_FILTERS}") from err
        if len(filters) != 5:
            raise ValueError(f"network filters must be 5 integers, e.g. {DEFAULT_FILTERS}")
        model = MCDetConfig(filters=filters).to_dict()
        if self.use_layers.isChecked():
            names = self.selected_layer_names()
            if not names:
                raise ValueError("check at least one image layer of a normal mammogram, or "
                                 "choose a folder")
            layers = [self.viewer.layers[n] for n in names]
            paths = write_layer_negatives(layers, out_dir / "negatives", pixel_spacing=spacing,
                                          fallback_spacing=self._typed_image_spacing())
            negatives, source_spacing = [str(p) for p in paths], spacing
        else:
            folder = self.folder_edit.text().strip()
            if not folder or not Path(folder).is_dir():
                raise ValueError(f"no such folder of normal mammograms: {folder!r}")
            negatives, source_spacing = [folder], self._typed_image_spacing()
        return TrainConfig(
            negatives=negatives, pixel_spacing=spacing, source_spacing=source_spacing,
            patch_size=int(self.patch_size.value()), model=model, lr=float(self.lr.value()),
            batch_size=int(self.batch_size.value()), steps=int(self.steps.value()),
            epoch_steps=min(int(self.epoch_steps.value()), int(self.steps.value())),
            val_length=int(self.val_length.value()), seed=int(self.seed.value()),
            device=self.device.currentText() or "auto", out_dir=str(out_dir),
        )

    # -- running -------------------------------------------------------------------------------
    def start(self) -> Any:
        """Start training in a worker thread; returns the worker (None when the input is bad)."""
        if self.worker is not None:
            self.say(f"busy: wait for the running {self._what}")
            return None
        try:
            cfg = self.config()
        except (ValueError, TypeError, FileNotFoundError, OSError) as err:
            self.show_error(str(err))
            return None
        resume = Path(cfg.out_dir) / "last.safetensors"
        resume_from = resume if self.resume.isChecked() and resume.is_file() else None
        self.history = []
        self.last_out_dir = Path(cfg.out_dir)
        return self.start_worker(
            partial(_train, cfg, resume_from), what="training", total=cfg.steps,
            busy=f"training on {self.device.currentText()}... "
                 f"({len(cfg.negatives)} negative source(s))",
            yielded=self._on_event, returned=self._on_returned)

    def _on_event(self, event: dict[str, Any]) -> None:
        self.history.append(event)
        self.show_progress(int(event.get("step", 0)), int(event.get("steps", 1)))
        text = f"step {event.get('step')}/{event.get('steps')}  loss {event.get('loss', 0):.4f}"
        if "patches_per_s" in event:
            text += f"  {event['patches_per_s']:.1f} patches/s"
        if "val_AUC_MCs" in event:
            text += (f"  val AUC_MCs {event['val_AUC_MCs']:.3f}"
                     f"  AUC_mlg {event.get('val_AUC_mlg', float('nan')):.3f}")
        self.say(text)
        self._plot()

    def _plot(self) -> None:
        steps = [e["step"] for e in self.history]
        self.ax.clear()
        self._style_axes()
        for key, style in (("loss", "-"), ("cls", ":"), ("seg", "--")):
            vals = [e.get(key) for e in self.history]
            if any(v is not None for v in vals):
                self.ax.plot(steps, [np.nan if v is None else v for v in vals], style,
                             label=key, lw=1)
        val = [(e["step"], e["val_AUC_MCs"]) for e in self.history if "val_AUC_MCs" in e]
        if val:
            ax2 = self.ax.twinx()
            ax2.plot(*zip(*val), "o-", color="tab:red", ms=3, label="val AUC_MCs")
            ax2.set_ylim(0, 1)
            ax2.set_ylabel("val AUC")
        self.ax.legend(loc="upper right", fontsize=7)
        self.canvas.draw_idle()

    def _on_returned(self, trainer: Any) -> None:
        out = Path(trainer.out_dir)
        if self.cancelled:
            self.say(f"cancelled at step {trainer.step}: {out / 'last.safetensors'} kept (tick "
                     "'resume' to continue)")
            return
        best = out / "best.safetensors"
        path = best if best.is_file() else out / "last.safetensors"
        from ...models.checkpoint import CheckpointError, load_model

        try:
            model = load_model(path)
        except (CheckpointError, FileNotFoundError, OSError) as err:
            self.show_error(f"training finished but its checkpoint could not be loaded: {err}")
            return
        current_model.set(model, source=f"trained: {path}")
        self.say(f"done at step {trainer.step}: {path} is now the current model")
