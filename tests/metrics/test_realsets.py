import numpy as np
import pytest

from napari_mcdet.metrics.realsets import evaluation_patch_set, minimias_cases, minimias_images


def test_minimias_cases_leave_out_unusable_ground_truth(shared_data):
    with pytest.warns(UserWarning, match="mdb212: its annotation lies entirely outside"):
        cases = minimias_cases(shared_data / "mini-mias", normals=["mdb003.pgm"])
    names = [c[0] for c in cases]
    assert "mdb212" not in names and "mdb216" not in names  # outside the breast / no coordinates
    assert {"mdb209", "mdb218", "mdb003"} <= set(names)
    labels = dict((n, lab) for n, _, lab in cases)
    assert labels["mdb209"][1023 - 503, 647] == 2 and labels["mdb218"].max() == 1
    assert not labels["mdb003"].any()


def test_evaluation_patch_set_details_match_the_plain_set(shared_data):
    images = [im for im in minimias_images(shared_data / "mini-mias", normals=["mdb003.pgm"])
              if im.name in ("mdb209", "mdb003")]
    x, y = evaluation_patch_set(images, patch_size=96)
    x2, y2, d = evaluation_patch_set(images, patch_size=96, details=True)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert d["label_maps"].shape == x.shape and len(d["images"]) == len(y)
    # each patch's class is the highest class of its ground-truth map
    np.testing.assert_array_equal(d["label_maps"].reshape(len(y), -1).max(1), y)
    assert set(d["images"][y == 2]) == {"mdb209"} and d["sources"][0] == "malignant-centred"
