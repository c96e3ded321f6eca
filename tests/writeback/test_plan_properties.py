"""Property tests: random edits of random small frames, and random bad input.

The reference appliers below are deliberately naive: one applies the plan's operations to plain
Python dicts (checking each operation's old value, as apply will against the server), the
other applies the plan's *requests* (including the by-email ones, to every customer with that
email). Both must turn the baseline into exactly what the user edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from customer_frames import customers_to_frame
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cm_frames.errors import ValidationError
from cm_frames.writeback.diff import diff
from cm_frames.writeback.operations import (
    AddCustom,
    AddTags,
    Operation,
    RemoveCustom,
    RemoveTags,
    Request,
    UpdateCustom,
    decode_value,
    format_timestamp,
)
from cm_frames.writeback.plan import Plan

KEYS = {"score": "Integer", "flag": "Boolean", "when": "Timestamp", "rep": "String"}
TAG_POOL = ["a", "b", "c d", "é"]
EMAILS = ["x@example.com", "y@example.com", "X@example.com", "z@example.com"]
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "Integer": st.integers(-(2**63), 2**63 - 1),
    "Boolean": st.booleans(),
    "Timestamp": st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    # Letters and spaces only: a value can never look like an ISO date (which would make the
    # read path infer Timestamp for the key).
    "String": st.text(st.characters(categories=("L", "Zs")), max_size=12),
}


@dataclass
class State:
    """One customer's writable attributes, typed as the API holds them."""

    tags: set[str] = field(default_factory=set)
    custom: dict[str, Any] = field(default_factory=dict)


def wire_value(type_: str, value: Any) -> Any:
    return format_timestamp(value) if type_ == "Timestamp" else value


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(st.lists(st.integers(1, 10**9), min_size=1, max_size=6, unique=True))
    customers, before, after = [], {}, {}
    for customer_id in ids:
        custom = {k: draw(VALUES[t]) for k, t in KEYS.items() if draw(st.booleans())}
        tags = set(draw(st.lists(st.sampled_from(TAG_POOL), unique=True, max_size=3)))
        email = draw(st.sampled_from(EMAILS))
        customers.append(
            {
                "id": customer_id,
                "uuid": f"cus_{customer_id}",
                "email": email,
                "attributes": {
                    "tags": sorted(tags),
                    "custom": {k: wire_value(KEYS[k], v) for k, v in custom.items()},
                },
            }
        )
        before[customer_id] = State(set(tags), dict(custom))
        target = dict(custom)
        for key, type_ in KEYS.items():
            action = draw(st.sampled_from(["keep", "keep", "set", "remove"]))
            if action == "set":
                target[key] = draw(VALUES[type_])
            elif action == "remove":
                target.pop(key, None)
        new_tags = (
            tags
            if draw(st.booleans())
            else set(draw(st.lists(st.sampled_from(TAG_POOL), unique=True, max_size=4)))
        )
        after[customer_id] = State(set(new_tags), target)
    return {
        "customers": customers,
        "before": before,
        "after": after,
        "tag_path": {i: draw(st.sampled_from(["columns", "list"])) for i in ids},
        "dtypes": {k: draw(st.sampled_from(DTYPES[t])) for k, t in KEYS.items()},
        "new_tag_style": draw(st.sampled_from(["bool", "object"])),
        "list_style": draw(st.sampled_from(["arrow", "object"])),
        "drop": draw(st.booleans()) and len(ids) > 1,
        "add": draw(st.booleans()),
        "shuffle": draw(st.randoms(use_true_random=False)),
    }


DTYPES = {
    "Integer": ["arrow", "Int64", "float", "object"],
    "Boolean": ["arrow", "boolean", "object"],
    "Timestamp": ["arrow", "pandas", "naive, localized", "object"],
    "String": ["arrow", "str", "object"],
}


def custom_column(type_: str, style: str, values: list[Any], index: pd.Index) -> pd.Series:
    """Values (None = absent) as a column of the given dtype style."""
    if type_ == "Integer":
        if style == "float" and all(v is None or abs(v) <= 2**53 for v in values):
            return pd.Series([np.nan if v is None else float(v) for v in values], index, "float64")
        if style == "Int64":
            return pd.Series(values, index, "Int64")
        if style == "object":
            return pd.Series(values, index, object)
        return pd.Series(values, index, pd.ArrowDtype(pa.int64()))
    if type_ == "Boolean":
        if style == "object":
            return pd.Series([np.nan if v is None else v for v in values], index, object)
        dtype = "boolean" if style == "boolean" else pd.ArrowDtype(pa.bool_())
        return pd.Series(values, index, dtype)
    if type_ == "Timestamp":
        if style == "naive, localized":
            # Naive timestamps are refused where written (test_diff); localized as the error
            # says, they must plan exactly like zoned ones.
            naive = [None if v is None else v.replace(tzinfo=None) for v in values]
            return pd.Series(naive, index, "datetime64[us]").dt.tz_localize("UTC")
        if style == "pandas":
            return pd.Series(values, index, "datetime64[us, UTC]")
        if style == "object":
            return pd.Series(values, index, object)
        return pd.Series(values, index, pd.ArrowDtype(pa.timestamp("us", tz="UTC")))
    if style == "object":
        return pd.Series(values, index, object)
    return pd.Series(values, index, "str" if style == "str" else pd.ArrowDtype(pa.string()))


def build_edited(s: dict[str, Any], baseline: pd.DataFrame) -> pd.DataFrame:
    """The user's edits: custom columns rebuilt in their dtype, tags through one path each."""
    edited = baseline.copy()
    index = edited.index
    ids = index.tolist()
    for key, type_ in KEYS.items():
        values = [s["after"][i].custom.get(key) for i in ids]
        edited[f"custom.{key}"] = custom_column(type_, s["dtypes"][key], values, index)
    lists = []
    for i in ids:
        by_list = s["tag_path"][i] == "list"
        tags = s["after"][i].tags if by_list else s["before"][i].tags
        lists.append(sorted(tags, reverse=True))
    for tag in TAG_POOL:
        column = f"tag.{tag}"
        state = [
            (s["after"] if s["tag_path"][i] == "columns" else s["before"])[i].tags for i in ids
        ]
        flags = [tag in tags for tag_set in [state] for tags in tag_set]
        if column in edited.columns:
            edited[column] = pd.Series(flags, index, pd.ArrowDtype(pa.bool_()))
        elif any(flags):
            if s["new_tag_style"] == "object":
                # What .loc[mask, "tag.new"] = True gives, with the NA filled as the error says
                # (NA in a tag column is refused: test_diff, test_bad_input).
                loc = pd.Series([True if f else np.nan for f in flags], index, object)
                edited[column] = loc.fillna(False)
            else:
                edited[column] = pd.Series(flags, index, "bool")
    if s["list_style"] == "object":
        edited["tags"] = pd.Series(lists, index, object)
    else:
        edited["tags"] = pd.Series(lists, index, pd.ArrowDtype(pa.list_(pa.string())))
    if s["drop"]:
        edited = edited.drop(index=ids[0])
    if s["add"]:
        extra = edited.iloc[[0]].rename(index={edited.index[0]: 0})
        edited = pd.concat([edited, extra])
    order = list(range(len(edited)))
    s["shuffle"].shuffle(order)
    return edited.iloc[order]


def expected_after(s: dict[str, Any]) -> dict[int, State]:
    """What the server should hold afterwards: the edits, except on the dropped customer."""
    first = s["customers"][0]["id"]
    return {i: (s["before"][i] if s["drop"] and i == first else s["after"][i]) for i in s["before"]}


def apply_operations(states: dict[int, State], operations: tuple[Operation, ...]) -> None:
    """Apply operations one by one, refusing any whose old value does not match (as apply does)."""
    for op in operations:
        state = states[op.customer_id]
        if isinstance(op, AddTags):
            assert op.tag not in state.tags
            state.tags.add(op.tag)
        elif isinstance(op, RemoveTags):
            assert op.tag in state.tags
            state.tags.remove(op.tag)
        elif isinstance(op, AddCustom):
            assert op.key not in state.custom
            state.custom[op.key] = op.value
        elif isinstance(op, UpdateCustom):
            assert same(state.custom[op.key], op.old)
            state.custom[op.key] = op.new
        elif isinstance(op, RemoveCustom):
            assert same(state.custom.pop(op.key), op.old)


def apply_requests(
    states: dict[int, State], requests: list[Request], plan: Plan, emails: dict[int, str]
) -> None:
    """Apply what would go over the wire; by-email requests reach every holder of the email."""
    types = {(op.customer_id, op.key): op.type for op in plan if hasattr(op, "key")}  # type: ignore[attr-defined]
    for request in requests:
        if request.by_email:
            wanted = request.body["email"].lower()
            targets = [i for i, e in emails.items() if e.lower() == wanted]
            assert sorted(targets) == sorted(request.customer_ids)
        else:
            targets = [int(request.path.split("/")[1])]
            assert targets == list(request.customer_ids)
        for customer_id in targets:
            state = states[customer_id]
            body = request.body
            if request.path.endswith("tags"):
                if request.method == "POST":
                    state.tags |= set(body["tags"])
                else:
                    state.tags -= set(body["tags"])
            elif request.method == "POST":
                for entry in body["custom"]:
                    state.custom[entry["key"]] = decode_value(entry["type"], entry["value"])
            elif request.method == "PUT":
                for key, raw in body["custom"].items():
                    state.custom[key] = decode_value(types[(customer_id, key)], raw)
            else:
                for key in body["custom"]:
                    del state.custom[key]


def same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def copy_states(states: dict[int, State]) -> dict[int, State]:
    return {i: State(set(s.tags), dict(s.custom)) for i, s in states.items()}


def assert_states_equal(actual: dict[int, State], expected: dict[int, State]) -> None:
    assert actual.keys() == expected.keys()
    for i in expected:
        assert actual[i].tags == expected[i].tags, i
        assert actual[i].custom == expected[i].custom, i
        for key, value in expected[i].custom.items():
            assert type(actual[i].custom[key]) is type(value), (i, key)


@SETTINGS
@given(scenarios())
def test_plan_turns_the_baseline_into_the_edited_frame(s: dict[str, Any]) -> None:
    baseline, types = customers_to_frame(s["customers"])
    edited = build_edited(s, baseline)
    plan = diff(edited, baseline, custom_types=types)
    expected = expected_after(s)

    states = copy_states(s["before"])
    apply_operations(states, plan.operations)
    assert_states_equal(states, expected)

    emails = {c["id"]: c["email"] for c in s["customers"]}
    requests = plan.requests()
    over_the_wire = copy_states(s["before"])
    apply_requests(over_the_wire, requests, plan, emails)
    assert_states_equal(over_the_wire, expected)
    assert sorted(i for r in requests for i in r.op_ids) == sorted(op.op_id for op in plan)
    event(f"by-email requests: {any(r.by_email for r in requests)}")
    event(f"kinds: {len({op.kind for op in plan})}")
    assert plan.summary().requests == len(requests)

    undone = copy_states(states)
    apply_operations(undone, plan.inverse().operations)
    assert_states_equal(undone, s["before"])

    assert plan.ignored_rows.added == int(s["add"])
    assert plan.ignored_rows.dropped == int(s["drop"])
    assert Plan.from_json(plan.to_json()) == plan
    assert plan.inverse().inverse() == plan


# --- random bad input ------------------------------------------------------------------------------

BASE_CUSTOMERS = [
    {
        "id": i,
        "uuid": f"cus_{i}",
        "email": "same@example.com" if i < 3 else f"{i}@example.com",
        "attributes": {
            "tags": ["a"] if i % 2 else [],
            "custom": {"score": i, "when": "2024-01-01T00:00:00Z", "rep": "r", "flag": True},
        },
    }
    for i in range(1, 5)
]
COLUMNS = [
    "custom.score",
    "custom.when",
    "custom.rep",
    "custom.flag",
    "custom.fresh",
    "custom.bad-key",
    "custom.",
    "custom.ünï",
    "tag.a",
    "tag.fresh",
    "tag.",
    "tags",
    "name",
    "email",
    "extra",
]
NASTY: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.just(pd.NA),
    st.just(np.nan),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.text(max_size=300),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
    st.lists(st.text(max_size=3), max_size=2),
    st.just(np.uint64(2**64 - 1)),
    st.just(np.datetime64("2024-01-01T00:00:00.000000001")),
    st.just({"a": 1}),
)


HOMOGENEOUS: list[st.SearchStrategy[Any]] = [
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.text(st.characters(categories=("L", "Nd", "P")), max_size=5),
    st.datetimes(timezones=st.just(UTC)),
    st.floats(-1e6, 1e6).map(round).map(float),
]


def nasty_column(draw: st.DrawFn, n: int) -> pd.Series:
    # Half of the columns mix anything; the rest hold one kind of value (and gaps).
    kind = draw(st.sampled_from([NASTY] * len(HOMOGENEOUS) + HOMOGENEOUS))
    values = draw(st.lists(st.one_of(st.none(), kind), min_size=n, max_size=n))
    dtype = draw(st.sampled_from([object, None, "float64", "int64", "uint64", "str", "bool"]))
    try:
        return pd.Series(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return pd.Series(values, dtype=object)


@st.composite
def bad_frames(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    baseline, types = customers_to_frame(BASE_CUSTOMERS)
    edited = baseline.copy()
    for _ in range(draw(st.integers(1, 3))):
        column = draw(st.sampled_from(COLUMNS))
        values = nasty_column(draw, len(edited))
        values.index = edited.index
        edited[column] = values
    structure = draw(
        st.sampled_from(
            ["none", "none", "duplicate column", "reset index", "duplicate row", "float index"]
        )
    )
    if structure == "duplicate column":
        edited = pd.concat([edited, edited[[draw(st.sampled_from(list(edited.columns)))]]], axis=1)
    elif structure == "reset index":
        edited = edited.reset_index()
    elif structure == "duplicate row":
        edited = pd.concat([edited, edited.iloc[[0]]])
    elif structure == "float index":
        edited.index = edited.index.astype("float64")
    return edited, baseline, types


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_frames())
def test_bad_input_is_a_validation_error_or_a_correct_plan(
    case: tuple[pd.DataFrame, pd.DataFrame, dict[str, str]],
) -> None:
    edited, baseline, types = case
    try:
        plan = diff(edited, baseline, custom_types=types)
    except ValidationError as error:
        message = str(error)
        event("ValidationError")
        assert "nothing was planned" in message or "must be" in message
        assert "Fix:" in message or "must be" in message
        return
    # A plan that came out is a usable one.
    event(f"plan with operations: {not plan.is_empty}")
    assert Plan.from_json(plan.to_json()) == plan
    assert plan.summary().requests == len(plan.requests())
    plan.to_frame()
    repr(plan)
    plan._repr_html_()
    for op in plan:
        if isinstance(op, AddCustom | UpdateCustom | RemoveCustom):
            values = [getattr(op, f) for f in ("value", "old", "new") if hasattr(op, f)]
            assert all(type(v) in (int, bool, str, datetime) for v in values)
            assert op.key
            assert op.key.isascii()
        else:
            assert 0 < len(op.tag) <= 255  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [date(2024, 1, 1), np.datetime64("2024-01-01")])
def test_dates_in_object_columns_are_midnight_utc(value: Any) -> None:
    baseline, types = customers_to_frame(BASE_CUSTOMERS)
    edited = baseline.copy()
    edited["custom.fresh"] = pd.Series([value, None, None, None], edited.index, object)
    (op,) = diff(edited, baseline, custom_types=types).operations
    assert op == AddCustom(
        1, "cus_1", "same@example.com", "fresh", "Timestamp", datetime(2024, 1, 1, tzinfo=UTC)
    )


@SETTINGS
@given(scenarios())
def test_naive_timestamps_are_refused_exactly_where_they_would_be_written(
    s: dict[str, Any],
) -> None:
    baseline, types = customers_to_frame(s["customers"])
    edited = build_edited(s, baseline)
    zoned = edited["custom.when"].astype(pd.ArrowDtype(pa.timestamp("us", tz="UTC")))
    edited["custom.when"] = zoned.dt.tz_localize(None)
    # Written: a value on a row of the baseline where it had none or another one.
    matched = edited.index.isin(baseline.index)
    before = {
        i: (baseline.at[i, "custom.when"] if "custom.when" in baseline.columns else None)
        for i in edited.index[matched]
    }
    written = [
        i
        for i, new in zip(edited.index[matched], zoned[matched], strict=True)
        if not pd.isna(new) and (pd.isna(before[i]) or before[i] != new)
    ]
    event(f"naive values written: {bool(written)}")
    if not written:
        plan = diff(edited, baseline, custom_types=types)
        assert not any(op.attribute == "custom.when" and op.kind != "RemoveCustom" for op in plan)
        return
    with pytest.raises(ValidationError, match=r"'custom\.when': timestamps without a time zone"):
        diff(edited, baseline, custom_types=types)
