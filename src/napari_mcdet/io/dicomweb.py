"""A study's mammograms from a DICOMweb server, and results stored back (QIDO-RS, WADO-RS,
STOW-RS), through :mod:`dicomweb_client` on a :mod:`requests` session.

:func:`read_credentials` finds the credentials (``--dicomweb-auth FILE`` holding ``Bearer TOKEN``
or ``USER:PASSWORD``, else ``$MCDET_DICOMWEB_TOKEN``, else ``$MCDET_DICOMWEB_USER`` and
``$MCDET_DICOMWEB_PASSWORD``, else ``user:password@`` in the URL); they are sent to the server and
never written into a message: every message names the URL with its ``user:password@`` removed
(:func:`redact_url`).

:class:`DicomwebServer` lists a study's MG instances (:meth:`~DicomwebServer.mammograms`),
retrieves one into a folder (:meth:`~DicomwebServer.retrieve`) and stores a SEG + SR pair in one
request (:meth:`~DicomwebServer.store_pair`), then checks that the server holds both: a server
may answer a STOW-RS with success and still drop an instance (Orthanc 1.10 does so for an
instance its ``ReceivedInstanceFilter`` refuses), so the answer alone is not trusted.

Every failure is one line naming the URL, what was asked and the fix: a
:class:`DICOMwebConnectionError` (a :class:`ConnectionError`) when the server cannot be reached,
else a :class:`DICOMwebError` (a :class:`ValueError`) or one of its subclasses.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Credentials", "DicomwebServer", "InstanceRef", "DICOMwebError",
           "DICOMwebConnectionError", "DICOMwebAuthError", "DICOMwebNotFoundError",
           "DICOMwebStoreError", "read_credentials", "redact_url", "check_uid",
           "ENV_TOKEN", "ENV_USER", "ENV_PASSWORD", "MAMMOGRAPHY"]

ENV_TOKEN = "MCDET_DICOMWEB_TOKEN"
ENV_USER = "MCDET_DICOMWEB_USER"
ENV_PASSWORD = "MCDET_DICOMWEB_PASSWORD"
MAMMOGRAPHY = "MG"
#: (connect, read) seconds: a whole mammogram or SEG goes in one request.
TIMEOUT_S = (10.0, 300.0)

_HOW_TO_AUTH = (f"put 'USER:PASSWORD' or 'Bearer TOKEN' in a file and pass --dicomweb-auth FILE, "
                f"or set ${ENV_TOKEN}, or ${ENV_USER} and ${ENV_PASSWORD}")
_ROOT_HINT = "the server's DICOMweb root (e.g. http://pacs:8042/dicom-web for Orthanc)"
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
#: STOW-RS Failure Reason values (DICOM PS3.18 Table I.2-1, PS3.4 Annex B).
_FAILURE_REASONS = {0xA700: "out of resources", 0xA900: "data set does not match SOP class",
                    0xC000: "cannot understand", 0x0110: "processing failure",
                    0x0122: "SOP class not supported", 0x0124: "not authorized",
                    0x0211: "unrecognised operation", 0xA770: "storage refused"}


class DICOMwebError(ValueError):
    """A DICOMweb request that failed for a reason the user can fix (one-line message)."""


class DICOMwebConnectionError(ConnectionError):
    """The server could not be reached (refused, unknown host, no answer in time)."""


class DICOMwebAuthError(DICOMwebError):
    """The server refused the credentials (HTTP 401) or the access (HTTP 403)."""


class DICOMwebNotFoundError(DICOMwebError):
    """No such study or series, or nothing to detect on in it."""


class DICOMwebStoreError(DICOMwebError):
    """A STOW-RS that failed, or that the server answered with success without keeping every
    instance. ``missing`` lists the SOP Instance UIDs the server does not hold."""

    def __init__(self, message: str, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = list(missing)


def redact_url(url: str) -> str:
    """``url`` without a ``user:password@`` part (for messages)."""
    parts = urlsplit(str(url))
    if "@" not in parts.netloc:
        return str(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def check_uid(uid: str, *, flag: str) -> str:
    """``uid`` if it is a DICOM UID (digits and dots, at most 64 characters), else a ValueError
    naming ``flag``."""
    uid = str(uid).strip()
    if not _UID.match(uid) or len(uid) > 64:
        raise DICOMwebError(f"{flag} {uid!r} is not a DICOM UID (numbers joined by dots, at most "
                            "64 characters, e.g. 1.2.840.113619.2.55.3); copy the Study / Series "
                            "Instance UID from the PACS")
    return uid


@dataclass(frozen=True)
class Credentials:
    """How to authenticate: ``'basic'`` (user and password) or ``'bearer'`` (a token), and where
    they come from (for messages: never the secret itself)."""

    kind: str
    source: str
    user: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)

    def apply(self, session: Any) -> None:
        """Authenticate every request of a :class:`requests.Session`."""
        if self.kind == "bearer":
            session.headers["Authorization"] = f"Bearer {self.secret}"
        else:
            session.auth = (self.user, self.secret)

    def secrets(self) -> list[str]:
        """The values no message may contain."""
        return [s for s in (self.secret, f"{self.user}:{self.secret}") if s]


def _parse_auth_text(text: str, source: str) -> Credentials:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    bad = DICOMwebError(f"{source}: expected one line, 'Bearer TOKEN' or 'USER:PASSWORD' (the "
                        "content is not shown); write the credentials in one of those forms")
    if len(lines) != 1:
        raise bad
    line = lines[0]
    if line.lower().startswith("bearer "):
        token = line[7:].strip()
        if not token:
            raise bad
        return Credentials("bearer", source, secret=token)
    user, sep, password = line.partition(":")
    if not sep or not user:
        raise bad
    return Credentials("basic", source, user=user, secret=password)


def read_credentials(auth_file: str | os.PathLike | None = None, *,
                     environ: Mapping[str, str] | None = None,
                     url: str | None = None) -> Credentials | None:
    """The credentials to send: ``auth_file`` (``--dicomweb-auth``), else ``$MCDET_DICOMWEB_TOKEN``,
    else ``$MCDET_DICOMWEB_USER`` + ``$MCDET_DICOMWEB_PASSWORD``, else ``user:password@`` in
    ``url``; None when there are none.

    Raises
    ------
    FileNotFoundError
        ``auth_file`` does not exist.
    DICOMwebError
        ``auth_file`` holds neither form, or only one of the user and password variables is set.
    """
    env = os.environ if environ is None else environ
    if auth_file is not None:
        path = Path(auth_file)
        source = f"--dicomweb-auth {path}"
        if not path.is_file():
            raise FileNotFoundError(f"{source}: no such file; give a file holding 'Bearer TOKEN' "
                                    "or 'USER:PASSWORD'")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeError:
            raise DICOMwebError(f"{source}: not UTF-8 text; write 'Bearer TOKEN' or "
                                "'USER:PASSWORD' as plain text") from None
        return _parse_auth_text(text, source)
    if env.get(ENV_TOKEN, "").strip():
        return Credentials("bearer", f"${ENV_TOKEN}", secret=env[ENV_TOKEN].strip())
    user, password = env.get(ENV_USER, ""), env.get(ENV_PASSWORD)
    if user or password:
        if not user or password is None:
            raise DICOMwebError(f"only one of ${ENV_USER} and ${ENV_PASSWORD} is set: set both "
                                f"(or ${ENV_TOKEN} for a token)")
        return Credentials("basic", f"${ENV_USER} and ${ENV_PASSWORD}", user=user,
                           secret=password)
    if url is not None:
        parts = urlsplit(str(url))
        if parts.username:
            from urllib.parse import unquote

            return Credentials("basic", "the --dicomweb URL", user=unquote(parts.username),
                               secret=unquote(parts.password or ""))
    return None


@dataclass(frozen=True)
class InstanceRef:
    """One instance found by QIDO-RS."""

    study: str
    series: str
    sop: str
    sop_class: str = ""
    modality: str = ""
    series_number: int | None = None
    instance_number: int | None = None


def _value(item: Mapping[str, Any], tag: str) -> Any:
    """The first value of ``tag`` (8 hex digits) in a DICOM JSON object, or None."""
    values = (item.get(tag) or {}).get("Value") or [None]
    return values[0]


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


class DicomwebServer:
    """A DICOMweb server at ``url`` (its root, e.g. ``http://pacs:8042/dicom-web``).

    Parameters
    ----------
    url : str
        ``http(s)://host[:port]/path``; a ``user:password@`` in it is used as credentials of last
        resort and never shown.
    credentials : Credentials or None
        From :func:`read_credentials`.
    timeout : (float, float)
        Connect and read timeouts in seconds.
    """

    def __init__(self, url: str, credentials: Credentials | None = None, *,
                 timeout: tuple[float, float] = TIMEOUT_S) -> None:
        import logging

        import requests
        from dicomweb_client import DICOMwebClient

        self.url = redact_url(str(url)).rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DICOMwebError(f"--dicomweb {self.url!r} is not an http:// or https:// URL; give "
                                f"{_ROOT_HINT}")
        self.credentials = credentials
        session = requests.Session()
        if credentials is not None:
            credentials.apply(session)
        # the library's own log lines would print beside ours; our messages say it all
        logging.getLogger("dicomweb_client").setLevel(logging.CRITICAL)
        try:
            self.client = DICOMwebClient(self.url, session=session, timeout=timeout)
        except ValueError:
            raise DICOMwebError(f"--dicomweb {self.url!r} is not a URL the DICOMweb client "
                                f"accepts; give {_ROOT_HINT}") from None
        self.client.set_http_retry_params(retry=False)
        self.timeout = timeout

    # -- errors ----------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in (self.credentials.secrets() if self.credentials else []):
            text = text.replace(secret, "***")
        return text

    @contextmanager
    def _request(self, what: str, *, study: str | None = None) -> Iterator[None]:
        """Turn what requests and dicomweb-client raise while doing ``what`` into one-line
        errors naming the URL and the fix."""
        import requests
        from pydicom.errors import InvalidDicomError

        try:
            yield
        except requests.exceptions.HTTPError as err:
            raise self._http_error(err.response, what, study=study) from None
        except requests.exceptions.Timeout:
            raise DICOMwebConnectionError(
                f"the DICOMweb server {self.url} did not answer {what} in time "
                f"({self.timeout[0]:g} s to connect, {self.timeout[1]:g} s to answer): check "
                "that it is running and not overloaded, and that --dicomweb gives its address "
                "and port") from None
        except requests.exceptions.ConnectionError as err:
            text = str(err)
            if "refused" in text.lower():
                reason = "connection refused"
            elif re.search(r"name or service not known|nodename nor servname|getaddrinfo|"
                           r"name resolution", text, re.I):
                reason = "unknown host name"
            elif "ssl" in text.lower() or isinstance(err, requests.exceptions.SSLError):
                reason = "TLS failed (https to a plain-http server, or an untrusted certificate?)"
            else:
                reason = "could not connect"
            raise DICOMwebConnectionError(
                f"cannot reach the DICOMweb server {self.url} ({reason}) for {what}: check that "
                "it is running and that --dicomweb gives its address, port and DICOMweb root "
                "(e.g. http://pacs:8042/dicom-web)") from None
        except (requests.exceptions.JSONDecodeError, InvalidDicomError, EOFError) as err:
            kind = "DICOM JSON" if "JSON" in type(err).__name__ else "DICOM"
            raise DICOMwebError(
                f"{self.url} answered {what} with something that is not {kind} "
                f"({type(err).__name__}): check that --dicomweb is {_ROOT_HINT}") from None
        except requests.exceptions.RequestException as err:
            raise DICOMwebConnectionError(
                f"{what} at {self.url} failed ({type(err).__name__}): check the server and the "
                "--dicomweb URL") from None

    def _http_error(self, response: Any, what: str, *, study: str | None) -> DICOMwebError:
        status = getattr(response, "status_code", 0)
        reason = f"HTTP {status} {getattr(response, 'reason', '') or ''}".strip()
        if status == 401:
            if self.credentials is None:
                return DICOMwebAuthError(
                    f"{self.url} asks for credentials ({reason}) and none were given: "
                    f"{_HOW_TO_AUTH}")
            return DICOMwebAuthError(
                f"{self.url} refused the credentials from {self.credentials.source} ({reason}): "
                f"check the user and password (or token) there; {_HOW_TO_AUTH}")
        if status == 403:
            who = ("without credentials" if self.credentials is None
                   else f"with the credentials from {self.credentials.source}")
            return DICOMwebAuthError(
                f"{self.url} forbids {what} {who} ({reason}): ask the server's administrator for "
                f"access, or give other credentials ({_HOW_TO_AUTH})")
        said = _server_said(response)
        if status == 404:
            where = f"study {study} is not on the server, or " if study else ""
            return DICOMwebNotFoundError(
                f"{self.url} answered {what} with {reason}{said}: {where}--dicomweb is not "
                f"{_ROOT_HINT}; check --study and --dicomweb")
        return DICOMwebError(self._scrub(
            f"{self.url} answered {what} with {reason}{said}: check the server's log, the "
            "--dicomweb URL, and that the server accepts DICOMweb requests"))

    # -- QIDO-RS ---------------------------------------------------------------------------------

    def series(self, study: str) -> list[InstanceRef]:
        """The study's series (``sop`` empty), from QIDO-RS."""
        study = check_uid(study, flag="--study")
        what = f"the search for the series of study {study} (QIDO-RS)"
        with self._request(what, study=study):
            found = self.client.search_for_series(study_instance_uid=study,
                                                  fields=["Modality", "SeriesNumber"])
        if not isinstance(found, list):
            raise DICOMwebError(f"{self.url} answered {what} with something other than a list of "
                                f"series: check that --dicomweb is {_ROOT_HINT}")
        out = [InstanceRef(study=study, series=str(_value(item, "0020000E") or ""), sop="",
                           modality=str(_value(item, "00080060") or "").upper(),
                           series_number=_as_int(_value(item, "00200011")))
               for item in found if isinstance(item, dict)]
        return [s for s in out if s.series]

    def instances(self, study: str, series: str) -> list[InstanceRef]:
        """The instances of one series, from QIDO-RS."""
        what = f"the search for the instances of series {series} (QIDO-RS)"
        with self._request(what, study=study):
            found = self.client.search_for_instances(
                study_instance_uid=study, series_instance_uid=series,
                fields=["SOPClassUID", "InstanceNumber", "Modality"])
        return [InstanceRef(study=study, series=series, sop=str(_value(item, "00080018")),
                            sop_class=str(_value(item, "00080016") or ""),
                            modality=str(_value(item, "00080060") or "").upper(),
                            instance_number=_as_int(_value(item, "00200013")))
                for item in found if isinstance(item, dict) and _value(item, "00080018")]

    def mammograms(self, study: str, series: str | None = None) -> list[InstanceRef]:
        """The MG instances of ``study`` (of ``series`` only, when given), in series and instance
        order.

        Raises
        ------
        DICOMwebNotFoundError
            No such study; a ``series`` not in the study or not MG; a study without MG images
            (the message lists the modalities found).
        DICOMwebAuthError, DICOMwebConnectionError, DICOMwebError
            As the requests fail.
        """
        study = check_uid(study, flag="--study")
        if series is not None:
            series = check_uid(series, flag="--series")
        all_series = self.series(study)
        if not all_series:
            raise DICOMwebNotFoundError(
                f"study {study} is not on {self.url} (QIDO-RS found no series in it): check "
                "--study (the Study Instance UID) and that --dicomweb is the server holding it")
        if series is not None:
            chosen = [s for s in all_series if s.series == series]
            if not chosen:
                raise DICOMwebNotFoundError(
                    f"--series {series} is not a series of study {study} on {self.url}; the "
                    f"study's series: {_series_list(all_series)}")
            if chosen[0].modality != MAMMOGRAPHY:
                mg = [s for s in all_series if s.modality == MAMMOGRAPHY]
                hint = (f"the study's MG series: {_series_list(mg)}" if mg
                        else "the study has no MG series")
                raise DICOMwebNotFoundError(
                    f"--series {series} is a {chosen[0].modality or 'modality-less'} series, not "
                    f"MG (mammography); detection runs on mammograms: {hint}")
        else:
            chosen = [s for s in all_series if s.modality == MAMMOGRAPHY]
            if not chosen:
                raise DICOMwebNotFoundError(
                    f"study {study} on {self.url} has no MG (mammography) images: its series are "
                    f"{_modalities(all_series)}; detection runs on mammograms: check --study")
        out: list[InstanceRef] = []
        for s in chosen:
            out += [InstanceRef(study=study, series=s.series, sop=i.sop, sop_class=i.sop_class,
                                modality=MAMMOGRAPHY, series_number=s.series_number,
                                instance_number=i.instance_number)
                    for i in self.instances(study, s.series)]
        if not out:
            raise DICOMwebNotFoundError(
                f"the MG series of study {study} on {self.url} hold no instances "
                f"({_series_list(chosen)}): check --study and --series")
        big = 10**9
        out.sort(key=lambda r: (r.series_number if r.series_number is not None else big,
                                r.series, r.instance_number if r.instance_number is not None
                                else big, r.sop))
        return out

    def holds(self, study: str, sops: Sequence[str]) -> set[str]:
        """Which of ``sops`` the server holds in ``study`` (QIDO-RS, one query each)."""
        found = set()
        for sop in sops:
            what = f"the search for instance {sop} (QIDO-RS)"
            with self._request(what, study=study):
                hits = self.client.search_for_instances(
                    study_instance_uid=study, search_filters={"SOPInstanceUID": sop},
                    fields=["SOPInstanceUID"])
            if any(_value(h, "00080018") == sop for h in hits if isinstance(h, dict)):
                found.add(sop)
        return found

    # -- WADO-RS ---------------------------------------------------------------------------------

    def retrieve(self, ref: InstanceRef, folder: str | os.PathLike) -> Path:
        """Retrieve ``ref`` (WADO-RS, in the transfer syntax the server holds) into
        ``folder/<SOP Instance UID>.dcm``."""
        from .writers import atomic_write

        what = f"the retrieval of instance {ref.sop} (WADO-RS)"
        with self._request(what, study=ref.study), warnings.catch_warnings():
            # a server sending a bare application/dicom part instead of multipart: fine here
            warnings.simplefilter("ignore", UserWarning)
            ds = self.client.retrieve_instance(ref.study, ref.series, ref.sop,
                                               media_types=(("application/dicom", "*"),))
        got = str(ds.get("SOPInstanceUID", ""))
        if got != ref.sop:
            raise DICOMwebError(f"{self.url} answered {what} with instance {got or '(no UID)'}: "
                                "the server's index and files disagree; check the server")
        path = Path(folder) / f"{ref.sop}.dcm"
        return atomic_write(path, lambda tmp: ds.save_as(tmp, enforce_file_format=True))

    # -- STOW-RS ---------------------------------------------------------------------------------

    def store_pair(self, seg: str | os.PathLike, sr: str | os.PathLike, *,
                   study: str) -> dict[str, str]:
        """Store a SEG and its SR in ``study`` in one STOW-RS request, then check that the
        server holds both.

        Returns
        -------
        dict
            ``{'seg': SOP Instance UID, 'sr': SOP Instance UID}``.

        Raises
        ------
        DICOMwebStoreError
            The request failed, the answer lists a failure, or the server does not hold an
            instance afterwards (``missing``); the message names the instances.
        DICOMwebConnectionError, DICOMwebAuthError
            As the request fails.
        """
        import pydicom

        datasets = {name: pydicom.dcmread(path) for name, path in (("seg", seg), ("sr", sr))}
        uids = {name: str(ds.SOPInstanceUID) for name, ds in datasets.items()}
        names = " and ".join(f"{name.upper()} {uid}" for name, uid in uids.items())
        what = f"the storage of {names} (STOW-RS)"
        try:
            with self._request(what, study=None):
                answer = self.client.store_instances(list(datasets.values()),
                                                     study_instance_uid=study)
        except DICOMwebError as err:
            if isinstance(err, DICOMwebAuthError):
                raise
            raise DICOMwebStoreError(str(err), missing=list(uids.values())) from None
        failed = []
        for item in getattr(answer, "FailedSOPSequence", None) or []:
            code = _as_int(item.get("FailureReason"))
            why = _FAILURE_REASONS.get(code, "failure") if code is not None else "failure"
            failed.append(f"{item.get('ReferencedSOPInstanceUID', '?')} "
                          f"({why}{f', 0x{code:04X}' if code is not None else ''})")
        if failed:
            raise DICOMwebStoreError(f"{self.url} refused {', '.join(failed)} in {what}",
                                     missing=list(uids.values()))
        held = self.holds(study, list(uids.values()))
        missing = [f"{name.upper()} {uid}" for name, uid in uids.items() if uid not in held]
        if missing:
            raise DICOMwebStoreError(
                f"{self.url} answered {what} with success, yet does not hold "
                f"{' and '.join(missing)} (refused by a filter or rule on the server? see its "
                "log)", missing=[uid for uid in uids.values() if uid not in held])
        return uids


def _server_said(response: Any) -> str:
    """``': <the server's message>'`` from an error answer, or ''."""
    try:
        doc = response.json()
    except Exception:  # noqa: BLE001 - any body that is not JSON
        text = getattr(response, "text", "") or ""
        ctype = getattr(response, "headers", {}).get("Content-Type", "")
        return f" ({_one_line(text, 120)})" if text and ctype.startswith("text/plain") else ""
    if isinstance(doc, dict):
        text = " ".join(str(doc[k]) for k in ("Message", "Details") if doc.get(k))
        return f" ({_one_line(text, 160)})" if text else ""
    return ""


def _series_list(series: Sequence[InstanceRef], limit: int = 5) -> str:
    names = [f"{s.series} ({s.modality or 'no modality'})" for s in series[:limit]]
    more = f" and {len(series) - limit} more" if len(series) > limit else ""
    return ", ".join(names) + more


def _modalities(series: Sequence[InstanceRef]) -> str:
    counts: dict[str, int] = {}
    for s in series:
        key = s.modality or "no modality"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{m} ({n} series)" for m, n in sorted(counts.items()))
