"""npe2 writers: labels layer -> INbreast XML / mask, through the viewer and directly."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import disk

from napari_mcdet.gui._writer import write_inbreast_xml, write_mask
from napari_mcdet.io import inbreast_labels, read_inbreast_xml, read_mask


@pytest.fixture
def labels(rng) -> np.ndarray:
    lab = np.zeros((120, 90), dtype=np.uint8)
    for _ in range(15):
        centre = tuple(rng.integers(5, (115, 85)))
        lab[disk(centre, rng.uniform(0.5, 5), shape=lab.shape)] = rng.integers(1, 3)
    lab[rng.random(lab.shape) < 0.004] = 1
    return lab


def test_writer_functions_round_trip(tmp_path, labels):
    meta = {"scale": (0.07, 0.07), "metadata": {}}
    out = write_inbreast_xml(str(tmp_path / "a.xml"), labels, meta)
    assert out == [str(tmp_path / "a.xml")]
    back = inbreast_labels(read_inbreast_xml(out[0]), labels.shape)
    np.testing.assert_array_equal(back, labels)
    for suffix in (".png", ".tif"):
        (path,) = write_mask(str(tmp_path / f"m{suffix}"), labels, meta)
        np.testing.assert_array_equal(read_mask(path), labels)
    with pytest.raises(ValueError, match="2-D"):
        write_mask(str(tmp_path / "x.png"), np.zeros((2, 3, 4), np.uint8), meta)


def test_save_from_viewer(make_napari_viewer, tmp_path, labels):
    viewer = make_napari_viewer()
    layer = viewer.add_labels(labels, scale=(0.07, 0.07), name="calcs")
    path = tmp_path / "calcs.xml"
    written = viewer.layers.save(str(path), selected=False, plugin="napari-mcdet")
    assert [str(p) for p in written] == [str(path)]
    back = inbreast_labels(read_inbreast_xml(path), labels.shape)
    np.testing.assert_array_equal(back, labels)
    mask = tmp_path / "calcs.png"
    layer.save(str(mask), plugin="napari-mcdet")
    np.testing.assert_array_equal(read_mask(mask), labels)
