"""A detection's tables by columns (the Detect widget's layer features): the CSV's columns."""

from __future__ import annotations

import csv

import numpy as np

from napari_mcdet.infer.candidates import group_clusters
from napari_mcdet.infer.detect import Detection, find_calcifications
from napari_mcdet.infer.export import (
    CALC_COLUMNS,
    CLUSTER_COLUMNS,
    calcification_columns,
    cluster_columns,
    write_detection,
)

SPACING = (0.1, 0.1)


def _detection(spots):
    labels = np.zeros((64, 64), np.uint8)
    for r, c in spots:
        labels[r:r + 2, c:c + 2] = 2
    probs = np.zeros((2, 64, 64), np.float32)
    probs[1][labels == 2] = 0.9
    calcs = find_calcifications(labels, probs, pixel_spacing=SPACING)
    return Detection(probabilities=probs, labels=labels, calcifications=calcs,
                     clusters=group_clusters(calcs, pixel_spacing=SPACING), tile_scores=[],
                     pixel_spacing=SPACING, thresholds={"benign": 0.5, "malignant": 0.5})


def test_three_close_calcifications_by_columns():
    # three 2 x 2 spots within 1 mm of each other: three calcifications, one cluster
    det = _detection([(10, 10), (10, 16), (16, 12)])
    calc = calcification_columns(det)
    assert tuple(calc) == CALC_COLUMNS
    assert sorted(zip(calc["row"], calc["col"])) == [(10.5, 10.5), (10.5, 16.5), (16.5, 12.5)]
    assert calc["class"] == [2, 2, 2] and calc["class_name"] == ["malignant"] * 3
    assert calc["area_px"] == [4, 4, 4]
    clus = cluster_columns(det)
    assert tuple(clus) == CLUSTER_COLUMNS
    assert (clus["r0"], clus["c0"], clus["r1"], clus["c1"]) == ([10], [10], [18], [18])
    assert clus["n_calcifications"] == [3] and clus["class_name"] == ["malignant"]


def test_no_detection_gives_every_column_empty():
    det = _detection([])
    assert calcification_columns(det) == {k: [] for k in CALC_COLUMNS}
    assert cluster_columns(det) == {k: [] for k in CLUSTER_COLUMNS}


def test_the_columns_are_the_csv_files(tmp_path):
    det = _detection([(10, 10), (10, 16), (16, 12)])
    written = write_detection(det, tmp_path, "a", overlay=False)
    for key, columns in (("calcifications_csv", calcification_columns(det)),
                         ("clusters_csv", cluster_columns(det))):
        with open(written[key], newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert list(rows[0]) == list(columns)
        for name, values in columns.items():
            assert [r[name] for r in rows] == [str(v) for v in values], name
