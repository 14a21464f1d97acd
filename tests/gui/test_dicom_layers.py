"""DICOM SEG and TID 1500 SR in napari: the reader, Save as DICOM in the Detect and Annotations
panels, and the Score panel on SEG / SR layers. Real viewer, real files, the bundled model."""

from __future__ import annotations

import importlib.util
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from dicom_files import dciodvfy_errors, write_ffdm
from scipy import ndimage

from napari_mcdet.gui._layers import TRUTH_COLOR, TRUTH_KEY
from napari_mcdet.infer.export import calcification_columns, cluster_columns

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SPACING = 0.2


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """An FFDM at 0.2 mm, the bundled model's detection on it, its SEG + SR beside it, and the
    phantom's ground truth."""
    from napari_mcdet.infer.detect import detect
    from napari_mcdet.infer.export_dicom import write_detection_dicom
    from napari_mcdet.io.images import read_mammogram
    from napari_mcdet.models.checkpoint import load_model
    from napari_mcdet.synth.samples import phantom_with_lesions

    folder = tmp_path_factory.mktemp("study")
    image = write_ffdm(folder / "mammo.dcm", pixel_spacing=SPACING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det = detect(read_mammogram(image), load_model(None))
    paths = write_detection_dicom(det, image, folder, "mammo")
    _, truth, _ = phantom_with_lesions(pixel_spacing=SPACING)
    return {"folder": folder, "image": image, "det": det, "truth": np.asarray(truth),
            **paths}


def _open(viewer, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return viewer.open(str(path), plugin="napari-mcdet")


def test_files_are_valid_dicom(study):
    assert len(study["det"].calcifications) > 0 and len(study["det"].clusters) > 0
    assert dciodvfy_errors(study["seg"]) == []
    assert dciodvfy_errors(study["sr"]) == []


def test_reader_opens_seg_and_sr_on_their_image(make_napari_viewer, study):
    det = study["det"]
    viewer = make_napari_viewer()
    (image,) = _open(viewer, study["image"])
    (seg,) = _open(viewer, study["seg"])
    points, boxes = _open(viewer, study["sr"])
    assert image._type_string == "image"
    assert (seg._type_string, points._type_string, boxes._type_string) == (
        "labels", "points", "shapes")
    for layer in (image, seg, points, boxes):
        np.testing.assert_allclose(layer.scale, (SPACING, SPACING))
    # the SEG: the detection's class codes, in the class colours, with its provenance
    np.testing.assert_array_equal(seg.data, det.labels)
    assert set(np.unique(seg.data)) <= {0, 1, 2} and seg.data.any()
    assert seg.metadata["source_sop_instance_uid"] == image.metadata["SOPInstanceUID"]
    assert seg.metadata["algorithm"] == det.model_name and not seg.metadata["manual"]
    assert [s["class"] for s in seg.metadata["segments"]] == [1, 2]
    assert TRUTH_KEY not in seg.metadata
    # the SR: one point per calcification, one box per cluster, the detection's tables
    calc = calcification_columns(det)
    assert len(points.data) == len(calc["id"])
    np.testing.assert_allclose(points.data, np.column_stack([calc["row"], calc["col"]]),
                               atol=1e-3)
    assert list(points.features["id"]) == calc["id"]
    assert list(points.features["class"]) == calc["class"]
    assert list(points.features["class_name"]) == calc["class_name"]
    for key in ("score", "malignant_score"):
        np.testing.assert_allclose(points.features[key], calc[key], rtol=1e-6)
    clus = cluster_columns(det)
    assert len(boxes.data) == len(clus["id"])
    for key in ("id", "class", "class_name", "n_calcifications"):
        assert list(boxes.features[key]) == clus[key], key
    for key in ("score", "malignant_score", "r0", "c0", "r1", "c1"):
        np.testing.assert_allclose(boxes.features[key], clus[key], rtol=1e-6)
    r0, c0, r1, c1 = (clus[k][0] for k in ("r0", "c0", "r1", "c1"))
    np.testing.assert_allclose(boxes.data[0].min(0), (r0 - 0.5, c0 - 0.5))
    np.testing.assert_allclose(boxes.data[0].max(0), (r1 - 0.5, c1 - 0.5))
    assert points.metadata["spacing_from"] == str(study["image"])


def test_report_spacing_from_a_seg_or_a_warning(tmp_path, study):
    from napari_mcdet.gui._reader import read_layers

    # beside its SEG only: the SEG's spacing
    shutil.copy(study["sr"], tmp_path / "r_sr.dcm")
    shutil.copy(study["seg"], tmp_path / "r_seg.dcm")
    layers = read_layers(str(tmp_path / "r_sr.dcm"))
    assert all(kw["scale"] == (SPACING, SPACING) for _, kw, _ in layers)
    assert layers[0][1]["metadata"]["spacing_from"] == str(tmp_path / "r_seg.dcm")
    # alone: scale 1 and a warning that says how to fix it
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(study["sr"], alone / "r_sr.dcm")
    with pytest.warns(UserWarning, match="put the report beside its image"):
        layers = read_layers(str(alone / "r_sr.dcm"))
    assert all(kw["scale"] == (1.0, 1.0) for _, kw, _ in layers)


def test_broken_seg_and_sr_raise_one_line_errors(tmp_path):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from napari_mcdet.gui._reader import get_reader
    from napari_mcdet.io.dicom_derived import SEG_SOP_CLASS, SR_SOP_CLASSES

    for name, sop in (("bad_seg.dcm", SEG_SOP_CLASS), ("bad_sr.dcm", SR_SOP_CLASSES[1])):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(tmp_path / name), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = sop, meta.MediaStorageSOPInstanceUID
        ds.save_as(tmp_path / name, enforce_file_format=True)
        reader = get_reader(str(tmp_path / name))
        with pytest.raises(ValueError, match=name) as err:
            reader(str(tmp_path / name))
        assert "\n" not in str(err.value)


def test_ordinary_dicom_still_opens_as_an_image(study):
    from napari_mcdet.gui._reader import read_layers

    ((data, kw, kind),) = read_layers(str(study["image"]))
    assert kind == "image" and kw["scale"] == (SPACING, SPACING)
    assert kw["metadata"]["format"] == "dicom"


# --- the panels -------------------------------------------------------------------------------


def _detect(widget, qtbot, name):
    widget.image_combo.setCurrentText(name)
    assert widget.run() is not None, widget.status.text()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert widget.last_result is not None, widget.status.text()


def test_detect_panel_saves_dicom(plugin_widget, qtbot, study, tmp_path):
    from napari_mcdet.io.dicom_seg import read_segmentation
    from napari_mcdet.io.dicom_sr import read_report

    viewer, widget = plugin_widget("Detect calcifications")
    (image,) = _open(viewer, study["image"])
    _detect(widget, qtbot, image.name)
    det = widget.last_result
    out = tmp_path / "out"
    assert widget.save_dicom(out) is not None, widget.status.text()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    seg_path, sr_path = out / "mammo_seg.dcm", out / "mammo_sr.dcm"
    assert seg_path.is_file() and sr_path.is_file(), widget.status.text()
    assert "mammo_seg.dcm" in widget.status.text()
    assert dciodvfy_errors(seg_path) == [] and dciodvfy_errors(sr_path) == []
    seg = read_segmentation(seg_path)
    np.testing.assert_array_equal(seg.labels, det.labels)
    assert seg.source_sop_instance_uid == image.metadata["SOPInstanceUID"]
    report = read_report(sr_path)
    kinds = [f.kind for f in report.findings]
    assert kinds.count("calcification") == len(det.calcifications)
    assert kinds.count("cluster") == len(det.clusters)
    # and back into the viewer, on the image
    (labels,) = _open(viewer, seg_path)
    np.testing.assert_allclose(labels.scale, image.scale)


def test_detect_panel_refuses_a_png_image(plugin_widget, qtbot, study, tmp_path):
    from skimage.io import imsave

    from napari_mcdet.gui._layers import image_layer_kwargs
    from napari_mcdet.io.images import read_mammogram

    png = tmp_path / "mammo.png"
    pixels = read_mammogram(study["image"]).pixels
    imsave(png, (pixels / pixels.max() * 65535).astype(np.uint16), check_contrast=False)
    viewer, widget = plugin_widget("Detect calcifications")
    mammo = read_mammogram(png, pixel_spacing=(SPACING, SPACING))
    layer = viewer.add_image(mammo.pixels, **image_layer_kwargs(mammo))
    # before any detection: says so
    assert widget.save_dicom(tmp_path / "out") is None
    assert "Detect first" in widget.status.text()
    _detect(widget, qtbot, layer.name)
    assert widget.save_dicom(tmp_path / "out") is None
    text = widget.status.text()
    assert "not read from a DICOM file" in text and "mammo.png" in text and "\n" not in text
    assert not (tmp_path / "out").exists()
    assert widget.last_result is not None  # the refusal keeps the detection


def _paint(shape):
    labels = np.zeros(shape, np.uint8)
    labels[100:104, 100:104] = 1
    labels[200:203, 150:153] = 2
    labels[210:212, 160:162] = 2
    return labels


def test_annotations_panel_saves_dicom(plugin_widget, qtbot, study, tmp_path):
    from napari_mcdet.io.dicom_seg import read_segmentation
    from napari_mcdet.io.dicom_sr import read_report

    viewer, widget = plugin_widget("Calcification annotations")
    (image,) = _open(viewer, study["image"])
    widget.image_combo.setCurrentText(image.name)
    layer = widget.new_labels_layer()
    layer.data = _paint(image.data.shape)
    assert widget.save_dicom(tmp_path, annotator="Doe^Jane") is not None, widget.status.text()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert widget.saved_dicom is not None, widget.status.text()
    seg_path, sr_path = widget.saved_dicom["seg"], widget.saved_dicom["sr"]
    assert seg_path.name == "mammo_seg.dcm"
    assert dciodvfy_errors(seg_path) == [] and dciodvfy_errors(sr_path) == []
    seg = read_segmentation(seg_path)
    np.testing.assert_array_equal(seg.labels, _paint(image.data.shape))
    assert seg.algorithm is None and seg.pixel_spacing == (SPACING, SPACING)
    report = read_report(sr_path)
    assert sorted(f.class_id for f in report.findings) == [1, 2, 2]
    assert all(f.score is None for f in report.findings)
    # opened again: ground truth (a person's), on the image, drawn as outlines
    truth, outlines = _open(viewer, seg_path)
    assert truth.metadata[TRUTH_KEY] == "dicom-seg" and not truth.visible
    np.testing.assert_array_equal(truth.data, _paint(image.data.shape))
    np.testing.assert_allclose(truth.scale, image.scale)
    assert outlines._type_string == "shapes" and len(outlines.data) == 3
    np.testing.assert_allclose(outlines.edge_color, [TRUTH_COLOR] * 3)
    np.testing.assert_allclose(outlines.scale, image.scale)
    for polygon, (r0, c0, r1, c1) in zip(sorted(outlines.data, key=lambda p: p.min(0)[0]),
                                         [(100, 100, 104, 104), (200, 150, 203, 153),
                                          (210, 160, 212, 162)]):
        # the outline runs between the region's border pixels and the ones outside it
        assert r0 - 1 < polygon[:, 0].min() < r0 and r1 - 1 < polygon[:, 0].max() < r1
        assert c0 - 1 < polygon[:, 1].min() < c0 and c1 - 1 < polygon[:, 1].max() < c1
    # the report, beside its SEG: ground-truth labels, one region per painted calcification
    sr_truth, points = _open(viewer, sr_path)
    assert sr_truth.metadata[TRUTH_KEY] == "dicom-sr" and sr_truth.data.shape == image.data.shape
    regions, n = ndimage.label(sr_truth.data > 0)
    assert n == 3 and len(points.data) == 3
    painted = _paint(image.data.shape)
    painted_regions, _ = ndimage.label(painted > 0)
    for centre in ndimage.center_of_mass(painted > 0, painted_regions, [1, 2, 3]):
        r, c = (int(round(v)) for v in centre)
        window = sr_truth.data[r - 1:r + 2, c - 1:c + 2]
        assert window.max() == painted[r, c], (centre, window)


def test_annotations_panel_refuses_a_non_dicom_image(plugin_widget, tmp_path):
    viewer, widget = plugin_widget("Calcification annotations")
    viewer.add_image(np.zeros((64, 48), np.float32), name="computed")
    widget.image_combo.setCurrentText("computed")
    widget.new_labels_layer()
    assert widget.save_dicom(tmp_path) is None
    assert "not read from a DICOM file" in widget.status.text()
    assert list(tmp_path.iterdir()) == []


def _score(widget, qtbot, *, pred, gt, points, shapes):
    widget.patch_auc.setChecked(False)
    for combo, name in ((widget.pred_combo, pred), (widget.gt_combo, gt),
                        (widget.points_combo, points), (widget.shapes_combo, shapes)):
        combo.setCurrentText(name)
        assert combo.currentText() == name
    widget.report = None
    assert widget.run() is not None, widget.status.text()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert widget.report is not None, widget.status.text()
    return widget.table_values()


def test_score_panel_on_seg_and_sr_layers(plugin_widget, make_napari_viewer, qtbot, study,
                                          tmp_path):
    from napari_mcdet.infer.export_dicom import write_annotation_dicom

    det = study["det"]
    viewer = make_napari_viewer()
    (image,) = _open(viewer, study["image"])
    scale = (SPACING, SPACING)
    # the original layers, as the Detect panel makes them
    viewer.add_labels(np.asarray(det.labels), name="det labels", scale=scale)
    calc, clus = calcification_columns(det), cluster_columns(det)
    viewer.add_points(np.column_stack([calc["row"], calc["col"]]), name="det points",
                      features=calc, scale=scale)
    viewer.add_shapes([np.array([[r0, c0], [r1, c1]], float) for r0, c0, r1, c1 in
                       zip(clus["r0"], clus["c0"], clus["r1"], clus["c1"])],
                      shape_type="rectangle", name="det boxes", features=clus, scale=scale)
    viewer.add_labels(study["truth"], name="truth", scale=scale)
    # the same as DICOM: the detection's SEG and SR, the truth as a manual SEG
    (seg,) = _open(viewer, study["seg"])
    points, boxes = _open(viewer, study["sr"])
    gt_files = write_annotation_dicom(study["truth"], study["image"], tmp_path, "truth",
                                      pixel_spacing=scale)
    gt_seg, *_outlines = _open(viewer, gt_files["seg"])
    _, widget = plugin_widget("Score against ground truth", viewer=viewer)
    widget.image_combo.setCurrentText(image.name)

    original = _score(widget, qtbot, pred="det labels", gt="truth", points="det points",
                      shapes="det boxes")
    assert any(v not in ("n/a", "0.0000") for v in original.values())
    dicom = _score(widget, qtbot, pred=seg.name, gt=gt_seg.name, points=points.name,
                   shapes=boxes.name)
    assert dicom == original
    # the truth as a manual report: a small disk at each calcification's centre instead of
    # its region, so the same calcifications to find, and no more of them found
    gt_sr, manual_points = _open(viewer, gt_files["sr"])
    from_sr = _score(widget, qtbot, pred=seg.name, gt=gt_sr.name, points=points.name,
                     shapes=boxes.name)
    for key in ("calcification regions", "calcification detections", "cluster detections"):
        assert from_sr[key] == original[key], key
    assert 0 < int(from_sr["calcification true positives"]) \
        <= int(original["calcification true positives"])
    # a manual report has no scores: refused, not scored as NaN
    widget.points_combo.setCurrentText(manual_points.name)
    assert widget.run() is None
    assert "without a score" in widget.status.text()


def test_score_panel_refuses_a_seg_of_another_image(make_napari_viewer, plugin_widget, qtbot,
                                                    study, tmp_path):
    viewer = make_napari_viewer()
    (seg,) = _open(viewer, study["seg"])
    viewer.add_labels(study["truth"], name="truth", scale=(SPACING, SPACING))
    # same size, another instance
    twin = write_ffdm(tmp_path / "twin.dcm", pixel_spacing=SPACING)
    (other,) = _open(viewer, twin)
    # another size
    big = write_ffdm(tmp_path / "big.dcm", pixel_spacing=SPACING, shape=(600, 450))
    (larger,) = _open(viewer, big)
    _, widget = plugin_widget("Score against ground truth", viewer=viewer)
    widget.patch_auc.setChecked(False)
    widget.points_combo.setCurrentText("(none)")
    widget.shapes_combo.setCurrentText("(none)")
    widget.pred_combo.setCurrentText(seg.name)
    widget.gt_combo.setCurrentText("truth")
    for layer, words in ((other, "was made on SOP instance"),
                         (larger, "was made on another image")):
        widget.image_combo.setCurrentText(layer.name)
        assert widget.run() is None
        text = widget.status.text()
        assert words in text and "mammo_seg.dcm" in text and "\n" not in text, text
        assert widget.report is None


def test_a_seg_of_other_segments_shows_segment_numbers(study, tmp_path):
    """A SEG from another program (a segment that is no calcification): segment numbers, a
    note."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from napari_mcdet.gui._reader import read_layers
    from napari_mcdet.io.dicom_derived import source_header

    source = source_header(study["image"])
    mask = np.zeros((int(source.Rows), int(source.Columns)), bool)
    mask[10:20, 30:40] = True
    desc = hd.seg.SegmentDescription(
        segment_number=1, segment_label="breast tissue",
        segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Breast, algorithm_type="MANUAL")
    seg = hd.seg.Segmentation(
        source_images=[source], pixel_array=mask[None, ..., None], segmentation_type="BINARY",
        segment_descriptions=[desc], series_instance_uid=hd.UID(), series_number=5,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="elsewhere",
        manufacturer_model_name="x", software_versions="1", device_serial_number="1",
        omit_empty_frames=False,
        pixel_measures=hd.PixelMeasuresSequence(pixel_spacing=[SPACING, SPACING],
                                                slice_thickness=45.0))
    path = tmp_path / "other_seg.dcm"
    seg.save_as(path)
    with pytest.warns(UserWarning, match="segment numbers"):
        ((data, kw, kind),) = read_layers(str(path))
    assert kind == "labels" and kw["scale"] == (SPACING, SPACING)
    assert set(np.unique(data)) == {0, 1} and data[15, 35] == 1 and data[:10].max() == 0
    assert "breast tissue" in kw["metadata"]["note"] and not kw["metadata"]["known"]
    assert kw["features"]["segment"] == ["background", "breast tissue"]


def test_a_fractional_seg_opens_as_class_codes(study, tmp_path):
    from napari_mcdet.gui._reader import read_layers
    from napari_mcdet.infer.export_dicom import write_detection_dicom

    paths = write_detection_dicom(study["det"], study["image"], tmp_path, "frac",
                                  fractional=True)
    ((data, kw, kind),) = read_layers(str(paths["seg"]))
    assert kind == "labels" and kw["metadata"]["fractional"]
    assert kw["scale"] == (SPACING, SPACING)
    probs = study["det"].probabilities
    np.testing.assert_array_equal(data == 2, probs[1] >= 0.5)


@pytest.mark.slow
def test_the_guide_screenshot_script_runs(qapp, own_napari_app, tmp_path):
    from skimage.io import imread

    script = Path(__file__).resolve().parents[2] / "docs" / "scripts" / "dicom_screenshots.py"
    spec = importlib.util.spec_from_file_location("dicom_screenshots", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path)]) == 0
    for name in ("dicom_save.png", "dicom_layers.png"):
        img = imread(tmp_path / name)
        assert img.ndim == 3 and img.shape[1] > 1000 and np.ptp(img[..., :3]) > 100, name
