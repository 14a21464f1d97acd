"""Operating points and the strict-rule cluster FROC, computed from probability maps.

Both sweep one absolute threshold (the same for the benign and malignant maps) over the maps of a
set of images, and at each threshold form calcifications and clusters exactly as
:func:`napari_mcdet.detect` does:

- :func:`calibrate` picks, on normal images, the lowest threshold that gives at most
  ``target_fp`` clusters per image (every cluster on a normal image is a false one) and stores it
  in the model's metadata, where ``detect(threshold='auto')`` reads it;
- :func:`cluster_froc` scores annotated images with the package's one hit rule
  (:mod:`napari_mcdet.metrics.froc`: a cluster's centroid hits the nearest annotated region within
  ``tolerance_mm``, 2 mm; every other cluster is a false positive). Its mean sensitivity at
  0.25-2 false clusters per image selects the best checkpoint during training.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import BENIGN, MALIGNANT
from ..constants import (  # noqa: F401  (the target and tolerance are public here as well)
    DEFAULT_ENGINE,
    DEFAULT_TARGET_FP,
    DEFAULT_TILE,
    DEFAULT_TILE_OVERLAP,
    DEFAULT_TOLERANCE_MM,
)
from ..metrics.froc import (
    FP_RATES,
    FrocCounts,
    found_and_false,
    froc_from_counts,
    regions_of,
)
from .steps import OBJECT_OPTIONS, ImageMaps, network_maps, objects_at

#: Thresholds swept: evenly spaced in logit from 0.05 to 0.9999 (the maps saturate near 1).
THRESHOLDS = 1.0 / (1.0 + np.exp(-np.linspace(-3.0, 9.2, 123)))

#: False clusters per image at which selection reads the cluster sensitivity.
SELECTION_FP_RATES = FP_RATES


def clusters_at(maps: ImageMaps, threshold: float, **options: Any) -> tuple[list, list]:
    """Calcifications and clusters of one image at one threshold (model grid), as
    :func:`napari_mcdet.detect` forms them (:func:`~napari_mcdet.infer.steps.objects_at`)."""
    calcs, _, clusters = objects_at(maps, threshold, **options)
    return calcs, clusters


def _sweep(maps: Sequence[ImageMaps], thresholds: Sequence[float],
           per_image: Callable[[ImageMaps, list, list], Any], **options: Any) -> list[list[Any]]:
    """``per_image(maps, calcifications, clusters)`` for every threshold and image.

    Thresholds at which an image has no candidate at all are not recomputed: above the image's
    highest probability nothing can respond.
    """
    out = []
    for t in thresholds:
        row = []
        for m in maps:
            if float(m.probabilities.max(initial=0.0)) <= t:
                row.append(per_image(m, [], []))
            else:
                row.append(per_image(m, *clusters_at(m, t, **options)))
        out.append(row)
    return out


def check_target_fp(target_fp: float, *, name: str = "target_fp") -> float:
    """``target_fp`` as a float, refused unless it is a finite number of false clusters >= 0.

    Parameters
    ----------
    target_fp : float
    name : str, keyword-only
        How messages name it (``'--target-fp'`` on the command line).

    Raises
    ------
    ValueError
        Negative, NaN, infinite or not a number.
    """
    try:
        value = float(target_fp)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} {target_fp} is not a number of false clusters per image: give "
                         f"a finite number >= 0, e.g. {DEFAULT_TARGET_FP:g}")
    return value


def calibrate_threshold(
    normals: Sequence[ImageMaps],
    *,
    target_fp: float = DEFAULT_TARGET_FP,
    thresholds: Sequence[float] = THRESHOLDS,
    **options: Any,
) -> dict[str, Any]:
    """The lowest threshold giving at most ``target_fp`` clusters per normal image.

    Returns
    -------
    dict
        ``benign``, ``malignant`` (the threshold), ``target_fp_per_image``, ``fp_per_image``
        (measured at it), ``median_candidates`` (calcification candidates on the median normal
        image), ``n_images``, ``settings`` (the candidate and cluster options).
    """
    if not normals:
        raise ValueError("calibration needs at least one normal image")
    target_fp = check_target_fp(target_fp)
    ts = np.sort(np.asarray(thresholds, dtype=np.float64))
    counts = _sweep(normals, ts, lambda m, c, k: (len(c), len(k)), **options)
    fp = np.array([np.mean([k for _, k in row]) for row in counts])
    ok = np.flatnonzero(fp <= target_fp)
    i = int(ok[0]) if ok.size else len(ts) - 1
    return {
        "benign": float(ts[i]),
        "malignant": float(ts[i]),
        "target_fp_per_image": float(target_fp),
        "fp_per_image": float(fp[i]),
        "median_candidates": float(np.median([c for c, _ in counts[i]])),
        "median_clusters": float(np.median([k for _, k in counts[i]])),
        "n_images": len(normals),
        "reached": bool(ok.size),
        "settings": _settings(options),
    }


def _settings(options: dict[str, Any]) -> dict[str, float]:
    """The object options a point was calibrated with (defaults filled in)."""
    return {k: type(v)(options.get(k, v)) for k, v in OBJECT_OPTIONS.items()}


def cluster_counts(
    images: Sequence[ImageMaps],
    *,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    thresholds: Sequence[float] = THRESHOLDS,
    classes: Sequence[int] = (BENIGN, MALIGNANT),
    **options: Any,
) -> FrocCounts:
    """The hit rule (:func:`napari_mcdet.metrics.froc.match_points`) applied to every image's
    clusters at every threshold of the sweep; regions are the 8-connected components of each
    image's labels in ``classes`` (an image without labels has none)."""
    regions = {id(m): regions_of(m.labels if m.labels is not None
                                 else np.zeros((1, 1), np.uint8), classes) for m in images}
    ts = np.sort(np.asarray(thresholds, dtype=np.float64))[::-1]

    def score(m: ImageMaps, calcs: list, clusters: list) -> tuple[int, int]:
        points = np.array([c["centroid"] for c in clusters], np.float64).reshape(-1, 2)
        return found_and_false(points, regions[id(m)],
                               tolerance=tolerance_mm / min(m.pixel_spacing))

    rows = np.array(_sweep(images, ts, score, **options), dtype=np.int64).reshape(
        len(ts), len(images), 2)
    n_regions = np.array([len(regions[id(m)].crops) for m in images], dtype=np.int64)
    return FrocCounts(ts, rows[..., 0], rows[..., 1], n_regions, float(tolerance_mm))


def cluster_froc(
    images: Sequence[ImageMaps],
    *,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    fp_rates: Sequence[float] = SELECTION_FP_RATES,
    thresholds: Sequence[float] = THRESHOLDS,
    **options: Any,
) -> dict[str, Any]:
    """Cluster FROC over annotated and normal images, sweeping the threshold: the counts of
    :func:`cluster_counts` read by :func:`napari_mcdet.metrics.froc.froc_from_counts`."""
    counts = cluster_counts(images, tolerance_mm=tolerance_mm, thresholds=thresholds, **options)
    return froc_from_counts(counts, fp_rates=fp_rates)


#: Fewer normals than this measure the false-cluster rate too coarsely to trust the point
#: chosen (at 0.5 per image, 20 images hold about 10 false clusters to count).
MIN_NORMALS = 20


def listed_abnormal(files: Sequence[str | os.PathLike]) -> list[tuple[Path, str]]:
    """The files among ``files`` that their data set's own table lists as abnormal.

    A normal image for calibration holds no calcification. Two tables are read where they lie
    beside the images: mini-MIAS's ``Info.txt`` (any row other than ``NORM``,
    :func:`napari_mcdet.io.minimias.minimias_abnormality`), and INbreast's ``INbreast.csv`` /
    ``INbreast.xls`` in the folder above ``AllDICOMs/`` (any BI-RADS other than 1). Files no
    table lists are taken as given.

    Parameters
    ----------
    files : sequence of path-like

    Returns
    -------
    list of (Path, str)
        Each listed file and what its table says (``'CALC M'``, ``'BI-RADS 4b'``).
    """
    from ..io.inbreast import INBREAST_DICOM_FOLDER, case_number, read_inbreast_table
    from ..io.minimias import minimias_abnormality

    tables: dict[Path, dict[str, str]] = {}
    out = []
    for f in map(Path, files):
        what = minimias_abnormality(f)
        number = case_number(f.name)
        if what is None and number is not None:
            root = f.parent.parent if f.parent.name == INBREAST_DICOM_FOLDER else f.parent
            if root not in tables:
                try:
                    rows = read_inbreast_table(root)
                except ValueError:
                    rows = []  # not INbreast's table: it lists nothing
                tables[root] = {str(r["file_name"]): str(r.get("birads") or "") for r in rows}
            birads = tables[root].get(number, "")
            if birads and birads != "1":
                what = f"BI-RADS {birads}"
        if what is not None:
            out.append((f, what))
    return out


def with_spacing(mammo, pixel_spacing: tuple[float, float] | None, index: int):
    """Normal image ``index`` as a Mammogram with a pixel spacing (``pixel_spacing`` where its
    file carries none)."""
    from ..mammogram import Mammogram

    if not isinstance(mammo, Mammogram):
        raise TypeError(f"normal image {index} must be a Mammogram (napari_mcdet.read_mammogram)")
    if mammo.pixel_spacing is not None:
        return mammo
    if pixel_spacing is None:
        raise ValueError(f"{mammo.metadata.get('source', f'normal image {index}')} has no "
                         "pixel spacing: pass pixel_spacing (--spacing MM)")
    return Mammogram(mammo.pixels, pixel_spacing=pixel_spacing, metadata=mammo.metadata)


def calibrate(
    model,
    normals: Sequence[Any],
    *,
    target_fp: float = DEFAULT_TARGET_FP,
    pixel_spacing: tuple[float, float] | None = None,
    gate: float | str | None = "auto",
    mirror: bool = False,
    device=None,
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Choose a model's operating point on normal images (see :func:`calibrate_threshold`).

    Parameters
    ----------
    model : TrainedModel
        :func:`napari_mcdet.load_model` result.
    normals : sequence of Mammogram
        Normal images (no calcification), each with a pixel spacing (or pass ``pixel_spacing``).
    target_fp : float
        False clusters per image allowed at the operating point.
    pixel_spacing : (float, float), optional
        Spacing of images that do not carry one.
    gate : 'auto', float or None
        The decoder gate detection will run with (``'auto'``: the model's stored one); the
        threshold is calibrated on the maps it gives.
    mirror : bool
        Calibrate for detection with mirror averaging (``detect(mirror=True)``), on the
        averaged maps; the point is then stored under
        :func:`~napari_mcdet.infer.detect.operating_point_key` ``(mirror=True)``.
    progress : callable, optional
        ``progress(images done, images)``.

    Returns
    -------
    dict
        The operating point (``mirror`` says which maps it was chosen on); store it with
        :func:`napari_mcdet.models.checkpoint.update_metadata` under
        :func:`~napari_mcdet.infer.detect.operating_point_key` (``mcdet calibrate`` does).
    """
    from ..models.device import resolve_device

    target_fp = check_target_fp(target_fp)
    if not model.is_segmenter:
        raise ValueError(f"model {model.architecture!r} has no segmentation head: only a "
                         "detector (an MCDetNet) has an operating point")
    if not normals:
        raise ValueError("calibration needs at least one normal image")
    if len(normals) < MIN_NORMALS:
        warnings.warn(
            f"calibrating on {len(normals)} normal image{'s' if len(normals) != 1 else ''}: "
            f"the false-cluster rate is measured too coarsely to trust the point chosen; give "
            f"at least {MIN_NORMALS} normals", UserWarning, stacklevel=2)
    dev = resolve_device("auto" if device is None else device, warn=False)
    maps = []
    for i, mammo in enumerate(normals):
        maps.append(network_maps(with_spacing(mammo, pixel_spacing, i), model, device=dev,
                                 gate=gate, mirror=mirror))
        if progress is not None:
            progress(i + 1, len(normals))
    point = calibrate_threshold(maps, target_fp=target_fp, **options)
    first = maps[0]
    point["tiling"] = {"tile": first.tile, "overlap": first.overlap, "gate": first.gate,
                       "engine": first.engine, "mirror": bool(mirror)}
    return point
