"""The data generator: deterministic, in wire format, with the mess real accounts have."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from cm_frames.emulator.generator import (
    TAG_VOCABULARY,
    generate_current_customers,
    generate_customers,
)
from cm_frames.emulator.validation import infer_type

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture(scope="module")
def customers() -> list[dict[str, Any]]:
    return generate_customers(3000, seed=11)


def test_the_same_seed_gives_byte_identical_customers() -> None:
    first = json.dumps(generate_customers(200, seed=5), ensure_ascii=False)
    assert json.dumps(generate_customers(200, seed=5), ensure_ascii=False) == first
    assert json.dumps(generate_customers(200, seed=6), ensure_ascii=False) != first
    # A shorter run is a prefix of a longer one: customer i depends on what came before.
    assert generate_customers(50, seed=5) == generate_customers(200, seed=5)[:50]


def test_ids_are_consecutive_from_id_start() -> None:
    assert [c["id"] for c in generate_customers(5, seed=1, id_start=1000)] == list(
        range(1000, 1005)
    )
    assert generate_customers(0, seed=1) == []
    with pytest.raises(ValueError, match="n must be"):
        generate_customers(-1, seed=1)


def test_wire_format_keys_and_types(customers: list[dict[str, Any]]) -> None:
    for customer in customers:
        assert list(customer) == [
            "id", "uuid", "external_id", "email", "name", "address",
            "customer-since", "status", "attributes",
        ]  # fmt: skip
        assert list(customer["attributes"]) == ["custom", "tags", "stripe", "clearbit"]
        assert customer["uuid"].startswith("cus_")
        assert UUID4.fullmatch(customer["uuid"].removeprefix("cus_"))
        assert isinstance(customer["external_id"], str)
        assert datetime.fromisoformat(customer["customer-since"]).tzinfo is not None


def test_names_emails_and_addresses_are_varied(customers: list[dict[str, Any]]) -> None:
    names = [c["name"] for c in customers]
    assert any(name.endswith(("Inc.", "GmbH", "Ltd")) for name in names)  # companies
    assert any(len(name.split()) == 2 and not name.endswith("Inc.") for name in names)  # people
    assert any(not name.isascii() for name in names)
    countries = Counter(c["address"]["country"] for c in customers)
    assert len(countries) >= 15
    assert None in countries  # some customers have no address at all
    fields = [value for c in customers for value in c["address"].values()]
    assert "" in fields
    assert None in fields


def test_a_few_emails_are_shared_by_two_or_three_customers(customers: list[dict[str, Any]]) -> None:
    sizes = Counter(Counter(c["email"].lower() for c in customers).values())
    assert set(sizes) == {1, 2, 3}
    shared = sum(count * size for size, count in sizes.items() if size > 1)
    assert 0.02 < shared / len(customers) < 0.15
    # Some share an address in another letter case: search must be case-insensitive.
    exact = Counter(c["email"] for c in customers)
    assert len(exact) > sum(sizes.values())


def test_statuses_have_a_realistic_mix(customers: list[dict[str, Any]]) -> None:
    statuses = Counter(c["status"] for c in customers)
    assert set(statuses) == {"Active", "Past Due", "Cancelled", "Trial", "Lead"}
    assert statuses.most_common(1)[0][0] == "Active"


def test_customer_since_spans_years_and_offsets(customers: list[dict[str, Any]]) -> None:
    since = [c["customer-since"] for c in customers]
    years = {datetime.fromisoformat(s).year for s in since}
    assert len(years) >= 5
    zones = {s[19:] for s in since}
    assert {"Z", "+05:30", "-04:00", "+05:45"} <= zones


def test_tags_come_from_a_vocabulary_of_about_40(customers: list[dict[str, Any]]) -> None:
    assert 35 <= len(TAG_VOCABULARY) <= 45
    assert any(" " in tag for tag in TAG_VOCABULARY)
    counts = Counter(len(c["attributes"]["tags"]) for c in customers)
    assert set(counts) == set(range(7))
    for customer in customers:
        tags = customer["attributes"]["tags"]
        assert len(tags) == len(set(tags))
        assert set(tags) <= set(TAG_VOCABULARY)


def test_custom_attributes_are_sparse_typed_and_some_keys_mixed(
    customers: list[dict[str, Any]],
) -> None:
    types_by_key: dict[str, set[str]] = {}
    for customer in customers:
        custom = customer["attributes"]["custom"]
        assert 2 <= len(custom) <= 10
        for key, value in custom.items():
            assert re.fullmatch(r"[A-Za-z0-9_]+", key)
            types_by_key.setdefault(key, set()).add(infer_type(value))
    assert 25 <= len(types_by_key) <= 35
    all_types = set().union(*types_by_key.values())
    assert all_types == {"String", "Integer", "Timestamp", "Boolean"}
    mixed = {key for key, types in types_by_key.items() if len(types) > 1}
    assert 1 <= len(mixed) <= 2
    assert all(
        TIMESTAMP.fullmatch(value)
        for customer in customers
        for value in customer["attributes"]["custom"].values()
        if isinstance(value, str) and value[:2] in ("19", "20") and "T" in value
    )


def test_stripe_for_most_and_clearbit_for_about_half(customers: list[dict[str, Any]]) -> None:
    stripe = [c["attributes"]["stripe"] for c in customers]
    with_stripe = [s for s in stripe if s]
    assert 0.7 < len(with_stripe) / len(customers) < 0.9
    assert all({"uid", "coupon"} <= set(s) for s in with_stripe)
    assert any("." in key for s in with_stripe for key in s)  # not our keys: dots happen
    clearbit = [c["attributes"]["clearbit"] for c in customers]
    with_clearbit = [c for c in clearbit if c]
    assert 0.4 < len(with_clearbit) / len(customers) < 0.6
    for data in with_clearbit:
        assert set(data) == {"id", "name", "legalName", "domain", "url", "metrics", "category"}
        assert set(data["metrics"]) == {
            "raised",
            "employees",
            "googleRank",
            "alexaGlobalRank",
            "marketCap",
        }
        assert set(data["category"]) == {"sector", "industryGroup", "industry", "subIndustry"}
    assert any(value is None for data in with_clearbit for value in data["metrics"].values())


# --- today's customers (dialect="current") ------------------------------------------------------


def test_todays_customers_are_deterministic_and_a_larger_n_extends_a_smaller_one() -> None:
    many = generate_current_customers(400, seed=11, id_start=7)
    assert generate_current_customers(400, seed=11, id_start=7) == many
    assert generate_current_customers(150, seed=11, id_start=7) == many[:150]
    assert generate_current_customers(400, seed=12, id_start=7) != many
    assert [c["id"] for c in many] == list(range(7, 407))
    assert len({c["uuid"] for c in many}) == 400


def test_todays_custom_timestamps_are_written_as_today_and_read_back_as_timestamps() -> None:
    values = [
        value
        for customer in generate_current_customers(300, seed=3)
        for value in customer["attributes"]["custom"].values()
        if isinstance(value, str) and value.endswith("Z")
    ]
    assert values
    assert all(value.endswith(".000Z") and infer_type(value) == "Timestamp" for value in values)
