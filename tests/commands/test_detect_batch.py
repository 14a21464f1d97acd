"""``mcdet detect`` on a folder, a pattern or a manifest: one summary table, a failed row per bad
file and a non-zero exit, a rerun that skips what is done, and the per-file spacing."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

from napari_mcdet.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def six(shared_data, tmp_path_factory) -> Path:
    """Four mini-MIAS images, a corrupt .pgm and a truncated DICOM."""
    folder = tmp_path_factory.mktemp("six")
    for name in ("mdb003", "mdb004", "mdb006", "mdb007"):
        shutil.copy(shared_data / "mini-mias" / f"{name}.pgm", folder)
    (folder / "mdb999.pgm").write_bytes(os.urandom(3000))
    dicom = sorted((shared_data / "dicom-mg").glob("*.dcm"))[0]
    (folder / "truncated.dcm").write_bytes(dicom.read_bytes()[:5000])
    return folder


def _table(out: Path) -> list[dict[str, str]]:
    with open(out / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_folder_with_two_bad_files_gives_four_ok_two_failed_and_exit_1(
        six, tiny_checkpoint, tmp_path, capsys):
    args = ["detect", str(six), "--out", str(tmp_path), "--model", str(tiny_checkpoint),
            "--no-overlay", "--format", "npy"]
    assert main(args) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"6 images: 4 ok, 0 skipped, 2 failed -> {tmp_path}/summary.csv"
    assert any(line.startswith("mdb999: failed: ") and "mdb999.pgm" in line for line in lines)
    rows = _table(tmp_path)
    assert sorted(r["status"] for r in rows) == ["failed"] * 2 + ["ok"] * 4
    assert {r["id"] for r in rows if r["status"] == "failed"} == {"mdb999", "truncated"}
    assert (tmp_path / "summary.parquet").is_file()

    # the rerun skips the four done images and tries the two bad ones again
    assert main(args) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"6 images: 0 ok, 4 skipped, 2 failed -> {tmp_path}/summary.csv"
    assert main(["detect", f"{six}/mdb00*.pgm", *args[2:], "--force"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"4 images: 4 ok, 0 skipped, 0 failed -> {tmp_path}/summary.csv"


def test_a_manifest_gives_a_dicom_its_spacing_and_names_the_one_without(
        shared_data, tiny_checkpoint, tmp_path, capsys):
    dicoms = sorted((shared_data / "dicom-mg").glob("*.dcm"))
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"path,spacing,id\n{dicoms[0]},0.2,first\n{dicoms[1]},,second\n"
                        f"{shared_data / 'mini-mias' / 'mdb003.pgm'},,\n")
    out = tmp_path / "out"
    rc = main(["detect", str(manifest), "--out", str(out), "--model", str(tiny_checkpoint),
               "--no-overlay", "--format", "npy"])
    assert rc == 1
    rows = {r["id"]: r for r in _table(out)}
    assert rows["first"]["status"] == "ok" and rows["first"]["spacing_source"] == "manifest"
    assert rows["mdb003"]["spacing_source"] == "mini-MIAS"
    assert rows["second"]["status"] == "failed"
    assert "no pixel spacing; pass --spacing MM" in rows["second"]["error"]
    assert dicoms[1].name in rows["second"]["error"]
    capsys.readouterr()


def test_batch_options_are_checked_before_any_image(six, tiny_checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["detect", str(six), "--out", str(tmp_path), "--workers", "0"])
    assert "--workers: must be a whole number of processes" in capsys.readouterr().err
    rc = main(["detect", str(tmp_path / "none" / "*.pgm"), "--out", str(tmp_path / "o"),
               "--model", str(tiny_checkpoint)])
    assert rc == 2 and "the pattern matches no image file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
