"""``mcdet evaluate`` end to end on tiny sets: INbreast layout (a DICOM + XML built here), an
images/masks folder, and two mini-MIAS images. A random tiny model at 0.8 mm keeps it fast; the
flow and the files are tested, not the scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from napari_mcdet.cli import main


def _write_dicom(path, arr, spacing):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "MG", "test"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = arr.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelSpacing = [spacing, spacing]
    ds.PixelData = arr.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def _lesion_image(kind, seed, shape=(900, 700), spacing=0.07):
    from napari_mcdet.synth.lesions import synthesize
    from napari_mcdet.synth.phantom import breast_phantom

    ph = breast_phantom(shape, pixel_spacing=spacing, seed=seed)
    if kind is None:
        return ph.pixels, np.zeros(shape, np.uint8)
    les = synthesize(ph, kind=kind, seed=seed)
    return les.image, les.mask


def _to_uint16(img):
    return np.clip(img / img.max() * 16000, 0, 65535).astype(np.uint16)


def test_evaluate_inbreast_layout(coarse_model, tmp_path):
    from napari_mcdet.io.writers import write_inbreast_xml

    root = tmp_path / "inbreast"
    (root / "AllDICOMs").mkdir(parents=True)
    (root / "AllXML").mkdir()
    for number, kind, seed in (("11111111", "malignant", 1), ("22222222", "benign", 2),
                               ("33333333", None, 3)):
        img, mask = _lesion_image(kind, seed)
        _write_dicom(root / "AllDICOMs" / f"{number}_abc_MG_L_CC_ANON.dcm", _to_uint16(img), 0.07)
        if kind is not None:
            write_inbreast_xml(root / "AllXML" / f"{number}.xml", mask)
    out = tmp_path / "report"
    rc = main(["evaluate", str(root), "--out", str(out), "--model", str(coarse_model),
               "--name", "tiny-inbreast"])
    assert rc == 0
    for name in ("table2.md", "table2.csv", "table4.md", "table4.csv", "froc.md", "roc.png",
                 "froc.png", "report.json"):
        assert (out / name).is_file(), name
    rep = json.loads((out / "report.json").read_text())
    assert len(rep["per_image"]) == 3
    assert rep["settings"]["cluster_classes"] == [2]
    aucs = rep["auc"]["coarse"]["tiny-inbreast"]
    assert set(aucs) == {"AUC_MCs", "AUC_mlg"}
    assert rep["froc"]["tiny-inbreast calcifications"]["n_images"] == 3
    # one image has no annotation: the image-level AUC is defined
    assert rep["image_auc"] is None or 0 <= rep["image_auc"] <= 1
    assert "tiny-inbreast AUC_MCs" in (out / "table2.md").read_text()


def test_evaluate_masks_folder(coarse_model, tmp_path):
    from skimage import io as skio

    from napari_mcdet.io.writers import write_mask

    root = tmp_path / "set"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name, kind, seed in (("a", "malignant", 4), ("b", None, 5)):
        img, mask = _lesion_image(kind, seed, shape=(500, 400), spacing=0.1)
        skio.imsave(root / "images" / f"{name}.png", _to_uint16(img), check_contrast=False)
        if kind is not None:
            write_mask(root / "masks" / f"{name}.png", mask)
    out = tmp_path / "report"
    assert main(["evaluate", str(root), "--out", str(out), "--model", str(coarse_model),
                 "--spacing", "0.1"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in rep["per_image"]] == ["a", "b"]
    assert rep["per_image"][0]["malignant_pixels"] > 0


def test_evaluate_minimias_subset(shared_data, coarse_model, tmp_path):
    out = tmp_path / "report"
    rc = main(["evaluate", str(shared_data / "mini-mias"), "--out", str(out), "--model",
               str(coarse_model), "--limit", "2"])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    # two calcification cases (mdb212 is left out: its Info.txt circle lies off the breast)
    # and the first two 'val' normals of the split shipped with the package
    from napari_mcdet.metrics.realsets import MINIMIAS_SPLIT, read_split

    normals = [n.removesuffix(".pgm") for n in read_split(MINIMIAS_SPLIT)["val"][:2]]
    assert [r["name"] for r in rep["per_image"]] == ["mdb209", "mdb213", *normals]
    assert rep["settings"]["patch_size"] == 64


def test_evaluate_refuses_to_score_without_normals(shared_data, tmp_path, capsys):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": [], "val": []}))
    rc = main(["evaluate", str(shared_data / "mini-mias"), "--out", str(tmp_path / "r"),
               "--split", str(split)])
    err = capsys.readouterr().err
    assert rc != 0 and "no normal image" in err and "--split" in err
    assert not (tmp_path / "r" / "report.json").exists()


def test_evaluate_names_missing_normals_of_the_split(shared_data, tmp_path, capsys):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": [], "val": ["mdb999.pgm"]}))
    rc = main(["evaluate", str(shared_data / "mini-mias"), "--out", str(tmp_path / "r"),
               "--split", str(split)])
    err = capsys.readouterr().err
    assert rc != 0 and "mdb999.pgm" in err and "missing" in err


def test_evaluate_mirror_detects_with_mirror_averaging(shared_data, coarse_model, tmp_path):
    """--mirror reaches detection (recorded per image and in the settings) and leaves the patch
    AUCs, which classify plain patches, as they are."""
    reports = {}
    for mirror in (False, True):
        out = tmp_path / f"report_{mirror}"
        extra = ["--mirror"] if mirror else []
        with pytest.warns(UserWarning, match="mcdet calibrate"):  # the model has no point
            assert main(["evaluate", str(shared_data / "mini-mias"), "--out", str(out),
                         "--model", str(coarse_model), "--limit", "1", *extra]) == 0
        reports[mirror] = json.loads((out / "report.json").read_text())
    plain, mirrored = reports[False], reports[True]
    # --limit 1: one calcification case and one normal
    assert [r["mirror"] for r in plain["per_image"]] == [False, False]
    assert [r["mirror"] for r in mirrored["per_image"]] == [True, True]
    assert mirrored["settings"]["detect_options"] == {"mirror": True}
    assert plain["settings"]["detect_options"] == {}
    assert plain["patch_counts"] == mirrored["patch_counts"]
    assert (plain["per_image"][0]["max_probability"]
            != mirrored["per_image"][0]["max_probability"])


def test_evaluate_patch_size_fixes_the_evaluation_patches(shared_data, coarse_model, tmp_path):
    """--patch-size cuts the evaluation patches at the given size whatever the model's own:
    larger patches tile the same images with fewer patches, and the report records both sizes."""
    reports = {}
    for size in (None, 128):
        out = tmp_path / f"report_{size}"
        extra = [] if size is None else ["--patch-size", str(size)]
        assert main(["evaluate", str(shared_data / "mini-mias"), "--out", str(out), "--model",
                     str(coarse_model), "--limit", "2", *extra]) == 0
        reports[size] = json.loads((out / "report.json").read_text())
    own, fixed = reports[None], reports[128]
    assert (own["settings"]["patch_size"], own["settings"]["model_patch_size"]) == (64, 64)
    assert (fixed["settings"]["patch_size"], fixed["settings"]["model_patch_size"]) == (128, 64)
    n_own = sum(r["n_patches"] for r in own["per_image"])
    n_fixed = sum(r["n_patches"] for r in fixed["per_image"])
    assert 0 < n_fixed < n_own
    assert sum(fixed["patch_counts"].values()) == n_fixed


def test_evaluate_rejects_a_tiny_patch_size(shared_data, tmp_path, capsys):
    rc = main(["evaluate", str(shared_data / "mini-mias"), "--out", str(tmp_path / "r"),
               "--patch-size", "4"])
    assert rc != 0
    err = capsys.readouterr().err
    assert "--patch-size 4" in err and "at least 16" in err
    assert not (tmp_path / "r" / "report.json").exists()


def test_evaluate_unknown_layout(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "cannot tell the layout" in capsys.readouterr().err


def _masks_set_with_a_broken_normal(root):
    """images/ + masks/: ``a`` annotated, ``b`` normal, ``c`` a normal that cannot be read
    (any reading of it fails, naming it)."""
    from skimage import io as skio

    from napari_mcdet.io.writers import write_mask

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name, kind, seed in (("a", "malignant", 4), ("b", None, 5)):
        img, mask = _lesion_image(kind, seed, shape=(500, 400), spacing=0.1)
        skio.imsave(root / "images" / f"{name}.png", _to_uint16(img), check_contrast=False)
        if kind is not None:
            write_mask(root / "masks" / f"{name}.png", mask)
    (root / "images" / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    return root


@pytest.mark.parametrize(("flag", "value", "words"), [
    ("--limit", "-1", "--limit must be at least 1"),
    ("--limit", "0", "--limit must be at least 1"),
    ("--patch-size", "100000", "--patch-size 100000 is too large"),
])
def test_evaluate_refuses_bad_flags_before_reading_images(coarse_model, tmp_path, capsys,
                                                          flag, value, words):
    root = _masks_set_with_a_broken_normal(tmp_path / "set")
    assert main(["evaluate", str(root), "--out", str(tmp_path / "r"), "--model",
                 str(coarse_model), "--spacing", "0.1", flag, value]) == 2
    err = capsys.readouterr().err
    assert words in err and "c.png" not in err


def test_evaluate_checks_the_model_before_reading_images(tmp_path, capsys):
    root = _masks_set_with_a_broken_normal(tmp_path / "set")
    assert main(["evaluate", str(root), "--out", str(tmp_path / "r"), "--model",
                 str(tmp_path / "gone.safetensors"), "--spacing", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "no such checkpoint" in err and "gone.safetensors" in err and "c.png" not in err


def test_evaluate_limit_reads_only_the_images_it_scores(coarse_model, tmp_path):
    """--limit 1 scores a and b; c, which cannot be read, is never read."""
    root = _masks_set_with_a_broken_normal(tmp_path / "set")
    out = tmp_path / "report"
    assert main(["evaluate", str(root), "--out", str(out), "--model", str(coarse_model),
                 "--spacing", "0.1", "--limit", "1"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in rep["per_image"]] == ["a", "b"]


def test_inbreast_cases_are_read_one_at_a_time(tmp_path):
    """Listing an INbreast folder reads the XML files only; each case reads its DICOM when
    loaded, and a case holds no image."""
    from napari_mcdet.infer.evaluate import inbreast_dataset, limit_cases
    from napari_mcdet.io.writers import write_inbreast_xml

    root = tmp_path / "inbreast"
    (root / "AllDICOMs").mkdir(parents=True)
    (root / "AllXML").mkdir()
    img, mask = _lesion_image("malignant", 1)
    _write_dicom(root / "AllDICOMs" / "11111111_abc_MG_L_CC_ANON.dcm", _to_uint16(img), 0.07)
    write_inbreast_xml(root / "AllXML" / "11111111.xml", mask)
    for number in ("22222222", "33333333"):
        (root / "AllDICOMs" / f"{number}_abc_MG_R_CC_ANON.dcm").write_bytes(b"not a DICOM")
    cases = inbreast_dataset(root)
    assert [(c.name, c.is_annotated(), c.mammogram) for c in cases] == [
        ("11111111", True, None), ("22222222", False, None), ("33333333", False, None)]
    chosen = limit_cases(cases, 1)
    assert [c.name for c in chosen] == ["11111111", "22222222"]
    first = chosen[0].load()
    assert first.mammogram.shape == first.labels.shape == mask.shape
    assert first.labels.any() and chosen[0].mammogram is None
    with pytest.raises(ValueError, match="22222222"):
        chosen[1].load()
