"""Tiled whole-image detection: tiling/blending, input checks, objects, cancel, real model.

Speed: a randomly initialised tiny MCDetNet (filters 4..64) saved as a checkpoint; images are
small, so each detect call runs a handful of 64 x 64 tiles. A network trained for a few dozen
steps inside a test was tried and rejected (minutes on the shared 2-core machine); detection
quality is tested on the object stage with a probability map built from the synthetic ground
truth, and loosely on the bundled default model when it is present.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_mcdet.classes import BENIGN, MALIGNANT
from napari_mcdet.data.tiling import TileAccumulator, tile_grid
from napari_mcdet.infer.candidates import group_clusters
from napari_mcdet.infer.detect import (
    Detection,
    DetectionCancelled,
    class_thresholds,
    detect,
    find_calcifications,
    labels_from_probabilities,
)
from napari_mcdet.mammogram import Mammogram
from napari_mcdet.models.checkpoint import default_model_path, load_model, save_checkpoint
from napari_mcdet.nn import MCDetConfig, MCDetNet


@pytest.fixture(scope="module")
def tiny_model(tiny_checkpoint):
    return load_model(tiny_checkpoint)


@pytest.fixture(scope="module")
def phantom():
    from napari_mcdet.synth.phantom import breast_phantom

    return breast_phantom((160, 128), pixel_spacing=0.2, seed=1)


# -- tiling and blending ------------------------------------------------------------------
@pytest.mark.parametrize("shape,tile,overlap", [((300, 217), 64, 16), ((128, 128), 64, 0),
                                                ((97, 250), 32, 8), ((64, 64), 64, 16)])
def test_blending_counts_every_pixel_once(shape, tile, overlap):
    acc = TileAccumulator(shape, tile, overlap, channels=1)
    for origin in tile_grid(shape, tile, overlap=overlap):
        acc.add(origin, np.ones((1, tile, tile), np.float32))
    out = acc.result()
    assert out.dtype == np.float32 and out.shape == (1, *shape)
    np.testing.assert_allclose(out, 1.0, rtol=0, atol=1e-6)


def test_blending_reproduces_a_map_cut_into_tiles(rng):
    shape, tile, overlap = (150, 190), 48, 12
    truth = rng.random(shape).astype(np.float32)
    acc = TileAccumulator(shape, tile, overlap, channels=1)
    for r, c in tile_grid(shape, tile, overlap=overlap):
        acc.add((r, c), truth[None, r:r + tile, c:c + tile])
    np.testing.assert_allclose(acc.result()[0], truth, atol=1e-6)


def test_blending_image_smaller_than_a_tile():
    shape, tile = (20, 30), 64
    grid = tile_grid(shape, tile, overlap=16)
    assert grid == [(0, 0)]
    acc = TileAccumulator(shape, tile, 16, channels=2)
    acc.add(grid[0], np.full((2, tile, tile), 0.25, np.float32))
    out = acc.result()
    assert out.shape == (2, 20, 30)
    np.testing.assert_allclose(out, 0.25, atol=1e-7)


def test_pixels_no_tile_covers_are_zero():
    acc = TileAccumulator((100, 100), 50, 0, channels=1)
    acc.add((0, 0), np.ones((1, 50, 50), np.float32))
    out = acc.result()[0]
    assert out[:50, :50].min() == 1.0 and out[50:].max() == 0 and out[:, 50:].max() == 0


# -- detect on a small image ----------------------------------------------------------------
def test_detect_outputs_on_input_grid(tiny_model, phantom):
    calls = []
    det = detect(phantom, tiny_model, threshold=0.5, device="cpu",
                 progress=lambda d, t: calls.append((d, t)))
    assert isinstance(det, Detection)
    assert det.probabilities.dtype == np.float32 and det.probabilities.shape == (2, 160, 128)
    assert 0 <= det.probabilities.min() and det.probabilities.max() <= 1
    assert det.labels.dtype == np.uint8 and det.labels.shape == (160, 128)
    assert set(np.unique(det.labels)) <= {0, 1, 2}
    assert calls[0][0] == 0 and calls[-1] == (det.n_tiles_run, det.n_tiles_run)
    assert 0 < det.n_tiles_run <= det.n_tiles
    assert len(det.tile_scores) == det.n_tiles_run
    for t in det.tile_scores:
        r0, c0, r1, c1 = t["bbox"]
        assert 0 <= r0 < r1 <= 160 and 0 <= c0 < c1 <= 128
        assert np.isclose(sum(t["probabilities"]), 1, atol=1e-5)
    assert det.pixel_spacing == (0.2, 0.2) and det.model_name == "tiny"
    assert det.thresholds == {"benign": 0.5, "malignant": 0.5}
    # outside the breast: 0
    from napari_mcdet.data.breast import breast_mask

    assert det.probabilities[:, ~breast_mask(phantom.pixels)].max() == 0


def test_a_calcification_score_is_its_peak_probability_weighed_by_its_tile(tiny_model, phantom):
    det = detect(phantom, tiny_model, threshold=0.2, device="cpu", skin_margin_mm=0,
                 max_area_mm2=1e6)
    assert det.calcifications
    scores = [c["score"] for c in det.calcifications]
    assert scores == sorted(scores, reverse=True)
    for c in det.calcifications:
        r, col = c["centroid"]
        under = [t["probabilities"][0] for t in det.tile_scores
                 if t["bbox"][0] <= r < t["bbox"][2] and t["bbox"][1] <= col < t["bbox"][3]]
        assert under
        assert c["tile_score"] == pytest.approx(1 - min(under), abs=1e-6)
        # equal class thresholds: the class is the likelier one at the peak
        assert c["pixel_score"] == pytest.approx(max(c["benign_score"], c["malignant_score"]))
        assert c["score"] == pytest.approx((c["pixel_score"] + c["tile_score"]) / 2)


def test_detect_resamples_to_the_model_and_back(tiny_model, phantom):
    # the same phantom declared at 0.1 mm: the network runs on a half-size grid
    det = detect(phantom.pixels, tiny_model, pixel_spacing=(0.1, 0.1), device="cpu")
    assert det.probabilities.shape == (2, 160, 128) and det.labels.shape == (160, 128)
    assert det.pixel_spacing == (0.1, 0.1) and det.model_pixel_spacing == (0.2, 0.2)
    for c in det.calcifications:
        assert np.isclose(c["area_mm2"], c["area_px"] * 0.01)


def test_detect_image_smaller_than_a_tile(tiny_model):
    from napari_mcdet.synth.phantom import breast_phantom

    small = breast_phantom((40, 50), pixel_spacing=0.2, seed=2)
    det = detect(small, tiny_model, device="cpu")
    assert det.probabilities.shape == (2, 40, 50)
    assert det.n_tiles == 1


def test_detect_same_input_same_output(tiny_model, phantom):
    a = detect(phantom, tiny_model, device="cpu")
    b = detect(phantom, tiny_model, device="cpu")
    np.testing.assert_array_equal(a.probabilities, b.probabilities)


def test_detect_cancel(tiny_model, phantom):
    with pytest.raises(DetectionCancelled, match="cancelled"):
        detect(phantom, tiny_model, device="cpu", batch_size=1, tile=64,
               should_stop=lambda: True)
    seen = []

    def stop_after_first():
        seen.append(1)
        return len(seen) > 1

    with pytest.raises(DetectionCancelled, match="after 1 of"):
        detect(phantom, tiny_model, device="cpu", batch_size=1, tile=64,
               should_stop=stop_after_first)


@pytest.mark.parametrize("image,spacing,match", [
    (np.random.default_rng(0).random((50, 60)), None, "pixel_spacing"),
    (np.random.default_rng(0).random((50, 60, 3)), 0.2, "2-D"),
    (np.random.default_rng(0).random((4, 50, 60)), 0.2, "2-D"),
    (np.full((50, 60), 7.0), 0.2, "constant"),
    (np.where(np.eye(50, 60) > 0, np.nan, 1.0), 0.2, "NaN"),
    (np.random.default_rng(0).random((50, 60)), -0.1, "positive"),
])
def test_detect_rejects_bad_input(tiny_model, image, spacing, match):
    with pytest.raises(ValueError, match=match):
        detect(image, tiny_model, pixel_spacing=spacing)


def test_detect_rejects_bad_options(tiny_model, phantom):
    with pytest.raises(ValueError, match="overlap"):
        detect(phantom, tiny_model, overlap=1.5)
    with pytest.raises(ValueError, match="threshold"):
        detect(phantom, tiny_model, threshold="otsu")
    with pytest.raises(TypeError, match="TrainedModel"):
        detect(phantom, object())
    with pytest.raises(ValueError, match="multiple of 16"):
        detect(phantom, tiny_model, tile=100)
    with pytest.raises(ValueError, match="gate"):
        detect(phantom, tiny_model, gate=1.5)
    with pytest.raises(ValueError, match="engine"):
        detect(phantom, tiny_model, engine="fastest")


def test_mammogram_without_spacing_names_the_fix(tiny_model, phantom):
    with pytest.raises(ValueError, match="pixel_spacing=|--spacing"):
        detect(Mammogram(phantom.pixels), tiny_model)


# -- thresholds and objects -----------------------------------------------------------------
def test_thresholds_li_fixed_and_pairs(rng):
    p = np.zeros((2, 64, 64), np.float32)
    p[:, 10:14, 10:14] = 0.9
    p += rng.random(p.shape).astype(np.float32) * 0.05
    li = class_thresholds(p)
    assert 0.05 < li["benign"] < 0.9 and 0.05 < li["malignant"] < 0.9
    # Li alone falls inside the noise on such a sparse map: the floor keeps it above
    assert class_thresholds(p, min_threshold=0.0)["benign"] < 0.05
    assert class_thresholds(p, (0.3, "li"))["benign"] == 0.3
    lab = labels_from_probabilities(p, {"benign": 0.5, "malignant": 0.5})
    assert (lab == MALIGNANT).sum() == 16  # malignant wins where both pass
    lab = labels_from_probabilities(p, {"benign": 0.5, "malignant": 0.95})
    assert (lab == BENIGN).sum() == 16


def test_objects_find_synthetic_lesion_from_its_ground_truth():
    """The object stage on a probability map made from the synthetic mask: recall/precision.

    Bounds: >= 80 % of the placed calcifications hit by a detected calcification centroid
    (touching calcifications merge into one component, so not 100 %), >= 90 % of detections
    on the lesion, and exactly one malignant cluster holding the lesion's centre.
    """
    from scipy import ndimage as ndi

    from napari_mcdet.synth.lesions import synthesize
    from napari_mcdet.synth.phantom import breast_phantom

    ph = breast_phantom((400, 320), pixel_spacing=0.1, seed=4)
    les = synthesize(ph, kind="malignant", seed=5, count=(12, 12))
    mask = les.mask
    prob = np.zeros((2, *mask.shape), np.float32)
    prob[1] = ndi.gaussian_filter((mask == MALIGNANT).astype(np.float32), 0.7)
    prob[1] /= prob[1].max()
    prob[0] = 0.3 * prob[1]
    th = class_thresholds(prob, 0.2)
    labels = labels_from_probabilities(prob, th)
    calcs = find_calcifications(labels, prob, pixel_spacing=(0.1, 0.1))
    truth = [c["centroid_px"] for c in les.calcifications]
    comp = ndi.label(labels > 0, structure=np.ones((3, 3)))[0]
    recall = np.mean([comp[int(round(r)), int(round(c))] > 0 for r, c in truth])
    on_lesion = np.mean([ndi.binary_dilation(mask > 0, iterations=2)[
        int(round(c["centroid"][0])), int(round(c["centroid"][1]))] for c in calcs])
    assert recall >= 0.8 and on_lesion >= 0.9
    assert all(c["class"] == MALIGNANT and c["area_mm2"] > 0 for c in calcs)
    clusters = group_clusters(calcs, pixel_spacing=(0.1, 0.1))
    assert len(clusters) == 1 and clusters[0]["class"] == MALIGNANT
    r0, c0, r1, c1 = clusters[0]["bbox"]
    assert r0 <= les.centre[0] <= r1 and c0 <= les.centre[1] <= c1


def test_group_clusters_complete_linkage():
    sp = (0.1, 0.1)  # 100 px = 10 mm
    pts = [(0, 0), (0, 90), (0, 180), (500, 500), (500, 600), (900, 0), (900, 50), (900, 95)]

    def rec(i, p, m=0.6):
        return {"id": i, "centroid": p, "bbox": (p[0], p[1], p[0] + 1, p[1] + 1),
                "benign_score": 0.5, "malignant_score": m, "score": max(m, 0.5),
                "class": MALIGNANT if m > 0.5 else BENIGN}

    calcs = [rec(i, p, 0.9 if i >= 5 else 0.4) for i, p in enumerate(pts)]
    clusters = group_clusters(calcs, pixel_spacing=sp, diameter_mm=10, min_count=3)
    # the chain (0,0)-(0,90)-(0,180) spans 18 mm: single linkage would join it, BI-RADS does not
    assert [c["n_calcifications"] for c in clusters] == [3]
    top = clusters[0]
    assert top["class"] == MALIGNANT and top["score"] == pytest.approx(0.9)
    assert top["calcification_ids"] == [5, 6, 7]
    assert top["bbox"] == (900, 0, 901, 96)
    pairs = group_clusters(calcs, pixel_spacing=sp, diameter_mm=10, min_count=2)
    assert sorted(c["n_calcifications"] for c in pairs)[-1] == 3
    assert group_clusters(calcs[:2], pixel_spacing=sp) == []


# -- the bundled model, loosely ---------------------------------------------------------------
@pytest.mark.skipif(not default_model_path().is_file(), reason="bundled default model not built")
def test_default_model_ranks_a_synthetic_lesion_above_tissue():
    """Loose bound for a briefly trained model: the mean malignant+benign probability on the
    lesion's (dilated) pixels exceeds the mean over the other breast pixels."""
    from scipy import ndimage as ndi

    from napari_mcdet.data.breast import breast_mask
    from napari_mcdet.synth.lesions import synthesize
    from napari_mcdet.synth.phantom import breast_phantom

    model = load_model()
    sp = model.pixel_spacing
    ph = breast_phantom((2 * model.patch_size, 2 * model.patch_size), pixel_spacing=sp, seed=7)
    les = synthesize(ph, kind="malignant", seed=8)
    det = detect(les.image, model, pixel_spacing=sp, device="cpu")
    p = det.probabilities.sum(0)
    lesion = ndi.binary_dilation(les.mask > 0, iterations=1)
    tissue = breast_mask(ph.pixels) & ~ndi.binary_dilation(lesion, iterations=10)
    assert p[lesion].mean() > p[tissue].mean()


# -- decoder gate, tile size, engine ----------------------------------------------------------
def _ungated_reference(model, phantom, *, tile, overlap):
    """The pipeline without a gate, built by hand from its parts: what detect ran before the
    gate existed (the phantom is at the model's spacing, so no resampling is involved)."""
    from napari_mcdet.data.prepare import prepare_image
    from napari_mcdet.data.tiling import run_tiles
    from napari_mcdet.infer.patches import segmentation_predictor
    from napari_mcdet.nn.inference import prepare_for_inference

    image, breast, _ = prepare_image(phantom, pixel_spacing=model.pixel_spacing)
    net = prepare_for_inference(model.network)
    with torch.inference_mode():
        probs, records, _ = run_tiles(
            segmentation_predictor(net, device="cpu", channels_last=True), image, tile=tile,
            overlap=overlap, channels=2, breast=breast, batch_size=8)
    probs[:, ~breast] = 0.0
    return probs, records


def test_gate_off_is_the_ungated_pipeline_bit_for_bit(tiny_model, phantom):
    ref, records = _ungated_reference(tiny_model, phantom, tile=64, overlap=16)
    off = detect(phantom, tiny_model, gate=None, engine="eager", tile=64, overlap=16,
                 threshold=0.5, device="cpu")
    np.testing.assert_array_equal(off.probabilities, ref)
    assert [t["probabilities"] for t in off.tile_scores] == [r["probabilities"] for r in records]
    assert off.n_tiles_decoded == off.n_tiles_run and off.gate is None
    # gate 0 passes every tile: encoder and decoder run apart, the maps are the same bits
    zero = detect(phantom, tiny_model, gate=0.0, engine="eager", tile=64, overlap=16,
                  threshold=0.5, device="cpu")
    np.testing.assert_array_equal(zero.probabilities, ref)
    np.testing.assert_array_equal(zero.labels, off.labels)
    assert zero.n_tiles_decoded == zero.n_tiles_run


def test_gate_on_skips_the_decoder_and_keeps_the_tile_records(tiny_model, mono_scale_model,
                                                             phantom):
    from napari_mcdet.data.prepare import prepare_image
    from napari_mcdet.data.tiling import extract_patch
    from napari_mcdet.nn.inference import prepare_for_inference

    common = dict(engine="eager", tile=64, overlap=16, threshold=0.5, device="cpu")
    off = detect(phantom, tiny_model, gate=None, **common)
    image, _, _ = prepare_image(phantom, pixel_spacing=tiny_model.pixel_spacing)
    net = prepare_for_inference(tiny_model.network)
    tiles = np.stack([extract_patch(image, t["bbox"][:2], 64) for t in off.tile_scores])
    with torch.inference_mode():
        head = torch.softmax(net.encode(torch.from_numpy(tiles[:, None])).class_logits, 1)
    scores = 1 - head[:, 0].numpy()
    gate = float(np.median(scores))  # about half the tiles pass
    on = detect(phantom, tiny_model, gate=gate, **common)
    decoded = np.array([t["decoded"] for t in on.tile_scores])
    assert on.gate == gate and on.n_tiles_run == off.n_tiles_run == len(on.tile_scores)
    assert 0 < on.n_tiles_decoded == decoded.sum() < on.n_tiles_run
    np.testing.assert_array_equal(decoded, scores >= gate)
    covered_by = {True: np.zeros(on.shape, bool), False: np.zeros(on.shape, bool)}
    for k, (t_on, t_off) in enumerate(zip(on.tile_scores, off.tile_scores)):
        assert t_on["bbox"] == t_off["bbox"]
        r0, c0, r1, c1 = t_on["bbox"]
        covered_by[bool(decoded[k])][r0:r1, c0:c1] = True
        # a skipped tile's record: the bottleneck head; a decoded one's: every head, as ungated
        want = head[k].tolist() if not decoded[k] else t_off["probabilities"]
        np.testing.assert_allclose(t_on["probabilities"], want, atol=1e-6)
        assert np.isclose(sum(t_on["probabilities"]), 1, atol=1e-5)
    only_skipped = covered_by[False] & ~covered_by[True]
    only_decoded = covered_by[True] & ~covered_by[False]
    assert only_skipped.any() and only_decoded.any()
    assert on.probabilities[:, only_skipped].max() == 0
    np.testing.assert_allclose(on.probabilities[:, only_decoded],
                               off.probabilities[:, only_decoded], atol=1e-6)
    # a model without the bottleneck head cannot gate
    with pytest.raises(ValueError, match="gate=None"):
        detect(phantom, mono_scale_model, gate=0.5, device="cpu")
    detect(phantom, mono_scale_model, gate=None, threshold=0.5, device="cpu")


def test_auto_gate_is_the_one_stored_with_the_model(tiny_checkpoint, mono_scale_model, phantom,
                                                    tmp_path):
    from napari_mcdet.infer.patches import GATE_KEY
    from napari_mcdet.models.checkpoint import update_metadata

    common = dict(engine="eager", tile=64, overlap=16, threshold=0.5, device="cpu")
    plain = load_model(tiny_checkpoint)
    assert GATE_KEY not in plain.metadata
    # no gate stored: a gate chosen on another model could skip this one's calcifications
    auto = detect(phantom, plain, **common)
    assert auto.gate is None and auto.n_tiles_decoded == auto.n_tiles_run
    # a stored gate of 1.0 skips every decoder, as gate=1.0 does: nothing analysed, not "0 found"
    gated = load_model(update_metadata(tiny_checkpoint, {GATE_KEY: 1.0},
                                       dst=tmp_path / "gated.safetensors"))
    with pytest.raises(ValueError, match="no tile decoded"):
        detect(phantom, gated, **common)
    with pytest.raises(ValueError, match="no tile decoded"):
        detect(phantom, plain, gate=1.0, **common)
    whole = detect(phantom, gated, gate=None, **common)
    assert whole.gate is None and whole.n_tiles_decoded == whole.n_tiles_run
    broken = load_model(update_metadata(tiny_checkpoint, {GATE_KEY: 7},
                                        dst=tmp_path / "broken.safetensors"))
    with pytest.raises(ValueError, match=r"broken\.safetensors.*decoder_gate=7.*gate=None"):
        detect(phantom, broken, **common)
    with pytest.raises(ValueError, match="'auto'"):
        detect(phantom, plain, gate="on", **common)
    # a network that cannot gate runs whole under 'auto', whatever it stores
    assert detect(phantom, mono_scale_model, threshold=0.5, device="cpu").gate is None


@pytest.fixture(scope="module")
def mono_scale_model(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "mono.safetensors"
    save_checkpoint(path, MCDetNet(MCDetConfig.variant("MuTMoS", filters=(4, 8, 16, 32, 64))),
                    pixel_spacing=(0.2, 0.2), patch_size=64)
    return load_model(path)


@pytest.mark.skipif(not default_model_path().is_file(), reason="bundled default model not built")
def test_default_tile_keeps_the_maps_of_the_training_tile():
    """The bundled model on a phantom at its own grid: the default tiling (tile and overlap)
    against the training patch size with 25 % overlap. Stated tolerance: mean absolute
    difference over the breast < 0.05 and at most 10 x what moving the grid alone does at the
    training tile (8 px less overlap, on a phantom large enough for that to move the grid). A
    model trained on larger patches than the default tile sees less context per tile: the
    bundled 192 px model measured 5.7 x (0.0031 against 0.00054) on this phantom. Single peaks
    move more (``benchmarks/tile_size.py``). The model's operating point was calibrated at the
    default tiling, so its threshold applies to these maps."""
    from napari_mcdet.constants import DEFAULT_TILE, DEFAULT_TILE_OVERLAP
    from napari_mcdet.synth.phantom import breast_phantom

    model = load_model()
    ph = breast_phantom((448, 384), pixel_spacing=model.pixel_spacing, seed=3)
    common = dict(gate=None, engine="eager", device="cpu")
    ref = detect(ph, model, tile=model.patch_size, overlap=0.25, **common)
    shifted = detect(ph, model, tile=model.patch_size, overlap=ref.overlap - 8, **common)
    new = detect(ph, model, **common)
    assert (new.tile, new.overlap) == (DEFAULT_TILE, DEFAULT_TILE_OVERLAP)
    assert (new.tile, new.overlap) != (ref.tile, ref.overlap)
    breast = (ref.probabilities.sum(0) > 0) & (new.probabilities.sum(0) > 0)
    d_new = np.abs(new.probabilities - ref.probabilities)[:, breast].mean()
    d_grid = np.abs(shifted.probabilities - ref.probabilities)[:, breast].mean()
    assert d_grid > 0  # the shift moved the grid: the baseline is not degenerate
    assert d_new < 0.05 and d_new < 10 * d_grid
    tiling = model.metadata["operating_point"]["tiling"]
    assert (tiling["tile"], tiling["overlap"]) == (DEFAULT_TILE, DEFAULT_TILE_OVERLAP)


def test_onnx_engine_detects_as_eager(tiny_model, phantom):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    for gate in (None, 0.3):
        eager = detect(phantom, tiny_model, gate=gate, engine="eager", tile=64, overlap=16,
                       threshold=0.5, device="cpu")
        onnx = detect(phantom, tiny_model, gate=gate, engine="onnx", tile=64, overlap=16,
                      threshold=0.5, device="cpu")
        assert (eager.engine, onnx.engine) == ("eager", "onnx")
        np.testing.assert_allclose(onnx.probabilities, eager.probabilities, atol=1e-4, rtol=0)
        for a, b in zip(onnx.tile_scores, eager.tile_scores):
            np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-4)


def test_maps_resized_to_the_input_grid_agree_with_scipys_edge_aligned_zoom():
    from scipy import ndimage as ndi

    from napari_mcdet.infer.detect import _resize

    maps = np.random.default_rng(0).random((2, 143, 117)).astype(np.float32)
    shape = (409, 333)
    out = _resize(maps, shape)
    assert out.shape == (2, *shape) and out.dtype == np.float32
    for c in range(2):
        ref = ndi.zoom(maps[c], (shape[0] / 143, shape[1] / 117), order=1, mode="nearest",
                       grid_mode=True, prefilter=False)
        np.testing.assert_allclose(out[c], ref, atol=1e-4)
    assert _resize(maps, (143, 117)) is maps


# -- mirror averaging -------------------------------------------------------------------------
@pytest.mark.parametrize("gate", [None, 0.0, "median"])
def test_mirror_averaged_tiles_are_left_right_symmetric_in_the_network(tiny_model, gate):
    """Averaged over a tile and its mirror, the predictor answers a mirrored tile with the
    mirrored maps and the same class probabilities: the network's own left-right asymmetry
    (a random one here) is gone, and both views of a tile are decoded together."""
    from napari_mcdet.infer.patches import gated_predictor, segmentation_predictor
    from napari_mcdet.nn.inference import prepare_for_inference

    net = prepare_for_inference(tiny_model.network)
    tiles = np.random.default_rng(3).normal(0, 1, (6, 64, 64)).astype(np.float32)
    if gate is None:
        def make(mirror):
            return segmentation_predictor(net, device="cpu", channels_last=True, mirror=mirror)
    else:
        if gate == "median":
            scores = [r["gate_score"] for r in gated_predictor(net, gate=1.0)(tiles)[1]]
            gate = float(np.median(scores))
        def make(mirror):
            return gated_predictor(net, gate=gate, device="cpu", channels_last=True,
                                   mirror=mirror)
    with torch.inference_mode():
        seg, rec = make(True)(tiles)
        seg_m, rec_m = make(True)(np.ascontiguousarray(tiles[..., ::-1]))
        plain, _ = make(False)(tiles)
        plain_m, _ = make(False)(np.ascontiguousarray(tiles[..., ::-1]))
    np.testing.assert_allclose(seg_m, seg[..., ::-1], atol=1e-6)
    for a, b in zip(rec, rec_m):
        np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-6)
        assert a.get("decoded", True) == b.get("decoded", True)
    decoded = np.array([r.get("decoded", True) for r in rec])
    assert decoded.any()
    if gate not in (None, 0.0):
        assert not decoded.all()
        assert seg[~decoded].max() == 0  # neither view decoded: zero maps
    # the random network alone is not symmetric, by far more than the tolerance above
    assert np.abs(plain_m[decoded] - plain[decoded][..., ::-1]).max() > 1e-4


def test_mirror_detection_reads_its_own_operating_point(tiny_checkpoint, phantom, tmp_path):
    from napari_mcdet.infer.detect import operating_point, operating_point_key
    from napari_mcdet.models.checkpoint import update_metadata

    common = dict(engine="eager", tile=64, overlap=16, gate=None, device="cpu")
    plain_point = {"benign": 0.6, "malignant": 0.6}
    only_plain = load_model(update_metadata(tiny_checkpoint,
                                            {operating_point_key(): plain_point},
                                            dst=tmp_path / "plain.safetensors"))
    with pytest.warns(UserWarning, match="--mirror"):
        det = detect(phantom, only_plain, mirror=True, **common)
    assert det.mirror and det.thresholds == plain_point and det.summary()["mirror"]
    both = load_model(update_metadata(
        tmp_path / "plain.safetensors",
        {operating_point_key(mirror=True): {"benign": 0.4, "malignant": 0.4}},
        dst=tmp_path / "both.safetensors"))
    assert operating_point(both.metadata)["benign"] == 0.6
    assert detect(phantom, both, mirror=True, **common).thresholds["benign"] == 0.4
    plain = detect(phantom, both, **common)
    assert not plain.mirror and plain.thresholds["benign"] == 0.6
