"""Batch detection with DICOM outputs: each DICOM image gets its SEG + SR, a PNG in the same
batch fails with the reason (before its detection) and the batch goes on."""

from __future__ import annotations

import numpy as np
from dicom_files import dciodvfy_errors, write_ffdm
from skimage import io as skio

from napari_mcdet.infer.batch import expand_inputs, run_batch
from napari_mcdet.io.dicom_seg import read_segmentation
from napari_mcdet.io.dicom_sr import read_report
from napari_mcdet.models.paths import checkpoint_path


def test_a_batch_writes_seg_and_sr_for_dicom_and_refuses_a_png(tmp_path):
    (tmp_path / "in").mkdir()
    write_ffdm(tmp_path / "in" / "a.dcm", pixel_spacing=0.2)
    png = tmp_path / "in" / "b.png"
    skio.imsave(png, np.full((300, 200), 1000, np.uint16), check_contrast=False)
    items = expand_inputs([str(tmp_path / "in")])
    out = tmp_path / "out"
    rows = run_batch(items, out=out, model_path=checkpoint_path(None), progress=False,
                     settings={"spacing": 0.2, "dicom": True})
    by_id = {r["id"]: r for r in rows}
    assert by_id["a"]["status"] == "ok" and by_id["b"]["status"] == "failed"
    assert "not a DICOM file" in by_id["b"]["error"] and "b.png" in by_id["b"]["error"]
    assert not (out / "b_labels.png").exists()  # refused before its detection
    labels = skio.imread(out / "a_labels.png")
    assert np.array_equal(read_segmentation(out / "a_seg.dcm").labels, labels)
    report = read_report(out / "a_sr.dcm")
    assert sum(f.kind == "calcification" for f in report.findings) == by_id["a"]["candidates"]
    assert dciodvfy_errors(out / "a_seg.dcm") == [] and dciodvfy_errors(out / "a_sr.dcm") == []
