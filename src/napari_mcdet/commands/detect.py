"""``mcdet detect``: whole-mammogram detection, written as maps, tables and a quick-look PNG."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

from ..constants import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CLUSTER_DIAMETER_MM,
    DEFAULT_CLUSTER_MIN_COUNT,
    DEFAULT_ENGINE,
    DEFAULT_MIN_BREAST_FRACTION,
    DEFAULT_TILE,
    DEFAULT_TILE_OVERLAP,
    MINIMIAS_SPACING_MM,
)
from ..spacing import as_spacing

#: Pixel spacings (mm) of real mammograms lie well inside this range (0.05-0.1 digital and
#: scanned film, 0.2 mini-MIAS); a value outside is most likely in the wrong unit.
SPACING_RANGE_MM = (0.01, 1.0)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "detect",
        help="detect microcalcifications and clusters in mammograms",
        description=(
            "Run the model over each image in overlapping tiles and write, per image: "
            "<stem>_probabilities.tif (float32, benign and malignant), <stem>_labels.png "
            "(0/1/2), <stem>_calcifications.csv/.json, <stem>_clusters.csv/.json, "
            "<stem>_detection.json (settings and counts) and <stem>_overlay.png."
        ),
    )
    p.add_argument("images", nargs="*", metavar="IMAGE",
                   help="DICOM, PNG/TIFF or PGM mammograms; a folder (searched recursively), a "
                        "quoted glob pattern ('scans/**/*.dcm') or a CSV manifest (columns path, "
                        "optional spacing in mm and id) makes a batch (see --batch)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--model", default=None,
                   help="checkpoint (.safetensors); default: the bundled default model")
    p.add_argument("--spacing", type=float, default=None,
                   help="pixel spacing in mm for images whose files carry none (overrides the "
                        f"file's); e.g. 0.05 for digitised film, {MINIMIAS_SPACING_MM:g} for "
                        "mini-MIAS; "
                        f"{SPACING_RANGE_MM[0]:g}-{SPACING_RANGE_MM[1]:g} mm; with --dicomweb "
                        "only for the images that state none (the others keep their own)")
    p.add_argument("--force-spacing", action="store_true",
                   help="accept a --spacing outside that range")
    p.add_argument("--tile", type=int, default=None,
                   help="tile side in pixels at the model's grid, a multiple of 16 "
                        f"(default: {DEFAULT_TILE})")
    p.add_argument("--overlap", type=_overlap, default=None,
                   help="tile overlap: a fraction of the tile (below 1) or whole pixels of the "
                        f"model's grid (default: {DEFAULT_TILE_OVERLAP} px)")
    gate = p.add_mutually_exclusive_group()
    gate.add_argument("--gate", type=_gate, default="auto",
                      help="run the decoder only on tiles whose bottleneck calcification "
                           "probability is at least this; 'auto' (default): the gate stored "
                           "with the model, none if it has none")
    gate.add_argument("--no-gate", dest="gate", action="store_const", const=None,
                      help="run the decoder on every tile")
    p.add_argument("--engine", choices=("auto", "eager", "onnx"), default=DEFAULT_ENGINE,
                   help="'auto' (default): ONNX Runtime on the CPU (a dependency; PyTorch "
                        "when it is missing), PyTorch on a GPU")
    p.add_argument("--mirror", action="store_true",
                   help="average every tile with its left-right mirror (about twice the time; "
                        "calibrate the model with mcdet calibrate --mirror for its threshold)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help=f"tiles per forward pass ({DEFAULT_BATCH_SIZE})")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best)")
    p.add_argument("--threshold", default="auto",
                   help="'auto' (default: the model's calibrated operating point, see mcdet "
                        "calibrate), 'li', or a probability in [0, 1] for both classes")
    p.add_argument("--min-breast-fraction", type=float, default=DEFAULT_MIN_BREAST_FRACTION,
                   help="skip tiles with less breast than this fraction "
                        f"({DEFAULT_MIN_BREAST_FRACTION:g})")
    p.add_argument("--cluster-diameter", type=float, default=DEFAULT_CLUSTER_DIAMETER_MM,
                   help="largest distance between two calcifications of a cluster, mm "
                        f"({DEFAULT_CLUSTER_DIAMETER_MM:g})")
    p.add_argument("--cluster-min-count", type=int, default=DEFAULT_CLUSTER_MIN_COUNT,
                   help=f"calcifications needed for a cluster ({DEFAULT_CLUSTER_MIN_COUNT})")
    p.add_argument("--format", choices=("tiff", "npy"), default="tiff",
                   help="probability map format (tiff)")
    p.add_argument("--no-overlay", action="store_true", help="skip the PNG overlay")
    dicom = p.add_argument_group(
        "DICOM out and DICOMweb in",
        "with --dicom, a DICOM source also gets <stem>_seg.dcm (Segmentation: benign and "
        "malignant segments on its pixel grid) and <stem>_sr.dcm (TID 1500 report: one finding "
        "per calcification and cluster), both referencing its study, series and instance")
    dicom.add_argument("--dicom", action="store_true",
                       help="also write <stem>_seg.dcm and <stem>_sr.dcm (DICOM sources only; in a "
                            "batch a non-DICOM image fails its row)")
    dicom.add_argument("--seg-fractional", action="store_true",
                       help="write the SEG's segments as probabilities (fractional) instead of "
                            "the thresholded binary ones")
    dicom.add_argument("--dicomweb", default=None, metavar="URL",
                       help="a DICOMweb server's root (e.g. http://pacs:8042/dicom-web): detect "
                            "on the MG images of --study and store the SEG and SR back (STOW-RS)")
    dicom.add_argument("--study", default=None, metavar="UID",
                       help="with --dicomweb: the Study Instance UID to read")
    dicom.add_argument("--series", default=None, metavar="UID",
                       help="with --dicomweb: only this Series Instance UID of the study")
    dicom.add_argument("--dicomweb-auth", default=None, metavar="FILE",
                       help="with --dicomweb: a file holding 'Bearer TOKEN' or 'USER:PASSWORD' "
                            "(default: $MCDET_DICOMWEB_TOKEN, or $MCDET_DICOMWEB_USER and "
                            "$MCDET_DICOMWEB_PASSWORD); never printed")
    batch = p.add_argument_group(
        "batch", "a folder, pattern or manifest among the inputs, or any of these options, runs "
                 "a batch: summary.csv/.parquet in --out (one row per image), a bad file is a "
                 "failed row and the rest go on (exit 1 when any failed), and a rerun skips "
                 "images done with the same model and settings")
    batch.add_argument("--batch", action="store_true",
                       help="run plain image files as a batch too")
    batch.add_argument("--force", action="store_true",
                       help="redo images whose outputs are complete")
    where = batch.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int, default=None,
                       help="run on a local Dask cluster of this many processes")
    where.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="run on a running Dask cluster (dask scheduler + dask worker)")
    p.set_defaults(func=run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of processes, 1 or more, "
                                         f"got {text!r}")
    return value


def _gate(text: str) -> float | str:
    """'auto' or a probability in [0, 1]."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a probability in [0, 1], "
                                         f"got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text}")
    return value


def _overlap(text: str) -> float | int:
    """A fraction (``0.25``) stays a float; whole pixels (``32``) become an int."""
    value = float(text)
    return int(value) if value >= 1 and value.is_integer() else value


def _threshold(text: str):
    if text in ("auto", "li"):
        return text
    try:
        value = float(text)
    except ValueError as err:
        raise ValueError(
            f"--threshold must be 'auto', 'li' or a probability, got {text!r}") from err
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"--threshold {text} is not a probability: give 'auto', 'li' or a "
                         "number in [0, 1]")
    return value


def check_spacing(spacing: float | None, *, force: bool = False) -> float | None:
    """The ``--spacing`` value, refused when it cannot be a mammogram's pixel size in mm.

    Raises
    ------
    ValueError
        Not a positive finite number, or (unless ``force``) outside :data:`SPACING_RANGE_MM`.
    """
    if spacing is None:
        return None
    if not math.isfinite(spacing) or spacing <= 0:
        raise ValueError(f"--spacing {spacing} is not a pixel size: give the pixel spacing as a "
                         "positive number of mm, e.g. --spacing 0.05")
    lo, hi = SPACING_RANGE_MM
    if not force and not lo <= spacing <= hi:
        hint = (f" (in micrometres? {spacing:g} um is --spacing {spacing / 1000:g})"
                if spacing > hi else "")
        raise ValueError(
            f"--spacing {spacing:g} mm is outside {lo:g}-{hi:g} mm, where mammograms lie{hint}; "
            "give it in mm, or add --force-spacing to use it anyway"
        )
    return spacing


def output_stem(path: Path) -> str:
    """The file name without its suffix (both of ``.nii.gz``-style double suffixes)."""
    return path.stem if path.suffix.lower() != ".gz" else Path(path.stem).stem


def output_stems(paths: Sequence[Path]) -> list[str]:
    """One distinct file-name prefix per input, so that no result overwrites another.

    The first input with a name keeps it; a later one with the same name gets the first free
    ``_1``, ``_2``... that is neither taken nor the own name of any input (``x/a.pgm y/a.pgm
    a_1.pgm`` -> ``a``, ``a_2``, ``a_1``). Names are compared ignoring case, as on the
    file systems of macOS and Windows.
    """
    from ..infer.batch import unique_ids

    return unique_ids(list(paths))


def check_inputs(paths: Sequence[Path]) -> None:
    """Refuse missing inputs and folders before any work, naming each one."""
    folders = [str(p) for p in paths if p.is_dir()]
    if folders:
        raise IsADirectoryError(
            f"{', '.join(folders)}: a folder, not an image file; pass the images inside it "
            "(e.g. folder/*.dcm)"
        )
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such image: {', '.join(missing)}")


def check_options(args: argparse.Namespace) -> None:
    """Refuse option values detection would refuse only once an image is open, naming the
    option rather than the image.

    Raises
    ------
    ValueError
        ``--device`` not present here, ``--tile`` not a multiple of 16, ``--batch-size`` below 1,
        ``--min-breast-fraction`` outside [0, 1], or an ``--engine`` that cannot run.
    """
    from ..models.device import available_devices, resolve_device
    from ..nn.inference import resolve_engine

    try:
        device = resolve_device("auto" if args.device is None else args.device, warn=False)
    except ValueError:
        raise ValueError(f"--device {args.device} is not available here; choose one of "
                         f"{', '.join(available_devices())}, or leave --device out") from None
    if args.tile is not None and (args.tile < 16 or args.tile % 16):
        raise ValueError(f"--tile {args.tile} is not a multiple of 16 pixels (the network halves "
                         f"it four times); give e.g. --tile {max(16, args.tile // 16 * 16)}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size {args.batch_size} runs no tile; give 1 or more")
    if not 0.0 <= args.min_breast_fraction <= 1.0:
        raise ValueError(f"--min-breast-fraction {args.min_breast_fraction:g} is not a fraction; "
                         "give a number in [0, 1]")
    try:
        resolve_engine(args.engine, device)
    except (ImportError, ValueError) as err:
        text = str(err).replace("engine='eager'", "--engine eager")
        raise ValueError(f"--engine {args.engine}: {text}") from None


def check_dicom_options(args: argparse.Namespace) -> None:
    """Refuse DICOM option combinations that cannot work, naming the flag and the fix."""
    if args.dicomweb:
        if args.images:
            raise ValueError("--dicomweb reads its images from the server: give --study UID "
                             "instead of image files, or leave --dicomweb out")
        if not args.study:
            raise ValueError("--dicomweb needs --study UID (the Study Instance UID to read)")
        if args.batch or args.workers is not None or args.scheduler is not None:
            raise ValueError("--dicomweb runs the study's images one by one; leave out --batch, "
                             "--workers and --scheduler")
        return
    if args.study or args.series or args.dicomweb_auth:
        raise ValueError("--study, --series and --dicomweb-auth go with --dicomweb URL")
    if not args.images:
        raise ValueError("no IMAGE given: name mammogram files (or a folder, pattern or CSV "
                         "manifest), or read a study from a server with --dicomweb URL --study "
                         "UID")
    if args.seg_fractional and not args.dicom:
        raise ValueError("--seg-fractional shapes the DICOM SEG: add --dicom")


def check_dicom_sources(paths: Sequence[Path]) -> None:
    """With ``--dicom``: every input must be a DICOM image with its identity, checked before
    the first detection.

    Raises
    ------
    ValueError
        Names the first file that is not DICOM (no study, series and instance to reference)
        or lacks an identity attribute.
    """
    from ..io.dicom import is_dicom
    from ..io.dicom_derived import source_header

    for path in paths:
        if not is_dicom(path):
            raise ValueError(
                f"{path} is not DICOM: --dicom writes a SEG and an SR that reference their "
                "source image's study, series and instance, and a PNG, TIFF or PGM has none; "
                "leave --dicom out for this file, or detect on the DICOM original")
        source_header(path)


def check_spacings(paths: Sequence[Path], *, spacing: float | None) -> list[str]:
    """The pixel spacing each input will be analysed at, in words, after reading every file's
    header (no pixels): a file detection would refuse stops the batch before its first image.

    Parameters
    ----------
    paths : sequence of Path
        The input images.
    spacing : float or None, keyword-only
        ``--spacing`` (it overrides the files' own), None when not given.

    Returns
    -------
    list of str
        Per input, e.g. ``'0.07 mm pixels (PixelSpacing)'``, ``'0.2 mm pixels assumed
        (mini-MIAS)'``, ``'0.05 mm pixels (--spacing)'``.

    Raises
    ------
    ValueError
        A header that cannot be read (naming the file), or inputs without a spacing when
        ``--spacing`` is not given (naming each one and why it has none).
    """
    from ..io.images import stated_spacing

    described, missing = [], []
    for path in paths:
        found, source = stated_spacing(path)
        if spacing is not None:
            described.append(f"{spacing:g} mm pixels (--spacing)")
        elif found is None:
            missing.append(f"{path}: {source}")
        else:
            size = (f"{found[0]:g}" if found[0] == found[1] else f"{found[0]:g} x {found[1]:g}")
            assumed = " assumed" if source == "mini-MIAS" else ""
            described.append(f"{size} mm pixels{assumed} ({source})")
    if missing:
        raise ValueError(
            f"{'; '.join(missing)}; no pixel spacing for {len(missing)} of {len(paths)} "
            f"image{'s' if len(paths) > 1 else ''}, so none was analysed: pass --spacing MM "
            f"(e.g. 0.05 for digitised film, 0.07 for INbreast, {MINIMIAS_SPACING_MM:g} for "
            "mini-MIAS), or run those images separately"
        )
    return described


def regions_text(n_run: int, n_tiles: int) -> str:
    """How much of the image the network looked at, in a reader's words."""
    return f"analysed {n_run} of the image's {n_tiles} regions (those holding breast)"


def is_batch(args: argparse.Namespace) -> bool:
    """Whether the command line asks for a batch: a folder, glob pattern or CSV manifest among
    the inputs, or a batch option."""
    if args.batch or args.force or args.workers is not None or args.scheduler is not None:
        return True
    for text in args.images:
        path = Path(text)
        if path.is_dir() or (path.suffix.lower() == ".csv" and path.is_file()):
            return True
        if set("*?[") & set(text) and not path.exists():
            return True
    return False


def run_batch_command(args: argparse.Namespace) -> int:
    """The batch: every option and the model checked first, then one row per image."""
    from tqdm import tqdm

    from ..infer.batch import expand_inputs, row_text, run_batch
    from ..io.writers import writable_folder
    from ..models.checkpoint import load_model
    from ..models.paths import checkpoint_path

    threshold = _threshold(args.threshold)
    spacing_mm = check_spacing(args.spacing, force=getattr(args, "force_spacing", False))
    check_options(args)
    items = expand_inputs(args.images)
    out = writable_folder(args.out, what="--out")
    model_path = checkpoint_path(args.model)
    load_model(model_path)  # a bad checkpoint stops the batch here, not once per image
    settings = {"tile": args.tile, "batch_size": args.batch_size, "device": args.device,
                "threshold": threshold, "min_breast_fraction": args.min_breast_fraction,
                "cluster_diameter_mm": args.cluster_diameter,
                "cluster_min_count": args.cluster_min_count, "gate": args.gate,
                "engine": args.engine, "mirror": args.mirror, "spacing": spacing_mm,
                "probabilities": args.format, "overlay": not args.no_overlay,
                **({} if args.overlap is None else {"overlap": args.overlap}),
                # only when asked, so batches run before --dicom existed still resume
                **({"dicom": True, "seg_fractional": args.seg_fractional} if args.dicom else {})}
    rows = run_batch(items, out=out, model_path=model_path, settings=settings,
                     force=args.force, workers=args.workers, scheduler=args.scheduler,
                     on_row=lambda row: tqdm.write(row_text(row)))
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "failed")}
    print(f"{len(rows)} images: {counts['ok']} ok, {counts['skipped']} skipped, "
          f"{counts['failed']} failed -> {out}/summary.csv")
    return 1 if counts["failed"] else 0


def detect_and_write(args: argparse.Namespace, model, path: Path, *, stem: str, out: Path,
                     threshold, spacing, said: str, name: str | None = None,
                     dicom: bool = False) -> dict:
    """Read one image, detect on it with the command line's options, write its outputs (and,
    with ``dicom``, its SEG and SR) into ``out`` and print its line; shared by ``mcdet detect``
    on files and on a DICOMweb study.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``mcdet detect`` options (tile, threshold, engine...).
    model
        The loaded model.
    path : Path
        The image file.
    stem : str
        The outputs' file-name prefix.
    out : Path
        The output folder (checked writable).
    threshold
        ``--threshold`` parsed.
    spacing : (float, float) or None
        The pixel spacing to read the image at (None: the file's own).
    said : str
        The spacing in words, for the image's line.
    name : str, optional
        The image's name in its line (default: the file name).
    dicom : bool
        Also write ``<stem>_seg.dcm`` and ``<stem>_sr.dcm``.

    Returns
    -------
    dict
        The detection's summary (``n_calcifications``, ``n_clusters``...).
    """
    import warnings

    from tqdm import tqdm

    from ..infer.detect import detect
    from ..infer.export import write_detection
    from ..infer.export_dicom import write_detection_dicom
    from ..io.images import read_mammogram

    name = path.name if name is None else name
    mammo = read_mammogram(path, pixel_spacing=spacing)
    caught: list[warnings.WarningMessage] = []
    try:
        # warnings wait for the progress bar's line to end, not to be printed inside it
        with warnings.catch_warnings(record=True) as caught, \
                tqdm(desc=name, unit="tile", leave=True) as bar:
            def progress(done: int, total: int, bar=bar) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            det = detect(mammo, model, tile=args.tile,
                         **({} if args.overlap is None else {"overlap": args.overlap}),
                         batch_size=args.batch_size, device=args.device,
                         threshold=threshold, min_breast_fraction=args.min_breast_fraction,
                         cluster_diameter_mm=args.cluster_diameter,
                         cluster_min_count=args.cluster_min_count, gate=args.gate,
                         engine=args.engine, mirror=args.mirror, progress=progress)
    finally:
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    write_detection(det, out, stem, image=mammo.pixels, probabilities=args.format,
                    overlay=not args.no_overlay)
    if dicom:
        write_detection_dicom(det, path, out, stem, fractional=args.seg_fractional)
    s = det.summary()
    print(f"{name}: {said}; {s['n_calcifications']} calcifications, "
          f"{s['n_clusters']} clusters; {regions_text(det.n_tiles_run, det.n_tiles)} "
          f"-> {out}/{stem}_*")
    return s


def run(args: argparse.Namespace) -> int:
    from ..io.writers import writable_folder
    from ..models.checkpoint import load_model

    check_dicom_options(args)
    if args.dicomweb:
        from .dicomweb import run_dicomweb

        return run_dicomweb(args)
    if is_batch(args):
        return run_batch_command(args)
    # every argument, input header and the output folder is checked before the first detection
    threshold = _threshold(args.threshold)
    spacing_mm = check_spacing(args.spacing, force=getattr(args, "force_spacing", False))
    paths = [Path(p) for p in args.images]
    check_inputs(paths)
    check_options(args)
    spacings = check_spacings(paths, spacing=spacing_mm)
    if args.dicom:
        check_dicom_sources(paths)
    out = writable_folder(args.out, what="--out")
    stems = output_stems(paths)
    model = load_model(args.model)
    spacing = as_spacing(spacing_mm, name="--spacing", required=False)
    for path, stem, said in zip(paths, stems, spacings):
        args.current_file = path  # named by the command line's error messages
        detect_and_write(args, model, path, stem=stem, out=out, threshold=threshold,
                         spacing=spacing, said=said, dicom=args.dicom)
    args.current_file = None
    return 0
