"""The preview widget, driven through its Python objects against the emulator."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
import pytest
from dialects import BOTH_DIALECTS

import cm_frames as cm
from cm_frames.emulator import Emulator
from cm_frames.writeback.frame import plan_frame
from cm_frames.writeback.plan import Plan
from cm_frames.writeback.preview import (
    APPLIED,
    APPLYING,
    FAILED,
    PAGE_SIZE,
    PLANNED,
    UNDOING,
    UNDONE,
    PlanPreview,
    preview,
)

pytestmark = BOTH_DIALECTS

WRITES = ["POST", "PUT", "DELETE"]


@pytest.fixture
def edited(df: pd.DataFrame) -> pd.DataFrame:
    """45 changes over three attributes: 25 AddTags tag.hot, 15 AddCustom, 5 RemoveTags."""
    out = df.copy()
    ids = out.index.tolist()
    out["tag.hot"] = False
    out.loc[ids[:25], "tag.hot"] = True
    out["custom.widget_score"] = pd.Series(pd.NA, index=out.index, dtype="int64[pyarrow]")
    out.loc[ids[:15], "custom.widget_score"] = 90
    vip = out.index[out["tag.vip"].to_numpy(dtype=bool)][:5]
    out.loc[vip, "tag.vip"] = False
    return out


@pytest.fixture
def baseline(edited: pd.DataFrame, df: pd.DataFrame, api: Any) -> dict[int, dict[str, Any]]:
    """The server's attributes of every customer ``edited`` changes, before anything is sent."""
    changed = set(plan_frame(edited).to_frame()["id"].tolist())
    return _snapshot(api, changed)


@pytest.fixture
def fragile(emulator: Emulator, tmp_path: Path) -> Iterator[cm.Client]:
    """A client that gives up at once (no retries) and writes one customer at a time."""
    with cm.Client(
        emulator.token,
        emulator.secret,
        emulator.url,
        cache_dir=tmp_path / "fragile",
        rate_limit=None,
        retry_for=0,
        max_workers=1,
    ) as c:
        yield c


def _writes(emulator: Emulator) -> list[dict[str, Any]]:
    return [e for e in emulator.request_log() if e["method"] != "GET"]


def _snapshot(api: Any, ids: set[int]) -> dict[int, dict[str, Any]]:
    # Tags are a set to the API: an undone RemoveTags adds the tag back at the end.
    attributes = {c: api.attributes(c) for c in sorted(ids)}
    return {c: a | {"tags": sorted(a["tags"])} for c, a in attributes.items()}


def _table_rows(widget: PlanPreview) -> int:
    return int(widget.table.value.count("<tr>")) - 1  # minus the header row


def _states(widget: PlanPreview) -> list[str]:
    seen: list[str] = []
    widget.observe(lambda change: seen.append(change["new"]), names="state")
    return seen


def _fail_writes_after(client: cm.Client, emulator: Emulator, writes: int) -> None:
    """After ``writes`` successful writes every request answers 5xx (the client gives up)."""
    count = 0

    def hook(_ids: list[int]) -> None:
        nonlocal count
        count += 1
        if count == writes:
            emulator.set_faults(error_rate=1.0)

    client.on_write(hook)


# --- what is shown -----------------------------------------------------------------------------


def test_the_widget_shows_the_plan(client: cm.Client, edited: pd.DataFrame) -> None:
    widget = preview(edited, client)
    plan = plan_frame(edited)

    assert isinstance(widget, widgets.VBox)
    assert widget.state == PLANNED
    assert repr(widget) == repr(plan)  # outside a notebook front end it prints as the plan
    assert set(widget.checkboxes) == {"tag.hot", "tag.vip", "custom.widget_score"}
    assert all(box.value for box in widget.checkboxes.values())
    assert "nothing sent yet" in widget.summary.value
    assert "45 operations" in widget.summary.value
    assert widget.apply_button.description == "Apply 45 operations"
    assert not widget.apply_button.disabled
    assert widget.undo_button.layout.display == "none"
    assert widget.retry_button.layout.display == "none"
    assert widget.progress.layout.display == "none"
    assert _table_rows(widget) == PAGE_SIZE
    assert widget.page_box.value == 1
    assert widget.page_box.max == 3
    assert widget.page_label.value == "of 3 · rows 1–20 of 45"
    assert widget.first_button.disabled
    assert widget.prev_button.disabled
    assert not widget.next_button.disabled
    assert not widget.last_button.disabled


def test_the_buttons_and_summary_come_before_the_table(
    client: cm.Client, edited: pd.DataFrame
) -> None:
    widget = preview(edited, client)

    def position(target: widgets.Widget) -> int:
        for i, child in enumerate(widget.children):
            if child is target or target in getattr(child, "children", ()):
                return i
        raise AssertionError(f"{target} is not shown")

    table = position(widget.table)
    assert table == len(widget.children) - 1  # the long table is last
    for first in (widget.summary, widget.apply_button, widget.undo_button, widget.groups):
        assert position(first) < table


def test_the_table_fits_the_width_and_follows_the_theme(
    client: cm.Client, edited: pd.DataFrame
) -> None:
    table = preview(edited, client).table.value
    assert "table-layout: fixed; width: 100%" in table  # never wider than the notebook
    assert "white-space: nowrap" in table
    assert "text-overflow: ellipsis" in table
    assert "var(--jp-border-color2, #e0e0e0)" in table  # dark theme borders
    assert "#e5e5e5" not in table


def test_the_grouped_view_counts_per_attribute(client: cm.Client, df: pd.DataFrame) -> None:
    edited = df.copy()
    ids = edited.index.tolist()
    edited["custom.tier"] = pd.Series(pd.NA, index=edited.index, dtype="string[pyarrow]")
    edited.loc[ids[:6], "custom.tier"] = "gold"
    edited.loc[ids[6:8], "custom.tier"] = "silver"
    edited.loc[ids[8:9], "custom.tier"] = "bronze"
    edited.loc[ids[9:10], "custom.tier"] = "tin"
    edited["tag.hot"] = False
    edited.loc[ids[:4], "tag.hot"] = True
    widget = preview(edited, client)

    rows = widget.groups.value.split("<tr>")[2:]  # after the header row
    assert len(rows) == 2
    tier = next(row for row in rows if "custom.tier" in row)
    cells = [cell.split(">", 1)[1] for cell in tier.split("</td>")[:-1]]
    assert cells[1:] == ["10", "0", "0", "gold ×6, silver ×2, bronze ×1"]  # the top three
    assert "tin" not in tier
    hot = next(row for row in rows if "tag.hot" in row)
    assert [cell.split(">", 1)[1] for cell in hot.split("</td>")[1:4]] == ["4", "0", "0"]

    widget.checkboxes["custom.tier"].value = False
    tier = next(row for row in widget.groups.value.split("<tr>") if "custom.tier" in row)
    assert "left out" in tier


def test_paging_first_last_and_the_page_box(client: cm.Client, edited: pd.DataFrame) -> None:
    widget = preview(edited, client)
    first = widget.table.value

    widget.next_button.click()
    assert widget.page == 1
    assert widget.page_box.value == 2
    assert widget.table.value != first
    widget.last_button.click()
    assert widget.page == 2
    assert _table_rows(widget) == 45 - 2 * PAGE_SIZE
    assert widget.page_label.value == "of 3 · rows 41–45 of 45"
    assert widget.next_button.disabled
    assert widget.last_button.disabled
    widget.prev_button.click()
    assert widget.page == 1
    widget.first_button.click()
    assert widget.page == 0
    assert widget.table.value == first

    widget.page_box.value = 3  # typed into the box
    assert widget.page == 2
    widget.page_box.value = 99  # the box keeps to its bounds
    assert widget.page == 2
    assert widget.page_box.value == 3


def test_a_large_plan_is_reached_in_one_step(client: cm.Client, df: pd.DataFrame) -> None:
    edited = df.copy()
    for name in ("a", "b", "c"):
        edited[f"custom.page_{name}"] = pd.Series(7, index=edited.index, dtype="int64[pyarrow]")
    widget = preview(edited, client)
    total = 3 * len(df)
    pages = total // PAGE_SIZE

    assert widget.apply_button.description == f"Apply {total:,} operations"
    assert widget.page_box.max == pages
    widget.page_box.value = 30
    assert widget.page_label.value == f"of {pages} · rows 581–600 of {total:,}"
    widget.last_button.click()
    assert widget.page_box.value == pages
    widget.first_button.click()
    assert widget.page_box.value == 1


def test_filters_narrow_the_view_only_and_say_so(client: cm.Client, edited: pd.DataFrame) -> None:
    widget = preview(edited, client)
    assert "narrow this table only: Apply sends all 45" in widget.filter_note.value
    assert "Showing" not in widget.filter_note.value
    widget.next_button.click()

    widget.kind_filter.value = "RemoveTags"
    assert widget.page == 0
    assert _table_rows(widget) == 5
    assert "AddTags" not in widget.table.value
    assert "AddCustom" not in widget.table.value
    assert "Showing 5 of 45 ticked changes" in widget.filter_note.value
    assert widget.apply_button.description == "Apply 45 operations"  # the filter sends nothing less
    assert len(widget.current_plan()) == 45

    widget.kind_filter.value = ""
    widget.attribute_filter.value = "custom.widget_score"
    assert _table_rows(widget) == 15
    assert "tag.hot" not in widget.table.value

    widget.kind_filter.value = "RemoveTags"
    assert "No changes match" in widget.table.value
    assert widget.page_label.value == "of 1 · rows 0–0 of 0"


def test_unticking_an_attribute_leaves_it_out_of_the_plan_and_the_filters(
    client: cm.Client, edited: pd.DataFrame
) -> None:
    widget = preview(edited, client)
    widget.attribute_filter.value = "tag.hot"
    widget.checkboxes["tag.hot"].value = False

    assert widget.current_plan() == plan_frame(edited).filter(exclude_attributes=["tag.hot"])
    assert widget.apply_button.description == "Apply 20 operations"
    assert "20 operations" in widget.summary.value
    assert "left out: tag.hot" in widget.summary.value
    assert widget.attribute_filter.value == ""  # the unticked attribute was selected: back to all
    assert "tag.hot" not in [value for _, value in widget.attribute_filter.options]
    assert "AddTags" not in [value for _, value in widget.kind_filter.options]
    assert _table_rows(widget) == PAGE_SIZE
    assert "tag.hot" not in widget.table.value
    assert "Apply sends all 20" in widget.filter_note.value
    assert repr(widget) == repr(widget.current_plan())

    widget.checkboxes["tag.hot"].value = True
    assert "tag.hot" in [value for _, value in widget.attribute_filter.options]
    assert widget.apply_button.description == "Apply 45 operations"

    for box in widget.checkboxes.values():
        box.value = False
    assert widget.apply_button.disabled  # nothing left to send
    assert widget.apply_button.description == "Apply 0 operations"
    widget.apply_button.click()  # a stale click on the disabled button
    assert widget.state == PLANNED


# --- the state machine -------------------------------------------------------------------------


def test_apply_then_undo_every_state_tells_the_truth(
    emulator: Emulator,
    client: cm.Client,
    edited: pd.DataFrame,
    baseline: dict[int, dict[str, Any]],
    api: Any,
) -> None:
    widget = preview(edited, client)
    widget.checkboxes["tag.hot"].value = False
    states = _states(widget)
    during: list[tuple[str, bool, str, str]] = []
    widget.observe(
        lambda change: during.append(
            (
                change["new"],
                widget.apply_button.disabled,
                widget.apply_button.description,
                widget.undo_button.layout.display or "",
            )
        ),
        names="state",
    )
    emulator.clear_request_log()

    widget.apply_button.click()

    assert states == [APPLYING, APPLIED]
    assert during[0] == (APPLYING, False, "Apply 20 operations", "none")  # seen at the switch
    assert widget.result is not None
    assert widget.result.ok
    assert widget.result.applied == 20
    assert widget.apply_button.disabled
    assert widget.apply_button.description == "Applied 20"
    assert all(box.disabled for box in widget.checkboxes.values())
    assert widget.progress.value == widget.progress.max == 20
    assert widget.progress_label.value == "applied 20 of 20"
    assert "Applied</b>: 20 of 20 operations are on the server" in widget.summary.value
    assert "nothing sent yet" not in widget.summary.value
    assert "Apply sent all 20" in widget.filter_note.value
    assert "20 applied" in widget.result_html.value
    assert widget.undo_button.layout.display != "none"
    assert not widget.undo_button.disabled
    assert widget.undo_button.description == "Undo 20"
    ids = edited.index.tolist()
    assert all("hot" not in api.attributes(c)["tags"] for c in ids[:25])  # excluded: untouched
    assert all(api.attributes(c)["custom"]["widget_score"] == 90 for c in ids[:15])
    assert len(_writes(emulator)) == len(widget.result.plan.requests())

    widget.checkboxes["tag.hot"].value = True  # the plan was sent: the tick stays as it was
    assert widget.checkboxes["tag.hot"].value is False
    assert widget.apply_button.description == "Applied 20"

    widget.undo_button.click()

    assert states == [APPLYING, APPLIED, UNDOING, UNDONE]
    assert widget.undo_result is not None
    assert widget.undo_result.applied == 20
    assert _snapshot(api, set(baseline)) == baseline
    assert widget.undo_button.layout.display == "none"
    assert widget.apply_button.disabled
    assert widget.apply_button.description == "Undone"
    assert widget.progress_label.value == "undone 20 of 20"
    assert "<b>Undone</b>: the 20 operations this apply wrote are reverted" in widget.summary.value
    assert "Undo" in widget.result_html.value

    emulator.clear_request_log()
    widget.apply_button.click()  # undone is final: a stale click sends nothing
    widget.undo_button.click()
    assert emulator.request_log() == []
    assert states[-1] == UNDONE


def test_a_second_apply_click_does_not_lose_the_undo(
    emulator: Emulator,
    client: cm.Client,
    edited: pd.DataFrame,
    baseline: dict[int, dict[str, Any]],
    api: Any,
) -> None:
    """Apply, Apply again (a double-click, or a click after it finished), then Undo."""
    widget = preview(edited, client)

    widget.apply_button.click()
    emulator.clear_request_log()
    widget.apply_button.click()

    assert emulator.request_log() == []  # the second click was ignored
    assert widget.result is not None
    assert widget.result.applied == 45
    widget.undo_button.click()
    assert _snapshot(api, set(baseline)) == baseline


def test_a_click_while_applying_is_ignored_not_queued(
    emulator: Emulator,
    client: cm.Client,
    edited: pd.DataFrame,
    baseline: dict[int, dict[str, Any]],
    api: Any,
) -> None:
    widget = preview(edited, client)
    plan = widget.current_plan()
    midway = threading.Event()
    widget.progress.observe(lambda c: c["new"] >= 3 and midway.set(), names="value")
    # Three writes go through, then the server holds every request until the faults change:
    # the apply is held mid-way for as long as the test needs, without a sleep.
    emulator.set_faults(hang_after=3, hang_methods=WRITES)
    emulator.clear_request_log()
    # JupyterLab may deliver a click on another thread than the one applying.
    applying = threading.Thread(target=widget.apply_button.click)
    applying.start()
    try:
        assert midway.wait(30), "the apply did not get going"
        assert widget.state == APPLYING
        assert widget.progress_label.value == "applying: 3 of 45 operations done"
        assert widget.apply_button.disabled
        assert widget.apply_button.description == "Applying…"
        assert all(box.disabled for box in widget.checkboxes.values())
        assert "<b>Applying</b> 45 operations" in widget.summary.value
        assert "nothing sent yet" not in widget.summary.value

        widget.apply_button.click()  # returns at once: ignored, never waiting for the lock
        widget.undo_button.click()
        assert widget.state == APPLYING
    finally:
        emulator.clear_faults()
        applying.join(30)
    assert not applying.is_alive()

    assert widget.state == APPLIED
    assert widget.result is not None
    assert widget.result.ok
    assert widget.result.applied == 45
    assert len(_writes(emulator)) == len(plan.requests())  # one apply, not two
    widget.undo_button.click()
    assert widget.state == UNDONE
    assert _snapshot(api, set(baseline)) == baseline


def test_clicks_that_do_not_fit_the_state_are_ignored(
    emulator: Emulator,
    client: cm.Client,
    edited: pd.DataFrame,
    baseline: dict[int, dict[str, Any]],
    api: Any,
) -> None:
    widget = preview(edited, client)
    emulator.clear_request_log()
    widget.undo_button.click()  # planned: nothing to undo
    widget.retry_button.click()  # planned: nothing to retry
    assert widget.state == PLANNED
    assert emulator.request_log() == []

    widget.apply_button.click()
    widget.retry_button.click()  # applied without failures: nothing to retry
    assert widget.state == APPLIED
    midway = threading.Event()
    widget.progress.observe(lambda c: c["new"] >= 2 and midway.set(), names="value")
    emulator.set_faults(hang_after=2, hang_methods=WRITES)  # hold the undo mid-way
    emulator.clear_request_log()
    undoing = threading.Thread(target=widget.undo_button.click)
    undoing.start()
    try:
        assert midway.wait(30), "the undo did not get going"
        assert widget.state == UNDOING
        assert widget.progress_label.value == "undoing: 2 of 45 operations done"
        assert widget.undo_button.disabled
        assert widget.undo_button.description == "Undoing…"
        assert "<b>Undoing</b> the 45 operations applied" in widget.summary.value
        widget.undo_button.click()  # a second Undo, and an Apply: both ignored
        widget.apply_button.click()
        assert widget.state == UNDOING
    finally:
        emulator.clear_faults()
        undoing.join(30)
    assert not undoing.is_alive()

    assert widget.state == UNDONE
    assert widget.undo_result is not None
    assert widget.undo_result.applied == 45
    assert len(_writes(emulator)) == len(widget.result.undo_plan().requests())  # one undo
    assert _snapshot(api, set(baseline)) == baseline


def test_a_partial_apply_offers_retry_then_undo_reverts_everything(
    emulator: Emulator,
    fragile: cm.Client,
    edited: pd.DataFrame,
    baseline: dict[int, dict[str, Any]],
    api: Any,
) -> None:
    widget = preview(edited, fragile)
    states = _states(widget)
    _fail_writes_after(fragile, emulator, 3)

    widget.apply_button.click()

    assert widget.state == APPLIED
    assert widget.result is not None
    assert (widget.result.applied, widget.result.failed) == (3, 42)
    assert "Partly applied</b>: 3 of 45 operations are on the server" in widget.summary.value
    assert "42 failed (Retry sends only those again)" in widget.summary.value
    assert widget.progress_label.value == "applied 3 of 45 · 42 failed"
    assert widget.progress.bar_style == "warning"
    assert widget.apply_button.disabled
    assert widget.retry_button.layout.display != "none"
    assert not widget.retry_button.disabled
    assert widget.retry_button.description == "Retry 42 failed"
    assert not widget.undo_button.disabled
    assert widget.undo_button.description == "Undo 3"

    emulator.clear_faults()
    emulator.clear_request_log()
    widget.retry_button.click()

    assert states == [APPLYING, APPLIED, APPLYING, APPLIED]
    assert widget.result.ok
    assert widget.result.applied == 45
    assert len(_writes(emulator)) == 42  # one request per failed operation, none resent
    assert widget.retry_button.layout.display == "none"
    assert widget.progress_label.value == "applied 45 of 45"

    widget.undo_button.click()

    assert widget.state == UNDONE
    assert widget.undo_result is not None
    assert widget.undo_result.applied == 45
    assert _snapshot(api, set(baseline)) == baseline


def test_undo_after_a_partial_apply_reverts_what_was_written(
    emulator: Emulator,
    fragile: cm.Client,
    edited: pd.DataFrame,
    baseline: dict[int, dict[str, Any]],
    api: Any,
) -> None:
    widget = preview(edited, fragile)
    _fail_writes_after(fragile, emulator, 5)
    widget.apply_button.click()
    assert widget.result is not None
    assert widget.result.applied == 5
    emulator.clear_faults()
    assert _snapshot(api, set(baseline)) != baseline

    widget.undo_button.click()

    assert widget.state == UNDONE
    assert widget.undo_result is not None
    assert widget.undo_result.applied == 5
    assert widget.progress_label.value == "undone 5 of 5"
    assert "the 5 operations this apply wrote are reverted" in widget.summary.value
    assert widget.retry_button.layout.display == "none"
    assert _snapshot(api, set(baseline)) == baseline


def test_an_undo_that_fails_can_be_sent_again(
    emulator: Emulator,
    fragile: cm.Client,
    edited: pd.DataFrame,
    baseline: dict[int, dict[str, Any]],
    api: Any,
) -> None:
    widget = preview(edited, fragile)
    widget.apply_button.click()
    assert widget.result is not None
    assert widget.result.ok

    emulator.set_faults(error_rate=1.0)  # the undo's conflict check cannot read: nothing sent
    widget.undo_button.click()
    assert widget.state == APPLIED  # the apply's changes are all still there
    assert widget.undo_result is None
    assert widget.error is not None
    assert "The last retry or undo stopped" in widget.summary.value
    assert html.escape(widget.error) in widget.result_html.value
    assert not widget.undo_button.disabled

    emulator.clear_faults()
    _fail_writes_after(fragile, emulator, 10)  # now the undo stops part-way
    widget.undo_button.click()
    assert widget.state == UNDONE
    assert widget.undo_result is not None
    assert (widget.undo_result.applied, widget.undo_result.failed) == (10, 35)
    assert "Undo incomplete</b>: 10 of 45 reverted; 35 failed" in widget.summary.value
    assert widget.undo_button.description == "Undo again (35 failed)"
    assert not widget.undo_button.disabled
    assert widget.progress_label.value == "undone 10 of 45 · 35 failed"

    emulator.clear_faults()
    widget.undo_button.click()
    assert widget.state == UNDONE
    assert widget.undo_result.ok
    assert widget.undo_result.applied == 45
    assert widget.undo_button.layout.display == "none"
    assert _snapshot(api, set(baseline)) == baseline


def test_an_apply_that_is_refused_shows_why_and_sends_nothing(
    emulator: Emulator, edited: pd.DataFrame, tmp_path: Path
) -> None:
    emulator.add_account("widget-other", "widget-secret", customers=2)
    with cm.Client("widget-other", "widget-secret", emulator.url, cache_dir=tmp_path) as other:
        widget = preview(edited, other)
        emulator.clear_request_log()
        widget.apply_button.click()
    assert widget.state == FAILED
    assert "another account" in widget.result_html.value
    assert "The apply stopped" in widget.summary.value
    assert widget.result is None
    assert not widget.apply_button.disabled
    assert widget.apply_button.description == "Apply again (45 operations)"
    assert widget.undo_button.layout.display == "none"
    assert emulator.request_log() == []


def test_a_failed_apply_can_be_applied_again(
    emulator: Emulator,
    fragile: cm.Client,
    edited: pd.DataFrame,
    baseline: dict[int, dict[str, Any]],
    api: Any,
) -> None:
    widget = preview(edited, fragile)
    widget.checkboxes["tag.vip"].value = False
    states = _states(widget)
    emulator.set_faults(error_rate=1.0)  # the conflict check cannot read: apply raises

    widget.apply_button.click()

    assert widget.state == FAILED
    assert widget.result is None
    assert _writes(emulator) == []
    assert widget.progress_label.value == "stopped: see below"
    assert all(box.disabled for box in widget.checkboxes.values())  # a resume needs this plan

    emulator.clear_faults()
    widget.apply_button.click()

    assert states == [APPLYING, FAILED, APPLYING, APPLIED]
    assert widget.result is not None
    assert widget.result.applied == 40
    assert widget.error is None
    widget.undo_button.click()
    assert _snapshot(api, set(baseline)) == baseline


def test_values_are_html_escaped(client: cm.Client, df: pd.DataFrame) -> None:
    edited = df.copy()
    edited["custom.note"] = pd.Series(pd.NA, index=edited.index, dtype="string[pyarrow]")
    edited.loc[edited.index[0], "custom.note"] = "<script>alert(1)</script>"
    widget = preview(edited, client)
    assert "<script>" not in widget.table.value
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in widget.table.value
    assert "<script>" not in widget.groups.value


def test_the_accessor_and_an_empty_plan(client: cm.Client, df: pd.DataFrame) -> None:
    widget = df.copy().chartmogul.preview(client)
    assert isinstance(widget, PlanPreview)
    assert widget.current_plan() == Plan(source=widget.plan.source)
    assert widget.apply_button.disabled
    assert "nothing to send" in widget.summary.value
    assert "No changes match" in widget.table.value
    assert widget.page_label.value == "of 1 · rows 0–0 of 0"


def test_typed_values_show_as_the_plan_prints_them(client: cm.Client, df: pd.DataFrame) -> None:
    edited = df.copy()
    target = df.index[df["custom.convertedAt"].notna().to_numpy()][:1]
    edited.loc[target, "custom.convertedAt"] = pd.Timestamp("2030-01-02T03:04:05Z")
    widget = preview(edited, client)
    assert "→ <b>2030-01-02T03:04:05Z</b>" in widget.table.value
    assert "2030-01-02T03:04:05Z ×1" in widget.groups.value
