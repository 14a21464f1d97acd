"""The "current model" shared by the widgets: trained or loaded in Train, used by Detect.

A tiny registry, no algorithm: :data:`current_model` holds one
:class:`~napari_mcdet.models.checkpoint.TrainedModel` (or None, meaning "the bundled default") and
emits :attr:`CurrentModel.changed` when it is replaced. Torch is imported only when a model is
loaded.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psygnal import Signal

if TYPE_CHECKING:  # pragma: no cover
    from ..models.checkpoint import TrainedModel

__all__ = ["CurrentModel", "current_model", "describe_model", "follow_current_model",
           "load_current"]


class CurrentModel:
    """The model the Detect widget uses when "trained / loaded" is chosen.

    Attributes
    ----------
    model : TrainedModel or None
        None until a model is trained or loaded.
    source : str
        Where it came from (a checkpoint path or ``'trained: <out_dir>'``).
    changed : psygnal.Signal(object)
        Emitted with the new model (or None) when it changes.
    """

    changed = Signal(object)

    def __init__(self) -> None:
        self.model: TrainedModel | None = None
        self.source: str = ""

    def set(self, model: TrainedModel | None, *, source: str = "") -> None:
        """Make ``model`` the current one and notify the widgets."""
        self.model = model
        self.source = source if model is not None else ""
        self.changed.emit(model)

    def clear(self) -> None:
        """Forget the current model (the widgets fall back to the default)."""
        self.set(None)


#: The one registry of the session.
current_model = CurrentModel()


def follow_current_model(widget: Any, callback: Any) -> None:
    """Connect ``callback`` to :attr:`CurrentModel.changed` until the Qt ``widget`` is destroyed.

    The disconnection is bound to the callback, not to the widget (whose Python methods can no
    longer be called once Qt has deleted it).
    """
    current_model.changed.connect(callback)
    widget.destroyed.connect(partial(_disconnect, callback))


def _disconnect(callback: Any, *_args: Any) -> None:
    current_model.changed.disconnect(callback, missing_ok=True)


def load_current(path: str | Path) -> TrainedModel:
    """Load a checkpoint with :func:`~napari_mcdet.models.checkpoint.load_model`; make it current.

    Raises whatever ``load_model`` raises (FileNotFoundError, CheckpointError) so the caller can
    show it; the current model is unchanged then.
    """
    from ..models.checkpoint import load_model

    model = load_model(path)
    current_model.set(model, source=str(path))
    return model


def describe_model(model: Any, source: str = "") -> str:
    """One line for a label: architecture, spacing, patch size, step and where it came from."""
    if model is None:
        return "none"
    meta = getattr(model, "metadata", {}) or {}
    sp = tuple(round(float(s), 4) for s in model.pixel_spacing)
    where = Path(source).name if source and not source.startswith("trained") else source
    step = meta.get("step")
    text = f"{model.architecture}, {sp[0]:g} mm/px, patch {model.patch_size}"
    if step:
        text += f", step {step}"
    return f"{text} ({where})" if where else text


#: File-dialog filter of checkpoints.
CHECKPOINT_FILTER = "napari-mcdet checkpoint (*.safetensors);;All files (*)"


class ModelLoading:
    """The "Load model..." behaviour of a :class:`~napari_mcdet.gui._workers.WorkerWidget`:
    a file dialog, then :func:`load_current` with its errors shown in the panel."""

    def load_model(self, path: str) -> Any:
        """Load a checkpoint file and make it the current model (errors are shown, not raised).

        Returns the TrainedModel, or None when the file could not be loaded.
        """
        from ..models.checkpoint import CheckpointError

        try:
            model = load_current(path)
        except (CheckpointError, FileNotFoundError, OSError, ValueError) as err:
            self.show_error(f"could not load the model: {err}")
            return None
        self.say(f"loaded {path}")
        return model

    def _on_load(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Load a model", "", CHECKPOINT_FILTER)
        if path:
            self.load_model(path)
