"""The comparison's configuration: its checks, the shipped file, the step override, and the
seeded soft-tissue subsample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_mcdet.compare import CompareConfig, subsample_negatives
from napari_mcdet.compare.run import _with_steps

REPO = Path(__file__).resolve().parents[2]


def _base(**over):
    d = {"data": "minimias:/nowhere", "train": {"split": "s.json"},
         "models": [{"name": "R", "architecture": "resnet22"},
                    {"name": "M", "variant": "MuTMuS"}]}
    d.update(over)
    return d


@pytest.mark.parametrize("over, match", [
    ({"models": []}, "no models"),
    ({"models": [{"name": "A", "architecture": "resnet22"}] * 2}, "unique"),
    ({"data": "inbreast:/x"}, "minimias"),
    ({"train": {}}, "split"),
    ({"train": {"split": "s.json", "split_set": "val"}}, "another list"),
    ({"train": {"split": "s.json", "seed": 3}}, "set per model"),
    ({"gradcam": ["M"]}, "baseline classifier"),
    ({"gradcam": ["nope"]}, "not a model"),
    ({"segmenter": "R"}, "no segmentation"),
    ({"models": [{"name": "X", "architecture": "vgg"}]}, "unknown architecture"),
    ({"models": [{"name": "X", "architecture": "resnet22", "variant": "MuTMuS"}]}, "variant"),
    ({"models": [{"name": "X", "variant": "MuTMuS", "colour": 1}]}, "unknown model entry"),
    ({"eval_negatives": 0}, "eval_negatives"),
    ({"colour": 1}, "unknown comparison keys"),
])
def test_config_errors(over, match):
    with pytest.raises(ValueError, match=match):
        CompareConfig.from_dict(_base(**over))


def test_shipped_config_loads():
    config = CompareConfig.load(REPO / "configs" / "compare_minimias.yaml")
    keys = {m.key for m in config.models}
    assert {"resnet22", "resnet22-separable", "convnextv2-atto", "convnextv2-zepto",
            "convnextv2-yocto", "MuTMuS", "MoTMuS", "MuTMoS", "MoTMoS"} <= keys
    assert len(config.gradcam) == 2
    assert Path(config.train["split"]).name == "minimias_split.json"


def test_steps_override_gives_every_model_the_same_budget(tmp_path):
    config = CompareConfig.from_dict(_base(
        train={"split": "s.json", "steps": 500, "lr": 1e-3},
        models=[{"name": "R", "architecture": "resnet22", "train": {"steps": 9, "lr": 0.1}},
                {"name": "M", "variant": "MuTMuS", "train": {"epoch_steps": 3}}]))
    short = _with_steps(config, 7)
    for entry in short.models:
        tc = short.train_config(entry, tmp_path)
        assert (tc.steps, tc.epoch_steps) == (7, 7)
    # other per-model overrides stay; the original configuration is not changed
    assert short.models[0].train == {"lr": 0.1} and short.models[1].train == {}
    assert config.models[0].train == {"steps": 9, "lr": 0.1} and config.train["steps"] == 500
    with pytest.raises(ValueError, match="positive"):
        _with_steps(config, 0)


def test_subsample_keeps_every_lesion_and_is_seeded():
    labels = np.array([0] * 50 + [1, 2, 2] + [0] * 50)
    a = subsample_negatives(labels, max_negatives=10, seed=3)
    assert set(np.flatnonzero(labels > 0)) <= set(a)
    assert np.sum(labels[a] == 0) == 10 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, subsample_negatives(labels, max_negatives=10, seed=3))
    assert len(subsample_negatives(labels, max_negatives=None, seed=0)) == len(labels)
