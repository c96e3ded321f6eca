"""The emulator restarts (same ``db=`` file, same port) in the middle of a load or an apply.

Issue 7: "the load fails clearly or completes correctly, never returns a partial frame as if
whole; the apply resumes." Each test stops the emulator at a chosen point: once it has
answered some pages or writes and holds the next requests (``hang_after``, so the client
cannot finish first however slowly the test watches), with more in flight (every answer
waits ``LATENCY_MS``). The held requests are applied at the stop and their answers lost.
Then it either starts a new emulator on the same file and port at once (within the client's
retry window) or only after the client has given up (a short ``retry_for``).
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest
from crash_harness import (
    applied_on_server,
    crash_plan,
    customer_refs,
    op_identity,
    planned_attributes,
    read_attributes,
    view_journal,
    wire_identities,
)
from dialects import BOTH_DIALECTS

import cm_frames as cm
from cm_frames.emulator import Emulator
from cm_frames.read.load import snapshot_store
from cm_frames.writeback.apply import apply_plan
from cm_frames.writeback.result import FAILED, FROM_JOURNAL, SENT_EARLIER

CUSTOMERS = 4000  # 20 pages of 200
SEED = 11
LATENCY_MS = 20
WRITES = ("POST", "PUT", "DELETE")
DEADLINE_S = 30  # for every wait below
T = TypeVar("T")


# --- helpers -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Server:
    """The emulator of one test across restarts: same SQLite file, port and credentials."""

    def __init__(self, db: Path, customers: int, dialect: str = "enrichment") -> None:
        self.db = db
        self.customers = customers
        self.dialect = dialect
        # Today's API has one key, the Basic user name (the client takes it as both).
        self.token, self.secret = (
            ("restart-key", "restart-key")
            if dialect == "current"
            else ("restart-token", "restart-secret")
        )
        self.port = _free_port()
        self.logs: list[list[dict[str, Any]]] = []  # the request log of each stopped emulator
        self.emulator = self._new()

    def _new(self) -> Emulator:
        credentials: dict[str, str] = (
            {"api_key": self.token}
            if self.dialect == "current"
            else {"token": self.token, "secret": self.secret}
        )
        emulator = Emulator(
            customers=self.customers,
            seed=SEED,
            db=self.db,
            port=self.port,
            dialect=self.dialect,
            **credentials,
        )
        return emulator.start()

    def stop(self) -> None:
        """Stop serving: requests already read finish, then every connection is closed."""
        self.emulator.stop()
        self.logs.append(self.emulator.request_log())

    def start(self) -> None:
        self.emulator = self._new()

    def client(self, cache_dir: Path, **options: Any) -> cm.Client:
        return cm.Client(
            self.token,
            self.secret,
            f"http://127.0.0.1:{self.port}/v1/",
            cache_dir=cache_dir,
            rate_limit=None,
            backoff=0.02,  # retry quickly: the tests measure outcomes, not patience
            **options,
        )


@contextmanager
def _server(tmp_path: Path, customers: int, dialect: str = "enrichment") -> Iterator[Server]:
    server = Server(tmp_path / "emulator.sqlite", customers, dialect)
    try:
        yield server
    finally:
        server.emulator.stop()


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def _in_background(work: Callable[[], T]) -> tuple[ThreadPoolExecutor, Future[T]]:
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="restart-test")
    return pool, pool.submit(work)


def _pages(log: list[dict[str, Any]]) -> set[int]:
    """The pages of GET /customers the server answered (answers lost at a stop included)."""
    return {
        int(e["query"]["page"]) for e in log if e["path"] == "/v1/customers" and e["status"] == 200
    }


def _stop_when_held(server: Server) -> None:
    """Stop once the emulator holds a request (``hang_after`` was reached)."""
    _wait(lambda: server.emulator.hanging_requests() > 0, "a request held by hang_after")
    server.stop()


# --- restart mid-load ----------------------------------------------------------------------


def test_a_load_through_a_restart_completes_and_equals_a_quiet_load(tmp_path: Path) -> None:
    with _server(tmp_path, CUSTOMERS) as server:
        server.emulator.set_faults(latency_ms=LATENCY_MS, hang_after=4)  # 4 pages of 20
        with server.client(tmp_path / "a", max_workers=2) as client:
            pool, loading = _in_background(lambda: cm.read_customers(client, progress=False))
            with pool:
                _stop_when_held(server)
                server.start()  # at once: well within the client's retry window (120 s)
                loaded = loading.result(timeout=DEADLINE_S)

        with server.client(tmp_path / "b") as quiet:
            expected = cm.read_customers(quiet, progress=False)

    before, after = server.logs[0], server.emulator.request_log()
    assert 4 <= len(_pages(before)) < 20  # the restart came mid-load, and cut off answers:
    assert _pages(before) & _pages(after)  # served before it, fetched again after it
    assert _pages(before) | _pages(after) >= set(range(1, 21))
    assert len(loaded) == CUSTOMERS
    assert loaded.equals(expected)
    assert list(loaded.dtypes) == list(expected.dtypes)


def test_a_load_whose_server_stays_down_fails_clearly_and_saves_no_snapshot(
    tmp_path: Path,
) -> None:
    with _server(tmp_path, CUSTOMERS) as server:
        server.emulator.set_faults(latency_ms=LATENCY_MS, hang_after=4)  # 4 pages of 20
        with server.client(tmp_path / "a", max_workers=2, retry_for=1.0) as client:
            started = time.monotonic()
            pool, loading = _in_background(lambda: cm.read_customers(client, progress=False))
            with pool:
                _stop_when_held(server)  # and no restart
                with pytest.raises(cm.TransportError) as caught:
                    loading.result(timeout=DEADLINE_S)
            assert time.monotonic() - started < 10  # bounded by retry_for, not hanging
            message = str(caught.value)
            assert "no answer from the API" in message
            assert "retry_for=1 s" in message
            assert f"127.0.0.1:{server.port}/v1/customers" in message

            store = snapshot_store(client)
            assert store.latest(max_age_s=None) is None
            assert not list(store.directory.glob("*.arrow"))
            with pytest.raises(cm.TransportError):  # a warm reload has nothing partial to serve
                cm.read_customers(client, progress=False)

            server.start()
            reloaded = cm.read_customers(client, progress=False)
    assert len(reloaded) == CUSTOMERS
    assert reloaded.index.is_unique


# --- restart mid-apply ---------------------------------------------------------------------

APPLY_CUSTOMERS = 300
EDITED = 120


@BOTH_DIALECTS
def test_an_apply_through_a_restart_finishes_and_resends_nothing_done(
    tmp_path: Path, dialect: str
) -> None:
    journal = tmp_path / "journal.jsonl"
    with _server(tmp_path, APPLY_CUSTOMERS, dialect) as server:
        with server.client(tmp_path / "load") as loader:
            plan = crash_plan(loader, customers=EDITED, seed=SEED)
        planned = planned_attributes(read_attributes(server.emulator), plan)
        a_third = len(plan.requests()) // 3
        server.emulator.set_faults(latency_ms=LATENCY_MS, hang_after=a_third, hang_methods=WRITES)
        with server.client(tmp_path / "apply") as client:
            pool, applying = _in_background(
                lambda: apply_plan(plan, client, journal=journal, progress=False)
            )
            with pool:
                _stop_when_held(server)
                at_stop = view_journal(journal)
                server.start()
                result = applying.result(timeout=DEADLINE_S)
        now = read_attributes(server.emulator)
        after = server.emulator.request_log()

    assert result.ok
    assert result.applied == len(plan)
    assert now == planned
    emails, uuids = plan.email_groups, customer_refs(plan)
    identity = {op.op_id: op_identity(op) for op in plan.operations}
    sent_after = {
        i for e in after if e["method"] != "GET" for i in wire_identities(e, emails, uuids)
    }
    assert not sent_after & {identity[op_id] for op_id in at_stop.done}
    # Only a request whose answer the restart cut off can have been applied twice: the
    # client cannot tell it from one that never arrived, and retries it (idempotent).
    applied = applied_on_server(server.logs[0], emails, uuids) + applied_on_server(
        after, emails, uuids
    )
    assert set(applied) == set(identity.values())
    twice = {i for i, count in applied.items() if count > 1}
    assert twice <= {identity[op_id] for op_id in at_stop.unanswered}


@BOTH_DIALECTS
def test_an_apply_whose_server_stays_down_fails_with_a_journal_and_resumes(
    tmp_path: Path, dialect: str
) -> None:
    journal = tmp_path / "journal.jsonl"
    with _server(tmp_path, APPLY_CUSTOMERS, dialect) as server:
        with server.client(tmp_path / "load") as loader:
            plan = crash_plan(loader, customers=EDITED, seed=SEED)
        planned = planned_attributes(read_attributes(server.emulator), plan)
        a_third = len(plan.requests()) // 3
        server.emulator.set_faults(latency_ms=LATENCY_MS, hang_after=a_third, hang_methods=WRITES)
        with server.client(tmp_path / "apply", retry_for=0.5) as client:
            pool, applying = _in_background(
                lambda: apply_plan(plan, client, journal=journal, progress=False)
            )
            with pool:
                _stop_when_held(server)
                failed = applying.result(timeout=DEADLINE_S)  # the server is still down
        stopped = view_journal(journal)

        server.start()
        server.emulator.clear_request_log()
        with server.client(tmp_path / "apply") as client:
            resumed = apply_plan(plan, client, journal=journal, progress=False)
        now = read_attributes(server.emulator)
        after = server.emulator.request_log()

    assert failed.failed > 0
    assert failed.journal_path == journal
    assert "no answer from the API" in (failed.by_status(FAILED)[0].error or "")
    assert resumed.ok
    assert resumed.applied == len(plan)
    assert now == planned
    notes = Counter(row.note for row in resumed.rows)
    assert notes[FROM_JOURNAL] == len(stopped.done) == failed.applied
    assert notes[SENT_EARLIER] > 0  # held at the stop: landed, answer lost, not resent
    # Over both emulators every operation was applied exactly once.
    emails, uuids = plan.email_groups, customer_refs(plan)
    applied = applied_on_server(server.logs[0], emails, uuids) + applied_on_server(
        after, emails, uuids
    )
    assert applied == Counter(op_identity(op) for op in plan.operations)


@BOTH_DIALECTS
def test_the_restarted_emulator_serves_what_was_written_before(
    tmp_path: Path, dialect: str
) -> None:
    # The premise of the tests above: a restart on the same file loses nothing.
    with _server(tmp_path, 5, dialect) as server, server.client(tmp_path) as client:
        before = cm.read_customers(client, progress=False)
        customer = int(before.index[0])
        # By uuid: both dialects take it (today's API takes nothing else).
        client.add_tags(str(before.loc[customer, "uuid"]), ["before-restart"])
        server.stop()
        server.start()
        frame = cm.read_customers(client, refresh=True, progress=False)
    assert bool(frame.loc[customer, "tag.before-restart"])
    assert isinstance(frame, pd.DataFrame)
