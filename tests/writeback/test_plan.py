"""Plan: contents, summary, views (frame, text, HTML), JSON, inverse and filter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from customer_frames import customers_to_frame

from cm_frames.errors import ValidationError
from cm_frames.writeback.diff import diff
from cm_frames.writeback.operations import (
    AddCustom,
    AddTags,
    Operation,
    RemoveCustom,
    RemoveTags,
    UpdateCustom,
)
from cm_frames.writeback.plan import IgnoredRows, Plan, PlanSummary, SkippedEdit

WHEN = datetime(2024, 1, 31, 12, 30, 5, 123456, tzinfo=UTC)
A = (1, "cus_1", "a@example.com")
B = (2, "cus_2", "b@example.com")
OPS: list[Operation] = [
    AddTags(*A, "vip"),
    RemoveTags(*A, "engage"),
    AddCustom(*A, "score", "Integer", 2**63 - 1),
    AddCustom(*A, "seen", "Timestamp", WHEN),
    UpdateCustom(*A, "pro", "Boolean", False, True),
    RemoveCustom(*A, "rep", "String", "Gabi"),
    AddTags(*B, "vip"),
    UpdateCustom(*B, "score", "Integer", -(2**63), 0),
]
SKIPPED = (SkippedEdit("name", (2,), "read-only column"),)


def sample(**kwargs: Any) -> Plan:
    defaults: dict[str, Any] = {
        "skipped": SKIPPED,
        "ignored_rows": IgnoredRows(added=1, dropped=2),
        "source": {"base_url": "http://127.0.0.1:9/v1/", "snapshot_id": "s1"},
    }
    return Plan(OPS, **{**defaults, **kwargs})


def diffed_plan() -> Plan:
    """A plan as diff() builds it (columnar, lazily materialised)."""
    customers = [
        {
            "id": i,
            "uuid": f"cus_{i}",
            "email": f"c{i}@example.com",
            "attributes": {
                "tags": ["engage"] if i % 2 else [],
                "custom": {"score": i, "seen": "2024-01-01T00:00:00Z", "rep": "R", "pro": True},
            },
        }
        for i in range(1, 31)
    ]
    baseline, types = customers_to_frame(customers)
    edited = baseline.copy()
    edited["tag.engage"] = ~edited["tag.engage"]
    edited["custom.score"] = edited["custom.score"] * 10
    edited.loc[edited.index % 3 == 0, "custom.rep"] = pd.NA
    edited["custom.seen"] = pd.Timestamp(WHEN)
    edited["custom.new"] = "x"
    return diff(edited, baseline, custom_types=types, source={"snapshot_id": "s2"})


# --- contents -------------------------------------------------------------------------------------


def test_a_plan_holds_its_operations_in_order() -> None:
    plan = sample()
    assert len(plan) == 8
    assert not plan.is_empty
    assert list(plan) == OPS
    assert plan.operations == tuple(OPS)
    assert plan.skipped == SKIPPED
    assert plan.ignored_rows == IgnoredRows(1, 2)
    assert dict(plan.source) == {"base_url": "http://127.0.0.1:9/v1/", "snapshot_id": "s1"}


def test_an_empty_plan() -> None:
    plan = Plan()
    assert plan.is_empty
    assert len(plan) == 0
    assert list(plan) == []
    assert plan.requests() == []
    assert plan.summary().requests == 0
    assert "0 operations on 0 customers" in repr(plan)


def test_equality_looks_at_everything() -> None:
    assert sample() == sample()
    assert sample() != sample(skipped=())
    assert sample() != sample(ignored_rows=IgnoredRows())
    assert sample() != sample(source={})
    assert sample() != Plan(OPS[:-1], skipped=SKIPPED, ignored_rows=IgnoredRows(1, 2))
    assert sample() != "a plan"


def test_a_lazily_built_plan_equals_the_same_operations() -> None:
    plan = diffed_plan()
    again = Plan(
        plan.operations,
        skipped=plan.skipped,
        ignored_rows=plan.ignored_rows,
        source=plan.source,
        email_groups=plan.email_groups,
    )
    assert again == plan
    assert again.requests() == plan.requests()
    assert again.summary() == plan.summary()


def test_operations_must_be_operations() -> None:
    with pytest.raises(ValidationError, match=r"operations\[1\]: expected AddTags"):
        Plan([OPS[0], "AddTags"])  # type: ignore[list-item]


def test_one_customer_has_one_uuid_and_email_throughout() -> None:
    with pytest.raises(ValidationError, match="customer 1 appears with uuid/email"):
        Plan([AddTags(*A, "x"), AddTags(1, "cus_other", A[2], "y")])


def test_source_is_copied_and_read_only() -> None:
    source = {"nested": {"a": [1, 2]}}
    plan = Plan(OPS, source=source)
    source["nested"]["a"].append(3)
    assert plan.source == {"nested": {"a": [1, 2]}}
    with pytest.raises(TypeError):
        plan.source["x"] = 1  # type: ignore[index]


# --- summary --------------------------------------------------------------------------------------


def test_summary_counts_kinds_customers_requests_and_time() -> None:
    summary = sample().summary(rate_limit=4)
    assert summary == PlanSummary(
        operations=8,
        by_kind={
            "AddTags": 2,
            "RemoveTags": 1,
            "AddCustom": 2,
            "UpdateCustom": 2,
            "RemoveCustom": 1,
        },
        customers=2,
        requests=7,
        rate_limit=4,
        estimated_seconds=7 / 4,
        skipped_columns=1,
        skipped_cells=1,
        ignored_added=1,
        ignored_dropped=2,
        skipped_by_column={"name": 1},
        removals={"tag.engage": 1, "custom.rep": 1},
    )
    assert summary.requests == len(sample().requests())
    text = str(summary)
    assert "8 operations on 2 customers → 7 requests (about 1.8 s at 4 requests/s)" in text
    assert "AddTags 2 · RemoveTags 1 · AddCustom 2 · UpdateCustom 2 · RemoveCustom 1" in text
    assert "skipped (never sent): 1 edit in 1 column: name (1)" in text
    assert "⚠ removes 2 values: tag.engage 1, custom.rep 1" in text
    assert "ignored rows: 1 added, 2 dropped" in text


def test_summary_without_a_rate_has_no_estimate() -> None:
    summary = sample().summary(rate_limit=None)
    assert summary.estimated_seconds is None
    assert "requests/s" not in str(summary)


def test_summary_requests_count_by_email_merges() -> None:
    shared = "s@example.com"
    ops = [AddTags(1, "u1", shared, "x"), AddTags(3, "u3", shared, "x"), AddTags(*B, "x")]
    plan = Plan(ops, email_groups={shared: [1, 3]})
    assert plan.summary().requests == len(plan.requests()) == 2
    assert len(plan.requests(by_email=False)) == 3


def test_summary_of_a_diffed_plan_matches_its_requests() -> None:
    plan = diffed_plan()
    assert plan.summary().requests == len(plan.requests())
    assert plan.summary().operations == len(plan.operations)
    assert plan.summary().customers == len({op.customer_id for op in plan})


# --- views ----------------------------------------------------------------------------------------


def test_to_frame_has_one_row_per_changed_cell_with_typed_values() -> None:
    frame = sample().to_frame()
    assert list(frame.columns) == ["id", "email", "kind", "attribute", "type", "old", "new"]
    assert all(isinstance(frame[c].dtype, pd.ArrowDtype) for c in frame.columns[:5])
    assert frame["id"].dtype == pd.ArrowDtype(pa.int64())
    assert frame["old"].dtype == frame["new"].dtype == object
    rows = frame.astype(object).where(frame.notna(), None).values.tolist()
    seen = pd.Timestamp("2024-01-31T12:30:05.123456Z")
    assert rows == [
        [1, "a@example.com", "AddTags", "tag.vip", None, False, True],
        [1, "a@example.com", "RemoveTags", "tag.engage", None, True, False],
        [1, "a@example.com", "AddCustom", "custom.score", "Integer", None, 2**63 - 1],
        [1, "a@example.com", "AddCustom", "custom.seen", "Timestamp", None, seen],
        [1, "a@example.com", "UpdateCustom", "custom.pro", "Boolean", False, True],
        [1, "a@example.com", "RemoveCustom", "custom.rep", "String", "Gabi", None],
        [2, "b@example.com", "AddTags", "tag.vip", None, False, True],
        [2, "b@example.com", "UpdateCustom", "custom.score", "Integer", -(2**63), 0],
    ]
    assert [type(v) for v in frame["new"]] == [
        bool,
        bool,
        int,
        pd.Timestamp,
        bool,
        type(None),
        bool,
        int,
    ]


def test_to_frame_values_filter_as_users_filter_them() -> None:
    changes = sample().to_frame()
    score = changes[changes.attribute == "custom.score"]
    assert score[score.new > 80]["id"].tolist() == [1]
    seen = changes[changes.attribute == "custom.seen"]
    assert len(seen[seen.new > pd.Timestamp("2024-01-01", tz="UTC")]) == 1
    removed = changes[changes.new.isna()]
    assert removed["attribute"].tolist() == ["custom.rep"]


def test_repr_shows_the_summary_and_the_first_rows() -> None:
    text = repr(sample())
    assert text.startswith("<cm_frames.Plan>")
    assert "8 operations on 2 customers" in text
    assert "custom.seen" in text
    assert "more" not in text
    big = diffed_plan()
    text = repr(big)
    assert f"… and {len(big) - 20:,} more (plan.to_frame())" in text
    assert len(text.splitlines()) < 30


def test_html_escapes_everything_users_control() -> None:
    evil = "<script>alert(1)</script>"
    plan = Plan(
        [
            AddCustom(1, "u", f"{evil}@x.com", "k", "String", evil),
            AddTags(1, "u", f"{evil}@x.com", evil),
        ],
        skipped=[SkippedEdit(evil, (1,), evil)],
    )
    page = plan._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<table>" in page
    assert "1 edit in 1 column" in page


def test_html_of_a_big_plan_shows_twenty_rows() -> None:
    plan = diffed_plan()
    page = plan._repr_html_()
    assert page.count("<tr>") == 21  # header + 20
    assert f"… and {len(plan) - 20:,} more operations" in page


# --- JSON -----------------------------------------------------------------------------------------


def test_json_round_trip_is_exact_and_typed() -> None:
    plan = sample(email_groups={"s@x.com": (1, 9)})
    text = plan.to_json()
    back = Plan.from_json(text)
    assert back == plan
    assert back.email_groups == {"s@x.com": (1, 9)}
    assert back.to_json() == text
    values = [getattr(op, f) for op in back for f in ("value", "old", "new") if hasattr(op, f)]
    assert [type(v).__name__ for v in values] == [
        "int",
        "datetime",
        "bool",
        "bool",
        "str",
        "int",
        "int",
    ]
    assert back.operations[2].value == 2**63 - 1  # type: ignore[attr-defined]
    assert back.operations[3].value == WHEN  # type: ignore[attr-defined]
    assert back.operations[3].value.microsecond == 123456  # type: ignore[attr-defined]
    assert back.operations[3].value.tzinfo is UTC  # type: ignore[attr-defined]


def test_json_round_trip_of_a_diffed_plan() -> None:
    plan = diffed_plan()
    assert Plan.from_json(plan.to_json()) == plan
    assert Plan.from_json(plan.to_json().encode()) == plan


def test_json_is_plain_and_readable() -> None:
    document = json.loads(sample().to_json())
    assert document["format"] == "cm_frames.plan"
    assert document["version"] == 1
    assert document["operations"][3] == {
        "kind": "AddCustom",
        "customer_id": 1,
        "uuid": "cus_1",
        "email": "a@example.com",
        "key": "seen",
        "type": "Timestamp",
        "value": "2024-01-31T12:30:05.123456Z",
    }
    assert document["skipped"] == [
        {"column": "name", "customer_ids": [2], "reason": "read-only column"}
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "plan JSON does not parse"),
        ("[]", "not a cm_frames plan"),
        ('{"format": "cm_frames.plan", "version": 2}', "version 2 is not supported"),
        (
            '{"format": "cm_frames.plan", "version": 1, "operations": {}}',
            "'operations' must be a list",
        ),
        (
            '{"format": "cm_frames.plan", "version": 1, "operations": [{"kind": "Drop"}]}',
            r"operations\[0\]: unknown kind",
        ),
        ('{"format": "cm_frames.plan", "version": 1, "skipped": [{"column": 1}]}', r"skipped\[0\]"),
        (
            '{"format": "cm_frames.plan", "version": 1, "ignored_rows": {"added": "1"}}',
            "ignored_rows",
        ),
        ('{"format": "cm_frames.plan", "version": 1, "email_groups": {"a": "b"}}', "email_groups"),
    ],
)
def test_from_json_refuses_anything_else_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Plan.from_json(text)


# --- inverse and filter ---------------------------------------------------------------------------


def test_inverse_undoes_each_operation_and_keeps_the_rest() -> None:
    plan = sample()
    undo = plan.inverse()
    assert undo.operations == tuple(op.inverse() for op in OPS)
    assert undo.skipped == plan.skipped
    assert undo.source == plan.source
    assert undo.inverse() == plan


def test_inverse_of_a_diffed_plan_checks_against_the_edited_values() -> None:
    plan = diffed_plan()
    undo = plan.inverse()
    assert undo.operations == tuple(op.inverse() for op in plan.operations)
    assert undo.inverse() == plan
    update = next(op for op in undo if isinstance(op, UpdateCustom))
    original = next(op for op in plan if isinstance(op, UpdateCustom) and op.key == update.key)
    assert (update.old, update.new) == (original.new, original.old)


def test_filter_excludes_attributes_and_keeps_kinds() -> None:
    plan = sample()
    assert [op.attribute for op in plan.filter(exclude_attributes=["tag.vip", "custom.score"])] == [
        "tag.engage",
        "custom.seen",
        "custom.pro",
        "custom.rep",
    ]
    assert [op.kind for op in plan.filter(kinds=["AddTags", UpdateCustom])] == [
        "AddTags",
        "UpdateCustom",
        "AddTags",
        "UpdateCustom",
    ]
    assert plan.filter(exclude_attributes="tag.vip", kinds="AddTags").is_empty
    assert plan.filter() == plan
    kept = plan.filter(kinds=["RemoveCustom"])
    assert (kept.skipped, kept.ignored_rows, kept.source) == (
        plan.skipped,
        plan.ignored_rows,
        plan.source,
    )


def test_filter_of_a_diffed_plan_matches_filtering_its_operations() -> None:
    plan = diffed_plan()
    kept = plan.filter(exclude_attributes=["custom.new"], kinds=["RemoveTags", "UpdateCustom"])
    expected = tuple(
        op
        for op in plan
        if op.attribute != "custom.new" and op.kind in ("RemoveTags", "UpdateCustom")
    )
    assert kept.operations == expected
    assert len(kept) == len(expected) > 0
    assert kept.summary().requests == len(kept.requests())


def test_filter_rejects_unknown_kinds() -> None:
    with pytest.raises(ValidationError, match="unknown operation kind 'Delete'"):
        sample().filter(kinds=["Delete"])


def test_plans_are_not_hashable_but_operations_are() -> None:
    with pytest.raises(TypeError):
        hash(sample())
    assert len(set(sample())) == len(OPS)


def test_numpy_ids_in_groups_are_plain_ints() -> None:
    plan = Plan(OPS, email_groups={"x@y": np.array([1, 2])})  # type: ignore[dict-item]
    assert plan.email_groups == {"x@y": (1, 2)}
    json.loads(plan.to_json())


def test_summary_names_the_largest_removals_first_and_counts_the_rest() -> None:
    ops = [
        RemoveCustom(i, f"cus_{i}", None, f"k{a}", "Integer", 1)
        for a in range(7)
        for i in range(1, a + 2)  # key k6 is removed from 7 customers, k0 from 1
    ]
    text = str(Plan(ops).summary())
    assert "⚠ removes 28 values: custom.k6 7, custom.k5 6, custom.k4 5, custom.k3 4, " in text
    assert "custom.k2 3 and 2 more attributes" in text
