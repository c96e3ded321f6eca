"""The secret key appears nowhere a user's session leaves traces.

One realistic session with a distinctive secret: load (cached), stream to Parquet, plan,
apply with a journal, undo, failing requests, every repr and exception, DEBUG logging of
cm_frames, urllib3 and requests-cache. Then every file under the cache directory, the
journals, the Parquet output, the log and the committed notebooks' outputs are scanned for
the secret in plain, for base64 of ``token:secret`` and for the whole ``Basic ...`` header.
The scanner is checked against a planted secret, and it must have read something.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

import cm_frames as cm

TOKEN = "tok-secrets-session"
SECRET = "Sx9-distinctive-secret-Qm4vT7"  # appears in no fixture, file or notebook by chance
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
LOGGERS = ("cm_frames", "urllib3", "requests_cache", "requests")


def needles(token: str, secret: str) -> dict[str, bytes]:
    """Every form the credentials travel in: plain, base64 of token:secret, the header."""
    pair = base64.b64encode(f"{token}:{secret}".encode()).decode()
    return {
        "secret": secret.encode(),
        "base64(token:secret)": pair.encode(),
        "Authorization header": f"Basic {pair}".encode(),
        # Pickled or JSON-escaped text may hold the secret as UTF-16/escaped: plain is enough
        # for ASCII secrets, so the UTF-16 form is only a belt to the braces.
        "secret (utf-16)": secret.encode("utf-16-le"),
    }


@dataclass
class Scan:
    """What a scan read (so a scan of nothing cannot pass) and what it found."""

    files: int = 0
    size: int = 0
    found: list[str] = field(default_factory=list)

    def add(self, label: str, data: bytes, wanted: dict[str, bytes]) -> None:
        self.files += 1
        self.size += len(data)
        self.found += [f"{name} in {label}" for name, needle in wanted.items() if needle in data]


def scan_files(paths: Iterable[Path], wanted: dict[str, bytes]) -> Scan:
    scan = Scan()
    for path in paths:
        if path.is_file():
            scan.add(str(path), path.read_bytes(), wanted)
    return scan


def every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def notebook_outputs(path: Path) -> bytes:
    """The outputs of every code cell of a notebook (text, HTML, errors), as one text."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    parts: list[str] = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            parts.append(json.dumps(output, ensure_ascii=False))
    return "\n".join(parts).encode()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[cm.Emulator, cm.Client]]:
    with (
        cm.Emulator(customers=40, seed=5, token=TOKEN, secret=SECRET) as emulator,
        cm.Client(
            TOKEN, SECRET, emulator.url, cache_dir=tmp_path / "cache", rate_limit=None
        ) as client,
    ):
        yield emulator, client


def test_the_scanner_finds_a_planted_secret_in_every_form(tmp_path: Path) -> None:
    wanted = needles(TOKEN, SECRET)
    for name, needle in wanted.items():
        planted = tmp_path / f"planted-{len(name)}.bin"
        planted.write_bytes(b"prefix " + needle + b" suffix")
        assert scan_files([planted], wanted).found, name
    clean = tmp_path / "clean.txt"
    clean.write_bytes(b"Basic dG9rOm5vdGl0")  # a header, but of other credentials
    assert scan_files([clean], wanted).found == []


def test_a_whole_session_leaves_the_secret_nowhere(
    session: tuple[cm.Emulator, cm.Client], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    emulator, client = session
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = []  # every repr, str and HTML the session showed

    df = cm.read_customers(client, progress=False)
    cm.read_customers(client, progress=False)  # a warm load, from the snapshot
    client.get_customer(int(df.index[0]))
    client.get_customer(int(df.index[0]))  # a cache hit
    parquet = cm.read_customers(client, to=tmp_path / "parquet", progress=False)
    texts += [repr(client), repr(df.attrs), json.dumps(df.attrs)]

    edited = df.copy()
    edited["custom.lead_score"] = range(len(edited))
    edited["tag.hot"] = edited["custom.lead_score"] % 3 == 0
    plan = edited.chartmogul.plan()
    result = plan.apply(client, journal=tmp_path / "journals" / "apply.jsonl", progress=False)
    undo = result.undo_plan().apply(
        client, journal=tmp_path / "journals" / "undo.jsonl", progress=False
    )
    assert result.ok
    assert undo.ok
    texts += [repr(plan), plan._repr_html_(), plan.to_json(), str(plan.to_frame())]
    texts += [repr(result), result._repr_html_(), str(result.to_frame()), repr(undo)]

    # Failures with the right secret: 404, 400, and no server at all.
    errors: list[cm.ChartMogulError] = []
    with pytest.raises(cm.NotFound) as not_found:
        client.get_customer(987_654_321)
    errors.append(not_found.value)
    with pytest.raises(cm.BadRequest) as bad_request:
        client.request("GET", "customers", params={"per_page": 100_000})
    errors.append(bad_request.value)
    with (
        cm.Client(TOKEN, SECRET, "http://127.0.0.1:9/v1/", cache=False, retry_for=0) as nowhere,
        pytest.raises(cm.TransportError) as transport,
    ):
        nowhere.get_customer(1)
    errors.append(transport.value)
    for error in errors:
        texts += [str(error), repr(error), repr(error.args), repr(vars(error))]
    assert any("987654321" in text for text in texts)  # the errors were rendered
    assert emulator.request_log()  # the session really talked to the server

    wanted = needles(TOKEN, SECRET)
    cache = scan_files(every_file(client.cache_dir), wanted)
    journals = scan_files(every_file(tmp_path / "journals"), wanted)
    output = scan_files(every_file(parquet), wanted)
    shown = Scan()
    for index, text in enumerate(texts):
        shown.add(f"shown text #{index}", text.encode(), wanted)
    log = Scan()
    log.add("formatted log", caplog.text.encode(), wanted)
    for record in caplog.records:
        log.add(f"log record of {record.name}", _record_text(record), wanted)
    notebooks = Scan()
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebooks.add(path.name, notebook_outputs(path), wanted)

    scans = {"cache": cache, "journals": journals, "parquet": output, "shown": shown, "log": log}
    for name, scan in scans.items():
        assert scan.files > 0, f"the scan of the {name} read nothing"
        assert scan.size > 0, f"the scan of the {name} read nothing"
    assert any(p.name.endswith(".sqlite") for p in every_file(client.cache_dir))
    assert {r.name.split(".")[0] for r in caplog.records} >= {"cm_frames", "urllib3"}
    assert notebooks.files == len(list(NOTEBOOKS.glob("*.ipynb"))) > 0
    leaks = [hit for scan in [*scans.values(), notebooks] for hit in scan.found]
    assert leaks == []


def _record_text(record: logging.LogRecord) -> bytes:
    """Everything a handler could print of a record: message, arguments, extras, traceback."""
    parts = [record.getMessage(), repr(record.args), repr(vars(record))]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts).encode()


_HEADER = re.compile(rb"Basic\s+[A-Za-z0-9+/]{12,}={0,2}")


def test_no_committed_notebook_output_shows_any_basic_credentials() -> None:
    """The notebooks ran with the emulator's random secret: no Authorization value of any kind."""
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert paths
    for path in paths:
        outputs = notebook_outputs(path)
        assert outputs, path.name
        assert not _HEADER.search(outputs), path.name


def test_requests_sends_the_credentials_only_as_the_basic_header(
    session: tuple[cm.Emulator, cm.Client],
) -> None:
    """Sanity of the needles: what goes over the wire is exactly the header scanned for."""
    emulator, _ = session
    prepared = requests.Request("GET", emulator.url + "customers", auth=(TOKEN, SECRET)).prepare()
    assert (
        prepared.headers["Authorization"].encode() == needles(TOKEN, SECRET)["Authorization header"]
    )


# --- the cache directory: private from the moment each file exists ---------------------------


def test_every_cache_file_is_private_from_creation_even_with_umask_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With umask 0 nothing would hide a file created with default modes; and a chmod that
    tightens a file which was readable by others means it was, for a moment, readable."""
    root = tmp_path / "cache"
    windows: list[str] = []
    real_chmod, real_fchmod = os.chmod, os.fchmod

    def exposed(path: str | os.PathLike[str] | int) -> None:
        target = os.readlink(f"/proc/self/fd/{path}") if isinstance(path, int) else os.fspath(path)
        if str(target).startswith(str(root)) and os.stat(path).st_mode & 0o077:
            windows.append(str(target))

    def chmod(path: str | os.PathLike[str], mode: int, *args: object, **kwargs: object) -> None:
        exposed(path)
        real_chmod(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    def fchmod(fd: int, mode: int) -> None:
        exposed(fd)
        real_fchmod(fd, mode)

    monkeypatch.setattr(os, "chmod", chmod)
    monkeypatch.setattr(os, "fchmod", fchmod)
    previous = os.umask(0)
    try:
        with (
            cm.Emulator(customers=30, seed=3, token=TOKEN, secret=SECRET) as emulator,
            cm.Client(TOKEN, SECRET, emulator.url, cache_dir=root, rate_limit=None) as client,
        ):
            df = cm.read_customers(client, progress=False)
            edited = df.copy()
            edited["tag.private"] = True
            result = edited.chartmogul.plan().apply(client, progress=False)  # default journal
            assert result.ok
            assert result.journal_path is not None
            assert result.journal_path.is_relative_to(root)
            cm.read_customers(client, progress=False)  # a new snapshot after the write
    finally:
        os.umask(previous)

    entries = sorted(root.rglob("*"))
    names = {p.name for p in entries}
    assert "http_cache.sqlite" in names
    assert any(n.endswith(".arrow") for n in names)
    assert any(n.endswith(".jsonl") for n in names)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    lax = {
        str(p.relative_to(root)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in entries
        if stat.S_IMODE(p.stat().st_mode) != (0o700 if p.is_dir() else 0o600)
    }
    assert lax == {}
    assert windows == []
