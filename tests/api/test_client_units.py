"""The client's pure helpers: base URL checks, Retry-After, backoff, page scans, cache keys, pacing."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from cm_frames.api.cache import ResourceKeys, StaleEntries, email_digest, written_customers
from cm_frames.api.http import error_message, normalise_base_url
from cm_frames.api.paging import page_has_more
from cm_frames.api.ratelimit import RequestLimiter
from cm_frames.api.retry import backoff_delay
from cm_frames.api.retry import parse_retry_after as retry_after
from cm_frames.errors import ValidationError

# ---------------------------------------------------------------- base URL


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.chartmogul.com/v1", "https://api.chartmogul.com/v1/"),
        ("https://api.chartmogul.com/v1///", "https://api.chartmogul.com/v1/"),
        ("http://127.0.0.1:8123/v1/", "http://127.0.0.1:8123/v1/"),
        ("http://127.8.9.10/v1", "http://127.8.9.10/v1/"),
        ("http://localhost:9/v1", "http://localhost:9/v1/"),
        ("http://[::1]:9/v1", "http://[::1]:9/v1/"),
        ("https://example.com", "https://example.com/"),
    ],
)
def test_base_url_is_normalised_to_one_trailing_slash(given: str, expected: str) -> None:
    assert normalise_base_url(given) == expected


@pytest.mark.parametrize(
    "url", ["http://api.chartmogul.com/v1/", "http://10.0.0.1/v1", "http://128.0.0.1/v1"]
)
def test_plain_http_is_refused_for_non_loopback_hosts(url: str) -> None:
    with pytest.raises(ValidationError, match="requires HTTPS"):
        normalise_base_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://user:pw@api.chartmogul.com/v1/", "must not contain credentials"),
        ("ftp://api.chartmogul.com/v1/", "absolute https://"),
        ("api.chartmogul.com/v1", "absolute https://"),
        ("https://api.chartmogul.com/v1/?x=1", "query"),
    ],
)
def test_malformed_base_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as caught:
        normalise_base_url(url)
    assert "pw" not in str(caught.value)


# ---------------------------------------------------------------- Retry-After, backoff


def test_retry_after_in_seconds() -> None:
    assert retry_after("3") == 3.0
    assert retry_after(" 0 ") == 0.0
    assert retry_after("-5") == 0.0
    assert retry_after(None) is None
    assert retry_after("soon") is None


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert retry_after(header, now=now) == pytest.approx(7.0)
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert retry_after(past, now=now) == 0.0


def test_backoff_is_full_jitter_bounded_by_the_exponential_and_the_cap() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        bound = min(10.0, 0.25 * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, base=0.25, cap=10.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= d <= bound for d in delays)
        # full jitter: spread over the whole range, not clustered at the bound
        assert min(delays) < bound * 0.1
        assert max(delays) > bound * 0.9


def test_error_message_prefers_the_json_message_then_the_text() -> None:
    assert error_message(b'{"code": 400, "message": "page: must be >= 1"}', "Bad Request") == (
        "page: must be >= 1",
        {"code": 400, "message": "page: must be >= 1"},
    )
    assert error_message(b"upstream timed out", "Gateway Timeout")[0] == "upstream timed out"
    assert error_message(b"", "Bad Gateway")[0] == "Bad Gateway"


# ---------------------------------------------------------------- has_more scan


def _page(entries: list[dict[str, object]], has_more: bool) -> bytes:
    return json.dumps(
        {"entries": entries, "has_more": has_more, "per_page": 200, "page": 1},
        separators=(",", ":"),
    ).encode()


@pytest.mark.parametrize("has_more", [True, False])
def test_has_more_of_a_large_page_is_read_from_its_tail(has_more: bool) -> None:
    # A customer's own custom key named has_more, with the opposite value, must not fool it.
    entries = [
        {"id": i, "name": "x" * 100, "attributes": {"custom": {"has_more": not has_more}}}
        for i in range(100)
    ]
    body = _page(entries, has_more)
    assert len(body) > 4096
    assert page_has_more(body) == (has_more, None)


def test_has_more_falls_back_to_a_full_decode_when_the_flag_comes_first() -> None:
    entries = [{"id": i, "attributes": {"custom": {"has_more": True}}} for i in range(200)]
    body = json.dumps({"has_more": False, "page": 1, "per_page": 200, "entries": entries}).encode()
    assert page_has_more(body) == (False, 200)


def test_small_pages_are_decoded_and_counted() -> None:
    assert page_has_more(_page([], True)) == (True, 0)
    assert page_has_more(b'{"entries": [{"id": 1}], "has_more": false}') == (False, 1)
    with pytest.raises(ValueError, match="entries"):
        page_has_more(b'{"has_more": true}')
    with pytest.raises(ValueError, match="Expecting value"):
        page_has_more(b"<html>busy</html>")


# ---------------------------------------------------------------- cache keys and staleness


def _key(url: str) -> str:
    return ResourceKeys("http://127.0.0.1:1/v1/")(requests.Request("GET", url).prepare())


def test_cache_keys_name_the_resource_they_cache() -> None:
    base = "http://127.0.0.1:1/v1/"
    assert _key(base + "customers?page=2&per_page=200").startswith("list:")
    assert _key(base + "customers/25647").startswith("customer-25647:")
    assert _key(base + "customers/25647/attributes").startswith("customer-25647:")
    assert _key(base + "customers/cus_ab-12").startswith("customer-cus_ab-12:")
    search = _key(base + "customers/search?email=Bob%40Example.com")
    assert search.startswith(f"search-{email_digest('bob@example.com')}:")
    assert _key(base + "customers/a%27b").startswith("other:")  # never a quote in a key
    assert _key("http://127.0.0.1:1/elsewhere/customers").startswith("other:")
    # different URLs of one resource still get different keys
    assert _key(base + "customers/1") != _key(base + "customers/1/attributes")


def test_a_write_by_id_makes_that_customer_every_uuid_search_and_list_page_stale() -> None:
    stale = StaleEntries(ids=["7"], uuids=[], ids_known=True, uuids_known=False, emails=None)
    assert stale("list:abc")
    assert stale("customer-7:abc")
    assert not stale("customer-8:abc")
    assert stale("customer-cus_x:abc")  # its uuid is unknown: every uuid entry goes
    assert stale(f"search-{email_digest('a@b.c')}:abc")
    assert not stale("other:abc")


def test_a_write_by_email_makes_only_the_named_customers_and_search_stale() -> None:
    stale = StaleEntries(
        ids=["7", "9"], uuids=["cus_7", "cus_9"], ids_known=True, uuids_known=True, emails=["A@b.c"]
    )
    assert stale("list:abc")
    assert stale("customer-9:abc")
    assert stale("customer-cus_7:abc")
    assert not stale("customer-8:abc")
    assert not stale("customer-cus_8:abc")
    assert stale(f"search-{email_digest('a@b.c')}:abc")
    assert not stale(f"search-{email_digest('z@b.c')}:abc")


# ---------------------------------------------------------------- pacing


def test_limiter_spaces_request_starts_across_threads() -> None:
    limiter = RequestLimiter(rate=50, max_in_flight=4)
    starts: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        with limiter.slot(), lock:
            starts.append(time.monotonic())

    threads = [threading.Thread(target=one) for _ in range(11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    # The k-th start can come no sooner than k intervals after the first. A busy machine only
    # delays threads, so this holds under load, where the gap between two neighbours does not
    # (a late waker shortens the gap after it: seen at 4 ms of 20 with the suite under load).
    for k, start in enumerate(starts):
        assert start - starts[0] >= k / 50 - 0.005, (k, start - starts[0])


def test_limiter_pause_is_shared_and_only_ever_lengthened() -> None:
    limiter = RequestLimiter(rate=None, max_in_flight=2)
    assert limiter.paused_for() == 0
    limiter.pause(5)
    limiter.pause(1)  # a shorter Retry-After from another request does not shorten it
    assert 4 < limiter.paused_for() <= 5


def test_limiter_caps_the_requests_in_flight() -> None:
    limiter = RequestLimiter(rate=None, max_in_flight=3)
    in_flight = peak = 0
    lock = threading.Lock()
    release = threading.Event()
    entered = threading.Semaphore(0)

    def one() -> None:
        nonlocal in_flight, peak
        with limiter.slot():
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            entered.release()
            release.wait(5)
            with lock:
                in_flight -= 1

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for _ in range(3):
        assert entered.acquire(timeout=5)
    assert not entered.acquire(timeout=0.2)  # a fourth cannot get in while three hold slots
    release.set()
    for thread in threads:
        thread.join()
    assert peak == 3


def test_written_customers_by_uuid_and_by_unknown_paths() -> None:
    by_uuid = written_customers("customers/cus_9/attributes/tags", {"tags": ["x"]}, b'{"tags":[]}')
    assert by_uuid.ids == []
    assert by_uuid.stale("customer-cus_9:k")
    assert by_uuid.stale("customer-12:k")  # its id is unknown: every id entry goes
    assert not by_uuid.stale("customer-cus_8:k")

    by_id = written_customers("customers/12/attributes/custom", {"custom": ["a"]}, b"")
    assert by_id.ids == [12]
    assert not by_id.stale("customer-13:k")

    unknown = written_customers("somewhere/else", None, b"{}")
    assert unknown.ids == []
    assert all(unknown.stale(k) for k in ("customer-1:k", "customer-cus_1:k", "search-ab:k"))
    assert not unknown.stale("other:k")
