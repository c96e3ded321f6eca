"""Emulator security coverage that tests/emulator/test_emulator_routes.py does not already give.

The endpoints come from the shipped OpenAPI document (with its example bodies), and a test
checks that the route tests' own endpoint list (used there for 401 on missing, wrong and
unknown credentials, and for cross-account access by id) is exactly that document's. Added
here: cross-account access by uuid and through a shared email on every endpoint that takes
them, 413 and malformed JSON (400) on every write endpoint, and the body limit's boundary.
Every refused request is followed by reads showing that neither account changed.

Each test runs in both dialects (the ``emulator`` fixture here is parametrised): isolation
and body limits are meant to be the same on today's API. Paths name customers by uuid,
which both dialects take.
"""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from test_emulator_routes import ENDPOINTS as ROUTE_TEST_ENDPOINTS

from cm_frames.emulator import Emulator
from cm_frames.emulator.generator import generate_current_customers, generate_customers
from cm_frames.emulator.server import MAX_BODY_BYTES

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(params=["enrichment", "current"])
def emulator(request: pytest.FixtureRequest) -> Emulator:
    """The session emulator of each dialect, reset (overrides conftest's, for ``api`` too)."""
    name = "emulator_server" if request.param == "enrichment" else "current_emulator_server"
    emu: Emulator = request.getfixturevalue(name)
    emu.reset()
    return emu


def _document() -> dict[str, Any]:
    text = resources.files("cm_frames.emulator").joinpath("openapi.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _endpoints() -> list[tuple[str, str, Any]]:
    """(method, relative path template, example body) of every operation in the document."""
    endpoints = []
    for path, item in _document()["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            template = path.lstrip("/").replace("{customer_id}", "{ref}")
            if any(p["name"] == "email" for p in operation.get("parameters", [])):
                template += "?email={email}"
            body = None
            if "requestBody" in operation:
                body = operation["requestBody"]["content"]["application/json"]["example"]
                if "email" in body:
                    body = {**body, "email": "{email}"}
            endpoints.append((method.upper(), template, body))
    return endpoints


ENDPOINTS = _endpoints()
WRITES = [e for e in ENDPOINTS if e[2] is not None]
BY_REF = [e for e in ENDPOINTS if "{ref}" in e[1]]
BY_EMAIL = [e for e in ENDPOINTS if "{email}" in json.dumps(e)]


def endpoint_id(endpoint: tuple[str, str, Any]) -> str:
    return f"{endpoint[0]} {endpoint[1].split('?')[0]}"


def fill(template: Any, ref: str, email: str) -> Any:
    text = json.dumps(template).replace("{ref}", ref).replace("{email}", email)
    return json.loads(text)


def test_the_endpoint_lists_cover_exactly_the_11_documented_operations() -> None:
    assert len(ENDPOINTS) == 11
    assert len(WRITES) == 7
    documented = {(m, t.split("?")[0].replace("{ref}", "{id}")) for m, t, _ in ENDPOINTS}
    used_by_route_tests = {(m, t.split("?")[0]) for m, t, _ in ROUTE_TEST_ENDPOINTS}
    assert used_by_route_tests == documented


# --- two accounts ------------------------------------------------------------------------------


class Account:
    """One account's authenticated session and a way to read everything it holds."""

    def __init__(self, emulator: Emulator, token: str, secret: str) -> None:
        self.url = emulator.url
        self.session = requests.Session()
        self.session.auth = (token, secret)

    def request(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, self.url + path, json=body, timeout=10)

    def everything(self) -> list[dict[str, Any]]:
        """Every customer, by page number or (today's dialect) by cursor."""
        entries: list[dict[str, Any]] = []
        page = 1
        query = "customers?page=1"
        while True:
            body = self.request("GET", query).json()
            entries += body["entries"]
            if not body["has_more"]:
                return entries
            page += 1
            query = (
                f"customers?cursor={quote(body['cursor'])}"
                if "cursor" in body
                else f"customers?page={page}"
            )


SHARED_EMAIL_INDEX = 0  # which of the other account's customers takes one of ours' email


@pytest.fixture
def accounts(emulator: Emulator) -> Iterator[tuple[Account, Account, dict[str, Any]]]:
    """Ours (the main account), theirs (3 customers, one with an email we also have) and
    the customer of ours whose email they share."""
    ours = Account(emulator, emulator.token, emulator.secret)
    mine = ours.everything()
    shared = next(
        c for c in mine if c["email"] and sum(o["email"] == c["email"] for o in mine) == 1
    )
    generate = generate_current_customers if emulator.dialect == "current" else generate_customers
    theirs_seed = generate(3, seed=99, id_start=5_000_000)
    theirs_seed[SHARED_EMAIL_INDEX]["email"] = shared["email"]
    emulator.add_account("their-token", "their-secret", customers=theirs_seed)
    theirs = Account(emulator, "their-token", "their-secret")
    try:
        yield ours, theirs, shared
    finally:
        ours.session.close()
        theirs.session.close()
        emulator.remove_account("their-token")


@pytest.mark.parametrize("endpoint", BY_REF, ids=endpoint_id)
def test_another_accounts_customer_is_404_by_uuid(
    accounts: tuple[Account, Account, dict[str, Any]], endpoint: tuple[str, str, Any]
) -> None:
    ours, theirs, _ = accounts
    method, template, body = endpoint
    target = theirs.everything()[1]  # not the one sharing an email with us
    ours_before, theirs_before = ours.everything(), theirs.everything()
    response = ours.request(
        method,
        fill(template, target["uuid"], target["email"]),
        fill(body, target["uuid"], target["email"]),
    )
    assert response.status_code == 404, response.text
    # The 404 echoes the ref we sent, and nothing of theirs.
    assert target["email"] not in response.text
    assert str(target["id"]) not in response.text
    assert ours.everything() == ours_before
    assert theirs.everything() == theirs_before


@pytest.mark.parametrize("endpoint", BY_EMAIL, ids=endpoint_id)
def test_a_shared_email_reaches_only_the_callers_own_customers(
    accounts: tuple[Account, Account, dict[str, Any]], endpoint: tuple[str, str, Any]
) -> None:
    ours, theirs, shared = accounts
    method, template, body = endpoint
    theirs_before = theirs.everything()
    their_ids = {c["id"] for c in theirs_before}
    response = ours.request(
        method, fill(template, "", shared["email"]), fill(body, "", shared["email"])
    )
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    assert [e["id"] for e in entries] == [shared["id"]]
    assert not their_ids & {e["id"] for e in entries}
    assert theirs.everything() == theirs_before  # their customer with that email is untouched


@pytest.mark.parametrize("endpoint", [e for e in WRITES if e in BY_EMAIL], ids=endpoint_id)
def test_their_write_by_a_shared_email_leaves_our_customer_alone(
    accounts: tuple[Account, Account, dict[str, Any]], endpoint: tuple[str, str, Any]
) -> None:
    ours, theirs, shared = accounts
    method, template, body = endpoint
    ours_before = ours.everything()
    response = theirs.request(method, template, fill(body, "", shared["email"]))
    assert response.status_code == 200, response.text
    their_sharer = [c["id"] for c in theirs.everything() if c["email"] == shared["email"]]
    assert len(their_sharer) == 1
    assert [e["id"] for e in response.json()["entries"]] == their_sharer
    assert ours.everything() == ours_before


# --- request bodies: 413 and malformed JSON on every write endpoint ----------------------------


def _announce(
    emulator: Emulator, method: str, path: str, length: int
) -> tuple[int, dict[str, Any]]:
    """Send headers announcing a body of ``length`` bytes, none of the body, and read the answer."""
    parts = urlsplit(emulator.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.putrequest(method, parts.path + path)
        pair = base64.b64encode(f"{emulator.token}:{emulator.secret}".encode()).decode()
        connection.putheader("Authorization", f"Basic {pair}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.fixture
def customer(api: Any) -> dict[str, Any]:
    first: dict[str, Any] = api.get("customers?per_page=1").json()["entries"][0]
    return first


@pytest.mark.parametrize("endpoint", WRITES, ids=endpoint_id)
def test_a_body_over_the_limit_is_413_on_every_write_endpoint(
    emulator: Emulator, api: Any, customer: dict[str, Any], endpoint: tuple[str, str, Any]
) -> None:
    method, template, _ = endpoint
    before = api.get(f"customers/{customer['uuid']}").json()
    path = fill(template, customer["uuid"], customer["email"])
    status, body = _announce(emulator, method, path, MAX_BODY_BYTES + 1)
    assert status == 413
    assert body["code"] == 413
    assert str(MAX_BODY_BYTES) in body["message"]
    assert api.get(f"customers/{customer['uuid']}").json() == before


def test_a_body_of_exactly_the_limit_is_read(api: Any, customer: dict[str, Any]) -> None:
    text = json.dumps({"tags": ["at-the-limit"]}).encode()
    body = text + b" " * (MAX_BODY_BYTES - len(text))  # JSON allows trailing whitespace
    assert len(body) == MAX_BODY_BYTES
    response = api.post(
        f"customers/{customer['uuid']}/attributes/tags",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert "at-the-limit" in response.json()["tags"]


MALFORMED = {
    "not JSON": b"{not json",
    "truncated": b'{"tags": ["a"',
    "NaN": b'{"tags": NaN}',
    "not UTF-8": b'{"tags": ["\xff\xfe"]}',
    "deeply nested": b"[" * 100_000,
    "two documents": b'{"tags": ["a"]} {"tags": ["b"]}',
}


@pytest.mark.parametrize("malformed", sorted(MALFORMED))
@pytest.mark.parametrize("endpoint", WRITES, ids=endpoint_id)
def test_malformed_json_is_400_on_every_write_endpoint(
    api: Any, customer: dict[str, Any], endpoint: tuple[str, str, Any], malformed: str
) -> None:
    method, template, _ = endpoint
    before = api.get(f"customers/{customer['uuid']}").json()
    response = api.request(
        method,
        fill(template, customer["uuid"], customer["email"]),
        data=MALFORMED[malformed],
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == 400
    assert response.json()["message"].startswith("body: not valid JSON")
    assert api.get(f"customers/{customer['uuid']}").json() == before
