"""The dry-run widget: a plan's summary and changes, exclusions, then Apply and Undo.

    edited.chartmogul.preview(client)

It only shows a plan and calls apply: the plan comes from ``plan_frame``, exclusions are
``plan.filter(exclude_attributes=...)`` and the buttons call ``apply_plan``. Outside a notebook
front end the widget prints as the plan it would apply. The child widgets are attributes
(``apply_button``, ``checkboxes``, ``kind_filter`` ...) so tests and users can drive them.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd

from cm_frames.apply import ApplyResult, apply_plan
from cm_frames.errors import ChartMogulError
from cm_frames.operations import KINDS
from cm_frames.plan import Plan
from cm_frames.read import client_for_frame
from cm_frames.writeback import plan_frame

if TYPE_CHECKING:
    from cm_frames.client import Client

__all__ = ["PAGE_SIZE", "PlanPreview", "preview"]

PAGE_SIZE = 20
ALL = ""  # the dropdown value meaning "no filter"
_TABLE_COLUMNS = ("id", "email", "kind", "attribute", "old", "new")
_FONT = "font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 13px"
_CELL = "padding: 2px 10px; text-align: left; border-bottom: 1px solid #e5e5e5"


def _hidden() -> widgets.Layout:
    return widgets.Layout(display="none")


def preview(df: pd.DataFrame, client: Client | None = None) -> PlanPreview:
    """A widget previewing ``df``'s write-back; Apply sends it through ``client``.

    ``client`` defaults to the client that loaded the frame (looked up when Apply is clicked).
    The plan is made now, so an invalid edit raises here, before anything is shown.
    """
    plan = plan_frame(df)
    return PlanPreview(plan, lambda: client_for_frame(df, client))


class PlanPreview(widgets.VBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    """Summary, a paged and filterable table of changes, per-attribute exclusions, Apply, Undo."""

    def __init__(
        self, plan: Plan, client: Callable[[], Client], *, page_size: int = PAGE_SIZE
    ) -> None:
        self.plan = plan
        self.page_size = page_size
        self.page = 0
        self.result: ApplyResult | None = None
        self.undo_result: ApplyResult | None = None
        self._client = client
        self._running = False
        self._rows = plan.to_frame()
        attributes = sorted(set(self._rows["attribute"].tolist()))
        present = set(self._rows["kind"].tolist())
        kinds = [kind for kind in KINDS if kind in present]

        self.summary = widgets.HTML()
        self.checkboxes = {
            name: widgets.Checkbox(
                value=True,
                description=name,
                indent=False,
                layout=widgets.Layout(width="auto", margin="0 18px 0 0"),
            )
            for name in attributes
        }
        self.kind_filter = widgets.Dropdown(
            options=[("all kinds", ALL), *((k, k) for k in kinds)], value=ALL, description="Kind"
        )
        self.attribute_filter = widgets.Dropdown(
            options=[("all attributes", ALL), *((a, a) for a in attributes)],
            value=ALL,
            description="Attribute",
        )
        self.table = widgets.HTML()
        self.prev_button = widgets.Button(description="◀ Prev", layout=widgets.Layout(width="90px"))
        self.next_button = widgets.Button(description="Next ▶", layout=widgets.Layout(width="90px"))
        self.page_label = widgets.Label()
        self.apply_button = widgets.Button(
            description="Apply", button_style="primary", icon="upload", tooltip="Send this plan"
        )
        self.undo_button = widgets.Button(
            description="Undo",
            button_style="warning",
            icon="undo",
            tooltip="Revert what was applied",
            layout=_hidden(),
        )
        self.progress = widgets.IntProgress(
            value=0, min=0, max=max(len(plan), 1), description="", layout=_hidden()
        )
        self.result_html = widgets.HTML()
        self.output = self.result_html

        for box in self.checkboxes.values():
            box.observe(self._on_exclusions, names="value")
        self.kind_filter.observe(self._on_filter, names="value")
        self.attribute_filter.observe(self._on_filter, names="value")
        self.prev_button.on_click(lambda _: self._turn(-1))
        self.next_button.on_click(lambda _: self._turn(+1))
        self.apply_button.on_click(self._on_apply)
        self.undo_button.on_click(self._on_undo)

        exclusions = widgets.VBox(
            [
                widgets.HTML(
                    f'<span style="{_FONT}"><b>Include</b> (untick to leave an attribute out):'
                    "</span>"
                ),
                widgets.HBox(
                    list(self.checkboxes.values()),
                    layout=widgets.Layout(flex_flow="row wrap"),
                ),
            ]
        )
        super().__init__(
            children=[
                self.summary,
                exclusions,
                widgets.HBox([self.kind_filter, self.attribute_filter]),
                self.table,
                widgets.HBox([self.prev_button, self.page_label, self.next_button]),
                widgets.HBox([self.apply_button, self.undo_button, self.progress]),
                self.result_html,
            ]
        )
        self._refresh()

    # -- what is shown

    @property
    def excluded(self) -> tuple[str, ...]:
        """The attributes left out (their checkbox unticked)."""
        return tuple(name for name, box in self.checkboxes.items() if not box.value)

    def current_plan(self) -> Plan:
        """The plan Apply sends: the plan without the excluded attributes."""
        excluded = self.excluded
        return self.plan.filter(exclude_attributes=excluded) if excluded else self.plan

    def visible_rows(self) -> pd.DataFrame:
        """The changes the table pages through: not excluded, matching both filters."""
        rows = self._rows
        keep = ~rows["attribute"].isin(self.excluded)
        if self.kind_filter.value != ALL:
            keep &= rows["kind"] == self.kind_filter.value
        if self.attribute_filter.value != ALL:
            keep &= rows["attribute"] == self.attribute_filter.value
        return rows[keep.to_numpy(dtype=bool, na_value=False)]

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.visible_rows()) // self.page_size))

    def __repr__(self) -> str:
        return repr(self.current_plan())

    # -- events

    def _on_exclusions(self, _change: Any) -> None:
        self.page = 0
        self._refresh()

    def _on_filter(self, _change: Any) -> None:
        self.page = 0
        self._refresh()

    def _turn(self, step: int) -> None:
        self.page = min(max(self.page + step, 0), self.pages - 1)
        self._refresh()

    def _on_apply(self, _button: Any) -> None:
        if self._running:
            return
        plan = self.current_plan()
        result = self._run(plan, "Applying")
        if result is not None:
            self.result = result
            self.undo_result = None
            self.result_html.value = result._repr_html_()
            self.undo_button.layout = widgets.Layout() if result.applied else _hidden()

    def _on_undo(self, _button: Any) -> None:
        if self._running or self.result is None:
            return
        undo = self._run(self.result.undo_plan(), "Undoing")
        if undo is not None:
            self.undo_result = undo
            self.result_html.value = "<p><b>Undo</b></p>" + undo._repr_html_()
            if undo.ok:
                self.undo_button.layout = _hidden()

    def _run(self, plan: Plan, doing: str) -> ApplyResult | None:
        """Apply ``plan`` with the controls locked and the progress bar moving."""
        self._lock(True)
        self.progress.max = max(len(plan), 1)
        self.progress.value = 0
        self.progress.description = doing
        self.progress.layout = widgets.Layout()
        self.result_html.value = f"<p>{html.escape(doing)} {len(plan):,} operations…</p>"
        try:
            return apply_plan(plan, self._client(), progress=self._on_progress)
        except ChartMogulError as exc:
            self.result_html.value = f'<p style="color:#b00020"><b>Nothing more was sent:</b> {html.escape(str(exc))}</p>'
            return None
        finally:
            self._lock(False)

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = done

    def _lock(self, running: bool) -> None:
        self._running = running
        self.apply_button.disabled = running or self.current_plan().is_empty
        self.undo_button.disabled = running
        for box in self.checkboxes.values():
            box.disabled = running

    # -- rendering

    def _refresh(self) -> None:
        plan = self.current_plan()
        lines = plan.summary().lines()
        if self.excluded:
            lines.append("left out: " + ", ".join(self.excluded))
        self.summary.value = (
            f'<div style="{_FONT}"><b>Write-back plan</b> (nothing is sent until you click '
            "Apply)<ul>"
            + "".join(f"<li>{html.escape(line)}</li>" for line in lines)
            + "</ul></div>"
        )
        rows = self.visible_rows()
        pages = max(1, -(-len(rows) // self.page_size))
        self.page = min(self.page, pages - 1)
        start = self.page * self.page_size
        shown = rows.iloc[start : start + self.page_size]
        self.table.value = _table_html(shown)
        last = min(start + self.page_size, len(rows))
        self.page_label.value = (
            f"page {self.page + 1} of {pages} · rows {start + 1 if len(rows) else 0}–{last} "
            f"of {len(rows):,}"
        )
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= pages - 1
        self.apply_button.disabled = self._running or plan.is_empty


def _table_html(rows: pd.DataFrame) -> str:
    if rows.empty:
        return "<p><i>No changes match.</i></p>"
    body = []
    for id_, email, kind, attribute, old, new in rows[list(_TABLE_COLUMNS)].itertuples(index=False):
        cells = (
            html.escape(str(id_)),
            _text(email),
            html.escape(str(kind)),
            f"<code>{html.escape(str(attribute))}</code>",
            f"{_text(old, '—')} → <b>{_text(new, '—')}</b>",
        )
        body.append("<tr>" + "".join(f'<td style="{_CELL}">{c}</td>' for c in cells) + "</tr>")
    head = "".join(
        f'<th style="{_CELL}; border-bottom-color: #999">{name}</th>'
        for name in ("id", "email", "kind", "attribute", "old → new")
    )
    return (
        f'<table class="cm-frames-changes" style="border-collapse: collapse; {_FONT}"><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table>"
    )


def _text(value: Any, missing: str = "") -> str:
    return missing if value is None or pd.isna(value) else html.escape(str(value))
