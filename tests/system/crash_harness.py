"""Kill an applying process at a chosen point, resume it, and check what reached the server.

Shared by tests/system/test_crash_safety.py (300 customers, 10 kills) and benchmarks/bench_crash.py
(thousands of customers). One round:

1. reset the emulator to its seeded customers;
2. apply the plan with a journal in a child process (``python -c APPLY_SCRIPT``) and SIGKILL
   it once the server has let ``KillPoint.writes`` write requests through and holds the
   next request unanswered (the emulator's ``hang_after``: the child cannot finish
   first, however slowly this process watches it), or, with ``KillPoint.drop``, once that
   request and those after it are dropped (the child is then waiting to retry);
3. restart the emulator on the same port and SQLite file: its ``stop()`` lets every request
   it had already read finish, so the server's state is final before anything is compared;
4. optionally kill a second child that resumes the same journal, the same way;
5. resume in this process with the same journal, and check.

What identifies a request on the wire: method, path and body. A resume regroups what is left
(one request per customer and kind, of the remaining operations only), so its requests differ
from the killed run's even when they carry the same change; the checks therefore compare
*operations on the wire*: ``(method, customer id, attribute)`` for each tag or key in a body
(a by-email body counts for every customer sharing the email).

The checks (each failure is a line in ``Round.problems``):

- every operation of the plan reached the server with status 200 exactly once over all runs:
  nothing lost, nothing sent twice (the emulator applies a request iff it answers 200);
- no run sent an operation the journal showed ``done`` when that run started;
- the resume reports every operation applied: ``from journal`` for those journaled done,
  ``SENT_EARLIER`` for those a killed run sent without recording the answer that did land,
  and no note for those it sent itself (unanswered requests that never landed included).
  When a resuming child finished the whole plan before its kill point, the journal's episode
  is closed: the last resume starts afresh and finds everything already in place;
- every customer's tags and custom attributes on the server are the planned ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from server_view import ApiSession

import cm_frames as cm
from cm_frames.emulator import Emulator
from cm_frames.writeback.apply import apply_plan
from cm_frames.writeback.frame import plan_frame
from cm_frames.writeback.operations import (
    AddCustom,
    AddTags,
    Operation,
    RemoveCustom,
    RemoveTags,
    UpdateCustom,
    encode_value,
)
from cm_frames.writeback.result import (
    ALREADY_IN_PLACE,
    APPLIED,
    FROM_JOURNAL,
    SENT_EARLIER,
    SKIPPED,
)

# The child: credentials come from the environment (never the command line), no rate limit
# (the emulator has none), no progress bar.
APPLY_SCRIPT = """
import sys
from pathlib import Path
import cm_frames as cm
plan = cm.Plan.from_json(Path(sys.argv[1]).read_bytes())
with cm.Client(cache_dir=sys.argv[3], rate_limit=None) as client:
    plan.apply(client, journal=sys.argv[2], progress=False)
"""

# Every answer waits this long: several writes are in flight at once, as against a real
# server, and some of them land after the kill besides the one held there.
LATENCY_MS = 10
POLL_S = 0.002
WRITES = ("POST", "PUT", "DELETE")

Identity = tuple[str, int, str]  # (method, customer id, attribute): one operation on the wire
Attributes = tuple[frozenset[str], dict[str, Any]]  # tags, custom

_METHODS = {
    "AddTags": "POST",
    "RemoveTags": "DELETE",
    "AddCustom": "POST",
    "UpdateCustom": "PUT",
    "RemoveCustom": "DELETE",
}


# --- the plan --------------------------------------------------------------------------------


def crash_edit(df: pd.DataFrame, *, customers: int, seed: int) -> pd.DataFrame:
    """Every kind of operation on ``customers`` random customers (and every email sharer).

    Two new tags (usually one request carrying both), two existing tags cleared, two new
    custom keys (Integer, Boolean), CAC updated, utmSource removed. Customers sharing an
    email get the same new tags, so the plan has by-email requests too.
    """
    rng = np.random.default_rng(seed)
    n = len(df)
    chosen = df.index.isin(rng.choice(df.index.to_numpy(), size=customers, replace=False))
    shared = df["email"].duplicated(keep=False).to_numpy(dtype=bool, na_value=False)
    edited = df.copy()
    edited["tag.crash-a"] = (chosen & (rng.random(n) < 0.8)) | shared
    edited["tag.crash-b"] = (chosen & (rng.random(n) < 0.5)) | shared
    for tag in ("tag.vip", "tag.hipaa"):
        edited.loc[chosen, tag] = False
    scored = chosen & (rng.random(n) < 0.7)
    edited["custom.crash_score"] = pd.arrays.ArrowExtensionArray(
        pa.array(rng.integers(0, 1000, n), pa.int64(), mask=~scored)
    )
    flagged = chosen & (rng.random(n) < 0.4)
    edited["custom.crash_flag"] = pd.arrays.ArrowExtensionArray(
        pa.array(rng.random(n) < 0.5, pa.bool_(), mask=~flagged)
    )
    has_cac = chosen & df["custom.CAC"].notna().to_numpy(dtype=bool)
    edited.loc[has_cac, "custom.CAC"] = edited.loc[has_cac, "custom.CAC"] + 1
    edited.loc[chosen, "custom.utmSource"] = pd.NA
    return edited


def crash_plan(client: cm.Client, *, customers: int, seed: int) -> cm.Plan:
    """Load the account through ``client`` and plan ``crash_edit`` against it."""
    df = cm.read_customers(client, progress=False)
    with warnings.catch_warnings():
        # Removing utmSource from the chosen customers is the point, not an accident.
        warnings.simplefilter("ignore", cm.RemovalWarning)
        return plan_frame(crash_edit(df, customers=customers, seed=seed))


# --- operations on the wire ------------------------------------------------------------------


def op_identity(op: Operation) -> Identity:
    return (_METHODS[op.kind], op.customer_id, op.attribute)


def customer_refs(plan: cm.Plan) -> dict[str, int]:
    """The uuid of each customer the plan names, to its id (today's API writes by uuid)."""
    return {op.uuid: op.customer_id for op in plan.operations}


UNKNOWN_CUSTOMER = -1  # a write by a uuid the plan does not name: counted, never expected


def wire_identities(
    entry: Mapping[str, Any],
    emails: Mapping[str, Iterable[int]],
    uuids: Mapping[str, int] | None = None,
) -> list[Identity]:
    """The operations one logged write request carried.

    The path names the customer by id (the reference's dialect) or by uuid (today's: looked
    up in ``uuids``, ``customer_refs(plan)``; one the plan does not name counts as
    ``UNKNOWN_CUSTOMER``, so that a write to somebody else shows as an extra operation).
    None of them for a body the server did not get whole (the child died between sending the
    headers and the body): the emulator answered 400 and applied nothing.
    """
    method, body = entry["method"], entry["body"]
    if body is None:
        assert entry["status"] != 200, f"a write without a body was applied: {entry}"
        return []
    parts = entry["path"].strip("/").split("/")  # v1/customers/{id}/attributes/{what}
    if parts[2] == "attributes":  # v1/customers/attributes/{what}: by email
        customer_ids, what = list(emails[body["email"]]), parts[3]
    else:
        ref = parts[2]
        known = uuids or {}
        customer = int(ref) if ref.isdigit() else known.get(ref, UNKNOWN_CUSTOMER)
        customer_ids, what = [customer], parts[4]
    if what == "tags":
        names = [f"tag.{tag}" for tag in body["tags"]]
    elif method == "POST":
        names = [f"custom.{item['key']}" for item in body["custom"]]
    else:  # PUT {"custom": {key: value}}, DELETE {"custom": [key]}
        names = [f"custom.{key}" for key in body["custom"]]
    return [(method, customer_id, name) for customer_id in customer_ids for name in names]


def applied_on_server(
    entries: Iterable[Mapping[str, Any]],
    emails: Mapping[str, Iterable[int]],
    uuids: Mapping[str, int] | None = None,
) -> Counter[Identity]:
    """How often each operation was applied: the writes the emulator answered with 200."""
    return Counter(
        identity
        for entry in entries
        if entry["method"] != "GET" and entry["status"] == 200
        for identity in wire_identities(entry, emails, uuids)
    )


# --- server state ----------------------------------------------------------------------------


def read_attributes(emulator: Emulator) -> dict[int, Attributes]:
    """Every customer's tags and custom attributes, over HTTP (pages, or today's cursor)."""
    with ApiSession.of(emulator) as session:
        return {
            entry["id"]: (
                frozenset(entry["attributes"]["tags"]),
                dict(entry["attributes"]["custom"]),
            )
            for entry in session.customers()
        }


def planned_attributes(baseline: Mapping[int, Attributes], plan: cm.Plan) -> dict[int, Attributes]:
    """``baseline`` with every operation of ``plan`` applied (values as JSON)."""
    dialect = "current" if plan.source.get("dialect") == "current" else "enrichment"
    tags = {customer: set(t) for customer, (t, _) in baseline.items()}
    custom = {customer: dict(c) for customer, (_, c) in baseline.items()}
    for op in plan.operations:
        who = op.customer_id
        if isinstance(op, AddTags):
            tags[who].add(op.tag)
        elif isinstance(op, RemoveTags):
            tags[who].discard(op.tag)
        elif isinstance(op, AddCustom):
            custom[who][op.key] = encode_value(op.type, op.value, dialect)
        elif isinstance(op, UpdateCustom):
            custom[who][op.key] = encode_value(op.type, op.new, dialect)
        elif isinstance(op, RemoveCustom):
            custom[who].pop(op.key, None)
    return {customer: (frozenset(tags[customer]), custom[customer]) for customer in baseline}


# --- the journal as a test reads it (independently of cm_frames.journal) ---------------------


@dataclass(frozen=True)
class JournalView:
    """The current episode: since the start, or since the last run that finished complete."""

    done: frozenset[str]  # op ids with a "done" record
    unanswered: frozenset[str]  # op ids sent ("sending") with no "done" record
    complete: bool  # the last run finished the whole plan: the next apply starts afresh


def view_journal(path: Path) -> JournalView:
    done: set[str] = set()
    sent: set[str] = set()
    complete = False
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for line in lines:
        record = json.loads(line)  # SIGKILL never tears a line: each is one write()
        event = record["event"]
        complete = event == "finished" and record["complete"] is True
        if event == "done":
            done.update(record["op_ids"])
        elif event == "sending":
            sent.update(record["op_ids"])
        elif complete:
            done.clear()
            sent.clear()
    return JournalView(frozenset(done), frozenset(sent - done), complete)


# --- killing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KillPoint:
    """Kill once the server has let ``writes`` writes through and holds the next request.

    ``drop``: then the emulator drops that request and every later one, and the kill waits
    for a dropped one: the child is retrying a request the server never applied.
    """

    writes: int
    drop: bool = False


@dataclass
class Round:
    """What one round did and found."""

    kills: int = 0
    done_at_kill: int = 0  # operations journaled done when the last kill struck
    finished_by_child: bool = False  # a resuming child completed the plan before its kill point
    unanswered_landed: int = 0  # sent, answer lost, but applied: must not be sent again
    unanswered_lost: int = 0  # sent, answer lost, never applied: must be sent by the resume
    resent_done: int = 0  # operations journaled done and sent again: must be 0
    resume_seconds: float = 0.0
    resume_requests: int = 0
    problems: list[str] = field(default_factory=list)


def _until(condition: Callable[[], bool], proc: subprocess.Popen[bytes], deadline: float) -> bool:
    """Poll ``condition`` while ``proc`` runs: True once it holds, False if ``proc`` ended.

    Between polls it sleeps at least as long as the last poll took: reading a large request
    log must not take the CPU from the process being watched (2 cores).
    """
    while proc.poll() is None:
        started = time.monotonic()
        if condition():
            return True
        if started > deadline:
            raise TimeoutError("the kill point was not reached before the deadline")
        time.sleep(max(POLL_S, time.monotonic() - started))
    return False


def _writes(emulator: Emulator) -> list[dict[str, Any]]:
    return [e for e in emulator.request_log() if e["method"] != "GET"]


def run_and_kill(
    emulator: Emulator,
    argv: list[str],
    env: Mapping[str, str],
    point: KillPoint,
    *,
    deadline: float,
) -> tuple[bool, str]:
    """Run the child until ``point``, SIGKILL it; (killed, stderr). Not killed: it finished."""

    def dropped() -> int:
        return sum(e["status"] == 0 for e in emulator.request_log())

    emulator.set_faults(latency_ms=LATENCY_MS, hang_after=point.writes, hang_methods=WRITES)
    with subprocess.Popen(
        argv, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as proc:
        try:
            # Not reached only if the child needs no more than ``point.writes`` writes.
            reached = _until(lambda: emulator.hanging_requests() > 0, proc, deadline)
            if reached and point.drop:
                dropped_before = dropped()
                # New settings: the held requests go on, to be dropped with all later ones.
                emulator.set_faults(drop_rate=1.0, latency_ms=LATENCY_MS)
                reached = _until(lambda: dropped() > dropped_before, proc, deadline)
        finally:
            # SIGKILL: no handler runs, no cleanup, no last journal record (also on a timeout,
            # so the child never outlives the round).
            proc.kill()
        _, stderr = proc.communicate()
    return reached, stderr.decode(errors="replace")


def restart(emulator: Emulator) -> None:
    """Stop (finishing every request already read, held ones included) and start again.

    Same port, same SQLite file.
    """
    emulator.stop()
    emulator.start()
    emulator.clear_faults()


def crash_round(
    emulator: Emulator,
    plan: cm.Plan,
    planned: Mapping[int, Attributes],
    points: list[KillPoint],
    work: Path,
    *,
    deadline: float,
) -> Round:
    """One round: reset, a killed child per point (each resuming the last), resume, check."""
    result = Round()
    emulator.reset()
    work.mkdir(parents=True, exist_ok=True)
    plan_file, journal, cache = work / "plan.json", work / "journal.jsonl", work / "cache"
    plan_file.write_text(plan.to_json(), encoding="utf-8")
    journal.unlink(missing_ok=True)
    env = {
        **os.environ,
        "CHARTMOGUL_ACCOUNT_TOKEN": emulator.token,
        "CHARTMOGUL_SECRET_KEY": emulator.secret,
        "CHARTMOGUL_API_URL": emulator.url,
    }
    argv = [sys.executable, "-c", APPLY_SCRIPT, str(plan_file), str(journal), str(cache)]
    emails = plan.email_groups
    uuids = customer_refs(plan)
    identity = {op.op_id: op_identity(op) for op in plan.operations}
    applied: Counter[Identity] = Counter()

    def check_no_done_resent(before: JournalView, entries: list[dict[str, Any]], run: str) -> None:
        sent = {i for entry in entries for i in wire_identities(entry, emails, uuids)}
        resent = sorted(sent & {identity[op_id] for op_id in before.done})
        result.resent_done += len(resent)
        if resent:
            result.problems.append(f"{run} sent operations journaled done: {resent[:5]}")

    for number, point in enumerate(points, start=1):
        before = view_journal(journal)
        emulator.clear_request_log()
        killed, stderr = run_and_kill(emulator, argv, env, point, deadline=deadline)
        if not killed and "Traceback" in stderr:
            result.problems.append(f"child {number} failed instead of finishing:\n{stderr}")
        result.kills += killed
        restart(emulator)
        entries = _writes(emulator)
        check_no_done_resent(before, entries, f"child {number}")
        applied += applied_on_server(entries, emails, uuids)

    at_kill = view_journal(journal)
    result.done_at_kill = len(at_kill.done)
    result.finished_by_child = at_kill.complete
    landed = {op_id for op_id in at_kill.unanswered if applied[identity[op_id]]}
    result.unanswered_landed = len(landed)
    result.unanswered_lost = len(at_kill.unanswered) - len(landed)

    emulator.clear_request_log()
    started = time.monotonic()
    with cm.Client(
        emulator.token, emulator.secret, emulator.url, cache_dir=cache, rate_limit=None
    ) as client:
        resumed = apply_plan(plan, client, journal=journal, progress=False)
    result.resume_seconds = time.monotonic() - started
    result.resume_requests = resumed.requests_sent
    entries = _writes(emulator)
    check_no_done_resent(at_kill, entries, "the resume")
    applied += applied_on_server(entries, emails, uuids)

    # Exactly once, over all runs.
    wanted = Counter(identity.values())
    if applied != wanted:
        lost = sorted((wanted - applied).keys())[:5]
        twice = sorted((applied - wanted).keys())[:5]
        result.problems.append(f"not applied exactly once: missing {lost}, extra {twice}")

    # What the resume reports for each operation.
    for row in resumed.rows:
        expected: tuple[str, str | None]
        if at_kill.complete:  # a child finished the plan before its kill point
            expected = (SKIPPED, ALREADY_IN_PLACE)
        elif row.op_id in at_kill.done:
            expected = (APPLIED, FROM_JOURNAL)
        elif row.op_id in landed:
            expected = (APPLIED, SENT_EARLIER)
        else:
            expected = (APPLIED, None)
        if (row.status, row.note) != expected:
            result.problems.append(
                f"the resume reports {row.kind} {row.attribute} of customer {row.customer_id} "
                f"as {(row.status, row.note)}, expected {expected}"
            )
            break

    # The server holds exactly the planned attributes, for every customer.
    now = read_attributes(emulator)
    wrong = sorted(c for c in planned if now.get(c) != planned[c])
    if wrong:
        result.problems.append(
            f"{len(wrong)} customers differ from the plan, e.g. {wrong[0]}: "
            f"server {now.get(wrong[0])}, planned {planned[wrong[0]]}"
        )
    return result
