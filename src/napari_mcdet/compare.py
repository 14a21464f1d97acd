"""The paper's comparison study in one call: baselines, ablations, Grad-CAM, tables and figures.

:func:`run_comparison` trains every model of a :class:`CompareConfig` with the one training engine
(:class:`napari_mcdet.train.loop.Trainer`: same synthetic patches, augmentations and seed for every
model; classification loss only for the baseline classifiers), scores every model on the same real
evaluation patches (:func:`evaluation_set`, the protocol of
:func:`napari_mcdet.train.loop.real_validation_patches`), and writes

- ``table2.md/.csv``: patch ``AUC_MCs`` and ``AUC_mlg`` of every model (the paper's Table 2);
- ``table3.md/.csv``: the ablation of our network, multi/mono-task x multi/mono-scale (Table 3);
- ``table4.md/.csv``: pixel ``DSC``/``Rec``/``Prec`` for benign (B) and malignant (M) of our
  segmentation (finest-scale sigmoid) and of the Grad-CAM maps of chosen classifiers, all
  binarised with Li's threshold (Table 4);
- ``roc_mcs.png``, ``roc_mlg.png``: ROC curves of every model;
- ``figure2.png``: chosen cases, input with the ground-truth contour, the Grad-CAM maps of two
  classifiers and our segmentation (the paper's Figure 2);
- ``report.json``: everything above plus training times and the evaluation set's make-up.

Runs are deterministic: the same configuration and seed give the same tables (the CSV files
are compared byte for byte in the tests); timings go to ``report.json`` only.

No napari here; matplotlib is imported inside the plotting function (object API, Agg).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .classes import BENIGN, CLASS_NAMES, MALIGNANT, SOFT_TISSUE

__all__ = [
    "PAPER_TABLE2",
    "PAPER_TABLE3",
    "PAPER_TABLE4",
    "CompareConfig",
    "EvaluationSet",
    "ModelEntry",
    "ModelResult",
    "evaluation_set",
    "plot_figure2",
    "run_comparison",
]

#: The paper's Table 2 (INbreast validation): (AUC_MCs, AUC_mlg) per model key.
PAPER_TABLE2: dict[str, tuple[float, float]] = {
    "resnet22": (0.73, 0.89),
    "resnet22-separable": (0.88, 0.93),
    "convnextv2-atto": (0.87, 0.93),
    "convnextv2-zepto": (0.89, 0.91),
    "convnextv2-yocto": (0.84, 0.91),
    "MuTMuS": (0.90, 0.94),
}
#: The paper's Table 3 (ablation, INbreast validation): (AUC_MCs, AUC_mlg).
PAPER_TABLE3: dict[str, tuple[float, float]] = {
    "MuTMuS": (0.90, 0.94),
    "MoTMuS": (0.84, 0.91),
    "MuTMoS": (0.79, 0.77),
}
#: The paper's Table 4 (INbreast validation): DSC_B, Rec_B, Prec_B, DSC_M, Rec_M, Prec_M.
PAPER_TABLE4: dict[str, tuple[float, ...]] = {
    "resnet22-separable": (0.03, 0.46, 0.02, 0.36, 0.74, 0.36),
    "convnextv2-atto": (0.02, 0.26, 0.02, 0.18, 0.32, 0.19),
    "MuTMuS": (0.17, 0.57, 0.13, 0.46, 0.74, 0.46),
}
TABLE4_KEYS = ("DSC_B", "Rec_B", "Prec_B", "DSC_M", "Rec_M", "Prec_M")
#: The ablation variants of our network (Table 3): name -> (multi-task, multi-scale).
ABLATIONS = {
    "MuTMuS": (True, True),
    "MoTMuS": (False, True),
    "MuTMoS": (True, False),
    "MoTMoS": (False, False),
}
_PAPER_DS = "paper (INbreast val.)"
#: Keys of TrainConfig a comparison sets itself (per model), not taken from ``train``.
_OWN_KEYS = ("architecture", "model", "out_dir", "real_val", "seed")


@dataclass
class ModelEntry:
    """One model of the study.

    Parameters
    ----------
    name : str
        Row label in the tables (unique).
    architecture : str
        ``'mcdet'`` or a baseline name (``'resnet22'``, ``'resnet22-separable'``,
        ``'convnextv2-atto'``, ``'convnextv2-zepto'``, ``'convnextv2-yocto'``).
    variant : str or None
        For ``'mcdet'``: ``'MuTMuS'``, ``'MoTMuS'``, ``'MuTMoS'``, ``'MoTMoS'`` or ``'UNet3+'``
        (:meth:`napari_mcdet.nn.MCDetConfig.variant`).
    model : dict
        Extra ``MCDetConfig`` (or ``BaselineConfig``) fields.
    train : dict
        Per-model overrides of the shared training keys (``steps``, ``lr``, ``batch_size``...).
    """

    name: str
    architecture: str = "mcdet"
    variant: str | None = None
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("every model entry needs a non-empty 'name'")
        if self.variant is not None and self.architecture != "mcdet":
            raise ValueError(f"model {self.name!r}: 'variant' applies to architecture 'mcdet' "
                             f"only, not {self.architecture!r}")
        bad = sorted(set(self.train) & set(_OWN_KEYS))
        if bad:
            raise ValueError(f"model {self.name!r}: {bad} are set by the comparison itself; "
                             "use 'architecture', 'variant' and 'model' of the entry")
        self.model_dict()  # unknown architecture, variant or model keys fail here

    @property
    def key(self) -> str:
        """The paper's name of this model (variant, or architecture)."""
        return self.variant or ("MuTMuS" if self.architecture == "mcdet" else self.architecture)

    def model_dict(self) -> dict[str, Any]:
        """The architecture's configuration dict (MCDetConfig/BaselineConfig fields)."""
        if self.architecture == "mcdet":
            from .nn.mcdetnet import MCDetConfig

            return MCDetConfig.variant(self.variant or "MuTMuS", **self.model).to_dict()
        from .nn.baselines import BASELINE_NAMES

        if self.architecture not in BASELINE_NAMES:
            raise ValueError(f"model {self.name!r}: unknown architecture "
                             f"{self.architecture!r}; choose 'mcdet' or one of {BASELINE_NAMES}")
        return dict(self.model)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelEntry:
        if not isinstance(d, Mapping):
            raise TypeError(f"a model entry must be a mapping, got {type(d).__name__}")
        known = {"name", "architecture", "variant", "model", "train"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model entry keys {unknown}; known: {sorted(known)}")
        d = dict(d)
        if "architecture" not in d:
            d["architecture"] = "mcdet"
        return cls(**d)


@dataclass
class CompareConfig:
    """A comparison study (saved as YAML; paths relative to the file).

    Parameters
    ----------
    data : str
        ``'minimias:<folder>'``: real evaluation data (calcification cases and the ``val`` normals
        of ``train['split']``).
    train : dict
        :class:`~napari_mcdet.train.config.TrainConfig` keys shared by every model (negatives,
        split, pixel_spacing, patch_size, batch_size, steps, lr, ...).
    models : list of ModelEntry
    seed : int
        Training seed of every model, and the seed of the soft-tissue subsample.
    eval_negatives : int or None
        Keep at most this many soft-tissue evaluation patches (a seeded random subset; every
        calcified patch is kept). None keeps all.
    gradcam : list of str
        Names of two (or more) classifier entries whose Grad-CAM maps enter Table 4 and Figure 2.
    segmenter : str or None
        Name of the entry whose segmentation is "ours" in Figure 2 (default: the first entry with
        a segmentation). Every entry with a segmentation is scored in Table 4.
    figure_cases : int or list of str
        How many cases Figure 2 shows (one calcified patch per image, malignant-centred first),
        or the image names (``'mdb209'``) to show.
    batch_size : int
        Patches per forward pass when scoring.
    out_dir : str
    """

    data: str
    train: dict[str, Any]
    models: list[ModelEntry]
    seed: int = 0
    eval_negatives: int | None = 300
    gradcam: list[str] = field(default_factory=list)
    segmenter: str | None = None
    figure_cases: int | list[str] = 3
    batch_size: int = 16
    out_dir: str = "runs/compare"

    def __post_init__(self) -> None:
        self.models = [m if isinstance(m, ModelEntry) else ModelEntry.from_dict(m)
                       for m in self.models]
        if not self.models:
            raise ValueError("the comparison lists no models: add entries under 'models'")
        names = [m.name for m in self.models]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"model names must be unique, repeated: {dup}")
        bad = sorted(set(self.train) & set(_OWN_KEYS))
        if bad:
            raise ValueError(f"train keys {bad} are set per model by the comparison; remove them")
        kind, _, folder = self.data.partition(":")
        if kind != "minimias" or not folder:
            raise ValueError(f"data must look like 'minimias:<folder>', got {self.data!r}")
        if not self.train.get("split"):
            raise ValueError("train needs a 'split' file: evaluation uses its 'val' normals, "
                             "training its 'train' ones (never score on training images)")
        if self.train.get("split_set", "train") == "val":
            raise ValueError("train.split_set is 'val': the study scores on 'val' images, so it "
                             "must train on another list")
        by_name = {m.name: m for m in self.models}
        for g in self.gradcam:
            if g not in by_name:
                raise ValueError(f"gradcam names {g!r}, which is not a model; models: {names}")
            if by_name[g].architecture == "mcdet":
                raise ValueError(f"gradcam model {g!r} must be a baseline classifier")
        if self.segmenter is not None:
            if self.segmenter not in by_name:
                raise ValueError(f"segmenter {self.segmenter!r} is not a model; models: {names}")
            if not by_name[self.segmenter].model_dict().get("segmentation", False):
                raise ValueError(f"segmenter {self.segmenter!r} has no segmentation output")
        if self.eval_negatives is not None and int(self.eval_negatives) < 1:
            raise ValueError(f"eval_negatives must be a positive integer or null, "
                             f"got {self.eval_negatives}")
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")

    @property
    def folder(self) -> Path:
        return Path(self.data.partition(":")[2])

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CompareConfig:
        from dataclasses import fields

        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown comparison keys {unknown}; known: {sorted(known)}")
        for key in ("data", "train", "models"):
            if key not in d:
                raise ValueError(f"the comparison configuration needs '{key}'")
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> CompareConfig:
        """Read YAML/JSON; relative paths are relative to the file."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such comparison configuration: {path}")
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a mapping of configuration keys")
        base = path.parent

        def rel(p: str) -> str:
            return p if Path(p).is_absolute() else str((base / p).resolve())

        if data.get("out_dir"):
            data["out_dir"] = rel(data["out_dir"])
        if data.get("data") and ":" in data["data"]:
            kind, folder = data["data"].split(":", 1)
            data["data"] = f"{kind}:{rel(folder)}"
        train = dict(data.get("train") or {})
        if train.get("split"):
            train["split"] = rel(train["split"])
        if train.get("negatives"):
            negs = train["negatives"]
            train["negatives"] = [rel(n) for n in ([negs] if isinstance(negs, str) else negs)]
        data["train"] = train
        return cls.from_dict(data)

    def train_config(self, entry: ModelEntry, out_dir: Path):
        """The :class:`~napari_mcdet.train.config.TrainConfig` of one entry."""
        from .train.config import TrainConfig

        d = {**self.train, **entry.train}
        d.update(architecture=entry.architecture, model=entry.model_dict(),
                 out_dir=str(out_dir), real_val=None, seed=int(self.seed))
        d.setdefault("epoch_steps", int(d.get("steps", 1000)))
        return TrainConfig.from_dict(d)


# -- evaluation data ------------------------------------------------------------------------
@dataclass
class EvaluationSet:
    """The real evaluation patches, with what the pixel metrics and figures need.

    patches : (P, S, S) float32 normalised; labels : (P,) int64 patch classes;
    label_maps : (P, S, S) uint8 ground truth; images : (P,) str image names;
    sources : (P,) str (``'malignant-centred'`` or ``'tile'``); origins : (P, 2) int (row, col).
    """

    patches: np.ndarray
    labels: np.ndarray
    label_maps: np.ndarray
    images: np.ndarray
    sources: np.ndarray
    origins: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> EvaluationSet:
        return EvaluationSet(*(getattr(self, f)[index] for f in (
            "patches", "labels", "label_maps", "images", "sources", "origins")))

    def counts(self) -> dict[str, int]:
        return {CLASS_NAMES[c]: int(np.sum(self.labels == c)) for c in range(len(CLASS_NAMES))}


def evaluation_set(train_config) -> EvaluationSet:
    """The evaluation patches of :func:`~napari_mcdet.train.loop.real_validation_patches`, with
    their ground-truth maps and image names.

    The same images, patch list and order (malignant-centred patches, then the tiling, tiles with
    under 20 % breast and no annotation skipped); ``patches`` and ``labels`` equal what
    ``real_validation_patches(train_config)`` returns (checked in the tests).

    Parameters
    ----------
    train_config : TrainConfig
        With ``real_val = 'minimias:<folder>'``, ``split``, ``pixel_spacing``, ``patch_size``.
    """
    from .train.loop import real_validation_patches

    x, y, d = real_validation_patches(train_config, details=True)
    return EvaluationSet(x, y, d["label_maps"], d["images"], d["sources"], d["origins"])


def subsample_negatives(labels: np.ndarray, *, max_negatives: int | None,
                        seed: int) -> np.ndarray:
    """Indices (sorted) keeping every calcified patch and at most ``max_negatives`` soft-tissue
    patches, drawn with ``np.random.default_rng(seed)``."""
    labels = np.asarray(labels)
    pos = np.flatnonzero(labels != SOFT_TISSUE)
    neg = np.flatnonzero(labels == SOFT_TISSUE)
    if max_negatives is not None and len(neg) > max_negatives:
        neg = np.random.default_rng(seed).choice(neg, size=int(max_negatives), replace=False)
    return np.sort(np.concatenate([pos, neg]))


# -- results --------------------------------------------------------------------------------
@dataclass
class ModelResult:
    """What one model scored (and the maps Figure 2 needs).

    aucs : {'AUC_MCs', 'AUC_mlg'}; rocs : {'mcs', 'mlg'} -> RocCurve; pixel : Table 4 values or
    None; maps : {'benign', 'malignant'} -> (L, S, S) float32 maps on the calcified patches
    (Grad-CAM or segmentation probabilities) or None; parameters : int; train_seconds : float.
    """

    entry: ModelEntry
    aucs: dict[str, float]
    rocs: dict[str, Any]
    pixel: dict[str, float] | None
    maps: dict[str, np.ndarray] | None
    parameters: int
    train_seconds: float
    eval_seconds: float
    checkpoint: str


@contextmanager
def _deterministic():
    import torch

    was = torch.are_deterministic_algorithms_enabled()
    warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "model"


def _pixel_maps(network, entry: ModelEntry, patches: np.ndarray, seg: np.ndarray | None,
                gradcam: bool, batch_size: int) -> dict[str, np.ndarray] | None:
    """Benign and malignant maps of the calcified patches: segmentation or Grad-CAM."""
    if seg is not None:
        return {"benign": seg[:, 0], "malignant": seg[:, 1]}
    if not gradcam:
        return None
    from .nn.gradcam import grad_cam

    out = {}
    for name, cls in (("benign", BENIGN), ("malignant", MALIGNANT)):
        maps = [grad_cam(network, patches[i:i + batch_size, None], target_class=cls)
                for i in range(0, len(patches), batch_size)]
        out[name] = np.concatenate(maps) if maps else np.zeros((0, *patches.shape[1:]),
                                                                np.float32)
    return out


def _pixel_table(maps: dict[str, np.ndarray], label_maps: np.ndarray) -> dict[str, float]:
    from .metrics.pixels import binarize, pixel_metrics

    preds = [np.stack([binarize(b), binarize(m)]) for b, m in
             zip(maps["benign"], maps["malignant"])]
    return pixel_metrics(preds, list(label_maps)).summary()


def _evaluate(network, entry: ModelEntry, ev: EvaluationSet, lesion: np.ndarray, *,
              gradcam: bool, batch_size: int):
    from .infer.patches import predict_patches
    from .metrics.auc import patch_aucs, patch_roc

    probs, seg = predict_patches(network, ev.patches, batch_size=batch_size, segmentation=True)
    seg = seg[lesion] if seg is not None else None
    aucs = patch_aucs(ev.labels, probs)
    rocs = {t: patch_roc(ev.labels, probs, task=t) for t in ("mcs", "mlg")}
    maps = _pixel_maps(network, entry, ev.patches[lesion], seg, gradcam, batch_size)
    pixel = _pixel_table(maps, ev.label_maps[lesion]) if maps is not None else None
    return aucs, rocs, pixel, maps


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
    import torch

    from .nn.mcdetnet import count_parameters
    from .train.loop import Trainer

    say = progress or (lambda _msg: None)
    out = Path(out_dir or config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if steps is not None:
        if int(steps) < 1:
            raise ValueError(f"steps must be positive, got {steps}")
        config = CompareConfig.from_dict({**config.to_dict(), "train": {
            **config.train, "steps": int(steps), "epoch_steps": int(steps)},
            "models": [{**m.__dict__, "train": {k: v for k, v in m.train.items()
                                                 if k not in ("steps", "epoch_steps")}}
                       for m in config.models]})
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
            t1 = time.perf_counter()
            torch.manual_seed(config.seed)
            trainer = Trainer(cfg)
            for _ in trainer.run():
                pass
            network = trainer.network.eval()
            t2 = time.perf_counter()
            aucs, rocs, pixel, maps = _evaluate(network, entry, ev, lesion,
                                                gradcam=entry.name in config.gradcam,
                                                batch_size=config.batch_size)
            t3 = time.perf_counter()
            results[entry.name] = ModelResult(
                entry, aucs, rocs, pixel, maps, count_parameters(network), t2 - t1, t3 - t2,
                str(trainer.out_dir / "last.safetensors"))
            say(f"    AUC_MCs {aucs['AUC_MCs']:.3f}  AUC_mlg {aucs['AUC_mlg']:.3f}  "
                f"(train {t2 - t1:.0f} s, score {t3 - t2:.0f} s)")
    written = write_comparison(config, results, ev, lesion, out, n_all=len(full))
    say(f"wrote {out}")
    return {**written, "results": results, "evaluation": full, "kept": keep}


# -- tables and figures ---------------------------------------------------------------------
def _paper_row(values: tuple[float, ...] | None, keys: tuple[str, ...]) -> dict[str, float]:
    return dict(zip(keys, values)) if values else {}


def comparison_tables(config: CompareConfig, results: Mapping[str, ModelResult],
                      dataset: str) -> dict[str, dict]:
    """``{'table2', 'table3', 'table4'}`` -> ``{row: {dataset: {metric: value}}}``."""
    t2, t3, t4 = {}, {}, {}
    for name, r in results.items():
        key = r.entry.key
        t2[name] = {dataset: dict(r.aucs),
                    _PAPER_DS: _paper_row(PAPER_TABLE2.get(key), ("AUC_MCs", "AUC_mlg"))}
        if r.entry.architecture == "mcdet" and key in ABLATIONS:
            mt, ms = ABLATIONS[key]
            paper = _paper_row(PAPER_TABLE3.get(key), ("AUC_MCs", "AUC_mlg"))
            t3[name] = {"multi-task": "yes" if mt else "no", "multi-scale": "yes" if ms else "no",
                        **{f"{dataset} {k}": v for k, v in r.aucs.items()},
                        **{f"{_PAPER_DS} {k}": paper.get(k) for k in ("AUC_MCs", "AUC_mlg")}}
        if r.pixel is not None:
            how = "Grad-CAM" if r.entry.architecture != "mcdet" else "segmentation"
            t4[f"{name} ({how})"] = {dataset: dict(r.pixel),
                                     _PAPER_DS: _paper_row(PAPER_TABLE4.get(key), TABLE4_KEYS)}
    return {"table2": t2, "table3": t3, "table4": t4}


def write_comparison(config: CompareConfig, results: Mapping[str, ModelResult],
                     ev: EvaluationSet, lesion: np.ndarray, out: Path, *,
                     n_all: int) -> dict[str, Path]:
    """Write the tables (Markdown, CSV), ROC plots, Figure 2 and ``report.json`` into ``out``."""
    from .metrics.report import metrics_table, plot_roc, write_json_report

    dataset = "mini-MIAS"
    tables = comparison_tables(config, results, dataset)
    written: dict[str, Path] = {}
    for key, rows in tables.items():
        if not rows:
            continue
        for ext, fmt in (("md", "markdown"), ("csv", "csv")):
            if key == "table3":
                text = flat_table(rows, fmt=fmt)
            else:
                cols = ("AUC_MCs", "AUC_mlg") if key == "table2" else TABLE4_KEYS
                text = metrics_table(_only_filled(rows), cols, fmt=fmt)
            p = out / f"{key}.{ext}"
            p.write_text(text)
            written[f"{key}_{ext}"] = p
    for task, title in (("mcs", "AUC_MCs: calcified vs soft tissue"),
                        ("mlg", "AUC_mlg: malignant vs rest")):
        written[f"roc_{task}"] = plot_roc({n: r.rocs[task] for n, r in results.items()},
                                          out / f"roc_{task}.png",
                                          title=f"{title} ({dataset}, {len(ev)} patches)")
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


def flat_table(rows: Mapping[str, Mapping[str, Any]], *, fmt: str = "markdown",
               digits: int = 2) -> str:
    """One row per run, one column per key (in first-seen order); Markdown or CSV.

    Numbers print with ``digits`` decimals in Markdown (full precision in CSV); None and NaN
    print as ``-`` (Markdown) or an empty cell (CSV), as in :mod:`napari_mcdet.metrics.report`.
    """
    import csv
    import io

    from .metrics.report import _csv_cell, _fmt

    if fmt not in ("markdown", "csv"):
        raise ValueError(f"fmt must be 'markdown' or 'csv', got {fmt!r}")
    columns: list[str] = []
    for r in rows.values():
        columns += [c for c in r if c not in columns]
    body = [[name] + [r.get(c) for c in columns] for name, r in rows.items()]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["run", *columns])
        for b in body:
            w.writerow([_csv_cell(v) for v in b])
        return buf.getvalue()
    lines = ["| " + " | ".join(["run", *columns]) + " |",
             "|" + "|".join(["---"] + ["---:"] * len(columns)) + "|"]
    lines += ["| " + " | ".join(_fmt(v, digits) for v in b) + " |" for b in body]
    return "\n".join(lines) + "\n"


def _only_filled(rows: dict[str, dict]) -> dict[str, dict]:
    """Drop the paper column when no row has a paper value (keeps tables narrow)."""
    if any(r.get(_PAPER_DS) for r in rows.values()):
        return rows
    return {n: {k: v for k, v in r.items() if k != _PAPER_DS} for n, r in rows.items()}


def _choose_cases(config: CompareConfig, ev: EvaluationSet, lesion: np.ndarray) -> list[int]:
    """Positions in ``lesion`` of the Figure 2 cases: one calcified patch per image (the
    malignant-centred one first, else the tile with the most lesion pixels)."""
    best: dict[str, int] = {}
    for j, p in enumerate(lesion):
        name = str(ev.images[p])
        if float(np.ptp(ev.patches[p])) < 1e-6:  # a patch outside the breast shows nothing
            continue
        score = (ev.sources[p] == "malignant-centred", int(np.count_nonzero(ev.label_maps[p])))
        if name not in best:
            best[name] = j
        else:
            q = lesion[best[name]]
            old = (ev.sources[q] == "malignant-centred", int(np.count_nonzero(ev.label_maps[q])))
            if score > old:
                best[name] = j
    if isinstance(config.figure_cases, int):
        # malignant and benign cases alternately, each in name order
        by_class = [sorted(n for n, j in best.items() if ev.labels[lesion[j]] == c)
                    for c in (MALIGNANT, BENIGN)]
        names = [n for pair in zip(*by_class) for n in pair]
        names += [n for group in by_class for n in group if n not in names]
        names = names[: max(0, config.figure_cases)]
    else:
        missing = [n for n in config.figure_cases if n not in best]
        if missing:
            raise ValueError(f"figure_cases {missing} have no calcified evaluation patch; "
                             f"choose among {sorted(best)}")
        names = list(config.figure_cases)
    return [best[n] for n in names]


def figure2_panels(config: CompareConfig, results: Mapping[str, ModelResult],
                   ev: EvaluationSet, lesion: np.ndarray):
    """(patches, ground truths, titles, {column title: maps}) for :func:`plot_figure2`,
    or None when there is nothing to show."""
    cases = _choose_cases(config, ev, lesion)
    if not cases:
        return None
    columns: dict[str, np.ndarray] = {}
    for g in config.gradcam[:2]:
        r = results[g]
        columns[f"Grad-CAM {g}"] = _class_maps(r.maps, ev, lesion, cases)
    seg_name = config.segmenter or next(
        (n for n, r in results.items() if r.entry.architecture == "mcdet" and r.maps), None)
    if seg_name is not None and results[seg_name].maps is not None:
        columns[f"ours: {seg_name}"] = _class_maps(results[seg_name].maps, ev, lesion, cases)
    idx = lesion[cases]
    titles = [f"{ev.images[p]} ({CLASS_NAMES[int(ev.labels[p])]})" for p in idx]
    return ev.patches[idx], ev.label_maps[idx], titles, columns


def _class_maps(maps: dict[str, np.ndarray], ev: EvaluationSet, lesion: np.ndarray,
                cases: list[int]) -> np.ndarray:
    """Each case's map for its own patch class (benign or malignant)."""
    out = []
    for j in cases:
        label = int(ev.labels[lesion[j]])
        out.append(maps["malignant" if label == MALIGNANT else "benign"][j])
    return np.stack(out)


def plot_figure2(patches: np.ndarray, ground_truths: np.ndarray, titles: list[str],
                 columns: Mapping[str, np.ndarray], path: str | Path) -> Path:
    """The paper's Figure 2: per case (row) the input with the ground-truth contour, then each
    map (Grad-CAM heat maps, our segmentation probability) with its Li-binarised contour.

    Parameters
    ----------
    patches : ndarray of shape (K, S, S)
    ground_truths : ndarray of shape (K, S, S), labels 0/1/2
    titles : list of K str
    columns : mapping of column title -> ndarray of shape (K, S, S) in [0, 1]
    path : path of the PNG
    """
    from matplotlib.figure import Figure

    from .classes import CLASS_COLORS
    from .metrics.pixels import binarize

    k, ncol = len(patches), 1 + len(columns)
    fig = Figure(figsize=(2.3 * ncol, 2.3 * k + 0.4), dpi=110)
    axes = fig.subplots(k, ncol, squeeze=False)
    for i in range(k):
        ax = axes[i, 0]
        ax.imshow(patches[i], cmap="gray")
        for c in (BENIGN, MALIGNANT):
            truth = ground_truths[i] == c
            if truth.all():  # the lesion covers the patch: frame it
                for side in ax.spines.values():
                    side.set_color(CLASS_COLORS[c][:3])
                    side.set_linewidth(3)
            elif truth.any():
                ax.contour(truth, levels=[0.5], colors=[CLASS_COLORS[c][:3]], linewidths=1.2)
        ax.set_ylabel(titles[i], fontsize=8)
        for j, (title, maps) in enumerate(columns.items(), start=1):
            ax = axes[i, j]
            ax.imshow(patches[i], cmap="gray")
            ax.imshow(maps[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
            mask = binarize(maps[i])
            if mask.any() and not mask.all():
                ax.contour(mask, levels=[0.5], colors=["white"], linewidths=0.8)
            if i == 0:
                ax.set_title(title, fontsize=8)
        if i == 0:
            axes[0, 0].set_title("input + ground truth", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
