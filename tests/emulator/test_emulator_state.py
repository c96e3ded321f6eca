"""State and lifecycle: persistence across restarts, reset, accounts, concurrency, paging sizes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cm_frames.emulator import Emulator, generate_customers


def session_for(
    emulator: Emulator, token: str | None = None, secret: str | None = None
) -> requests.Session:
    session = requests.Session()
    session.auth = (token or emulator.token, secret or emulator.secret)
    return session


def read_all(session: requests.Session, url: str, per_page: int = 200) -> list[dict[str, Any]]:
    """Every customer: by page number, or (today's dialect) by cursor."""
    entries: list[dict[str, Any]] = []
    page = 1
    params: dict[str, Any] = {"page": page, "per_page": per_page}
    while True:
        body = session.get(url + "customers", params=params).json()
        entries += body["entries"]
        if not body["has_more"]:
            return entries
        page += 1
        if "cursor" in body:
            params = {"cursor": body["cursor"], "per_page": per_page}
        else:
            params = {"page": page, "per_page": per_page}


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Emulator:
    """The session emulator (reset): the reference's, or each dialect's for tests marked
    ``BOTH_DIALECTS`` (overrides conftest's, for ``api`` too)."""
    dialect = getattr(request, "param", "enrichment")
    name = "emulator_server" if dialect == "enrichment" else "current_emulator_server"
    emu: Emulator = request.getfixturevalue(name)
    emu.reset()
    return emu


# Resets, accounts and concurrency are meant to work the same in both dialects. Paths name
# customers by uuid, which both take.
BOTH_DIALECTS = pytest.mark.parametrize("emulator", ["enrichment", "current"], indirect=True)


# --- persistence ------------------------------------------------------------------------


def test_writes_survive_a_restart_on_the_same_db_file_and_port(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    with Emulator(customers=20, seed=1, db=db) as first, session_for(first) as session:
        port, secret = first.port, first.secret
        target = session.get(first.url + "customers").json()["entries"][3]
        response = session.post(
            first.url + f"customers/{target['id']}/attributes/custom",
            json={
                "custom": [{"type": "Timestamp", "key": "kept", "value": "2024-01-02T03:04:05Z"}]
            },
        )
        assert response.status_code == 200
        session.post(
            first.url + f"customers/{target['id']}/attributes/tags", json={"tags": ["kept"]}
        )
    # A new Emulator on the same file and port, with no secret given: the stored one is used.
    with (
        Emulator(customers=999, seed=2, db=db, port=port) as second,
        session_for(second) as session,
    ):
        assert (second.port, second.secret) == (port, secret)
        assert len(read_all(session, second.url)) == 20  # the file's data, not 999 new ones
        stored = session.get(second.url + f"customers/{target['id']}").json()
        assert stored["attributes"]["custom"]["kept"] == "2024-01-02T03:04:05Z"
        assert "kept" in stored["attributes"]["tags"]
        # The type survived too: a PUT of a non-timestamp value for it is refused.
        refused = session.put(
            second.url + f"customers/{target['id']}/attributes/custom",
            json={"custom": {"kept": "no"}},
        )
        assert refused.status_code == 400
        # reset() regenerates the seeded data in the file.
        second.reset()
        assert session.get(second.url + f"customers/{target['id']}").json() == target


def test_a_given_secret_replaces_the_stored_one(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    with Emulator(customers=2, db=db, secret="first"):
        pass
    with (
        Emulator(customers=2, db=db, secret="second") as emulator,
        session_for(emulator) as session,
    ):
        assert session.get(emulator.url + "customers").status_code == 200
        assert (
            session.get(emulator.url + "customers", auth=(emulator.token, "first")).status_code
            == 401
        )


def test_stop_is_idempotent_closes_sqlite_and_frees_the_port(tmp_path: Path) -> None:
    emulator = Emulator(customers=3, db=tmp_path / "s.sqlite").start()
    url, port = emulator.url, emulator.port
    with session_for(emulator) as session:
        assert session.get(url + "customers").status_code == 200  # a keep-alive connection is open
        emulator.stop()
        emulator.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(url + "customers")
    with pytest.raises(RuntimeError, match="not running"):
        _ = emulator.url
    # SQLite is closed: the file can be opened and changed by someone else at once.
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        db.execute("UPDATE accounts SET secret = 'changed'")
    db.close()
    with Emulator(customers=3, port=port, db=tmp_path / "s.sqlite") as again:
        assert again.port == port
        assert again.secret == "changed"


def test_the_constructor_does_not_start_and_start_returns_self() -> None:
    emulator = Emulator(customers=1)
    assert not emulator.running
    assert emulator.token == "emulator-token"
    assert len(emulator.secret) >= 24
    assert emulator.secret not in repr(emulator)
    try:
        assert emulator.start() is emulator
        assert emulator.url.startswith("http://127.0.0.1:")
        assert emulator.url.endswith("/v1/")
        assert emulator.secret not in repr(emulator)
    finally:
        emulator.stop()


# --- reset and accounts -------------------------------------------------------------------


@BOTH_DIALECTS
def test_reset_restores_seeded_data_faults_and_log(emulator: Emulator, api: Any) -> None:
    before = read_all(api, emulator.url)
    target = before[0]
    api.post(f"customers/{target['uuid']}/attributes/tags", json={"tags": ["temporary"]})
    api.delete(
        f"customers/{target['uuid']}/attributes/custom",
        json={"custom": list(target["attributes"]["custom"])},
    )
    emulator.set_faults(latency_ms=1)
    assert read_all(api, emulator.url) != before
    emulator.reset()
    assert emulator.request_log() == []
    assert emulator.faults()["latency_ms"] == 0
    assert read_all(api, emulator.url) == before


@BOTH_DIALECTS
def test_reset_restores_added_accounts_too(emulator: Emulator) -> None:
    emulator.add_account("extra", "extra-secret", customers=3, seed=5)
    try:
        with session_for(emulator, "extra", "extra-secret") as session:
            seeded = read_all(session, emulator.url)
            session.post(
                emulator.url + f"customers/{seeded[0]['uuid']}/attributes/tags",
                json={"tags": ["t"]},
            )
            emulator.reset()
            assert read_all(session, emulator.url) == seeded
    finally:
        emulator.remove_account("extra")


@BOTH_DIALECTS
def test_add_account_replaces_an_account_with_the_same_token(emulator: Emulator) -> None:
    try:
        emulator.add_account("again", "one", customers=4)
        emulator.add_account("again", "two", customers=2)
        with session_for(emulator, "again", "two") as session:
            assert len(read_all(session, emulator.url)) == 2
            assert session.get(emulator.url + "customers", auth=("again", "one")).status_code == 401
    finally:
        emulator.remove_account("again")
    with pytest.raises(KeyError, match="again"):
        emulator.remove_account("again")
    with pytest.raises(ValueError, match="main account"):
        emulator.remove_account(emulator.token)


@BOTH_DIALECTS
def test_ids_are_unique_across_accounts(emulator: Emulator, api: Any) -> None:
    emulator.add_account("ids-a", "s", customers=50, seed=7)  # the same seed as the main account
    emulator.add_account("ids-b", "s", customers=50, seed=7)
    try:
        ids = [entry["id"] for entry in read_all(api, emulator.url)]
        for token in ("ids-a", "ids-b"):
            with session_for(emulator, token, "s") as session:
                ids += [entry["id"] for entry in read_all(session, emulator.url)]
        assert len(ids) == len(set(ids)) == 400
    finally:
        emulator.remove_account("ids-a")
        emulator.remove_account("ids-b")


@BOTH_DIALECTS
def test_explicit_seed_customers_with_a_clashing_id_are_refused(emulator: Emulator) -> None:
    clash = generate_customers(1, seed=0, id_start=1)  # id 1 belongs to the main account
    with pytest.raises(ValueError, match="already used"):
        emulator.add_account("clash", "s", customers=clash)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("uuid"), "uuid"),
        (lambda c: c["attributes"].pop("tags"), "tags"),
        (lambda c: c["attributes"]["custom"].update(bad=1.5), "custom value"),
    ],
)
def test_malformed_seed_customers_are_refused(
    emulator: Emulator, change: Any, message: str
) -> None:
    customer = generate_customers(1, seed=0, id_start=5_000_000)[0]
    change(customer)
    with pytest.raises(ValueError, match=message):
        emulator.add_account("malformed", "s", customers=[customer])


# --- concurrency --------------------------------------------------------------------------


@BOTH_DIALECTS
def test_concurrent_writes_to_one_customer_lose_nothing(emulator: Emulator, api: Any) -> None:
    target = api.get("customers").json()["entries"][0]
    threads_count, writes_each = 8, 6
    barrier = threading.Barrier(threads_count)
    failures: list[str] = []

    def writer(worker: int) -> None:
        with session_for(emulator) as session:
            barrier.wait()
            for step in range(writes_each):
                base = emulator.url + f"customers/{target['uuid']}/attributes/"
                tag = session.post(base + "tags", json={"tags": [f"w{worker}-{step}"]})
                custom = session.post(
                    base + "custom",
                    json={
                        "custom": [{"type": "Integer", "key": f"k{worker}_{step}", "value": step}]
                    },
                )
                if tag.status_code != 200 or custom.status_code != 200:
                    failures.append(f"{worker}/{step}: {tag.status_code} {custom.status_code}")

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    stored = api.get(f"customers/{target['uuid']}").json()["attributes"]
    expected_tags = {f"w{w}-{s}" for w in range(threads_count) for s in range(writes_each)}
    assert expected_tags <= set(stored["tags"])
    assert len(stored["tags"]) == len(target["attributes"]["tags"]) + len(expected_tags)
    for worker in range(threads_count):
        for step in range(writes_each):
            assert stored["custom"][f"k{worker}_{step}"] == step


# --- paging at the edges ------------------------------------------------------------------


@pytest.fixture
def sized_account(emulator: Emulator) -> Iterator[Any]:
    created: list[str] = []

    def make(count: int) -> requests.Session:
        token = f"sized-{count}"
        emulator.add_account(token, "s", customers=count, seed=count)
        created.append(token)
        return session_for(emulator, token, "s")

    yield make
    for token in created:
        emulator.remove_account(token)


@pytest.mark.parametrize("count", [0, 1, 199, 200, 201, 401])
def test_paging_returns_every_customer_once_in_order(
    emulator: Emulator, sized_account: Any, count: int
) -> None:
    with sized_account(count) as session:
        pages = []
        page = 1
        while True:
            body = session.get(emulator.url + "customers", params={"page": page}).json()
            pages.append(body)
            if not body["has_more"]:
                break
            page += 1
        expected_pages = max(1, -(-count // 200))
        assert len(pages) == expected_pages
        assert [len(body["entries"]) for body in pages[:-1]] == [200] * (expected_pages - 1)
        entries = [entry for body in pages for entry in body["entries"]]
        assert len(entries) == len({entry["id"] for entry in entries}) == count
        ids = sorted(entry["id"] for entry in entries)
        assert ids == list(range(ids[0], ids[0] + count)) if count else entries == []
        past = session.get(emulator.url + "customers", params={"page": expected_pages + 1}).json()
        assert (past["entries"], past["has_more"]) == ([], False)
        # Small pages tell the same story.
        assert read_all(session, emulator.url, per_page=37) == entries
