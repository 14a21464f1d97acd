"""Which checkpoint file to use: the one asked for, else the bundled default model.

The command line and the napari face both start from "a path, or None for the default"; this is
where that choice is made and where a missing file is reported, before anything is loaded.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_NAME", "checkpoint_path"]


#: How every command and widget names the bundled default model in place of a path.
DEFAULT_NAME = "default"


def checkpoint_path(model: str | Path | None = None) -> Path:
    """The checkpoint to load: ``model``, else the bundled default (which must exist).

    Parameters
    ----------
    model : path, optional
        A ``.safetensors`` checkpoint; None or ``'default'`` (:data:`DEFAULT_NAME`) means the
        bundled default model.

    Returns
    -------
    path : Path
        An existing file (its contents are not checked here: :func:`load_model` does that).

    Raises
    ------
    FileNotFoundError
        ``model`` does not exist, or the bundled default model is missing from the install.
    CheckpointError
        ``model`` is a folder.
    """
    from .checkpoint import CheckpointError, default_model_path

    if model is not None and str(model) != DEFAULT_NAME:
        path = Path(model)
        if path.is_dir():
            raise CheckpointError(f"{path} is a folder, not a checkpoint file: pass the "
                                  f".safetensors file inside it (e.g. {path}/best.safetensors)")
        if not path.is_file():
            raise FileNotFoundError(f"no such checkpoint: {path} (pass a .safetensors file, or "
                                    f"{DEFAULT_NAME!r} for the bundled default model)")
        return path
    path = default_model_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the bundled default model is missing ({path}): install a release of napari-mcdet "
            "(or a checkout that has it), or pass --model CKPT with a checkpoint of your own "
            "(made with mcdet train or the Train detector widget)"
        )
    return path
