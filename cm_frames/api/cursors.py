"""Every customer of today's API, by cursor, walked in disjoint parts side by side.

A cursor walk is sequential by nature (page 2 needs page 1's answer), so a large account is
hundreds of round trips in a row. ``walk_customers`` splits the account into parts that are
walked at the same time, each its own cursor walk, within the client's ``max_workers`` and
rate limit:

1. **ranges** of the API's order (customer-since, then id; customers without a
   customer-since, leads, last): the recorded cursor is base64 of ``"<customer-since>&<id>"``
   of the last entry, so a walk can start at a chosen time. The time ranges are walked
   unfiltered, and the customers without a customer-since by status. Used only where it
   proves itself: the probe's cursor must decode to its last entry, a range must start past
   its cursor and stop at the next range's start, consecutive ranges must join exactly (the
   row one stopped at is the next one's first), rows in order, no uuid twice;
2. **status parts**, one walk per status of today's list (the documented ``status`` filter);
3. **one sequential walk**.

Any refusal or misfit of a strategy drops what it read and falls back to the next, with a
log line saying why. A customer that changes part during the load (a status change, a lead
that converts) is found by uuid when it shows up twice and read again; one it leaves behind
is found by the counts each status has after the load (the answers' ``total_pages`` with
``per_page=1``), and the statuses whose counts differ are walked again. A load has every
customer once, or raises ``PagingError``.

The consumer receives ``Rows`` (customer objects, in no particular order: the caller sorts by
``order_key``) and ``Forget`` (ids whose earlier rows are void, a fresher row follows or the
customer is gone).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

from cm_frames.errors import APIError, NotFound, PagingError

__all__ = [
    "STATUSES",
    "STRATEGIES",
    "Forget",
    "Part",
    "Position",
    "Rows",
    "Strategy",
    "decode_answer",
    "decode_cursor",
    "encode_cursor",
    "order_key",
    "position_of",
    "walk_customers",
]

logger = logging.getLogger("cm_frames")

#: Today's customer statuses (dev.chartmogul.com), the values of the ``status`` filter.
STATUSES: Final = (
    "New Lead",
    "Working Lead",
    "Qualified Lead",
    "Unqualified Lead",
    "Active",
    "Past Due",
    "Cancelled",
)
PER_PAGE: Final = 200
# More parts than workers, so a part that holds more customers than its share does not
# leave the other workers idle at the end.
_PARTS_PER_WORKER: Final = 4
_MAX_ROUNDS: Final = 3
_AGAIN = "Nothing from this load was kept. Load again (cm.read_customers(client, refresh=True))"

Strategy = Literal["auto", "ranges", "statuses", "sequential"]
STRATEGIES: Final[tuple[Strategy, ...]] = ("auto", "ranges", "statuses", "sequential")

#: A place in the API's order: (customer-since in ns since the epoch, or None; id).
Position = tuple[int | None, int]


class Fetch(Protocol):
    """One GET of the list with these query parameters, the answer decoded.

    ``cancel``, when given and set, ends the request's waits between retries (its failure
    is raised): a walk stops its other parts' retries as soon as one part fails.
    """

    def __call__(
        self, params: dict[str, Any], *, cancel: threading.Event | None = None
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Rows:
    """Customer objects of one page, as the API gave them (after the part's range cut).

    Attributes
    ----------
    entries : list of dict
        The customer objects, in the API's order within the page.
    part : str
        The label of the walk that read them (such as ``"all customers"``, or
        ``"read again"`` for a customer read anew by uuid).
    """

    entries: list[dict[str, Any]]
    part: str


@dataclass(frozen=True, slots=True)
class Forget:
    """Customer ids whose rows given so far are void (a fresher one may follow).

    Attributes
    ----------
    ids : tuple of int
        The ids whose earlier rows the consumer drops.
    """

    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Part:
    """One cursor walk: a status filter, a crafted start and an exclusive stop position.

    Parameters
    ----------
    label : str
        What the walk covers, for log lines and ``Rows.part``.
    status : str, optional
        Only customers with this status (the ``status`` filter); None for all.
    start : tuple, optional
        Start right after this position (an encoded cursor); None: from the first customer.
    stop : tuple, optional
        Stop before this position; None: to the last customer.
    """

    label: str
    status: str | None = None
    start: Position | None = None
    stop: Position | None = None


class _Misfit(Exception):
    """A strategy's parts do not fit together: fall back to the next strategy."""


def order_key(position: Position) -> tuple[int, int, int]:
    """The sort key of a position: customer-since ascending, then id; no customer-since last.

    Parameters
    ----------
    position : tuple
        ``(customer-since in ns or None, id)``.

    Returns
    -------
    tuple of int
        Sorts as the API orders customers.

    Examples
    --------
    >>> order_key((None, 5)) > order_key((10**18, 7))
    True
    """
    since, customer_id = position
    return (1, 0, customer_id) if since is None else (0, since, customer_id)


def _since_ns(text: Any) -> int | None:
    if text is None or text == "":
        return None
    return _ns(datetime.fromisoformat(str(text)))


def _ns(moment: datetime) -> int:
    """Nanoseconds since the epoch, exactly (no float on the way); naive is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def position_of(entry: dict[str, Any]) -> Position:
    """Where a customer object stands in the API's order.

    Parameters
    ----------
    entry : dict
        A customer object (``customer-since`` and ``id``).

    Returns
    -------
    tuple
        ``(customer-since in ns or None, id)``.

    Raises
    ------
    ValueError
        ``customer-since`` is not ISO 8601 or ``id`` is not an int.

    Examples
    --------
    >>> position_of({"id": 3, "customer-since": "1970-01-01T00:00:01.000Z"})
    (1000000000, 3)
    """
    customer_id = entry.get("id")
    if type(customer_id) is not int:
        raise ValueError(f"id {customer_id!r} is not an int")
    return _since_ns(entry.get("customer-since")), customer_id


def encode_cursor(position: Position) -> str:
    """The cursor that starts a walk right after ``position`` (the recorded format).

    Parameters
    ----------
    position : tuple
        ``(customer-since in ns or None, id)``.

    Returns
    -------
    str
        base64 of ``"<customer-since, 9 fractional digits>Z&<id>"`` (``"&<id>"`` without one).

    Examples
    --------
    >>> base64.b64decode(encode_cursor((10**9, 7))).decode()
    '1970-01-01T00:00:01.000000000Z&7'
    """
    since, customer_id = position
    text = "" if since is None else _format_ns(since)
    return base64.b64encode(f"{text}&{customer_id}".encode()).decode()


def _format_ns(since: int) -> str:
    seconds, nanos = divmod(since, 10**9)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def decode_cursor(cursor: str) -> Position | None:
    """The position a cursor in the recorded format stands for; None for any other cursor.

    Parameters
    ----------
    cursor : str
        A cursor from an answer.

    Returns
    -------
    tuple or None
        ``(customer-since in ns or None, id)`` of the entry the cursor follows, or None
        for a cursor not in the recorded format.

    Examples
    --------
    >>> decode_cursor(encode_cursor((None, 12)))
    (None, 12)
    >>> decode_cursor("opaque") is None
    True
    """
    try:
        text = base64.b64decode(cursor, validate=True).decode()
        since, _, customer_id = text.rpartition("&")
        if not _ or not customer_id.isdigit():
            return None
        return _since_ns(since), int(customer_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


@dataclass
class _Held:
    """What the consumer has been given: uuid → (id, status), and the movers seen twice."""

    rows: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    movers: dict[str, int] = field(default_factory=dict)

    def take(self, entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh = []
        for entry in entries:
            uuid = str(entry.get("uuid"))
            if uuid in self.rows:
                # Seen in another part (or earlier in this one after a move): read it again
                # at the end rather than guess which copy is current.
                self.movers[uuid] = self.rows[uuid][0]
                continue
            self.rows[uuid] = (entry["id"], entry.get("status"))
            fresh.append(entry)
        return fresh

    def statuses(self) -> dict[str | None, int]:
        counts: dict[str | None, int] = {}
        for _, status in self.rows.values():
            counts[status] = counts.get(status, 0) + 1
        return counts


def walk_customers(
    fetch: Fetch,
    *,
    workers: int,
    get_customer: Callable[[str], dict[str, Any] | None],
    per_page: int = PER_PAGE,
    strategy: Strategy = "auto",
    now: datetime | None = None,
) -> Generator[Rows | Forget, None, None]:
    """Every customer of the account, walked in parts side by side (see the module).

    Parameters
    ----------
    fetch : callable
        ``fetch(params, cancel=None) -> answer``: one GET of the list with these query
        parameters, the answer decoded (the client's request loop: retries, rate limit;
        ``cancel`` ends its retry waits).
    workers : int
        Parts walked at once.
    get_customer : callable
        ``get_customer(uuid) -> customer object``, or None when it is gone: how a customer
        seen in two parts is read again.
    per_page : int, default 200
        Customers per page.
    strategy : {"auto", "ranges", "statuses", "sequential"}, default "auto"
        How to split: ``"auto"`` splits accounts of more than two pages when more than
        one worker may run, trying ranges first; the others start at that strategy (and
        still fall back from it).
    now : datetime, optional
        The end of the time ranges (default: now).

    Yields
    ------
    Rows or Forget
        Pages of customers (in no particular order), and ids to void.

    Raises
    ------
    PagingError
        The pages do not fit together even walked one at a time, or the account kept
        changing over several rounds.
    APIError, TransportError
        A request failed after its retries.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    probe = fetch({"per_page": 1})
    total = _count(probe)
    if strategy == "auto":
        split = total is not None and total > 2 * per_page and workers > 1
        strategy = "ranges" if split else "sequential"
    strategies: list[tuple[str, Callable[[], list[Part]]]] = []
    if strategy == "ranges":
        ranges = _range_parts(probe, total or 0, workers, per_page, now or datetime.now(UTC))
        if ranges is not None:
            strategies.append(("ranges of the order", lambda: ranges))
    if strategy in ("ranges", "statuses"):
        strategies.append(("status parts", lambda: [Part(f"status {s}", s) for s in STATUSES]))
    strategies.append(("one sequential walk", lambda: [Part("all customers")]))

    held = _Held()
    for number, (name, parts) in enumerate(strategies):
        try:
            strict = number + 1 < len(strategies)
            yield from _walk_parts(fetch, parts(), workers, per_page, held, strict=strict)
        except _Misfit as misfit:
            following = strategies[number + 1][0]
            logger.info(
                "cursor load: %s did not fit (%s); falling back to %s", name, misfit, following
            )
            if held.rows:
                yield Forget(tuple(customer_id for customer_id, _ in held.rows.values()))
            held = _Held()
            continue
        break
    yield from _settle(fetch, held, workers, per_page, get_customer, total is not None)


def _count(answer: dict[str, Any]) -> int | None:
    """Customers matching a ``per_page=1`` query: its ``total_pages`` (None when absent)."""
    pages = answer.get("total_pages")
    if type(pages) is not int:
        return None
    return pages if answer.get("entries") else 0


def _range_parts(
    probe: dict[str, Any], total: int, workers: int, per_page: int, now: datetime
) -> list[Part] | None:
    entries = probe.get("entries") or []
    cursor = probe.get("cursor")
    if not entries or not isinstance(cursor, str):
        return None
    first = position_of(entries[0])
    if decode_cursor(cursor) != position_of(entries[-1]):
        logger.info("cursor load: the cursor is not in the recorded format; walking by status")
        return None
    parts: list[Part] = []
    start_ns = first[0]
    if start_ns is not None:
        end_ns = _ns(now)
        count = max(1, min(_PARTS_PER_WORKER * workers, math.ceil(total / per_page)))
        step = max(1, (end_ns - start_ns) // count)
        bounds: list[Position | None] = [None]
        bounds += [(start_ns + i * step, 0) for i in range(1, count)]
        bounds.append((None, 0))
        for i in range(count):
            lower, upper = bounds[i], bounds[i + 1]
            label = f"from {_label(lower)} to {_label(upper)}"
            parts.append(Part(label, start=lower, stop=upper))
    # Customers without a customer-since, after every dated one: by status from "&0". They
    # go first: a status's undated customers (the leads) are one walk that cannot be split
    # further, so it must not be the last to start.
    undated = [Part(f"no customer-since, {s}", s, start=(None, 0)) for s in STATUSES]
    return undated + parts


def _label(position: Position | None) -> str:
    if position is None:
        return "the start"
    if position[0] is None:
        return "the undated"
    return _format_ns(position[0])[:10]


@dataclass
class _Walked:
    """How one part's walk went: its first row and the row it stopped at."""

    first: Position | None = None
    stopped_at: Position | None = None


def _walk_parts(
    fetch: Fetch,
    parts: Sequence[Part],
    workers: int,
    per_page: int,
    held: _Held,
    *,
    strict: bool,
) -> Generator[Rows | Forget, None, None]:
    events: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=4 * workers)
    cancel = threading.Event()
    walked = [_Walked() for _ in parts]

    def run(index: int) -> None:
        try:
            _walk_one(fetch, parts[index], walked[index], per_page, events, cancel, strict=strict)
            events.put(("done", index))
        except BaseException as exc:  # handed to the consumer's thread, which re-raises it
            events.put(("error", exc))

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cm_frames-cursor")
    try:
        for index in range(len(parts)):
            pool.submit(run, index)
        remaining = len(parts)
        while remaining:
            kind, value = events.get()
            if kind == "rows":
                fresh = held.take(value.entries)
                if fresh:
                    yield Rows(fresh, value.part)
            elif kind == "done":
                remaining -= 1
            else:
                raise value
    finally:
        cancel.set()
        # Unblock walkers waiting on a full queue, then wait for them to stop.
        while True:
            try:
                events.get_nowait()
            except queue.Empty:
                break
        pool.shutdown(wait=True, cancel_futures=True)
    if strict:
        _check_joins(parts, walked)


def _walk_one(
    fetch: Fetch,
    part: Part,
    walked: _Walked,
    per_page: int,
    events: queue.Queue[tuple[str, Any]],
    cancel: threading.Event,
    *,
    strict: bool,
) -> None:
    cursor = encode_cursor(part.start) if part.start is not None else None
    stop = order_key(part.stop) if part.stop is not None else None
    floor = order_key(part.start) if part.start is not None else None
    last: tuple[int, int, int] | None = None
    pages = 0

    def misfit(problem: str) -> Exception:
        # A strategy that can fall back does; the last one's misfit is the load's error.
        if strict:
            return _Misfit(f"{part.label}: {problem}")
        return PagingError(f"{part.label}, page {pages}: {problem}. {_AGAIN}")

    while not cancel.is_set():
        params: dict[str, Any] = {"per_page": per_page}
        if part.status is not None:
            params["status"] = part.status
        if cursor is not None:
            params["cursor"] = cursor
        try:
            answer = fetch(params, cancel=cancel)
        except APIError as exc:
            if strict and 400 <= exc.status < 500 and exc.status not in (401, 403, 429):
                raise _Misfit(f"{part.label}: the API refused the walk ({exc.status})") from None
            raise
        pages += 1
        entries = answer.get("entries")
        if not isinstance(entries, list):
            raise PagingError(
                f"{part.label}, page {pages}: no entries list in the answer. {_AGAIN}"
            )
        kept = []
        stopped = False
        for entry in entries:
            position = position_of(entry)
            key = order_key(position)
            if walked.first is None:
                walked.first = position
                if floor is not None and key <= floor:
                    raise misfit("the walk started before its cursor")
            if stop is not None and key >= stop:
                walked.stopped_at = position
                stopped = True
                break
            if last is not None and key <= last:
                raise misfit(
                    f"customer {entry.get('id')} is out of the API's order (customer-since, "
                    "then id)"
                )
            if part.status is not None and entry.get("status") != part.status:
                raise misfit(
                    f"customer {entry.get('id')} has status {entry.get('status')!r}: the status "
                    "filter was not applied"
                )
            last = key
            kept.append(entry)
        if kept:
            events.put(("rows", Rows(kept, part.label)))
        if stopped or not answer.get("has_more"):
            return
        following = answer.get("cursor")
        if not isinstance(following, str) or not following or following == cursor or not entries:
            raise PagingError(
                f"{part.label}, page {pages} says has_more but gives no new cursor "
                f"({following!r}): paging would not end. {_AGAIN}"
            )
        cursor = following


def _check_joins(parts: Sequence[Part], walked: Sequence[_Walked]) -> None:
    for index in range(len(parts) - 1):
        this, following = parts[index], parts[index + 1]
        before, after = walked[index], walked[index + 1]
        # Only unfiltered neighbours join: a status part starts at its own first customer.
        if this.stop is None or following.start != this.stop or following.status is not None:
            continue
        if before.stopped_at != after.first:
            raise _Misfit(
                f"{this.label} stopped at {before.stopped_at} but {following.label} began at "
                f"{after.first}"
            )


def _settle(
    fetch: Fetch,
    held: _Held,
    workers: int,
    per_page: int,
    get_customer: Callable[[str], dict[str, Any] | None],
    countable: bool,
) -> Generator[Rows | Forget, None, None]:
    """Read the movers again, then walk again every status whose count does not match."""
    for _ in range(_MAX_ROUNDS):
        if held.movers:
            movers, held.movers = held.movers, {}
            yield Forget(tuple(movers.values()))
            for uuid in movers:
                del held.rows[uuid]
            fresh = [c for c in map(_or_none(get_customer), movers) if c is not None]
            kept = held.take(fresh)
            if kept:
                yield Rows(kept, "read again")
        if not countable:
            return
        queries = [{"per_page": 1, "status": status} for status in STATUSES] + [{"per_page": 1}]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cm_frames-count") as pool:
            *found, total = [_count(answer) for answer in pool.map(fetch, queries)]
        counts = dict(zip(STATUSES, found, strict=True))
        mine = held.statuses()
        # The status counts are trusted only when they add up to the account's: a service
        # that ignores the filter counts everyone for each status, and a status outside
        # today's list is in no count. Then only the total is compared.
        by_status = sum(c or 0 for c in found) == total
        off = [
            s
            for s in STATUSES
            if by_status and counts[s] is not None and counts[s] != mine.get(s, 0)
        ]
        if not off and total == len(held.rows):
            return
        if not off:
            # Only a walk of everything sees what the counts cannot place.
            off_parts = [Part("all customers")]
        else:
            off_parts = [Part(f"status {s} again", s) for s in off]
        logger.info(
            "cursor load: the counts of %s changed during the load; reading them again",
            off or "the account",
        )
        voided = [
            (uuid, customer_id)
            for uuid, (customer_id, status) in held.rows.items()
            if not off or status in off
        ]
        if voided:
            yield Forget(tuple(customer_id for _, customer_id in voided))
            for uuid, _ in voided:
                del held.rows[uuid]
        again = _Held(rows=dict(held.rows))
        for event in _walk_parts(fetch, off_parts, workers, per_page, again, strict=False):
            if isinstance(event, Rows):
                yield event
        held.rows, held.movers = again.rows, again.movers
    raise PagingError(
        f"The account kept changing during the load ({_MAX_ROUNDS} rounds of reading the "
        f"customers whose status changed). {_AGAIN}, when fewer changes are being made."
    )


def _or_none(
    get_customer: Callable[[str], dict[str, Any] | None],
) -> Callable[[str], dict[str, Any] | None]:
    def read(uuid: str) -> dict[str, Any] | None:
        try:
            return get_customer(uuid)
        except NotFound:
            return None

    return read


def decode_answer(content: bytes) -> dict[str, Any]:
    """A list answer as a dict (``ValueError`` when it is not a JSON object).

    Parameters
    ----------
    content : bytes
        The answer's body.

    Returns
    -------
    dict
        The decoded JSON object.

    Raises
    ------
    ValueError
        The body is not JSON, or not a JSON object.

    Examples
    --------
    >>> decode_answer(b'{"entries": [], "has_more": false}')
    {'entries': [], 'has_more': False}
    """
    answer = json.loads(content)
    if not isinstance(answer, dict):
        raise ValueError("the answer is not a JSON object")
    return answer
