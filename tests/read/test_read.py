"""read_customers end to end against the emulator: the frame, the cache, pages and faults."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
import requests

import cm_frames as cm
from cm_frames.emulator import Emulator
from cm_frames.read.frames import table_to_frame
from cm_frames.read.snapshot import SnapshotStore


def _raw_customers(
    emulator: Emulator, token: str | None = None, secret: str | None = None
) -> list[dict[str, Any]]:
    """Every customer as the server sends it, fetched plainly (the independent oracle)."""
    auth = (token or emulator.token, secret or emulator.secret)
    out: list[dict[str, Any]] = []
    with requests.Session() as session:
        page = 1
        while True:
            body = session.get(emulator.url + "customers", params={"page": page}, auth=auth).json()
            out.extend(body["entries"])
            if not body["has_more"]:
                return out
            page += 1


def _v1_paths(emulator: Emulator) -> list[str]:
    return [entry["path"] for entry in emulator.request_log() if entry["path"].startswith("/v1/")]


def _parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_every_customer_with_every_attribute(emulator: Emulator, client: cm.Client) -> None:
    raw = _raw_customers(emulator)
    emulator.clear_request_log()
    df = cm.read_customers(client, progress=False)

    assert list(df.index) == [c["id"] for c in raw]
    assert df.index.name == "id"
    assert all(isinstance(dtype, pd.ArrowDtype) for dtype in df.dtypes)
    assert df["customer_since"].dtype == pd.ArrowDtype(pa.timestamp("us", tz="UTC"))
    assert pa.types.is_dictionary(df["status"].dtype.pyarrow_dtype)
    types = df.attrs["chartmogul"]["custom_types"]
    for customer in raw:
        row = df.loc[customer["id"]]
        assert row["uuid"] == customer["uuid"]
        assert row["email"] == customer["email"]
        assert row["customer_since"] == _parse_instant(customer["customer-since"])
        assert list(row["tags"]) == customer["attributes"]["tags"]
        for tag in customer["attributes"]["tags"]:
            assert row[f"tag.{tag}"] is True
        assert sum(bool(row[c]) for c in df.columns if c.startswith("tag.")) == len(
            set(customer["attributes"]["tags"])
        )
        custom = customer["attributes"]["custom"]
        for key, kind in types.items():
            value = row[f"custom.{key}"]
            if key not in custom:
                assert pd.isna(value)
            elif kind == "Timestamp":
                assert value == _parse_instant(custom[key])
            elif kind == "String" and not isinstance(custom[key], str):
                assert value == json.dumps(custom[key])
            else:
                assert value == custom[key]
    assert set(types.values()) == {"String", "Integer", "Timestamp", "Boolean"}


def test_attrs_are_json_safe_and_hold_no_secret(emulator: Emulator, client: cm.Client) -> None:
    df = cm.read_customers(client, progress=False)
    text = json.dumps(df.attrs)
    assert emulator.secret not in text
    info = df.attrs["chartmogul"]
    assert info["base_url"] == emulator.url
    assert info["account_hash"] == client.account_hash
    assert info["customers"] == len(df)
    assert info["snapshot_id"]


def test_second_read_is_served_from_the_snapshot(emulator: Emulator, client: cm.Client) -> None:
    first = cm.read_customers(client, progress=False)
    emulator.clear_request_log()
    SnapshotStore._memory.clear()  # prove it comes back from the file, not from memory
    second = cm.read_customers(client, progress=False)
    assert _v1_paths(emulator) == []
    assert second.equals(first)
    assert second.attrs == first.attrs


def test_a_write_invalidates_and_refresh_bypasses(emulator: Emulator, client: cm.Client) -> None:
    df = cm.read_customers(client, progress=False)
    customer_id = int(df.index[0])
    client.add_tags(customer_id, ["brand-new-tag"])
    emulator.clear_request_log()
    after = cm.read_customers(client, progress=False)
    assert any(path == "/v1/customers" for path in _v1_paths(emulator))
    assert after.loc[customer_id, "tag.brand-new-tag"]
    assert not after.drop(index=customer_id)["tag.brand-new-tag"].any()

    emulator.clear_request_log()
    again = cm.read_customers(client, progress=False, refresh=True)
    assert "/v1/customers" in _v1_paths(emulator)
    assert again.equals(after)


def test_a_write_by_another_client_of_the_account_invalidates(
    emulator: Emulator, client: cm.Client, tmp_path: Path
) -> None:
    cm.read_customers(client, progress=False)
    with cm.Client(emulator.token, emulator.secret, emulator.url, cache_dir=tmp_path) as other:
        other.add_tags(int(_raw_customers(emulator)[0]["id"]), ["from-elsewhere"])
    emulator.clear_request_log()
    df = cm.read_customers(client, progress=False)
    assert "/v1/customers" in _v1_paths(emulator)
    assert df["tag.from-elsewhere"].sum() == 1


def test_email_uses_search(emulator: Emulator, client: cm.Client) -> None:
    raw = _raw_customers(emulator)
    counts = pd.Series([c["email"] for c in raw]).value_counts()
    shared = str(counts.index[0])
    assert counts.iloc[0] >= 2, "the generator shares some emails between customers"
    emulator.clear_request_log()
    df = cm.read_customers(client, email=shared, progress=False)
    assert _v1_paths(emulator) == ["/v1/customers/search"]
    assert sorted(df.index) == sorted(c["id"] for c in raw if c["email"] == shared)
    assert df.attrs["chartmogul"]["email"] == shared
    with pytest.raises(cm.NotFound):
        cm.read_customers(client, email="nobody@nowhere.example", progress=False)
    with pytest.raises(cm.ValidationError, match="email"):
        cm.read_customers(client, email="  ", progress=False)


@pytest.mark.parametrize("count", [0, 1, 199, 200, 201, 401])
def test_pagination_edges(emulator: Emulator, tmp_path: Path, count: int) -> None:
    token, secret = f"edge-{count}", f"secret-{count}"
    emulator.add_account(token, secret, customers=count, seed=count)
    with cm.Client(token, secret, emulator.url, cache_dir=tmp_path, rate_limit=None) as c:
        df = cm.read_customers(c, progress=False)
    assert len(df) == count
    assert list(df.index) == [c["id"] for c in _raw_customers(emulator, token, secret)]
    assert df.index.is_unique


def test_reads_through_faults_equal_a_clean_read(emulator: Emulator, tmp_path: Path) -> None:
    with cm.Client(
        emulator.token, emulator.secret, emulator.url, cache=False, rate_limit=None, backoff=0.01
    ) as c:
        clean = cm.read_customers(c, progress=False, refresh=True)
        emulator.set_faults(error_rate=0.2, throttle_rate=0.1, drop_rate=0.1, retry_after_s=0)
        faulty = cm.read_customers(c, progress=False, refresh=True)
    statuses = {entry["status"] for entry in emulator.request_log()}
    assert statuses & {500, 502, 503, 504}
    assert 429 in statuses
    pd.testing.assert_frame_equal(faulty, clean)


def test_progress_bar_counts_customers(
    emulator: Emulator, client: cm.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    cm.read_customers(client, progress=True, refresh=True)
    err = capsys.readouterr().err
    assert "Loading customers" in err
    assert "300" in err
    cm.read_customers(client, progress=False, refresh=True)
    assert capsys.readouterr().err == ""


def test_stream_to_parquet_equals_the_frame(client: cm.Client, tmp_path: Path) -> None:
    target = tmp_path / "dataset"
    returned = cm.read_customers(client, to=target, progress=False)
    assert returned == target
    (target / "_notes.txt").write_text("the user's own file")
    cm.read_customers(client, to=target, progress=False)  # a re-export replaces its own files
    assert (target / "_notes.txt").read_text() == "the user's own file"
    frame = cm.read_customers(client, progress=False)
    streamed = table_to_frame(ds.dataset(target, format="parquet").to_table())
    assert sorted(streamed.columns) == sorted(frame.columns)
    pd.testing.assert_frame_equal(streamed.loc[frame.index, frame.columns], frame)


def test_accessor_refresh_and_to_arrow(emulator: Emulator, client: cm.Client) -> None:
    df = cm.read_customers(client, progress=False)
    customer_id = int(df.index[1])
    client.add_tags(customer_id, ["refreshed"])
    fresh = df.chartmogul.refresh()
    assert "tag.refreshed" not in df.columns
    assert fresh.loc[customer_id, "tag.refreshed"]
    table = df.chartmogul.to_arrow()
    assert table.column_names[0] == "id"
    assert table.num_rows == len(df)


def test_accessor_refuses_other_frames() -> None:
    with pytest.raises(AttributeError, match="read_customers"):
        _ = pd.DataFrame({"a": [1]}).chartmogul


def _proofs(emulator: Emulator) -> list[dict[str, Any]]:
    return [
        entry
        for entry in emulator.request_log()
        if entry["path"] == "/v1/customers" and entry["query"].get("per_page") == "1"
    ]


def test_a_wrong_secret_is_refused_even_with_a_warm_snapshot(
    emulator: Emulator, client: cm.Client, tmp_path: Path
) -> None:
    cm.read_customers(client, progress=False)  # the account's snapshot, under tmp_path
    with cm.Client(
        emulator.token, "not-the-secret", emulator.url, cache_dir=tmp_path, rate_limit=None
    ) as wrong:
        assert wrong.cache_dir == client.cache_dir  # the same namespace: token and URL
        emulator.clear_request_log()
        with pytest.raises(cm.Unauthorized):
            cm.read_customers(wrong, progress=False)
    assert [entry["status"] for entry in emulator.request_log()] == [401]
    assert [entry["status"] for entry in _proofs(emulator)] == [401]


def test_a_warm_load_of_a_new_client_proves_its_credentials_once(
    emulator: Emulator, client: cm.Client, tmp_path: Path
) -> None:
    first = cm.read_customers(client, progress=False)
    with cm.Client(
        emulator.token, emulator.secret, emulator.url, cache_dir=tmp_path, rate_limit=None
    ) as fresh:
        emulator.clear_request_log()
        warm = cm.read_customers(fresh, progress=False)
        assert [(e["status"], e["query"]) for e in emulator.request_log()] == [
            (200, {"page": "1", "per_page": "1"})
        ]
        assert warm.attrs["chartmogul"]["snapshot_id"] == first.attrs["chartmogul"]["snapshot_id"]
        emulator.clear_request_log()
        cm.read_customers(fresh, progress=False)  # proven: remembered for the client's life
        assert emulator.request_log() == []


def test_a_wrong_secret_is_refused_even_with_a_cached_answer(
    emulator: Emulator, client: cm.Client, tmp_path: Path
) -> None:
    customer = client.list_customers(per_page=1)["entries"][0]["id"]
    client.get_customer(customer)  # cached under the account's namespace
    with cm.Client(
        emulator.token, "not-the-secret", emulator.url, cache_dir=tmp_path, rate_limit=None
    ) as wrong:
        emulator.clear_request_log()
        with pytest.raises(cm.Unauthorized):
            wrong.get_customer(customer)
    assert [entry["status"] for entry in emulator.request_log()] == [401]
