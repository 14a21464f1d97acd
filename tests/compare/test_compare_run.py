"""`mcdet compare` end to end on mini-MIAS with a tiny budget, and its determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_mcdet.compare import CompareConfig, run_comparison  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def _tiny(shared_data: Path, tmp_path: Path, models: list[dict], gradcam: list[str]) -> Path:
    """A tiny study: 3 training normals, 2 'val' normals, 32-px patches, 2 steps."""
    import yaml

    split = {"train": ["mdb003.pgm", "mdb004.pgm", "mdb006.pgm"],
             "val": ["mdb007.pgm", "mdb014.pgm"]}
    (tmp_path / "split.json").write_text(json.dumps(split))
    mias = str(shared_data / "mini-mias")
    cfg = {
        "data": f"minimias:{mias}",
        "seed": 0,
        "eval_negatives": 10,
        "train": {"negatives": [mias], "split": "split.json", "patch_size": 32,
                  "batch_size": 2, "steps": 50, "lr": 1e-3, "val_length": 3,
                  "device": "cpu", "amp": False},
        "models": models,
        "gradcam": gradcam,
        "figure_cases": 2,
        "out_dir": "out",
    }
    path = tmp_path / "compare.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_compare_command_end_to_end(shared_data, tmp_path, capsys):
    from napari_mcdet.cli import main

    models = [{"name": "ResNet-22 optimized", "architecture": "resnet22-separable"},
              {"name": "ConvNeXt-V2 Yocto", "architecture": "convnextv2-yocto"},
              {"name": "MuTMuS", "variant": "MuTMuS"}]
    path = _tiny(shared_data, tmp_path, models, ["ResNet-22 optimized", "ConvNeXt-V2 Yocto"])
    out = tmp_path / "res"
    assert main(["compare", str(path), "--out", str(out), "--steps", "2"]) == 0
    printed = capsys.readouterr().out
    assert "table2.md" in printed and "MuTMuS" in printed
    for name in ("table2", "table3", "table4"):
        assert (out / f"{name}.md").is_file() and (out / f"{name}.csv").is_file()
    for png in ("roc_mcs.png", "roc_mlg.png", "figure2.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    t2 = (out / "table2.csv").read_text().splitlines()
    assert t2[0].startswith("run,mini-MIAS AUC_MCs,mini-MIAS AUC_mlg")
    assert [r.split(",")[0] for r in t2[1:]] == [m["name"] for m in models]
    # every model got real AUCs in [0, 1]
    for row in t2[1:]:
        auc = [float(v) for v in row.split(",")[1:3]]
        assert all(0.0 <= a <= 1.0 for a in auc)
    t3 = (out / "table3.csv").read_text()
    assert "MuTMuS,yes,yes," in t3
    t4 = (out / "table4.md").read_text()
    assert "ResNet-22 optimized (Grad-CAM)" in t4 and "ConvNeXt-V2 Yocto (Grad-CAM)" in t4
    assert "MuTMuS (segmentation)" in t4
    report = json.loads((out / "report.json").read_text())
    assert report["models"]["MuTMuS"]["parameters"] == 1_435_178
    assert report["evaluation"]["classes"]["soft tissue"] == 10
    # the models were trained with the one engine, 2 steps each, and are loadable
    from napari_mcdet.models.checkpoint import load_model

    m = load_model(report["models"]["ConvNeXt-V2 Yocto"]["checkpoint"])
    assert m.architecture == "convnextv2-yocto" and m.metadata["step"] == 2


def test_compare_same_seed_same_tables(shared_data, tmp_path):
    models = [{"name": "ResNet-22 optimized", "architecture": "resnet22-separable"},
              {"name": "MoTMoS", "variant": "MoTMoS"}]
    config = CompareConfig.load(_tiny(shared_data, tmp_path, models, ["ResNet-22 optimized"]))
    texts = []
    for run in ("a", "b"):
        written = run_comparison(config, out_dir=tmp_path / run, steps=2)
        texts.append([written[k].read_text() for k in ("table2_csv", "table3_csv",
                                                        "table4_csv")])
    assert texts[0] == texts[1]
    assert "MoTMoS,no,no," in texts[0][1]
    # the evaluation patches are exactly those of the training engine's real-validation protocol
    from napari_mcdet.train.loop import real_validation_patches

    ev = written["evaluation"]
    tc = config.train_config(config.models[0], tmp_path / "unused")
    tc.real_val = config.data
    x, y = real_validation_patches(tc)
    np.testing.assert_array_equal(ev.patches, x)
    np.testing.assert_array_equal(ev.labels, y)
    assert ev.label_maps.shape == x.shape
    assert all((ev.label_maps[i] > 0).any() == (y[i] > 0) for i in range(len(y)))
    kept = written["kept"]
    assert np.sum(y[kept] == 0) == 10 and np.all(y[np.setdiff1d(np.arange(len(y)), kept)] == 0)
