"""Whole-image Grad-CAM: a classifier that answers "malignant" to bright spots lights the spot."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from napari_mcdet.data.tiling import DetectionCancelled
from napari_mcdet.infer.gradcam_map import gradcam_map
from napari_mcdet.models.checkpoint import TrainedModel
from napari_mcdet.synth.phantom import breast_phantom

SPACING = 0.2


class BrightSpotClassifier(nn.Module):
    """Fixed weights: features = ReLU(x - 1.5) (only pixels far above the normalised breast's
    99.5th percentile), malignant logit = 200 x their mean; soft tissue and benign stay at 0."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(1, 1, 1)
        self.head = nn.Linear(1, 3)
        with torch.no_grad():
            self.features.weight.fill_(1.0)
            self.features.bias.fill_(-1.5)
            self.head.weight.copy_(torch.tensor([[0.0], [0.0], [200.0]]))
            self.head.bias.zero_()
        self.act = nn.ReLU()

    @property
    def target_layer(self) -> nn.Module:
        return self.act

    def forward(self, x):
        return self.head(self.act(self.features(x)).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def spot_image():
    mammo = breast_phantom((320, 256), pixel_spacing=SPACING, seed=3)
    breast = mammo.metadata["breast_mask"]
    rows, cols = np.nonzero(breast)
    r, c = int(np.median(rows)), int(np.median(cols))
    pixels = mammo.pixels.copy()
    pixels[r - 3:r + 3, c - 3:c + 3] = pixels[breast].max() * 3  # far brighter than any tissue
    return pixels, breast, (r, c)


def _model() -> TrainedModel:
    return TrainedModel(BrightSpotClassifier().eval(), "toy", {}, (SPACING, SPACING), 32)


def test_the_heat_map_peaks_on_the_bright_spot_and_is_zero_outside_the_breast(spot_image):
    pixels, breast, (r, c) = spot_image
    calls = []
    heat = gradcam_map(pixels, _model(), pixel_spacing=SPACING,
                       progress=lambda done, total: calls.append((done, total)))
    assert heat.shape == pixels.shape and heat.dtype == np.float32
    assert 0.0 <= heat.min() and heat.max() <= 1.0
    peak = np.unravel_index(np.argmax(heat), heat.shape)
    assert abs(peak[0] - r) <= 4 and abs(peak[1] - c) <= 4
    assert heat.max() > 0.5
    assert heat[~breast].max() == 0.0
    far = np.ones_like(breast)
    far[max(r - 40, 0):r + 40, max(c - 40, 0):c + 40] = False
    assert heat[far & breast].max() < 0.05 * heat.max()  # no spot there, no heat
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1] > 0


def test_a_stop_request_cancels_between_batches(spot_image):
    pixels, _, _ = spot_image
    with pytest.raises(DetectionCancelled, match="Grad-CAM cancelled after 0 of"):
        gradcam_map(pixels, _model(), pixel_spacing=SPACING, should_stop=lambda: True)


def test_an_image_without_spacing_is_refused(spot_image):
    pixels, _, _ = spot_image
    with pytest.raises(ValueError, match="pixel_spacing is required"):
        gradcam_map(pixels, _model())
