"""One image preparation: training, calibration, detection and evaluation see the same arrays."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mcdet.data.prepare import prepare_image
from napari_mcdet.mammogram import Mammogram
from napari_mcdet.synth.phantom import breast_phantom

SPACINGS = (0.07, 0.1, 0.2)


def _phantom(spacing: float) -> Mammogram:
    # 60 x 45 mm, the breast mask the phantom knows dropped: the preparation must find it
    ph = breast_phantom((int(60 / spacing), int(45 / spacing)), pixel_spacing=spacing, seed=3)
    return Mammogram(ph.pixels, pixel_spacing=(spacing, spacing), metadata={"source": "phantom"})


def _model(tmp_path, spacing: float):
    import torch

    from napari_mcdet.models.checkpoint import load_model, save_checkpoint
    from napari_mcdet.nn import MCDetConfig, MCDetNet

    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / f"m{spacing}.safetensors",
                           MCDetNet(MCDetConfig(filters=(4, 8, 16, 32, 64))),
                           pixel_spacing=(spacing, spacing), patch_size=64)
    return load_model(path)


@pytest.mark.parametrize("source", SPACINGS)
@pytest.mark.parametrize("target", SPACINGS)
def test_training_and_detection_prepare_the_same_arrays(tmp_path, source, target):
    import warnings

    from napari_mcdet.infer.calibrate import calibrate
    from napari_mcdet.infer.detect import detect
    from napari_mcdet.infer.evaluate import EvalCase, evaluate
    from napari_mcdet.train.dataset import SyntheticPatchDataset

    mammo = _phantom(source)
    model = _model(tmp_path, target)
    train_image, train_breast, spacing = SyntheticPatchDataset(
        [mammo], patch_size=64, pixel_spacing=(target, target), length=3).prepared(0)
    assert spacing == (target, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the domain warning, on purpose here
        det = detect(mammo, model, keep_maps=True, engine="eager", threshold=0.5)
    np.testing.assert_array_equal(det.maps.image, train_image)
    np.testing.assert_array_equal(det.maps.breast, train_breast)
    # the function the others call gives the very same arrays
    image, breast, _ = prepare_image(mammo, pixel_spacing=(target, target))
    np.testing.assert_array_equal(image, train_image)
    np.testing.assert_array_equal(breast, train_breast)
    if source == target == 0.2:  # the slower entry points once, on the network's own grid
        point = calibrate(model, [mammo], target_fp=1.0)
        assert point["n_images"] == 1
        labels = np.zeros(mammo.shape, np.uint8)
        labels[150:153, 100:103] = 2
        ev = evaluate([EvalCase("lesion", mammo, labels), EvalCase("normal", mammo,
                                                                    np.zeros_like(labels))],
                      model, detect_options={"engine": "eager", "threshold": 0.5})
        assert ev.froc_clusters.n_images == 2 and ev.froc_clusters.n_regions == 1


def test_a_known_breast_mask_is_used_on_the_source_grid():
    ph = breast_phantom((400, 300), pixel_spacing=0.1, seed=1)
    image, breast, _ = prepare_image(ph, pixel_spacing=(0.2, 0.2))
    from napari_mcdet.data.resample import resample_labels

    np.testing.assert_array_equal(breast, resample_labels(ph.metadata["breast_mask"], 0.1, 0.2))
    assert image.shape == breast.shape == (200, 150)
    assert float(image[~breast].max()) == 0.0  # normalised inside the breast only


def test_labels_follow_the_image_and_no_spacing_is_an_error():
    mammo = _phantom(0.1)
    labels = np.zeros(mammo.shape, np.uint8)
    labels[300:310, 200:210] = 2
    image, _, lab = prepare_image(mammo, pixel_spacing=0.2, labels=labels)
    assert lab.shape == image.shape and lab.dtype == np.uint8
    assert (lab == 2).sum() == 25  # 10 x 10 px at 0.1 mm -> 5 x 5 at 0.2 mm
    with pytest.raises(ValueError, match="no pixel spacing"):
        prepare_image(Mammogram(mammo.pixels), pixel_spacing=0.2)
    with pytest.raises(ValueError, match="differ in shape"):
        prepare_image(mammo, pixel_spacing=0.2, breast=np.ones((5, 5), bool))
