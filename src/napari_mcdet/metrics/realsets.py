"""Real annotated images for validation and scoring, prepared at a network's pixel spacing.

A :class:`LabelledImage` holds an image already prepared for the network
(:func:`napari_mcdet.data.prepare.prepare_image`, as training prepares it), its ground truth on
the same grid, and its breast mask.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.breast import breast_mask
from ..data.prepare import prepare_image
from ..mammogram import Mammogram


@dataclass
class LabelledImage:
    """One image at the network's grid.

    name : str; image : (M, N) float32 normalised; labels : (M, N) uint8 0/1/2;
    breast : (M, N) bool; pixel_spacing : (row_mm, col_mm).
    """

    name: str
    image: np.ndarray
    labels: np.ndarray
    breast: np.ndarray
    pixel_spacing: tuple[float, float]


#: The committed split of the mini-MIAS normal images, shipped with the package: training uses
#: its ``train`` list only, selection, calibration and evaluation its ``val`` list.
MINIMIAS_SPLIT = Path(__file__).resolve().parents[1] / "data" / "minimias_split.json"


def read_split(path: str | Path) -> dict[str, list[str]]:
    """A committed split file: ``{"train": [file names], "val": [file names]}``."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not {"train", "val"} <= set(data):
        raise ValueError(f"{path} must be a JSON object with 'train' and 'val' lists of file names")
    return data


def minimias_cases(
    folder: str | Path,
    *,
    normals: list[str] | None = None,
    calcifications: bool = True,
) -> list[tuple[str, Mammogram, np.ndarray]]:
    """mini-MIAS calcification cases and the listed normal images, as read (not resampled).

    Returns ``(refnum, Mammogram at 0.2 mm, labels uint8 (M, N))`` triples: the calcification
    (CALC) cases present in ``folder`` (circles as ground truth; a case whose calcifications have
    no coordinates, mdb216, is left out), then the ``normals`` file names (empty labels).
    """
    from ..io.images import read_mammogram
    from ..io.minimias import minimias_labels, read_minimias_info

    folder = Path(folder)
    records = read_minimias_info(folder / "Info.txt", present_only=True)
    names: list[str] = []
    if calcifications:
        calc = [r for r in records if r.abnormality == "CALC"]
        # a case whose calcifications have no coordinates (mdb216, *NOTE 3*: diffuse) has no
        # usable ground truth: it is left out rather than scored as soft tissue
        unknown = {r.refnum for r in calc if r.row is None}
        names += sorted({r.refnum for r in calc} - unknown)
    names += [Path(n).stem for n in (normals or [])]
    out = []
    for name in names:
        mammo = read_mammogram(folder / f"{name}.pgm")
        rows = [r for r in records if r.refnum == name]
        labels = (minimias_labels(rows, mammo.shape, refnum=name) if rows
                  else np.zeros(mammo.shape, np.uint8))
        if labels.any() and not (labels.astype(bool) & breast_mask(mammo.pixels)).any():
            # e.g. mdb212: the Info.txt circle (x 687, y 882, radius 3) lies on the film
            # background; scoring it would label a background patch "benign"
            warnings.warn(f"{name}: its annotation lies entirely outside the breast; the case "
                          "is left out", UserWarning, stacklevel=2)
            continue
        out.append((name, mammo, labels))
    return out


def minimias_images(
    folder: str | Path,
    *,
    pixel_spacing: tuple[float, float] = (0.2, 0.2),
    normals: list[str] | None = None,
    calcifications: bool = True,
) -> list[LabelledImage]:
    """mini-MIAS calcification cases (circles as ground truth) and the listed normal images.

    Parameters
    ----------
    folder : path
        The mini-MIAS folder (``Info.txt`` and ``mdbNNN.pgm``).
    pixel_spacing : (float, float)
        Grid to prepare the images at (the network's).
    normals : list of str, optional
        File names (``'mdb003.pgm'``) of normal images to include (e.g. a split's ``val`` list).
    calcifications : bool
        Include the calcification (CALC) cases present in the folder.
    """
    out = []
    for name, mammo, labels in minimias_cases(folder, normals=normals,
                                              calcifications=calcifications):
        image, breast, labels = prepare_image(mammo, pixel_spacing=pixel_spacing, labels=labels)
        out.append(LabelledImage(name, image, labels, breast, pixel_spacing))
    return out


def evaluation_patch_set(
    images: list[LabelledImage],
    *,
    patch_size: int,
    min_breast_fraction: float = 0.2,
    details: bool = False,
):
    """The paper's evaluation patches of prepared images, stacked: ``(x (P, S, S), y (P,))``.

    Malignant-centred patches, then a non-overlapping tiling at ``patch_size`` (the model's),
    tiles with less than ``min_breast_fraction`` breast and no annotation skipped
    (:func:`napari_mcdet.metrics.evaluation_patches`). Training's real validation,
    ``mcdet evaluate`` and ``mcdet compare`` all use this one protocol.

    With ``details=True`` a third item is returned: a dict with ``label_maps`` (P, S, S) uint8
    ground truth, ``images`` (P,) image names, ``sources`` (P,) and ``origins`` (P, 2) (row, col).
    """
    from ..metrics.patches import evaluation_patches, extract_evaluation_patches

    xs, ys, maps, names, sources, origins = [], [], [], [], [], []
    for im in images:
        plist = evaluation_patches(im.labels, size=patch_size, breast_mask=im.breast,
                                   min_breast_fraction=min_breast_fraction)
        x, y = extract_evaluation_patches(im.image, plist)
        xs.append(x)
        ys.append(y)
        if details:
            maps.append(extract_evaluation_patches(im.labels, plist)[0].astype(np.uint8))
            names += [im.name] * len(plist)
            sources += [p.source for p in plist]
            origins += [p.origin for p in plist]
    if not xs:
        raise ValueError("no images to cut evaluation patches from")
    x, y = np.concatenate(xs), np.concatenate(ys)
    if not details:
        return x, y
    return x, y, {"label_maps": np.concatenate(maps), "images": np.array(names),
                  "sources": np.array(sources),
                  "origins": np.array(origins, dtype=np.int64).reshape(-1, 2)}
