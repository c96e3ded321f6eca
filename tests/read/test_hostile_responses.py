"""Hostile and broken answers (issue 7): each is a clear error, never a partial frame or a loop.

Served by the emulator's ``corrupt`` fault modes over real HTTP. Every read case checks the
three promises together: ``read_customers`` raises a cm_frames error saying what and where, no
snapshot is saved (the next load fetches anew and is complete), and ``to=`` leaves no Parquet.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from dialects import BOTH_DIALECTS

import cm_frames as cm
from cm_frames.api.client import _broken_response
from cm_frames.api.paging import SeenIds, page_fields
from cm_frames.emulator import Emulator
from cm_frames.errors import APIError, ChartMogulError
from cm_frames.read.frames import PageDecoder, ParquetStreamWriter
from cm_frames.read.load import snapshot_store
from cm_frames.read.parquet import METADATA_FILE
from cm_frames.writeback.frame import plan_frame

# The paging tests below are the reference's: page numbers, per_page and the page asked for
# (today's API pages by cursor, in parts walked side by side; its hostile pages are tests of
# tests/emulator and tests/api). A broken list page and the broken answers to single reads
# and to writes are tested against both dialects (BOTH_DIALECTS on each).

CUSTOMERS = 300  # the session emulator's (conftest): two list pages of 200 and 100


def list_requests(emulator: Emulator) -> list[str]:
    """The page numbers of GET /customers in arrival order."""
    return [
        e["query"].get("page", "1")
        for e in emulator.request_log()
        if e["method"] == "GET" and e["path"] == "/v1/customers"
    ]


def assert_nothing_kept(client: cm.Client, emulator: Emulator, tmp_path: Path) -> None:
    """No snapshot was saved, ``to=`` fails the same way and leaves no dataset behind."""
    assert snapshot_store(client).latest(max_age_s=None) is None
    export = tmp_path / "export"
    with pytest.raises(ChartMogulError):
        cm.read_customers(client, progress=False, to=export)
    assert not list(export.glob("*.parquet"))
    assert not (export / METADATA_FILE).exists()
    # Once the server behaves, the next load is made anew (no partial frame served) and whole.
    emulator.clear_faults()
    emulator.clear_request_log()
    df = cm.read_customers(client, progress=False)
    if client.dialect != "current":  # today's pages are cursors, not numbers
        assert {"1", "2"} <= set(list_requests(emulator))  # (and speculative pages past the end)
    assert len(df) == CUSTOMERS
    assert df.index.is_unique


# --- broken bodies -----------------------------------------------------------------------------

BODY_CASES = [
    ("truncated_json", r"not valid JSON.*cut short"),
    ("html_200", r"HTML page titled '502 Bad Gateway'.*something other than the ChartMogul API"),
    ("wrong_content_type", r"Content-Type 'text/plain; charset=utf-8', not JSON"),
    ("empty_body", r"empty body"),
]


@BOTH_DIALECTS
@pytest.mark.parametrize(("mode", "message"), BODY_CASES)
def test_a_broken_list_page_fails_the_load_once_with_a_clear_error(
    emulator: Emulator, client: cm.Client, tmp_path: Path, mode: str, message: str
) -> None:
    emulator.set_faults(corrupt=mode, corrupt_pages=[2])
    with pytest.raises(ChartMogulError, match=message) as caught:
        cm.read_customers(client, progress=False)
    text = str(caught.value)
    assert "page 2" in text or "page=2" in text  # where
    assert "load again" in text.lower() or "try again" in text.lower()  # what to do
    # Not retried: a 200 that is not the API's JSON is not transient. (Today's list requests
    # carry a cursor, not the page's number: the emulator numbers them within their walk.)
    if client.dialect != "current":
        assert list_requests(emulator).count("2") == 1
    assert_nothing_kept(client, emulator, tmp_path)


@BOTH_DIALECTS
@pytest.mark.parametrize(("mode", "message"), BODY_CASES)
def test_every_endpoint_refuses_a_broken_answer_and_does_not_cache_it(
    emulator: Emulator, client: cm.Client, mode: str, message: str
) -> None:
    customer = client.list_customers(per_page=1)["entries"][0]
    # As each dialect addresses a customer: today's API by uuid only.
    customer_id = customer["uuid"] if client.dialect == "current" else customer["id"]
    emulator.set_faults(corrupt=mode, corrupt_methods=["GET"])
    for call in (
        lambda: client.get_customer(customer_id),
        lambda: client.get_attributes(customer_id),
        lambda: client.search_customers(customer["email"]),
    ):
        with pytest.raises(APIError, match=message) as caught:
            call()
        assert caught.value.status == 200
        assert caught.value.method == "GET"
        assert "/customers" in caught.value.url
        assert "base_url" in str(caught.value)
    emulator.clear_faults()
    emulator.clear_request_log()
    assert client.get_customer(customer_id)["id"] == customer["id"]
    assert len(emulator.request_log()) == 1  # fetched anew: the broken answer was not cached


def test_json_media_types_are_accepted_and_others_refused() -> None:
    def answer(content_type: str | None, body: bytes = b"{}") -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response._content = body
        if content_type is not None:
            response.headers["Content-Type"] = content_type
        return response

    for good in ("application/json", "Application/JSON; charset=UTF-8", "application/vnd.x+json"):
        assert _broken_response(answer(good)) is None, good
    for bad in ("text/plain", "text/json", "application/octet-stream", None):
        assert "not JSON" in (_broken_response(answer(bad)) or ""), bad
    assert "HTML page" in (_broken_response(answer("application/json", b" <html>x")) or "")


# --- paging that cannot be trusted -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["has_more_forever", "has_more_forever_empty"])
def test_has_more_forever_ends_after_a_bounded_number_of_pages(
    emulator: Emulator, client: cm.Client, tmp_path: Path, mode: str
) -> None:
    emulator.set_faults(corrupt=mode)
    with pytest.raises(ChartMogulError, match=r"has_more: true.*(forever|no new customers)"):
        cm.read_customers(client, progress=False)
    # Page 3 is past the end; the look-ahead fetched a few more, then the load stopped.
    assert len(list_requests(emulator)) <= 3 + 2 * client.max_workers
    assert_nothing_kept(client, emulator, tmp_path)


def test_has_more_forever_ends_in_every_way_of_iterating(
    emulator: Emulator, client: cm.Client
) -> None:
    emulator.set_faults(corrupt="has_more_forever")
    with pytest.raises(APIError, match="exactly the customers of page 2"):
        list(client.iter_pages(raw=True, cache=False))
    with pytest.raises(ChartMogulError, match=r"Page 3 repeats customers .* page 2 \(all 100"):
        list(client.iter_pages(cache=False))


def test_a_customer_on_two_pages_names_it_and_the_pages(
    emulator: Emulator, client: cm.Client, tmp_path: Path
) -> None:
    first_page = client.list_customers()["entries"]
    emulator.set_faults(corrupt="duplicate_customer", corrupt_pages=[2])
    twice = first_page[-1]["id"]
    expected = rf"Customer {twice} is on page 1 and again on page 2 .*account changed"
    with pytest.raises(ChartMogulError, match=expected) as caught:
        cm.read_customers(client, progress=False)
    assert "load again" in str(caught.value)
    with pytest.raises(ChartMogulError, match=expected):
        list(client.iter_pages(cache=False))  # the decoded pages of the client too
    assert_nothing_kept(client, emulator, tmp_path)


def test_a_page_larger_than_per_page_is_refused(
    emulator: Emulator, client: cm.Client, tmp_path: Path
) -> None:
    emulator.set_faults(corrupt="oversized_page", corrupt_pages=[1])
    with pytest.raises(ChartMogulError, match="page 1 holds 201 customers but per_page is 200"):
        cm.read_customers(client, progress=False)
    with pytest.raises(APIError, match="page 1 of customers holds 201 customers"):
        list(client.iter_pages(cache=False))
    assert_nothing_kept(client, emulator, tmp_path)


def test_a_page_that_is_not_the_page_asked_for_is_refused(
    emulator: Emulator, client: cm.Client, tmp_path: Path
) -> None:
    emulator.set_faults(corrupt="page_ignored")
    with pytest.raises(APIError, match="asked for page 2 of customers, the answer is page 1") as e:
        cm.read_customers(client, progress=False)
    assert "page=2" in e.value.url
    assert_nothing_kept(client, emulator, tmp_path)


def test_a_streamed_part_already_written_is_removed_when_a_later_page_breaks(
    emulator: Emulator, client: cm.Client, tmp_path: Path
) -> None:
    emulator.set_faults(corrupt="duplicate_customer", corrupt_pages=[2])
    export = tmp_path / "parts"
    parts_seen: list[int] = []

    def stream() -> None:
        with ParquetStreamWriter(export, pages_per_part=1) as writer:
            for body in client.iter_pages(raw=True, cache=False):
                writer.add_page(body)
                parts_seen.append(len(list(export.glob("part-*.parquet"))))

    with pytest.raises(ChartMogulError, match="again on page 2"):
        stream()
    assert parts_seen == [1]  # page 1 became a part on disk ...
    assert list(export.iterdir()) == []  # ... and is gone with the failed load


# --- the checks on their own -------------------------------------------------------------------


def test_seen_ids_finds_a_repeat_across_many_merged_runs() -> None:
    rng = np.random.default_rng(5)
    ids = rng.permutation(np.arange(10_000, 10_000 + 37 * 50))
    seen = SeenIds()
    for page in range(1, 38):
        seen.add(ids[(page - 1) * 50 : page * 50], page)
    assert len(seen) == 37 * 50
    assert len(seen._runs) <= 6  # merged: O(log pages) runs
    with pytest.raises(ChartMogulError, match=rf"Customer {ids[120]} is on page 3 and again"):
        seen.add([1, ids[120], 2], 38)
    with pytest.raises(ChartMogulError, match="Customer 7 appears twice on page 39"):
        seen.add([7, 8, 7], 39)
    seen.add([1, 2, 3], 40)  # refused pages left nothing behind


def test_decoder_refuses_an_oversized_page_and_a_repeated_customer() -> None:
    def body(*ids: int, per_page: int = 200) -> bytes:
        entries = ",".join(f'{{"id":{i},"customer-since":"2021-01-01T00:00:00Z"}}' for i in ids)
        return f'{{"entries":[{entries}],"has_more":true,"per_page":{per_page},"page":1}}'.encode()

    decoder = PageDecoder()
    decoder.add_page(body(1, 2))
    with pytest.raises(ChartMogulError, match="page 2 holds 3 customers but per_page is 2"):
        decoder.add_page(body(3, 4, 5, per_page=2))
    # The refused page did not count: the next one is page 2.
    with pytest.raises(ChartMogulError, match="Customer 2 is on page 1 and again on page 2"):
        decoder.add_page(body(2, 6))


def test_page_fields_reads_the_tail_or_says_it_cannot() -> None:
    assert page_fields(b'{"entries":[{"page":9}],"has_more":true,"per_page":50,"page":3}') == (
        3,
        50,
    )
    assert page_fields(b'{"entries":[],"has_more":false}') == (None, None)
    assert page_fields(b'{"entries":[],"page":1,"page":2}') is None


# --- broken answers to writes ------------------------------------------------------------------


def tag_plan(df: pd.DataFrame, tag: str, n: int = 3) -> tuple[Any, list[int]]:
    edited = df.copy()
    ids = edited.index[:n].tolist()
    edited[f"tag.{tag}"] = False
    edited.loc[ids, f"tag.{tag}"] = True
    return plan_frame(edited), ids


def customer_ref(client: cm.Client, df: pd.DataFrame, customer_id: int) -> int | str:
    """The customer as the client's dialect addresses it: today's API by uuid only."""
    return str(df.loc[customer_id, "uuid"]) if client.dialect == "current" else customer_id


def server_has_tag(client: cm.Client, df: pd.DataFrame, ids: list[int], tag: str) -> list[bool]:
    return [
        tag
        in client.get_attributes(customer_ref(client, df, i), refresh=True)["attributes"]["tags"]
        for i in ids
    ]


@BOTH_DIALECTS
def test_a_write_with_an_empty_answer_fails_then_a_resume_finds_it_landed(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame
) -> None:
    emulator.set_faults(corrupt="empty_body", corrupt_methods=["POST"])
    with pytest.raises(APIError, match=r"empty body.*may or may not have been applied"):
        client.add_tags(customer_ref(client, df, int(df.index[-1])), ["probe"])
    plan, ids = tag_plan(df, "hostile-empty")
    result = plan.apply(client, progress=False)
    assert result.failed == 3
    assert result.applied == 0
    assert all("empty body" in str(e) for e in result.to_frame()["error"])
    assert server_has_tag(client, df, ids, "hostile-empty") == [True] * 3  # the writes had landed

    emulator.clear_faults()
    emulator.clear_request_log()
    resumed = plan.apply(client, progress=False)  # same journal: a resume
    assert resumed.failed == 0
    assert resumed.applied == 3  # found in place by the conflict check: nothing re-sent
    assert not [e for e in emulator.request_log() if e["method"] == "POST"]
    # The broken writes also dropped the snapshot: a warm load sees the tags.
    assert cm.read_customers(client, progress=False).loc[ids, "tag.hostile-empty"].all()


@BOTH_DIALECTS
def test_a_write_answered_by_an_html_page_fails_then_a_retry_sends_it(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame
) -> None:
    emulator.set_faults(corrupt="html_200", corrupt_methods=["POST"])
    plan, ids = tag_plan(df, "hostile-html")
    result = plan.apply(client, progress=False)
    assert result.failed == 3
    assert server_has_tag(client, df, ids, "hostile-html") == [False] * 3  # a proxy answered

    emulator.clear_faults()
    retried = result.retry(client)
    assert retried.failed == 0
    assert server_has_tag(client, df, ids, "hostile-html") == [True] * 3


def test_every_paging_refusal_is_one_error_type_that_is_an_api_error(
    emulator: Emulator, client: cm.Client
) -> None:
    emulator.set_faults(corrupt="oversized_page", corrupt_pages=[1])
    with pytest.raises(cm.PagingError) as by_client:
        list(client.iter_pages(cache=False))
    with pytest.raises(cm.PagingError) as by_decoder:
        cm.read_customers(client, progress=False, refresh=True)
    for caught in (by_client, by_decoder):
        assert isinstance(caught.value, APIError)
        assert caught.value.status == 200
    # The decoder's checks see only bodies: their text is the message alone, as before.
    assert "page 1 holds 201 customers" in str(by_decoder.value)
    assert not str(by_decoder.value).startswith("HTTP")
    with pytest.raises(cm.PagingError, match="Customer 7 appears twice on page 1"):
        SeenIds().add([7, 7], 1)
    copy = pickle.loads(pickle.dumps(by_client.value))
    assert type(copy) is cm.PagingError
    assert str(copy) == str(by_client.value)
