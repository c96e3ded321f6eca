"""Soak (issue 7), small: read, edit, apply and verify through the issue's fault mix.

One run per API dialect (module fixture, ``[enrichment]`` and ``[current]``) against its own
emulator of 1,500 customers with 10% 5xx, 3% 429 with
``Retry-After: 1``, 1% dropped connections and 3 ms of latency: read every customer
fault-free and again under faults, make 400 edits of every kind in the frame read under faults,
apply its plan under faults, then reload fault-free. Each test checks one property of that run.
The same path at full size (20,000 customers, 5,000 operations) is benchmarks/bench_soak.py,
whose helpers this module imports.

The emulator's faults come from its seed in request order, so the counts asserted below are
the seed's (7): its first 8 draws hold a 5xx and a 429, which the 8 pages of the read meet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import pytest
from dialects import DIALECTS, edits_as_the_api_keeps
from soak_harness import (
    FAULT_MIX,
    SoakEdits,
    edit_for_soak,
    fault_counts,
    faults_on,
    landed_once,
    planned_writes,
    read,
    read_only_columns,
    retry_after_gaps,
    take_log,
    writable_state,
    write_attempts,
)

import cm_frames as cm
from cm_frames.writeback.frame import plan_frame

CUSTOMERS = 1_500
OPERATIONS = 400
SEED = 7
KINDS = ("AddTags", "RemoveTags", "AddCustom", "UpdateCustom", "RemoveCustom")


@dataclass(frozen=True)
class SoakRun:
    dialect: str
    clean: pd.DataFrame  # read fault-free
    faulty: pd.DataFrame  # read under faults
    read_log: list[dict[str, Any]]
    edits: SoakEdits
    plan: cm.Plan
    result: cm.ApplyResult
    apply_log: list[dict[str, Any]]
    reloaded: pd.DataFrame  # read fault-free after the apply


@pytest.fixture(scope="module", params=DIALECTS)
def soak(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SoakRun]:
    """The combined path, run once per dialect: read, edit, apply under faults, reload."""
    dialect = str(request.param)
    workdir = tmp_path_factory.mktemp(f"soak-{dialect}")
    with (
        cm.Emulator(customers=CUSTOMERS, seed=SEED, dialect=dialect) as emulator,
        emulator.client(cache_dir=workdir, rate_limit=None) as client,
    ):
        clean = read(client)
        take_log(emulator)
        faults_on(emulator)
        faulty = read(client)
        emulator.clear_faults()
        read_log = take_log(emulator)

        edits = edit_for_soak(faulty, OPERATIONS, SEED)
        edits = replace(edits, frame=edits_as_the_api_keeps(edits.frame, dialect))
        plan = plan_frame(edits.frame)
        faults_on(emulator)
        result = plan.apply(client, journal=workdir / "soak.jsonl", progress=False)
        emulator.clear_faults()
        apply_log = take_log(emulator)

        reloaded = read(client)
        yield SoakRun(dialect, clean, faulty, read_log, edits, plan, result, apply_log, reloaded)


def test_a_read_under_faults_equals_a_fault_free_read(soak: SoakRun) -> None:
    faults = fault_counts(soak.read_log)
    assert faults["5xx"] > 0, "no 5xx reached the read: the faults were not on"
    assert faults["429"] > 0, "no 429 reached the read: the faults were not on"
    assert len(soak.faulty) == CUSTOMERS
    pd.testing.assert_frame_equal(soak.faulty, soak.clean)


def test_the_plan_holds_exactly_the_edits_of_every_kind(soak: SoakRun) -> None:
    kinds = Counter(op.kind for op in soak.plan)
    assert kinds == soak.edits.kinds
    assert sum(kinds.values()) == OPERATIONS
    assert set(kinds) == set(KINDS)
    assert min(kinds.values()) >= OPERATIONS // 10
    for kind in ("AddCustom", "UpdateCustom", "RemoveCustom"):
        types = {op.type for op in soak.plan if op.kind == kind}  # type: ignore[attr-defined]
        assert types == {"String", "Integer", "Boolean", "Timestamp"}, kind
    by_email = [r for r in soak.plan.requests() if r.by_email]
    assert len(by_email) == soak.edits.by_email_groups > 0
    assert {r.kind for r in by_email} == {"AddTags", "AddCustom"}


def test_apply_under_faults_reports_every_operation_applied(soak: SoakRun) -> None:
    result = soak.result
    assert result.counts() == {"applied": OPERATIONS, "skipped": 0, "conflicted": 0, "failed": 0}
    assert result.ok
    assert {row.status for row in result.rows} == {"applied"}
    assert result.requests_sent == len(soak.plan.requests())


def test_faults_of_every_kind_hit_the_writes(soak: SoakRun) -> None:
    writes = [entry for entry in soak.apply_log if entry["method"] != "GET"]
    faults = fault_counts(writes)
    assert faults["5xx"] > 0
    assert faults["429"] > 0
    assert faults["dropped"] > 0
    # About the rates: a fault rate far off would mean the mix was not the one asked.
    share = sum(faults.values()) / len(writes)
    assert 0.07 < share < 0.22, f"{share:.1%} of write attempts faulted"


def test_each_planned_write_landed_exactly_once_after_faults_only(soak: SoakRun) -> None:
    attempts = write_attempts(soak.apply_log)
    assert attempts.keys() == planned_writes(soak.plan)
    assert landed_once(attempts), {k: s for k, s in attempts.items() if s[-1] != 200}
    retried = sum(len(statuses) > 1 for statuses in attempts.values())
    assert retried > 0


def test_every_retry_after_a_429_waited_for_retry_after(soak: SoakRun) -> None:
    gaps = retry_after_gaps(soak.apply_log)
    assert gaps, "no 429 was retried during the apply"
    assert min(gaps) >= FAULT_MIX["retry_after_s"], sorted(gaps)[:5]


def test_the_server_holds_exactly_the_edited_frames_tags_and_custom_values(
    soak: SoakRun,
) -> None:
    edited, reloaded = soak.edits.frame, soak.reloaded
    pd.testing.assert_frame_equal(
        writable_state(reloaded, soak.dialect), writable_state(edited, soak.dialect)
    )
    columns = read_only_columns(soak.clean)
    pd.testing.assert_frame_equal(reloaded[columns], soak.clean[columns])
    # The edits went through the tag.* columns; the edited frame's tags lists are as loaded.
    again = plan_frame(
        edits_as_the_api_keeps(edited, soak.dialect).drop(columns="tags"), baseline=reloaded
    )
    assert again.is_empty, again.to_frame().head(10).to_string()
    assert not again.skipped
