"""Grad-CAM: the heat map points at the region that drives a toy classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from napari_mcdet.nn.baselines import build_baseline
from napari_mcdet.nn.gradcam import binarize_cam, grad_cam

SIZE = 48
HALF = SIZE // 2
SQUARE = 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class ToyCNN(nn.Module):
    """Small fully convolutional classifier with global average pooling."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(16, num_classes)

    @property
    def target_layer(self) -> nn.Module:
        return self.features

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


def _quadrant_slices(q: int) -> tuple[slice, slice]:
    r0, c0 = (q // 2) * HALF, (q % 2) * HALF
    return slice(r0, r0 + HALF), slice(c0, c0 + HALF)


def _put_square(img, rng, q, value):
    rows, cols = _quadrant_slices(q)
    r = rng.integers(rows.start + 2, rows.stop - SQUARE - 2 + 1)
    c = rng.integers(cols.start + 2, cols.stop - SQUARE - 2 + 1)
    img[r : r + SQUARE, c : c + SQUARE] += value


def _toy_set(rng, n_per_class: int):
    """Class 0: noise; class 1: a bright square; class 2: a dark square; random quadrant."""
    xs, ys = [], []
    for label, value in ((0, 0.0), (1, 1.0), (2, -1.0)):
        for _ in range(n_per_class):
            img = rng.normal(0.0, 0.15, (SIZE, SIZE))
            if value:
                _put_square(img, rng, rng.integers(4), value)
            xs.append(img)
            ys.append(label)
    return torch.tensor(np.array(xs)[:, None], dtype=torch.float32), torch.tensor(ys)


@pytest.fixture(scope="module")
def toy_model():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = _toy_set(rng, 16)
    model = ToyCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        if loss.item() < 0.01:
            break
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        xt, yt = _toy_set(np.random.default_rng(1), 8)
        assert (model(xt).argmax(1) == yt).float().mean() >= 0.95, "toy classifier did not learn"
    return model


def _quadrant_mass(cam: np.ndarray) -> np.ndarray:
    return np.array([cam[_quadrant_slices(q)].sum() for q in range(4)]) / cam.sum()


def _argmax_quadrant(cam: np.ndarray) -> int:
    r, c = np.unravel_index(np.argmax(cam), cam.shape)
    return int(r >= HALF) * 2 + int(c >= HALF)


def test_cam_points_at_the_square(toy_model):
    rng = np.random.default_rng(2)
    imgs, quads = [], []
    for q in range(4):
        for _ in range(2):
            img = rng.normal(0.0, 0.15, (SIZE, SIZE))
            _put_square(img, rng, q, 1.0)
            imgs.append(img)
            quads.append(q)
    x = np.array(imgs, dtype=np.float32)[:, None]
    cam = grad_cam(toy_model, x, target_class=1)
    assert cam.shape == (8, SIZE, SIZE) and cam.dtype == np.float32
    assert cam.min() >= 0.0 and np.allclose(cam.max(axis=(1, 2)), 1.0)
    for m, q in zip(cam, quads):
        assert _argmax_quadrant(m) == q
        assert _quadrant_mass(m)[q] > 0.5


def test_cam_is_class_discriminative(toy_model):
    """Bright square in one quadrant, dark square in another: each class's map finds its own."""
    rng = np.random.default_rng(3)
    for bright_q, dark_q in ((0, 3), (1, 2), (3, 1)):
        img = rng.normal(0.0, 0.15, (SIZE, SIZE))
        _put_square(img, rng, bright_q, 1.0)
        _put_square(img, rng, dark_q, -1.0)
        x = np.repeat(img[None, None].astype(np.float32), 2, axis=0)
        cam = grad_cam(toy_model, x, target_class=[1, 2])
        assert _argmax_quadrant(cam[0]) == bright_q
        assert _argmax_quadrant(cam[1]) == dark_q
        mask = binarize_cam(cam)
        assert mask.shape == cam.shape and mask.dtype == bool
        rows, cols = _quadrant_slices(bright_q)
        assert mask[0][rows, cols].sum() > 0.5 * mask[0].sum()


def test_model_state_is_restored(toy_model):
    toy_model.train()
    before = [p.detach().clone() for p in toy_model.parameters()]
    x = torch.zeros(1, 1, SIZE, SIZE)
    with torch.no_grad():  # grad_cam needs no caller-side grad mode
        cam = grad_cam(toy_model, x[0, 0].numpy(), target_class=None)
    assert cam.shape == (1, SIZE, SIZE)
    assert toy_model.training
    assert all(p.grad is None or not p.grad.any() for p in toy_model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, toy_model.parameters()))
    toy_model.eval()


@pytest.mark.parametrize("name", ["resnet22", "convnextv2-yocto"])
def test_cam_on_baselines_has_input_size(name):
    torch.manual_seed(0)
    model = build_baseline(name)
    x = torch.randn(2, 1, 64, 96)
    cam = grad_cam(model, x, target_class=2)
    assert cam.shape == (2, 64, 96) and cam.dtype == np.float32
    assert np.isfinite(cam).all() and cam.min() >= 0 and cam.max() <= 1


def test_bad_arguments_raise(toy_model):
    x = torch.zeros(1, 1, SIZE, SIZE)
    with pytest.raises(ValueError, match="out of range"):
        grad_cam(toy_model, x, target_class=3)
    with pytest.raises(ValueError, match="entries for a batch"):
        grad_cam(toy_model, x, target_class=[0, 1])
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        grad_cam(toy_model, torch.zeros(1, SIZE, SIZE), target_class=0)
    with pytest.raises(ValueError, match="not a sub-module"):
        grad_cam(toy_model, x, target_class=0, layer=nn.Conv2d(1, 1, 1))
    bare = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(ValueError, match="target_layer"):
        grad_cam(bare, x, target_class=0)
    assert grad_cam(bare, x, target_class=0, layer=bare[0]).shape == (1, SIZE, SIZE)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(B, H, W\)"):
        binarize_cam(np.zeros(5))
    assert not binarize_cam(np.zeros((SIZE, SIZE))).any()
