"""Snapshots: atomic private files, the "latest" pointer, expiry and the write marker."""

from __future__ import annotations

import os
import stat
from collections import OrderedDict
from pathlib import Path

import pyarrow as pa
import pytest

from cm_frames._files import touch_write_marker
from cm_frames.errors import ValidationError
from cm_frames.read.snapshot import SnapshotStore, new_snapshot_id
from cm_frames.writeback.frame import _load_baseline


@pytest.fixture
def table() -> pa.Table:
    return pa.table({"id": pa.array([3, 1, 2], pa.int64()), "email": ["c@x", "a@x", None]})


@pytest.fixture(autouse=True)
def _no_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test starts with no snapshot held in the process's memory, and leaves none.
    monkeypatch.setattr(SnapshotStore, "_memory", OrderedDict())


def _forget_memory() -> None:
    """Drop the snapshots held in memory, so that the next load reads the file."""
    SnapshotStore._memory.clear()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_save_then_load_from_disk_is_identical(tmp_path: Path, table: pa.Table) -> None:
    store = SnapshotStore(tmp_path / "snaps")
    saved = store.save(table, {"custom_types": {"CAC": "Integer"}}, latest=True)
    _forget_memory()
    loaded = store.load(saved.snapshot_id)
    assert loaded.table.equals(table)
    assert loaded.metadata == {"custom_types": {"CAC": "Integer"}, "snapshot_id": saved.snapshot_id}


def test_files_are_private(tmp_path: Path, table: pa.Table) -> None:
    store = SnapshotStore(tmp_path / "snaps")
    saved = store.save(table, {}, latest=True)
    assert _mode(store.directory) == 0o700
    assert _mode(store.directory / f"{saved.snapshot_id}.arrow") == 0o600
    assert _mode(store.directory / "latest.json") == 0o600
    assert not list(store.directory.glob("*.tmp"))


def test_latest_is_the_newest_full_load_only(tmp_path: Path, table: pa.Table) -> None:
    store = SnapshotStore(tmp_path)
    assert store.latest(max_age_s=None) is None
    first = store.save(table, {}, latest=True)
    store.save(table.slice(0, 1), {"email": "a@x"}, latest=False)
    found = store.latest(max_age_s=None)
    assert found is not None
    assert found.snapshot_id == first.snapshot_id
    second = store.save(table, {}, latest=True)
    found = store.latest(max_age_s=3600)
    assert found is not None
    assert found.snapshot_id == second.snapshot_id


def test_latest_expires(tmp_path: Path, table: pa.Table) -> None:
    store = SnapshotStore(tmp_path)
    store.save(table, {}, latest=True)
    assert store.latest(max_age_s=0) is None
    assert store.latest(max_age_s=3600) is not None


def test_a_write_after_the_snapshot_retires_it(tmp_path: Path, table: pa.Table) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    saved = store.save(table, {}, latest=True)
    touch_write_marker(tmp_path)
    assert store.latest(max_age_s=None) is None
    # The file stays: an edited frame can still be diffed against it.
    assert store.load(saved.snapshot_id).table.equals(table)
    assert _mode(tmp_path / "writes.marker") == 0o600
    again = store.save(table, {}, latest=True)
    found = store.latest(max_age_s=None)
    assert found is not None
    assert found.snapshot_id == again.snapshot_id


def test_no_latest_pointer_and_missing_snapshot(tmp_path: Path, table: pa.Table) -> None:
    store = SnapshotStore(tmp_path)
    store.save(table, {}, latest=True)
    (store.directory / "latest.json").unlink()
    assert store.latest(max_age_s=None) is None
    with pytest.raises(FileNotFoundError):
        store.load(new_snapshot_id())


def test_snapshot_ids_sort_by_time_and_are_unique() -> None:
    ids = [new_snapshot_id() for _ in range(50)]
    assert len(set(ids)) == 50
    assert [i.split("-")[0] for i in ids] == sorted(i.split("-")[0] for i in ids)


def test_save_keeps_only_the_newest_snapshots_and_always_the_latest(
    tmp_path: Path, table: pa.Table
) -> None:
    store = SnapshotStore(tmp_path / "snaps", keep=3)
    full = store.save(table, {}, latest=True)
    email_loads = [store.save(table, {"email": "a@x"}, latest=False) for _ in range(4)]
    kept = sorted(p.stem for p in store.directory.glob("*.arrow"))
    # The three newest, plus the full load latest.json still points at.
    assert kept == sorted([full.snapshot_id, *(s.snapshot_id for s in email_loads[-3:])])
    _forget_memory()
    assert store.latest(max_age_s=None) is not None
    with pytest.raises(FileNotFoundError):
        store.load(email_loads[0].snapshot_id)


def test_prune_removes_a_crashed_saves_old_temp_file_only(tmp_path: Path, table: pa.Table) -> None:
    store = SnapshotStore(tmp_path / "snaps")
    store.save(table, {}, latest=True)
    old, fresh = store.directory / "old.tmp", store.directory / "fresh.tmp"
    old.write_bytes(b"partial")
    fresh.write_bytes(b"being written")
    os.utime(old, (0, 0))
    store.prune()
    assert not old.exists()
    assert fresh.exists()


def test_keep_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep"):
        SnapshotStore(tmp_path, keep=0)


def test_planning_against_a_pruned_snapshot_says_why(tmp_path: Path, table: pa.Table) -> None:
    info = {"snapshot_dir": str(tmp_path / "snaps"), "snapshot_id": new_snapshot_id()}
    with pytest.raises(ValidationError, match="pruned after 5 newer"):
        _load_baseline(info)


def _big_table(rows: int) -> pa.Table:
    """A table whose buffers come from Arrow's pool (a saved load's, not a memory map)."""
    return pa.table({"id": pa.array(range(rows), pa.int64())})


def test_memory_is_bounded_by_bytes_and_released_when_the_frames_are_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = 200_000  # 1.6 MB of int64
    monkeypatch.setattr(SnapshotStore, "memory_bytes", 2 * rows * 8)
    store = SnapshotStore(tmp_path / "snaps", keep=10)
    before = pa.total_allocated_bytes()
    ids = [store.save(_big_table(rows), {}, latest=False).snapshot_id for _ in range(5)]
    # Nothing but the store refers to the tables now: it keeps two of the five, no more.
    assert pa.total_allocated_bytes() - before <= 2 * rows * 8 + 2**16
    kept = [key[1] for key in SnapshotStore._memory]
    assert kept == ids[-2:]
    assert store.load(ids[0]).table.num_rows == rows  # an evicted one comes back from disk


def test_a_table_larger_than_the_bound_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SnapshotStore, "memory_bytes", 1000)
    store = SnapshotStore(tmp_path / "snaps")
    before = pa.total_allocated_bytes()
    table = _big_table(100_000)
    snapshot = store.save(table, {}, latest=True)
    del table, snapshot
    assert not SnapshotStore._memory
    assert pa.total_allocated_bytes() - before < 2**16  # the frame's memory is released
