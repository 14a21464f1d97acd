"""Choosing a model's decoder gate on normal images with synthetic lesions blended in.

The decoder gate (:func:`napari_mcdet.infer.patches.gated_predictor`) skips the decoder on tiles
whose bottleneck head is sure they hold soft tissue. A gate is only safe for the model it was
chosen on, so it is chosen per model, where its operating point is: on a user's own normal
images. Normals hold no calcification, so the positives are drawn: each image gets benign and
malignant lesions as training draws them (conspicuity-calibrated, the presets of
:func:`napari_mcdet.synth.clusters.lesion_params`), and a tile is positive when it holds a
visible calcification. The gate is the highest that skips at most ``miss_rate`` of those tiles
(the lowest positive score when there are fewer than ``1 / miss_rate`` of them), rounded down
to 0.001.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..constants import DEFAULT_TILE, DEFAULT_TILE_OVERLAP

#: Share of the tiles holding a synthetic calcification the chosen gate may skip.
DEFAULT_MISS_RATE = 0.01
#: Lesions of each kind (benign, malignant) blended into each normal image.
DEFAULT_LESIONS_PER_KIND = 2


def blend_lesions(
    image: np.ndarray,
    breast: np.ndarray,
    *,
    pixel_spacing: tuple[float, float],
    rng: np.random.Generator,
    per_kind: int = DEFAULT_LESIONS_PER_KIND,
) -> tuple[np.ndarray, np.ndarray]:
    """A copy of a prepared normal image with benign and malignant lesions, and their mask.

    Parameters
    ----------
    image : ndarray of shape (M, N), float32
        Prepared as detection prepares it (:func:`napari_mcdet.data.prepare.prepare_image`).
    breast : ndarray of shape (M, N), bool
    pixel_spacing : (float, float)
        Keyword-only. mm per pixel of ``image``.
    rng : numpy.random.Generator
        Keyword-only. Draws the centres and the lesions' seeds.
    per_kind : int
        Keyword-only. Lesions of each kind.

    Returns
    -------
    image : ndarray of shape (M, N), float32
    mask : ndarray of shape (M, N), uint8
        The visible calcifications (1 benign, 2 malignant); a lesion none of whose
        calcifications is visible leaves no mark, and is drawn again (up to 10 times).
    """
    from ..synth.clusters import lesion_params
    from ..synth.lesions import pick_centre
    from ..synth.patches import synthesize_in_crop

    out = np.array(image, np.float32, copy=True)
    mask = np.zeros(out.shape, np.uint8)
    for kind in ("benign", "malignant") * int(per_kind):
        p = lesion_params(kind)
        for _ in range(10):
            centre = pick_centre(breast, pixel_spacing, min(p.extent_mm[0] / 2, 5.0), rng)
            les, (r0, c0) = synthesize_in_crop(out, breast, centre=centre,
                                               pixel_spacing=pixel_spacing, kind=kind, params=p,
                                               seed=int(rng.integers(2**63)), white=1.0)
            if les.mask.any():
                break
        h, w = les.image.shape
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r0 + h, out.shape[0]), min(c0 + w, out.shape[1])
        sl = (slice(rr0 - r0, rr1 - r0), slice(cc0 - c0, cc1 - c0))
        out[rr0:rr1, cc0:cc1] = les.image[sl]
        mask[rr0:rr1, cc0:cc1] = np.maximum(mask[rr0:rr1, cc0:cc1], les.mask[sl])
    return out, mask


def tile_gate_scores(
    network,
    image: np.ndarray,
    breast: np.ndarray,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_TILE_OVERLAP,
    device=None,
    channels_last: bool = False,
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Every breast tile's gate score, ``1 - p(soft tissue)`` under the bottleneck head.

    The tiles are those detection runs (same grid, same breast rule); only the encoder,
    bottleneck and bottleneck head run.

    Returns
    -------
    origins : list of (int, int)
        Top-left corner (row, col) of each tile, pixels.
    scores : ndarray of shape (len(origins),), float
    """
    from ..data.tiling import run_tiles
    from .patches import gated_predictor

    # a gate of 1 decodes no tile (a score reaches 1 only as NaN, which must show)
    predict = gated_predictor(network, gate=1.0, device=device, channels_last=channels_last)
    _, records, _ = run_tiles(predict, image, tile=tile, overlap=overlap, channels=2,
                              breast=breast, task="gate scoring")
    return ([tuple(r["origin"]) for r in records],
            np.array([r["gate_score"] for r in records], dtype=np.float64))


def positive_tiles(origins: Sequence[tuple[int, int]], mask: np.ndarray, tile: int) -> np.ndarray:
    """Which tiles (top-left ``origins``, side ``tile``) hold a pixel of ``mask``."""
    return np.array([bool(mask[max(r, 0):r + tile, max(c, 0):c + tile].any())
                     for r, c in origins], dtype=bool)


def check_miss_rate(miss_rate: float, *, name: str = "miss_rate") -> float:
    """``miss_rate`` as a float, refused unless it is a share in [0, 1).

    Parameters
    ----------
    miss_rate : float
    name : str, keyword-only
        How messages name it (``'--miss-rate'`` on the command line).

    Raises
    ------
    ValueError
        Not a number in [0, 1) (NaN included).
    """
    try:
        value = float(miss_rate)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} {miss_rate} is not a share of the tiles holding a "
                         f"calcification: give a number in [0, 1), e.g. {DEFAULT_MISS_RATE:g}")
    return value


def gate_from_scores(positive: np.ndarray, every: np.ndarray, *,
                     miss_rate: float = DEFAULT_MISS_RATE) -> dict[str, Any]:
    """The highest gate skipping at most ``miss_rate`` of the ``positive`` tile scores.

    Returns
    -------
    dict
        ``gate`` (rounded down to 0.001), ``miss_rate``, ``positive_tiles``, ``tiles``,
        ``lowest_positive``, ``positives_skipped`` and ``tiles_skipped`` (fractions, at the gate).
    """
    positive = np.asarray(positive, np.float64)
    every = np.asarray(every, np.float64)
    miss_rate = check_miss_rate(miss_rate)
    if positive.size == 0:
        raise ValueError("no tile holds a calcification: the gate cannot be chosen (are the "
                         "images' breasts large enough to hold a lesion?)")
    if not np.isfinite(positive).all() or not np.isfinite(every).all():
        raise ValueError("the network's bottleneck head gives NaN or infinite scores: the gate "
                         "cannot be chosen; check the model with mcdet info")
    best = float(np.quantile(positive, miss_rate, method="lower"))
    gate = float(np.floor(best * 1000) / 1000)
    return {"gate": gate, "miss_rate": float(miss_rate), "positive_tiles": int(positive.size),
            "tiles": int(every.size), "lowest_positive": float(positive.min()),
            "positives_skipped": float((positive < gate).mean()),
            "tiles_skipped": float((every < gate).mean())}


def refuse_gate_skipping_images(gate: float, best_scores: Sequence[float], names: Sequence[str],
                                *, miss_rate: float) -> None:
    """Refuse a gate under which detection would decode no tile of some normal image.

    Parameters
    ----------
    gate : float
        The gate chosen.
    best_scores : sequence of float
        Each normal image's highest tile gate score, without blended lesions.
    names : sequence of str
        The images, as messages name them.
    miss_rate : float, keyword-only
        The share the gate was chosen for, named in the message.

    Raises
    ------
    ValueError
        ``gate`` lies above some image's every tile: detection would analyse nothing there
        (:func:`napari_mcdet.infer.steps.image_maps` refuses it), so the gate is useless.
    """
    starved = [n for n, best in zip(names, best_scores) if not best >= gate]
    if starved:
        shown = ", ".join(starved[:3]) + (f" and {len(starved) - 3} more" if len(starved) > 3
                                          else "")
        raise ValueError(
            f"the gate {gate:g} chosen for miss_rate {miss_rate:g} skips every tile of "
            f"{len(starved)} of {len(names)} normal images ({shown}): detection would analyse "
            f"nothing there; choose a lower miss_rate (mcdet calibrate --miss-rate, "
            f"{DEFAULT_MISS_RATE:g} by default)")


def choose_gate(
    model,
    normals: Sequence[Any],
    *,
    pixel_spacing: tuple[float, float] | None = None,
    miss_rate: float = DEFAULT_MISS_RATE,
    per_kind: int = DEFAULT_LESIONS_PER_KIND,
    seed: int = 0,
    device=None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Choose a model's decoder gate on normal images with synthetic lesions blended in.

    Parameters
    ----------
    model : TrainedModel
        :func:`napari_mcdet.load_model` result; its network must have the bottleneck
        classification head (``can_gate``).
    normals : sequence of Mammogram
        Normal images, each with a pixel spacing (or pass ``pixel_spacing``).
    pixel_spacing : (float, float), optional
        Keyword-only. Spacing of images that do not carry one, mm.
    miss_rate : float
        Keyword-only. Share of the positive tiles the gate may skip.
    per_kind : int
        Keyword-only. Benign and malignant lesions blended into each image (each kind).
    seed : int
        Keyword-only. Seeds the lesions.
    device : optional
        Keyword-only. Where the network runs.
    progress : callable, optional
        Keyword-only. ``progress(images done, images)``.

    Returns
    -------
    dict
        :func:`gate_from_scores`'s, plus ``seed``, ``lesions_per_kind``, ``n_images`` and
        ``tiling`` (``tile``, ``overlap``, ``engine``); store ``gate`` under
        :data:`napari_mcdet.infer.patches.GATE_KEY` (``mcdet calibrate --gate`` does).

    Raises
    ------
    ValueError
        A ``miss_rate`` outside [0, 1), no tile holding a calcification, NaN scores, or a gate
        that would leave some normal image without a decoded tile
        (:func:`refuse_gate_skipping_images`).
    """
    from ..data.prepare import prepare_image
    from ..models.device import resolve_device
    from .calibrate import with_spacing
    from .steps import detection_runner

    miss_rate = check_miss_rate(miss_rate)
    if not getattr(model.network, "can_gate", False):
        raise ValueError(f"model {model.architecture!r} has no bottleneck classification head: "
                         "it cannot gate its decoder")
    dev = resolve_device("auto" if device is None else device, warn=False)
    # detection's own network, engine and tiling; no gate, so every score is seen
    net, run = detection_runner(model, device=dev, gate=None)
    spacing = tuple(float(s) for s in model.pixel_spacing)
    rng = np.random.default_rng(seed)
    positive, every, plain_best, names = [], [], [], []
    for i, mammo in enumerate(normals):
        image, breast, _ = prepare_image(with_spacing(mammo, pixel_spacing, i),
                                         pixel_spacing=spacing)
        # the normal as detection will see it, without lesions: its best tile must pass the gate
        _, plain = tile_gate_scores(net, image, breast, tile=run["tile"], overlap=run["overlap"],
                                    device=dev, channels_last=run["channels_last"])
        plain_best.append(float(plain.max(initial=-np.inf)))
        names.append(str(mammo.metadata.get("source", f"normal image {i}")))
        image, mask = blend_lesions(image, breast, pixel_spacing=spacing, rng=rng,
                                    per_kind=per_kind)
        origins, scores = tile_gate_scores(net, image, breast, tile=run["tile"],
                                           overlap=run["overlap"], device=dev,
                                           channels_last=run["channels_last"])
        positive.append(scores[positive_tiles(origins, mask, run["tile"])])
        every.append(scores)
        if progress is not None:
            progress(i + 1, len(normals))
    if not every:
        raise ValueError("choosing a gate needs at least one normal image")
    out = gate_from_scores(np.concatenate(positive), np.concatenate(every), miss_rate=miss_rate)
    refuse_gate_skipping_images(out["gate"], plain_best, names, miss_rate=miss_rate)
    out.update(seed=int(seed), lesions_per_kind=int(per_kind), n_images=len(normals),
               tiling={k: run[k] for k in ("tile", "overlap", "engine")})
    return out
