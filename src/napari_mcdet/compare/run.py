"""Running a study: train every model with the one engine, score it, write the outputs."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import SOFT_TISSUE
from .config import CompareConfig, ModelEntry
from .evaluation import (
    EvaluationSet,
    ModelResult,
    evaluation_set,
    score_model,
    subsample_negatives,
)
from .figure import figure2_panels, plot_figure2
from .tables import comparison_tables, render_comparison_table

#: Name of the evaluation data in the tables' column titles.
_DATASET = "mini-MIAS"


def run_comparison(
    config: CompareConfig,
    *,
    out_dir: str | Path | None = None,
    steps: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train and score every model of ``config``; write the tables and figures.

    Parameters
    ----------
    config : CompareConfig
    out_dir : path, optional
        Overrides ``config.out_dir``.
    steps : int, optional
        Overrides the training steps of every model.
    progress : callable, optional
        Called with one line of text per stage (the command line prints them).

    Returns
    -------
    written : dict
        File kind -> path, plus ``'results'``: ``{model name: ModelResult}``,
        ``'evaluation'``: the whole :class:`EvaluationSet` and ``'kept'``: the indices scored.
    """
    say = progress or (lambda _msg: None)
    out = Path(out_dir or config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if steps is not None:
        config = _with_steps(config, steps)
    first = config.train_config(config.models[0], out / "models")
    first.real_val = config.data
    t0 = time.perf_counter()
    full = evaluation_set(first)
    keep = subsample_negatives(full.labels, max_negatives=config.eval_negatives,
                               seed=config.seed)
    ev = full.subset(keep)
    lesion = np.flatnonzero(ev.labels != SOFT_TISSUE)
    say(f"evaluation set: {len(ev)} patches {ev.counts()} of {len(full)} "
        f"({time.perf_counter() - t0:.1f} s)")
    results: dict[str, ModelResult] = {}
    with _deterministic():
        for i, entry in enumerate(config.models):
            cfg = config.train_config(entry, out / "models" / _slug(entry.name))
            if cfg.patch_size != first.patch_size or cfg.pixel_spacing != first.pixel_spacing:
                raise ValueError(f"model {entry.name!r} overrides patch_size/pixel_spacing: every "
                                 "model must be scored on the same patches")
            say(f"[{i + 1}/{len(config.models)}] {entry.name}: training {cfg.steps} steps")
            r = _train_and_score(entry, cfg, ev, lesion, seed=config.seed,
                                 gradcam=entry.name in config.gradcam,
                                 batch_size=config.batch_size)
            results[entry.name] = r
            say(f"    AUC_MCs {r.aucs['AUC_MCs']:.3f}  AUC_mlg {r.aucs['AUC_mlg']:.3f}  "
                f"(train {r.train_seconds:.0f} s, score {r.eval_seconds:.0f} s)")
    written = write_comparison(config, results, ev, lesion, out, n_all=len(full))
    say(f"wrote {out}")
    return {**written, "results": results, "evaluation": full, "kept": keep}


def _with_steps(config: CompareConfig, steps: int) -> CompareConfig:
    """``config`` with every model training ``steps`` steps in one epoch; per-model ``steps``
    and ``epoch_steps`` are dropped so that the budget is the same for every model."""
    if int(steps) < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    return CompareConfig.from_dict({
        **config.to_dict(),
        "train": {**config.train, "steps": int(steps), "epoch_steps": int(steps)},
        "models": [{**m.__dict__, "train": {k: v for k, v in m.train.items()
                                             if k not in ("steps", "epoch_steps")}}
                   for m in config.models]})


def _train_and_score(entry: ModelEntry, train_config, ev: EvaluationSet, lesion: np.ndarray, *,
                     seed: int, gradcam: bool, batch_size: int) -> ModelResult:
    """Train one model from ``torch.manual_seed(seed)`` and score its last weights."""
    import torch

    from ..nn.mcdetnet import count_parameters
    from ..train.loop import Trainer

    t1 = time.perf_counter()
    torch.manual_seed(seed)
    trainer = Trainer(train_config)
    for _ in trainer.run():
        pass
    network = trainer.network.eval()
    t2 = time.perf_counter()
    aucs, rocs, pixel, maps = score_model(network, ev, lesion, gradcam=gradcam,
                                          batch_size=batch_size)
    t3 = time.perf_counter()
    return ModelResult(entry, aucs, rocs, pixel, maps, count_parameters(network), t2 - t1,
                       t3 - t2, str(trainer.out_dir / "last.safetensors"))


@contextmanager
def _deterministic():
    """Deterministic torch algorithms (warning where none exists) inside; the previous
    setting is restored after."""
    import torch

    was = torch.are_deterministic_algorithms_enabled()
    warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn)


def _slug(name: str) -> str:
    """A folder name for a model name (``'ResNet-22 optimized'`` -> ``'resnet-22-optimized'``)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "model"


def write_comparison(config: CompareConfig, results: Mapping[str, ModelResult],
                     ev: EvaluationSet, lesion: np.ndarray, out: Path, *,
                     n_all: int) -> dict[str, Path]:
    """Write the tables (Markdown, CSV), ROC plots, Figure 2 and ``report.json`` into ``out``.

    Parameters
    ----------
    config : CompareConfig
    results : mapping of str -> ModelResult
    ev : EvaluationSet
        The P patches scored.
    lesion : ndarray of shape (L,), int
        Indices of the calcified patches of ``ev``.
    out : Path
        Output folder (exists).
    n_all : int, keyword-only
        Patches of the whole evaluation set before the soft-tissue subsample.

    Returns
    -------
    written : dict
        File kind (``'table2_md'``, ``'roc_mcs'``, ``'figure2'``, ``'json'``...) -> path.
    """
    from ..metrics.report import plot_roc, write_json_report

    tables = comparison_tables(results, _DATASET)
    written = _write_tables(tables, out)
    for task, title in (("mcs", "AUC_MCs: calcified vs soft tissue"),
                        ("mlg", "AUC_mlg: malignant vs rest")):
        written[f"roc_{task}"] = plot_roc({n: r.rocs[task] for n, r in results.items()},
                                          out / f"roc_{task}.png",
                                          title=f"{title} ({_DATASET}, {len(ev)} patches)")
    fig2 = figure2_panels(config, results, ev, lesion)
    if fig2 is not None:
        written["figure2"] = plot_figure2(*fig2, out / "figure2.png")
    report = {
        "config": config.to_dict(),
        "evaluation": {"patches": len(ev), "of": n_all, "classes": ev.counts(),
                       "pixel_patches": int(len(lesion)),
                       "images": sorted(set(ev.images.tolist()))},
        "tables": tables,
        "models": {n: {"key": r.entry.key, "architecture": r.entry.architecture,
                       "parameters": r.parameters, "train_seconds": r.train_seconds,
                       "eval_seconds": r.eval_seconds, "checkpoint": r.checkpoint,
                       "roc": r.rocs} for n, r in results.items()},
    }
    written["json"] = write_json_report(report, out / "report.json")
    return written


def _write_tables(tables: Mapping[str, Mapping], out: Path) -> dict[str, Path]:
    """Each non-empty table as ``<key>.md`` and ``<key>.csv``; kind (``'table2_md'``) -> path."""
    written: dict[str, Path] = {}
    for key, rows in tables.items():
        if not rows:
            continue
        for ext, fmt in (("md", "markdown"), ("csv", "csv")):
            p = out / f"{key}.{ext}"
            p.write_text(render_comparison_table(key, rows, fmt=fmt))
            written[f"{key}_{ext}"] = p
    return written
