import numpy as np
import pytest
from skimage import io

from napari_mcdet.data.breast import breast_mask
from napari_mcdet.synth.phantom import breast_phantom


def test_digital_16bit_with_marker_and_text():
    m = breast_phantom((400, 300), pixel_spacing=0.3, seed=2)
    img = (m.pixels * 12000 + 200).astype(np.uint16)  # a 14-bit-like digital image
    img[~m.metadata["breast_mask"]] = 0
    img[20:40, 250:290] = 16000  # burned-in label text in the background
    img[360:372, 240:252] = 16000  # a marker
    mask = breast_mask(img)
    assert mask.dtype == bool and mask.shape == img.shape
    assert not mask[20:40, 250:290].any() and not mask[360:372, 240:252].any()
    truth = m.metadata["breast_mask"]
    assert (mask & truth).sum() / (mask | truth).sum() > 0.95


def test_holes_filled():
    img = np.zeros((200, 200), np.float32)
    img[40:160, :120] = 1.0
    img[90:110, 50:70] = 0.0  # a dark hole inside the breast
    assert breast_mask(img)[100, 60]


def test_minimias_film(shared_data):
    for name in ("mdb003", "mdb209", "mdb241"):
        img = io.imread(shared_data / "mini-mias" / f"{name}.pgm")
        mask = breast_mask(img)
        assert 0.1 < mask.mean() < 0.7
        # the breast is one piece; the top-left and bottom corners opposite the chest wall are
        # background; breast pixels are brighter on average
        assert img[mask].mean() > img[~mask].mean() + 30


def test_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        breast_mask(np.zeros((2, 3, 3)))
    assert not breast_mask(np.zeros((20, 20))).any()
