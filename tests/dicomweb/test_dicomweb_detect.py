"""``mcdet detect --dicomweb`` against a real Orthanc (DICOMweb plugin) on 127.0.0.1: studies read
with QIDO-RS / WADO-RS, SEG + SR stored with STOW-RS, then retrieved and compared with a local
``mcdet detect FILE --dicom`` of the same file; and every way it can fail, as one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dicom_files import dciodvfy_errors, write_ffdm
from orthanc_server import PASSWORD, USER, free_port, start_orthanc, stop_orthanc
from pydicom.uid import generate_uid

from napari_mcdet.cli import main


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    """One Orthanc for the module (every test uses its own studies)."""
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    yield server
    stop_orthanc(server)


@pytest.fixture
def fresh_orthanc(tmp_path):
    """``fresh_orthanc(lua=...)``: an Orthanc for one test, e.g. with a Lua filter."""
    started = []

    def start(*, lua: str | None = None):
        started.append(start_orthanc(tmp_path / f"orthanc{len(started)}", lua=lua))
        return started[-1]

    yield start
    for server in started:
        stop_orthanc(server)


@pytest.fixture(autouse=True)
def _no_proxy_for_localhost(monkeypatch):
    """The command honours proxy variables; the test server is on 127.0.0.1, never behind one."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
def credentials(monkeypatch):
    """The test server's user and password in the environment, as a user would set them."""
    monkeypatch.delenv("MCDET_DICOMWEB_TOKEN", raising=False)
    monkeypatch.setenv("MCDET_DICOMWEB_USER", USER)
    monkeypatch.setenv("MCDET_DICOMWEB_PASSWORD", PASSWORD)


@pytest.fixture
def no_credentials(monkeypatch):
    for name in ("MCDET_DICOMWEB_TOKEN", "MCDET_DICOMWEB_USER", "MCDET_DICOMWEB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def run_cli(argv: list[str], capsys, *secrets: str) -> tuple[int, str, str]:
    """Run ``mcdet`` and return (exit status, stdout, stderr); no secret may be printed."""
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    for secret in (PASSWORD, f"{USER}:{PASSWORD}", *secrets):
        assert secret not in cap.out and secret not in cap.err, "a credential was printed"
    return rc, cap.out, cap.err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and lines[0].startswith("mcdet detect: error: "), err
    assert "Traceback" not in err
    return lines[0]


def write_other(path: Path, *, study_uid: str, modality: str = "CT") -> Path:
    """A small non-mammography image (CT or OT) in ``study_uid``."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    sop_class = {"CT": "1.2.840.10008.5.1.4.1.1.2", "OT": "1.2.840.10008.5.1.4.1.1.7"}[modality]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    for key, value in {
        "SOPClassUID": sop_class, "SOPInstanceUID": meta.MediaStorageSOPInstanceUID,
        "StudyInstanceUID": study_uid, "SeriesInstanceUID": generate_uid(), "Modality": modality,
        "PatientName": "Other^Test", "PatientID": "OTHER1", "SeriesNumber": 7,
        "InstanceNumber": 1, "SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2",
        "Rows": 8, "Columns": 8, "BitsAllocated": 16, "BitsStored": 12, "HighBit": 11,
        "PixelRepresentation": 0,
    }.items():
        setattr(ds, key, value)
    ds.PixelData = np.arange(64, dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def header(path: Path):
    import pydicom

    return pydicom.dcmread(path, stop_before_pixels=True)


def check_stored_equal_local(stored: dict[str, list[Path]], local: Path,
                             sources: list[Path]) -> None:
    """Every stored SEG / SR is valid (dciodvfy, highdicom) and equals the local pair made from
    the same source image."""
    import highdicom as hd

    from napari_mcdet.io.dicom_seg import read_segmentation
    from napari_mcdet.io.dicom_sr import read_report

    by_sop = {str(header(p).SOPInstanceUID): p for p in sources}
    assert len(stored["SEG"]) == len(stored["SR"]) == len(sources)
    local_seg = {read_segmentation(p).source_sop_instance_uid: read_segmentation(p)
                 for p in local.glob("*_seg.dcm")}
    local_sr = {read_report(p).source_sop_instance_uid: read_report(p)
                for p in local.glob("*_sr.dcm")}
    for path in stored["SEG"] + stored["SR"]:
        assert dciodvfy_errors(path) == [], path
    seen = set()
    for path in stored["SEG"]:
        hd.seg.segread(path)
        got = read_segmentation(path)
        want = local_seg[got.source_sop_instance_uid]
        assert got.source_sop_instance_uid in by_sop
        assert got.study_instance_uid == str(header(by_sop[got.source_sop_instance_uid])
                                             .StudyInstanceUID)
        np.testing.assert_array_equal(got.labels, want.labels)
        assert got.pixel_spacing == pytest.approx(want.pixel_spacing)
        assert got.segments == want.segments and got.fractional == want.fractional
        seen.add(got.source_sop_instance_uid)
    assert seen == set(by_sop)
    for path in stored["SR"]:
        hd.sr.srread(path)
        got = read_report(path)
        want = local_sr[got.source_sop_instance_uid]
        assert len(got.findings) == len(want.findings)
        for a, b in zip(got.findings, want.findings):
            assert (a.kind, a.class_id, a.id, a.n_calcifications) == \
                (b.kind, b.class_id, b.id, b.n_calcifications)
            assert a.center == pytest.approx(b.center, abs=1e-3)
            assert a.score == pytest.approx(b.score, abs=1e-5)
            assert (a.bbox is None) == (b.bbox is None)
            if a.bbox is not None:
                assert a.bbox == pytest.approx(b.bbox, abs=1e-3)


# -- detection end to end ------------------------------------------------------------------------

def test_a_study_mixing_stated_and_missing_spacing_is_detected_and_stored(
        orthanc, credentials, tmp_path, capsys):
    """Two digital mammograms in one study with the bundled model: one states 0.2 mm and keeps
    it, one states none and takes --spacing; a rerun skips both."""
    study = generate_uid()
    stated = write_ffdm(tmp_path / "stated.dcm", study_uid=study, InstanceNumber=1)
    bare = write_ffdm(tmp_path / "bare.dcm", study_uid=study, InstanceNumber=2,
                      laterality="R", drop=("PixelSpacing", "ImagerPixelSpacing"))
    orthanc.upload(stated, bare)
    out = tmp_path / "out"
    rc, text, err = run_cli(["detect", "--dicomweb", orthanc.url, "--study", study,
                             "--spacing", "0.25", "--out", out], capsys)
    assert rc == 0, err
    sop_stated, sop_bare = (str(header(p).SOPInstanceUID) for p in (stated, bare))
    assert f"study {study} on {orthanc.url}: 2 MG images in 2 series" in text
    assert f"{sop_stated}: 0.2 mm pixels (PixelSpacing; --spacing is for images that state none)" \
        in text
    assert f"{sop_bare}: 0.25 mm pixels (--spacing)" in text
    assert text.count("stored in study") == 2 and "2 detected and stored" in text
    for sop in (sop_stated, sop_bare):
        marker = json.loads((out / f"{sop}_stored.json").read_text())
        assert marker["study"] == study and marker["source_sop_instance_uid"] == sop
        assert (out / f"{sop}_seg.dcm").is_file() and (out / f"{sop}_labels.png").is_file()

    local = tmp_path / "local"
    assert run_cli(["detect", stated, "--dicom", "--out", local], capsys)[0] == 0
    assert run_cli(["detect", bare, "--dicom", "--spacing", "0.25", "--out", local],
                   capsys)[0] == 0
    stored = orthanc.derived(study, tmp_path / "stored")
    check_stored_equal_local(stored, local, [stated, bare])
    from napari_mcdet.io.dicom_seg import read_segmentation

    spacings = {read_segmentation(p).source_sop_instance_uid: read_segmentation(p).pixel_spacing
                for p in stored["SEG"]}
    assert spacings[sop_stated] == pytest.approx((0.2, 0.2))
    assert spacings[sop_bare] == pytest.approx((0.25, 0.25))

    # the same command again: both are on the server, nothing is redone or stored twice
    rc, text, err = run_cli(["detect", "--dicomweb", orthanc.url, "--study", study,
                             "--spacing", "0.25", "--out", out], capsys)
    assert rc == 0, err
    assert text.count("already stored; skipped") == 2 and "0 detected and stored" in text
    again = orthanc.derived(study, tmp_path / "again")
    assert len(again["SEG"]) == len(again["SR"]) == 2


@pytest.mark.slow
def test_the_real_cbis_ddsm_studies(orthanc, no_credentials, shared_data, coarse_model,
                                    tmp_path, capsys):
    """The two real CBIS-DDSM mammograms (RLE, Secondary Capture, no spacing; two patients, so
    two studies), credentials from --dicomweb-auth FILE, the tiny coarse model."""
    sources = sorted((shared_data / "dicom-mg").glob("*.dcm"))
    assert len(sources) == 2
    orthanc.upload(*sources)
    auth = tmp_path / "auth.txt"
    auth.write_text(f"{USER}:{PASSWORD}\n")
    out, local = tmp_path / "out", tmp_path / "local"
    rc, _, err = run_cli(["detect", *sources, "--dicom", "--spacing", "0.05", "--model",
                          coarse_model, "--out", local], capsys)
    assert rc == 0, err
    for source in sources:
        study = str(header(source).StudyInstanceUID)
        rc, text, err = run_cli(["detect", "--dicomweb", orthanc.url, "--study", study,
                                 "--dicomweb-auth", auth, "--spacing", "0.05", "--model",
                                 coarse_model, "--out", out], capsys)
        assert rc == 0, err
        assert "0.05 mm pixels (--spacing)" in text and "1 detected and stored" in text
        stored = orthanc.derived(study, tmp_path / f"stored-{study}")
        local_one = tmp_path / f"local-{study}"
        local_one.mkdir()
        for suffix in ("_seg.dcm", "_sr.dcm"):
            (local_one / f"x{suffix}").write_bytes((local / f"{source.stem}{suffix}").read_bytes())
        check_stored_equal_local(stored, local_one, [source])


def test_a_failed_store_names_what_was_stored_and_a_rerun_finishes(
        fresh_orthanc, credentials, coarse_model, tmp_path, capsys):
    """An Orthanc whose Lua filter refuses the second SR it receives (and answers the STOW-RS
    with success all the same): the run stops naming the stored and the unstored instances; the
    same command then stores the rest."""
    server = fresh_orthanc(lua="""
received_sr = 0
function ReceivedInstanceFilter(dicom, origin, info)
  if dicom.Modality == 'SR' then
    received_sr = received_sr + 1
    if received_sr == 2 then
      return false
    end
  end
  return true
end
""")
    study = generate_uid()
    first = write_ffdm(tmp_path / "first.dcm", study_uid=study, InstanceNumber=1)
    second = write_ffdm(tmp_path / "second.dcm", study_uid=study, InstanceNumber=2,
                        SeriesInstanceUID=str(header(first).SeriesInstanceUID))
    server.upload(first, second)
    sop1, sop2 = (str(header(p).SOPInstanceUID) for p in (first, second))
    out = tmp_path / "out"
    argv = ["detect", "--dicomweb", server.url, "--study", study, "--model", coarse_model,
            "--out", out]
    rc, text, err = run_cli(argv, capsys)
    assert rc == 2
    line = one_line_error(err)
    assert f"storing the SEG and SR of instance {sop2} failed" in line
    assert f"stored: {sop1}; not stored: {sop2}" in line
    assert "did arrive" in line and "does not hold SR" in line and "rerun" in line
    assert (out / f"{sop1}_stored.json").is_file()
    assert not (out / f"{sop2}_stored.json").exists() and (out / f"{sop2}_sr.dcm").is_file()

    rc, text, err = run_cli(argv, capsys)
    assert rc == 0, err
    assert f"{sop1}: SEG" in text and "already stored; skipped" in text
    assert "1 detected and stored, 1 already stored" in text
    stored = server.derived(study, tmp_path / "stored")
    from napari_mcdet.io.dicom_sr import read_report

    assert sorted(read_report(p).source_sop_instance_uid for p in stored["SR"]) == \
        sorted([sop1, sop2])


# -- bad input, one line each --------------------------------------------------------------------

def test_a_server_that_is_down(credentials, tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    rc, _, err = run_cli(["detect", "--dicomweb", url, "--study", generate_uid(), "--out",
                          tmp_path], capsys)
    line = one_line_error(err)
    assert rc == 2 and f"cannot reach the DICOMweb server {url} (connection refused)" in line
    assert "check that it is running" in line and "--dicomweb" in line


@pytest.fixture(scope="module")
def mixed_study(orthanc, tmp_path_factory):
    """A study holding an MG series and a CT series, and a study holding only CT and OT."""
    tmp = tmp_path_factory.mktemp("mixed")
    study, other = generate_uid(), generate_uid()
    mg = write_ffdm(tmp / "mg.dcm", study_uid=study)
    ct = write_other(tmp / "ct.dcm", study_uid=study)
    orthanc.upload(mg, ct, write_other(tmp / "ct2.dcm", study_uid=other),
                   write_other(tmp / "ot.dcm", study_uid=other, modality="OT"))
    return {"study": study, "mg_series": str(header(mg).SeriesInstanceUID),
            "ct_series": str(header(ct).SeriesInstanceUID), "no_mg_study": other}


def test_a_wrong_password_is_refused_without_echoing_it(orthanc, mixed_study, monkeypatch,
                                                       tmp_path, capsys):
    monkeypatch.delenv("MCDET_DICOMWEB_TOKEN", raising=False)
    monkeypatch.setenv("MCDET_DICOMWEB_USER", USER)
    monkeypatch.setenv("MCDET_DICOMWEB_PASSWORD", "not-the-pw-81x")
    rc, _, err = run_cli(["detect", "--dicomweb", orthanc.url, "--study", mixed_study["study"],
                          "--out", tmp_path], capsys, "not-the-pw-81x")
    line = one_line_error(err)
    assert rc == 2 and f"{orthanc.url} refused the credentials from $MCDET_DICOMWEB_USER and " \
        "$MCDET_DICOMWEB_PASSWORD (HTTP 401" in line
    assert "--dicomweb-auth FILE" in line


def test_no_credentials_says_how_to_give_them(orthanc, mixed_study, no_credentials, tmp_path,
                                              capsys):
    rc, _, err = run_cli(["detect", "--dicomweb", orthanc.url, "--study", mixed_study["study"],
                          "--out", tmp_path], capsys)
    line = one_line_error(err)
    assert rc == 2 and "asks for credentials (HTTP 401" in line and "none were given" in line
    assert "--dicomweb-auth FILE" in line and "$MCDET_DICOMWEB_TOKEN" in line


def test_a_refused_token_and_a_password_in_the_url_are_never_shown(
        orthanc, mixed_study, no_credentials, tmp_path, capsys):
    auth = tmp_path / "token.txt"
    auth.write_text("Bearer tok-5e1f-never-shown\n")
    rc, _, err = run_cli(["detect", "--dicomweb", orthanc.url, "--study", mixed_study["study"],
                          "--dicomweb-auth", auth, "--out", tmp_path / "o"], capsys,
                         "tok-5e1f-never-shown")
    assert rc == 2 and f"refused the credentials from --dicomweb-auth {auth}" in one_line_error(err)

    host = orthanc.url.split("//", 1)[1]
    url = f"http://{USER}:wrong-in-url-77@{host}"
    rc, _, err = run_cli(["detect", "--dicomweb", url, "--study", mixed_study["study"], "--out",
                          tmp_path / "o"], capsys, "wrong-in-url-77")
    line = one_line_error(err)
    assert rc == 2 and f"{orthanc.url} refused the credentials from the --dicomweb URL" in line
    assert f"{USER}:" not in line

    auth.write_text("just-a-token-no-form\n")
    rc, _, err = run_cli(["detect", "--dicomweb", orthanc.url, "--study", mixed_study["study"],
                          "--dicomweb-auth", auth, "--out", tmp_path / "o"], capsys,
                         "just-a-token-no-form")
    line = one_line_error(err)
    assert rc == 2 and f"--dicomweb-auth {auth}: expected one line" in line
    assert "'Bearer TOKEN' or 'USER:PASSWORD'" in line


def test_an_unknown_study(orthanc, mixed_study, credentials, tmp_path, capsys):
    study = generate_uid()
    rc, _, err = run_cli(["detect", "--dicomweb", orthanc.url, "--study", study, "--out",
                          tmp_path], capsys)
    line = one_line_error(err)
    assert rc == 2 and f"study {study} is not on {orthanc.url}" in line and "--study" in line


def test_a_url_that_is_not_the_dicomweb_root(orthanc, mixed_study, credentials, tmp_path,
                                             capsys):
    rc, _, err = run_cli(["detect", "--dicomweb", orthanc.root, "--study", mixed_study["study"],
                          "--out", tmp_path], capsys)
    line = one_line_error(err)
    assert rc == 2 and f"{orthanc.root} answered" in line and "404" in line
    assert "DICOMweb root (e.g. http://pacs:8042/dicom-web" in line


def test_a_study_without_mammograms_lists_its_modalities(orthanc, mixed_study, credentials,
                                                        tmp_path, capsys):
    study = mixed_study["no_mg_study"]
    rc, _, err = run_cli(["detect", "--dicomweb", orthanc.url, "--study", study, "--out",
                          tmp_path], capsys)
    line = one_line_error(err)
    assert rc == 2 and f"study {study} on {orthanc.url} has no MG (mammography) images" in line
    assert "its series are CT (1 series), OT (1 series)" in line
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_series_that_is_not_mammography(orthanc, mixed_study, credentials, tmp_path, capsys):
    ct, mg = mixed_study["ct_series"], mixed_study["mg_series"]
    rc, _, err = run_cli(["detect", "--dicomweb", orthanc.url, "--study", mixed_study["study"],
                          "--series", ct, "--out", tmp_path], capsys)
    line = one_line_error(err)
    assert rc == 2 and f"--series {ct} is a CT series, not MG (mammography)" in line
    assert f"the study's MG series: {mg} (MG)" in line

    missing = generate_uid()
    rc, _, err = run_cli(["detect", "--dicomweb", orthanc.url, "--study", mixed_study["study"],
                          "--series", missing, "--out", tmp_path], capsys)
    line = one_line_error(err)
    assert rc == 2 and f"--series {missing} is not a series of study" in line and mg in line


def test_a_study_uid_that_is_not_a_uid(orthanc, credentials, tmp_path, capsys):
    rc, _, err = run_cli(["detect", "--dicomweb", orthanc.url, "--study", "study-42", "--out",
                          tmp_path], capsys)
    line = one_line_error(err)
    assert rc == 2 and "--study 'study-42' is not a DICOM UID" in line


def test_a_web_server_that_is_not_dicomweb(credentials, tmp_path, capsys):
    """A plain web server (Python's http.server on 127.0.0.1) answering with an HTML page."""
    import functools
    import http.server
    import threading

    study = generate_uid()
    page = tmp_path / "site" / "studies" / study / "series"
    page.parent.mkdir(parents=True)
    page.write_text("<html><body>Welcome to the hospital intranet</body></html>")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path / "site"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        rc, _, err = run_cli(["detect", "--dicomweb", url, "--study", study, "--out",
                              tmp_path / "out"], capsys)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
    line = one_line_error(err)
    assert rc == 2 and f"{url} answered the search for the series of study {study}" in line
    assert "not DICOM JSON" in line and "DICOMweb root" in line
