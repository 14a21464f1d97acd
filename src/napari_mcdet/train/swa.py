"""Weight averaging's last step: BatchNorm statistics re-estimated for the averaged weights.

:func:`napari_mcdet.models.checkpoint.average_checkpoints` averages the running statistics of
the kept steps along with their weights; the averaged weights produce activations whose
statistics differ from that average. Stochastic weight averaging (Izmailov et al. 2018)
therefore runs the averaged network once over training data in training mode and keeps the
statistics it measures (:func:`torch.optim.swa_utils.update_bn`). The patches come from the
run's own configuration: the same normals, synthesis, augmentation and hard-negative pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from ..models.checkpoint import (
    CALIBRATION_KEYS,
    build_network,
    check_finite,
    model_state,
    read_checkpoint,
    save_checkpoint,
)
from .config import TrainConfig

#: Metadata keys :func:`~napari_mcdet.models.checkpoint.save_checkpoint` writes itself.
_WRITTEN_BY_SAVE = ("format", "format_version", "architecture", "config", "pixel_spacing",
                    "patch_size", "normalization", "class_names", "package_version", "step",
                    "metrics", "recipe", "optimizer", "path")


def training_patches(config: TrainConfig, *, batches: int, seed: int = 0,
                     hard_negatives: list | None = None) -> Iterator[torch.Tensor]:
    """``batches`` batches of training images, shape (batch_size, 1, P, P), float32.

    Drawn as ``config``'s run draws them (its training images, lesions, augmentation and
    ``hard_negatives`` pool), from dataset seed ``seed``.
    """
    from .loop import patch_dataset, resolve_images

    if batches < 1:
        raise ValueError(f"batches must be at least 1, got {batches}")
    b = config.batch_size
    dataset = patch_dataset(
        config, resolve_images(config), seed=seed, length=batches * b, augment=config.augment,
        hard_negative_fraction=config.hard_negative_fraction if hard_negatives else 0.0,
        edge_fraction=config.edge_fraction)
    dataset.hard_negatives = [tuple(e) for e in hard_negatives or []]
    for k in range(batches):
        yield torch.stack([dataset[i]["image"] for i in range(k * b, (k + 1) * b)])


def refresh_batchnorm(src: str | Path, dst: str | Path, config: TrainConfig, *,
                      batches: int = 200, seed: int = 0,
                      device: str | torch.device = "cpu") -> Path:
    """Re-estimate a model's BatchNorm running statistics on its run's training patches.

    Parameters
    ----------
    src : path
        A final model, typically a weight average of one run's kept steps.
    dst : path
        Where to write the model with the new statistics (atomically; may be ``src``).
    config : TrainConfig
        The run's configuration (images, grid, synthesis, augmentation, batch size).
    batches : int
        Batches of ``config.batch_size`` patches to measure on (one pass, equal weights).
    seed : int
        Dataset seed of those patches.
    device : str or torch.device

    Returns
    -------
    Path
        ``dst``. Its metadata keeps ``src``'s (``averaged_from`` included) but not its
        calibration, with empty ``metrics`` (the model is new) and ``batchnorm_refreshed``:
        batches, patches, seed.

    Raises
    ------
    ValueError
        ``src``'s grid or patch size is not ``config``'s, or its network has no BatchNorm.
    CheckpointError
        ``src``'s weights or the statistics measured hold NaN or infinite values (nothing is
        written then).
    """
    from torch.optim.swa_utils import update_bn

    tensors, meta = read_checkpoint(src)
    spacing = [float(config.pixel_spacing)] * 2
    if [float(s) for s in meta["pixel_spacing"]] != spacing or (
            int(meta["patch_size"]) != config.patch_size):
        raise ValueError(
            f"{src} was trained at {meta['pixel_spacing']} mm, {meta['patch_size']} px patches; "
            f"the configuration draws {spacing} mm, {config.patch_size} px: pass the "
            "configuration of the run that wrote it")
    check_finite(src, model_state(tensors), fix="re-estimate the statistics of a model with "
                 "finite weights")
    network = build_network(meta["architecture"], meta.get("config", {}))
    network.load_state_dict(model_state(tensors))
    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in network.modules()):
        raise ValueError(f"{src}: its network has no BatchNorm layer to re-estimate")
    network.to(device)
    update_bn(training_patches(config, batches=batches, seed=seed,
                               hard_negatives=meta.get("hard_negatives")),
              network, device=torch.device(device))
    check_finite(src, network.state_dict(), fix="its training patches gave non-finite "
                 "BatchNorm statistics; check the configuration's images")
    # new statistics give new maps: the source's calibration does not describe them
    extra = {k: v for k, v in meta.items()
             if k not in _WRITTEN_BY_SAVE and k not in CALIBRATION_KEYS}
    extra["batchnorm_refreshed"] = {"batches": int(batches),
                                    "patches": int(batches * config.batch_size),
                                    "seed": int(seed)}
    return save_checkpoint(dst, network.cpu(), pixel_spacing=tuple(spacing),
                           patch_size=config.patch_size, step=int(meta.get("step", 0)),
                           metrics={}, recipe=meta.get("recipe", {}), extra=extra)
