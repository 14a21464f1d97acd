"""The "Synthetic calcifications" widget in a real viewer."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcdet.gui.widgets.synth_widget import LABELS_NAME, PREVIEW_NAME, SynthWidget
from napari_mcdet.synth.phantom import breast_phantom


@pytest.fixture
def viewer_and_widget(make_napari_viewer, plugin_widget):
    viewer = make_napari_viewer()
    m = breast_phantom((512, 384), pixel_spacing=0.1, seed=0)
    viewer.add_image(m.pixels, name="normal", scale=m.pixel_spacing)
    _, widget = plugin_widget("Synthetic calcifications", viewer=viewer)
    widget.live.value = False  # drive it explicitly
    return viewer, widget, m


def test_preview_layers_appear_and_are_replaced(viewer_and_widget):
    viewer, widget, m = viewer_and_widget
    assert widget.image.value is viewer.layers["normal"]
    assert widget._spacing() == (0.1, 0.1)
    widget.kind.value = "malignant"
    widget.count_min.value, widget.count_max.value = 12, 12
    widget.seed.value = 3
    widget.run()
    img, lab = viewer.layers[PREVIEW_NAME], viewer.layers[LABELS_NAME]
    assert img.data.shape == lab.data.shape == m.pixels.shape
    assert tuple(img.scale) == (0.1, 0.1)
    assert set(np.unique(lab.data)) == {0, 2}
    assert widget.last_lesions[0].lesion["n_placed"] == 12
    first_img, first_lab = img.data.copy(), lab.data.copy()
    n_layers = len(viewer.layers)

    widget.seed.value = 4
    widget.run()
    assert len(viewer.layers) == n_layers  # replaced in place, not piled up
    assert viewer.layers[PREVIEW_NAME] is img and viewer.layers[LABELS_NAME] is lab
    assert not np.array_equal(lab.data, first_lab)
    assert not np.array_equal(img.data, first_img)
    # the previous lesion is gone: outside the new lesion the preview equals the source
    regions = np.zeros(lab.data.shape, bool)
    for rs, cs in widget._regions:
        regions[rs, cs] = True
    np.testing.assert_array_equal(img.data[~regions], m.pixels[~regions])

    widget.kind.value = "benign"
    widget.run()
    assert set(np.unique(lab.data)) == {0, 1}
    assert len(viewer.layers) == n_layers


def test_clicked_points_and_live_debounce(viewer_and_widget, qtbot):
    viewer, widget, m = viewer_and_widget
    widget._add_points_layer()
    pts = viewer.layers["lesion centres"]
    pts.add([[250.0, 100.0], [350.0, 120.0]])  # data coordinates of the points layer (pixels)
    widget.n_lesions.value = 1
    widget.run()
    assert len(widget.last_lesions) == 2
    r, c = widget.last_lesions[0].lesion["region_origin"]
    cr, cc = widget.last_lesions[0].centre
    assert abs(r + cr - 250) < 1 and abs(c + cc - 100) < 1
    # live: a parameter change schedules a debounced update
    widget.live.value = True
    widget.placement.value = "random in breast"
    before = viewer.layers[LABELS_NAME].data.copy()
    widget.seed.value = 9
    qtbot.waitUntil(lambda: not np.array_equal(viewer.layers[LABELS_NAME].data, before),
                    timeout=3000)


def test_every_clicked_centre_gets_its_lesion(viewer_and_widget):
    """No limit on the number of clicked centres (70 here), each lesion drawn in a crop of the
    one margin rule around its own point."""
    from napari_mcdet.synth.clusters import lesion_params
    from napari_mcdet.synth.patches import crop_half_size

    viewer, widget, m = viewer_and_widget
    widget.kind.value = "benign"
    widget.count_min.value, widget.count_max.value = 1, 1
    widget.extent_min.value, widget.extent_max.value = 0.5, 1.0
    rows, cols = np.nonzero(m.metadata["breast_mask"][::20, ::20])
    clicks = np.column_stack([rows, cols])[:70] * 20.0
    assert len(clicks) == 70
    widget._add_points_layer()
    viewer.layers["lesion centres"].add(clicks)
    widget.run()
    assert len(widget.last_lesions) == 70, widget.status.value
    half = crop_half_size(lesion_params("benign", **widget.params()), (0.1, 0.1))
    for (r, c), les in zip(clicks, widget.last_lesions):
        r0, c0 = les.lesion["region_origin"]
        assert (r0, c0) == (int(r) - half[0], int(c) - half[1])
        assert les.image.shape == (2 * half[0] + 1, 2 * half[1] + 1)
    assert widget.status.value.startswith("70 lesion(s)")


def test_bad_shape_mix_reports(viewer_and_widget):
    _, widget, _ = viewer_and_widget
    widget.shape_mix.value = "blob:1"
    widget.run()
    assert "unknown shape" in widget.status.value


def test_export_patches(viewer_and_widget, qtbot, tmp_path):
    _, widget, _ = viewer_and_widget
    widget.out_dir.value = tmp_path
    widget.n_patches.value = 3
    widget.patch_size.value = 128  # 12.8 mm
    widget.extent_min.value, widget.extent_max.value = 3.0, 6.0
    assert widget.export() is not None
    # the observable end, not a signal that may have fired before a wait could connect to it
    qtbot.waitUntil(lambda: widget.worker is None, timeout=20_000)
    assert widget.status.value == f"wrote 3 to {tmp_path}"
    assert len(list((tmp_path / "images").glob("*.npy"))) == 3
    assert (tmp_path / "index.csv").is_file()
    assert widget.progress.value == widget.progress.max == 3


def test_opening_a_case_is_never_previewed_over(plugin_widget, qtbot, shared_data):
    """Live preview follows the panel's settings, not the layer list: a freshly opened case
    stays visible, in a panel docked before or after it."""
    viewer, widget = plugin_widget("Synthetic calcifications")
    assert widget.live.value  # the default
    viewer.open(str(shared_data / "mini-mias" / "mdb209.pgm"), plugin="napari-mcdet")
    qtbot.wait(600)  # four times the live preview's delay
    assert PREVIEW_NAME not in viewer.layers
    assert viewer.layers["mdb209"].visible
    late = SynthWidget(viewer)
    qtbot.addWidget(late)
    qtbot.wait(600)
    assert PREVIEW_NAME not in viewer.layers

    # the spacing shown is the one used: the layer's 0.2 mm, not the field's default
    assert widget.image.value.name == "mdb209"
    assert widget.spacing.value == pytest.approx(0.2) and not widget.spacing.enabled
    assert widget._spacing() == (0.2, 0.2)

    widget.seed.value = 5  # a setting of the panel: the live preview runs
    qtbot.waitUntil(lambda: PREVIEW_NAME in viewer.layers, timeout=10_000)
    np.testing.assert_allclose(viewer.layers[PREVIEW_NAME].scale, (0.2, 0.2))


def test_spacing_field_is_used_only_without_a_layer_spacing(viewer_and_widget):
    viewer, widget, _ = viewer_and_widget
    assert widget.spacing.value == pytest.approx(0.1) and not widget.spacing.enabled
    viewer.add_image(np.ones((64, 64), np.float32), name="no spacing")
    widget.image.value = viewer.layers["no spacing"]
    assert widget.spacing.enabled
    widget.spacing.value = 0.15
    assert widget._spacing() == (0.15, 0.15)
    widget.image.value = viewer.layers["normal"]
    assert widget._spacing() == (0.1, 0.1) and widget.spacing.value == pytest.approx(0.1)


def test_conspicuity_control_sets_how_much_lesions_stand_out(viewer_and_widget):
    viewer, widget, m = viewer_and_widget
    widget.kind.value = "malignant"
    widget.seed.value = 2
    widget.brightness.value = "conspicuity"
    widget.conspicuity_min.value, widget.conspicuity_max.value = 4.0, 5.0
    assert widget.params()["conspicuity"] == (4.0, 5.0) and "contrast" not in widget.params()
    widget.run()
    high = [c["conspicuity"] for c in widget.last_lesions[0].calcifications]
    widget.conspicuity_min.value, widget.conspicuity_max.value = 1.5, 2.0
    widget.run()
    low = [c["conspicuity"] for c in widget.last_lesions[0].calcifications]
    assert np.median(high) > 1.5 * np.median(low)
    widget.conspicuity_min.value, widget.conspicuity_max.value = 1.3, 5.0
    medians = {}
    for skew in (1.0, 4.0):
        widget.conspicuity_skew.value = skew
        assert widget.params()["conspicuity_skew"] == skew
        widget.run()
        medians[skew] = np.median([c["conspicuity"]
                                   for c in widget.last_lesions[0].calcifications])
    assert medians[4.0] < medians[1.0], medians  # the skew pulls them towards the minimum
    widget.brightness.value = "contrast"
    params = widget.params()
    assert "conspicuity" not in params and "conspicuity_skew" not in params
    assert "contrast" in params


def test_blur_control_sets_each_lesions_point_spread(viewer_and_widget):
    viewer, widget, m = viewer_and_widget
    widget.kind.value = "benign"
    assert (widget.blur_min.value, widget.blur_max.value) == (0.7, 0.7)  # the preset's
    widget.seed.value = 4
    spread = {}
    for sigma in (0.3, 1.5):
        widget.blur_min.value = widget.blur_max.value = sigma
        assert widget.params()["psf_sigma_px"] == sigma
        widget.run()
        assert widget.last_lesions[0].lesion["psf_sigma_px"] == sigma
        # a wider point-spread function changes more pixels around the same calcifications
        changed = np.abs(viewer.layers[PREVIEW_NAME].data - m.pixels) > 1e-4
        spread[sigma] = int(changed.sum())
    assert spread[1.5] > spread[0.3], spread
    widget.blur_min.value, widget.blur_max.value = 1.2, 0.4
    assert widget.params()["psf_sigma_px"] == (0.4, 1.2)
    widget.run()
    assert 0.4 <= widget.last_lesions[0].lesion["psf_sigma_px"] <= 1.2
