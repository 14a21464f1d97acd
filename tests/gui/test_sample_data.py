import numpy as np

from napari_mcdet.gui._sample_data import phantom, phantom_with_lesions


def test_phantom_layer_data():
    (data, kwargs, kind), = phantom()
    assert kind == "image" and data.ndim == 2 and data.dtype == np.float32
    assert kwargs["scale"] == (0.1, 0.1)


def test_phantom_with_lesions_layer_data():
    (img, ikw, ikind), (lab, lkw, lkind) = phantom_with_lesions()
    assert (ikind, lkind) == ("image", "labels")
    assert img.shape == lab.shape and set(np.unique(lab)) == {0, 1, 2}
    assert ikw["scale"] == lkw["scale"] == (0.1, 0.1)


def test_sample_data_in_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-mcdet", "phantom_lesions")
    assert [type(layer).__name__ for layer in viewer.layers] == ["Image", "Labels"]
