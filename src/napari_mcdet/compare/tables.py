"""The study's tables (the paper's Tables 2, 3 and 4) beside the paper's own numbers.

The rows are built here; they are rendered by :mod:`napari_mcdet.metrics.report`, as every other
report table of the package: Tables 2 and 4 by :func:`~napari_mcdet.metrics.report.table2` and
:func:`~napari_mcdet.metrics.report.table4` (one column per data set and metric), Table 3 by
:func:`~napari_mcdet.metrics.report.flat_table` (its ``yes``/``no`` columns are no metrics).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..metrics.report import TABLE2_METRICS, TABLE4_METRICS, flat_table, table2, table4
from .evaluation import ModelResult

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
#: The ablation variants of our network (Table 3): name -> (multi-task, multi-scale).
ABLATIONS = {
    "MuTMuS": (True, True),
    "MoTMuS": (False, True),
    "MuTMoS": (True, False),
    "MoTMoS": (False, False),
}
#: Data-set name of the paper's columns.
PAPER_DATASET = "paper (INbreast val.)"


def _paper_row(values: tuple[float, ...] | None, keys: tuple[str, ...]) -> dict[str, float]:
    return dict(zip(keys, values)) if values else {}


def comparison_tables(results: Mapping[str, ModelResult], dataset: str) -> dict[str, dict]:
    """The rows of Tables 2, 3 and 4, each beside the paper's numbers for the same model.

    Parameters
    ----------
    results : mapping of str -> ModelResult
        Per model name, in row order.
    dataset : str
        Name of the evaluation data (``'mini-MIAS'``), the first part of the column titles.

    Returns
    -------
    dict
        ``'table2'`` and ``'table4'``: ``{row: {data set: {metric: value}}}`` (the layout of
        :func:`~napari_mcdet.metrics.report.metrics_table`); ``'table3'``: ``{row: {column:
        value}}`` (the layout of :func:`~napari_mcdet.metrics.report.flat_table`). Table 3 has
        our network's ablation variants only, Table 4 the models with pixel maps only.
    """
    t2, t3, t4 = {}, {}, {}
    for name, r in results.items():
        key = r.entry.key
        t2[name] = {dataset: dict(r.aucs),
                    PAPER_DATASET: _paper_row(PAPER_TABLE2.get(key), TABLE2_METRICS)}
        if r.entry.architecture == "mcdet" and key in ABLATIONS:
            mt, ms = ABLATIONS[key]
            paper = _paper_row(PAPER_TABLE3.get(key), TABLE2_METRICS)
            t3[name] = {"multi-task": "yes" if mt else "no", "multi-scale": "yes" if ms else "no",
                        **{f"{dataset} {k}": v for k, v in r.aucs.items()},
                        **{f"{PAPER_DATASET} {k}": paper.get(k) for k in TABLE2_METRICS}}
        if r.pixel is not None:
            how = "Grad-CAM" if r.entry.architecture != "mcdet" else "segmentation"
            t4[f"{name} ({how})"] = {dataset: dict(r.pixel),
                                     PAPER_DATASET: _paper_row(PAPER_TABLE4.get(key),
                                                               TABLE4_METRICS)}
    return {"table2": t2, "table3": t3, "table4": t4}


def render_comparison_table(key: str, rows: Mapping[str, Mapping], *, fmt: str) -> str:
    """One table of :func:`comparison_tables` as text.

    Parameters
    ----------
    key : {'table2', 'table3', 'table4'}
    rows : mapping
        ``comparison_tables(...)[key]``.
    fmt : {'markdown', 'csv'}, keyword-only

    Returns
    -------
    text : str
        Markdown with two decimals, or CSV at full precision; missing values ``-`` / empty.
    """
    if key == "table3":
        return flat_table(rows, fmt=fmt)
    render = {"table2": table2, "table4": table4}.get(key)
    if render is None:
        raise ValueError(f"key must be 'table2', 'table3' or 'table4', got {key!r}")
    return render(_only_filled(rows), fmt=fmt)


def _only_filled(rows: Mapping[str, Mapping]) -> Mapping[str, Mapping]:
    """Drop the paper's columns when no row has a paper value (keeps tables narrow)."""
    if any(r.get(PAPER_DATASET) for r in rows.values()):
        return rows
    return {n: {k: v for k, v in r.items() if k != PAPER_DATASET} for n, r in rows.items()}
