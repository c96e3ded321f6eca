"""cm_frames.validation: the wire rules, the same for a frame, a hand-built plan and the client.

A plan built by hand (``Plan(...)``) or read from JSON (``Plan.from_json``) goes through the same
rules as a diffed frame, so nothing that the API would refuse is sent halfway through an apply;
the client's argument checks use them too. The hypothesis tests below check that the three
entry points agree, name by name.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest
from customer_frames import customers_to_frame
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cm_frames import validation
from cm_frames.api.client import (
    _check_custom,
    _check_key,
    _check_tags,
    _check_updates,
    _typed_value,
)
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
from cm_frames.writeback.plan import Plan

A = (1, "cus_1", "a@example.com")
B = (2, "cus_2", "b@example.com")
WHEN = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def plan_error(ops: list[Any]) -> str:
    with pytest.raises(ValidationError) as info:
        Plan(ops)
    return str(info.value)


# --- the rules themselves ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("lead score", "letters, digits and underscores"),
        ("lead-score", "letters, digits and underscores"),
        ("", "empty"),
        (" seats", "whitespace"),
        ("seats ", "whitespace"),
        ("k" * 256, "256 characters"),
        ("naïve", "letters, digits and underscores"),
        (3, "not a str"),
    ],
)
def test_bad_keys_have_a_problem_with_what_and_fix(key: Any, says: str) -> None:
    problem = validation.key_problem(key)
    assert problem is not None
    assert says in problem.what
    assert problem.fix


@pytest.mark.parametrize("key", ["lead_score", "CAC", "k" * 255, "_", "0"])
def test_good_keys_have_no_problem(key: str) -> None:
    assert validation.key_problem(key) is None


@pytest.mark.parametrize(
    ("tag", "says"),
    [
        ("", "empty"),
        (" ", "whitespace"),
        ("\t", "whitespace"),
        ("hot ", "whitespace"),
        (" hot", "whitespace"),
        ("x" * 256, "256 characters"),
        ("\ud800", "Unicode"),
        (None, "not a str"),
    ],
)
def test_bad_tags_have_a_problem(tag: Any, says: str) -> None:
    problem = validation.tag_problem(tag)
    assert problem is not None
    assert says in problem.what


@pytest.mark.parametrize("tag", ["vip", "needs follow-up", "é", "日本", "x" * 255, "<b>"])
def test_good_tags_have_no_problem(tag: str) -> None:
    assert validation.tag_problem(tag) is None


@pytest.mark.parametrize(
    ("type_", "value", "says"),
    [
        ("Integer", 2**63, "signed 64-bit"),
        ("Integer", -(2**63) - 1, "signed 64-bit"),
        ("Integer", True, "not an int"),
        ("Integer", "1", "not an int"),
        ("Boolean", 1, "not a bool"),
        ("String", "x" * 256, "256 characters"),
        ("String", "\udfff", "Unicode"),
        ("String", 5, "not a str"),
        ("Timestamp", datetime(2024, 1, 1), "no time zone"),
        ("Timestamp", "2024-01-01T00:00:00Z", "not a datetime"),
        ("Float", 1.5, "unknown type"),
    ],
)
def test_bad_values_have_a_problem(type_: str, value: Any, says: str) -> None:
    problem = validation.value_problem(type_, value)
    assert problem is not None
    assert says in problem.what


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("Integer", 2**63 - 1),
        ("Integer", -(2**63)),
        ("Boolean", False),
        ("String", ""),
        ("String", "é" * 255),
        ("Timestamp", WHEN),
        ("Timestamp", datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-4)))),
    ],
)
def test_good_values_have_no_problem(type_: str, value: Any) -> None:
    assert validation.value_problem(type_, value) is None


# --- the Plan constructor and from_json ----------------------------------------------------------


def test_a_hand_built_plan_with_bad_names_and_values_lists_every_problem() -> None:
    message = plan_error(
        [
            AddTags(*A, "vip"),
            AddCustom(*A, "lead score", "Integer", 1),
            AddCustom(*B, "note", "String", "x" * 300),
            AddTags(*B, ""),
        ]
    )
    assert message.startswith("3 problems in the plan; nothing was planned:")
    assert "operations[1] (customer 1, custom.lead score): the custom key 'lead score'" in message
    assert "operations[2] (customer 2, custom.note): the String value has 300 characters" in message
    assert "operations[3] (customer 2, tag.): the tag name is empty" in message
    assert message.count("Fix:") == 3


@pytest.mark.parametrize(
    ("ops", "says"),
    [
        (
            [AddTags(*A, "vip"), RemoveTags(*A, "vip")],
            "operations[0], [1] (customer 1, tag.vip): AddTags and RemoveTags of the same tag",
        ),
        (
            [AddTags(*A, "vip"), AddTags(*A, "vip")],
            "operations[0], [1] (customer 1, tag.vip): the same operation twice",
        ),
        (
            [AddCustom(*A, "n", "Integer", 1), RemoveCustom(*A, "n", "Integer", 1)],
            "operations[0], [1] (customer 1, custom.n): 2 operations on one key of one customer "
            "(AddCustom, RemoveCustom)",
        ),
        (
            [UpdateCustom(*A, "n", "Integer", 1, 2), UpdateCustom(*A, "n", "Integer", 1, 3)],
            "(customer 1, custom.n): 2 operations on one key of one customer",
        ),
        (
            [AddCustom(*A, "n", "Integer", 1), AddCustom(*A, "n", "String", "1")],
            "(customer 1, custom.n): 2 operations on one key of one customer",
        ),
    ],
    ids=["add and remove a tag", "twice", "add and remove a key", "two updates", "two types"],
)
def test_contradictory_operations_on_one_customer_are_refused(ops: list[Any], says: str) -> None:
    message = plan_error(ops)
    assert says in message
    assert "Fix: keep one" in message


def test_the_same_tag_or_key_on_different_customers_is_fine() -> None:
    plan = Plan(
        [
            AddTags(*A, "vip"),
            RemoveTags(*B, "vip"),
            AddCustom(*A, "n", "Integer", 1),
            RemoveCustom(*B, "n", "Integer", 2),
        ]
    )
    assert len(plan) == 4


def test_identity_and_type_problems_are_in_the_same_list() -> None:
    message = plan_error(
        [
            AddTags(*A, "x"),
            AddTags(1, "cus_other", A[2], "y"),
            "AddTags",
            AddCustom(*B, "when", "Timestamp", datetime(2024, 1, 1)),
        ]
    )
    assert "customer 1 appears with uuid/email" in message
    assert "operations[2]: expected AddTags" in message
    assert "operations[3] (customer 2, custom.when): a Timestamp with no time zone" in message
    assert "tzinfo=datetime.UTC" in message


def test_the_suggested_fix_for_a_naive_timestamp_in_a_plan_works() -> None:
    naive = datetime(2024, 1, 1)
    message = plan_error([AddCustom(*B, "when", "Timestamp", naive)])
    assert "value.replace(tzinfo=datetime.UTC)" in message
    fixed = naive.replace(tzinfo=UTC)  # exactly the suggested fix
    assert len(Plan([AddCustom(*B, "when", "Timestamp", fixed)])) == 1


def test_from_json_of_a_hand_edited_plan_is_checked_like_a_frame() -> None:
    good = Plan([AddTags(*A, "vip"), AddCustom(*A, "seats", "Integer", 3)])
    document = json.loads(good.to_json())
    document["operations"][1]["key"] = "seats "
    document["operations"].append({**document["operations"][0], "kind": "RemoveTags"})
    document["operations"].append({**document["operations"][0], "tag": ""})
    with pytest.raises(ValidationError) as info:
        Plan.from_json(json.dumps(document))
    message = str(info.value)
    assert "operations[1] (customer 1, custom.seats ): the custom key 'seats '" in message
    assert "starts or ends with whitespace" in message
    assert "AddTags and RemoveTags of the same tag" in message
    assert "operations[3] (customer 1, tag.): the tag name is empty" in message


def test_the_plans_a_diff_builds_pass_the_constructor() -> None:
    customers = [
        {
            "id": i,
            "uuid": f"cus_{i}",
            "email": f"{i}@x.com",
            "attributes": {"tags": ["a"], "custom": {"n": i, "t": "2024-01-01T00:00:00Z"}},
        }
        for i in range(1, 6)
    ]
    baseline, types = customers_to_frame(customers)
    edited = baseline.copy()
    edited["tag.a"] = False
    edited["custom.n"] = edited["custom.n"] * 2
    edited["custom.t"] = pd.Timestamp("2025-01-01", tz="UTC")
    edited["custom.s"] = "text"
    plan = diff(edited, baseline, custom_types=types)
    assert Plan(plan.operations).operations == plan.operations
    assert Plan(plan.inverse().operations).operations == plan.inverse().operations


# --- one set of rules: frame, plan and client agree -----------------------------------------------

NAMES = st.one_of(
    st.text(max_size=8),
    st.from_regex(r"[A-Za-z0-9_]{1,6}", fullmatch=True),
    st.sampled_from(["", " ", "a ", " a", "a b", "x" * 255, "x" * 256, "\ud800", "\t", "é"]),
)


def _client_accepts(check: Any, *args: Any) -> bool:
    try:
        check(*args)
    except ValidationError:
        return False
    return True


def _plan_accepts(op: Operation) -> bool:
    try:
        Plan([op])
    except ValidationError:
        return False
    return True


def _frame_accepts(column: str, values: Any) -> bool:
    baseline, types = customers_to_frame([{"id": 1, "uuid": "cus_1", "email": "a@x.com"}])
    edited = baseline.copy()
    edited.columns = pd.Index(list(edited.columns), dtype=object)  # any str label fits
    edited[column] = values.to_numpy() if isinstance(values, pd.Series) else values
    try:
        diff(edited, baseline, custom_types=types)
    except ValidationError:
        return False
    return True


@SETTINGS
@given(name=NAMES)
@example(name="hot ")
@example(name="")
def test_tag_names_are_accepted_alike_by_the_frame_the_plan_and_the_client(name: str) -> None:
    valid = validation.tag_problem(name) is None
    assert _plan_accepts(AddTags(*A, name)) is valid
    assert _plan_accepts(RemoveTags(*A, name)) is valid
    assert _client_accepts(_check_tags, [name]) is valid
    assert _frame_accepts("tag." + name, np.array([True])) is valid


@SETTINGS
@given(key=NAMES)
@example(key="seats ")
@example(key="k" * 256)
def test_custom_keys_are_accepted_alike_by_the_frame_the_plan_and_the_client(key: str) -> None:
    valid = validation.key_problem(key) is None
    assert _plan_accepts(AddCustom(*A, key, "Integer", 1)) is valid
    assert _client_accepts(_check_key, key, "custom") is valid
    assert _client_accepts(_check_updates, {key: 1}) is valid
    assert _frame_accepts("custom." + key, np.array([1])) is valid


@SETTINGS
@given(
    value=st.one_of(
        st.integers(-(2**65), 2**65),
        st.text(max_size=300),
        st.datetimes(timezones=st.none() | st.just(UTC)),
    )
)
@example(value=2**63)
@example(value="x" * 256)
@example(value=datetime(2024, 1, 1))
def test_values_are_accepted_alike_by_the_frame_the_plan_and_the_client(value: Any) -> None:
    type_ = (
        "Integer" if isinstance(value, int) else "String" if isinstance(value, str) else "Timestamp"
    )
    valid = validation.value_problem(type_, value) is None
    assert _plan_accepts(AddCustom(*A, "k", type_, value)) is valid
    attribute = {"type": type_, "key": "k", "value": value}
    assert _client_accepts(_check_custom, [attribute]) is valid
    cell: Any = pd.Series([value], dtype=object)
    assert _frame_accepts("custom.k", cell) is valid


def test_client_messages_keep_their_wording_and_add_the_reason() -> None:
    with pytest.raises(ValidationError, match=r"non-empty strings.*whitespace"):
        _check_tags([" vip"])
    with pytest.raises(ValidationError, match=re.escape("'k k' is not allowed")):
        _check_key("k k", "custom")
    with pytest.raises(ValidationError, match="signed 64-bit"):
        _typed_value("Integer", 2**63, "custom[0] (n)")
    with pytest.raises(ValidationError, match="no time zone"):
        _typed_value("Timestamp", datetime(2024, 1, 1), "custom[0] (t)")
    assert _typed_value("Timestamp", WHEN, "custom[0] (t)") == WHEN.isoformat()
