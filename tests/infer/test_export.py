"""Writing a detection's files: every file atomic, umask modes, symlinks replaced not followed.

Speed: one real detection by a randomly initialised tiny MCDetNet on a small phantom (a handful
of 64 x 64 tiles); what is tested is how its files reach the disk.
"""

from __future__ import annotations

import os
import stat

import pytest

from napari_mcdet.infer.detect import detect
from napari_mcdet.infer.export import write_detection
from napari_mcdet.models.checkpoint import load_model


@pytest.fixture(scope="module")
def detection(tiny_checkpoint):
    from napari_mcdet.synth.phantom import breast_phantom

    ph = breast_phantom((160, 128), pixel_spacing=0.2, seed=1)
    return detect(ph, load_model(tiny_checkpoint), device="cpu"), ph.pixels


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("fmt", ["tiff", "npy"])
def test_every_output_replaces_the_old_file_in_one_step(detection, tmp_path, fmt):
    det, image = detection
    first = write_detection(det, tmp_path, "a", image=image, probabilities=fmt)
    inodes = {kind: p.stat().st_ino for kind, p in first.items()}
    again = write_detection(det, tmp_path, "a", image=image, probabilities=fmt)
    # a new inode for every file: each one was written elsewhere and moved into place, so a
    # crash mid-write can never leave a half-written table or map under the final name
    assert {k: p.stat().st_ino for k, p in again.items() if p.stat().st_ino == inodes[k]} == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in again.values())


def test_outputs_get_the_umask_mode(detection, tmp_path, umask_022):
    det, image = detection
    written = write_detection(det, tmp_path, "a", image=image)
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written.values()}
    assert set(modes.values()) == {"0o644"}, modes


def test_symlinks_in_the_output_folder_are_replaced_not_followed(detection, tmp_path):
    det, image = detection
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    names = ["a_probabilities.tif", "a_labels.png", "a_calcifications.csv", "a_clusters.json",
             "a_detection.json", "a_overlay.png"]
    for name in names:
        (outside / name).write_text("precious\n")
        (out / name).symlink_to(outside / name)
    write_detection(det, out, "a", image=image)
    for name in names:
        assert (outside / name).read_text() == "precious\n", name
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 0


def test_files_an_earlier_run_left_are_removed_with_a_warning(detection, tmp_path):
    det, image = detection
    write_detection(det, tmp_path, "a", image=image)
    write_detection(det, tmp_path, "b", image=image)  # another image's files stay
    with pytest.warns(UserWarning, match=r"removed a_probabilities\.tif, a_overlay\.png, left "
                                         r"by an earlier run of a"):
        again = write_detection(det, tmp_path, "a", image=image, probabilities="npy",
                                overlay=False)
    a_files = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("a_"))
    assert a_files == sorted(p.name for p in again.values())
    assert (tmp_path / "b_overlay.png").is_file() and (tmp_path / "b_probabilities.tif").is_file()
