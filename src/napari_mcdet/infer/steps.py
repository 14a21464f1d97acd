"""The detector's steps, each one function: run the network, then form objects.

:func:`napari_mcdet.detect` is their composition (after
:func:`napari_mcdet.data.prepare.prepare_for_network`, the one image preparation):

1. :func:`detection_runner` -> the inference network and the tiling settings detection uses;
2. :func:`image_maps` -> the network's probability maps over the prepared image
   (:class:`ImageMaps`, on the model's grid);
3. :func:`objects_at` -> calcification candidates, their tile weights and clusters at given
   thresholds.

Calibration, training's real validation, the gate study and ``mcdet evaluate`` call the same
steps, so the maps they threshold and the clusters they count are detection's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..constants import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CLUSTER_DIAMETER_MM,
    DEFAULT_CLUSTER_MIN_COUNT,
    DEFAULT_ENGINE,
    DEFAULT_MAX_AREA_MM2,
    DEFAULT_MIN_BREAST_FRACTION,
    DEFAULT_NMS_MM,
    DEFAULT_SKIN_MARGIN_MM,
    DEFAULT_TILE,
    DEFAULT_TILE_OVERLAP,
)
from .candidates import find_candidates, group_clusters, weigh_by_tiles

#: The options of :func:`objects_at` (one name each, as :func:`napari_mcdet.detect` takes them)
#: and their defaults.
OBJECT_OPTIONS = {
    "skin_margin_mm": DEFAULT_SKIN_MARGIN_MM,
    "max_area_mm2": DEFAULT_MAX_AREA_MM2,
    "nms_mm": DEFAULT_NMS_MM,
    "cluster_diameter_mm": DEFAULT_CLUSTER_DIAMETER_MM,
    "cluster_min_count": DEFAULT_CLUSTER_MIN_COUNT,
}


@dataclass
class ImageMaps:
    """One image's network outputs on the network's grid.

    Attributes
    ----------
    probabilities : ndarray of shape (2, M, N), float32
        Benign and malignant probabilities; 0 outside the breast and in skipped tiles.
    breast : ndarray of shape (M, N), bool
    tiles : list of dict
        The tile records of :func:`napari_mcdet.data.tiling.run_tiles` (tiles run).
    tile : int
        Tile side, pixels.
    pixel_spacing : (float, float)
        (row_mm, col_mm) of the grid.
    labels : ndarray of shape (M, N), uint8, optional
        Ground truth on the same grid (0/1/2), for scoring.
    name : str
    n_tiles : int
        Tiles of the grid, run or not (0 when unknown).
    overlap : int
        Tile overlap, pixels.
    gate : float or None
        The decoder gate the maps were made with.
    engine : str
        The inference engine used ('' when unknown).
    mirror : bool
        Whether the maps average the mirrored view.
    image : ndarray of shape (M, N), float32, optional
        The prepared image the network ran on (kept by :func:`network_maps`).
    """

    probabilities: np.ndarray
    breast: np.ndarray
    tiles: list[dict[str, Any]]
    tile: int
    pixel_spacing: tuple[float, float]
    labels: np.ndarray | None = None
    name: str = ""
    n_tiles: int = 0
    overlap: int = 0
    gate: float | None = None
    engine: str = ""
    mirror: bool = False
    image: np.ndarray | None = field(default=None, repr=False)


def detection_runner(model, *, device, gate: float | str | None = "auto",
                     engine: str = DEFAULT_ENGINE, tile: int = DEFAULT_TILE,
                     overlap: int = DEFAULT_TILE_OVERLAP) -> tuple[Any, dict[str, Any]]:
    """The inference network and the :func:`image_maps` settings of detection.

    Parameters
    ----------
    model : TrainedModel
    device : torch.device, keyword-only
    gate : 'auto', float or None, keyword-only
        :func:`~napari_mcdet.infer.patches.resolve_gate` (``'auto'``: the model's own, if any).
    engine : {'auto', 'eager', 'onnx'}, keyword-only
    tile, overlap : int, keyword-only
        Tile side and overlap, pixels at the model's grid.

    Returns
    -------
    network : nn.Module or OnnxNetwork
    settings : dict
        ``tile``, ``overlap``, ``gate``, ``channels_last``, ``device`` (:func:`image_maps`
        arguments) and ``engine`` (the engine used, for the record).
    """
    from ..nn.inference import inference_network, resolve_engine
    from .patches import resolve_gate

    gate = resolve_gate(gate, model)
    engine = resolve_engine(engine, device, network=model.network)
    net, engine = inference_network(model.network, engine=engine, device=device)
    return net, {"tile": int(tile), "overlap": int(overlap), "gate": gate,
                 "channels_last": engine == "eager" and getattr(device, "type", device) != "mps",
                 "device": device, "engine": engine}


def image_maps(network, image: np.ndarray, breast: np.ndarray, *, tile: int, overlap: int,
               pixel_spacing: tuple[float, float], gate: float | None = None,
               channels_last: bool = True, labels: np.ndarray | None = None,
               name: str = "", device=None, batch_size: int = DEFAULT_BATCH_SIZE,
               mirror: bool = False, engine: str | None = None,
               min_breast_fraction: float = DEFAULT_MIN_BREAST_FRACTION,
               progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> ImageMaps:
    """Run a network ready for inference over one prepared image, tile by tile.

    Parameters
    ----------
    network : nn.Module or OnnxNetwork
        From :func:`detection_runner`.
    image : ndarray of shape (M, N), float32
        Prepared (:func:`napari_mcdet.data.prepare.prepare_for_network`).
    breast : ndarray of shape (M, N), bool
    tile, overlap : int, keyword-only
        Pixels.
    pixel_spacing : (float, float), keyword-only
        The grid's, mm.
    gate, mirror : keyword-only
        As :func:`napari_mcdet.detect`'s.
    engine : str, keyword-only, optional
        Only recorded by :func:`detection_runner`; ignored here.
    min_breast_fraction, batch_size, progress, should_stop : keyword-only
        As :func:`napari_mcdet.data.tiling.run_tiles`'s.

    Returns
    -------
    ImageMaps

    Raises
    ------
    ValueError
        No tile holds enough breast, the gate let no tile through to the decoder, or the
        network returned NaN or infinite values.
    """
    import torch

    from ..data.tiling import run_tiles
    from .patches import gated_predictor, segmentation_predictor

    if gate is None:
        predict = segmentation_predictor(network, device=device, channels_last=channels_last,
                                         mirror=mirror)
    else:
        predict = gated_predictor(network, gate=gate, device=device, channels_last=channels_last,
                                  mirror=mirror)
    with torch.inference_mode():
        probs, records, n_tiles = run_tiles(
            predict, image, tile=tile, channels=2, overlap=overlap, breast=breast,
            min_breast_fraction=min_breast_fraction, batch_size=batch_size, progress=progress,
            should_stop=should_stop)
    if not records:
        raise ValueError(
            f"{name or 'the image'}: nothing was analysed: no tile of {tile} px at "
            f"{pixel_spacing[0]:g} mm holds at least {min_breast_fraction:.0%} breast (image "
            f"{image.shape} at the model's grid); check the pixel spacing and that the image "
            "shows a breast")
    if not any(rec.get("decoded", True) for rec in records):
        # skipped tiles hold zero maps: reporting their zero findings would pass a gate set too
        # high for a clean result
        raise ValueError(
            f"{name or 'the image'}: nothing was analysed: the decoder gate {gate:g} skipped all "
            f"{len(records)} breast tiles (no tile decoded); run with a lower gate or none "
            "(gate=None, mcdet detect --no-gate), or choose the model's gate again with mcdet "
            "calibrate MODEL NORMALS... --gate")
    if not (np.isfinite(probs).all()
            and all(np.isfinite(rec["probabilities"]).all() for rec in records)):
        raise ValueError("the model returned NaN or infinite probabilities: the checkpoint is "
                         "broken or was trained with a diverging loss; use another model")
    probs[:, ~breast] = 0.0
    return ImageMaps(probs, breast, records, tile, tuple(float(s) for s in pixel_spacing),
                     labels, name, int(n_tiles), int(overlap), gate, engine or "", bool(mirror))


def network_maps(mammogram, model, *, device, tile: int = DEFAULT_TILE,
                 overlap: int = DEFAULT_TILE_OVERLAP, gate: float | str | None = "auto",
                 engine: str = DEFAULT_ENGINE, mirror: bool = False,
                 labels: np.ndarray | None = None, name: str = "",
                 batch_size: int = DEFAULT_BATCH_SIZE,
                 min_breast_fraction: float = DEFAULT_MIN_BREAST_FRACTION,
                 progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> ImageMaps:
    """Prepare a mammogram and run the model over it: detection's maps.

    :func:`~napari_mcdet.data.prepare.prepare_image` at the model's pixel spacing, then
    :func:`detection_runner` and :func:`image_maps` (see there for the keywords). ``labels``
    (ground truth on the mammogram's grid) are carried to the model's grid with the image.
    """
    from ..data.prepare import prepare_image

    spacing = tuple(float(s) for s in model.pixel_spacing)
    image, breast, labels = prepare_image(mammogram, pixel_spacing=spacing, labels=labels)
    network, run = detection_runner(model, device=device, gate=gate, engine=engine, tile=tile,
                                    overlap=overlap)
    maps = image_maps(network, image, breast, pixel_spacing=spacing, labels=labels,
                      name=name or str(mammogram.metadata.get("source", "")), mirror=mirror,
                      batch_size=batch_size, min_breast_fraction=min_breast_fraction,
                      progress=progress, should_stop=should_stop, **run)
    return replace(maps, image=image)


def objects_at(maps: ImageMaps, thresholds: dict[str, float] | float,
               **options: Any) -> tuple[list[dict[str, Any]], np.ndarray, list[dict[str, Any]]]:
    """Calcifications and clusters of one image's maps at the given thresholds.

    Parameters
    ----------
    maps : ImageMaps
    thresholds : dict or float
        ``{'benign': t, 'malignant': t}``, or one threshold for both.
    **options
        :data:`OBJECT_OPTIONS` (others are refused).

    Returns
    -------
    calcifications : list of dict
        :func:`~napari_mcdet.infer.candidates.find_candidates` records, scores weighed by the
        tiles' classification heads (:func:`~napari_mcdet.infer.candidates.weigh_by_tiles`).
    kept : ndarray of shape (M, N), bool
        The responses the candidates sit on.
    clusters : list of dict
        :func:`~napari_mcdet.infer.candidates.group_clusters` records.
    """
    unknown = set(options) - set(OBJECT_OPTIONS)
    if unknown:
        raise TypeError(f"unknown detection option(s) {sorted(unknown)}; the options are "
                        f"{sorted(OBJECT_OPTIONS)}")
    o = {**OBJECT_OPTIONS, **options}
    if not isinstance(thresholds, dict):
        thresholds = {"benign": float(thresholds), "malignant": float(thresholds)}
    calcs, kept = find_candidates(
        maps.probabilities, maps.breast, thresholds, pixel_spacing=maps.pixel_spacing,
        skin_margin_mm=o["skin_margin_mm"], max_area_mm2=o["max_area_mm2"], nms_mm=o["nms_mm"])
    calcs = weigh_by_tiles(calcs, tiles=maps.tiles, tile=maps.tile)
    clusters = group_clusters(calcs, pixel_spacing=maps.pixel_spacing,
                              diameter_mm=o["cluster_diameter_mm"],
                              min_count=o["cluster_min_count"], tiles=maps.tiles, tile=maps.tile)
    return calcs, kept, clusters
