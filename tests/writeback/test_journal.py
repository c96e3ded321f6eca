"""The apply journal on its own: records, durability rules, ownership by one plan, locking."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

import cm_frames as cm
from cm_frames.writeback.journal import FORMAT, Journal, read_journal, request_id


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_new_journal_is_private_and_starts_with_the_plan_header(tmp_path: Path) -> None:
    path = tmp_path / "journals" / "p.jsonl"
    with Journal.open(path, "plan-1", operations=3, source={"base_url": "http://x/v1/"}):
        pass
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [header] = _records(path)
    assert header["event"] == "plan"
    assert header["format"] == FORMAT
    assert header["plan_id"] == "plan-1"
    assert header["operations"] == 3


def test_a_laxer_existing_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("")
    path.chmod(0o644)
    with Journal.open(path, "plan-1", operations=1):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_done_records_are_what_counts_as_applied(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with Journal.open(path, "plan-1", operations=4) as journal:
        journal.start_run(3)
        journal.sending("r1", "POST", "customers/1/attributes/tags", ["a", "b"])
        journal.done("r1", ["a", "b"], 200)
        journal.sending("r2", "PUT", "customers/2/attributes/custom", ["c"])
        journal.failed("r2", ["c"], 404, "HTTP 404: no such customer")
        journal.sending("r3", "DELETE", "customers/3/attributes/tags", ["d"])  # no outcome
    events = [r["event"] for r in _records(path)]
    assert events == ["plan", "run", "sending", "done", "sending", "failed", "sending"]
    state = read_journal(path)
    assert state.plan_id == "plan-1"
    assert state.runs == 1
    assert state.done == {"a", "b"}

    with Journal.open(path, "plan-1", operations=4) as again:
        assert again.done_op_ids == {"a", "b"}
        assert again.run == 2


def test_a_journal_of_another_plan_is_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with Journal.open(path, "plan-1", operations=1):
        pass
    with pytest.raises(cm.ValidationError, match=r"another plan \(plan-1\).*\(plan-2\)"):
        Journal.open(path, "plan-2", operations=1)
    assert len(_records(path)) == 1  # untouched


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(cm.ValidationError, match="not a cm_frames journal"):
        Journal.open(path, "plan-1", operations=1)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(cm.ValidationError, match="is a directory"):
        Journal.open(tmp_path, "plan-1", operations=1)


def test_a_torn_last_line_is_ignored_but_damage_inside_is_not(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with Journal.open(path, "plan-1", operations=2) as journal:
        journal.done("r1", ["a"], 200)
    with path.open("a") as file:
        file.write('{"event": "done", "op_ids": ["b"')  # the process died mid-write
    assert read_journal(path).done == {"a"}

    path.write_text(path.read_text() + "\n" + '{"event": "done", "op_ids": ["c"]}\n')
    with pytest.raises(cm.ValidationError, match="line 3 is not JSON"):
        read_journal(path)


def test_a_complete_run_ends_the_episode(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with Journal.open(path, "plan-1", operations=1) as journal:
        journal.done("r1", ["a"], 200)
        journal.finished(complete=False, counts={"applied": 1, "failed": 1})
    assert read_journal(path).done == {"a"}  # an unfinished episode resumes
    with Journal.open(path, "plan-1", operations=1) as journal:
        journal.finished(complete=True, counts={"applied": 1, "failed": 0})
    assert read_journal(path).done == frozenset()  # applying again starts afresh


def test_a_journal_with_the_old_count_name_still_resumes_and_closes(tmp_path: Path) -> None:
    # Journals written before the counts were renamed say "conflicts" where they now say
    # "conflicted"; the counts are a record for people, the episode turns on "complete" only.
    path = tmp_path / "p.jsonl"
    header = {"event": "plan", "format": FORMAT, "version": 1, "plan_id": "plan-1"}
    finished = {"event": "finished", "run": 1, "applied": 1, "skipped": 0, "conflicts": 1}
    lines = [
        header,
        {"event": "run", "run": 1, "requests": 2},
        {"event": "done", "run": 1, "request": "r1", "op_ids": ["a"], "status": 200},
        finished | {"complete": False, "failed": 1},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    state = read_journal(path)
    assert (state.plan_id, state.runs, state.done) == ("plan-1", 1, {"a"})
    with Journal.open(path, "plan-1", operations=1) as journal:
        assert journal.run == 2
    path.write_text(
        path.read_text() + json.dumps(finished | {"complete": True, "failed": 0}) + "\n"
    )
    assert read_journal(path).done == frozenset()


def test_only_one_apply_at_a_time_may_hold_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with (
        Journal.open(path, "plan-1", operations=1),
        pytest.raises(cm.ValidationError, match="in use by another apply"),
    ):
        Journal.open(path, "plan-1", operations=1)
    with Journal.open(path, "plan-1", operations=1):  # released on close
        pass


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with Journal.open(path, "plan-1", operations=800) as journal:

        def write(worker: int) -> None:
            for i in range(100):
                op_ids = [f"{worker}-{i}-{'x' * 50}"]
                journal.sending(request_id(op_ids), "POST", "customers/1/attributes/tags", op_ids)
                journal.done(request_id(op_ids), op_ids, 200)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    records = _records(path)  # every line parses
    assert len(records) == 1 + 8 * 100 * 2
    assert len(read_journal(path).done) == 800


def test_request_ids_are_stable_and_distinct() -> None:
    assert request_id(["a", "b"]) == request_id(["a", "b"])
    assert request_id(["a", "b"]) != request_id(["b", "a"])
    assert len(request_id(["a"])) == 12


def test_a_torn_last_line_is_cut_off_so_later_records_stay_whole(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with Journal.open(path, "plan-1", operations=3) as journal:
        journal.done("r1", ["a"], 200)
    with path.open("a") as file:
        file.write('{"event": "done", "op_ids": ["b"')  # the process died mid-write

    with Journal.open(path, "plan-1", operations=3) as journal:  # the resume
        journal.done("r2", ["c"], 200)

    assert read_journal(path).done == {"a", "c"}  # a second resume can still read it
    assert [r["event"] for r in _records(path)] == ["plan", "done", "done"]


def test_a_last_record_that_only_lost_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with Journal.open(path, "plan-1", operations=2) as journal:
        journal.done("r1", ["a"], 200)
    path.write_text(path.read_text().rstrip("\n"))

    with Journal.open(path, "plan-1", operations=2) as journal:
        journal.done("r2", ["b"], 200)

    assert read_journal(path).done == {"a", "b"}


def test_a_torn_header_is_replaced_by_a_whole_one(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"event": "plan", "form')
    with Journal.open(path, "plan-1", operations=1) as journal:
        journal.done("r1", ["a"], 200)
    assert [r["event"] for r in _records(path)] == ["plan", "done"]
    assert read_journal(path).plan_id == "plan-1"


def test_sent_without_a_recorded_success_is_unconfirmed(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with Journal.open(path, "plan-1", operations=5) as journal:
        journal.start_run(4)
        journal.sending("r1", "POST", "customers/1/attributes/tags", ["a"])
        journal.done("r1", ["a"], 200)
        journal.sending("r2", "PUT", "customers/2/attributes/custom", ["b"])
        journal.failed("r2", ["b"], None, "no answer from the API")
        journal.sending("r3", "DELETE", "customers/3/attributes/tags", ["c", "d"])  # killed
    state = read_journal(path)
    assert state.done == {"a"}
    assert state.unconfirmed == {"b", "c", "d"}

    with Journal.open(path, "plan-1", operations=5) as journal:
        assert journal.unconfirmed_op_ids == {"b", "c", "d"}
        journal.sending("r4", "PUT", "customers/2/attributes/custom", ["b"])
        journal.done("r4", ["b"], 200)
    assert read_journal(path).unconfirmed == {"c", "d"}

    with Journal.open(path, "plan-1", operations=5) as journal:
        journal.finished(complete=True, counts={"applied": 5, "failed": 0})
    assert read_journal(path).unconfirmed == frozenset()  # a new episode starts clean
