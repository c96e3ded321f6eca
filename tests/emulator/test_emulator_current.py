"""Today's dialect over real HTTP: ``Emulator(dialect="current")`` against the recordings.

The shapes asserted here are those of the Ruby client's VCR cassettes of the real service
(October 2023): the customer object's keys in their order, the first list page's
deprecated paging keys, the cursor (base64 of ``"<customer-since, 9 digits>&<id>"``), the
unwrapped attributes, the by-email ``{"entries"}``, the 204, the 401 and 404 bodies.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cm_frames.emulator import Emulator
from cm_frames.emulator.generator import LEAD_STATUSES

# A list entry's keys, in the recorded order (GET /customers?per_page=1).
LIST_KEYS = [
    "id", "uuid", "external_id", "name", "email", "status", "customer-since", "attributes",
    "data_source_uuid", "data_source_uuids", "external_ids", "company", "country", "state",
    "city", "zip", "lead_created_at", "free_trial_started_at", "address", "mrr", "arr",
    "billing-system-url", "chartmogul-url", "billing-system-type", "currency",
    "currency-sign", "owner",
]  # fmt: skip
FIRST_PAGE_KEYS = [
    "entries",
    "current_page",
    "total_pages",
    "has_more",
    "per_page",
    "page",
    "cursor",
]
LATER_PAGE_KEYS = ["entries", "cursor", "has_more"]
B64 = base64.b64encode


def cursor_of(text: str) -> str:
    return B64(text.encode()).decode()


def walk(api: Any, path: str = "customers", **params: Any) -> list[dict[str, Any]]:
    """Every page of a cursor walk (at most 1,000 requests)."""
    pages = [api.get(path, params=params).json()]
    while pages[-1]["has_more"]:
        assert len(pages) < 1000
        pages.append(api.get(path, params={**params, "cursor": pages[-1]["cursor"]}).json())
    return pages


def entries_of(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for page in pages for entry in page["entries"]]


def order_key(entry: dict[str, Any]) -> tuple[int, str, int]:
    """The documented order: customer-since ascending, then id; leads last, by id."""
    since = entry["customer-since"]
    return (1, "", entry["id"]) if since is None else (0, since, entry["id"])


@pytest.fixture
def everyone(current_api: Any) -> list[dict[str, Any]]:
    """Every customer of today's session emulator, in list order (one 200 and one 100 page)."""
    return entries_of(walk(current_api))


# --- paging ---------------------------------------------------------------------------------


@pytest.mark.parametrize("per_page", [1, 7, 200])
def test_a_cursor_walk_visits_every_customer_once_in_order(current_api: Any, per_page: int) -> None:
    pages = walk(current_api, per_page=per_page)
    entries = entries_of(pages)
    assert len(entries) == 300
    assert len({entry["uuid"] for entry in entries}) == 300
    # Every customer-since here is UTC "+00:00": text order is time order.
    assert entries == sorted(entries, key=order_key)
    leads = [entry for entry in entries if entry["customer-since"] is None]
    assert leads
    assert entries[-len(leads) :] == leads
    assert all(len(page["entries"]) == per_page for page in pages[:-1])
    assert pages[-1]["has_more"] is False


def test_the_first_page_has_the_deprecated_keys_and_later_pages_only_the_cursor(
    current_api: Any,
) -> None:
    first = current_api.get("customers", params={"per_page": 50}).json()
    assert list(first) == FIRST_PAGE_KEYS
    assert (first["current_page"], first["total_pages"], first["per_page"], first["page"]) == (
        1,
        6,
        50,
        1,
    )
    last = first["entries"][-1]
    since = last["customer-since"].replace("+00:00", ".000000000Z")
    assert base64.b64decode(first["cursor"]).decode() == f"{since}&{last['id']}"
    later = current_api.get("customers", params={"per_page": 50, "cursor": first["cursor"]})
    assert list(later.json()) == LATER_PAGE_KEYS
    # ``page`` is deprecated and ignored: the cursor alone says where.
    ignored = current_api.get("customers", params={"per_page": 50, "page": 3}).json()
    assert ignored["entries"] == first["entries"]
    assert ignored["page"] == 1


def test_a_leads_cursor_has_an_empty_time(everyone: list[dict[str, Any]], current_api: Any) -> None:
    body = current_api.get("customers", params={"cursor": cursor_of("&0"), "per_page": 2}).json()
    assert body["entries"] == [e for e in everyone if e["customer-since"] is None][:2]
    assert base64.b64decode(body["cursor"]).decode() == f"&{body['entries'][-1]['id']}"


@pytest.mark.parametrize(
    "written",
    ["2020-01-01T00:00:00.000000000Z", "2020-01-01T00:00:00Z", "2020-01-01T01:00:00+01:00"],
)
def test_a_crafted_time_cursor_starts_at_the_first_customer_since_then(
    everyone: list[dict[str, Any]], current_api: Any, written: str
) -> None:
    body = current_api.get("customers", params={"cursor": cursor_of(f"{written}&0")}).json()
    start = next(
        index
        for index, entry in enumerate(everyone)
        if entry["customer-since"] is not None and entry["customer-since"] >= "2020-01-01T00:00:00"
    )
    assert everyone[start - 1]["customer-since"] < "2020-01-01"
    assert body["entries"] == everyone[start : start + 200]  # then the leads, last


def test_a_cursor_at_an_exact_time_includes_the_customers_at_that_time(
    everyone: list[dict[str, Any]], current_api: Any
) -> None:
    target = everyone[100]
    at = target["customer-since"].replace("+00:00", "Z")
    body = current_api.get("customers", params={"cursor": cursor_of(f"{at}&0"), "per_page": 1})
    assert body.json()["entries"] == [target]
    # Strictly after the position: the cursor of entry 100 starts at entry 101.
    after = cursor_of(f"{at.replace('Z', '.000000000Z')}&{target['id']}")
    following = current_api.get("customers", params={"cursor": after, "per_page": 1}).json()
    assert following["entries"] == [everyone[101]]


@pytest.mark.parametrize(
    "cursor",
    ["not base64!", cursor_of("no separator"), cursor_of("2020-13-45&1"), cursor_of("&x"), ""],
)
def test_an_invalid_cursor_is_400_in_the_recorded_error_shape(
    current_api: Any, cursor: str
) -> None:
    response = current_api.get("customers", params={"cursor": cursor})
    if cursor == "":  # an empty cursor is no cursor: the first page
        assert list(response.json()) == FIRST_PAGE_KEYS
        return
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["code", "message", "param"]
    assert (body["code"], body["param"]) == (400, "cursor")


def test_past_the_end_is_an_empty_page(current_api: Any) -> None:
    body = current_api.get("customers", params={"cursor": cursor_of("&999999999")}).json()
    assert body == {"entries": [], "cursor": None, "has_more": False}


@pytest.mark.parametrize(("asked", "served"), [(201, 200), (5000, 200), (200, 200), (3, 3)])
def test_a_per_page_above_200_falls_back_to_200(current_api: Any, asked: int, served: int) -> None:
    body = current_api.get("customers", params={"per_page": asked}).json()
    assert (body["per_page"], len(body["entries"])) == (served, served)


@pytest.mark.parametrize("per_page", ["0", "-1", "ten"])
def test_a_per_page_that_is_no_count_is_400(current_api: Any, per_page: str) -> None:
    response = current_api.get("customers", params={"per_page": per_page})
    assert (response.status_code, response.json()["param"]) == (400, "per_page")


# --- filters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "matches"),
    [
        ("status", lambda entry, value: entry["status"] == value),
        ("system", lambda entry, value: entry["billing-system-type"] == value),
        ("data_source_uuid", lambda entry, value: value in entry["data_source_uuids"]),
        ("external_id", lambda entry, value: value in entry["external_ids"]),
    ],
)
def test_each_filter_walks_exactly_its_customers(
    everyone: list[dict[str, Any]], current_api: Any, name: str, matches: Any
) -> None:
    values = {
        "status": "Active",
        "system": "Stripe",
        "data_source_uuid": everyone[0]["data_source_uuid"],
        "external_id": everyone[5]["external_id"],
    }
    value = values[name]
    expected = [entry for entry in everyone if matches(entry, value)]
    assert 0 < len(expected) < 300
    pages = walk(current_api, per_page=20, **{name: value})
    assert entries_of(pages) == expected
    assert pages[0]["total_pages"] == -(-len(expected) // 20)


def test_the_status_filter_splits_the_account_into_disjoint_parts(
    everyone: list[dict[str, Any]], current_api: Any
) -> None:
    statuses = sorted({entry["status"] for entry in everyone})
    parts = [entries_of(walk(current_api, status=status, per_page=50)) for status in statuses]
    assert sorted(entry["id"] for part in parts for entry in part) == sorted(
        entry["id"] for entry in everyone
    )


def test_an_empty_filtered_list_is_the_recorded_answer(current_api: Any) -> None:
    response = current_api.get("customers", params={"status": "Nobody"})
    assert response.json() == {
        "entries": [],
        "current_page": 1,
        "total_pages": 1,
        "has_more": False,
        "per_page": 200,
        "page": 1,
        "cursor": None,
    }


# --- opaque cursors ---------------------------------------------------------------------------


@pytest.fixture
def opaque() -> Iterator[tuple[Emulator, requests.Session]]:
    with (
        Emulator(customers=40, seed=7, dialect="current", cursors="opaque") as emu,
        requests.Session() as session,
    ):
        session.auth = (emu.api_key, "")
        yield emu, session


def test_opaque_cursors_walk_but_refuse_crafted_ones(
    opaque: tuple[Emulator, requests.Session],
) -> None:
    emu, session = opaque
    first = session.get(emu.url + "customers", params={"per_page": 15}).json()
    # Not the recorded form: it decodes to no "<time>&<id>".
    decoded = base64.urlsafe_b64decode(first["cursor"] + "==")
    assert re.fullmatch(rb"[-0-9T:.Z]*&[0-9]+", decoded) is None
    entries = list(first["entries"])
    body = first
    while body["has_more"]:
        body = session.get(
            emu.url + "customers", params={"per_page": 15, "cursor": body["cursor"]}
        ).json()
        entries += body["entries"]
    assert len({entry["id"] for entry in entries}) == 40
    assert entries == sorted(entries, key=order_key)
    for crafted in (cursor_of("&0"), cursor_of("2020-01-01T00:00:00.000000000Z&0")):
        refused = session.get(emu.url + "customers", params={"cursor": crafted})
        assert (refused.status_code, refused.json()["param"]) == (400, "cursor")


def test_the_dialect_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="dialect"):
        Emulator(dialect="today")
    with pytest.raises(ValueError, match="cursors"):
        Emulator(dialect="current", cursors="secret")
    with pytest.raises(ValueError, match="api_key"):
        Emulator(api_key="k")
    with pytest.raises(ValueError, match="api_key="):
        Emulator(dialect="current", token="t", secret="s")
    with pytest.raises(ValueError, match="max_parallel"):
        Emulator(dialect="current", max_parallel=0)
    assert Emulator(dialect="current", api_key="my-key").api_key == "my-key"
    assert len(Emulator(dialect="current").api_key) == 32
    assert "my-key" not in repr(Emulator(dialect="current", api_key="my-key"))
    with pytest.raises(AttributeError):
        _ = Emulator().api_key


# --- the customer object and the other answers --------------------------------------------------


def test_list_entries_have_the_recorded_keys_and_retrieve_adds_website_url(
    everyone: list[dict[str, Any]], current_api: Any
) -> None:
    assert all(list(entry) == LIST_KEYS for entry in everyone)
    assert all(
        list(entry["address"]) == ["country", "state", "city", "address_zip"] for entry in everyone
    )
    assert all(
        list(entry["attributes"]) == ["custom", "clearbit", "stripe", "tags"] for entry in everyone
    )
    target = everyone[0]
    full = current_api.get(f"customers/{target['uuid']}").json()
    assert list(full) == [*LIST_KEYS, "website_url"]
    assert {key: full[key] for key in LIST_KEYS} == target


def test_generated_customers_look_like_todays(everyone: list[dict[str, Any]]) -> None:
    statuses = {entry["status"] for entry in everyone}
    assert {"New Lead", "Active", "Cancelled", "Past Due"} <= statuses
    for entry in everyone:
        lead = entry["status"] in LEAD_STATUSES
        assert (entry["customer-since"] is None) == lead
        assert entry["arr"] == 12 * entry["mrr"]
        assert type(entry["mrr"]) is int
        if lead or entry["status"] == "Cancelled":
            assert entry["mrr"] == 0
        assert entry["lead_created_at"].endswith(".000Z")
        assert entry["external_id"] in entry["external_ids"]
        assert entry["data_source_uuid"] in entry["data_source_uuids"]
        assert entry["chartmogul-url"].startswith(
            f"https://app.chartmogul.com/#/customers/{entry['id']}-"
        )
        if entry["country"] is not None:
            assert len(entry["country"]) == 2
            assert len(entry["address"]["country"]) > 2
    assert any(entry["email"] == "" for entry in everyone)
    assert any(entry["free_trial_started_at"] is None for entry in everyone)
    assert {(e["currency"], e["currency-sign"]) for e in everyone} >= {
        ("USD", "$"),
        ("EUR", "€"),
        ("GBP", "£"),
    }
    assert {e["billing-system-type"] for e in everyone} == {"Stripe", "Google Sheets", "Import API"}
    assert any(entry["mrr"] > 0 for entry in everyone)


def test_a_numeric_id_in_a_path_is_404(everyone: list[dict[str, Any]], current_api: Any) -> None:
    target = everyone[0]
    for path in (f"customers/{target['id']}", f"customers/{target['id']}/attributes"):
        response = current_api.get(path)
        assert (response.status_code, response.json()["code"]) == (404, 404)
    tags = current_api.post(f"customers/{target['id']}/attributes/tags", json={"tags": ["x"]})
    assert tags.status_code == 404
    assert "x" not in current_api.get(f"customers/{target['uuid']}").json()["attributes"]["tags"]


def test_attributes_are_unwrapped_and_clearbit_only_when_known(
    everyone: list[dict[str, Any]], current_api: Any
) -> None:
    with_clearbit = next(e for e in everyone if e["attributes"]["clearbit"])
    without = next(e for e in everyone if not e["attributes"]["clearbit"])
    body = current_api.get(f"customers/{with_clearbit['uuid']}/attributes").json()
    attributes = with_clearbit["attributes"]
    assert list(body) == ["tags", "stripe", "clearbit", "custom"]
    assert body == {key: attributes[key] for key in body}
    # Recorded: {"tags": [...], "stripe": {}, "custom": {...}} for an empty Clearbit.
    assert list(current_api.get(f"customers/{without['uuid']}/attributes").json()) == [
        "tags",
        "stripe",
        "custom",
    ]


def test_search_answers_in_the_lists_shape_and_pages_by_cursor(
    everyone: list[dict[str, Any]], current_api: Any
) -> None:
    emails: dict[str, list[dict[str, Any]]] = {}
    for entry in everyone:
        if entry["email"]:
            emails.setdefault(entry["email"].lower(), []).append(entry)
    shared = next(group for group in emails.values() if len(group) > 1)
    first = current_api.get("customers/search", params={"email": shared[0]["email"].upper()})
    assert list(first.json()) == FIRST_PAGE_KEYS
    assert first.json()["total_pages"] is None  # recorded so
    assert first.json()["entries"] == shared
    pages = walk(current_api, "customers/search", email=shared[0]["email"], per_page=1)
    assert entries_of(pages) == shared
    assert list(pages[1]) == LATER_PAGE_KEYS


def test_search_with_no_match_is_the_recorded_404(current_api: Any) -> None:
    response = current_api.get("customers/search", params={"email": "no@email.com"})
    assert response.status_code == 404
    assert response.json() == {
        "code": 404,
        "message": 'Can\'t find any customers with email: "no@email.com"',
        "param": "email",
    }


def test_by_email_writes_answer_entries_without_paging_keys(
    everyone: list[dict[str, Any]], current_api: Any
) -> None:
    target = next(entry for entry in everyone if entry["email"])
    body = current_api.post(
        "customers/attributes/tags", json={"email": target["email"], "tags": ["by-email"]}
    ).json()
    assert list(body) == ["entries"]
    entry = body["entries"][0]
    assert list(entry) == [
        "id", "uuid", "external_id", "name", "email", "status", "customer-since", "attributes",
    ]  # fmt: skip
    assert "by-email" in entry["attributes"]["tags"]
    custom = current_api.post(
        "customers/attributes/custom",
        json={"email": target["email"], "custom": [{"type": "Integer", "key": "age", "value": 8}]},
    ).json()
    assert list(custom) == ["entries"]
    assert custom["entries"][0]["attributes"]["custom"]["age"] == 8


def test_custom_attributes_take_a_source_and_utc_timestamps_and_204_when_emptied(
    current_emulator: Emulator, everyone: list[dict[str, Any]], current_api: Any
) -> None:
    target = everyone[3]
    path = f"customers/{target['uuid']}/attributes/custom"
    added = current_api.post(
        path,
        json={
            "custom": [
                {"type": "Timestamp", "key": "signed", "value": "2016-01-31 00:00:00 UTC"},
                {"type": "String", "key": "channel", "value": "Facebook", "source": "integration"},
            ]
        },
    )
    assert added.status_code == 200
    assert added.json()["custom"]["signed"] == "2016-01-31T00:00:00.000Z"  # recorded so
    assert "source" not in added.text  # not echoed, but kept
    assert current_emulator.custom_sources(target["uuid"]) == {"channel": "integration"}
    updated = current_api.put(path, json={"custom": {"signed": "2016-02-01 00:00:00 UTC"}})
    assert updated.json()["custom"]["signed"] == "2016-02-01T00:00:00.000Z"
    keys = list(updated.json()["custom"])
    partly = current_api.delete(path, json={"custom": keys[:1]})
    assert partly.status_code == 200
    assert keys[0] not in partly.json()["custom"]
    emptied = current_api.delete(path, json={"custom": keys})
    assert (emptied.status_code, emptied.content) == (204, b"")
    assert "Content-Type" not in emptied.headers
    assert current_api.get(f"customers/{target['uuid']}/attributes").json()["custom"] == {}
    assert current_emulator.custom_sources(target["uuid"]) == {}


@pytest.mark.parametrize(
    "body",
    [
        {"custom": [{"type": "Integer", "key": "age", "value": "eight"}]},
        {"custom": [{"type": "Colour", "key": "age", "value": 1}]},
        {"custom": [{"type": "String", "key": "channel", "value": "x", "source": 7}]},
        {"custom": []},
        {"tags": "a"},
    ],
)
def test_a_valid_json_body_with_wrong_values_is_422_and_changes_nothing(
    everyone: list[dict[str, Any]], current_api: Any, body: dict[str, Any]
) -> None:
    target = everyone[4]
    endpoint = "tags" if "tags" in body else "custom"
    response = current_api.post(f"customers/{target['uuid']}/attributes/{endpoint}", json=body)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert next(iter(errors.values()))
    assert (
        current_api.get(f"customers/{target['uuid']}").json()["attributes"] == target["attributes"]
    )


def test_malformed_json_is_400(everyone: list[dict[str, Any]], current_api: Any) -> None:
    response = current_api.post(
        f"customers/{everyone[0]['uuid']}/attributes/tags",
        data=b'{"tags": [',
        headers={"Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()["code"]) == (400, 400)


# --- authentication -------------------------------------------------------------------------------


def test_the_api_key_authenticates_with_an_empty_password_or_itself(
    current_emulator: Emulator,
) -> None:
    url, key = current_emulator.url + "customers", current_emulator.api_key
    for auth in ((key, ""), (key, key)):
        assert requests.get(url, auth=auth, params={"per_page": 1}, timeout=10).status_code == 200
    for auth in ((key, "other"), ("wrong", ""), ("", key), None):
        response = requests.get(url, auth=auth, timeout=10)
        assert response.status_code == 401
        assert response.json() == {
            "code": 401,
            "message": "No valid API key provided",
            "param": None,
        }


# --- the parallel limit ---------------------------------------------------------------------------


def test_more_requests_in_flight_than_the_limit_are_503() -> None:
    with Emulator(customers=3, dialect="current", max_parallel=2) as emu:
        auth = (emu.api_key, "")
        emu.set_faults(hang_after=0)  # every request is held once authenticated
        outcomes: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: outcomes.append(
                    requests.get(emu.url + "customers", auth=auth, timeout=30).status_code
                )
            )
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        wait_until(lambda: emu.hanging_requests() == 2)
        third = requests.get(emu.url + "customers", auth=auth, timeout=10)
        assert third.status_code == 503
        assert third.json()["code"] == 503
        emu.clear_faults()
        for thread in threads:
            thread.join(timeout=10)
        assert outcomes == [200, 200]
        assert requests.get(emu.url + "customers", auth=auth, timeout=10).status_code == 200


def wait_until(condition: Any, attempts: int = 2000) -> None:
    """Poll a condition the server reaches on its own (no fixed sleep stands for it)."""
    event = threading.Event()
    for _ in range(attempts):
        if condition():
            return
        event.wait(0.005)
    raise AssertionError("condition not reached")


# --- changes mid-walk ---------------------------------------------------------------------------


def test_a_status_change_after_the_nth_list_request_is_seen_by_the_next_page(
    current_emulator: Emulator, everyone: list[dict[str, Any]], current_api: Any
) -> None:
    active_later = next(e for e in everyone[120:] if e["status"] == "Active")
    lead = next(e for e in everyone if e["customer-since"] is None)
    early = everyone[10]["customer-since"]
    current_emulator.on_list_request(
        2,
        lambda: (
            current_emulator.update_customer(
                active_later["uuid"], status="Cancelled", mrr=0, arr=0
            ),
            # A lead converts: it gets a customer-since behind the walk's position, so a
            # walk that is past that point never sees it (the client must live with that).
            current_emulator.update_customer(lead["uuid"], status="Active", customer_since=early),
        ),
    )
    pages = walk(current_api, per_page=50)
    seen = {entry["uuid"]: entry for entry in entries_of(pages)}
    assert seen[active_later["uuid"]]["status"] == "Cancelled"
    assert seen[active_later["uuid"]]["mrr"] == 0
    assert lead["uuid"] not in seen  # moved from the end to before the cursor
    assert len(seen) == 299
    # A new walk sees it where it is now.
    again = entries_of(walk(current_api))
    moved = next(entry for entry in again if entry["uuid"] == lead["uuid"])
    assert (moved["status"], moved["customer-since"]) == ("Active", early)
    assert again == sorted(again, key=order_key)
    with pytest.raises(KeyError):
        current_emulator.update_customer(lead["uuid"], no_such_field=1)
    with pytest.raises(ValueError, match="n must be"):
        current_emulator.on_list_request(0, lambda: None)


def test_hooks_are_forgotten_at_reset(current_emulator: Emulator, current_api: Any) -> None:
    calls: list[int] = []
    current_emulator.on_list_request(1, lambda: calls.append(1))
    current_emulator.reset()
    current_api.get("customers", params={"per_page": 1})
    assert calls == []
    current_emulator.on_list_request(1, lambda: calls.append(1))
    current_api.get("customers/search", params={"email": "no@email.com"})  # not a list
    assert calls == []
    current_api.get("customers", params={"per_page": 1})
    current_api.get("customers", params={"per_page": 1})
    assert calls == [1]  # once


# --- persistence --------------------------------------------------------------------------------


def test_todays_writes_and_key_survive_a_restart_on_the_same_db_file(tmp_path: Path) -> None:
    db = tmp_path / "today.sqlite"
    with Emulator(customers=10, seed=1, db=db, dialect="current") as first:
        key = first.api_key
        target = first_customer = requests.get(
            first.url + "customers", auth=(key, ""), timeout=10
        ).json()["entries"][2]
        posted = requests.post(
            first.url + f"customers/{target['uuid']}/attributes/tags",
            json={"tags": ["kept"]},
            auth=(key, ""),
            timeout=10,
        )
        assert posted.status_code == 200
    with Emulator(customers=99, db=db, dialect="current") as second:
        assert second.api_key == key  # the file's key, adopted
        entries = entries_of(
            [requests.get(second.url + "customers", auth=(key, ""), timeout=10).json()]
        )
        assert len(entries) == 10
        stored = requests.get(
            second.url + f"customers/{first_customer['uuid']}", auth=(key, ""), timeout=10
        ).json()
        assert "kept" in stored["attributes"]["tags"]
        assert list(stored)[:7] == LIST_KEYS[:7]


# --- explicit customers -------------------------------------------------------------------------


def made_customer(customer_id: int, since: str | None, status: str) -> dict[str, Any]:
    """A customer of today's shape, written by hand (the fields of LIST_KEYS, in order)."""
    values: dict[str, Any] = dict.fromkeys(LIST_KEYS)
    values |= {
        "id": customer_id,
        "uuid": f"cus_00000000-0000-0000-0000-{customer_id:012d}",
        "external_id": f"ext_{customer_id}",
        "name": f"Customer {customer_id}",
        "email": f"c{customer_id}@example.com",
        "status": status,
        "customer-since": since,
        "attributes": {"custom": {}, "clearbit": {}, "stripe": {}, "tags": []},
        "data_source_uuid": "ds_1",
        "data_source_uuids": ["ds_1"],
        "external_ids": [f"ext_{customer_id}"],
        "company": "",
        "address": {"country": None, "state": None, "city": None, "address_zip": None},
        "mrr": 0,
        "arr": 0,
        "chartmogul-url": f"https://app.chartmogul.com/#/customers/{customer_id}-x",
        "billing-system-type": "Import API",
        "currency": "EUR",
        "currency-sign": "€",
    }
    return values


def test_explicit_customers_page_in_the_recorded_order_and_cursor_form() -> None:
    customers = [
        made_customer(30, None, "New Lead"),
        made_customer(20, "2016-01-24T20:00:00-04:00", "Cancelled"),  # 2016-01-25T00:00Z
        made_customer(10, "2016-01-01T12:00:00+00:00", "Active"),
        made_customer(5, None, "Working Lead"),
    ]
    with Emulator(customers=customers, dialect="current") as emu, requests.Session() as session:
        session.auth = (emu.api_key, "")
        first = session.get(emu.url + "customers", params={"per_page": 1}).json()
        assert first == {
            "entries": [customers[2]],
            "current_page": 1,
            "total_pages": 4,
            "has_more": True,
            "per_page": 1,
            "page": 1,
            "cursor": cursor_of("2016-01-01T12:00:00.000000000Z&10"),
        }
        second = session.get(
            emu.url + "customers", params={"per_page": 1, "cursor": first["cursor"]}
        ).json()
        assert second == {
            "entries": [customers[1]],
            "cursor": cursor_of("2016-01-25T00:00:00.000000000Z&20"),
            "has_more": True,
        }
        rest = session.get(emu.url + "customers", params={"cursor": second["cursor"]}).json()
        assert rest == {
            "entries": [customers[3], customers[0]],
            "cursor": cursor_of("&30"),
            "has_more": False,
        }


def test_corrupt_pages_count_the_pages_of_each_filtered_walk(
    current_emulator: Emulator, current_api: Any
) -> None:
    clean = walk(current_api, status="Active", per_page=20)
    assert len(clean) > 3
    current_emulator.set_faults(corrupt="empty_body", corrupt_pages=[2])
    for number, _page in enumerate(clean[:4], start=1):
        params = {"status": "Active", "per_page": 20}
        if number > 1:
            params["cursor"] = clean[number - 2]["cursor"]
        answer = current_api.get("customers", params=params)
        assert (answer.content == b"") == (number == 2), number
    current_emulator.set_faults(corrupt="duplicate_customer", corrupt_pages=[3])
    third = current_api.get(
        "customers", params={"status": "Active", "per_page": 20, "cursor": clean[1]["cursor"]}
    ).json()
    assert third["entries"] == [clean[1]["entries"][-1], *clean[2]["entries"][:-1]]
    assert third["entries"][1:] != []
    assert third["cursor"] == clean[2]["cursor"]
