import numpy as np
import pytest

from napari_mcdet.data.augment import augment, intensity
from napari_mcdet.data.normalize import normalize_image
from napari_mcdet.data.tiling import extract_patch
from napari_mcdet.synth.patches import (
    breast_fraction,
    fraction_inside,
    lesion_patch,
    lesion_patch_origin,
    tissue_patch,
    tissue_patch_origin,
)
from napari_mcdet.synth.phantom import breast_phantom


@pytest.fixture(scope="module")
def normal():
    m = breast_phantom((512, 384), pixel_spacing=0.2, seed=0)
    breast = m.metadata["breast_mask"]
    return normalize_image(m.pixels, breast=breast), breast


@pytest.mark.parametrize("kind", ["benign", "malignant"])
def test_lesion_patch_80_percent_rule(normal, kind):
    image, breast = normal
    for seed in range(4):
        p = lesion_patch(image, breast, kind=kind, size=64, pixel_spacing=(0.2, 0.2),
                         rng=np.random.default_rng(seed), white=1.0)
        assert p.image.shape == (64, 64) and p.mask.shape == (64, 64)
        assert p.label == (1 if kind == "benign" else 2)
        assert p.info["fraction_inside"] >= 0.8
        assert set(np.unique(p.mask)) == {0, p.label}
        # the patch is the image except where the lesion was blended in, inside the breast
        base = extract_patch(image, p.origin, 64)
        changed = np.abs(p.image - base) > 1e-6
        assert changed.any()
        assert not np.any(changed & ~extract_patch(breast, p.origin, 64, fill=False))


def test_lesion_patch_origin_rule():
    mask = np.zeros((200, 200), np.uint8)
    mask[50:150, 90:100] = 2  # a 100-pixel long lesion
    rng = np.random.default_rng(0)
    for _ in range(20):
        o = lesion_patch_origin(mask, 90, rng)
        assert o is not None and fraction_inside(mask, o, 90) >= 0.8
    assert lesion_patch_origin(mask, 40, rng) is None  # cannot hold 80 %


def test_tissue_patch_20_percent_rule(normal):
    image, breast = normal
    rng = np.random.default_rng(1)
    for _ in range(20):
        p = tissue_patch(image, breast, size=128, rng=rng)
        assert p.label == 0 and not p.mask.any()
        assert breast_fraction(breast, p.origin, 128) >= 0.2
        assert p.info["breast_fraction"] >= 0.2


def test_tissue_patch_impossible():
    breast = np.zeros((100, 100), bool)
    breast[0:5, 0:5] = True
    with pytest.raises(ValueError, match="breast"):
        tissue_patch_origin(breast, 64, np.random.default_rng(0))


def test_augment_keeps_alignment():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(32, 32)).astype(np.float32)
    mask = np.zeros((32, 32), np.uint8)
    mask[3:6, 20:30] = 2
    img[mask > 0] = 50.0  # a marker only where the mask is
    for seed in range(16):
        a, m, ops = augment(img, mask, seed)
        assert a.shape == img.shape and m.shape == mask.shape
        if ops["intensity"] == "invert":
            a = 1 - a
        if ops["intensity"] == "gamma":
            hot = a > 50.0 ** 0.7 - 1
        else:
            hot = a > 25
        np.testing.assert_array_equal(hot, m > 0)


def test_augment_multichannel_mask_and_determinism():
    img = np.arange(64, dtype=np.float32).reshape(8, 8)
    mask = np.stack([img > 10, img > 40]).astype(np.float32)
    a1, m1, o1 = augment(img, mask, 3)
    a2, m2, o2 = augment(img, mask, 3)
    np.testing.assert_array_equal(a1, a2) and np.testing.assert_array_equal(m1, m2)
    assert o1 == o2 and m1.shape == (2, 8, 8)


@pytest.mark.parametrize("which", ["blur", "noise", "gamma", "invert"])
def test_each_intensity_augmentation(which):
    img = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    out, ops = intensity(img, np.random.default_rng(0), which=which)
    assert ops["intensity"] == which and out.shape == img.shape and out.dtype == np.float32
    assert not np.array_equal(out, img)
