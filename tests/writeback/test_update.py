"""``update_from``: a table's scores written into a loaded frame by key, then planned.

Hand-written customers (``customers_to_frame``) for the rules and the property test; the
emulator, in both dialects, where the scores are applied and read back over HTTP.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from customer_frames import customers_to_frame
from dialects import BOTH_DIALECTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cm_frames as cm
from cm_frames.errors import ValidationError
from cm_frames.read.table import ATTRS_KEY
from cm_frames.writeback.plan import Plan, TableMatch
from cm_frames.writeback.update import update_from

pytestmark = BOTH_DIALECTS


def _customers(n: int = 5, shared: int = 0) -> list[dict[str, Any]]:
    """``n`` customers with ids 10, 20, ...; the first ``shared`` of them share one email."""
    return [
        {
            "id": 10 * i,
            "uuid": f"cus_{i}",
            "external_id": f"ext-{i}",
            "email": "team@example.com" if i <= shared else f"{i}@example.com",
            "attributes": {
                "tags": ["vip"] if i % 2 else [],
                "custom": {"score": i, "segment": "smb"},
            },
        }
        for i in range(1, n + 1)
    ]


def _loaded(n: int = 5, shared: int = 0) -> pd.DataFrame:
    """A frame as ``read_customers`` types it, with the provenance a load leaves in its attrs."""
    frame, types = customers_to_frame(_customers(n, shared))
    # A descending index: a merge or a sort would show as a changed row order.
    frame = frame.iloc[::-1]
    frame.attrs = {ATTRS_KEY: {"custom_types": types, "dialect": "enrichment"}}
    return frame


def _plan(edited: pd.DataFrame, baseline: pd.DataFrame) -> Plan:
    return edited.chartmogul.plan(baseline=baseline)


# --- what is written -------------------------------------------------------------------------


def test_matched_customers_get_the_table_s_values_and_nothing_else_changes() -> None:
    df = _loaded()
    before = df.copy()
    table = pd.DataFrame({"external_id": ["ext-2", "ext-4"], "s": [70, 90], "hot": [True, True]})
    edited = update_from(
        df, table, on="external_id", columns={"s": "custom.score", "hot": "tag.hot"}
    )

    pd.testing.assert_frame_equal(df, before)  # the caller's frame is untouched
    assert edited.index.equals(df.index)
    assert edited["custom.score"].tolist() == [5, 90, 3, 70, 1]
    assert edited["tag.hot"].tolist() == [False, True, False, True, False]
    assert edited["tag.hot"].dtype == df["tag.vip"].dtype
    unchanged = [c for c in df.columns if c != "custom.score"]
    pd.testing.assert_frame_equal(edited[unchanged], df[unchanged])
    assert list(edited.columns) == [*df.columns, "tag.hot"]
    ops = sorted((op.kind, op.customer_id, op.attribute) for op in _plan(edited, df))
    assert ops == [
        ("AddTags", 20, "tag.hot"),
        ("AddTags", 40, "tag.hot"),
        ("UpdateCustom", 20, "custom.score"),
        ("UpdateCustom", 40, "custom.score"),
    ]


def test_na_in_the_table_keeps_the_value_and_missing_remove_removes_it() -> None:
    df = _loaded()
    table = pd.DataFrame({"external_id": ["ext-1", "ext-3"], "s": [None, 33.0]})
    kept = update_from(df, table, on="external_id", columns={"s": "custom.score"})
    assert kept["custom.score"].tolist() == [5, 4, 33, 2, 1]

    removed = update_from(
        df, table, on="external_id", columns={"s": "custom.score"}, missing="remove"
    )
    assert removed["custom.score"].isna().tolist() == [False, False, False, False, True]
    kinds = {(op.kind, op.customer_id) for op in _plan(removed, df)}
    assert kinds == {("RemoveCustom", 10), ("UpdateCustom", 30)}


def test_na_in_a_tag_column_keeps_the_tag_unless_missing_remove() -> None:
    df = _loaded()
    table = pd.DataFrame(
        {"uuid": ["cus_1", "cus_2"], "vip": pd.array([pd.NA, True], dtype="boolean")}
    )
    kept = update_from(df, table, on="uuid", columns={"vip": "tag.vip"})
    assert kept["tag.vip"].tolist() == [*df["tag.vip"].tolist()[:3], True, True]
    removed = update_from(df, table, on="uuid", columns={"vip": "tag.vip"}, missing="remove")
    assert not removed.loc[10, "tag.vip"]
    assert {(op.kind, op.customer_id) for op in _plan(removed, df)} == {
        ("RemoveTags", 10),
        ("AddTags", 20),
    }


def test_others_remove_mirrors_the_table() -> None:
    df = _loaded()
    table = pd.DataFrame({"id": [20], "s": [8], "vip": [True]})
    mirrored = update_from(
        df, table, on="id", columns={"s": "custom.score", "vip": "tag.vip"}, others="remove"
    )
    assert mirrored["custom.score"].isna().tolist()[::-1] == [True, False, True, True, True]
    assert mirrored.loc[20, "custom.score"] == 8
    assert mirrored["tag.vip"].tolist()[::-1] == [False, True, False, False, False]
    plan = _plan(mirrored, df)
    assert plan.summary().by_kind["RemoveCustom"] == 4
    assert sorted(op.customer_id for op in plan if op.kind == "RemoveTags") == [10, 30, 50]


def test_removals_update_from_was_asked_for_warn_no_one_but_a_mistake_beside_them_does() -> None:
    df = _loaded(40)
    table = pd.DataFrame({"id": [10, 20], "s": [1, 2]})
    mirrored = update_from(df, table, on="id", columns={"s": "custom.score"}, others="remove")
    with warnings.catch_warnings():
        warnings.simplefilter("error", cm.RemovalWarning)
        plan = _plan(mirrored, df)
    assert plan.summary().by_kind["RemoveCustom"] == 38
    # A Series of one customer assigned to a whole column: pandas sets every other row to NA.
    mistaken = mirrored.copy()
    mistaken["custom.segment"] = mistaken["custom.segment"].loc[[10]]
    with pytest.warns(cm.RemovalWarning, match=r"custom\.segment: 39 of the 40") as caught:
        _plan(mistaken, df)
    assert "custom.score" not in str(caught[0].message)


def test_a_table_match_saved_before_removing_existed_reads_as_removing_nothing() -> None:
    record = TableMatch("id", rows=3, unmatched=(7,), removing=("custom.score",)).to_record()
    assert TableMatch.from_record(record).removing == ("custom.score",)
    del record["removing"]
    assert TableMatch.from_record(record) == TableMatch("id", rows=3, unmatched=(7,))
    with pytest.raises(ValidationError, match="a list of removing columns"):
        TableMatch.from_record({**record, "removing": "custom.score"})


def test_a_key_in_the_index_and_an_integer_external_id_match() -> None:
    df = _loaded()
    by_index = pd.DataFrame({"s": [1, 2]}, index=pd.Index([10, 30], name="id"))
    assert update_from(df, by_index, on="id", columns={"s": "custom.score"})[
        "custom.score"
    ].tolist() == [5, 4, 2, 2, 1]
    frame = df.copy()
    frame["external_id"] = frame["external_id"].str.replace("ext-", "", regex=False)
    # As a CSV column of digits reads, with a blank: float64.
    numbers = pd.DataFrame({"external_id": [5.0, np.nan], "s": [50, 0]})
    written = update_from(frame, numbers, on="external_id", columns={"s": "custom.score"})
    assert written["custom.score"].tolist() == [50, 4, 3, 2, 1]


def test_a_new_custom_attribute_takes_the_column_s_type_whole_floats_as_integers() -> None:
    df = _loaded()
    table = pd.DataFrame({"email": ["1@example.com", "2@example.com"], "p": [0.0, 7.0]})
    edited = update_from(df, table, on="email", columns={"p": "custom.points"})
    assert str(edited["custom.points"].dtype) == "int64[pyarrow]"
    ops = {(op.customer_id, op.kind, op.type, op.value) for op in _plan(edited, df)}
    assert ops == {(10, "AddCustom", "Integer", 0), (20, "AddCustom", "Integer", 7)}


def test_a_shared_email_updates_every_customer_with_it_and_the_plan_says_so() -> None:
    df = _loaded(5, shared=3)
    table = pd.DataFrame({"email": ["team@example.com", "5@example.com"], "s": [99, 55]})
    edited = update_from(df, table, on="email", columns={"s": "custom.score"})
    assert edited["custom.score"].tolist() == [55, 4, 99, 99, 99]
    plan = _plan(edited, df)
    (match,) = plan.table_matches
    assert match.shared == {"team@example.com": (30, 20, 10)}
    assert any(
        "1 email of the table matched several customers (3 customers" in line
        for line in plan.summary().lines()
    )
    assert sorted(op.customer_id for op in plan) == [10, 20, 30, 50]


# --- unmatched rows, in the plan ---------------------------------------------------------------


def test_unmatched_rows_are_counted_in_the_summary_listed_in_the_plan_and_kept_in_json() -> None:
    df = _loaded()
    strangers = [f"ext-{i}" for i in range(100, 112)]
    table = pd.DataFrame({"external_id": ["ext-1", *strangers, None], "s": range(14)})
    edited = update_from(df, table, on="external_id", columns={"s": "custom.score"})
    plan = _plan(edited, df)

    assert plan.unmatched == (*strangers, None)
    summary = plan.summary()
    assert summary.unmatched_rows == 13
    line = "13 rows of the table matched no customer (external_id ext-100, ext-101"
    assert any(text.startswith(line) for text in summary.lines())
    assert line in repr(plan)
    assert line in plan._repr_html_()
    again = Plan.from_json(plan.to_json())
    assert again == plan
    assert again.table_matches == plan.table_matches
    assert again.table_matches[0].rows == 14


def test_a_plan_of_an_unchanged_frame_still_reports_a_table_that_matched_nobody() -> None:
    df = _loaded()
    table = pd.DataFrame({"uuid": ["nobody"], "s": [1]})
    plan = _plan(update_from(df, table, on="uuid", columns={"s": "custom.score"}), df)
    assert plan.is_empty
    assert plan.table_matches == (TableMatch("uuid", rows=1, unmatched=("nobody",)),)


def test_each_update_from_adds_its_match_and_a_plain_edit_keeps_them() -> None:
    df = _loaded()
    once = update_from(
        df, pd.DataFrame({"id": [1], "s": [1]}), on="id", columns={"s": "custom.score"}
    )
    twice = update_from(
        once, pd.DataFrame({"email": ["x@y.z"], "s": [1]}), on="email", columns={"s": "custom.n"}
    )
    edited = twice.copy()
    edited.loc[10, "custom.segment"] = "mid"
    assert [m.on for m in _plan(edited, df).table_matches] == ["id", "email"]
    assert df.attrs[ATTRS_KEY].get("table_matches") is None


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"on": "name"}, "the key must be one of 'external_id', 'email', 'uuid', 'id'"),
        ({"on": "email"}, "the table has no column 'email' (nor an index of that name)"),
        ({"columns": {"nope": "custom.score"}}, "'nope' is not a column of the table"),
        (
            {"columns": {"custom.score": "s"}},
            "'custom.score' is not a column of the table (columns maps table columns to frame "
            "columns: {'s': 'custom.score'}?)",
        ),
        ({"columns": {"s": "name"}}, "'s' -> 'name': only custom.* and tag.* columns"),
        ({"columns": {"s": "custom."}}, "only custom.* and tag.* columns"),
        ({"columns": {"s": "tag.hot"}}, "'s' -> 'tag.hot': a tag takes a boolean column"),
        ({"columns": {}}, "maps the table's columns to the frame's"),
        ({"missing": "drop"}, "update_from(missing='drop'): expected 'keep' or 'remove'"),
        ({"others": "clear"}, "update_from(others='clear'): expected 'keep' or 'remove'"),
    ],
)
def test_bad_arguments_are_refused_with_what_to_do(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"on": "external_id", "columns": {"s": "custom.score"}}
    table = pd.DataFrame({"external_id": ["ext-1"], "s": [1]})
    with pytest.raises(ValidationError) as raised:
        update_from(_loaded(), table, **{**arguments, **kwargs})
    assert message in str(raised.value)


def test_two_sources_for_one_target_are_refused() -> None:
    table = pd.DataFrame({"id": [10], "a": [1], "b": [2]})
    with pytest.raises(ValidationError, match=r"'custom\.score' is named for both 'a' and 'b'"):
        update_from(_loaded(), table, on="id", columns={"a": "custom.score", "b": "custom.score"})


def test_duplicate_keys_are_refused_naming_them() -> None:
    table = pd.DataFrame(
        {"external_id": ["ext-1", "ext-2", "ext-1", "ext-3", "ext-3", "ext-3"], "s": range(6)}
    )
    with pytest.raises(ValidationError) as raised:
        update_from(_loaded(), table, on="external_id", columns={"s": "custom.score"})
    text = str(raised.value)
    assert "the table has 2 external_ids more than once: 'ext-1' (2 rows), 'ext-3' (3 rows)" in text
    assert "drop_duplicates('external_id', keep='last')" in text


def test_values_that_do_not_fit_the_attribute_are_refused() -> None:
    table = pd.DataFrame({"id": [10], "s": ["high"]})
    with pytest.raises(
        ValidationError, match=r"the table's 's' .* does not fit 'custom\.score' \(int64\)"
    ):
        update_from(_loaded(), table, on="id", columns={"s": "custom.score"})


def test_an_id_that_is_not_an_integer_is_refused() -> None:
    with pytest.raises(ValidationError, match="the table's id 'cus_1' is not a customer id"):
        update_from(
            _loaded(), pd.DataFrame({"id": ["cus_1"], "s": [1]}), on="id", columns={"s": "custom.x"}
        )


def test_a_frame_that_was_not_loaded_is_refused() -> None:
    table = pd.DataFrame({"id": [10], "s": [1]})
    plain, _ = customers_to_frame(_customers())
    plain.attrs = {}  # typed like a load, but no provenance
    with pytest.raises(
        ValidationError, match=r"update_from works on a frame loaded with cm\.read_customers"
    ):
        update_from(plain, table, on="id", columns={"s": "custom.score"})
    with pytest.raises(ValidationError, match="index None, no 'uuid' column"):
        update_from(pd.DataFrame({"s": [1]}), table, on="id", columns={"s": "custom.score"})
    with pytest.raises(ValidationError, match="got dict"):
        update_from({}, table, on="id", columns={"s": "custom.score"})  # type: ignore[arg-type]


# --- property: only the mapped columns of matched customers change ---------------------------


@st.composite
def score_tables(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, str, dict[str, str]]:
    n = draw(st.integers(1, 8))
    df = _loaded(n, shared=draw(st.integers(0, n)))
    on = draw(st.sampled_from(["external_id", "email", "uuid", "id"]))
    known = list(dict.fromkeys(df.index.tolist() if on == "id" else df[on].tolist()))
    strangers = [999, 998] if on == "id" else ["stranger-1", "stranger-2"]
    keys = draw(st.lists(st.sampled_from(known + strangers), unique=True, max_size=len(known) + 2))
    score = st.one_of(st.none(), st.integers(-(2**40), 2**40))
    table = pd.DataFrame(
        {
            on: pd.Series(keys, dtype=object),
            "s": pd.array([draw(score) for _ in keys], dtype="Int64"),
            "flag": pd.array([draw(st.one_of(st.none(), st.booleans())) for _ in keys], "boolean"),
        }
    )
    table = table.sample(frac=1, random_state=draw(st.integers(0, 2**16)))
    targets = draw(st.sampled_from(["custom.score", "custom.fresh"]))
    columns = {"s": targets, "flag": draw(st.sampled_from(["tag.vip", "tag.new"]))}
    return df, table, on, columns


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(score_tables())
def test_only_mapped_columns_of_matched_customers_change_and_na_keeps(
    case: tuple[pd.DataFrame, pd.DataFrame, str, dict[str, str]],
) -> None:
    df, table, on, columns = case
    edited = update_from(df, table, on=on, columns=columns)

    assert edited.index.equals(df.index)  # same ids, same order
    assert list(edited.columns[: len(df.columns)]) == list(df.columns)
    untouched = [c for c in df.columns if c not in columns.values()]
    pd.testing.assert_frame_equal(edited[untouched], df[untouched])
    rows = {(k.item() if hasattr(k, "item") else k): i for i, k in enumerate(table[on])}
    for customer in df.index:
        key = customer if on == "id" else df.loc[customer, on]
        row = rows.get(key)
        for source, target in columns.items():
            before = df.loc[customer, target] if target in df.columns else None
            if before is None and target.startswith("tag."):
                before = False
            value = table[source].iloc[row] if row is not None else pd.NA
            after = edited.loc[customer, target]
            if row is None or pd.isna(value):
                assert (pd.isna(after) and pd.isna(before)) or after == before, (customer, target)
            else:
                assert after == value, (customer, target)
    plan = edited.chartmogul.plan(baseline=df)
    assert {op.attribute for op in plan} <= set(columns.values())
    matched_keys = set(rows) & set(df.index if on == "id" else df[on])
    (match,) = plan.table_matches
    assert len(match.unmatched) == len(table) - len(matched_keys)
    if on == "email":
        sharers = {key: tuple(df.index[df["email"] == key]) for key in matched_keys}
        assert match.shared == {k: ids for k, ids in sharers.items() if len(ids) > 1}
    else:
        assert match.shared == {}
    assert Plan.from_json(plan.to_json()) == plan


# --- against the emulator --------------------------------------------------------------------


def test_scores_by_key_reach_the_server_and_unmatched_rows_are_reported(
    client: cm.Client, df: pd.DataFrame, dialect: str
) -> None:
    on = "uuid" if dialect == "current" else "external_id"
    chosen = df.iloc[[3, 0, 7]]
    table = pd.DataFrame(
        {
            on: [*chosen[on].tolist(), "nobody-here"],
            "risk": [81, 12, None, 50],
            "hot": [True, False, True, True],
        }
    )
    edited = df.chartmogul.update_from(
        table, on=on, columns={"risk": "custom.churn_risk", "hot": "tag.hot"}
    )
    plan = edited.chartmogul.plan()
    assert plan.unmatched == ("nobody-here",)
    line = "1 row of the table matched no customer"
    assert line in str(plan.summary())
    assert line in edited.chartmogul.preview(client).summary.value
    result = plan.apply(client, progress=False)
    assert result.ok

    fresh = edited.chartmogul.refresh(progress=False)
    ids = chosen.index.tolist()
    assert fresh.loc[ids[:2], "custom.churn_risk"].tolist() == [81, 12]
    assert pd.isna(fresh.loc[ids[2], "custom.churn_risk"])
    assert fresh.loc[ids, "tag.hot"].tolist() == [True, False, True]
    assert int(fresh["tag.hot"].sum()) == 2
    assert int(fresh["custom.churn_risk"].notna().sum()) == 2
