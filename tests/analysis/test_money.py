"""MRR segmentation and plots on today's columns: money, currencies, bands, sums, leads, plot.

Hand-made customers of today's API (through the page decoder: the real Arrow dtypes), worked
out by hand, then the emulator of today's dialect over HTTP.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from customer_frames import customers_to_frame
from matplotlib.axes import Axes

import cm_frames as cm
from cm_frames.analysis import plotting, segments
from cm_frames.emulator import Emulator
from cm_frames.errors import ValidationError

FLOAT = pd.ArrowDtype(pa.float64())


def today(
    cid: int,
    status: str,
    mrr: int,
    *,
    currency: str = "USD",
    sign: str = "$",
    lead: str | None = "2024-01-01T00:00:00.000Z",
    since: str | None = "2024-01-11T00:00:00+00:00",
    tags: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": cid,
        "uuid": f"cus_{cid}",
        "external_id": f"x{cid}",
        "name": f"Customer {cid}",
        "email": f"c{cid}@example.com",
        "status": status,
        "customer-since": since,
        "attributes": {"custom": {}, "clearbit": {}, "stripe": {}, "tags": tags or []},
        "lead_created_at": lead,
        "mrr": mrr,
        "arr": 12 * mrr,
        "currency": currency,
        "currency-sign": sign,
    }


# MRR in cents; hand sums: Active 1000.00 + 49.99 + 12345.67, Past Due 100.00.
USD = [
    today(1, "Active", 100_000, tags=["vip"]),
    today(2, "Active", 4_999),
    today(3, "Past Due", 10_000, tags=["vip"]),
    today(4, "Cancelled", 0),
    today(5, "New Lead", 0, since=None, lead="2024-02-10T00:00:00.000Z"),
    today(6, "Active", 1_234_567, tags=["vip"], lead="2024-02-01T00:00:00.000Z",
          since="2024-02-21T12:00:00+00:00"),
    today(7, "Working Lead", 0, since=None, lead=None),
]  # fmt: skip


@pytest.fixture(scope="module")
def usd() -> pd.DataFrame:
    return customers_to_frame(USD)[0]


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    rows = [
        *USD[:3],
        today(8, "Active", 50_000, currency="EUR", sign="€"),
        today(9, "Active", 70_000, currency="EUR", sign="€"),
    ]
    return customers_to_frame(rows)[0]


# --- money -------------------------------------------------------------------------------------


def test_money_is_the_cents_in_currency_units(usd: pd.DataFrame) -> None:
    units = usd.chartmogul.money()
    assert units.dtype == FLOAT
    assert units.name == "mrr"
    assert units.tolist() == [1000.0, 49.99, 100.0, 0.0, 0.0, 12345.67, 0.0]
    assert segments.money(usd, "arr").tolist()[:2] == [12000.0, 599.88]
    # exact in cents: the sum of the units is the sum of the cents / 100
    assert round(float(units.sum()), 2) == int(usd["mrr"].sum()) / 100


def test_money_keeps_nulls_and_refuses_what_is_not_cents(usd: pd.DataFrame) -> None:
    with_gap = usd.assign(mrr=usd["mrr"].where(usd.index != 2))
    assert with_gap.chartmogul.money().isna().tolist() == [False, True, *[False] * 5]
    numpy_ints = usd.assign(mrr=usd["mrr"].to_numpy(dtype="int64"))
    assert segments.money(numpy_ints).tolist()[:2] == [1000.0, 49.99]
    with pytest.raises(ValidationError, match=r"'email' is string.*not integer cents"):
        usd.chartmogul.money("email")
    with pytest.raises(ValidationError, match="no column 'mrrr'"):
        usd.chartmogul.money("mrrr")


@pytest.mark.parametrize(
    ("value", "sign", "text"),
    [
        (0, "$", "$0"),
        (49.99, "$", "$50"),
        (1_000, "$", "$1k"),
        (12_345.67, "$", "$12.3k"),
        (2_500_000, "€", "€2.5M"),
        (-950, "$", "-$950"),
        (1_500, "CHF", "CHF 1.5k"),
        (float("inf"), "$", "$∞"),
    ],
)
def test_money_text(value: float, sign: str, text: str) -> None:
    assert segments.money_text(value, sign) == text


# --- currencies ----------------------------------------------------------------------------------


def test_one_currency_and_its_sign(usd: pd.DataFrame) -> None:
    assert segments.one_currency(usd) == segments.Currency("USD", "$")
    assert segments.one_currency(usd.drop(columns="currency_sign")) == segments.Currency(
        "USD", "USD"
    )
    assert segments.one_currency(usd.drop(columns="currency")) == segments.Currency(None, "")


def test_several_currencies_are_refused_with_the_fix_that_works(mixed: pd.DataFrame) -> None:
    with pytest.raises(ValidationError) as raised:
        mixed.chartmogul.mrr_by("status")
    message = str(raised.value)
    assert "2 currencies: USD (3 customers), EUR (2 customers)" in message
    assert 'df[df.currency == "USD"]' in message
    assert "by='currency'" in message
    df = mixed
    fixed = df[df.currency == "USD"]  # the fix, as the message writes it
    assert fixed.chartmogul.mrr_by("status")["total"].sum() == pytest.approx(1149.99)
    for call in (
        lambda: segments.mrr_bands(mixed),
        lambda: plotting.plot_mrr(mixed, "status"),
    ):
        with pytest.raises(
            ValidationError, match=r"USD \(3 customers\), EUR \(2 customers\)"
        ) as one:
            call()
        assert "by='currency'" not in str(one.value)  # one axis, one set of bands: no grouping
    assert fixed.chartmogul.mrr_bands().notna().all()
    assert isinstance(plotting.plot_mrr(fixed, "status"), Axes)
    plt.close("all")


def test_grouping_by_currency_sums_each_on_its_own(mixed: pd.DataFrame) -> None:
    table = mixed.chartmogul.mrr_by("currency", split=None)
    assert table["mrr"].to_dict() == {"EUR": 1200.0, "USD": 1149.99}
    # a segment within one currency is fine even when the frame has several
    vip = segments.segment(mixed, {"vip": "`tag.vip`"}, default="rest")
    eur_only = mixed.assign(seg=np.where(mixed["currency"] == "EUR", "eur", "usd"))
    assert segments.mrr_by(eur_only, "seg", split=None)["mrr"].to_dict() == {
        "eur": 1200.0,
        "usd": 1149.99,
    }
    with pytest.raises(ValidationError, match="2 currencies"):
        segments.mrr_by(mixed, vip)  # "rest" holds USD and EUR customers


# --- bands ---------------------------------------------------------------------------------------


def test_bucket_handles_int64_cents(usd: pd.DataFrame) -> None:
    bands = segments.bucket(usd, "mrr", [0, 10_000, 100_000, float("inf")])
    assert bands.tolist() == [
        "≥ 100,000",
        "[0, 10,000)",
        "[10,000, 100,000)",
        "[0, 10,000)",
        "[0, 10,000)",
        "≥ 100,000",
        "[0, 10,000)",
    ]


def test_mrr_bands_cut_in_currency_units_with_currency_labels(usd: pd.DataFrame) -> None:
    bands = usd.chartmogul.mrr_bands()
    assert bands.name == "MRR band"
    assert list(bands.cat.categories) == ["$0–$100", "$100–$1k", "$1k–$10k", "≥ $10k"]
    assert bands.cat.ordered
    # 10,000 cents is $100: the lower edge of the second band; 100,000 is $1k
    assert bands.tolist() == [
        "$1k–$10k",
        "$0–$100",
        "$100–$1k",
        "$0–$100",
        "$0–$100",
        "≥ $10k",
        "$0–$100",
    ]
    custom = usd.chartmogul.mrr_bands([0, 500, float("inf")], labels=["small", "large"])
    assert custom.value_counts().to_dict() == {"small": 5, "large": 2}
    arr = usd.chartmogul.mrr_bands([0, 1_000, float("inf")], column="arr")
    assert arr.tolist()[:2] == ["≥ $1k", "$0–$1k"]
    with pytest.raises(ValidationError, match="edges="):
        usd.chartmogul.mrr_bands([100, 0])


# --- sums per segment and status, profile ------------------------------------------------------


def test_mrr_by_segment_and_status(usd: pd.DataFrame) -> None:
    vip = usd.chartmogul.segment({"vip": "`tag.vip`"})
    table = usd.chartmogul.mrr_by(vip)
    assert list(table.index) == ["vip", "other"]
    assert list(table.columns) == [
        "Active",
        "Past Due",
        "Cancelled",
        "New Lead",
        "Working Lead",
        "total",
    ]
    assert table.loc["vip"].to_dict() == {
        "Active": 13345.67,
        "Past Due": 100.0,
        "Cancelled": 0.0,
        "New Lead": 0.0,
        "Working Lead": 0.0,
        "total": 13445.67,
    }
    assert table.loc["other", "Active"] == pytest.approx(49.99)
    per_status = usd.chartmogul.mrr_by("status", split=None)["mrr"]
    assert per_status.to_dict() == pytest.approx(
        {"Active": 13395.66, "Cancelled": 0.0, "New Lead": 0.0, "Past Due": 100.0,
         "Working Lead": 0.0}
    )  # fmt: skip


def test_mrr_by_gives_missing_keys_a_row(usd: pd.DataFrame) -> None:
    plan = pd.Series(["a", None, "a", "b", None, "b", "a"], index=usd.index, name="plan")
    table = segments.mrr_by(usd, plan, split=None)
    assert list(table.index[:2]) == ["a", "b"]
    assert pd.isna(table.index[2])
    assert table["mrr"].tolist() == pytest.approx([1100.0, 12345.67, 49.99])


def test_profile_has_mrr_sums_and_shares_per_currency(
    usd: pd.DataFrame, mixed: pd.DataFrame
) -> None:
    result = usd.chartmogul.profile("status")
    assert result.loc["Active", "mrr.USD"] == pytest.approx(13395.66)
    assert result["mrr_share.USD"].sum() == pytest.approx(1.0)
    assert result.loc["Past Due", "mrr_share.USD"] == pytest.approx(100 / 13495.66)
    both = mixed.chartmogul.profile("status")
    assert [c for c in both.columns if c.startswith("mrr")] == [
        "mrr.EUR",  # the currency of the most MRR first
        "mrr_share.EUR",
        "mrr.USD",
        "mrr_share.USD",
    ]
    assert both.loc["Active", "mrr.EUR"] == 1200.0
    assert both.loc["Active", "mrr_share.EUR"] == 1.0
    no_currency = segments.profile(usd.drop(columns="currency"), "status")
    assert "mrr" in no_currency.columns
    assert no_currency["mrr"].sum() == pytest.approx(13495.66)


# --- leads ---------------------------------------------------------------------------------------


def test_days_to_convert_and_lead_cohorts(usd: pd.DataFrame) -> None:
    days = usd.chartmogul.days_to_convert()
    assert days.dtype == FLOAT
    assert [None if pd.isna(d) else d for d in days] == [10.0, 10.0, 10.0, 10.0, None, 20.5, None]
    cohorts = usd.chartmogul.lead_conversion("MS")
    assert list(cohorts.index) == [
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.Timestamp("2024-02-01", tz="UTC"),
    ]
    assert cohorts["leads"].tolist() == [4, 2]  # customer 7 has no lead_created_at
    assert cohorts["converted"].tolist() == [4, 1]
    assert cohorts["conversion"].tolist() == [1.0, 0.5]
    assert cohorts["median_days"].tolist() == [10.0, 20.5]


def test_lead_cohorts_fill_empty_periods_and_need_the_lead_dates(usd: pd.DataFrame) -> None:
    spread = usd.assign(
        lead_created_at=pd.Series(
            pd.to_datetime(["2024-01-05"] * 3 + ["2024-04-01"] * 4, utc=True), index=usd.index
        )
    )
    cohorts = segments.lead_conversion(spread, "MS")
    assert cohorts["leads"].tolist() == [3, 0, 0, 4]
    assert np.isnan(cohorts["conversion"].iloc[1])
    reference = usd.drop(columns="lead_created_at")
    with pytest.raises(ValidationError, match="no column 'lead_created_at'"):
        reference.chartmogul.lead_conversion()


# --- the plot ------------------------------------------------------------------------------------


def test_plot_mrr_stacks_statuses_on_a_currency_axis(usd: pd.DataFrame) -> None:
    vip = usd.chartmogul.segment({"vip": "`tag.vip`"})
    ax = usd.chartmogul.plot.mrr(vip, figsize=(6, 3), alpha=0.5)
    assert isinstance(ax, Axes)
    assert tuple(ax.figure.get_size_inches()) == (6.0, 3.0)
    assert ax.get_title() == "MRR by segment and status (USD)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["vip", "other"]  # most MRR first
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["Active", "Past Due"]  # statuses without MRR draw nothing
    assert all(patch.get_alpha() == 0.5 for patch in ax.patches)
    widths = [patch.get_width() for patch in ax.patches]
    assert sorted(widths) == pytest.approx(sorted([13345.67, 49.99, 100.0, 0.0]))
    colors = {patch.get_facecolor()[:3] for patch in ax.patches[:2]}
    assert colors == {matplotlib.colors.to_rgb(plotting.STATUS_COLORS["Active"])}
    ax.figure.canvas.draw()
    ticks = [t.get_text().replace("\\", "") for t in ax.get_xticklabels()]
    assert "$0" in ticks
    assert any(t.startswith("$") and t.endswith("k") for t in ticks)
    assert [t.get_text().replace("\\", "") for t in ax.texts] == ["$13.4k", "$50"]
    plt.close("all")


def test_plot_mrr_into_given_axes_unstacked_and_by_band(usd: pd.DataFrame) -> None:
    _, given = plt.subplots()
    ax = plotting.plot_mrr(usd, "status", stack=None, ax=given, color="tab:purple")
    assert ax is given
    assert ax.get_legend() is None
    assert ax.get_title() == "MRR by status (USD)"
    assert {patch.get_facecolor()[:3] for patch in ax.patches} == {
        matplotlib.colors.to_rgb("tab:purple")
    }
    bands = usd.chartmogul.mrr_bands()
    ax = usd.chartmogul.plot.mrr(bands, title="By band")
    # an ordered key keeps its order, not most MRR first
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        r"\$0–\$100",
        r"\$100–\$1k",
        r"\$1k–\$10k",
        r"≥ \$10k",
    ]
    assert ax.get_title() == "By band"
    empty = plotting.plot_mrr(usd[usd["mrr"] == 0], "status")
    assert "No MRR" in [t.get_text() for t in empty.texts]
    plt.close("all")


def test_plot_attribute_draws_mrr_in_currency_units(usd: pd.DataFrame, mixed: pd.DataFrame) -> None:
    ax = usd.chartmogul.plot.attribute("mrr")
    assert ax.get_xlabel() == "mrr (USD)"
    counts = [patch.get_height() for patch in ax.patches]
    assert sum(counts) == len(usd)
    low, high = ax.patches[0].get_x(), ax.patches[-1].get_x() + ax.patches[-1].get_width()
    assert low == pytest.approx(0.0)
    assert high == pytest.approx(12345.67, rel=1e-3)  # dollars, not 1,234,567 cents
    ax.figure.canvas.draw()
    assert any(t.get_text().startswith("\\$") for t in ax.get_xticklabels())
    with pytest.raises(ValidationError, match=r"plot.attribute\('mrr'\).*2 currencies"):
        mixed.chartmogul.plot.attribute("mrr")
    plain = usd.assign(**{"custom.mrr": usd["mrr"]}).chartmogul.plot.attribute("custom.mrr")
    assert plain.get_xlabel() == "custom.mrr"  # a custom key keeps its own unit
    plt.close("all")


def test_todays_lead_statuses_have_colours() -> None:
    for status in ("New Lead", "Working Lead", "Qualified Lead", "Unqualified Lead"):
        assert status in plotting.STATUS_COLORS


# --- over HTTP, today's emulator -------------------------------------------------------------------


def test_mrr_analysis_of_todays_emulator(current_emulator: Emulator) -> None:
    with cm.Client(
        api_key=current_emulator.api_key, base_url=current_emulator.url, rate_limit=None
    ) as client:
        df = cm.read_customers(client, progress=False)
    assert df["currency"].nunique() > 1  # the emulator's account bills in several currencies
    with pytest.raises(ValidationError, match=r'df\[df.currency == "USD"\]'):
        df.chartmogul.plot.mrr("status")
    usd = df[df.currency == "USD"]
    table = usd.chartmogul.mrr_by("status", split=None)
    expected = usd.groupby(usd["status"].astype(str))["mrr"].sum() / 100
    for status, amount in expected.items():
        assert table.loc[status, "mrr"] == pytest.approx(amount)
    by_currency = df.chartmogul.mrr_by("currency", split=None)["mrr"]
    assert by_currency.sum() == pytest.approx(int(df["mrr"].sum()) / 100)
    ax = usd.chartmogul.plot.mrr(usd.chartmogul.mrr_bands())
    assert ax.get_title() == "MRR by MRR band and status (USD)"
    assert ax.get_xlabel() == "MRR (USD)"
    cohorts = df.chartmogul.lead_conversion("QS")
    assert cohorts["leads"].sum() == df["lead_created_at"].notna().sum()
    assert (
        cohorts["converted"].sum()
        == (df["lead_created_at"].notna() & df["customer_since"].notna()).sum()
    )
    leads = df["status"].astype(str).str.endswith("Lead")
    assert df.chartmogul.days_to_convert()[leads].isna().all()
    assert (df.chartmogul.days_to_convert()[~leads] >= 0).all()
    profile = df.chartmogul.profile("status")
    assert {f"mrr.{c}" for c in df["currency"].unique()} <= set(profile.columns)
    plt.close("all")
