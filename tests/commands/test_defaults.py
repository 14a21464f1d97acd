"""The command line's defaults are the library's: ``mcdet detect``, ``calibrate`` and
``evaluate`` run exactly what the Python functions run when an option is left out."""

from __future__ import annotations

import inspect

from napari_mcdet.cli import build_parser


def _defaults(func):
    return {k: p.default for k, p in inspect.signature(func).parameters.items()
            if p.default is not inspect.Parameter.empty}


def test_detect_options_default_to_detect():
    from napari_mcdet.infer.detect import detect

    args = build_parser().parse_args(["detect", "x.png", "--out", "o"])
    lib = _defaults(detect)
    assert args.tile is None and args.overlap is None  # left to detect itself
    assert args.batch_size == lib["batch_size"]
    assert args.min_breast_fraction == lib["min_breast_fraction"]
    assert args.cluster_diameter == lib["cluster_diameter_mm"]
    assert args.cluster_min_count == lib["cluster_min_count"]


def test_calibrate_and_evaluate_options_default_to_their_functions():
    from napari_mcdet.infer.calibrate import calibrate
    from napari_mcdet.infer.evaluate import evaluate

    args = build_parser().parse_args(["calibrate", "m.safetensors", "normals"])
    assert args.target_fp == _defaults(calibrate)["target_fp"]
    args = build_parser().parse_args(["evaluate", "folder", "--out", "o"])
    assert args.batch_size == _defaults(evaluate)["batch_size"]


def test_a_run_without_options_tiles_as_detect_does(coarse_model, tmp_path, capsys):
    import json

    from skimage.io import imsave

    from napari_mcdet.cli import main
    from napari_mcdet.infer.detect import detect
    from napari_mcdet.io.images import read_mammogram
    from napari_mcdet.models.checkpoint import load_model
    from napari_mcdet.synth.phantom import breast_phantom

    png = tmp_path / "phantom.png"
    imsave(png, (breast_phantom((256, 192), pixel_spacing=0.4, seed=0).pixels * 255)
           .clip(0, 255).astype("uint8"), check_contrast=False)
    assert main(["detect", str(png), "--out", str(tmp_path / "out"), "--model",
                 str(coarse_model), "--spacing", "0.4", "--no-overlay", "--device", "cpu"]) == 0
    doc = json.loads((tmp_path / "out" / "phantom_detection.json").read_text())
    direct = detect(read_mammogram(png), load_model(coarse_model), pixel_spacing=0.4,
                    device="cpu").summary()
    for key in ("tile", "overlap", "n_tiles", "thresholds"):
        assert doc[key] == direct[key], key


def test_help_states_the_defaults_in_use(capsys):
    from napari_mcdet.constants import DEFAULT_CLUSTER_DIAMETER_MM, DEFAULT_MIN_BREAST_FRACTION

    try:
        build_parser().parse_args(["detect", "--help"])
    except SystemExit:
        pass
    text = " ".join(capsys.readouterr().out.split())
    assert f"this fraction ({DEFAULT_MIN_BREAST_FRACTION:g})" in text
    assert f"cluster, mm ({DEFAULT_CLUSTER_DIAMETER_MM:g})" in text
