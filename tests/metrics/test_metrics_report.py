"""Report tables (Table 2 / Table 4 layouts), JSON report and PNG plots."""

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from napari_mcdet.metrics import (
    PAPER_FIGURES,
    froc,
    froc_table,
    patch_roc,
    plot_froc,
    plot_roc,
    table2,
    table4,
    write_json_report,
    write_report,
)
from napari_mcdet.metrics.report import flat_table

AUCS = {"mcdet default": {"mini-MIAS": {"AUC_MCs": 0.8123, "AUC_mlg": float("nan")}}}
PIX = {
    "mcdet default": {
        "mini-MIAS": {
            "DSC_B": 0.1,
            "Rec_B": 0.2,
            "Prec_B": 0.3,
            "DSC_M": 0.4,
            "Rec_M": 0.5,
            "Prec_M": 0.6,
        }
    }
}


def test_table2_markdown_layout():
    text = table2(AUCS)
    lines = text.strip().splitlines()
    assert lines[0] == "| run | mini-MIAS AUC_MCs | mini-MIAS AUC_mlg |"
    assert lines[2] == "| mcdet default | 0.81 | - |"


def test_table2_with_paper_row():
    text = table2(AUCS, with_paper=True)
    header = text.splitlines()[0]
    assert "INbreast validation AUC_MCs" in header and "BMCD test AUC_mlg" in header
    paper = text.strip().splitlines()[-1].split(" | ")
    # columns: run, mini-MIAS x2, INbreast x2, BMCD x2
    assert paper[1:3] == ["-", "-"]
    assert paper[3:5] == ["0.90", "0.94"]
    assert paper[5:7] == ["0.94", "0.93 |"]


def test_table4_csv_round_trip():
    rows = list(csv.reader(io.StringIO(table4(PIX, fmt="csv", with_paper=True))))
    assert rows[0][:3] == ["run", "mini-MIAS DSC_B", "mini-MIAS Rec_B"]
    assert [float(v) for v in rows[1][1:7]] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    paper = dict(zip(rows[0], rows[2]))
    assert float(paper["INbreast validation DSC_M"]) == 0.46
    assert float(paper["BMCD test Prec_M"]) == 0.70
    assert paper["BMCD test Rec_M"] == ""  # the paper's value is not listed


def test_bad_format():
    with pytest.raises(ValueError, match="fmt"):
        table2(AUCS, fmt="latex")
    with pytest.raises(ValueError, match="fmt"):
        flat_table({"A": {"x": 1}}, fmt="latex")


def test_flat_table_formats():
    rows = {"A": {"x": "yes", "y": 0.123456}, "B": {"x": "no", "y": float("nan")}}
    md = flat_table(rows)
    assert "| A | yes | 0.12 |" in md and "| B | no | - |" in md
    assert flat_table(rows, fmt="csv") == "run,x,y\nA,yes,0.123456\nB,no,\n"


def test_flat_table_columns_in_first_seen_order():
    rows = {"A": {"y": 1.0}, "B": {"x": None, "y": 2.5}}
    assert flat_table(rows, fmt="csv", first="model") == "model,y,x\nA,1.0,\nB,2.5,\n"
    assert flat_table(rows, digits=1).splitlines() == [
        "| run | y | x |",
        "|---|---:|---:|",
        "| A | 1.0 | - |",
        "| B | 2.5 | - |",
    ]


def test_froc_table_layout():
    r, _ = _froc_and_roc()
    lines = froc_table({"calcifications": r}).splitlines()
    assert lines[0] == ("| run | images | regions | Sens@0.25FP | Sens@0.5FP | Sens@1FP | "
                        "Sens@2FP | mean | image AUC |")
    assert lines[1] == "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    # 2 images, 1 region found at 0.9 before any false positive: sensitivity 1 everywhere;
    # image scores 0.9 (positive) > 0.6 (negative)
    assert lines[2] == "| calcifications | 2 | 1 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 |"
    assert froc_table({}) == ""


def _froc_and_roc():
    gt = np.zeros((20, 20), np.uint8)
    gt[5, 5] = 2
    r = froc([np.array([[5, 5, 0.9], [15, 15, 0.4]]), np.array([[1, 1, 0.6]])], [gt, gt * 0])
    y = np.array([0, 1, 2, 2, 0])
    p = np.array(
        [[0.8, 0.1, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7], [0.5, 0.2, 0.3], [0.6, 0.2, 0.2]]
    )
    return r, patch_roc(y, p, task="mlg")


def test_json_report_replaces_nan_with_null(tmp_path):
    r, roc = _froc_and_roc()
    path = write_json_report(
        {"auc": AUCS, "froc": r, "roc": roc, "n": np.int64(3)}, tmp_path / "r.json"
    )
    data = json.loads(path.read_text())
    assert data["auc"]["mcdet default"]["mini-MIAS"]["AUC_mlg"] is None
    assert data["n"] == 3
    assert data["froc"]["n_regions"] == 1
    assert data["froc"]["sensitivity_at_fp"]["0.5"] == pytest.approx(r.sensitivity_at[1])
    assert data["roc"]["auc"] == pytest.approx(roc.auc)


def test_plots_are_png(tmp_path):
    r, roc = _froc_and_roc()
    for path in (
        plot_roc({"mlg": roc}, tmp_path / "roc.png"),
        plot_froc({"calcifications": r}, tmp_path / "f" / "froc.png"),
    ):
        head = path.read_bytes()[:8]
        assert head == b"\x89PNG\r\n\x1a\n"


def test_write_report_files(tmp_path):
    r, roc = _froc_and_roc()
    written = write_report(
        tmp_path,
        auc_results=AUCS,
        pixel_results=PIX,
        froc_results={"calcifications": r},
        roc_curves={"AUC_mlg": roc},
        extra={"command": "mcdet evaluate ..."},
    )
    names = sorted(p.name for p in written.values())
    assert names == [
        "froc.md",
        "froc.png",
        "report.json",
        "roc.png",
        "table2.csv",
        "table2.md",
        "table4.csv",
        "table4.md",
    ]
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["command"] == "mcdet evaluate ..."
    assert data["paper"]["BMCD test"] == PAPER_FIGURES["BMCD test"]
    assert "| calcifications | 2 | 1 |" in (tmp_path / "froc.md").read_text()


def test_importing_metrics_leaves_matplotlib_alone():
    code = (
        "import sys, napari_mcdet.metrics; "
        "print(sorted(m for m in ('matplotlib', 'napari', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
