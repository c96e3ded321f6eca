"""The apply journal: one JSON line per event, flushed and fsync'ed before and after each request.

A journal belongs to exactly one plan (its first line names the plan's id, a hash of
``plan.to_json()``), so applying the same plan with the same journal resumes where it stopped:
the ``done`` records say which operations the server already has. Records hold operation ids,
methods, paths, statuses and error texts; never credentials, never request bodies.

    {"event": "plan", "format": "cm_frames.journal", "version": 1, "plan_id": "…", ...}
    {"event": "run", "run": 1, "requests": 12, "time": "…"}
    {"event": "sending", "run": 1, "request": "…", "method": "POST", "path": "…", "op_ids": […], "time": "…"}
    {"event": "done", "run": 1, "request": "…", "op_ids": […], "status": 200, "time": "…"}
    {"event": "failed", "run": 1, "request": "…", "op_ids": […], "status": 404, "error": "…", "time": "…"}
    {"event": "finished", "run": 1, "complete": true, "applied": 30, ..., "time": "…"}

A run that ends ``complete`` (nothing failed) closes the episode: applying the same plan again
later starts afresh (the conflict check then finds what is already in place), so that
apply → undo → apply really applies again instead of "resuming" a finished run.

A process killed mid-request leaves a ``sending`` record with no outcome: the server may or
may not have the change. Such operations are *unconfirmed*: not done, so a resume re-reads
them in its conflict check and sends only those the server does not hold yet.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cm_frames.errors import ValidationError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one apply per journal is then up to the user
    fcntl = None  # type: ignore[assignment]

__all__ = ["FORMAT", "Journal", "JournalState", "read_journal", "request_id"]

FORMAT = "cm_frames.journal"
VERSION = 1


def request_id(op_ids: Sequence[str]) -> str:
    """Return a short id for the request that carries ``op_ids`` (stable across runs).

    Parameters
    ----------
    op_ids : sequence of str
        The ids of the request's operations, in order.

    Returns
    -------
    str
        Twelve hex digits.

    Examples
    --------
    >>> request_id(["op-a", "op-b"]) == request_id(["op-a", "op-b"]) != request_id(["op-a"])
    True
    >>> len(request_id(["op-a"]))
    12
    """
    return hashlib.blake2b("\n".join(op_ids).encode(), digest_size=6).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class JournalState:
    """What an existing journal says: its plan id, how many runs it holds, what is done.

    ``unconfirmed``: operations sent in this episode whose success was never recorded (the
    answer was an error, or never came because the process or the connection died).

    Parameters
    ----------
    plan_id : str or None
        The plan the journal belongs to (None: an empty or missing journal).
    runs : int
        How many runs (applies) it records.
    done : frozenset of str
        The operations the server confirmed in this episode.
    unconfirmed : frozenset of str, optional
        The operations sent in this episode without a recorded success.

    Examples
    --------
    >>> JournalState(None, 0, frozenset()).done
    frozenset()
    """

    def __init__(
        self,
        plan_id: str | None,
        runs: int,
        done: frozenset[str],
        unconfirmed: frozenset[str] = frozenset(),
    ) -> None:
        self.plan_id = plan_id
        self.runs = runs
        self.done = done
        self.unconfirmed = unconfirmed


def read_journal(path: Path) -> JournalState:
    """Parse a journal file (a missing or empty file is a journal with nothing in it).

    A last line cut short (the process died while writing it) is ignored: it can only be a
    ``sending`` or an outcome record, and a lost outcome means the operations count as not
    done, so they are checked against the server and sent again if still needed.

    Parameters
    ----------
    path : Path
        The journal file.

    Returns
    -------
    JournalState
        Its plan id, runs, done and unconfirmed operations.

    Raises
    ------
    ValidationError
        When a line before the last is not JSON, or the file is not a cm_frames journal.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "plan.jsonl"
    >>> with Journal.open(path, "plan-1", operations=2) as journal:
    ...     journal.start_run(requests=1)
    ...     request = request_id(["op-a", "op-b"])
    ...     journal.sending(request, "POST", "customers/1/attributes/tags", ["op-a", "op-b"])
    ...     journal.done(request, ["op-a", "op-b"], status=200)
    ...     journal.finished(complete=False, counts={"applied": 2})
    >>> state = read_journal(path)
    >>> state.plan_id, state.runs, sorted(state.done)
    ('plan-1', 1, ['op-a', 'op-b'])
    >>> read_journal(path.with_name("missing.jsonl")).plan_id is None
    True
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return JournalState(None, 0, frozenset())
    lines = text.splitlines()
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines) and not text.endswith("\n"):
                break  # the torn last write of a crashed run
            raise ValidationError(
                f"journal {path} line {number} is not JSON: the file is damaged; pass another "
                "journal= path (or delete this one to start over: then the conflict check decides "
                "what is still needed)"
            ) from None
        if not isinstance(record, dict):
            raise ValidationError(f"journal {path} line {number} is not a JSON object")
        records.append(record)
    if not records:
        return JournalState(None, 0, frozenset())
    header = records[0]
    if header.get("event") != "plan" or header.get("format") != FORMAT:
        raise ValidationError(
            f"{path} is not a cm_frames journal (its first line is not a plan header); "
            "pass journal= a new path or the journal this plan was applied with"
        )
    done: set[str] = set()
    sent: set[str] = set()
    runs = 0
    for record in records[1:]:
        event = record.get("event")
        if event == "run":
            runs = max(runs, int(record.get("run", 0)))
        elif event == "sending":
            sent.update(str(op_id) for op_id in record.get("op_ids", ()))
        elif event == "done":
            done.update(str(op_id) for op_id in record.get("op_ids", ()))
        elif event == "finished" and record.get("complete") is True:
            done.clear()
            sent.clear()
    return JournalState(str(header.get("plan_id")), runs, frozenset(done), frozenset(sent - done))


def _mend_torn_tail(fd: int) -> None:
    """End the file with a whole line, so that the next record starts a line of its own.

    A crash mid-write can leave a last line without its newline. ``read_journal`` ignores it
    when it is not JSON, but a record appended to it would merge with it into a damaged line
    in the middle of the file, which the next resume refuses. A last line that is whole JSON
    (only its newline was lost) keeps its meaning and gets the newline; a cut one is removed.
    """
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0 or _read_at(fd, size - 1, 1) == b"\n":
        return
    start, tail = size, b""
    while start > 0 and b"\n" not in tail:
        step = min(4096, start)
        start -= step
        tail = _read_at(fd, start, step) + tail
    line_start = tail.rfind(b"\n") + 1
    try:
        json.loads(tail[line_start:])
    except ValueError:
        os.ftruncate(fd, start + line_start)
    else:
        os.write(fd, b"\n")
    os.fsync(fd)


def _read_at(fd: int, offset: int, size: int) -> bytes:
    # lseek + read rather than os.pread, which Windows lacks; appends ignore the offset.
    os.lseek(fd, offset, os.SEEK_SET)
    chunks = []
    while size > 0:
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class Journal:
    """An open journal for one plan: append-only, thread-safe, durable per record.

    ``open`` refuses a journal of another plan and one another process is applying right now
    (an exclusive ``flock`` held until ``close``). Build one with ``open``, not the
    constructor; as a context manager it closes on leaving the block.

    Parameters
    ----------
    path : Path
        The journal file.
    fd : int
        Its descriptor, opened for appending and locked.
    plan_id : str
        The plan's id.
    state : JournalState
        What the file held when opened.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "plan.jsonl"
    >>> with Journal.open(path, "plan-1", operations=2) as journal:
    ...     journal.start_run(requests=1)
    ...     request = request_id(["op-a", "op-b"])
    ...     journal.sending(request, "POST", "customers/1/attributes/tags", ["op-a", "op-b"])
    ...     journal.done(request, ["op-a", "op-b"], status=200)
    ...     journal.finished(complete=False, counts={"applied": 2})
    >>> [json.loads(line)["event"] for line in path.read_text().splitlines()]
    ['plan', 'run', 'sending', 'done', 'finished']
    >>> Journal.open(path, "plan-1", operations=2).done_op_ids == {"op-a", "op-b"}
    True
    """

    def __init__(self, path: Path, fd: int, plan_id: str, state: JournalState) -> None:
        self.path = path
        self.plan_id = plan_id
        self.done_op_ids = state.done
        self.unconfirmed_op_ids = state.unconfirmed
        self.run = state.runs + 1
        self._fd = fd
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, plan_id: str, *, operations: int, source: Any = None) -> Journal:
        """Open (or create, mode 0600 in a 0700 directory) the journal of plan ``plan_id``.

        Parameters
        ----------
        path : Path
            The journal file (its directory is created if needed).
        plan_id : str
            The id of the plan being applied.
        operations : int
            The plan's number of operations (recorded in a new journal's header).
        source : object, optional
            JSON-safe provenance of the plan, recorded in a new journal's header.

        Returns
        -------
        Journal
            The open, locked journal; ``run`` is the number of this run.

        Raises
        ------
        ValidationError
            When ``path`` is a directory, another apply holds the journal, or it belongs to
            another plan.
        """
        path = Path(path)
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True)
        if path.is_dir():
            raise ValidationError(
                f"journal {path} is a directory; pass journal= the path of a file"
            )
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o600)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # it lists customer ids: never readable by other users
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ValidationError(
                    f"journal {path} is in use by another apply of this plan (running in another "
                    "thread or process); wait for it to finish, then apply again to resume"
                ) from None
            state = read_journal(path)
            if state.plan_id is not None and state.plan_id != plan_id:
                raise ValidationError(
                    f"journal {path} belongs to another plan ({state.plan_id}), not this one "
                    f"({plan_id}); pass journal=None to use this plan's own journal, or the "
                    "journal this plan was applied with to resume it"
                )
            _mend_torn_tail(fd)
            journal = cls(path, fd, plan_id, state)
            if state.plan_id is None:
                journal._write(
                    {
                        "event": "plan",
                        "format": FORMAT,
                        "version": VERSION,
                        "plan_id": plan_id,
                        "operations": operations,
                        "source": source,
                        "time": _now(),
                    }
                )
        except BaseException:
            os.close(fd)
            raise
        return journal

    def start_run(self, requests: int) -> None:
        """Record the start of a run that will send ``requests`` requests.

        Parameters
        ----------
        requests : int
            How many requests the run will send.
        """
        self._write({"event": "run", "run": self.run, "requests": requests, "time": _now()})

    def sending(self, request: str, method: str, path: str, op_ids: Iterable[str]) -> None:
        """Record (durably) that a request is about to leave.

        Parameters
        ----------
        request : str
            The request's id (``request_id``).
        method, path : str
            Its HTTP method and path.
        op_ids : iterable of str
            The operations it carries.
        """
        self._write(
            {
                "event": "sending",
                "run": self.run,
                "request": request,
                "method": method,
                "path": path,
                "op_ids": list(op_ids),
                "time": _now(),
            }
        )

    def done(self, request: str, op_ids: Iterable[str], status: int) -> None:
        """Record that the server confirmed a request: its operations count as applied.

        Parameters
        ----------
        request : str
            The request's id.
        op_ids : iterable of str
            The operations it carried.
        status : int
            The HTTP status of the answer.
        """
        self._write(
            {
                "event": "done",
                "run": self.run,
                "request": request,
                "op_ids": list(op_ids),
                "status": status,
                "time": _now(),
            }
        )

    def failed(self, request: str, op_ids: Iterable[str], status: int | None, error: str) -> None:
        """Record that a request failed for good (after the client's retries).

        Parameters
        ----------
        request : str
            The request's id.
        op_ids : iterable of str
            The operations it carried.
        status : int or None
            The HTTP status of the answer (None when none came).
        error : str
            What went wrong.
        """
        self._write(
            {
                "event": "failed",
                "run": self.run,
                "request": request,
                "op_ids": list(op_ids),
                "status": status,
                "error": error,
                "time": _now(),
            }
        )

    def finished(self, *, complete: bool, counts: dict[str, int]) -> None:
        """Record the end of a run; ``complete`` (nothing failed) ends the episode.

        Parameters
        ----------
        complete : bool
            Nothing failed or conflicted: applying the plan again starts afresh.
        counts : dict of str to int
            The run's counts per status, recorded as they are.
        """
        self._write(
            {"event": "finished", "run": self.run, "complete": complete, **counts, "time": _now()}
        )

    def _write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        with self._lock:
            if self._fd < 0:
                raise ValidationError(f"journal {self.path} is closed")
            # Whole lines under the lock on an O_APPEND descriptor: lines never interleave.
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view) :]
        # Outside the lock: concurrent workers' fsyncs overlap (the kernel merges them).
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the file and release its lock (again: nothing happens)."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)  # releases the flock too
                self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
