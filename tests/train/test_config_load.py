"""Reading a training configuration: a broken file is named in the error."""

from __future__ import annotations

import pytest
import yaml

from napari_mcdet.train.config import TrainConfig


def test_a_yaml_error_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("negatives: [a\nsteps: : 3\n")
    with pytest.raises(yaml.YAMLError) as err:
        TrainConfig.load(bad)
    assert f'in "{bad}", line 2' in str(err.value) and "<unicode string>" not in str(err.value)


def test_a_json_error_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": 3,\n "lr": }\n')
    with pytest.raises(ValueError, match=rf"{bad.name} is not valid JSON at line 2"):
        TrainConfig.load(bad)


def test_mcdet_average_refresh_bn_names_the_broken_config(coarse_model, tmp_path, capsys):
    from napari_mcdet.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("negatives: [a\nsteps: : 3\n")
    out = tmp_path / "avg.safetensors"
    assert main(["average", str(coarse_model), str(coarse_model), "--out", str(out),
                 "--refresh-bn", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(bad) in err and "<unicode string>" not in err
    assert not out.exists()
