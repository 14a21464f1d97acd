"""The training configuration: one dataclass, saved as YAML or JSON beside the run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..nn.mcdetnet import MCDetConfig


@dataclass
class TrainConfig:
    """Everything a training run depends on (the recipe saved in every checkpoint).

    Data
    ----
    negatives : list of str
        Folders and/or files of normal (negative) mammograms (DICOM, PNG/TIFF, PGM).
    split : str or None
        A JSON file ``{"train": [...], "val": [...]}`` of file names; when given, only the files
        listed under ``split_set`` are used for training (never score on training images).
    split_set : str
        Which list of ``split`` to train on.
    pixel_spacing : float
        mm per pixel the network works at; every image is resampled to it (mini-MIAS: 0.2).
    source_spacing : float or None
        Spacing of files that do not state one (PNG/PGM); mini-MIAS is recognised by name.
    patch_size : int
        Patch side in pixels at ``pixel_spacing`` (a multiple of 16; the paper: 512 at 0.07 mm).
    lesion_mode : {'presentation', 'raw'}
        Additive (log / for-presentation data) or multiplicative (raw) blending.
    lesion_params : dict
        ``{'benign': {...}, 'malignant': {...}}`` overrides of the synthesis parameters.
    augment : bool
        Flips/transpose and one intensity augmentation per patch.
    num_workers : int
        DataLoader worker processes (on a GPU, the cores minus two: synthesis is the limit).
        Each hard-negative mining round restarts them with the new pool.
    cache_images : int
        Prepared (resampled, normalised) normal images kept in memory per process; every patch
        draws a random image, so a cache smaller than the image set re-reads files. 133 mini-MIAS
        images at 0.2 mm take about 0.7 GB.
    hard_negative_fraction : float
        Fraction of the soft-tissue patches cut around the model's strongest false responses on
        the training normals (hard negatives), mined every ``mine_every`` steps.
    edge_fraction : float
        Fraction of the soft-tissue patches cut on the breast's outline (skin line, film edge).
    mine_every : int
        Steps between two hard-negative mining rounds (0: never); a run started from ``init``
        also mines before its first step.
    mine_images : int
        Training normals mined per round (a rotating subset, so a round stays short).
    mine_per_image : int
        Strongest false responses kept per mined image.

    Model and optimisation
    ----------------------
    architecture : str
        ``'mcdet'`` or a baseline name (classification only).
    model : dict
        ``MCDetConfig`` fields (or ``BaselineConfig`` fields for a baseline).
    init : str or None
        Start from the weights of this checkpoint (fine-tuning; its optimizer state is not used).
    lr : float
        Adam learning rate (paper: 1e-4).
    lr_final : float or None
        With a value, the learning rate falls along a half cosine from ``lr`` at step 0 to
        ``lr_final`` at ``steps``; None keeps it constant (the paper).
    batch_size : int
        Patches per process and per step (paper: 3). With ``accumulate`` and DDP, the global
        batch is ``batch_size * accumulate * world_size``.
    accumulate : int
        Micro-batches per optimiser step (gradient accumulation).
    steps : int
        Optimiser steps in total.
    epoch_steps : int
        Steps between validations and checkpoints (an "epoch").

    Validation
    ----------
    val_length : int
        Size of the fixed synthetic validation set (its own seed, no augmentation).
    val_seed : int
    real_val : str or None
        ``'minimias:<folder>'``: also score real mini-MIAS images (the calcification cases and
        the normal images of ``split``'s ``val`` list) each epoch: the paper's patch AUCs and the
        strict-rule cluster sensitivity (mean at 0.25-2 false clusters per image), which then
        selects ``best.safetensors``.
    keep_every : int
        Also keep ``step_NNNNNN.safetensors`` every this many steps, validation steps or not
        (0: only best and last); each is resumable, and a run's kept steps can be averaged
        (:func:`napari_mcdet.models.checkpoint.average_checkpoints`).

    Run
    ---
    seed : int
    device : str
        ``'auto'`` (CUDA, then MPS, then CPU with a warning), ``'cpu'``, ``'cuda:0'``...
    amp : bool
        Mixed precision: bfloat16 (or float16) autocast on CUDA, and bfloat16 on a CPU that
        computes it natively (AVX-512 BF16 or AMX; about 1.7x the float32 step on two cores,
        ``benchmarks/train_speed.py``); float32 elsewhere.
    out_dir : str
        Where ``last.safetensors``, ``best.safetensors``, ``log.jsonl`` and ``config.yaml`` go.
    """

    negatives: list[str] = field(default_factory=list)
    split: str | None = None
    split_set: str = "train"
    pixel_spacing: float = 0.2
    source_spacing: float | None = None
    patch_size: int = 128
    lesion_mode: str = "presentation"
    lesion_params: dict[str, Any] = field(default_factory=dict)
    augment: bool = True
    num_workers: int = 0
    cache_images: int = 8
    hard_negative_fraction: float = 0.3
    edge_fraction: float = 0.1
    mine_every: int = 400
    mine_images: int = 16
    mine_per_image: int = 8
    architecture: str = "mcdet"
    model: dict[str, Any] = field(default_factory=lambda: MCDetConfig().to_dict())
    init: str | None = None
    lr: float = 1e-4
    lr_final: float | None = None
    batch_size: int = 3
    accumulate: int = 1
    steps: int = 1000
    epoch_steps: int = 100
    val_length: int = 48
    val_seed: int = 12345
    real_val: str | None = None
    keep_every: int = 0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    out_dir: str = "runs/mcdet"

    def __post_init__(self) -> None:
        if isinstance(self.negatives, str):
            self.negatives = [self.negatives]
        for name in ("patch_size", "batch_size", "accumulate", "steps", "epoch_steps"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.architecture == "mcdet" and self.patch_size % 16:
            raise ValueError(f"patch_size {self.patch_size} must be a multiple of 16 for MCDetNet; "
                             f"try {max(16, round(self.patch_size / 16) * 16)}")
        if self.mine_every < 0 or self.keep_every < 0:
            raise ValueError("mine_every and keep_every must be >= 0 steps")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.lr_final is not None and not 0 <= self.lr_final <= self.lr:
            raise ValueError(f"lr_final must lie between 0 and lr ({self.lr}), got "
                             f"{self.lr_final}; leave it out (null) for a constant rate")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"unknown training configuration keys {unknown}; known: {sorted(known)}"
            )
        return cls(**d)

    def save(self, path: str | Path) -> Path:
        """Write as YAML (``.yaml``/``.yml``) or JSON (anything else)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        else:
            path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such training configuration: {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{path} is not UTF-8 text (byte {err.start}): save the training "
                             "configuration as YAML or JSON text") from err
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            # parsed from the open file, a YAML error's position names the file (from a string
            # it says "<unicode string>", and the user cannot tell which file to fix)
            with path.open(encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} is not valid JSON at line {err.lineno}, column "
                                 f"{err.colno} ({err.msg}): fix the training configuration "
                                 "there") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a mapping of configuration keys")
        base = path.parent
        # relative data paths are relative to the configuration file
        for key in ("split", "out_dir", "init"):
            if data.get(key) and not Path(data[key]).is_absolute():
                data[key] = str((base / data[key]).resolve())
        if data.get("negatives"):
            negs = [data["negatives"]] if isinstance(data["negatives"], str) else data["negatives"]
            data["negatives"] = [n if Path(n).is_absolute() else str((base / n).resolve())
                                 for n in negs]
        rv = data.get("real_val")
        if rv and ":" in rv:
            kind, folder = rv.split(":", 1)
            if not Path(folder).is_absolute():
                data["real_val"] = f"{kind}:{(base / folder).resolve()}"
        return cls.from_dict(data)
