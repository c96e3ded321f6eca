"""The preview widget, driven through its Python objects against the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
import pytest

import cm_frames as cm
from cm_frames.emulator import Emulator
from cm_frames.plan import Plan
from cm_frames.preview import PAGE_SIZE, PlanPreview, preview
from cm_frames.writeback import plan_frame


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


def _writes(emulator: Emulator) -> list[dict[str, Any]]:
    return [e for e in emulator.request_log() if e["method"] != "GET"]


def _server(api: Any, customer_id: int) -> dict[str, Any]:
    attributes: dict[str, Any] = api.get(f"customers/{customer_id}/attributes").json()["attributes"]
    return attributes


def _table_rows(widget: PlanPreview) -> int:
    return int(widget.table.value.count("<tr>")) - 1  # minus the header row


def test_the_widget_shows_the_plan(client: cm.Client, edited: pd.DataFrame) -> None:
    widget = preview(edited, client)
    plan = plan_frame(edited)

    assert isinstance(widget, widgets.VBox)
    assert repr(widget) == repr(plan)  # outside a notebook front end it prints as the plan
    assert set(widget.checkboxes) == {"tag.hot", "tag.vip", "custom.widget_score"}
    assert all(box.value for box in widget.checkboxes.values())
    assert "45 operations" in widget.summary.value
    assert _table_rows(widget) == PAGE_SIZE
    assert "page 1 of 3" in widget.page_label.value
    assert widget.prev_button.disabled
    assert not widget.next_button.disabled
    assert not widget.apply_button.disabled
    assert widget.undo_button.layout.display == "none"


def test_paging_and_filters_change_the_table(client: cm.Client, edited: pd.DataFrame) -> None:
    widget = preview(edited, client)
    first = widget.table.value

    widget.next_button.click()
    assert widget.page == 1
    assert widget.table.value != first
    widget.next_button.click()
    assert _table_rows(widget) == 45 - 2 * PAGE_SIZE
    assert widget.next_button.disabled
    widget.prev_button.click()
    assert widget.page == 1

    widget.kind_filter.value = "RemoveTags"
    assert widget.page == 0
    assert _table_rows(widget) == 5
    assert "AddTags" not in widget.table.value
    assert "AddCustom" not in widget.table.value

    widget.kind_filter.value = ""
    widget.attribute_filter.value = "custom.widget_score"
    assert _table_rows(widget) == 15
    assert "tag.hot" not in widget.table.value

    widget.kind_filter.value = "RemoveTags"
    assert "No changes match" in widget.table.value


def test_unticking_an_attribute_leaves_it_out_of_the_plan(
    client: cm.Client, edited: pd.DataFrame
) -> None:
    widget = preview(edited, client)
    widget.checkboxes["tag.hot"].value = False

    assert widget.current_plan() == plan_frame(edited).filter(exclude_attributes=["tag.hot"])
    assert "20 operations" in widget.summary.value
    assert "left out: tag.hot" in widget.summary.value
    assert _table_rows(widget) == PAGE_SIZE
    assert "tag.hot" not in widget.table.value
    assert repr(widget) == repr(widget.current_plan())

    for box in widget.checkboxes.values():
        box.value = False
    assert widget.apply_button.disabled  # nothing left to send


def test_apply_sends_what_is_ticked_then_undo_restores(
    emulator: Emulator, client: cm.Client, edited: pd.DataFrame, df: pd.DataFrame, api: Any
) -> None:
    widget = preview(edited, client)
    widget.checkboxes["tag.hot"].value = False
    states: list[bool] = []
    widget.apply_button.observe(lambda change: states.append(change["new"]), names="disabled")
    emulator.clear_request_log()

    widget.apply_button.click()

    assert states == [True, False]  # disabled while it ran
    assert widget.result is not None
    assert widget.result.ok
    assert widget.result.applied == 20
    assert widget.progress.value == widget.progress.max == 20
    assert "20 applied" in widget.result_html.value
    assert widget.undo_button.layout.display != "none"
    ids = edited.index.tolist()
    assert all("hot" not in _server(api, c)["tags"] for c in ids[:25])  # excluded: untouched
    assert all(_server(api, c)["custom"]["widget_score"] == 90 for c in ids[:15])
    assert all(e["path"].endswith(("/custom", "/tags")) for e in _writes(emulator))

    widget.undo_button.click()

    assert widget.undo_result is not None
    assert widget.undo_result.applied == 20
    assert "Undo" in widget.result_html.value
    assert widget.undo_button.layout.display == "none"
    assert all("widget_score" not in _server(api, c)["custom"] for c in ids[:15])
    vip = df.index[df["tag.vip"].to_numpy(dtype=bool)][:5]
    assert all("vip" in _server(api, c)["tags"] for c in vip)

    widget.apply_button.click()  # and again: a finished journal does not block a new apply

    assert widget.result.applied == 20
    assert all(_server(api, c)["custom"]["widget_score"] == 90 for c in ids[:15])


def test_an_apply_that_is_refused_shows_why_and_sends_nothing(
    emulator: Emulator, edited: pd.DataFrame, tmp_path: Path
) -> None:
    emulator.add_account("widget-other", "widget-secret", customers=2)
    with cm.Client("widget-other", "widget-secret", emulator.url, cache_dir=tmp_path) as other:
        widget = preview(edited, other)
        emulator.clear_request_log()
        widget.apply_button.click()
    assert "another account" in widget.result_html.value
    assert widget.result is None
    assert not widget.apply_button.disabled
    assert emulator.request_log() == []


def test_values_are_html_escaped(client: cm.Client, df: pd.DataFrame) -> None:
    edited = df.copy()
    edited["custom.note"] = pd.Series(pd.NA, index=edited.index, dtype="string[pyarrow]")
    edited.loc[edited.index[0], "custom.note"] = "<script>alert(1)</script>"
    widget = preview(edited, client)
    assert "<script>" not in widget.table.value
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in widget.table.value


def test_the_accessor_and_an_empty_plan(client: cm.Client, df: pd.DataFrame) -> None:
    widget = df.copy().chartmogul.preview(client)
    assert isinstance(widget, PlanPreview)
    assert widget.current_plan() == Plan(source=widget.plan.source)
    assert widget.apply_button.disabled
    assert "No changes match" in widget.table.value
    assert "page 1 of 1" in widget.page_label.value
