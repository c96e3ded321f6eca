"""apply_plan against the emulator over real HTTP: requests, journal, conflicts, failures, resume."""

from __future__ import annotations

import json
import stat
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dialects import BOTH_DIALECTS

import cm_frames as cm
from cm_frames.emulator import Emulator
from cm_frames.writeback.apply import (
    _Attributes,
    _compare,
    _needs_retyping,
    apply_plan,
    default_journal_path,
    plan_id,
)
from cm_frames.writeback.frame import plan_frame
from cm_frames.writeback.journal import Journal, request_id
from cm_frames.writeback.operations import AddCustom, AddTags, RemoveCustom, UpdateCustom
from cm_frames.writeback.plan import Plan
from cm_frames.writeback.result import (
    ALREADY_IN_PLACE,
    APPLIED,
    CONFLICTED,
    FAILED,
    FROM_JOURNAL,
    SENT_EARLIER,
    SKIPPED,
    ApplyResult,
)

pytestmark = BOTH_DIALECTS

# --- fixtures and helpers ------------------------------------------------------------------


def _client(emulator: Emulator, cache_dir: Path, **options: Any) -> cm.Client:
    return cm.Client(
        emulator.token,
        emulator.secret,
        emulator.url,
        cache_dir=cache_dir,
        rate_limit=None,
        **options,
    )


def _writes(emulator: Emulator) -> list[dict[str, Any]]:
    return [e for e in emulator.request_log() if e["method"] != "GET"]


def _gets(emulator: Emulator) -> list[str]:
    return [e["path"] for e in emulator.request_log() if e["method"] == "GET"]


def _wire(method: str, path: str, body: Any) -> tuple[str, str, str]:
    return method, path, json.dumps(body, sort_keys=True)


def _sent(emulator: Emulator, *, ok_only: bool = True) -> list[tuple[str, str, str]]:
    return [
        _wire(e["method"], e["path"], e["body"])
        for e in _writes(emulator)
        if not ok_only or e["status"] == 200
    ]


def _expected(plan: Plan) -> list[tuple[str, str, str]]:
    return [_wire(r.method, "/v1/" + r.path, r.body) for r in plan.requests()]


def _ids_with(df: pd.DataFrame, column: str, n: int) -> list[int]:
    return df.index[df[column].notna().to_numpy()][:n].tolist()


def _ids_without(df: pd.DataFrame, column: str, n: int) -> list[int]:
    return df.index[df[column].isna().to_numpy()][:n].tolist()


def _shared_email(df: pd.DataFrame, size: int) -> tuple[str, list[int]]:
    counts = df["email"].value_counts()
    email = str(counts[counts == size].index[0])
    return email, df.index[(df["email"] == email).to_numpy()].tolist()


# A Timestamp to the microsecond; today's API keeps milliseconds (finer is refused there).
STAMPS = {
    "enrichment": pd.Timestamp("2030-01-02T03:04:05.123456Z"),
    "current": pd.Timestamp("2030-01-02T03:04:05.123Z"),
}


def _mixed_edit(df: pd.DataFrame) -> pd.DataFrame:
    """Every kind of operation on a handful of customers (tags, all four custom types)."""
    edited = df.copy()
    ids = edited.index[:12].tolist()
    edited["tag.apply-test"] = False
    edited.loc[ids[:6], "tag.apply-test"] = True  # AddTags (new column)
    vip = _ids_with(edited[edited["tag.vip"]], "uuid", 2)
    edited.loc[vip, "tag.vip"] = False  # RemoveTags
    edited["custom.apply_score"] = pd.array([None] * len(edited), dtype="Int64")
    edited.loc[ids[2:8], "custom.apply_score"] = 42  # AddCustom Integer
    with_cac = _ids_with(edited, "custom.CAC", 4)
    edited.loc[with_cac[:3], "custom.CAC"] = 7  # UpdateCustom Integer
    edited.loc[with_cac[3:], "custom.CAC"] = pd.NA  # RemoveCustom
    for column, value in (
        ("custom.pro", True),
        ("custom.convertedAt", STAMPS[df.attrs["chartmogul"].get("dialect", "enrichment")]),
        ("custom.salesRep", "Zoë <b>&"),
    ):
        target = _ids_with(edited, column, 2)
        edited.loc[target, column] = value
    return edited


# --- requests and results -------------------------------------------------------------------


def test_apply_sends_exactly_the_plans_requests(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, api: Any
) -> None:
    edited = _mixed_edit(df)
    _email, sharers = _shared_email(df, 2)
    edited.loc[sharers, "tag.shared-email"] = True  # identical for both sharers: by email
    edited["tag.shared-email"] = edited["tag.shared-email"].fillna(False).astype(bool)
    plan = plan_frame(edited)
    assert any(r.by_email for r in plan.requests())
    emulator.clear_request_log()

    result = plan.apply(client, progress=False)

    assert sorted(_sent(emulator)) == sorted(_expected(plan))
    assert len(_writes(emulator)) == len(plan.requests())
    assert result.ok
    assert (result.applied, result.skipped, result.conflicted, result.failed) == (
        len(plan),
        0,
        0,
        0,
    )
    assert [row.op_id for row in result.rows] == [op.op_id for op in plan.operations]
    assert all(row.status == APPLIED and row.note is None for row in result.rows)
    for customer_id in sharers:
        assert "shared-email" in api.attributes(customer_id)["tags"]


def test_result_table_and_reprs(client: cm.Client, df: pd.DataFrame) -> None:
    plan = plan_frame(_mixed_edit(df))
    result = plan.apply(client, progress=False)

    frame = result.to_frame()
    assert list(frame.columns) == [
        "op_id",
        "id",
        "kind",
        "attribute",
        "old",
        "new",
        "status",
        "error",
        "note",
        "server",
    ]
    assert all(isinstance(dtype, pd.ArrowDtype) for dtype in frame.dtypes)
    assert len(frame) == len(plan)
    assert set(frame["status"]) == {"applied"}
    stamp = frame[frame["attribute"] == "custom.convertedAt"]["new"].iloc[0]
    written = {
        "enrichment": "2030-01-02T03:04:05.123456Z",
        "current": "2030-01-02T03:04:05.123000Z",
    }
    assert stamp == written[df.attrs["chartmogul"]["dialect"]]

    text = repr(result)
    assert f"{len(plan)} applied" in text
    assert str(result.journal_path) in text
    markup = result._repr_html_()
    assert str(result.journal_path) in markup
    assert "<b>&" not in markup  # values are escaped (there are none here; paths are)


def test_not_applied_rows_are_listed_and_escaped(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, api: Any
) -> None:
    target = _ids_with(df, "custom.salesRep", 1)[0]
    edited = df.copy()
    edited.loc[target, "custom.salesRep"] = "new <i>rep</i>"
    plan = plan_frame(edited)
    api.put(
        f"{api.customer_path(target)}/attributes/custom", json={"custom": {"salesRep": "<script>x"}}
    )

    result = plan.apply(client, progress=False)

    assert result.conflicted == 1
    assert "1 conflicted" in repr(result)
    markup = result._repr_html_()
    assert "<script>" not in markup
    assert "&lt;script&gt;x" in markup
    assert "new &lt;i&gt;rep&lt;/i&gt;" in markup


def test_empty_plan_sends_nothing(emulator: Emulator, client: cm.Client, df: pd.DataFrame) -> None:
    emulator.clear_request_log()
    result = plan_frame(df.copy()).apply(client, progress=False)
    assert result.rows == ()
    assert result.ok
    assert result.journal_path is None
    assert emulator.request_log() == []


def test_progress_bar_and_callback(
    client: cm.Client, df: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_frame(_mixed_edit(df))
    plan.apply(client)
    assert "Applying" in capsys.readouterr().err

    seen: list[tuple[int, int]] = []
    plan.inverse().apply(client, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(plan), len(plan))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


# --- the journal ----------------------------------------------------------------------------


def test_journal_records_every_request_without_credentials(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame
) -> None:
    plan = plan_frame(_mixed_edit(df))
    result = plan.apply(client, progress=False)

    path = result.journal_path
    assert path == default_journal_path(client, plan)
    assert path == client.cache_dir / "journals" / f"{plan_id(plan)}.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert emulator.secret not in text
    assert emulator.token not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["event"] == "plan"
    assert records[0]["plan_id"] == plan_id(plan)
    sending = [r for r in records if r["event"] == "sending"]
    done = [r for r in records if r["event"] == "done"]
    assert len(sending) == len(done) == len(plan.requests())
    position = {id(r): i for i, r in enumerate(records)}
    first_send = {r["request"]: position[id(r)] for r in sending}
    assert all(first_send[r["request"]] < position[id(r)] for r in done)
    assert sorted(op for r in done for op in r["op_ids"]) == sorted(
        op.op_id for op in plan.operations
    )
    assert records[-1]["event"] == "finished"
    assert records[-1]["complete"] is True


def test_a_journal_of_another_plan_is_refused_before_sending(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, tmp_path: Path
) -> None:
    journal = tmp_path / "mine.jsonl"
    plan_frame(_mixed_edit(df)).apply(client, journal=journal, progress=False)
    other = df.copy()
    other.loc[other.index[0], "tag.other-plan"] = True
    other["tag.other-plan"] = other["tag.other-plan"].fillna(False).astype(bool)
    emulator.clear_request_log()

    with pytest.raises(cm.ValidationError, match="belongs to another plan"):
        plan_frame(other).apply(client, journal=journal, progress=False)
    assert emulator.request_log() == []


def test_applying_again_finds_everything_in_place(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame
) -> None:
    plan = plan_frame(_mixed_edit(df))
    plan.apply(client, progress=False)
    emulator.clear_request_log()

    again = plan.apply(client, progress=False)

    assert _writes(emulator) == []
    assert again.skipped == len(plan)
    assert {row.note for row in again.rows} == {ALREADY_IN_PLACE}


def test_apply_undo_apply_applies_again(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame
) -> None:
    # A complete run ends its journal's episode: the same plan later is applied afresh.
    plan = plan_frame(_mixed_edit(df))
    first = plan.apply(client, progress=False)
    first.undo_plan().apply(client, progress=False)
    emulator.clear_request_log()

    again = plan.apply(client, progress=False)

    assert again.applied == len(plan)
    assert sorted(_sent(emulator)) == sorted(_expected(plan))


# --- conflicts ------------------------------------------------------------------------------


def test_a_later_change_on_the_server_is_a_conflict_and_is_kept(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, api: Any
) -> None:
    changed, untouched = _ids_with(df, "custom.CAC", 2)
    original = int(df.loc[changed, "custom.CAC"])
    edited = df.copy()
    edited.loc[[changed, untouched], "custom.CAC"] = 1
    plan = plan_frame(edited)
    api.put(f"{api.customer_path(changed)}/attributes/custom", json={"custom": {"CAC": 31337}})

    result = plan.apply(client, progress=False)

    assert not result.ok
    [conflict] = result.by_status(CONFLICTED)
    assert conflict.customer_id == changed
    assert (conflict.old, conflict.new, conflict.server) == (original, 1, 31337)
    assert "31337" in conflict.error
    assert str(original) in conflict.error
    assert api.attributes(changed)["custom"]["CAC"] == 31337  # nobody's change overwritten
    assert api.attributes(untouched)["custom"]["CAC"] == 1
    assert result.applied == 1


def test_conflict_rules_per_operation_kind(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, api: Any
) -> None:
    no_tag = df.index[~df["tag.vip"].to_numpy(dtype=bool)][:2].tolist()
    no_key = _ids_without(df, "custom.nps", 2)
    has_key = _ids_with(df, "custom.seats", 2)
    edited = df.copy()
    edited.loc[no_tag, "tag.vip"] = True  # AddTags
    edited.loc[no_key, "custom.nps"] = 9  # AddCustom
    edited.loc[has_key, "custom.seats"] = pd.NA  # RemoveCustom
    plan = plan_frame(edited)
    # Meanwhile: one customer got the tag, one the same new value and one another value, one
    # key was removed already and one changed.
    api.post(f"{api.customer_path(no_tag[0])}/attributes/tags", json={"tags": ["vip"]})
    add = [{"type": "Integer", "key": "nps", "value": 9}]
    api.post(f"{api.customer_path(no_key[0])}/attributes/custom", json={"custom": add})
    add = [{"type": "Integer", "key": "nps", "value": 3}]
    api.post(f"{api.customer_path(no_key[1])}/attributes/custom", json={"custom": add})
    api.delete(f"{api.customer_path(has_key[0])}/attributes/custom", json={"custom": ["seats"]})
    api.put(f"{api.customer_path(has_key[1])}/attributes/custom", json={"custom": {"seats": 999}})
    emulator.clear_request_log()

    result = plan.apply(client, progress=False)

    status = {(row.customer_id, row.attribute): row.status for row in result.rows}
    assert status == {
        (no_tag[0], "tag.vip"): SKIPPED,
        (no_tag[1], "tag.vip"): APPLIED,
        (no_key[0], "custom.nps"): SKIPPED,
        (no_key[1], "custom.nps"): CONFLICTED,
        (has_key[0], "custom.seats"): SKIPPED,
        (has_key[1], "custom.seats"): CONFLICTED,
    }
    assert api.attributes(no_key[1])["custom"]["nps"] == 3
    assert api.attributes(has_key[1])["custom"]["seats"] == 999
    assert len(_writes(emulator)) == 1  # only the one AddTags still needed


def test_check_conflicts_false_overwrites(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, api: Any
) -> None:
    [target] = _ids_with(df, "custom.CAC", 1)
    edited = df.copy()
    edited.loc[target, "custom.CAC"] = 5
    plan = plan_frame(edited)
    api.put(f"{api.customer_path(target)}/attributes/custom", json={"custom": {"CAC": 31337}})
    emulator.clear_request_log()

    result = plan.apply(client, check_conflicts=False, progress=False)

    assert result.applied == 1
    # Values are not compared, but who the id names is still read (identity, never skipped).
    assert _gets(emulator) == [f"/v1/{api.customer_path(target)}"]
    assert api.attributes(target)["custom"]["CAC"] == 5


def test_typed_comparison_of_server_values() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    update = UpdateCustom(1, "u", None, "at", "Timestamp", when, datetime(2025, 1, 1, tzinfo=UTC))
    same_instant = _Attributes(frozenset(), {"at": "2024-01-01T01:00:00+01:00"})
    naive_utc = _Attributes(frozenset(), {"at": "2024-01-01 00:00:00"})
    later = _Attributes(frozenset(), {"at": "2024-01-01T00:00:01Z"})
    assert _compare(update, same_instant) is None  # the same instant: send
    assert _compare(update, naive_utc) is None  # naive is UTC, as the reader reads it
    conflict = _compare(update, later)
    assert conflict is not None
    assert conflict.status == CONFLICTED

    number = UpdateCustom(1, "u", None, "n", "Integer", 1, 2)
    assert _compare(number, _Attributes(frozenset(), {"n": True})) is not None  # True is not 1
    assert _compare(number, _Attributes(frozenset(), {"n": "1"})) is not None
    assert _compare(number, _Attributes(frozenset(), {"n": 1})) is None
    flag = RemoveCustom(1, "u", None, "b", "Boolean", False)
    assert _compare(flag, _Attributes(frozenset(), {"b": 0})) is not None
    # A String key read from mixed JSON types compares as the text the reader showed.
    digits = UpdateCustom(1, "u", None, "s", "String", "123", "456")
    assert _compare(digits, _Attributes(frozenset(), {"s": 123})) is None
    text = UpdateCustom(1, "u", None, "s", "String", "123", "abc")
    assert _compare(text, _Attributes(frozenset(), {"s": 123})) is None
    # ...but PUT keeps the stored type: text onto a stored Integer or Boolean goes as a POST.
    assert _needs_retyping(text, _Attributes(frozenset(), {"s": 123}))
    assert _needs_retyping(text, _Attributes(frozenset(), {"s": True}))
    assert not _needs_retyping(digits, _Attributes(frozenset(), {"s": 123}))
    assert not _needs_retyping(text, _Attributes(frozenset(), {"s": "123"}))
    added = AddCustom(1, "u", None, "s", "String", "x")
    skipped = _compare(added, _Attributes(frozenset(), {"s": "x"}))
    assert skipped is not None
    assert skipped.status == SKIPPED
    tag = AddTags(1, "u", None, "t")
    assert _compare(tag, _Attributes(frozenset({"t"}), {})) is not None


def test_todays_api_holds_timestamps_to_the_millisecond_and_that_is_the_planned_value() -> None:
    # Today's API stores a Timestamp to the millisecond: .123456 sent, .123Z read back. That
    # is the planned value in place (and, for an undo, the old value): not a conflict.
    sent = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    stored = _Attributes(frozenset(), {"at": "2030-01-02T03:04:05.123Z"})
    update = UpdateCustom(1, "u", None, "at", "Timestamp", datetime(2024, 1, 1, tzinfo=UTC), sent)
    in_place = _compare(update, stored, "current")
    assert in_place is not None
    assert (in_place.status, in_place.note) == (SKIPPED, ALREADY_IN_PLACE)
    assert _compare(update.inverse(), stored, "current") is None  # the undo sends
    # The reference stores what it is sent: a millisecond short is somebody else's value.
    conflict = _compare(update, stored, "enrichment")
    assert conflict is not None
    assert conflict.status == CONFLICTED
    later = _Attributes(frozenset(), {"at": "2030-01-02T03:04:05.124Z"})
    assert _compare(update, later, "current").status == CONFLICTED  # type: ignore[union-attr]


def test_reads_per_customer_or_whole_pages_whichever_is_fewer(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, api: Any
) -> None:
    few = df.copy()
    few.loc[few.index[:2], "custom.CAC"] = 11
    emulator.clear_request_log()
    plan_frame(few).apply(client, progress=False)
    reads = _gets(emulator)
    assert sorted(reads) == sorted(f"/v1/{api.customer_path(c)}" for c in few.index[:2])

    many = df.copy()
    many.loc[many.index[:40], "custom.CAC"] = 12
    emulator.clear_request_log()
    plan_frame(many).apply(client, progress=False)
    reads = _gets(emulator)
    assert reads
    assert set(reads) == {"/v1/customers"}


def test_by_email_falls_back_to_per_customer_when_a_sharer_needs_nothing(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, api: Any
) -> None:
    _email, sharers = _shared_email(df, 3)
    edited = df.copy()
    edited["tag.by-email"] = False
    edited.loc[sharers, "tag.by-email"] = True
    plan = plan_frame(edited)
    assert [r.by_email for r in plan.requests()] == [True]
    api.post(f"{api.customer_path(sharers[0])}/attributes/tags", json={"tags": ["by-email"]})
    emulator.clear_request_log()

    result = plan.apply(client, progress=False)

    assert sorted(e["path"] for e in _writes(emulator)) == sorted(
        f"/v1/{api.customer_path(c)}/attributes/tags" for c in sharers[1:]
    )
    assert (result.applied, result.skipped) == (2, 1)


def test_by_email_is_not_used_when_the_server_has_other_customers_with_the_email(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, api: Any
) -> None:
    # As if a third customer with this email had arrived after the load: the plan knows two
    # sharers, the server three. A by-email request would tag the newcomer too.
    email, sharers = _shared_email(df, 3)
    newcomer = sharers[2]
    edited = df.copy()
    edited["tag.by-email"] = False
    edited.loc[sharers[:2], "tag.by-email"] = True
    edited.loc[edited.index[:10], "custom.CAC"] = 3  # enough customers to read whole pages
    document = json.loads(plan_frame(edited).to_json())
    document["email_groups"] = {email: sharers[:2]}
    plan = Plan.from_json(json.dumps(document))
    assert any(r.by_email for r in plan.requests())
    emulator.clear_request_log()

    plan.apply(client, progress=False)

    assert not any(e["path"] == "/v1/customers/attributes/tags" for e in _writes(emulator))
    assert "by-email" not in api.attributes(newcomer)["tags"]
    assert all("by-email" in api.attributes(c)["tags"] for c in sharers[:2])


# --- failures, retry, resume ----------------------------------------------------------------


def _with_unknown_customer(plan: Plan, victim: int, unknown: int = 999_999) -> Plan:
    document = json.loads(plan.to_json())
    for record in document["operations"]:
        if record["customer_id"] == victim:
            record["customer_id"] = unknown
    return Plan.from_json(json.dumps(document))


@pytest.mark.parametrize("check_conflicts", [True, False])
def test_a_permanent_error_for_one_customer_does_not_stop_the_others(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, api: Any, check_conflicts: bool
) -> None:
    edited = df.copy()
    ids = [i for i in edited.index[:6] if i not in _shared_email(df, 2)[1]]
    edited.loc[ids, "custom.lead_score"] = 77
    plan = _with_unknown_customer(plan_frame(edited), victim=ids[0])
    emulator.clear_request_log()

    result = plan.apply(client, check_conflicts=check_conflicts, progress=False)

    [failure] = result.by_status(FAILED)
    assert failure.customer_id == 999_999
    assert "999999" in failure.error
    assert result.applied == len(plan) - 1
    # The read before writing (identity, always made) finds it missing: never sent, neither
    # to the id nor to the uuid the operation still carries (today's API writes by uuid).
    assert all("999999" not in e["path"] for e in _writes(emulator))
    victim = f"/v1/{api.customer_path(ids[0])}/"
    assert not [e for e in _writes(emulator) if e["path"].startswith(victim)]


def _fail_after(
    client: cm.Client, writes: int, fault: Callable[[], None]
) -> Callable[[list[int]], None]:
    """After ``writes`` successful writes, turn ``fault`` on (the client's write hook)."""
    count = 0

    def hook(_ids: list[int]) -> None:
        nonlocal count
        count += 1
        if count == writes:
            fault()

    return client.on_write(hook)


def test_a_lasting_outage_stops_the_run_and_retry_sends_only_the_failures(
    emulator: Emulator, df: pd.DataFrame, tmp_path: Path, api: Any
) -> None:
    edited = df.copy()
    ids = edited.index[:10].tolist()
    edited.loc[ids, "custom.lead_score"] = 55
    plan = plan_frame(edited)
    with _client(emulator, tmp_path, retry_for=0) as client:
        _fail_after(client, 3, lambda: emulator.set_faults(error_rate=1.0))
        result = plan.apply(client, max_workers=1, progress=False)

        assert (result.applied, result.failed) == (3, 7)
        failures = result.by_status(FAILED)
        assert "HTTP 5" in failures[0].error
        assert all(f.error.startswith("not sent: the run stopped") for f in failures[1:])
        assert "result.retry(client)" in repr(result)

        emulator.clear_faults()
        emulator.clear_request_log()
        retried = result.retry(client, progress=False)

    failed_customers = {f.customer_id for f in failures}
    assert sorted(e["path"] for e in _writes(emulator)) == sorted(
        f"/v1/{api.customer_path(c)}/attributes/custom" for c in failed_customers
    )
    assert retried.ok
    assert retried.applied == len(plan)
    assert retried.journal_path == result.journal_path
    assert all(api.attributes(c)["custom"]["lead_score"] == 55 for c in ids)


def test_applying_again_with_the_same_journal_resumes_without_resending(
    emulator: Emulator, df: pd.DataFrame, tmp_path: Path, api: Any
) -> None:
    edited = df.copy()
    ids = edited.index[:30].tolist()
    edited["tag.resume"] = False
    edited.loc[ids, "tag.resume"] = True
    edited.loc[ids[::2], "custom.lead_score"] = 99
    plan = plan_frame(edited)
    journal = tmp_path / "resume.jsonl"
    with _client(emulator, tmp_path, retry_for=0) as client:
        _fail_after(client, 8, lambda: emulator.set_faults(drop_rate=1.0))
        first = plan.apply(client, journal=journal, max_workers=3, progress=False)
        assert first.applied >= 8
        assert first.failed > 0
        emulator.clear_faults()

        second = plan.apply(client, journal=journal, progress=False)

    assert second.ok
    assert second.applied == len(plan)
    applied_first = {r.op_id for r in first.rows if r.status == APPLIED}
    from_journal = {r.op_id for r in second.rows if r.note == FROM_JOURNAL}
    assert from_journal == applied_first
    successes = Counter(_sent(emulator))
    assert sorted(successes) == sorted(_expected(plan))  # everything arrived ...
    assert set(successes.values()) == {1}  # ... exactly once
    for customer_id in ids:
        assert "resume" in api.attributes(customer_id)["tags"]


def test_unanswered_requests_of_a_killed_run_are_checked_not_blindly_resent(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, tmp_path: Path, api: Any
) -> None:
    # A killed run leaves "sending" records without an answer: one request reached the server
    # before the kill, the other never did. The resume sends only the second, and counts the
    # first as applied by this plan (so undo_plan() reverts it too).
    landed, lost = df.index[:2].tolist()
    edited = df.copy()
    edited["tag.unanswered"] = edited.index.isin([landed, lost])
    plan = plan_frame(edited)
    requests = {r.customer_ids[0]: r for r in plan.requests()}
    journal = tmp_path / "killed.jsonl"
    with Journal.open(journal, plan_id(plan), operations=len(plan)) as log:
        log.start_run(2)
        for request in requests.values():
            log.sending(request_id(request.op_ids), request.method, request.path, request.op_ids)
    api.post(requests[landed].path, json=requests[landed].body).raise_for_status()
    emulator.clear_request_log()

    result = plan.apply(client, journal=journal, progress=False)

    assert _sent(emulator) == [_wire("POST", "/v1/" + requests[lost].path, requests[lost].body)]
    notes = {row.customer_id: (row.status, row.note) for row in result.rows}
    assert notes == {landed: (APPLIED, SENT_EARLIER), lost: (APPLIED, None)}
    undo = result.undo_plan()
    assert sorted(op.customer_id for op in undo) == sorted([landed, lost])


def test_when_the_conflict_check_cannot_read_nothing_is_sent(
    emulator: Emulator, df: pd.DataFrame, tmp_path: Path
) -> None:
    edited = df.copy()
    edited.loc[edited.index[:2], "custom.CAC"] = 1
    plan = plan_frame(edited)
    emulator.set_faults(drop_rate=1.0)
    with (
        _client(emulator, tmp_path, retry_for=0) as client,
        pytest.raises(cm.TransportError) as caught,
    ):
        plan.apply(client, progress=False)
    assert "nothing was sent" in "\n".join(caught.value.__notes__)
    assert _writes(emulator) == []


# --- validation sends nothing ---------------------------------------------------------------


def test_a_plan_of_another_account_is_refused(
    emulator: Emulator, df: pd.DataFrame, tmp_path: Path
) -> None:
    emulator.add_account("other-token", "other-secret", customers=3)
    plan = plan_frame(_mixed_edit(df))
    emulator.clear_request_log()
    with (
        cm.Client("other-token", "other-secret", emulator.url, cache_dir=tmp_path) as other,
        pytest.raises(cm.ValidationError, match="another account") as caught,
    ):
        plan.apply(other, progress=False)
    assert plan.source["account_hash"] in str(caught.value)
    assert emulator.request_log() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_workers": 0}, "max_workers must be an int from 1 to 20"),
        ({"max_workers": 2.5}, "max_workers must be an int"),
    ],
)
def test_bad_options_are_refused(
    emulator: Emulator,
    client: cm.Client,
    df: pd.DataFrame,
    options: dict[str, Any],
    message: str,
) -> None:
    plan = plan_frame(_mixed_edit(df))
    emulator.clear_request_log()
    with pytest.raises(cm.ValidationError, match=message):
        apply_plan(plan, client, progress=False, **options)
    assert emulator.request_log() == []


def test_only_a_plan_can_be_applied(emulator: Emulator, client: cm.Client) -> None:
    with pytest.raises(cm.ValidationError, match="expected a cm_frames Plan"):
        apply_plan("not a plan", client)  # type: ignore[arg-type]
    assert emulator.request_log() == []


# --- undo and scale -------------------------------------------------------------------------


def test_undo_plan_reverts_exactly_what_was_applied(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, api: Any
) -> None:
    changed, other = _ids_with(df, "custom.CAC", 2)
    originals = {c: int(df.loc[c, "custom.CAC"]) for c in (changed, other)}
    edited = df.copy()
    edited.loc[[changed, other], "custom.CAC"] = 1
    plan = plan_frame(edited)
    api.put(f"{api.customer_path(changed)}/attributes/custom", json={"custom": {"CAC": 31337}})
    result = plan.apply(client, progress=False)

    undo = result.undo_plan()

    assert [op.customer_id for op in undo] == [other]
    undone = undo.apply(client, progress=False)
    assert undone.ok
    assert api.attributes(other)["custom"]["CAC"] == originals[other]
    assert api.attributes(changed)["custom"]["CAC"] == 31337  # the conflict stayed untouched


def test_a_thousand_operations_are_exactly_the_planned_requests(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame
) -> None:
    edited = df.copy()
    edited["tag.bulk-a"] = True
    edited["tag.bulk-b"] = True
    edited["custom.bulk_score"] = pd.array(range(len(edited)), dtype="int64[pyarrow]")
    flip = edited.index[:100]
    edited.loc[flip, "tag.vip"] = ~edited.loc[flip, "tag.vip"]
    plan = plan_frame(edited)
    assert len(plan) == 1000
    emulator.clear_request_log()

    result = plan.apply(client, progress=False)

    assert result.applied == 1000
    assert len(_writes(emulator)) == len(plan.requests()) == result.requests_sent
    assert sorted(_sent(emulator)) == sorted(_expected(plan))


def test_apply_result_is_exported_type(client: cm.Client, df: pd.DataFrame) -> None:
    result = plan_frame(_mixed_edit(df)).apply(client, progress=False)
    assert isinstance(result, ApplyResult)


def test_refused_credentials_stop_the_run(emulator: Emulator, tmp_path: Path, dialect: str) -> None:
    # Credentials that worked when the plan was made are refused when it is applied (a secret
    # changed, a key revoked): the plan's account, but the server answers 401. (Today's API
    # key names the account: a wrong key would be another account, refused before sending.)
    token, secret = ("revoked-token", "revoked-secret")
    if dialect == "current":
        secret = token
    emulator.add_account(token, secret, customers=20, seed=3)
    with cm.Client(token, secret, emulator.url, cache_dir=tmp_path, rate_limit=None) as revoked:
        edited = cm.read_customers(revoked, progress=False)
        edited["tag.revoked"] = True
        plan = plan_frame(edited)
        emulator.remove_account(token)
        for check_conflicts in (True, False):
            emulator.clear_request_log()
            with pytest.raises(cm.Unauthorized) as caught:
                # The read before writing is refused (with or without the conflict check).
                plan.apply(revoked, check_conflicts=check_conflicts, progress=False)
            assert "nothing was sent" in "".join(caught.value.__notes__)
            assert _writes(emulator) == []


# --- identity: a write goes only to the customer the plan named ----------------------------


def _retargeted(plan: Plan, moved: int, onto: int) -> Plan:
    """The plan as JSON with one customer's operations pointed at another customer id."""
    document = json.loads(plan.to_json())
    for record in document["operations"]:
        if record["customer_id"] == moved:
            record["customer_id"] = onto
    return Plan.from_json(json.dumps(document))


@pytest.mark.parametrize("touched", [2, 40], ids=["read-per-customer", "read-whole-pages"])
@pytest.mark.parametrize("check_conflicts", [True, False])
def test_a_plan_whose_customer_id_was_changed_is_refused_before_any_write(
    emulator: Emulator,
    client: cm.Client,
    df: pd.DataFrame,
    api: Any,
    touched: int,
    check_conflicts: bool,
    dialect: str,
) -> None:
    edited = df.copy()
    ids = edited.index[:touched].tolist()
    edited["tag.identity-test"] = False
    edited.loc[ids, "tag.identity-test"] = True
    victim = int(df.index[-1])  # not in the plan: its tags must stay as they are
    tampered = _retargeted(plan_frame(edited), moved=ids[0], onto=victim)
    before = api.attributes(victim)
    emulator.clear_request_log()

    with pytest.raises(cm.ValidationError, match="uuid") as caught:
        tampered.apply(client, check_conflicts=check_conflicts, progress=False)

    message = str(caught.value)
    assert str(victim) in message
    assert str(df.loc[ids[0], "uuid"]) in message  # the uuid the plan names
    if dialect == "current" and touched == 2:
        # Today's API is read by uuid: the server says whose the uuid is.
        assert f"(customer {ids[0]})" in message
    else:
        assert str(df.loc[victim, "uuid"]) in message  # the uuid the server has
    assert _writes(emulator) == []  # nothing sent, to anyone
    assert api.attributes(victim) == before


# --- undo belongs to what was applied --------------------------------------------------------


def test_undo_keeps_what_a_colleague_had_set_first(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, api: Any
) -> None:
    colleague, mine = df.index[~df["tag.vip"].to_numpy(dtype=bool)][:2].tolist()
    [scored, other] = _ids_without(df, "custom.nps", 2)
    edited = df.copy()
    edited.loc[[colleague, mine], "tag.vip"] = True
    edited.loc[[scored, other], "custom.nps"] = 9
    plan = plan_frame(edited)
    # A colleague sets the same values first: this apply finds them in place and skips them.
    api.post(f"{api.customer_path(colleague)}/attributes/tags", json={"tags": ["vip"]})
    add = [{"type": "Integer", "key": "nps", "value": 9}]
    api.post(f"{api.customer_path(scored)}/attributes/custom", json={"custom": add})
    result = plan.apply(client, progress=False)
    assert result.skipped == 2
    assert result.applied == 2
    # plan.inverse() is the inverse of the whole plan: it would revert the colleague's too.
    assert {op.customer_id for op in plan.inverse()} == {colleague, mine, scored, other}

    undone = result.undo(client, progress=False)

    assert undone.ok
    assert undone.applied == 2
    assert {row.customer_id for row in undone.rows} == {mine, other}
    assert "vip" in api.attributes(colleague)["tags"]  # the colleague's tag stays
    assert api.attributes(scored)["custom"]["nps"] == 9  # and their value
    assert "vip" not in api.attributes(mine)["tags"]  # what this apply wrote is reverted
    assert "nps" not in api.attributes(other)["custom"]
    assert undone.undo_plan().inverse().operations == undone.plan.operations


def test_today_s_api_refuses_sub_millisecond_timestamps_naming_the_fix_that_works(
    current_emulator: Emulator, tmp_path: Path
) -> None:
    with cm.Client(
        api_key=current_emulator.api_key, base_url=current_emulator.url, cache_dir=tmp_path
    ) as client:
        df = cm.read_customers(client, progress=False)
        edited = df.copy()
        stamp = pd.Timestamp("2024-01-31 12:00:00.123456", tz="UTC")
        edited["custom.seen_at"] = pd.Series(stamp, index=df.index).astype(
            "timestamp[us, tz=UTC][pyarrow]"
        )
        current_emulator.clear_request_log()
        with pytest.raises(cm.ValidationError) as caught:
            edited.chartmogul.plan()
        message = str(caught.value)
        assert "custom.seen_at has values finer than a millisecond" in message
        assert str(df.index[0]) in message
        fix = "edited['custom.seen_at'] = edited['custom.seen_at'].dt.floor('ms')"
        assert fix in message
        assert current_emulator.request_log() == []
        exec(fix, {"edited": edited})  # the fix the message names, as written
        result = edited.chartmogul.plan().apply(client, progress=False)
        assert result.ok
        assert result.applied == len(df)
        again = cm.read_customers(client, progress=False, refresh=True)
        assert (again["custom.seen_at"] == stamp.floor("ms")).all()


def test_a_plan_file_with_sub_millisecond_timestamps_is_refused_before_any_request(
    current_emulator: Emulator, tmp_path: Path
) -> None:
    with cm.Client(
        api_key=current_emulator.api_key, base_url=current_emulator.url, cache_dir=tmp_path
    ) as client:
        first = cm.read_customers(client, progress=False).iloc[0]
        stamp = datetime(2024, 1, 31, 12, 0, 0, 250, tzinfo=UTC)
        plan = Plan(
            [AddCustom(int(first.name), first["uuid"], None, "seen_at", "Timestamp", stamp)]
        )
        current_emulator.clear_request_log()
        with pytest.raises(cm.ValidationError, match="finer than a millisecond"):
            plan.apply(client, progress=False)
        assert current_emulator.request_log() == []
