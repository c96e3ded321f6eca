"""Operations (inverse, op_id, records) and their grouping into requests."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cm_frames.errors import ValidationError
from cm_frames.writeback.operations import (
    AddCustom,
    AddTags,
    Operation,
    RemoveCustom,
    RemoveTags,
    Request,
    UpdateCustom,
    decode_value,
    encode_value,
    format_timestamp,
    group_requests,
    operation_from_record,
)

REFERENCE = Path(__file__).parents[1] / "data" / "reference"
WHEN = datetime(2024, 1, 31, 12, 30, 5, 123456, tzinfo=UTC)
WHO = (25647, "cus_de305d54", "bob@examplecompany.com")

ALL_KINDS: list[Operation] = [
    AddTags(*WHO, "vip"),
    RemoveTags(*WHO, "engage"),
    AddCustom(*WHO, "CAC", "Integer", 213),
    AddCustom(*WHO, "pro", "Boolean", True),
    AddCustom(*WHO, "convertedAt", "Timestamp", WHEN),
    AddCustom(*WHO, "salesRep", "String", "Gabi"),
    UpdateCustom(*WHO, "CAC", "Integer", 213, 2**63 - 1),
    UpdateCustom(*WHO, "convertedAt", "Timestamp", WHEN, WHEN + timedelta(days=1)),
    RemoveCustom(*WHO, "salesRep", "String", "Gabi"),
    RemoveCustom(*WHO, "pro", "Boolean", False),
]


def reference(name: str) -> Any:
    return json.loads((REFERENCE / f"{name}.request.json").read_text())


# --- operations ----------------------------------------------------------------------------------


def test_kind_and_attribute_name_the_class_and_the_column() -> None:
    assert [(op.kind, op.attribute) for op in ALL_KINDS[:3]] == [
        ("AddTags", "tag.vip"),
        ("RemoveTags", "tag.engage"),
        ("AddCustom", "custom.CAC"),
    ]
    assert ALL_KINDS[8].kind == "RemoveCustom"
    assert ALL_KINDS[8].attribute == "custom.salesRep"


def test_inverse_swaps_kinds_and_carries_values() -> None:
    assert AddTags(*WHO, "vip").inverse() == RemoveTags(*WHO, "vip")
    assert RemoveTags(*WHO, "vip").inverse() == AddTags(*WHO, "vip")
    assert AddCustom(*WHO, "CAC", "Integer", 5).inverse() == RemoveCustom(*WHO, "CAC", "Integer", 5)
    assert RemoveCustom(*WHO, "pro", "Boolean", True).inverse() == AddCustom(
        *WHO, "pro", "Boolean", True
    )
    assert UpdateCustom(*WHO, "CAC", "Integer", 1, 2).inverse() == UpdateCustom(
        *WHO, "CAC", "Integer", 2, 1
    )


@pytest.mark.parametrize("op", ALL_KINDS, ids=lambda op: f"{op.kind}-{op.attribute}")
def test_inverse_of_inverse_is_the_operation(op: Operation) -> None:
    assert op.inverse().inverse() == op
    assert op.inverse() != op


def test_operations_are_frozen_and_hashable() -> None:
    op = AddTags(*WHO, "vip")
    with pytest.raises(AttributeError):
        op.tag = "other"  # type: ignore[misc]
    assert len({op, AddTags(*WHO, "vip"), RemoveTags(*WHO, "vip")}) == 2


def test_op_id_is_short_deterministic_and_pinned() -> None:
    op = AddCustom(*WHO, "CAC", "Integer", 213)
    assert op.op_id == AddCustom(*WHO, "CAC", "Integer", 213).op_id
    assert len(op.op_id) == 16
    int(op.op_id, 16)
    # Journals written by one version are read by the next: the recipe must not drift.
    fields = ("AddCustom", 25647, "cus_de305d54", "bob@examplecompany.com", "CAC", "Integer", 213)
    assert op.op_id == hashlib.blake2b(repr(fields).encode(), digest_size=8).hexdigest()


@pytest.mark.parametrize(
    "other",
    [
        AddCustom(25648, *WHO[1:], "CAC", "Integer", 213),
        AddCustom(WHO[0], "cus_other", WHO[2], "CAC", "Integer", 213),
        AddCustom(WHO[0], WHO[1], None, "CAC", "Integer", 213),
        AddCustom(*WHO, "CAD", "Integer", 213),
        AddCustom(*WHO, "CAC", "String", "213"),
        AddCustom(*WHO, "CAC", "Integer", 214),
        RemoveCustom(*WHO, "CAC", "Integer", 213),
    ],
)
def test_op_id_changes_with_every_field(other: Operation) -> None:
    assert AddCustom(*WHO, "CAC", "Integer", 213).op_id != other.op_id


def test_op_id_tells_true_from_one() -> None:
    assert AddCustom(*WHO, "k", "Boolean", True).op_id != AddCustom(*WHO, "k", "Integer", 1).op_id


@pytest.mark.parametrize("op", ALL_KINDS, ids=lambda op: f"{op.kind}-{op.attribute}")
def test_records_round_trip_through_json_typed(op: Operation) -> None:
    record = json.loads(json.dumps(op.to_record()))
    back = operation_from_record(record)
    assert back == op
    for name in ("value", "old", "new"):
        if hasattr(op, name):
            assert type(getattr(back, name)) is type(getattr(op, name))
    assert back.op_id == op.op_id


def test_timestamps_encode_as_iso_utc_with_z() -> None:
    assert format_timestamp(WHEN) == "2024-01-31T12:30:05.123456Z"
    assert format_timestamp(datetime(2015, 9, 8, tzinfo=UTC)) == "2015-09-08T00:00:00Z"
    eastern = datetime(2015, 6, 9, 13, 16, tzinfo=timezone(timedelta(hours=-4)))
    assert format_timestamp(eastern) == "2015-06-09T17:16:00Z"
    assert format_timestamp(datetime(5, 1, 2, tzinfo=UTC)) == "0005-01-02T00:00:00Z"
    assert encode_value("Timestamp", WHEN) == "2024-01-31T12:30:05.123456Z"
    assert decode_value("Timestamp", "2024-01-31T12:30:05.123456Z") == WHEN
    assert decode_value("Timestamp", "2024-01-31T12:30:05.123456Z").tzinfo is UTC


@pytest.mark.parametrize(
    ("type_", "raw"),
    [
        ("Integer", 1.0),
        ("Integer", True),
        ("Integer", "5"),
        ("Integer", 2**63),
        ("Boolean", 1),
        ("String", 5),
        ("Timestamp", "2024-01-31T12:30:05"),  # naive: not what to_json writes
        ("Timestamp", "yesterday"),
        ("Color", "red"),
    ],
)
def test_decode_value_refuses_what_encode_value_never_writes(type_: str, raw: Any) -> None:
    with pytest.raises(ValidationError, match="not a valid"):
        decode_value(type_, raw, where="operations[3] value")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ([], "expected an object"),
        ({"kind": "DropTable"}, "unknown kind 'DropTable'"),
        ({"kind": "AddTags", "customer_id": "1", "uuid": "u", "email": None}, "customer_id"),
        ({"kind": "AddTags", "customer_id": True, "uuid": "u", "email": None}, "customer_id"),
        ({"kind": "AddTags", "customer_id": 1, "uuid": None, "email": None}, "uuid"),
        ({"kind": "AddTags", "customer_id": 1, "uuid": "u", "email": 5}, "email"),
        ({"kind": "AddTags", "customer_id": 1, "uuid": "u", "email": None}, "tag"),
        ({"kind": "AddCustom", "customer_id": 1, "uuid": "u", "email": None, "key": "k"}, "type"),
        (
            {
                "kind": "AddCustom",
                "customer_id": 1,
                "uuid": "u",
                "email": None,
                "key": "k",
                "type": "Integer",
                "value": 1.5,
            },
            "not a valid Integer",
        ),
    ],
)
def test_bad_records_are_validation_errors(record: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        operation_from_record(record)


# --- requests ------------------------------------------------------------------------------------


def test_request_bodies_match_the_reference_requests() -> None:
    ops = [
        AddTags(*WHO, "important"),
        AddTags(*WHO, "Prio1"),
        RemoveTags(*WHO, "Prio1"),
        RemoveTags(*WHO, "discountable"),
        AddCustom(*WHO, "channel", "String", "Facebook"),
        AddCustom(*WHO, "age", "Integer", 8),
        UpdateCustom(*WHO, "pro", "Boolean", False, True),
        UpdateCustom(*WHO, "channel", "String", "Facebook", "Twitter"),
        RemoveCustom(*WHO, "age", "Integer", 8),
        RemoveCustom(*WHO, "salesRep", "String", "Gabi"),
    ]
    requests = group_requests(ops, {})
    assert [(r.method, r.path) for r in requests] == [
        ("POST", "customers/25647/attributes/tags"),
        ("DELETE", "customers/25647/attributes/tags"),
        ("POST", "customers/25647/attributes/custom"),
        ("PUT", "customers/25647/attributes/custom"),
        ("DELETE", "customers/25647/attributes/custom"),
    ]
    assert [r.body for r in requests] == [
        reference("add_tags"),
        reference("remove_tags"),
        reference("add_custom"),
        reference("update_custom"),
        reference("remove_custom"),
    ]
    assert [r.op_ids for r in requests] == [
        tuple(op.op_id for op in ops[i : i + 2]) for i in range(0, 10, 2)
    ]
    assert all(r.customer_ids == (25647,) and not r.by_email for r in requests)
    assert [r.kind for r in requests] == [
        "AddTags",
        "RemoveTags",
        "AddCustom",
        "UpdateCustom",
        "RemoveCustom",
    ]


def test_timestamps_in_bodies_are_iso_strings() -> None:
    ops = [
        AddCustom(*WHO, "seen", "Timestamp", WHEN),
        UpdateCustom(*WHO, "paid", "Timestamp", WHEN, datetime(2024, 2, 1, tzinfo=UTC)),
    ]
    add, update = group_requests(ops, {})
    assert add.body == {
        "custom": [{"type": "Timestamp", "key": "seen", "value": "2024-01-31T12:30:05.123456Z"}]
    }
    assert update.body == {"custom": {"paid": "2024-02-01T00:00:00Z"}}
    json.dumps(add.body)


def test_one_request_per_customer_and_kind_in_first_seen_order() -> None:
    a, b = (2, "u2", "b@x.com"), (1, "u1", "a@x.com")
    ops = [
        RemoveCustom(*a, "k", "Integer", 1),
        AddTags(*a, "x"),
        AddTags(*b, "x"),
        AddTags(*a, "y"),
        AddCustom(*b, "k", "Integer", 2),
    ]
    requests = group_requests(ops, {})
    assert [(r.customer_ids, r.kind) for r in requests] == [
        ((2,), "AddTags"),
        ((2,), "RemoveCustom"),
        ((1,), "AddTags"),
        ((1,), "AddCustom"),
    ]
    assert requests[0].body == {"tags": ["x", "y"]}


SMITH = "adam@smith.com"


def _sharers(*tags_per_customer: tuple[str, ...]) -> list[Operation]:
    return [
        AddTags(customer_id, f"u{customer_id}", SMITH, tag)
        for customer_id, tags in zip((25647, 13456, 9), tags_per_customer, strict=False)
        for tag in tags
    ]


def test_identical_adds_for_every_sharer_use_the_by_email_endpoint() -> None:
    ops = _sharers(("important", "Prio1"), ("important", "Prio1"))
    ops += [
        AddCustom(25647, "u25647", SMITH, "channel", "String", "Facebook"),
        AddCustom(25647, "u25647", SMITH, "age", "Integer", 8),
        AddCustom(13456, "u13456", SMITH, "age", "Integer", 8),
        AddCustom(13456, "u13456", SMITH, "channel", "String", "Facebook"),
    ]
    requests = group_requests(ops, {SMITH: (25647, 13456)})
    assert len(requests) == 2
    tags, custom = requests
    assert (tags.method, tags.path, tags.by_email) == ("POST", "customers/attributes/tags", True)
    assert tags.body == reference("add_tags_by_email")
    assert tags.customer_ids == (25647, 13456)
    assert tags.op_ids == tuple(op.op_id for op in ops[:4])
    assert custom.path == "customers/attributes/custom"
    assert custom.body == reference("add_custom_by_email")
    assert set(custom.op_ids) == {op.op_id for op in ops[4:]}


@pytest.mark.parametrize(
    ("ops", "groups"),
    [
        # One sharer adds a different set.
        (_sharers(("important",), ("important", "Prio1")), {SMITH: (25647, 13456)}),
        # A third customer with the email gets nothing.
        (_sharers(("important",), ("important",)), {SMITH: (25647, 13456, 9)}),
        # Nobody else has the email: a by-email request would be the same as per id.
        (_sharers(("important",)), {SMITH: (25647,)}),
        # Not known to share the email at all.
        (_sharers(("important",), ("important",)), {}),
    ],
    ids=["different-sets", "partial", "alone", "no-group"],
)
def test_by_email_only_when_every_sharer_gets_the_same(
    ops: list[Operation], groups: dict[str, tuple[int, ...]]
) -> None:
    requests = group_requests(ops, groups)
    assert not any(r.by_email for r in requests)
    assert all(len(r.customer_ids) == 1 for r in requests)
    assert all(r.path.startswith(f"customers/{r.customer_ids[0]}/") for r in requests)


def test_by_email_compares_values_with_their_types() -> None:
    ops: list[Operation] = [
        AddCustom(1, "u1", SMITH, "flag", "Boolean", True),
        AddCustom(2, "u2", SMITH, "flag", "Integer", 1),
    ]
    assert not any(r.by_email for r in group_requests(ops, {SMITH: (1, 2)}))


def test_by_email_needs_the_exact_email_on_every_operation() -> None:
    ops: list[Operation] = [AddTags(1, "u1", SMITH, "x"), AddTags(2, "u2", SMITH.upper(), "x")]
    assert not any(r.by_email for r in group_requests(ops, {SMITH: (1, 2)}))


def test_only_adds_have_by_email_requests_and_by_email_can_be_turned_off() -> None:
    ops: list[Operation] = [
        RemoveTags(1, "u1", SMITH, "x"),
        RemoveTags(2, "u2", SMITH, "x"),
        UpdateCustom(1, "u1", SMITH, "k", "Integer", 1, 2),
        UpdateCustom(2, "u2", SMITH, "k", "Integer", 1, 2),
    ]
    assert len(group_requests(ops, {SMITH: (1, 2)})) == 4
    adds = _sharers(("a",), ("a",))
    assert len(group_requests(adds, {SMITH: (25647, 13456)})) == 1
    assert len(group_requests(adds, {SMITH: (25647, 13456)}, by_email=False)) == 2


def test_by_email_request_takes_the_place_of_the_first_sharer() -> None:
    ops: list[Operation] = [
        AddTags(7, "u7", "other@x.com", "a"),
        AddTags(25647, "u1", SMITH, "a"),
        AddTags(8, "u8", "third@x.com", "a"),
        AddTags(13456, "u2", SMITH, "a"),
    ]
    requests = group_requests(ops, {SMITH: (25647, 13456)})
    assert [r.customer_ids for r in requests] == [(7,), (25647, 13456), (8,)]


def test_request_is_frozen_and_hashable_without_its_body() -> None:
    request = group_requests([AddTags(*WHO, "x")], {})[0]
    assert isinstance(request, Request)
    with pytest.raises(AttributeError):
        request.path = "elsewhere"  # type: ignore[misc]
    assert hash(request) == hash(group_requests([AddTags(*WHO, "x")], {})[0])
