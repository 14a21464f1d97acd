"""``mcdet demo``: the plugin's main job in one command, on the sample mammogram or your image.

Without ``--headless`` napari opens with the image, the plugin's widgets docked and the default
model's detection layers: the command line (:mod:`napari_mcdet.cli`, the one floor above both
the commands and the napari face) checks the inputs with :func:`window_mammogram` and hands the
window to :func:`napari_mcdet.gui._demo.run_window`. With ``--headless`` this module runs the
same pipeline (same images, same model, same :func:`napari_mcdet.detect` call with the widget's
settings) without napari or Qt and prints what it found.

The sample is shown twice: drawn at the pixel spacing of the model's training domain, then drawn
twice as fine, outside it, where detection warns
(:func:`napari_mcdet.infer.domain.showcase_spacings`). On both, what was recovered of the
synthetic lesions is counted with :func:`napari_mcdet.infer.recovery.recovery_summary`, as the
Detect panel counts it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import INBREAST_SPACING_MM, MINIMIAS_SPACING_MM
from ..mammogram import Mammogram
from ..spacing import as_spacing


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the sample mammogram (or IMAGE) in napari with the default model's detection",
        description=(
            "Open napari with a sample mammogram (a breast phantom with one malignant cluster "
            "and one benign lesion, always the same, drawn at the pixel spacing of the model's "
            "training domain) or IMAGE, the plugin's widgets docked, and the detection layers "
            "of the bundled default model (or --model); the same phantom drawn twice as fine, "
            "outside the model's domain, is there to try. With --headless, run the same "
            "pipeline on both without a window and print what was found and what was "
            "recovered of the synthetic lesions. Without a screen: xvfb-run -a mcdet demo."
        ),
    )
    p.add_argument("image", nargs="?", default=None, metavar="IMAGE",
                   help="a DICOM, INbreast XML, mini-MIAS PGM, PNG or TIFF mammogram "
                        "(default: the sample phantom with synthetic calcifications)")
    p.add_argument("--headless", action="store_true",
                   help="no window: run detection and print the findings")
    p.add_argument("--model", default=None, metavar="CKPT",
                   help="checkpoint (.safetensors) to use instead of the bundled default model")
    p.add_argument("--spacing", type=float, default=None, metavar="MM",
                   help="pixel spacing in mm for an IMAGE whose file carries none "
                        f"(e.g. {MINIMIAS_SPACING_MM:g} for mini-MIAS PNGs, "
                        f"{INBREAST_SPACING_MM:g} for INbreast)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda, cuda:1, mps (default: the best available)")
    p.set_defaults(func=run)


# -- shared by both paths ----------------------------------------------------------------------
def sample_mammogram(*, pixel_spacing: float = MINIMIAS_SPACING_MM
                     ) -> tuple[Mammogram, np.ndarray, list[dict[str, Any]]]:
    """The demo's sample: the File > Open Sample "Breast phantom with synthetic calcifications".

    Parameters
    ----------
    pixel_spacing : float, keyword-only
        mm/pixel; the bundled model's 0.2 by default. The breast and its lesions keep their size
        in mm (:func:`napari_mcdet.synth.samples.phantom_with_lesions`).

    Returns
    -------
    mammogram : Mammogram
        512 x 384 pixels at 0.2 mm by default, seeded (always the same image).
    truth : ndarray, uint8
        The synthetic calcifications' labels (0 / 1 benign / 2 malignant).
    lesions : list of dict
        The lesions' descriptions (``kind``, ``label``, ``bbox``, ``n_placed``...).
    """
    from ..synth.samples import phantom_with_lesions

    return phantom_with_lesions(pixel_spacing=pixel_spacing)


def read_image(path: str | Path, *, spacing: float | None = None) -> Mammogram:
    """Read IMAGE with :func:`napari_mcdet.read_mammogram`, ``spacing`` (mm) overriding its own."""
    from ..io.images import read_mammogram

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image: {path}")
    mammo = read_mammogram(path)
    if spacing is not None:
        mammo = Mammogram(mammo.pixels, pixel_spacing=as_spacing(spacing, name="--spacing"),
                          laterality=mammo.laterality, view=mammo.view, metadata=mammo.metadata)
    if mammo.pixel_spacing is None:
        raise ValueError(f"{path.name} carries no pixel spacing: pass --spacing MM (e.g. "
                         f"{MINIMIAS_SPACING_MM:g} for mini-MIAS, {INBREAST_SPACING_MM:g} for "
                         "INbreast)")
    return mammo


def demo_model_path(model: str | Path | None = None) -> Path:
    """The checkpoint the demo uses: ``model``, else the bundled default (which must exist).

    See :func:`napari_mcdet.models.paths.checkpoint_path`; raises FileNotFoundError.
    """
    from ..models.paths import checkpoint_path

    return checkpoint_path(model)


def window_mammogram(image: str | Path | None = None, *, model: str | Path | None = None,
                     spacing: float | None = None) -> Mammogram | None:
    """The windowed demo's inputs, checked before a window opens.

    Parameters
    ----------
    image : path, optional
        The mammogram to show; None for the sample phantom.
    model : path, optional
        A checkpoint; None for the bundled default model (which must exist).
    spacing : float, optional
        Pixel spacing in mm for an ``image`` whose file carries none.

    Returns
    -------
    mammogram : Mammogram or None
        ``image`` read with its spacing, or None for the sample.

    Raises
    ------
    FileNotFoundError, ValueError
        The model or the image is missing, or the image has no pixel spacing.
    """
    demo_model_path(model)
    return read_image(image, spacing=spacing) if image is not None else None


# -- the headless path (the window is opened by napari_mcdet.cli) -------------------------------
def run(args: argparse.Namespace) -> int:
    """``mcdet demo --headless``; the command line sends the windowed demo to the napari face."""
    return run_headless(args.image, model=args.model, spacing=args.spacing, device=args.device)


def run_headless(image: str | Path | None = None, *, model: str | Path | None = None,
                 spacing: float | None = None, device: str | None = None) -> int:
    """Detect on the sample, in and outside the model's domain (or on ``image``), without
    napari, and print the findings."""
    from ..infer.domain import model_domain, showcase_spacings
    from ..models.checkpoint import load_model

    path = demo_model_path(model)
    trained = load_model(path)
    print(f"model  {path.name if model is not None else 'bundled default'} "
          f"({trained.architecture}, {trained.pixel_spacing[0]:g} mm/px, "
          f"patch {trained.patch_size}, step {trained.metadata.get('step', '?')})")
    print(f"       model domain: {model_domain(trained).describe()}")
    if image is not None:
        _detect_and_print(read_image(image, spacing=spacing), Path(image).name, trained,
                          device=device)
        return 0
    own, finer = showcase_spacings(trained)
    mammo, truth, lesions = sample_mammogram(pixel_spacing=own)
    _detect_and_print(mammo, "sample phantom with synthetic calcifications", trained,
                      device=device, truth=truth, lesions=lesions)
    mammo, truth, lesions = sample_mammogram(pixel_spacing=finer)
    _detect_and_print(mammo, "the same phantom drawn twice as fine", trained, device=device,
                      truth=truth, lesions=lesions)
    return 0


def _detect_and_print(mammo: Mammogram, name: str, trained: Any, *, device: str | None,
                      truth: np.ndarray | None = None,
                      lesions: list[dict[str, Any]] | None = None) -> None:
    """One image: its domain, what detection found, and what it recovered of ``truth``."""
    import warnings

    from ..classes import CLASS_NAMES
    from ..infer.detect import detect, operating_point
    from ..infer.domain import DomainWarning, domain_note
    from ..infer.recovery import recovery_summary
    from .detect import regions_text

    print(f"\nimage  {name}: {mammo.shape[0]} x {mammo.shape[1]} pixels at "
          f"{mammo.pixel_spacing[0]:g} mm")
    print(f"domain {domain_note(mammo, trained)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DomainWarning)  # the line above says it
        det = detect(mammo, trained, device=device)
    s = det.summary()
    rule = ("calibrated operating point" if operating_point(trained.metadata) is not None
            else "Li's thresholds")
    print(f"found  {s['n_calcifications']} calcification(s), {s['n_clusters']} cluster(s) "
          f"({regions_text(det.n_tiles_run, det.n_tiles)}; {rule}: benign "
          f"{det.thresholds['benign']:.3f}, malignant {det.thresholds['malignant']:.3f})")
    for c in det.clusters[:5]:
        r, col = c["centroid"]
        print(f"  cluster {c['id']}: {CLASS_NAMES[c['class']]} score {c['score']:.3f}, "
              f"{c['n_calcifications']} calcifications, centre ({r:.0f}, {col:.0f}) px")
    if len(det.clusters) > 5:
        print(f"  ... and {len(det.clusters) - 5} more cluster(s)")
    if truth is None:
        return
    rec = recovery_summary(det, truth, lesions=lesions)
    print(f"truth  {rec.line()}")
    print(f"  (strict rule: {rec.rule()})")
    for les, drawn in zip(rec.lesions, lesions or []):
        total = les["calcifications_total"]
        # calcifications drawn touching are one region on the image's grid, counted once
        merged = (f" ({drawn['n_placed']} drawn, some touching)"
                  if drawn.get("n_placed", total) != total else "")
        found = "found by a cluster" if les["found"] else "no cluster on it"
        print(f"  {les['kind']} lesion: {found}; "
              f"{les['calcifications_found']} of its {total} calcification(s) marked{merged}")
