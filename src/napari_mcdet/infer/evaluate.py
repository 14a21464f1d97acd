"""Scoring a model on annotated mammograms: the paper's patch AUCs and pixel metrics, FROC.

Per image (:class:`EvalCase`: a Mammogram and its ground truth on the same grid):

- **patch AUCs** (Table 2): the image is prepared at the model's grid
  (:func:`~napari_mcdet.data.prepare.prepare_image`), cut into the paper's evaluation patches at
  the model's patch size (:func:`~napari_mcdet.metrics.realsets.evaluation_patch_set`, the protocol
  training's real validation uses) and classified with
  :func:`~napari_mcdet.infer.patches.predict_patches`;
- **whole-image detection** with :func:`~napari_mcdet.infer.detect.detect`: pixel metrics of its
  labels against the ground truth on the input grid (Table 4, benign ground truth dilated 10 x 10),
  calcification-level FROC of its calcifications at the operating point (calcification centroids
  inside a region, regions = connected components of the ground truth classes 1 and 2) and the
  image-level AUC (image score = its highest calcification score);
- the **cluster FROC** of training's model selection, on detection's own maps: the threshold is
  swept and clusters formed anew at each (:func:`~napari_mcdet.infer.calibrate.cluster_counts`),
  a cluster finding the nearest region of ``cluster_classes`` within 2 mm of its centroid
  (:mod:`napari_mcdet.metrics.froc`, the package's one hit rule and reading).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import BENIGN, MALIGNANT
from ..constants import INBREAST_SPACING_MM
from ..mammogram import Mammogram

#: Smallest evaluation patch side in model pixels: the network halves its input four times.
MIN_PATCH_SIZE = 16
#: Largest evaluation patch side in model pixels: 20 cm at the mini-MIAS grid, wider than a
#: breast; larger sides only allocate more memory for patches that are mostly padding.
MAX_PATCH_SIZE = 1024


@dataclass
class EvalCase:
    """One annotated image: ``labels`` (M, N) uint8 0/1/2 on the grid of ``mammogram``.

    A case of a data set folder is read when it is scored, not when it is listed: it holds
    ``read`` (returning the mammogram and its labels, read anew at each call) and
    ``annotated`` (whether its ground truth marks calcifications, known from the annotation
    files alone), so that choosing cases (:func:`limit_cases`) reads no image and scoring
    holds one image at a time. :meth:`load` gives the case with its image either way.
    """

    name: str
    mammogram: Mammogram | None = None
    labels: np.ndarray | None = None
    read: Callable[[], tuple[Mammogram, np.ndarray]] | None = field(
        default=None, repr=False, compare=False)
    annotated: bool | None = None

    def __post_init__(self) -> None:
        if self.read is None and (self.mammogram is None or self.labels is None):
            raise ValueError(f"case {self.name!r}: pass a mammogram and its labels, or read")

    def is_annotated(self) -> bool:
        """Whether the ground truth marks a calcification (without reading the image when
        :attr:`annotated` says)."""
        if self.annotated is not None:
            return self.annotated
        if self.labels is None:
            return bool(self.load().labels.any())
        return bool(self.labels.any())

    def load(self) -> EvalCase:
        """This case with its mammogram and labels: itself when it holds them, else read now
        (the result is not kept here)."""
        if self.mammogram is not None and self.labels is not None:
            return self
        mammogram, labels = self.read()
        return EvalCase(self.name, mammogram, labels)


@dataclass
class Evaluation:
    """Everything :func:`evaluate` measured on one data set.

    Attributes
    ----------
    dataset : str
    patch_labels : ndarray of shape (P,), patch_probabilities : ndarray of shape (P, 3)
    patch_aucs : dict
        ``AUC_MCs``, ``AUC_mlg``.
    pixel : PixelMetrics
    froc_calcifications, froc_clusters : FrocResult
    per_image : list of dict
        Name, shape, counts of annotations and detections, thresholds, tiles run.
    """

    dataset: str
    patch_labels: np.ndarray
    patch_probabilities: np.ndarray
    patch_aucs: dict[str, float]
    pixel: Any
    froc_calcifications: Any
    froc_clusters: Any
    per_image: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def image_auc(self) -> float:
        return self.froc_calcifications.image_auc

    def roc_curves(self) -> dict[str, Any]:
        from ..metrics.auc import patch_roc

        return {"AUC_MCs (patches)": patch_roc(self.patch_labels, self.patch_probabilities,
                                               task="mcs"),
                "AUC_mlg (patches)": patch_roc(self.patch_labels, self.patch_probabilities,
                                               task="mlg"),
                "image-level": self.froc_calcifications.image_roc}


# -- data sets -------------------------------------------------------------------------------
def minimias_dataset(folder: str | Path, *, split: str | Path | None = None,
                     split_set: str = "val") -> list[EvalCase]:
    """mini-MIAS calcification cases plus the ``split_set`` normals of a split file (the
    package's committed split, :data:`~napari_mcdet.metrics.realsets.MINIMIAS_SPLIT`, when
    None)."""
    from ..metrics.realsets import MINIMIAS_SPLIT, minimias_cases, read_split

    folder = Path(folder)
    if not (folder / "Info.txt").is_file():
        raise FileNotFoundError(f"{folder} is not a mini-MIAS folder (no Info.txt)")
    split = MINIMIAS_SPLIT if split is None else Path(split)
    sp = read_split(split)
    if split_set not in sp:
        raise ValueError(f"split file {split} has no {split_set!r} list: pass --split-set "
                         f"with one of {sorted(sp)}")
    missing = [n for n in sp[split_set] if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder}: {len(missing)} of the {len(sp[split_set])} {split_set!r} normal images "
            f"of {split.name} are missing (first: {missing[0]}); pass the complete mini-MIAS "
            "folder, or --split with a split of the images you have")
    # a calcification case is read here: whether its annotation lies on the breast, and so
    # whether it can be scored, shows only in its image (mini-MIAS images are 1 MB each)
    calcs = [EvalCase(n, m, lab) for n, m, lab in minimias_cases(folder, normals=[])]

    def read_normal(name: str) -> tuple[Mammogram, np.ndarray]:
        [(_, mammogram, labels)] = minimias_cases(folder, normals=[name], calcifications=False)
        return mammogram, labels

    return calcs + [EvalCase(Path(n).stem, read=lambda n=n: read_normal(n), annotated=False)
                    for n in sp[split_set]]


def check_limit(limit: int | None) -> int | None:
    """``--limit``, refused below 1 (before any image is read)."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1 image of each kind, got {limit}: pass a "
                         "positive number, or leave it out to score every image")
    return limit


def check_patch_size(size: int | None) -> int | None:
    """``--patch-size`` in model pixels, refused outside [:data:`MIN_PATCH_SIZE`,
    :data:`MAX_PATCH_SIZE`] (before any image is read)."""
    if size is not None and size < MIN_PATCH_SIZE:
        raise ValueError(f"--patch-size {size} is too small: pass at least {MIN_PATCH_SIZE} "
                         "model pixels, or leave it out to use the model's training patch size")
    if size is not None and size > MAX_PATCH_SIZE:
        raise ValueError(f"--patch-size {size} is too large: pass at most {MAX_PATCH_SIZE} "
                         "model pixels (wider than a breast), or leave it out to use the "
                         "model's training patch size")
    return size


def limit_cases(cases: list[EvalCase], limit: int | None) -> list[EvalCase]:
    """The first ``limit`` annotated and the first ``limit`` normal cases (all when None)."""
    if check_limit(limit) is None:
        return list(cases)
    annotated = [c for c in cases if c.is_annotated()][:limit]
    normal = [c for c in cases if not c.is_annotated()][:limit]
    return [c for c in cases if any(c is k for k in annotated + normal)]


def check_cases(cases: list[EvalCase], folder: str | Path) -> None:
    """Refuse a data set that gives no sensitivity or no false-positive rate on normal
    images: figures computed on nothing would read as results."""
    annotated = sum(c.is_annotated() for c in cases)
    if annotated == 0:
        raise ValueError(f"{folder}: no image with an annotated calcification to score; pass a "
                         "folder with annotated cases")
    if annotated == len(cases):
        raise ValueError(f"{folder}: no normal image to score false positives on; add normal "
                         "images (mini-MIAS: --split with a 'val' list of normals present in "
                         "the folder)")


def inbreast_dataset(folder: str | Path, *, mapping: str = "paper") -> list[EvalCase]:
    """INbreast images (``AllDICOMs/``) with their XML annotations (``AllXML/``).

    Images without an XML file are normal (empty ground truth). Labels follow ``mapping``
    (:func:`napari_mcdet.io.inbreast_labels`; the paper's: clusters malignant, isolated
    calcifications benign).
    """
    from ..io.images import read_mammogram
    from ..io.inbreast import (
        INBREAST_DICOM_FOLDER,
        inbreast_labels,
        index_inbreast,
        read_inbreast_xml,
    )

    def read(entry) -> tuple[Mammogram, np.ndarray]:
        mammo = read_mammogram(entry.dicom)
        if mammo.pixel_spacing is None:
            mammo = Mammogram(mammo.pixels, (INBREAST_SPACING_MM,) * 2, mammo.laterality,
                              mammo.view, mammo.metadata)
        if entry.xml is None:
            return mammo, np.zeros(mammo.shape, np.uint8)
        return mammo, inbreast_labels(read_inbreast_xml(entry.xml), mammo.shape,
                                      pixel_spacing=mammo.pixel_spacing, mapping=mapping,
                                      birads=entry.birads)

    cases = []
    for number, e in index_inbreast(folder).items():
        if e.dicom is None:
            continue
        # the XML alone tells an annotated image: calcification or cluster outlines
        marked = e.xml is not None and any(
            roi.kind in ("calcification", "cluster") for roi in read_inbreast_xml(e.xml))
        cases.append(EvalCase(number, read=lambda e=e: read(e), annotated=marked))
    if not cases:
        raise FileNotFoundError(f"no DICOM images under {Path(folder) / INBREAST_DICOM_FOLDER}")
    return cases


_IMAGE_SUFFIXES = (".dcm", ".dicom", ".png", ".tif", ".tiff", ".pgm")


def mask_dataset(folder: str | Path, *,
                 pixel_spacing: tuple[float, float] | None = None) -> list[EvalCase]:
    """A folder with ``images/`` and ``masks/``: each mask (same stem, .png/.tif, values 0/1/2)
    is the ground truth of the image; an image without a mask is normal."""
    from ..io.images import read_mammogram, read_mask

    folder = Path(folder)
    img_dir, mask_dir = folder / "images", folder / "masks"
    if not img_dir.is_dir():
        raise FileNotFoundError(f"{folder} has no images/ folder (expected images/ and masks/)")
    masks = {p.stem: p for p in sorted(mask_dir.glob("*")) if p.suffix.lower() in
             (".png", ".tif", ".tiff")} if mask_dir.is_dir() else {}
    def read(path: Path) -> tuple[Mammogram, np.ndarray]:
        mammo = read_mammogram(path)
        if pixel_spacing is not None:
            mammo = Mammogram(mammo.pixels, pixel_spacing, mammo.laterality, mammo.view,
                              mammo.metadata)
        labels = (read_mask(masks[path.stem]) if path.stem in masks
                  else np.zeros(mammo.shape, np.uint8))
        if labels.shape != mammo.shape:
            raise ValueError(f"mask of {path.name} has shape {labels.shape}, image {mammo.shape}")
        return mammo, labels.astype(np.uint8)

    cases = []
    for path in sorted(img_dir.iterdir()):
        if path.suffix.lower() not in _IMAGE_SUFFIXES:
            continue
        # the mask alone (one byte a pixel) tells an annotated image; the image waits
        marked = path.stem in masks and bool(read_mask(masks[path.stem]).any())
        cases.append(EvalCase(path.stem, read=lambda path=path: read(path), annotated=marked))
    if not cases:
        raise FileNotFoundError(f"no images in {img_dir}")
    return cases


# -- scoring ---------------------------------------------------------------------------------
def evaluate(
    cases: Sequence[EvalCase],
    model: Any = None,
    *,
    dataset: str = "dataset",
    cluster_classes: Sequence[int] = (BENIGN, MALIGNANT),
    min_breast_fraction: float = 0.2,
    patch_size: int | None = None,
    batch_size: int = 8,
    device: Any = None,
    detect_options: dict[str, Any] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> Evaluation:
    """Score ``model`` on annotated images (see the module docstring).

    Parameters
    ----------
    cases : sequence of EvalCase
        Read one at a time (:meth:`EvalCase.load`), so one image is in memory at a time.
    model : TrainedModel or path, optional
        The bundled default when None or ``'default'``.
    dataset : str
        Name used in the tables.
    cluster_classes : sequence of int
        Ground-truth classes whose regions the cluster FROC scores (mini-MIAS circles mark whole
        clusters of either class: (1, 2); INbreast maps clusters to malignant: (2,)).
    min_breast_fraction : float
        For the evaluation tiles (as training's real validation: 0.2).
    patch_size : int, optional
        Side of the evaluation patches in pixels at the model's grid; the model's own training
        patch size when None. Set it to score models trained at different patch sizes on the
        same patches: the patch AUCs rise with the patch's context.
    detect_options : dict, optional
        Extra keyword arguments for :func:`~napari_mcdet.infer.detect.detect`.
    progress : callable, optional
        ``progress(images done, images, name)``.
    """
    from ..metrics.auc import binary_roc
    from ..metrics.froc import FrocCounts, froc
    from ..metrics.pixels import pixel_metrics
    from ..models.checkpoint import TrainedModel, load_model
    from ..models.device import resolve_device
    from ..nn.inference import prepare_for_inference

    if not cases:
        raise ValueError("no images to evaluate")
    if not isinstance(model, TrainedModel):
        model = load_model(model)
    size = model.patch_size if patch_size is None else int(patch_size)
    if not MIN_PATCH_SIZE <= size <= MAX_PATCH_SIZE:
        raise ValueError(f"patch_size must be {MIN_PATCH_SIZE} to {MAX_PATCH_SIZE} pixels, got "
                         f"{size}")
    dev = resolve_device("auto" if device is None else device, warn=False)
    net = prepare_for_inference(model.network, device=dev, channels_last=dev.type != "mps")
    spacing = tuple(model.pixel_spacing)
    ys, ps, preds, gts, calc_dets, counts, per_image = [], [], [], [], [], [], []
    cluster_scores: list[float] = []
    for i, listed in enumerate(cases):
        if progress is not None:
            progress(i, len(cases), listed.name)
        case = listed.load()  # one image in memory at a time
        y, probs, labels = _case_patches(net, case, spacing=spacing, patch_size=size,
                                         min_breast_fraction=min_breast_fraction,
                                         batch_size=batch_size, device=dev)
        ys.append(y)
        ps.append(probs)
        det, case_counts = _case_detection(case, model, labels, device=dev,
                                           batch_size=batch_size,
                                           cluster_classes=tuple(cluster_classes),
                                           detect_options=detect_options or {})
        counts.append(case_counts)
        preds.append(det.labels)
        gts.append(case.labels)
        calc_dets.append(det.calcification_points())
        cluster_scores.append(max((c["score"] for c in det.clusters), default=0.0))
        per_image.append({
            "name": case.name, "shape": list(case.labels.shape),
            "benign_pixels": int((case.labels == BENIGN).sum()),
            "malignant_pixels": int((case.labels == MALIGNANT).sum()),
            "n_patches": int(len(y)), **{k: v for k, v in det.summary().items()
                                          if k not in ("shape", "model")}})
        del det, case
    if progress is not None:
        progress(len(cases), len(cases), "")
    y_all, p_all = np.concatenate(ys), np.concatenate(ps)
    from ..metrics.auc import patch_aucs

    return Evaluation(
        dataset=dataset,
        patch_labels=y_all,
        patch_probabilities=p_all,
        patch_aucs=patch_aucs(y_all, p_all),
        pixel=pixel_metrics(preds, gts),
        froc_calcifications=froc(calc_dets, gts, classes=(BENIGN, MALIGNANT)),
        froc_clusters=FrocCounts.join(counts).result(image_roc=binary_roc(
            np.array([bool(np.isin(g, cluster_classes).any()) for g in gts]),
            np.array(cluster_scores), name="image-level AUC (clusters)")),
        per_image=per_image,
        settings={"model": str(model.metadata.get("path")), "step": model.metadata.get("step"),
                  "model_pixel_spacing": list(spacing), "patch_size": size,
                  "model_patch_size": model.patch_size,
                  "cluster_classes": list(cluster_classes),
                  "min_breast_fraction": min_breast_fraction,
                  "detect_options": detect_options or {}},
    )


def _case_patches(net, case: EvalCase, *, spacing: tuple[float, float], patch_size: int,
                  min_breast_fraction: float, batch_size: int, device
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's evaluation patches classified: ``(labels (P,), probabilities (P, 3),
    ground truth on the model's grid (M, N))``."""
    from ..data.prepare import prepare_image
    from ..metrics.realsets import LabelledImage, evaluation_patch_set
    from .patches import predict_patches

    image, breast, labels = prepare_image(case.mammogram, pixel_spacing=spacing,
                                          labels=case.labels)
    x, y = evaluation_patch_set([LabelledImage(case.name, image, labels, breast, spacing)],
                                patch_size=patch_size, min_breast_fraction=min_breast_fraction)
    probs, _ = predict_patches(net, x, batch_size=batch_size, device=device,
                               segmentation=False, channels_last=device.type != "mps")
    return y, probs, labels


def _case_detection(case: EvalCase, model, labels: np.ndarray, *, device, batch_size: int,
                    cluster_classes: tuple[int, ...], detect_options: dict[str, Any]):
    """Detection on one image and the cluster sweep's counts on its maps (``labels``: the
    ground truth on the model's grid)."""
    from .calibrate import cluster_counts
    from .detect import detect
    from .steps import OBJECT_OPTIONS

    det = detect(case.mammogram, model, device=device, batch_size=batch_size, keep_maps=True,
                 **detect_options)
    det.maps.labels = labels
    counts = cluster_counts([det.maps], classes=cluster_classes,
                            **{k: v for k, v in detect_options.items() if k in OBJECT_OPTIONS})
    det.maps = None  # the maps are counted; the input-grid result is what is kept
    return det, counts


def write_evaluation(ev: Evaluation, out_dir: str | Path, *, run: str = "model") -> dict[str, Path]:
    """Write Table 2, Table 4, FROC table and plots, ROC plot and ``report.json``."""
    from ..metrics.report import write_report

    froc_results = {f"{ev.dataset} calcifications": ev.froc_calcifications,
                    f"{ev.dataset} clusters": ev.froc_clusters}
    return write_report(
        out_dir,
        auc_results={run: {ev.dataset: ev.patch_aucs}},
        pixel_results={run: {ev.dataset: ev.pixel.summary()}},
        froc_results=froc_results,
        roc_curves=ev.roc_curves(),
        extra={"image_auc": ev.image_auc, "pixel_detail": ev.pixel,
               "patch_counts": {str(k): int((ev.patch_labels == k).sum()) for k in (0, 1, 2)},
               "per_image": ev.per_image, "settings": ev.settings},
    )
