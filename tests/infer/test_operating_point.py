"""A model's stored operating point: damaged is an error naming the file, never "missing"."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import napari_mcdet as mc
from napari_mcdet.infer.detect import operating_point, operating_point_key
from napari_mcdet.infer.domain import DomainWarning
from napari_mcdet.models.checkpoint import load_model, update_metadata

# the coarse test model is trained at 0.8 mm: the domain warning is expected throughout
pytestmark = pytest.mark.filterwarnings("ignore::napari_mcdet.infer.domain.DomainWarning")


@pytest.fixture(scope="module")
def normal(shared_data):
    return mc.read_mammogram(shared_data / "mini-mias" / "mdb003.pgm")


def _with_point(model, tmp_path, point, *, mirror=False):
    return update_metadata(model, {operating_point_key(mirror=mirror): point},
                           dst=tmp_path / "stored.safetensors")


@pytest.mark.parametrize("bad", [math.nan, -0.5, 1e9, "high", None, True])
def test_a_damaged_threshold_is_an_error_naming_the_file(coarse_model, normal, tmp_path, bad):
    path = _with_point(coarse_model, tmp_path, {"benign": bad, "malignant": 0.5})
    with pytest.raises(ValueError, match=r"stored\.safetensors: its operating_point holds "
                                         r"benign=.*damaged.*mcdet calibrate"):
        mc.detect(normal, path, engine="eager")
    # a fixed threshold does not read the point, and still runs
    assert mc.detect(normal, path, threshold=0.5, engine="eager").thresholds["benign"] == 0.5


def test_a_point_that_is_not_a_mapping_is_an_error_and_none_stored_is_none(coarse_model,
                                                                          tmp_path):
    meta = load_model(_with_point(coarse_model, tmp_path, "high")).metadata
    with pytest.raises(ValueError, match="not an operating point"):
        operating_point(meta)
    assert operating_point({}) is None and operating_point(meta, mirror=True) is None


def test_a_damaged_mirror_point_is_not_replaced_by_the_plain_one(coarse_model, normal,
                                                                 tmp_path):
    plain = _with_point(coarse_model, tmp_path, {"benign": 0.5, "malignant": 0.5})
    both = update_metadata(plain, {operating_point_key(mirror=True): {"benign": -1,
                                                                      "malignant": 0.5}},
                           dst=tmp_path / "both.safetensors")
    with pytest.raises(ValueError, match=r"both\.safetensors.*--mirror"):
        mc.detect(normal, both, mirror=True, engine="eager")


def test_a_threshold_of_1_warns_that_nothing_can_pass(coarse_model, normal, tmp_path):
    path = _with_point(coarse_model, tmp_path, {"benign": 1.0, "malignant": 0.5})
    with pytest.warns(UserWarning, match=r"benign threshold is 1\.0, which no probability "
                                         r"exceeds"):
        det = mc.detect(normal, path, engine="eager")
    assert det.thresholds == {"benign": 1.0, "malignant": 0.5}
    assert not np.any(det.labels == 1)
    # an ordinary point gives no such warning
    ok = _with_point(coarse_model, tmp_path, {"benign": 0.9, "malignant": 0.9})
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", DomainWarning)
        mc.detect(normal, ok, engine="eager")
