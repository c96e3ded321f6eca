"""Today's customer fields as frame columns: mrr, currency, lead dates, links, location, ids.

Unit tests from hand-made customer objects (through the page decoder, no HTTP), then one load
over real HTTP from the emulator of today's dialect.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest
from customer_frames import customers_to_frame
from hypothesis import given, settings
from hypothesis import strategies as st

import cm_frames as cm
from cm_frames import schema
from cm_frames.emulator import Emulator
from cm_frames.errors import ChartMogulError
from cm_frames.read.frames import PageDecoder

NA = pd.NA


def today(cid: int, **fields: Any) -> dict[str, Any]:
    """A customer as today's API lists it (the emulator's example object, abridged)."""
    customer: dict[str, Any] = {
        "id": cid,
        "uuid": f"cus_{cid}",
        "external_id": f"x{cid}",
        "name": "Ollivander Systems",
        "email": f"c{cid}@example.com",
        "status": "Active",
        "customer-since": "2016-01-21T23:27:03+00:00",
        "attributes": {"custom": {}, "clearbit": {}, "stripe": {}, "tags": ["vip"]},
        "data_source_uuid": "ds_1",
        "data_source_uuids": ["ds_1"],
        "external_ids": [f"x{cid}"],
        "company": "Ollivander Systems",
        "country": "US",
        "state": "WA",
        "city": "San Francisco",
        "zip": "80822",
        "lead_created_at": "2016-01-05T15:31:54.000Z",
        "free_trial_started_at": None,
        "address": {
            "country": "United States",
            "state": "Washington",
            "city": "San Francisco",
            "address_zip": "80822",
        },
        "mrr": 158977,
        "arr": 1907724,
        "billing-system-url": "https://dashboard.stripe.com/customers/x",
        "chartmogul-url": f"https://app.chartmogul.com/#/customers/{cid}-Ollivander_Systems",
        "billing-system-type": "Stripe",
        "currency": "USD",
        "currency-sign": "$",
        "owner": None,
    }
    customer.update(fields)
    return customer


def values(df: pd.DataFrame, column: str) -> list[Any]:
    return [None if v is NA else v for v in df[column].tolist()]


def test_todays_fields_become_typed_columns_in_frame_order() -> None:
    df, _ = customers_to_frame([today(1), today(2, website_url="https://ollivander.com")])
    expected_types = schema.current_arrow_types()
    present = [c for c in schema.CURRENT_COLUMNS if c in df.columns]
    assert present == list(schema.CURRENT_COLUMNS)  # website_url: one customer carried it
    for column in schema.CURRENT_COLUMNS:
        assert df[column].dtype == pd.ArrowDtype(expected_types[column]), column
    assert list(df.columns) == [
        *schema.BASE_COLUMNS,
        *schema.CURRENT_COLUMNS,
        "tag.vip",
    ]
    assert list(df.columns) == schema.sort_columns(df.columns)
    row = df.loc[1]
    assert row["mrr"] == 158977  # cents, as the API gives them
    assert row["arr"] == 1907724
    assert (row["currency"], row["currency_sign"]) == ("USD", "$")
    assert row["lead_created_at"] == pd.Timestamp("2016-01-05 15:31:54", tz="UTC")
    assert row["free_trial_started_at"] is NA
    assert row["billing_system_type"] == "Stripe"
    assert row["chartmogul_url"].endswith("1-Ollivander_Systems")
    assert list(row["external_ids"]) == ["x1"]
    assert list(row["data_source_uuids"]) == ["ds_1"]
    # location twice, never confused: codes at the top level, names in the address
    assert (row["country"], row["state"], row["zip"]) == ("US", "WA", "80822")
    assert (row["address.country"], row["address.state"]) == ("United States", "Washington")
    assert values(df, "website_url") == [None, "https://ollivander.com"]


def test_leads_have_no_customer_since_and_emails_may_be_empty() -> None:
    lead = today(
        3,
        status="New Lead",
        email="",
        mrr=0,
        arr=0,
        free_trial_started_at="2016-02-01T00:00:00.000Z",
        **{"customer-since": None},
    )
    df, _ = customers_to_frame([today(1), lead])
    assert values(df, "customer_since") == [pd.Timestamp("2016-01-21 23:27:03", tz="UTC"), None]
    assert df["customer_since"].dtype == schema.TIMESTAMP
    assert values(df, "email") == ["c1@example.com", ""]
    assert values(df, "mrr") == [158977, 0]
    assert values(df, "free_trial_started_at") == [None, pd.Timestamp("2016-02-01", tz="UTC")]
    assert df["status"].dtype == schema.STATUS
    assert df["status"].array._pa_array.chunk(0).dictionary.to_pylist() == ["Active", "New Lead"]


def test_the_reference_dialect_frame_has_none_of_todays_columns() -> None:
    reference = {k: v for k, v in today(1).items() if k in schema.CURRENT_FIELDS}
    df, _ = customers_to_frame([{k: v for k, v in today(1).items() if k not in reference}])
    assert list(df.columns) == [*schema.BASE_COLUMNS, "tag.vip"]


def test_a_field_on_a_later_page_only_is_null_before() -> None:
    plain = {k: v for k, v in today(1).items() if k not in ("mrr", "owner")}
    decoder = PageDecoder()
    decoder.add_entries([plain])
    decoder.add_entries([today(2, owner="gabi@example.com")])
    df = decoder.finish().to_frame()
    assert values(df, "mrr") == [None, 158977]
    assert df["mrr"].dtype == schema.INT64
    assert values(df, "owner") == [None, "gabi@example.com"]


def test_a_field_null_everywhere_is_still_a_column_of_its_type() -> None:
    df, _ = customers_to_frame([today(1), today(2)])
    assert df["free_trial_started_at"].dtype == schema.TIMESTAMP
    assert df["free_trial_started_at"].isna().all()
    assert df["owner"].dtype == schema.STRING


def test_undocumented_top_level_fields_are_kept_as_columns() -> None:
    df, _ = customers_to_frame(
        [
            today(1, **{"health-score": 5, "plan": {"tier": "gold"}, "tiers": ["a"], "x": True}),
            today(2, **{"health-score": 2.5, "note": "hi", "x": 1, "customer_since": "dup"}),
            today(3),
        ]
    )
    # named after the field (dashes -> underscores), after every known group
    assert list(df.columns)[-6:] == [
        "customer_since_",  # not the customer-since column
        "health_score",
        "note",
        "plan",
        "tiers",
        "x",
    ]
    assert df["health_score"].dtype == schema.DOUBLE  # as Arrow infers the JSON numbers
    assert values(df, "health_score") == [5.0, 2.5, None]
    assert values(df, "note") == [None, "hi", None]
    assert values(df, "plan") == ['{"tier":"gold"}', None, None]  # nested: JSON text
    assert values(df, "tiers") == ['["a"]', None, None]
    assert values(df, "x") == ["true", "1", None]  # a bool and an int: text, not coerced
    assert values(df, "customer_since_") == [None, "dup", None]


@pytest.mark.parametrize(
    ("field", "column"),
    [
        ("health-score", "health_score"),
        ("tag.vip", "tag_vip"),  # not a tag column
        ("custom.seats", "custom_seats"),
        ("address.city", "address_city"),
        ("tags", "tags_"),  # not the tags list
        ("customer_since", "customer_since_"),  # not the customer-since column
        ("currency-sign", "currency_sign"),  # today's field
    ],
)
def test_a_top_level_field_never_takes_another_columns_name(field: str, column: str) -> None:
    assert schema.field_column(field) == column
    assert schema.field_column("health_score", taken=["health_score"]) == "health_score_"


def test_undocumented_fields_named_like_frame_columns_do_not_clobber_them() -> None:
    df, _ = customers_to_frame([today(1, **{"tag.vip": "no", "tags": 5})])
    assert df["tag.vip"].tolist() == [True]  # from attributes.tags
    assert df["tag_vip"].tolist() == ["no"]
    assert list(df["tags"].iloc[0]) == ["vip"]
    assert df["tags_"].tolist() == [5]


def test_undocumented_fields_typed_across_pages() -> None:
    decoder = PageDecoder()
    decoder.add_entries([today(1, seats=3)])
    decoder.add_entries([today(2, seats="many")])
    decoder.add_entries([today(3, level=2)])
    df = decoder.finish().to_frame()
    assert values(df, "seats") == ["3", "many", None]
    assert df["level"].dtype == schema.INT64
    assert values(df, "level") == [None, None, 2]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mrr", 8008.5, "'mrr' = 8008.5, which is not an integer (cents)"),
        ("mrr", "8008", "'mrr' = '8008'"),
        ("arr", True, "'arr' = True, which is not a int64"),
        ("external_ids", "x1", "'external_ids' = 'x1', which is not a list"),
        ("currency", 5, "field 'currency' = 5"),
    ],
)
def test_a_field_of_the_wrong_json_type_names_the_customer(
    field: str, value: Any, message: str
) -> None:
    with pytest.raises(ChartMogulError) as raised:
        customers_to_frame([today(1), today(7, **{field: value})])
    assert message in str(raised.value)
    assert "Customer 7" in str(raised.value)


def test_a_bad_lead_date_names_the_customer_and_field() -> None:
    with pytest.raises(ChartMogulError, match="Customer 4 has lead_created_at 'soon'"):
        customers_to_frame([today(1), today(4, lead_created_at="soon")])


def test_the_frame_round_trips_through_arrow_and_the_batch_size_does_not_matter() -> None:
    from cm_frames.emulator.generator import generate_current_customers
    from cm_frames.read.frames import frame_to_table, table_to_frame

    customers = generate_current_customers(150, seed=3)
    bodies = [
        orjson.dumps({"entries": customers[i : i + 40], "has_more": True})
        for i in range(0, 150, 40)
    ]
    frames = []
    for batch_rows, compact_rows in ((1, 1), (1000, 10_000)):
        decoder = PageDecoder(batch_rows=batch_rows, compact_rows=compact_rows)
        for body in bodies:
            decoder.add_page(body)
        frames.append(decoder.finish().to_frame())
    assert frames[0].equals(frames[1])
    back = table_to_frame(frame_to_table(frames[0]))
    assert back.equals(frames[0])
    assert list(back.dtypes) == list(frames[0].dtypes)


def test_a_load_from_todays_emulator_over_http(current_emulator: Emulator) -> None:
    with cm.Client(
        api_key=current_emulator.api_key, base_url=current_emulator.url, rate_limit=None
    ) as client:
        df = cm.read_customers(client, progress=False)
        warm = cm.read_customers(client, progress=False)  # from the snapshot
    assert warm.equals(df)
    assert list(warm.dtypes) == list(df.dtypes)
    stored = {c["id"]: c for c in current_emulator_customers(current_emulator)}
    assert len(df) == len(stored)
    for column in schema.CURRENT_COLUMNS:
        if column != "website_url":  # only GET /customers/{uuid} carries it
            assert column in df.columns, column
    assert "website_url" not in df.columns
    assert df["mrr"].dtype == schema.INT64
    assert df["lead_created_at"].dtype == schema.TIMESTAMP
    leads = df["status"].astype(str).str.endswith("Lead")
    assert leads.any()
    assert df.loc[leads, "customer_since"].isna().all()
    assert (df.loc[leads, "mrr"] == 0).all()
    for cid in df.index[:25]:
        wire = stored[cid]
        assert df.at[cid, "mrr"] == wire["mrr"]
        assert df.at[cid, "currency_sign"] == wire["currency-sign"]
        assert df.at[cid, "billing_system_type"] == wire["billing-system-type"]
        assert list(df.at[cid, "external_ids"]) == wire["external_ids"]
        assert df.at[cid, "lead_created_at"] == pd.Timestamp(wire["lead_created_at"])
    assert not np.any([c.startswith("currency-") for c in df.columns])
    assert pa.types.is_dictionary(df["status"].dtype.pyarrow_dtype)


def current_emulator_customers(emulator: Emulator) -> list[dict[str, Any]]:
    """Every customer as today's emulator lists it (cursor pages over HTTP)."""
    import requests

    entries: list[dict[str, Any]] = []
    params: dict[str, Any] = {"per_page": 200}
    with requests.Session() as session:
        session.auth = (emulator.api_key, "")
        while True:
            body = session.get(emulator.url + "customers", params=params, timeout=30).json()
            entries.extend(body["entries"])
            if not body["has_more"]:
                return entries
            params["cursor"] = body["cursor"]


JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(schema.INT64_MIN, 2**64 - 1),  # what orjson (like the API) carries
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
JSON_VALUE = st.one_of(
    JSON_SCALAR,
    st.lists(JSON_SCALAR, max_size=3),
    st.dictionaries(st.text(max_size=3), JSON_SCALAR, max_size=2),
)


def expected_column(values: list[Any]) -> list[Any]:
    """What an undocumented field's column holds: the values if one type fits them all exactly,
    else each value's JSON text."""
    kinds = {type(v) for v in values if v is not None}
    text = [schema.render_json_text(v) for v in values]
    if not kinds:
        return values
    if kinds in ({bool}, {str}):
        return values
    if kinds == {int}:
        exact = all(schema.INT64_MIN <= v <= schema.INT64_MAX for v in values if v is not None)
        return values if exact else text
    if kinds <= {int, float}:
        exact = all(abs(v) <= 2**53 for v in values if type(v) is int)
        return [None if v is None else float(v) for v in values] if exact else text
    return text


@given(st.lists(JSON_VALUE, min_size=1, max_size=12))
@settings(max_examples=150, deadline=None)
def test_an_undocumented_field_keeps_every_value(values: list[Any]) -> None:
    entries = [
        {"id": i, "uuid": f"cus_{i}", "mystery-field": value}
        for i, value in enumerate(values, start=1)
    ]
    df, _ = customers_to_frame(entries)
    assert "mystery_field" in df.columns
    got = [None if v is NA else v for v in df["mystery_field"].tolist()]
    assert got == expected_column(values)
