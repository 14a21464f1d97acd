"""The command line on bad input: every problem found before the long work where it can be,
reported in one line naming the file, the problem and the fix, with a non-zero exit status;
``--debug`` shows the traceback instead. A random tiny model at 0.8 mm keeps detection fast."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from napari_mcdet.cli import _report, main


@pytest.fixture(scope="module")
def phantom_png(tmp_path_factory):
    from skimage import io as skio

    from napari_mcdet.synth.phantom import breast_phantom

    ph = breast_phantom((200, 160), pixel_spacing=0.4, seed=0)
    img = np.clip(ph.pixels / ph.pixels.max() * 65535, 0, 65535).astype(np.uint16)
    path = tmp_path_factory.mktemp("img") / "phantom.png"
    skio.imsave(path, img, check_contrast=False)
    return path


def _detect(*argv, model):
    return main(["detect", *map(str, argv), "--model", str(model), "--format", "npy",
                 "--no-overlay"])


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_same_names_from_different_folders_keep_every_result(phantom_png, coarse_model,
                                                             tmp_path, capsys):
    paths = []
    for rel in ("x/a.png", "y/a.png", "a_1.png"):
        path = tmp_path / rel
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(phantom_png.read_bytes())
        paths.append(path)
    out = tmp_path / "out"
    assert _detect(*paths, "--out", out, "--spacing", "0.4", model=coarse_model) == 0
    lines = capsys.readouterr().out.splitlines()
    # x/a -> a, y/a -> a_2 (a_1 belongs to the third input), a_1 -> a_1
    assert [line.rsplit("/", 1)[-1] for line in lines] == ["a_*", "a_2_*", "a_1_*"]
    assert sorted(p.name for p in out.glob("*_detection.json")) == [
        "a_1_detection.json", "a_2_detection.json", "a_detection.json"]


@pytest.mark.parametrize("case", ["file", "under_file", "unwritable"])
def test_bad_out_is_refused_before_any_detection(phantom_png, coarse_model, tmp_path, capsys,
                                                 case):
    blocker = tmp_path / "results.txt"
    blocker.write_text("not a folder\n")
    if case == "file":
        out, expect = blocker, "is a file, not a folder"
    elif case == "under_file":
        out, expect = blocker / "sub", "lies under"
    else:
        if os.geteuid() != 0:
            out = tmp_path / "ro"
            out.mkdir()
            out.chmod(0o555)
        elif os.path.isdir("/proc/self"):
            out = "/proc/self/mcdet-out"  # root writes anywhere but here
        else:
            pytest.skip("no unwritable folder to test with")
        expect = "cannot be written"
    rc = _detect(phantom_png, "--out", out, "--spacing", "0.4", model=coarse_model)
    captured = capsys.readouterr()
    assert rc == 2
    line = _one_line_error(captured.err)
    assert f"--out {out}" in line and expect in line
    assert "tile" not in captured.err and captured.out == ""  # no detection ran
    assert blocker.read_text() == "not a folder\n"


def test_spacing_outside_the_mammogram_range_needs_force(phantom_png, coarse_model, tmp_path,
                                                          capsys):
    rc = _detect(phantom_png, "--out", tmp_path / "o", "--spacing", "50", model=coarse_model)
    line = _one_line_error(capsys.readouterr().err)
    assert rc == 2 and "--spacing 50 mm is outside 0.01-1 mm" in line
    assert "--spacing 0.05" in line and "--force-spacing" in line
    for bad in ("0", "-0.1", "nan", "inf"):
        assert _detect(phantom_png, "--out", tmp_path / "o", "--spacing", bad, "--force-spacing",
                       model=coarse_model) == 2
        assert "positive number of mm" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    rc = _detect(phantom_png, "--out", tmp_path / "o", "--spacing", "1.5", "--force-spacing",
                 model=coarse_model)
    assert rc == 0 and (tmp_path / "o" / "phantom_detection.json").is_file()


def test_folder_given_as_image_is_named_as_a_folder(coarse_model, tmp_path, capsys):
    rc = _detect(tmp_path, "--out", tmp_path / "o", model=coarse_model)
    line = _one_line_error(capsys.readouterr().err)
    assert rc == 2 and "a folder, not an image file" in line and "no such image" not in line


def test_debug_shows_the_traceback(coarse_model, tmp_path):
    with pytest.raises(IsADirectoryError):
        main(["--debug", "detect", str(tmp_path), "--out", str(tmp_path / "o")])
    with pytest.raises(IsADirectoryError):
        main(["detect", str(tmp_path), "--out", str(tmp_path / "o"), "--debug"])


def test_yaml_error_is_one_line_naming_the_config(tmp_path, capsys):
    import yaml

    config = tmp_path / "train.yaml"
    config.write_text("negatives: [a\nsteps: : 3\n")
    assert main(["train", str(config)]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "not valid YAML" in line and str(config) in line and "--debug" in line
    with pytest.raises(yaml.YAMLError):
        main(["train", str(config), "--debug"])


def test_corrupt_image_is_one_line_naming_it(coarse_model, tmp_path, capsys):
    bad = tmp_path / "scan.png"
    data = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + bytes(40)
    bad.write_bytes(data)
    rc = _detect(bad, "--out", tmp_path / "o", "--spacing", "0.1", model=coarse_model)
    line = _one_line_error(capsys.readouterr().err)
    assert rc == 2 and str(bad) in line


def test_checkpoint_problem_is_one_line(phantom_png, tmp_path, capsys):
    legacy = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, legacy)
    rc = _detect(phantom_png, "--out", tmp_path / "o", "--spacing", "0.4", model=legacy)
    line = _one_line_error(capsys.readouterr().err)
    assert rc == 2 and str(legacy) in line and "never unpickles" in line


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as err:  # noqa: BLE001 - a real raised exception, with its traceback
        return err


@pytest.mark.parametrize("exc,words", [
    (MemoryError(), "not enough memory"),
    (OverflowError("cannot convert float infinity to integer"), "too large or infinite"),
    (IndexError("array index out of range"), "unexpected structure"),
    (AttributeError("'str' object has no attribute 'get'"), "unexpected structure"),
    (RuntimeError("Unable to decode as exceptions were raised by all available plugins:\n"
                  "  pillow: broken data stream"), "could not be decoded"),
    (RuntimeError("DataLoader worker (pid 123) is killed by signal: Killed."),
     "data-loading worker stopped"),
    (ImportError('no decoder: install one with: pip install "napari-mcdet[jpeg]"'),
     "napari-mcdet[jpeg]"),
])
def test_decoder_and_structure_errors_read_as_one_line(exc, words):
    from pathlib import Path

    line = _report("detect", _raised(exc), Path("case/img.dcm"))
    assert "\n" not in line and line.startswith("mcdet detect: error: case/img.dcm: ")
    assert words in line and "--debug" in line


def test_another_runtime_error_is_not_called_a_decoding_error():
    from napari_mcdet.cli import _problem

    assert _problem(RuntimeError("CUDA out of memory in the optimizer")) is None


def test_pillow_bomb_error_reads_as_one_line():
    from pathlib import Path

    from PIL.Image import DecompressionBombError

    line = _report("detect", _raised(DecompressionBombError("Image size (1 pixels) exceeds")),
                   Path("big.png"))
    assert line.startswith("mcdet detect: error: big.png: ") and "safety limit" in line


def test_evaluate_checks_out_before_scoring(tmp_path, capsys):
    (tmp_path / "set" / "images").mkdir(parents=True)
    blocker = tmp_path / "report"
    blocker.write_text("x")
    assert main(["evaluate", str(tmp_path / "set"), "--out", str(blocker)]) == 2
    assert "is a file, not a folder" in _one_line_error(capsys.readouterr().err)
    assert main(["evaluate", str(tmp_path / "set"), "--out", str(tmp_path / "r"), "--spacing",
                 "70"]) == 2
    assert "--force-spacing" in capsys.readouterr().err


# -- a batch: every input checked before the first detection ------------------------------------
def _phantom_dicom(path, phantom_png, *, truncate=False, **tags):
    """The phantom PNG as a small MG DICOM with ``tags`` (e.g. ``PixelSpacing``)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    from skimage import io as skio

    arr = skio.imread(phantom_png).astype(np.uint16)
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
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = arr.tobytes()
    ds.save_as(path, enforce_file_format=True)
    if truncate:
        path.write_bytes(path.read_bytes()[:-5000])
    return path


def test_a_file_without_spacing_stops_the_batch_before_the_first_detection(
        phantom_png, coarse_model, tmp_path, capsys):
    a = _phantom_dicom(tmp_path / "a.dcm", phantom_png, PixelSpacing=[0.4, 0.4])
    b = _phantom_dicom(tmp_path / "b.dcm", phantom_png)
    c = _phantom_dicom(tmp_path / "c.dcm", phantom_png, PixelSpacing=[0.4, 0.4])
    out = tmp_path / "out"
    rc = _detect(a, b, c, "--out", out, model=coarse_model)
    captured = capsys.readouterr()
    line = _one_line_error(captured.err)
    assert rc == 2 and captured.out == "" and not out.exists()  # a was not detected first
    assert f"{b}: no PixelSpacing or ImagerPixelSpacing tag" in line and "--spacing" in line
    assert str(a) not in line and str(c) not in line
    # a header that cannot be read stops the batch as well, even with --spacing
    _phantom_dicom(c, phantom_png, truncate=True, PixelSpacing=[0.4, 0.4])
    rc = _detect(a, b, c, "--out", out, "--spacing", "0.4", model=coarse_model)
    captured = capsys.readouterr()
    line = _one_line_error(captured.err)
    assert rc == 2 and captured.out == "" and not out.exists()
    assert str(c) in line and "truncated" in line


@pytest.mark.parametrize("spacing, words", [
    (["0", "0"], "invalid PixelSpacing 0.0\\0.0: not a pixel size"),
    (["0.07", "0.07", "0.07"], "invalid PixelSpacing 0.07\\0.07\\0.07: 3 values, not two"),
])
def test_an_invalid_dicom_spacing_is_one_message(phantom_png, coarse_model, tmp_path, capsys,
                                                 spacing, words):
    path = _phantom_dicom(tmp_path / "scan.dcm", phantom_png, PixelSpacing=spacing)
    rc = _detect(path, "--out", tmp_path / "out", model=coarse_model)
    err = capsys.readouterr().err
    line = _one_line_error(err)
    assert rc == 2 and err.strip() == line  # no warning that contradicts the error
    assert f"{path}: {words}" in line and "--spacing MM" in line
    assert "pixel_spacing" not in line and "has no pixel spacing" not in line


def test_an_option_error_names_the_option_not_the_image(phantom_png, coarse_model, tmp_path,
                                                        capsys):
    rc = _detect(phantom_png, "--out", tmp_path / "o", "--spacing", "0.4", "--device", "cuda:9",
                 model=coarse_model)
    line = _one_line_error(capsys.readouterr().err)
    assert rc == 2 and "--device cuda:9 is not available here" in line and "cpu" in line
    assert phantom_png.name not in line
    rc = _detect(phantom_png, "--out", tmp_path / "o", "--spacing", "0.4", "--tile", "100",
                 model=coarse_model)
    line = _one_line_error(capsys.readouterr().err)
    assert rc == 2 and "--tile 100 is not a multiple of 16" in line
    assert phantom_png.name not in line and not (tmp_path / "o").exists()


def test_a_rerun_removes_the_earlier_runs_other_outputs_and_says_so(phantom_png, coarse_model,
                                                                      tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["detect", str(phantom_png), "--out", str(out), "--model", str(coarse_model),
                 "--spacing", "0.4"]) == 0
    assert (out / "phantom_probabilities.tif").is_file()
    assert (out / "phantom_overlay.png").is_file()
    capsys.readouterr()
    with pytest.warns(UserWarning, match="removed phantom_probabilities.tif, "
                                         "phantom_overlay.png, left by an earlier run"):
        assert _detect(phantom_png, "--out", out, "--spacing", "0.4", model=coarse_model) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"phantom_{kind}" for kind in (
        "probabilities.npy", "labels.png", "calcifications.csv", "calcifications.json",
        "clusters.csv", "clusters.json", "detection.json"))


def test_warnings_print_as_one_plain_line_after_the_progress_bar(phantom_png, coarse_model,
                                                                  tmp_path):
    """A real process (pytest records warnings in its own): the coarse 0.8 mm model on a 0.4 mm
    image warns that the image lies outside its training domain, from inside the tile loop."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "napari_mcdet", "detect", str(phantom_png), "--out",
         str(tmp_path / "out"), "--model", str(coarse_model), "--spacing", "0.4",
         "--format", "npy", "--no-overlay"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "default"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()  # the bar's redraws (\r) split too
    warned = [line for line in lines if "warning" in line.lower()]
    assert warned and all(line.startswith("mcdet detect: warning: ") for line in warned), lines
    assert "outside the model's training domain" in proc.stderr
    assert ".py:" not in proc.stderr and "Warning:" not in proc.stderr
    # after the bar's last line, not inside it
    assert proc.stderr.index("mcdet detect: warning:") > proc.stderr.rindex("tile")
    assert "0.4 mm pixels (--spacing)" in proc.stdout
    assert "regions (those holding breast)" in proc.stdout and "tiles run" not in proc.stdout


def test_each_line_says_the_spacing_and_whether_it_was_assumed(shared_data, phantom_png,
                                                                coarse_model, tmp_path, capsys):
    dicom = _phantom_dicom(tmp_path / "scan.dcm", phantom_png, PixelSpacing=[0.4, 0.4])
    mias = shared_data / "mini-mias" / "mdb003.pgm"
    assert _detect(dicom, mias, "--out", tmp_path / "out", "--threshold", "0.5",
                   model=coarse_model) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("scan.dcm: 0.4 mm pixels (PixelSpacing); ")
    assert second.startswith("mdb003.pgm: 0.2 mm pixels assumed (mini-MIAS); ")
    for line in (first, second):
        assert "analysed " in line and " regions (those holding breast)" in line
