"""What an apply did: one ``OperationResult`` per operation and the ``ApplyResult`` around them.

Kept apart from ``apply.py`` (which decides and sends) so the result can be read, rendered,
retried and inverted without the sending machinery in view.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Unpack

import pandas as pd
import pyarrow as pa

from cm_frames.errors import ValidationError
from cm_frames.writeback.operations import Operation, format_timestamp
from cm_frames.writeback.options import ApplyOptions, resolve
from cm_frames.writeback.plan import Plan

if TYPE_CHECKING:
    from cm_frames.api.client import Client

__all__ = [
    "ALREADY_IN_PLACE",
    "APPLIED",
    "CONFLICTED",
    "FAILED",
    "FROM_JOURNAL",
    "SENT_EARLIER",
    "SKIPPED",
    "STATUSES",
    "ApplyResult",
    "OperationResult",
    "make_row",
]

APPLIED: Final = "applied"
SKIPPED: Final = "skipped"
CONFLICTED: Final = "conflicted"
FAILED: Final = "failed"
STATUSES: Final = (APPLIED, SKIPPED, CONFLICTED, FAILED)

FROM_JOURNAL: Final = "from journal"
ALREADY_IN_PLACE: Final = "already in place"
# An earlier run sent it, then died (or lost the connection) before the answer: the server has it.
SENT_EARLIER: Final = "sent by an earlier run whose answer was lost; the server has it"

_SHOWN_ROWS = 20


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperationResult:
    """What became of one operation: ``status`` is applied, skipped, conflicted or failed.

    ``error`` says why a conflict or failure did not happen; ``note`` qualifies the others
    ("from journal", "already in place"); ``server`` is the server's value in a conflict.

    Parameters
    ----------
    op_id : str
        The operation's id (``Operation.op_id``).
    customer_id : int
        Its customer.
    kind : str
        Its kind (``"AddTags"``, ...).
    attribute : str
        Its frame column (``"tag.vip"``, ``"custom.seats"``).
    old, new : object
        Its values as ``Operation.old_new()`` gives them.
    status : {"applied", "skipped", "conflicted", "failed"}
        What became of it.
    error, note : str, optional
        Why it conflicted or failed; what qualifies the other statuses.
    server : object, optional
        The server's value, where the check read one.

    Examples
    --------
    >>> from cm_frames.writeback.operations import AddTags
    >>> row = make_row(AddTags(1, "cus_1", None, "vip"), SKIPPED, note=ALREADY_IN_PLACE)
    >>> row.status, row.old, row.new, row.note
    ('skipped', False, True, 'already in place')
    """

    op_id: str
    customer_id: int
    kind: str
    attribute: str
    old: Any
    new: Any
    status: str
    error: str | None = None
    note: str | None = None
    server: Any = None


def make_row(
    op: Operation,
    status: str,
    *,
    error: str | None = None,
    note: str | None = None,
    server: Any = None,
) -> OperationResult:
    """The result row of ``op`` with ``status`` (and why).

    Parameters
    ----------
    op : Operation
        The operation.
    status : str
        One of ``STATUSES``.
    error, note : str, optional
        As in ``OperationResult``.
    server : object, optional
        As in ``OperationResult``.

    Returns
    -------
    OperationResult
        The row of ``op``.

    Examples
    --------
    >>> from cm_frames.writeback.operations import RemoveCustom
    >>> make_row(RemoveCustom(1, "cus_1", None, "n", "Integer", 5), APPLIED).old
    5
    """
    old, new = op.old_new()
    return OperationResult(
        op.op_id, op.customer_id, op.kind, op.attribute, old, new, status, error, note, server
    )


class ApplyResult:
    """The outcome of applying a plan, operation by operation.

    ``applied``, ``skipped``, ``conflicted`` and ``failed`` count operations; ``rows`` has one
    ``OperationResult`` per operation (``to_frame()`` as a table); ``ok`` is True when nothing
    conflicted or failed. ``retry(client)`` re-applies only the failures (same journal);
    ``undo(client)`` reverts exactly what this apply wrote (``undo_plan()`` is that plan).

    One word per status: an operation that was not sent because the server's value changed
    has status ``"conflicted"`` (``CONFLICTED``), ``conflicted`` counts them, and ``counts()``
    lists them under ``"conflicted"``, as it does the other three.

    Parameters
    ----------
    plan : Plan
        The plan applied.
    rows : sequence of OperationResult
        One per operation considered, in plan order.
    journal_path : Path or None
        The journal (None when there was nothing to do).
    requests_sent : int
        How many requests went out.
    seconds : float
        How long the apply took.
    options : mapping
        The options it ran with (``ApplyOptions``; ``retry`` keeps its conflict check).

    Examples
    --------
    >>> import cm_frames as cm
    >>> emu = cm.Emulator(customers=20, seed=1).start()
    >>> client = emu.client()
    >>> df = cm.read_customers(client, progress=False)
    >>> edited = df.copy()
    >>> edited["tag.trial"] = edited.index == 5
    >>> result = edited.chartmogul.plan().apply(client, progress=False)
    >>> result.counts()
    {'applied': 1, 'skipped': 0, 'conflicted': 0, 'failed': 0}
    >>> result.to_frame()[["id", "kind", "attribute", "status"]]
       id     kind  attribute   status
    0   5  AddTags  tag.trial  applied
    >>> again = edited.chartmogul.plan(baseline=df).apply(client, progress=False)
    >>> again.by_status("skipped")[0].note
    'already in place'
    >>> undone = result.undo(client, progress=False)
    >>> undone.plan.operations[0].kind
    'RemoveTags'
    >>> emu.stop()
    """

    def __init__(
        self,
        plan: Plan,
        rows: Sequence[OperationResult],
        *,
        journal_path: Path | None,
        requests_sent: int,
        seconds: float,
        options: Mapping[str, Any],
    ) -> None:
        self.plan = plan
        self.rows = tuple(rows)
        self.journal_path = journal_path
        self.requests_sent = requests_sent
        self.seconds = seconds
        self._options = dict(options)
        self._counts = dict.fromkeys(STATUSES, 0)
        for row in self.rows:
            self._counts[row.status] += 1

    @property
    def applied(self) -> int:
        """How many operations this apply wrote (or an earlier run of its journal did)."""
        return self._counts[APPLIED]

    @property
    def skipped(self) -> int:
        """How many operations were not sent because the value was already in place."""
        return self._counts[SKIPPED]

    @property
    def conflicted(self) -> int:
        """How many operations have status ``"conflicted"``: not sent, the server had changed."""
        return self._counts[CONFLICTED]

    @property
    def failed(self) -> int:
        """How many operations failed (``retry(client)`` sends them again)."""
        return self._counts[FAILED]

    @property
    def ok(self) -> bool:
        """True when no operation conflicted or failed."""
        return self.conflicted == 0 and self.failed == 0

    def counts(self) -> dict[str, int]:
        """The four counts by status, named as the attributes that hold them.

        Returns
        -------
        dict
            What the journal's last line records too.

        Examples
        --------
        >>> from cm_frames.writeback.operations import AddTags, RemoveTags
        >>> from cm_frames.writeback.plan import Plan
        >>> ops = [AddTags(1, "cus_1", None, "vip"), RemoveTags(2, "cus_2", None, "trial")]
        >>> result = ApplyResult(
        ...     Plan(ops),
        ...     [make_row(ops[0], APPLIED), make_row(ops[1], FAILED, error="HTTP 500")],
        ...     journal_path=None, requests_sent=2, seconds=0.5, options={},
        ... )
        >>> result.counts()
        {'applied': 1, 'skipped': 0, 'conflicted': 0, 'failed': 1}
        """
        return dict(self._counts)

    def by_status(self, status: str) -> tuple[OperationResult, ...]:
        """Return the rows with that status.

        Parameters
        ----------
        status : {"applied", "skipped", "conflicted", "failed"}
            The status wanted.

        Returns
        -------
        tuple of OperationResult
            The rows, in the plan's order.

        Raises
        ------
        ValidationError
            Another status.

        Examples
        --------
        >>> from cm_frames.writeback.operations import AddTags, RemoveTags
        >>> from cm_frames.writeback.plan import Plan
        >>> ops = [AddTags(1, "cus_1", None, "vip"), RemoveTags(2, "cus_2", None, "trial")]
        >>> result = ApplyResult(
        ...     Plan(ops),
        ...     [make_row(ops[0], APPLIED), make_row(ops[1], FAILED, error="HTTP 500")],
        ...     journal_path=None, requests_sent=2, seconds=0.5, options={},
        ... )
        >>> [row.error for row in result.by_status("failed")]
        ['HTTP 500']
        """
        if status not in STATUSES:
            raise ValidationError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        return tuple(row for row in self.rows if row.status == status)

    def retry(self, client: Client, **options: Unpack[ApplyOptions]) -> ApplyResult:
        """Apply the failed operations again (same plan, same journal); the rest are kept.

        Parameters
        ----------
        client : Client
            A client of the account the plan was applied to.
        **options
            ``max_workers`` and ``progress`` (see ``ApplyOptions``); the journal and the
            conflict check are those of the apply being retried.

        Returns
        -------
        ApplyResult
            This result with the failed operations' rows replaced by the retry's (``self``
            when nothing failed).

        Raises
        ------
        TypeError
            ``journal`` or ``check_conflicts`` (fixed by the apply being retried), or an
            unknown option.

        Examples
        --------
        After an apply whose requests failed (tests/writeback/test_apply.py runs this with
        the emulator's faults):

        >>> if result.failed:  # doctest: +SKIP
        ...     result = result.retry(client)
        """
        fixed = [name for name in ("journal", "check_conflicts") if name in options]
        if fixed:
            raise TypeError(f"retry() got an unexpected keyword argument {fixed[0]!r}")
        resolve(options, caller="retry")
        failed = frozenset(row.op_id for row in self.rows if row.status == FAILED)
        if not failed:
            return self
        from cm_frames.writeback.apply import retry_operations  # apply imports this module

        same: ApplyOptions = {
            **options,
            "journal": self.journal_path,
            "check_conflicts": bool(self._options.get("check_conflicts", True)),
        }
        again = retry_operations(self.plan, client, failed, **same)
        redone = {row.op_id: row for row in again.rows}
        rows = [redone.get(row.op_id, row) for row in self.rows]
        return ApplyResult(
            self.plan,
            rows,
            journal_path=again.journal_path,
            requests_sent=again.requests_sent,
            seconds=again.seconds,
            options=self._options,
        )

    def undo_plan(self) -> Plan:
        """The plan that reverts exactly what this apply wrote, and nothing else.

        Only operations with status ``applied`` are inverted: an operation skipped as
        "already in place" (someone had set that value first), a conflict or a failure was
        not written by this apply, so undo leaves it alone. This is the difference from
        ``plan.inverse()``, which inverts every operation of the plan.

        Returns
        -------
        Plan
            The inverse of the applied operations, with the plan's provenance, so applying it
            checks the account and conflicts as any plan does.

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=5, seed=1) as emu:
        ...     client = emu.client()
        ...     df = cm.read_customers(client, progress=False)
        ...     edited = df.copy()
        ...     edited["tag.trial"] = True
        ...     result = edited.chartmogul.plan().apply(client, progress=False)
        ...     undo = result.undo_plan()
        ...     undone = undo.apply(client, progress=False)  # the same as result.undo(client)
        >>> undo.summary().by_kind["RemoveTags"], undone.applied
        (5, 5)
        """
        applied = {row.op_id for row in self.rows if row.status == APPLIED}
        ops = [op for op in self.plan.operations if op.op_id in applied]
        return Plan(ops, source=self.plan.source, email_groups=self.plan.email_groups).inverse()

    def undo(self, client: Client, **options: Unpack[ApplyOptions]) -> ApplyResult:
        """Revert exactly what this apply wrote: ``self.undo_plan().apply(client, ...)``.

        A value a colleague had set before this apply (reported "already in place") is kept,
        and so is any value changed on the server since this apply wrote it (the undo's
        conflict check reports it as a conflict and does not send it).

        Parameters
        ----------
        client : Client
            A client of the account the plan was applied to.
        **options
            ``journal``, ``check_conflicts``, ``max_workers``, ``progress``, as for
            ``Plan.apply`` (see ``ApplyOptions``); the undo has a journal of its own (by default beside the
            cache, named after the undo plan), so it resumes like any apply.

        Returns
        -------
        ApplyResult
            What the undo did, operation by operation (its own ``undo()`` re-applies).

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=5, seed=1) as emu:
        ...     client = emu.client()
        ...     df = cm.read_customers(client, progress=False)
        ...     edited = df.copy()
        ...     edited["tag.trial"] = True
        ...     result = edited.chartmogul.plan().apply(client, progress=False)
        ...     undone = result.undo(client, progress=False)
        ...     reloaded = cm.read_customers(client, progress=False)
        >>> undone.applied, reloaded.columns.difference(df.columns).tolist()
        (5, [])
        """
        resolve(options, caller="undo")
        return self.undo_plan().apply(client, **options)

    def to_frame(self) -> pd.DataFrame:
        """One row per operation, to filter and count with pandas.

        Returns
        -------
        pandas.DataFrame
            Columns op_id, id, kind, attribute, old, new, status, error, note, server
            (Arrow-backed; values as display text).

        Examples
        --------
        >>> from cm_frames.writeback.operations import AddTags, RemoveTags
        >>> from cm_frames.writeback.plan import Plan
        >>> ops = [AddTags(1, "cus_1", None, "vip"), RemoveTags(2, "cus_2", None, "trial")]
        >>> result = ApplyResult(
        ...     Plan(ops),
        ...     [make_row(ops[0], APPLIED), make_row(ops[1], FAILED, error="HTTP 500")],
        ...     journal_path=None, requests_sent=2, seconds=0.5, options={},
        ... )
        >>> result.to_frame()[["id", "kind", "attribute", "status", "error"]]
           id        kind  attribute   status     error
        0   1     AddTags    tag.vip  applied      <NA>
        1   2  RemoveTags  tag.trial   failed  HTTP 500
        """
        rows = self.rows
        table = pa.table(
            {
                "op_id": pa.array([r.op_id for r in rows], pa.string()),
                "id": pa.array([r.customer_id for r in rows], pa.int64()),
                "kind": pa.array([r.kind for r in rows], pa.string()),
                "attribute": pa.array([r.attribute for r in rows], pa.string()),
                "old": pa.array([_shown(r.old) for r in rows], pa.string()),
                "new": pa.array([_shown(r.new) for r in rows], pa.string()),
                "status": pa.array([r.status for r in rows], pa.string()),
                "error": pa.array([r.error for r in rows], pa.string()),
                "note": pa.array([r.note for r in rows], pa.string()),
                "server": pa.array([_shown(r.server) for r in rows], pa.string()),
            }
        )
        frame: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
        return frame

    # -- display --

    def summary_lines(self) -> list[str]:
        """The summary as short lines (shared by ``repr`` and the HTML view).

        Returns
        -------
        list of str
            The counts, the requests and time, the journal, and what to do next.

        Examples
        --------
        >>> from cm_frames.writeback.operations import AddTags, RemoveTags
        >>> from cm_frames.writeback.plan import Plan
        >>> ops = [AddTags(1, "cus_1", None, "vip"), RemoveTags(2, "cus_2", None, "trial")]
        >>> result = ApplyResult(
        ...     Plan(ops),
        ...     [make_row(ops[0], APPLIED), make_row(ops[1], FAILED, error="HTTP 500")],
        ...     journal_path=None, requests_sent=2, seconds=0.5, options={},
        ... )
        >>> result.summary_lines()
        ['1 applied · 0 skipped · 0 conflicted · 1 failed',
         '2 operations; 2 requests sent in 0.5 s',
         'to send the failed operations again: result.retry(client)']
        """
        total = len(self.rows)
        from_journal = sum(1 for r in self.rows if r.note == FROM_JOURNAL)
        head = (
            f"{self.applied:,} applied · {self.skipped:,} skipped · "
            f"{self.conflicted:,} conflicted · {self.failed:,} failed"
        )
        lines = [
            head,
            f"{total:,} operation{_s(total)}; {self.requests_sent:,} request"
            f"{_s(self.requests_sent)} sent in {self.seconds:.1f} s"
            + (f"; {from_journal:,} applied earlier ({FROM_JOURNAL})" if from_journal else ""),
        ]
        if self.journal_path is not None:
            lines.append(f"journal: {self.journal_path}")
        if self.failed:
            lines.append("to send the failed operations again: result.retry(client)")
        if self.conflicted:
            lines.append(
                "conflicted operations were not sent: the server changed after the load (reload, plan again)"
            )
        return lines

    def _not_applied(self) -> list[OperationResult]:
        order = {FAILED: 0, CONFLICTED: 1, SKIPPED: 2}
        rows = [r for r in self.rows if r.status != APPLIED]
        return sorted(rows, key=lambda r: order[r.status])

    def __repr__(self) -> str:
        lines = ["<cm_frames.ApplyResult>", *(f"  {line}" for line in self.summary_lines())]
        shown = self._not_applied()
        if shown:
            lines.append("not applied:")
            for r in shown[:_SHOWN_ROWS]:
                why = r.error or r.note or ""
                lines.append(
                    f"  {r.status:<8} {r.customer_id} {r.kind} {r.attribute} "
                    f"{_shown(r.old) or '—'} → {_shown(r.new) or '—'}: {why}"
                )
            if len(shown) > _SHOWN_ROWS:
                lines.append(f"  … and {len(shown) - _SHOWN_ROWS:,} more (result.to_frame())")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = ['<div class="cm-frames-apply-result">', "<strong>cm_frames.ApplyResult</strong>"]
        parts.append("<ul>")
        parts += [f"<li>{html.escape(line)}</li>" for line in self.summary_lines()]
        parts.append("</ul>")
        shown = self._not_applied()
        if shown:
            head = "".join(
                f"<th>{c}</th>" for c in ("status", "id", "kind", "attribute", "old", "new", "why")
            )
            body = []
            for r in shown[:_SHOWN_ROWS]:
                cells = (
                    r.status,
                    str(r.customer_id),
                    r.kind,
                    r.attribute,
                    _shown(r.old) or "—",
                    _shown(r.new) or "—",
                    r.error or r.note or "",
                )
                body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
            parts.append(
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            )
            if len(shown) > _SHOWN_ROWS:
                parts.append(f"<p>… and {len(shown) - _SHOWN_ROWS:,} more</p>")
        parts.append("</div>")
        return "\n".join(parts)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _shown(value: Any) -> str | None:
    """A value as display text: timestamps in ISO 8601, others as they print; None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_timestamp(value)
    return str(value)
