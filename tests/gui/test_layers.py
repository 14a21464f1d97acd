"""Layer <-> core helpers on real napari layers: the pixel spacing a layer states."""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Image

from napari_mcdet.gui._layers import layer_spacing
from napari_mcdet.gui._writer import _spacing


def test_spacing_from_metadata_scale_or_none():
    data = np.zeros((4, 4), np.float32)
    assert layer_spacing(Image(data, metadata={"pixel_spacing": 0.07})) == (0.07, 0.07)
    assert layer_spacing(Image(data, metadata={"pixel_spacing": [0.1, 0.2]},
                               scale=(5, 5))) == (0.1, 0.2)  # what the file said wins
    assert layer_spacing(Image(data, scale=(0.2, 0.2))) == (0.2, 0.2)
    assert layer_spacing(Image(data)) is None  # napari's default scale states nothing


def test_a_bad_stated_spacing_names_the_layer():
    layer = Image(np.zeros((4, 4), np.float32), name="film", metadata={"pixel_spacing": -1})
    with pytest.raises(ValueError, match="pixel spacing of layer 'film'"):
        layer_spacing(layer)


def test_the_writer_reads_the_same_spacing_from_layer_data():
    assert _spacing({"metadata": {"pixel_spacing": 0.07}}) == (0.07, 0.07)
    assert _spacing({"scale": (1.0, 0.1, 0.1)}) == (0.1, 0.1)
    assert _spacing({"scale": (1.0, 1.0)}) is None
    with pytest.raises(ValueError, match="pixel spacing"):
        _spacing({"metadata": {"pixel_spacing": (0.1, 0.0)}})
