"""``Plan``: the write-back a diff produced, before anything is sent.

A plan prints, renders HTML, flattens to a frame, round-trips through JSON, inverts and filters;
``requests()`` says exactly what apply will send. Apply and the preview widget need no diff logic
of their own.

Internally a plan is columnar (``cm_frames.writeback.changes.Changes``: numpy codes per changed
cell plus one value column per attribute) because a diff of 100k customers can hold 600k changed
cells: counting, filtering and inverting stay vectorised, and operation objects are built only
when asked for.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Unpack

import numpy as np
import pandas as pd
import pyarrow as pa

from cm_frames.errors import ValidationError
from cm_frames.writeback.changes import Changes
from cm_frames.writeback.checks import check_operations
from cm_frames.writeback.operations import (
    CLASS_BY_KIND,
    KINDS,
    Operation,
    RemoveCustom,
    RemoveTags,
    Request,
    by_email_merges,
    format_timestamp,
    group_requests,
    operation_from_record,
)
from cm_frames.writeback.options import ApplyOptions

if TYPE_CHECKING:
    from cm_frames.api.client import Client
    from cm_frames.writeback.result import ApplyResult

__all__ = ["IgnoredRows", "Plan", "PlanSummary", "SkippedEdit", "TableMatch", "display_value"]

_FORMAT = "cm_frames.plan"
_VERSION = 1
_PREVIEW_ROWS = 20
_SHOWN_REMOVALS = 5  # attributes named in the summary's removals line, largest first
_SHOWN_KEYS = 5  # keys named in the summary's lines about a table's unmatched or shared keys


@dataclass(frozen=True, slots=True)
class SkippedEdit:
    """Edits that will not be sent: ``column``, the customers edited there, and why.

    Parameters
    ----------
    column : str
        The frame column (a read-only one, such as ``name``).
    customer_ids : tuple of int
        The customers whose cell was edited.
    reason : str
        Why it is not sent.

    Examples
    --------
    >>> SkippedEdit("name", (1, 2), "read-only").customer_ids
    (1, 2)
    """

    column: str
    customer_ids: tuple[int, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class IgnoredRows:
    """Rows added to or dropped from the frame: the API cannot create or delete customers.

    Parameters
    ----------
    added, dropped : int
        How many rows the edited frame has that the baseline has not, and the reverse.

    Examples
    --------
    >>> IgnoredRows(added=2)
    IgnoredRows(added=2, dropped=0)
    """

    added: int = 0
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class TableMatch:
    """How the rows of a table given to ``update_from`` matched the frame's customers.

    Parameters
    ----------
    on : str
        The key: ``"external_id"``, ``"email"``, ``"uuid"`` or ``"id"``.
    rows : int
        The table's rows.
    unmatched : tuple
        The keys of the rows that matched no customer, in table order (None: a row without
        a key).
    shared : mapping of str to tuple of int
        Keys that matched several customers (an email), each with those customers' ids: all
        of them were updated.
    removing : tuple of str
        The frame's columns in which ``update_from`` was asked to remove values
        (``missing="remove"`` or ``others="remove"``): ``plan()`` does not warn of their
        removals (``RemovalWarning``), which are what was asked for.

    Examples
    --------
    >>> match = TableMatch("email", rows=3, unmatched=("gone@example.com",),
    ...                    shared={"a@example.com": (1, 2)})
    >>> match.matched
    2
    """

    on: str
    rows: int
    unmatched: tuple[str | int | None, ...] = ()
    shared: Mapping[str, tuple[int, ...]] = field(default_factory=dict, hash=False)
    removing: tuple[str, ...] = ()

    @property
    def matched(self) -> int:
        """The table's rows that matched at least one customer."""
        return self.rows - len(self.unmatched)

    def lines(self) -> list[str]:
        """The summary's lines about this table: unmatched rows, keys shared by customers.

        Returns
        -------
        list of str
            None, one or two lines.

        Examples
        --------
        >>> TableMatch("external_id", rows=40, unmatched=tuple(f"x{i}" for i in range(12))).lines()
        ['12 rows of the table matched no customer (external_id x0, x1, x2, x3, x4 and 7 more: plan.table_matches lists them)']
        """
        out = []
        if self.unmatched:
            n = len(self.unmatched)
            out.append(
                f"{n:,} row{_s(n)} of the table matched no customer ({self.on} "
                f"{_key_list(self.unmatched)}: plan.table_matches lists them)"
            )
        if self.shared:
            n = len(self.shared)
            customers = sum(len(ids) for ids in self.shared.values())
            out.append(
                f"{n:,} {self.on}{_s(n)} of the table matched several customers "
                f"({customers:,} customers, each of them updated): {_key_list(tuple(self.shared))}"
            )
        return out

    def to_record(self) -> dict[str, Any]:
        """The match as JSON-safe values (``Plan.to_json`` and the frame's attrs keep it).

        Returns
        -------
        dict
            ``on``, ``rows``, ``unmatched``, ``shared`` and ``removing``.

        Examples
        --------
        >>> record = TableMatch("id", rows=2, unmatched=(7,)).to_record()
        >>> record, TableMatch.from_record(record) == TableMatch("id", rows=2, unmatched=(7,))
        ({'on': 'id', 'rows': 2, 'unmatched': [7], 'shared': {}, 'removing': []}, True)
        """
        return {
            "on": self.on,
            "rows": self.rows,
            "unmatched": list(self.unmatched),
            "shared": {key: list(ids) for key, ids in self.shared.items()},
            "removing": list(self.removing),
        }

    @classmethod
    def from_record(cls, raw: Any, where: str = "table match") -> TableMatch:
        """The match ``to_record`` wrote.

        Parameters
        ----------
        raw : object
            The record (parsed JSON).
        where : str, default "table match"
            What to name in the error message.

        Returns
        -------
        TableMatch
            The match.

        Raises
        ------
        ValidationError
            When ``raw`` is not such a record.

        Examples
        --------
        >>> TableMatch.from_record({"on": "email"})
        Traceback (most recent call last):
        ...
        cm_frames.errors.ValidationError: plan JSON: table match must have a string on, an integer rows, a list of unmatched keys, a map of shared keys to customer ids and, if any, a list of removing columns
        """
        ok = (
            isinstance(raw, dict)
            and isinstance(raw.get("on"), str)
            and _is_int(raw.get("rows"))
            and isinstance(raw.get("unmatched"), list)
            and all(v is None or isinstance(v, str) or _is_int(v) for v in raw["unmatched"])
            and isinstance(raw.get("shared"), dict)
            and all(
                isinstance(ids, list) and all(_is_int(i) for i in ids)
                for ids in raw["shared"].values()
            )
            # Absent from the records of plans saved before it existed.
            and isinstance(raw.get("removing", []), list)
            and all(isinstance(column, str) for column in raw.get("removing", []))
        )
        if not ok:
            raise ValidationError(
                f"plan JSON: {where} must have a string on, an integer rows, a list of "
                "unmatched keys, a map of shared keys to customer ids and, if any, a list of "
                "removing columns"
            )
        return cls(
            raw["on"],
            raw["rows"],
            tuple(raw["unmatched"]),
            {str(key): tuple(ids) for key, ids in raw["shared"].items()},
            tuple(raw.get("removing", [])),
        )


def _key_list(keys: Sequence[str | int | None]) -> str:
    shown = ", ".join("(no key)" if k is None else str(k) for k in keys[:_SHOWN_KEYS])
    more = f" and {len(keys) - _SHOWN_KEYS:,} more" if len(keys) > _SHOWN_KEYS else ""
    return shown + more


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """Counts that describe a plan (``Plan.summary()``); ``str()`` gives a readable paragraph.

    Parameters
    ----------
    operations, customers, requests : int
        How many operations, customers touched and requests apply would send.
    by_kind : mapping
        Operations per kind, in ``KINDS`` order.
    rate_limit, estimated_seconds : float or None
        The requests per second assumed, and the time the requests take at that rate.
    skipped_columns, skipped_cells : int
        Columns with edits that are not sent, and those edits.
    ignored_added, ignored_dropped : int
        Rows added to or dropped from the frame.
    skipped_by_column, removals : mapping
        Per skipped column its edits; per attribute the values or tags the plan removes.
    table_matches : tuple of TableMatch
        How the tables given to ``update_from`` matched (their unmatched rows are counted).

    Examples
    --------
    >>> from cm_frames.writeback.operations import AddTags, RemoveCustom
    >>> plan = Plan([
    ...     AddTags(1, "cus_1", "a@example.com", "vip"),
    ...     AddTags(2, "cus_2", "a@example.com", "vip"),
    ...     RemoveCustom(2, "cus_2", "a@example.com", "seats", "Integer", 5),
    ... ], email_groups={"a@example.com": [1, 2]})
    >>> summary = plan.summary()
    >>> summary.requests, summary.removals
    (2, {'custom.seats': 1})
    """

    operations: int
    by_kind: Mapping[str, int] = field(hash=False)
    customers: int
    requests: int
    rate_limit: float | None
    estimated_seconds: float | None
    skipped_columns: int
    skipped_cells: int
    ignored_added: int
    ignored_dropped: int
    #: Every skipped column with its number of edits, in the plan's order.
    skipped_by_column: Mapping[str, int] = field(default_factory=dict, hash=False)
    #: Per attribute, how many values (RemoveCustom) or tags (RemoveTags) the plan removes.
    removals: Mapping[str, int] = field(default_factory=dict, hash=False)
    #: Per table given to ``update_from``, how its rows matched the customers.
    table_matches: tuple[TableMatch, ...] = field(default=(), hash=False)

    @property
    def unmatched_rows(self) -> int:
        """The rows of the tables given to ``update_from`` that matched no customer."""
        return sum(len(match.unmatched) for match in self.table_matches)

    def lines(self) -> list[str]:
        """The summary as short lines (shared by ``__str__`` and the HTML view).

        Returns
        -------
        list of str
            The head line, then counts per kind, removals, skipped columns, ignored rows.

        Examples
        --------
        >>> from cm_frames.writeback.operations import AddTags, RemoveTags
        >>> plan = Plan([AddTags(1, "cus_1", None, "vip"), RemoveTags(2, "cus_2", None, "trial")])
        >>> plan.summary().lines()[:2]
        ['2 operations on 2 customers → 2 requests (about 0.1 s at 40 requests/s)',
         'AddTags 1 · RemoveTags 1']
        """
        head = (
            f"{self.operations:,} operation{_s(self.operations)} on {self.customers:,} "
            f"customer{_s(self.customers)} → {self.requests:,} request{_s(self.requests)}"
        )
        if self.estimated_seconds is not None:
            head += (
                f" (about {_duration(self.estimated_seconds)} at {self.rate_limit:g} requests/s)"
            )
        out = [head]
        if self.operations:
            out.append(" · ".join(f"{kind} {n:,}" for kind, n in self.by_kind.items() if n))
        if self.removals:
            # Removals first among the details: NA where a value was (a Series assigned from a
            # subset of rows leaves the others NA) removes it, and that is easy to miss.
            total = sum(self.removals.values())
            largest = sorted(self.removals.items(), key=lambda item: -item[1])
            shown = ", ".join(f"{name} {n:,}" for name, n in largest[:_SHOWN_REMOVALS])
            if len(largest) > _SHOWN_REMOVALS:
                shown += f" and {len(largest) - _SHOWN_REMOVALS:,} more attributes"
            out.append(
                f"⚠ removes {total:,} value{_s(total)}: {shown} "
                "(NA, or False for a tag, where the baseline had a value)"
            )
        if self.skipped_columns:
            named = ", ".join(f"{name} ({n:,})" for name, n in self.skipped_by_column.items())
            out.append(
                f"skipped (never sent): {self.skipped_cells:,} edit{_s(self.skipped_cells)} in "
                f"{self.skipped_columns} column{_s(self.skipped_columns)}"
                + (f": {named}" if named else "")
            )
        if self.ignored_added or self.ignored_dropped:
            out.append(
                f"ignored rows: {self.ignored_added:,} added, {self.ignored_dropped:,} dropped "
                "(the API cannot create or delete customers)"
            )
        for match in self.table_matches:
            out.extend(match.lines())
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# --- the plan --------------------------------------------------------------------------------


class Plan:
    """What a write-back will change, operation by operation; nothing is sent by a Plan.

    Build one with ``df.chartmogul.plan()`` or ``diff(edited, baseline)`` (or from operations).
    ``requests()`` is what apply sends; ``to_json()``/``from_json()`` keep it on disk. To undo
    an apply, use what it returned: ``result.undo(client)`` reverts exactly what that apply
    wrote. ``inverse()`` is the inverse of the whole plan, which is not the same thing.

    Parameters
    ----------
    operations : iterable of Operation
        The operations, checked against the wire rules and each other.
    skipped : iterable of SkippedEdit
        Edits that will not be sent (read-only columns).
    ignored_rows : IgnoredRows
        How many rows were added to or dropped from the frame.
    source : mapping, optional
        JSON-safe provenance (base URL, account hash, snapshot id): apply refuses a plan of
        another account.
    email_groups : mapping, optional
        Emails shared by 2+ customers of the baseline, with all their ids (for by-email).
    table_matches : iterable of TableMatch, optional
        How the tables given to ``update_from`` matched the customers (nothing is sent for
        them: they say which rows of a table found no customer).

    Raises
    ------
    ValidationError
        An operation breaks a rule (a bad key, tag or value, two operations on one key of one
        customer, one customer with two uuids): every problem, with its fix.

    Examples
    --------
    A plan from operations:

    >>> from cm_frames.writeback.operations import AddTags, UpdateCustom
    >>> plan = Plan([
    ...     AddTags(1, "cus_1", None, "vip"),
    ...     UpdateCustom(1, "cus_1", None, "seats", "Integer", 5, 6),
    ... ])
    >>> print(plan.summary())
    2 operations on 1 customer → 2 requests (about 0.1 s at 40 requests/s)
    AddTags 1 · UpdateCustom 1
    >>> [(r.method, r.path) for r in plan.requests()]
    [('POST', 'customers/1/attributes/tags'), ('PUT', 'customers/1/attributes/custom')]
    >>> Plan.from_json(plan.to_json()) == plan
    True
    >>> plan.inverse().operations[0]
    RemoveTags(customer_id=1, uuid='cus_1', email=None, tag='vip')

    A plan from an edited frame, applied to the bundled emulator and undone:

    >>> import cm_frames as cm
    >>> emu = cm.Emulator(customers=20, seed=1).start()
    >>> client = emu.client()
    >>> df = cm.read_customers(client, progress=False)
    >>> edited = df.copy()
    >>> edited["tag.trial"] = edited.index == 5
    >>> plan = edited.chartmogul.plan()
    >>> plan.to_frame()[["id", "kind", "attribute", "old", "new"]]
       id     kind  attribute    old   new
    0   5  AddTags  tag.trial  False  True
    >>> result = plan.apply(client, progress=False)
    >>> result.applied, result.ok
    (1, True)
    >>> result.undo(client, progress=False).applied
    1
    >>> emu.stop()
    """

    __slots__ = (
        "_changes",
        "_email_groups",
        "_ignored_rows",
        "_ops",
        "_skipped",
        "_source",
        "_table_matches",
    )

    def __init__(
        self,
        operations: Iterable[Operation] = (),
        *,
        skipped: Iterable[SkippedEdit] = (),
        ignored_rows: IgnoredRows = IgnoredRows(),
        source: Mapping[str, Any] | None = None,
        email_groups: Mapping[str, Sequence[int]] | None = None,
        table_matches: Iterable[TableMatch] = (),
    ) -> None:
        ops = tuple(operations)
        # A hand-built or hand-edited plan meets the rules a diffed frame does, all reported
        # at once: otherwise apply would send the valid part and fail halfway.
        check_operations(ops)
        self._init(
            Changes.from_operations(ops),
            ops,
            skipped,
            ignored_rows,
            source,
            email_groups,
            table_matches,
        )

    def _init(
        self,
        changes: Changes,
        ops: tuple[Operation, ...] | None,
        skipped: Iterable[SkippedEdit],
        ignored_rows: IgnoredRows,
        source: Mapping[str, Any] | None,
        email_groups: Mapping[str, Sequence[int]] | None,
        table_matches: Iterable[TableMatch] = (),
    ) -> None:
        self._table_matches = tuple(table_matches)
        self._changes = changes
        self._ops = ops
        self._skipped = tuple(skipped)
        self._ignored_rows = ignored_rows
        self._source = _json_safe_source(source)
        self._email_groups = {
            str(email): tuple(int(i) for i in ids) for email, ids in (email_groups or {}).items()
        }

    @classmethod
    def from_changes(
        cls,
        changes: Changes,
        *,
        skipped: Iterable[SkippedEdit] = (),
        ignored_rows: IgnoredRows = IgnoredRows(),
        source: Mapping[str, Any] | None = None,
        email_groups: Mapping[str, Sequence[int]] | None = None,
        table_matches: Iterable[TableMatch] = (),
    ) -> Plan:
        """A plan of columnar changes, as ``diff`` makes them (no operation objects built).

        Unlike ``Plan(operations)`` this does not check the operations against the wire
        rules: the caller vouches for them (``diff`` has checked the frame they came from).

        Parameters
        ----------
        changes : Changes
            The changed cells (``cm_frames.writeback.changes.Changes``).
        skipped : iterable of SkippedEdit, optional
            As for ``Plan``.
        ignored_rows : IgnoredRows, optional
            As for ``Plan``.
        source : mapping, optional
            As for ``Plan``.
        email_groups : mapping of str to sequence of int, optional
            As for ``Plan``.
        table_matches : iterable of TableMatch, optional
            As for ``Plan``.

        Returns
        -------
        Plan
            The plan, holding ``changes`` as they are.

        Examples
        --------
        >>> from cm_frames.writeback.changes import Changes
        >>> from cm_frames.writeback.operations import AddTags
        >>> plan = Plan.from_changes(Changes.from_operations([AddTags(1, "cus_1", None, "vip")]))
        >>> plan.operations
        (AddTags(customer_id=1, uuid='cus_1', email=None, tag='vip'),)
        """
        plan = cls.__new__(cls)
        plan._init(changes, None, skipped, ignored_rows, source, email_groups, table_matches)
        return plan

    def _derive(self, changes: Changes, table_matches: Iterable[TableMatch] | None = None) -> Plan:
        """Another set of changes with this plan's skipped edits, ignored rows and provenance."""
        return self.from_changes(
            changes,
            skipped=self._skipped,
            ignored_rows=self._ignored_rows,
            source=self._source,
            email_groups=self._email_groups,
            table_matches=self._table_matches if table_matches is None else table_matches,
        )

    def with_table_matches(self, table_matches: Iterable[TableMatch]) -> Plan:
        """Return this plan with how the tables given to ``update_from`` matched the customers.

        ``plan_frame`` calls it with what ``update_from`` recorded in the frame's attrs.

        Parameters
        ----------
        table_matches : iterable of TableMatch
            They replace this plan's.

        Returns
        -------
        Plan
            The same operations, skipped edits and provenance.

        Examples
        --------
        >>> plan = Plan().with_table_matches([TableMatch("email", rows=1, unmatched=("x@y.z",))])
        >>> plan.summary().unmatched_rows, plan.unmatched
        (1, ('x@y.z',))
        """
        return self._derive(self._changes, tuple(table_matches))

    # -- contents --

    @property
    def operations(self) -> tuple[Operation, ...]:
        """Every operation, in order: by customer (baseline order), kind, then attribute."""
        if self._ops is None:
            self._ops = tuple(self._changes.materialise())
        return self._ops

    @property
    def skipped(self) -> tuple[SkippedEdit, ...]:
        """Edits that will never be sent (read-only columns, columns missing from the frame)."""
        return self._skipped

    @property
    def ignored_rows(self) -> IgnoredRows:
        """How many rows were added to or dropped from the frame (never operations)."""
        return self._ignored_rows

    @property
    def source(self) -> Mapping[str, Any]:
        """JSON-safe provenance of the baseline (base URL, account hash, snapshot id)."""
        return self._source

    @property
    def table_matches(self) -> tuple[TableMatch, ...]:
        """How each table given to ``update_from`` matched the customers (see ``unmatched``)."""
        return self._table_matches

    @property
    def unmatched(self) -> tuple[str | int | None, ...]:
        """The keys of the table rows that matched no customer (``update_from``), in order."""
        return tuple(key for match in self._table_matches for key in match.unmatched)

    @property
    def email_groups(self) -> Mapping[str, tuple[int, ...]]:
        """Emails shared by 2+ customers of the baseline, with all of their ids (for by-email)."""
        return MappingProxyType(self._email_groups)

    def __len__(self) -> int:
        return len(self._changes)

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to send (the same as ``len(plan) == 0``)."""
        return len(self._changes) == 0

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plan):
            return NotImplemented
        return (
            len(self) == len(other)
            and self._skipped == other._skipped
            and self.ignored_rows == other.ignored_rows
            and self._source == other._source
            and self._email_groups == other._email_groups
            and self._table_matches == other._table_matches
            and self.operations == other.operations
        )

    __hash__ = None  # type: ignore[assignment]

    # -- what apply sends --

    def requests(self, *, by_email: bool = True) -> list[Request]:
        """The HTTP requests apply will send, in order.

            Parameters
            ----------
            by_email : bool, default True
                Use the by-email endpoints where every sharer of an email gets the same change
                (False: one request per customer and kind, always).

            Returns
            -------
            list of Request
                Per customer (in plan order) one request per kind, in ``KINDS`` order.

            Examples
            --------
        >>> from cm_frames.writeback.operations import AddTags, RemoveCustom
        >>> plan = Plan([
        ...     AddTags(1, "cus_1", "a@example.com", "vip"),
        ...     AddTags(2, "cus_2", "a@example.com", "vip"),
        ...     RemoveCustom(2, "cus_2", "a@example.com", "seats", "Integer", 5),
        ... ], email_groups={"a@example.com": [1, 2]})
            >>> [(r.method, r.path, r.customer_ids) for r in plan.requests()]
            [('POST', 'customers/attributes/tags', (1, 2)), ('DELETE', 'customers/2/attributes/custom', (2,))]
            >>> len(plan.requests(by_email=False))
            3
        """
        dialect = self.source.get("dialect")
        return group_requests(
            self.operations,
            self._email_groups,
            by_email=by_email,
            dialect="current" if dialect == "current" else "enrichment",
        )

    def _merges(self) -> dict[tuple[str, str], tuple[int, ...]]:
        if not self._email_groups or self.is_empty:
            return {}
        changes = self._changes
        members = np.array([i for ids in self._email_groups.values() for i in ids], np.int64)
        involved = np.flatnonzero(np.isin(changes.customer_ids[changes.cust], members))
        ops_by_customer: dict[int, list[Operation]] = {}
        for op in changes.materialise(involved):
            ops_by_customer.setdefault(op.customer_id, []).append(op)
        return by_email_merges(ops_by_customer, self._email_groups)

    @property
    def removals(self) -> dict[str, int]:
        """Per attribute column, how many values (RemoveCustom) or tags (RemoveTags) it removes.

        Vectorised and cheap (no operation objects, no request grouping): ``plan()``'s
        ``RemovalWarning`` reads it without building a whole summary.
        """
        changes = self._changes
        removing = np.isin(changes.kind, (RemoveTags.code, RemoveCustom.code))
        removed = np.bincount(changes.attr[removing], minlength=len(changes.names)).tolist()
        return {changes.attribute(a): n for a, n in enumerate(removed) if n}

    def summary(self, rate_limit: float | None = 40) -> PlanSummary:
        """Count the operations per kind, customers, requests and the time at ``rate_limit``/s.

        Parameters
        ----------
        rate_limit : float or None, default 40
            Requests per second for the estimate (ChartMogul allows 40); None: no estimate.

        Returns
        -------
        PlanSummary
            The counts; ``str()`` of it is a readable paragraph.

        Examples
        --------
        >>> from cm_frames.writeback.operations import AddTags, RemoveCustom
        >>> plan = Plan([
        ...     AddTags(1, "cus_1", "a@example.com", "vip"),
        ...     AddTags(2, "cus_2", "a@example.com", "vip"),
        ...     RemoveCustom(2, "cus_2", "a@example.com", "seats", "Integer", 5),
        ... ], email_groups={"a@example.com": [1, 2]})
        >>> print(plan.summary(rate_limit=None))
        3 operations on 2 customers → 2 requests
        AddTags 2 · RemoveCustom 1
        ⚠ removes 1 value: custom.seats 1 (NA, or False for a tag, where the baseline had a value)
        """
        changes = self._changes
        counts = np.bincount(changes.kind, minlength=len(KINDS)).tolist()
        pairs = np.unique(changes.cust * len(KINDS) + changes.kind).size
        requests = pairs - sum(len(ids) - 1 for ids in self._merges().values())
        seconds = requests / rate_limit if rate_limit else None
        skipped_by_column: dict[str, int] = {}
        for skip in self._skipped:
            skipped_by_column[skip.column] = skipped_by_column.get(skip.column, 0) + len(
                skip.customer_ids
            )
        return PlanSummary(
            operations=len(changes),
            by_kind=dict(zip(KINDS, counts, strict=True)),
            customers=np.unique(changes.cust).size,
            requests=requests,
            rate_limit=rate_limit if rate_limit else None,
            estimated_seconds=seconds,
            skipped_columns=len(self._skipped),
            skipped_cells=sum(len(s.customer_ids) for s in self._skipped),
            ignored_added=self.ignored_rows.added,
            ignored_dropped=self.ignored_rows.dropped,
            skipped_by_column=skipped_by_column,
            removals=self.removals,
            table_matches=self._table_matches,
        )

    def apply(self, client: Client, **options: Unpack[ApplyOptions]) -> ApplyResult:
        """Send the plan through ``client``: journaled, conflict-checked, resumable.

        Parameters
        ----------
        client : Client
            A client of the account the plan was made from (checked before anything is sent).
        **options
            ``journal`` (path, optional): the journal file (default:
            ``client.cache_dir/journals/<plan id>.jsonl``); applying the same plan with the
            same journal resumes and resends nothing done. ``check_conflicts`` (bool, default
            True): compare each operation's old value with the server's first, and send
            nothing that would overwrite a later change; the customers' identity (the uuid
            each id names) is checked either way. ``max_workers`` (int, optional): customers
            written concurrently (default ``client.max_workers``, at most 20). ``progress``
            (bool or callable, default True): a tqdm bar, none, or ``callback(done, total)``.
            One definition: ``cm_frames.writeback.options.ApplyOptions``.

        Returns
        -------
        ApplyResult
            What became of every operation. ``result.undo(client)`` reverts exactly what this
            apply wrote (not ``plan.inverse()``, which would also revert values that were
            already in place because someone else had set them).

        Raises
        ------
        ValidationError
            The plan belongs to another account, or an id names another customer than the
            plan was made for; nothing is sent.

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=5, seed=1) as emu:
        ...     client = emu.client()
        ...     df = cm.read_customers(client, progress=False)
        ...     edited = df.copy()
        ...     edited.loc[edited.index[0], "custom.lead_score"] = 91
        ...     result = edited.chartmogul.plan().apply(client, progress=False)
        >>> result.ok, [(row.kind, row.attribute, row.new) for row in result.rows]
        (True, [('AddCustom', 'custom.lead_score', 91)])
        """
        from cm_frames.writeback.apply import apply_plan

        return apply_plan(self, client, **options)

    # -- derived plans --

    def inverse(self) -> Plan:
        """The inverse of this plan: every operation reversed (its "old" values are the edits).

        This is not an undo of an apply. An apply skips operations whose value was already in
        place (someone had set it first) and refuses conflicts; the inverse of the plan would
        revert those too, overwriting that person's value. Undo with what the apply returned:
        ``result.undo(client)`` (or ``result.undo_plan()``), which reverts exactly what the
        apply wrote.

        Returns
        -------
        Plan
            Every operation's inverse (``Operation.inverse_class``), in the same order.

        Examples
        --------
        >>> from cm_frames.writeback.operations import AddCustom
        >>> Plan([AddCustom(1, "cus_1", None, "seats", "Integer", 5)]).inverse().operations
        (RemoveCustom(customer_id=1, uuid='cus_1', email=None, key='seats', type='Integer', old=5),)
        """
        return self._derive(self._changes.inverted())

    def filter(
        self,
        exclude_attributes: Iterable[str] = (),
        kinds: Iterable[str | type[Operation]] | None = None,
    ) -> Plan:
        """A plan without the given attribute columns, keeping only ``kinds`` (None: all).

        Parameters
        ----------
        exclude_attributes : str or iterable of str
            Frame columns (``"tag.x"``, ``"custom.k"``) whose operations are left out.
        kinds : iterable of str or Operation classes, optional
            The kinds to keep (``"AddTags"`` or ``AddTags``); None keeps all.

        Returns
        -------
        Plan
            With this plan's skipped edits, ignored rows and provenance.

        Raises
        ------
        ValidationError
            An unknown kind.

        Examples
        --------
        >>> from cm_frames.writeback.operations import AddTags, RemoveCustom
        >>> plan = Plan([
        ...     AddTags(1, "cus_1", None, "vip"),
        ...     RemoveCustom(1, "cus_1", None, "seats", "Integer", 5),
        ... ])
        >>> [op.kind for op in plan.filter(exclude_attributes="custom.seats")]
        ['AddTags']
        >>> [op.kind for op in plan.filter(kinds=[RemoveCustom])]
        ['RemoveCustom']
        """
        if isinstance(exclude_attributes, str):
            exclude_attributes = (exclude_attributes,)
        excluded = set(exclude_attributes)
        changes = self._changes
        keep_attr = np.array(
            [changes.attribute(a) not in excluded for a in range(len(changes.names))], dtype=bool
        )
        mask = keep_attr[changes.attr] if len(keep_attr) else np.ones(len(changes), dtype=bool)
        if kinds is not None:
            codes = [_kind_code(k) for k in ([kinds] if isinstance(kinds, str | type) else kinds)]
            mask &= np.isin(changes.kind, np.array(codes, dtype=np.int8))
        return self._derive(changes.subset(mask))

    # -- views --

    def to_frame(self) -> pd.DataFrame:
        """One row per changed cell, to filter and count the changes with pandas.

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, ``email``, ``kind``, ``attribute``, ``type`` (Arrow-backed) and
            ``old``, ``new``: object columns holding typed values, as the frame had them
            (``int``, ``bool``, ``str``, a UTC ``pd.Timestamp``; a tag as ``False``/``True``;
            ``None`` where the value is absent). Select one attribute before comparing values,
            as one column may hold several types.

        Examples
        --------
        >>> from cm_frames.writeback.operations import AddCustom, AddTags
        >>> plan = Plan([
        ...     AddCustom(1, "cus_1", None, "lead_score", "Integer", 91),
        ...     AddCustom(2, "cus_2", None, "lead_score", "Integer", 40),
        ...     AddTags(1, "cus_1", None, "hot"),
        ... ])
        >>> changes = plan.to_frame()
        >>> score = changes[changes.attribute == "custom.lead_score"]
        >>> score[score.new > 80][["id", "kind", "attribute", "old", "new"]]
           id       kind          attribute   old new
        0   1  AddCustom  custom.lead_score  None  91
        >>> changes.groupby(["attribute", "kind"]).size()
        attribute          kind
        custom.lead_score  AddCustom    2
        tag.hot            AddTags      1
        dtype: int64
        """
        return _operations_frame(self.operations)

    def _head(self, n: int = _PREVIEW_ROWS) -> pd.DataFrame:
        if self._ops is not None:
            return _operations_frame(self._ops[:n], as_text=True)
        indices = np.arange(min(n, len(self)), dtype=np.int64)
        return _operations_frame(self._changes.materialise(indices), as_text=True)

    def __repr__(self) -> str:
        summary = self.summary()
        lines = ["<cm_frames.Plan>", *(f"  {line}" for line in summary.lines())]
        if len(self):
            lines.append(self._head().to_string(index=False, max_colwidth=40))
            if len(self) > _PREVIEW_ROWS:
                lines.append(f"… and {len(self) - _PREVIEW_ROWS:,} more (plan.to_frame())")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        summary = self.summary()
        parts = ['<div class="cm-frames-plan">', "<strong>cm_frames.Plan</strong>", "<ul>"]
        parts += [f"<li>{html.escape(line)}</li>" for line in summary.lines()]
        parts.append("</ul>")
        if self._skipped:
            parts.append("<details><summary>skipped edits</summary><ul>")
            for skip in self._skipped:
                parts.append(
                    f"<li><code>{html.escape(skip.column)}</code>: "
                    f"{html.escape(_id_list(skip.customer_ids))}: {html.escape(skip.reason)}</li>"
                )
            parts.append("</ul></details>")
        if len(self):
            parts.append(_html_table(self._head()))
            if len(self) > _PREVIEW_ROWS:
                parts.append(f"<p>… and {len(self) - _PREVIEW_ROWS:,} more operations</p>")
        parts.append("</div>")
        return "\n".join(parts)

    # -- JSON --

    def to_json(self) -> str:
        """The whole plan as JSON: values typed (ints exact, timestamps ISO 8601 with Z).

        Returns
        -------
        str
            What ``Plan.from_json`` reads (``cm-frames apply`` takes such a file).

        Examples
        --------
        >>> from cm_frames.writeback.operations import AddTags
        >>> text = Plan([AddTags(1, "cus_1", None, "vip")]).to_json()
        >>> Plan.from_json(text).operations
        (AddTags(customer_id=1, uuid='cus_1', email=None, tag='vip'),)
        """
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "source": dict(self._source),
            "ignored_rows": {
                "added": self.ignored_rows.added,
                "dropped": self.ignored_rows.dropped,
            },
            "email_groups": {email: list(ids) for email, ids in self._email_groups.items()},
            "skipped": [
                {"column": s.column, "customer_ids": list(s.customer_ids), "reason": s.reason}
                for s in self._skipped
            ],
            "operations": [op.to_record() for op in self.operations],
        }
        if self._table_matches:
            # Only when there are some: the plans of edited frames read as they always did.
            document["table_matches"] = [match.to_record() for match in self._table_matches]
        return json.dumps(document, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """The plan ``to_json()`` wrote, checked as ``Plan(operations)`` checks.

        Parameters
        ----------
        text : str or bytes
            The JSON.

        Returns
        -------
        Plan
            The plan, equal to the one that wrote ``text``.

        Raises
        ------
        ValidationError
            Not a plan, another format version, or operations that break a rule: the message
            says what is wrong.

        Examples
        --------
        >>> Plan.from_json('{"format": "something else"}')
        Traceback (most recent call last):
        ...
        cm_frames.errors.ValidationError: not a cm_frames plan: expected an object with format 'cm_frames.plan'
        """
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"plan JSON does not parse: {exc}") from exc
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise ValidationError(
                f"not a cm_frames plan: expected an object with format {_FORMAT!r}"
            )
        if document.get("version") != _VERSION:
            raise ValidationError(
                f"plan format version {document.get('version')!r} is not supported "
                f"(this cm_frames reads version {_VERSION})"
            )
        operations = document.get("operations", [])
        if not isinstance(operations, list):
            raise ValidationError("plan JSON: 'operations' must be a list")
        ops = [
            operation_from_record(record, where=f"operations[{i}]")
            for i, record in enumerate(operations)
        ]
        return cls(
            ops,
            skipped=_skipped_from_json(document.get("skipped", [])),
            ignored_rows=_ignored_from_json(document.get("ignored_rows", {})),
            source=document.get("source"),
            email_groups=_email_groups_from_json(document.get("email_groups", {})),
            table_matches=_table_matches_from_json(document.get("table_matches", [])),
        )


def _kind_code(kind: str | type[Operation]) -> int:
    name = kind.__name__ if isinstance(kind, type) else kind
    cls = CLASS_BY_KIND.get(name)
    if cls is None:
        raise ValidationError(
            f"unknown operation kind {name!r}; expected one of {', '.join(KINDS)}"
        )
    return cls.code


def _json_safe_source(source: Mapping[str, Any] | None) -> Mapping[str, Any]:
    # A deep, JSON-normalised copy: what to_json writes is exactly what from_json gives back.
    try:
        copied = json.loads(json.dumps(dict(source or {}), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"source must be JSON-safe provenance (strings, numbers, lists, dicts): {exc}"
        ) from exc
    return MappingProxyType(copied)


def _skipped_from_json(raw: Any) -> list[SkippedEdit]:
    if not isinstance(raw, list):
        raise ValidationError("plan JSON: 'skipped' must be a list")
    out = []
    for i, item in enumerate(raw):
        ok = (
            isinstance(item, dict)
            and isinstance(item.get("column"), str)
            and isinstance(item.get("reason"), str)
            and isinstance(item.get("customer_ids"), list)
            and all(_is_int(v) for v in item["customer_ids"])
        )
        if not ok:
            raise ValidationError(
                f"plan JSON: skipped[{i}] must have a string column and reason, and integer customer_ids"
            )
        out.append(SkippedEdit(item["column"], tuple(item["customer_ids"]), item["reason"]))
    return out


def _ignored_from_json(raw: Any) -> IgnoredRows:
    if not (isinstance(raw, dict) and all(_is_int(raw.get(k, 0)) for k in ("added", "dropped"))):
        raise ValidationError("plan JSON: 'ignored_rows' must hold integer added and dropped")
    return IgnoredRows(raw.get("added", 0), raw.get("dropped", 0))


def _email_groups_from_json(raw: Any) -> dict[str, list[int]]:
    ok = isinstance(raw, dict) and all(
        isinstance(ids, list) and all(_is_int(i) for i in ids) for ids in raw.values()
    )
    if not ok:
        raise ValidationError("plan JSON: 'email_groups' must map emails to lists of customer ids")
    return dict(raw)


def _table_matches_from_json(raw: Any) -> list[TableMatch]:
    if not isinstance(raw, list):
        raise ValidationError("plan JSON: 'table_matches' must be a list")
    return [TableMatch.from_record(item, where=f"table_matches[{i}]") for i, item in enumerate(raw)]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def display_value(value: Any) -> str | None:
    """A plan value as text: timestamps in ISO 8601 with ``Z``, others as they print.

    Parameters
    ----------
    value : object
        A typed value of a plan (``to_frame()``'s ``old``/``new``), or None.

    Returns
    -------
    str or None
        The text; None for a missing value.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> display_value(datetime(2024, 1, 31, tzinfo=UTC)), display_value(5), display_value(None)
    ('2024-01-31T00:00:00Z', '5', None)
    """
    if value is None or value is pd.NaT:
        return None
    return format_timestamp(value) if isinstance(value, datetime) else str(value)


def _typed(value: Any) -> Any:
    # pandas Timestamps compare with the Timestamps users write (pd.Timestamp("2024", tz="UTC")).
    return pd.Timestamp(value) if isinstance(value, datetime) else value


def _operations_frame(operations: Sequence[Operation], *, as_text: bool = False) -> pd.DataFrame:
    """One row per operation. ``old``/``new`` hold typed values (object columns), or text."""
    shown = [(op.value_type, *op.old_new()) for op in operations]
    columns: dict[str, pa.Array[Any]] = {
        "id": pa.array([op.customer_id for op in operations], pa.int64()),
        "email": pa.array([op.email for op in operations], pa.string()),
        "kind": pa.array([op.kind for op in operations], pa.string()),
        "attribute": pa.array([op.attribute for op in operations], pa.string()),
        "type": pa.array([s[0] for s in shown], pa.string()),
    }
    if as_text:
        columns["old"] = pa.array([display_value(s[1]) for s in shown], pa.string())
        columns["new"] = pa.array([display_value(s[2]) for s in shown], pa.string())
    frame: pd.DataFrame = pa.table(columns).to_pandas(types_mapper=pd.ArrowDtype)
    if not as_text:
        # One column can hold an Integer, a Boolean, a Timestamp and a String: object, typed.
        for position, name in ((1, "old"), (2, "new")):
            frame[name] = pd.Series([_typed(s[position]) for s in shown], dtype=object)
    return frame


def _id_list(ids: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    more = f" and {len(ids) - limit:,} more" if len(ids) > limit else ""
    return f"customer{_s(len(ids))} {shown}{more}"


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = "".join(f"<td>{'' if pd.isna(v) else html.escape(str(v))}</td>" for v in values)
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
