"""Fault injection, the request log and the /_emulator/ control endpoints.

Each test runs in both dialects (the ``emulator`` fixture here is parametrised): faults,
hostile answers and the log are meant to work the same on today's API as on the
reference's. ``api`` authenticates as ``(token, secret)``, which today's dialect accepts
as the key twice.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from cm_frames.emulator import Emulator
from cm_frames.emulator.cursors import since_key

#: Today's list order per emulator URL, for the cursor of a page by its number.
CLEAN_ORDER: dict[str, list[tuple[str, int]]] = {}


def listed(customer: dict[str, Any]) -> dict[str, Any]:
    """A customer as the list shows it (today's lists have no ``website_url``)."""
    return {key: value for key, value in customer.items() if key != "website_url"}


@pytest.fixture(params=["enrichment", "current"])
def emulator(request: pytest.FixtureRequest) -> Emulator:
    """The session emulator of each dialect, reset (overrides conftest's, for ``api`` too)."""
    name = "emulator_server" if request.param == "enrichment" else "current_emulator_server"
    emu: Emulator = request.getfixturevalue(name)
    emu.reset()
    if emu.dialect == "current" and emu.url not in CLEAN_ORDER:  # before any fault is set
        with requests.Session() as session:
            session.auth = (emu.api_key, "")
            CLEAN_ORDER[emu.url] = _clean_order(session, emu.url)
        emu.reset()  # the log and the seeded fault draws as if nothing had been asked
    return emu


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
            api.post(f"customers/{target['uuid']}/attributes/tags", json={"tags": ["faulted"]})
    emulator.clear_faults()
    assert listed(api.get(f"customers/{target['uuid']}").json()) == target


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
        {"hang_after": -1},
        {"hang_after": 2.5},
        {"hang_methods": ["POST"]},  # without hang_after
        {"hang_after": 1, "hang_methods": ["PATCH"]},
    ],
)
def test_invalid_fault_settings_are_refused(emulator: Emulator, settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(settings)).split("_")[0]):
        emulator.set_faults(**settings)
    assert emulator.faults()["error_rate"] == 0


# --- hang_after: a server that stops answering -----------------------------------------------


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    """Poll ``condition`` (another thread's progress) until it holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)


def post_in_background(api: Any, path: str, body: Any) -> tuple[threading.Thread, list[Any]]:
    """POST from a thread; the list gets its status code, or the exception it raised."""
    outcome: list[Any] = []

    def send() -> None:
        try:
            outcome.append(api.post(path, json=body, timeout=30).status_code)
        except requests.RequestException as error:
            outcome.append(error)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, outcome


def test_hang_after_holds_every_request_past_the_limit_until_settings_change(
    emulator: Emulator, api: Any
) -> None:
    target = api.get("customers").json()["entries"][0]["uuid"]
    tags = f"customers/{target}/attributes/tags"
    settings = {"hang_after": 2, "hang_methods": ["post", "PUT", "DELETE"]}
    response = requests.post(control(emulator, "faults"), json=settings, timeout=5)
    assert response.json()["hang_methods"] == ["POST", "PUT", "DELETE"]
    assert api.get("customers", params={"per_page": 1}).ok  # only writes count
    assert api.post(tags, json={"tags": ["first"]}).ok
    assert api.post(tags, json={"tags": ["second"]}).ok

    thread, outcome = post_in_background(api, tags, {"tags": ["dropped"]})
    wait_until(lambda: emulator.hanging_requests() == 1)
    assert outcome == []
    assert emulator.request_log()[-1]["status"] is None  # arrived, not answered
    # New settings let it go on under them: dropped, it never reaches the state.
    emulator.set_faults(drop_rate=1, hang_after=0)
    thread.join(timeout=10)
    assert isinstance(outcome[0], requests.ConnectionError)

    thread, outcome = post_in_background(api, tags, {"tags": ["landed"]})
    wait_until(lambda: emulator.hanging_requests() == 1)
    emulator.clear_faults()
    thread.join(timeout=10)
    assert outcome == [200]
    assert emulator.hanging_requests() == 0
    held = api.get(f"customers/{target}").json()["attributes"]["tags"]
    assert {"first", "second", "landed"} <= set(held)
    assert "dropped" not in held


def test_stopping_lets_hanging_requests_land(tmp_path: Path) -> None:
    with (
        Emulator(customers=5, seed=1, db=tmp_path / "emulator.sqlite") as emulator,
        requests.Session() as api,
    ):
        api.auth = (emulator.token, emulator.secret)
        target = api.get(emulator.url + "customers").json()["entries"][0]["uuid"]
        emulator.set_faults(hang_after=1)  # any request counts
        assert api.get(emulator.url + "customers").ok
        thread, cut_off = post_in_background(
            api, f"{emulator.url}customers/{target}/attributes/tags", {"tags": ["held"]}
        )
        wait_until(lambda: emulator.hanging_requests() == 1)
        emulator.stop()  # like every request already read, the held one is applied ...
        thread.join(timeout=10)
        assert isinstance(cut_off[0], requests.ConnectionError)  # ... and its answer lost
        emulator.start()  # the setting stays: after a restart, it holds again
        thread, outcome = post_in_background(
            api, f"{emulator.url}customers/{target}/attributes/tags", {"tags": ["again"]}
        )
        wait_until(lambda: emulator.hanging_requests() == 1)
        emulator.clear_faults()
        thread.join(timeout=10)
        customer = api.get(f"{emulator.url}customers/{target}").json()
    assert outcome == [200]
    assert {"held", "again"} <= set(customer["attributes"]["tags"])


# --- the request log --------------------------------------------------------------------


def test_request_log_records_each_v1_request_in_order(emulator: Emulator, api: Any) -> None:
    target = api.get("customers", params={"per_page": 1}).json()["entries"][0]
    api.post(f"customers/{target['uuid']}/attributes/tags", json={"tags": ["logged"]})
    api.get("customers/nope")
    requests.get(emulator.url + "customers", timeout=5)  # unauthenticated
    log = emulator.request_log()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/v1/customers", 200),
        ("POST", f"/v1/customers/{target['uuid']}/attributes/tags", 200),
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
    api.post(f"customers/{target['uuid']}/attributes/tags", json={"tags": ["undo me"]})
    log = requests.get(control(emulator, "requests"), timeout=5).json()
    assert [entry["method"] for entry in log] == ["GET", "POST"]  # control calls are not logged
    assert requests.post(control(emulator, "reset"), timeout=5).status_code == 200
    assert listed(api.get(f"customers/{target['uuid']}").json()) == target
    assert [entry["method"] for entry in emulator.request_log()] == ["GET"]


def test_control_openapi_and_unknown_endpoints(emulator: Emulator) -> None:
    document = requests.get(control(emulator, "openapi.json"), timeout=5)
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.")
    assert requests.get(control(emulator, "nothing"), timeout=5).status_code == 404
    wrong = requests.delete(control(emulator, "reset"), timeout=5)
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "POST")


# --- corrupt: broken 200 answers ------------------------------------------------------------


def ids_of(api: Any, page: int, per_page: int = 3) -> tuple[list[int], bool, int]:
    """Page ``page`` of the list: by number, or (today) by the cursor it starts after.

    Today's pages are numbered by where they start (see ``corruption_for``); a later page
    has no ``page`` key, so the number asked for stands in for it.
    """
    body = api.get("customers", params=page_params(api, page, per_page)).json()
    return [e["id"] for e in body["entries"]], body["has_more"], body.get("page", page)


def page_params(api: Any, page: int, per_page: int) -> dict[str, Any]:
    """The query of list page ``page``: its number, or today the cursor it starts after."""
    if "cursor" not in api.get("customers", params={"per_page": 1}).json():
        return {"page": page, "per_page": per_page}
    params: dict[str, Any] = {"per_page": per_page}
    if page > 1:
        clean = CLEAN_ORDER[api.base_url]
        last = clean[min((page - 1) * per_page, len(clean)) - 1]
        params["cursor"] = base64.b64encode(f"{last[0]}&{last[1]}".encode()).decode()
    return params


def _clean_order(session: requests.Session, url: str) -> list[tuple[str, int]]:
    """Today's list order as (cursor time, id), read before any fault is set."""
    order: list[tuple[str, int]] = []
    params: dict[str, Any] = {}
    while True:
        body = session.get(url + "customers", params=params, timeout=10).json()
        order += [(since_key(e["customer-since"])[1], e["id"]) for e in body["entries"]]
        if not body["has_more"]:
            return order
        params = {"cursor": body["cursor"]}


def test_corrupt_list_modes_break_only_the_pages_named(emulator: Emulator, api: Any) -> None:
    clean = {page: ids_of(api, page)[0] for page in (1, 2, 3, 100, 101)}  # 300 customers: 100 pages
    emulator.set_faults(corrupt="duplicate_customer", corrupt_pages=[3])
    assert ids_of(api, 2)[0] == clean[2]
    assert ids_of(api, 3)[0] == [clean[2][-1], *clean[3][:-1]]  # clean[3][-1] is pushed out
    emulator.set_faults(corrupt="oversized_page", corrupt_pages=[2])
    assert ids_of(api, 2)[0] == [*clean[2], clean[3][0]]
    emulator.set_faults(corrupt="page_ignored")
    assert ids_of(api, 3) == (clean[1], True, 1)
    emulator.set_faults(corrupt="has_more_forever")
    assert ids_of(api, 100) == (clean[100], True, 100)
    assert ids_of(api, 101) == (clean[100], True, 101)  # past the end: the last page again
    assert ids_of(api, 5000) == (clean[100], True, 5000)
    emulator.set_faults(corrupt="has_more_forever_empty")
    assert ids_of(api, 101) == ([], True, 101)


@pytest.mark.parametrize(
    ("mode", "content_type", "check"),
    [
        ("truncated_json", "application/json", lambda body, whole: whole.startswith(body)),
        ("html_200", "text/html; charset=utf-8", lambda body, whole: b"<title>" in body),
        ("wrong_content_type", "text/plain; charset=utf-8", lambda body, whole: body == whole),
        ("empty_body", "application/json", lambda body, whole: body == b""),
    ],
)
def test_corrupt_body_modes_hit_the_methods_named(
    emulator: Emulator, api: Any, mode: str, content_type: str, check: Any
) -> None:
    target = api.get("customers", params={"per_page": 1}).json()["entries"][0]
    whole = api.get(f"customers/{target['uuid']}").content
    emulator.set_faults(corrupt=mode, corrupt_methods=["GET"])
    response = api.get(f"customers/{target['uuid']}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert len(response.content) == int(response.headers["Content-Length"])
    assert response.content != whole or mode == "wrong_content_type"
    assert check(response.content, whole)
    posted = api.post(f"customers/{target['uuid']}/attributes/tags", json={"tags": ["fine"]})
    assert posted.headers["Content-Type"] == "application/json"  # POST is not named
    assert posted.json()["tags"]


def test_html_200_never_reaches_the_state_but_other_modes_do(emulator: Emulator, api: Any) -> None:
    target = api.get("customers", params={"per_page": 1}).json()["entries"][0]["uuid"]
    for mode, tag in (("html_200", "proxied"), ("empty_body", "landed")):
        emulator.set_faults(corrupt=mode, corrupt_methods=["POST"])
        assert api.post(f"customers/{target}/attributes/tags", json={"tags": [tag]}).ok
    emulator.clear_faults()
    tags = api.get(f"customers/{target}").json()["attributes"]["tags"]
    assert "landed" in tags
    assert "proxied" not in tags


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"corrupt": "garbled"}, "corrupt: unknown mode 'garbled'"),
        ({"corrupt_pages": [2]}, "set corrupt too"),
        ({"corrupt": "empty_body", "corrupt_pages": [0]}, "corrupt_pages: must be a list"),
        ({"corrupt": "empty_body", "corrupt_pages": "3"}, "corrupt_pages: must be a list"),
        ({"corrupt": "empty_body", "corrupt_methods": ["PATCH"]}, "corrupt_methods: must be"),
        ({"corrupt": "oversized_page", "corrupt_methods": ["POST"]}, "would never hit it"),
    ],
)
def test_invalid_corrupt_settings_are_refused_in_python_and_over_http(
    emulator: Emulator, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        emulator.set_faults(**settings)
    refused = requests.post(control(emulator, "faults"), json=settings, timeout=5)
    assert refused.status_code == 400
    assert message in refused.json()["message"]
    assert emulator.faults()["corrupt"] is None


def test_corrupt_over_http_round_trips_and_reset_clears_it(emulator: Emulator, api: Any) -> None:
    settings = {"corrupt": "empty_body", "corrupt_pages": [2], "corrupt_methods": ["get"]}
    answer = requests.post(control(emulator, "faults"), json=settings, timeout=5).json()
    assert (answer["corrupt"], answer["corrupt_pages"], answer["corrupt_methods"]) == (
        "empty_body",
        [2],
        ["GET"],
    )
    assert requests.get(control(emulator, "faults"), timeout=5).json() == emulator.faults()
    assert api.get("customers", params=page_params(api, 2, 5)).content == b""
    assert api.get("customers", params=page_params(api, 1, 5)).json()["entries"]
    emulator.reset()
    assert emulator.faults()["corrupt"] is None
    assert api.get("customers", params=page_params(api, 2, 5)).json()["entries"]
