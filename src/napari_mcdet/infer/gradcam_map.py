"""Whole-image Grad-CAM of a baseline patch classifier.

The image is prepared exactly as for detection
(:func:`napari_mcdet.data.prepare.prepare_image`: resampled to the model's pixel spacing,
normalised inside the breast), cut into overlapping tiles of the model's patch size by the one
tiled loop (:func:`napari_mcdet.data.tiling.run_tiles`), and each tile with enough breast gets
a Grad-CAM map (:func:`napari_mcdet.nn.gradcam.grad_cam`) for the target class.

Combination rule: Grad-CAM scales every tile's map to [0, 1] by its own maximum, which would light
up normal tiles as brightly as suspicious ones; so each tile's map is multiplied by the
classifier's softmax probability of the target class on that tile before blending. Tiles are
blended with :func:`~napari_mcdet.data.tiling.blend_window` (weight-normalised average), pixels
outside the breast are set to 0, and the map is resampled back to the input grid.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..classes import MALIGNANT
from ..mammogram import Mammogram
from ..spacing import as_spacing

__all__ = ["gradcam_map"]


def gradcam_map(
    image: Mammogram | np.ndarray,
    model,
    *,
    pixel_spacing: float | tuple[float, float] | None = None,
    target_class: int = MALIGNANT,
    overlap: float = 0.25,
    min_breast_fraction: float = 0.05,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Grad-CAM heat map of a classifier over a whole mammogram, at the input's size.

    Parameters
    ----------
    image : Mammogram or ndarray of shape (M, N)
        Bright = dense. An array needs ``pixel_spacing``.
    model : TrainedModel
        From :func:`napari_mcdet.models.checkpoint.load_model`; a classifier (a baseline, or an
        MCDetNet whose classification head is explained at its ``target_layer`` when it has one).
    pixel_spacing : float or (float, float), optional
        mm per pixel of ``image``; overrides the Mammogram's.
    target_class : int
        Class explained (default 2, malignant).
    overlap : float
        Tile overlap as a fraction of the patch side, ``0 <= overlap < 1``.
    min_breast_fraction : float
        Tiles with less breast than this stay 0 (not run).
    batch_size : int
        Tiles per forward/backward pass.
    progress : callable, optional
        ``progress(done, total)`` after each batch of tiles.
    should_stop : callable, optional
        Checked before each batch; when it returns True,
        :class:`~napari_mcdet.data.tiling.DetectionCancelled` is raised (as :func:`detect` does).

    Returns
    -------
    heat : ndarray of shape (M, N), float32 in [0, 1]
    """
    import torch

    from ..data.prepare import prepare_image
    from ..data.tiling import run_tiles
    from ..nn.gradcam import grad_cam
    from .patches import predict_patches

    if isinstance(image, Mammogram):
        mammo = image
    else:
        arr = np.asarray(image)
        if arr.ndim != 2:
            raise ValueError(f"image must be a 2-D array or a Mammogram, got shape {arr.shape}")
        mammo = Mammogram(arr.astype(np.float32, copy=False))
    spacing = as_spacing(mammo.pixel_spacing if pixel_spacing is None else pixel_spacing)
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    network = model.network
    if getattr(network, "target_layer", None) is None:
        raise ValueError(f"the {model.architecture!r} network has no 'target_layer' for Grad-CAM; "
                         "use a baseline classifier (napari_mcdet.nn.build_baseline)")
    src = Mammogram(mammo.pixels, pixel_spacing=tuple(spacing))
    net_spacing = tuple(float(s) for s in model.pixel_spacing)
    img, breast, _ = prepare_image(src, pixel_spacing=net_spacing)

    p = int(model.patch_size)

    def predict(tiles: np.ndarray) -> tuple[np.ndarray, None]:
        probs, _ = predict_patches(network, tiles, batch_size=len(tiles), segmentation=False)
        cams = grad_cam(network, torch.from_numpy(tiles[:, None]), target_class=target_class)
        return (cams * probs[:, target_class, None, None])[:, None], None

    heat, _, _ = run_tiles(predict, img, tile=p, overlap=int(round(p * overlap)), channels=1,
                           breast=breast, min_breast_fraction=min_breast_fraction,
                           batch_size=batch_size, progress=progress, should_stop=should_stop,
                           task="Grad-CAM")
    heat = heat[0]
    heat[~breast] = 0
    if heat.shape != mammo.pixels.shape:
        from skimage.transform import resize

        heat = resize(heat, mammo.pixels.shape, order=1, preserve_range=True,
                      anti_aliasing=False).astype(np.float32)
    return np.clip(heat, 0.0, 1.0)
