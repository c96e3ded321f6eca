"""Baseline snapshots: the frame as loaded, kept as Arrow IPC in the account's cache directory.

A snapshot serves twice: a warm reload maps it from disk instead of fetching every page
again, and write-back diffs an edited frame against it. Snapshots are immutable files named
by id; ``latest.json`` points at the newest complete full-account load. A write through any
client of the account touches ``writes.marker`` (see ``client.py``), and a snapshot older
than that marker is never served as "latest" again, whichever process wrote.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.ipc as ipc

from cm_frames._files import WRITE_MARKER, create_private, write_private_text

__all__ = [
    "KEEP_SNAPSHOTS",
    "Snapshot",
    "SnapshotStore",
    "new_snapshot_id",
]

_LATEST = "latest.json"
_SUFFIX = ".arrow"
_METADATA_KEY = b"cm_frames"
# Recently used snapshots stay in memory: a frame built from one shares its Arrow buffers,
# so keeping the table costs nothing extra while the frame lives, and plan() needs no reload.
# Bounded by count and by bytes, so tables whose frames are gone pin at most _MEMORY_BYTES.
_MEMORY_SLOTS = 4
_MEMORY_BYTES = 256 * 2**20
# Snapshots kept per account: each is a whole load (56 MiB for 100k emulator customers), and only
# recent ones serve as warm loads or as baselines of frames still being edited.
KEEP_SNAPSHOTS = 5
# A temp file older than this is a crashed save's leftover, not a save in progress.
_STALE_TEMP_S = 3600


def new_snapshot_id(now: datetime | None = None) -> str:
    """A sortable, unique id: UTC time to the microsecond plus random bits.

    Parameters
    ----------
    now : datetime, optional
        The time to stamp (default: now, UTC).

    Returns
    -------
    str
        E.g. ``20260102T030405000006Z-a1b2c3``.

    Examples
    --------
    >>> new_snapshot_id(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC))[:22]
    '20260102T030405000006Z'
    """
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One stored load: its id, the Arrow table and the JSON-safe metadata saved with it.

    Parameters
    ----------
    snapshot_id : str
        Its id (``new_snapshot_id``), also its file's name.
    table : pyarrow.Table
        The load's flat table (``frame_to_table``).
    metadata : dict
        What was saved with it (for a load: the account, the custom types, when), plus
        ``snapshot_id``.
    """

    snapshot_id: str
    table: pa.Table
    metadata: dict[str, Any]


class SnapshotStore:
    """Snapshots of one account, in ``directory`` (created 0700; files written 0600).

    ``write_marker`` is the file the account's clients touch after each write (by default
    ``writes.marker`` in the directory above, the account's cache directory).

    Parameters
    ----------
    directory : Path or str
        Where the snapshots are kept.
    write_marker : Path or str, optional
        The account's write marker (default: ``writes.marker`` beside ``directory``).
    keep : int, default KEEP_SNAPSHOTS
        How many snapshots ``prune`` keeps.

    Raises
    ------
    ValueError
        When ``keep`` is below 1.

    Examples
    --------
    >>> store = SnapshotStore(client.cache_dir / "snapshots")  # doctest: +SKIP
    >>> snapshot = store.latest(max_age_s=3600)  # doctest: +SKIP
    """

    _memory: ClassVar[OrderedDict[tuple[str, str], Snapshot]] = OrderedDict()
    _memory_lock: ClassVar[threading.Lock] = threading.Lock()
    #: At most this many snapshots, and this many bytes of their tables, stay in memory
    #: (for every store of the process); a larger table is never kept.
    memory_slots: ClassVar[int] = _MEMORY_SLOTS
    memory_bytes: ClassVar[int] = _MEMORY_BYTES

    def __init__(
        self,
        directory: Path | str,
        write_marker: Path | str | None = None,
        *,
        keep: int = KEEP_SNAPSHOTS,
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep: at least 1 snapshot must be kept, got {keep}")
        self.directory = Path(directory)
        self.keep = keep
        self.write_marker = (
            Path(write_marker) if write_marker else self.directory.parent / WRITE_MARKER
        )

    def save(self, table: pa.Table, metadata: dict[str, Any], *, latest: bool) -> Snapshot:
        """Write a new snapshot atomically; with ``latest`` it becomes the one warm reads serve.

        Parameters
        ----------
        table : pyarrow.Table
            The load.
        metadata : dict
            JSON-safe metadata saved with it (``snapshot_id`` is added).
        latest : bool
            Point ``latest.json`` at it.

        Returns
        -------
        Snapshot
            The saved snapshot.

        Examples
        --------
        >>> store.save(table, {"customers": 3}, latest=True).snapshot_id  # doctest: +SKIP
        """
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        snapshot_id = new_snapshot_id()
        metadata = {**metadata, "snapshot_id": snapshot_id}
        schema = table.schema.with_metadata({_METADATA_KEY: json.dumps(metadata).encode()})
        table = table.replace_schema_metadata(schema.metadata)
        final = self.directory / f"{snapshot_id}{_SUFFIX}"
        temp = final.with_suffix(".tmp")
        create_private(temp)
        with pa.OSFile(str(temp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        os.replace(temp, final)
        snapshot = Snapshot(snapshot_id, table, metadata)
        self._remember(snapshot)
        if latest:
            pointer = {"snapshot_id": snapshot_id, "created_ns": time.time_ns()}
            write_private_text(self.directory / _LATEST, json.dumps(pointer))
        self.prune()
        return snapshot

    def prune(self) -> list[str]:
        """Delete all but the ``keep`` newest snapshots (and crashed saves' temp files).

        The snapshot ``latest.json`` points at is always kept. Returns the ids deleted. A frame
        loaded from a deleted snapshot can no longer be planned against it; plan() says so.

        Returns
        -------
        list of str
            The ids deleted.

        Examples
        --------
        >>> store.prune()  # doctest: +SKIP
        []
        """
        try:
            pointer = json.loads((self.directory / _LATEST).read_text())
            latest = str(pointer["snapshot_id"])
        except (OSError, ValueError, KeyError, TypeError):
            latest = None
        ids = sorted((p.stem for p in self.directory.glob(f"*{_SUFFIX}")), reverse=True)
        doomed = [i for i in ids[self.keep :] if i != latest]
        for snapshot_id in doomed:
            (self.directory / f"{snapshot_id}{_SUFFIX}").unlink(missing_ok=True)
        cutoff = time.time() - _STALE_TEMP_S
        for temp in self.directory.glob("*.tmp"):
            try:
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()
            except FileNotFoundError:
                pass  # another process finished or removed it
        return doomed

    def load(self, snapshot_id: str) -> Snapshot:
        """The snapshot with that id; ``FileNotFoundError`` when it was cleared.

        Parameters
        ----------
        snapshot_id : str
            The id (``Snapshot.snapshot_id``).

        Returns
        -------
        Snapshot
            From memory when recently used, else memory-mapped from its file.

        Raises
        ------
        FileNotFoundError
            When there is no such snapshot.

        Examples
        --------
        >>> store.load(snapshot.snapshot_id).table.num_rows  # doctest: +SKIP
        """
        key = (str(self.directory), snapshot_id)
        with self._memory_lock:
            cached = self._memory.get(key)
            if cached is not None:
                self._memory.move_to_end(key)
                return cached
        path = self.directory / f"{snapshot_id}{_SUFFIX}"
        if not path.is_file():
            raise FileNotFoundError(path)
        # Memory-mapped: a warm reload of 100k customers reads only the pages it touches.
        with pa.memory_map(str(path)) as source:
            table = ipc.open_file(source).read_all()
        raw = (table.schema.metadata or {}).get(_METADATA_KEY, b"{}")
        snapshot = Snapshot(snapshot_id, table, json.loads(raw))
        self._remember(snapshot)
        return snapshot

    def latest(self, *, max_age_s: float | None) -> Snapshot | None:
        """The newest full load if it is younger than ``max_age_s`` and no write came after it.

        Parameters
        ----------
        max_age_s : float or None
            The oldest a snapshot may be, in seconds (None: any age).

        Returns
        -------
        Snapshot or None
            The snapshot, or None when there is none to serve.

        Examples
        --------
        >>> store.latest(max_age_s=3600) is None  # doctest: +SKIP
        """
        try:
            pointer = json.loads((self.directory / _LATEST).read_text())
            created_ns = int(pointer["created_ns"])
            snapshot_id = str(pointer["snapshot_id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if max_age_s is not None and time.time_ns() - created_ns > max_age_s * 1e9:
            return None
        try:
            if self.write_marker.stat().st_mtime_ns >= created_ns:
                return None
        except FileNotFoundError:
            pass
        try:
            return self.load(snapshot_id)
        except (FileNotFoundError, pa.ArrowInvalid):
            return None

    def _remember(self, snapshot: Snapshot) -> None:
        key = (str(self.directory), snapshot.snapshot_id)
        with self._memory_lock:
            self._memory.pop(key, None)
            if snapshot.table.nbytes > self.memory_bytes:
                return  # too big to keep: its frame shares the buffers while it lives
            self._memory[key] = snapshot
            held = sum(kept.table.nbytes for kept in self._memory.values())
            while len(self._memory) > self.memory_slots or held > self.memory_bytes:
                _, oldest = self._memory.popitem(last=False)
                held -= oldest.table.nbytes
