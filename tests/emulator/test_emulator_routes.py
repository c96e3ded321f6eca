"""The 11 endpoints over HTTP: behaviour, every error status, auth and account isolation.

Every rejected request is followed by a read showing that nothing changed.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from cm_frames.emulator import Emulator

# (method, path template, JSON body) of every endpoint; {id} is a customer, {email} its email
ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", "customers", None),
    ("GET", "customers/{id}", None),
    ("GET", "customers/search?email={email}", None),
    ("GET", "customers/{id}/attributes", None),
    ("POST", "customers/{id}/attributes/tags", {"tags": ["x"]}),
    ("DELETE", "customers/{id}/attributes/tags", {"tags": ["x"]}),
    ("POST", "customers/attributes/tags", {"email": "{email}", "tags": ["x"]}),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "String", "key": "k", "value": "v"}]}),
    ("POST", "customers/attributes/custom", {"email": "{email}", "custom": [{"type": "String", "key": "k", "value": "v"}]}),
    ("DELETE", "customers/{id}/attributes/custom", {"custom": ["k"]}),
    ("PUT", "customers/{id}/attributes/custom", {"custom": {"k": "v"}}),
]  # fmt: skip


def fill(template: Any, customer: dict[str, Any]) -> Any:
    """The template with {id} and {email} of ``customer`` filled in (in strings and bodies)."""
    text = json.dumps(template).replace("{id}", str(customer["id"]))
    return json.loads(text.replace("{email}", customer["email"]))


def all_customers(api: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    page = 1
    while True:
        body = api.get("customers", params={"page": page}).json()
        entries += body["entries"]
        if not body["has_more"]:
            return entries
        page += 1


def utc(since: str) -> datetime:
    moment = datetime.fromisoformat(since)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def string_key(custom: dict[str, Any]) -> str:
    """A key holding a String (not a Timestamp, which also reads as a JSON string)."""
    timestamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
    return next(k for k, v in custom.items() if type(v) is str and not timestamp.fullmatch(v))


def snapshot(api: Any) -> list[dict[str, Any]]:
    """Every customer as the API reads it: what "nothing changed" is compared against."""
    return all_customers(api)


@pytest.fixture
def customer(api: Any) -> dict[str, Any]:
    """A seeded customer with tags and custom attributes of several types."""
    for entry in api.get("customers").json()["entries"]:
        custom = entry["attributes"]["custom"]
        types = {type(value) for value in custom.values()}
        has_string = any(type(v) is str and not v.endswith("Z") for v in custom.values())
        if len(entry["attributes"]["tags"]) >= 2 and {int, bool} <= types and has_string:
            assert isinstance(entry, dict)
            return entry
    raise AssertionError("the seeded data has no customer with tags and int/bool/str custom")


# --- GET /customers -----------------------------------------------------------------


def test_list_pages_cover_every_customer_once_ascending_by_utc_since(api: Any) -> None:
    entries = all_customers(api)
    assert len(entries) == 300
    assert len({entry["id"] for entry in entries}) == 300
    keys = [(utc(entry["customer-since"]), entry["id"]) for entry in entries]
    assert keys == sorted(keys)
    # The order is by the instant, not the text: the data must contain a pair whose text
    # order disagrees (different offsets), or this test would prove nothing.
    texts = [entry["customer-since"] for entry in entries]
    assert texts != sorted(texts)


def test_list_defaults_to_page_1_of_200_with_exact_has_more(api: Any) -> None:
    first = api.get("customers").json()
    assert (first["page"], first["per_page"], first["has_more"]) == (1, 200, True)
    assert len(first["entries"]) == 200
    second = api.get("customers", params={"page": 2}).json()
    assert (len(second["entries"]), second["has_more"]) == (100, False)
    exact = api.get("customers", params={"page": 3, "per_page": 100}).json()
    assert (len(exact["entries"]), exact["has_more"]) == (100, False)
    past = api.get("customers", params={"page": 4, "per_page": 100}).json()
    assert past == {
        "entries": [],
        "has_more": False,
        "per_page": 100,
        "page": 4,
        "current_page": 4,
        "total_pages": 3,
    }
    assert (first["current_page"], first["total_pages"]) == (1, 2)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("page=", "page"),
        ("page=99999999999999999999", "page"),
        ("per_page=0", "per_page"),
        ("per_page=201", "per_page"),
        ("per_page=-5", "per_page"),
        ("per_page=ten", "per_page"),
        ("perpage=50", "perpage"),
        ("page=1&limit=5", "limit"),
    ],
)
def test_bad_paging_parameters_are_400_naming_the_parameter(
    api: Any, query: str, parameter: str
) -> None:
    response = api.get(f"customers?{query}")
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == 400
    assert body["message"].startswith(f"{parameter}:")


# --- GET /customers/{id}, search, attributes ------------------------------------------


def test_get_customer_by_id_and_uuid(api: Any, customer: dict[str, Any]) -> None:
    by_id = api.get(f"customers/{customer['id']}")
    by_uuid = api.get(f"customers/{customer['uuid']}")
    assert by_id.status_code == by_uuid.status_code == 200
    assert by_id.json() == by_uuid.json() == customer
    attributes = api.get(f"customers/{customer['uuid']}/attributes").json()
    assert attributes == {"attributes": customer["attributes"]}


@pytest.mark.parametrize(
    "ref", ["999999999", "cus_00000000-0000-4000-8000-000000000000", "abc", "-1"]
)
@pytest.mark.parametrize("suffix", ["", "/attributes"])
def test_unknown_customer_is_404(api: Any, ref: str, suffix: str) -> None:
    response = api.get(f"customers/{ref}{suffix}")
    assert response.status_code == 404
    assert response.json()["code"] == 404
    assert "customer_id" in response.json()["message"]


def test_search_is_case_insensitive_and_returns_every_match(api: Any) -> None:
    entries = all_customers(api)
    by_email: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_email.setdefault(entry["email"].lower(), []).append(entry)
    shared = next(group for group in by_email.values() if len(group) > 1)
    response = api.get("customers/search", params={"email": shared[0]["email"].upper()})
    assert response.status_code == 200
    assert list(response.json()) == ["entries", "current_page", "total_pages"]
    assert response.json()["entries"] == shared  # all of them, in list order
    assert (response.json()["current_page"], response.json()["total_pages"]) == (1, 1)


@pytest.mark.parametrize("query", ["", "?email=", "?email=%20"])
def test_search_without_email_is_400(api: Any, query: str) -> None:
    response = api.get(f"customers/search{query}")
    assert response.status_code == 400
    assert response.json()["message"].startswith("email:")


def test_unknown_query_parameters_are_400_naming_them(api: Any, customer: dict[str, Any]) -> None:
    before = snapshot(api)
    for method, path in [
        ("GET", f"customers/{customer['id']}"),
        ("POST", f"customers/{customer['id']}/attributes/tags"),
    ]:
        response = api.request(method, path + "?verbose=1", json={"tags": ["x"]})
        assert response.status_code == 400
        assert response.json()["message"].startswith("verbose: unknown query parameter")
    assert snapshot(api) == before


def test_search_unknown_email_is_404(api: Any) -> None:
    response = api.get("customers/search", params={"email": "nobody@nowhere.invalid"})
    assert response.status_code == 404
    assert "email" in response.json()["message"]


# --- tags ---------------------------------------------------------------------------


def test_add_tags_appends_without_duplicates_and_persists(
    api: Any, customer: dict[str, Any]
) -> None:
    tags = customer["attributes"]["tags"]
    response = api.post(
        f"customers/{customer['id']}/attributes/tags",
        json={"tags": [tags[0], "new one", "new one", "Prio1"]},
    )
    expected = [*tags, "new one", *(["Prio1"] if "Prio1" not in tags else [])]
    assert response.status_code == 200
    assert response.json() == {"tags": expected}
    stored = api.get(f"customers/{customer['uuid']}").json()
    assert stored["attributes"]["tags"] == expected


def test_remove_tags_ignores_absent_ones_and_persists(api: Any, customer: dict[str, Any]) -> None:
    tags = customer["attributes"]["tags"]
    response = api.delete(
        f"customers/{customer['id']}/attributes/tags", json={"tags": [tags[0], "not there"]}
    )
    assert response.status_code == 200
    assert response.json() == {"tags": tags[1:]}
    assert (
        api.get(f"customers/{customer['id']}/attributes").json()["attributes"]["tags"] == tags[1:]
    )


def test_add_tags_by_email_changes_every_customer_with_that_email(api: Any) -> None:
    entries = all_customers(api)
    emails = [entry["email"].lower() for entry in entries]
    email = next(e for e in emails if emails.count(e) > 1)
    matches = [entry for entry in entries if entry["email"].lower() == email]
    response = api.post(
        "customers/attributes/tags", json={"email": email.upper(), "tags": ["vip-x"]}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["has_more"], body["per_page"], body["page"]) == (False, 200, 1)
    assert [entry["id"] for entry in body["entries"]] == [m["id"] for m in matches]
    for entry, match in zip(body["entries"], matches, strict=True):
        assert "address" not in entry
        assert entry["attributes"]["tags"] == [*match["attributes"]["tags"], "vip-x"]
        stored = api.get(f"customers/{match['id']}").json()
        assert stored["attributes"]["tags"] == entry["attributes"]["tags"]
        assert stored["address"] == match["address"]


def test_by_email_unknown_email_is_404_and_changes_nothing(api: Any) -> None:
    before = snapshot(api)
    for kind, value in (("tags", ["x"]), ("custom", [{"type": "Integer", "key": "n", "value": 1}])):
        response = api.post(
            f"customers/attributes/{kind}", json={"email": "nobody@nowhere.invalid", kind: value}
        )
        assert response.status_code == 404
    assert snapshot(api) == before


# --- custom attributes ----------------------------------------------------------------


def test_add_custom_stores_typed_normalised_values(api: Any, customer: dict[str, Any]) -> None:
    body = {
        "custom": [
            {"type": "String", "key": "channel", "value": "Facebook"},
            {"type": "Integer", "key": "age", "value": "-42"},
            {"type": "Boolean", "key": "flag", "value": "t"},
            {"type": "Boolean", "key": "off", "value": 0},
            {"type": "Timestamp", "key": "seen", "value": "2024-03-01T10:00:00+05:30"},
            {"type": "Timestamp", "key": "naive", "value": "2024-03-01 10:00:00.25"},
        ]
    }
    response = api.post(f"customers/{customer['id']}/attributes/custom", json=body)
    assert response.status_code == 200
    expected = {
        **customer["attributes"]["custom"],
        "channel": "Facebook",
        "age": -42,
        "flag": True,
        "off": False,
        "seen": "2024-03-01T04:30:00Z",
        "naive": "2024-03-01T10:00:00.250000Z",
    }
    assert response.json() == {"custom": expected}
    assert api.get(f"customers/{customer['id']}").json()["attributes"]["custom"] == expected


def test_add_custom_by_email_sets_keys_on_every_match(api: Any, customer: dict[str, Any]) -> None:
    response = api.post(
        "customers/attributes/custom",
        json={
            "email": customer["email"],
            "custom": [{"type": "Integer", "key": "score", "value": 7}],
        },
    )
    assert response.status_code == 200
    for entry in response.json()["entries"]:
        assert entry["attributes"]["custom"]["score"] == 7
        assert api.get(f"customers/{entry['id']}").json()["attributes"]["custom"]["score"] == 7


def test_remove_custom_ignores_absent_keys(api: Any, customer: dict[str, Any]) -> None:
    custom = customer["attributes"]["custom"]
    first = next(iter(custom))
    response = api.delete(
        f"customers/{customer['id']}/attributes/custom", json={"custom": [first, "absent_key"]}
    )
    remaining = {key: value for key, value in custom.items() if key != first}
    assert response.status_code == 200
    assert response.json() == {"custom": remaining}
    assert api.get(f"customers/{customer['id']}").json()["attributes"]["custom"] == remaining


def test_put_changes_existing_keys_keeping_their_types(api: Any, customer: dict[str, Any]) -> None:
    custom = customer["attributes"]["custom"]
    int_key = next(k for k, v in custom.items() if type(v) is int)
    bool_key = next(k for k, v in custom.items() if type(v) is bool)
    response = api.put(
        f"customers/{customer['id']}/attributes/custom",
        json={"custom": {int_key: "12", bool_key: "FALSE"}},
    )
    assert response.status_code == 200
    expected = {**custom, int_key: 12, bool_key: False}
    assert response.json() == {"custom": expected}
    assert list(response.json()["custom"]) == list(custom)  # keys keep their places


def test_put_value_of_the_wrong_type_is_400_naming_the_key(
    api: Any, customer: dict[str, Any]
) -> None:
    custom = customer["attributes"]["custom"]
    int_key = next(k for k, v in custom.items() if type(v) is int)
    str_key = string_key(custom)
    before = snapshot(api)
    response = api.put(
        f"customers/{customer['id']}/attributes/custom",
        json={"custom": {str_key: "fine", int_key: "abc"}},
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith(f'custom.{int_key}: "abc" is not an Integer')
    assert snapshot(api) == before


def test_put_unknown_key_is_402_naming_it_and_changes_nothing(
    api: Any, customer: dict[str, Any]
) -> None:
    custom = customer["attributes"]["custom"]
    str_key = string_key(custom)
    before = snapshot(api)
    response = api.put(
        f"customers/{customer['id']}/attributes/custom",
        json={"custom": {str_key: "changed", "no_such_key": "x"}},
    )
    assert response.status_code == 402
    assert response.json() == {"code": 402, "message": response.json()["message"]}
    assert "no_such_key" in response.json()["message"]
    assert snapshot(api) == before


# --- malformed requests: 400 naming the field, nothing changed --------------------------

BAD_BODIES: list[tuple[str, str, Any, str]] = [
    ("POST", "customers/{id}/attributes/tags", b"{not json", "body:"),
    ("POST", "customers/{id}/attributes/tags", b"", "body:"),
    ("POST", "customers/{id}/attributes/tags", [], "body:"),
    ("POST", "customers/{id}/attributes/tags", {}, "tags:"),
    ("POST", "customers/{id}/attributes/tags", {"tags": "a"}, "tags:"),
    ("POST", "customers/{id}/attributes/tags", {"tags": []}, "tags:"),
    ("POST", "customers/{id}/attributes/tags", {"tags": ["ok", 3]}, "tags[1]:"),
    ("POST", "customers/{id}/attributes/tags", {"tags": ["ok", ""]}, "tags[1]:"),
    ("DELETE", "customers/{id}/attributes/tags", {"tags": [None]}, "tags[0]:"),
    ("POST", "customers/attributes/tags", {"tags": ["a"]}, "email:"),
    ("POST", "customers/attributes/tags", {"email": "", "tags": ["a"]}, "email:"),
    ("POST", "customers/attributes/tags", {"email": 5, "tags": ["a"]}, "email:"),
    ("POST", "customers/attributes/tags", {"email": "{email}"}, "tags:"),
    ("POST", "customers/{id}/attributes/custom", {}, "custom:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": {}}, "custom:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": []}, "custom:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": ["k"]}, "custom[0]:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"key": "k", "value": 1}]}, "custom[0].type:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "Float", "key": "k", "value": 1}]}, "custom[0].type:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "String", "value": "v"}]}, "custom[0].key:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "String", "key": "k"}]}, "custom[0].value:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "String", "key": "a-b", "value": "v"}]}, "custom[0].key:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "String", "key": "k" * 256, "value": "v"}]}, "custom[0].key:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "String", "key": "k", "value": "v" * 256}]}, "custom[0].value:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "String", "key": "k", "value": 5}]}, "custom[0].value:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "String", "key": "ok", "value": "v"}, {"type": "String", "key": "ok2", "value": "v"}, {"type": "Integer", "key": "n", "value": "abc"}]}, 'custom[2].value: "abc" is not an Integer'),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "Integer", "key": "n", "value": 2**63}]}, "custom[0].value:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "Integer", "key": "n", "value": 1.5}]}, "custom[0].value:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "Integer", "key": "n", "value": True}]}, "custom[0].value:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "Boolean", "key": "b", "value": "yes"}]}, "custom[0].value:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "Boolean", "key": "b", "value": 2}]}, "custom[0].value:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "Timestamp", "key": "t", "value": "yesterday"}]}, "custom[0].value:"),
    ("POST", "customers/{id}/attributes/custom", {"custom": [{"type": "Timestamp", "key": "t", "value": 1700000000}]}, "custom[0].value:"),
    ("POST", "customers/attributes/custom", {"custom": [{"type": "String", "key": "k", "value": "v"}]}, "email:"),
    ("POST", "customers/attributes/custom", {"email": "{email}", "custom": [{"type": "String", "key": "k", "value": None}]}, "custom[0].value:"),
    ("DELETE", "customers/{id}/attributes/custom", {"custom": "k"}, "custom:"),
    ("DELETE", "customers/{id}/attributes/custom", {"custom": []}, "custom:"),
    ("DELETE", "customers/{id}/attributes/custom", {"custom": ["ok", 1]}, "custom[1]:"),
    ("PUT", "customers/{id}/attributes/custom", {"custom": {}}, "custom:"),
    ("PUT", "customers/{id}/attributes/custom", {"custom": []}, "custom:"),
    ("PUT", "customers/{id}/attributes/custom", {}, "custom:"),
    ("PUT", "customers/{id}/attributes/custom", {"custom": {"bad key": 1}}, "custom.bad key:"),
    ("PUT", "customers/{id}/attributes/custom", {"custom": {"k": None}}, "custom.k:"),
    ("PUT", "customers/{id}/attributes/custom", {"custom": {"k": [1]}}, "custom.k:"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "message"), BAD_BODIES)
def test_malformed_request_is_400_naming_the_field_and_changes_nothing(
    api: Any, customer: dict[str, Any], method: str, path: str, body: Any, message: str
) -> None:
    before = snapshot(api)
    data = body if isinstance(body, bytes) else json.dumps(fill(body, customer)).encode()
    response = api.request(
        method, fill(path, customer), data=data, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == 400
    assert response.json()["message"].startswith(message)
    assert snapshot(api) == before


def test_body_over_1_mib_is_413_without_being_read(
    emulator: Emulator, api: Any, customer: dict[str, Any]
) -> None:
    before = snapshot(api)
    parts = urlsplit(emulator.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        # Announce 2 MiB and send none of it: the answer must come without reading a byte.
        connection.putrequest("POST", f"{parts.path}customers/{customer['id']}/attributes/tags")
        token_secret = base64.b64encode(f"{emulator.token}:{emulator.secret}".encode()).decode()
        connection.putheader("Authorization", f"Basic {token_secret}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(2 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 413
    assert body["code"] == 413
    assert "body" in body["message"]
    assert snapshot(api) == before


# --- unknown paths and methods ---------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["nothing", "customers/1/attributes/other", "customers/1/tags", "v2/customers"]
)
def test_unknown_path_is_404_json(api: Any, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == 404


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "customers", "GET"),
        ("DELETE", "customers/{id}", "GET"),
        ("PUT", "customers/{id}/attributes/tags", "DELETE, POST"),
        ("GET", "customers/attributes/tags", "POST"),
        ("PATCH", "customers/{id}/attributes/custom", "DELETE, POST, PUT"),
        ("POST", "customers/search", "GET"),
    ],
)
def test_wrong_method_is_405_json_with_allow(
    api: Any, customer: dict[str, Any], method: str, path: str, allowed: str
) -> None:
    before = snapshot(api)
    response = api.request(method, fill(path, customer), json={"tags": ["x"]})
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert response.json()["code"] == 405
    assert method in response.json()["message"]
    assert snapshot(api) == before


# --- auth --------------------------------------------------------------------------


@pytest.fixture
def anonymous(emulator: Emulator) -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize(
    "credentials", [None, "wrong-secret", "unknown-token"], ids=["missing", "wrong", "unknown"]
)
def test_every_endpoint_needs_valid_credentials(
    emulator: Emulator,
    api: Any,
    customer: dict[str, Any],
    anonymous: requests.Session,
    method: str,
    path: str,
    body: Any,
    credentials: str | None,
) -> None:
    before = snapshot(api)
    auth = {
        None: None,
        "wrong-secret": (emulator.token, emulator.secret + "x"),
        "unknown-token": ("someone-else", emulator.secret),
    }[credentials]
    response = anonymous.request(
        method, emulator.url + fill(path, customer), json=fill(body, customer), auth=auth
    )
    logged = emulator.request_log()[-1]
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="ChartMogul"'
    assert response.json()["code"] == 401
    assert emulator.secret not in response.text
    assert (logged["status"], logged["account"]) == (401, None)
    assert snapshot(api) == before


def test_non_basic_authorization_is_401(emulator: Emulator, anonymous: requests.Session) -> None:
    for header in ("Bearer abc", "Basic !!!notbase64", "Basic " + "dG9rZW4="):  # "token", no ':'
        response = anonymous.get(emulator.url + "customers", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["message"].startswith("Authorization:")


# --- accounts are isolated -------------------------------------------------------------


@pytest.fixture
def other(emulator: Emulator) -> Iterator[requests.Session]:
    """A second account with 5 customers, and a session authenticated as it."""
    emulator.add_account("other-account", "other-secret", customers=5, seed=99)
    with requests.Session() as session:
        session.auth = ("other-account", "other-secret")
        yield session
    emulator.remove_account("other-account")


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS[1:])
def test_another_accounts_customer_is_404_on_every_endpoint(
    emulator: Emulator, api: Any, other: requests.Session, method: str, path: str, body: Any
) -> None:
    mine = {entry["email"].lower() for entry in all_customers(api)}
    theirs = next(
        entry
        for entry in other.get(emulator.url + "customers").json()["entries"]
        if entry["email"].lower() not in mine
    )
    mine_before, theirs_before = snapshot(api), other.get(emulator.url + "customers").json()
    response = api.request(method, fill(path, theirs), json=fill(body, theirs))
    assert response.status_code == 404
    assert snapshot(api) == mine_before
    assert other.get(emulator.url + "customers").json() == theirs_before


def test_accounts_list_disjoint_customers_and_do_not_see_each_others_writes(
    emulator: Emulator, api: Any, other: requests.Session
) -> None:
    mine = {entry["id"] for entry in all_customers(api)}
    theirs = other.get(emulator.url + "customers").json()
    assert len(theirs["entries"]) == 5
    assert not mine & {entry["id"] for entry in theirs["entries"]}
    target = theirs["entries"][0]
    response = other.post(
        emulator.url + f"customers/{target['id']}/attributes/tags", json={"tags": ["theirs"]}
    )
    assert response.status_code == 200
    assert all("theirs" not in entry["attributes"]["tags"] for entry in all_customers(api))
