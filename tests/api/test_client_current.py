"""The client against today's emulator: typed errors, one-line messages, 503 and fewer at once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import cm_frames as cm
from cm_frames.api.ratelimit import RequestLimiter
from cm_frames.emulator import Emulator
from cm_frames.errors import error_for_status


def _client(emulator: Emulator, tmp_path: Path, **options: Any) -> cm.Client:
    return cm.Client(api_key=emulator.api_key, base_url=emulator.url, cache_dir=tmp_path, **options)


def test_a_422_is_typed_and_its_message_names_the_field(
    current_emulator: Emulator, tmp_path: Path
) -> None:
    with _client(current_emulator, tmp_path, rate_limit=None) as client:
        uuid = client.list_customers(per_page=1)["entries"][0]["uuid"]
        # Past the client's own checks (request() sends what it is given): the server's word.
        body = {"custom": [{"type": "Integer", "key": "seats", "value": "many"}]}
        with pytest.raises(cm.UnprocessableEntity) as caught:
            client.request("POST", f"customers/{uuid}/attributes/custom", json=body)
    error = caught.value
    assert error.status == 422
    assert "\n" not in str(error)
    assert "custom" in str(error) or "value" in str(error)


def test_a_403_is_forbidden_with_a_hint_on_the_key() -> None:
    error = error_for_status(403, "This API key is read-only", method="POST", url="customers")
    assert isinstance(error, cm.Forbidden)
    assert "API key" in str(error)


def test_a_numeric_id_in_today_s_dialect_is_refused_before_sending(
    current_emulator: Emulator, tmp_path: Path
) -> None:
    with _client(current_emulator, tmp_path, rate_limit=None) as client:
        current_emulator.clear_request_log()
        with pytest.raises(cm.ValidationError, match="addresses customers by uuid"):
            client.get_customer(25647)
        assert current_emulator.request_log() == []


def test_page_numbers_are_refused_in_today_s_dialect_naming_the_cursor(
    current_emulator: Emulator, tmp_path: Path
) -> None:
    with _client(current_emulator, tmp_path, rate_limit=None) as client:
        with pytest.raises(cm.ValidationError, match="pass cursor="):
            client.list_customers(page=2)
        first = client.list_customers(per_page=5)
        second = client.list_customers(per_page=5, cursor=first["cursor"])
    assert {c["id"] for c in first["entries"]}.isdisjoint(c["id"] for c in second["entries"])


def test_a_503_for_too_many_connections_is_retried_with_fewer_at_once(tmp_path: Path) -> None:
    with (
        Emulator(customers=2_000, seed=2, dialect="current", max_parallel=2) as emulator,
        _client(emulator, tmp_path, rate_limit=None, max_workers=8, backoff=0.01) as client,
    ):
        df = cm.read_customers(client, progress=False)
        refused = [e for e in emulator.request_log() if e["status"] == 503]
    assert len(df) == 2_000
    assert df.index.is_unique
    assert refused, "the emulator never refused a connection: the test proves nothing"


def test_the_limiter_lowers_its_cap_below_what_is_in_flight() -> None:
    limiter = RequestLimiter(None, max_in_flight=8)
    inside = threading.Barrier(5)
    release = threading.Event()

    def hold() -> None:
        with limiter.slot():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    inside.wait()  # four requests in flight
    assert limiter.lower_in_flight() == 3
    release.set()
    for thread in threads:
        thread.join()
    assert limiter.max_in_flight == 3
    assert limiter.lower_in_flight() == 1  # nothing in flight: one at a time
