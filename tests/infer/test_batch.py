"""The batch engine (napari_mcdet.infer.batch): a bad file is a failed row, a rerun skips what
is done, and Dask (a LocalCluster losing a worker, a separately started scheduler and workers)
gives the same table as the plain loop."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from napari_mcdet.infer.batch import (
    COLUMNS,
    BatchItem,
    expand_inputs,
    read_manifest,
    read_summary,
    run_batch,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SETTINGS = {"spacing": None, "probabilities": "npy", "overlay": False, "threshold": "li"}
#: columns that do not depend on where or when an image ran
SAME = ("id", "spacing_mm", "spacing_source", "tiles_run", "tiles", "candidates", "clusters",
        "status")


@pytest.fixture(scope="module")
def six(shared_data, tmp_path_factory) -> Path:
    """Four mini-MIAS images, a corrupt .pgm and a truncated DICOM, in nested folders."""
    folder = tmp_path_factory.mktemp("six")
    (folder / "sub").mkdir()
    for k, name in enumerate(("mdb003", "mdb004", "mdb006", "mdb007")):
        shutil.copy(shared_data / "mini-mias" / f"{name}.pgm",
                    folder / ("sub" if k % 2 else ".") / f"{name}.pgm")
    (folder / "mdb999.pgm").write_bytes(os.urandom(3000))
    dicom = sorted((shared_data / "dicom-mg").glob("*.dcm"))[0]
    (folder / "sub" / "truncated.dcm").write_bytes(dicom.read_bytes()[:5000])
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def reference(six, tiny_checkpoint, tmp_path_factory):
    """The plain loop's table for :func:`six` and its output folder."""
    out = tmp_path_factory.mktemp("plain")
    rows = run_batch(expand_inputs([six]), out=out, model_path=tiny_checkpoint,
                     settings=SETTINGS, progress=False)
    return rows, out


def _same(rows):
    # NaN (no spacing on a failed row) is not equal to itself
    return [{c: None if r[c] != r[c] else r[c] for c in SAME} for r in rows]


def test_folders_patterns_and_manifests_expand_to_items(six, tmp_path):
    items = expand_inputs([six])
    assert [it.id for it in items] == ["mdb003", "mdb006", "mdb999", "mdb004", "mdb007",
                                       "truncated"]
    assert [it.id for it in expand_inputs([f"{six}/**/mdb00*.pgm"])] == [
        "mdb003", "mdb006", "mdb004", "mdb007"]
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,spacing,id\n{six}/mdb003.pgm,0.1,left\nsub/../x.pgm,,\n")
    assert read_manifest(manifest) == [
        BatchItem("left", f"{six}/mdb003.pgm", 0.1), BatchItem("", str(tmp_path / "sub/../x.pgm"))]
    manifest.write_text("file\nx.pgm\n")
    with pytest.raises(ValueError, match="m.csv: a manifest needs a 'path' column"):
        read_manifest(manifest)
    with pytest.raises(FileNotFoundError, match="matches no image"):
        expand_inputs([f"{six}/*.dcm"])


def test_a_bad_file_is_a_failed_row_and_the_batch_goes_on(reference):
    rows, out = reference
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "ok", "ok", "failed"]
    failed = {r["id"]: r["error"] for r in rows if r["status"] == "failed"}
    assert "mdb999.pgm is not a recognised image file" in failed["mdb999"]
    assert "truncated.dcm is truncated" in failed["truncated"]
    assert all("\n" not in e for e in failed.values())
    table = read_summary(out)
    assert list(table[0]) == list(COLUMNS) and _same(table) == _same(rows)
    ok = [r for r in rows if r["status"] == "ok"]
    assert all(r["spacing_source"] == "mini-MIAS" and r["tiles_run"] > 0 for r in ok)
    assert (out / "summary.csv").read_text().count("\n") == 7
    assert all((out / f"{r['id']}_probabilities.npy").is_file() for r in ok)


def test_a_rerun_skips_the_done_images_and_force_redoes_them(reference, six, tiny_checkpoint):
    rows, out = reference
    items = expand_inputs([six])
    again = run_batch(items, out=out, model_path=tiny_checkpoint, settings=SETTINGS,
                      progress=False)
    assert [r["status"] for r in again] == ["skipped", "skipped", "failed", "skipped",
                                            "skipped", "failed"]
    assert [r["candidates"] for r in again] == [r["candidates"] for r in rows]
    # other settings, a missing output or --force: the image is run again
    other = run_batch(items[:1], out=out, model_path=tiny_checkpoint,
                      settings={**SETTINGS, "cluster_min_count": 4}, progress=False)
    assert other[0]["status"] == "ok"
    (out / "mdb006_labels.png").unlink()
    forced = run_batch(items[:2], out=out, model_path=tiny_checkpoint, settings=SETTINGS,
                       progress=False, force=False)
    assert [r["status"] for r in forced] == ["ok", "ok"]
    forced = run_batch(items[:1], out=out, model_path=tiny_checkpoint, settings=SETTINGS,
                       progress=False, force=True)
    assert forced[0]["status"] == "ok"


def test_a_killed_worker_loses_no_image(reference, six, tiny_checkpoint, tmp_path):
    from distributed import Client, LocalCluster

    killed = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, \
            Client(cluster, timeout=60) as client:
        client.wait_for_workers(2, timeout=60)

        def kill_a_busy_worker(row):
            if killed:
                return
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                pids = client.run(os.getpid, workers=busy[:1])
                pid = next(iter(pids.values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        rows = run_batch(expand_inputs([six]), out=tmp_path, model_path=tiny_checkpoint,
                         settings=SETTINGS, client=client, progress=False,
                         on_row=kill_a_busy_worker)
    assert killed, "no worker was busy when the first image finished"
    assert _same(rows) == _same(reference[0])
    assert _same(read_summary(tmp_path)) == _same(rows)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path):
    """A ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, torn down after."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    common = {"cwd": tmp_path, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], **common)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([*dask, "worker", address, "--nthreads", "1",
                                           "--host", "127.0.0.1", "--no-dashboard"], **common))
        yield address
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


def test_a_separately_started_cluster_gives_the_same_table(reference, six, tiny_checkpoint,
                                                           dask_cluster, tmp_path):
    from distributed import Client

    with Client(dask_cluster, timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
    rows = run_batch(expand_inputs([six]), out=tmp_path / "out", model_path=tiny_checkpoint,
                     settings=SETTINGS, scheduler=dask_cluster, progress=False)
    assert _same(rows) == _same(reference[0])
    assert _same(read_summary(tmp_path / "out")) == _same(reference[0])


def test_an_interrupted_batch_leaves_a_correct_partial_table(reference, six, tiny_checkpoint,
                                                             tmp_path):
    items = [it for it in expand_inputs([six]) if it.id in ("mdb003", "mdb999", "mdb006")]

    def interrupt_after_two(row, seen=[]):  # noqa: B006 - the count lives between calls
        seen.append(row["id"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(items, out=tmp_path, model_path=tiny_checkpoint, settings=SETTINGS,
                  progress=False, table_every=3600, on_row=interrupt_after_two)
    table = read_summary(tmp_path)
    assert [(r["id"], r["status"]) for r in table] == [("mdb003", "ok"), ("mdb006", "ok")]
    rows = run_batch(items, out=tmp_path, model_path=tiny_checkpoint, settings=SETTINGS,
                     progress=False)
    assert [r["status"] for r in rows] == ["skipped", "skipped", "failed"]


def test_a_scheduler_that_does_not_answer_is_named_with_the_fix():
    from napari_mcdet.infer.batch import start_client

    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(OSError, match=f"--scheduler {address}: no Dask scheduler answered"):
        start_client(scheduler=address, timeout=2)
