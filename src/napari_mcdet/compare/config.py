"""What a comparison study is: its models (:class:`ModelEntry`) and its configuration
(:class:`CompareConfig`, a YAML file), checked when they are built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
            from ..nn.mcdetnet import MCDetConfig

            return MCDetConfig.variant(self.variant or "MuTMuS", **self.model).to_dict()
        from ..nn.baselines import BASELINE_NAMES

        if self.architecture not in BASELINE_NAMES:
            raise ValueError(f"model {self.name!r}: unknown architecture "
                             f"{self.architecture!r}; choose 'mcdet' or one of {BASELINE_NAMES}")
        return dict(self.model)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelEntry:
        """An entry from its configuration mapping (``architecture`` defaults to ``'mcdet'``)."""
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
        """The evaluation data's folder (the part of ``data`` after ``'minimias:'``)."""
        return Path(self.data.partition(":")[2])

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain data (the model entries as dicts), for YAML or JSON."""
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CompareConfig:
        """A configuration from its mapping; unknown or missing keys are errors."""
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
        from ..train.config import TrainConfig

        d = {**self.train, **entry.train}
        d.update(architecture=entry.architecture, model=entry.model_dict(),
                 out_dir=str(out_dir), real_val=None, seed=int(self.seed))
        d.setdefault("epoch_steps", int(d.get("steps", 1000)))
        return TrainConfig.from_dict(d)
