"""Baseline classifiers: parameter counts, shapes, config round trip, overfitting a toy task."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from napari_mcdet.nn.baselines import (
    BASELINE_NAMES,
    BaselineConfig,
    ConvNeXtV2,
    ResNet22,
    build_baseline,
)
from napari_mcdet.nn.mcdetnet import count_parameters

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# Expected parameter counts at 1 input channel and 3 classes (method.md section 6).
EXPECTED = {
    "resnet22": 2.80e6,
    "resnet22-separable": 0.44e6,
    "convnextv2-atto": 3.39e6,
    "convnextv2-zepto": 2.19e6,
    "convnextv2-yocto": 1.25e6,
}


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_parameter_count_within_5_percent(name):
    n = count_parameters(build_baseline(name, in_channels=1, num_classes=3))
    assert abs(n - EXPECTED[name]) <= 0.05 * EXPECTED[name], f"{name}: {n} parameters"


def test_separable_resnet_is_small():
    n = count_parameters(build_baseline("resnet22-separable"))
    assert 0.42e6 <= n <= 0.47e6
    assert n < count_parameters(build_baseline("resnet22")) / 6


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_output_and_feature_shapes(name):
    torch.manual_seed(0)
    model = build_baseline(name).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        out = model(x)
        feats = model.forward_features(x)
    assert out.shape == (2, 3)
    assert torch.isfinite(out).all()
    assert feats.ndim == 4 and feats.shape[0] == 2
    # target_layer is a sub-module whose output is the last feature map
    seen = []
    handle = model.target_layer.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.no_grad():
        model(x)
    handle.remove()
    assert seen == [feats.shape]
    assert any(model.target_layer is m for m in model.modules())


def test_other_channel_and_class_counts():
    x = torch.randn(1, 3, 64, 64)
    assert build_baseline("resnet22", in_channels=3, num_classes=2).eval()(x).shape == (1, 2)
    assert build_baseline("convnextv2-yocto", in_channels=3, num_classes=5)(x).shape == (1, 5)
    assert isinstance(build_baseline("resnet22-separable"), ResNet22)
    assert isinstance(build_baseline("convnextv2-atto"), ConvNeXtV2)


def test_config_round_trip_through_json():
    cfg = BaselineConfig("convnextv2-zepto", in_channels=1, num_classes=3)
    again = BaselineConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    model = again.build()
    assert model.config == cfg
    assert count_parameters(model) == count_parameters(build_baseline("convnextv2-zepto"))


def test_bad_names_and_inputs_raise():
    with pytest.raises(ValueError, match="unknown baseline"):
        build_baseline("resnet50")
    with pytest.raises(ValueError, match="unknown baseline"):
        BaselineConfig("vgg")
    with pytest.raises(ValueError, match="unknown BaselineConfig keys"):
        BaselineConfig.from_dict({"name": "resnet22", "depth": 3})
    with pytest.raises(ValueError, match="num_classes"):
        build_baseline("resnet22", num_classes=0)
    model = build_baseline("convnextv2-yocto")
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        model(torch.zeros(64, 64))
    with pytest.raises(TypeError):
        model(np.zeros((1, 1, 64, 64), np.float32))


def _toy_patches(seed: int = 0, per_class: int = 4, size: int = 64):
    """12 noisy patches: class 0 no blob, class 1 one bright blob, class 2 a cluster of five."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:size, :size]
    xs, ys = [], []
    for label, n_blobs in enumerate((0, 1, 5)):
        for _ in range(per_class):
            img = rng.normal(0.0, 0.1, (size, size))
            for r, c in rng.uniform(8, size - 8, (n_blobs, 2)):
                img += np.exp(-((rr - r) ** 2 + (cc - c) ** 2) / (2 * 2.0**2))
            xs.append(img)
            ys.append(label)
    x = torch.tensor(np.array(xs)[:, None], dtype=torch.float32)
    return x, torch.tensor(ys)


@torch.no_grad()
def _precise_batchnorm(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Replace BN running statistics by those of ``x`` (one pass, cumulative average)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    model(x)


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_overfits_tiny_problem(name):
    torch.manual_seed(0)
    x, y = _toy_patches()
    model = build_baseline(name)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    first_loss = None
    for _step in range(150):
        model.train()
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        first_loss = loss.item() if first_loss is None else first_loss
        if loss.item() < 0.02 and (logits.argmax(1) == y).all():
            break
        loss.backward()
        opt.step()
    assert loss.item() < 0.02, f"{name} did not fit: loss {loss.item():.3f} from {first_loss:.3f}"
    # batch-norm models: evaluation statistics from the training patches, then check eval mode
    _precise_batchnorm(model, x)
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1)
    assert (pred == y).all(), f"{name}: train accuracy {(pred == y).float().mean():.2f}"
