"""Transport security of the Client: plain HTTP only to loopback, TLS always verified.

``tests/api/test_client_units.py`` checks ``normalise_base_url`` on a few URLs; here the Client
itself is built (from the argument and from ``CHARTMOGUL_API_URL``) with every spelling of a
remote host, and real TLS handshakes run against a local HTTPS server whose certificate is
self-signed: refused by default, refused with the CA-bundle variables set empty (which some
requests versions took as "verify off"), accepted only when that certificate is explicitly
trusted. A redirect to another host never carries the credentials.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import cm_frames as cm

REMOTE_HTTP = [
    "http://api.chartmogul.com/v1/",
    "HTTP://api.chartmogul.com/v1/",
    "Http://API.CHARTMOGUL.COM/v1",
    "http://10.0.0.1/v1/",
    "http://192.168.1.20:8080/v1/",
    "http://0.0.0.0:8080/v1/",  # "any address", not loopback
    "http://[2001:db8::1]/v1/",
    "http://[::]/v1/",
    "http://[::ffff:10.0.0.1]/v1/",
    "http://localhost.evil.example/v1/",
    "http://127.0.0.1.nip.io/v1/",
    "http://evil.example/127.0.0.1/v1/",
]
LOOPBACK_HTTP = [
    "http://127.0.0.1:8123/v1/",
    "http://127.1.2.3/v1/",
    "http://localhost:8123/v1/",
    "http://LOCALHOST:8123/v1/",
    "http://[::1]:8123/v1/",
]


@pytest.mark.parametrize("url", REMOTE_HTTP)
def test_plain_http_to_a_remote_host_is_refused_before_anything_is_created(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(cm.ValidationError, match="requires HTTPS") as caught:
        cm.Client("token", "s3cr3t-value", url, cache_dir=tmp_path)
    assert "s3cr3t-value" not in str(caught.value)
    monkeypatch.setenv("CHARTMOGUL_API_URL", url)
    with pytest.raises(cm.ValidationError, match="CHARTMOGUL_API_URL"):
        cm.Client("token", "secret", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", LOOPBACK_HTTP)
def test_plain_http_to_loopback_is_allowed(url: str, tmp_path: Path) -> None:
    with cm.Client("token", "secret", url, cache=False) as client:
        assert client.base_url.lower() == url.lower().rstrip("/") + "/"


def test_a_path_cannot_point_a_request_at_another_host(tmp_path: Path) -> None:
    with cm.Client("token", "secret", "https://api.chartmogul.com/v1/", cache=False) as client:
        for path in ("http://evil.example/x", "//evil.example/x", "HTTPS://evil.example/"):
            with pytest.raises(cm.ValidationError, match="relative"):
                client.request("GET", path)


# --- TLS against a real local HTTPS server ----------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _RecordingServer

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        location = self.server.redirect_to
        if location is not None:
            self.send_response(302)
            self.send_header("Location", location + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"id": 1, "uuid": "cus_1", "attributes": {"tags": [], "custom": {}}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _RecordingServer(ThreadingHTTPServer):
    """A loopback server (TLS when given a context) that records each request's auth header."""

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None, redirect_to: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tls = tls
        self.redirect_to = redirect_to
        self.seen: list[tuple[str, str | None]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            # Handshake in the handler thread: a refused certificate fails there, not in accept.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client refusing our certificate is the expected outcome, not a server bug

    def url(self, scheme: str, host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.server_address[1]}/v1/"

    def __enter__(self) -> _RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made by openssl at test time; nothing fetched)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def https_server(certificate: tuple[Path, Path]) -> Iterator[_RecordingServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))
    with _RecordingServer(tls=context) as server:
        yield server


@pytest.fixture
def clean_ca_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _fetch(url: str) -> Any:
    with cm.Client("token", "secret", url, cache=False, retry_for=0) as client:
        return client.get_customer(1)


def test_an_untrusted_certificate_is_refused_by_default(
    https_server: _RecordingServer, clean_ca_environment: pytest.MonkeyPatch
) -> None:
    with pytest.raises(cm.TransportError, match="TLS verification failed"):
        _fetch(https_server.url("https"))
    assert https_server.seen == []  # no request (and no credentials) went over the connection


@pytest.mark.parametrize(
    "variables",
    [
        {"CURL_CA_BUNDLE": ""},
        {"REQUESTS_CA_BUNDLE": ""},
        {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""},
    ],
    ids=["CURL_CA_BUNDLE empty", "REQUESTS_CA_BUNDLE empty", "both empty"],
)
def test_empty_ca_bundle_variables_do_not_switch_verification_off(
    https_server: _RecordingServer,
    clean_ca_environment: pytest.MonkeyPatch,
    variables: dict[str, str],
) -> None:
    for name, value in variables.items():
        clean_ca_environment.setenv(name, value)
    with pytest.raises(cm.TransportError, match="TLS verification failed"):
        _fetch(https_server.url("https"))
    assert https_server.seen == []


def test_a_certificate_is_accepted_only_when_explicitly_trusted(
    https_server: _RecordingServer,
    clean_ca_environment: pytest.MonkeyPatch,
    certificate: tuple[Path, Path],
) -> None:
    # The server works: trusting its certificate through the documented variable succeeds, so
    # the refusals above are verification at work, not a broken server.
    clean_ca_environment.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    assert _fetch(https_server.url("https"))["id"] == 1
    assert https_server.seen == [("/v1/customers/1", "Basic dG9rZW46c2VjcmV0")]


def test_the_client_offers_no_switch_to_turn_verification_off() -> None:
    with pytest.raises(TypeError):
        cm.Client("token", "secret", verify=False)  # type: ignore[call-arg]


# --- redirects ----------------------------------------------------------------------------------


def test_a_redirect_to_another_host_does_not_carry_the_credentials(
    clean_ca_environment: pytest.MonkeyPatch,
) -> None:
    with _RecordingServer() as target:
        # Same machine, other host name: requests must treat it as another origin.
        with _RecordingServer(
            redirect_to=target.url("http", "localhost").removesuffix("/v1/")
        ) as origin:
            assert _fetch(origin.url("http"))["id"] == 1
        assert origin.seen == [("/v1/customers/1", "Basic dG9rZW46c2VjcmV0")]
        assert target.seen == [("/v1/customers/1", None)]
