"""Calcification candidates and BI-RADS clusters on hand-built probability maps."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcdet.infer.candidates import find_candidates, group_clusters, weigh_by_tiles

SP = (0.2, 0.2)
T = {"benign": 0.5, "malignant": 0.5}


def _blob(p, r, c, value, radius=1, channel=1):
    rr, cc = np.ogrid[: p.shape[1], : p.shape[2]]
    p[channel][(rr - r) ** 2 + (cc - c) ** 2 <= radius**2] = value


def test_candidates_are_peaks_inside_the_breast_away_from_the_skin():
    p = np.zeros((2, 200, 200), np.float32)
    breast = np.zeros((200, 200), bool)
    breast[20:180, 20:180] = True
    _blob(p, 100, 100, 0.9)               # inside: kept
    _blob(p, 22, 100, 0.95)               # 0.4 mm from the outline: skin line
    _blob(p, 60, 60, 0.8, channel=0)      # a benign one
    calcs, kept = find_candidates(p, breast, T, pixel_spacing=SP, skin_margin_mm=3.0)
    cents = {tuple(round(v) for v in c["centroid"]) for c in calcs}
    assert cents == {(100, 100), (60, 60)}
    assert {c["class"] for c in calcs} == {1, 2}
    assert kept[100, 100] and not kept[22, 100]
    assert calcs[0]["score"] == pytest.approx(0.9)


def test_a_response_larger_than_a_calcification_is_not_one():
    p = np.zeros((2, 200, 200), np.float32)
    breast = np.ones((200, 200), bool)
    p[1, 50:150, 98:103] = 0.9            # 100 x 5 px = 20 mm^2 at 0.2 mm: a skin-like streak
    _blob(p, 30, 30, 0.7)
    calcs, _ = find_candidates(p, breast, T, pixel_spacing=SP, skin_margin_mm=0,
                               max_area_mm2=12.0)
    assert [tuple(round(v) for v in c["centroid"]) for c in calcs] == [(30, 30)]


def test_nothing_above_the_threshold_gives_no_candidate():
    p = np.full((2, 64, 64), 0.3, np.float32)
    calcs, kept = find_candidates(p, np.ones((64, 64), bool), T, pixel_spacing=SP)
    assert calcs == [] and not kept.any()


def _calcs(points, score=0.8):
    return [{"id": i, "centroid": (float(r), float(c)), "bbox": (r - 1, c - 1, r + 2, c + 2),
             "score": score, "benign_score": 0.1, "malignant_score": score, "class": 2}
            for i, (r, c) in enumerate(points)]


def test_three_within_a_square_centimetre_form_a_cluster():
    pts = [(100, 100), (110, 115), (95, 120)]  # within 5 mm at 0.2 mm/px
    clusters = group_clusters(_calcs(pts), pixel_spacing=SP)
    assert len(clusters) == 1
    cl = clusters[0]
    assert cl["n_calcifications"] == 3
    assert cl["bbox"] == (94, 99, 112, 122)  # the members' extent, no more


def test_a_chain_does_not_become_one_breast_sized_cluster():
    pts = [(100, 100 + 15 * k) for k in range(12)]  # 3 mm apart over 33 mm
    clusters = group_clusters(_calcs(pts), pixel_spacing=SP, diameter_mm=10)
    assert len(clusters) >= 2
    for cl in clusters:
        r0, c0, r1, c1 = cl["bbox"]
        assert (c1 - c0) * SP[1] <= 10 + 1.0  # no box wider than a centimetre (+ member boxes)


def test_two_calcifications_are_not_a_cluster():
    assert group_clusters(_calcs([(10, 10), (12, 12)]), pixel_spacing=SP) == []


def test_cluster_score_weighs_the_tile_heads():
    pts = [(100, 100), (105, 105), (102, 98)]
    tiles = [{"origin": (64, 64), "probabilities": [0.9, 0.05, 0.05]}]
    low = group_clusters(_calcs(pts), pixel_spacing=SP, tiles=tiles, tile=96)[0]
    tiles = [{"origin": (64, 64), "probabilities": [0.1, 0.1, 0.8]}]
    high = group_clusters(_calcs(pts), pixel_spacing=SP, tiles=tiles, tile=96)[0]
    assert low["score"] < high["score"]
    assert high["class"] == 2 and high["tile_score"] == pytest.approx(0.9)


def test_a_speck_on_tissue_the_heads_call_normal_ranks_below_one_on_calcified_tissue():
    p = np.zeros((2, 200, 200), np.float32)
    _blob(p, 30, 30, 0.95)                # the brighter speck, in a tile the heads call normal
    _blob(p, 130, 130, 0.9)               # in a tile where the heads see calcifications
    calcs, _ = find_candidates(p, np.ones((200, 200), bool), T, pixel_spacing=SP,
                               skin_margin_mm=0)
    assert [round(c["centroid"][0]) for c in calcs] == [30, 130]  # probability order
    tiles = [{"origin": (0, 0), "probabilities": [0.8, 0.1, 0.1]},
             {"origin": (96, 96), "probabilities": [0.3, 0.2, 0.5]}]
    weighed = weigh_by_tiles(calcs, tiles=tiles, tile=96)
    assert [round(c["centroid"][0]) for c in weighed] == [130, 30]
    assert [c["id"] for c in weighed] == [0, 1]
    top, low = weighed
    assert top["pixel_score"] == pytest.approx(0.9) and top["tile_score"] == pytest.approx(0.7)
    assert top["score"] == pytest.approx((0.9 + 0.7) / 2)
    assert low["score"] == pytest.approx((0.95 + 0.2) / 2)
    assert calcs[0]["score"] == pytest.approx(0.95)  # the input is left as it was


def test_without_tiles_the_score_is_the_probability_at_the_peak():
    weighed = weigh_by_tiles(_calcs([(10, 10), (40, 40)]), tiles=None, tile=None)
    assert all(c["tile_score"] is None and c["score"] == c["pixel_score"] for c in weighed)


def test_a_cluster_of_tile_weighed_calcifications_counts_the_heads_once():
    pts = [(100, 100), (105, 105), (102, 98)]
    tiles = [{"origin": (64, 64), "probabilities": [0.1, 0.1, 0.8]}]
    raw = group_clusters(_calcs(pts), pixel_spacing=SP, tiles=tiles, tile=96)[0]
    weighed = weigh_by_tiles(_calcs(pts), tiles=tiles, tile=96)
    cl = group_clusters(weighed, pixel_spacing=SP, tiles=tiles, tile=96)[0]
    assert cl["member_score"] == pytest.approx(raw["member_score"])
    assert cl["score"] == pytest.approx(raw["score"])
