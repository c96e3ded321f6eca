"""Executing a Plan: conflict check, requests, concurrency, journal and resume.

``apply_plan(plan, client)`` does, in order:

1. Decide what is left to do: operations the journal shows done count as applied. Those an
   earlier run sent without recording an answer (killed mid-request) are not done: step 2
   finds whether they landed (applied, ``SENT_EARLIER``) or not (sent again; without the
   check they are all sent again).
2. Conflict check (on by default): re-read the touched customers (one GET per customer, or
   the whole account page by page when that is fewer requests) and compare each operation's
   baseline value with the server's, typed. A changed value is ``conflicted`` and is not sent
   (nobody's later change is overwritten); a value already equal to the target is ``skipped``.
3. Group what survives into requests (``group_requests``: per customer and kind, by email only
   where every sharer still gets the same change) and send them: one worker per customer
   (its requests in order), customers concurrently. Every request is journaled before it
   leaves and after it is answered.

The client retries, rate-limits and invalidates its cache after each write. A permanent error
(400, 402, 404) fails that request only; an error that outlived the client's retries (no
answer, 5xx, 429) or a 401 stops the run: what was not sent is reported, and applying again
with the same journal (or ``result.retry(client)``) sends the rest.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from math import ceil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeGuard, Unpack

import pyarrow as pa

from cm_frames._files import ensure_private_dir
from cm_frames.api.dialect import Dialect
from cm_frames.api.limits import check_max_workers
from cm_frames.errors import (
    APIError,
    ChartMogulError,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationError,
)
from cm_frames.schema import parse_timestamps, render_json_text
from cm_frames.writeback.checks import check_dialect_precision
from cm_frames.writeback.journal import Journal, request_id
from cm_frames.writeback.operations import (
    Operation,
    Request,
    UpdateCustom,
    format_timestamp,
    group_requests,
    retyping_request,
)
from cm_frames.writeback.options import ApplyOptions, ProgressCallback, resolve
from cm_frames.writeback.plan import Plan
from cm_frames.writeback.result import (
    ALREADY_IN_PLACE,
    APPLIED,
    CONFLICTED,
    FAILED,
    FROM_JOURNAL,
    SENT_EARLIER,
    SKIPPED,
    ApplyResult,
    OperationResult,
    make_row,
)

if TYPE_CHECKING:
    from cm_frames.api.client import Client

__all__ = [
    "apply_plan",
    "check_account",
    "check_identity",
    "default_journal_path",
    "plan_id",
    "retry_operations",
]

PER_PAGE: Final = 200  # customers per list page when the conflict check reads the account


# --- entry point -----------------------------------------------------------------------------


def plan_id(plan: Plan) -> str:
    """The plan's identity: a hash of its JSON (what a journal is tied to).

    Parameters
    ----------
    plan : Plan
        The plan.

    Returns
    -------
    str
        16 hex digits; the default journal is named after it.

    Examples
    --------
    >>> from cm_frames.writeback.operations import AddTags
    >>> plan = Plan([AddTags(1, "cus_1", None, "vip")])
    >>> plan_id(plan) == plan_id(Plan.from_json(plan.to_json())), len(plan_id(plan))
    (True, 16)
    """
    return hashlib.sha256(plan.to_json().encode()).hexdigest()[:16]


def default_journal_path(client: Client, plan: Plan) -> Path:
    """Return where a plan's journal lives unless told otherwise: beside the client's cache.

    Parameters
    ----------
    client : Client
        The client the plan is applied with.
    plan : Plan
        The plan.

    Returns
    -------
    Path
        ``<cache_dir>/journals/<plan_id>.jsonl`` (the directory is created, mode 0700).

    Examples
    --------
    >>> import tempfile
    >>> import cm_frames as cm
    >>> from cm_frames.writeback.operations import AddTags
    >>> plan = Plan([AddTags(1, "cus_1", None, "vip")])
    >>> client = cm.Client("token", "secret", base_url="http://127.0.0.1:9/v1/",
    ...                    cache_dir=tempfile.mkdtemp())
    >>> default_journal_path(client, plan).name == f"{plan_id(plan)}.jsonl"
    True
    """
    return ensure_private_dir(client.cache_dir / "journals") / f"{plan_id(plan)}.jsonl"


def apply_plan(plan: Plan, client: Client, **options: Unpack[ApplyOptions]) -> ApplyResult:
    """Send ``plan`` through ``client``: journaled, conflict-checked, resumable.

    The same as ``plan.apply(client, **options)``.

    Parameters
    ----------
    plan : Plan
        What to send.
    client : Client
        A client of the account the plan was made from (checked before anything is sent).
    **options
        ``journal``, ``check_conflicts``, ``max_workers``, ``progress``: see
        ``cm_frames.writeback.options.ApplyOptions``.

    Returns
    -------
    ApplyResult
        What became of every operation.

    Raises
    ------
    ValidationError
        The plan belongs to another account, or an id names another customer than the plan
        was made for; nothing is sent.
    TypeError
        An unknown option.

    Examples
    --------
    >>> import cm_frames as cm
    >>> with cm.Emulator(customers=5, seed=1) as emu:
    ...     client = emu.client()
    ...     df = cm.read_customers(client, progress=False)
    ...     edited = df.copy()
    ...     edited["tag.trial"] = True
    ...     plan = edited.chartmogul.plan()
    ...     result = apply_plan(plan, client, progress=False)
    ...     again = apply_plan(plan, client, progress=False)  # nothing is sent twice
    >>> result.ok, result.applied, again.applied, again.by_status("skipped")[0].note
    (True, 5, 0, 'already in place')
    """
    return _run(plan, client, resolve(options, caller="apply_plan"), only=None)


def retry_operations(
    plan: Plan, client: Client, op_ids: Collection[str], **options: Unpack[ApplyOptions]
) -> ApplyResult:
    """Apply only the operations of ``plan`` whose ``op_id`` is in ``op_ids``.

    What ``ApplyResult.retry`` sends: the plan's journal still decides what is done, so an
    operation it shows applied is not sent again.

    Parameters
    ----------
    plan : Plan
        The plan applied before.
    client : Client
        A client of its account.
    op_ids : collection of str
        The operations to consider (``OperationResult.op_id``); the others are not reported.
    **options
        As for ``apply_plan``.

    Returns
    -------
    ApplyResult
        The rows of those operations only.

    Examples
    --------
    >>> import cm_frames as cm
    >>> with cm.Emulator(customers=5, seed=1) as emu:
    ...     client = emu.client()
    ...     df = cm.read_customers(client, progress=False)
    ...     edited = df.copy()
    ...     edited["tag.trial"] = True
    ...     plan = edited.chartmogul.plan()
    ...     first_two = [op.op_id for op in plan.operations[:2]]
    ...     result = retry_operations(plan, client, first_two, progress=False)
    >>> result.applied, len(result.rows)
    (2, 2)
    """
    return _run(plan, client, resolve(options, caller="retry_operations"), only=op_ids)


def _run(
    plan: Plan, client: Client, options: ApplyOptions, *, only: Collection[str] | None
) -> ApplyResult:
    journal, max_workers = options["journal"], options["max_workers"]
    check_conflicts, progress = options["check_conflicts"], options["progress"]
    started = time.monotonic()
    if not isinstance(plan, Plan):
        raise ValidationError(
            f"expected a cm_frames Plan (from df.chartmogul.plan()), got {type(plan).__name__}"
        )
    check_account(plan, client)
    check_dialect_precision(plan.operations, client.dialect)
    workers = check_max_workers(client.max_workers if max_workers is None else max_workers)
    ops = list(plan.operations)
    if not ops:
        return ApplyResult(
            plan, [], journal_path=None, requests_sent=0, seconds=0.0, options=options
        )

    path = Path(journal) if journal is not None else default_journal_path(client, plan)
    considered = ops if only is None else [op for op in ops if op.op_id in only]
    with (
        Journal.open(path, plan_id(plan), operations=len(ops), source=dict(plan.source)) as log,
        _Progress(progress, len(considered)) as bar,
    ):
        rows: dict[str, OperationResult] = {}
        pending: list[Operation] = []
        for op in considered:
            if op.op_id in log.done_op_ids:
                rows[op.op_id] = make_row(op, APPLIED, note=FROM_JOURNAL)
            else:
                pending.append(op)
        bar.advance(len(considered) - len(pending))

        email_groups: Mapping[str, Sequence[int]] = plan.email_groups
        retyped: list[UpdateCustom] = []
        if pending:
            # Always read, also without the conflict check: only the server can say whether
            # the customer an id names is the one the plan was made for (its uuid).
            try:
                server = _read_server(
                    client,
                    {op.customer_id: op.uuid for op in pending},
                    account_customers=plan.source.get("account_customers"),
                    emails=email_groups,
                    workers=workers,
                )
            except ChartMogulError as exc:
                exc.add_note(
                    "The check before writing could not read the customers' current "
                    "attributes, so nothing was sent. Apply again when the API answers."
                )
                raise
            check_identity(pending, server.uuids)
            if server.email_members is not None:
                email_groups = _still_shared(email_groups, server.email_members)
            pending = _check(
                pending,
                server,
                rows,
                bar,
                unconfirmed=log.unconfirmed_op_ids,
                compare=check_conflicts,
                dialect=client.dialect,
            )
            retyped = [
                op for op in pending if _needs_retyping(op, server.attributes[op.customer_id])
            ]

        skip = {op.op_id for op in retyped}
        requests = group_requests(
            [op for op in pending if op.op_id not in skip], email_groups, dialect=client.dialect
        )
        requests += [retyping_request(op, client.dialect) for op in retyped]
        log.start_run(len(requests))
        by_id = {op.op_id: op for op in pending}
        sent = _send(requests, client, log, workers, bar, by_id, rows)
        ordered = [rows[op.op_id] for op in considered]
        result = ApplyResult(
            plan,
            ordered,
            journal_path=path,
            requests_sent=sent,
            seconds=time.monotonic() - started,
            options=options,
        )
        log.finished(complete=result.failed == 0, counts=result.counts())
    return result


def check_account(plan: Plan, client: Client) -> None:
    """Refuse (``ValidationError``) a plan made from another account or API than ``client``'s.

    Cheap and offline: it compares the plan's provenance with the client's, so a dry run can
    make the same check before anything is sent.

    Parameters
    ----------
    plan : Plan
        The plan, with its ``source`` (the provenance of the frame it was made from).
    client : Client
        The client it is about to be applied with.

    Raises
    ------
    ValidationError
        When the plan's base URL or account hash is not the client's.

    Examples
    --------
    >>> import tempfile
    >>> import cm_frames as cm
    >>> from cm_frames.writeback.operations import AddTags
    >>> client = cm.Client("token", "secret", base_url="http://127.0.0.1:9/v1/",
    ...                    cache_dir=tempfile.mkdtemp())
    >>> check_account(Plan([AddTags(1, "cus_1", None, "vip")]), client)  # no source: passes
    >>> elsewhere = Plan([AddTags(1, "cus_1", None, "vip")], source={"base_url": "https://x/v1/"})
    >>> check_account(elsewhere, client)
    Traceback (most recent call last):
    ...
    cm_frames.errors.ValidationError: this plan was made from another account or API than ...
    """
    source = plan.source
    mismatched = [
        f"{name} {source[name]!r} (the client's is {mine!r})"
        for name, mine in (
            ("base_url", client.base_url),
            ("account_hash", client.account_hash),
            ("dialect", client.dialect),
        )
        if source.get(name) not in (None, mine)
    ]
    if mismatched:
        raise ValidationError(
            "this plan was made from another account or API than the client's: "
            + "; ".join(mismatched)
            + ". Nothing was sent. Apply it with a client for the account the frame was loaded "
            "from (cm.Client(api_key=..., base_url=...) of that account, or cm.Client(token, "
            "secret, base_url) in the reference's dialect)."
        )


class _Progress:
    """A tqdm bar over operations, a callback, or nothing; always advanced in this thread."""

    def __init__(self, progress: bool | ProgressCallback, total: int) -> None:
        self._total = total
        self._done = 0
        self._callback: ProgressCallback | None = None
        self._bar: Any = None
        if callable(progress):
            self._callback = progress
        elif progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc="Applying", unit=" ops", leave=True)

    def advance(self, n: int) -> None:
        if n <= 0:
            return
        self._done += n
        if self._bar is not None:
            self._bar.update(n)
        if self._callback is not None:
            self._callback(self._done, self._total)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()


# --- the conflict check ----------------------------------------------------------------------

_ABSENT: Final = object()


@dataclass(frozen=True, slots=True)
class _Attributes:
    tags: frozenset[str]
    custom: Mapping[str, Any]


def _attributes(raw: Any) -> _Attributes:
    raw = raw if isinstance(raw, Mapping) else {}
    tags = raw.get("tags") or []
    custom = raw.get("custom") or {}
    return _Attributes(
        frozenset(str(t) for t in tags), custom if isinstance(custom, Mapping) else {}
    )


@dataclass(frozen=True, slots=True)
class _ServerState:
    attributes: Mapping[int, _Attributes]
    uuids: Mapping[int, str]  # customer id -> the uuid the server has for it
    missing: Mapping[int, str]  # customer id -> why it could not be read (404)
    email_members: Mapping[str, tuple[int, ...]] | None  # known only from a whole-account read


def _read_server(
    client: Client,
    customers: Mapping[int, str],
    *,
    account_customers: Any,
    emails: Mapping[str, Sequence[int]],
    workers: int,
) -> _ServerState:
    """The current attributes of ``customers`` (id → the plan's uuid): each, or all pages."""
    customer_ids = sorted(customers)
    size = account_customers
    # One request per page against one per customer (plus a page for late arrivals).
    known = isinstance(size, int) and not isinstance(size, bool) and size >= 0
    if known and ceil(size / PER_PAGE) + 1 < len(customer_ids):
        return _read_pages(client, customer_ids, emails)
    return _read_each(client, customers, workers)


def _read_each(client: Client, customers: Mapping[int, str], workers: int) -> _ServerState:
    customer_ids = sorted(customers)
    by_uuid = client.dialect == "current"

    def read(customer_id: int) -> tuple[_Attributes, str] | str:
        # The whole customer, not only its attributes: the uuid proves who the id names.
        # Today's API is addressed by uuid: then the id the server gives back is the proof.
        uuid = customers[customer_id]
        try:
            body: Any = client.get_customer(uuid if by_uuid else customer_id, refresh=True)
        except NotFound as exc:
            return f"customer {customer_id} was not found on the server ({exc.message}); not sent"
        body = body if isinstance(body, Mapping) else {}
        if by_uuid and body.get("id") != customer_id:
            return _attributes(body.get("attributes")), f"{uuid} (customer {body.get('id')})"
        return _attributes(body.get("attributes")), str(body.get("uuid"))

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cm_frames-check") as pool:
        found = dict(zip(customer_ids, pool.map(read, customer_ids), strict=True))
    return _ServerState(
        {c: a[0] for c, a in found.items() if isinstance(a, tuple)},
        {c: a[1] for c, a in found.items() if isinstance(a, tuple)},
        {c: a for c, a in found.items() if isinstance(a, str)},
        None,
    )


def _read_pages(
    client: Client, customer_ids: list[int], emails: Mapping[str, Sequence[int]]
) -> _ServerState:
    wanted = set(customer_ids)
    attributes: dict[int, _Attributes] = {}
    uuids: dict[int, str] = {}
    members: dict[str, list[int]] = {email: [] for email in emails}
    # By-email requests touch every customer with the email now: knowing who that is needs
    # the whole account; without such requests the read stops once every customer is seen.
    stop_early = not members
    pages = client.iter_pages(cache=False, refresh=True)
    try:
        for page in pages:
            for entry in page.get("entries", []):
                customer_id = entry.get("id")
                if customer_id in wanted:
                    attributes[customer_id] = _attributes(entry.get("attributes"))
                    uuids[customer_id] = str(entry.get("uuid"))
                email = entry.get("email")
                if email in members:
                    members[email].append(customer_id)
            if stop_early and len(attributes) == len(wanted):
                break
    finally:
        pages.close()
    missing = {
        c: f"customer {c} is no longer in the account (not in any page of GET customers); not sent"
        for c in wanted - attributes.keys()
    }
    email_members = None if stop_early else {e: tuple(ids) for e, ids in members.items()}
    return _ServerState(attributes, uuids, missing, email_members)


def check_identity(operations: Iterable[Operation], server_uuids: Mapping[int, str]) -> None:
    """Refuse the whole apply when an operation's customer id names another customer.

    Each operation carries the id and the uuid of the customer the plan was made for; the
    server says which uuid the id has now. A mismatch means the plan was edited (or made for
    other customers), and a write by that id would land on someone else: ``ValidationError``,
    before any request is sent. Customers the server no longer has are reported per operation.

    Parameters
    ----------
    operations : iterable of Operation
        The operations about to be sent.
    server_uuids : mapping of int to str
        The uuid the server has for each customer id now (ids it no longer has left out).

    Raises
    ------
    ValidationError
        When some operation's uuid is not the one the server has for its id.

    Examples
    --------
    >>> from cm_frames.writeback.operations import AddTags
    >>> check_identity([AddTags(1, "cus_1", None, "vip")], {1: "cus_1"})
    >>> check_identity([AddTags(1, "cus_1", None, "vip")], {1: "cus_9"})
    Traceback (most recent call last):
    ...
    cm_frames.errors.ValidationError: ...
    """
    wrong: dict[int, tuple[str, str]] = {}
    for op in operations:
        found = server_uuids.get(op.customer_id)
        if found is not None and found != op.uuid:
            wrong.setdefault(op.customer_id, (op.uuid, found))
    if not wrong:
        return
    shown = "; ".join(
        f"customer {customer_id}: the plan names uuid {named!r}, the server has {found!r}"
        for customer_id, (named, found) in list(wrong.items())[:5]
    )
    more = f" (and {len(wrong) - 5:,} more)" if len(wrong) > 5 else ""
    raise ValidationError(
        f"{len(wrong):,} customer id{'s' if len(wrong) > 1 else ''} of this plan name other "
        f"customers than the plan was made for: {shown}{more}. Writing by these ids would "
        "change someone else's attributes, so nothing was sent. The plan file was edited or "
        "belongs to other customers: make the plan again from a fresh load "
        "(df = cm.read_customers(client); edit; df.chartmogul.plan())."
    )


def _still_shared(
    email_groups: Mapping[str, Sequence[int]], members: Mapping[str, tuple[int, ...]]
) -> dict[str, Sequence[int]]:
    """The email groups whose members on the server are still exactly the plan's."""
    return {
        email: ids
        for email, ids in email_groups.items()
        if sorted(members.get(email, ())) == sorted(ids)
    }


def _check(
    pending: list[Operation],
    server: _ServerState,
    rows: dict[str, OperationResult],
    bar: _Progress,
    *,
    unconfirmed: Collection[str],
    compare: bool = True,
    dialect: Dialect = "enrichment",
) -> list[Operation]:
    """Classify each operation against the server; returns those still to send.

    ``unconfirmed``: operations an earlier run of this journal sent without recording an
    answer (it died, or the connection did). Found in place, they are this plan's own writes
    that landed: applied (so ``undo_plan()`` reverts them), not "already in place".
    ``compare=False`` (``check_conflicts=False``): only customers the server no longer has
    are held back; every other operation is sent whatever the server's value.
    """
    survivors = []
    for op in pending:
        gone = server.missing.get(op.customer_id)
        if gone is not None:
            rows[op.op_id] = make_row(op, FAILED, error=gone)
            continue
        if not compare:
            survivors.append(op)
            continue
        verdict = _compare(op, server.attributes[op.customer_id], dialect)
        if verdict is None:
            survivors.append(op)
        elif verdict.note == ALREADY_IN_PLACE and op.op_id in unconfirmed:
            rows[op.op_id] = make_row(op, APPLIED, note=SENT_EARLIER)
        else:
            rows[op.op_id] = verdict
    bar.advance(len(pending) - len(survivors))
    return survivors


def _compare(
    op: Operation, server: _Attributes, dialect: Dialect = "enrichment"
) -> OperationResult | None:
    """None when ``op`` should be sent; else its row (skipped: already there; or conflict).

    Read from each class's ``old_new()`` (a tag as False/True, an absent value as None), so
    no kind is named here: the server holding ``new`` already is "already in place", holding
    ``old`` is what the plan expects, anything else is a conflict (tags have no conflicts).
    Timestamps compare at the precision the dialect's server stores (``_same``).
    """
    old, new = op.old_new()
    type_ = op.value_type
    if type_ is None:
        present = op.name in server.tags
        if present == new:
            return make_row(op, SKIPPED, note=ALREADY_IN_PLACE, server=present)
        return None
    current = server.custom.get(op.name, _ABSENT)
    if current is _ABSENT:
        if new is None:
            return make_row(op, SKIPPED, note=ALREADY_IN_PLACE)
        if old is None:
            return None
        return _conflict(op, None, expected=old)
    if old is not None and _same(type_, current, old, dialect):
        return None
    if new is not None and _same(type_, current, new, dialect):
        return make_row(op, SKIPPED, note=ALREADY_IN_PLACE, server=current)
    return _conflict(op, current, expected=old)


_DIGITS = re.compile(r"-?[0-9]+")


def _needs_retyping(op: Operation, server: _Attributes) -> TypeGuard[UpdateCustom]:
    """Whether a PUT of ``op`` would be refused for the type the server stores the value with.

    A key whose customers hold different JSON types reads as String, but PUT keeps each
    customer's stored type: text cannot go onto a stored Integer or Boolean that way (digits
    onto an Integer can, and read back as the same text). Such an update goes as a typed POST
    (``retyping_request``), which stores the String the frame shows.
    """
    if not isinstance(op, UpdateCustom) or op.type != "String":
        return False
    current = server.custom.get(op.key)
    if current is None or isinstance(current, str):
        return False
    return not (type(current) is int and isinstance(op.new, str) and _DIGITS.fullmatch(op.new))


def _conflict(op: Operation, current: Any, *, expected: Any) -> OperationResult:
    now = "absent" if current is None else _json(current)
    then = "absent" if expected is None else _json(expected)
    error = (
        f"{op.attribute} of customer {op.customer_id} is {now} on the server, but the plan was "
        f"made when it was {then}; not sent, so that later change is kept (reload the frame and "
        "plan again to overwrite it)"
    )
    return make_row(op, CONFLICTED, error=error, server=current)


def _json(value: Any) -> str:
    """A value as JSON text (strings quoted, numbers bare), timestamps in ISO 8601."""
    if isinstance(value, datetime):
        value = format_timestamp(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _same(type_: str, raw: Any, expected: Any, dialect: Dialect = "enrichment") -> bool:
    """Whether the server's JSON value ``raw`` is ``expected``, compared as ``type_``.

    Today's API keeps a Timestamp to the millisecond (``.123456`` sent is ``.123Z`` stored):
    in that dialect the expected instant is compared cut to milliseconds, or a value this
    plan wrote would read as somebody else's (a resume, a second apply, an undo: conflicts).
    """
    if dialect == "current" and type_ == "Timestamp" and isinstance(expected, datetime):
        expected = expected.replace(microsecond=expected.microsecond // 1000 * 1000)
    same: bool
    if type_ == "Integer":
        same = type(raw) is int and raw == expected
    elif type_ == "Boolean":
        same = type(raw) is bool and raw == expected
    elif type_ == "Timestamp":
        same = isinstance(raw, str) and _instant(raw) == expected
    else:  # String: as the reader shows it (a key of mixed JSON types is read as their text)
        same = render_json_text(raw) == expected
    return same


def _instant(text: str) -> datetime | None:
    """The UTC instant of an ISO 8601 string, parsed as the reader parses it (naive = UTC)."""
    parsed = parse_timestamps(pa.array([text], pa.string()))
    if parsed is None:
        return None
    value: datetime | None = parsed[0].as_py()
    return value


# --- sending ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outcome:
    request: Request
    sent: bool
    error: str | None = None  # None: the server confirmed the request
    journal_error: str | None = None


class _Halt:
    """Set once the run must stop sending (the API is unreachable, credentials refused...)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


def _lanes(requests: Sequence[Request]) -> list[list[Request]]:
    """Requests split into independent lanes: each customer's requests all in one, in order.

    A by-email request joins the lanes of all its customers (union-find over customer ids).
    """
    parent: dict[int, int] = {}

    def root(c: int) -> int:
        while parent.setdefault(c, c) != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for request in requests:
        first = root(request.customer_ids[0])
        for other in request.customer_ids[1:]:
            parent[root(other)] = first
    lanes: dict[int, list[Request]] = {}
    for request in requests:
        lanes.setdefault(root(request.customer_ids[0]), []).append(request)
    return list(lanes.values())


def _stops_the_run(error: ChartMogulError) -> bool:
    # Still failing after the client's retries (or refused credentials): every other request
    # would fail the same way, slowly. Permanent answers about one customer do not stop it.
    return isinstance(
        error, TransportError | ServerError | RateLimited | Unauthorized | ValidationError
    )


def _send_one(request: Request, client: Client, log: Journal, halt: _Halt) -> _Outcome:
    if halt.is_set():
        return _Outcome(request, sent=False, error=f"not sent: {halt.reason}")
    rid = request_id(request.op_ids)
    try:
        log.sending(rid, request.method, request.path, request.op_ids)
    except OSError as exc:
        halt.set(f"the journal could not be written ({exc})")
        return _Outcome(
            request, sent=False, error=f"not sent: the journal could not be written ({exc})"
        )
    try:
        client.request(request.method, request.path, json=request.body)
    except ChartMogulError as exc:
        status = exc.status if isinstance(exc, APIError) else None
        if _stops_the_run(exc):
            what = f"HTTP {status}" if status is not None else type(exc).__name__
            halt.set(
                f"the run stopped after {request.method} {request.path} failed ({what}), as every "
                "other request would; result.retry(client), or applying the plan again with the "
                "same journal, sends the rest"
            )
        try:
            log.failed(rid, request.op_ids, status, str(exc))
        except OSError as journal_exc:
            halt.set(f"the journal could not be written ({journal_exc})")
        return _Outcome(request, sent=True, error=str(exc))
    try:
        # The client returns only for a success status; the API's success status is 200.
        log.done(rid, request.op_ids, 200)
    except OSError as exc:
        halt.set(f"the journal could not be written ({exc})")
        return _Outcome(request, sent=True, journal_error=str(exc))
    return _Outcome(request, sent=True)


def _send(
    requests: Sequence[Request],
    client: Client,
    log: Journal,
    workers: int,
    bar: _Progress,
    ops: Mapping[str, Operation],
    rows: dict[str, OperationResult],
) -> int:
    """Send every request (lanes concurrently); fills ``rows``; returns how many were sent."""
    if not requests:
        return 0
    halt = _Halt()
    outcomes: queue.SimpleQueue[_Outcome] = queue.SimpleQueue()

    def run_lane(lane: Iterable[Request]) -> None:
        for request in lane:
            try:
                outcome = _send_one(request, client, log, halt)
            except BaseException as exc:  # a bug must not leave the coordinator waiting
                halt.set(f"an unexpected error stopped the run ({exc!r})")
                outcome = _Outcome(request, sent=False, error=f"not sent: {exc!r}")
            outcomes.put(outcome)

    lanes = _lanes(requests)
    sent = 0
    pool = ThreadPoolExecutor(
        max_workers=min(workers, len(lanes)), thread_name_prefix="cm_frames-apply"
    )
    try:
        for lane in lanes:
            pool.submit(run_lane, lane)
        for _ in range(len(requests)):
            outcome = outcomes.get()
            sent += outcome.sent
            for op_id in outcome.request.op_ids:
                op = ops[op_id]
                if outcome.error is None:
                    note = None
                    if outcome.journal_error:
                        note = f"applied, but the journal could not record it ({outcome.journal_error})"
                    rows[op_id] = make_row(op, APPLIED, note=note)
                else:
                    rows[op_id] = make_row(op, FAILED, error=outcome.error)
            bar.advance(len(outcome.request.op_ids))
    except BaseException:
        # Interrupted (Ctrl-C): requests in flight finish and are journaled; no new ones start.
        halt.set("the apply was interrupted")
        raise
    finally:
        pool.shutdown(wait=True)
    return sent
