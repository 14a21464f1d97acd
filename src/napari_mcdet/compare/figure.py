"""The paper's Figure 2: chosen calcified patches, their ground truth, the Grad-CAM maps of two
classifiers and our segmentation. matplotlib is imported inside :func:`plot_figure2` (object API,
Agg)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..classes import BENIGN, CLASS_NAMES, MALIGNANT
from .config import CompareConfig
from .evaluation import EvaluationSet, ModelResult


def figure2_panels(config: CompareConfig, results: Mapping[str, ModelResult],
                   ev: EvaluationSet, lesion: np.ndarray):
    """What :func:`plot_figure2` draws, or None when there is no case to show.

    Parameters
    ----------
    config : CompareConfig
        Its ``figure_cases`` (which cases), ``gradcam`` (the first two are the Grad-CAM columns)
        and ``segmenter`` (the "ours" column; default: the first of our networks with maps).
    results : mapping of str -> ModelResult
    ev : EvaluationSet
    lesion : ndarray of shape (L,), int
        Indices of the calcified patches of ``ev``; the results' maps are on these, in order.

    Returns
    -------
    tuple or None
        ``(patches (K, S, S), ground truths (K, S, S), K titles, {column title: maps (K, S, S)})``.
    """
    cases = _choose_cases(ev, lesion, figure_cases=config.figure_cases)
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


def _choose_cases(ev: EvaluationSet, lesion: np.ndarray, *,
                  figure_cases: int | list[str]) -> list[int]:
    """Positions in ``lesion`` of the Figure 2 cases: one calcified patch per image (the
    malignant-centred one first, else the tile with the most lesion pixels); ``figure_cases``
    is how many (malignant and benign images alternately) or which image names."""
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
    if isinstance(figure_cases, int):
        # malignant and benign cases alternately, each in name order
        by_class = [sorted(n for n, j in best.items() if ev.labels[lesion[j]] == c)
                    for c in (MALIGNANT, BENIGN)]
        names = [n for pair in zip(*by_class) for n in pair]
        names += [n for group in by_class for n in group if n not in names]
        names = names[: max(0, figure_cases)]
    else:
        missing = [n for n in figure_cases if n not in best]
        if missing:
            raise ValueError(f"figure_cases {missing} have no calcified evaluation patch; "
                             f"choose among {sorted(best)}")
        names = list(figure_cases)
    return [best[n] for n in names]


def _class_maps(maps: dict[str, np.ndarray], ev: EvaluationSet, lesion: np.ndarray,
                cases: list[int]) -> np.ndarray:
    """Each case's map for its own patch class (benign or malignant), (K, S, S)."""
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

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.figure import Figure

    from ..classes import CLASS_COLORS
    from ..metrics.pixels import binarize

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
