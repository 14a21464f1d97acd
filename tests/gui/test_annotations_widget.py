"""The Annotations widget in a real viewer: new layer, counts, save and load."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcdet.io import read_inbreast_xml, read_mask


@pytest.fixture
def widget(make_napari_viewer, plugin_widget):
    viewer = make_napari_viewer()
    viewer.add_image(
        np.zeros((80, 60), np.float32),
        name="mammo",
        scale=(0.07, 0.07),
        metadata={"pixel_spacing": (0.07, 0.07)},
    )
    return plugin_widget("Calcification annotations", viewer=viewer)[1]


def test_new_layer_is_configured(widget):
    layer = widget.new_labels_layer()
    assert layer.data.shape == (80, 60) and layer.data.dtype == np.uint8
    np.testing.assert_allclose(layer.scale, (0.07, 0.07))
    assert list(layer.features["class"]) == ["soft tissue", "benign", "malignant"]
    np.testing.assert_allclose(layer.colormap.map(np.array([1]))[0], (0.0, 0.85, 0.55, 1.0))
    assert layer.selected_label == 1
    assert widget.labels_combo.currentText() == layer.name
    widget.class_combo.setCurrentIndex(1)
    assert layer.selected_label == 2


def test_counts_follow_the_data(widget):
    layer = widget.new_labels_layer()
    data = layer.data.copy()
    data[5, 5] = 1
    data[10:13, 10:13] = 1
    data[40:45, 30:35] = 2
    layer.data = data
    widget.update_counts()
    assert widget.counts() == {
        1: {"components": 2, "pixels": 10},
        2: {"components": 1, "pixels": 25},
    }
    assert widget.table.item(0, 0).text() == "2" and widget.table.item(1, 1).text() == "25"


def test_save_and_load_round_trip(widget, tmp_path):
    layer = widget.new_labels_layer()
    data = np.zeros((80, 60), np.uint8)
    data[5, 5] = 1
    data[20:30, 20:26] = 2
    data[50:53, 40:44] = 1
    layer.data = data
    xml = widget.save(tmp_path / "a.xml")
    assert len(read_inbreast_xml(xml)) == 3
    mask = widget.save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_mask(mask), data)
    loaded_mask = widget.load(mask)
    np.testing.assert_array_equal(loaded_mask.data, data)
    loaded_xml = widget.load(xml)
    np.testing.assert_array_equal(loaded_xml.data, data)  # exact, one-pixel mark included
    np.testing.assert_allclose(loaded_xml.scale, (0.07, 0.07))
    assert widget.labels_combo.currentText() == loaded_xml.name


def test_bad_inputs_give_messages(widget, tmp_path):
    with pytest.raises(ValueError, match="no labels layer"):
        widget.save(tmp_path / "a.xml")
    other = np.zeros((10, 10), np.uint8)
    from napari_mcdet.io import write_mask

    write_mask(tmp_path / "small.png", other)
    with pytest.raises(ValueError, match="10 x 10"):
        widget.load(tmp_path / "small.png")
    widget.viewer.layers.clear()
    widget._on_new()  # no image: a message, not an exception
    assert "image" in widget.status.text()


def test_a_new_annotation_is_named_apart_from_the_ground_truth(make_napari_viewer, plugin_widget,
                                                              shared_data):
    """Beside the reader's "mdb209 calcifications" (ground truth) the user's own layer must not
    read "mdb209 calcifications [1]"."""
    viewer = make_napari_viewer()
    viewer.open(str(shared_data / "mini-mias" / "mdb209.pgm"), plugin="napari-mcdet")
    assert "mdb209 calcifications" in viewer.layers
    _, w = plugin_widget("Calcification annotations", viewer=viewer)
    w.image_combo.setCurrentText("mdb209")
    layer = w.new_labels_layer()
    assert layer.name == "mdb209 annotation"
    assert [lyr.name for lyr in viewer.layers if "[" in lyr.name] == []
