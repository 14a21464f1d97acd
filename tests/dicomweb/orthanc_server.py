"""A real Orthanc with its DICOMweb plugin on 127.0.0.1, started per test module (or per test,
for a server with a Lua filter), with HTTP basic authentication.

Not a conftest.py: the test modules make their fixtures from :func:`start_orthanc` and
:func:`stop_orthanc`."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USER, PASSWORD = "mcdet", "pw-3f9a-secret"
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A localhost TCP port nobody listens on (just now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Orthanc:
    """A running Orthanc: ``root`` its REST API, ``url`` its DICOMweb root."""

    root: str
    url: str
    log: Path
    process: subprocess.Popen

    def session(self):
        import requests

        s = requests.Session()
        s.trust_env = False
        s.auth = (USER, PASSWORD)
        return s

    def upload(self, *paths: Path) -> None:
        """Store files with Orthanc's REST ``POST /instances``."""
        with self.session() as s:
            for path in paths:
                r = s.post(f"{self.root}/instances", data=Path(path).read_bytes(), timeout=60)
                r.raise_for_status()
                assert r.json()["Status"] in ("Success", "AlreadyStored"), r.text

    def client(self):
        from dicomweb_client import DICOMwebClient

        return DICOMwebClient(self.url, session=self.session())

    def derived(self, study: str, folder: Path) -> dict[str, list[Path]]:
        """Every SEG and SR instance of ``study``, found by QIDO-RS (modality) and retrieved by
        WADO-RS into ``folder``: ``{'SEG': [...], 'SR': [...]}``."""
        client = self.client()
        folder.mkdir(parents=True, exist_ok=True)
        out: dict[str, list[Path]] = {"SEG": [], "SR": []}
        for modality in out:
            for series in client.search_for_series(study, search_filters={"Modality": modality}):
                uid = series["0020000E"]["Value"][0]
                for inst in client.search_for_instances(study, uid):
                    sop = inst["00080018"]["Value"][0]
                    ds = client.retrieve_instance(study, uid, sop)
                    path = folder / f"{modality}-{sop}.dcm"
                    ds.save_as(path, enforce_file_format=True)
                    out[modality].append(path)
        return out


def start_orthanc(tmp: Path, *, lua: str | None = None) -> Orthanc:
    exe = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").is_file()
                                       else None)
    if exe is None:
        pytest.skip("Orthanc is not installed (Debian package orthanc)")
    if not PLUGIN.is_file():
        pytest.skip(f"Orthanc's DICOMweb plugin is not installed ({PLUGIN}, Debian package "
                    "orthanc-dicomweb)")
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        "Name": "mcdet-tests", "HttpPort": port, "DicomServerEnabled": False,
        "StorageDirectory": str(tmp / "db"), "IndexDirectory": str(tmp / "db"),
        "Plugins": [str(PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD}, "HttpDescribeErrors": True,
    }
    if lua is not None:
        script = tmp / "filter.lua"
        script.write_text(lua)
        config["LuaScripts"] = [str(script)]
    (tmp / "config.json").write_text(json.dumps(config, indent=1))
    log = tmp / "orthanc.log"
    with open(log, "wb") as fh:
        process = subprocess.Popen([exe, str(tmp / "config.json")], stdout=fh,
                                   stderr=subprocess.STDOUT, cwd=tmp)
    root = f"http://127.0.0.1:{port}"
    server = Orthanc(root=root, url=f"{root}/dicom-web", log=log, process=process)
    import requests

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"Orthanc exited ({process.returncode}) at start:\n{log.read_text()}")
        try:
            with server.session() as s:
                if s.get(f"{root}/system", timeout=2).status_code == 200:
                    return server
        except requests.exceptions.RequestException:
            pass
        if time.monotonic() > deadline:
            stop_orthanc(server)
            pytest.fail(f"Orthanc did not answer /system within {START_TIMEOUT_S:g} s:\n"
                        f"{log.read_text()}")
        time.sleep(0.1)


def stop_orthanc(server: Orthanc) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=15)
