"""Whole-mammogram detection: tiled inference, thresholds, calcifications and clusters.

``detect(image, model)`` runs in five steps (see ``docs/detection.md``):

1. **Prepare** the image exactly as training does
   (:func:`napari_mcdet.data.prepare.prepare_image`): resample to the model's pixel spacing,
   breast mask, per-image normalisation.
2. **Tile** the prepared image with the one tiler (:func:`napari_mcdet.data.tiling.tile_grid`,
   tiles of :data:`~napari_mcdet.constants.DEFAULT_TILE` pixels overlapping by
   :data:`~napari_mcdet.constants.DEFAULT_TILE_OVERLAP` by default); tiles with too little
   breast are skipped. The others run in batches on the inference engine
   (:func:`napari_mcdet.nn.inference.inference_network`: ONNX Runtime when installed, else
   PyTorch with BatchNorm folded and channels-last; ``torch.inference_mode``, autocast on CUDA;
   per-scale outputs combined by :func:`napari_mcdet.nn.outputs.combine_scales`). With a decoder
   gate (:func:`napari_mcdet.infer.patches.gated_predictor`) the decoder runs only on the tiles
   whose bottleneck classification head is not sure they are soft tissue; the others keep that
   head's class probabilities and zero maps.
3. **Blend** the tiles' segmentation probabilities with
   :func:`~napari_mcdet.data.tiling.blend_window` into float32 accumulators (weighted sum / sum of
   weights); pixels outside the breast are set to 0.
4. **Threshold** each class at the model's calibrated operating point (an absolute probability
   chosen on normal images for a target number of false clusters per image, stored in the
   checkpoint by :func:`napari_mcdet.infer.calibrate.calibrate`), or Li's threshold, or a fixed
   one.
5. **Objects** on the model's grid (:mod:`napari_mcdet.infer.candidates`): local maxima with
   non-maximum suppression away from the skin line and on responses no larger than a
   calcification -> calcifications; complete-linkage groups of at least 3 within 1 cm ->
   clusters, scored with the classification heads of the tiles under them. Then everything is
   moved back to the input grid (probabilities by linear interpolation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import BENIGN, MALIGNANT
from ..constants import (  # noqa: F401  (public here as well)
    DEFAULT_BATCH_SIZE,
    DEFAULT_ENGINE,
    DEFAULT_MIN_BREAST_FRACTION,
    DEFAULT_MIN_THRESHOLD,
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    DEFAULT_TILE_OVERLAP,
)
from ..data.threshold import li_threshold
from ..data.tiling import DetectionCancelled, run_tiles  # noqa: F401  (callers catch it here)
from ..mammogram import Mammogram
from ..spacing import as_spacing
from .candidates import (
    DEFAULT_CLUSTER_DIAMETER_MM,
    DEFAULT_CLUSTER_MIN_COUNT,
    DEFAULT_MAX_AREA_MM2,
    DEFAULT_NMS_MM,
    DEFAULT_SKIN_MARGIN_MM,
)


@dataclass
class Detection:
    """The result of :func:`detect`, on the input image's grid.

    Attributes
    ----------
    probabilities : ndarray of shape (2, M, N), float32
        Benign and malignant probabilities in [0, 1] (channel order of
        :data:`napari_mcdet.classes.SEG_CHANNELS`); 0 outside the breast and in skipped tiles.
    labels : ndarray of shape (M, N), uint8
        0 background, 1 benign, 2 malignant.
    calcifications : list of dict
        One per candidate (:func:`napari_mcdet.infer.candidates.find_candidates`): ``id``,
        ``centroid`` (row, col) pixels (the probability peak), ``bbox`` (r0, c0, r1, c1) of its
        response, pixels end exclusive, ``area_px``, ``area_mm2``, ``class`` (1/2),
        ``pixel_score`` (that class's probability at the peak), ``tile_score`` (1 - soft tissue
        of the most confident tile holding the peak), ``score`` (their mean,
        :func:`napari_mcdet.infer.candidates.weigh_by_tiles`), ``benign_score``,
        ``malignant_score`` (each class's probability at the peak).
    clusters : list of dict
        Groups of at least ``cluster_min_count`` calcifications all within
        ``cluster_diameter_mm`` of each other (complete linkage,
        :func:`napari_mcdet.infer.candidates.group_clusters`): ``id``, ``bbox`` (the members'
        extent), ``centroid`` (row, col), ``n_calcifications``, ``calcification_ids``,
        ``class``, ``score``, ``benign_score``, ``malignant_score``, ``member_score``,
        ``tile_score``.
    tile_scores : list of dict
        One per tile run: ``bbox`` (r0, c0, r1, c1) in input pixels, ``probabilities``
        (soft tissue, benign, malignant) from the classification heads (the bottleneck's alone
        on a tile the gate kept from the decoder), ``breast_fraction``, ``decoded`` (bool).
    pixel_spacing : (float, float)
        Input spacing (row_mm, col_mm).
    thresholds : dict
        ``{'benign': t_b, 'malignant': t_m}`` actually applied (probability units).
    model_name : str
    model_metadata : dict
    model_pixel_spacing : (float, float)
        Grid the network ran at.
    tile, overlap : int
        Tile side and overlap, pixels of the model grid.
    n_tiles, n_tiles_run : int
        Tiles covering the image, and tiles run (the others had too little breast).
    n_tiles_decoded : int
        Tiles the decoder ran on (all tiles run, without a gate).
    gate : float or None
        The decoder gate applied (None: none).
    engine : str
        ``'eager'`` or ``'onnx'``.
    mirror : bool
        Each tile's maps averaged with its left-right mirror's.
    maps : ImageMaps or None
        The network's maps on the model's grid (:class:`napari_mcdet.infer.steps.ImageMaps`),
        kept only with ``detect(keep_maps=True)``: what threshold sweeps (the cluster FROC of
        ``mcdet evaluate``) run on.
    """

    probabilities: np.ndarray
    labels: np.ndarray
    calcifications: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    tile_scores: list[dict[str, Any]]
    pixel_spacing: tuple[float, float]
    thresholds: dict[str, float]
    model_name: str = ""
    model_metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    model_pixel_spacing: tuple[float, float] = (0.0, 0.0)
    tile: int = 0
    overlap: int = 0
    n_tiles: int = 0
    n_tiles_run: int = 0
    n_tiles_decoded: int = 0
    gate: float | None = None
    engine: str = "eager"
    mirror: bool = False
    maps: Any = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape  # type: ignore[return-value]

    def calcification_points(self) -> np.ndarray:
        """``(K, 3)`` array of ``(row, col, score)`` for :func:`napari_mcdet.metrics.froc`."""
        return np.array([[*c["centroid"], c["score"]] for c in self.calcifications],
                        dtype=np.float64).reshape(-1, 3)

    def cluster_points(self) -> np.ndarray:
        """``(K, 3)`` array of cluster ``(row, col, score)`` (centroids), for the strict hit rule
        of :func:`napari_mcdet.metrics.froc` (give it a 2 mm tolerance)."""
        return np.array([[*c["centroid"], c["score"]] for c in self.clusters],
                        dtype=np.float64).reshape(-1, 3)

    def cluster_boxes(self) -> np.ndarray:
        """``(K, 5)`` array of ``(r0, c0, r1, c1, score)`` for :func:`napari_mcdet.metrics.froc`."""
        return np.array([[*c["bbox"], c["score"]] for c in self.clusters],
                        dtype=np.float64).reshape(-1, 5)

    def summary(self) -> dict[str, Any]:
        """Counts and settings, JSON-friendly (no arrays)."""
        return {
            "shape": list(self.shape),
            "pixel_spacing": list(self.pixel_spacing),
            "model": self.model_name,
            "model_pixel_spacing": list(self.model_pixel_spacing),
            "tile": self.tile,
            "overlap": self.overlap,
            "n_tiles": self.n_tiles,
            "n_tiles_run": self.n_tiles_run,
            "n_tiles_decoded": self.n_tiles_decoded,
            "gate": self.gate,
            "engine": self.engine,
            "mirror": self.mirror,
            "thresholds": dict(self.thresholds),
            "n_calcifications": len(self.calcifications),
            "n_clusters": len(self.clusters),
            "max_probability": {"benign": float(self.probabilities[0].max(initial=0.0)),
                                "malignant": float(self.probabilities[1].max(initial=0.0))},
        }


# -- input checks ---------------------------------------------------------------------------
def _as_mammogram(image: Any, pixel_spacing: Any) -> Mammogram:
    """Validate the input and return a Mammogram with a pixel spacing."""
    if isinstance(image, Mammogram):
        pixels = image.pixels
        spacing = image.pixel_spacing if pixel_spacing is None else pixel_spacing
        source = image.metadata.get("source", "the mammogram")
    else:
        pixels = np.asarray(image)
        spacing = pixel_spacing
        source = "the array"
    if pixels.ndim != 2:
        raise ValueError(
            f"{source} must be a 2-D grey-level image (M, N), got shape {pixels.shape}; convert "
            "RGB to grey (e.g. skimage.color.rgb2gray) or pick one frame/slice first"
        )
    if pixels.size == 0 or min(pixels.shape) < 2:
        raise ValueError(f"{source} is empty or degenerate, shape {pixels.shape}")
    if (not np.issubdtype(pixels.dtype, np.number)
            or np.issubdtype(pixels.dtype, np.complexfloating)):
        raise TypeError(f"{source} must hold real numbers, got dtype {pixels.dtype}")
    if np.issubdtype(pixels.dtype, np.floating) and not np.isfinite(pixels).all():
        raise ValueError(f"{source} contains NaN or infinite values: replace them "
                         "(e.g. np.nan_to_num) before detection")
    if pixels.min() == pixels.max():
        raise ValueError(f"{source} is constant ({pixels.flat[0]}): there is nothing to detect; "
                         "check that the file was read correctly")
    if spacing is None:
        raise ValueError(
            f"{source} has no pixel spacing: pass pixel_spacing=(row_mm, col_mm) (for example "
            "0.07 for INbreast, 0.2 for mini-MIAS, about 0.05 for digitised film; on the command "
            "line: --spacing MM)"
        )
    meta = dict(image.metadata) if isinstance(image, Mammogram) else {}
    return Mammogram(pixels, pixel_spacing=as_spacing(spacing), metadata=meta)


def _resolve_model(model: Any):
    from ..models.checkpoint import TrainedModel, load_model

    if model is None or isinstance(model, str | Path):
        model = load_model(model)
    if not isinstance(model, TrainedModel):
        raise TypeError(
            "model must be a TrainedModel (napari_mcdet.load_model(path)), a checkpoint path or "
            f"None for the bundled default, got {type(model).__name__}"
        )
    if not model.is_segmenter:
        raise ValueError(
            f"model {model.architecture!r} has no segmentation head: detection needs an MCDetNet "
            "trained with segmentation (the default model); baselines only classify patches"
        )
    return model


def _overlap_pixels(overlap: float | int, tile: int) -> int:
    if isinstance(overlap, float | np.floating) and 0 <= overlap < 1:
        px = int(round(overlap * tile))
    elif float(overlap).is_integer() and 0 <= int(overlap) < tile:
        px = int(overlap)
    else:
        raise ValueError(f"overlap must be a fraction in [0, 1) of the tile or whole pixels in "
                         f"[0, {tile}), got {overlap}")
    return min(px, tile - 1)


# -- thresholds, objects -------------------------------------------------------------------
def class_thresholds(
    probabilities: np.ndarray,
    threshold: str | float | Sequence[str | float] = "li",
    *,
    mask: np.ndarray | None = None,
    min_threshold: float = DEFAULT_MIN_THRESHOLD,
) -> dict[str, float]:
    """Per-class thresholds: Li's (on the pixels of ``mask``, at least ``min_threshold``) or fixed.

    Parameters
    ----------
    probabilities : ndarray of shape (2, M, N)
    threshold : 'li', float, or a pair of them (benign, malignant)
    mask : ndarray of shape (M, N), bool, optional
        Pixels Li's threshold is computed on (the breast inside the tiles run); all when None.
    min_threshold : float
        Floor under Li's threshold (not under fixed ones), probability units.

    Returns
    -------
    thresholds : dict
        ``{'benign': t, 'malignant': t}``.
    """
    if isinstance(threshold, str) or np.isscalar(threshold):
        pair = (threshold, threshold)
    else:
        pair = tuple(threshold)
        if len(pair) != 2:
            raise ValueError(f"threshold must be 'li', a float, or a (benign, malignant) pair, "
                             f"got {threshold!r}")
    out = {}
    for name, ch, t in zip(("benign", "malignant"), probabilities, pair):
        if isinstance(t, str):
            if t != "li":
                raise ValueError(f"threshold must be 'li' or a float in [0, 1], got {t!r}")
            li = li_threshold(ch[mask] if mask is not None else ch)
            out[name] = max(li, float(min_threshold))
        else:
            t = float(t)
            if not 0.0 <= t <= 1.0:
                raise ValueError(f"a fixed threshold must be in [0, 1], got {t}")
            out[name] = t
    return out


def labels_from_probabilities(
    probabilities: np.ndarray, thresholds: dict[str, float]
) -> np.ndarray:
    """Labels (M, N) uint8: 1 where benign > t_b, 2 where malignant > t_m (malignant wins)."""
    labels = np.zeros(probabilities.shape[1:], np.uint8)
    labels[probabilities[0] > thresholds["benign"]] = BENIGN
    labels[probabilities[1] > thresholds["malignant"]] = MALIGNANT
    return labels


def find_calcifications(
    labels: np.ndarray, probabilities: np.ndarray, *, pixel_spacing: tuple[float, float]
) -> list[dict[str, Any]]:
    """Calcifications of a labels image: its 8-connected components, each with its centroid,
    box, area, class (the majority label, malignant on ties) and class scores (the highest
    probability of each class inside it). For labels that come from elsewhere (an annotation,
    another detector); :func:`detect` itself uses :func:`~.candidates.find_candidates`."""
    from skimage.measure import label, regionprops

    comp = label(labels > 0, connectivity=2)
    if not comp.any():
        return []
    pixel_mm2 = float(pixel_spacing[0] * pixel_spacing[1])
    out = []
    for k, p in enumerate(regionprops(comp)):
        inside = p.image
        b_max = float(probabilities[0][p.slice][inside].max())
        m_max = float(probabilities[1][p.slice][inside].max())
        n_mal = int((labels[p.slice][inside] == MALIGNANT).sum())
        area = int(p.area)
        cls = MALIGNANT if 2 * n_mal >= area else BENIGN
        out.append({
            "id": k,
            "centroid": (float(p.centroid[0]), float(p.centroid[1])),
            "bbox": tuple(int(v) for v in p.bbox),
            "area_px": area,
            "area_mm2": area * pixel_mm2,
            "class": int(cls),
            "score": m_max if cls == MALIGNANT else b_max,
            "benign_score": b_max,
            "malignant_score": m_max,
        })
    return out


def _thresholds(maps, threshold, model, min_threshold):
    """Resolve ``threshold`` (see :func:`detect`) to ``{'benign': t, 'malignant': t}``."""
    import warnings

    probs, records, tile, breast, mirror = (maps.probabilities, maps.tiles, maps.tile,
                                            maps.breast, maps.mirror)
    if isinstance(threshold, str) and threshold == "auto":
        point = operating_point(model.metadata, mirror=mirror)
        if point is None and mirror:
            point = operating_point(model.metadata)
            if point is not None:
                warnings.warn(
                    f"model {model.metadata.get('path', '')!r} has no operating point calibrated "
                    "with mirror averaging: using the one without it, which marks fewer "
                    "calcifications on the averaged maps; run `mcdet calibrate MODEL NORMALS... "
                    "--mirror` to set one", UserWarning, stacklevel=3)
        if point is not None:
            unreachable = [k for k in ("benign", "malignant") if point[k] >= 1.0]
            if unreachable:
                # labels are probabilities strictly above the threshold: 1.0 marks nothing
                warnings.warn(
                    f"model {model.metadata.get('path', '')!r}: its operating point's "
                    f"{' and '.join(unreachable)} threshold is 1.0, which no probability "
                    "exceeds: nothing of that class can be found; calibrate it again (mcdet "
                    "calibrate MODEL NORMALS...) with a larger --target-fp", UserWarning,
                    stacklevel=3)
            return {"benign": point["benign"], "malignant": point["malignant"]}
        warnings.warn(
            f"model {model.metadata.get('path', '')!r} has no calibrated operating point: "
            "falling back to Li's threshold, which marks something on every image; run "
            "`mcdet calibrate MODEL NORMALS...` on normal images to set one",
            UserWarning, stacklevel=3)
        threshold = "li"
    run_mask = np.zeros(breast.shape, bool)
    for rec in records:
        if not rec.get("decoded", True):
            # a tile the gate kept from the decoder holds zeros, not a distribution to split
            continue
        r, c = rec["origin"]
        run_mask[max(r, 0):r + tile, max(c, 0):c + tile] = True
    run_mask &= breast
    return class_thresholds(probs, threshold, mask=run_mask if run_mask.any() else None,
                            min_threshold=min_threshold)


def operating_point_key(*, mirror: bool = False) -> str:
    """Metadata key of the operating point for maps with or without mirror averaging."""
    from ..models.checkpoint import OPERATING_POINT_KEYS

    return OPERATING_POINT_KEYS[1] if mirror else OPERATING_POINT_KEYS[0]


def operating_point(metadata: dict[str, Any], *, mirror: bool = False) -> dict[str, Any] | None:
    """The calibrated operating point stored in a model's metadata for detection with or without
    mirror averaging (``detect(mirror=...)``), or None when none is stored.

    Raises
    ------
    ValueError
        A stored point that is damaged: not a mapping, or a threshold that is missing or not a
        probability in [0, 1] (NaN, negative, above 1, text). Falling back to another threshold
        would hide it; the message names the model's file and how to store a point again.
    """
    metadata = metadata or {}
    key = operating_point_key(mirror=mirror)
    point = metadata.get(key)
    if point is None:
        return None
    path = metadata.get("path", "the model")
    again = (f"calibrate it again (mcdet calibrate MODEL NORMALS...{' --mirror' if mirror else ''})"
             ", or pass a threshold (threshold='li' or a probability; mcdet detect --threshold)")
    if not isinstance(point, dict):
        raise ValueError(f"{path}: its metadata holds {key}={point!r}, not an operating point "
                         f"(a mapping with 'benign' and 'malignant' thresholds); {again}")
    values = {}
    for name in ("benign", "malignant"):
        raw = point.get(name)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = float("nan")
        if isinstance(raw, bool) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{path}: its {key} holds {name}={raw!r}, not a probability in "
                             f"[0, 1]: the stored point is damaged; {again}")
        values[name] = value
    return {**point, **values}


def _to_input_grid(obj: dict[str, Any], scale: tuple[float, float],
                   spacing: tuple[float, float]) -> dict[str, Any]:
    """A calcification or cluster record moved from the model's grid to the input's."""
    out = dict(obj)
    r, c = obj["centroid"]
    out["centroid"] = ((r + 0.5) * scale[0] - 0.5, (c + 0.5) * scale[1] - 0.5)
    r0, c0, r1, c1 = obj["bbox"]
    out["bbox"] = (int(np.floor(r0 * scale[0])), int(np.floor(c0 * scale[1])),
                   int(np.ceil(r1 * scale[0])), int(np.ceil(c1 * scale[1])))
    if "area_mm2" in obj:
        out["area_px"] = int(round(obj["area_mm2"] / (spacing[0] * spacing[1])))
    return out


def _resize_labels(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a mask or labels image to ``shape``."""
    if mask.shape == tuple(shape):
        return mask
    rows = np.minimum((np.arange(shape[0]) + 0.5) * mask.shape[0] / shape[0], mask.shape[0] - 1)
    cols = np.minimum((np.arange(shape[1]) + 0.5) * mask.shape[1] / shape[1], mask.shape[1] - 1)
    return mask[rows.astype(int)[:, None], cols.astype(int)[None, :]]


def _resize(probabilities: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Linear interpolation of (C, h, w) float32 maps to (C, M, N), float32 throughout.

    Pixel edges aligned (``align_corners=False``, as ``skimage.transform.resize`` in
    ``resample_to_spacing`` and ``scipy.ndimage.zoom(..., grid_mode=True, mode='nearest')``),
    with torch's multi-threaded kernel: a 4084 x 3328 pair of maps in a fraction of scipy's
    single-threaded 0.5 s.
    """
    import torch

    if probabilities.shape[1:] == tuple(shape):
        return probabilities
    x = torch.from_numpy(np.ascontiguousarray(probabilities, np.float32))[None]
    with torch.inference_mode():
        out = torch.nn.functional.interpolate(x, size=tuple(int(v) for v in shape),
                                              mode="bilinear", align_corners=False)[0]
        out.clamp_(0.0, 1.0)
    return out.numpy()


def _tile_bbox(origin: tuple[int, int], tile: int, scale: tuple[float, float],
               shape: tuple[int, int]) -> tuple[int, int, int, int]:
    r0, c0 = origin
    return (max(0, int(np.floor(r0 * scale[0]))), max(0, int(np.floor(c0 * scale[1]))),
            min(shape[0], int(np.ceil((r0 + tile) * scale[0]))),
            min(shape[1], int(np.ceil((c0 + tile) * scale[1]))))


def detect(
    image: Mammogram | np.ndarray,
    model: Any = None,
    *,
    pixel_spacing: float | tuple[float, float] | None = None,
    tile: int | None = None,
    overlap: float | int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: Any = None,
    gate: float | str | None = "auto",
    engine: str = DEFAULT_ENGINE,
    mirror: bool = False,
    threshold: str | float | Sequence[str | float] = "auto",
    min_threshold: float = DEFAULT_MIN_THRESHOLD,
    min_breast_fraction: float = DEFAULT_MIN_BREAST_FRACTION,
    cluster_diameter_mm: float = DEFAULT_CLUSTER_DIAMETER_MM,
    cluster_min_count: int = DEFAULT_CLUSTER_MIN_COUNT,
    skin_margin_mm: float = DEFAULT_SKIN_MARGIN_MM,
    max_area_mm2: float = DEFAULT_MAX_AREA_MM2,
    nms_mm: float = DEFAULT_NMS_MM,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    keep_maps: bool = False,
) -> Detection:
    """Detect and classify microcalcifications over a whole mammogram.

    Parameters
    ----------
    image : Mammogram or ndarray of shape (M, N)
        Bright = dense. A plain array needs ``pixel_spacing``.
    model : TrainedModel or path, optional
        :func:`napari_mcdet.load_model` result or a checkpoint path; the bundled default when None.
    pixel_spacing : float or (float, float), keyword-only, optional
        (row_mm, col_mm) of ``image``; overrides a Mammogram's own spacing when given.
    tile : int, keyword-only, optional
        Tile side at the model's grid, pixels, a multiple of 16;
        :data:`~napari_mcdet.constants.DEFAULT_TILE` when None (the network is fully
        convolutional: it need not be the training patch size).
    overlap : float or int, keyword-only, optional
        Overlap between tiles: a fraction of the tile in [0, 1) (a float) or whole pixels (an
        int); :data:`~napari_mcdet.constants.DEFAULT_TILE_OVERLAP` pixels when None.
    batch_size : int, keyword-only
        Tiles per forward pass.
    device : str or torch.device, keyword-only, optional
        ``'cpu'``, ``'cuda'``...; the best available when None.
    gate : 'auto', float or None, keyword-only
        Decoder gate in [0, 1]: the decoder runs only on tiles whose calcification probability
        (1 - soft tissue) under the bottleneck's classification head is at least ``gate``; the
        others get zero maps and that head's class probabilities in ``tile_scores``. None runs
        the whole network on every tile. ``'auto'`` (default): the gate stored with the model,
        none for a model without one (:func:`~napari_mcdet.infer.patches.resolve_gate`).
    engine : {'auto', 'eager', 'onnx'}, keyword-only
        :func:`napari_mcdet.nn.inference.resolve_engine`: ``'auto'`` is ONNX Runtime on the CPU
        when the ``fast`` extra is installed (the same maps within 1e-4, about twice as fast),
        else eager PyTorch.
    mirror : bool, keyword-only
        Also run every tile left-right mirrored and average the two views' maps and class
        probabilities (:func:`~napari_mcdet.infer.patches.gated_predictor`); about twice the
        time. ``threshold='auto'`` then reads the operating point calibrated on averaged maps
        (``mcdet calibrate --mirror``), or the plain one with a warning when the model has none.
    threshold : 'auto', 'li', float or (benign, malignant) pair, keyword-only
        Per-class threshold on the probabilities. ``'auto'`` (default): the model's calibrated
        operating point (:func:`napari_mcdet.infer.calibrate.calibrate`, ``mcdet calibrate``),
        or Li's threshold with a warning when the model has none. ``'li'``: Li's minimum
        cross-entropy threshold computed on the breast pixels of the tiles run. A float: a fixed
        probability.
    min_threshold : float, keyword-only
        Floor under Li's threshold (0.1): on a whole breast the calcifications are a tiny
        fraction of the pixels and Li's threshold alone can fall inside the background noise.
    skin_margin_mm, max_area_mm2, nms_mm : float, keyword-only
        Calcification candidates (:func:`napari_mcdet.infer.candidates.find_candidates`): none
        within ``skin_margin_mm`` of the breast's outline, none on a response larger than
        ``max_area_mm2``, at least ``nms_mm`` apart.
    min_breast_fraction : float, keyword-only
        Tiles with a smaller fraction of breast pixels are skipped (probabilities 0).
    cluster_diameter_mm : float, keyword-only
        Largest distance between two members of a cluster (complete linkage), mm (10 = 1 cm).
    cluster_min_count : int, keyword-only
        Calcifications needed to form a cluster (3).
    progress : callable, keyword-only, optional
        ``progress(tiles done, tiles to run)``, called at the start and after every batch.
    should_stop : callable, keyword-only, optional
        Called before every batch; when it returns True, :class:`DetectionCancelled` is raised
        (nothing is returned: catch it to handle a user's cancel).
    keep_maps : bool, keyword-only
        Keep the network's maps on the model's grid in ``Detection.maps``.

    Returns
    -------
    detection : Detection
        Probabilities, labels, calcifications, clusters and tile scores on the input grid.

    Raises
    ------
    ValueError
        No pixel spacing, a non-2-D (RGB, stack) image, NaN/inf values, a constant image, bad
        options, or a model without a segmentation head.
    DetectionCancelled
        ``should_stop()`` returned True.
    """
    from ..models.device import resolve_device
    from .domain import warn_out_of_domain
    from .steps import network_maps, objects_at

    mammo = _as_mammogram(image, pixel_spacing)
    model = _resolve_model(model)
    warn_out_of_domain(mammo, model)
    dev = resolve_device("auto" if device is None else device, warn=False)
    tile = int(DEFAULT_TILE if tile is None else tile)
    if tile < 16 or tile % 16:
        raise ValueError(f"tile must be a multiple of 16 pixels (4 poolings), got {tile}")
    ov = _overlap_pixels(DEFAULT_TILE_OVERLAP if overlap is None else overlap, tile)
    maps = network_maps(mammo, model, device=dev, tile=tile, overlap=ov, gate=gate,
                        engine=engine, mirror=mirror, batch_size=batch_size,
                        min_breast_fraction=min_breast_fraction, progress=progress,
                        should_stop=should_stop)
    thresholds = _thresholds(maps, threshold, model, min_threshold)
    calcs, kept, clusters = objects_at(
        maps, thresholds, skin_margin_mm=skin_margin_mm, max_area_mm2=max_area_mm2,
        nms_mm=nms_mm, cluster_diameter_mm=cluster_diameter_mm,
        cluster_min_count=cluster_min_count)
    det = detection_on_input_grid(maps, mammo, model, thresholds=thresholds,
                                  calcifications=calcs, kept=kept, clusters=clusters)
    if keep_maps:
        det.maps = maps
    return det


def detection_on_input_grid(maps, mammogram: Mammogram, model, *, thresholds: dict[str, float],
                            calcifications: list[dict[str, Any]], kept: np.ndarray,
                            clusters: list[dict[str, Any]]) -> Detection:
    """A :class:`Detection` on the mammogram's grid from the objects found on the model's.

    Labels are made on the grid the thresholds apply to and then resized (interpolation lowers
    narrow peaks, so thresholding resized maps would lose calcifications found on the model's
    grid); probabilities are interpolated linearly; objects and tiles are scaled.
    """
    spacing = mammogram.pixel_spacing
    shape = mammogram.shape
    probs = maps.probabilities
    scale = (shape[0] / probs.shape[1], shape[1] / probs.shape[2])
    labels = labels_from_probabilities(probs, thresholds)
    labels[~kept] = 0
    tile = maps.tile
    meta = dict(model.metadata)
    return Detection(
        probabilities=_resize(probs, shape), labels=_resize_labels(labels, shape),
        calcifications=[_to_input_grid(c, scale, spacing) for c in calcifications],
        clusters=[_to_input_grid(c, scale, spacing) for c in clusters],
        tile_scores=[{"bbox": _tile_bbox(rec["origin"], tile, scale, shape),
                      "probabilities": rec["probabilities"],
                      "breast_fraction": rec["breast_fraction"],
                      "decoded": rec.get("decoded", True)} for rec in maps.tiles],
        pixel_spacing=spacing, thresholds=thresholds,
        model_name=Path(str(meta.get("path", "model"))).stem, model_metadata=meta,
        model_pixel_spacing=maps.pixel_spacing, tile=tile, overlap=maps.overlap,
        n_tiles=maps.n_tiles, n_tiles_run=len(maps.tiles),
        n_tiles_decoded=sum(bool(rec.get("decoded", True)) for rec in maps.tiles),
        gate=maps.gate, engine=maps.engine, mirror=maps.mirror,
    )
