"""Every example of the API reference, replayed against the emulator over HTTP.

The reference's example bodies (tests/data/reference/*.json) are seeded as explicit
customers in accounts of their own, then each example request is sent with the same
body. The reference's examples tell one consistent story (add tags, remove tags, add
custom, remove custom, update custom on the same customer), so each response must equal
the example exactly, and in particular have its shape: keys and JSON types, recursively.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cm_frames.emulator import Emulator, generate_customers

REFERENCE = Path(__file__).parents[1] / "data" / "reference"


def load(name: str) -> Any:
    return json.loads((REFERENCE / f"{name}.json").read_text())


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively; a list by its first item (as the examples show)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


# Paging keys beyond the examples: the official clients of the reference's era read them,
# and the examples do not forbid them. Checked here, then compared without.
EXTRA_PAGING_KEYS = ("current_page", "total_pages")


def compare_with_example(actual: Any, example: Any) -> None:
    """The response has the example's shape, and (the story being consistent) its values."""
    if isinstance(actual, dict) and "current_page" in actual and "current_page" not in example:
        for key in EXTRA_PAGING_KEYS:
            assert type(actual.pop(key)) is int
    assert shape(actual) == shape(example)
    assert actual == example


@pytest.fixture
def session_for(emulator: Emulator) -> Iterator[Any]:
    """Make sessions for accounts seeded with explicit customers; all closed afterwards."""
    sessions: dict[str, requests.Session] = {}

    def make(token: str, customers: list[dict[str, Any]]) -> requests.Session:
        emulator.add_account(token, f"{token}-secret", customers=customers)
        session = sessions[token] = requests.Session()
        session.auth = (token, f"{token}-secret")
        return session

    yield make
    for token, session in sessions.items():
        session.close()
        emulator.remove_account(token)  # frees the example ids for the next test


@pytest.fixture
def bob() -> dict[str, Any]:
    """The reference's example customer (GET /customers/{customer_id})."""
    customer: dict[str, Any] = load("get_customer.response")
    return customer


def with_address(customer: dict[str, Any]) -> dict[str, Any]:
    """A by-email example customer made whole (those responses omit the address)."""
    whole = copy.deepcopy(customer)
    whole["address"] = {
        "address_line1": None,
        "address_line2": None,
        "address_zip": None,
        "city": None,
        "country": "US",
        "state": None,
    }
    return whole


def test_examples_are_real_json_with_the_documented_keys() -> None:
    names = {path.name.removesuffix(".json") for path in REFERENCE.glob("*.json")}
    assert len(names) == 18  # 11 responses, 7 request bodies
    assert load("get_customers.response")["entries"][0] == load("get_customer.response")


def test_get_customers_example(emulator: Emulator, session_for: Any, bob: dict[str, Any]) -> None:
    # bob plus 60 later customers, so that page 1 of 50 has more after it, as in the example
    later = generate_customers(60, seed=3, id_start=900_000)
    session = session_for("reference-list", [bob, *later])
    response = session.get(emulator.url + "customers", params={"page": 1, "per_page": 50})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    example = load("get_customers.response")
    # The example elides 49 entries: compare everything but their number.
    assert len(body["entries"]) == 50
    compare_with_example({**body, "entries": body["entries"][:1]}, example)
    for entry in body["entries"][1:]:
        assert set(entry) == set(example["entries"][0])


def test_get_customer_example_by_id_and_by_uuid(
    emulator: Emulator, session_for: Any, bob: dict[str, Any]
) -> None:
    session = session_for("reference-get", [bob])
    example = load("get_customer.response")
    for ref in (bob["id"], bob["uuid"]):
        response = session.get(emulator.url + f"customers/{ref}")
        assert response.status_code == 200
        compare_with_example(response.json(), example)


def test_search_example(emulator: Emulator, session_for: Any, bob: dict[str, Any]) -> None:
    session = session_for("reference-search", [bob])
    response = session.get(
        emulator.url + "customers/search", params={"email": "bob@examplecompany.com"}
    )
    assert response.status_code == 200
    compare_with_example(response.json(), load("search_customers.response"))


def test_get_attributes_example(emulator: Emulator, session_for: Any, bob: dict[str, Any]) -> None:
    session = session_for("reference-attributes", [bob])
    response = session.get(emulator.url + f"customers/{bob['id']}/attributes")
    assert response.status_code == 200
    compare_with_example(response.json(), load("get_attributes.response"))


def test_the_reference_story_of_tags_and_custom_attributes(
    emulator: Emulator, session_for: Any, bob: dict[str, Any]
) -> None:
    """POST tags, DELETE tags, POST custom, DELETE custom, PUT custom: each example in turn."""
    session = session_for("reference-story", [bob])
    customer_url = emulator.url + f"customers/{bob['uuid']}/attributes/"
    steps = [
        ("POST", "tags", "add_tags"),
        ("DELETE", "tags", "remove_tags"),
        ("POST", "custom", "add_custom"),
        ("DELETE", "custom", "remove_custom"),
        ("PUT", "custom", "update_custom"),
    ]
    for method, kind, example in steps:
        response = session.request(method, customer_url + kind, json=load(f"{example}.request"))
        assert response.status_code == 200, (example, response.text)
        compare_with_example(response.json(), load(f"{example}.response"))
    # The writes persisted: the customer now reads as the last example left it.
    attributes = session.get(emulator.url + f"customers/{bob['id']}/attributes").json()
    assert attributes["attributes"]["custom"] == load("update_custom.response")["custom"]
    assert attributes["attributes"]["tags"] == load("remove_tags.response")["tags"]


def test_add_tags_by_email_example(emulator: Emulator, session_for: Any) -> None:
    example = load("add_tags_by_email.response")
    before = [with_address(entry) for entry in example["entries"]]
    for customer in before:
        customer["attributes"]["tags"] = []  # the example adds both of its tags
    session = session_for("reference-tags-by-email", before)
    response = session.post(
        emulator.url + "customers/attributes/tags", json=load("add_tags_by_email.request")
    )
    assert response.status_code == 200
    compare_with_example(response.json(), example)


def test_add_custom_by_email_example(emulator: Emulator, session_for: Any) -> None:
    example = load("add_custom_by_email.response")
    before = [with_address(entry) for entry in example["entries"]]
    for customer in before:
        customer["attributes"]["custom"] = {}  # the example's custom is exactly what it adds
    session = session_for("reference-custom-by-email", before)
    response = session.post(
        emulator.url + "customers/attributes/custom", json=load("add_custom_by_email.request")
    )
    assert response.status_code == 200
    compare_with_example(response.json(), example)


def test_generated_customers_have_the_example_shape(api: Any) -> None:
    """Generated customers have the example's keys; values have the example's JSON types
    where both are present (nulls are real data; custom/stripe/clearbit are open maps)."""
    example = load("get_customer.response")
    entries = api.get("customers").json()["entries"]
    assert len(entries) == 200
    for entry in entries:
        assert list(entry) == list(example)
        assert set(entry["address"]) == set(example["address"])
        assert list(entry["attributes"]) == list(example["attributes"])
        for key, value in entry.items():
            if key not in ("address", "attributes"):
                assert type(value) is type(example[key]), key
        for value in entry["address"].values():
            assert value is None or isinstance(value, str)
        for value in entry["attributes"]["custom"].values():
            assert type(value) in (str, int, bool)
        assert all(isinstance(tag, str) for tag in entry["attributes"]["tags"])
        clearbit = entry["attributes"]["clearbit"]
        if clearbit:
            assert set(clearbit) == set(example["attributes"]["clearbit"])
            for group in ("metrics", "category"):
                assert set(clearbit[group]) == set(example["attributes"]["clearbit"][group])
