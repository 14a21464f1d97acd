"""Operating points on normal images, the strict cluster rule, and the fallback warning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import napari_mcdet as mc
from napari_mcdet.infer.calibrate import (
    ImageMaps,
    calibrate_threshold,
    cluster_froc,
)
from napari_mcdet.infer.domain import DomainWarning
from napari_mcdet.metrics import froc
from napari_mcdet.models.checkpoint import load_model, save_checkpoint
from napari_mcdet.nn import MCDetConfig, MCDetNet

SP = (0.2, 0.2)


def _maps_with_cluster(peak, *, labels=None, centre=(100, 100)):
    p = np.zeros((2, 200, 200), np.float32)
    r, c = centre
    for dr, dc in ((0, 0), (10, 12), (-8, 15)):
        p[1, r + dr - 1:r + dr + 2, c + dc - 1:c + dc + 2] = peak
    return ImageMaps(p, np.ones((200, 200), bool), [], 96, SP, labels)


def test_calibration_gives_the_requested_false_cluster_rate():
    normals = [_maps_with_cluster(v) for v in (0.3, 0.55, 0.75, 0.9)]
    point = calibrate_threshold(normals, target_fp=0.5)
    assert point["fp_per_image"] == 0.5 and point["reached"]
    # the lowest such threshold: just under 0.55 would let a third cluster through
    assert 0.5 <= point["benign"] < 0.75 and point["benign"] == point["malignant"]
    stricter = calibrate_threshold(normals, target_fp=0.0)
    assert stricter["fp_per_image"] == 0.0 and stricter["benign"] >= 0.9


def test_strict_rule_breast_sized_box_over_a_circle_is_a_false_positive():
    labels = np.zeros((400, 400), np.uint8)
    rr, cc = np.ogrid[:400, :400]
    labels[(rr - 300) ** 2 + (cc - 300) ** 2 <= 20**2] = 2
    big_box = np.array([[0, 0, 400, 400, 0.9]])          # covers the circle, centre outside
    tight_box = np.array([[290, 290, 312, 312, 0.8]])     # centred in the circle
    r = froc([big_box], [labels], classes=(2,))
    assert r.n_true_positives == 0 and r.n_false_positives == 1
    r = froc([tight_box], [labels], classes=(2,))
    assert r.n_true_positives == 1 and r.n_false_positives == 0


def test_cluster_froc_counts_lesions_and_false_clusters():
    lab = np.zeros((200, 200), np.uint8)
    lab[90:125, 95:130] = 2
    positive = _maps_with_cluster(0.8, labels=lab)
    normal = _maps_with_cluster(0.6, labels=np.zeros((200, 200), np.uint8))
    res = cluster_froc([positive, normal])
    assert res["n_regions"] == 1
    # at 0.5 false clusters per image (1 over 2 images) the lesion is found
    assert res["sensitivity_at"][res["fp_rates"].index(0.5)] == 1.0
    assert res["sensitivity_at"][res["fp_rates"].index(0.25)] == 1.0  # above 0.6: no FP


def test_a_model_without_an_operating_point_falls_back_with_the_command(shared_data,
                                                                        coarse_model):
    mammo = mc.read_mammogram(shared_data / "mini-mias" / "mdb003.pgm")
    with pytest.warns(UserWarning, match="mcdet calibrate"):
        det = mc.detect(mammo, coarse_model)
    assert det.thresholds["benign"] >= 0.1


def test_mcdet_calibrate_stores_the_point_that_detect_uses(shared_data, coarse_model,
                                                          tmp_path):
    import warnings

    from napari_mcdet.cli import main

    out = tmp_path / "calibrated.safetensors"
    normals = [str(shared_data / "mini-mias" / f"{n}.pgm") for n in ("mdb003", "mdb004")]
    assert main(["calibrate", str(coarse_model), *normals, "--target-fp", "1.0",
                 "--out", str(out)]) == 0
    point = load_model(out).metadata["operating_point"]
    assert point["fp_per_image"] <= 1.0 and point["images"] == ["mdb003.pgm", "mdb004.pgm"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        # the coarse test model is trained at 0.8 mm: the domain warning is expected, only the
        # operating point's fallback warning must not come
        warnings.simplefilter("ignore", DomainWarning)
        det = mc.detect(mc.read_mammogram(normals[0]), out)
    assert det.thresholds == {"benign": point["benign"], "malignant": point["malignant"]}
    assert len(det.clusters) <= 2


def test_mcdet_calibrate_mirror_stores_a_second_point_beside_the_first(shared_data,
                                                                      coarse_model, tmp_path):
    import warnings

    from napari_mcdet.cli import main
    from napari_mcdet.infer.calibrate import calibrate

    plain, both = tmp_path / "plain.safetensors", tmp_path / "both.safetensors"
    normals = [str(shared_data / "mini-mias" / f"{n}.pgm") for n in ("mdb003", "mdb004")]
    assert main(["calibrate", str(coarse_model), *normals, "--target-fp", "1.0",
                 "--out", str(plain)]) == 0
    assert main(["calibrate", str(plain), *normals, "--target-fp", "1.0", "--mirror",
                 "--out", str(both)]) == 0
    meta = load_model(both).metadata
    first, mirrored = meta["operating_point"], meta["operating_point_mirror"]
    assert first == load_model(plain).metadata["operating_point"]
    assert mirrored["tiling"]["mirror"] and not first["tiling"]["mirror"]
    assert mirrored["fp_per_image"] <= 1.0
    # the command stores what calibrate(mirror=True) chooses
    mammos = [mc.read_mammogram(n) for n in normals]
    again = calibrate(load_model(coarse_model), mammos, target_fp=1.0, mirror=True)
    assert again["benign"] == mirrored["benign"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        # the coarse test model is trained at 0.8 mm: the domain warning is expected, only the
        # operating point's fallback warning must not come
        warnings.simplefilter("ignore", DomainWarning)
        det = mc.detect(mammos[0], both, mirror=True)
    assert det.thresholds["benign"] == mirrored["benign"]


def test_nothing_analysed_is_an_error_not_zero_findings(coarse_model):
    image = np.random.default_rng(0).normal(100, 5, (40, 40)).astype(np.float32)
    with pytest.raises(ValueError, match="nothing was analysed"):
        mc.detect(image, coarse_model, pixel_spacing=0.002, threshold=0.5)


def test_a_model_that_outputs_nan_is_an_error(shared_data, tmp_path):
    torch.manual_seed(0)
    net = MCDetNet(MCDetConfig(filters=(4, 8, 16, 32, 64)))
    with torch.no_grad():
        next(net.parameters()).fill_(float("nan"))
    path = save_checkpoint(tmp_path / "nan.safetensors", net, pixel_spacing=(0.8, 0.8),
                           patch_size=64)
    mammo = mc.read_mammogram(shared_data / "mini-mias" / "mdb003.pgm")
    with pytest.raises(ValueError, match="NaN"):
        mc.detect(mammo, path, threshold=0.5)
