"""Lesions drawn one per centre in their own crops, and pasted into a preview
(synth.patches.lesions_in_crops, paste_lesion)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcdet.synth.blend import white_level
from napari_mcdet.synth.clusters import lesion_params
from napari_mcdet.synth.patches import lesions_in_crops, paste_lesion, synthesize_in_crop
from napari_mcdet.synth.phantom import breast_phantom

SPACING = (0.1, 0.1)
#: Small lesions (crops of about 13 mm), so several fit inside the phantom's breast.
PARAMS = {kind: lesion_params(kind, count=(6, 6), extent_mm=(3.0, 5.0))
          for kind in ("benign", "malignant")}


@pytest.fixture(scope="module")
def normal():
    m = breast_phantom((400, 300), pixel_spacing=0.1, seed=0)
    return m.pixels, m.metadata["breast_mask"]


def _draw(normal, centres, *, seed=5, kind="malignant", mode="presentation"):
    image, breast = normal
    return lesions_in_crops(image, breast, centres, pixel_spacing=SPACING, kind=kind,
                            params=PARAMS[kind], seed=seed, mode=mode)


def test_lesion_i_is_the_crop_lesion_of_the_seeds_child_i_at_the_images_white_level(normal):
    image, breast = normal
    lesions = _draw(normal, [(200.0, 150.0), (150.0, 120.0)])
    children = np.random.SeedSequence(5).spawn(2)
    for les, centre, child in zip(lesions, [(200.0, 150.0), (150.0, 120.0)], children):
        alone, origin = synthesize_in_crop(
            image, breast, centre=centre, pixel_spacing=SPACING, kind="malignant",
            params=PARAMS["malignant"], seed=child, white=white_level(image, breast))
        assert les.lesion["region_origin"] == origin
        np.testing.assert_array_equal(les.image, alone.image)
        np.testing.assert_array_equal(les.mask, alone.mask)
        assert les.mask.max() == 2


def test_adding_a_centre_leaves_the_lesions_already_there(normal):
    one = _draw(normal, [(200.0, 150.0), None])
    two = _draw(normal, [(200.0, 150.0), None, (250.0, 150.0)])
    for a, b in zip(one, two[:2]):
        np.testing.assert_array_equal(a.image, b.image)
        assert a.lesion["region_origin"] == b.lesion["region_origin"]
    assert one[1].centre == two[1].centre  # the random centre is drawn from its own child
    assert not np.array_equal(two[2].image, one[0].image)


def test_pasting_changes_only_the_lesions_pixels_and_undoing_restores_the_image(normal):
    image, _ = normal
    lesions = _draw(normal, [(200.0, 150.0), (210.0, 160.0), (5.0, 5.0)], kind="benign")
    picture, labels = image.copy(), np.zeros(image.shape, np.uint8)
    regions = [paste_lesion(picture, labels, les, base=image) for les in lesions]
    # the crop hanging over the top-left corner is clipped to the image
    assert regions[2] == (slice(0, regions[2][0].stop), slice(0, regions[2][1].stop))
    inside = np.zeros(image.shape, bool)
    for rs, cs in regions:
        inside[rs, cs] = True
    np.testing.assert_array_equal(picture[~inside], image[~inside])
    assert set(np.unique(labels)) == {0, 1}
    # the two overlapping lesions both show: a pixel keeps the last lesion that changed it,
    # never the tissue a later crop holds there
    expected = image.copy()
    for les in lesions[:2]:
        (o_r, o_c), (h, w) = les.lesion["region_origin"], les.image.shape
        window = expected[o_r:o_r + h, o_c:o_c + w]
        changed = les.image != image[o_r:o_r + h, o_c:o_c + w]
        assert changed.any()
        window[changed] = les.image[changed]
    first = regions[0]
    np.testing.assert_array_equal(picture[first], expected[first])
    assert (picture[first] != image[first]).sum() > (lesions[1].image != image[regions[1]]).sum()
    for rs, cs in regions:
        picture[rs, cs], labels[rs, cs] = image[rs, cs], 0
    np.testing.assert_array_equal(picture, image)
    assert not labels.any()
