"""The training engine: one loop for the command line, the napari widget and ``torchrun``.

:meth:`Trainer.run` is a generator that yields one progress event per optimiser step, so a GUI
worker can show progress and stop at the next step (closing the generator saves a resumable
``last.safetensors``), and the command line can catch Ctrl-C the same way.

Determinism: patch ``i`` depends only on ``(seed, i)``; optimiser step ``s`` consumes the
global indices ``[s * G, (s + 1) * G)`` with ``G = batch_size * accumulate * world_size``, so a
run resumed at step ``s`` (weights, Adam state and the torch RNG restored) continues exactly as
an uninterrupted run, and a DDP run over ``W`` processes matches a single process with
``accumulate = W`` (same patches, same averaged gradients).
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..models.checkpoint import (
    build_network,
    model_state,
    optimizer_state,
    read_checkpoint,
    save_checkpoint,
)
from ..models.device import cpu_has_native_bf16, resolve_device
from ..nn.losses import MCDetLoss
from ..train.dataset import SyntheticPatchDataset, expand_images
from .config import TrainConfig
from .distributed import DistInfo

if TYPE_CHECKING:
    from .selection import RealValidationRecord


def resolve_images(config: TrainConfig, which: str | None = None) -> list[Path]:
    """The image files a run uses: ``negatives`` (folders expanded), filtered by ``split``.

    ``which`` selects the split list (``'train'`` or ``'val'``); default ``config.split_set``.
    """
    files = expand_images(config.negatives, what="negative image")
    if config.split:
        from ..metrics.realsets import read_split

        names = set(read_split(config.split)[which or config.split_set])
        files = [f for f in files if f.name in names]
    if not files:
        raise ValueError("no negative images to train on: check 'negatives' and 'split'")
    return files


def patch_dataset(config: TrainConfig, files: list[Path], **options: Any) -> SyntheticPatchDataset:
    """The patches of ``files`` as ``config``'s run draws them: its grid, patch size, lesion
    mode and parameters, and image cache; ``options`` (seed, length, augment, hard-negative and
    edge fractions) go to :class:`~napari_mcdet.train.dataset.SyntheticPatchDataset`."""
    return SyntheticPatchDataset(
        files, patch_size=config.patch_size,
        pixel_spacing=(config.pixel_spacing, config.pixel_spacing),
        source_spacing=config.source_spacing, mode=config.lesion_mode,
        lesion_params=config.lesion_params or None, cache_size=config.cache_images, **options)


class _Batches:
    """Index batches for steps ``[start, stop)`` of one process (see the module docstring)."""

    def __init__(self, config: TrainConfig, dist: DistInfo, start: int, stop: int) -> None:
        self.b, self.acc = config.batch_size, config.accumulate
        self.dist, self.start, self.stop = dist, start, stop

    def __iter__(self):
        g = self.b * self.acc * self.dist.world_size
        for step in range(self.start, self.stop):
            for a in range(self.acc):
                first = step * g + (self.dist.rank * self.acc + a) * self.b
                yield list(range(first, first + self.b))

    def __len__(self) -> int:
        return (self.stop - self.start) * self.acc


class Trainer:
    """Train a network on synthetic lesions blended into normal mammograms.

    Parameters
    ----------
    config : TrainConfig
    resume : path, optional
        A checkpoint written by a previous run (``last.safetensors``): weights, Adam state,
        RNG and step are restored and training continues up to ``config.steps``.
    dist : DistInfo, optional
        Rank and world size under ``torchrun`` (see :func:`~.distributed.init_distributed`).
    """

    def __init__(self, config: TrainConfig, *, resume: str | Path | None = None,
                 dist: DistInfo | None = None) -> None:
        self.config = cfg = config
        self.dist = dist or DistInfo()
        self.out_dir = Path(cfg.out_dir)
        if self.dist.enabled and torch.cuda.is_available() and cfg.device != "cpu":
            self.device = torch.device(f"cuda:{self.dist.local_rank}")
        else:
            self.device = resolve_device(cfg.device, warn=self.dist.is_main)
        torch.manual_seed(cfg.seed)
        self.network = build_network(cfg.architecture, cfg.model).to(self.device)
        # channels-last feeds cuDNN's tensor-core kernels. Not on the CPU: in float32 it does not
        # pay, and under bfloat16 oneDNN's backward of the dilated (ASPP) convolutions in
        # channels-last returns NaN gradients (torch 2.13)
        self.channels_last = self.device.type == "cuda"
        if self.channels_last:
            self.network = self.network.to(memory_format=torch.channels_last)
        if cfg.init and resume is None:
            tensors, _ = read_checkpoint(cfg.init)
            self.network.load_state_dict(model_state(tensors))
        self.segmentation = cfg.architecture == "mcdet" and cfg.model.get("segmentation", True)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=cfg.lr)
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range
        self.scaler = torch.amp.GradScaler("cuda", enabled=self._amp_dtype() == torch.float16)
        self.loss_fn = MCDetLoss()
        self.step = 0
        self.best: float = -math.inf
        self.history: list[dict[str, Any]] = []
        rng_state = None
        if resume is not None:
            tensors, meta = read_checkpoint(resume)
            self.network.load_state_dict(model_state(tensors))
            opt = optimizer_state(tensors, meta)
            if opt is None:
                raise ValueError(f"{resume} holds no optimizer state: it cannot be resumed "
                                 "(it is a final model; start a new run from it instead)")
            self.optimizer.load_state_dict(opt)
            self.step = int(meta["step"])
            self.best = float(meta.get("best", -math.inf))
            rng_state = tensors.get("rng.torch")
        self.ddp = None
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.network, device_ids=ids)
        files = resolve_images(cfg)
        g = cfg.batch_size * cfg.accumulate * self.dist.world_size
        self.train_set = patch_dataset(
            cfg, files, seed=cfg.seed, length=cfg.steps * g, augment=cfg.augment,
            hard_negative_fraction=cfg.hard_negative_fraction if cfg.mine_every else 0.0,
            edge_fraction=cfg.edge_fraction)
        if resume is not None:
            self.train_set.hard_negatives = [tuple(e) for e in meta.get("hard_negatives", [])]
        val_files = resolve_images(cfg, "val") if cfg.split else files
        self.val_set = patch_dataset(cfg, val_files, seed=cfg.val_seed, length=cfg.val_length,
                                     augment=False)
        # creating the iterator draws from the torch RNG: do it before restoring the RNG state
        self._batches = self._batch_iterator()
        if rng_state is not None:
            torch.set_rng_state(rng_state)
        self._real = None
        self._real_patches = None
        self._saved_step = self.step

    # -- pieces ----------------------------------------------------------------------------
    @property
    def model(self) -> torch.nn.Module:
        return self.ddp if self.ddp is not None else self.network

    def _amp_dtype(self) -> torch.dtype | None:
        """Autocast type: on CUDA bfloat16 where supported, else float16; on a CPU with native
        bfloat16 (AVX-512 BF16, AMX) bfloat16; None (float32) elsewhere."""
        if not self.config.amp:
            return None
        if self.device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if self.device.type == "cpu" and cpu_has_native_bf16():
            return torch.bfloat16
        return None

    def _autocast(self):
        dtype = self._amp_dtype()
        if dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def _batch_iterator(self) -> Iterator[dict[str, Any]]:
        """Batches from the current step on. Worker processes hold a copy of the training set
        taken when they start, so a new hard-negative pool reaches them only through new workers
        (:meth:`mine` calls this again); images the main process has prepared are inherited."""
        cfg = self.config
        sources = self.train_set.sources
        method = mp.get_start_method(allow_none=True) or mp.get_all_start_methods()[0]
        if cfg.num_workers and method == "fork" and cfg.cache_images >= len(sources):
            # forked workers share these pages instead of each preparing every image again
            for k in range(len(sources)):
                self.train_set.prepared(k)
        loader = DataLoader(self.train_set,
                            batch_sampler=_Batches(cfg, self.dist, self.step, cfg.steps),
                            num_workers=cfg.num_workers, persistent_workers=cfg.num_workers > 0)
        return iter(loader)

    def _set_lr(self) -> float:
        """The learning rate of the coming step (:func:`learning_rate`), set on the optimizer."""
        lr = learning_rate(self.config, self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _forward_loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        x = batch["image"].to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = batch["label"].to(self.device, non_blocking=True)
        with self._autocast():
            out = self.model(x)
        if isinstance(out, torch.Tensor):  # a baseline classifier: classification loss only
            loss = torch.nn.functional.cross_entropy(out.float(), y)
            nan = torch.tensor(float("nan"))
            return {"loss": loss, "cls": loss.detach(), "seg": nan}
        masks = batch["mask"].to(self.device, non_blocking=True) if self.segmentation else None
        return self.loss_fn(out, y, masks)

    def train_step(self) -> dict[str, float]:
        """One optimiser step (``accumulate`` micro-batches); returns losses and timings."""
        cfg = self.config
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        lr = self._set_lr()
        # batch-norm statistics move in the forward pass: kept to undo a non-finite step
        buffers = [b.clone() for b in self.network.buffers()]
        t0 = time.perf_counter()
        wait = 0.0
        totals = {"loss": 0.0, "cls": 0.0, "seg": 0.0}
        for a in range(cfg.accumulate):
            tw = time.perf_counter()
            batch = next(self._batches)
            wait += time.perf_counter() - tw
            sync = self.ddp.no_sync() if (self.ddp is not None and a < cfg.accumulate - 1) \
                else nullcontext()
            with sync:
                out = self._forward_loss(batch)
                self.scaler.scale(out["loss"] / cfg.accumulate).backward()
            for k in totals:
                totals[k] += float(out[k].detach()) / cfg.accumulate
        if not math.isfinite(totals["loss"]) and not self.scaler.is_enabled():
            with torch.no_grad():
                for b, kept in zip(self.network.buffers(), buffers):
                    b.copy_(kept)
            raise FloatingPointError(
                f"training loss is {totals['loss']} at step {self.step + 1}: the weights would "
                f"be ruined, so the run stops here (its last checkpoint is intact). Resume from "
                f"{self.out_dir / 'last.safetensors'} with a lower lr, or with amp: false if "
                f"mixed precision ({self._amp_dtype()}) is on")
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        dt = time.perf_counter() - t0
        n = cfg.batch_size * cfg.accumulate * self.dist.world_size
        return {**totals, "lr": lr, "seconds": dt, "data_wait": wait / dt if dt else 0.0,
                "patches_per_s": n / dt if dt else 0.0}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Synthetic validation (loss, AUC_MCs, AUC_mlg) and, if configured, real patch AUCs."""
        from ..infer.patches import predict_patches
        from ..metrics.auc import patch_aucs

        items = [self.val_set[i] for i in range(len(self.val_set))]
        x = np.stack([it["image"][0].numpy() for it in items])
        y = np.array([int(it["label"]) for it in items])
        probs, _ = predict_patches(self.network, x, batch_size=8, segmentation=False)
        aucs = patch_aucs(y, probs)
        metrics = {"val_AUC_MCs": aucs["AUC_MCs"], "val_AUC_mlg": aucs["AUC_mlg"],
                   "val_accuracy": float((probs.argmax(1) == y).mean())}
        if self.config.real_val:
            metrics.update(self.validate_real())
        return metrics

    def validate_real(self) -> dict[str, float]:
        """The selection figures on the real validation images (:mod:`.selection`).

        The mini-MIAS calcification cases and the split's ``val`` normals run through the
        network as detection runs them; the mean cluster sensitivity at 0.25-2 false clusters
        per image is ``real_cluster_sensitivity``; the paper's patch AUCs are logged beside it.
        """
        from .selection import selection_figures

        return selection_figures(self.real_validation_record())

    def real_validation_record(self) -> RealValidationRecord:
        """What the network does on each real validation image: its strict-rule cluster counts
        and its evaluation patches' probabilities (a :class:`.selection.RealValidationRecord`)."""
        from ..infer.calibrate import cluster_counts
        from ..infer.steps import image_maps
        from ..nn.inference import prepare_for_inference
        from .selection import RealValidationRecord, image_stratum

        cfg = self.config
        images = self.real_images()
        net = prepare_for_inference(self.network, device=self.device,
                                    channels_last=self.device.type != "mps")
        self.network.train()
        # the training tile with a quarter overlap, as every selection of the default run was
        maps = [image_maps(net, im.image, im.breast, tile=cfg.patch_size,
                           overlap=cfg.patch_size // 4, pixel_spacing=im.pixel_spacing,
                           channels_last=self.device.type != "mps", labels=im.labels,
                           name=im.name, device=self.device)
                for im in images]
        _, y, owners = self._real_patch_set()
        return RealValidationRecord(
            names=[im.name for im in images],
            strata=np.array([image_stratum(im.labels) for im in images], dtype=np.int64),
            clusters=cluster_counts(maps), patch_labels=y,
            patch_probabilities=self._real_patch_probabilities(), patch_images=owners)

    def validate_real_patches(self) -> dict[str, float]:
        """The paper's patch AUCs on the evaluation patches of the real validation images
        (logged beside the selection score, which they do not enter)."""
        from ..metrics.auc import patch_aucs

        _, y, _ = self._real_patch_set()
        return {f"real_{k}": v
                for k, v in patch_aucs(y, self._real_patch_probabilities()).items()}

    def _real_patch_set(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The real validation images' evaluation patches (P, S, S), labels (P,) and the index
        of the image each comes from (P,) (cached)."""
        if self._real_patches is None:
            images = self.real_images()
            x, y, d = real_validation_patches(self.config, images=images, details=True)
            index = {im.name: i for i, im in enumerate(images)}
            self._real_patches = x, y, np.array([index[n] for n in d["images"]], np.int64)
        return self._real_patches

    def _real_patch_probabilities(self) -> np.ndarray:
        from ..infer.patches import predict_patches

        x, _, _ = self._real_patch_set()
        probs, _ = predict_patches(self.network, x, batch_size=8, segmentation=False)
        return probs

    def real_images(self):
        """The real validation images, prepared at the training grid (cached)."""
        if self._real is None:
            self._real = real_validation_images(self.config)
        return self._real

    def save(self, name: str, metrics: dict[str, Any] | None = None) -> Path | None:
        """Write ``<out_dir>/<name>.safetensors`` (rank 0 only), with the optimizer state."""
        if not self.dist.is_main:
            return None
        cfg = self.config
        path = save_checkpoint(
            self.out_dir / f"{name}.safetensors", self.network,
            pixel_spacing=(cfg.pixel_spacing, cfg.pixel_spacing), patch_size=cfg.patch_size,
            optimizer=self.optimizer, step=self.step, metrics=metrics or {},
            recipe=cfg.to_dict(),
            extra={"best": self.best,
                   "hard_negatives": [list(e) for e in self.train_set.hard_negatives]},
        )
        if name == "last":
            self._saved_step = self.step
        return path

    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "log.jsonl", "a") as fh:
            fh.write(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v)
                                 for k, v in record.items()}) + "\n")

    def mine(self) -> None:
        """Refresh the hard-negative pool from the current model (a rotating subset of the
        training normals, :attr:`TrainConfig.mine_images` of them)."""
        from .mining import mine_hard_negatives, mining_images

        cfg = self.config
        round_index = self.step // cfg.mine_every
        idx = mining_images(len(self.train_set.sources), round_index, cfg.mine_images, cfg.seed)
        t0 = time.perf_counter()
        pool = mine_hard_negatives(self.network, self.train_set, idx, tile=cfg.patch_size,
                                   per_image=cfg.mine_per_image, device=self.device)
        self.train_set.hard_negatives = pool
        if cfg.num_workers:
            # the torch RNG stream stays that of a run without workers (resume stays exact)
            state = torch.get_rng_state()
            self._batches = self._batch_iterator()
            torch.set_rng_state(state)
        self._log({"step": self.step, "mined": len(pool), "mined_images": idx,
                   "mine_seconds": time.perf_counter() - t0,
                   "mined_top_score": pool[0][3] if pool else None})

    def _should_mine(self) -> bool:
        cfg = self.config
        if not (cfg.mine_every and cfg.hard_negative_fraction):
            return False
        if self.step == 0:
            return bool(cfg.init)
        return self.step % cfg.mine_every == 0

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> Iterator[dict[str, Any]]:
        """Train up to ``config.steps``; yield one event dict per step.

        Closing the generator early (a GUI cancel, Ctrl-C) saves ``last.safetensors`` at the last
        completed step, from which ``resume`` continues exactly.
        """
        cfg = self.config
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            cfg.save(self.out_dir / "config.yaml")
        try:
            while self.step < cfg.steps:
                if self._should_mine():
                    self.mine()
                event = {"step": self.step + 1, "steps": cfg.steps, **self.train_step()}
                metrics: dict[str, float] = {}
                if self.dist.is_main and (self.step % cfg.epoch_steps == 0
                                          or self.step == cfg.steps):
                    metrics = self.validate()
                    event.update(metrics)
                    score = _score(metrics)
                    if score > self.best:
                        self.best = score
                        self.save("best", metrics)
                    self.save("last", metrics)
                # kept steps need not be validation steps: weight averaging wants them dense
                if self.dist.is_main and cfg.keep_every and self.step % cfg.keep_every == 0:
                    self.save(f"step_{self.step:06d}", metrics)
                self._log(event)
                self.history.append(event)
                yield event
        finally:
            if self.step != self._saved_step:
                self.save("last", {})


def learning_rate(config: TrainConfig, step: int) -> float:
    """Learning rate of the step after ``step`` completed steps.

    Constant ``lr``, or with ``lr_final`` set a half cosine from ``lr`` at step 0 to
    ``lr_final`` at ``steps``. A function of the step alone, so a resumed run continues it
    exactly.
    """
    if config.lr_final is None:
        return float(config.lr)
    t = min(max(step / max(config.steps, 1), 0.0), 1.0)
    cosine = 0.5 * (1 + math.cos(math.pi * t))
    return float(config.lr_final + (config.lr - config.lr_final) * cosine)


def _score(metrics: dict[str, float]) -> float:
    """Model selection: the real strict-rule cluster sensitivity when available, else the mean
    synthetic AUC."""
    keys = (("real_cluster_sensitivity",) if "real_cluster_sensitivity" in metrics
            else ("val_AUC_MCs", "val_AUC_mlg"))
    vals = [metrics[k] for k in keys if not math.isnan(metrics[k])]
    return float(np.mean(vals)) if vals else -math.inf


def real_validation_images(config: TrainConfig):
    """The real validation images named by ``real_val``, prepared at the training grid: the
    mini-MIAS calcification cases and the ``val`` normals of ``split`` (never a training image).
    """
    from ..metrics.realsets import minimias_images, read_split

    kind, _, folder = (config.real_val or "").partition(":")
    if kind != "minimias" or not folder:
        raise ValueError(f"real_val must look like 'minimias:<folder>', got {config.real_val!r}")
    normals = read_split(config.split)["val"] if config.split else []
    spacing = (config.pixel_spacing, config.pixel_spacing)
    return minimias_images(folder, pixel_spacing=spacing, normals=normals)


def real_validation_patches(config: TrainConfig, *, details: bool = False, images=None):
    """The paper's evaluation patches of the real validation images named by ``real_val``:
    the mini-MIAS calcification cases and the ``val`` normals of ``split`` (never a training
    image). See :func:`napari_mcdet.metrics.realsets.evaluation_patch_set` (``details``).
    ``images``: those of :func:`real_validation_images` when already prepared."""
    from ..metrics.realsets import evaluation_patch_set

    if images is None:
        images = real_validation_images(config)
    return evaluation_patch_set(images, patch_size=config.patch_size, min_breast_fraction=0.2,
                                details=details)


def train(config: TrainConfig, *, resume: str | Path | None = None,
          dist: DistInfo | None = None) -> Trainer:
    """Run a whole training and return the trainer (history, network, paths)."""
    trainer = Trainer(config, resume=resume, dist=dist)
    for _ in trainer.run():
        pass
    return trainer
