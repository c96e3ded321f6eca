"""Exports (``read_customers(to=...)``) that other engines read as they are (issue 14).

Over real HTTP against the emulator: the dataset folder and the single file read back with
``cm.read_parquet`` as the frame, with provenance enough for ``plan()``; plain
``pd.read_parquet`` keeps the ``id`` index and integer dtypes; DuckDB sees the frame's types
and computes the same aggregates as pandas.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from dialects import BOTH_DIALECTS
from server_view import ApiSession

import cm_frames as cm
from cm_frames import schema
from cm_frames.emulator import Emulator
from cm_frames.errors import ValidationError
from cm_frames.read.parquet import METADATA_FILE

pytestmark = BOTH_DIALECTS

#: The two shapes of an export: a dataset folder and one file.
TARGETS = ["dataset", "customers.parquet"]


def export(client: cm.Client, tmp_path: Path, name: str) -> Path:
    target = tmp_path / "exports" / name
    target.parent.mkdir(exist_ok=True)
    returned = cm.read_customers(client, to=target, progress=False)
    assert returned == target
    return target


def duck_source(path: Path) -> str:
    """DuckDB's read_parquet argument for a file or every part of a folder."""
    return str(path / "*.parquet") if path.is_dir() else str(path)


@pytest.mark.parametrize("name", TARGETS)
def test_an_export_reads_back_as_the_frame_and_plans(
    client: cm.Client, api: ApiSession, tmp_path: Path, name: str, dialect: str
) -> None:
    path = export(client, tmp_path, name)
    assert path.is_file() == name.endswith(".parquet")
    assert sorted(p.name for p in path.parent.iterdir()) == [name]  # no folder of parts left
    loaded = cm.read_customers(client, progress=False)
    got = cm.read_parquet(path)
    pd.testing.assert_frame_equal(got.loc[loaded.index, loaded.columns], loaded)

    info = got.attrs["chartmogul"]
    assert info["parquet_path"] == str(path.absolute())
    assert info["dialect"] == dialect
    assert info["base_url"] == client.base_url
    assert info["account_hash"] == client.account_hash
    assert info["custom_types"] == loaded.attrs["chartmogul"]["custom_types"]
    assert info["customers"] == len(loaded)

    # The export is the baseline: only the edit is planned, and it lands.
    customer = int(got.index[3])
    edited = got.copy()
    edited["tag.exported"] = edited.index == customer
    plan = edited.chartmogul.plan()
    assert [(op.kind, op.customer_id, op.attribute) for op in plan] == [
        ("AddTags", customer, "tag.exported")
    ]
    assert plan.apply(client, progress=False).applied == 1
    assert "exported" in api.attributes(customer)["tags"]


@pytest.mark.parametrize("name", TARGETS)
def test_no_credentials_are_stored_in_an_export(
    client: cm.Client, emulator: Emulator, tmp_path: Path, name: str
) -> None:
    path = export(client, tmp_path, name)
    files = [path] if path.is_file() else sorted(path.iterdir())
    assert path.is_file() or (path / METADATA_FILE) in files
    secrets = {emulator.token, emulator.secret} - {""}
    for file in files:
        text = file.read_bytes()
        for secret in secrets:
            assert secret.encode() not in text, file.name


@pytest.mark.parametrize("name", TARGETS)
def test_an_export_written_again_is_no_longer_the_baseline(
    client: cm.Client, tmp_path: Path, name: str
) -> None:
    path = export(client, tmp_path, name)
    edited = cm.read_parquet(path)
    export(client, tmp_path, name)  # the same path, a newer export
    edited["tag.exported"] = True
    with pytest.raises(ValidationError, match=r"written again since this frame was read"):
        edited.chartmogul.plan()
    # The way out the message gives: the frame as it was read is the baseline.
    baseline = cm.read_parquet(path)
    assert len(edited.chartmogul.plan(baseline=baseline)) == len(baseline)


def test_an_export_that_is_gone_says_how_to_give_a_baseline(
    client: cm.Client, tmp_path: Path
) -> None:
    path = export(client, tmp_path, "customers.parquet")
    edited = cm.read_parquet(path)
    path.unlink()
    with pytest.raises(ValidationError, match=r"can no longer be read.*plan\(baseline="):
        edited.chartmogul.plan()


@pytest.mark.parametrize("name", TARGETS)
def test_plain_pandas_keeps_the_index_and_integer_dtypes(
    client: cm.Client, tmp_path: Path, name: str
) -> None:
    path = export(client, tmp_path, name)
    frame = cm.read_parquet(path)
    plain = pd.read_parquet(path)
    assert plain.index.name == "id"
    assert plain.index.dtype == "int64"
    assert plain.index.tolist() == frame.index.tolist()
    assert list(plain.columns) == list(frame.columns)
    integers = [c for c, dtype in frame.dtypes.items() if dtype == schema.INT64]
    assert integers  # custom.* and today's int columns, with NAs
    assert any(frame[c].isna().any() for c in integers)  # NAs would have made floats
    for column in integers:
        assert plain[column].dtype == schema.INT64, column
        assert plain[column].tolist() == frame[column].tolist(), column
    for column, dtype in frame.dtypes.items():
        if dtype in (schema.BOOL, schema.TIMESTAMP):
            assert plain[column].dtype == dtype, column
    # the two pandas cannot rebuild from metadata: the same values all the same
    assert plain["status"].astype(str).tolist() == frame["status"].astype(str).tolist()
    assert [list(v) for v in plain["tags"]] == frame["tags"].tolist()


def test_a_file_export_keeps_the_provenance_in_its_metadata(
    client: cm.Client, tmp_path: Path
) -> None:
    path = export(client, tmp_path, "customers.parquet")
    metadata = pq.read_schema(path).metadata
    assert b"pandas" in metadata
    info = json.loads(metadata[b"PANDAS_ATTRS"])["chartmogul"]
    assert info["account_hash"] == client.account_hash
    assert pd.read_parquet(path).attrs["chartmogul"]["account_hash"] == client.account_hash


# --- DuckDB ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TARGETS)
def test_duckdb_reads_the_frames_types(client: cm.Client, tmp_path: Path, name: str) -> None:
    path = export(client, tmp_path, name)
    frame = cm.read_parquet(path)
    with duckdb.connect() as con:
        described = con.execute(
            "DESCRIBE SELECT * FROM read_parquet(?)", [duck_source(path)]
        ).fetchall()
    types = {row[0]: row[1] for row in described}
    assert list(types) == ["id", *frame.columns]
    assert types["id"] == "BIGINT"
    assert types["customer_since"] == "TIMESTAMP WITH TIME ZONE"
    assert types["tags"] == "VARCHAR[]"
    assert types["email"] == "VARCHAR"
    assert types["status"] == "VARCHAR"  # dictionary-encoded in the file, text to DuckDB
    expected = {
        schema.INT64: "BIGINT",
        schema.BOOL: "BOOLEAN",
        schema.TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
    }
    for column, dtype in frame.dtypes.items():
        if dtype in expected:
            assert types[column] == expected[dtype], column


@pytest.mark.parametrize("name", TARGETS)
def test_duckdb_aggregates_equal_pandas(client: cm.Client, tmp_path: Path, name: str) -> None:
    path = export(client, tmp_path, name)
    frame = cm.read_parquet(path)
    tag = next(c for c in frame.columns if c.startswith("tag.") and frame[c].any())
    integer = next(c for c, d in frame.dtypes.items() if d == schema.INT64 and c != "id")
    query = f"""
        SELECT status, count(*) AS customers, sum("{integer}") AS total,
               count(*) FILTER (WHERE "{tag}") AS tagged,
               sum(len(tags)) AS tag_count,
               epoch_us(min(customer_since)) AS first_since_us
        FROM read_parquet(?) GROUP BY status ORDER BY status
    """
    with duckdb.connect() as con:
        rows = con.execute(query, [duck_source(path)]).fetchall()

    by_status = frame.groupby(frame["status"].astype(str))
    expected = [
        (  # DuckDB's tuples: a sum over no values is NULL
            str(status),
            len(group),
            int(group[integer].sum()) if group[integer].notna().any() else None,
            int(group[tag].sum()),
            int(group["tags"].list.len().sum()),
            _epoch_us(group["customer_since"].min()),
        )
        for status, group in sorted(by_status, key=lambda item: str(item[0]))
    ]
    assert rows == expected


def _epoch_us(moment: object) -> int | None:
    return None if moment is pd.NA else pd.Timestamp(moment).value // 1000  # type: ignore[arg-type]


def test_a_file_of_an_in_memory_load_plans_against_the_file_once_its_snapshot_is_gone(
    client: cm.Client, tmp_path: Path
) -> None:
    # As cm-frames load --to customers.parquet writes it: the frame's table, attrs included.
    from cm_frames.read.frames import frame_to_table
    from cm_frames.read.load import snapshot_store

    loaded = cm.read_customers(client, progress=False)
    path = tmp_path / "customers.parquet"
    pq.write_table(frame_to_table(loaded), path)
    edited = cm.read_parquet(path)
    assert edited.attrs["chartmogul"]["snapshot_id"] == loaded.attrs["chartmogul"]["snapshot_id"]
    customer = int(edited.index[0])
    edited["tag.exported"] = edited.index == customer
    assert [op.customer_id for op in edited.chartmogul.plan()] == [customer]

    store = snapshot_store(client)
    for snapshot in store.directory.glob("*.arrow"):
        snapshot.unlink()
    store._memory.clear()  # the process's copy too: the snapshot is gone for good
    assert [op.customer_id for op in edited.chartmogul.plan()] == [customer]
