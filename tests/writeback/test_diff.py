"""diff(): every operation kind, every type and dtype, every edit path, and every validation error.

Baselines are built by the real read path (``customer_frames.customers_to_frame`` from
wire-format JSON), so the frames diffed here are the frames users get.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from customer_frames import customers_to_frame

from cm_frames import validation
from cm_frames.errors import ValidationError
from cm_frames.writeback.diff import diff
from cm_frames.writeback.operations import (
    AddCustom,
    AddTags,
    Operation,
    RemoveCustom,
    RemoveTags,
    UpdateCustom,
)
from cm_frames.writeback.plan import IgnoredRows, Plan

CONVERTED = datetime(2015, 9, 8, tzinfo=UTC)
SHARED = "shared@example.com"
REALIGN = "`edited.index = pd.Index(edited['uuid'].map(pd.Series(df.index, index=df['uuid'])), dtype='int64', name='id')`"


def wire(
    customer_id: int,
    *,
    email: str | None = None,
    tags: list[str] | None = None,
    custom: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One customer as GET /customers returns it."""
    return {
        "id": customer_id,
        "uuid": f"cus_{customer_id}",
        "external_id": str(customer_id),
        "email": email if email is not None else f"c{customer_id}@example.com",
        "name": f"Customer {customer_id}",
        "address": {"city": "Nowhereville", "country": "US"},
        "customer-since": "2015-06-09T13:16:00-04:00",
        "status": "Active",
        "attributes": {
            "custom": custom or {},
            "tags": tags or [],
            "stripe": {"uid": customer_id},
            "clearbit": {},
        },
    }


CUSTOMERS = [
    wire(
        1,
        tags=["engage"],
        custom={"CAC": 213, "pro": False, "convertedAt": "2015-09-08 00:00:00", "salesRep": "Gabi"},
    ),
    wire(2, custom={"CAC": 32, "pro": True}),
    wire(3, tags=["engage", "vip"], custom={"salesRep": "Bob"}),
    wire(4, email=SHARED),
    wire(5, email=SHARED, tags=["vip"]),
]


@pytest.fixture
def base() -> tuple[pd.DataFrame, dict[str, str]]:
    return customers_to_frame(CUSTOMERS)


def who(customer_id: int) -> tuple[int, str, str]:
    email = SHARED if customer_id in (4, 5) else f"c{customer_id}@example.com"
    return customer_id, f"cus_{customer_id}", email


def plan_of(edited: pd.DataFrame, base: tuple[pd.DataFrame, dict[str, str]]) -> Plan:
    baseline, types = base
    return diff(edited, baseline, custom_types=types)


def only(plan: Plan) -> Operation:
    assert len(plan) == 1, plan.operations
    return plan.operations[0]


def problems_of(edited: pd.DataFrame, base: tuple[pd.DataFrame, dict[str, str]]) -> str:
    with pytest.raises(ValidationError) as info:
        plan_of(edited, base)
    return str(info.value)


# --- nothing changed -------------------------------------------------------------------------------


def test_an_unchanged_copy_plans_nothing(base: tuple[pd.DataFrame, dict[str, str]]) -> None:
    plan = plan_of(base[0].copy(), base)
    assert plan.is_empty
    assert len(plan) == 0
    assert plan.skipped == ()
    assert plan.ignored_rows == IgnoredRows(0, 0)


def test_diff_never_mutates_its_inputs(base: tuple[pd.DataFrame, dict[str, str]]) -> None:
    baseline = base[0]
    edited = baseline.copy()
    edited["custom.lead_score"] = np.array([1, 2, 3, 4, 5])
    edited["tags"] = edited["tags"].astype(object)
    edited.at[2, "tags"] = ["new"]
    before_edited, before_baseline = edited.copy(), baseline.copy()
    types = dict(base[1])
    plan_of(edited, (baseline, types))
    pd.testing.assert_frame_equal(edited, before_edited)
    pd.testing.assert_frame_equal(baseline, before_baseline)
    assert types == base[1]


# --- tags ------------------------------------------------------------------------------------------


def test_tag_column_false_to_true_adds_and_true_to_false_removes(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited.loc[2, "tag.vip"] = True
    edited.loc[3, "tag.engage"] = False
    assert plan_of(edited, base).operations == (
        AddTags(*who(2), "vip"),
        RemoveTags(*who(3), "engage"),
    )


def test_tags_list_edits_add_and_remove(base: tuple[pd.DataFrame, dict[str, str]]) -> None:
    edited = base[0].copy()
    edited["tags"] = edited["tags"].astype(object)
    edited.at[3, "tags"] = ["vip", "brand new"]
    assert plan_of(edited, base).operations == (
        AddTags(*who(3), "brand new"),
        RemoveTags(*who(3), "engage"),
    )


def test_tags_list_as_arrow_lists_works_too(base: tuple[pd.DataFrame, dict[str, str]]) -> None:
    edited = base[0].copy()
    edited["tags"] = edited["tags"].map(lambda tags: [*tags, "all"])
    plan = plan_of(edited, base)
    assert [op.customer_id for op in plan] == [1, 2, 3, 4, 5]
    assert all(op == AddTags(*who(op.customer_id), "all") for op in plan)


def test_order_and_duplicates_in_tags_lists_are_no_change(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited["tags"] = edited["tags"].astype(object)
    edited.at[3, "tags"] = ("vip", "engage", "vip")
    assert plan_of(edited, base).is_empty


def test_na_in_a_new_tag_column_from_loc_is_an_error_like_in_an_existing_one(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited.loc[edited["custom.CAC"] > 100, "tag.hot"] = True  # object column: NaN elsewhere
    assert edited["tag.hot"].dtype == object
    message = problems_of(edited, base)
    assert "column 'tag.hot': missing values (NA) in a tag column" in message
    assert "customers 2, 3, 4, 5" in message
    assert "`edited['tag.hot'] = edited['tag.hot'].fillna(False)`" in message
    edited["tag.hot"] = edited["tag.hot"].fillna(False)  # exactly the suggested fix
    assert plan_of(edited, base).operations == (AddTags(*who(1), "hot"),)


def test_an_all_none_new_tag_column_is_an_error_not_silence(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited["tag.hot"] = None
    message = problems_of(edited, base)
    assert "column 'tag.hot': missing values (NA) in a tag column" in message
    assert "customers 1, 2, 3, 4, 5" in message


def test_new_bool_tag_column_adds_where_true(base: tuple[pd.DataFrame, dict[str, str]]) -> None:
    edited = base[0].copy()
    edited["tag.hot"] = np.array([False, True, False, False, True])
    assert plan_of(edited, base).operations == (
        AddTags(*who(2), "hot"),
        AddTags(*who(5), "hot"),
    )


def test_agreeing_edits_through_tags_and_tag_columns_are_one_operation(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited["tags"] = edited["tags"].astype(object)
    edited.at[2, "tags"] = ["vip"]
    edited.loc[2, "tag.vip"] = True
    assert plan_of(edited, base).operations == (AddTags(*who(2), "vip"),)


def test_contradicting_tags_and_tag_column_name_both_and_the_customers(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited["tags"] = edited["tags"].astype(object)
    edited.at[2, "tags"] = ["vip"]  # the list adds vip...
    edited.loc[2, "tag.engage"] = True  # ...the columns add engage (and leave vip False)
    message = problems_of(edited, base)
    assert "'tags / tag.vip'" in message
    assert "the tags list has 'vip' but tag.vip is False" in message
    assert "'tags / tag.engage'" in message
    assert "tag.engage is True but the tags list lacks 'engage'" in message
    assert "customer 2" in message
    assert "Fix:" in message


def test_na_in_an_existing_tag_column_is_an_error(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited.loc[[2, 4], "tag.vip"] = pd.NA
    message = problems_of(edited, base)
    assert "column 'tag.vip': missing values (NA)" in message
    assert "customers 2, 4" in message
    assert "fillna(False)" in message


@pytest.mark.parametrize(
    ("values", "fix"),
    [
        (
            np.array([1, 0, 0, 0, 1]),
            "`edited['tag.vip'] = edited['tag.vip'].astype('bool[pyarrow]')`",
        ),
        (
            np.array(["no", "yes", "no", "no", "no"], dtype=object),
            "`edited['tag.vip'] = edited['tag.vip'].eq('yes')`",
        ),
    ],
    ids=["ints", "strings"],
)
def test_non_bool_tag_columns_are_errors(
    base: tuple[pd.DataFrame, dict[str, str]], values: np.ndarray, fix: str
) -> None:
    edited = base[0].copy()
    edited["tag.vip"] = values
    message = problems_of(edited, base)
    assert "column 'tag.vip': tag columns hold True/False only" in message
    assert fix in message


@pytest.mark.parametrize(
    ("cell", "what"),
    [
        ("vip", "cells that are not lists of strings"),
        (["vip", 3], "cells that are not lists of strings"),
        (None, "cells that are not lists of strings"),
    ],
)
def test_tags_cells_must_be_lists_of_strings(
    base: tuple[pd.DataFrame, dict[str, str]], cell: Any, what: str
) -> None:
    edited = base[0].copy()
    edited["tags"] = edited["tags"].astype(object)
    edited.at[3, "tags"] = cell
    message = problems_of(edited, base)
    assert f"column 'tags': {what} (customer 3)" in message
    assert "list of tag names" in message


def test_null_tags_cell_in_arrow_lists_is_an_error(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    lists = pa.array([["engage"], None, ["engage", "vip"], [], [None]], pa.list_(pa.string()))
    edited["tags"] = pd.arrays.ArrowExtensionArray(lists)
    message = problems_of(edited, base)
    assert "column 'tags': missing cells or missing tag names (use [] for no tags)" in message
    assert "customers 2, 5" in message


@pytest.mark.parametrize(
    ("column", "length"), [("tag.", 0), ("tag." + "x" * 256, 256)], ids=["empty", "long"]
)
def test_tag_names_must_be_1_to_255_characters(
    base: tuple[pd.DataFrame, dict[str, str]], column: str, length: int
) -> None:
    edited = base[0].copy()
    edited[column] = np.array([True, False, False, False, False])
    message = problems_of(edited, base)
    rule = validation.tag_problem(column.removeprefix("tag."))
    assert rule is not None
    assert rule.what in message
    assert "(customer 1)" in message


def test_tag_columns_without_a_tags_column_still_plan(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].drop(columns=["tags"])
    edited.loc[1, "tag.engage"] = False
    plan = plan_of(edited, base)
    assert plan.operations == (RemoveTags(*who(1), "engage"),)
    assert plan.skipped == ()


def test_dropped_tag_columns_with_no_tags_column_remove_nothing(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].drop(columns=["tags", "tag.vip"])
    plan = plan_of(edited, base)
    assert plan.is_empty
    (skip,) = plan.skipped
    assert (skip.column, skip.customer_ids) == ("tag.vip", (3, 5))
    assert "nothing is removed" in skip.reason


# --- custom attributes -----------------------------------------------------------------------------


def test_custom_add_update_remove_and_na_where_none_was(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited.loc[3, "custom.CAC"] = 7  # absent before: add
    edited.loc[2, "custom.CAC"] = 33  # update
    edited.loc[1, "custom.CAC"] = pd.NA  # remove
    edited.loc[4, "custom.CAC"] = pd.NA  # NA where none was: nothing
    assert plan_of(edited, base).operations == (
        RemoveCustom(*who(1), "CAC", "Integer", 213),
        UpdateCustom(*who(2), "CAC", "Integer", 32, 33),
        AddCustom(*who(3), "CAC", "Integer", 7),
    )


@pytest.mark.parametrize(
    ("column", "old", "new", "type_"),
    [
        ("custom.pro", True, False, "Boolean"),
        ("custom.salesRep", "Bob", "Zoë", "String"),
        (
            "custom.convertedAt",
            None,
            datetime(2020, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
            "Timestamp",
        ),
    ],
)
def test_each_type_is_written_typed(
    base: tuple[pd.DataFrame, dict[str, str]], column: str, old: Any, new: Any, type_: str
) -> None:
    customer = {"custom.pro": 2, "custom.salesRep": 3, "custom.convertedAt": 2}[column]
    edited = base[0].copy()
    edited.loc[customer, column] = new
    op = only(plan_of(edited, base))
    key = column.removeprefix("custom.")
    if old is None:
        assert op == AddCustom(*who(customer), key, type_, new)  # type: ignore[arg-type]
        value = op.value  # type: ignore[attr-defined]
    else:
        assert op == UpdateCustom(*who(customer), key, type_, old, new)  # type: ignore[arg-type]
        value = op.new  # type: ignore[attr-defined]
    assert type(value) is type(new)


def _column(values: list[Any], dtype: Any) -> Any:
    return pd.Series(values, index=pd.Index([1, 2, 3, 4, 5], name="id"), dtype=dtype)


INTEGER_COLUMNS = {
    "numpy int64": lambda: _column([1, 2, 3, 4, 2**62], "int64"),
    "numpy int32": lambda: _column([1, 2, 3, 4, 5], "int32"),
    "numpy uint64 small": lambda: _column([1, 2, 3, 4, 5], "uint64"),
    "Int64 with NA": lambda: _column([1, 2, 3, 4, None], "Int64"),
    "ArrowDtype int64": lambda: _column([1, 2, 3, 4, None], pd.ArrowDtype(pa.int64())),
    "ArrowDtype uint8": lambda: _column([1, 2, 3, 4, None], pd.ArrowDtype(pa.uint8())),
    "float with NaN": lambda: _column([1.0, 2.0, 3.0, 4.0, np.nan], "float64"),
    "Float64 masked": lambda: _column([1.0, 2.0, 3.0, 4.0, None], "Float64"),
    "object ints": lambda: _column([1, 2, np.int64(3), 4, None], object),
    "object ints and floats": lambda: _column([1, 2.0, 3, 4.0, np.nan], object),
}


@pytest.mark.parametrize("make", INTEGER_COLUMNS.values(), ids=INTEGER_COLUMNS.keys())
def test_integer_dtypes_users_produce_write_integers(
    base: tuple[pd.DataFrame, dict[str, str]], make: Any
) -> None:
    edited = base[0].copy()
    edited["custom.lead_score"] = make()
    plan = plan_of(edited, base)
    values = [op.value for op in plan]  # type: ignore[attr-defined]
    expected = [v for v in make().tolist() if not pd.isna(v)]
    assert values == [int(v) for v in expected]
    assert all(type(v) is int for v in values)
    assert {(op.kind, op.type) for op in plan} == {("AddCustom", "Integer")}  # type: ignore[attr-defined]


BOOLEAN_COLUMNS = {
    "numpy bool": lambda: _column([True, False, True, False, True], "bool"),
    "boolean with NA": lambda: _column([True, False, True, False, None], "boolean"),
    "ArrowDtype bool": lambda: _column([True, False, True, False, None], pd.ArrowDtype(pa.bool_())),
    "object bools with NaN": lambda: _column([True, False, np.True_, np.nan, None], object),
}


@pytest.mark.parametrize("make", BOOLEAN_COLUMNS.values(), ids=BOOLEAN_COLUMNS.keys())
def test_boolean_dtypes_users_produce_write_booleans(
    base: tuple[pd.DataFrame, dict[str, str]], make: Any
) -> None:
    edited = base[0].copy()
    edited["custom.churned"] = make()
    plan = plan_of(edited, base)
    expected = [bool(v) for v in make().tolist() if not pd.isna(v)]
    assert [op.value for op in plan] == expected  # type: ignore[attr-defined]
    assert all(type(op.value) is bool and op.type == "Boolean" for op in plan)  # type: ignore[attr-defined]


NOON = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)
TIMESTAMP_COLUMNS = {
    "datetime64[ns, UTC]": lambda: _column(
        [pd.Timestamp("2024-01-31 12:00", tz="UTC")] * 5, "datetime64[ns, UTC]"
    ),
    "datetime64[us, UTC]": lambda: _column([NOON] * 5, "datetime64[us, UTC]"),
    "other zone is converted": lambda: _column(
        [pd.Timestamp("2024-01-31 13:00", tz="Europe/Paris")] * 5, "datetime64[ns, Europe/Paris]"
    ),
    "ArrowDtype timestamp[ms, UTC]": lambda: _column(
        [NOON] * 5, pd.ArrowDtype(pa.timestamp("ms", tz="UTC"))
    ),
    "ArrowDtype date32 is midnight": lambda: _column(
        [date(2024, 1, 31)] * 5, pd.ArrowDtype(pa.date32())
    ),
    "object datetimes": lambda: _column(
        [
            NOON,
            pd.Timestamp(NOON),
            NOON.astimezone(timezone(timedelta(hours=5))),
            pd.Timestamp("2024-01-31 07:00", tz="America/New_York"),
            NOON,
        ],
        object,
    ),
}


@pytest.mark.parametrize("make", TIMESTAMP_COLUMNS.values(), ids=TIMESTAMP_COLUMNS.keys())
def test_timestamp_dtypes_users_produce_write_utc_timestamps(
    base: tuple[pd.DataFrame, dict[str, str]], make: Any
) -> None:
    edited = base[0].copy()
    edited["custom.seen"] = make()
    plan = plan_of(edited, base)
    values = [op.value for op in plan]  # type: ignore[attr-defined]
    assert len(values) == 5
    expected = datetime(2024, 1, 31, tzinfo=UTC) if "date32" in str(make()) else NOON
    assert all(v == expected and v.tzinfo is UTC for v in values)
    assert {op.type for op in plan} == {"Timestamp"}  # type: ignore[attr-defined]


STRING_COLUMNS = {
    "pandas str": lambda: _column(["a", "b", "c", "d", None], "str"),
    "string[python]": lambda: _column(["a", "b", "c", "d", None], "string[python]"),
    "string[pyarrow]": lambda: _column(["a", "b", "c", "d", None], "string[pyarrow]"),
    "ArrowDtype string": lambda: _column(["a", "b", "c", "d", None], pd.ArrowDtype(pa.string())),
    "ArrowDtype large_string": lambda: _column(
        ["a", "b", "c", "d", None], pd.ArrowDtype(pa.large_string())
    ),
    "object strings": lambda: _column(["a", "b", "c", "d", np.nan], object),
    "categorical": lambda: _column(["a", "b", "c", "d", None], "category"),
}


@pytest.mark.parametrize("make", STRING_COLUMNS.values(), ids=STRING_COLUMNS.keys())
def test_string_dtypes_users_produce_write_strings(
    base: tuple[pd.DataFrame, dict[str, str]], make: Any
) -> None:
    edited = base[0].copy()
    edited["custom.segment"] = make()
    plan = plan_of(edited, base)
    assert [op.value for op in plan] == ["a", "b", "c", "d"]  # type: ignore[attr-defined]
    assert {op.type for op in plan} == {"String"}  # type: ignore[attr-defined]


def test_integral_floats_into_an_integer_key_compare_exactly_as_ints(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited["custom.CAC"] = _column([213.0, 32.0, np.nan, np.nan, 2.0**60], "float64")
    assert plan_of(edited, base).operations == (AddCustom(*who(5), "CAC", "Integer", 2**60),)


def test_timestamps_in_another_zone_equal_to_the_baseline_are_no_change(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited["custom.convertedAt"] = edited["custom.convertedAt"].dt.tz_convert("Asia/Tokyo")
    assert plan_of(edited, base).is_empty


@pytest.mark.parametrize(
    ("column", "values", "says", "fix"),
    [
        (
            "custom.CAC",
            ["a", "b", None, None, None],
            "is Integer in the baseline but the column now holds String",
            "astype('int64[pyarrow]')",
        ),
        (
            "custom.salesRep",
            [1, 2, 3, 4, 5],
            "is String in the baseline but the column now holds Integer",
            "astype('string[pyarrow]')",
        ),
        (
            "custom.pro",
            [1, 0, None, None, None],
            "is Boolean in the baseline but the column now holds Integer",
            "astype('bool[pyarrow]')",
        ),
        (
            "custom.convertedAt",
            ["2024-01-01", None, None, None, None],
            "is Timestamp in the baseline but the column now holds String",
            "pd.to_datetime(",
        ),
    ],
)
def test_values_of_another_type_for_an_existing_key_are_errors(
    base: tuple[pd.DataFrame, dict[str, str]], column: str, values: list[Any], says: str, fix: str
) -> None:
    edited = base[0].copy()
    edited[column] = _column(values, None)
    message = problems_of(edited, base)
    assert f"column {column!r}: the key" in message
    assert says in message
    assert fix in message


BAD_CUSTOM = {
    "fractional floats": (
        _column([1.5, 2.0, 3.25, None, None], "float64"),
        "floats with a fractional part",
        "customers 1, 3",
        ".round().astype('int64[pyarrow]')",
    ),
    "infinity": (
        _column([np.inf, -np.inf, 1.0, None, None], "float64"),
        "infinite values",
        "customers 1, 2",
        "replace([np.inf, -np.inf], pd.NA)",
    ),
    "uint64 beyond int64": (
        _column([1, 2**63, 3, 4, 5], "uint64"),
        "integers beyond signed 64-bit",
        "customer 2",
        "keep values within",
    ),
    "python int beyond int64": (
        _column([1, 2, -(2**63) - 1, 4, 2**70], object),
        "integers beyond signed 64-bit",
        "customers 3, 5",
        "keep values within",
    ),
    "float beyond int64": (
        _column([2.0**63, 1.0, None, None, None], "float64"),
        "integers beyond signed 64-bit",
        "customer 1",
        "keep values within",
    ),
    "long strings": (
        _column(["x" * 256, "ok", "é" * 255, None, None], "str"),
        "strings longer than 255 characters",
        "customer 1)",
        ".str.slice(0, 255)",
    ),
    "mixed object column": (
        _column([1, "two", 3, True, None], object),
        "mixed value types in one column: bool for customer 4; int for customers 1, 3; str for customer 2",
        "",
        "astype('string[pyarrow]')",
    ),
    "lists in a custom column": (
        _column([[1], None, None, None, None], object),
        "values that are not int, bool, datetime or str (e.g. list)",
        "customer 1",
        "one scalar per cell",
    ),
    "nanoseconds": (
        _column(
            [pd.Timestamp("2024-01-01 00:00:00.000000001"), None, None, None, None],
            "datetime64[ns]",
        ),
        "timestamps with nanoseconds",
        "customer 1",
        ".dt.floor('us')",
    ),
    "object nanoseconds": (
        _column([pd.Timestamp("2024-01-01 00:00:00.000000001"), NOON, None, None, None], object),
        "timestamps with nanoseconds",
        "customer 1",
        ".dt.floor('us')",
    ),
    "timedeltas": (
        _column([pd.Timedelta(1), None, None, None, None], "timedelta64[ns]"),
        "values of Arrow type duration[ns] cannot be written as a custom attribute",
        "",
        "convert the column",
    ),
}


@pytest.mark.parametrize(
    ("values", "what", "where", "fix"), BAD_CUSTOM.values(), ids=BAD_CUSTOM.keys()
)
def test_bad_custom_values_are_errors_naming_column_customers_and_fix(
    base: tuple[pd.DataFrame, dict[str, str]], values: Any, what: str, where: str, fix: str
) -> None:
    edited = base[0].copy()
    edited["custom.new_key"] = values
    message = problems_of(edited, base)
    assert f"column 'custom.new_key': {what}" in message
    assert where in message
    assert "Fix: " in message
    assert fix in message


@pytest.mark.parametrize("key", ["lead-score", "lead score", "", "naïve"])
def test_custom_keys_must_be_alphanumeric_with_underscores(
    base: tuple[pd.DataFrame, dict[str, str]], key: str
) -> None:
    edited = base[0].copy()
    edited[f"custom.{key}"] = np.array([1, 2, 3, 4, 5])
    message = problems_of(edited, base)
    rule = validation.key_problem(key)
    assert rule is not None
    assert rule.what in message
    assert re.search(
        r"rename the column, e.g. `edited\['custom\.[A-Za-z0-9_]+'\] = edited\.pop", message
    )


def test_a_badly_named_key_without_values_is_no_problem(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited["custom.not-written"] = np.nan
    assert plan_of(edited, base).is_empty


def test_a_dropped_custom_column_removes_nothing(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].drop(columns=["custom.salesRep"])
    plan = plan_of(edited, base)
    assert plan.is_empty
    (skip,) = plan.skipped
    assert (skip.column, skip.customer_ids) == ("custom.salesRep", (1, 3))
    assert "set its values to pd.NA" in skip.reason


def test_custom_types_none_reads_types_from_the_baseline_dtypes(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited.loc[2, "custom.CAC"] = 40
    assert diff(edited, base[0]).operations == (UpdateCustom(*who(2), "CAC", "Integer", 32, 40),)
    edited["custom.CAC"] = "text"
    with pytest.raises(ValidationError, match="is Integer in the baseline"):
        diff(edited, base[0])


def test_custom_types_decide_for_keys_without_values(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited["custom.score"] = _column(["high", None, None, None, None], "str")
    # Unknown key: a new String attribute. Known as Integer (no customer has it): an error.
    assert only(plan_of(edited, base)) == AddCustom(*who(1), "score", "String", "high")
    with pytest.raises(ValidationError, match="'score' is Integer in the baseline"):
        diff(edited, base[0], custom_types={**base[1], "score": "Integer"})


def test_unknown_types_in_custom_types_are_errors(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    with pytest.raises(ValidationError, match="custom_types gives the type 'Float'"):
        diff(base[0].copy(), base[0], custom_types={"CAC": "Float"})


# --- read-only columns, rows and structure ---------------------------------------------------------


def test_edits_to_read_only_columns_are_skipped_with_the_reason(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited.loc[[2, 3], "name"] = "Renamed"
    edited.loc[1, "stripe.uid"] = 99
    edited.loc[4, "customer_since"] = pd.Timestamp("2020-01-01", tz="UTC")
    edited["churn_probability"] = [0.1, 0.5, np.nan, 0.2, 0.9]
    plan = plan_of(edited, base)
    assert plan.is_empty
    skipped = {s.column: s for s in plan.skipped}
    assert skipped["name"].customer_ids == (2, 3)
    assert "read-only column" in skipped["name"].reason
    assert skipped["stripe.uid"].customer_ids == (1,)
    assert skipped["customer_since"].customer_ids == (4,)
    assert skipped["churn_probability"].customer_ids == (1, 2, 4, 5)
    assert "name it custom.<key>" in skipped["churn_probability"].reason


def test_read_only_columns_in_another_dtype_with_equal_values_are_no_edit(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited["email"] = edited["email"].astype(object)
    edited["name"] = edited["name"].astype("str")
    edited["status"] = edited["status"].astype(object)
    assert plan_of(edited, base).skipped == ()


def test_added_and_dropped_rows_are_only_counted(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].drop(index=[4, 5])
    new_row = edited.loc[[1]].rename(index={1: 99})
    edited = pd.concat([new_row, edited])
    edited.loc[99, "tag.vip"] = True  # on the added row: not an operation
    edited.loc[3, "custom.CAC"] = 1
    plan = plan_of(edited, base)
    assert plan.operations == (AddCustom(*who(3), "CAC", "Integer", 1),)
    assert plan.ignored_rows == IgnoredRows(added=1, dropped=2)


def test_row_order_does_not_matter_operations_follow_the_baseline(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].iloc[::-1].copy()
    edited["tag.hot"] = True
    assert [op.customer_id for op in plan_of(edited, base)] == [1, 2, 3, 4, 5]


def test_bad_values_on_added_rows_are_ignored_with_the_rows(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = pd.concat([base[0], base[0].loc[[1]].rename(index={1: 99})])
    edited["custom.score"] = _column([1.0, 2.0, 3.0, 4.0, 5.0], "float64").reindex(edited.index)
    edited.loc[99, "custom.score"] = 0.5
    assert len(plan_of(edited, base)) == 5


def test_reset_index_is_an_error_that_says_set_index(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    message = problems_of(base[0].reset_index(), base)
    assert "the edited frame's index is not the integer customer id" not in message
    assert "the edited frame's index is named None, not 'id'" in message
    assert "`edited = edited.set_index('id')`" in message
    edited = base[0].reset_index()
    edited = edited.set_index("id")  # exactly the suggested fix
    assert plan_of(edited, base).is_empty


def test_reset_index_drop_true_says_how_to_get_the_ids_back_from_the_uuids(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    # The advice used to be set_index('id'), a KeyError here: drop=True threw the ids away.
    edited = base[0].reset_index(drop=True)
    message = problems_of(edited, base)
    assert "set_index('id')" not in message
    assert REALIGN in message
    df = base[0]  # the frame as loaded, as the advice calls it
    edited.index = pd.Index(edited["uuid"].map(pd.Series(df.index, index=df["uuid"])), name="id")
    assert plan_of(edited, base).is_empty


def test_a_non_integer_index_is_an_error(base: tuple[pd.DataFrame, dict[str, str]]) -> None:
    edited = base[0].set_index("email")
    message = problems_of(edited, base)
    assert "index is not the integer customer id (dtype" in message


def test_a_duplicated_index_is_an_error_naming_the_ids(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = pd.concat([base[0], base[0].loc[[2, 3]]])
    message = problems_of(edited, base)
    assert "index repeats customer ids (customers 2, 3)" in message
    assert "`edited = edited[~edited.index.duplicated()]`" in message


def test_duplicate_column_names_are_an_error(base: tuple[pd.DataFrame, dict[str, str]]) -> None:
    edited = pd.concat([base[0], base[0][["custom.CAC"]]], axis=1)
    message = problems_of(edited, base)
    assert "column 'custom.CAC': duplicate column names in the edited frame" in message
    assert "columns.duplicated()" in message


def test_multiindex_columns_are_an_error(base: tuple[pd.DataFrame, dict[str, str]]) -> None:
    edited = base[0].copy()
    edited.columns = pd.MultiIndex.from_tuples([(c, "") for c in edited.columns])
    assert "MultiIndex columns" in problems_of(edited, base)


def test_not_a_frame_is_an_error(base: tuple[pd.DataFrame, dict[str, str]]) -> None:
    with pytest.raises(ValidationError, match="edited must be a pandas DataFrame, got dict"):
        diff({"a": 1}, base[0])  # type: ignore[arg-type]


def test_all_problems_are_reported_together_with_at_most_ten_ids() -> None:
    many, types = customers_to_frame([wire(i) for i in range(1, 16)])
    edited = many.copy()
    edited["custom.ratio"] = np.linspace(0.5, 14.5, 15)
    edited["custom.bad key"] = 1
    edited.loc[3, "tag.x"] = True
    edited["tag.x"] = edited["tag.x"].astype(object)
    edited.loc[4, "tag.x"] = "yes"
    with pytest.raises(ValidationError) as info:
        diff(edited, many, custom_types=types)
    message = str(info.value)
    assert message.startswith("3 problems in the frame; nothing was planned:")
    assert "customers 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 5 more" in message
    assert "column 'custom.bad key'" in message
    assert "column 'tag.x'" in message


# --- provenance and email groups -------------------------------------------------------------------


def test_source_is_carried_and_must_be_json_safe(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    source = {"base_url": "http://127.0.0.1:1/v1/", "account_hash": "ab12", "snapshot_id": "s1"}
    assert diff(base[0], base[0], source=source).source == source
    with pytest.raises(ValidationError, match="source must be JSON-safe"):
        diff(base[0], base[0], source={"when": datetime.now(UTC)})


def test_customers_sharing_an_email_get_one_by_email_request_for_identical_adds(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited.loc[[4, 5], "tag.engage"] = True
    edited.loc[[4, 5], "custom.salesRep"] = "Ann"
    plan = plan_of(edited, base)
    assert plan.email_groups == {SHARED: (4, 5)}
    requests = plan.requests()
    assert [(r.path, r.customer_ids, r.body) for r in requests] == [
        ("customers/attributes/tags", (4, 5), {"email": SHARED, "tags": ["engage"]}),
        (
            "customers/attributes/custom",
            (4, 5),
            {"email": SHARED, "custom": [{"type": "String", "key": "salesRep", "value": "Ann"}]},
        ),
    ]
    assert plan.summary().requests == 2


def test_a_sharer_left_out_means_requests_per_customer(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited.loc[4, "tag.engage"] = True
    plan = plan_of(edited, base)
    (request,) = plan.requests()
    assert (request.path, request.by_email) == ("customers/4/attributes/tags", False)


def test_emails_differing_only_in_case_never_go_by_email() -> None:
    baseline, types = customers_to_frame(
        [wire(1, email="Ann@x.com"), wire(2, email="Ann@x.com"), wire(3, email="ann@x.com")]
    )
    edited = baseline.copy()
    edited["tag.hot"] = True
    plan = diff(edited, baseline, custom_types=types)
    assert plan.email_groups == {"Ann@x.com": (1, 2, 3), "ann@x.com": (1, 2, 3)}
    assert [r.customer_ids for r in plan.requests()] == [(1,), (2,), (3,)]


def test_the_reference_customer_through_the_users_path() -> None:
    import json
    from pathlib import Path

    body = json.loads(
        (Path(__file__).parents[1] / "data/reference/get_customers.response.json").read_text()
    )
    df, types = customers_to_frame(body["entries"])
    edited = df.copy()
    edited["custom.lead_score"] = np.array([91])
    edited.loc[edited["custom.lead_score"] > 80, "tag.hot"] = True
    edited.loc[:, "custom.salesRep"] = pd.NA
    edited["tags"] = edited["tags"].astype(object)
    edited.at[25647, "tags"] = ["engage", "unit loss", "discountable", "hot"]
    plan = diff(edited, df, custom_types=types)
    person = (25647, "cus_de305d54-75b4-431b-adb2-eb6b9e546012", "bob@examplecompany.com")
    assert plan.operations == (
        AddTags(*person, "hot"),
        AddCustom(*person, "lead_score", "Integer", 91),
        RemoveCustom(*person, "salesRep", "String", "Gabi"),
    )
    assert plan.skipped == ()


# --- identity: rows moved under other ids ----------------------------------------------------------


def test_rows_moved_under_other_ids_stop_the_plan_naming_ids_and_uuids(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    # Each row now carries the next customer's id: without the check, customers 2-5 would get
    # their neighbour's tags and custom attributes.
    edited = base[0].copy()
    edited.index = edited.index + 1
    message = problems_of(edited, base)
    assert "column 'uuid / email / external_id'" in message
    assert "rows moved under other customer ids" in message
    assert "the row with id 2 holds uuid 'cus_1' (customer 1)" in message
    assert "(customers 2, 3, 4, 5)" in message
    assert REALIGN in message


def test_the_realign_fix_puts_every_row_back_under_its_own_id(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited.loc[2, "custom.CAC"] = 99
    edited = edited.sample(frac=1, random_state=1)
    edited.index = pd.Index(edited.index.to_numpy()[::-1], name="id")  # ids scrambled
    with pytest.raises(ValidationError, match="rows moved under other customer ids"):
        plan_of(edited, base)
    df = base[0]
    edited.index = pd.Index(edited["uuid"].map(pd.Series(df.index, index=df["uuid"])), name="id")
    assert plan_of(edited, base).operations == (UpdateCustom(*who(2), "CAC", "Integer", 32, 99),)


@pytest.mark.parametrize(
    ("column", "value"),
    [("email", None), ("email", "new@example.com"), ("external_id", "X-9"), ("uuid", "cus_9")],
    ids=["email blanked", "email changed", "external_id changed", "uuid changed"],
)
def test_an_edited_identity_column_is_refused_not_skipped(
    base: tuple[pd.DataFrame, dict[str, str]], column: str, value: Any
) -> None:
    edited = base[0].copy()
    edited.loc[3, column] = value
    message = problems_of(edited, base)
    assert f"column {column!r}" in message
    assert "(customer 3)" in message
    assert "identity columns are read-only" in message
    if column == "uuid":
        assert REALIGN in message
    else:
        fix = f"`edited[{column!r}] = df[{column!r}]`"
        assert fix in message
        df = base[0]
        edited[column] = df[column]  # exactly the suggested fix
        assert plan_of(edited, base).is_empty


def test_missing_identity_values_on_both_sides_agree() -> None:
    customers = [{"id": 1, "uuid": "cus_1", "email": None}, {"id": 2, "uuid": "cus_2"}]
    baseline, types = customers_to_frame(customers)
    edited = baseline.copy()
    edited["email"] = edited["email"].astype(object)
    edited.loc[2, "tag.new"] = True
    edited["tag.new"] = edited["tag.new"].fillna(False)
    assert [op.customer_id for op in diff(edited, baseline, custom_types=types)] == [2]


def test_an_edited_frame_without_identity_columns_is_matched_by_id(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0][["custom.CAC"]].copy()
    edited.loc[2, "custom.CAC"] = 40
    assert plan_of(edited, base).operations == (UpdateCustom(*who(2), "CAC", "Integer", 32, 40),)


# --- names: prefix typos, whitespace, suggested renames --------------------------------------------


@pytest.mark.parametrize(
    ("column", "meant"),
    [
        ("Custom.score", "custom.score"),
        ("CUSTOM.score", "custom.score"),
        ("custom_score", "custom.score"),
        ("cusotm.score", "custom.score"),
        ("custm.score", "custom.score"),
        ("TAG.hot", "tag.hot"),
        ("Tag.hot", "tag.hot"),
        ("tags.hot", "tag.hot"),
        ("tag_hot", "tag.hot"),
        ("tga.hot", "tag.hot"),
    ],
)
def test_near_misses_of_the_writable_prefixes_are_errors_saying_what_was_meant(
    base: tuple[pd.DataFrame, dict[str, str]], column: str, meant: str
) -> None:
    edited = base[0].copy()
    edited[column] = np.array([True, False, False, False, False])
    message = problems_of(edited, base)
    assert f"column {column!r}: " in message
    assert f"did you mean `{meant}`?" in message
    fix = f"`edited[{meant!r}] = edited.pop({column!r})`"
    assert fix in message
    edited[meant] = edited.pop(column)  # exactly the suggested fix
    # A tag is added where True; a custom key gets both values as Booleans.
    assert len(plan_of(edited, base)) == (1 if meant.startswith("tag.") else 5)


@pytest.mark.parametrize("column", ["customer_score", "tax_rate", "notes", "stage.x", "tagline"])
def test_other_new_columns_are_still_skipped_not_refused(
    base: tuple[pd.DataFrame, dict[str, str]], column: str
) -> None:
    edited = base[0].copy()
    edited[column] = np.array([1, 2, 3, 4, 5])
    plan = plan_of(edited, base)
    assert plan.is_empty
    assert [s.column for s in plan.skipped] == [column]


@pytest.mark.parametrize("column", ["tag.hot ", "tag. hot", "tag.hot\n"])
def test_whitespace_around_a_tag_name_is_refused(
    base: tuple[pd.DataFrame, dict[str, str]], column: str
) -> None:
    edited = base[0].copy()
    edited[column] = np.array([True, False, False, False, False])
    message = problems_of(edited, base)
    assert f"column {column!r}: the tag name starts or ends with whitespace" in message
    assert "(customer 1)" in message
    assert f"`edited['tag.hot'] = edited.pop({column!r})`" in message
    edited["tag.hot"] = edited.pop(column)  # exactly the suggested fix
    assert plan_of(edited, base).operations == (AddTags(*who(1), "hot"),)


def test_whitespace_around_a_tag_in_the_tags_lists_is_refused(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    edited["tags"] = edited["tags"].astype(object)
    edited.at[2, "tags"] = [" hot"]
    message = problems_of(edited, base)
    assert "the tag name starts or ends with whitespace" in message
    fix = "`edited['tags'] = edited['tags'].map(lambda tags: [t.strip() for t in tags])`"
    assert fix in message
    edited["tags"] = edited["tags"].map(lambda tags: [t.strip() for t in tags])
    assert plan_of(edited, base).operations == (AddTags(*who(2), "hot"),)


@pytest.mark.parametrize("column", ["custom.CAC ", " custom.CAC", "custom.cac!", "custom.C-A-C"])
def test_a_bad_key_close_to_an_existing_column_suggests_that_column(
    base: tuple[pd.DataFrame, dict[str, str]], column: str
) -> None:
    edited = base[0].copy()
    edited[column] = _column([None, 40, None, None, None], "Int64")
    message = problems_of(edited, base)
    assert "did you mean `custom.CAC`?" in message
    assert "custom.CAC_" not in message
    edited["custom.CAC"] = edited.pop(column)  # exactly the suggested fix
    assert plan_of(edited, base).operations[1:] == (
        UpdateCustom(*who(2), "CAC", "Integer", 32, 40),
    )


# --- naive timestamps -------------------------------------------------------------------------------

NAIVE_COLUMNS = {
    "datetime64[ns]": (
        lambda: _column([pd.Timestamp("2024-01-31 12:00")] * 5, "datetime64[ns]"),
        "`edited['custom.seen'] = edited['custom.seen'].dt.tz_localize('UTC')`",
    ),
    "ArrowDtype timestamp[ms]": (
        lambda: _column([NOON.replace(tzinfo=None)] * 5, pd.ArrowDtype(pa.timestamp("ms"))),
        "`edited['custom.seen'] = edited['custom.seen'].dt.tz_localize('UTC')`",
    ),
    "object naive datetimes": (
        lambda: _column([NOON, NOON.replace(tzinfo=None), None, None, None], object),
        "`edited['custom.seen'] = pd.to_datetime(edited['custom.seen'], utc=True)`",
    ),
    "object numpy datetime64": (
        lambda: _column([np.datetime64("2024-01-31T12:00"), None, None, None, None], object),
        "`edited['custom.seen'] = pd.to_datetime(edited['custom.seen'], utc=True)`",
    ),
}


@pytest.mark.parametrize(("make", "fix"), NAIVE_COLUMNS.values(), ids=NAIVE_COLUMNS.keys())
def test_naive_timestamps_are_refused_with_a_fix_that_works(
    base: tuple[pd.DataFrame, dict[str, str]], make: Any, fix: str
) -> None:
    edited = base[0].copy()
    edited["custom.seen"] = make()
    message = problems_of(edited, base)
    assert "column 'custom.seen': timestamps without a time zone" in message
    assert fix in message
    exec(fix.strip("`"), {"pd": pd}, {"edited": edited})
    assert {(op.type, op.value) for op in plan_of(edited, base)} == {("Timestamp", NOON)}  # type: ignore[attr-defined]


def test_a_naive_copy_of_an_unedited_timestamp_column_writes_nothing(
    base: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    edited = base[0].copy()
    assert str(edited["custom.convertedAt"].dtype) == "timestamp[us, tz=UTC][pyarrow]"
    edited["custom.convertedAt"] = edited["custom.convertedAt"].dt.tz_localize(None)
    assert plan_of(edited, base).is_empty
    edited.loc[2, "custom.convertedAt"] = pd.Timestamp("2024-01-31 12:00")
    assert "(customer 2)" in problems_of(edited, base)


def test_dates_are_midnight_utc_not_naive(base: tuple[pd.DataFrame, dict[str, str]]) -> None:
    edited = base[0].copy()
    edited["custom.day"] = _column(
        [date(2024, 1, 31), np.datetime64("2024-01-31"), None, None, None], object
    )
    assert {op.value for op in plan_of(edited, base)} == {datetime(2024, 1, 31, tzinfo=UTC)}  # type: ignore[attr-defined]


# --- every fix an error suggests, applied exactly as written ----------------------------------------

_CODE = re.compile(r"`(edited[^`]*)`")


def _bad(**columns: Any) -> Any:
    def make(frame: pd.DataFrame) -> pd.DataFrame:
        edited = frame.copy()
        for name, values in columns.items():
            edited[name.replace("__", ".")] = values() if callable(values) else values
        return edited

    return make


def _rows_shifted(frame: pd.DataFrame) -> pd.DataFrame:
    edited = frame.copy()
    edited.index = edited.index + 1
    return edited


def _object_tags(cells: dict[int, Any]) -> Any:
    def make(frame: pd.DataFrame) -> pd.DataFrame:
        edited = frame.copy()
        edited["tags"] = edited["tags"].astype(object)
        for customer, cell in cells.items():
            edited.at[customer, "tags"] = cell
        return edited

    return make


FIXABLE: dict[str, Any] = {
    "duplicate columns": lambda f: pd.concat([f, f[["custom.CAC"]]], axis=1),
    "index reset": lambda f: f.reset_index(),
    "index reset, ids dropped": lambda f: f.reset_index(drop=True),
    "index renamed": lambda f: f.rename_axis("customer"),
    "index repeated": lambda f: pd.concat([f, f.loc[[2]]]),
    "rows moved": _rows_shifted,
    "email edited": lambda f: f.assign(email=f["email"].str.upper()),
    "Integer key holds text": _bad(
        custom__CAC=lambda: _column(["213", "40", None, None, None], "str")
    ),
    "String key holds ints": _bad(
        custom__salesRep=lambda: _column([1, None, 2, None, None], "Int64")
    ),
    "Boolean key holds ints": _bad(custom__pro=lambda: _column([0, 1, None, None, None], "Int64")),
    "Timestamp key holds text": _bad(
        custom__convertedAt=lambda: _column(["2024-01-31T12:00:00Z", None, None, None, None], "str")
    ),
    "beyond int64": _bad(custom__big=lambda: _column([1, 2**63, 3, 4, 5], "uint64")),
    "infinity": _bad(custom__ratio=lambda: _column([np.inf, 2.0, None, None, None], "float64")),
    "fractional floats": _bad(
        custom__ratio=lambda: _column([1.5, 2.0, None, None, None], "float64")
    ),
    "nanoseconds, aware": _bad(
        custom__at=lambda: _column(
            [pd.Timestamp("2024-01-01 00:00:00.000000001", tz="UTC")] * 5, "datetime64[ns, UTC]"
        )
    ),
    "nanoseconds, naive": _bad(
        custom__at=lambda: _column(
            [pd.Timestamp("2024-01-01 00:00:00.000000001")] * 5, "datetime64[ns]"
        )
    ),
    "object nanoseconds": _bad(
        custom__at=lambda: _column(
            [pd.Timestamp("2024-01-01 00:00:00.000000001"), NOON, None, None, None], object
        )
    ),
    "naive timestamps": _bad(
        custom__at=lambda: _column([pd.Timestamp("2024-01-01")] * 5, "datetime64[us]")
    ),
    "long strings": _bad(custom__note=lambda: _column(["x" * 300, None, None, None, None], "str")),
    "mixed object column": _bad(custom__mix=lambda: _column([1, "two", True, None, None], object)),
    "lone surrogate": _bad(
        custom__note=lambda: _column(["\ud800", None, None, None, None], object)
    ),
    "lone surrogate in tags lists": _object_tags({2: ["x\udfff"]}),
    "tags cell not a list": _object_tags({3: "vip"}),
    "tags cell missing": _object_tags({3: None}),
    "NA in a tag column": _bad(
        tag__vip=lambda: _column([True, None, False, None, True], "boolean")
    ),
    "tag column of ints": _bad(tag__vip=lambda: _column([1, 0, 1, 0, 1], "int64")),
    "tag column of yes/no": _bad(
        tag__vip=lambda: _column(["no", "yes", "yes", "no", "yes"], object)
    ),
    "tag column as text": _bad(
        tag__vip=lambda: _column(["True", "False", "True", "False", "True"], "str")
    ),
    "tag column as floats": _bad(tag__vip=lambda: _column([1.0, 0.0, 1.0, 0.0, 1.0], "float64")),
    "tag column categorical": _bad(
        tag__vip=lambda: _column([True, False, True, False, True], "bool").astype("category")
    ),
    "tag with whitespace": _bad(**{"tag.hot ": np.array([True, False, False, False, False])}),
    "tags list entry with whitespace": _object_tags({2: ["vip "]}),
    "bad custom key": _bad(**{"custom.lead score": np.array([1, 2, 3, 4, 5])}),
    "bad key near an existing one": _bad(
        **{"custom.CAC!": _column([1, None, None, None, None], "Int64")}
    ),
    "key too long": _bad(**{"custom." + "k" * 300: np.array([1, 2, 3, 4, 5])}),
    "prefix typo": _bad(**{"Custom.score": np.array([1, 2, 3, 4, 5])}),
    "prefix typo, tag": _bad(tags_hot=np.array([True, False, False, False, False])),
}


@pytest.mark.parametrize("make", FIXABLE.values(), ids=FIXABLE.keys())
def test_every_fix_an_error_suggests_makes_the_plan_succeed(
    base: tuple[pd.DataFrame, dict[str, str]], make: Any
) -> None:
    df = base[0]
    message = problems_of(make(df), base)
    fixes = _CODE.findall(message)
    assert fixes, message
    # Each suggested line, run as written on the frame that failed, must leave a frame that
    # plans. Alternatives joined by "or" are tried one by one, the others cumulatively.
    alternatives = [f for f in fixes if f"or `{f}`" in message]
    for alternative in alternatives or [None]:
        edited = make(df)
        names = {"edited": edited, "df": df, "pd": pd, "np": np}
        for code in fixes:
            if code in alternatives and code != alternative:
                continue
            exec(code, names)
        plan_of(names["edited"], base)
