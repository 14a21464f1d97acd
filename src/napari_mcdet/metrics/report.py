"""Report tables (the paper's Table 2 and Table 4 layouts), a JSON report and ROC/FROC plots.

Tables take ``{row name: {dataset name: {metric: value}}}`` and lay out one column per
(dataset, metric), as the paper does: Table 2 has ``AUC_MCs`` and ``AUC_mlg``, Table 4 has
``DSC``, ``Rec`` and ``Prec`` for benign (B) and malignant (M). :func:`flat_table` lays out rows
whose columns are plain keys (an ablation's ``yes``/``no`` beside its AUCs). Every table is
rendered by :func:`render_table`: Markdown (missing values print as ``-``) or CSV (full
precision, missing values empty).

Plots use matplotlib's object API (``matplotlib.figure.Figure``), which renders with Agg without
touching pyplot or the global backend; matplotlib is imported inside the plotting functions only.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .auc import RocCurve
from .froc import FrocResult

TABLE2_METRICS = ("AUC_MCs", "AUC_mlg")
TABLE4_METRICS = ("DSC_B", "Rec_B", "Prec_B", "DSC_M", "Rec_M", "Prec_M")

#: The paper's figures to beat, per data set (INbreast validation, BMCD test). Only the values the
#: paper states for its best model are listed.
PAPER_FIGURES: dict[str, dict[str, float]] = {
    "INbreast validation": {
        "AUC_MCs": 0.90,
        "AUC_mlg": 0.94,
        "DSC_B": 0.17,
        "DSC_M": 0.46,
        "Prec_M": 0.46,
    },
    "BMCD test": {
        "AUC_MCs": 0.94,
        "AUC_mlg": 0.93,
        "DSC_B": 0.25,
        "DSC_M": 0.36,
        "Prec_M": 0.70,
    },
}

Results = Mapping[str, Mapping[str, Mapping[str, float]]]


def _fmt(v: Any, digits: int) -> str:
    if v is None or (isinstance(v, float | np.floating) and math.isnan(v)):
        return "-"
    if isinstance(v, float | np.floating):
        return f"{v:.{digits}f}"
    return str(v)


def _csv_cell(v: Any) -> str:
    if v is None or (isinstance(v, float | np.floating) and math.isnan(v)):
        return ""
    return repr(float(v)) if isinstance(v, float | np.floating) else str(v)


def metrics_table(
    results: Results,
    metrics: Sequence[str],
    *,
    fmt: str = "markdown",
    digits: int = 2,
    with_paper: bool = False,
) -> str:
    """Lay results out as one row per run and one column per (data set, metric).

    Parameters
    ----------
    results : mapping
        ``{row name: {dataset: {metric: value}}}``.
    metrics : sequence of str
        Metric keys, in column order.
    fmt : {'markdown', 'csv'}, keyword-only
    digits : int, keyword-only
        Decimals in Markdown (CSV keeps full precision).
    with_paper : bool, keyword-only
        Add a ``paper`` row with :data:`PAPER_FIGURES` for data sets of the same name, and the
        paper's data-set columns when no result has them.

    Returns
    -------
    text : str
    """
    rows: dict[str, Mapping[str, Mapping[str, float]]] = dict(results)
    if with_paper:
        rows["paper (Table 2/4)"] = PAPER_FIGURES
    datasets: list[str] = []
    for per_ds in rows.values():
        for ds in per_ds:
            if ds not in datasets:
                datasets.append(ds)
    columns = [(ds, m) for ds in datasets for m in metrics]
    header = ["run"] + [f"{ds} {m}" for ds, m in columns]
    body = [
        [name] + [per_ds.get(ds, {}).get(m) for ds, m in columns] for name, per_ds in rows.items()
    ]
    return render_table(header, body, fmt=fmt, digits=digits)


def flat_table(
    rows: Mapping[str, Mapping[str, Any]],
    *,
    fmt: str = "markdown",
    digits: int = 2,
    first: str = "run",
) -> str:
    """Lay rows out as one row per name and one column per key (keys in first-seen order).

    For tables whose columns are not (data set, metric) pairs, such as an ablation with
    ``yes``/``no`` columns beside its AUCs. A row without a key gets an empty cell.

    Parameters
    ----------
    rows : mapping
        ``{row name: {column: value}}``; values are numbers, strings or None.
    fmt : {'markdown', 'csv'}, keyword-only
    digits : int, keyword-only
        Decimals of floats in Markdown (CSV keeps full precision).
    first : str, keyword-only
        Header of the first column (the row names).

    Returns
    -------
    text : str
    """
    columns: list[str] = []
    for r in rows.values():
        columns += [c for c in r if c not in columns]
    body = [[name] + [r.get(c) for c in columns] for name, r in rows.items()]
    return render_table([first, *columns], body, fmt=fmt, digits=digits)


def render_table(
    header: Sequence[str],
    body: Sequence[Sequence[Any]],
    *,
    fmt: str = "markdown",
    digits: int = 2,
) -> str:
    """The one table renderer of the reports: a header and rows as Markdown or CSV text.

    Markdown left-aligns the first column and right-aligns the others; floats print with
    ``digits`` decimals and None or NaN as ``-``. CSV writes floats at full precision
    (``repr``) and None or NaN as an empty cell, so that a table reads back exactly.

    Parameters
    ----------
    header : sequence of str
        Column titles, the row-name column first.
    body : sequence of sequences
        One row per entry, as long as ``header``.
    fmt : {'markdown', 'csv'}, keyword-only
    digits : int, keyword-only
        Decimals in Markdown.

    Returns
    -------
    text : str
        Ends with a newline.
    """
    if fmt not in ("markdown", "csv"):
        raise ValueError(f"fmt must be 'markdown' or 'csv', got {fmt!r}")
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        for r in body:
            w.writerow([_csv_cell(v) for v in r])
        return buf.getvalue()
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(_fmt(v, digits) for v in r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def table2(results: Results, *, fmt: str = "markdown", with_paper: bool = False) -> str:
    """The paper's Table 2 layout: ``AUC_MCs`` and ``AUC_mlg`` per data set."""
    return metrics_table(results, TABLE2_METRICS, fmt=fmt, with_paper=with_paper)


def table4(results: Results, *, fmt: str = "markdown", with_paper: bool = False) -> str:
    """The paper's Table 4 layout: ``DSC``, ``Rec``, ``Prec`` for benign and malignant."""
    return metrics_table(results, TABLE4_METRICS, fmt=fmt, with_paper=with_paper)


def froc_table(results: Mapping[str, FrocResult], *, digits: int = 2) -> str:
    """Markdown table: one row per named FROC (sensitivity at each FP rate, image-level AUC)."""
    if not results:
        return ""
    rates = next(iter(results.values())).fp_rates
    header = ["run", "images", "regions"] + [f"Sens@{f:g}FP" for f in rates] + ["mean", "image AUC"]
    body = [
        [
            name,
            r.n_images,
            r.n_regions,
            *map(float, r.sensitivity_at),
            r.mean_sensitivity,
            r.image_auc,
        ]
        for name, r in results.items()
    ]
    return render_table(header, body, digits=digits)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, dataclass-like results and NaN/inf (-> None) for JSON."""
    if hasattr(obj, "as_dict"):
        return to_jsonable(obj.as_dict())
    if isinstance(obj, RocCurve):
        return to_jsonable(
            {"auc": obj.auc, "n_pos": obj.n_pos, "n_neg": obj.n_neg, "fpr": obj.fpr, "tpr": obj.tpr}
        )
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.integer | np.bool_):
        return obj.item()
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    return obj


def write_json_report(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``report`` as indented JSON (NaN and inf become ``null``); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(report), indent=2, allow_nan=False) + "\n")
    return path


def _figure(title: str, xlabel: str, ylabel: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4.5), dpi=120)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def plot_roc(curves: Mapping[str, RocCurve], path: str | Path, *, title: str = "ROC") -> Path:
    """Save ROC curves (one per name, AUC in the legend) as a PNG; returns the path."""
    fig, ax = _figure(title, "false positive rate", "true positive rate")
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
    for name, c in curves.items():
        if c.fpr.size:
            ax.plot(c.fpr, c.tpr, lw=1.5, label=f"{name} (AUC {_fmt(c.auc, 3)})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    return _save_png(fig, ax, path)


def _save_png(fig, ax, path: str | Path) -> Path:
    """Legend (when anything is labelled) and the PNG file of a curve figure."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path


def plot_froc(
    results: Mapping[str, FrocResult],
    path: str | Path,
    *,
    title: str = "FROC",
    max_fp: float | None = None,
) -> Path:
    """Save FROC curves (sensitivity vs false positives per image) as a PNG; returns the path.

    The reported operating points (``fp_rates``) are marked. ``max_fp`` limits the x axis
    (default: a little beyond the largest reported FP rate).
    """
    fig, ax = _figure(title, "false positives per image", "sensitivity")
    xmax = 0.0
    for name, r in results.items():
        if np.all(np.isnan(r.sensitivity)):
            continue
        line = ax.step(
            r.fp_per_image,
            r.sensitivity,
            where="post",
            lw=1.5,
            label=f"{name} (mean sens. {_fmt(r.mean_sensitivity, 2)})",
        )
        ax.plot(r.fp_rates, r.sensitivity_at, "o", ms=4, color=line[0].get_color())
        xmax = max(xmax, float(np.max(r.fp_rates)))
    ax.set_xlim(0, max_fp if max_fp is not None else (xmax * 1.25 or 1.0))
    ax.set_ylim(0, 1.01)
    return _save_png(fig, ax, path)


def write_report(
    out_dir: str | Path,
    *,
    auc_results: Results | None = None,
    pixel_results: Results | None = None,
    froc_results: Mapping[str, FrocResult] | None = None,
    roc_curves: Mapping[str, RocCurve] | None = None,
    extra: Mapping[str, Any] | None = None,
    with_paper: bool = True,
) -> dict[str, Path]:
    """Write every table, plot and the JSON report that are given into ``out_dir``.

    Files: ``table2.md/.csv`` (AUCs), ``table4.md/.csv`` (pixel metrics), ``froc.md``,
    ``roc.png``, ``froc.png`` and ``report.json`` (everything, plus ``extra``).

    Returns
    -------
    written : dict
        File kind -> path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for key, results, make in (("table2", auc_results, table2), ("table4", pixel_results, table4)):
        if results:
            for ext, fmt in (("md", "markdown"), ("csv", "csv")):
                p = out / f"{key}.{ext}"
                p.write_text(make(results, fmt=fmt, with_paper=with_paper))
                written[f"{key}_{ext}"] = p
    if froc_results:
        p = out / "froc.md"
        p.write_text(froc_table(froc_results))
        written["froc_md"] = p
        written["froc_png"] = plot_froc(froc_results, out / "froc.png")
    if roc_curves:
        written["roc_png"] = plot_roc(roc_curves, out / "roc.png")
    report = {
        "auc": auc_results or {},
        "pixel": pixel_results or {},
        "froc": froc_results or {},
        "roc": roc_curves or {},
        "paper": PAPER_FIGURES,
        **(extra or {}),
    }
    written["json"] = write_json_report(report, out / "report.json")
    return written
