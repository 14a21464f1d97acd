"""Writing a :class:`~napari_mcdet.infer.detect.Detection` to files (``mcdet detect``).

Per image ``<stem>``:

- ``<stem>_probabilities.tif`` (or ``.npy``): float32 (2, M, N), benign then malignant;
- ``<stem>_labels.png``: uint8 class codes 0/1/2 (read back with ``napari_mcdet.io.read_mask``);
- ``<stem>_calcifications.csv/.json`` and ``<stem>_clusters.csv/.json``: one row per object;
- ``<stem>_detection.json``: settings, thresholds, counts, both tables and the tile scores;
- ``<stem>_overlay.png``: the image with calcifications (class colours) and cluster boxes.

Files of the same ``<stem>`` that an earlier run wrote and this one does not (the other
probability format, an overlay) are removed, with a warning naming them.

The Detect widget gives its points and rectangles the same tables as ``features``
(:func:`calcification_columns`, :func:`cluster_columns`).

Every file is written through :func:`napari_mcdet.io.writers.atomic_write`: a complete new file
replaces the old one in one step (never half a table after a crash), with the umask's mode, and
a symlink in the output folder is replaced rather than followed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import CLASS_COLORS, CLASS_NAMES
from ..io.writers import atomic_write
from .detect import Detection

CALC_COLUMNS = ("id", "row", "col", "area_mm2", "area_px", "class", "class_name", "score",
                "pixel_score", "tile_score", "benign_score", "malignant_score",
                "r0", "c0", "r1", "c1")
CLUSTER_COLUMNS = ("id", "r0", "c0", "r1", "c1", "row", "col", "n_calcifications", "class",
                   "class_name", "score", "benign_score", "malignant_score", "calcification_ids")


def calcification_rows(det: Detection) -> list[dict[str, Any]]:
    """Flat rows (columns :data:`CALC_COLUMNS`) of the calcifications table."""
    return [{"id": c["id"], "row": c["centroid"][0], "col": c["centroid"][1],
             "area_mm2": c["area_mm2"], "area_px": c["area_px"], "class": c["class"],
             "class_name": CLASS_NAMES[c["class"]], "score": c["score"],
             "pixel_score": c.get("pixel_score", c["score"]),
             "tile_score": _number(c.get("tile_score")),
             "benign_score": c["benign_score"], "malignant_score": c["malignant_score"],
             "r0": c["bbox"][0], "c0": c["bbox"][1], "r1": c["bbox"][2], "c1": c["bbox"][3]}
            for c in det.calcifications]


def _number(value: Any) -> float:
    """A table cell for an optional number: NaN for None (one float column in napari)."""
    return float("nan") if value is None else float(value)


def cluster_rows(det: Detection) -> list[dict[str, Any]]:
    """Flat rows (columns :data:`CLUSTER_COLUMNS`) of the clusters table."""
    return [{"id": c["id"], "r0": c["bbox"][0], "c0": c["bbox"][1], "r1": c["bbox"][2],
             "c1": c["bbox"][3], "row": c["centroid"][0], "col": c["centroid"][1],
             "n_calcifications": c["n_calcifications"], "class": c["class"],
             "class_name": CLASS_NAMES[c["class"]], "score": c["score"],
             "benign_score": c["benign_score"], "malignant_score": c["malignant_score"],
             "calcification_ids": " ".join(map(str, c["calcification_ids"]))}
            for c in det.clusters]


def table_columns(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> dict[str, list]:
    """Rows (dicts) -> ``{column: values}`` with every one of ``columns``, in that order (empty
    lists when there are no rows): the form napari layers take as ``features``."""
    return {name: [row[name] for row in rows] for name in columns}


def calcification_columns(det: Detection) -> dict[str, list]:
    """The calcifications table by columns (:data:`CALC_COLUMNS`), as the CSV file holds it."""
    return table_columns(calcification_rows(det), CALC_COLUMNS)


def cluster_columns(det: Detection) -> dict[str, list]:
    """The clusters table by columns (:data:`CLUSTER_COLUMNS`), as the CSV file holds it."""
    return table_columns(cluster_rows(det), CLUSTER_COLUMNS)


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)

    return atomic_write(path, write)


def _write_json(path: Path, doc: Any) -> Path:
    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def detection_json(det: Detection) -> dict[str, Any]:
    """Everything but the pixel maps, JSON-friendly."""
    from ..metrics.report import to_jsonable

    meta = {k: v for k, v in det.model_metadata.items()
            if k in ("path", "architecture", "step", "package_version", "pixel_spacing",
                     "patch_size", "normalization")}
    return to_jsonable({**det.summary(), "model_metadata": meta,
                        "calcifications": det.calcifications, "clusters": det.clusters,
                        "tile_scores": det.tile_scores})


def plot_overlay(image: np.ndarray, det: Detection, path: str | Path, *,
                 max_side: int = 1600) -> Path:
    """Save a quick-look PNG: the image in grey, labels in class colours, cluster boxes.

    Uses a matplotlib ``Figure`` on the Agg canvas (no pyplot state). Large images are shown
    with a stride so the longest side is at most ``max_side`` pixels; labels are max-pooled over
    the stride so single-pixel calcifications stay visible.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    img = np.asarray(image, dtype=np.float32)
    step = max(1, int(np.ceil(max(img.shape) / max_side)))
    small = img[::step, ::step]
    lab = det.labels
    if step > 1:
        h, w = small.shape
        pad = ((0, h * step - lab.shape[0]), (0, w * step - lab.shape[1]))
        lab = np.pad(lab, pad).reshape(h, step, w, step).max(axis=(1, 3))
    lo, hi = np.percentile(small, [0.5, 99.5])
    rgba = np.zeros((*lab.shape, 4), np.float32)
    for code in (1, 2):
        rgba[lab == code] = CLASS_COLORS[code]
    fig = Figure(figsize=(6, 6 * small.shape[0] / small.shape[1]), dpi=150)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(small, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1,
              extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5))
    ax.imshow(rgba, extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5),
              interpolation="nearest", alpha=0.7)
    for c in det.clusters:
        r0, c0, r1, c1 = c["bbox"]
        color = CLASS_COLORS[c["class"]][:3]
        ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, lw=1.2,
                               edgecolor=color))
        ax.text(c0, r0 - 4, f"{c['score']:.2f}", color=color, fontsize=7, va="bottom")
    ax.set_axis_off()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def write_detection(det: Detection, out_dir: str | Path, stem: str, *,
                    image: np.ndarray | None = None, probabilities: str = "tiff",
                    overlay: bool = True) -> dict[str, Path]:
    """Write one detection's files (see the module docstring) into ``out_dir``.

    Parameters
    ----------
    det : Detection
    out_dir : path
        Created if needed.
    stem : str
        File name prefix.
    image : ndarray of shape (M, N), optional
        The input image, for the overlay (no overlay without it).
    probabilities : {'tiff', 'npy'}
        Format of the probability maps.
    overlay : bool
        Write the PNG overlay.

    Returns
    -------
    written : dict
        Kind -> path.

    Warns
    -----
    UserWarning
        When files of ``stem`` from an earlier run that this one does not write (the other
        probability format, an overlay) were removed; it names them.
    """
    import tifffile

    from ..io.writers import write_mask

    if probabilities not in ("tiff", "npy"):
        raise ValueError(f"probabilities must be 'tiff' or 'npy', got {probabilities!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    probs = det.probabilities.astype(np.float32, copy=False)
    if probabilities == "tiff":
        p = atomic_write(out / f"{stem}_probabilities.tif",
                         lambda tmp: tifffile.imwrite(tmp, probs, compression="zlib",
                                                      metadata={"axes": "CYX",
                                                                "channels": "benign,malignant"}))
    else:
        p = atomic_write(out / f"{stem}_probabilities.npy", lambda tmp: np.save(tmp, probs))
    written["probabilities"] = p
    written["labels"] = write_mask(out / f"{stem}_labels.png", det.labels)
    written["calcifications_csv"] = _write_csv(out / f"{stem}_calcifications.csv", CALC_COLUMNS,
                                               calcification_rows(det))
    written["clusters_csv"] = _write_csv(out / f"{stem}_clusters.csv", CLUSTER_COLUMNS,
                                         cluster_rows(det))
    doc = detection_json(det)
    for key in ("calcifications", "clusters"):
        written[f"{key}_json"] = _write_json(out / f"{stem}_{key}.json", doc[key])
    written["json"] = _write_json(out / f"{stem}_detection.json", doc)
    if overlay and image is not None:
        written["overlay"] = plot_overlay(image, det, out / f"{stem}_overlay.png")
    _remove_stale_outputs(out, stem, written)
    return written


def _remove_stale_outputs(out: Path, stem: str, written: dict[str, Path]) -> list[Path]:
    """Delete the files of ``stem`` an earlier run left that this one did not write (the other
    probability format, an overlay), with one warning naming them: beside the new tables they
    would pass for this run's results."""
    import warnings

    kept = {p.name for p in written.values()}
    stale = [out / name for name in (f"{stem}_probabilities.tif", f"{stem}_probabilities.npy",
                                     f"{stem}_overlay.png")
             if name not in kept and (out / name).is_file()]
    for path in stale:
        path.unlink()
    if stale:
        warnings.warn(
            f"{out}: removed {', '.join(p.name for p in stale)}, left by an earlier run of "
            f"{stem} and not made by this one, so that no old result passes for a new one",
            UserWarning, stacklevel=3)
    return stale
