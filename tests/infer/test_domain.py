"""The model's training domain: recorded in the bundled model, read back, and one warning from
``detect`` on an image from elsewhere (real tiny networks, real detection)."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

from napari_mcdet.infer import domain
from napari_mcdet.infer.detect import detect
from napari_mcdet.infer.domain import (
    Domain,
    DomainWarning,
    domain_message,
    image_domain,
    image_modality,
    model_domain,
)
from napari_mcdet.mammogram import Mammogram
from napari_mcdet.models.checkpoint import (
    TRAINING_DOMAIN_KEY,
    default_model_path,
    load_model,
    read_checkpoint,
    update_metadata,
)

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    # the tiny networks have no operating point: detect says so, which is not under test here
    pytest.mark.filterwarnings("ignore:.*no calibrated operating point:UserWarning"),
]

FILM = {"modality": "film", "pixel_spacing": [0.2, 0.2], "data": "mini-MIAS normals"}


@pytest.fixture
def film_model(tiny_checkpoint, tmp_path):
    """The tiny network with the bundled model's training domain (a copy: a path of its own, so
    the once-per-process warning is this test's)."""
    path = shutil.copy(tiny_checkpoint, tmp_path / "film.safetensors")
    update_metadata(path, {TRAINING_DOMAIN_KEY: FILM})
    return load_model(path)


def _phantom(spacing: float, **metadata) -> Mammogram:
    from napari_mcdet.synth.phantom import breast_phantom

    shape = (int(round(40 / spacing)), int(round(32 / spacing)))  # 40 x 32 mm whatever the grid
    m = breast_phantom(shape, pixel_spacing=spacing, seed=0)
    return Mammogram(m.pixels, pixel_spacing=m.pixel_spacing, metadata=metadata)


def test_the_bundled_model_records_its_training_domain():
    if not default_model_path().is_file():
        pytest.skip("no bundled model")
    _, meta = read_checkpoint(default_model_path())
    assert meta[TRAINING_DOMAIN_KEY] == FILM
    found = model_domain(load_model())
    assert found == Domain((0.2, 0.2), "film", "mini-MIAS normals")
    assert found.describe() == "film at 0.2 mm (mini-MIAS normals)"


def test_a_model_without_the_key_falls_back_to_its_spacing(tiny_checkpoint):
    model = load_model(tiny_checkpoint)
    assert TRAINING_DOMAIN_KEY not in model.metadata
    assert model_domain(model) == Domain((0.2, 0.2))
    assert domain_message(_phantom(0.2), model) is None
    assert "0.1 mm" in domain_message(_phantom(0.1), model)


def test_the_message_names_both_domains_and_the_remedy(film_model):
    assert domain_message(_phantom(0.2), film_model) is None
    assert domain_message(_phantom(0.22), film_model) is None  # within the tolerance
    text = domain_message(_phantom(0.1), film_model)
    assert "\n" not in text
    assert "(0.1 mm)" in text and "film at 0.2 mm (mini-MIAS normals)" in text
    assert "finer" in text and "mcdet calibrate" in text and "mcdet train" in text
    assert "coarser" in domain_message(_phantom(0.4), film_model)
    digital = _phantom(0.2, SOPClassUID="1.2.840.10008.5.1.4.1.1.1.2")
    assert "digital instead of film" in domain_message(digital, film_model)


def test_modality_from_the_image_metadata():
    assert image_modality({"dataset": "mini-mias"}) == "film"
    assert image_modality({"PresentationIntentType": "FOR PRESENTATION"}) == "digital"
    # a secondary capture (a scanned film as CBIS-DDSM stores it, or a screenshot): unknown
    assert image_modality({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.7"}) is None
    assert image_domain(_phantom(0.1)) == Domain((0.1, 0.1))


def test_detect_warns_once_per_model_and_domain(film_model, tiny_checkpoint):
    fine = _phantom(0.1)
    with pytest.warns(DomainWarning, match=r"this image \(0.1 mm\) is outside"):
        detect(fine, film_model, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DomainWarning)
        detect(fine, film_model, device="cpu")  # the same pair: said once
        detect(_phantom(0.2), film_model, device="cpu")  # in the domain: nothing to say
    with pytest.warns(DomainWarning, match=r"0.07 mm"):
        detect(_phantom(0.07), film_model, device="cpu")  # another domain: said again


def test_the_warning_is_kept_per_model(film_model, tmp_path):
    other = load_model(shutil.copy(film_model.metadata["path"], tmp_path / "other.safetensors"))
    fine = _phantom(0.1)
    with pytest.warns(DomainWarning):
        domain.warn_out_of_domain(fine, film_model)
    with pytest.warns(DomainWarning):
        domain.warn_out_of_domain(fine, other)


def test_the_note_says_in_or_out_and_how_much_is_known(film_model, tiny_checkpoint):
    from napari_mcdet.infer.domain import domain_note, showcase_spacings

    assert domain_note(_phantom(0.2), film_model) == (
        "this image (0.2 mm) matches the pixel spacing of the model's training domain, film at "
        "0.2 mm (mini-MIAS normals)")  # a phantom: its modality is unknown
    film = _phantom(0.2, dataset="mini-mias")
    assert domain_note(film, film_model) == (
        "this image (film at 0.2 mm) is in the model's training domain, film at 0.2 mm "
        "(mini-MIAS normals)")
    assert domain_note(_phantom(0.1), film_model) == domain_message(_phantom(0.1), film_model)
    assert showcase_spacings(film_model) == (0.2, 0.1)
    assert showcase_spacings(load_model(tiny_checkpoint)) == (0.2, 0.1)


def test_the_once_rule_is_shared_with_callers_that_show_it_themselves(film_model):
    """A window takes the warning to show it its own way; detect then stays quiet."""
    from napari_mcdet.infer.domain import take_domain_warning

    fine = _phantom(0.1)
    assert take_domain_warning(_phantom(0.2), film_model) is None
    assert "outside" in take_domain_warning(fine, film_model)
    assert take_domain_warning(fine, film_model) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", DomainWarning)
        assert "outside" in domain.warn_out_of_domain(fine, film_model)  # said, not warned


def test_recovery_summary_under_the_strict_rule():
    """Marks hit calcifications within 0.5 mm, clusters hit lesions within 2 mm."""
    from napari_mcdet.infer.detect import Detection
    from napari_mcdet.infer.recovery import recovery_summary

    truth = np.zeros((200, 200), np.uint8)
    for r, c in ((50, 50), (50, 60), (60, 55)):  # lesion 1: three malignant calcifications
        truth[r:r + 2, c:c + 2] = 2
    truth[150:152, 150:152] = 1  # lesion 2: one benign calcification
    lesions = [{"kind": "malignant", "bbox": (40, 40, 70, 70)},
               {"kind": "benign", "bbox": (145, 145, 160, 160)}]

    def detection(marks, clusters):
        return Detection(
            probabilities=np.zeros((2, 200, 200), np.float32),
            labels=np.zeros((200, 200), np.uint8),
            calcifications=[{"centroid": m} for m in marks],
            clusters=[{"centroid": c} for c in clusters],
            tile_scores=[], pixel_spacing=(0.1, 0.1), thresholds={})

    # a mark on calcification 1, one 0.4 mm from calcification 2, one 1 mm from anything;
    # a cluster 1.5 mm from lesion 1's hull, another far from both lesions
    det = detection([(50.5, 50.5), (50.5, 64.5), (100, 100)], [(55, 77), (120, 20)])
    rec = recovery_summary(det, truth, lesions=lesions)
    assert (rec.calcifications_found, rec.calcifications_total) == (2, 4)
    assert (rec.lesions_found, rec.lesions_total) == (1, 2)
    assert (rec.false_marks, rec.false_clusters) == (1, 1)
    assert rec.lesions == [
        {"kind": "malignant", "found": True, "calcifications_found": 2,
         "calcifications_total": 3},
        {"kind": "benign", "found": False, "calcifications_found": 0,
         "calcifications_total": 1}]
    assert rec.line() == ("lesions found 1 of 2, calcifications 2 of 4, 1 mark and 1 cluster "
                          "away from any truth")
    # lesion-level truth (annotated regions): each region is a lesion, no calcification count
    regions = recovery_summary(det, truth)
    assert regions.calcifications_total is None and regions.lesions_total == 4
    assert regions.line().startswith("lesions found 1 of 4, 1 mark and 1 cluster")
    with pytest.raises(ValueError, match="same image grid"):
        recovery_summary(det, truth[:100])
