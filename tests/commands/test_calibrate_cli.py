"""``mcdet calibrate``: options, inputs and the destination are checked before any inference,
in the flags' words; abnormal images are refused; a linked model is calibrated where it lies."""

from __future__ import annotations

import shutil

import pytest

from napari_mcdet.cli import main
from napari_mcdet.infer.detect import operating_point
from napari_mcdet.models.checkpoint import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _error(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.fixture
def model(coarse_model, tmp_path):
    """A copy of the coarse model that a test may rewrite."""
    return shutil.copy(coarse_model, tmp_path / "model.safetensors")


# a normal that does not exist: an option refused before it is named was checked first
MISSING = "missing-normal.pgm"


@pytest.mark.parametrize("flags, words", [
    (["--target-fp", "-1"], "--target-fp -1.0 is not a number of false clusters"),
    (["--target-fp", "nan"], "--target-fp nan is not a number of false clusters"),
    (["--target-fp", "inf"], "--target-fp inf is not a number of false clusters"),
    (["--gate", "--miss-rate", "2"], "--miss-rate 2.0 is not a share"),
    (["--miss-rate", "-0.5"], "--miss-rate -0.5 is not a share"),
    (["--spacing", "100"], "--spacing 100 mm is outside 0.01-1 mm"),
    (["--spacing", "3"], "--spacing 3 mm is outside 0.01-1 mm"),
    (["--spacing", "0"], "--spacing 0.0 is not a pixel size"),
])
def test_options_are_refused_first_in_the_flags_words(model, tmp_path, capsys, flags, words):
    assert main(["calibrate", str(model), MISSING, *flags]) == 2
    err = _error(capsys)
    assert words in err and "target_fp" not in err and MISSING not in err
    assert operating_point(load_model(model).metadata) is None


def test_force_spacing_accepts_a_spacing_outside_the_range(model, capsys):
    # accepted, so the next check (the missing normal) is the one that fails
    assert main(["calibrate", str(model), MISSING, "--spacing", "3", "--force-spacing"]) == 2
    assert MISSING in _error(capsys)


def test_an_out_that_is_a_folder_or_under_a_file_is_refused_first(model, tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    assert main(["calibrate", str(model), MISSING, "--out", str(folder)]) == 2
    err = _error(capsys)
    assert f"--out {folder} is a folder" in err and "Errno" not in err
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["calibrate", str(model), MISSING, "--out", str(afile / "c.safetensors")]) == 2
    err = _error(capsys)
    assert f"--out {afile / 'c.safetensors'}" in err and "which is a file" in err
    assert "Errno" not in err


def test_images_the_data_set_lists_as_abnormal_are_refused(shared_data, model, capsys):
    normal = shared_data / "mini-mias" / "mdb003.pgm"
    calc = shared_data / "mini-mias" / "mdb209.pgm"
    assert main(["calibrate", str(model), str(normal), str(calc)]) == 2
    err = _error(capsys)
    assert "mdb209.pgm (CALC M)" in err and "listed as abnormal" in err
    assert "mdb003" not in err
    assert operating_point(load_model(model).metadata) is None


def test_an_inbreast_image_with_a_finding_is_refused(shared_data, model, tmp_path, capsys):
    from napari_mcdet.io.inbreast import read_inbreast_csv

    # the dataset's layout: the table beside AllDICOMs/; the file is never read
    shutil.copy(shared_data / "inbreast" / "INbreast.csv", tmp_path)
    (tmp_path / "AllDICOMs").mkdir()
    rows = read_inbreast_csv(tmp_path / "INbreast.csv")
    abnormal = next(r for r in rows if r["birads"] not in ("1", None))
    image = tmp_path / "AllDICOMs" / f"{abnormal['file_name']}_x_MG_R_CC_ANON.dcm"
    image.write_bytes(b"")
    assert main(["calibrate", str(model), str(image)]) == 2
    assert f"(BI-RADS {abnormal['birads']})" in _error(capsys)


def test_fewer_than_20_normals_warn(coarse_model):
    from napari_mcdet.infer.calibrate import calibrate
    from napari_mcdet.synth.phantom import breast_phantom

    normal = breast_phantom((400, 300), pixel_spacing=0.2, seed=3)
    with pytest.warns(UserWarning, match="calibrating on 1 normal image: .* at least 20"):
        calibrate(load_model(coarse_model), [normal], gate=None)


@pytest.mark.filterwarnings("ignore:calibrating on 1 normal image")
def test_a_linked_model_is_calibrated_where_the_link_points(shared_data, model, tmp_path,
                                                            capsys):
    link = tmp_path / "current.safetensors"
    link.symlink_to(model)
    normal = shared_data / "mini-mias" / "mdb003.pgm"
    assert main(["calibrate", str(link), str(normal), "--target-fp", "1"]) == 0
    assert link.is_symlink() and link.resolve() == model.resolve()
    assert operating_point(load_model(model).metadata) is not None
    assert f"{link} is a link to {model.resolve()}" in capsys.readouterr().out
