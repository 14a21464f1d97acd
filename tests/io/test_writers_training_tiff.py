"""16-bit training TIFFs and file stems from layer names (io.writers)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_mcdet.io.writers import safe_stem, write_uint16_tiff, write_uint16_tiffs


def test_the_image_is_stretched_from_its_minimum_to_its_maximum(tmp_path):
    image = np.array([[-1.0, 0.0], [1.0, 3.0]])
    path = write_uint16_tiff(tmp_path / "a.tif", image)
    back = tifffile.imread(path)
    assert back.dtype == np.uint16
    # (value + 1) / 4 of 65535: 0, 16383.75, 32767.5, 65535, rounded
    np.testing.assert_array_equal(back, [[0, 16384], [32768, 65535]])


@pytest.mark.parametrize("image,match", [
    (np.full((4, 4), 2.0), "constant"),
    (np.array([[0.0, np.nan]]), "NaN"),
    (np.zeros((2, 2, 2)), "2-D"),
])
def test_images_that_cannot_be_stretched_are_refused(tmp_path, image, match):
    with pytest.raises(ValueError, match=match):
        write_uint16_tiff(tmp_path / "bad.tif", image)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_safe_stem():
    assert safe_stem("mdb 209 / left") == "mdb_209_left"
    assert safe_stem(".hidden") == "hidden"
    assert safe_stem("///") == "image"
    assert safe_stem("a-b_c.d") == "a-b_c.d"


def test_named_images_get_one_file_each_even_when_their_stems_collide(tmp_path):
    images = {"a b": np.array([[0.0, 1.0]]), "a_b": np.array([[0.0, 2.0], [1.0, 0.0]]),
              "A B": np.array([[5.0, 3.0]])}
    paths = write_uint16_tiffs(images, tmp_path / "new" / "folder")
    assert [p.name for p in paths] == ["a_b.tif", "a_b_2.tif", "A_B_3.tif"]
    for path, image in zip(paths, images.values()):
        assert tifffile.imread(path).shape == image.shape  # none overwrote another


def test_a_named_image_that_cannot_be_written_is_named_in_the_error(tmp_path):
    with pytest.raises(ValueError, match="'flat'.*constant"):
        write_uint16_tiffs({"ok": np.eye(2), "flat": np.ones((2, 2))}, tmp_path)
