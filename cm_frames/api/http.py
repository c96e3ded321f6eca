"""HTTP helpers of the client: error messages, base URL checks, cheap page scans.

Pure functions (no session, no I/O) so each can be tested on its own.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from urllib.parse import urlsplit

from cm_frames.errors import ValidationError

__all__ = [
    "error_message",
    "is_loopback",
    "normalise_base_url",
    "page_has_more",
]


def error_message(body: bytes, reason: str) -> tuple[str, Any]:
    """The server's explanation of an error and the decoded body (JSON ``message``, else text)."""
    try:
        decoded: Any = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return (text[:500] or reason or "no message"), text
    if isinstance(decoded, dict):
        for key in ("message", "error", "errors"):
            if decoded.get(key):
                return str(decoded[key]), decoded
    return (reason or "no message"), decoded


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, as in a URL) is this machine's loopback."""
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


# The top-level keys of a page follow its "entries" array in the API's documents, so the last
# "has_more" after the last "]" is the page's own flag, not a customer's custom key.
_HAS_MORE = re.compile(rb'"has_more"\s*:\s*(true|false)')
# Below this size a page is decoded fully: cheap, and the only way to count its entries
# (an empty page is about 60 bytes; a page of even one customer is far larger).
_SMALL_PAGE = 4096


def page_has_more(body: bytes) -> tuple[bool, int | None]:
    """``has_more`` of a customers page and, when the page was decoded, its number of entries.

    Decoding a 150 KB page costs milliseconds that the Arrow read path pays again, so large
    pages are only scanned at their tail. Falls back to a full decode when the tail does not
    hold the flag.
    """
    if len(body) >= _SMALL_PAGE:
        tail = body[body.rfind(b"]") + 1 :]
        found = _HAS_MORE.findall(tail)
        if len(found) == 1:
            return found[0] == b"true", None
    page = json.loads(body)
    if not isinstance(page, dict) or not isinstance(page.get("entries"), list):
        raise ValueError("a customers page must be a JSON object with an 'entries' list")
    return bool(page.get("has_more", False)), len(page["entries"])
