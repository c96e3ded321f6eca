"""Retries, timeouts and speculative paging against a tiny scripted HTTP server on loopback.

The emulator cannot script an exact sequence (a 503, then a dropped connection, then a 200)
or hang a response past the read timeout, so these few cases use a stdlib server whose
every answer the test chooses. Everything else is tested against the emulator.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from cm_frames.api.client import Client, RetryNotice
from cm_frames.emulator import Emulator
from cm_frames.errors import (
    APIError,
    RateLimited,
    ServerError,
    TransportError,
)
from cm_frames.read.load import read_customers


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    hold_s: float = 0.0  # wait this long before answering (to trip the client's read timeout)
    cut: bool = False  # send the headers and half the body, then close the connection


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    start: float
    client_port: int = 0
    end: float = 0.0


Responder = Callable[[Seen], Reply]


class ScriptedServer(ThreadingHTTPServer):
    """Answers each request with the next scripted Reply, or from ``responder`` when empty."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: deque[Reply] = deque()
        self.responder: Responder = lambda seen: Reply()
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # wakes held replies when the test ends
        self.in_flight = 0
        self.peak_in_flight = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/"

    def next_reply(self, seen: Seen) -> Reply:
        with self.lock:
            self.seen.append(seen)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            scripted = self.script.popleft() if self.script else None
        return scripted or self.responder(seen)

    def done(self, seen: Seen) -> None:
        with self.lock:
            self.in_flight -= 1
            seen.end = time.monotonic()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        seen = Seen(
            method=self.command,
            path=parts.path,
            query={k: v[0] for k, v in parse_qs(parts.query).items()},
            body=json.loads(raw) if raw else None,
            start=time.monotonic(),
            client_port=self.client_address[1],
        )
        reply = self.server.next_reply(seen)
        try:
            if reply.hold_s:
                self.server.release.wait(reply.hold_s)
            if reply.drop:
                self.close_connection = True
                return
            payload = json.dumps(reply.body).encode()
            # Headers and body in one write: two small writes meet Nagle + delayed ACK (40 ms).
            head = [f"HTTP/1.1 {reply.status} X\r\n"]
            headers = {
                "Content-Type": "application/json",
                "Content-Length": str(len(payload)),
                **reply.headers,
            }
            head += [f"{k}: {v}\r\n" for k, v in headers.items()]
            if reply.cut:
                self.wfile.write("".join(head).encode() + b"\r\n" + payload[: len(payload) // 2])
                self.close_connection = True
                return
            self.wfile.write("".join(head).encode() + b"\r\n" + payload)
        except OSError:  # the client gave up on a held reply (read timeout)
            self.close_connection = True
        finally:
            self.server.done(seen)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def make_client(server: ScriptedServer, tmp_path: Path) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(**kwargs: Any) -> Client:
        # backoff: keep retries fast; the policy is tested in test_client_units
        options: dict[str, Any] = {"cache_dir": tmp_path, "rate_limit": None, "backoff": 0.005}
        client = Client("scripted-token", "scripted-secret", server.url, **{**options, **kwargs})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


CLEAN = {"id": 25647, "uuid": "cus_1", "email": "bob@example.com"}


def test_retried_read_through_5xx_a_drop_and_a_timeout_equals_a_clean_read(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(timeout=(2, 0.3))
    server.script.extend(
        [Reply(503), Reply(drop=True), Reply(502), Reply(hold_s=2), Reply(500), Reply(504)]
    )
    server.responder = lambda seen: Reply(body=CLEAN)
    assert client.get_customer(25647) == CLEAN
    assert len(server.seen) == 7
    assert {s.path for s in server.seen} == {"/v1/customers/25647"}


def test_429_waits_for_retry_after_then_succeeds(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    client = make_client()
    server.script.append(Reply(429, {"message": "slow down"}, {"Retry-After": "1"}))
    server.responder = lambda seen: Reply(body=CLEAN)
    started = time.monotonic()
    assert client.get_customer(25647) == CLEAN
    assert time.monotonic() - started >= 0.95
    assert len(server.seen) == 2
    assert server.seen[1].start - server.seen[0].start >= 0.95


def test_a_429_holds_back_every_thread_of_the_client_not_only_its_own_request(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(max_workers=4)
    server.script.append(Reply(429, {"message": "slow down"}, {"Retry-After": "1"}))
    server.responder = lambda seen: Reply(body=CLEAN)
    first = threading.Thread(target=client.get_customer, args=(25647,))
    first.start()
    deadline = time.monotonic() + 10
    while client._limiter.paused_for() == 0:  # the client has read the 429
        assert time.monotonic() < deadline, "the 429 never reached the client"
        time.sleep(0.001)

    assert client.get_customer(25648, refresh=True) == CLEAN  # another request, another thread
    first.join(10)
    assert len(server.seen) == 3
    throttled = server.seen[0].start
    assert [seen.start - throttled >= 0.95 for seen in server.seen[1:]] == [True, True]


def test_a_retry_after_beyond_the_budget_gives_up_at_once_with_rate_limited(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(retry_for=5)
    server.responder = lambda seen: Reply(429, {"message": "quota"}, {"Retry-After": "60"})
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        client.get_customer(1)
    assert time.monotonic() - started < 2
    assert caught.value.status == 429
    assert "quota" in caught.value.message
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    ("status", "error"), [(500, ServerError), (503, ServerError), (429, RateLimited)]
)
def test_exhausted_retries_raise_the_typed_error_with_the_last_status(
    server: ScriptedServer,
    make_client: Callable[..., Client],
    status: int,
    error: type[APIError],
) -> None:
    client = make_client(retry_for=0.4)
    server.script.append(Reply(502, {"message": "first"}))
    server.responder = lambda seen: Reply(status, {"code": status, "message": "still broken"})
    with pytest.raises(error) as caught:
        client.get_customer(1)
    assert caught.value.status == status
    assert "still broken" in str(caught.value)
    assert "attempts" in str(caught.value)
    assert len(server.seen) >= 3


def test_exhausted_retries_on_dropped_connections_raise_transport_error(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(retry_for=0.3)
    server.script.append(Reply(503))
    server.responder = lambda seen: Reply(drop=True)
    with pytest.raises(TransportError, match="no answer from the API") as caught:
        client.get_customer(1)
    assert caught.value.url.endswith("/v1/customers/1")
    assert len(server.seen) >= 3


def test_writes_are_retried_with_the_same_body(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    client = make_client()
    server.script.extend([Reply(503), Reply(drop=True)])
    server.responder = lambda seen: Reply(body={"tags": ["a", "vip"]})
    assert client.add_tags(7, ["vip"]) == {"tags": ["a", "vip"]}
    assert [(s.method, s.body) for s in server.seen] == [("POST", {"tags": ["vip"]})] * 3


def test_retry_for_zero_means_a_single_attempt(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(retry_for=0)
    server.responder = lambda seen: Reply(503)
    with pytest.raises(ServerError):
        client.get_customer(1)
    assert len(server.seen) == 1


def test_tls_to_a_plain_http_server_fails_at_once_without_retrying(
    server: ScriptedServer, tmp_path: Path
) -> None:
    port = server.server_address[1]
    client = Client("t", "s", f"https://127.0.0.1:{port}/v1/", cache_dir=tmp_path)
    with client, pytest.raises(TransportError, match="TLS") as caught:
        client.get_customer(1)
    assert "verification stays on" in str(caught.value)


# ---------------------------------------------------------------- speculative paging


def _pages(total: int) -> Responder:
    def respond(seen: Seen) -> Reply:
        page, per_page = int(seen.query["page"]), int(seen.query["per_page"])
        ids = range((page - 1) * per_page + 1, min(page * per_page, total) + 1)
        entries = [{"id": i} for i in ids]
        return Reply(
            body={
                "entries": entries,
                "has_more": page * per_page < total,
                "per_page": per_page,
                "page": page,
            }
        )

    return respond


def test_a_page_whose_body_is_cut_short_is_fetched_again_whole(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    # Uncached pages are streamed and read in one go (client._read_body): a connection that
    # closes mid-body must still be a retried failure, never a short page.
    client = make_client(max_workers=1)
    good = _pages(4)
    first = good(Seen("GET", "/v1/customers", {"page": "1", "per_page": "2"}, None, 0.0))
    server.script.append(Reply(cut=True, body=first.body))
    server.responder = good
    bodies = list(client.iter_pages(per_page=2, raw=True, cache=False))
    assert [e["id"] for b in bodies for e in json.loads(b)["entries"]] == [1, 2, 3, 4]
    assert sorted(s.query["page"] for s in server.seen) == ["1", "1", "2"]


def test_speculative_pages_beyond_the_end_are_discarded_even_while_retrying(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    # Pages past the last one fail forever; the iterator must not wait out their retries.
    client = make_client(max_workers=4, retry_for=60)
    good = _pages(5)
    server.responder = lambda seen: good(seen) if int(seen.query["page"]) <= 2 else Reply(503)
    started = time.monotonic()
    pages = list(client.iter_pages(per_page=3, cache=False))
    assert time.monotonic() - started < 5
    assert [e["id"] for page in pages for e in page["entries"]] == [1, 2, 3, 4, 5]
    assert {int(s.query["page"]) for s in server.seen} >= {1, 2, 3, 4}


def test_a_page_that_fails_for_good_raises_from_the_iterator(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(max_workers=3, retry_for=0.3)
    good = _pages(20)
    server.responder = lambda seen: Reply(500) if seen.query["page"] == "3" else good(seen)
    pages = client.iter_pages(per_page=2, cache=False)
    assert [p["page"] for p in (next(pages), next(pages))] == [1, 2]
    with pytest.raises(ServerError) as caught:
        next(pages)
    assert caught.value.status == 500


def test_a_server_whose_has_more_never_ends_is_stopped(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(max_workers=2)
    good = _pages(4)

    def endless(seen: Seen) -> Reply:
        reply = good(seen)
        reply.body["has_more"] = True
        return reply

    server.responder = endless
    for raw in (False, True):
        pages = client.iter_pages(per_page=2, cache=False, raw=raw)
        next(pages), next(pages)
        with pytest.raises(APIError, match="empty but says has_more: true"):
            next(pages)


def test_iter_pages_keeps_at_most_max_workers_in_flight(
    server: ScriptedServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(max_workers=3)
    good = _pages(30)

    def slow(seen: Seen) -> Reply:
        reply = good(seen)
        reply.hold_s = 0.03
        return reply

    server.responder = slow
    pages = list(client.iter_pages(per_page=2, cache=False, raw=True))
    assert len(pages) == 15
    assert server.peak_in_flight == 3
    # One session, one pool: the connections are reused, never more than max_workers.
    assert len({s.client_port for s in server.seen}) <= 3
    # Pages past the last one may be asked for speculatively, within the look-ahead of
    # 2 * max_workers; whether any is sent before the iterator ends and cancels the ones
    # not started is the scheduler's choice (a fresh clone's CI saw exactly 15).
    assert 15 <= len(server.seen) <= 15 + 2 * 3


def test_proxies_from_the_environment_are_used(
    server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on localhost:9; only the proxy (the scripted server) can answer.
    monkeypatch.setenv("HTTP_PROXY", server.url.removesuffix("v1/"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server.responder = lambda seen: Reply(body=CLEAN)
    with Client("t", "s", "http://localhost:9/v1/", cache_dir=tmp_path, rate_limit=None) as c:
        assert c.get_customer(25647) == CLEAN
        assert c.get_customer(25648) == CLEAN  # the settings read once serve every request
    assert [seen.path for seen in server.seen] == ["/v1/customers/25647", "/v1/customers/25648"]


# ---------------------------------------------------------------- retries made visible


def _dead_loopback_url() -> str:
    """A loopback URL nothing listens on: a port the system just gave out, closed again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/"


def test_each_retry_is_logged_at_info_with_what_failed_and_the_wait(
    server: ScriptedServer, make_client: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cm_frames")
    client = make_client()
    server.script.extend([Reply(503, {"message": "busy"}), Reply(drop=True)])
    server.responder = lambda seen: Reply(body=CLEAN)

    assert client.get_customer(25647) == CLEAN

    retries = [r for r in caplog.records if r.name == "cm_frames" and r.levelno == logging.INFO]
    assert [r.cm_attempt for r in retries] == [1, 2]  # type: ignore[attr-defined]
    first, second = (r.getMessage() for r in retries)
    assert first.startswith("GET /v1/customers/25647: attempt 1 failed (HTTP 503: busy); ")
    assert "retrying in " in first
    assert "retry_for=120 s" in first
    assert second.startswith("GET /v1/customers/25647: attempt 2 failed (connection failed: ")
    pair = base64.b64encode(b"scripted-token:scripted-secret").decode()
    for record in retries:
        assert "scripted-secret" not in record.getMessage()
        assert pair not in record.getMessage()


def test_a_refused_loopback_connection_fails_within_seconds_not_retry_for(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cm_frames")
    url = _dead_loopback_url()
    client = Client("t", "s", url, cache_dir=tmp_path, rate_limit=None)  # the defaults
    started = time.monotonic()
    with client, pytest.raises(TransportError) as caught:
        client.get_customer(1)
    took = time.monotonic() - started

    assert 4.9 <= took < 8  # loopback_retry_for=5, not retry_for=120
    text = str(caught.value)
    assert f"connection refused by {url.split('/')[2]}: nothing listens there" in text
    assert "loopback_retry_for=5 s" in text
    assert "retry_for=120 s" in text
    assert "cm-frames emulator" in text
    retries = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(retries) >= 2
    assert all("loopback_retry_for=5 s" in r.getMessage() for r in retries)
    assert all(r.cm_reason == "connection refused" for r in retries)  # type: ignore[attr-defined]


def test_a_longer_loopback_retry_for_waits_for_a_server_that_is_starting(tmp_path: Path) -> None:
    # The fix the error above suggests: the server comes up on the port during the retries.
    url = _dead_loopback_url()
    port = int(url.split(":")[2].split("/")[0])
    emulator = Emulator(customers=3, token="t", secret="s", port=port)
    notices: list[RetryNotice] = []

    def start_the_server(notice: RetryNotice) -> None:
        notices.append(notice)
        emulator.start()  # idempotent: later notices change nothing

    client = Client("t", "s", url, cache_dir=tmp_path, rate_limit=None, loopback_retry_for=30)
    try:
        with client, client.watch_retries(start_the_server):
            page = client.list_customers(per_page=5)
    finally:
        emulator.stop()
    assert len(page["entries"]) == 3
    assert notices[0].reason == "connection refused"
    assert notices[0].attempt == 1


def test_the_loopback_bound_applies_to_loopback_hosts_only(tmp_path: Path) -> None:
    for url, loopback in [
        ("http://127.0.0.1:1/v1/", True),
        ("http://localhost:1/v1/", True),
        ("http://[::1]:1/v1/", True),
        ("https://api.chartmogul.com/v1/", False),
        ("https://10.0.0.1/v1/", False),
    ]:
        with Client("t", "s", url, cache=False) as client:
            assert client._loopback is loopback, url


def test_the_progress_bar_shows_the_retries_of_a_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = Client(
        "t",
        "s",
        _dead_loopback_url(),
        cache_dir=tmp_path,
        rate_limit=None,
        loopback_retry_for=1,
        backoff=0.05,
    )
    with client, pytest.raises(TransportError, match="connection refused"):
        read_customers(client, progress=True)
    assert "retrying: connection refused (attempt 2" in capsys.readouterr().err


def test_a_cursor_part_that_fails_stops_the_other_parts_retries_at_once(
    server: ScriptedServer, tmp_path: Path
) -> None:
    # Today's dialect, one walk per status: the Active walk is refused for good while the
    # New Lead walk is told to come back in 30 s. The load must fail now, not after the wait.
    def respond(seen: Seen) -> Reply:
        status = seen.query.get("status")
        if status == "Active":
            return Reply(401, {"message": "No valid API key provided"})
        if status == "New Lead":
            return Reply(503, {"message": "busy"}, {"Retry-After": "30"})
        return Reply(body={"entries": [], "has_more": False, "cursor": None})

    server.responder = respond
    client = Client(
        api_key="scripted-key",
        base_url=server.url,
        cache_dir=tmp_path,
        rate_limit=None,
        backoff=0.005,
        retry_for=60,
    )
    started = time.monotonic()
    with client, pytest.raises(APIError) as failed:
        list(client.walk_customers(strategy="statuses"))
    assert failed.value.status == 401
    assert time.monotonic() - started < 10
    assert any(s.query.get("status") == "New Lead" for s in server.seen)
