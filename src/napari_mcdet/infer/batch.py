"""Batch detection over many mammograms: one table, resumable, failure-isolated, and run in this
process or on a Dask distributed cluster.

The pieces, each usable alone:

- :func:`expand_inputs`: folders (recursive), glob patterns, CSV manifests and plain files ->
  :class:`BatchItem` (id, path, the manifest's pixel spacing);
- :func:`run_image`: one image -> its output files and one table row; it never raises, so a bad
  file is a ``failed`` row and the batch goes on;
- :func:`completed_row`: the row of an image whose outputs are complete and were made with the
  same model (SHA-256) and settings, else None; this is what a rerun skips;
- :func:`write_summary`: ``summary.csv`` and ``summary.parquet``, each replaced atomically;
- :func:`run_batch`: all of it, in a plain loop or through Dask (``workers`` or ``scheduler``).

Each finished image leaves ``<id>_batch.json`` beside its outputs, written last: its presence
says the outputs are complete, and it holds the model digest, the settings and the row, so that
a rerun can skip the image and an interrupted batch loses only the images in flight.
"""

from __future__ import annotations

import csv
import functools
import glob
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.writers import atomic_write

__all__ = [
    "IMAGE_SUFFIXES",
    "COLUMNS",
    "BatchItem",
    "expand_inputs",
    "read_manifest",
    "unique_ids",
    "settings_key",
    "completed_row",
    "run_image",
    "write_summary",
    "read_summary",
    "run_batch",
    "start_client",
    "row_text",
]

#: File suffixes a folder or glob pattern contributes (case ignored); other files are left out.
IMAGE_SUFFIXES = (".dcm", ".dicom", ".pgm", ".png", ".tif", ".tiff")
#: Columns of ``summary.csv`` / ``summary.parquet``, in order.
COLUMNS = ("id", "path", "spacing_mm", "spacing_source", "tiles_run", "tiles", "candidates",
           "clusters", "max_cluster_score", "suspicion", "status", "error", "warnings",
           "seconds")
#: Manifest column names accepted for the pixel spacing (mm), first found wins.
MANIFEST_SPACING = ("spacing", "spacing_mm", "pixel_spacing")
SUMMARY_NAMES = ("summary.csv", "summary.parquet")
_GLOB_CHARS = frozenset("*?[")
_SIDECAR = "_batch.json"


@dataclass(frozen=True)
class BatchItem:
    """One image of a batch.

    Attributes
    ----------
    id : str
        Unique within the batch; the prefix of the image's output files.
    path : str
        The image file.
    spacing : float or None
        Pixel spacing (mm) from a manifest; it overrides ``--spacing`` and the file's own.
    """

    id: str
    path: str
    spacing: float | None = None


# -- inputs ---------------------------------------------------------------------------------
def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_manifest(path: str | os.PathLike) -> list[BatchItem]:
    """A CSV manifest -> items: column ``path`` (relative paths are relative to the manifest's
    folder), optional ``spacing`` (mm; also ``spacing_mm``, ``pixel_spacing``; an empty cell is
    none) and optional ``id`` (empty: the file name).

    Raises
    ------
    ValueError
        No ``path`` column, an empty path, a spacing that is not a positive number, or an id
        holding a path separator; the message names the manifest and its line.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        if "path" not in fields:
            raise ValueError(f"{path}: a manifest needs a 'path' column (found "
                             f"{', '.join(fields) or 'no header'}); add a header line "
                             "'path,spacing,id' (spacing and id optional)")
        spacing_col = next((c for c in MANIFEST_SPACING if c in fields), None)
        items = []
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            where = f"{path} line {line}"
            if not row.get("path"):
                raise ValueError(f"{where}: empty path; give each image's file, or delete "
                                 "the line")
            image = Path(row["path"])
            if not image.is_absolute():
                image = path.parent / image
            spacing = None
            text = row.get(spacing_col, "") if spacing_col else ""
            if text:
                try:
                    spacing = float(text)
                except ValueError:
                    spacing = math.nan
                if not (math.isfinite(spacing) and spacing > 0):
                    raise ValueError(f"{where}: spacing {text!r} is not a pixel size; give it "
                                     "in mm (e.g. 0.07), or leave the cell empty")
            ident = row.get("id", "")
            if any(sep in ident for sep in ("/", "\\")) or ident in (".", ".."):
                raise ValueError(f"{where}: id {ident!r} is not a file name; give an id "
                                 "without path separators")
            items.append(BatchItem(id=ident, path=str(image), spacing=spacing))
    return items


def _expand_one(spec: str) -> list[BatchItem]:
    path = Path(spec)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and _is_image_name(p))
        if not found:
            raise IsADirectoryError(
                f"{path}: a folder, not an image file, and no file under it is a mammogram "
                f"({', '.join(IMAGE_SUFFIXES)}); pass a folder holding images, or the files"
            )
        return [BatchItem(id="", path=str(p)) for p in found]
    if path.suffix.lower() == ".csv" and path.is_file():
        return read_manifest(path)
    if _GLOB_CHARS & set(spec) and not path.exists():
        found = sorted(Path(p) for p in glob.glob(spec, recursive=True))
        found = [p for p in found if p.is_file() and _is_image_name(p)]
        if not found:
            raise FileNotFoundError(f"{spec}: the pattern matches no image file "
                                    f"({', '.join(IMAGE_SUFFIXES)}); check the pattern, and "
                                    "quote it so that the shell passes it on")
        return [BatchItem(id="", path=str(p)) for p in found]
    if not path.is_file():
        raise FileNotFoundError(f"no such image: {spec}")
    return [BatchItem(id="", path=str(path))]


def expand_inputs(specs: Iterable[str | os.PathLike]) -> list[BatchItem]:
    """Folders (searched recursively for :data:`IMAGE_SUFFIXES`), glob patterns (``**``
    included), CSV manifests (:func:`read_manifest`) and image files -> one item per image.

    An image named twice is kept once (its first mention). Items without an id get their file
    name, made unique with ``_1``, ``_2``... (:func:`unique_ids`), so the ids, and hence the
    output names, are the same on every run of the same inputs.

    Raises
    ------
    FileNotFoundError
        A file that does not exist, or a pattern that matches no image.
    IsADirectoryError
        A folder holding no image.
    ValueError
        A bad manifest, or two images given the same id.
    """
    items: list[BatchItem] = []
    seen: set[str] = set()
    for spec in specs:
        for item in _expand_one(os.fspath(spec)):
            key = os.path.realpath(item.path)
            if key not in seen:
                seen.add(key)
                items.append(item)
    named = [it.id for it in items if it.id]
    duplicated = sorted({i for i in named if named.count(i) > 1})
    if duplicated:
        raise ValueError(f"id {duplicated[0]!r} is given to more than one image; give each "
                         "image its own id in the manifest")
    free = unique_ids([Path(it.path) for it in items if not it.id], taken=set(named))
    ids = iter(free)
    return [it if it.id else BatchItem(id=next(ids), path=it.path, spacing=it.spacing)
            for it in items]


def _stem(path: Path) -> str:
    return path.stem if path.suffix.lower() != ".gz" else Path(path.stem).stem


def unique_ids(paths: Sequence[Path], *, taken: Iterable[str] = ()) -> list[str]:
    """One distinct file-name prefix per path, so that no result overwrites another.

    The first path with a name keeps it; a later one with the same name gets the first free
    ``_1``, ``_2``... that is neither taken nor the own name of any path (``x/a.pgm y/a.pgm
    a_1.pgm`` -> ``a``, ``a_2``, ``a_1``). Names are compared ignoring case, as on the file
    systems of macOS and Windows; ``taken`` names are never given.
    """
    bases = [_stem(p) for p in paths]
    reserved = {b.casefold() for b in bases}
    used = {t.casefold() for t in taken}
    ids = []
    for base in bases:
        stem, k = base, 0
        while stem.casefold() in used or (k and stem.casefold() in reserved):
            k += 1
            stem = f"{base}_{k}"
        used.add(stem.casefold())
        ids.append(stem)
    return ids


# -- resume ---------------------------------------------------------------------------------

def settings_key(settings: Mapping[str, Any]) -> str:
    """A short digest of the settings that change an image's outputs (``batch_size`` and
    ``device`` change only the speed and are left out)."""
    kept = {k: v for k, v in settings.items() if k not in ("batch_size", "device")}
    text = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def completed_row(out: str | os.PathLike, item: BatchItem, *, model_sha: str,
                  settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """The row of ``item`` when its outputs in ``out`` are complete and were made from the same
    file with the same model and settings (status ``'skipped'``), else None."""
    sidecar = Path(out) / f"{item.id}{_SIDECAR}"
    try:
        doc = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None
    if (doc.get("model_sha256") != model_sha or doc.get("settings_key") != settings_key(settings)
            or doc.get("realpath") != os.path.realpath(item.path)
            or doc.get("spacing") != item.spacing):
        return None
    if not all((Path(out) / name).is_file() for name in doc.get("files", [])):
        return None
    return {**doc["row"], "status": "skipped", "seconds": 0.0}


# -- one image ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def _model(path: str, sha: str):
    # keyed by the digest too: a checkpoint replaced under the same name is loaded again; one
    # load per worker process, however many images it runs
    from ..models.checkpoint import load_model

    return load_model(path)


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _empty_row(item: BatchItem) -> dict[str, Any]:
    nan = math.nan
    return {"id": item.id, "path": item.path, "spacing_mm": nan, "spacing_source": "",
            "tiles_run": 0, "tiles": 0, "candidates": 0, "clusters": 0,
            "max_cluster_score": nan, "suspicion": nan, "status": "failed", "error": "",
            "warnings": "", "seconds": 0.0}


def _spacing_for(item: BatchItem, spacing: float | None) -> tuple[float | None, str]:
    from ..io.images import stated_spacing

    if item.spacing is not None:
        return item.spacing, "manifest"
    if spacing is not None:
        return spacing, "--spacing"
    found, source = stated_spacing(item.path)
    if found is None:
        raise ValueError(f"{item.path}: {source}, so no pixel spacing; pass --spacing MM (e.g. "
                         "0.05 for digitised film, 0.07 for INbreast) or give it in the "
                         "manifest's spacing column")
    if found[0] != found[1]:
        return found[0], f"{source}, {found[0]:g} x {found[1]:g}"
    return found[0], source


def run_image(item: BatchItem, *, out: str | os.PathLike, model_path: str, model_sha: str,
              settings: Mapping[str, Any]) -> dict[str, Any]:
    """Detect on one image, write its outputs and its ``<id>_batch.json``, and return its row.

    Never raises for a problem of the image (unreadable, truncated, no spacing, nothing to
    analyse): the row says ``'failed'`` and holds the message in one line. Runs the same in
    this process and on a Dask worker; the model is loaded once per process.

    Parameters
    ----------
    item : BatchItem
    out : path, keyword-only
        Output folder (it must exist).
    model_path, model_sha : str, keyword-only
        The checkpoint and its SHA-256 (:func:`napari_mcdet.models.checkpoint.file_sha256`).
    settings : mapping, keyword-only
        :func:`~napari_mcdet.infer.detect.detect` keywords (``tile``, ``overlap``, ``gate``,
        ``threshold``...) plus ``spacing`` (None: the file's), ``probabilities`` (``'tiff'`` or
        ``'npy'``), ``overlay`` (bool), and ``dicom`` / ``seg_fractional`` (bool: also write
        ``<id>_seg.dcm`` + ``<id>_sr.dcm``; a source that is not DICOM then fails before its
        detection).

    Returns
    -------
    dict
        The row, keys :data:`COLUMNS`.
    """
    from ..io.dicom_derived import source_header
    from ..io.images import read_mammogram
    from .detect import detect
    from .export import write_detection
    from .export_dicom import write_detection_dicom

    start = time.perf_counter()
    row = _empty_row(item)
    key = settings_key(settings)
    settings = dict(settings)
    spacing = settings.pop("spacing", None)
    probabilities = settings.pop("probabilities", "tiff")
    overlay = settings.pop("overlay", True)
    dicom = settings.pop("dicom", False)
    fractional = settings.pop("seg_fractional", False)
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            used, source = _spacing_for(item, spacing)
            row["spacing_mm"], row["spacing_source"] = float(used), source
            if dicom:
                source_header(item.path)  # the identity a SEG and SR reference, or why not
            model = _model(model_path, model_sha)
            mammo = read_mammogram(item.path, pixel_spacing=used)
            det = detect(mammo, model, **settings)
            written = write_detection(det, out, item.id, image=mammo.pixels,
                                      probabilities=probabilities, overlay=overlay)
            if dicom:
                written.update(write_detection_dicom(det, item.path, out, item.id,
                                                     fractional=fractional))
        scores = [float(c["score"]) for c in det.clusters]
        row.update(tiles_run=int(det.n_tiles_run), tiles=int(det.n_tiles),
                   candidates=len(det.calcifications), clusters=len(det.clusters),
                   max_cluster_score=max(scores) if scores else math.nan,
                   suspicion=float(det.probabilities[1].max(initial=0.0)), status="ok")
    except Exception as err:  # a bad image is a row, never the end of the batch
        row["error"] = _one_line(f"{type(err).__name__}: {err}"
                                 if not isinstance(err, ValueError | OSError) else err)
        written = {}
    row["warnings"] = " | ".join(dict.fromkeys(_one_line(w.message) for w in caught))
    row["seconds"] = round(time.perf_counter() - start, 3)
    if row["status"] == "ok":
        doc = {"model_sha256": model_sha, "settings_key": key,
               "realpath": os.path.realpath(item.path), "spacing": item.spacing,
               "files": sorted(p.name for p in written.values()), "row": row}
        text = json.dumps(doc, indent=1, allow_nan=True)
        atomic_write(Path(out) / f"{item.id}{_SIDECAR}", lambda tmp: tmp.write_text(text))
    return row


# -- the table ------------------------------------------------------------------------------
def _schema():
    import pyarrow as pa

    types = {"tiles_run": pa.int64(), "tiles": pa.int64(), "candidates": pa.int64(),
             "clusters": pa.int64(), "spacing_mm": pa.float64(),
             "max_cluster_score": pa.float64(), "suspicion": pa.float64(),
             "seconds": pa.float64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])


def write_summary(out: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> list[Path]:
    """Write ``summary.csv`` and ``summary.parquet`` (columns :data:`COLUMNS`, one row per
    image), each replaced atomically, so that a reader never sees half a table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    table_rows = [{c: r.get(c) for c in COLUMNS} for r in rows]

    def write_csv(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(table_rows)

    table = pa.Table.from_pylist(table_rows, schema=_schema())
    return [atomic_write(out / SUMMARY_NAMES[0], write_csv),
            atomic_write(out / SUMMARY_NAMES[1], lambda tmp: pq.write_table(table, tmp))]


def read_summary(out: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of ``summary.parquet`` in ``out``."""
    import pyarrow.parquet as pq

    return pq.read_table(Path(out) / SUMMARY_NAMES[1]).to_pylist()


# -- the batch ------------------------------------------------------------------------------
def start_client(*, workers: int | None = None, scheduler: str | None = None,
                 timeout: float = 60.0):
    """A Dask distributed client, and the LocalCluster it owns (None for ``scheduler``).

    ``workers``: a LocalCluster of that many processes on 127.0.0.1, with threads per worker
    such that workers x threads <= the CPU cores (each task already uses a core's worth of
    tensor work). ``scheduler``: connect to a running cluster (``tcp://HOST:PORT``).
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout=timeout), None
        except OSError as err:
            raise OSError(f"--scheduler {scheduler}: no Dask scheduler answered within "
                          f"{timeout:g} s ({_one_line(err)}); start one with `dask scheduler` "
                          "and its workers, or check the address") from err
    n = int(workers or 1)
    threads = max(1, (os.cpu_count() or 1) // n)
    cluster = LocalCluster(n_workers=n, threads_per_worker=threads, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    try:
        return Client(cluster, timeout=timeout), cluster
    except BaseException:
        cluster.close()
        raise


def _progress_bar(total: int, done: int, enabled: bool):
    from tqdm import tqdm

    # the images skipped as done count as done, but not toward the rate the ETA comes from
    return tqdm(total=total, initial=done, unit="image", desc="images", disable=not enabled,
                leave=True)


def run_batch(items: Sequence[BatchItem], *, out: str | os.PathLike, model_path: str | os.PathLike,
              settings: Mapping[str, Any], force: bool = False, workers: int | None = None,
              scheduler: str | None = None, client: Any = None, progress: bool = True,
              table_every: float = 2.0,
              on_row: Callable[[dict[str, Any]], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> list[dict[str, Any]]:
    """Run :func:`run_image` over ``items`` and keep ``summary.csv`` / ``.parquet`` up to date.

    Images whose outputs are complete for the same model and settings are skipped (their row
    says ``'skipped'``) unless ``force``. Without ``workers``, ``scheduler`` or ``client`` the
    images run one after another in this process; otherwise each image is one Dask task, and a
    task lost with its worker is run again elsewhere by the scheduler.

    Parameters
    ----------
    items : sequence of BatchItem
        From :func:`expand_inputs`.
    out : path, keyword-only
        Output folder (created if needed).
    model_path : path, keyword-only
        The checkpoint; its SHA-256 decides, with ``settings``, what a rerun skips.
    settings : mapping, keyword-only
        As :func:`run_image` takes them.
    force : bool, keyword-only
        Run every image again, complete or not.
    workers : int, optional, keyword-only
        Processes of a LocalCluster started (and closed) here.
    scheduler : str, optional, keyword-only
        Address of a running Dask scheduler (``tcp://HOST:PORT``).
    client : distributed.Client, optional, keyword-only
        A client to use as it is (left open).
    progress : bool, keyword-only
        Show a progress bar (images done, failed, ETA) on stderr.
    table_every : float, keyword-only
        Least seconds between two rewrites of the table while images finish (it is always
        written at the start and the end); the sidecars hold every finished row meanwhile.
    on_row : callable, optional, keyword-only
        Called with each row as it is known, in finishing order.
    should_stop : callable, optional, keyword-only
        Asked before each image when the images run one after another in this process (not
        with Dask): once it returns True no further image is started, and the table and the
        returned rows hold the images known so far.

    Returns
    -------
    list of dict
        One row per item, in the order of ``items`` (only the items known when stopped by
        ``should_stop``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model_path = str(model_path)
    from ..models.checkpoint import file_sha256

    model_sha = file_sha256(model_path)
    rows: dict[str, dict[str, Any]] = {}
    todo: list[BatchItem] = []
    for item in items:
        done = None if force else completed_row(out, item, model_sha=model_sha,
                                                settings=settings)
        if done is None:
            todo.append(item)
        else:
            rows[item.id] = done
    order = {it.id: k for k, it in enumerate(items)}

    def table() -> list[dict[str, Any]]:
        return sorted(rows.values(), key=lambda r: order[r["id"]])

    write_summary(out, table())
    last = time.monotonic()
    bar = _progress_bar(len(items), len(rows), progress)
    failed = 0

    def finish(row: dict[str, Any]) -> None:
        nonlocal last, failed
        rows[row["id"]] = row
        failed += row["status"] == "failed"
        bar.update(1)
        bar.set_postfix(failed=failed, refresh=False)
        if on_row is not None:
            on_row(row)
        if time.monotonic() - last >= table_every:
            write_summary(out, table())
            last = time.monotonic()

    kw = {"out": str(out), "model_path": model_path, "model_sha": model_sha,
          "settings": dict(settings)}
    try:
        for row in list(rows.values()):
            if on_row is not None:
                on_row(row)
        if client is None and workers is None and scheduler is None:
            for item in todo:
                if should_stop is not None and should_stop():
                    break
                finish(run_image(item, **kw))
        else:
            _run_on_dask(todo, kw, finish, client=client, workers=workers, scheduler=scheduler)
    finally:
        bar.close()
        write_summary(out, table())
    return table()


def _run_on_dask(todo: Sequence[BatchItem], kw: dict[str, Any],
                 finish: Callable[[dict[str, Any]], None], *, client: Any, workers: int | None,
                 scheduler: str | None) -> None:
    from distributed import as_completed

    owned = None
    if client is None:
        client, cluster = start_client(workers=workers, scheduler=scheduler)
        owned = (client, cluster)
    try:
        # one task per image, keyed by its id: a rerun of the key after a lost worker is the
        # scheduler's (allowed-failures), not ours
        token = hashlib.sha256(json.dumps(kw, sort_keys=True, default=str).encode()
                               ).hexdigest()[:8]
        futures = {client.submit(run_image, item, key=f"mcdet-{token}-{item.id}", pure=False,
                                 **kw): item for item in todo}
        for future in as_completed(futures):
            item = futures[future]
            try:
                row = future.result()
            except Exception as err:  # e.g. KilledWorker: the image killed every worker it met
                row = {**_empty_row(item),
                       "error": _one_line(f"{type(err).__name__}: {err}; run it alone "
                                          "(mcdet detect IMAGE) to see why")}
            future.release()
            finish(row)
    finally:
        if owned is not None:
            owned[0].close()
            if owned[1] is not None:
                owned[1].close()


def row_text(row: Mapping[str, Any]) -> str:
    """One line for a row, as the command line prints it."""
    if row["status"] == "failed":
        return f"{row['id']}: failed: {row['error']}"
    verb = "skipped (done before)" if row["status"] == "skipped" else "ok"
    return (f"{row['id']}: {verb}; {row['spacing_mm']:g} mm pixels ({row['spacing_source']}); "
            f"{row['candidates']} calcifications, {row['clusters']} clusters")
