"""frames.py: the reference examples and every decoding trap of perf-notes, value by value."""

from __future__ import annotations

import datetime as dt
import gc
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from customer_frames import customers_to_frame

from cm_frames import schema
from cm_frames.errors import ChartMogulError
from cm_frames.read.decoder import _flatten_dicts, decode_section
from cm_frames.read.frames import PageDecoder, frame_to_table, table_to_frame
from cm_frames.read.table import ATTRS_KEY

REFERENCE = Path(__file__).parents[1] / "data" / "reference"
UTC = dt.UTC
NA = pd.NA


def reference(name: str) -> bytes:
    return (REFERENCE / f"{name}.response.json").read_bytes()


def decode(*bodies: bytes | str, batch_rows: int = 1000) -> tuple[pd.DataFrame, dict[str, str]]:
    decoder = PageDecoder(batch_rows=batch_rows)
    for body in bodies:
        decoder.add_page(body)
    decoded = decoder.finish()
    return decoded.to_frame(), dict(decoded.custom_types)


def page(*customers: dict[str, Any], pretty: bool = False) -> bytes:
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps({"entries": list(customers), "has_more": False}, option=option)


def customer(cid: int, **attributes: Any) -> dict[str, Any]:
    """A minimal customer with the given attribute sections (custom=..., tags=...)."""
    return {
        "id": cid,
        "uuid": f"cus_{cid}",
        "external_id": str(cid),
        "email": f"c{cid}@example.com",
        "name": f"Customer {cid}",
        "customer-since": "2020-01-01T00:00:00Z",
        "status": "Active",
        "attributes": {"tags": [], "custom": {}, "stripe": {}, "clearbit": {}, **attributes},
    }


def values(df: pd.DataFrame, column: str) -> list[Any]:
    return [None if v is NA else v for v in df[column].tolist()]


# --- the reference examples -----------------------------------------------------------------

EXAMPLE_COLUMNS = [
    *schema.BASE_COLUMNS,
    "tag.discountable",
    "tag.engage",
    "tag.unit loss",
    "custom.CAC",
    "custom.convertedAt",
    "custom.pro",
    "custom.salesRep",
    "custom.utmCampaign",
    "stripe.coupon",
    "stripe.uid",
    "clearbit.category.industry",
    "clearbit.category.industryGroup",
    "clearbit.category.sector",
    "clearbit.category.subIndustry",
    "clearbit.domain",
    "clearbit.id",
    "clearbit.legalName",
    "clearbit.metrics.alexaGlobalRank",
    "clearbit.metrics.employees",
    "clearbit.metrics.googleRank",
    "clearbit.metrics.marketCap",
    "clearbit.metrics.raised",
    "clearbit.name",
    "clearbit.url",
]

EXAMPLE_ROW: dict[str, Any] = {
    "uuid": "cus_de305d54-75b4-431b-adb2-eb6b9e546012",
    "external_id": "34916129",
    "email": "bob@examplecompany.com",
    "name": "Example Company",
    "address.address_line1": "First line of address",
    "address.address_line2": "Second line of address",
    "address.address_zip": "0185128",
    "address.city": "Nowhereville",
    "address.country": "US",
    "address.state": "Alaska",
    "customer_since": pd.Timestamp("2015-06-09 17:16:00", tz="UTC"),
    "status": "Active",
    "tags": ["engage", "unit loss", "discountable"],
    "tag.discountable": True,
    "tag.engage": True,
    "tag.unit loss": True,
    "custom.CAC": 213,
    "custom.convertedAt": pd.Timestamp("2015-09-08 00:00:00", tz="UTC"),
    "custom.pro": False,
    "custom.salesRep": "Gabi",
    "custom.utmCampaign": "social media 1",
    "stripe.coupon": True,
    "stripe.uid": 7,
    "clearbit.category.industry": "Software",
    "clearbit.category.industryGroup": "Software and Services",
    "clearbit.category.sector": "Information Technology",
    "clearbit.category.subIndustry": "Application Software",
    "clearbit.domain": "acme.com",
    "clearbit.id": "027b0d40-016c-40ea-8925-a076fa640992",
    "clearbit.legalName": "Acme Inc.",
    "clearbit.metrics.alexaGlobalRank": 2319,
    "clearbit.metrics.employees": 1000,
    "clearbit.metrics.googleRank": 7,
    "clearbit.metrics.marketCap": None,
    "clearbit.metrics.raised": 1502450000,
    "clearbit.name": "Acme",
    "clearbit.url": "http://acme.com",
}

EXAMPLE_DTYPES = {
    **dict.fromkeys(EXAMPLE_COLUMNS, schema.STRING),
    "customer_since": schema.TIMESTAMP,
    "status": schema.STATUS,
    "tags": schema.TAGS,
    "tag.discountable": schema.BOOL,
    "tag.engage": schema.BOOL,
    "tag.unit loss": schema.BOOL,
    "custom.CAC": schema.INT64,
    "custom.convertedAt": schema.TIMESTAMP,
    "custom.pro": schema.BOOL,
    "stripe.coupon": schema.BOOL,
    "stripe.uid": schema.INT64,
    "clearbit.metrics.alexaGlobalRank": schema.INT64,
    "clearbit.metrics.employees": schema.INT64,
    "clearbit.metrics.googleRank": schema.INT64,
    "clearbit.metrics.raised": schema.INT64,
    # null everywhere -> the string dtype (stripe/clearbit keep Arrow's type otherwise)
    "clearbit.metrics.marketCap": schema.STRING,
}

EXAMPLE_TYPES = {
    "CAC": "Integer",
    "convertedAt": "Timestamp",
    "pro": "Boolean",
    "salesRep": "String",
    "utmCampaign": "String",
}


def check_example_frame(df: pd.DataFrame, custom_types: dict[str, str]) -> None:
    assert list(df.columns) == EXAMPLE_COLUMNS
    assert df.index.name == "id"
    assert df.index.dtype == np.dtype("int64")
    assert df.index.tolist() == [25647]
    assert dict(df.dtypes) == EXAMPLE_DTYPES
    row = {column: (None if v is NA else v) for column, v in df.iloc[0].items()}
    row["tags"] = list(row["tags"])
    assert row == EXAMPLE_ROW
    assert custom_types == EXAMPLE_TYPES
    assert df.attrs[ATTRS_KEY]["custom_types"] == EXAMPLE_TYPES


@pytest.mark.parametrize("name", ["get_customers", "search_customers"])
def test_reference_pages(name: str) -> None:
    df, custom_types = decode(reference(name))
    check_example_frame(df, custom_types)


def test_reference_single_customer() -> None:
    body = json.loads(reference("get_customer"))
    df, custom_types = customers_to_frame([body])
    check_example_frame(df, custom_types)


def test_reference_compact_and_pretty_bodies_agree() -> None:
    pretty = reference("get_customers")
    compact = orjson.dumps(orjson.loads(pretty))
    assert b"\n" in pretty
    assert b"\n" not in compact
    assert decode(pretty)[0].equals(decode(compact)[0])


def test_reference_add_tags_by_email() -> None:
    df, custom_types = decode(reference("add_tags_by_email"))
    assert df.index.tolist() == [25647, 13456]  # as the API returns them
    assert list(df.columns) == [
        *schema.BASE_COLUMNS,
        "tag.Prio1",  # sorted by code point: upper case first
        "tag.important",
        "custom.CAC",
        "stripe.coupon",
        "clearbit.name",
    ]
    for column in schema.ADDRESS_COLUMNS:  # no address in this response
        assert values(df, column) == [None, None]
        assert df[column].dtype == schema.STRING
    assert values(df, "customer_since") == [
        pd.Timestamp("2015-06-09 17:16", tz="UTC"),
        pd.Timestamp("2015-06-10 17:16", tz="UTC"),
    ]
    assert values(df, "name") == ["Smith Company", "Adam"]
    assert [list(t) for t in df["tags"]] == [["important", "Prio1"], ["important", "Prio1"]]
    assert values(df, "tag.Prio1") == [True, True]
    assert values(df, "custom.CAC") == [213, 32]
    assert values(df, "stripe.coupon") == [True, False]
    assert values(df, "clearbit.name") == ["Acme", "Umbrella Corp"]
    assert custom_types == {"CAC": "Integer"}


# --- the traps ------------------------------------------------------------------------------


def test_mixed_custom_types_within_a_page_become_strings_of_json_text() -> None:
    df, types = decode(
        page(
            customer(1, custom={"code": 123, "flag": True, "score": 1}),
            customer(2, custom={"code": "A-12", "flag": 1, "score": 2.5}),
            customer(3, custom={"code": None}),
        )
    )
    assert types == {"code": "String", "flag": "String", "score": "String"}
    assert values(df, "custom.code") == ["123", "A-12", None]
    assert values(df, "custom.flag") == ["true", "1", None]
    assert values(df, "custom.score") == ["1", "2.5", None]
    assert df["custom.code"].dtype == schema.STRING


def test_mixed_custom_types_across_pages_and_batches() -> None:
    pages = [
        page(customer(1, custom={"code": 7, "when": "2015-09-08T10:00:00Z"})),
        page(customer(2, custom={"code": 8, "when": "2015-09-09"})),
        page(customer(3, custom={"code": "A-12", "when": "later"})),
    ]
    df, types = decode(*pages, batch_rows=1)
    assert types == {"code": "String", "when": "String"}
    assert values(df, "custom.code") == ["7", "8", "A-12"]
    # a key that is not Timestamp everywhere keeps its original text, not a re-rendering
    assert values(df, "custom.when") == ["2015-09-08T10:00:00Z", "2015-09-09", "later"]


def test_compacting_every_page_gives_the_same_frame() -> None:
    """Columns compact their per-page pieces every ``compact_rows`` (10,000 by default, so
    small tests never reach it); forcing it on every page must change nothing."""
    pages = [
        page(
            customer(1, custom={"code": 7, "when": "2015-09-08T10:00:00Z"}, tags=["a"]),
            customer(2, custom={"flag": True}, stripe={"uid": 1}),
        ),
        page(),
        page(customer(3, custom={"code": "A-12", "flag": 0}, clearbit={"metrics": {"x": 5}})),
        page(customer(4, custom={"when": "2015-09-09"}, stripe={"uid": "u-4"}, tags=["b", "a"])),
    ]
    expected = PageDecoder(batch_rows=1000)
    compacted = PageDecoder(batch_rows=1, compact_rows=1)
    for body in pages:
        expected.add_page(body)
        compacted.add_page(body)
    left, right = expected.finish(), compacted.finish()
    assert right.table.equals(left.table)
    assert (
        right.custom_types
        == left.custom_types
        == {
            "code": "String",
            "flag": "String",
            "when": "Timestamp",
        }
    )


def test_bool_first_then_int_is_not_coerced() -> None:
    df, types = decode(page(customer(1, custom={"k": True}), customer(2, custom={"k": 0})))
    assert types == {"k": "String"}
    assert values(df, "custom.k") == ["true", "0"]


def test_key_missing_in_row_zero_is_kept() -> None:
    df, types = decode(
        page(
            customer(1),
            customer(2, custom={"late": 5}, stripe={"plan": "gold"}, clearbit={"name": "X"}),
        )
    )
    assert values(df, "custom.late") == [None, 5]
    assert values(df, "stripe.plan") == [None, "gold"]
    assert values(df, "clearbit.name") == [None, "X"]
    assert types == {"late": "Integer"}


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_empty_pages_anywhere(where: str) -> None:
    empty = page()
    bodies = [page(customer(1, custom={"a": 1})), page(customer(2, tags=["x"]))]
    position = {"first": 0, "middle": 1, "last": 2}[where]
    bodies.insert(position, empty)
    df, types = decode(*bodies)
    assert df.index.tolist() == [1, 2]
    assert values(df, "tag.x") == [False, True]
    assert types == {"a": "Integer"}


def test_only_empty_pages_give_an_empty_frame_with_the_fixed_columns() -> None:
    decoder = PageDecoder()
    assert decoder.add_page(page()) == 0
    assert decoder.add_page(b'{"entries": []}') == 0
    decoded = decoder.finish()
    df = decoded.to_frame()
    assert decoded.count == 0
    assert list(df.columns) == list(schema.BASE_COLUMNS)
    assert df.index.dtype == np.dtype("int64")
    assert df["customer_since"].dtype == schema.TIMESTAMP
    assert df["status"].dtype == schema.STATUS
    assert decoded.custom_types == {}


def test_time_zone_offsets_become_utc_instants() -> None:
    rows = []
    for cid, since in enumerate(
        [
            "2019-03-04T10:00:00-04:00",
            "2019-03-04T10:00:00+05:30",
            "2019-03-04T10:00:00Z",
            "2019-03-04T10:00:00.25+00:00",
        ],
        start=1,
    ):
        row = customer(cid, custom={"at": since})
        row["customer-since"] = since
        rows.append(row)
    df, types = decode(page(*rows))
    expected = [
        pd.Timestamp("2019-03-04 14:00", tz="UTC"),
        pd.Timestamp("2019-03-04 04:30", tz="UTC"),
        pd.Timestamp("2019-03-04 10:00", tz="UTC"),
        pd.Timestamp("2019-03-04 10:00:00.25", tz="UTC"),
    ]
    assert values(df, "customer_since") == expected
    assert values(df, "custom.at") == expected
    assert types == {"at": "Timestamp"}
    assert df["customer_since"].dtype == schema.TIMESTAMP


def test_naive_and_date_only_custom_timestamps_are_utc() -> None:
    df, types = decode(
        page(customer(1, custom={"d": "2015-09-08"}), customer(2, custom={"d": "2015-09-08 06:30"}))
    )
    assert types == {"d": "Timestamp"}
    assert values(df, "custom.d") == [
        pd.Timestamp("2015-09-08", tz="UTC"),
        pd.Timestamp("2015-09-08 06:30", tz="UTC"),
    ]


def test_pretty_printed_page_with_newlines_inside() -> None:
    rows = [customer(1, tags=["a b"], custom={"x": "line1"}), customer(2, custom={"x": 2})]
    compact, pretty = page(*rows), page(*rows, pretty=True)
    assert pretty.count(b"\n") > 10
    assert decode(pretty)[0].equals(decode(compact)[0])
    assert decode(pretty.decode())[0].equals(decode(compact)[0])  # str bodies too


def test_customer_without_attributes_or_address() -> None:
    bare = {"id": 9, "uuid": "cus_9", "customer-since": "2020-01-01T00:00:00Z"}
    null_attributes = {**bare, "id": 10, "attributes": None}
    df, types = decode(page(bare, null_attributes, customer(11, tags=["vip"], custom={"k": 1})))
    assert df.index.tolist() == [9, 10, 11]
    assert [list(t) for t in df["tags"]] == [[], [], ["vip"]]
    assert values(df, "tag.vip") == [False, False, True]
    assert values(df, "custom.k") == [None, None, 1]
    assert values(df, "email") == [None, None, "c11@example.com"]
    assert values(df, "status") == [None, None, "Active"]
    assert types == {"k": "Integer"}


def test_unicode_everywhere() -> None:
    row = customer(1, tags=["ü-tag", "日本", "emoji 🎉"], custom={"note": "naïve 🎉"})
    row["name"] = "Zoë & Søn 株式会社"
    row["attributes"]["clearbit"] = {"legalName": "Ünïcode GmbH", "metrics": {"employees": 3}}
    df, _ = decode(page(row))
    assert values(df, "name") == ["Zoë & Søn 株式会社"]
    assert values(df, "custom.note") == ["naïve 🎉"]
    assert [c for c in df.columns if c.startswith("tag.")] == [
        "tag.emoji 🎉",
        "tag.ü-tag",
        "tag.日本",
    ]
    assert values(df, "clearbit.legalName") == ["Ünïcode GmbH"]


def test_tags_to_bool_columns_never_null_and_no_empty_column() -> None:
    df, _ = decode(
        page(
            customer(1, tags=["b", "a", "b"]),
            customer(2, tags=[]),
            customer(3, tags=["", "c"]),
            customer(4, tags=None),
        )
    )
    assert [c for c in df.columns if c.startswith("tag.")] == ["tag.a", "tag.b", "tag.c"]
    assert "tag." not in df.columns
    assert values(df, "tag.a") == [True, False, False, False]
    assert values(df, "tag.b") == [True, False, False, False]
    assert values(df, "tag.c") == [False, False, True, False]
    assert all(df[c].isna().sum() == 0 for c in ["tag.a", "tag.b", "tag.c"])
    assert [list(t) for t in df["tags"]] == [["b", "a", "b"], [], ["", "c"], []]


def test_big_integers_are_exact_or_exact_text() -> None:
    df, types = decode(
        page(
            customer(1, custom={"big": 2**63 - 1, "bigger": 2**63, "small": -(2**63)}),
            customer(2, custom={"big": 1, "bigger": 5}, stripe={"huge": 2**64 - 1}),
        )
    )
    assert types == {"big": "Integer", "bigger": "String", "small": "Integer"}
    assert values(df, "custom.big") == [2**63 - 1, 1]
    assert values(df, "custom.bigger") == [str(2**63), "5"]
    assert values(df, "custom.small") == [-(2**63), None]
    assert values(df, "stripe.huge") == [None, str(2**64 - 1)]


def test_stripe_and_clearbit_keep_natural_types_and_mixes_become_text() -> None:
    df, _ = decode(
        page(
            customer(
                1,
                stripe={
                    "n": 1,
                    "f": 1.5,
                    "mix": 1,
                    "list": ["a", 1],
                    "nul": None,
                    "utm.source": "g",
                },
                clearbit={"metrics": {"employees": 10, "marketCap": None}, "site": {"x": True}},
            ),
            customer(
                2,
                stripe={"n": 2, "f": 2, "mix": "two", "list": [], "nul": None},
                clearbit={"metrics": None, "site": {"x": False}},
            ),
        )
    )
    assert df["stripe.n"].dtype == schema.INT64
    assert df["stripe.f"].dtype == schema.DOUBLE  # JSON numbers: ints with floats -> double
    assert values(df, "stripe.f") == [1.5, 2.0]
    assert values(df, "stripe.mix") == ["1", "two"]
    assert values(df, "stripe.list") == ['["a",1]', "[]"]
    assert df["stripe.nul"].dtype == schema.STRING
    assert values(df, "stripe.nul") == [None, None]
    # a key with a dot is kept as it is (indistinguishable from nesting after flattening)
    assert values(df, "stripe.utm.source") == ["g", None]
    assert values(df, "clearbit.metrics.employees") == [10, None]
    assert values(df, "clearbit.metrics.marketCap") == [None, None]
    assert values(df, "clearbit.site.x") == [True, False]


def test_dotted_key_colliding_with_nesting_keeps_both_values() -> None:
    df, _ = decode(
        page(
            customer(1, stripe={"utm.source": "g", "utm": {"source": None}}),
            customer(2, stripe={"utm": {"source": "h"}}),
            customer(3, stripe={"utm.source": 7, "utm": {"source": "i"}}),
        )
    )
    # first non-null wins; mixed types as text: nothing is dropped silently
    assert values(df, "stripe.utm.source") == ["g", "h", "7"]


def test_nested_object_mixed_with_scalar_becomes_text() -> None:
    df, _ = decode(
        page(customer(1, clearbit={"geo": {"lat": 1.5}}), customer(2, clearbit={"geo": "unknown"}))
    )
    assert values(df, "clearbit.geo") == ['{"lat":1.5}', "unknown"]
    assert "clearbit.geo.lat" not in df.columns


def test_a_bool_after_a_float_is_not_coerced_to_one() -> None:
    # pa.array([1.5, True]) infers double and gives [1.5, 1.0]: the decoder must not
    df, _ = decode(
        page(
            customer(1, stripe={"v": 1.5}, clearbit={"m": {"x": 2.5}}),
            customer(2, stripe={"v": True}, clearbit={"m": {"x": True}}),
        )
    )
    assert values(df, "stripe.v") == ["1.5", "true"]
    assert values(df, "clearbit.m.x") == ["2.5", "true"]


def test_floats_across_pages_render_like_json() -> None:
    df, _ = decode(
        page(customer(1, stripe={"v": 0.1})), page(customer(2, stripe={"v": "x"})), batch_rows=1
    )
    assert values(df, "stripe.v") == ["0.1", "x"]


def test_struct_fast_path_and_general_path_agree() -> None:
    dicts = [
        {"a": 1, "b": {"c": "x", "d": None}, "e": 1.5, "f": None},
        {"a": None, "b": None, "e": 2},
        {},
        {"a": 3, "b": {"c": "y", "d": True}, "g": "late"},
    ]
    fast = decode_section(dicts, nested=True)
    general: dict[str, pa.Array] = {}
    text: set[str] = set()
    _flatten_dicts(dicts, np.arange(len(dicts)), len(dicts), "", True, general, text)
    assert sorted(fast.columns) == sorted(general) == ["a", "b.c", "b.d", "e", "f", "g"]
    for name, array in fast.columns.items():
        assert array.equals(general[name]), name
    assert text == set()


def test_duplicate_ids_and_order_are_kept_as_the_api_sends_them() -> None:
    df, _ = decode(page(customer(5), customer(3)), page(customer(9), customer(1)))
    assert df.index.tolist() == [5, 3, 9, 1]


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 1000])
def test_batch_size_does_not_change_the_frame(batch_rows: int) -> None:
    from cm_frames.emulator.generator import generate_customers

    customers = generate_customers(120, seed=3)
    bodies = [page(*customers[i : i + 25]) for i in range(0, 120, 25)]
    reference_frame, reference_types = decode(*bodies, batch_rows=10_000)
    df, types = decode(*bodies, batch_rows=batch_rows)
    assert df.equals(reference_frame)
    assert types == reference_types
    assert list(df.dtypes) == list(reference_frame.dtypes)


def test_emulator_customers_decode_to_the_documented_dtypes() -> None:
    from cm_frames.emulator.generator import generate_customers

    customers = generate_customers(400, seed=11)
    df, types = decode(*(page(*customers[i : i + 200]) for i in (0, 200)))
    assert len(df) == 400
    assert df.index.tolist() == [c["id"] for c in customers]
    assert all(isinstance(d, pd.ArrowDtype) for d in df.dtypes)
    assert not any(pa.types.is_large_string(d.pyarrow_dtype) for d in df.dtypes)
    assert list(df.columns) == schema.sort_columns(df.columns)
    for key, kind in types.items():
        arrow = df[f"custom.{key}"].dtype.pyarrow_dtype
        expected = {"Integer": pa.int64(), "Boolean": pa.bool_(), "String": pa.string()}
        assert arrow == expected.get(kind, pa.timestamp("us", tz="UTC"))
    # spot-check one customer against its JSON
    first = customers[0]
    for key, value in first["attributes"]["custom"].items():
        cell = df.at[first["id"], f"custom.{key}"]
        if types[key] == "Timestamp":
            assert cell == pd.Timestamp(value)
        elif types[key] == "String":
            assert cell == (value if isinstance(value, str) else orjson.dumps(value).decode())
        else:
            assert cell == value


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "page 1 body is not valid JSON"),
        (b'{"customers": []}', 'no "entries" list'),
        (b"[1, 2]", 'no "entries" list'),
        (b'{"entries": [{"uuid": "cus_1"}]}', "has no integer id"),
        (b'{"entries": [{"id": "25647"}]}', "field 'id' = '25647'"),
        (b'{"entries": [{"id": 25647.5}]}', "has no integer id (entry 0)"),
        (
            b'{"entries": [{"id": 1, "email": 5}]}',
            "Customer 1 (entry 0 of the page 1) has field 'email'",
        ),
        (
            b'{"entries": [{"id": 1, "attributes": {"custom": [1]}}]}',
            "attributes.custom is not a JSON object",
        ),
        (b'{"entries": [7]}', "Entry 0 of the page 1 is int"),
    ],
)
def test_malformed_pages_name_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(ChartMogulError) as raised:
        decode(body)
    assert message in str(raised.value)


def test_bad_customer_since_names_the_customer() -> None:
    row = customer(77)
    row["customer-since"] = "last tuesday"
    decoder = PageDecoder()
    decoder.add_page(page(customer(1), row))
    with pytest.raises(ChartMogulError, match=r"Customer 77 has customer-since 'last tuesday'"):
        decoder.finish()


def test_gc_state_is_restored() -> None:
    assert gc.isenabled()
    decoder = PageDecoder()
    decoder.add_page(page(customer(1)))
    assert gc.isenabled()
    gc.disable()
    try:
        decoder.add_page(page(customer(2)))
        decoder.finish()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_decoder_counts_and_resets_after_finish() -> None:
    decoder = PageDecoder()
    assert decoder.add_page(page(customer(1), customer(2))) == 2
    assert decoder.add_page(page()) == 0
    assert (decoder.count, decoder.pages) == (2, 2)
    assert decoder.finish().count == 2
    assert decoder.finish().count == 0


# --- table <-> frame ------------------------------------------------------------------------


def example_frame() -> pd.DataFrame:
    from cm_frames.emulator.generator import generate_customers

    df, _ = decode(page(*generate_customers(150, seed=5)), reference("add_tags_by_email"))
    return df


def test_frame_table_frame_round_trip_is_lossless() -> None:
    df = example_frame()
    df.attrs[ATTRS_KEY] = {"custom_types": {"CAC": "Integer"}, "base_url": "http://x/v1/"}
    table = frame_to_table(df)
    assert table.column_names[0] == "id"
    assert table.column_names[1:] == list(df.columns)
    assert b"pandas" not in (table.schema.metadata or {})
    back = table_to_frame(table)
    assert back.equals(df)
    assert list(back.dtypes) == list(df.dtypes)
    assert back.index.dtype == np.dtype("int64")
    assert back.attrs == df.attrs


def test_round_trip_through_a_parquet_file() -> None:
    df = example_frame()
    sink = io.BytesIO()
    pq.write_table(frame_to_table(df), sink)
    table = pq.read_table(io.BytesIO(sink.getvalue()))
    assert table.schema.field("tags").type.value_field.name == "element"  # Parquet's naming
    back = table_to_frame(table)
    assert back["tags"].dtype.pyarrow_dtype.value_field.name == "item"
    assert back.equals(df)
    assert list(back.dtypes) == list(df.dtypes)


def test_status_dictionary_is_canonical() -> None:
    df = example_frame()
    dictionary = df["status"].array._pa_array.chunk(0).dictionary.to_pylist()
    assert dictionary == sorted(dictionary)
    shuffled = frame_to_table(df.iloc[::-1])
    back = table_to_frame(shuffled)
    assert back["status"].array._pa_array.chunk(0).dictionary.to_pylist() == dictionary


def test_table_to_frame_normalises_other_string_types() -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2]),
            "name": pa.array(["a", None], pa.large_string()),
            "tags": pa.array([["x"], []], pa.large_list(pa.large_string())),
        }
    )
    df = table_to_frame(table)
    assert df["name"].dtype == schema.STRING
    assert df["tags"].dtype == schema.TAGS


def test_frame_to_table_accepts_user_added_numpy_columns() -> None:
    df = example_frame()
    df["tag.hot"] = np.zeros(len(df), dtype=bool)
    table = frame_to_table(df)
    assert table.schema.field("tag.hot").type == pa.bool_()


def test_table_and_frame_errors() -> None:
    with pytest.raises(ChartMogulError, match="no 'id' column"):
        table_to_frame(pa.table({"uuid": ["a"]}))
    with pytest.raises(ChartMogulError, match="null values"):
        table_to_frame(pa.table({"id": pa.array([1, None])}))
    with pytest.raises(ChartMogulError, match=r"cm\.read_customers\(client\)"):
        frame_to_table(pd.DataFrame({"a": [1]}))
    with pytest.raises(ChartMogulError, match=r"set_index\('id'\)"):
        frame_to_table(pd.DataFrame({"id": [1], "uuid": ["cus_1"]}))


@pytest.mark.parametrize("big", [2**53 + 1, -(2**53) - 1, 2**63 - 1])
def test_whole_numbers_beyond_2_53_on_one_page_and_decimals_on_another_stay_exact(big: int) -> None:
    # A double cannot hold such an int: the column is String (JSON text), as within one page,
    # instead of ArrowInvalid in finish() (or a rounded value).
    pages = (
        page(customer(1, stripe={"n": big, "ok": 2}), customer(2, clearbit={"m": {"x": 7}})),
        page(customer(3, stripe={"n": 0.5, "ok": 0.5}), customer(4, clearbit={"m": {"x": 0.25}})),
    )
    for batch_rows in (1, 1000):
        df, _ = decode(*pages, batch_rows=batch_rows)
        assert df["stripe.n"].dtype == schema.STRING
        assert values(df, "stripe.n") == [str(big), None, "0.5", None]
        assert df["stripe.ok"].dtype == schema.DOUBLE  # within 2**53 ints and doubles mix
        assert values(df, "stripe.ok") == [2.0, None, 0.5, None]
        assert values(df, "clearbit.m.x") == [None, 7.0, None, 0.25]
    same_page, _ = decode(page(*(orjson.loads(p)["entries"][0] for p in pages)))
    assert values(same_page, "stripe.n") == [str(big), "0.5"]  # what one page always gave


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([213, None, 32], "Integer"),
        ([schema.INT64_MIN, schema.INT64_MAX], "Integer"),
        ([schema.INT64_MAX + 1], "String"),  # beyond the API's Integer
        ([True, False, None], "Boolean"),
        (["2015-09-08 00:00:00", "2015-06-09T13:16:00-04:00"], "Timestamp"),
        (["Gabi", "social media 1"], "String"),
        ([123, "A-12"], "String"),
        ([True, 1], "String"),  # a bool is not an int here
        ([1, True], "String"),
        ([1.5], "String"),
        ([1, 2.0], "String"),
        (["2015-09-08", "soon"], "String"),
        ([], None),  # no customer holds the key: no column, no type
        ([None], "String"),
    ],
)
def test_custom_type_of_a_key(values: list[object], expected: str | None) -> None:
    """The type the read path gives one custom key from its JSON values across customers."""
    entries: list[dict[str, Any]] = [
        {"id": i, "uuid": f"cus_{i}", "attributes": {"custom": {"k": value}}}
        for i, value in enumerate(values, start=1)
    ] or [{"id": 1, "uuid": "cus_1", "attributes": {"custom": {}}}]
    _, types = customers_to_frame(entries)
    assert types.get("k") == expected
