"""The client end to end against the emulator over real HTTP on loopback."""

from __future__ import annotations

import base64
import logging
import math
import os
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cm_frames.api.client import Client
from cm_frames.emulator import Emulator
from cm_frames.errors import (
    APIError,
    BadRequest,
    MissingCredentials,
    NotFound,
    RateLimited,
    RequestFailed,
    Unauthorized,
    ValidationError,
)

MakeClient = Callable[..., Client]


@pytest.fixture
def make_client(emulator: Emulator, tmp_path: Path) -> Iterator[MakeClient]:
    """Clients of the emulator's main account, cached under tmp_path, closed after the test."""
    clients: list[Client] = []

    def make(token: str | None = None, secret: str | None = None, **kwargs: Any) -> Client:
        # backoff: fast retries; the backoff policy is unit-tested
        options: dict[str, Any] = {"cache_dir": tmp_path, "rate_limit": None, "backoff": 0.005}
        options.update(kwargs)
        client = Client(token or emulator.token, secret or emulator.secret, emulator.url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> Client:
    return make_client()


def api_log(emulator: Emulator) -> list[tuple[str, str]]:
    return [(entry["method"], entry["path"]) for entry in emulator.request_log()]


def first_customers(client: Client, n: int) -> list[Any]:
    return list(client.list_customers(page=1, per_page=n, refresh=True)["entries"])


def shared_email(client: Client) -> str:
    """An email that two or more customers share (the generator makes a few)."""
    seen: dict[str, int] = {}
    for page in client.iter_pages(cache=False):
        for customer in page["entries"]:
            email = str(customer["email"]).lower()
            seen[email] = seen.get(email, 0) + 1
    return next(email for email, count in seen.items() if count > 1)


# ---------------------------------------------------------------- endpoints


def test_read_endpoints(client: Client, emulator: Emulator) -> None:
    page = client.list_customers(page=1, per_page=5)
    assert len(page["entries"]) == 5
    assert page["has_more"] is True
    assert (page["page"], page["per_page"]) == (1, 5)
    customer = page["entries"][2]

    by_id = client.get_customer(customer["id"])
    assert by_id == customer
    assert client.get_customer(customer["uuid"]) == customer
    assert client.get_customer(str(customer["id"])) == customer

    found = client.search_customers(str(customer["email"]))
    assert customer["id"] in [entry["id"] for entry in found["entries"]]

    assert client.get_attributes(customer["id"]) == {"attributes": customer["attributes"]}
    assert api_log(emulator) == [
        ("GET", "/v1/customers"),
        ("GET", f"/v1/customers/{customer['id']}"),
        ("GET", f"/v1/customers/{customer['uuid']}"),
        # str(id) is the same URL as the int id: a cache hit, not a request
        ("GET", "/v1/customers/search"),
        ("GET", f"/v1/customers/{customer['id']}/attributes"),
    ]


def test_tag_endpoints(client: Client) -> None:
    customer = first_customers(client, 1)[0]
    cid = customer["id"]
    before = list(customer["attributes"].get("tags", []))

    added = client.add_tags(cid, ["vip", "churn_risk"])
    assert added["tags"] == [*before, *[t for t in ["vip", "churn_risk"] if t not in before]]
    removed = client.remove_tags(cid, ["vip"])
    assert "vip" not in removed["tags"]
    assert "churn_risk" in removed["tags"]
    assert client.get_attributes(cid)["attributes"]["tags"] == removed["tags"]


def test_tags_by_email_touches_every_customer_with_the_email(client: Client) -> None:
    email = shared_email(client)
    result = client.add_tags_by_email(email, ["shared_email"])
    assert len(result["entries"]) >= 2
    for entry in result["entries"]:
        assert str(entry["email"]).lower() == email
        assert "shared_email" in entry["attributes"]["tags"]
    for entry in client.search_customers(email)["entries"]:
        assert "shared_email" in entry["attributes"]["tags"]


def test_custom_endpoints(client: Client) -> None:
    cid = first_customers(client, 1)[0]["id"]
    added = client.add_custom(
        cid,
        [
            {"type": "Integer", "key": "lead_score", "value": 80},
            {"type": "String", "key": "channel", "value": "Facebook"},
            {"type": "Boolean", "key": "pro", "value": True},
            {"type": "Timestamp", "key": "converted_at", "value": datetime(2025, 1, 2, tzinfo=UTC)},
        ],
    )
    custom = added["custom"]
    assert (custom["lead_score"], custom["channel"], custom["pro"]) == (80, "Facebook", True)
    assert custom["converted_at"].startswith("2025-01-02T00:00:00")

    updated = client.update_custom(cid, {"lead_score": 95, "channel": "Twitter"})
    assert (updated["custom"]["lead_score"], updated["custom"]["channel"]) == (95, "Twitter")

    removed = client.remove_custom(cid, ["channel", "pro"])
    assert "channel" not in removed["custom"]
    assert "pro" not in removed["custom"]
    assert removed["custom"]["lead_score"] == 95
    assert client.get_customer(cid)["attributes"]["custom"] == removed["custom"]


def test_custom_by_email(client: Client) -> None:
    email = shared_email(client)
    result = client.add_custom_by_email(email, [{"type": "Integer", "key": "seats", "value": 12}])
    assert len(result["entries"]) >= 2
    assert all(entry["attributes"]["custom"]["seats"] == 12 for entry in result["entries"])


def test_request_and_request_raw(client: Client) -> None:
    decoded = client.request("GET", "customers", params={"page": 1, "per_page": 2})
    raw = client.request_raw("GET", "/customers", params={"per_page": 2, "page": 1})
    assert isinstance(raw, bytes)
    assert raw.startswith(b"{")
    assert len(decoded["entries"]) == 2
    with pytest.raises(ValidationError, match="relative to the API base URL"):
        client.request("GET", "https://evil.example.com/steal")


# ---------------------------------------------------------------- argument validation


BAD_CALLS: list[tuple[str, Callable[[Client], object], str]] = [
    ("empty tags", lambda c: c.add_tags(1, []), "tags is empty"),
    ("a str as tags", lambda c: c.add_tags(1, "vip"), "tags must be a list"),
    ("non-str tag", lambda c: c.add_tags(1, ["ok", 3]), "non-empty strings"),  # type: ignore[list-item]
    ("blank tag", lambda c: c.remove_tags(1, [" "]), "non-empty strings"),
    ("tags by email, no email", lambda c: c.add_tags_by_email("", ["x"]), "email"),
    ("bad customer id", lambda c: c.add_tags("1/../2", ["x"]), "customer_id"),
    ("bool customer id", lambda c: c.get_customer(True), "customer_id"),
    ("negative customer id", lambda c: c.get_attributes(-3), "customer_id"),
    ("reserved customer id", lambda c: c.get_customer("search"), "customer_id"),
    ("empty custom", lambda c: c.add_custom(1, []), "custom is empty"),
    (
        "unknown type",
        lambda c: c.add_custom(1, [{"type": "Float", "key": "k", "value": 1.5}]),  # type: ignore[typeddict-item]
        "unknown type 'Float'",
    ),
    (
        "bad key",
        lambda c: c.add_custom(1, [{"type": "String", "key": "utm.source", "value": "x"}]),
        "'utm.source' is not allowed",
    ),
    (
        "value not of its type",
        lambda c: c.add_custom_by_email("a@b.c", [{"type": "Integer", "key": "n", "value": "x"}]),
        r"custom\[0\] \(n\): a Integer value must be an int",
    ),
    (
        "string too long",
        lambda c: c.add_custom(1, [{"type": "String", "key": "s", "value": "x" * 256}]),
        "at most 255",
    ),
    ("remove no keys", lambda c: c.remove_custom(1, []), "keys is empty"),
    ("remove bad key", lambda c: c.remove_custom(1, ["a-b"]), "'a-b' is not allowed"),
    ("update nothing", lambda c: c.update_custom(1, {}), "custom is empty"),
    ("update to None", lambda c: c.update_custom(1, {"k": None}), "remove_custom"),
    ("update bad key", lambda c: c.update_custom(1, {"a b": 1}), "'a b' is not allowed"),
    ("page 0", lambda c: c.list_customers(page=0), "page must be"),
    ("per_page 201", lambda c: c.list_customers(per_page=201), "per_page must be"),
    ("iter per_page 0", lambda c: c.iter_pages(per_page=0), "per_page must be"),
    ("search no email", lambda c: c.search_customers(" "), "email must be"),
]


@pytest.mark.parametrize(("case", "call", "message"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_invalid_arguments_raise_before_anything_is_sent(
    client: Client, emulator: Emulator, case: str, call: Callable[[Client], object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        call(client)
    assert emulator.request_log() == []


# ---------------------------------------------------------------- configuration


def test_credentials_and_base_url_from_the_environment(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHARTMOGUL_ACCOUNT_TOKEN", emulator.token)
    monkeypatch.setenv("CHARTMOGUL_SECRET_KEY", emulator.secret)
    monkeypatch.setenv("CHARTMOGUL_API_URL", emulator.url.rstrip("/"))
    with Client(cache_dir=tmp_path) as client:
        assert client.base_url == emulator.url
        assert len(client.list_customers(per_page=3)["entries"]) == 3
    assert emulator.request_log()[0]["account"] == emulator.token


def test_default_base_url_is_the_public_api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CHARTMOGUL_API_URL", raising=False)
    with Client("t", "s", cache=False, cache_dir=tmp_path) as client:
        assert client.base_url == "https://api.chartmogul.com/v1/"


@pytest.mark.parametrize(
    ("token", "secret", "missing"),
    [
        (None, None, "cm.Client(api_key=...) or the environment variable CHARTMOGUL_API_KEY"),
        ("tok", None, "missing the secret key (secret= or CHARTMOGUL_SECRET_KEY)"),
        ("", "sec", "missing the account token"),
    ],
)
def test_missing_credentials_say_where_to_set_them(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    token: str | None,
    secret: str | None,
    missing: str,
) -> None:
    for name in ("CHARTMOGUL_ACCOUNT_TOKEN", "CHARTMOGUL_SECRET_KEY", "CHARTMOGUL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(MissingCredentials) as caught:
        Client(token, secret, cache_dir=tmp_path)
    text = str(caught.value)
    assert missing in text
    assert "cm.Client(token=..., secret=...)" in text
    assert "CHARTMOGUL_ACCOUNT_TOKEN and CHARTMOGUL_SECRET_KEY" in text
    assert "cm.Client(api_key=...)" in text
    assert isinstance(caught.value, ValidationError)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_plain_http_is_refused_except_to_loopback(emulator: Emulator, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="requires HTTPS"):
        Client("t", "s", "http://api.chartmogul.com/v1/", cache_dir=tmp_path)
    localhost = emulator.url.replace("127.0.0.1", "localhost")
    with Client(emulator.token, emulator.secret, localhost, cache_dir=tmp_path) as client:
        assert len(client.list_customers(per_page=1)["entries"]) == 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("max_workers", 21, "max_workers must be an int from 1 to 20"),
        ("max_workers", 0, "max_workers"),
        ("rate_limit", 0, "rate_limit must be a number > 0"),
        ("retry_for", -1, "retry_for must be a number >= 0"),
        ("backoff", -0.5, "backoff must be a number >= 0"),
        ("backoff", True, "backoff must be a number >= 0"),
        ("timeout", (1, 2, 3), "timeout must be"),
    ],
)
def test_bad_options_are_refused(tmp_path: Path, option: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Client("t", "s", cache_dir=tmp_path, **{option: value})


def test_backoff_is_the_base_delay_of_the_retries(tmp_path: Path) -> None:
    with (
        Client("t", "s", cache_dir=tmp_path) as default,
        Client("t", "s", cache_dir=tmp_path, backoff=0.01) as quick,
    ):
        assert default.backoff == 0.25
        assert quick.backoff == 0.01


def test_repr_shows_url_token_prefix_and_cache_but_never_the_secret(client: Client) -> None:
    text = repr(client)
    assert client.base_url in text
    assert "token='emul…'" in text
    assert "cache=on" in text
    assert client._session.auth.password not in text  # type: ignore[union-attr]
    assert str(client) == text


def test_a_closed_client_refuses_requests(make_client: MakeClient) -> None:
    client = make_client()
    with client:
        client.list_customers(per_page=1)
    client.close()  # idempotent
    with pytest.raises(ValidationError, match="closed"):
        client.list_customers(per_page=1)


# ---------------------------------------------------------------- pagination


@pytest.mark.parametrize("count", [0, 1, 199, 200, 201, 401])
def test_iter_pages_yields_every_customer_once_in_order(
    emulator: Emulator, make_client: MakeClient, count: int
) -> None:
    token = f"pages-{count}"
    emulator.add_account(token, "pages-secret", customers=count, seed=count)
    client = make_client(token, "pages-secret", max_workers=4)

    pages = list(client.iter_pages(cache=False))
    raw_pages = list(client.iter_pages(raw=True, cache=False))

    assert len(pages) == len(raw_pages) == max(1, math.ceil(count / 200))
    assert [p["page"] for p in pages] == list(range(1, len(pages) + 1))
    assert [p["has_more"] for p in pages] == [True] * (len(pages) - 1) + [False]
    customers = [c for page in pages for c in page["entries"]]
    ids = [c["id"] for c in customers]
    assert len(ids) == count
    assert len(set(ids)) == count
    # the API's order: ascending customer-since instant, ties by id
    order = [(datetime.fromisoformat(c["customer-since"]), c["id"]) for c in customers]
    assert order == sorted(order)
    assert b"".join(raw_pages).count(b'"uuid"') == count

    # Speculative pages past the end were requested but never yielded.
    requested = {int(e["query"]["page"]) for e in emulator.request_log()}
    assert max(requested) > len(pages)


def test_iter_pages_in_small_pages_equals_one_sequential_walk(client: Client) -> None:
    parallel = [c["id"] for page in client.iter_pages(per_page=25) for c in page["entries"]]
    sequential: list[int] = []
    page_number = 1
    while True:
        page = client.list_customers(page=page_number, per_page=25, refresh=True)
        sequential += [c["id"] for c in page["entries"]]
        if not page["has_more"]:
            break
        page_number += 1
    assert parallel == sequential
    assert len(parallel) == 300


def test_iter_pages_can_stop_early(client: Client, emulator: Emulator) -> None:
    pages = client.iter_pages(per_page=10, cache=False)
    first = next(pages)
    pages.close()
    assert len(first["entries"]) == 10
    assert len(emulator.request_log()) <= 2 * client.max_workers


# ---------------------------------------------------------------- faults, retries, errors


def test_reads_through_injected_faults_equal_a_clean_read(
    emulator: Emulator, make_client: MakeClient
) -> None:
    clean_client = make_client(cache=False)
    clean = list(clean_client.iter_pages(per_page=20))
    one = clean[3]["entries"][5]
    emulator.clear_request_log()

    emulator.set_faults(error_rate=0.25, throttle_rate=0.1, drop_rate=0.1, retry_after_s=0)
    client = make_client(cache=False, max_workers=4)
    assert list(client.iter_pages(per_page=20)) == clean
    assert client.get_customer(one["id"]) == one
    assert client.search_customers(str(one["email"]))["entries"] != []

    statuses = {entry["status"] for entry in emulator.request_log()}
    assert statuses & {0, 429, 500, 502, 503, 504}, "no fault was injected; the test proved nothing"


def test_raw_pages_through_faults_equal_clean_raw_pages(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client(cache=False, max_workers=4)
    clean = list(client.iter_pages(per_page=25, raw=True))
    emulator.set_faults(error_rate=0.3, drop_rate=0.1, retry_after_s=0)
    assert list(client.iter_pages(per_page=25, raw=True)) == clean
    assert {e["status"] for e in emulator.request_log()} & {0, 500, 502, 503, 504}


def test_retry_after_longer_than_the_budget_gives_up_with_rate_limited(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client(retry_for=0.5)
    emulator.set_faults(throttle_rate=1.0, retry_after_s=30)
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        client.list_customers(per_page=1)
    assert time.monotonic() - started < 10  # did not wait the 30 s out
    assert caught.value.status == 429
    assert len(emulator.request_log()) == 1


def test_exhausted_retries_on_server_errors_carry_the_last_status(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client(retry_for=0.3)
    emulator.set_faults(error_rate=1.0)
    with pytest.raises(APIError) as caught:
        client.get_customer(1)
    status = caught.value.status
    assert status in {500, 502, 503, 504}
    assert f"injected server error {status}" in caught.value.message  # the last answer's
    assert len(emulator.request_log()) >= 2


@pytest.mark.parametrize(
    ("status", "error", "call"),
    [
        (400, BadRequest, lambda c, cid: c.request("GET", "customers", params={"page": 0})),
        (402, RequestFailed, lambda c, cid: c.update_custom(cid, {"no_such_key": 1})),
        (404, NotFound, lambda c, cid: c.get_customer(987654321)),
    ],
)
def test_client_errors_are_typed_and_not_retried(
    client: Client,
    emulator: Emulator,
    status: int,
    error: type[APIError],
    call: Callable[[Client, int], object],
) -> None:
    cid = first_customers(client, 1)[0]["id"]
    emulator.clear_request_log()
    with pytest.raises(error) as caught:
        call(client, cid)
    assert caught.value.status == status
    assert caught.value.message  # the server's message, naming what was wrong
    assert caught.value.method in {"GET", "PUT"}
    assert len(emulator.request_log()) == 1


def test_wrong_secret_is_unauthorized_once_and_never_shows_the_secret(
    make_client: MakeClient, emulator: Emulator
) -> None:
    wrong = "wrong-secret-Zq81"
    client = make_client(secret=wrong)
    with pytest.raises(Unauthorized) as caught:
        client.list_customers(per_page=1)
    assert caught.value.status == 401
    assert "CHARTMOGUL_SECRET_KEY" in str(caught.value)  # the hint says where to fix it
    assert len(emulator.request_log()) == 1
    for text in (str(caught.value), repr(caught.value), repr(caught.value.body)):
        assert wrong not in text
        assert emulator.secret not in text


# ---------------------------------------------------------------- rate limit and concurrency


def test_rate_limit_spaces_requests(make_client: MakeClient, emulator: Emulator) -> None:
    client = make_client(cache=False, rate_limit=20, max_workers=4)
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda page: client.list_customers(page=page, per_page=1), range(1, 12)))
    elapsed = time.monotonic() - started
    assert elapsed >= 10 / 20 - 0.05  # 11 requests at 20/s: at least 10 intervals of 50 ms
    arrivals = sorted(entry["time"] for entry in emulator.request_log())
    assert len(arrivals) == 11
    assert arrivals[-1] - arrivals[0] >= 10 / 20 - 0.05


def test_at_most_max_workers_requests_in_flight(
    make_client: MakeClient, emulator: Emulator
) -> None:
    latency = 0.1
    emulator.set_faults(latency_ms=latency * 1000)
    client = make_client(cache=False, max_workers=3)
    with ThreadPoolExecutor(8) as pool:  # more callers than slots
        list(pool.map(lambda page: client.list_customers(page=page, per_page=1), range(1, 13)))
    pages = list(client.iter_pages(per_page=30, raw=True))
    assert len(pages) == 10
    # Each request stays in flight for at least `latency`, so 4 arrivals within less than
    # that would mean 4 at once.
    arrivals = sorted(entry["time"] for entry in emulator.request_log())
    gaps = [arrivals[i + 3] - arrivals[i] for i in range(len(arrivals) - 3)]
    assert min(gaps) >= latency - 0.01
    # ...and the client did run 3 at once (the bound is reached, not trivially met).
    assert min(arrivals[i + 2] - arrivals[i] for i in range(len(arrivals) - 2)) < latency


def test_methods_are_safe_from_many_threads(client: Client) -> None:
    customers = first_customers(client, 40)
    with ThreadPoolExecutor(8) as pool:
        fetched = list(pool.map(lambda c: client.get_customer(c["id"]), customers * 3))
    assert fetched == customers * 3
    with ThreadPoolExecutor(8) as pool:
        tagged = list(pool.map(lambda c: client.add_tags(c["id"], ["threaded"]), customers))
    assert all("threaded" in t["tags"] for t in tagged)
    assert client.write_generation == 40


# ---------------------------------------------------------------- cache


def test_second_read_is_a_cache_hit_and_refresh_bypasses_it(
    client: Client, emulator: Emulator
) -> None:
    first = client.list_customers(per_page=3)
    assert client.list_customers(per_page=3) == first
    assert len(emulator.request_log()) == 1
    assert client.list_customers(per_page=3, refresh=True) == first
    assert len(emulator.request_log()) == 2
    assert client.list_customers(per_page=3) == first  # refresh stored it anew
    assert len(emulator.request_log()) == 2


def test_a_write_invalidates_that_customers_urls_searches_and_list_pages(
    client: Client, emulator: Emulator
) -> None:
    target, other = first_customers(client, 2)
    cid = target["id"]

    def reads() -> dict[str, Any]:
        return {
            "by_id": client.get_customer(cid),
            "by_uuid": client.get_customer(target["uuid"]),
            "attributes": client.get_attributes(cid),
            "search": client.search_customers(str(target["email"])),
            "list": client.list_customers(per_page=5),
            "other": client.get_customer(other["id"]),
        }

    reads()
    emulator.clear_request_log()
    reads()
    assert emulator.request_log() == []  # all cached

    client.add_tags(cid, ["fresh_tag"])
    emulator.clear_request_log()
    after = reads()
    refetched = api_log(emulator)
    assert ("GET", f"/v1/customers/{cid}") in refetched
    assert ("GET", f"/v1/customers/{target['uuid']}") in refetched
    assert ("GET", f"/v1/customers/{cid}/attributes") in refetched
    assert ("GET", "/v1/customers/search") in refetched
    assert ("GET", "/v1/customers") in refetched
    assert ("GET", f"/v1/customers/{other['id']}") not in refetched  # not over-invalidated
    assert "fresh_tag" in after["by_id"]["attributes"]["tags"]
    assert "fresh_tag" in after["by_uuid"]["attributes"]["tags"]
    assert "fresh_tag" in after["attributes"]["attributes"]["tags"]
    listed = next(c for c in after["list"]["entries"] if c["id"] == cid)
    assert "fresh_tag" in listed["attributes"]["tags"]
    searched = next(c for c in after["search"]["entries"] if c["id"] == cid)
    assert "fresh_tag" in searched["attributes"]["tags"]


def test_a_write_by_email_invalidates_that_search_only(client: Client, emulator: Emulator) -> None:
    email = shared_email(client)
    other = next(c for c in first_customers(client, 20) if str(c["email"]).lower() != email)
    client.search_customers(email)
    client.search_customers(str(other["email"]))
    emulator.clear_request_log()

    written = client.add_custom_by_email(email, [{"type": "String", "key": "src", "value": "x"}])
    assert client.search_customers(email)["entries"][0]["attributes"]["custom"]["src"] == "x"
    client.search_customers(str(other["email"]))
    searches = [e["query"]["email"] for e in emulator.request_log() if e["method"] == "GET"]
    assert searches == [email]
    assert len(written["entries"]) >= 2


def test_write_hooks_and_generation(client: Client) -> None:
    calls: list[list[int]] = []
    assert client.on_write(calls.append) == calls.append
    cid = first_customers(client, 1)[0]["id"]
    assert client.write_generation == 0
    client.add_tags(cid, ["a"])
    client.remove_tags(cid, ["a"])
    email = shared_email(client)
    result = client.add_tags_by_email(email, ["b"])
    assert calls == [[cid], [cid], sorted(e["id"] for e in result["entries"])]
    assert client.write_generation == 3
    with pytest.raises(NotFound):
        client.add_tags(987654321, ["x"])
    assert client.write_generation == 3  # a failed write changes nothing


def test_cache_clear_and_cache_off(make_client: MakeClient, emulator: Emulator) -> None:
    client = make_client()
    client.list_customers(per_page=2)
    client.cache_clear()
    client.list_customers(per_page=2)
    assert len(emulator.request_log()) == 2

    uncached = make_client(cache=False)
    assert uncached.cache_file is None
    assert "cache=off" in repr(uncached)
    uncached.list_customers(per_page=2)
    uncached.list_customers(per_page=2)
    assert len(emulator.request_log()) == 4


def test_iter_pages_without_cache_neither_reads_nor_fills_it(
    client: Client, emulator: Emulator
) -> None:
    list(client.iter_pages(per_page=100, cache=False))
    emulator.clear_request_log()
    client.list_customers(page=1, per_page=100)  # not filled by the uncached walk
    assert len(emulator.request_log()) == 1
    emulator.clear_request_log()
    list(client.iter_pages(per_page=100, cache=False))  # not read from the cache either
    assert ("GET", "/v1/customers") in api_log(emulator)
    assert {int(e["query"]["page"]) for e in emulator.request_log()} >= {1, 2, 3}


def test_expire_after_zero_stores_nothing(make_client: MakeClient, emulator: Emulator) -> None:
    client = make_client(expire_after=0)
    client.list_customers(per_page=2)
    client.list_customers(per_page=2)
    assert len(emulator.request_log()) == 2


def test_accounts_get_separate_private_cache_files(
    make_client: MakeClient, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.add_account("second-token", "second-secret", customers=3, seed=1)
    first = make_client()
    second = make_client("second-token", "second-secret")
    first.list_customers(per_page=3)
    second.list_customers(per_page=3)
    assert first.account_hash != second.account_hash
    assert len(first.account_hash) == 16
    assert first.cache_dir == tmp_path / first.account_hash
    assert first.cache_file is not None
    assert second.cache_file is not None
    assert first.cache_file.parent == first.cache_dir
    assert second.list_customers(per_page=3) != first.list_customers(per_page=3)

    for client in (first, second):
        assert stat.S_IMODE(os.stat(client.cache_dir).st_mode) == 0o700
        files = list(client.cache_dir.iterdir())
        assert {f.name for f in files} >= {"http_cache.sqlite", "http_cache.sqlite-wal"}
        for path in files:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path.name


def test_cache_files_are_private_even_with_a_lax_umask(emulator: Emulator, tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        with Client(emulator.token, emulator.secret, emulator.url, cache_dir=tmp_path / "c") as c:
            c.list_customers(per_page=1)
            modes = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in c.cache_dir.iterdir()}
            dir_mode = stat.S_IMODE(os.stat(c.cache_dir).st_mode)
    finally:
        os.umask(old)
    assert dir_mode == 0o700
    assert modes
    assert set(modes.values()) == {0o600}, modes


def test_the_secret_is_nowhere(
    make_client: MakeClient, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, requests-cache's and urllib3's too
    client = make_client()
    secret = emulator.secret
    basic = base64.b64encode(f"{emulator.token}:{secret}".encode())
    cid = first_customers(client, 1)[0]["id"]
    client.get_customer(cid)
    client.get_customer(cid)
    client.add_tags(cid, ["x"])
    client.get_attributes(cid)
    errors: list[BaseException] = []
    for call in (
        lambda: client.get_customer(987654321),
        lambda: make_client(retry_for=0).request("GET", "customers", params={"page": -1}),
    ):
        try:
            call()
        except APIError as exc:
            errors.append(exc)
    assert len(errors) == 2
    assert client.cache_file is not None
    data = b"".join(p.read_bytes() for p in client.cache_dir.iterdir())
    client.close()  # checkpoints the WAL into the main file
    data += client.cache_file.read_bytes()
    assert b"REDACTED" in data  # requests-cache stored the request, with its auth header redacted
    for needle in (secret.encode(), basic):
        assert needle not in data
    texts = [repr(client), str(client), caplog.text]
    texts += [str(e) for e in errors] + [repr(e) for e in errors] + [repr(vars(e)) for e in errors]
    for text in texts:
        assert secret not in text
        assert basic.decode() not in text


# ---------------------------------------------------------------- logging


def test_one_debug_line_per_attempt(
    make_client: MakeClient, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cm_frames")
    client = make_client()
    cid = first_customers(client, 1)[0]["id"]
    caplog.clear()
    client.get_customer(cid)
    client.get_customer(cid)
    records = [r for r in caplog.records if r.name == "cm_frames"]
    assert len(records) == 2
    miss, hit = records
    assert miss.levelno == logging.DEBUG
    assert miss.getMessage().startswith(f"GET /v1/customers/{cid} -> 200 in ")
    assert miss.getMessage().endswith(" ms (cache miss)")
    assert hit.getMessage().endswith(" ms (cache hit)")
    assert (miss.cm_method, miss.cm_path, miss.cm_status, miss.cm_cache_hit) == (  # type: ignore[attr-defined]
        "GET",
        f"/v1/customers/{cid}",
        200,
        False,
    )
    assert hit.cm_cache_hit is True  # type: ignore[attr-defined]
    assert isinstance(miss.cm_elapsed_ms, float)  # type: ignore[attr-defined]

    # With faults, still exactly one line per attempt the server saw.
    emulator.set_faults(error_rate=0.3, drop_rate=0.1, retry_after_s=0)
    emulator.clear_request_log()
    caplog.clear()
    uncached = make_client(cache=False)
    for page in range(1, 16):
        uncached.list_customers(page=page, per_page=10)
    lines = [r for r in caplog.records if r.name == "cm_frames" and r.levelno == logging.DEBUG]
    assert len(lines) == len(emulator.request_log()) > 15
    assert {str(r.cm_status) for r in lines} > {"200"}  # type: ignore[attr-defined]
    # And one INFO line per retry: every failed attempt here was retried.
    retries = [r for r in caplog.records if r.name == "cm_frames" and r.levelno == logging.INFO]
    failed = [e for e in emulator.request_log() if e["status"] != 200]
    assert len(retries) == len(failed) > 0


def test_debug_lines_from_threads_are_one_per_request(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, emulator: Emulator
) -> None:
    caplog.set_level(logging.DEBUG, logger="cm_frames")
    client = make_client(cache=False, max_workers=4)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda page: client.list_customers(page=page, per_page=5), range(1, 9)))
    assert len([r for r in caplog.records if r.name == "cm_frames"]) == 8
    assert len(emulator.request_log()) == 8


def test_only_successful_gets_are_cached(client: Client, emulator: Emulator) -> None:
    for _ in range(2):
        with pytest.raises(NotFound):
            client.get_customer(987654321)
    assert len(emulator.request_log()) == 2  # a 404 is not stored
    cid = first_customers(client, 1)[0]["id"]
    emulator.clear_request_log()
    for _ in range(2):
        client.add_tags(cid, ["again"])
    assert api_log(emulator) == [("POST", f"/v1/customers/{cid}/attributes/tags")] * 2
