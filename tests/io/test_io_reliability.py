"""Bad and hostile inputs of the readers and writers: each refused (or warned about) with a
message naming the file, the problem and the fix, before any large allocation."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from napari_mcdet.io import write_inbreast_xml, write_mask
from napari_mcdet.io.writers import atomic_write


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> str:
    return oct(stat.S_IMODE(os.stat(path).st_mode))


def test_masks_and_xmls_get_the_umask_mode(tmp_path, umask_022):
    labels = np.zeros((20, 30), np.uint8)
    labels[5, 5] = 1
    labels[10:13, 10:14] = 2
    assert _mode(write_mask(tmp_path / "m.png", labels)) == "0o644"
    assert _mode(write_inbreast_xml(tmp_path / "m.xml", labels)) == "0o644"
    os.umask(0o077)
    assert _mode(write_mask(tmp_path / "private.png", labels)) == "0o600"


def test_atomic_write_replaces_a_symlink_instead_of_its_target(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("keep\n")
    link = tmp_path / "out.txt"
    link.symlink_to(target)
    atomic_write(link, lambda tmp: tmp.write_text("new\n"))
    assert target.read_text() == "keep\n"
    assert not link.is_symlink() and link.read_text() == "new\n"
