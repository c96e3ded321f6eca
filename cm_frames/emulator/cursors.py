"""Cursors of today's ``GET /customers``: where the next page starts.

The real service's cursor (recorded in the Ruby client's tests) is base64 of
``"<customer-since>&<id>"`` of a page's last entry, customer-since in UTC with nine
fractional digits: ``2016-01-01T12:00:00.000000000Z&114167450``. The list order is
customer-since ascending, then id, with leads (customer-since null) last, by id; a lead's
cursor has an empty time (``&114167452``). A page starts strictly after its cursor's
position, so ``base64("<T>&0")`` starts at the first customer with customer-since >= T,
and ``base64("&0")`` at the first lead.

``OpaqueCursors`` is the other setting: random tokens remembered by the server, so a
crafted cursor is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
from datetime import UTC, datetime

from cm_frames.emulator.problems import BadRequestBody

__all__ = [
    "CURSOR_MODES",
    "OpaqueCursors",
    "Position",
    "decode_cursor",
    "encode_cursor",
    "since_key",
]

CURSOR_MODES = ("transparent", "opaque")

#: (1 for a lead else 0, customer-since as nine-digit UTC text or "" for a lead, id): the
#: list order, compared as a tuple (and as a row value in SQLite).
Position = tuple[int, str, int]

_KEY = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
_ID = re.compile(r"-?[0-9]{1,19}")


def since_key(since: str | None) -> tuple[int, str]:
    """The sort key of a ``customer-since`` value (None: a lead, after every customer)."""
    if since is None:
        return 1, ""
    if _KEY.fullmatch(since):
        return 0, since
    moment = datetime.fromisoformat(since.replace("Z", "+00:00") if since.endswith("Z") else since)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return 0, moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond * 1000:09d}Z"


def encode_cursor(position: Position) -> str:
    """The recorded form: base64 of ``"<time>&<id>"``."""
    _, key, customer_id = position
    return base64.b64encode(f"{key}&{customer_id}".encode()).decode()


def _invalid(cursor: str) -> BadRequestBody:
    shown = cursor if len(cursor) <= 60 else cursor[:57] + "..."
    return BadRequestBody(f"Invalid cursor: {shown!r}", param="cursor")


def decode_cursor(cursor: str) -> Position:
    """The position a (transparent) cursor names; 400 for one that names none."""
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid(cursor) from None
    moment, separator, raw_id = text.rpartition("&")
    if not separator or not _ID.fullmatch(raw_id):
        raise _invalid(cursor)
    if not moment:
        return 1, "", int(raw_id)
    try:
        lead, key = since_key(moment)
    except (ValueError, OverflowError):
        raise _invalid(cursor) from None
    return lead, key, int(raw_id)


class OpaqueCursors:
    """Cursors that decode to nothing: random tokens, each remembered with its position."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._positions: dict[str, Position] = {}

    def issue(self, position: Position) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._positions[token] = position
        return token

    def resolve(self, cursor: str) -> Position:
        with self._lock:
            position = self._positions.get(cursor)
        if position is None:
            raise _invalid(cursor)
        return position
