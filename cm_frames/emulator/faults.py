"""Fault injection: latency, dropped connections, throttling, server errors, broken answers.

Decisions come from one seeded ``random.Random`` (the same draws for every /v1 request),
so a run with the same seed and the same request order sees the same faults.

``corrupt`` names one way a 200 answer is broken (``CORRUPTIONS``); ``corrupt_pages`` and
``corrupt_methods`` say which requests it hits. They need no randomness: a test says "page 3
of GET /customers is truncated" and gets exactly that. The body modes hit every endpoint:
``html_200`` stands for a proxy answering instead of the API, so the request never reaches
the state; the others break the answer of a request that was handled (a write has landed).
The list modes rewrite pages of ``GET /customers`` (``corrupt_list_page``).

``hang_after`` stands for a server that stops answering: after that many more requests
(of ``hang_methods``, if given), every request waits, before it reaches the state, until the
settings change or the emulator stops, and then goes on as the settings then say (at a stop,
its answer is lost with its connection). It needs no timing either: a test that kills a
client "after the 300th write, with a request unanswered" knows the client cannot finish
first.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

__all__ = [
    "CORRUPTIONS",
    "HTML_ERROR_PAGE",
    "LIST_CORRUPTIONS",
    "SERVER_ERRORS",
    "Fault",
    "FaultInjector",
    "FaultSettings",
    "as_tuple",
    "corrupt_body",
    "corrupt_list_page",
]

SERVER_ERRORS = (500, 502, 503, 504)

#: Broken answers to any request (status 200 each).
BODY_CORRUPTIONS: dict[str, str] = {
    "truncated_json": "the JSON body cut in half (Content-Length matches the cut body)",
    "html_200": "an HTML error page, text/html, instead of the API's answer (state untouched)",
    "wrong_content_type": "the right JSON body served as text/plain",
    "empty_body": "no body at all (Content-Length: 0)",
}
#: Broken pages of GET /customers (valid JSON, wrong paging).
LIST_CORRUPTIONS: dict[str, str] = {
    "has_more_forever": "has_more: true on every page; pages past the end repeat the last page",
    "has_more_forever_empty": "has_more: true on every page; pages past the end are empty",
    "duplicate_customer": (
        "the page starts with the previous page's last customer and its own last customer is"
        " pushed out (offset paging after a customer was added during the load)"
    ),
    "oversized_page": "the page also holds the next page's first customer (per_page + 1 entries)",
    "page_ignored": "every page is page 1 (a proxy that drops the query string)",
}
CORRUPTIONS: dict[str, str] = {**BODY_CORRUPTIONS, **LIST_CORRUPTIONS}
_METHODS = ("GET", "POST", "PUT", "DELETE")
_LIST_PATH = "/v1/customers"

HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>Bad"
    b" Gateway</h1><p>The upstream server did not answer in time. (cm_frames emulator:"
    b" corrupt=html_200)</p></body></html>\n"
)


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """What to inject; every rate is a probability per request, all default 0."""

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    drop_rate: float = 0.0
    latency_ms: float = 0.0
    retry_after_s: int = 0
    #: one of ``CORRUPTIONS``, or None
    corrupt: str | None = None
    #: page numbers of GET /customers that ``corrupt`` hits; empty: every request it applies to
    corrupt_pages: tuple[int, ...] = ()
    #: HTTP methods that ``corrupt`` hits; empty: every method
    corrupt_methods: tuple[str, ...] = ()
    #: requests let through before every request hangs; None: nothing hangs
    hang_after: int | None = None
    #: HTTP methods that ``hang_after`` counts; empty: every method
    hang_methods: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rates = {
            "error_rate": self.error_rate,
            "throttle_rate": self.throttle_rate,
            "drop_rate": self.drop_rate,
        }
        for name, rate in rates.items():
            if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
                raise ValueError(f"{name}: must be a number between 0 and 1, got {rate!r}")
        if sum(rates.values()) > 1:
            raise ValueError(
                f"error_rate + throttle_rate + drop_rate must be at most 1, got {sum(rates.values())}"
            )
        if not isinstance(self.latency_ms, int | float) or isinstance(self.latency_ms, bool):
            raise ValueError(f"latency_ms: must be a number, got {self.latency_ms!r}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms: must be >= 0, got {self.latency_ms!r}")
        if (
            not isinstance(self.retry_after_s, int)
            or isinstance(self.retry_after_s, bool)
            or self.retry_after_s < 0
        ):
            raise ValueError(f"retry_after_s: must be an integer >= 0, got {self.retry_after_s!r}")
        self._check_corruption()
        self._check_hang()

    def _check_corruption(self) -> None:
        if self.corrupt is not None and (
            not isinstance(self.corrupt, str) or self.corrupt not in CORRUPTIONS
        ):
            raise ValueError(
                f"corrupt: unknown mode {self.corrupt!r} (known: {', '.join(CORRUPTIONS)})"
            )
        pages, methods = self.corrupt_pages, self.corrupt_methods
        if not isinstance(pages, tuple) or not all(
            type(page) is int and page >= 1 for page in pages
        ):
            raise ValueError(f"corrupt_pages: must be a list of page numbers >= 1, got {pages!r}")
        if not isinstance(methods, tuple) or not all(m in _METHODS for m in methods):
            raise ValueError(
                f"corrupt_methods: must be a list of {', '.join(_METHODS)}, got {methods!r}"
            )
        if self.corrupt is None and (pages or methods):
            raise ValueError(
                "corrupt_pages/corrupt_methods: they choose the requests that corrupt hits; "
                f"set corrupt too (one of {', '.join(CORRUPTIONS)})"
            )
        if self.corrupt in LIST_CORRUPTIONS and methods and "GET" not in methods:
            raise ValueError(
                f"corrupt_methods: {self.corrupt} only changes GET /customers pages, "
                f"so {list(methods)} would never hit it"
            )

    def _check_hang(self) -> None:
        hang, methods = self.hang_after, self.hang_methods
        if hang is not None and (not isinstance(hang, int) or isinstance(hang, bool) or hang < 0):
            raise ValueError(f"hang_after: must be an integer >= 0 (or null: never), got {hang!r}")
        if not isinstance(methods, tuple) or not all(m in _METHODS for m in methods):
            raise ValueError(
                f"hang_methods: must be a list of {', '.join(_METHODS)}, got {methods!r}"
            )
        if hang is None and methods:
            raise ValueError(
                "hang_methods: it chooses the requests hang_after counts; set hang_after too"
            )

    def corruption_for(
        self, method: str, path: str, query: Mapping[str, str], page: int | None = None
    ) -> str | None:
        """The corruption of this request (already authenticated and valid), or None.

        ``page``: the list page's number when the query does not say it (today's cursor
        pages are numbered by where they start in their walk, filtered or not).
        """
        if self.corrupt is None or (self.corrupt_methods and method not in self.corrupt_methods):
            return None
        is_list = method == "GET" and path == _LIST_PATH
        if self.corrupt in LIST_CORRUPTIONS and not is_list:
            return None
        if page is None or not is_list:
            raw_page = query.get("page", "1")
            page = int(raw_page) if is_list and raw_page.isdigit() else None
        if self.corrupt_pages and page not in self.corrupt_pages:
            return None
        return self.corrupt

    @classmethod
    def from_json(cls, data: Any) -> FaultSettings:
        """Settings from a control request body; unknown names are an error, not ignored."""
        if not isinstance(data, dict):
            raise ValueError("body: expected a JSON object of fault settings")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"{unknown[0]}: unknown fault setting (known: {', '.join(sorted(known))})"
            )
        data = dict(data)
        for name in ("corrupt_pages", "corrupt_methods", "hang_methods"):
            if name in data:
                data[name] = as_tuple(name, data[name])
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        settings = asdict(self)
        settings["corrupt_pages"] = list(self.corrupt_pages)
        settings["corrupt_methods"] = list(self.corrupt_methods)
        settings["hang_methods"] = list(self.hang_methods)
        return settings


def as_tuple(name: str, values: Any) -> tuple[Any, ...]:
    """A list setting as the tuple FaultSettings holds (a str is not a list of names)."""
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple):
        raise ValueError(f"{name}: must be a list, got {values!r}")
    return tuple(
        v.upper() if name.endswith("_methods") and isinstance(v, str) else v for v in values
    )


class Fault(Enum):
    """What happens to one request instead of normal handling."""

    DROP = "drop"
    THROTTLE = "throttle"
    ERROR = "error"


class FaultInjector:
    """Thread-safe: holds the settings, the seeded random source and the hanging requests."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._seed = seed
        self._random = random.Random(seed)
        self._settings = FaultSettings()
        self._generation = 0  # bumped by every change of settings: wakes hanging requests
        self._let_through = 0  # requests hang_after counted since the settings were last set
        self._hanging = 0
        self._stopping = False  # set by release(): nothing hangs until serving() is called

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    @property
    def hanging(self) -> int:
        """How many requests are waiting in ``hold`` now."""
        with self._lock:
            return self._hanging

    def configure(self, settings: FaultSettings) -> None:
        with self._lock:
            self._settings = settings
            self._changed_locked()

    def clear(self) -> None:
        """No faults, and the random source back to its seed (a reset replays the same faults)."""
        with self._lock:
            self._settings = FaultSettings()
            self._random = random.Random(self._seed)
            self._changed_locked()

    def release(self) -> None:
        """The server is stopping: every hanging request goes on, and no new one hangs."""
        with self._lock:
            self._stopping = True
            self._generation += 1
            self._changed.notify_all()

    def serving(self) -> None:
        """The server (re)started: ``hang_after`` holds requests again."""
        with self._lock:
            self._stopping = False

    def _changed_locked(self) -> None:
        self._let_through = 0
        self._generation += 1
        self._changed.notify_all()

    def hold(self, method: str) -> None:
        """Return at once, or, once ``hang_after`` requests went through, wait.

        The wait ends when the settings change or ``release`` is called, whichever first.
        """
        with self._lock:
            settings = self._settings
            if settings.hang_after is None or self._stopping:
                return
            if self._let_through < settings.hang_after:
                self._let_through += not settings.hang_methods or method in settings.hang_methods
                return
            generation = self._generation
            self._hanging += 1
            try:
                self._changed.wait_for(lambda: self._generation != generation)
            finally:
                self._hanging -= 1

    def decide(self) -> tuple[FaultSettings, Fault | None, int]:
        """The settings in force, the fault for this request (or None) and its status.

        The same two draws per request whatever the settings (a uniform roll compared
        with the cumulative rates: drop, then throttle, then error; and which 5xx), so
        the sequence of faults depends only on the seed and the order of requests.
        """
        with self._lock:
            settings = self._settings
            roll = self._random.random()
            error_status = self._random.choice(SERVER_ERRORS)
        if roll < settings.drop_rate:
            return settings, Fault.DROP, 0
        if roll < settings.drop_rate + settings.throttle_rate:
            return settings, Fault.THROTTLE, 429
        if roll < settings.drop_rate + settings.throttle_rate + settings.error_rate:
            return settings, Fault.ERROR, error_status
        return settings, None, 200


# --- broken answers ---------------------------------------------------------------------------


def corrupt_body(mode: str, body: bytes) -> tuple[bytes, str]:
    """A handled request's 200 body and Content-Type, broken as ``mode`` (a body mode) says."""
    if mode == "truncated_json":
        return body[: len(body) // 2], "application/json"
    if mode == "wrong_content_type":
        return body, "text/plain; charset=utf-8"
    if mode == "empty_body":
        return b"", "application/json"
    if mode == "html_200":
        return HTML_ERROR_PAGE, "text/html; charset=utf-8"
    raise ValueError(f"corrupt: {mode!r} is not a body corruption")


#: ``read_page(page)``: the account's real page ``page`` (same per_page) as decoded JSON.
PageReader = Callable[[int], dict[str, Any]]


def corrupt_list_page(mode: str, page: int, read_page: PageReader) -> bytes:
    """The body of list page ``page`` broken as ``mode`` (one of ``LIST_CORRUPTIONS``)."""
    document = read_page(page)
    entries: list[Any] = document["entries"]
    if mode == "has_more_forever":
        if not entries and page > 1:
            last = _last_page(page, read_page)
            entries = read_page(last)["entries"] if last else []
        document["has_more"] = True
    elif mode == "has_more_forever_empty":
        document["has_more"] = True
    elif mode == "duplicate_customer":
        previous = read_page(page - 1)["entries"] if page > 1 else []
        if previous and entries:
            entries = [previous[-1], *entries[:-1]]
    elif mode == "oversized_page":
        entries = entries + read_page(page + 1)["entries"][:1]
    elif mode == "page_ignored":
        document = read_page(1)
        entries = document["entries"]
    else:
        raise ValueError(f"corrupt: {mode!r} is not a list page corruption")
    document["entries"] = entries
    return json.dumps(document, separators=(",", ":")).encode()


def _last_page(page: int, read_page: PageReader) -> int:
    """The last page with customers before ``page`` (0 if none): a binary search, O(log page)."""
    low, high = 0, page  # page ``low`` has customers (or is 0); page ``high`` has none
    while high - low > 1:
        middle = (low + high) // 2
        if read_page(middle)["entries"]:
            low = middle
        else:
            high = middle
    return low
