"""The one checkpoint format, and :func:`load_model`.

A checkpoint is a single ``.safetensors`` file (safetensors never runs code when read):

- tensors ``model.<name>``: the network's ``state_dict``;
- optionally ``optim.<param index>.<key>`` and ``rng.torch``: the Adam state and the torch RNG,
  for an exact resume;
- string metadata ``napari_mcdet``: JSON with the format name and version, the architecture
  (``'mcdet'`` or a baseline name) and its configuration, the pixel spacing (mm) and patch size
  the model was trained at, the normalisation, class names, the training recipe, the package
  version, the step reached and the metrics.

Files are written atomically (a temporary file in the same folder, then ``os.replace``), so a
crash or Ctrl-C never leaves a half-written checkpoint in place of a good one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._version import __version__
from ..classes import CLASS_NAMES
from .paths import checkpoint_path

FORMAT = "napari-mcdet-checkpoint"
FORMAT_VERSION = 1
#: The normalisation every model of this package expects (napari_mcdet.data.normalize).
NORMALIZATION = "normalize_image-v1"
DEFAULT_MODEL = "default.safetensors"


class CheckpointError(ValueError):
    """A file that is not a valid napari-mcdet checkpoint (named, with the reason and the fix)."""


@dataclass
class TrainedModel:
    """A network with everything needed to use it on a new image.

    Attributes
    ----------
    network : torch.nn.Module
        In eval mode, on the CPU unless moved.
    architecture : str
        ``'mcdet'`` (:class:`~napari_mcdet.nn.MCDetNet`) or a baseline name.
    config : dict
        The architecture's configuration (``MCDetConfig.to_dict()`` or ``BaselineConfig``).
    pixel_spacing : (float, float)
        mm per pixel of the images the network was trained at; inputs are resampled to it.
    patch_size : int
        Training patch side, pixels at ``pixel_spacing``.
    metadata : dict
        Normalisation, class names, training recipe, package version, step, metrics, path.
    """

    network: nn.Module
    architecture: str
    config: dict[str, Any]
    pixel_spacing: tuple[float, float]
    patch_size: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def is_segmenter(self) -> bool:
        return self.architecture == "mcdet" and bool(self.config.get("segmentation", True))


def build_network(architecture: str, config: dict[str, Any]) -> nn.Module:
    """Rebuild an untrained network from its architecture name and configuration."""
    if architecture == "mcdet":
        from ..nn import MCDetConfig, MCDetNet

        return MCDetNet(MCDetConfig.from_dict(dict(config)))
    from ..nn.baselines import BaselineConfig, build_baseline

    cfg = BaselineConfig.from_dict({"name": architecture, **dict(config)})
    return build_baseline(cfg.name, in_channels=cfg.in_channels, num_classes=cfg.num_classes)


def architecture_of(network: nn.Module) -> tuple[str, dict[str, Any]]:
    """``(architecture, config dict)`` of a network built by this package."""
    from ..nn import MCDetNet

    if isinstance(network, MCDetNet):
        return "mcdet", network.config.to_dict()
    from ..nn.baselines import BaselineConfig

    cfg = getattr(network, "config", None)
    if not isinstance(cfg, BaselineConfig):
        raise TypeError(f"cannot checkpoint a {type(network).__name__}: build it with "
                        "napari_mcdet.nn.MCDetNet or napari_mcdet.nn.build_baseline")
    return cfg.name, cfg.to_dict()


def _atomic_save(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; a checkpoint is a normal file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: The largest safetensors JSON header accepted (the library's own limit is 100 MB).
_MAX_HEADER = 100_000_000


def _looks_pickled(path: Path) -> bool:
    """True for a torch zip archive or a raw pickle, judged by the file's structure.

    A safetensors file starts with its header length (8 bytes, little-endian) and then the
    JSON header itself, so any first byte is possible there (0x80 included, the pickle
    PROTO opcode); the file counts as a pickle only when it does not parse as that layout.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(9)
    if head[:4] == b"PK\x03\x04":
        return True
    if len(head) == 9:
        n = int.from_bytes(head[:8], "little")
        if 2 <= n <= min(size - 8, _MAX_HEADER) and head[8:9] == b"{":
            return False
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def save_checkpoint(
    path: str | Path,
    network: nn.Module,
    *,
    pixel_spacing: tuple[float, float],
    patch_size: int,
    optimizer: torch.optim.Optimizer | None = None,
    step: int = 0,
    metrics: dict[str, Any] | None = None,
    recipe: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically; see the module docstring for the layout.

    ``network`` may be wrapped in DistributedDataParallel; its ``module`` is saved.
    """
    path = Path(path)
    net = getattr(network, "module", network)
    architecture, config = architecture_of(net)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "config": config,
        "pixel_spacing": [float(s) for s in pixel_spacing],
        "patch_size": int(patch_size),
        "normalization": NORMALIZATION,
        "class_names": list(CLASS_NAMES),
        "package_version": __version__,
        "step": int(step),
        "metrics": metrics or {},
        "recipe": recipe or {},
        **(extra or {}),
    }
    if optimizer is not None:
        state = optimizer.state_dict()
        for idx, pstate in state["state"].items():
            for key, value in pstate.items():
                t = value if torch.is_tensor(value) else torch.tensor(value)
                tensors[f"optim.{idx}.{key}"] = t.detach().cpu().contiguous()
        meta["optimizer"] = {"class": type(optimizer).__name__,
                             "param_groups": state["param_groups"]}
        tensors["rng.torch"] = torch.get_rng_state()
    _atomic_save(tensors, {"napari_mcdet": json.dumps(meta)}, path)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint's metadata without reading its tensors.

    ``path`` may be ``'default'`` (the bundled default model,
    :func:`~napari_mcdet.models.paths.checkpoint_path`).

    Raises
    ------
    FileNotFoundError
        No such file.
    CheckpointError
        A folder, a truncated or corrupt file, a pickle (``.pt``/``.pth``: never unpickled), a
        safetensors file written by something else, or metadata that is damaged
        (:func:`check_metadata`).
    """
    from safetensors import SafetensorError, safe_open

    path = checkpoint_path(path)
    if _looks_pickled(path):
        raise CheckpointError(
            f"{path} is a pickled PyTorch file (.pt/.pth): napari-mcdet never unpickles files, "
            "since a pickle can run arbitrary code. Convert it in a trusted session with "
            "napari_mcdet.models.checkpoint.save_checkpoint, or train with `mcdet train`."
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise _unreadable(path, err) from err
    if "napari_mcdet" not in raw:
        raise CheckpointError(
            f"{path} is a safetensors file but not a napari-mcdet checkpoint (no 'napari_mcdet' "
            "metadata); load weights from other tools into a network yourself, then save_checkpoint"
        )
    try:
        meta = json.loads(raw["napari_mcdet"])
    except (json.JSONDecodeError, RecursionError) as err:
        raise CheckpointError(
            f"{path}: its 'napari_mcdet' metadata is not valid JSON ({err}); the file was edited "
            "or damaged: copy it again, or re-save the weights with save_checkpoint"
        ) from err
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"{path}: its 'napari_mcdet' metadata is a JSON {type(meta).__name__}, not an object; "
            "the file was edited or damaged: copy it again, or re-save it with save_checkpoint"
        )
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {meta.get('format')!r}")
    check_metadata(path, meta)
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer napari-mcdet "
                              f"({meta.get('package_version')}): upgrade the package")
    return meta


def _unreadable(path: Path, err: Exception) -> CheckpointError:
    return CheckpointError(
        f"{path} is not a readable safetensors checkpoint ({err}); the file may be truncated "
        "or corrupt: copy it again or retrain"
    )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_metadata(path: str | Path, meta: dict[str, Any]) -> None:
    """Refuse metadata whose format version, pixel spacing, patch size or step cannot be what
    :func:`save_checkpoint` writes, naming the key: a damaged value would otherwise surface
    later as a fault of the image being processed.

    Raises
    ------
    CheckpointError
        ``format_version`` or ``step`` not a whole number >= 0, ``pixel_spacing`` not two
        finite positive numbers (mm), ``patch_size`` not a whole number >= 1.
    """
    def refuse(key: str, want: str) -> CheckpointError:
        return CheckpointError(
            f"{path}: its metadata key {key!r} is {meta.get(key)!r}, not {want}; the file was "
            "edited or damaged: copy it again, or re-save the weights with save_checkpoint")

    for key in ("format_version", "step"):
        if key in meta and not (_whole(meta[key]) and meta[key] >= 0):
            raise refuse(key, "a whole number >= 0")
    spacing = meta.get("pixel_spacing")
    if not (isinstance(spacing, list) and len(spacing) == 2
            and all(isinstance(s, (int, float)) and not isinstance(s, bool)
                    and math.isfinite(s) and s > 0 for s in spacing)):
        raise refuse("pixel_spacing", "two finite positive numbers (mm per pixel: row, column)")
    if not (_whole(meta.get("patch_size")) and meta["patch_size"] >= 1):
        raise refuse("patch_size", "a whole number of pixels >= 1")


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint's tensors and metadata, refusing anything that is not one.

    ``path`` may be ``'default'`` (the bundled default model).

    Raises
    ------
    FileNotFoundError
        No such file.
    CheckpointError
        As :func:`read_metadata`.
    """
    from safetensors import SafetensorError, safe_open

    meta = read_metadata(path)
    path = checkpoint_path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise _unreadable(path, err) from err
    return tensors, meta


def model_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}


def optimizer_state(
    tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> dict[str, Any] | None:
    """An optimizer ``state_dict`` rebuilt from a checkpoint, or None when it has none."""
    if "optimizer" not in meta:
        return None
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, key = k.split(".", 2)
            state.setdefault(int(idx), {})[key] = v
    return {"state": state, "param_groups": meta["optimizer"]["param_groups"]}


def default_model_path() -> Path:
    """Path of the bundled default model inside the installed package."""
    return Path(str(resources.files("napari_mcdet.models").joinpath(DEFAULT_MODEL)))


def check_architecture(path: Path, meta: dict[str, Any], state: dict[str, torch.Tensor]) -> None:
    """Refuse a checkpoint whose declared architecture cannot hold its stored weights.

    Runs before the network is built for real: the declared configuration is built on torch's
    ``meta`` device (shapes only, no memory), so a damaged or hostile configuration (a
    hundredfold width, say) costs nothing and is named instead of filling the memory.

    Raises
    ------
    CheckpointError
        No or an unknown architecture, a configuration that is not an object, or shapes that
        disagree with the stored tensors.
    """
    from ..nn.baselines import BASELINE_NAMES

    architecture = meta.get("architecture")
    known = ("mcdet", *BASELINE_NAMES)
    if architecture not in known:
        raise CheckpointError(
            f"{path} declares the architecture {architecture!r}, which this napari-mcdet does "
            f"not know (known: {', '.join(known)}); upgrade napari-mcdet, or use a checkpoint "
            "written by it"
        )
    config = meta.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{path}: its metadata has no architecture configuration ('config' is "
            f"{type(config).__name__}); the file was edited or damaged: copy it again"
        )
    try:
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in build_network(architecture, config)
                      .state_dict().items()}
    except NotImplementedError:
        # constructors that read tensor values cannot run on the meta device; for those the
        # widths in the configuration must at least fit the stored tensors
        largest = max((max(v.shape, default=1) for v in state.values()), default=0)
        wide = {k: v for k, v in config.items()
                if isinstance(v, int) and not isinstance(v, bool) and v > largest}
        if wide:
            raise CheckpointError(
                f"{path}: the configuration {wide} exceeds every stored tensor (largest "
                f"dimension {largest}); the metadata was edited or damaged: copy the file again"
            ) from None
        return
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"{path}: its {architecture} configuration is invalid ({err}); the metadata was "
            "edited or damaged: copy the file again or retrain"
        ) from err
    stored = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(shapes) - set(stored))
    unexpected = sorted(set(stored) - set(shapes))
    differ = [k for k in shapes if k in stored and shapes[k] != stored[k]]
    if missing or unexpected or differ:
        detail = "; ".join(
            part for part in (
                f"{len(missing)} tensors missing (e.g. {missing[0]})" if missing else "",
                f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
                (f"{len(differ)} of other shapes (e.g. {differ[0]}: the configuration says "
                 f"{list(shapes[differ[0]])}, the file holds {list(stored[differ[0]])})")
                if differ else "",
            ) if part
        )
        raise CheckpointError(
            f"{path}: the weights do not match the architecture it declares ({detail}); the "
            "metadata or the weights were edited or damaged: copy the file again or retrain"
        )


def load_model(
    path: str | Path | None = None, *, device: str | torch.device = "cpu"
) -> TrainedModel:
    """Load a checkpoint (the bundled default model when ``path`` is None or ``'default'``).

    Never executes code from the file (safetensors only). Raises :class:`CheckpointError` with
    the reason for a truncated, foreign, damaged or mismatched file.
    """
    path = checkpoint_path(path)
    tensors, meta = read_checkpoint(path)
    state = model_state(tensors)
    check_architecture(path, meta, state)
    try:
        network = build_network(meta["architecture"], meta["config"])
        network.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"{path}: the weights do not match the architecture it declares ({err})"
        ) from err
    network.eval().to(device)
    return TrainedModel(
        network=network,
        architecture=meta["architecture"],
        config=meta["config"],
        pixel_spacing=tuple(meta["pixel_spacing"]),
        patch_size=int(meta["patch_size"]),
        metadata={**{k: v for k, v in meta.items() if k not in ("config",)}, "path": str(path)},
    )


def export_model(
    src: str | Path, dst: str | Path, *, metrics: dict[str, Any] | None = None
) -> Path:
    """Re-save a training checkpoint as a final model: weights and metadata, without the
    optimizer state and RNG (a third of the size); ``metrics`` are merged into its metadata."""
    tensors, meta = read_checkpoint(src)
    meta = {k: v for k, v in meta.items() if k != "optimizer"}
    meta["metrics"] = {**meta.get("metrics", {}), **(metrics or {})}
    meta["exported_from_step"] = meta.get("step")
    weights = {k: v.contiguous() for k, v in tensors.items() if k.startswith("model.")}
    _atomic_save(weights, {"napari_mcdet": json.dumps(meta)}, Path(dst))
    return Path(dst)


#: Metadata key of the decoder gate, chosen for one network's gate scores (``mcdet calibrate
#: MODEL NORMALS... --gate``), as the operating points are for its probabilities.
GATE_KEY = "decoder_gate"
#: Metadata keys of the operating points: for plain maps, and for mirror-averaged ones.
OPERATING_POINT_KEYS = ("operating_point", "operating_point_mirror")
#: Metadata ``mcdet calibrate`` writes for one network's maps; a network made from others (an
#: average, an interpolation, new BatchNorm statistics) needs its own.
CALIBRATION_KEYS = (GATE_KEY, *OPERATING_POINT_KEYS)
#: Metadata key of the images a model was trained on: ``{'modality': 'film' or 'digital',
#: 'pixel_spacing': [row_mm, col_mm], 'data': 'mini-MIAS normals'}``; detection warns on an image
#: from elsewhere (:mod:`napari_mcdet.infer.domain`).
TRAINING_DOMAIN_KEY = "training_domain"


def _weighted_state(paths: list[str | Path], weights: list[float], *, same: tuple[str, ...],
                    why: str) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[Any]]:
    """The weighted mean of the checkpoints' ``model.`` tensors, the last one's metadata and the
    step of each.

    Floating-point tensors (BatchNorm running statistics included) are summed in float64,
    divided by the sum of the weights and cast back; integer tensors (BatchNorm step counts) are
    the last checkpoint's. Every checkpoint must match the first on the metadata keys ``same``
    and on its tensors' names and shapes; ``why`` ends the refusal (what the function is for).
    The metadata loses the optimizer state, the metrics and :data:`CALIBRATION_KEYS`: they
    describe the network that was merged, not the merged one.
    """
    total: dict[str, torch.Tensor] = {}
    first_meta: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    steps = []
    for path, w in zip(paths, weights, strict=True):
        tensors, meta = read_checkpoint(path)
        state = model_state(tensors)
        steps.append(meta.get("step"))
        if not total:
            first_meta = meta
            total = {k: torch.zeros_like(v, dtype=torch.float64) if v.is_floating_point()
                     else v.clone() for k, v in state.items()}
            dtypes = {k: v.dtype for k, v in state.items()}
        for key in same:
            if meta.get(key) != first_meta.get(key):
                raise CheckpointError(
                    f"{path}: its {key} ({meta.get(key)!r}) differs from {paths[0]}'s "
                    f"({first_meta.get(key)!r}); {why}")
        if state.keys() != total.keys() or any(state[k].shape != total[k].shape for k in state):
            raise CheckpointError(f"{path}: its tensors differ from {paths[0]}'s; {why}")
        check_finite(path, state, fix="pass a checkpoint saved before training diverged")
        for k, v in state.items():
            total[k] = total[k] + float(w) * v.double() if v.is_floating_point() else v.clone()
    norm = float(sum(weights))
    weights_out = {f"model.{k}": ((v / norm).to(dtypes[k]) if dtypes[k].is_floating_point
                                  else v).contiguous() for k, v in total.items()}
    # a finite sum can still overflow a narrow dtype when cast back
    check_finite(" + ".join(str(p) for p in paths), {k[len("model."):]: v
                                                      for k, v in weights_out.items()},
                  fix="the merged weights overflow their dtype; merge other checkpoints")
    meta = {k: v for k, v in meta.items()
            if k not in ("optimizer", "path", *CALIBRATION_KEYS)}
    meta["metrics"] = {}
    return weights_out, meta, steps


def check_finite(path: str | Path, state: dict[str, torch.Tensor], *, fix: str) -> None:
    """Refuse weights holding NaN or infinity (any merge with them is NaN or infinite too),
    naming ``path`` and ending with ``fix``.

    Raises
    ------
    CheckpointError
        A floating-point tensor of ``state`` holds a non-finite value.
    """
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(
            f"{path}: {len(bad)} of its tensors hold NaN or infinite values (e.g. {bad[0]}); "
            f"{fix}")


#: Metadata of a model made from others: not a kept step of one training run.
_MERGE_KEYS = ("averaged_from", "interpolated_from")
#: The training recipe's keys that tell runs apart: where its steps were written, its seed and
#: the model it started from. Every other key may change when a run is resumed.
RUN_IDENTITY_KEYS = ("out_dir", "seed", "init")


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, hex: a model's identity (merging refuses copies; a batch
    resumes only on outputs of the same model)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_one_run(paths: list[str | Path]) -> None:
    """Refuse a list of checkpoints that are not distinct kept steps of one training run.

    The rule: no file twice (by resolved path or by content), no model made from others
    (``averaged_from``, ``interpolated_from``), and the same :data:`RUN_IDENTITY_KEYS` in every
    training recipe. Architecture, configuration and grid are compared with the weights.

    Raises
    ------
    CheckpointError
        Naming the two files concerned and the fix.
    """
    fix = "average the step_*.safetensors files that one run kept (runs/NAME/), each once"
    seen: dict[Path, Path] = {}
    digests: dict[str, Path] = {}
    first: tuple[Path, dict[str, Any]] | None = None
    for given in paths:
        path = checkpoint_path(given)
        real = path.resolve()
        if real in seen:
            twice = (f"{path} is given twice" if str(seen[real]) == str(path)
                     else f"{path} and {seen[real]} are the same file")
            raise CheckpointError(f"{twice}; {fix}")
        seen[real] = path
        digest = file_sha256(path)
        if digest in digests:
            raise CheckpointError(
                f"{path} has the same contents as {digests[digest]} (a copy); {fix}")
        digests[digest] = path
        meta = read_metadata(path)
        merged = [k for k in _MERGE_KEYS if k in meta]
        if merged:
            raise CheckpointError(
                f"{path} is a model made from others ({merged[0]}), not a kept step of a run; "
                f"{fix}")
        recipe = meta.get("recipe") if isinstance(meta.get("recipe"), dict) else {}
        if first is None:
            first = (path, recipe)
            continue
        differ = [k for k in RUN_IDENTITY_KEYS if recipe.get(k) != first[1].get(k)]
        if differ:
            k = differ[0]
            raise CheckpointError(
                f"{path} and {first[0]} come from different runs (recipe {k}: "
                f"{recipe.get(k)!r} vs {first[1].get(k)!r}); {fix}")


def average_checkpoints(paths: list[str | Path], dst: str | Path) -> Path:
    """Average the weights of several checkpoints of one run into a final model (stochastic
    weight averaging over kept steps; Izmailov et al. 2018).

    Floating-point tensors, BatchNorm running statistics included, are averaged uniformly (as
    weight-averaging "soups" do; the statistics are not re-estimated); integer tensors (BatchNorm
    step counts) are taken from the last checkpoint. The metadata is the last checkpoint's,
    without optimizer state, metrics or calibration (the average has not been validated; see
    :data:`CALIBRATION_KEYS`), with ``averaged_from``: the name and step of each source.

    Parameters
    ----------
    paths : list of path
        Two or more checkpoints of the same architecture, configuration, pixel spacing and patch
        size, in the order of their steps.
    dst : path
        Where to write the averaged model (atomically).

    Raises
    ------
    CheckpointError
        Fewer than two paths, checkpoints that are not distinct kept steps of one run
        (:func:`check_one_run`), that do not share architecture, grid or tensors, or that hold
        non-finite weights.
    """
    if len(paths) < 2:
        raise CheckpointError(f"averaging needs two or more checkpoints, got {len(paths)}: "
                              "pass the kept steps of a run (runs/NAME/step_*.safetensors)")
    check_one_run(list(paths))
    n = len(paths)
    weights, meta, steps = _weighted_state(
        list(paths), [1.0] * n, same=("architecture", "config", "pixel_spacing", "patch_size"),
        why="average checkpoints of one run only")
    meta["averaged_from"] = [{"name": Path(p).name, "step": step}
                             for p, step in zip(paths, steps, strict=True)]
    _atomic_save(weights, {"napari_mcdet": json.dumps(meta)}, Path(dst))
    return Path(dst)


def interpolate_models(start: str | Path, finetuned: str | Path, dst: str | Path, *,
                       weight: float) -> Path:
    """Interpolate a fine-tuned model's weights towards the model it started from (WiSE-FT).

    ``(1 - weight) * start + weight * finetuned``, tensor by tensor (Wortsman et al. 2022,
    "Robust fine-tuning of zero-shot models"): on the straight line between a model and its
    fine-tune, intermediate points often keep what the start model did well while gaining
    what the fine-tune learnt. Both models must share the architecture, its configuration and
    the pixel spacing; the patch size may differ (a fine-tune may continue at larger patches).
    Integer tensors and the metadata are the fine-tune's, without optimizer state, metrics or
    calibration (:data:`CALIBRATION_KEYS`: calibrate the result), with ``interpolated_from``:
    the name, step and weight of each model. BatchNorm statistics are interpolated too:
    re-estimate them (:func:`napari_mcdet.train.swa.refresh_batchnorm`).

    Parameters
    ----------
    start, finetuned : path
        The model the fine-tune started from, and the fine-tuned model.
    dst : path
        Where to write the interpolated model (atomically).
    weight : float
        The fine-tune's share, in [0, 1]: 0 gives ``start``'s weights, 1 ``finetuned``'s.

    Raises
    ------
    ValueError
        ``weight`` outside [0, 1].
    CheckpointError
        Models that do not share architecture, configuration, pixel spacing or tensors, or
        that hold NaN or infinite weights (nothing is written then).
    """
    w = float(weight)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"the fine-tune's weight must be in [0, 1], got {weight}")
    paths = [start, finetuned]
    weights, meta, steps = _weighted_state(
        paths, [1.0 - w, w], same=("architecture", "config", "pixel_spacing"),
        why="interpolate a fine-tune with the model it started from")
    sources = [{"name": Path(p).name, "step": step, "weight": share}
               for p, step, share in zip(paths, steps, (1.0 - w, w), strict=True)]
    # the fine-tune's own provenance moves under its entry; its BatchNorm statistics are not
    # this model's
    if "averaged_from" in meta:
        sources[1]["averaged_from"] = meta.pop("averaged_from")
    meta.pop("batchnorm_refreshed", None)
    meta["interpolated_from"] = sources
    _atomic_save(weights, {"napari_mcdet": json.dumps(meta)}, Path(dst))
    return Path(dst)


def update_metadata(src: str | Path, updates: dict[str, Any], *,
                    dst: str | Path | None = None) -> Path:
    """Re-save a checkpoint with ``updates`` merged into its metadata (tensors untouched).

    Written atomically to ``dst`` (``src`` itself by default), so the old file stays whole until
    the new one is in place.
    """
    tensors, meta = read_checkpoint(src)
    meta = {**meta, **updates}
    meta.pop("path", None)
    out = Path(dst) if dst is not None else Path(src)
    _atomic_save({k: v.contiguous() for k, v in tensors.items()},
                 {"napari_mcdet": json.dumps(meta)}, out)
    return out


def calibration_metadata(point: dict[str, Any], *, images: list[str | Path],
                         gate: float | None = None) -> dict[str, Any]:
    """The metadata a calibration stores in a model: its operating point, and its decoder gate
    when one was chosen.

    ``mcdet calibrate`` and the Detect panel both store this, so a model calibrated either way
    holds the same keys; merge it with :func:`update_metadata` (a file) or into
    :attr:`TrainedModel.metadata` (a model in memory).

    Parameters
    ----------
    point : dict
        The operating point of :func:`napari_mcdet.infer.calibrate.calibrate`; its
        ``point['tiling']['mirror']`` says which key it goes under
        (:data:`OPERATING_POINT_KEYS`: plain or mirror-averaged maps).
    images : list of str or Path, keyword-only
        The normal images it was calibrated on; their file names are recorded.
    gate : float, keyword-only, optional
        The decoder gate chosen before it (a calcification probability in [0, 1]), stored under
        :data:`GATE_KEY`; None when no gate was chosen (the stored one, if any, stays).

    Returns
    -------
    dict
        ``{operating point key: {**point, 'images': [names]}}``, plus ``{GATE_KEY: gate}``.
    """
    mirror = bool(point["tiling"]["mirror"])
    updates: dict[str, Any] = {
        OPERATING_POINT_KEYS[1 if mirror else 0]: {**point,
                                                   "images": [Path(p).name for p in images]}}
    if gate is not None:
        updates[GATE_KEY] = float(gate)
    return updates
