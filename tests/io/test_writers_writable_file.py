"""``writable_file``: an output file's path checked before the work that writes it."""

from __future__ import annotations

import pytest

from napari_mcdet.io.writers import writable_file


def test_a_folder_is_named_as_one(tmp_path):
    with pytest.raises(IsADirectoryError, match="--out .* is a folder: pass a file path"):
        writable_file(tmp_path, what="--out")


def test_a_path_under_a_file_is_refused(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(NotADirectoryError, match="lies under .*afile, which is a file"):
        writable_file(afile / "c.safetensors", what="--out")


def test_a_new_file_in_a_new_folder_is_accepted_and_not_created(tmp_path):
    out = tmp_path / "new" / "c.safetensors"
    assert writable_file(out, what="--out") == out
    assert out.parent.is_dir() and not out.exists()
    assert list(out.parent.iterdir()) == []  # the probe is gone


def test_an_existing_file_may_be_replaced(tmp_path):
    out = tmp_path / "c.safetensors"
    out.write_text("old")
    assert writable_file(out) == out
    assert out.read_text() == "old"
