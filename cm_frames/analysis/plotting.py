"""Deck-ready matplotlib plots of a customer frame: ``df.chartmogul.plot.<name>(...)``.

Every plot is a plain function taking the frame first (``plot_cohorts(df, "QS")``) and
returning the matplotlib ``Axes`` it drew on; ``PlotMethods`` binds them to a frame for the
accessor. Each takes ``ax=`` (draw into your own figure) and ``title=`` (replace the default).

What "deck-ready" means here, consistently:

- one palette (colour-blind safe, Okabe-Ito based) and one colour per group wherever the
  group appears: a segment keeps its colour across ``segments``, ``cohorts`` and
  ``attribute``; statuses keep theirs (Active green, Cancelled vermillion...);
- categories as horizontal bars, largest at the top, with counts (and shares) written on them;
  labels never overlap: long ones are shortened, crowded date ticks are thinned;
- a title and axis labels by default, dates written as people say them ("2021 Q3", "Mar 2021").

The data work is done by ``segments`` (grouping, cohorts, tag counts); these functions only
draw. Nulls, Arrow booleans and nullable integers are counted, never silently dropped: customers
without a value get a grey "(no value)" bar or are counted in the title.

The examples draw ``df``, six customers as ``read_customers`` returns them (the frame the
examples of ``cm_frames.analysis.segments`` use); ``tests/test_docstrings.py`` runs them.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.font_manager import FontProperties

from cm_frames.analysis.segments import (
    MISSING_LABEL,
    Currency,
    Grouping,
    co_occurrence,
    cohort,
    cross_counts,
    grouping,
    money,
    mrr_by,
    one_currency,
    period_alias,
    tag_counts,
)
from cm_frames.errors import ValidationError

__all__ = [
    "MISSING_COLOR",
    "PALETTE",
    "STATUS_COLORS",
    "PlotMethods",
    "plot_attribute",
    "plot_co_occurrence",
    "plot_cohorts",
    "plot_countries",
    "plot_mrr",
    "plot_segments",
    "plot_status",
    "plot_tags",
]

#: Group colours in order (Okabe-Ito, then Paul Tol's muted set): safe for colour blindness.
PALETTE: Final = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#999933",
    "#882255",
    "#44AA99",
    "#332288",
)
#: Customers without a value (and "other" remainders).
MISSING_COLOR: Final = "#BBBBBB"
#: Statuses mean the same thing in every account: give them meaningful colours from PALETTE.
STATUS_COLORS: Final = {
    "Active": "#009E73",
    "Past Due": "#E69F00",
    "Cancelled": "#D55E00",
    "Trial": "#0072B2",
    "Lead": "#56B4E9",
    # today's API: leads by stage, blues and purples from the same palette
    "New Lead": "#56B4E9",
    "Working Lead": "#0072B2",
    "Qualified Lead": "#332288",
    "Unqualified Lead": "#999933",
}
_HEATMAP: Final = "Blues"
_LABEL_CHARS: Final = 32  # longer category labels are shortened with an ellipsis
_MAX_CATEGORIES: Final = 15  # attribute(): more distinct values are folded into "other"
_MONEY_COLUMNS: Final = ("mrr", "arr")  # today's integer cents


# --- small helpers ---------------------------------------------------------------------------------


def _axes(
    ax: Axes | None, size: tuple[float, float], figsize: tuple[float, float] | None = None
) -> Axes:
    """``ax``, or new axes on a new figure of ``figsize`` (default: ``size``, fit to the plot)."""
    if ax is not None:
        return ax
    _, new = plt.subplots(figsize=figsize or size, layout="constrained")
    return new


def _styled(style: Mapping[str, Any], **defaults: Any) -> dict[str, Any]:
    """The keyword arguments of one matplotlib call: its defaults, overridden by ``style``."""
    return {**defaults, **style}


def _label(value: Any) -> str:
    """Display text of a group/category value: nulls named, dates short, ``$`` not mathtext."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return MISSING_LABEL
    if isinstance(value, pd.Timestamp):
        text = value.strftime("%Y-%m-%d") if value == value.normalize() else str(value)
    else:
        text = str(value)
    if len(text) > _LABEL_CHARS:
        text = text[: _LABEL_CHARS - 1] + "…"
    return text.replace("$", r"\$")


def _style(ax: Axes, *, value_axis: Literal["x", "y"]) -> None:
    """The house style: no top/right frame, a light grid along the value axis only."""
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_axisbelow(True)
    ax.grid(axis=value_axis, color="#DDDDDD", linewidth=0.8)
    ax.grid(axis="y" if value_axis == "x" else "x", visible=False)


def _compact(value: float, _position: Any = None) -> str:
    """1,234 -> "1.2k", 5e11 -> "500B": tick labels that fit and read aloud."""
    magnitude = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}" if magnitude < 1000 else f"{value:,.0f}"


def _group_colors(groups: Grouping) -> list[str]:
    """A colour per label of ``groups``, by position: the same segment, the same colour."""
    if groups.name == "status" or set(map(str, groups.labels)) <= set(STATUS_COLORS):
        return _status_colors([str(label) for label in groups.labels])
    return [PALETTE[i % len(PALETTE)] for i in range(len(groups.labels))]


def _status_colors(statuses: Sequence[str]) -> list[str]:
    spare = iter([c for c in PALETTE if c not in STATUS_COLORS.values()] * 10)
    return [STATUS_COLORS.get(s) or next(spare) for s in statuses]


def _with_missing(groups: Grouping) -> tuple[list[str], npt.NDArray[np.intp], list[str]]:
    """Labels, codes and colours where missing keys become a last grey "(no value)" group."""
    labels = [_label(v) for v in groups.labels]
    colors = _group_colors(groups)
    codes = groups.codes
    if groups.has_missing:
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(MISSING_LABEL)
        colors.append(MISSING_COLOR)
    return labels, codes, colors


def _empty(ax: Axes, message: str, title: str) -> Axes:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return ax


def _count_text(count: int, total: int) -> str:
    """ "1,234 (25%)"; a share that rounds to 0% but is not zero reads "<1%"."""
    if not total:
        return f"{count:,}"
    share = count / total
    return f"{count:,} ({'<1%' if 0 < share < 0.005 else f'{share:.0%}'})"


def _stack_legend(ax: Axes, title: str) -> None:
    """A legend beside a vertical stack, in the stack's order (top entry = top piece)."""
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(
        handles[::-1],
        labels[::-1],
        title=title,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        frameon=False,
    )


def _hbars(
    ax: Axes,
    labels: Sequence[str],
    counts: Sequence[int] | npt.NDArray[np.int64],
    colors: Sequence[str],
    *,
    total: int,
    style: Mapping[str, Any],
) -> None:
    """Horizontal bars in the given order, first at the top, each labelled "count (share)"."""
    positions = np.arange(len(labels))
    bars = ax.barh(positions, np.asarray(counts), **_styled(style, color=list(colors), height=0.7))
    ax.bar_label(bars, labels=[_count_text(int(c), total) for c in counts], padding=3, fontsize=9)
    ax.set_yticks(positions, labels=list(labels))
    ax.invert_yaxis()  # first (largest) bar on top
    ax.margins(x=0.18)  # room for the count labels
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(_compact))
    ax.xaxis.set_major_locator(mticker.MaxNLocator(nbins=6, integer=True))
    _style(ax, value_axis="x")


def _bar_height(rows: int) -> tuple[float, float]:
    return (8.0, max(3.0, 0.36 * rows + 1.4))


def _sorted_groups(
    counts: npt.NDArray[np.int64], labels: Sequence[str], ordered: bool
) -> list[int]:
    """Natural order for ordered keys (buckets, numbers), else most customers first.

    A "(no value)" group always goes last.
    """
    positions = list(range(len(labels)))
    if not ordered:
        positions.sort(key=lambda i: (-int(counts[i]), labels[i]))
    return [i for i in positions if labels[i] != MISSING_LABEL] + [
        i for i in positions if labels[i] == MISSING_LABEL
    ]


# --- segments, status, countries, tags -------------------------------------------------------------


def plot_segments(
    df: pd.DataFrame,
    by: str | pd.Series,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Axes:
    """Plot the customers per segment of ``by`` (a column name or a Series such as ``segment()``'s).

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).
    by : str or pandas.Series
        The segments: a column name, or a Series on the frame's index such as
        ``df.chartmogul.segment(...)``'s.
    ax : matplotlib.axes.Axes, optional
        Draw here; by default on a new figure.
    title : str, optional
        The title (default: one naming what is counted).
    figsize : (float, float), optional
        The new figure's size in inches (default: sized to the plot); ignored with ``ax``.
    **kwargs
        Passed to the matplotlib call that draws the data (barh), overriding the plot's own
        style (e.g. ``color``, ``alpha``, ``edgecolor``).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ValidationError
        When ``by`` names no column of the frame.

    Examples
    --------
    >>> ax = plot_segments(df, "status")
    """
    groups = grouping(df, by)
    labels, codes, colors = _with_missing(groups)
    counts = np.bincount(codes, minlength=len(labels))
    order = _sorted_groups(counts, labels, groups.ordered)
    ax = _axes(ax, _bar_height(len(order)), figsize)
    default_title = f"Customers by {groups.name}"
    if not len(df):
        return _empty(ax, "No customers", title or default_title)
    _hbars(
        ax,
        [labels[i] for i in order],
        counts[order],
        [colors[i] for i in order],
        total=len(df),
        style=kwargs,
    )
    ax.set_title(title or default_title)
    ax.set_xlabel("customers")
    ax.set_ylabel(groups.name)
    return ax


def plot_status(
    df: pd.DataFrame,
    by: str | pd.Series | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Axes:
    """Plot the customers per status; with ``by``, the status mix of each segment (100% stacked bars).

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).
    by : str or pandas.Series, optional
        The segments: a column name, or a Series on the frame's index such as
        ``df.chartmogul.segment(...)``'s.
    ax : matplotlib.axes.Axes, optional
        Draw here; by default on a new figure.
    title : str, optional
        The title (default: one naming what is counted).
    figsize : (float, float), optional
        The new figure's size in inches (default: sized to the plot); ignored with ``ax``.
    **kwargs
        Passed to the matplotlib call that draws the data (barh), overriding the plot's own
        style (e.g. ``color``, ``alpha``, ``edgecolor``).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ValidationError
        When ``by`` names no column of the frame.

    Examples
    --------
    >>> ax = plot_status(df, by=df.chartmogul.bucket("custom.seats", [0, 10, 100]))
    """
    statuses = grouping(df, "status")
    status_labels, status_codes, status_colors = _with_missing(statuses)
    status_counts = np.bincount(status_codes, minlength=len(status_labels))
    status_order = _sorted_groups(status_counts, status_labels, ordered=False)
    if by is None:
        ax = _axes(ax, _bar_height(len(status_order)), figsize)
        if not len(df):
            return _empty(ax, "No customers", title or "Customers by status")
        _hbars(
            ax,
            [status_labels[i] for i in status_order],
            status_counts[status_order],
            [status_colors[i] for i in status_order],
            total=len(df),
            style=kwargs,
        )
        ax.set_title(title or "Customers by status")
        ax.set_xlabel("customers")
        ax.set_ylabel("status")
        return ax
    groups = grouping(df, by)
    labels, codes, _ = _with_missing(groups)
    table = cross_counts(codes, len(labels), status_codes, len(status_labels))
    sizes = table.sum(axis=1)
    order = [i for i in _sorted_groups(sizes, labels, groups.ordered) if sizes[i] > 0]
    ax = _axes(ax, _bar_height(len(order)), figsize)
    default_title = f"Status mix by {groups.name}"
    if not order:
        return _empty(ax, "No customers", title or default_title)
    positions = np.arange(len(order))
    left = np.zeros(len(order))
    for s in status_order:
        shares = table[order, s] / sizes[order]
        bars = ax.barh(
            positions,
            shares,
            **_styled(
                kwargs, left=left, color=status_colors[s], height=0.7, label=status_labels[s]
            ),
        )
        # the share inside each piece wide enough to hold it
        texts = [f"{v:.0%}" if v >= 0.08 else "" for v in shares]
        ax.bar_label(bars, labels=texts, label_type="center", fontsize=8, color="white")
        left += shares
    ax.set_yticks(positions, labels=[f"{labels[i]} ({sizes[i]:,})" for i in order])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(xmax=1))
    _style(ax, value_axis="x")
    ax.legend(title="status", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title(title or default_title)
    ax.set_xlabel("share of customers")
    ax.set_ylabel(f"{groups.name} (customers)")
    return ax


def plot_countries(
    df: pd.DataFrame,
    top: int = 15,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Axes:
    """The ``top`` countries by customers (``address.country``), plus a bar for no country.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).
    top : int, default 15
        How many to show.
    ax : matplotlib.axes.Axes, optional
        Draw here; by default on a new figure.
    title : str, optional
        The title (default: one naming what is counted).
    figsize : (float, float), optional
        The new figure's size in inches (default: sized to the plot); ignored with ``ax``.
    **kwargs
        Passed to the matplotlib call that draws the data (barh), overriding the plot's own
        style (e.g. ``color``, ``alpha``, ``edgecolor``).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ValidationError
        When ``top`` is not a positive integer.

    Examples
    --------
    >>> ax = plot_countries(df, top=10, figsize=(6, 4))
    """
    if "address.country" not in df.columns:
        raise ValidationError("plot.countries needs the 'address.country' column of the frame")
    _check_top(top)
    countries = df["address.country"]
    # an empty string is no more a country than a null
    present = countries.where(countries.fillna("").astype(str).str.strip() != "")
    counts = present.value_counts(dropna=True)
    counts = counts.iloc[np.lexsort((counts.index.astype(str), -counts.to_numpy()))]
    shown = counts.iloc[:top]
    labels = [_label(c) for c in shown.index]
    values = [int(v) for v in shown.to_numpy()]
    colors = [PALETTE[0]] * len(labels)
    rest = len(counts) - len(shown)
    if rest:
        labels.append(f"{rest} other countries")
        values.append(int(counts.iloc[top:].sum()))
        colors.append(MISSING_COLOR)
    missing = int(present.isna().sum())
    if missing:
        labels.append("(no country)")
        values.append(missing)
        colors.append(MISSING_COLOR)
    ax = _axes(ax, _bar_height(len(labels)), figsize)
    default_title = "Customers by country" + (
        f" (top {len(shown)} of {len(counts)})" if rest else ""
    )
    if not len(df):
        return _empty(ax, "No customers", title or default_title)
    _hbars(ax, labels, values, colors, total=len(df), style=kwargs)
    ax.set_title(title or default_title)
    ax.set_xlabel("customers")
    ax.set_ylabel("country")
    return ax


def _check_top(top: int) -> None:
    if not isinstance(top, int | np.integer) or isinstance(top, bool) or top < 1:
        raise ValidationError(f"top={top!r}: pass how many to show, a positive integer")


def plot_tags(
    df: pd.DataFrame,
    top: int = 20,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Axes:
    """The ``top`` most common tags: customers carrying each (and their share of all).

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).
    top : int, default 20
        How many to show.
    ax : matplotlib.axes.Axes, optional
        Draw here; by default on a new figure.
    title : str, optional
        The title (default: one naming what is counted).
    figsize : (float, float), optional
        The new figure's size in inches (default: sized to the plot); ignored with ``ax``.
    **kwargs
        Passed to the matplotlib call that draws the data (barh), overriding the plot's own
        style (e.g. ``color``, ``alpha``, ``edgecolor``).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ValidationError
        When ``top`` is not a positive integer.

    Examples
    --------
    >>> ax = plot_tags(df, top=10, color="tab:green")
    """
    _check_top(top)
    counts = tag_counts(df)
    counts = counts[counts > 0]
    shown = counts.iloc[:top]
    ax = _axes(ax, _bar_height(len(shown)), figsize)
    default_title = "Most common tags" + (
        f" (top {len(shown)} of {len(counts)})" if len(counts) > len(shown) else ""
    )
    if shown.empty:
        return _empty(ax, "No customer has a tag", title or default_title)
    _hbars(
        ax,
        [_label(t) for t in shown.index],
        shown.to_numpy(),
        [PALETTE[0]] * len(shown),
        total=len(df),
        style=kwargs,
    )
    ax.set_title(title or default_title)
    ax.set_xlabel("customers")
    ax.set_ylabel("tag")
    return ax


def plot_co_occurrence(
    df: pd.DataFrame,
    top: int = 15,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Axes:
    """A heatmap of how many customers carry both of each pair among the ``top`` tags.

    The colour scale is set by the pairs; the diagonal (each tag's own count) is grey, with the
    count written on it, so one common tag does not wash out every pair.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).
    top : int, default 15
        How many to show.
    ax : matplotlib.axes.Axes, optional
        Draw here; by default on a new figure.
    title : str, optional
        The title (default: one naming what is counted).
    figsize : (float, float), optional
        The new figure's size in inches (default: sized to the plot); ignored with ``ax``.
    **kwargs
        Passed to the matplotlib call that draws the data (imshow), overriding the plot's own
        style (e.g. ``color``, ``alpha``, ``edgecolor``).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ValidationError
        When ``top`` is not a positive integer.

    Examples
    --------
    >>> ax = plot_co_occurrence(df, top=8, cmap="viridis")
    """
    _check_top(top)
    matrix = co_occurrence(df)
    matrix = matrix.loc[matrix.index[:top], matrix.columns[:top]]
    keep = np.diag(matrix.to_numpy()) > 0
    matrix = matrix.loc[keep, keep]
    size = 0.45 * len(matrix) + 2.6
    ax = _axes(ax, (size + 1.6, size), figsize)
    default_title = f"Tags carried together (top {len(matrix)} tags)"
    if len(matrix) < 2:
        return _empty(ax, "Fewer than two tags in use", title or default_title)
    counts = matrix.to_numpy()
    pairs = counts.astype(float)
    np.fill_diagonal(pairs, np.nan)
    cmap: Colormap = plt.get_cmap(_HEATMAP).with_extremes(bad="#EEEEEE")
    vmax = max(1.0, float(np.nanmax(pairs)))
    image = ax.imshow(pairs, **_styled(kwargs, cmap=cmap, vmin=0, vmax=vmax, aspect="equal"))
    names = [_label(t) for t in matrix.index]
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, labels=names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, labels=names)
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    font = 8 if len(names) <= 15 else 6
    for i in range(len(names)):
        for j in range(len(names)):
            dark = i != j and pairs[i, j] > 0.6 * vmax
            ax.text(
                j,
                i,
                f"{counts[i, j]:,}" if counts[i, j] < 10_000 else _compact(counts[i, j]),
                ha="center",
                va="center",
                fontsize=font,
                color="white" if dark else "#333333",
                fontweight="bold" if i == j else "normal",
            )
    colorbar = ax.figure.colorbar(image, ax=ax, shrink=0.8)
    colorbar.set_label("customers with both tags")
    colorbar.formatter = mticker.FuncFormatter(_compact)
    colorbar.update_ticks()
    ax.set_title(title or default_title)
    return ax


def plot_mrr(
    df: pd.DataFrame,
    by: str | pd.Series,
    *,
    stack: str | pd.Series | None = "status",
    column: str = "mrr",
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Axes:
    """Plot the MRR of each segment of ``by``, stacked by status, on a currency axis ("$12.3k").

    Horizontal bars, the most MRR at the top (an ordered key such as ``mrr_bands()`` keeps its
    order), each status in its colour, each bar's total written past it. The amounts are
    today's ``mrr`` cents in currency units; one axis holds one currency, so a frame of several
    currencies is refused (``df[df.currency == "USD"]``).

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame of today's API (``cm.read_customers``).
    by : str or pandas.Series
        The segments: a column name, or a Series on the frame's index such as
        ``df.chartmogul.segment(...)``'s.
    stack : str, pandas.Series or None, default "status"
        What each bar is split by; None for one colour.
    column : str, default "mrr"
        An integer column of cents (``mrr`` or ``arr``).
    ax : matplotlib.axes.Axes, optional
        Draw here; by default on a new figure.
    title : str, optional
        The title (default: one naming what is summed, and the currency).
    figsize : (float, float), optional
        The new figure's size in inches (default: sized to the plot); ignored with ``ax``.
    **kwargs
        Passed to the matplotlib call that draws the data (barh), overriding the plot's own
        style (e.g. ``color``, ``alpha``, ``edgecolor``).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ValidationError
        When a column is missing, ``column`` is not cents, or the customers are in several
        currencies.

    Examples
    --------
    >>> import pandas as pd
    >>> today = df.assign(mrr=pd.array([158977, 4900, 0, 0, 250000, 9950], "int64[pyarrow]"),
    ...                   currency="USD", currency_sign="$")
    >>> ax = plot_mrr(today, df.chartmogul.segment({"vip": "`tag.vip`"}), figsize=(7, 3))
    >>> ax.get_title()
    'MRR by segment and status (USD)'
    """
    currency = one_currency(df, what="plot_mrr")
    table = mrr_by(df, by, split=stack, column=column)
    groups = grouping(df, by)
    totals = table["total"].to_numpy() if stack is not None else table[column].to_numpy()
    parts = table.drop(columns="total") if stack is not None else table
    labels = [_label(v) for v in table.index]
    if stack is None:
        part_colors = [PALETTE[0]]
    elif isinstance(stack, str) and stack == "status":
        part_colors = _status_colors([str(c) for c in parts.columns])
    else:
        part_colors = [PALETTE[i % len(PALETTE)] for i in range(len(parts.columns))]
    part_colors = [
        MISSING_COLOR if name == MISSING_LABEL else color
        for name, color in zip(parts.columns, part_colors, strict=True)
    ]
    order = _sorted_groups(np.round(totals * 100).astype(np.int64), labels, groups.ordered)
    ax = _axes(ax, _bar_height(len(order)), figsize)
    what = "ARR" if column == "arr" else "MRR" if column == "mrr" else column
    unit = f" ({currency.code})" if currency.code else ""
    default_title = (
        f"{what} by {groups.name}"
        + (f" and {_key_name(stack)}" if stack is not None else "")
        + unit
    )
    if not len(df) or not np.any(totals):
        return _empty(ax, f"No {what}", title or default_title)
    positions = np.arange(len(order))
    left = np.zeros(len(order))
    for position, name in enumerate(parts.columns):
        widths = parts.iloc[order, position].to_numpy(dtype=np.float64)
        if not widths.any():
            continue
        ax.barh(
            positions,
            widths,
            **_styled(
                kwargs, left=left, color=part_colors[position], height=0.7, label=_label(name)
            ),
        )
        left = left + widths
    for y, total in zip(positions, totals[order], strict=True):
        ax.annotate(
            _escape(currency.text(float(total)) if currency.code else _compact(float(total))),
            (float(total), float(y)),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    ax.set_yticks(positions, labels=[labels[i] for i in order])
    ax.invert_yaxis()
    ax.margins(x=0.15)
    formatter = currency.text if currency.code else _compact
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _p: _escape(formatter(v))))
    ax.xaxis.set_major_locator(mticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    _style(ax, value_axis="x")
    if stack is not None:
        ax.legend(title=_key_name(stack), loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title(title or default_title)
    ax.set_xlabel(f"{what}{unit}")
    ax.set_ylabel(groups.name)
    return ax


def _key_name(key: str | pd.Series) -> str:
    if isinstance(key, str):
        return key
    return str(key.name) if key.name is not None else "segment"


def _escape(text: str) -> str:
    """A tick label with ``$`` shown as a dollar sign, not as matplotlib's mathtext."""
    return text.replace("$", r"\$")


# --- cohorts and timelines ---------------------------------------------------------------------------

_PERIOD_WORDS: Final = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}


def _period_labels(starts: pd.DatetimeIndex, alias: str) -> list[str]:
    """Period names as people say them: "2021 Q3", "2021", "Mar 2021", "2021-03-15".

    Quarters and years that do not start in January are named by their first month.
    """
    if alias == "Q-DEC":
        return [f"{s.year} Q{s.quarter}" for s in starts]
    if alias == "Y-DEC":
        return [str(s.year) for s in starts]
    if alias[0] in "QYM":
        return [s.strftime("%b %Y") for s in starts]
    return [s.strftime("%Y-%m-%d") for s in starts]


# label steps that fall on calendar boundaries, per kind of period
_TICK_STEPS: Final = {
    "D": (1, 7, 14, 28, 91, 182, 364),
    "W": (1, 2, 4, 13, 26, 52, 104),
    "M": (1, 2, 3, 6, 12, 24, 60, 120),
    "Q": (1, 2, 4, 8, 20, 40),
    "Y": (1, 2, 5, 10, 20, 50, 100),
}


def _period_ordinals(starts: pd.DatetimeIndex, kind: str) -> npt.NDArray[np.int64]:
    """A running number per period that is a multiple of 12 in January, 4 in Q1 and so on."""
    years = starts.year.to_numpy().astype(np.int64)
    months = starts.month.to_numpy().astype(np.int64) - 1
    if kind == "M":
        return years * 12 + months
    if kind == "Q":
        return years * 4 + months // 3
    if kind == "Y":
        return years
    days = (starts - pd.Timestamp("1970-01-05")).days.to_numpy().astype(np.int64)  # a Monday
    return days // 7 if kind == "W" else days


def _thin_ticks(ax: Axes, starts: pd.DatetimeIndex, alias: str, *, width_inches: float) -> None:
    """Label as many periods as fit side by side, on calendar boundaries (every January...)."""
    labels = _period_labels(starts, alias)
    longest = max((len(label) for label in labels), default=1)
    size = FontProperties(size=plt.rcParams["xtick.labelsize"]).get_size_in_points()
    # about 0.6 em per character at the tick font size, plus a gap of two characters
    fits = max(1, int(width_inches / ((longest + 2) * 0.6 * size / 72)))
    steps = _TICK_STEPS[alias[0]]
    step = next((k for k in steps if math.ceil(len(labels) / k) <= fits), None)
    if step is None:  # a very long range: fall back to even spacing
        step = math.ceil(len(labels) / fits)
    ordinals = _period_ordinals(starts, alias[0])
    positions = [int(i) for i in np.flatnonzero(ordinals % step == 0)]
    if len(positions) < 2 or len(positions) > fits:  # anchored ticks would be too few or many
        positions = list(range(0, len(labels), step))
    ax.set_xticks(positions, labels=[labels[i] for i in positions])
    ax.set_xlim(-0.6, len(labels) - 0.4)


def plot_cohorts(
    df: pd.DataFrame,
    freq: str = "QS",
    by: str | pd.Series | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Axes:
    """New customers per period of ``customer_since`` (``freq`` as in ``cohort()``).

    Every period between the first and the last cohort gets a bar, zero included; with ``by``
    the bars are stacked by segment, in the segments' colours.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).
    freq : str, default "QS"
        The period: a pandas frequency alias as in ``cohort()`` (``"MS"``, ``"QS"``, ``"YS"``...).
    by : str or pandas.Series, optional
        The segments: a column name, or a Series on the frame's index such as
        ``df.chartmogul.segment(...)``'s.
    ax : matplotlib.axes.Axes, optional
        Draw here; by default on a new figure.
    title : str, optional
        The title (default: one naming what is counted).
    figsize : (float, float), optional
        The new figure's size in inches (default: sized to the plot); ignored with ``ax``.
    **kwargs
        Passed to the matplotlib call that draws the data (bar), overriding the plot's own
        style (e.g. ``color``, ``alpha``, ``edgecolor``).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ValidationError
        When ``freq`` is not a period alias or ``by`` names no column.

    Examples
    --------
    >>> ax = plot_cohorts(df, "MS", by="status", alpha=0.9)
    """
    alias = period_alias(freq)
    word = _PERIOD_WORDS[alias[0]]
    groups = grouping(df, by) if by is not None else None
    starts = cohort(df, freq).to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    known = ~np.isnat(starts)
    default_title = f"New customers per {word}" + (f" by {groups.name}" if groups else "")
    ax = _axes(ax, (10.0, 4.8), figsize)
    if not known.any():
        return _empty(ax, "No customers with a customer_since date", title or default_title)
    periods = pd.period_range(
        pd.Timestamp(starts[known].min()), pd.Timestamp(starts[known].max()), freq=alias
    )
    period_starts = pd.DatetimeIndex(periods.start_time)
    period_codes = period_starts.get_indexer(pd.DatetimeIndex(starts[known]))
    if groups is None:
        labels, colors = ["customers"], [PALETTE[0]]
        group_codes = np.zeros(int(known.sum()), np.intp)
    else:
        labels, codes, colors = _with_missing(groups)
        group_codes = codes[known]
    table = cross_counts(period_codes, len(period_starts), group_codes, len(labels))
    positions = np.arange(len(period_starts))
    bottom = np.zeros(len(period_starts))
    bars = None
    for g in range(len(labels)):  # stacked in the key's own order (segments: rule order)
        if groups is not None and not table[:, g].any():
            continue
        bars = ax.bar(
            positions,
            table[:, g],
            **_styled(kwargs, bottom=bottom, color=colors[g], width=0.8, label=labels[g]),
        )
        bottom += table[:, g]
    if bars is not None and len(positions) <= 24:  # totals on top while they stay legible
        ax.bar_label(bars, labels=[f"{int(t):,}" for t in bottom], padding=2, fontsize=8)
    # the width before layout is an overestimate by the y labels' room: hence the 0.85
    width = 0.85 * ax.get_window_extent().width / ax.figure.dpi
    _thin_ticks(ax, period_starts, alias, width_inches=width)
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(_compact))
    ax.yaxis.set_major_locator(mticker.MaxNLocator(nbins=6, integer=True))
    ax.margins(y=0.08)
    _style(ax, value_axis="y")
    if groups is not None:
        _stack_legend(ax, groups.name)
    unknown = int((~known).sum())
    note = f"\n{unknown:,} customers without customer_since not shown" if unknown else ""
    ax.set_title((title or default_title) + note)
    ax.set_xlabel(f"{word} the customer started (customer_since, UTC)")
    ax.set_ylabel("new customers")
    return ax


def _timeline_freq(first: pd.Timestamp, last: pd.Timestamp) -> str:
    days = (last - first).days
    if days <= 120:
        return "D"
    if days <= 2 * 365:
        return "W-MON"
    if days <= 12 * 365:
        return "MS"
    return "YS"


def _timeline(
    ax: Axes,
    values: pd.Series,
    groups: Grouping | None,
    column: str,
    title: str | None,
    style: Mapping[str, Any],
) -> Axes:
    instants = values.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    known = ~np.isnat(instants)
    missing = int((~known).sum())
    default_title = f"{column} over time"
    if not known.any():
        return _empty(ax, f"No customer has a {column} value", title or default_title)
    first, last = pd.Timestamp(instants[known].min()), pd.Timestamp(instants[known].max())
    freq = _timeline_freq(first, last)
    alias = period_alias(freq)
    periods = pd.period_range(first, last, freq=alias)
    starts = pd.DatetimeIndex(periods.start_time)
    period_codes = pd.DatetimeIndex(instants[known]).to_period(alias).start_time
    positions = starts.get_indexer(pd.DatetimeIndex(period_codes))
    if groups is None:
        labels, group_codes, colors = ["customers"], np.zeros(len(positions), np.intp), [PALETTE[0]]
    else:
        labels, codes, colors = _with_missing(groups)
        group_codes = codes[known]
    table = cross_counts(positions, len(starts), group_codes, len(labels))
    x = starts.to_numpy()
    for g, label in enumerate(labels):
        if groups is not None and not table[:, g].any():
            continue
        ax.plot(
            x,
            table[:, g],
            **_styled(style, color=colors[g], linewidth=1.8, label=label, drawstyle="steps-mid"),
        )
    locator = mdates.AutoDateLocator(maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(_compact))
    ax.set_ylim(bottom=0)
    _style(ax, value_axis="y")
    if groups is not None:
        ax.legend(title=groups.name, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    word = _PERIOD_WORDS[alias[0]]
    note = f"\ncustomers per {word}; {missing:,} without a value" if missing else ""
    ax.set_title((title or default_title) + note)
    ax.set_xlabel(f"{column} (UTC)")
    ax.set_ylabel(f"customers per {word}")
    return ax


# --- attribute: histogram, bars or timeline by dtype -------------------------------------------------


def _resolve_column(df: pd.DataFrame, column: str) -> str:
    if column in df.columns:
        return column
    if f"custom.{column}" in df.columns:  # plot.attribute("seats") for custom.seats
        return f"custom.{column}"
    close = difflib.get_close_matches(column, [str(c) for c in df.columns], n=6, cutoff=0.5)
    raise ValidationError(
        f"plot.attribute: the frame has no column {column!r} (nor 'custom.{column}'); "
        f"closest: {', '.join(map(repr, close)) or 'none'}"
    )


def _kind(dtype: Any) -> str:
    if isinstance(dtype, pd.ArrowDtype):
        arrow = dtype.pyarrow_dtype
        if pa.types.is_boolean(arrow):
            return "category"
        if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
            return "time"
        if pa.types.is_integer(arrow) or pa.types.is_floating(arrow):
            return "number"
        if pa.types.is_nested(arrow):
            return "list"
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "category"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "time"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    return "category"


def plot_attribute(
    df: pd.DataFrame,
    column: str,
    by: str | pd.Series | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Axes:
    """One column's distribution, drawn for its type.

    Numbers: a histogram (unit bins for small integer ranges, log bins for long tails);
    booleans and text: bars per value (the 15 most common, the rest folded into "other");
    timestamps: customers per day/week/month/year over time. With ``by``, one series per segment
    (stacked bars, a stacked histogram or one line each). ``column`` may be a custom key
    without the ``custom.`` prefix. Today's ``mrr`` and ``arr`` (cents) are drawn in currency
    units on a currency axis, one currency at a time.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).
    column : str
        The column (a custom key may omit its ``custom.`` prefix).
    by : str or pandas.Series, optional
        The segments: a column name, or a Series on the frame's index such as
        ``df.chartmogul.segment(...)``'s.
    ax : matplotlib.axes.Axes, optional
        Draw here; by default on a new figure.
    title : str, optional
        The title (default: one naming what is counted).
    figsize : (float, float), optional
        The new figure's size in inches (default: sized to the plot); ignored with ``ax``.
    **kwargs
        Passed to the matplotlib call that draws the data (hist, plot or barh), overriding the plot's own
        style (e.g. ``color``, ``alpha``, ``edgecolor``).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    ValidationError
        When the frame has no such column, or it holds lists other than ``tags``, or
        ``mrr``/``arr`` of several currencies.

    Examples
    --------
    >>> ax = plot_attribute(df, "custom.seats", by="status")
    """
    name = _resolve_column(df, column)
    values = df[name]
    groups = grouping(df, by) if by is not None else None
    kind = _kind(values.dtype)
    if kind == "list":
        if name == "tags" and groups is None:
            return plot_tags(df, ax=ax, title=title, figsize=figsize, **kwargs)
        raise ValidationError(
            f"plot.attribute({name!r}): a column of lists has no single value per customer; use "
            "plot.tags() for tags"
        )
    if kind == "number" and name in _MONEY_COLUMNS and pd.api.types.is_integer_dtype(values.dtype):
        # today's cents, drawn in currency units; one axis holds one currency
        currency = one_currency(df, what=f"plot.attribute({name!r})")
        return _histogram(
            _axes(ax, (8.0, 4.5), figsize), money(df, name), groups, name, title, kwargs, currency
        )
    if kind == "number":
        return _histogram(_axes(ax, (8.0, 4.5), figsize), values, groups, name, title, kwargs)
    if kind == "time":
        return _timeline(_axes(ax, (10.0, 4.5), figsize), values, groups, name, title, kwargs)
    return _category_bars(ax, grouping(df, name), groups, len(df), title, figsize, kwargs)


def _histogram_bins(
    values: npt.NDArray[np.float64], integer: bool
) -> tuple[npt.NDArray[np.float64], bool]:
    """Bin edges and whether to use a log scale for ``values`` (all finite)."""
    low, high = float(values.min()), float(values.max())
    if integer and high - low <= 60:
        return np.arange(low - 0.5, high + 1.5), False
    # a long tail: the middle 80% of customers spans two orders of magnitude or more
    if low > 0 and np.percentile(values, 90) >= 100 * np.percentile(values, 10):
        return np.geomspace(low, high * 1.0001, 31), True
    edges = np.histogram_bin_edges(values, bins="auto")
    if len(edges) > 51:
        edges = np.linspace(low, high, 51)
    return edges, False


def _histogram(
    ax: Axes,
    series: pd.Series,
    groups: Grouping | None,
    column: str,
    title: str | None,
    style: Mapping[str, Any],
    currency: Currency | None = None,
) -> Axes:
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    known = ~np.isnan(values)
    missing = int((~known).sum())
    default_title = f"Distribution of {column}"
    if not known.any():
        return _empty(ax, f"No customer has a {column} value", title or default_title)
    integer = bool(pd.api.types.is_integer_dtype(series.dtype))
    array_edges, log = _histogram_bins(values[known], integer)
    edges = array_edges.tolist()
    if groups is None:
        ax.hist(
            values[known],
            **_styled(style, bins=edges, color=PALETTE[0], edgecolor="white", linewidth=0.5),
        )
    else:  # stacked like the cohorts: the segments add up to the customers with a value
        labels, codes, colors = _with_missing(groups)
        present = [g for g in range(len(labels)) if (known & (codes == g)).any()]
        ax.hist(
            [values[known & (codes == g)] for g in present],
            **_styled(
                style,
                bins=edges,
                histtype="barstacked",
                color=[colors[g] for g in present],
                label=[labels[g] for g in present],
                edgecolor="white",
                linewidth=0.5,
            ),
        )
        _stack_legend(ax, groups.name)
    if log:
        ax.set_xscale("log")
    if currency is not None and currency.code:
        sign_text = currency.text
        ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _p: _escape(sign_text(v))))
    else:
        ax.xaxis.set_major_formatter(mticker.FuncFormatter(_compact))
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(_compact))
    _style(ax, value_axis="y")
    note = f"\n{int(known.sum()):,} customers with a value, {missing:,} without" if missing else ""
    ax.set_title((title or default_title) + note)
    unit = f" ({currency.code})" if currency is not None and currency.code else ""
    ax.set_xlabel(column + unit + (" (log scale)" if log else ""))
    ax.set_ylabel("customers")
    return ax


def _category_bars(
    ax: Axes | None,
    values: Grouping,
    groups: Grouping | None,
    total: int,
    title: str | None,
    figsize: tuple[float, float] | None,
    style: Mapping[str, Any],
) -> Axes:
    column = values.name
    value_labels, value_codes, _ = _with_missing(values)
    counts = np.bincount(value_codes, minlength=len(value_labels))
    order = _sorted_groups(counts, value_labels, ordered=False)
    # the most common values, then one "other" bar, then "(no value)"
    named = [i for i in order if value_labels[i] != MISSING_LABEL]
    shown, folded = named[:_MAX_CATEGORIES], named[_MAX_CATEGORIES:]
    rows = [[i] for i in shown]
    row_labels = [value_labels[i] for i in shown]
    if folded:
        rows.append(folded)
        row_labels.append(f"{len(folded)} other values")
    if values.has_missing:
        rows.append([len(value_labels) - 1])
        row_labels.append(MISSING_LABEL)
    ax = _axes(ax, _bar_height(len(rows)), figsize)
    default_title = f"Customers by {column}"
    if not total:
        return _empty(ax, "No customers", title or default_title)
    row_of_value = np.empty(len(value_labels), dtype=np.intp)
    for r, members in enumerate(rows):
        row_of_value[members] = r
    row_codes = row_of_value[value_codes]
    if groups is None:
        colors = [PALETTE[0]] * len(shown) + [MISSING_COLOR] * (len(rows) - len(shown))
        row_counts = np.bincount(row_codes, minlength=len(rows))
        _hbars(ax, row_labels, row_counts, colors, total=total, style=style)
    else:
        labels, codes, group_colors = _with_missing(groups)
        table = cross_counts(row_codes, len(rows), codes, len(labels))
        positions = np.arange(len(rows))
        left = np.zeros(len(rows))
        for g, label in enumerate(labels):
            if not table[:, g].any():
                continue
            ax.barh(
                positions,
                table[:, g],
                **_styled(style, left=left, color=group_colors[g], height=0.7, label=label),
            )
            left += table[:, g]
        for position, row_total in zip(positions, left, strict=True):  # totals past each bar
            ax.annotate(
                _count_text(int(row_total), total),
                (row_total, position),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
            )
        ax.set_yticks(positions, labels=row_labels)
        ax.invert_yaxis()
        ax.margins(x=0.18)
        ax.xaxis.set_major_formatter(mticker.FuncFormatter(_compact))
        _style(ax, value_axis="x")
        ax.legend(title=groups.name, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title(title or default_title)
    ax.set_xlabel("customers")
    ax.set_ylabel(column)
    return ax


# --- the accessor's face ---------------------------------------------------------------------------


class PlotMethods:
    """``df.chartmogul.plot``: the plots of this module bound to one frame.

    Every method takes ``ax=`` (draw there; default: a new figure), ``title=``, ``figsize=``
    (the new figure's size in inches; default: sized to the plot) and passes any other keyword
    to the matplotlib call that draws the data (``barh``, ``bar``, ``hist``, ``plot`` or
    ``imshow``), overriding the defaults, as geopandas' ``plot`` does.

    Parameters
    ----------
    frame : pandas.DataFrame
        A customer frame.

    Examples
    --------
    >>> ax = df.chartmogul.plot.tags(top=10, figsize=(6, 4), alpha=0.8)
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def segments(
        self,
        by: str | pd.Series,
        *,
        ax: Axes | None = None,
        title: str | None = None,
        figsize: tuple[float, float] | None = None,
        **kwargs: Any,
    ) -> Axes:
        """Plot the customers per segment (horizontal bars, counts and shares on them): `plot_segments`.

        Parameters
        ----------
        by : str or pandas.Series
            The segments: a column name or a Series such as ``segment()``'s.
        ax : matplotlib.axes.Axes, optional
            Draw here; by default on a new figure.
        title : str, optional
            The title.
        figsize : (float, float), optional
            The new figure's size in inches; ignored with ``ax``.
        **kwargs
            Passed to the matplotlib call that draws the data.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.

        Raises
        ------
        ValidationError
            As `plot_segments` does.

        Examples
        --------
        >>> ax = df.chartmogul.plot.segments("status")
        """
        return plot_segments(self._frame, by, ax=ax, title=title, figsize=figsize, **kwargs)

    def mrr(
        self,
        by: str | pd.Series,
        *,
        stack: str | pd.Series | None = "status",
        column: str = "mrr",
        ax: Axes | None = None,
        title: str | None = None,
        figsize: tuple[float, float] | None = None,
        **kwargs: Any,
    ) -> Axes:
        """Plot the MRR per segment, stacked by status, on a currency axis: `plot_mrr`.

        Parameters
        ----------
        by : str or pandas.Series
            The segments: a column name or a Series such as ``segment()``'s.
        stack : str, pandas.Series or None, default "status"
            What each bar is split by; None for one colour.
        column : str, default "mrr"
            An integer column of cents (``mrr`` or ``arr``).
        ax : matplotlib.axes.Axes, optional
            Draw here; by default on a new figure.
        title : str, optional
            The title.
        figsize : (float, float), optional
            The new figure's size in inches; ignored with ``ax``.
        **kwargs
            Passed to the matplotlib call that draws the data.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.

        Raises
        ------
        ValidationError
            As `plot_mrr` does (several currencies among others).

        Examples
        --------
        >>> import pandas as pd
        >>> today = df.assign(mrr=pd.array([158977, 4900, 0, 0, 250000, 9950], "int64[pyarrow]"),
        ...                   currency="EUR", currency_sign="€")
        >>> ax = today.chartmogul.plot.mrr("custom.plan", alpha=0.9)
        """
        return plot_mrr(
            self._frame,
            by,
            stack=stack,
            column=column,
            ax=ax,
            title=title,
            figsize=figsize,
            **kwargs,
        )

    def cohorts(
        self,
        freq: str = "QS",
        by: str | pd.Series | None = None,
        *,
        ax: Axes | None = None,
        title: str | None = None,
        figsize: tuple[float, float] | None = None,
        **kwargs: Any,
    ) -> Axes:
        """New customers per period of ``customer_since``, stacked by segment: `plot_cohorts`.

        Parameters
        ----------
        freq : str, default "QS"
            The period, as in ``cohort()``.
        by : str or pandas.Series, optional
            Stack the bars by these segments.
        ax : matplotlib.axes.Axes, optional
            Draw here; by default on a new figure.
        title : str, optional
            The title.
        figsize : (float, float), optional
            The new figure's size in inches; ignored with ``ax``.
        **kwargs
            Passed to the matplotlib call that draws the data.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.

        Raises
        ------
        ValidationError
            As `plot_cohorts` does.

        Examples
        --------
        >>> ax = df.chartmogul.plot.cohorts("MS", by="status")
        """
        return plot_cohorts(self._frame, freq, by, ax=ax, title=title, figsize=figsize, **kwargs)

    def tags(
        self,
        top: int = 20,
        *,
        ax: Axes | None = None,
        title: str | None = None,
        figsize: tuple[float, float] | None = None,
        **kwargs: Any,
    ) -> Axes:
        """The most common tags: `plot_tags`.

        Parameters
        ----------
        top : int, default 20
            How many tags to show.
        ax : matplotlib.axes.Axes, optional
            Draw here; by default on a new figure.
        title : str, optional
            The title.
        figsize : (float, float), optional
            The new figure's size in inches; ignored with ``ax``.
        **kwargs
            Passed to the matplotlib call that draws the data.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.

        Raises
        ------
        ValidationError
            As `plot_tags` does.

        Examples
        --------
        >>> ax = df.chartmogul.plot.tags(top=10, color="tab:green")
        """
        return plot_tags(self._frame, top, ax=ax, title=title, figsize=figsize, **kwargs)

    def attribute(
        self,
        column: str,
        by: str | pd.Series | None = None,
        *,
        ax: Axes | None = None,
        title: str | None = None,
        figsize: tuple[float, float] | None = None,
        **kwargs: Any,
    ) -> Axes:
        """One column, drawn for its type: `plot_attribute`.

        Parameters
        ----------
        column : str
            The column (a custom key may omit its ``custom.`` prefix).
        by : str or pandas.Series, optional
            One series per segment.
        ax : matplotlib.axes.Axes, optional
            Draw here; by default on a new figure.
        title : str, optional
            The title.
        figsize : (float, float), optional
            The new figure's size in inches; ignored with ``ax``.
        **kwargs
            Passed to the matplotlib call that draws the data.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.

        Raises
        ------
        ValidationError
            As `plot_attribute` does.

        Examples
        --------
        >>> ax = df.chartmogul.plot.attribute("seats", figsize=(6, 3))
        """
        return plot_attribute(
            self._frame, column, by, ax=ax, title=title, figsize=figsize, **kwargs
        )

    def status(
        self,
        by: str | pd.Series | None = None,
        *,
        ax: Axes | None = None,
        title: str | None = None,
        figsize: tuple[float, float] | None = None,
        **kwargs: Any,
    ) -> Axes:
        """Plot the customers per status, or each segment's status mix with ``by``: `plot_status`.

        Parameters
        ----------
        by : str or pandas.Series, optional
            Show each segment's status mix instead.
        ax : matplotlib.axes.Axes, optional
            Draw here; by default on a new figure.
        title : str, optional
            The title.
        figsize : (float, float), optional
            The new figure's size in inches; ignored with ``ax``.
        **kwargs
            Passed to the matplotlib call that draws the data.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.

        Raises
        ------
        ValidationError
            As `plot_status` does.

        Examples
        --------
        >>> ax = df.chartmogul.plot.status()
        """
        return plot_status(self._frame, by, ax=ax, title=title, figsize=figsize, **kwargs)

    def countries(
        self,
        top: int = 15,
        *,
        ax: Axes | None = None,
        title: str | None = None,
        figsize: tuple[float, float] | None = None,
        **kwargs: Any,
    ) -> Axes:
        """Plot the customers per country (``address.country``): `plot_countries`.

        Parameters
        ----------
        top : int, default 15
            How many countries to show.
        ax : matplotlib.axes.Axes, optional
            Draw here; by default on a new figure.
        title : str, optional
            The title.
        figsize : (float, float), optional
            The new figure's size in inches; ignored with ``ax``.
        **kwargs
            Passed to the matplotlib call that draws the data.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.

        Raises
        ------
        ValidationError
            As `plot_countries` does.

        Examples
        --------
        >>> ax = df.chartmogul.plot.countries(top=10)
        """
        return plot_countries(self._frame, top, ax=ax, title=title, figsize=figsize, **kwargs)

    def co_occurrence(
        self,
        top: int = 15,
        *,
        ax: Axes | None = None,
        title: str | None = None,
        figsize: tuple[float, float] | None = None,
        **kwargs: Any,
    ) -> Axes:
        """Heatmap of customers carrying both tags of each pair: `plot_co_occurrence`.

        Parameters
        ----------
        top : int, default 15
            How many of the most common tags to pair.
        ax : matplotlib.axes.Axes, optional
            Draw here; by default on a new figure.
        title : str, optional
            The title.
        figsize : (float, float), optional
            The new figure's size in inches; ignored with ``ax``.
        **kwargs
            Passed to the matplotlib call that draws the data.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.

        Raises
        ------
        ValidationError
            As `plot_co_occurrence` does.

        Examples
        --------
        >>> ax = df.chartmogul.plot.co_occurrence(cmap="viridis")
        """
        return plot_co_occurrence(self._frame, top, ax=ax, title=title, figsize=figsize, **kwargs)
