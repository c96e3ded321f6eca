"""segments.py: every helper on small frames whose answers are worked out by hand.

The frames come from wire-format customers through ``customers_to_frame``, so the columns have
the real Arrow dtypes (nullable int64, Arrow bool with nulls, dictionary status, UTC
timestamps) that pandas' defaults get wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from customer_frames import customers_to_frame
from hypothesis import given, settings
from hypothesis import strategies as st
from small_customers import SMALL

import cm_frames  # noqa: F401  (registers df.chartmogul)
from cm_frames.analysis import segments
from cm_frames.emulator.generator import generate_customers
from cm_frames.errors import ValidationError

UTC_TS = pd.ArrowDtype(pa.timestamp("us", tz="UTC"))


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    frame, _ = customers_to_frame(SMALL)
    return frame


@pytest.fixture(scope="module")
def emulated() -> pd.DataFrame:
    frame, _ = customers_to_frame(generate_customers(2000, 11))
    return frame


def as_dict(series: pd.Series) -> dict[Any, Any]:
    return {k: (None if pd.isna(v) else v) for k, v in series.items()}


def test_small_frame_has_the_arrow_dtypes_the_helpers_must_handle(small: pd.DataFrame) -> None:
    assert small["custom.seats"].dtype == pd.ArrowDtype(pa.int64())
    assert small["custom.pro"].dtype == pd.ArrowDtype(pa.bool_())
    assert small["custom.pro"].isna().sum() == 3
    assert pa.types.is_dictionary(small["status"].dtype.pyarrow_dtype)
    assert small["customer_since"].dtype == UTC_TS


# --- segment ---------------------------------------------------------------------------------------


def test_segment_first_match_wins_in_rule_order(small: pd.DataFrame) -> None:
    labels = segments.segment(
        small,
        {
            "big": "`clearbit.metrics.employees` >= 1000",  # 2, 5
            "vip": small["tag.vip"],  # 1, 4, 5 (5 already big)
            "pro": lambda d: d["custom.pro"],  # 1, 5 taken; nobody new
        },
    )
    assert as_dict(labels) == {1: "vip", 2: "big", 3: "other", 4: "vip", 5: "big", 6: "other"}
    assert isinstance(labels.dtype, pd.CategoricalDtype)
    assert list(labels.cat.categories) == ["big", "vip", "pro", "other"]
    assert labels.name == "segment"
    assert labels.index.equals(small.index)


def test_segment_null_in_a_mask_never_matches(small: pd.DataFrame) -> None:
    # custom.pro: True (1, 5), False (2), null (3, 4, 6); "not" of null is still null
    labels = segments.segment(
        small, {"not pro": "not `custom.pro`"}, default="unknown", name="pro?"
    )
    assert as_dict(labels) == {
        1: "unknown",
        2: "not pro",
        3: "unknown",
        4: "unknown",
        5: "unknown",
        6: "unknown",
    }
    assert labels.name == "pro?"


def test_segment_accepts_numpy_masks_and_realigns_a_shuffled_series(small: pd.DataFrame) -> None:
    shuffled = small["tag.eu"].iloc[::-1]
    labels = segments.segment(small, {"eu": shuffled, "odd": np.asarray(small.index % 2 == 1)})
    assert as_dict(labels) == {1: "eu", 2: "eu", 3: "odd", 4: "other", 5: "odd", 6: "other"}


def test_segment_queries_see_the_callers_variables(small: pd.DataFrame) -> None:
    threshold = 40  # noqa: F841  (read by the queries as @threshold)
    direct = segments.segment(small, {"many seats": "`custom.seats` > @threshold"})
    through_accessor = small.chartmogul.segment({"many seats": "`custom.seats` > @threshold"})
    assert as_dict(direct) == as_dict(through_accessor)
    assert [k for k, v in as_dict(direct).items() if v == "many seats"] == [2, 3]


def test_segment_on_strings_dictionaries_and_timestamps(small: pd.DataFrame) -> None:
    labels = segments.segment(
        small,
        {
            "active": "status == 'Active' and `customer_since` >= '2021-01-01T00:00Z'",
            "germany": "`address.country` == 'DE'",
        },
    )
    assert as_dict(labels) == {
        1: "active",
        2: "active",
        3: "other",
        4: "other",
        5: "other",
        6: "other",
    }


def test_segment_with_no_rules_is_all_default(small: pd.DataFrame) -> None:
    labels = segments.segment(small, {}, default="everyone")
    assert set(labels) == {"everyone"}
    assert list(labels.cat.categories) == ["everyone"]


@pytest.mark.parametrize(
    ("rules", "fragments"),
    [
        ({"x": "`custom.nope` > 1"}, ["rule 'x'", "`custom.nope`", "does not have"]),
        ({"x": "`custom.seats` >>> 1"}, ["rule 'x'", "failed", "backticks"]),
        ({"x": "`customer_since` > '2021-01-01'"}, ["rule 'x'", "time zone"]),
        ({"x": "`custom.seats` + 1"}, ["rule 'x'", "must be boolean"]),
        ({"x": 5}, ["rule 'x'", "int", "query string", "mask", "callable"]),
        ({"x": lambda d: d["missing"]}, ["rule 'x'", "callable raised", "KeyError"]),
        ({"x": lambda d: "text"}, ["rule 'x'", "str", "boolean Series"]),
        ({"x": np.ones(3, dtype=bool)}, ["rule 'x'", "shape (3,)", "6"]),
        ({"other": "`tag.vip`"}, ["default='other'", "rule label"]),
    ],
)
def test_segment_errors_name_the_rule_and_the_fix(
    small: pd.DataFrame, rules: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        segments.segment(small, rules)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_segment_refuses_a_mask_for_other_customers(small: pd.DataFrame) -> None:
    foreign = pd.Series([True, False], index=[1, 99])
    with pytest.raises(ValidationError, match=r"reindex\(df.index\)"):
        segments.segment(small, {"x": foreign})


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([True, False, None]), min_size=6, max_size=6),
        min_size=0,
        max_size=4,
    )
)
def test_segment_matches_a_row_by_row_first_match(masks: list[list[bool | None]]) -> None:
    frame, _ = customers_to_frame(SMALL)
    rules = {
        f"r{i}": pd.Series(pd.array(mask, dtype="boolean"), index=frame.index)
        for i, mask in enumerate(masks)
    }
    labels = segments.segment(frame, rules, default="none")
    for row, cid in enumerate(frame.index):
        expected = next((f"r{i}" for i, mask in enumerate(masks) if mask[row] is True), "none")
        assert labels[cid] == expected


# --- bucket and cohort -----------------------------------------------------------------------------


def test_bucket_with_edges_is_left_closed_and_leaves_nulls_and_outliers_out(
    small: pd.DataFrame,
) -> None:
    # seats: 1 -> 5, 2 -> 50, 3 -> 500, 4 -> null, 5 -> 20, 6 -> null
    buckets = segments.bucket(small, "custom.seats", [5, 20, 100])
    assert as_dict(buckets) == {
        1: "[5, 20)",
        2: "[20, 100)",
        3: None,
        4: None,
        5: "[20, 100)",
        6: None,
    }
    assert buckets.cat.ordered
    assert list(buckets.cat.categories) == ["[5, 20)", "[20, 100)"]
    assert buckets.name == "custom.seats"


def test_bucket_open_ended_labels_and_custom_labels(small: pd.DataFrame) -> None:
    auto = segments.bucket(small, "custom.seats", [-float("inf"), 10, 1000, float("inf")])
    assert list(auto.cat.categories) == ["< 10", "[10, 1,000)", "≥ 1,000"]
    assert as_dict(auto)[3] == "[10, 1,000)"
    named = segments.bucket(small, "custom.seats", [0, 10, float("inf")], labels=["small", "large"])
    assert as_dict(named) == {1: "small", 2: "large", 3: "large", 4: None, 5: "large", 6: None}


def test_bucket_with_a_number_of_bins_covers_the_maximum(small: pd.DataFrame) -> None:
    # range 5..500 in 3 bins of 165: [5, 170), [170, 335), [335, 500]
    buckets = segments.bucket(small, "custom.seats", 3)
    assert list(buckets.cat.categories) == ["[5, 170)", "[170, 335)", "[335, 500]"]
    assert as_dict(buckets)[3] == "[335, 500]"
    assert buckets.value_counts(sort=False).tolist() == [3, 0, 1]


@pytest.mark.parametrize(
    ("column", "bins", "labels", "fragment"),
    [
        ("custom.plan", 3, None, "not a number"),
        ("custom.pro", 3, None, "not a number"),
        ("custom.sets", 3, None, "closest: 'custom.seats'"),
        ("custom.seats", [10, 5], None, "increasing"),
        ("custom.seats", [0, 10, 20], ["one"], "2 bins need 2 distinct labels"),
        ("custom.seats", 0, None, "at least 1"),
    ],
)
def test_bucket_errors(
    small: pd.DataFrame, column: str, bins: Any, labels: Any, fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment):
        segments.bucket(small, column, bins, labels=labels)


@pytest.mark.parametrize(
    ("freq", "expected"),
    [
        (
            "MS",
            {1: "2021-01-01", 2: "2021-01-01", 3: "2021-04-01", 5: "2021-04-01", 6: "2020-12-01"},
        ),
        (
            "QS",
            {1: "2021-01-01", 2: "2021-01-01", 3: "2021-04-01", 5: "2021-04-01", 6: "2020-10-01"},
        ),
        ("YS", {1: "2021-01-01", 4: "2022-01-01", 6: "2020-01-01"}),
        # 2021-01-15 is a Friday: its week starts Monday the 11th, or Sunday the 10th
        ("W-MON", {1: "2021-01-11", 6: "2020-12-28"}),
        ("W", {1: "2021-01-10", 6: "2020-12-27"}),
        ("D", {2: "2021-01-31", 5: "2021-04-01"}),
        ("QS-FEB", {1: "2020-11-01", 3: "2021-02-01", 4: "2022-05-01"}),
    ],
)
def test_cohort_is_the_utc_period_start(
    small: pd.DataFrame, freq: str, expected: dict[int, str]
) -> None:
    cohorts = segments.cohort(small, freq)
    assert cohorts.dtype == UTC_TS
    assert cohorts.name == "cohort"
    for cid, start in expected.items():
        assert cohorts[cid] == pd.Timestamp(start, tz="UTC"), (freq, cid)


@pytest.mark.parametrize("freq", ["ME", "2MS", "h", "nonsense"])
def test_cohort_refuses_frequencies_that_are_not_period_starts(
    small: pd.DataFrame, freq: str
) -> None:
    with pytest.raises(ValidationError, match="'MS' \\(month\\)"):
        segments.cohort(small, freq)


# --- filter ----------------------------------------------------------------------------------------


def ids(frame: pd.DataFrame) -> list[int]:
    return [int(i) for i in frame.index]


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ({"tags_any": ["eu", "at risk"]}, [1, 2, 4]),
        ({"tags_all": ["vip", "eu"]}, [1]),
        ({"tags_all": "vip"}, [1, 4, 5]),  # one tag as a string, not its letters
        ({"tags_none": ["vip"]}, [2, 3, 6]),
        ({"status": "Active"}, [1, 2, 6]),
        ({"status": ["Trial", "Lead"]}, [4, 5]),
        ({"seats": 50}, [2]),
        ({"pro": True}, [1, 5]),
        ({"pro": False}, [2]),  # nulls are not False
        ({"pro": None}, [3, 4, 6]),  # None: customers without the attribute
        ({"plan": ["Pro", "Growth"]}, [1, 2, 3]),
        ({"renewal": "2024-01-01"}, [1]),  # a date string for a Timestamp attribute
        ({"tags_any": "vip", "status": "Active", "plan": "Pro"}, [1]),
        ({"tags_any": []}, [1, 2, 3, 4, 5, 6]),  # empty: no condition
    ],
)
def test_filter_customers(
    small: pd.DataFrame, conditions: dict[str, Any], expected: list[int]
) -> None:
    assert ids(segments.filter_customers(small, **conditions)) == expected


def test_filter_returns_a_copy_with_every_column(small: pd.DataFrame) -> None:
    chosen = small.chartmogul.filter(tags_any=["vip"])
    assert list(chosen.columns) == list(small.columns)
    assert (chosen.dtypes == small.loc[chosen.index].dtypes).all()
    chosen.loc[1, "custom.seats"] = 999
    assert small.loc[1, "custom.seats"] == 5


def test_filter_status_knows_statuses_absent_from_a_subset(small: pd.DataFrame) -> None:
    actives = segments.filter_customers(small, status="Active")
    # the dictionary still lists "Trial": an empty answer, not an error
    assert ids(segments.filter_customers(actives, status="Trial")) == []


@pytest.mark.parametrize(
    ("conditions", "fragments"),
    [
        ({"tags_any": ["VIP"]}, ["tags_any", "'VIP'", "'vip'", "case-sensitive"]),
        ({"tags_none": ["gold"]}, ["tags_none", "'gold'", "tags here"]),
        ({"status": "active"}, ["'active'", "'Active'", "'Cancelled'"]),
        ({"seat": 5}, ["custom attribute 'seat'", "'seats'"]),
        ({"seats": "many"}, ["seats='many'", "int64", "int for Integer"]),
        ({"pro": 1}, ["pro=1", "True/False"]),
    ],
)
def test_filter_errors_name_the_parameter_and_the_choices(
    small: pd.DataFrame, conditions: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        segments.filter_customers(small, **conditions)
    for fragment in fragments:
        assert fragment in str(caught.value)


# --- tags ------------------------------------------------------------------------------------------


def test_tag_counts_most_common_first_then_by_name(small: pd.DataFrame) -> None:
    counts = segments.tag_counts(small)
    assert counts.to_dict() == {"vip": 3, "eu": 2, "at risk": 1}
    assert list(counts.index) == ["vip", "eu", "at risk"]
    assert counts.index.name == "tag"
    assert counts.dtype == np.int64


def test_tag_counts_skip_nulls_and_keep_zeros(small: pd.DataFrame) -> None:
    edited = small.copy()
    edited["tag.vip"] = pd.array(
        [None, False, False, None, True, False], dtype=edited["tag.vip"].dtype
    )
    edited["tag.eu"] = False
    counts = segments.tag_counts(edited)
    assert counts.to_dict() == {"at risk": 1, "vip": 1, "eu": 0}


def test_tag_matrix_is_named_by_tag_with_nulls_false(small: pd.DataFrame) -> None:
    edited = small.copy()
    edited["tag.vip"] = pd.array(
        [None, False, False, True, True, False], dtype=edited["tag.vip"].dtype
    )
    matrix = segments.tag_matrix(edited)
    assert list(matrix.columns) == ["at risk", "eu", "vip"]
    assert (matrix.dtypes == pd.ArrowDtype(pa.bool_())).all()
    assert matrix["vip"].tolist() == [False, False, False, True, True, False]
    assert matrix.index.equals(small.index)


def test_co_occurrence_small(small: pd.DataFrame) -> None:
    matrix = segments.co_occurrence(small)
    assert list(matrix.index) == ["vip", "eu", "at risk"]
    assert matrix.loc["vip", "eu"] == 1  # customer 1
    assert matrix.loc["vip", "at risk"] == 1  # customer 4
    assert matrix.loc["eu", "at risk"] == 0
    assert np.diag(matrix.to_numpy()).tolist() == [3, 2, 1]
    assert (matrix.to_numpy() == matrix.to_numpy().T).all()


def test_co_occurrence_agrees_with_counting_the_tag_lists(emulated: pd.DataFrame) -> None:
    # an independent count: pairs from each customer's `tags` list
    matrix = segments.co_occurrence(emulated)
    expected: dict[tuple[str, str], int] = {}
    for tags in emulated["tags"]:
        for a in tags:
            for b in tags:
                expected[a, b] = expected.get((a, b), 0) + 1
    for a in matrix.index:
        for b in matrix.columns:
            assert matrix.loc[a, b] == expected.get((a, b), 0)


def test_tag_counts_agree_with_the_tag_lists(emulated: pd.DataFrame) -> None:
    flat = pd.Series([t for tags in emulated["tags"] for t in tags]).value_counts()
    assert segments.tag_counts(emulated).to_dict() == flat.to_dict()


# --- profile ---------------------------------------------------------------------------------------


def test_profile_by_segment(small: pd.DataFrame) -> None:
    labels = segments.segment(
        small,
        {"vip": "`tag.vip`", "nobody": "`custom.seats` > 10000", "eu": "`tag.eu`"},
    )
    # vip: 1, 4, 5; nobody: -; eu: 2; other: 3, 6
    table = small.chartmogul.profile(labels)
    assert list(table.index) == ["vip", "nobody", "eu", "other"]
    assert table.index.name == "segment"
    assert table["customers"].tolist() == [3, 0, 1, 2]
    assert table["share"].tolist() == pytest.approx([0.5, 0.0, 1 / 6, 1 / 3])
    # status columns, most common status overall (Active: 3) first
    status_columns = [c for c in table.columns if c.startswith("status.")]
    assert status_columns[0] == "status.Active"
    assert set(status_columns) == {
        "status.Active",
        "status.Cancelled",
        "status.Lead",
        "status.Trial",
    }
    assert table.loc["vip", "status.Active"] == pytest.approx(1 / 3)
    assert table.loc["vip", "status.Trial"] == pytest.approx(1 / 3)
    assert table.loc["other", "status.Cancelled"] == pytest.approx(0.5)
    assert np.isnan(table.loc["nobody", "status.Active"])
    assert table.loc["vip", "top_tags"] == "vip 100%, at risk 33%, eu 33%"
    assert table.loc["other", "top_tags"] == ""
    # medians skip customers without a value: vip seats 5 and 20 (4 has none)
    assert table.loc["vip", "median.custom.seats"] == 12.5
    assert table.loc["other", "median.custom.seats"] == 500
    assert table.loc["vip", "median.clearbit.metrics.employees"] == 755
    assert np.isnan(table.loc["other", "median.clearbit.metrics.employees"])
    assert np.isnan(table.loc["nobody", "median.custom.seats"])
    # bools are not medians
    assert "median.custom.pro" not in table.columns


def test_profile_by_a_column_with_nulls_keeps_them_as_a_group(small: pd.DataFrame) -> None:
    table = segments.profile(small, "custom.pro")
    assert table.index.tolist()[:2] == [False, True]
    assert pd.isna(table.index[2])
    assert table["customers"].tolist() == [1, 2, 3]
    assert table["customers"].sum() == len(small)


def test_profile_by_status_on_the_dictionary_column(small: pd.DataFrame) -> None:
    table = segments.profile(small, "status")
    assert table["customers"].to_dict() == {"Active": 3, "Cancelled": 1, "Lead": 1, "Trial": 1}
    assert table.loc["Active", "status.Active"] == 1.0


@pytest.mark.parametrize(
    ("by", "fragment"),
    [("custom.nope", "no column 'custom.nope'"), ("tags", "list"), (3, "column name")],
)
def test_profile_errors(small: pd.DataFrame, by: Any, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        segments.profile(small, by)


def test_profile_on_an_emulated_frame_adds_up(emulated: pd.DataFrame) -> None:
    labels = emulated.chartmogul.segment(
        {"enterprise": "`clearbit.metrics.employees` >= 1000", "at risk": "`tag.churn-risk`"}
    )
    table = segments.profile(emulated, labels)
    assert table["customers"].sum() == len(emulated)
    assert table["share"].sum() == pytest.approx(1.0)
    status_share = table[[c for c in table.columns if c.startswith("status.")]].sum(axis=1)
    assert status_share.to_numpy() == pytest.approx(np.ones(len(table)))
    # an independent median: pandas on the enterprise rows
    enterprise = emulated[labels == "enterprise"]
    assert table.loc["enterprise", "median.custom.seats"] == enterprise["custom.seats"].median()


def test_accessor_delegates_each_helper(small: pd.DataFrame) -> None:
    acc = small.chartmogul
    pd.testing.assert_series_equal(
        acc.bucket("custom.seats", 2), segments.bucket(small, "custom.seats", 2)
    )
    pd.testing.assert_series_equal(acc.cohort("QS"), segments.cohort(small, "QS"))
    pd.testing.assert_series_equal(acc.tag_counts(), segments.tag_counts(small))
    pd.testing.assert_frame_equal(acc.tag_matrix(), segments.tag_matrix(small))
    pd.testing.assert_frame_equal(acc.co_occurrence(), segments.co_occurrence(small))
    pd.testing.assert_frame_equal(acc.profile("status"), segments.profile(small, "status"))
