"""Which checkpoint file to use: the one asked for, else the bundled default model.

The command line and the napari face both start from "a path, or None for the default"; this is
where that choice is made and where a missing file is reported, before anything is loaded.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["checkpoint_path"]


def checkpoint_path(model: str | Path | None = None) -> Path:
    """The checkpoint to load: ``model``, else the bundled default (which must exist).

    Parameters
    ----------
    model : path, optional
        A ``.safetensors`` checkpoint; None means the bundled default model.

    Returns
    -------
    path : Path
        An existing file (its contents are not checked here: :func:`load_model` does that).

    Raises
    ------
    FileNotFoundError
        ``model`` is not a file, or the bundled default model is missing from the install.
    """
    from .checkpoint import default_model_path

    if model is not None:
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"no such checkpoint: {path}")
        return path
    path = default_model_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the bundled default model is missing ({path}): install a release of napari-mcdet "
            "(or a checkout that has it), or pass --model CKPT with a checkpoint of your own "
            "(made with mcdet train or the Train detector widget)"
        )
    return path
