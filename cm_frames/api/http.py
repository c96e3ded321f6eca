"""HTTP helpers of the client: error messages and base URL checks.

Pure functions (no session, no I/O) so each can be tested on its own.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

from cm_frames.errors import ValidationError

__all__ = [
    "describe_exception",
    "error_message",
    "is_loopback",
    "normalise_base_url",
]


def error_message(body: bytes, reason: str) -> tuple[str, Any]:
    """The server's explanation of an error, on one line, and the decoded body.

    Reads every recorded shape of the API's error bodies: ``{"code", "message", "param"}``,
    ``{"error": "..."}``, ``{"errors": {"field": "..."}}`` (or a list), ``{"error_details":
    [{"param", "code", "message"}]}``, and plain text (a 500 in ``text/plain``).

    Parameters
    ----------
    body : bytes
        The error response's body.
    reason : str
        The HTTP reason phrase (the message when the body has none).

    Returns
    -------
    tuple of (str, object)
        The message (one line, at most 500 characters), and the decoded body.

    Examples
    --------
    >>> error_message(b'{"message": "Customer not found"}', "Not Found")[0]
    'Customer not found'
    >>> error_message(b'{"code": 404, "message": "No customer", "param": "email"}', "")[0]
    'No customer (param: email)'
    >>> error_message(b'{"errors": {"name": "is too long"}}', "")[0]
    'name: is too long'
    >>> error_message(b'{"error_details": [{"param": "key", "message": "bad"}]}', "")[0]
    'key: bad'
    >>> error_message(b"Internal  Server Error  (at line 3)", "")[0]
    'Internal Server Error (at line 3)'
    """
    try:
        decoded: Any = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace")
        return _one_line(text) or reason or "no message", text.strip()
    message = _message_of(decoded) if isinstance(decoded, dict) else None
    return _one_line(message or "") or reason or "no message", decoded


def _message_of(body: dict[str, Any]) -> str | None:
    if body.get("message"):
        param = body.get("param")
        return f"{body['message']} (param: {param})" if param else str(body["message"])
    if body.get("error"):
        return _listed(body["error"])
    for key in ("errors", "error_details"):
        if body.get(key):
            return _listed(body[key])
    return None


def _listed(value: Any) -> str:
    """``{"name": "is too long"}``, ``[{"param", "message"}]``, or a string, as one text."""
    if isinstance(value, dict):
        if "message" in value:  # one of error_details: {"param", "code", "message"}
            where = value.get("param")
            return f"{where}: {value['message']}" if where else str(value["message"])
        return "; ".join(f"{field}: {_listed(problem)}" for field, problem in value.items())
    if isinstance(value, list):
        return "; ".join(_listed(item) for item in value)
    return str(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, as in a URL) is this machine's loopback.

    Parameters
    ----------
    host : str
        ``localhost``, an IPv4 address or an IPv6 one (bracketed or not).

    Returns
    -------
    bool
        True for ``localhost`` and the loopback addresses.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("[::1]"), is_loopback("example.com")
    (True, True, False)
    """
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_base_url(url: str) -> str:
    """Check the API base URL and return it with exactly one trailing slash.

    HTTPS only (the API refuses plain HTTP, and Basic auth must not travel in clear), except to
    a loopback host, where the local emulator listens.

    Parameters
    ----------
    url : str
        The base URL as given.

    Returns
    -------
    str
        The URL with exactly one trailing slash.

    Raises
    ------
    ValidationError
        Not an absolute http(s) URL, credentials in it, plain http:// to another host, or a
        query or fragment.

    Examples
    --------
    >>> normalise_base_url("https://api.chartmogul.com/v1")
    'https://api.chartmogul.com/v1/'
    """
    where = "base_url (argument to cm.Client, or CHARTMOGUL_API_URL)"
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError(
            f"{where} must be an absolute https:// URL such as "
            f"'https://api.chartmogul.com/v1/', got {url!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            f"{where} must not contain credentials; pass token= and secret= to cm.Client "
            "(or set CHARTMOGUL_ACCOUNT_TOKEN / CHARTMOGUL_SECRET_KEY) instead"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValidationError(
            f"{where} uses plain http:// to {parts.hostname!r}: the ChartMogul API requires "
            "HTTPS (credentials would travel in clear). Use https://, or http:// only to a "
            "loopback host (127.0.0.1, ::1, localhost) such as the local emulator"
        )
    if parts.query or parts.fragment:
        raise ValidationError(f"{where} must not have a query or fragment, got {url!r}")
    path = parts.path.rstrip("/") + "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


def describe_exception(exc: BaseException) -> str:
    """The cause of a requests exception, in words (its text has no credentials, only the URL).

    Parameters
    ----------
    exc : BaseException
        The exception requests raised.

    Returns
    -------
    str
        ``"<its type>: <the text of its innermost cause>"``.

    Examples
    --------
    >>> import requests
    >>> try:
    ...     try:
    ...         raise ConnectionRefusedError(111, "Connection refused")
    ...     except OSError:
    ...         raise requests.ConnectionError("Max retries exceeded with url: /v1/customers")
    ... except requests.ConnectionError as error:
    ...     print(describe_exception(error))
    ConnectionError: [Errno 111] Connection refused
    """
    cause: BaseException = exc
    while cause.__context__ is not None and str(cause.__context__):
        cause = cause.__context__
    text = str(cause) or type(cause).__name__
    return f"{type(exc).__name__}: {text}"
