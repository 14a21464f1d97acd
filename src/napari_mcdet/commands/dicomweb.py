"""``mcdet detect --dicomweb URL --study UID``: detect on a study's mammograms on a DICOMweb
server (a PACS) and store each image's SEG and SR back.

In order, so that a bad option, server, study or image stops the run before any result is
stored: the options; the credentials; the study's MG instances (QIDO-RS); each retrieved into a
temporary folder (WADO-RS) and its header checked (identity, pixel spacing); the model; then
detection on each image, its outputs and ``<stem>_seg.dcm`` / ``<stem>_sr.dcm`` written into
``--out`` (stem: the image's SOP Instance UID); and only then one STOW-RS request per image
for its SEG and SR, each checked on the server afterwards.

A verified store leaves ``<stem>_stored.json`` in ``--out`` (the server, study and the SEG and SR
UIDs): a rerun with the same ``--out`` skips the images whose results the server still holds, so
after a failed store the same command finishes the rest (``--force`` redoes every image).

``--spacing`` gives the pixel spacing of the images whose files state none; an image that
states its own keeps it (a study may mix digitised film without a spacing and digital
mammograms with one).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from ..io.dicomweb import (
    DICOMwebError,
    DicomwebServer,
    DICOMwebStoreError,
    InstanceRef,
    check_uid,
    read_credentials,
)
from ..io.writers import atomic_write, safe_stem, writable_folder
from .detect import (
    _threshold,
    check_dicom_sources,
    check_options,
    check_spacing,
    detect_and_write,
)

__all__ = ["run_dicomweb", "instance_spacings", "stored_marker"]


def stored_marker(out: Path, stem: str) -> Path:
    """The file recording that ``stem``'s SEG and SR were stored."""
    return out / f"{stem}_stored.json"


def _already_stored(server: DicomwebServer, out: Path, ref: InstanceRef,
                    stem: str) -> dict | None:
    """The marker of ``ref`` when it names this server and study and the server holds both of
    its instances; else None."""
    path = stored_marker(out, stem)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        uids = [str(doc["seg_sop_instance_uid"]), str(doc["sr_sop_instance_uid"])]
        same = (doc["dicomweb"] == server.url and doc["study"] == ref.study
                and doc["source_sop_instance_uid"] == ref.sop)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not same:
        return None
    return doc if server.holds(ref.study, uids) == set(uids) else None


def instance_spacings(paths: list[Path], refs: list[InstanceRef],
                      spacing_mm: float | None) -> list[tuple[tuple[float, float] | None, str]]:
    """Per retrieved image: the spacing to read it at (None: its own) and that spacing in words.

    An image whose file states a spacing keeps it; ``--spacing`` gives one to those that state
    none.

    Raises
    ------
    ValueError
        Images without a spacing and no ``--spacing`` (naming each instance), or a header
        :func:`napari_mcdet.io.images.read_mammogram` would refuse.
    """
    from ..io.images import stated_spacing

    out, missing = [], []
    for path, ref in zip(paths, refs):
        try:
            found, source = stated_spacing(path)
        except ValueError as err:
            raise ValueError(str(err).replace(str(path), f"instance {ref.sop}")) from None
        if found is not None:
            size = f"{found[0]:g}" if found[0] == found[1] else f"{found[0]:g} x {found[1]:g}"
            note = ("" if spacing_mm is None or (spacing_mm, spacing_mm) == tuple(found)
                    else "; --spacing is for images that state none")
            out.append((None, f"{size} mm pixels ({source}{note})"))
        elif spacing_mm is not None:
            out.append(((spacing_mm, spacing_mm), f"{spacing_mm:g} mm pixels (--spacing)"))
        else:
            missing.append(f"instance {ref.sop}: {source}")
    if missing:
        raise ValueError(
            f"{'; '.join(missing)}; no pixel spacing for {len(missing)} of {len(paths)} "
            f"image{'s' if len(paths) > 1 else ''}, so none was analysed: pass --spacing MM "
            "(used only for images that state none; e.g. 0.05 for digitised film)")
    return out


def _names(uids: list[str]) -> str:
    return ", ".join(uids) if uids else "none"


def run_dicomweb(args: argparse.Namespace) -> int:
    """``mcdet detect --dicomweb URL --study UID [--series UID]``; see the module's docstring.

    Returns
    -------
    int
        0 when every image's SEG and SR are stored.
    """
    from ..models.checkpoint import load_model

    threshold = _threshold(args.threshold)
    spacing_mm = check_spacing(args.spacing, force=getattr(args, "force_spacing", False))
    check_options(args)
    study = check_uid(args.study, flag="--study")
    series = check_uid(args.series, flag="--series") if args.series else None
    out = writable_folder(args.out, what="--out")
    server = DicomwebServer(args.dicomweb,
                            read_credentials(args.dicomweb_auth, url=args.dicomweb))
    refs = server.mammograms(study, series=series)
    stems = [safe_stem(ref.sop) for ref in refs]
    print(f"study {study} on {server.url}: {len(refs)} MG image{'s' * (len(refs) != 1)} in "
          f"{len({r.series for r in refs})} series")
    done: list[str] = []
    todo: list[tuple[InstanceRef, str]] = []
    for ref, stem in zip(refs, stems):
        marker = None if args.force else _already_stored(server, out, ref, stem)
        if marker is not None:
            done.append(ref.sop)
            print(f"{stem}: SEG {marker['seg_sop_instance_uid']} and SR "
                  f"{marker['sr_sop_instance_uid']} already stored; skipped (--force redoes it)")
        else:
            todo.append((ref, stem))
    stored_pairs = []
    with tempfile.TemporaryDirectory(prefix="mcdet-dicomweb-") as tmp:
        paths = [server.retrieve(ref, tmp) for ref, _ in todo]
        todo_refs = [ref for ref, _ in todo]
        for path, ref in zip(paths, todo_refs):
            try:
                check_dicom_sources([path])
            except ValueError as err:
                raise ValueError(str(err).replace(str(path), f"instance {ref.sop}")) from None
        spacings = instance_spacings(paths, todo_refs, spacing_mm)
        model = load_model(args.model) if todo else None
        for (ref, stem), path, (spacing, said) in zip(todo, paths, spacings):
            args.current_file = f"instance {ref.sop}"  # named by the command line's errors
            detect_and_write(args, model, path, stem=stem, out=out, threshold=threshold,
                             spacing=spacing, said=said, name=stem, dicom=True)
            stored_pairs.append((ref, stem))
        args.current_file = None
    stored = list(done)
    for i, (ref, stem) in enumerate(stored_pairs):
        seg, sr = out / f"{stem}_seg.dcm", out / f"{stem}_sr.dcm"
        try:
            uids = server.store_pair(seg, sr, study=ref.study)
        except (DICOMwebError, ConnectionError) as err:
            rest = [r.sop for r, _ in stored_pairs[i + 1:]]
            arrived = ""
            if isinstance(err, DICOMwebStoreError):
                import pydicom

                sent = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): kind
                        for kind, p in (("SEG", seg), ("SR", sr))}
                kept = [f"{kind} {uid}" for uid, kind in sent.items() if uid not in err.missing]
                if kept:
                    arrived = f" (its {' and '.join(kept)} did arrive)"
            raise DICOMwebStoreError(
                f"storing the SEG and SR of instance {ref.sop} failed{arrived}: {err}; stored: "
                f"{_names(stored)}; not stored: {_names([ref.sop, *rest])}; their SEG and SR are "
                f"in {out}; fix the cause and rerun the same command: it skips the instances "
                "stored") from None
        atomic_write(stored_marker(out, stem), lambda tmp, ref=ref, uids=uids: tmp.write_text(
            json.dumps({"dicomweb": server.url, "study": ref.study, "series": ref.series,
                        "source_sop_instance_uid": ref.sop,
                        "seg_sop_instance_uid": uids["seg"],
                        "sr_sop_instance_uid": uids["sr"]}, indent=1) + "\n",
            encoding="utf-8"))
        stored.append(ref.sop)
        print(f"{stem}: SEG {uids['seg']} and SR {uids['sr']} stored in study {ref.study}")
    print(f"{len(refs)} image{'s' * (len(refs) != 1)}: {len(stored_pairs)} detected and stored, "
          f"{len(done)} already stored -> {server.url}, study {study}; outputs in {out}")
    return 0
