"""The dry-run widget: a plan's summary and changes, exclusions, then Apply and Undo.

    edited.chartmogul.preview(client)

It only shows a plan and calls apply: the plan comes from ``plan_frame``, exclusions are
``plan.filter(exclude_attributes=...)``, Apply calls ``apply_plan`` and Undo calls that apply's
``result.undo(client)``. Outside a notebook front end the widget prints as the plan it would
apply. The child widgets are attributes (``apply_button``, ``checkboxes``, ``kind_filter`` ...)
so tests and users can drive them.

The widget is a small state machine, ``widget.state`` (an observable trait)::

    planned --Apply--> applying --> applied --Undo--> undoing --> undone (final)
                          |          |   ^                 |         |
                          v          +---+ Retry failed    |         +--Undo again--> undoing
                       failed        (applying)            +--> applied, if the undo raised
                          +--Apply again (resumes from the journal)--> applying

Apply sends the ticked plan once; Undo reverts exactly what that apply wrote
(``result.undo(client)``); Retry failed and Undo again send only what failed
(``result.retry(client)``). Nothing goes back to planned: the ticks are frozen once sent.

Each transition is taken under a lock, so a click that arrives in the wrong state (a
double-click, a click while applying, a second Apply after an apply) is ignored, never queued:
JupyterLab may deliver widget events on another thread than the one applying.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import ipywidgets as widgets
import pandas as pd
import traitlets

from cm_frames.errors import ChartMogulError
from cm_frames.read.load import client_for_frame
from cm_frames.writeback.apply import apply_plan
from cm_frames.writeback.frame import plan_frame
from cm_frames.writeback.operations import KINDS
from cm_frames.writeback.options import ProgressCallback
from cm_frames.writeback.plan import Plan, display_value
from cm_frames.writeback.result import ApplyResult

if TYPE_CHECKING:
    from cm_frames.api.client import Client

__all__ = [
    "APPLIED",
    "APPLYING",
    "FAILED",
    "PAGE_SIZE",
    "PLANNED",
    "STATES",
    "UNDOING",
    "UNDONE",
    "PlanPreview",
    "preview",
]

PLANNED: Final = "planned"
APPLYING: Final = "applying"
APPLIED: Final = "applied"
UNDOING: Final = "undoing"
UNDONE: Final = "undone"
FAILED: Final = "failed"
STATES: Final = (PLANNED, APPLYING, APPLIED, UNDOING, UNDONE, FAILED)

PAGE_SIZE = 20
ALL = ""  # the dropdown value meaning "no filter"
_TOP_VALUES = 3
# How an operation kind counts in the grouped view.
_CHANGE_OF_KIND: Final = {
    "AddTags": "add",
    "AddCustom": "add",
    "UpdateCustom": "change",
    "RemoveTags": "remove",
    "RemoveCustom": "remove",
}
# JupyterLab's theme variables, with fallbacks for other front ends (nbconvert's HTML, VS Code).
_FONT = "font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 13px"
_BORDER = "var(--jp-border-color2, #e0e0e0)"
_HEAD_BORDER = "var(--jp-border-color1, #999)"
_MUTED = "color: var(--jp-ui-font-color2, #666)"
_ERROR = "color: var(--jp-error-color1, #b00020)"
_WARN = "color: var(--jp-warn-color1, #b35c00)"
# One line per row, never wider than the notebook: fixed column widths, long text cut with an
# ellipsis (the full text is in the cell's tooltip).
_CELL = (
    f"padding: 2px 8px; text-align: left; border-bottom: 1px solid {_BORDER}; "
    "white-space: nowrap; overflow: hidden; text-overflow: ellipsis"
)
_TABLE = f"border-collapse: collapse; table-layout: fixed; width: 100%; {_FONT}"
_COLUMNS: Final = (  # (heading, width)
    ("id", "7%"),
    ("email", "22%"),
    ("kind", "15%"),
    ("attribute", "26%"),
    ("old → new", "30%"),
)


def _hidden() -> widgets.Layout:
    return widgets.Layout(display="none")


def _shown(**kwargs: str) -> widgets.Layout:
    return widgets.Layout(**kwargs)


def preview(df: pd.DataFrame, client: Client | None = None) -> PlanPreview:
    """A widget previewing ``df``'s write-back; Apply sends it through ``client``.

    Parameters
    ----------
    df : pandas.DataFrame
        An edited copy of a frame from ``cm.read_customers``.
    client : Client, optional
        The client Apply and Undo send through; by default the client that loaded the frame
        (looked up when Apply is clicked).

    Returns
    -------
    PlanPreview
        The widget. The plan is made now, so an invalid edit raises here, before anything is
        shown.

    Examples
    --------
    >>> import cm_frames as cm
    >>> with cm.Emulator(customers=5, seed=1) as emu:
    ...     client = emu.client()
    ...     df = cm.read_customers(client, progress=False)
    ...     edited = df.copy()
    ...     edited["tag.trial"] = True
    ...     widget = preview(edited)  # in a notebook, the last line of a cell shows it
    ...     widget.apply_button.click()  # what clicking Apply does
    >>> widget.state, widget.result.applied
    ('applied', 5)
    """
    plan = plan_frame(df)
    return PlanPreview(plan, lambda: client_for_frame(df, client))


class PlanPreview(widgets.VBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    """Summary, Apply/Undo, exclusions, a grouped view and a paged, filterable table of changes.

    Parameters
    ----------
    plan : Plan
        The plan to preview and apply.
    client : callable
        Returns the client to send through (called at each Apply or Undo).
    page_size : int, default 20
        Rows of the change table per page.

    Examples
    --------
    >>> from cm_frames.writeback.operations import AddTags
    >>> plan = Plan([AddTags(i, f"cus_{i}", None, "vip") for i in range(1, 26)])
    >>> widget = PlanPreview(plan, client=lambda: None)  # nothing is sent until Apply
    >>> widget.state, widget.pages, len(widget.visible_rows())
    ('planned', 2, 25)
    """

    #: where the widget is: one of ``STATES``; observe it with ``widget.observe(f, "state")``
    state = traitlets.Unicode(PLANNED)

    def __init__(
        self, plan: Plan, client: Callable[[], Client], *, page_size: int = PAGE_SIZE
    ) -> None:
        self.plan = plan
        self.page_size = page_size
        self.page = 0
        self.result: ApplyResult | None = None
        self.undo_result: ApplyResult | None = None
        self.error: str | None = None  # why the last apply, retry or undo raised
        self._client = client
        # A re-entrant lock: an observer of ``state`` (run inside a transition) may read the
        # widget; another thread's click waits only for the check-and-set, never for an apply.
        self._lock = threading.RLock()
        self._sent: Plan | None = None  # the plan Apply sent: ticks are frozen to it
        self._updating = False  # set while _refresh writes to controls it also observes
        self._progress_step = 1
        self._progress_shown = 0
        self._rows = plan.to_frame()
        self._attributes = sorted(set(self._rows["attribute"].tolist()))

        self.summary = widgets.HTML()
        self.apply_button = widgets.Button(
            button_style="primary",
            icon="upload",
            tooltip="Send the ticked operations",
            layout=_shown(width="auto"),
        )
        self.retry_button = widgets.Button(
            button_style="info",
            icon="redo",
            tooltip="Send the failed operations again (the rest are not resent)",
            layout=_hidden(),
        )
        self.undo_button = widgets.Button(
            description="Undo",
            button_style="warning",
            icon="undo",
            tooltip="Revert exactly what this apply wrote",
            layout=_hidden(),
        )
        self.progress = widgets.IntProgress(
            value=0, min=0, max=max(len(plan), 1), description="", layout=_hidden()
        )
        self.progress_label = widgets.Label()
        self.result_html = widgets.HTML()
        self.output = self.result_html
        self.checkboxes = {
            name: widgets.Checkbox(
                value=True,
                description=name,
                indent=False,
                layout=widgets.Layout(width="auto", margin="0 18px 0 0"),
            )
            for name in self._attributes
        }
        self.groups = widgets.HTML()
        tight = {"description_width": "initial"}
        self.kind_filter = widgets.Dropdown(
            description="Kind", value=None, style=tight, layout=widgets.Layout(width="auto")
        )
        self.attribute_filter = widgets.Dropdown(
            description="Attribute",
            value=None,
            style=tight,
            layout=widgets.Layout(width="auto", margin="0 0 0 12px"),
        )
        self.filter_note = widgets.HTML()
        narrow = widgets.Layout(width="auto")
        # Characters every font has (a bare Debian's Chromium draws ⏮ as an empty box).
        self.first_button = widgets.Button(
            description="« First", tooltip="First page", layout=narrow
        )
        self.prev_button = widgets.Button(description="◀ Prev", layout=narrow)
        self.page_box = widgets.BoundedIntText(
            value=1,
            min=1,
            max=1,
            description="Page",
            style=tight,
            layout=widgets.Layout(width="130px", margin="0 4px 0 8px"),
        )
        self.page_label = widgets.Label()
        self.next_button = widgets.Button(description="Next ▶", layout=narrow)
        self.last_button = widgets.Button(description="Last »", tooltip="Last page", layout=narrow)
        self.table = widgets.HTML()

        for box in self.checkboxes.values():
            box.observe(self._on_exclusions, names="value")
        self.kind_filter.observe(self._on_filter, names="value")
        self.attribute_filter.observe(self._on_filter, names="value")
        self.page_box.observe(self._on_page_box, names="value")
        self.first_button.on_click(lambda _: self._go(0))
        self.prev_button.on_click(lambda _: self._go(self.page - 1))
        self.next_button.on_click(lambda _: self._go(self.page + 1))
        self.last_button.on_click(lambda _: self._go(self.pages - 1))
        self.apply_button.on_click(self._on_apply)
        self.retry_button.on_click(self._on_retry)
        self.undo_button.on_click(self._on_undo)

        exclusions = widgets.VBox(
            [
                widgets.HTML(
                    f'<span style="{_FONT}"><b>Include</b> (untick to leave an attribute out '
                    "of Apply):</span>"
                ),
                widgets.HBox(
                    list(self.checkboxes.values()),
                    layout=widgets.Layout(flex_flow="row wrap"),
                ),
            ]
        )
        # What decides comes first: the summary and the buttons, then what to send, then the
        # details; the long table is last, so it never pushes Apply below the fold.
        super().__init__(
            children=[
                self.summary,
                widgets.HBox(
                    [
                        self.apply_button,
                        self.retry_button,
                        self.undo_button,
                        self.progress,
                        self.progress_label,
                    ],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
                ),
                self.result_html,
                exclusions,
                self.groups,
                widgets.HBox(
                    [self.kind_filter, self.attribute_filter],
                    layout=widgets.Layout(flex_flow="row wrap"),
                ),
                self.filter_note,
                widgets.HBox(
                    [
                        self.first_button,
                        self.prev_button,
                        self.page_box,
                        self.page_label,
                        self.next_button,
                        self.last_button,
                    ],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
                ),
                self.table,
            ],
            layout=widgets.Layout(width="100%"),
        )
        self.add_class("cm-frames-preview")  # a stable handle for style sheets and browser tests
        self._refresh()

    # -- what is shown

    @property
    def excluded(self) -> tuple[str, ...]:
        """The attributes left out (their checkbox unticked)."""
        return tuple(name for name, box in self.checkboxes.items() if not box.value)

    def current_plan(self) -> Plan:
        """Return the plan Apply sends (or sent): the plan without the excluded attributes.

        Returns
        -------
        Plan
            The plan that was sent, once Apply was clicked; else ``plan`` filtered.
        """
        if self._sent is not None:
            return self._sent
        excluded = self.excluded
        return self.plan.filter(exclude_attributes=excluded) if excluded else self.plan

    def ticked_rows(self) -> pd.DataFrame:
        """Return the changes of the ticked attributes: the rows Apply sends.

        Returns
        -------
        pandas.DataFrame
            Rows of ``plan.to_frame()``.
        """
        rows = self._rows
        return rows[~rows["attribute"].isin(self.excluded).to_numpy(dtype=bool, na_value=False)]

    def visible_rows(self) -> pd.DataFrame:
        """Return the changes the table pages through: ticked, matching both filters.

        Returns
        -------
        pandas.DataFrame
            Rows of ``plan.to_frame()``.
        """
        rows = self.ticked_rows()
        keep = pd.Series(True, index=rows.index)
        if self.kind_filter.value:
            keep &= rows["kind"] == self.kind_filter.value
        if self.attribute_filter.value:
            keep &= rows["attribute"] == self.attribute_filter.value
        return rows[keep.to_numpy(dtype=bool, na_value=False)]

    @property
    def pages(self) -> int:
        """How many pages the table has now (at least 1)."""
        return max(1, -(-len(self.visible_rows()) // self.page_size))

    def __repr__(self) -> str:
        return repr(self.current_plan())

    # -- view events (any state: they change only what is shown)

    def _on_exclusions(self, change: Any) -> None:
        if self._updating:
            return
        if self.state != PLANNED:
            # The plan was sent: the ticks must keep saying what it held (a box is disabled
            # in the browser, but Python, or a message sent before it was, can still set it).
            self._updating = True
            try:
                change["owner"].value = change["old"]
            finally:
                self._updating = False
            return
        self.page = 0
        self._refresh()

    def _on_filter(self, _change: Any) -> None:
        if self._updating:
            return
        self.page = 0
        self._refresh()

    def _on_page_box(self, change: Any) -> None:
        if not self._updating:
            self._go(int(change["new"]) - 1)

    def _go(self, page: int) -> None:
        self.page = min(max(page, 0), self.pages - 1)
        self._refresh()

    # -- the state machine

    def _begin(self, allowed: Iterable[str], doing: str) -> bool:
        """Move to ``doing`` if the widget is in one of ``allowed``; False: ignore the click."""
        with self._lock:
            if self.state not in allowed:
                return False
            self.state = doing
            return True

    def _on_apply(self, _button: Any) -> None:
        if not self.current_plan().is_empty and self._begin((PLANNED, FAILED), APPLYING):
            self._sent = self.current_plan()  # frozen: a resume needs the very same plan
            plan = self._sent
            self._run(lambda client, progress: apply_plan(plan, client, progress=progress), plan)

    def _on_retry(self, _button: Any) -> None:
        result = self.result
        if result is None or not result.failed or not self._begin((APPLIED,), APPLYING):
            return
        self._run(lambda client, progress: result.retry(client, progress=progress), result.plan)

    def _on_undo(self, _button: Any) -> None:
        result, undo = self.result, self.undo_result
        if result is None or not result.applied:
            return
        if undo is not None and undo.failed:
            # An undo that failed in part: send only its failures again (same undo journal).
            if self._begin((UNDONE,), UNDOING):
                self._run(lambda client, progress: undo.retry(client, progress=progress), undo.plan)
        elif self._begin((APPLIED,), UNDOING):
            self._run(
                lambda client, progress: result.undo(client, progress=progress),
                result.undo_plan(),
            )

    def _run(self, action: Callable[[Client, ProgressCallback], ApplyResult], plan: Plan) -> None:
        """Run an apply, retry or undo (the state is APPLYING or UNDOING) and move on."""
        undoing = self.state == UNDOING
        self.error = None
        # About 200 updates of the bar, not one message to the browser per operation.
        self._progress_step = max(1, len(plan) // 200)
        self._progress_shown = 0
        self.progress.max = max(len(plan), 1)
        self.progress.value = 0
        self._refresh()
        outcome: ApplyResult | None = None
        try:
            outcome = action(self._client(), self._on_progress)
        except ChartMogulError as exc:
            self.error = str(exc)
        except BaseException as exc:  # an interrupt, or a bug: the state must not stay busy
            self.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            with self._lock:
                if outcome is not None and undoing:
                    self.undo_result = outcome
                    self.state = UNDONE
                elif outcome is not None:
                    self.result = outcome
                    self.state = APPLIED
                elif undoing or self.result is not None:
                    self.state = UNDONE if self.undo_result is not None else APPLIED
                else:
                    self.state = FAILED
            self._refresh()

    def _on_progress(self, done: int, total: int) -> None:
        if done < total and done - self._progress_shown < self._progress_step:
            return
        self._progress_shown = done
        self.progress.max = max(total, 1)
        self.progress.value = done
        doing = "undoing" if self.state == UNDOING else "applying"
        self.progress_label.value = f"{doing}: {done:,} of {total:,} operations done"

    # -- rendering

    def _refresh(self) -> None:
        """Bring every control in line with the state, the ticks, the filters and the page."""
        self._updating = True
        try:
            self._render_state()
            self._render_view()
        finally:
            self._updating = False

    def _render_state(self) -> None:
        state, plan, result, undo = self.state, self.current_plan(), self.result, self.undo_result
        n = len(plan)
        for box in self.checkboxes.values():
            box.disabled = state != PLANNED
        self.summary.value = _summary_html(state, plan, self.excluded, result, undo, self.error)

        apply = self.apply_button
        apply.description = {
            PLANNED: f"Apply {n:,} operation{_s(n)}",
            APPLYING: "Applying…",
            FAILED: f"Apply again ({n:,} operation{_s(n)})",
            UNDONE: "Undone",
        }.get(state, f"Applied {result.applied:,}" if result else "Applied")
        apply.disabled = state not in (PLANNED, FAILED) or plan.is_empty

        retry = self.retry_button
        failures = result is not None and result.failed > 0
        retry.layout = _shown() if failures and state in (APPLIED, APPLYING) else _hidden()
        retry.disabled = not (failures and state == APPLIED)
        retry.description = (
            f"Retry {result.failed:,} failed" if result and result.failed else "Retry"
        )

        undoable = result is not None and result.applied > 0
        again = state == UNDONE and undo is not None and undo.failed > 0
        self.undo_button.layout = _shown() if (undoable and state != UNDONE) or again else _hidden()
        self.undo_button.disabled = not (undoable and (state == APPLIED or again))
        self.undo_button.description = (
            f"Undo again ({undo.failed:,} failed)"
            if again and undo
            else "Undoing…"
            if state == UNDOING
            else f"Undo {result.applied:,}"
            if result and result.applied
            else "Undo"
        )

        self.progress.layout = _shown() if state != PLANNED else _hidden()
        self.progress.bar_style = {APPLIED: "success", UNDONE: "success", FAILED: "danger"}.get(
            state, ""
        )
        if state in (APPLIED, UNDONE) and result is not None:
            shown = undo if state == UNDONE and undo is not None else result
            self.progress.max = max(len(shown.rows), 1)
            self.progress.value = len(shown.rows)
            if shown.failed or shown.conflicted:
                self.progress.bar_style = "warning"
        self.progress_label.value = _progress_text(state, plan, result, undo)

        parts = []
        if self.error is not None:
            parts.append(f'<p style="{_ERROR}; {_FONT}"><b>{html.escape(self.error)}</b></p>')
        if undo is not None and state == UNDONE:
            parts.append(_details("Undo", undo))
        if result is not None and state != APPLYING:
            parts.append(_details("Apply", result))
        self.result_html.value = "".join(parts)

    def _render_view(self) -> None:
        ticked = self.ticked_rows()
        self.groups.value = _groups_html(self._rows, self.excluded)
        _set_options(
            self.kind_filter,
            [("all kinds", ALL), *((k, k) for k in KINDS if k in set(ticked["kind"].tolist()))],
        )
        # Unticked attributes are not offered: the table never shows them.
        _set_options(
            self.attribute_filter,
            [("all attributes", ALL), *((a, a) for a in sorted(set(ticked["attribute"])))],
        )
        rows = self.visible_rows()
        pages = max(1, -(-len(rows) // self.page_size))
        self.page = min(self.page, pages - 1)
        start = self.page * self.page_size
        self.table.value = _table_html(rows.iloc[start : start + self.page_size])
        filtered = len(rows) != len(ticked)
        sent = "sent" if self.state != PLANNED and self.state != FAILED else "sends"
        self.filter_note.value = (
            f'<span style="{_MUTED}; {_FONT}">'
            + (f"Showing {len(rows):,} of {len(ticked):,} ticked changes. " if filtered else "")
            + f"Kind and Attribute narrow this table only: Apply {sent} all {len(ticked):,} "
            "ticked changes.</span>"
        )
        self.page_box.max = pages
        self.page_box.value = self.page + 1
        last = min(start + self.page_size, len(rows))
        self.page_label.value = (
            f"of {pages:,} · rows {start + 1 if len(rows) else 0:,}–{last:,} of {len(rows):,}"
        )
        self.first_button.disabled = self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.last_button.disabled = self.page >= pages - 1


def _details(what: str, result: ApplyResult) -> str:
    """An apply's full result, folded: open when something was not applied, to show why."""
    state = "" if result.ok else " open"
    counts = " · ".join(f"{n:,} {name}" for name, n in result.counts().items())
    return (
        f'<details{state} style="{_FONT}"><summary>{what}: {counts} (details, journal)'
        f"</summary>{result._repr_html_()}</details>"
    )


def _set_options(dropdown: widgets.Dropdown, options: list[tuple[str, str]]) -> None:
    """Replace a dropdown's options, keeping its value when it is still offered."""
    if list(dropdown.options) == options:
        return
    value = dropdown.value
    dropdown.options = options
    dropdown.value = value if value in {v for _, v in options} else ALL


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _summary_html(
    state: str,
    plan: Plan,
    excluded: tuple[str, ...],
    result: ApplyResult | None,
    undo: ApplyResult | None,
    error: str | None,
) -> str:
    """The headline of the state (what is on the server, what to do next), then the plan."""
    n = len(plan)
    if state == PLANNED:
        head = (
            f"<b>Write-back plan</b>: nothing sent yet; Apply sends the {n:,} ticked "
            f"operation{_s(n)}"
            if n
            else "<b>Write-back plan</b>: nothing to send"
        )
    elif state == APPLYING:
        head = f"<b>Applying</b> {n:,} operation{_s(n)}: each is on the server once it is done"
    elif state == FAILED:
        head = (
            f'<b style="{_ERROR}">The apply stopped</b> before it finished (the reason is '
            "below). Apply again resumes it: what the journal shows done is not sent twice"
        )
    elif state == UNDOING and result is not None:
        head = f"<b>Undoing</b> the {result.applied:,} operation{_s(result.applied)} applied"
    elif state == APPLIED and result is not None:
        head = _applied_head(result, error)
    elif state == UNDONE and result is not None and undo is not None:
        head = _undone_head(result, undo)
    else:  # UNDONE without an undo result cannot happen: the undo raised, the state is APPLIED
        head = f"<b>{html.escape(state)}</b>"
    lines = plan.summary().lines()
    if excluded:
        lines.append("left out: " + ", ".join(excluded))
    return (
        f'<div style="{_FONT}">{head}<ul style="margin: 4px 0">'
        + "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        + "</ul></div>"
    )


def _applied_head(result: ApplyResult, error: str | None) -> str:
    total, applied = len(result.rows), result.applied
    if not applied:
        head = (
            f"<b>Nothing was written</b>: 0 of {total:,} applied (see why below); there is "
            "nothing to undo"
        )
    elif result.ok:
        head = (
            f"<b>Applied</b>: {applied:,} of {total:,} operations are on the server. "
            "Undo reverts exactly these"
        )
    else:
        head = (
            f'<b style="{_WARN}">Partly applied</b>: {applied:,} of {total:,} operations are '
            "on the server"
        )
        if result.failed:
            head += f"; {result.failed:,} failed (Retry sends only those again)"
        if result.conflicted:
            head += (
                f"; {result.conflicted:,} not sent: the server changed since the load (reload "
                "and plan again for those)"
            )
        head += f". Undo reverts the {applied:,} applied"
    if error is not None:
        head += ". The last retry or undo stopped (the reason is below): click it again"
    return head


def _undone_head(result: ApplyResult, undo: ApplyResult) -> str:
    reverted, applied = undo.applied, result.applied
    if undo.ok:
        return (
            f"<b>Undone</b>: the {applied:,} operation{_s(applied)} this apply wrote "
            f"{'is' if applied == 1 else 'are'} reverted; the server holds what it held before "
            "Apply. To write again, make a new preview"
        )
    head = f'<b style="{_WARN}">Undo incomplete</b>: {reverted:,} of {applied:,} reverted'
    if undo.failed:
        head += f"; {undo.failed:,} failed (Undo again sends only those)"
    if undo.conflicted:
        head += f"; {undo.conflicted:,} kept: changed on the server since this apply wrote them"
    return head


def _progress_text(
    state: str, plan: Plan, result: ApplyResult | None, undo: ApplyResult | None
) -> str:
    if state == PLANNED:
        return ""
    if state == APPLYING:
        return f"applying: 0 of {len(plan):,} operations done"
    if state == UNDOING and result is not None:
        return f"undoing: 0 of {result.applied:,} operations done"
    if state == FAILED:
        return "stopped: see below"
    shown = undo if state == UNDONE and undo is not None else result
    if shown is None:
        return ""
    verb = "undone" if shown is undo else "applied"
    text = f"{verb} {shown.applied:,} of {len(shown.rows):,}"
    others = [
        f"{count:,} {what}"
        for count, what in (
            (shown.skipped, "skipped"),
            (shown.conflicted, "conflicted"),
            (shown.failed, "failed"),
        )
        if count
    ]
    return text + (" · " + " · ".join(others) if others else "")


def _groups_html(rows: pd.DataFrame, excluded: tuple[str, ...]) -> str:
    """Per attribute: how many adds, changes and removes, and the most common new values."""
    if rows.empty:
        return ""
    change = rows["kind"].map(_CHANGE_OF_KIND)
    body = []
    for attribute, group in rows.groupby("attribute", sort=True):
        counts = change[group.index].value_counts()
        left_out = attribute in excluded
        if left_out:
            top = "<i>left out: not sent</i>"
        elif str(attribute).startswith("tag"):  # a tag's new value is only True or False
            top = ""
        else:
            values = group["new"].dropna().value_counts().head(_TOP_VALUES)
            top = ", ".join(f"{_text(v)} ×{c:,}" for v, c in values.items())
        name = html.escape(str(attribute))
        cells = (
            (f"<code>{name}</code>", name),
            *((f"{int(counts.get(k, 0)):,}", k) for k in ("add", "change", "remove")),
            (top, html.escape(re.sub("<[^>]+>", "", top))),
        )
        style = f"{_CELL}; opacity: 0.55" if left_out else _CELL
        body.append(
            "<tr>"
            + "".join(f'<td style="{style}" title="{tip}">{c}</td>' for c, tip in cells)
            + "</tr>"
        )
    # Fixed widths for the counts (their headings must fit); the text columns share the rest.
    head = "".join(
        f'<th style="{_CELL}; border-bottom-color: {_HEAD_BORDER}{width}">{name}</th>'
        for name, width in (
            ("attribute", "; width: 32%"),
            ("add", "; width: 4.5em"),
            ("change", "; width: 5.5em"),
            ("remove", "; width: 6em"),
            ("top new values", ""),
        )
    )
    return (
        f'<table class="cm-frames-groups" style="{_TABLE}; margin: 6px 0"><thead><tr>{head}'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _table_html(rows: pd.DataFrame) -> str:
    if rows.empty:
        return f'<p style="{_FONT}"><i>No changes match.</i></p>'
    body = []
    columns = ["id", "email", "kind", "attribute", "old", "new"]
    for id_, email, kind, attribute, old, new in rows[columns].itertuples(index=False):
        change = f"{_text(old, '—')} → {_text(new, '—')}"
        cells = (
            (html.escape(str(id_)), html.escape(str(id_))),
            (_text(email), _text(email)),
            (html.escape(str(kind)), html.escape(str(kind))),
            (f"<code>{html.escape(str(attribute))}</code>", html.escape(str(attribute))),
            (f"{_text(old, '—')} → <b>{_text(new, '—')}</b>", change),
        )
        body.append(
            "<tr>"
            + "".join(f'<td style="{_CELL}" title="{tip}">{c}</td>' for c, tip in cells)
            + "</tr>"
        )
    head = "".join(
        f'<th style="{_CELL}; border-bottom-color: {_HEAD_BORDER}; width: {width}">{name}</th>'
        for name, width in _COLUMNS
    )
    return (
        f'<table class="cm-frames-changes" style="{_TABLE}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _text(value: Any, missing: str = "") -> str:
    # plan.to_frame() holds typed values: timestamps show in ISO 8601, as the plan prints them.
    if value is None or pd.isna(value):
        return missing
    return html.escape(display_value(value) or "")
