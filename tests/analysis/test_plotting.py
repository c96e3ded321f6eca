"""plotting.py: what each plot draws (bar sizes equal the counts, labels, titles) and that
every plot renders, readable and warning-free, on an emulated account of 5,000 customers.

Figures are drawn with the Agg backend, saved as PNGs in a temporary directory and closed after
each test (pytest turns matplotlib's "more than 20 figures" warning into a failure).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from customer_frames import customers_to_frame
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.patches import Rectangle
from small_customers import SMALL, customer  # the same hand-checked customers

import cm_frames as cm
from cm_frames.analysis import plotting, segments
from cm_frames.emulator import Emulator
from cm_frames.emulator.generator import generate_customers
from cm_frames.errors import ValidationError


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    frame, _ = customers_to_frame(SMALL)
    return frame


@pytest.fixture(scope="module")
def emulated() -> pd.DataFrame:
    frame, _ = customers_to_frame(generate_customers(5000, 7))
    return frame


def bars(ax: Axes) -> list[Rectangle]:
    """The bars of a bar chart (patches with an area), in drawing order."""
    return [p for p in ax.patches if isinstance(p, Rectangle) and (p.get_width() or p.get_height())]


def barh_by_label(ax: Axes) -> dict[str, float]:
    """Horizontal bar lengths keyed by their y tick label (one bar per row)."""
    labels = {
        round(t): label.get_text()
        for t, label in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)
    }
    return {labels[round(p.get_y() + p.get_height() / 2)]: p.get_width() for p in bars(ax)}


def yticklabels(ax: Axes) -> list[str]:
    """Y tick labels from the top of the plot down."""
    pairs = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()], strict=True))
    return [text for _, text in (reversed(pairs) if not ax.yaxis_inverted() else pairs)]


def save(ax: Axes, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    ax.figure.savefig(path, dpi=72)
    assert path.stat().st_size > 5_000  # a real image, not an empty canvas
    return path


def assert_tick_labels_do_not_overlap(ax: Axes, name: str = "") -> None:
    """No two visible tick labels of an axis touch once the figure is drawn.

    Upright labels: their boxes are disjoint. Rotated labels (the heatmap's) are parallel
    strips, whose boxes overlap by design: there the gap between neighbours, measured across
    the text direction, must be at least the text's height.
    """
    renderer = ax.figure.canvas.get_renderer()
    ax.figure.draw(renderer)
    for axis in (ax.xaxis, ax.yaxis):
        labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
        rotated = [t for t in labels if t.get_rotation() % 180]
        if rotated:
            angle = np.deg2rad(rotated[0].get_rotation())
            anchors = sorted(ax.transData.transform((t.get_position()[0], 0))[0] for t in rotated)
            height = rotated[0].get_fontsize() * ax.figure.dpi / 72
            assert min(np.diff(anchors)) * abs(np.sin(angle)) >= height, name
            labels = [t for t in labels if t not in rotated]
        boxes = [t.get_window_extent(renderer) for t in labels]
        for first, second in itertools.combinations(boxes, 2):
            assert not first.overlaps(second), (name, first, second)


# --- what each plot draws, on the small frame with known counts -----------------------------------


def test_segments_bars_are_the_counts_sorted_with_counts_written(
    small: pd.DataFrame, tmp_path: Path
) -> None:
    # vip: 1, 4, 5; eu: 2 (1 is vip already); other: 3, 6
    labels = segments.segment(small, {"vip": "`tag.vip`", "eu": "`tag.eu`"})
    ax = small.chartmogul.plot.segments(labels)
    assert barh_by_label(ax) == {"vip": 3, "other": 2, "eu": 1}
    assert yticklabels(ax) == ["vip", "other", "eu"]  # largest on top
    assert ax.get_title() == "Customers by segment"
    assert ax.get_xlabel() == "customers"
    assert {t.get_text() for t in ax.texts} >= {"3 (50%)", "2 (33%)", "1 (17%)"}
    save(ax, tmp_path, "segments")


def test_segments_keep_the_order_of_ordered_buckets(small: pd.DataFrame) -> None:
    buckets = segments.bucket(small, "custom.seats", [0, 10, 100, float("inf")])
    ax = plotting.plot_segments(small, buckets)
    # natural order, not by size; customers without seats last
    assert yticklabels(ax) == ["[0, 10)", "[10, 100)", "≥ 100", "(no value)"]
    assert barh_by_label(ax) == {"[0, 10)": 1, "[10, 100)": 2, "≥ 100": 1, "(no value)": 2}


def test_tags_bars(small: pd.DataFrame, tmp_path: Path) -> None:
    ax = small.chartmogul.plot.tags()
    assert barh_by_label(ax) == {"vip": 3, "eu": 2, "at risk": 1}
    assert ax.get_title() == "Most common tags"
    top = plotting.plot_tags(small, top=2)
    assert yticklabels(top) == ["vip", "eu"]
    assert top.get_title() == "Most common tags (top 2 of 3)"
    save(ax, tmp_path, "tags")


def test_status_bars_and_mix(small: pd.DataFrame, tmp_path: Path) -> None:
    ax = small.chartmogul.plot.status()
    assert barh_by_label(ax) == {"Active": 3, "Cancelled": 1, "Lead": 1, "Trial": 1}
    assert yticklabels(ax)[0] == "Active"
    colors = {
        label: to_hex(p.get_facecolor()) for label, p in zip(yticklabels(ax), bars(ax), strict=True)
    }
    assert colors["Active"] == plotting.STATUS_COLORS["Active"].lower()
    save(ax, tmp_path, "status")

    mix = plotting.plot_status(small, by=segments.segment(small, {"vip": "`tag.vip`"}))
    # each segment's pieces add up to 100%: vip is 1 Active, 1 Trial, 1 Lead
    widths: dict[float, float] = {}
    for p in bars(mix):
        widths[p.get_y()] = widths.get(p.get_y(), 0) + p.get_width()
    assert list(widths.values()) == pytest.approx([1.0, 1.0])
    assert yticklabels(mix) == ["other (3)", "vip (3)"]  # equal sizes: by name
    assert mix.get_title() == "Status mix by segment"
    assert [t.get_text() for t in mix.get_legend().get_texts()] == [
        "Active",
        "Cancelled",
        "Lead",
        "Trial",
    ]
    save(mix, tmp_path, "status_mix")


def test_countries_fold_empty_strings_into_no_country(small: pd.DataFrame) -> None:
    # US: 1, 5, 6; DE: 2; "" (3) and null (4) are no country
    ax = small.chartmogul.plot.countries()
    assert barh_by_label(ax) == {"US": 3, "DE": 1, "(no country)": 2}
    top = plotting.plot_countries(small, top=1)
    assert barh_by_label(top) == {"US": 3, "1 other countries": 1, "(no country)": 2}


def test_cohorts_count_every_period_including_empty_ones(
    small: pd.DataFrame, tmp_path: Path
) -> None:
    # quarters (UTC): 6 -> 2020Q4; 1, 2 -> 2021Q1; 3, 5 -> 2021Q2; 4 -> 2022Q3
    ax = small.chartmogul.plot.cohorts("QS")
    heights = [p.get_height() for p in bars(ax)]
    assert heights == [1, 2, 2, 0, 0, 0, 0, 1]  # 2020 Q4 .. 2022 Q3, zeros kept
    shown = [t.get_text() for t in ax.get_xticklabels()]
    assert "2020 Q4" in shown
    assert ax.get_title() == "New customers per quarter"
    assert ax.get_ylabel() == "new customers"
    save(ax, tmp_path, "cohorts")


def test_cohorts_stacked_by_segment(small: pd.DataFrame) -> None:
    labels = segments.segment(small, {"vip": "`tag.vip`"})
    ax = plotting.plot_cohorts(small, "YS", by=labels)
    # years 2020, 2021, 2022; vip: 1, 5 in 2021 and 4 in 2022
    by_color: dict[str, list[float]] = {}
    for p in bars(ax):
        by_color.setdefault(to_hex(p.get_facecolor()), []).append(p.get_height())
    assert by_color[plotting.PALETTE[0].lower()] == [0, 2, 1]  # vip, the first segment
    assert by_color[plotting.PALETTE[1].lower()] == [1, 2, 0]  # other
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2020", "2021", "2022"]
    # the legend reads top to bottom as the stack does
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["other", "vip"]
    assert ax.get_title() == "New customers per year by segment"


def test_segment_colours_are_the_same_in_every_plot(emulated: pd.DataFrame) -> None:
    labels = emulated.chartmogul.segment({"big": "`clearbit.metrics.employees` >= 1000"})
    bars_ax = plotting.plot_segments(emulated, labels)
    colors = {
        label: to_hex(p.get_facecolor())
        for label, p in zip(yticklabels(bars_ax), bars(bars_ax), strict=True)
    }
    cohorts_ax = plotting.plot_cohorts(emulated, "YS", by=labels)
    legend = {
        t.get_text(): to_hex(h.get_facecolor())
        for t, h in zip(
            cohorts_ax.get_legend().get_texts(), cohorts_ax.get_legend().legend_handles, strict=True
        )
    }
    assert legend == colors


def test_attribute_numbers_histogram_counts_every_value(small: pd.DataFrame) -> None:
    ax = small.chartmogul.plot.attribute("seats")  # custom key without the prefix
    assert sum(p.get_height() for p in bars(ax)) == 4
    assert ax.get_title() == "Distribution of custom.seats\n4 customers with a value, 2 without"
    assert ax.get_xlabel() == "custom.seats"
    assert ax.get_ylabel() == "customers"


def test_attribute_integer_ranges_get_one_bar_per_value() -> None:
    frame, _ = customers_to_frame(
        [customer(i, "2021-01-01T00:00:00Z", "Active", custom={"nps": i % 3}) for i in range(1, 8)]
    )
    ax = plotting.plot_attribute(frame, "custom.nps")
    # values 1, 2, 0, 1, 2, 0, 1 -> 0: 2, 1: 3, 2: 2, bars centred on the integers
    assert [p.get_height() for p in bars(ax)] == [2, 3, 2]
    assert [p.get_x() + p.get_width() / 2 for p in bars(ax)] == [0, 1, 2]


def test_attribute_booleans_are_bars_with_nulls_shown(small: pd.DataFrame) -> None:
    # pandas' df.plot skips bool columns; here True, False and missing are all counted
    ax = plotting.plot_attribute(small, "custom.pro")
    assert barh_by_label(ax) == {"True": 2, "False": 1, "(no value)": 3}


def test_attribute_categories_fold_the_rest_into_other() -> None:
    names = [f"plan {i:02d}" for i in range(20)]
    rows = [
        customer(i + 1, "2021-01-01T00:00:00Z", "Active", custom={"plan": names[i % 20]})
        for i in range(40)
    ]
    rows[0]["attributes"]["custom"]["plan"] = "plan 00"
    frame, _ = customers_to_frame(rows)
    ax = plotting.plot_attribute(frame, "plan")
    drawn = barh_by_label(ax)
    assert len(drawn) == 16
    assert drawn["5 other values"] == 10
    assert sum(drawn.values()) == 40


def test_attribute_stacked_categories_by_segment(small: pd.DataFrame) -> None:
    labels = segments.segment(small, {"vip": "`tag.vip`"})
    ax = plotting.plot_attribute(small, "custom.plan", by=labels)
    totals: dict[float, float] = {}
    for p in bars(ax):
        totals[p.get_y()] = totals.get(p.get_y(), 0) + p.get_width()
    # Pro: 1 (vip), 3 (other); Growth: 2 (other); no value: 4, 5 (vip), 6 (other)
    assert sorted(totals.values()) == [1, 2, 3]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["vip", "other"]


def test_attribute_timestamps_are_a_timeline(small: pd.DataFrame, tmp_path: Path) -> None:
    ax = plotting.plot_attribute(small, "customer_since")
    (line,) = ax.get_lines()
    assert line.get_ydata().sum() == len(small)
    assert ax.get_ylabel() == "customers per week"  # 18 months: weeks
    assert ax.get_title() == "customer_since over time"
    save(ax, tmp_path, "timeline")


def test_co_occurrence_heatmap(small: pd.DataFrame, tmp_path: Path) -> None:
    ax = small.chartmogul.plot.co_occurrence()
    (image,) = ax.get_images()
    data = np.ma.filled(image.get_array(), np.nan)
    expected = segments.co_occurrence(small).to_numpy().astype(float)
    np.fill_diagonal(expected, np.nan)
    np.testing.assert_array_equal(data, expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["vip", "eu", "at risk"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        str(v) for v in segments.co_occurrence(small).to_numpy().ravel()
    )
    save(ax, tmp_path, "co_occurrence")


# --- ax=, title=, errors, empty frames -------------------------------------------------------------


PLOTS: dict[str, Callable[[Any], Axes]] = {
    "segments": lambda p: p.segments("status"),
    "cohorts": lambda p: p.cohorts(),
    "tags": lambda p: p.tags(),
    "attribute": lambda p: p.attribute("custom.seats"),
    "status": lambda p: p.status(),
    "countries": lambda p: p.countries(),
    "co_occurrence": lambda p: p.co_occurrence(),
}


@pytest.mark.parametrize("name", PLOTS)
def test_every_plot_draws_into_the_given_axes_with_the_given_title(
    small: pd.DataFrame, name: str
) -> None:
    fig, ax = plt.subplots()
    method = getattr(small.chartmogul.plot, name)
    args = {"segments": ("status",), "attribute": ("custom.seats",)}.get(name, ())
    returned = method(*args, ax=ax, title="My title")
    assert returned is ax
    assert ax.get_title().startswith("My title")
    assert plt.get_fignums() == [fig.number]  # no extra figure


@pytest.mark.parametrize("name", PLOTS)
def test_every_plot_copes_with_an_empty_frame(small: pd.DataFrame, name: str) -> None:
    ax = PLOTS[name](small.iloc[:0].chartmogul.plot)
    assert isinstance(ax, Axes)


def test_plot_errors(small: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match=r"closest: 'custom\.seats'"):
        plotting.plot_attribute(small, "custom.sets")
    with pytest.raises(ValidationError, match=r"plot\.tags\(\)"):
        plotting.plot_attribute(small, "tags", by="status")
    with pytest.raises(ValidationError, match="top=0"):
        plotting.plot_tags(small, top=0)
    with pytest.raises(ValidationError, match="freq='ME'"):
        plotting.plot_cohorts(small, "ME")


def test_labels_with_dollar_signs_are_text_not_math(tmp_path: Path) -> None:
    frame, _ = customers_to_frame(
        [
            customer(1, "2021-01-01T00:00:00Z", "Active", tags=["$99 plan", "50$ off"]),
            customer(2, "2021-01-01T00:00:00Z", "Active", tags=["$99 plan"]),
        ]
    )
    ax = plotting.plot_tags(frame)
    save(ax, tmp_path, "dollars")
    ax.figure.canvas.draw()
    assert yticklabels(ax) == [r"\$99 plan", r"50\$ off"]


# --- every plot on an emulated account: renders, saves, labels do not overlap --------------------


def _emulated_plots(df: pd.DataFrame) -> dict[str, Callable[[], Axes]]:
    labels = df.chartmogul.segment(
        {
            "enterprise": "`clearbit.metrics.employees` >= 1000",
            "at risk": df["tag.churn-risk"] | df["tag.at risk"],
            "pro": lambda d: d["custom.pro"],
        }
    )
    plot = df.chartmogul.plot
    return {
        "segments": lambda: plot.segments(labels),
        "segments_bucket": lambda: plot.segments(df.chartmogul.bucket("custom.seats", 5)),
        "cohorts_quarter": lambda: plot.cohorts(),
        "cohorts_month_by": lambda: plot.cohorts("MS", by=labels),
        "cohorts_week": lambda: plot.cohorts("W-MON"),
        "cohorts_day": lambda: plot.cohorts("D"),
        "cohorts_year_status": lambda: plot.cohorts("YS", by="status"),
        "tags": lambda: plot.tags(),
        "attribute_number": lambda: plot.attribute("custom.ltv_estimate"),
        "attribute_long_tail_by": lambda: plot.attribute("clearbit.metrics.employees", by=labels),
        "attribute_bool": lambda: plot.attribute("tag.vip"),
        "attribute_category_by": lambda: plot.attribute("custom.plan_name", by=labels),
        "attribute_many_categories": lambda: plot.attribute("address.city"),
        "attribute_timestamp": lambda: plot.attribute("custom.renewal_date"),
        "attribute_timestamp_by": lambda: plot.attribute("customer_since", by="status"),
        "status": lambda: plot.status(),
        "status_by": lambda: plot.status(by=labels),
        "countries": lambda: plot.countries(),
        "co_occurrence": lambda: plot.co_occurrence(),
    }


def test_every_plot_renders_on_5000_emulated_customers(
    emulated: pd.DataFrame, tmp_path: Path
) -> None:
    for name, draw in _emulated_plots(emulated).items():
        ax = draw()
        assert ax.get_title(), name
        save(ax, tmp_path, name)
        assert_tick_labels_do_not_overlap(ax, name)
        plt.close(ax.figure)
    assert len(list(tmp_path.glob("*.png"))) == 19


def test_emulated_bar_heights_equal_the_helpers_counts(emulated: pd.DataFrame) -> None:
    tags = plotting.plot_tags(emulated, top=10)
    expected = segments.tag_counts(emulated).iloc[:10]
    assert barh_by_label(tags) == expected.to_dict()
    cohorts = plotting.plot_cohorts(emulated, "YS")
    by_year = segments.cohort(emulated, "YS").value_counts().sort_index()
    assert [p.get_height() for p in bars(cohorts)] == by_year.tolist()


def test_read_from_the_emulator_and_plot(emulator: Emulator, tmp_path: Path) -> None:
    """The user's path: load over HTTP, segment, plot."""
    with cm.Client(
        emulator.token, emulator.secret, emulator.url, cache_dir=tmp_path, rate_limit=None
    ) as client:
        df = cm.read_customers(client, progress=False)
    ax = df.chartmogul.plot.cohorts(freq="QS", by=df.chartmogul.segment({"vip": "`tag.vip`"}))
    assert sum(p.get_height() for p in bars(ax)) == len(df)
    save(ax, tmp_path, "read_and_plot")


# --- figsize= and matplotlib keywords, as geopandas takes them --------------------------------------

# Each plot's data artists, and a keyword the plot passes on to the call that draws them.
_FUNCTIONS: dict[str, tuple[Callable[..., Axes], tuple[Any, ...]]] = {
    "segments": (plotting.plot_segments, ("status",)),
    "cohorts": (plotting.plot_cohorts, ()),
    "tags": (plotting.plot_tags, ()),
    "attribute": (plotting.plot_attribute, ("custom.seats",)),
    "status": (plotting.plot_status, ()),
    "countries": (plotting.plot_countries, ()),
    "co_occurrence": (plotting.plot_co_occurrence, ()),
}


def _alphas(ax: Axes) -> set[float | None]:
    artists = [*ax.patches, *ax.images, *ax.lines]
    return {artist.get_alpha() for artist in artists}


@pytest.mark.parametrize("name", PLOTS)
def test_every_plot_method_takes_figsize_and_passes_kwargs_to_matplotlib(
    small: pd.DataFrame, name: str
) -> None:
    method = getattr(small.chartmogul.plot, name)
    _, args = _FUNCTIONS[name]
    ax = method(*args, figsize=(3.5, 2.5), alpha=0.5)
    assert tuple(ax.figure.get_size_inches()) == (3.5, 2.5)
    assert _alphas(ax) == {0.5}


@pytest.mark.parametrize("name", PLOTS)
def test_every_plot_function_takes_figsize_and_passes_kwargs_to_matplotlib(
    small: pd.DataFrame, name: str
) -> None:
    function, args = _FUNCTIONS[name]
    ax = function(small, *args, figsize=(4.0, 3.0), alpha=0.25)
    assert tuple(ax.figure.get_size_inches()) == (4.0, 3.0)
    assert _alphas(ax) == {0.25}


def test_kwargs_override_the_plots_own_style(small: pd.DataFrame) -> None:
    ax = plotting.plot_tags(small, color="#123456")
    assert {to_hex(bar.get_facecolor()) for bar in bars(ax)} == {"#123456"}


def test_figsize_is_ignored_with_given_axes(small: pd.DataFrame) -> None:
    fig, ax = plt.subplots(figsize=(5.0, 5.0))
    plotting.plot_tags(small, ax=ax, figsize=(2.0, 2.0))
    assert tuple(fig.get_size_inches()) == (5.0, 5.0)


def test_attribute_timeline_and_stacks_pass_kwargs(small: pd.DataFrame) -> None:
    timeline = plotting.plot_attribute(small, "customer_since", linewidth=4.0)
    assert {line.get_linewidth() for line in timeline.lines} == {4.0}
    stacked = plotting.plot_attribute(small, "custom.seats", by="status", alpha=0.5)
    assert _alphas(stacked) == {0.5}
    mix = plotting.plot_status(small, by="custom.plan", alpha=0.5)
    assert _alphas(mix) == {0.5}
