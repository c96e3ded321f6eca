"""Today's cursor walk in parts (``cm_frames.api.cursors``), against today's emulator.

Small pages (``per_page=10``) over the session's 300 customers make thirty pages, enough for
ranges and status parts; ``max_workers=1`` walks the parts one after the other, in the order
they are planned, so a change made after the n-th list request lands at a known point.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import cm_frames as cm
from cm_frames.api.cursors import (
    STATUSES,
    Forget,
    Rows,
    decode_cursor,
    encode_cursor,
    order_key,
    position_of,
    walk_customers,
)
from cm_frames.emulator import Emulator

PER_PAGE = 10


def _client(emulator: Emulator, tmp_path: Path, **options: Any) -> cm.Client:
    return cm.Client(
        api_key=emulator.api_key,
        base_url=emulator.url,
        cache_dir=tmp_path,
        rate_limit=None,
        **options,
    )


def _walk(client: cm.Client, **options: Any) -> dict[int, dict[str, Any]]:
    """What a consumer ends with: rows by id, forgotten ones dropped; no id given twice."""
    held: dict[int, dict[str, Any]] = {}
    for event in client.walk_customers(per_page=PER_PAGE, **options):
        if isinstance(event, Rows):
            for entry in event.entries:
                assert entry["id"] not in held, f"customer {entry['id']} given twice"
                held[entry["id"]] = entry
        else:
            assert isinstance(event, Forget)
            for customer_id in event.ids:
                held.pop(customer_id)
    return held


def _sequential(client: cm.Client) -> list[dict[str, Any]]:
    pages = client.iter_pages(per_page=PER_PAGE, cache=False)
    return [entry for page in pages for entry in page["entries"]]


def _in_order(held: dict[int, dict[str, Any]]) -> list[int]:
    return [e["id"] for e in sorted(held.values(), key=lambda e: order_key(position_of(e)))]


@pytest.fixture
def client(current_emulator: Emulator, tmp_path: Path) -> Iterator[cm.Client]:
    with _client(current_emulator, tmp_path, max_workers=4) as c:
        yield c


def test_the_recorded_cursor_format_round_trips() -> None:
    recorded = "MjAyMy0xMC0yN1QwNzozMTo1NC40MzQzNDkwMDBaJjEwOTk1MzI="  # chartmogul-ruby cassette
    position = decode_cursor(recorded)
    assert position is not None
    assert position[1] == 1099532
    assert encode_cursor(position) == recorded
    assert base64.b64decode(encode_cursor((None, 5))) == b"&5"
    assert decode_cursor("bm90IGEgY3Vyc29y") is None  # base64 of "not a cursor"


def test_the_order_puts_customers_without_customer_since_last() -> None:
    dated = {"id": 9, "customer-since": "2016-01-01T12:00:00+00:00"}
    earlier = {"id": 10, "customer-since": "2015-11-01T00:00:00.000Z"}
    lead = {"id": 1, "customer-since": None}
    ordered = sorted([lead, dated, earlier], key=lambda e: order_key(position_of(e)))
    assert [e["id"] for e in ordered] == [10, 9, 1]


def test_ranges_walk_every_customer_once_in_the_api_s_order(
    client: cm.Client, current_emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cm_frames")
    sequential = _sequential(client)
    current_emulator.clear_request_log()
    held = _walk(client)
    assert _in_order(held) == [e["id"] for e in sequential]
    assert len(held) == 300
    assert not [r for r in caplog.records if "falling back" in r.getMessage()]
    starts = {
        decode_cursor(e["query"]["cursor"])
        for e in current_emulator.request_log()
        if "cursor" in e["query"]
    }
    # The parts started at crafted cursors ("<time>&0", "&0"), not only at the answers'.
    assert sum(1 for p in starts if p is not None and p[1] == 0) >= 8


def test_opaque_cursors_fall_back_to_status_parts_saying_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cm_frames")
    with (
        Emulator(customers=300, seed=7, dialect="current", cursors="opaque") as emulator,
        _client(emulator, tmp_path, max_workers=4) as client,
    ):
        held = _walk(client)
        assert _in_order(held) == [e["id"] for e in _sequential(client)]
        statuses = {e["query"].get("status") for e in emulator.request_log()}
    assert "not in the recorded format; walking by status" in caplog.text
    assert set(STATUSES) <= statuses


def _one_with(emulator: Emulator, client: cm.Client, status: str) -> dict[str, Any]:
    return next(e for e in _sequential(client) if e["status"] == status)


def test_a_customer_moved_to_a_part_already_walked_is_read_again_not_lost(
    current_emulator: Emulator, tmp_path: Path
) -> None:
    with _client(current_emulator, tmp_path, max_workers=1) as client:
        mover = _one_with(current_emulator, client, "Cancelled")
        # Status parts in STATUSES order: the mover leaves Cancelled (walked last) for New
        # Lead once New Lead's first page (list request 2, after the probe) is answered. New
        # Lead is walked in its own order, which the dated mover precedes: no part sees it.
        current_emulator.on_list_request(
            2, lambda: current_emulator.update_customer(mover["uuid"], status="New Lead")
        )
        current_emulator.clear_request_log()
        held = _walk(client, strategy="statuses")
        assert held[mover["id"]]["status"] == "New Lead"
        assert len(held) == 300
        again = [
            e for e in current_emulator.request_log() if e["query"].get("status") == "New Lead"
        ]
        assert len(again) > len({e["query"].get("cursor") for e in again})  # walked twice


def test_a_customer_seen_in_two_parts_is_kept_once_as_it_is_now(
    current_emulator: Emulator, tmp_path: Path
) -> None:
    with _client(current_emulator, tmp_path, max_workers=1) as client:
        first_lead = _one_with(current_emulator, client, "New Lead")
        # Seen on New Lead's first page, then moved to Cancelled, which is walked later.
        current_emulator.on_list_request(
            2,
            lambda: current_emulator.update_customer(
                first_lead["uuid"], status="Cancelled", customer_since="2020-01-01T00:00:00Z"
            ),
        )
        current_emulator.clear_request_log()
        held = _walk(client, strategy="statuses")
        assert held[first_lead["id"]]["status"] == "Cancelled"
        assert len(held) == 300
        reads = [e["path"] for e in current_emulator.request_log()]
        assert any(path.endswith(first_lead["uuid"]) for path in reads)


def test_a_lead_that_converts_during_a_range_walk_is_not_lost(
    current_emulator: Emulator, tmp_path: Path
) -> None:
    with _client(current_emulator, tmp_path, max_workers=1) as client:
        lead = _one_with(current_emulator, client, "New Lead")
        early = _sequential(client)[0]["customer-since"]
        # Once the first range is walked, the lead gets a customer-since inside it.
        current_emulator.on_list_request(
            3,
            lambda: current_emulator.update_customer(
                lead["uuid"], status="Active", customer_since=early
            ),
        )
        held = _walk(client, strategy="ranges")
        assert held[lead["id"]]["status"] == "Active"
        assert len(held) == 300
        assert Counter(e["status"] for e in held.values()) == Counter(
            e["status"] for e in _sequential(client)
        )


def test_read_customers_sorts_the_parts_into_the_api_s_order(tmp_path: Path) -> None:
    # Five pages of 200: enough for read_customers to walk in parts.
    with (
        Emulator(customers=1000, seed=3, dialect="current") as emulator,
        _client(emulator, tmp_path, max_workers=4) as client,
    ):
        df = cm.read_customers(client, progress=False)
        listed = [e for page in client.iter_pages() for e in page["entries"]]
        parts = [e for e in emulator.request_log() if "cursor" in e["query"]]
    assert df.index.tolist() == [e["id"] for e in listed]
    assert df.attrs["chartmogul"]["dialect"] == "current"
    assert len(parts) > 5


def test_a_status_filter_the_service_ignores_falls_back_to_one_walk_saying_so(
    current_emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    # No emulator setting ignores the filter, so the request drops it on the way: the walker
    # sees what such a service would answer (every status in a "status" part).
    caplog.set_level(logging.INFO, logger="cm_frames")
    session = requests.Session()
    session.auth = (current_emulator.api_key, "")

    def fetch(params: dict[str, Any], *, cancel: threading.Event | None = None) -> dict[str, Any]:
        unfiltered = {k: v for k, v in params.items() if k != "status"}
        response = session.get(current_emulator.url + "customers", params=unfiltered)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    with session:
        held: dict[int, dict[str, Any]] = {}
        for event in walk_customers(
            fetch, workers=4, get_customer=lambda uuid: None, per_page=PER_PAGE, strategy="statuses"
        ):
            if isinstance(event, Rows):
                held.update((e["id"], e) for e in event.entries)
            else:
                for customer_id in event.ids:
                    held.pop(customer_id)
    assert len(held) == 300
    assert "status parts did not fit" in caplog.text
    assert "falling back to one sequential walk" in caplog.text


def test_crafted_cursors_refused_by_the_service_fall_back_to_status_parts(
    client: cm.Client, caplog: pytest.LogCaptureFixture
) -> None:
    # A service whose cursors look like the recorded ones but refuses any it did not issue:
    # a crafted cursor ("<time>&0", "&0") is sent as one it cannot know, and answered 400.
    caplog.set_level(logging.INFO, logger="cm_frames")

    def fetch(params: dict[str, Any], *, cancel: threading.Event | None = None) -> dict[str, Any]:
        position = decode_cursor(params.get("cursor", ""))
        if position is not None and position[1] == 0:
            params = {**params, "cursor": "bm90IG91cnM="}  # base64 of "not ours": refused
        answer: dict[str, Any] = client.request("GET", "customers", params=params, cache=False)
        return answer

    held: dict[int, dict[str, Any]] = {}
    for event in walk_customers(
        fetch, workers=4, get_customer=lambda uuid: None, per_page=PER_PAGE, strategy="ranges"
    ):
        if isinstance(event, Rows):
            held.update((e["id"], e) for e in event.entries)
        else:
            for customer_id in event.ids:
                held.pop(customer_id)
    assert _in_order(held) == [e["id"] for e in _sequential(client)]
    assert "ranges of the order did not fit" in caplog.text
    assert "falling back to status parts" in caplog.text
