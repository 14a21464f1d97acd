"""``SyntheticPatchDataset``: balanced training patches drawn on the fly from normal images.

Item ``i`` is a soft-tissue patch when ``i % 3 == 0``, benign when ``i % 3 == 1`` and malignant
when ``i % 3 == 2`` (classes balanced 1:1:1, method.md §4). Everything about item ``i`` (which
image, where, which lesion, which augmentation) comes from ``np.random.default_rng([seed, i])``,
so the same ``(seed, i)`` gives the same patch in any process, any worker, any order. A fixed
validation set is simply another dataset with its own seed (and ``augment=False``).

Per image, the dataset loads the file lazily and prepares it for the network at
``pixel_spacing`` with :func:`napari_mcdet.data.prepare.prepare_image` (breast mask, resampling,
normalisation over the whole image, before cutting: the preparation detection uses). These are
cached per process (``cache_size`` images), so each ``DataLoader`` worker builds its own cache
and no random state is shared.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.augment import augment as _augment
from ..data.prepare import prepare_image
from ..mammogram import Mammogram
from ..spacing import as_spacing
from ..synth.patches import lesion_patch, tissue_patch

#: File extensions picked up from a folder of negatives.
IMAGE_EXTENSIONS = (".dcm", ".dicom", ".png", ".tif", ".tiff", ".pgm")
KINDS = ("soft", "benign", "malignant")


def _read_image(path: Path) -> Mammogram:
    """Read a mammogram; via :func:`napari_mcdet.read_mammogram` when the io module has it."""
    try:
        from ..io.images import read_mammogram
    except ImportError:
        read_mammogram = None
    if read_mammogram is not None:
        return read_mammogram(path)
    if path.suffix.lower() in (".dcm", ".dicom"):
        raise ValueError(f"reading DICOM needs napari_mcdet.io.images.read_mammogram: {path}")
    from skimage import io

    pixels = io.imread(str(path))
    if pixels.ndim == 3:
        pixels = pixels[..., :3].mean(axis=-1)
    return Mammogram(pixels=pixels, metadata={"path": str(path)})


def list_images(folder: str | Path) -> list[Path]:
    """Image files (:data:`IMAGE_EXTENSIONS`) in ``folder``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder of negative images: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return files


def expand_images(entries, *, what: str = "image") -> list[Path]:
    """Files and folders (expanded with :func:`list_images`) as one list of image paths."""
    files: list[Path] = []
    for entry in entries:
        p = Path(entry)
        if p.is_dir():
            files += list_images(p)
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"no such {what} file or folder: {p}")
    return files


def patch_size_pixels(
    patch_size: int | None, patch_size_mm: float | None, pixel_spacing: tuple[float, float]
) -> int:
    """The patch side in pixels, from pixels or from mm at ``pixel_spacing`` (row spacing)."""
    if patch_size_mm is not None:
        if patch_size_mm <= 0:
            raise ValueError(f"patch_size_mm must be positive, got {patch_size_mm}")
        return max(8, int(round(patch_size_mm / pixel_spacing[0])))
    if patch_size is None or int(patch_size) <= 0:
        raise ValueError(f"patch_size must be a positive number of pixels, got {patch_size}")
    return int(patch_size)


class SyntheticPatchDataset:
    """Balanced soft-tissue / benign / malignant patches from normal mammograms.

    Parameters
    ----------
    images : folder, or sequence of paths, 2-D arrays or Mammograms
        Normal (negative) images, bright = dense.
    patch_size : int
        Patch side, pixels at ``pixel_spacing`` (512 in the paper). Ignored when
        ``patch_size_mm`` is given.
    patch_size_mm : float, optional
        Patch side in mm (512 px x 0.07 mm = 35.8 mm).
    pixel_spacing : float or (float, float), optional
        Target spacing in mm/pixel: every image is resampled to it. None keeps each image's own
        grid (its spacing, or ``source_spacing``, is then used to draw lesions in mm).
    source_spacing : float or (float, float), optional
        Spacing of images that do not carry one (PNG/PGM; arrays). mini-MIAS: 0.2. Defaults to
        ``pixel_spacing``; an error when both are None and an image has no spacing.
    seed : int
        Dataset seed: item ``i`` depends only on ``(seed, i)``.
    length : int
        Number of items (an "epoch").
    augment : bool
        Flips/transpose and one intensity augmentation (:mod:`napari_mcdet.data.augment`).
    mode : {'presentation', 'raw'}
        Blending mode of the lesions.
    lesion_params : dict, optional
        ``{'benign': {...}, 'malignant': {...}}`` overrides of
        :class:`napari_mcdet.synth.clusters.LesionParams`.
    cache_size : int
        Prepared images kept per process.
    hard_negative_fraction : float
        Fraction of the soft-tissue items cut around a point of :attr:`hard_negatives` (the
        current model's strongest false responses on these normals), when the pool is not empty.
    edge_fraction : float
        Fraction of the soft-tissue items cut around a point of the breast's outline (skin line,
        film edge), which whole-image detection otherwise meets far more often than training.

    Notes
    -----
    ``__getitem__`` returns a dict: ``'image'`` float32 tensor (1, P, P), ``'mask'`` float32
    tensor (2, P, P) (channel 0 benign, channel 1 malignant), ``'label'`` int64 scalar tensor
    (0/1/2), and ``'index'`` (int).
    """

    def __init__(
        self,
        images: str | Path | Sequence[Any],
        *,
        patch_size: int = 512,
        patch_size_mm: float | None = None,
        pixel_spacing: float | tuple[float, float] | None = None,
        source_spacing: float | tuple[float, float] | None = None,
        seed: int = 0,
        length: int = 3000,
        augment: bool = False,
        mode: str = "presentation",
        lesion_params: dict[str, dict[str, Any]] | None = None,
        cache_size: int = 8,
        hard_negative_fraction: float = 0.0,
        edge_fraction: float = 0.0,
    ) -> None:
        if isinstance(images, (str, Path)):
            self.sources: list[Any] = list(list_images(images))
        else:
            self.sources = list(images)
        if not self.sources:
            raise ValueError("images is empty: give a folder or a list of normal images")
        self.pixel_spacing = as_spacing(pixel_spacing, required=False)
        self.source_spacing = (as_spacing(source_spacing, name="source_spacing", required=False)
                               or self.pixel_spacing)
        grid = self.pixel_spacing or self.source_spacing
        self.patch_size = patch_size_pixels(patch_size, patch_size_mm, grid or (1.0, 1.0))
        if patch_size_mm is not None and grid is None:
            raise ValueError("patch_size_mm needs pixel_spacing (or source_spacing)")
        if int(length) <= 0:
            raise ValueError(f"length must be positive, got {length}")
        self.seed, self.length, self.augment, self.mode = int(seed), int(length), augment, mode
        self.lesion_params = dict(lesion_params or {})
        bad = set(self.lesion_params) - {"benign", "malignant"}
        if bad:
            raise ValueError(f"lesion_params keys must be 'benign'/'malignant', got {sorted(bad)}")
        self.cache_size = int(cache_size)
        for name, value in (("hard_negative_fraction", hard_negative_fraction),
                            ("edge_fraction", edge_fraction)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if hard_negative_fraction + edge_fraction > 1.0:
            raise ValueError("hard_negative_fraction + edge_fraction must not exceed 1, got "
                             f"{hard_negative_fraction} + {edge_fraction}")
        self.hard_negative_fraction = float(hard_negative_fraction)
        self.edge_fraction = float(edge_fraction)
        #: ``(image index, row, col, score)`` of mined false responses, rows and columns of the
        #: prepared image (see :func:`napari_mcdet.train.mining.mine_hard_negatives`).
        self.hard_negatives: list[tuple[int, int, int, float]] = []
        self._edges: dict[int, np.ndarray] = {}
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray, tuple[float, float]]] = (
            OrderedDict()
        )

    def __len__(self) -> int:
        return self.length

    # -- images -------------------------------------------------------------------------------
    def prepared(self, k: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """Image ``k`` resampled, normalised, and its breast mask: (image, breast, spacing)."""
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        src = self.sources[k]
        if isinstance(src, (str, Path)):
            src = _read_image(Path(src))
        if not isinstance(src, Mammogram):
            src = Mammogram(np.asarray(src, dtype=np.float32))
        spacing = src.pixel_spacing or self.source_spacing
        if spacing is None:
            raise ValueError(
                f"image {k} has no pixel spacing: pass source_spacing=(mm, mm) or pixel_spacing"
            )
        src = Mammogram(src.pixels, pixel_spacing=spacing, metadata=src.metadata)
        spacing = self.pixel_spacing or spacing
        image, breast, _ = prepare_image(src, pixel_spacing=spacing)
        entry = (image, np.asarray(breast, dtype=bool), (float(spacing[0]), float(spacing[1])))
        self._cache[k] = entry
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return entry

    # -- items --------------------------------------------------------------------------------
    def sample(self, index: int) -> dict[str, Any]:
        """Item ``index`` as numpy arrays plus its record (no torch needed)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}")
        rng = np.random.default_rng([self.seed, index])
        label = index % 3
        k = int(rng.integers(len(self.sources)))
        image, breast, spacing = self.prepared(k)
        if label == 0:
            patch = self._soft_patch(rng, k, image, breast)
        else:
            kind = KINDS[label]
            patch = lesion_patch(
                image,
                breast,
                kind=kind,
                size=self.patch_size,
                pixel_spacing=spacing,
                rng=rng,
                white=1.0,
                mode=self.mode,
                **self.lesion_params.get(kind, {}),
            )
        img, msk, ops = patch.image, patch.mask, {}
        if self.augment:
            img, msk, ops = _augment(img, msk, rng)
        return {
            "image": img,
            "mask": msk,
            "label": label,
            "index": index,
            "source": k,
            "origin": patch.origin,
            "augment": ops,
            "info": patch.info,
        }

    def _edge_points(self, k: int, breast: np.ndarray) -> np.ndarray:
        """The breast outline's pixels of prepared image ``k`` (cached)."""
        from ..synth.patches import breast_edge

        key = int(k)
        if key not in self._edges:
            if len(self._edges) >= self.cache_size:
                self._edges.pop(next(iter(self._edges)))
            self._edges[key] = breast_edge(breast)
        return self._edges[key]

    def _soft_patch(self, rng: np.random.Generator, k: int, image: np.ndarray,
                    breast: np.ndarray):
        """A soft-tissue patch: a mined hard negative, a skin-line patch or a random one.

        No extra random draw happens when both fractions are 0, so such a dataset gives the
        same patches as one without these options.
        """
        from ..synth.patches import negative_patch

        if self.hard_negative_fraction or self.edge_fraction:
            u = float(rng.random())
            patch = None
            if u < self.hard_negative_fraction:
                if self.hard_negatives:  # before the first mining round: a random patch
                    pool = self.hard_negatives
                    k, r, c, score = pool[int(rng.integers(len(pool)))]
                    image, breast, _ = self.prepared(int(k))
                    patch = negative_patch(image, breast, (r, c), size=self.patch_size, rng=rng,
                                           info={"hard_negative": [int(k), int(r), int(c),
                                                                   score]})
            elif u < self.hard_negative_fraction + self.edge_fraction:
                edge = self._edge_points(k, breast)
                if len(edge):
                    r, c = edge[int(rng.integers(len(edge)))]
                    patch = negative_patch(image, breast, (r, c), size=self.patch_size, rng=rng,
                                           info={"edge": [int(r), int(c)]})
            if patch is not None:
                return patch
        return tissue_patch(image, breast, size=self.patch_size, rng=rng)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        index = int(index)
        if index < 0:
            index += self.length
        s = self.sample(index)
        msk = s["mask"]
        two = np.stack([msk == 1, msk == 2]).astype(np.float32)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(s["image"], dtype=np.float32)[None]),
            "mask": torch.from_numpy(two),
            "label": torch.tensor(s["label"], dtype=torch.int64),
            "index": index,
        }


def write_patches(
    dataset: SyntheticPatchDataset, out_dir: str | Path, *, n: int | None = None
):
    """Write ``n`` patches of ``dataset`` to ``out_dir``; a generator yielding after each one.

    Files: ``images/{i:06d}.npy`` (float32 (P, P), normalised), ``masks/{i:06d}.npy`` (uint8
    (P, P), 0/1/2), ``index.csv`` (index, image, mask, label, source, origin_row, origin_col,
    n_calcifications, layout) and ``params.json`` (the dataset's settings and per-patch lesion
    records). Balanced because item ``i`` has class ``i % 3``.

    Yields
    ------
    i : int
        The index just written.
    """
    import csv
    import json

    out = Path(out_dir)
    n = len(dataset) if n is None else int(n)
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if n > len(dataset):
        raise ValueError(f"n={n} exceeds the dataset length {len(dataset)}")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    records = []
    with open(out / "index.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["index", "image", "mask", "label", "source", "origin_row", "origin_col",
                         "n_calcifications", "layout"])
        for i in range(n):
            s = dataset.sample(i)
            img_name, msk_name = f"images/{i:06d}.npy", f"masks/{i:06d}.npy"
            np.save(out / img_name, np.asarray(s["image"], dtype=np.float32))
            np.save(out / msk_name, np.asarray(s["mask"], dtype=np.uint8))
            info = s["info"]
            src = dataset.sources[s["source"]]
            src_name = str(src) if isinstance(src, (str, Path)) else f"image {s['source']}"
            writer.writerow([i, img_name, msk_name, s["label"], src_name, s["origin"][0],
                             s["origin"][1], info.get("n_placed", 0), info.get("layout", "")])
            records.append({"index": i, "label": s["label"], "source": src_name,
                            "origin": list(s["origin"]), "augment": s["augment"],
                            "lesion": _jsonable(info)})
            yield i
    settings = {
        "patch_size": dataset.patch_size,
        "pixel_spacing": dataset.pixel_spacing,
        "source_spacing": dataset.source_spacing,
        "seed": dataset.seed,
        "length": n,
        "augment": dataset.augment,
        "mode": dataset.mode,
        "lesion_params": dataset.lesion_params,
        "normalisation": "napari_mcdet.data.normalize.normalize_image",
    }
    with open(out / "params.json", "w") as fh:
        json.dump({"settings": _jsonable(settings), "patches": records}, fh, indent=1)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj
