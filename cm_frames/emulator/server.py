"""The HTTP side: a stdlib ThreadingHTTPServer with keep-alive, auth, faults and a request log.

Per API request, in order: log its arrival, read the body (413 above 1 MiB, unread),
check the credentials, sleep the configured latency (outside every lock, so concurrent
requests overlap as on a real server), hang if ``hang_after`` says so (until the
settings change or the server stops), draw a fault (drop, 429, 5xx), answer 401 if the
credentials were wrong, answer an HTML page if ``corrupt="html_200"`` hits the request,
and otherwise dispatch to the routes, then break the 200 answer if another ``corrupt`` mode
hits it. Control endpoints under /_emulator/ need no credentials and are not logged.

In the request log a dropped request has ``status`` 0 (no response was sent).

Today's dialect (``state.current``) differs only where the service does: the API key as
the Basic user name (empty password, or the key again), errors as ``{"code", "message",
"param"}`` (a 422 as ``{"errors": {param: message}}``), 204 with no body, and a 503 for an
account with more than ``max_parallel`` requests in flight (counted once authenticated, so
requests held by ``hang_after`` count).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import json
import secrets
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cm_frames.emulator.cursors import Position
from cm_frames.emulator.faults import (
    LIST_CORRUPTIONS,
    Fault,
    FaultInjector,
    FaultSettings,
    corrupt_body,
    corrupt_list_page,
)
from cm_frames.emulator.problems import BadRequestBody, Problem
from cm_frames.emulator.routes import (
    MAX_PER_PAGE,
    ApiRequest,
    MethodNotAllowed,
    current_page,
    cursor_position,
    dispatch,
)
from cm_frames.emulator.state import CURRENT_FILTERS, NO_CONTENT, State, encode

__all__ = ["MAX_BODY_BYTES", "EmulatorHTTPServer", "RequestLog"]

MAX_BODY_BYTES = 1024 * 1024
DROPPED = 0  # the status logged for a request whose connection was closed unanswered
_REALM = 'Basic realm="ChartMogul"'


class RequestLog:
    """Every API request (all but /_emulator/ ones) in arrival order.

    An entry is added when a request arrives and its status is filled in just before its
    response is sent (0 for a dropped connection; None while it is still being handled).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._entries.append(entry)
        return entry

    def update(self, entry: dict[str, Any], **fields: Any) -> None:
        with self._lock:
            entry.update(fields)

    def entries(self) -> list[dict[str, Any]]:
        """A deep copy: callers may change it freely."""
        with self._lock:
            return copy.deepcopy(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading server that knows its state and can close its open connections."""

    daemon_threads = True
    allow_reuse_address = True  # a fixed port is reusable right after stop()
    # The stdlib's backlog of 5 drops the SYNs of a burst of new connections (8 client
    # threads at once), which the client retries only after a second.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        *,
        state: State,
        faults: FaultInjector,
        log: RequestLog,
        on_reset: Callable[[], None],
        on_list: Callable[[], None] = lambda: None,
        max_parallel: int = 20,
    ) -> None:
        self.state = state
        self.faults = faults
        self.log = log
        self.on_reset = on_reset
        # Called after each answered GET /v1/customers, before its answer is sent.
        self.on_list = on_list
        self.max_parallel = max_parallel
        self._in_flight: dict[str, int] = {}
        self._in_flight_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._idle = threading.Condition()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket) -> None:
        with self._idle:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._idle:
            self._connections.discard(connection)
            self._idle.notify_all()

    def close_connections(self, timeout: float = 10.0) -> None:
        """Shut every open connection (idle keep-alives included) and wait for the handlers.

        Requests held by ``hang_after`` go on once their connections are shut: each lands
        (it had been read), and its answer is lost, as when a server dies mid-request.
        """
        with self._idle:
            for connection in list(self._connections):
                with contextlib.suppress(OSError):  # already closed by the peer
                    connection.shutdown(socket.SHUT_RDWR)
            self.faults.release()
            self._idle.wait_for(lambda: not self._connections, timeout=timeout)

    def enter(self, account: str) -> bool:
        """Count a request of ``account`` in flight; False (not counted) past the limit."""
        with self._in_flight_lock:
            count = self._in_flight.get(account, 0)
            if count >= self.max_parallel:
                return False
            self._in_flight[account] = count + 1
            return True

    def leave(self, account: str) -> None:
        with self._in_flight_lock:
            self._in_flight[account] -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-response is normal (timeouts, stop()): not an error.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def _openapi_document(current: bool = False) -> bytes:
    """The shipped document; today's dialect's is the whole document under ``x-dialects``."""
    document = resources.files("cm_frames.emulator").joinpath("openapi.json").read_bytes()
    if not current:
        return document
    return encode(json.loads(document)["x-dialects"]["current"])


def _error_body(status: int, message: str, param: str | None = None, *, current: bool) -> bytes:
    if not current:
        return encode({"code": status, "message": message})
    if status == 422:  # recorded: {"errors": {"name": "A name is required ..."}}
        return encode({"errors": {param or "body": message}})
    return encode({"code": status, "message": message, "param": param})


_NO_API_KEY = "No valid API key provided"  # recorded, with "param": null


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a new connection per request costs 30%
    server_version = "cm-frames-emulator"
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for
    # the client's delayed ACK (40 ms per small response on loopback).
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    # --- plumbing -----------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log is the record, stderr stays clean in tests."""

    def _send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        if self._log_entry is not None:
            # Logged before the response leaves: a client that has its answer sees it logged.
            self.server.log.update(self._log_entry, status=status)
        self.send_response(status)
        if status != 204:  # recorded: a 204 has neither body nor Content-Type
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_problem(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> None:
        body = _error_body(status, message, param, current=self.server.state.current)
        self._send(status, body, headers)

    def _read_body(self) -> bytes | None:
        """The request body; None after answering 411/413/400 for an unreadable one."""
        if self.headers.get("Transfer-Encoding", "identity").lower() != "identity":
            self.close_connection = True
            self._send_problem(411, "Content-Length: required (chunked bodies are not supported)")
            return None
        raw_length = self.headers.get("Content-Length", "0")
        if not raw_length.isdigit():
            self.close_connection = True
            self._send_problem(400, f"Content-Length: {raw_length!r} is not a byte count")
            return None
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            # Not read: closing is the only way to skip it on a keep-alive connection.
            self.close_connection = True
            self._send_problem(
                413, f"body: {length} bytes is larger than the limit of {MAX_BODY_BYTES} bytes"
            )
            return None
        return self.rfile.read(length) if length else b""

    # --- dispatch -----------------------------------------------------------------

    _log_entry: dict[str, Any] | None = None

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        control = path.startswith("/_emulator/")
        self._log_entry = None
        if not control:
            self._log_entry = self.server.log.append(
                {
                    "method": self.command,
                    "path": path,
                    "query": query,
                    "status": None,
                    "account": None,
                    "body": None,
                    "time": time.time(),
                }
            )
        body = self._read_body()
        if body is None:
            return
        if control:
            self._control(path, body)
            return
        assert self._log_entry is not None
        self.server.log.update(self._log_entry, body=_parse_for_log(body))
        self._api(path, query, body, self._log_entry)

    def _api(self, path: str, query: dict[str, str], body: bytes, entry: dict[str, Any]) -> None:
        """Answer one /v1 (or unknown) request."""
        if not (path == "/v1" or path.startswith("/v1/")):
            message = f"path: no endpoint {path} (the API is under /v1/)"
            self._send_problem(404, message)
            return
        account, auth_problem = self._authenticate()
        self.server.log.update(entry, account=account)
        if account is not None and self.server.state.current:
            if not self.server.enter(account):
                self._send_problem(
                    503,
                    f"Too many parallel connections: at most {self.server.max_parallel}"
                    " requests of one account at once",
                )
                return
            try:
                self._answer(path, query, body, entry, account, auth_problem)
            finally:
                self.server.leave(account)
            return
        self._answer(path, query, body, entry, account, auth_problem)

    def _answer(
        self,
        path: str,
        query: dict[str, str],
        body: bytes,
        entry: dict[str, Any],
        account: str | None,
        auth_problem: str,
    ) -> None:
        latency_ms = self.server.faults.settings.latency_ms
        if latency_ms:
            time.sleep(latency_ms / 1000)  # outside every lock: concurrent requests overlap
        self.server.faults.hold(self.command)
        settings, fault, status = self.server.faults.decide()
        if fault is Fault.DROP:
            self.server.log.update(entry, status=DROPPED)
            self.close_connection = True  # closed with no response at all
            return
        if fault is Fault.THROTTLE:
            self._send_problem(
                429,
                "rate limit exceeded: retry after the Retry-After header's seconds",
                {"Retry-After": str(settings.retry_after_s)},
            )
            return
        if fault is Fault.ERROR:
            self._send_problem(status, f"injected server error {status} (emulator fault injection)")
            return
        if account is None:
            message = _NO_API_KEY if self.server.state.current else auth_problem
            self._send_problem(401, message, {"WWW-Authenticate": _REALM})
            return
        # Counting the customers before a cursor costs a query: only when a corruption may hit.
        page = self._cursor_page_number(path, query, account) if settings.corrupt else None
        corruption = settings.corruption_for(self.command, path, query, page)
        if corruption == "html_200":  # a proxy answered: the request never reached the API
            html, content_type = corrupt_body(corruption, b"")
            self._send(200, html, content_type=content_type)
            return
        request = ApiRequest(self.command, path, query, body, account)
        try:
            response = dispatch(self.server.state, request)
        except MethodNotAllowed as problem:
            self._send_problem(problem.status, problem.message, {"Allow": ", ".join(problem.allow)})
            return
        except Problem as problem:
            self._send_problem(problem.status, problem.message, param=problem.param)
            return
        except Exception as error:  # a bug in the emulator: answer as a server would
            traceback.print_exc()
            self._send_problem(500, f"emulator bug: {type(error).__name__}: {error}")
            return
        if self.command == "GET" and path == "/v1/customers":
            try:
                self.server.on_list()  # a test's hook: changes seen from the next request on
            except Exception:  # the test's bug, not the answer's: shown, and the page is sent
                traceback.print_exc()
        if corruption in LIST_CORRUPTIONS:
            self._send(200, self._corrupt_page(corruption, account, query, page))
        elif corruption is not None:
            broken, content_type = corrupt_body(corruption, response)
            self._send(200, broken, content_type=content_type)
        elif response is NO_CONTENT or (not response and self.server.state.current):
            self._send(204, b"")
        else:
            self._send(200, response)

    def _cursor_page_number(self, path: str, query: dict[str, str], account: str) -> int | None:
        """Today's list page number, for ``corrupt_pages``: where the cursor starts, in pages
        of its walk (``1 + customers the filters select before it // per_page``), so page 2
        is the second page of each walk, filtered or not."""
        state = self.server.state
        if not state.current or self.command != "GET" or path != "/v1/customers":
            return None
        cursor = query.get("cursor")
        if not cursor:
            return 1
        try:
            position: Position = cursor_position(state, cursor)
            per_page = min(int(query.get("per_page", MAX_PER_PAGE)), MAX_PER_PAGE)
        except (Problem, ValueError):
            return None  # dispatch refuses it
        return state.rank(account, position, _filters(query)) // max(per_page, 1) + 1

    def _corrupt_page(
        self, mode: str, account: str, query: dict[str, str], page: int | None
    ) -> bytes:
        """A (valid: dispatch accepted it) GET /customers page, broken as ``mode`` says."""
        per_page = min(int(query.get("per_page", MAX_PER_PAGE)), MAX_PER_PAGE)
        state = self.server.state

        def read_page(number: int) -> dict[str, Any]:
            if state.current:  # that page of the same (filtered) walk
                entries, has_more, last = state.page_by_number(
                    account, number, per_page, _filters(query)
                )
                body = current_page(
                    state, entries, has_more, last, per_page, first=number == 1, total=None
                )
            else:
                body = state.list_page(account, number, per_page)
            document: dict[str, Any] = json.loads(body)
            return document

        return corrupt_list_page(mode, page or int(query.get("page", 1)), read_page)

    def _authenticate(self) -> tuple[str | None, str]:
        """(the account token, "") if the Basic credentials match an account, else (None, why)."""
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if not header:
            return None, (
                "Authorization: missing; send HTTP Basic auth with your account token as the"
                " user name and your secret key as the password"
            )
        if scheme.lower() != "basic":
            return None, f"Authorization: scheme {scheme!r} is not supported; use HTTP Basic"
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, "Authorization: not valid base64 of token:secret"
        token, _, secret = decoded.partition(":")
        expected = self.server.state.secret_of(token)
        if self.server.state.current:
            # Today's: the API key as user name; an empty password, or the key again (or
            # the secret an account was added with, for tests written for both dialects).
            known = expected is not None and (
                not secret
                or secrets.compare_digest(secret.encode(), token.encode())
                or secrets.compare_digest(secret.encode(), expected.encode())
            )
            return (token, "") if known else (None, _NO_API_KEY)
        if expected is None or not secrets.compare_digest(secret.encode(), expected.encode()):
            return None, "Authorization: unknown account token or wrong secret key"
        return token, ""

    def _control(self, path: str, body: bytes) -> None:
        """The /_emulator/ endpoints: faults, reset, openapi.json, requests."""
        server = self.server
        routes: dict[str, dict[str, Callable[[], bytes]]] = {
            "/_emulator/faults": {
                "GET": lambda: encode(server.faults.settings.to_json()),
                "POST": lambda: self._set_faults(body),
            },
            "/_emulator/reset": {"POST": lambda: _after(server.on_reset, b'{"reset":true}')},
            "/_emulator/openapi.json": {"GET": lambda: _openapi_document(server.state.current)},
            "/_emulator/requests": {
                "GET": lambda: encode(server.log.entries()),
                "DELETE": lambda: _after(server.log.clear, b'{"cleared":true}'),
            },
        }
        methods = routes.get(path)
        if methods is None:
            self._send_problem(404, f"path: no control endpoint {path}")
            return
        action = methods.get(self.command)
        if action is None:
            allowed = ", ".join(sorted(methods))
            self._send_problem(
                405,
                f"method: {self.command} is not allowed on {path} (allowed: {allowed})",
                {"Allow": allowed},
            )
            return
        try:
            self._send(200, action())
        except BadRequestBody as problem:
            self._send_problem(400, problem.message)

    def _set_faults(self, body: bytes) -> bytes:
        try:
            settings = FaultSettings.from_json(json.loads(body or b"{}"))
        except (ValueError, TypeError, RecursionError) as error:
            raise BadRequestBody(str(error)) from None
        self.server.faults.configure(settings)
        return encode(settings.to_json())

    def __getattr__(self, name: str) -> Any:
        # The stdlib looks up do_<METHOD> and answers 501 (in HTML) when it is missing;
        # every method goes to the router instead, which answers 405 (with Allow) on a
        # known path, in JSON, as the API does.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


def _filters(query: dict[str, str]) -> dict[str, str]:
    """Today's list filters in a query."""
    return {name: query[name] for name in CURRENT_FILTERS if name in query}


def _after(action: Callable[[], None], body: bytes) -> bytes:
    action()
    return body


def _parse_for_log(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # a deeply nested body is the route's to refuse (400)
        return None
