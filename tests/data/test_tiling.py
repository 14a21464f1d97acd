import numpy as np
import pytest

from napari_mcdet.data.tiling import blend_window, extract_patch, tile_grid, tile_starts


@pytest.mark.parametrize(
    "length,tile,overlap",
    [(1000, 256, 0), (1000, 256, 64), (256, 256, 32), (100, 256, 0), (513, 512, 128)],
)
def test_tile_starts_cover_axis(length, tile, overlap):
    starts = tile_starts(length, tile, overlap=overlap)
    covered = np.zeros(max(length, tile), bool)
    for s in starts:
        covered[s : s + tile] = True
        assert s >= 0 and (s + tile <= length or length <= tile)
    assert covered[:length].all()
    if overlap == 0 and length % tile == 0:
        assert len(starts) == length // tile


def test_blend_covers_every_pixel_once():
    shape, tile, overlap = (700, 530), 128, 32
    acc = np.zeros(shape, np.float64)
    wsum = np.zeros(shape, np.float64)
    win = blend_window(tile, overlap)
    img = np.random.default_rng(1).random(shape)
    for r, c in tile_grid(shape, tile, overlap=overlap):
        acc[r : r + tile, c : c + tile] += win * img[r : r + tile, c : c + tile]
        wsum[r : r + tile, c : c + tile] += win
    assert wsum.min() > 0
    np.testing.assert_allclose(acc / wsum, img, rtol=1e-6)


def test_extract_patch_pads_outside():
    img = np.arange(20, dtype=np.float32).reshape(4, 5)
    p = extract_patch(img, (-1, 3), 3, fill=-1)
    assert p.shape == (3, 3)
    assert (p[0] == -1).all() and (p[:, 2] == -1).all()
    np.testing.assert_array_equal(p[1:, :2], img[0:2, 3:5])
