"""Fault injection, the request log and the /_emulator/ control endpoints."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from typing import Any

import pytest
import requests

from cm_frames.emulator import Emulator


def test_error_rate_1_answers_5xx_json_and_logs_it(emulator: Emulator, api: Any) -> None:
    emulator.set_faults(error_rate=1)
    statuses = [api.get("customers").status_code for _ in range(20)]
    assert set(statuses) <= {500, 502, 503, 504}
    assert len(set(statuses)) > 1  # the status varies among the four
    assert [entry["status"] for entry in emulator.request_log()] == statuses
    response = api.get("customers")
    assert response.json()["code"] == response.status_code


def test_throttle_answers_429_with_retry_after(emulator: Emulator, api: Any) -> None:
    emulator.set_faults(throttle_rate=1, retry_after_s=3)
    response = api.get("customers")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json()["code"] == 429
    assert emulator.request_log()[-1]["status"] == 429


def test_drop_closes_the_connection_unanswered_and_logs_status_0(
    emulator: Emulator, api: Any
) -> None:
    emulator.set_faults(drop_rate=1)
    with pytest.raises(requests.ConnectionError):
        api.get("customers", params={"page": 2})
    entry = emulator.request_log()[-1]
    assert (entry["path"], entry["query"], entry["status"]) == ("/v1/customers", {"page": "2"}, 0)
    emulator.clear_faults()
    assert api.get("customers").status_code == 200  # the session reconnects


def test_mixed_rates_are_seeded_and_all_show_in_the_log(emulator: Emulator, api: Any) -> None:
    def run() -> list[int]:
        emulator.reset()
        emulator.set_faults(error_rate=0.2, throttle_rate=0.2, drop_rate=0.1)
        for _ in range(120):
            with contextlib.suppress(requests.ConnectionError):
                api.get("customers", params={"per_page": 1})
        return [entry["status"] for entry in emulator.request_log()]

    statuses = run()
    counts = Counter("5xx" if status >= 500 else status for status in statuses)
    assert set(counts) == {0, 200, 429, "5xx"}
    assert 0.3 < counts[200] / len(statuses) < 0.7  # about half succeed (expected 0.5)
    assert run() == statuses  # the same seed, the same requests: the same faults


def test_faulted_writes_change_nothing(emulator: Emulator, api: Any) -> None:
    target = api.get("customers").json()["entries"][0]
    for faults in ({"error_rate": 1}, {"throttle_rate": 1}, {"drop_rate": 1}):
        emulator.set_faults(**faults)
        with contextlib.suppress(requests.ConnectionError):
            api.post(f"customers/{target['id']}/attributes/tags", json={"tags": ["faulted"]})
    emulator.clear_faults()
    assert api.get(f"customers/{target['id']}").json() == target


def test_latency_is_slept_concurrently(emulator: Emulator) -> None:
    emulator.set_faults(latency_ms=200)
    barrier = threading.Barrier(8)
    elapsed: list[float] = []

    def fetch() -> None:
        with requests.Session() as session:
            session.auth = (emulator.token, emulator.secret)
            barrier.wait()
            started = time.perf_counter()
            assert session.get(emulator.url + "customers", params={"per_page": 1}).ok
            elapsed.append(time.perf_counter() - started)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = time.perf_counter() - started
    assert len(elapsed) == 8
    assert min(elapsed) >= 0.2  # each request was delayed...
    assert total < 0.8  # ...but together far less than 8 x 0.2 s: they overlapped


@pytest.mark.parametrize(
    "settings",
    [
        {"error_rate": 1.5},
        {"throttle_rate": -0.1},
        {"error_rate": 0.6, "drop_rate": 0.6},
        {"latency_ms": -1},
        {"retry_after_s": 1.5},
    ],
)
def test_invalid_fault_settings_are_refused(emulator: Emulator, settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(settings)).split("_")[0]):
        emulator.set_faults(**settings)
    assert emulator.faults()["error_rate"] == 0


# --- the request log --------------------------------------------------------------------


def test_request_log_records_each_v1_request_in_order(emulator: Emulator, api: Any) -> None:
    target = api.get("customers", params={"per_page": 1}).json()["entries"][0]
    api.post(f"customers/{target['id']}/attributes/tags", json={"tags": ["logged"]})
    api.get("customers/nope")
    requests.get(emulator.url + "customers", timeout=5)  # unauthenticated
    log = emulator.request_log()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/v1/customers", 200),
        ("POST", f"/v1/customers/{target['id']}/attributes/tags", 200),
        ("GET", "/v1/customers/nope", 404),
        ("GET", "/v1/customers", 401),
    ]
    assert log[0]["query"] == {"per_page": "1"}
    assert log[1]["body"] == {"tags": ["logged"]}
    assert log[0]["body"] is None
    assert [e["account"] for e in log] == [emulator.token] * 3 + [None]
    assert [e["time"] for e in log] == sorted(e["time"] for e in log)
    emulator.clear_request_log()
    assert emulator.request_log() == []


def test_request_log_is_a_copy(emulator: Emulator, api: Any) -> None:
    api.get("customers", params={"page": 1})
    emulator.request_log()[0]["query"]["page"] = "changed"
    assert emulator.request_log()[0]["query"] == {"page": "1"}


# --- control endpoints --------------------------------------------------------------------


def control(emulator: Emulator, path: str) -> str:
    return emulator.url.removesuffix("v1/") + "_emulator/" + path


def test_control_faults_endpoint(emulator: Emulator, api: Any) -> None:
    response = requests.post(
        control(emulator, "faults"), json={"throttle_rate": 1, "retry_after_s": 2}, timeout=5
    )
    assert response.status_code == 200
    assert response.json()["throttle_rate"] == 1
    assert requests.get(control(emulator, "faults"), timeout=5).json() == emulator.faults()
    assert api.get("customers").status_code == 429
    refused = requests.post(control(emulator, "faults"), json={"error_rate": 2}, timeout=5)
    assert refused.status_code == 400
    assert refused.json()["message"].startswith("error_rate:")
    unknown = requests.post(control(emulator, "faults"), json={"typo_rate": 1}, timeout=5)
    assert unknown.status_code == 400
    assert "typo_rate" in unknown.json()["message"]


def test_control_reset_and_requests_endpoints(emulator: Emulator, api: Any) -> None:
    target = api.get("customers").json()["entries"][0]
    api.post(f"customers/{target['id']}/attributes/tags", json={"tags": ["undo me"]})
    log = requests.get(control(emulator, "requests"), timeout=5).json()
    assert [entry["method"] for entry in log] == ["GET", "POST"]  # control calls are not logged
    assert requests.post(control(emulator, "reset"), timeout=5).status_code == 200
    assert api.get(f"customers/{target['id']}").json() == target
    assert [entry["method"] for entry in emulator.request_log()] == ["GET"]


def test_control_openapi_and_unknown_endpoints(emulator: Emulator) -> None:
    document = requests.get(control(emulator, "openapi.json"), timeout=5)
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.")
    assert requests.get(control(emulator, "nothing"), timeout=5).status_code == 404
    wrong = requests.delete(control(emulator, "reset"), timeout=5)
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "POST")
