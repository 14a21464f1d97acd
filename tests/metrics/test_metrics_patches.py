"""Evaluation patches: labelling priority, malignant-centred patches, the tiling, breast mask."""

import numpy as np
import pytest

from napari_mcdet.metrics import (
    evaluation_patches,
    extract_evaluation_patches,
    malignant_centres,
    patch_label,
)


@pytest.mark.parametrize(
    "values,expected",
    [((0,), 0), ((0, 1), 1), ((0, 2), 2), ((1, 2), 2), ((0, 1, 2), 2), ((1,), 1)],
)
def test_patch_label_priority(values, expected):
    patch = np.zeros((6, 6), np.uint8)
    for i, v in enumerate(values):
        patch[i, i] = v
    assert patch_label(patch) == expected


def _labels():
    lab = np.zeros((100, 100), np.uint8)
    lab[49:52, 69:72] = 2  # 3x3 malignant blob centred at (50, 70)
    lab[10:12, 10:14] = 2  # 2x4 blob: centroid (10.5, 11.5)
    lab[5, 50] = 1  # single benign pixel
    return lab


def test_malignant_centred_patches_are_centred_on_components():
    lab = _labels()
    cents = malignant_centres(lab)
    assert sorted(map(tuple, cents)) == [(10.5, 11.5), (50.0, 70.0)]
    patches = [p for p in evaluation_patches(lab, size=40) if p.source == "malignant-centred"]
    assert len(patches) == 2
    origins = sorted(p.origin for p in patches)
    # origin = round(centroid) - size // 2 (Python rounds 10.5 -> 10, 11.5 -> 12)
    assert origins == [(10 - 20, 12 - 20), (50 - 20, 70 - 20)]
    assert all(p.label == 2 and p.size == (40, 40) for p in patches)


def test_tiling_labels_by_content():
    lab = _labels()
    tiles = {p.origin: p.label for p in evaluation_patches(lab, size=40) if p.source == "tile"}
    # tile_starts(100, 40) = 0, 40, 60 (last shifted back): 9 tiles
    assert set(tiles) == {(r, c) for r in (0, 40, 60) for c in (0, 40, 60)}
    expected = {(r, c): 0 for r in (0, 40, 60) for c in (0, 40, 60)}
    expected[(0, 0)] = 2  # blob rows 10-11, cols 10-13
    expected[(0, 40)] = 1  # benign pixel (5, 50) only
    expected[(40, 40)] = 2  # rows 40-79, cols 40-79 hold (49..51, 69..71)
    expected[(40, 60)] = 2  # cols 60-99 too
    assert tiles == expected


def test_malignant_centred_first_then_tiles():
    sources = [p.source for p in evaluation_patches(_labels(), size=40)]
    assert sources == ["malignant-centred"] * 2 + ["tile"] * 9
    assert [p.source for p in evaluation_patches(_labels(), size=40, malignant_centred=False)] == [
        "tile"
    ] * 9


def test_breast_mask_skips_empty_tiles_but_keeps_annotated_ones():
    lab = _labels()
    breast = np.zeros(lab.shape, bool)
    breast[:, :30] = True  # only the left 30 columns are breast
    tiles = [p for p in evaluation_patches(lab, size=40, breast_mask=breast) if p.source == "tile"]
    kept = {p.origin: p.breast_fraction for p in tiles}
    # column-0 tiles have 30/40 breast; others 0 and are dropped unless annotated
    assert kept == {
        (0, 0): 0.75,
        (40, 0): 0.75,
        (60, 0): 0.75,  # enough breast
        (0, 40): 0.0,
        (40, 40): 0.0,
        (40, 60): 0.0,  # annotated, kept anyway
    }


def test_extract_patches_match_slices():
    lab = _labels()
    image = np.arange(100 * 100, dtype=np.float32).reshape(100, 100)
    patches = evaluation_patches(lab, size=40)
    stack, y = extract_evaluation_patches(image, patches)
    assert stack.shape == (11, 40, 40)
    assert y.tolist() == [p.label for p in patches]
    tile = next(i for i, p in enumerate(patches) if p.origin == (60, 40))
    np.testing.assert_array_equal(stack[tile], image[60:100, 40:80])
    # a centred patch near the border is padded with the fill value
    near = next(i for i, p in enumerate(patches) if p.origin == (-10, -8))
    assert np.all(stack[near][:10] == 0)
    np.testing.assert_array_equal(stack[near][10:, 8:], image[:30, :32])


def test_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        evaluation_patches(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="breast_mask"):
        evaluation_patches(np.zeros((10, 10)), breast_mask=np.ones((5, 5)))


def test_image_smaller_than_a_patch_gives_one_padded_tile():
    lab = np.zeros((30, 20), np.uint8)
    lab[3, 4] = 1
    (tile,) = evaluation_patches(lab, size=64)
    assert (tile.origin, tile.label, tile.source) == ((0, 0), 1, "tile")
    stack, _ = extract_evaluation_patches(np.ones((30, 20)), [tile])
    assert stack.shape == (1, 64, 64) and stack.sum() == 30 * 20
