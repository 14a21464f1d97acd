"""Hard-negative mining: where the current model fires on normal images.

Every response on a normal (training) image is a false one. :func:`mine_hard_negatives` runs the
network over whole prepared normals exactly as detection does (the one tiled runner,
:func:`napari_mcdet.data.tiling.run_tiles`, same tiles and overlap) and returns the strongest
local maxima of its calcification probability; the training set then cuts soft-tissue patches
around them (:class:`napari_mcdet.train.dataset.SyntheticPatchDataset`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def response_peaks(
    score: np.ndarray,
    breast: np.ndarray,
    *,
    per_image: int,
    min_distance: int,
) -> list[tuple[int, int, float]]:
    """The ``per_image`` highest local maxima ``(row, col, score)`` of ``score`` in the breast."""
    from skimage.feature import peak_local_max

    masked = np.where(breast, score, 0.0)
    peaks = peak_local_max(masked, min_distance=max(1, int(min_distance)), threshold_abs=1e-6,
                           num_peaks=int(per_image), exclude_border=False)
    return [(int(r), int(c), float(masked[r, c])) for r, c in peaks]


@torch.no_grad()
def mine_hard_negatives(
    network: torch.nn.Module,
    dataset,
    images: Sequence[int],
    *,
    tile: int,
    per_image: int = 8,
    device: torch.device | None = None,
) -> list[tuple[int, int, int, float]]:
    """The model's strongest false responses on normal images of ``dataset``.

    Parameters
    ----------
    network : torch.nn.Module
        An MCDetNet with its segmentation head (its train/eval mode is restored afterwards).
    dataset : SyntheticPatchDataset
        Provides the prepared normals (:meth:`~SyntheticPatchDataset.prepared`).
    images : sequence of int
        Indices of the dataset's images to mine.
    tile : int
        Tile side, pixels (the training patch size); tiles overlap by a quarter, as detection's.
    per_image : int
        Peaks kept per image.
    device : torch.device, optional

    Returns
    -------
    list of (image index, row, col, score)
        Rows and columns of the prepared image; strongest first.
    """
    from ..data.tiling import run_tiles
    from ..infer.patches import segmentation_predictor
    from ..nn.inference import prepare_for_inference

    was_training = network.training
    net = prepare_for_inference(network, device=device or "cpu")
    predict = segmentation_predictor(net, device=device, channels_last=True)
    out: list[tuple[int, int, int, float]] = []
    try:
        for k in images:
            image, breast, _ = dataset.prepared(int(k))
            probs, _, _ = run_tiles(predict, image, tile=tile, overlap=tile // 4, channels=2,
                                    breast=breast, batch_size=8)
            for r, c, s in response_peaks(probs.max(0), breast, per_image=per_image,
                                          min_distance=tile // 4):
                out.append((int(k), r, c, s))
    finally:
        network.train(was_training)
    out.sort(key=lambda e: -e[3])
    return out


def mining_images(n_images: int, round_index: int, per_round: int, seed: int) -> list[int]:
    """The images mined at round ``round_index``: consecutive slices of one seeded permutation,
    so every normal is visited in turn and a resumed run mines the same ones."""
    order = np.random.default_rng([seed, 7919]).permutation(n_images)
    start = (round_index * per_round) % n_images
    idx = [int(order[(start + j) % n_images]) for j in range(min(per_round, n_images))]
    return idx
