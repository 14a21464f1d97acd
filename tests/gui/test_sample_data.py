import numpy as np

from napari_mcdet.gui._layers import TRUTH_COLOR, TRUTH_KEY
from napari_mcdet.gui._sample_data import phantom, phantom_with_lesions, phantom_with_lesions_fine


def test_phantom_layer_data():
    (data, kwargs, kind), = phantom()
    assert kind == "image" and data.ndim == 2 and data.dtype == np.float32
    assert kwargs["scale"] == (0.1, 0.1)


def test_phantom_with_lesions_layer_data():
    """At the bundled model's 0.2 mm: the image, its truth labels (hidden) and their outlines
    in the truth colour, a ring per calcification and an ellipse per lesion."""
    (img, ikw, ikind), (lab, lkw, lkind), (shapes, skw, skind) = phantom_with_lesions()
    assert (ikind, lkind, skind) == ("image", "labels", "shapes")
    assert img.shape == lab.shape == (512, 384) and set(np.unique(lab)) == {0, 1, 2}
    assert ikw["scale"] == lkw["scale"] == skw["scale"] == (0.2, 0.2)
    assert lkw["metadata"][TRUTH_KEY] == "synthetic" and not lkw["visible"]
    assert lkw["metadata"]["image"] == ikw["name"] == "phantom with lesions"
    assert lkw["colormap"][1] == lkw["colormap"][2] == TRUTH_COLOR
    lesions = lkw["metadata"]["lesions"]
    from scipy import ndimage as ndi

    n_calcs = ndi.label(lab > 0, structure=np.ones((3, 3)))[1]
    assert len(shapes) == n_calcs + len(lesions)
    assert skw["edge_color"] == [TRUTH_COLOR] and skw["face_color"] == [(0.0, 0.0, 0.0, 0.0)]
    assert sorted(c for c in skw["features"]["caption"] if c) == [
        "truth: benign", "truth: malignant"]


def test_the_finer_sample_is_the_same_breast_at_0_1_mm():
    (img, ikw, _), (lab, lkw, _), (_, skw, _) = phantom_with_lesions_fine()
    assert img.shape == lab.shape == (1024, 768) and ikw["scale"] == (0.1, 0.1)
    assert ikw["name"] == "phantom with lesions 0.1 mm"
    assert lkw["name"] == "synthetic lesions 0.1 mm"
    assert lkw["metadata"]["image"] == ikw["name"]


def test_sample_data_in_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-mcdet", "phantom_lesions")
    viewer.open_sample("napari-mcdet", "phantom_lesions_fine")
    assert [type(layer).__name__ for layer in viewer.layers] == ["Image", "Labels", "Shapes"] * 2
    np.testing.assert_allclose(viewer.layers["phantom with lesions"].scale, (0.2, 0.2))
    np.testing.assert_allclose(viewer.layers["phantom with lesions 0.1 mm"].scale, (0.1, 0.1))
