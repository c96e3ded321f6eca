"""Property tests: random customers -> JSON pages -> frame gives back every value, typed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cm_frames import schema
from cm_frames.read.frames import PageDecoder, frame_to_table, table_to_frame

UTC = dt.UTC
KEY = st.text(alphabet="abcXYZ019_", min_size=1, max_size=6)
TAG = st.sampled_from(["a", "b", "unit loss", "ü-tag", "Prio1", "prio1", "x y z"])
INSTANT = st.datetimes(
    min_value=dt.datetime(1000, 1, 2), max_value=dt.datetime(9998, 12, 30), timezones=st.just(UTC)
)
OFFSET_MINUTES = st.integers(-(23 * 60 + 59), 23 * 60 + 59)
KINDS = ("Integer", "Boolean", "Timestamp", "String", "Mixed")


@st.composite
def timestamp_text(draw: st.DrawFn) -> tuple[str, dt.datetime]:
    """An ISO 8601 spelling of a random instant, in one of the forms the API may send."""
    instant = draw(INSTANT)
    form = draw(st.sampled_from(["Z", "offset", "naive", "space", "date"]))
    if form == "date":
        day = instant.replace(hour=0, minute=0, second=0, microsecond=0)
        return day.date().isoformat(), day
    if form == "offset":
        zone = dt.timezone(dt.timedelta(minutes=draw(OFFSET_MINUTES)))
        return instant.astimezone(zone).isoformat(), instant
    naive = instant.replace(tzinfo=None)
    if form == "Z":
        return naive.isoformat() + "Z", instant
    return naive.isoformat(sep=" " if form == "space" else "T"), instant


@st.composite
def custom_value(draw: st.DrawFn, kind: str) -> tuple[Any, Any]:
    """(JSON value, expected cell before the key's type is known)."""
    if kind == "Integer":
        value = draw(st.integers(schema.INT64_MIN, schema.INT64_MAX))
        return value, value
    if kind == "Boolean":
        value = draw(st.booleans())
        return value, value
    if kind == "Timestamp":
        return draw(timestamp_text())
    if kind == "String":
        value = "s" + draw(st.text(max_size=12))  # never ISO 8601: starts with a letter
        return value, value
    value = draw(
        st.one_of(
            # up to unsigned 64 bits (beyond signed: exact text); orjson, like the API's
            # Integer, stops there (larger JSON integers would arrive as floats)
            st.integers(schema.INT64_MIN, 2**64 - 1),
            st.booleans(),
            st.text(max_size=8).map(lambda s: "s" + s),
            st.floats(allow_nan=False, allow_infinity=False),
        )
    )
    return value, value


@st.composite
def accounts(
    draw: st.DrawFn,
) -> tuple[list[dict[str, Any]], dict[str, str], dict[int, dict[str, Any]]]:
    """Customers, the kind each custom key was drawn from, expected values by id."""
    kinds = draw(st.dictionaries(KEY, st.sampled_from(KINDS), max_size=5))
    ids = draw(st.lists(st.integers(1, 2**62), unique=True, max_size=25))
    customers = []
    expected: dict[int, dict[str, Any]] = {}
    for cid in ids:
        custom = {}
        cells = {}
        for key, kind in kinds.items():
            if draw(st.booleans()):
                custom[key], cells[key] = draw(custom_value(kind))
        tags = draw(st.lists(TAG, max_size=4))
        customers.append(
            {
                "id": cid,
                "uuid": f"cus_{cid}",
                "email": draw(st.sampled_from(["a@x.com", "b@x.com", None])),
                "customer-since": "2020-02-03T04:05:06+01:00",
                "status": draw(st.sampled_from(["Active", "Lead", "Past Due"])),
                "attributes": {"custom": custom, "tags": tags, "stripe": {}, "clearbit": {}},
            }
        )
        expected[cid] = {"custom": cells, "tags": tags}
    return customers, kinds, expected


def expected_type(values: list[Any]) -> str:
    """The inference rule, restated independently of the implementation."""
    kinds = {type(v) for v in values}
    if kinds == {int} and all(schema.INT64_MIN <= v <= schema.INT64_MAX for v in values):
        return "Integer"
    if kinds == {bool}:
        return "Boolean"
    if kinds == {dt.datetime}:
        return "Timestamp"
    return "String"


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    account=accounts(),
    page_size=st.integers(1, 7),
    batch_rows=st.integers(1, 10),
    pretty=st.booleans(),
)
def test_random_customers_round_trip_typed(
    account: tuple[list[dict[str, Any]], dict[str, str], dict[int, dict[str, Any]]],
    page_size: int,
    batch_rows: int,
    pretty: bool,
) -> None:
    customers, _kinds, expected = account
    decoder = PageDecoder(batch_rows=batch_rows)
    option = orjson.OPT_INDENT_2 if pretty else 0
    for start in range(0, max(len(customers), 1), page_size):
        chunk = customers[start : start + page_size]
        body = orjson.dumps({"entries": chunk, "has_more": True}, option=option)
        assert decoder.add_page(body) == len(chunk)
    decoded = decoder.finish()
    df = decoded.to_frame()

    assert df.index.tolist() == [c["id"] for c in customers]
    assert df.index.dtype == "int64"
    assert all(isinstance(d, pd.ArrowDtype) for d in df.dtypes)
    assert list(df.columns) == schema.sort_columns(df.columns)

    # custom attributes: the inferred type, then each value typed or as JSON text
    seen: dict[str, list[Any]] = {}
    for cells in expected.values():
        for key, cell in cells["custom"].items():
            seen.setdefault(key, []).append(cell)
    types = {key: expected_type(cells) for key, cells in seen.items()}
    assert decoded.custom_types == dict(sorted(types.items()))
    assert sorted(c for c in df.columns if c.startswith("custom.")) == sorted(
        f"custom.{k}" for k in seen
    )
    for cid, cells in expected.items():
        for key, kind in types.items():
            cell = df.at[cid, f"custom.{key}"]
            if key not in cells["custom"]:
                assert cell is pd.NA
                continue
            want = cells["custom"][key]
            if kind == "String":
                # a Timestamp-looking key that is String overall keeps its original text
                original = next(c for c in customers if c["id"] == cid)["attributes"]["custom"][key]
                want = as_text(original)
            assert cell == want, (cid, key, cell, want)
            assert type(cell) is not float or kind == "String"

    # tags: one never-null bool column per tag seen
    all_tags = sorted({t for cells in expected.values() for t in cells["tags"]})
    assert [c for c in df.columns if c.startswith("tag.")] == [f"tag.{t}" for t in all_tags]
    for cid, cells in expected.items():
        assert list(df.at[cid, "tags"]) == cells["tags"]
        for tag in all_tags:
            assert df.at[cid, f"tag.{tag}"] == (tag in cells["tags"])

    # frame -> table -> frame is lossless
    assert table_to_frame(frame_to_table(df)).equals(df)


# --- Stripe/Clearbit sections: both conversion paths against a pure-Python reference ----------

SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(schema.INT64_MIN, 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
)
SECTION_KEY = st.sampled_from(["a", "b", "c", "d"])
SECTION = st.dictionaries(
    SECTION_KEY, st.one_of(SCALAR, st.dictionaries(SECTION_KEY, SCALAR, max_size=3)), max_size=4
)


def reference_columns(dicts: list[dict[str, Any] | None], prefix: str = "") -> dict[str, list[Any]]:
    """What frames.md says a nested section becomes, value by value."""
    keys = sorted({k for d in dicts if d for k in d})
    columns: dict[str, list[Any]] = {}
    for key in keys:
        cells = [d.get(key) if d else None for d in dicts]
        kinds = {type(v) for v in cells if v is not None}
        # an int beyond signed 64 bits is kept exactly, as text, never as a lossy double
        big = any(type(v) is int and not schema.INT64_MIN <= v <= schema.INT64_MAX for v in cells)
        # ... and among doubles, an int a double cannot hold exactly is text too
        inexact = any(type(v) is int and abs(v) > 2**53 for v in cells)
        if kinds == {dict}:
            columns.update(reference_columns(cells, f"{prefix}{key}."))
        elif kinds in ({int}, {bool}, {str}, set()) and not big:
            columns[prefix + key] = cells
        elif kinds in ({float}, {int, float}) and not inexact:
            columns[prefix + key] = [None if v is None else float(v) for v in cells]
        else:
            columns[prefix + key] = [None if v is None else as_text(v) for v in cells]
    return columns


@settings(max_examples=150, deadline=None)
@given(dicts=st.lists(SECTION, max_size=8))
def test_nested_sections_match_the_rules_on_both_paths(dicts: list[dict[str, Any]]) -> None:
    import numpy as np

    from cm_frames.read.decoder import _flatten_dicts, decode_section

    expected = reference_columns(list(dicts))
    chosen = decode_section(dicts, nested=True).columns  # struct fast path when it applies
    general: dict[str, Any] = {}
    _flatten_dicts(dicts, np.arange(len(dicts)), len(dicts), "", True, general, set())
    for columns in (chosen, general):
        assert sorted(columns) == sorted(expected)
        for name, cells in expected.items():
            assert columns[name].to_pylist() == cells, name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(account=accounts(), page_size=st.integers(1, 5), pages_per_part=st.integers(1, 3))
def test_streamed_dataset_equals_the_in_memory_frame(
    account: tuple[list[dict[str, Any]], dict[str, str], dict[int, dict[str, Any]]],
    page_size: int,
    pages_per_part: int,
) -> None:
    import tempfile

    from cm_frames.read.frames import ParquetStreamWriter, read_parquet

    customers = account[0]
    bodies = [
        orjson.dumps({"entries": customers[i : i + page_size]})
        for i in range(0, len(customers), page_size)
    ]
    decoder = PageDecoder()
    for body in bodies:
        decoder.add_page(body)
    expected = decoder.finish().to_frame()
    with tempfile.TemporaryDirectory() as directory:
        with ParquetStreamWriter(directory, pages_per_part=pages_per_part) as writer:
            for body in bodies:
                writer.add_page(body)
        got = read_parquet(directory)
    assert got.equals(expected)
    assert list(got.dtypes) == list(expected.dtypes)
    # read_parquet adds the dataset's provenance (its path, its export id) for plan()
    kept = expected.attrs["chartmogul"]["custom_types"]
    assert got.attrs["chartmogul"]["custom_types"] == kept
