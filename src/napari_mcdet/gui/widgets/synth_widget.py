"""The "Synthetic calcifications" widget: live preview of synthetic lesions on a normal image.

No algorithm lives here: the lesions are drawn, one per centre and each in its own crop, by
:func:`napari_mcdet.synth.patches.lesions_in_crops` (the training patches' own step,
:func:`~napari_mcdet.synth.patches.synthesize_in_crop`, with its one margin rule) and pasted into
the preview by :func:`~napari_mcdet.synth.patches.paste_lesion`; the breast comes from
:func:`napari_mcdet.data.breast.breast_mask`, patches from
:func:`napari_mcdet.train.dataset.write_patches`. The preview changes only those crops, so a change
shows in a fraction of a second, however many lesions are clicked.

The preview runs only when asked ("Update preview") or, with "live preview" on, when one of the
panel's own settings changes: never because a layer was opened or docking happened, since the
preview hides its source image and would hide a freshly opened case.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui import widgets
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QVBoxLayout

from ...constants import INBREAST_SPACING_MM
from ...spacing import as_spacing
from ...synth.clusters import LAYOUTS, PRESETS, REAL_CONSPICUITY
from ...synth.shapes import SHAPE_KINDS
from .._layers import labels_colormap, layer_spacing
from .._workers import WorkerWidget

if TYPE_CHECKING:  # pragma: no cover
    import napari

PREVIEW_NAME = "synthetic preview"
LABELS_NAME = "synthetic labels"
CENTRES_NAME = "lesion centres"


def _format_mix(mix: dict[str, float]) -> str:
    return ", ".join(f"{k}:{v:g}" for k, v in mix.items())


def _parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if ":" not in part:
            raise ValueError(f"shape mix entries look like 'pleomorphic:0.5', got {part.strip()!r}")
        key, value = part.split(":", 1)
        key = key.strip()
        if key not in SHAPE_KINDS:
            raise ValueError(f"unknown shape {key!r}; known: {', '.join(SHAPE_KINDS)}")
        mix[key] = float(value)
    if not mix:
        raise ValueError("the shape mix is empty")
    return mix


class SynthWidget(WorkerWidget):
    """Draw synthetic benign/malignant lesions into a normal image layer, live.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__(napari_viewer)
        self._base: np.ndarray | None = None  # the source image, float32
        self._breast: np.ndarray | None = None
        self._source_id: int | None = None
        self._regions: list[tuple[slice, slice]] = []  # regions changed in the preview
        self.last_lesions: list = []
        self._build_lesion_fields()
        self._build_placement_fields()
        self._build_controls()
        self._lay_out()
        self._apply_preset(schedule=False)
        self._show_spacing()
        self._connect()
        self.follow_layers()

    # -- building the panel ---------------------------------------------------------------------
    def _build_lesion_fields(self) -> None:
        """The source image and what the lesions look like (the preset of their kind, edited)."""
        self.image = widgets.ComboBox(label="normal image", choices=self._image_choices)
        self.kind = widgets.ComboBox(label="kind", choices=["malignant", "benign"])
        self.count_min = widgets.SpinBox(label="count min", min=1, max=200, value=10)
        self.count_max = widgets.SpinBox(label="count max", min=1, max=200, value=50)
        self.custom_size = widgets.CheckBox(label="custom size range", value=False)
        self.size_min = widgets.FloatSpinBox(label="size min (mm)", min=0.05, max=5, step=0.05,
                                             value=0.2)
        self.size_max = widgets.FloatSpinBox(label="size max (mm)", min=0.05, max=5, step=0.05,
                                             value=0.5)
        self.extent_min = widgets.FloatSpinBox(label="extent min (mm)", min=0.5, max=40,
                                               step=0.5, value=5)
        self.extent_max = widgets.FloatSpinBox(label="extent max (mm)", min=0.5, max=40,
                                               step=0.5, value=20)
        self.brightness = widgets.ComboBox(
            label="brightness rule", choices=["conspicuity", "contrast"],
            tooltip="conspicuity: each calcification stands out of its local texture by a drawn "
                    "factor, whatever the image (calibrated on real calcifications); contrast: "
                    "a fraction of the white level minus the local tissue")
        self.conspicuity_min = widgets.FloatSpinBox(label="conspicuity min", min=0.1, max=20,
                                                    step=0.05, value=REAL_CONSPICUITY[0])
        self.conspicuity_max = widgets.FloatSpinBox(label="conspicuity max", min=0.1, max=20,
                                                    step=0.05, value=REAL_CONSPICUITY[1])
        self.conspicuity_skew = widgets.FloatSpinBox(
            label="conspicuity skew", min=0.2, max=5, step=0.1, value=1.0,
            tooltip="shape of the draw within the range: 1 is log-uniform; larger values put "
                    "more calcifications near the minimum, as real ones are (about 2)")
        self.blur_min = widgets.FloatSpinBox(
            label="blur min (px)", min=0, max=3, step=0.05, value=0.7,
            tooltip="point-spread sigma of each lesion, pixels; with max above min, one value "
                    "is drawn per lesion (training on several blurs keeps a network from "
                    "missing calcifications sharper or softer than its training lesions)")
        self.blur_max = widgets.FloatSpinBox(label="blur max (px)", min=0, max=3, step=0.05,
                                             value=0.7)
        self.contrast_min = widgets.FloatSlider(label="contrast min", min=0, max=1, value=0.3)
        self.contrast_max = widgets.FloatSlider(label="contrast max", min=0, max=1, value=0.8)
        self.shape_mix = widgets.LineEdit(label="shape mix")
        self.layout_choice = widgets.ComboBox(label="layout", choices=["random", *LAYOUTS])

    def _build_placement_fields(self) -> None:
        """The image kind, seed and spacing, and where the lesions go."""
        self.mode = widgets.ComboBox(label="image kind", choices=["presentation", "raw"])
        self.seed = widgets.SpinBox(label="seed", min=0, max=2**31 - 1, value=0)
        self.new_seed = widgets.PushButton(text="New seed")
        self.spacing = widgets.FloatSpinBox(label="pixel spacing (mm)", min=0.005, max=2,
                                            step=0.01, value=INBREAST_SPACING_MM)
        self.placement = widgets.ComboBox(label="placement",
                                          choices=["random in breast", "clicked points"])
        self.n_lesions = widgets.SpinBox(label="lesions (random)", min=1, max=20, value=1)
        self.add_points = widgets.PushButton(text="Add a points layer to click centres")

    def _build_controls(self) -> None:
        """Live preview, update, export and status."""
        self.live = widgets.CheckBox(label="live preview", value=True)
        self.run_button = widgets.PushButton(text="Update preview")
        self.out_dir = widgets.FileEdit(label="export folder", mode="d", value=Path.home())
        self.n_patches = widgets.SpinBox(label="patches", min=3, max=100000, value=300)
        self.patch_size = widgets.SpinBox(label="patch size (px)", min=16, max=2048, value=512)
        self.export_button = widgets.PushButton(text="Export patches")
        self.progress = widgets.ProgressBar(label="export", min=0, max=1, value=0, visible=False)
        self.status = widgets.Label(value="")
        self.run_buttons = [self.export_button.native]
        # live preview waits for a pause in the changes (a spin box held down, typing)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)

    def _lay_out(self) -> None:
        self.container = widgets.Container(
            widgets=[
                self.image, self.kind, self.count_min, self.count_max, self.custom_size,
                self.size_min, self.size_max, self.extent_min, self.extent_max,
                self.brightness, self.conspicuity_min, self.conspicuity_max,
                self.conspicuity_skew, self.blur_min, self.blur_max, self.contrast_min,
                self.contrast_max, self.shape_mix, self.layout_choice,
                self.mode, self.seed, self.new_seed, self.spacing, self.placement,
                self.n_lesions, self.add_points, self.live, self.run_button, self.out_dir,
                self.n_patches, self.patch_size, self.export_button, self.progress, self.status,
            ]
        )
        layout = QVBoxLayout()
        layout.addWidget(self.container.native)
        self.setLayout(layout)

    def _connect(self) -> None:
        self._timer.timeout.connect(self.run)
        self.kind.changed.connect(self._apply_preset)
        self.image.changed.connect(self._show_spacing)
        for w in (self.count_min, self.count_max, self.custom_size, self.size_min, self.size_max,
                  self.extent_min, self.extent_max, self.contrast_min, self.contrast_max,
                  self.brightness, self.conspicuity_min, self.conspicuity_max,
                  self.conspicuity_skew, self.blur_min, self.blur_max, self.shape_mix,
                  self.layout_choice, self.mode,
                  self.seed, self.spacing,
                  self.placement, self.n_lesions, self.image):
            w.changed.connect(self._schedule)
        self.new_seed.clicked.connect(self._bump_seed)
        self.add_points.clicked.connect(self._add_points_layer)
        self.run_button.clicked.connect(self.run)
        self.export_button.clicked.connect(self.export)

    # -- layers ---------------------------------------------------------------------------------
    def _image_choices(self, _widget=None) -> list:
        from napari.layers import Image

        return [
            layer for layer in self.viewer.layers
            if isinstance(layer, Image) and layer.name != PREVIEW_NAME and layer.ndim == 2
            and not layer.rgb
        ]

    def _refresh_layers(self, _event=None) -> None:
        before = self.image.value
        with self.image.changed.blocked():  # a layer list change is not a change of settings
            self.image.reset_choices()
        if self.image.value is not before:
            self._show_spacing()

    def _layer_spacing(self) -> tuple[float, float] | None:
        layer = self.image.value
        return layer_spacing(layer) if layer is not None else None

    def _show_spacing(self, _=None) -> None:
        """The spacing field shows the layer's spacing (read-only) when the layer states one."""
        spacing = self._layer_spacing()
        self.spacing.enabled = spacing is None
        if spacing is not None:
            with self.spacing.changed.blocked():
                self.spacing.value = float(spacing[0])
        self.spacing.tooltip = (
            "the image layer's own spacing" if spacing is not None
            else "the image layer states no spacing: this one is used")

    def _spacing(self) -> tuple[float, float]:
        spacing = self._layer_spacing()
        if spacing is not None:
            return spacing
        return as_spacing(float(self.spacing.value), name="pixel spacing (mm)")

    def _add_points_layer(self) -> None:
        layer = self.image.value
        scale = self._spacing() if layer is not None else (1, 1)
        if CENTRES_NAME in self.viewer.layers:
            pts = self.viewer.layers[CENTRES_NAME]
        else:
            pts = self.viewer.add_points(
                np.empty((0, 2)), name=CENTRES_NAME, scale=scale, size=15,
                face_color="yellow", ndim=2,
            )
            pts.events.data.connect(self._schedule)
        pts.mode = "add"
        self.placement.value = "clicked points"
        self.viewer.layers.selection.active = pts

    def _bump_seed(self) -> None:
        self.seed.value = int(self.seed.value) + 1

    def _apply_preset(self, _=None, *, schedule: bool = True) -> None:
        p = PRESETS[self.kind.value]
        with self.container.changed.blocked():
            for w, v in ((self.count_min, p.count[0]), (self.count_max, p.count[1]),
                         (self.extent_min, p.extent_mm[0]), (self.extent_max, p.extent_mm[1]),
                         (self.contrast_min, p.contrast[0]), (self.contrast_max, p.contrast[1]),
                         (self.blur_min, float(np.min(p.psf_sigma_px))),
                         (self.blur_max, float(np.max(p.psf_sigma_px))),
                         (self.shape_mix, _format_mix(p.shape_mix))):
                with w.changed.blocked():
                    w.value = v
        if schedule:
            self._schedule()

    def _schedule(self, _=None) -> None:
        if self.live.value:
            self._timer.start()

    # -- parameters -----------------------------------------------------------------------------
    def params(self) -> dict:
        """The lesion parameters currently set (keyword arguments of ``synthesize``)."""
        cmin, cmax = sorted((int(self.count_min.value), int(self.count_max.value)))
        emin, emax = sorted((float(self.extent_min.value), float(self.extent_max.value)))
        kw = {
            "count": (cmin, cmax),
            "extent_mm": (emin, emax),
            "shape_mix": _parse_mix(self.shape_mix.value),
        }
        if self.brightness.value == "conspicuity":
            kw["conspicuity"] = tuple(sorted((float(self.conspicuity_min.value),
                                              float(self.conspicuity_max.value))))
            kw["conspicuity_skew"] = float(self.conspicuity_skew.value)
        else:
            kw["contrast"] = tuple(sorted((float(self.contrast_min.value),
                                           float(self.contrast_max.value))))
        blur = sorted((float(self.blur_min.value), float(self.blur_max.value)))
        kw["psf_sigma_px"] = blur[0] if blur[0] == blur[1] else tuple(blur)
        if self.custom_size.value:
            kw["size_mm"] = tuple(sorted((float(self.size_min.value), float(self.size_max.value))))
        if self.kind.value == "benign" and self.layout_choice.value == "random":
            kw["layout_mix"] = PRESETS["benign"].layout_mix
        return kw

    def _prepare_source(self):
        from ...data.breast import breast_mask

        layer = self.image.value
        if layer is None:
            raise ValueError("add a normal image layer first")
        # the layer itself, not the proxy a plugin's viewer wraps it in (a new one per lookup)
        source_id = id(getattr(layer, "__wrapped__", layer))
        if self._source_id != source_id or self._base is None:
            self._base = np.asarray(layer.data, dtype=np.float32)
            self._breast = breast_mask(self._base)
            self._source_id = source_id
            self._regions = []
            for name in (PREVIEW_NAME, LABELS_NAME):
                if name in self.viewer.layers:
                    self.viewer.layers.remove(name)
        return layer

    def _centres(self) -> list[tuple[float, float] | None]:
        """Every clicked centre (row, col) inside the image, in pixels of the source image; or
        one None per random lesion."""
        if self.placement.value == "clicked points" and CENTRES_NAME in self.viewer.layers:
            pts = self.viewer.layers[CENTRES_NAME]
            image = self.image.value
            cents = []
            for p in pts.data:
                r, c = np.asarray(image.world_to_data(pts.data_to_world(p)))[-2:]
                cents.append((float(r), float(c)))
            h, w = self._base.shape
            return [(r, c) for r, c in cents if 0 <= r < h and 0 <= c < w]
        return [None] * int(self.n_lesions.value)

    # -- preview --------------------------------------------------------------------------------
    def run(self) -> None:
        """Recompute the preview (image and labels layers, updated in place)."""
        from ...synth.clusters import lesion_params
        from ...synth.patches import lesions_in_crops, paste_lesion

        try:
            layer = self._prepare_source()
            params = lesion_params(self.kind.value, **self.params())
            spacing = self._spacing()
            layout = None if self.layout_choice.value == "random" else self.layout_choice.value
            lesions = lesions_in_crops(
                self._base, self._breast, self._centres(), pixel_spacing=spacing,
                kind=self.kind.value, params=params, seed=int(self.seed.value),
                mode=self.mode.value, layout=layout)
        except (ValueError, TypeError) as err:
            self.say(str(err))
            return
        preview = self._ensure_layers(layer, spacing)
        img, lab = preview[0].data, preview[1].data
        for rs, cs in self._regions:  # undo the previous lesions
            img[rs, cs] = self._base[rs, cs]
            lab[rs, cs] = 0
        self._regions = [paste_lesion(img, lab, les, base=self._base) for les in lesions]
        self.last_lesions = lesions
        preview[0].refresh()
        preview[1].refresh()
        n = sum(les.lesion["n_placed"] for les in lesions)
        self.say(f"{len(lesions)} lesion(s), {n} calcifications")

    def _ensure_layers(self, layer, spacing):
        if PREVIEW_NAME in self.viewer.layers and LABELS_NAME in self.viewer.layers:
            img_layer, lab_layer = self.viewer.layers[PREVIEW_NAME], self.viewer.layers[LABELS_NAME]
            if img_layer.data.shape == self._base.shape:
                return img_layer, lab_layer
            self.viewer.layers.remove(img_layer)
            self.viewer.layers.remove(lab_layer)
        img_layer = self.viewer.add_image(
            self._base.copy(), name=PREVIEW_NAME, scale=spacing, colormap="gray",
            contrast_limits=layer.contrast_limits, metadata={"pixel_spacing": spacing},
        )
        lab_layer = self.viewer.add_labels(
            np.zeros(self._base.shape, dtype=np.uint8), name=LABELS_NAME, scale=spacing,
            opacity=0.5, colormap=labels_colormap(),
        )
        layer.visible = False
        return img_layer, lab_layer

    # -- export -------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.status.value = text

    def show_progress(self, done: int, total: int) -> None:
        self.progress.max, self.progress.value = max(int(total), 1), int(done)
        self.progress.visible = True

    def export(self) -> Any:
        """Write balanced patches from the chosen image in a worker thread; returns the worker."""
        from ...mammogram import Mammogram
        from ...train.dataset import SyntheticPatchDataset, write_patches

        try:
            self._prepare_source()
            kw = self.params()
        except ValueError as err:
            self.say(str(err))
            return None
        mammo = Mammogram(self._base, pixel_spacing=self._spacing(),
                          metadata={"breast_mask": self._breast})
        n = int(self.n_patches.value)
        ds = SyntheticPatchDataset(
            [mammo], patch_size=int(self.patch_size.value), seed=int(self.seed.value),
            length=n, mode=self.mode.value, lesion_params={self.kind.value: kw},
        )
        out = Path(self.out_dir.value)

        def work(_should_stop):
            yield from write_patches(ds, out, n=n)
            return n

        return self.start_worker(
            work, what="export", busy=f"writing {n} patches to {out}...", total=n,
            yielded=lambda i: self.show_progress(i + 1, n),
            returned=lambda k: self.say(f"wrote {k} to {out}"))

    def on_worker_error(self, text: str) -> None:
        self.progress.visible = False
        self.show_error(text)
