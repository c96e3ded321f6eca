"""schema.py: names, canonical dtypes, ISO 8601 parsing and custom attribute type inference."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cm_frames import schema
from cm_frames.schema import (
    BASE_COLUMNS,
    CUSTOM_TYPES,
    INT64_MAX,
    INT64_MIN,
    column_group,
    custom_column,
    custom_type_for_dtype,
    is_custom_key,
    parse_timestamps,
    sort_columns,
    tag_column,
)

UTC = dt.UTC


def test_base_columns_in_frame_order() -> None:
    assert BASE_COLUMNS == (
        "uuid",
        "external_id",
        "email",
        "name",
        "address.address_line1",
        "address.address_line2",
        "address.address_zip",
        "address.city",
        "address.country",
        "address.state",
        "customer_since",
        "status",
        "tags",
    )


def test_one_string_dtype_which_is_arrow_string_not_pandas_str() -> None:
    assert pd.ArrowDtype(pa.string()) == schema.STRING
    assert pd.StringDtype("pyarrow") != schema.STRING  # "string[pyarrow]" is not ours
    assert schema.STRING.pyarrow_dtype != pa.large_string()
    assert schema.TIMESTAMP.pyarrow_dtype == pa.timestamp("us", tz="UTC")
    assert schema.STATUS.pyarrow_dtype == pa.dictionary(pa.int32(), pa.string())
    assert schema.TAGS.pyarrow_dtype == pa.list_(pa.string())


def test_base_arrow_schema_starts_with_id() -> None:
    arrow_schema = schema.base_arrow_schema()
    assert arrow_schema.names == ["id", *BASE_COLUMNS]
    assert arrow_schema.field("id").type == pa.int64()
    assert arrow_schema.field("customer_since").type == pa.timestamp("us", tz="UTC")


def test_custom_types_and_limits() -> None:
    assert set(CUSTOM_TYPES) == {"String", "Integer", "Timestamp", "Boolean"}
    assert (schema.MAX_KEY_LENGTH, schema.MAX_TAG_LENGTH, schema.MAX_STRING_LENGTH) == (255,) * 3
    assert (INT64_MIN, INT64_MAX) == (-(2**63), 2**63 - 1)


def test_each_custom_type_has_the_arrow_type_of_its_canonical_dtype() -> None:
    canonical = {"String": schema.STRING, "Integer": schema.INT64, "Boolean": schema.BOOL}
    canonical["Timestamp"] = schema.TIMESTAMP
    assert tuple(schema.CUSTOM_ARROW_TYPES) == CUSTOM_TYPES
    for type_, dtype in canonical.items():
        assert schema.CUSTOM_ARROW_TYPES[type_] == dtype.pyarrow_dtype
        assert custom_type_for_dtype(dtype) == type_


@pytest.mark.parametrize(
    ("key", "ok"),
    [("CAC", True), ("lead_score_2", True), ("utm.source", False), ("", False), ("ä", False)],
)
def test_custom_key_pattern(key: str, ok: bool) -> None:
    assert is_custom_key(key) is ok


def test_column_helpers_and_order() -> None:
    assert tag_column("unit loss") == "tag.unit loss"
    assert custom_column("CAC") == "custom.CAC"
    assert column_group("tag.x") == "tag."
    assert column_group("clearbit.metrics.employees") == "clearbit."
    assert column_group("address.city") is None
    shuffled = [
        "clearbit.name",
        "custom.b",
        "tags",
        "tag.z",
        "stripe.uid",
        "uuid",
        "custom.a",
        "tag.a",
        "mine",
        "status",
    ]
    assert sort_columns(shuffled) == [
        "uuid",
        "status",
        "tags",
        "tag.a",
        "tag.z",
        "custom.a",
        "custom.b",
        "stripe.uid",
        "clearbit.name",
        "mine",
    ]


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2015-06-09T13:16:00-04:00", dt.datetime(2015, 6, 9, 17, 16, tzinfo=UTC)),
        ("2015-06-09T13:16:00Z", dt.datetime(2015, 6, 9, 13, 16, tzinfo=UTC)),
        ("2015-09-08 00:00:00", dt.datetime(2015, 9, 8, tzinfo=UTC)),  # naive = UTC
        ("2015-09-08", dt.datetime(2015, 9, 8, tzinfo=UTC)),
        ("2015-09-08T01:02", dt.datetime(2015, 9, 8, 1, 2, tzinfo=UTC)),
        ("2015-09-08T01:02:03.5+05:30", dt.datetime(2015, 9, 7, 19, 32, 3, 500000, tzinfo=UTC)),
        ("2015-09-08T00:00:00+0530", dt.datetime(2015, 9, 7, 18, 30, tzinfo=UTC)),
        ("2015-09-08T00:00:00-07", dt.datetime(2015, 9, 8, 7, tzinfo=UTC)),
        ("2015-09-08T00:00:00.123456Z", dt.datetime(2015, 9, 8, 0, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_parse_timestamps_gives_the_utc_instant(text: str, instant: dt.datetime) -> None:
    parsed = parse_timestamps(pa.array([text, None], pa.string()))
    assert parsed is not None
    assert parsed.type == pa.timestamp("us", tz="UTC")
    assert parsed.to_pylist() == [instant, None]


@pytest.mark.parametrize(
    "text",
    [
        "A-12",
        "2015-02-30",  # the pattern matches, the calendar does not
        "2015-09-08T24:00:00Z",
        "20150908T000000Z",  # basic format: not supported
        "2015-09-08T00:00:00.1234567Z",  # below microseconds would be rounded
        "2015-09-08t00:00:00Z",
        "2015-09-08T00:00:00+05:61",
        "٢٠١٥-09-08",  # non-ASCII digits
        "",
    ],
)
def test_parse_timestamps_rejects_anything_else(text: str) -> None:
    assert parse_timestamps(pa.array(["2015-09-08", text], pa.string())) is None


def test_parse_timestamps_mixed_forms_in_one_column() -> None:
    parsed = parse_timestamps(
        pa.array(["2015-09-08", "2015-09-08T10:00:00+02:00", "2015-09-08 08:00"])
    )
    assert parsed is not None
    assert parsed.to_pylist() == [
        dt.datetime(2015, 9, 8, tzinfo=UTC),
        dt.datetime(2015, 9, 8, 8, tzinfo=UTC),
        dt.datetime(2015, 9, 8, 8, tzinfo=UTC),
    ]


def test_parse_timestamps_all_null() -> None:
    parsed = parse_timestamps(pa.array([None, None], pa.string()))
    assert parsed is not None
    assert parsed.null_count == 2


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (schema.INT64, "Integer"),
        (schema.BOOL, "Boolean"),
        (schema.TIMESTAMP, "Timestamp"),
        (schema.STRING, "String"),
        (schema.STATUS, "String"),
        (schema.DOUBLE, None),
        (schema.TAGS, None),
        (np.dtype("int64"), "Integer"),
        (np.dtype("uint8"), "Integer"),
        (np.dtype("bool"), "Boolean"),
        (np.dtype("float64"), None),
        (np.dtype("datetime64[ns]"), "Timestamp"),
        (np.dtype("O"), None),
        (pd.Int64Dtype(), "Integer"),
        (pd.BooleanDtype(), "Boolean"),
        (pd.StringDtype(), "String"),
        (pd.DatetimeTZDtype(tz="UTC"), "Timestamp"),
        (pd.CategoricalDtype(["a", "b"]), "String"),
    ],
)
def test_custom_type_for_dtype(dtype: object, expected: str | None) -> None:
    assert custom_type_for_dtype(dtype) == expected  # type: ignore[arg-type]


def test_custom_type_for_pandas_default_str_dtype() -> None:
    assert custom_type_for_dtype(pd.Series(["a"]).dtype) == "String"
