"""Write-back end to end: load, edit, plan, apply, reload, undo (real HTTP against the emulator)."""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dialects import BOTH_DIALECTS, as_the_api_keeps, edits_as_the_api_keeps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cm_frames as cm
from cm_frames.emulator import Emulator
from cm_frames.read.table import ATTRS_KEY
from cm_frames.writeback.frame import plan_frame, push
from cm_frames.writeback.plan import Plan
from cm_frames.writeback.result import ApplyResult

pytestmark = BOTH_DIALECTS

State = dict[int, tuple[frozenset[str], dict[str, Any]]]


def _writes(emulator: Emulator) -> list[dict[str, Any]]:
    return [e for e in emulator.request_log() if e["method"] != "GET"]


# --- comparing frames by what the API holds ---------------------------------------------------


def _typed(value: Any) -> Any:
    """A cell as the plain Python value the API stores (None for missing)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else int(value)  # integral floats are Integer edits
    return value


def _custom(frame: pd.DataFrame) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {int(i): {} for i in frame.index}
    for column in (c for c in frame.columns if c.startswith("custom.")):
        for customer_id, value in zip(frame.index, frame[column].tolist(), strict=True):
            typed = _typed(value)
            if typed is not None:
                out[int(customer_id)][column.removeprefix("custom.")] = typed
    return out


def _flag_tags(frame: pd.DataFrame) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {int(i): set() for i in frame.index}
    for column in (c for c in frame.columns if c.startswith("tag.")):
        for customer_id in frame.index[frame[column].to_numpy(dtype=bool)]:
            out[int(customer_id)].add(column.removeprefix("tag."))
    return out


def _list_tags(frame: pd.DataFrame) -> dict[int, set[str]]:
    return {int(i): set(tags) for i, tags in zip(frame.index, frame["tags"].tolist(), strict=True)}


def server_state(frame: pd.DataFrame) -> State:
    """What a loaded frame says the server holds (its tag.* columns must agree with ``tags``)."""
    tags, flags = _list_tags(frame), _flag_tags(frame)
    assert tags == flags
    custom = _custom(frame)
    return {c: (frozenset(tags[c]), custom[c]) for c in tags}


def edited_state(edited: pd.DataFrame, baseline: pd.DataFrame, dialect: str) -> State:
    """What an edited frame asks for: tag.* columns, plus tags added/removed via the list.

    As the dialect's server stores it: today's API keeps a Timestamp to the millisecond.
    """
    before, after, flags = _list_tags(baseline), _list_tags(edited), _flag_tags(edited)
    custom = _custom(edited)
    for values in custom.values():
        for key, value in values.items():
            if isinstance(value, datetime):
                values[key] = as_the_api_keeps(value, dialect)
    return {
        c: (frozenset((flags[c] | (after[c] - before[c])) - (before[c] - after[c])), custom[c])
        for c in flags
    }


def _reload(client: cm.Client) -> pd.DataFrame:
    return cm.read_customers(client, progress=False, refresh=True)


def _same_frame(reloaded: pd.DataFrame, original: pd.DataFrame) -> None:
    """Equal in every column; ``tags`` as sets (a tag removed and re-added moves to the end)."""
    pd.testing.assert_frame_equal(reloaded.drop(columns="tags"), original.drop(columns="tags"))
    assert _list_tags(reloaded) == _list_tags(original)


# --- the round trip ---------------------------------------------------------------------------


def _every_kind_of_edit(df: pd.DataFrame) -> pd.DataFrame:
    edited = df.copy()
    ids = edited.index.tolist()
    # New columns of every type (AddCustom), as users make them.
    edited["custom.rt_int"] = np.nan
    edited.loc[ids[0:5], "custom.rt_int"] = [1, -2, 2**62, 0, 5]  # float64 with NaN: integral
    edited["custom.rt_bool"] = pd.array([None] * len(edited), dtype="boolean")
    edited.loc[ids[3:7], "custom.rt_bool"] = [True, False, True, False]
    edited["custom.rt_ts"] = pd.Series(pd.NaT, index=edited.index, dtype="datetime64[us, UTC]")
    edited.loc[ids[5:8], "custom.rt_ts"] = pd.Timestamp("2031-05-06T07:08:09.654321Z")
    edited["custom.rt_str"] = pd.array([None] * len(edited), dtype="str")
    edited.loc[ids[6:9], "custom.rt_str"] = ["plain", "Zoë & <b>", "x" * 255]
    # Updates and removals of existing keys of every type.
    for column, value in (
        ("custom.CAC", 4242),
        ("custom.pro", None),  # flipped below
        ("custom.convertedAt", pd.Timestamp("2001-02-03T04:05:06Z")),
        ("custom.salesRep", "Someone Else"),
    ):
        has = df.index[df[column].notna().to_numpy()].tolist()
        if value is None:
            edited.loc[has[:3], column] = ~edited.loc[has[:3], column]
        else:
            edited.loc[has[:3], column] = value
        edited.loc[has[3:5], column] = pd.NA
    # Tags: a new tag column, flips both ways, and edits through the tags list.
    edited["tag.round-trip"] = False
    edited.loc[ids[10:20], "tag.round-trip"] = True
    edited.loc[ids[20:30], "tag.vip"] = ~edited.loc[ids[20:30], "tag.vip"]
    edited["tags"] = edited["tags"].astype(object)  # list cells are set through object
    listed = ids[40]
    edited.at[listed, "tags"] = [*df.at[listed, "tags"], "via-list"]
    dropped = next(i for i in ids[41:] if len(df.at[i, "tags"]) > 0)
    edited.at[dropped, "tags"] = list(df.at[dropped, "tags"])[1:]
    # Read-only edits are never sent.
    edited.loc[ids[0], "name"] = "Renamed"
    return edited


def test_round_trip_of_every_kind_and_type_then_undo(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame, dialect: str
) -> None:
    edited = edits_as_the_api_keeps(_every_kind_of_edit(df), dialect)
    plan = edited.chartmogul.plan()
    assert {op.kind for op in plan} == {
        "AddTags",
        "RemoveTags",
        "AddCustom",
        "UpdateCustom",
        "RemoveCustom",
    }
    assert {op.type for op in plan if op.kind == "AddCustom"} == {
        "Integer",
        "Boolean",
        "Timestamp",
        "String",
    }
    assert [s.column for s in plan.skipped] == ["name"]

    result = plan.apply(client, progress=False)
    assert result.ok
    assert result.applied == len(plan)

    reloaded = edited.chartmogul.refresh(client)
    assert server_state(reloaded) == edited_state(edited, df, dialect)
    assert reloaded.loc[edited.index[0], "name"] == df.loc[edited.index[0], "name"]
    assert reloaded.attrs[ATTRS_KEY]["custom_types"]["rt_ts"] == "Timestamp"

    undone = plan.inverse().apply(client, progress=False)
    assert undone.ok
    assert undone.applied == len(plan)
    _same_frame(_reload(client), df)


# --- the property: random edits arrive exactly -------------------------------------------------

_EXISTING = {"CAC": "Integer", "pro": "Boolean", "convertedAt": "Timestamp", "salesRep": "String"}
_NEW = {"hx_int": "Integer", "hx_bool": "Boolean", "hx_ts": "Timestamp", "hx_str": "String"}
_NEW_DTYPES = {
    "Integer": "int64[pyarrow]",
    "Boolean": "bool[pyarrow]",
    "Timestamp": "timestamp[us, tz=UTC][pyarrow]",
    "String": "string[pyarrow]",
}
_CUSTOMERS = 25  # edits land on the first customers of the account
_TAGS = ("vip", "engage", "hx-tag")


def _value(type_: str) -> st.SearchStrategy[Any]:
    if type_ == "Integer":
        return st.integers(-(2**63), 2**63 - 1)
    if type_ == "Boolean":
        return st.booleans()
    if type_ == "Timestamp":
        return st.datetimes(
            min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
        )
    # Prefixed: never mistaken for a timestamp or a number by the reader's type inference.
    text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
    return text.map(lambda s: "s:" + s)


_custom_edit = st.sampled_from(sorted({**_EXISTING, **_NEW}.items())).flatmap(
    lambda kv: st.tuples(
        st.just("custom"), st.just(kv[0]), st.none() | _value(kv[1]), st.just(kv[1])
    )
)
_tag_edit = st.tuples(
    st.sampled_from(["tag", "tag+list"]), st.sampled_from(_TAGS), st.booleans(), st.just(None)
)
_list_edit = st.tuples(st.just("list"), st.just("hl"), st.booleans(), st.just(None))
_edits = st.lists(
    st.tuples(st.integers(0, _CUSTOMERS - 1), st.one_of(_custom_edit, _tag_edit, _list_edit)),
    max_size=25,
)


def _sync_list(edited: pd.DataFrame, customer_id: int) -> None:
    """Make the customer's tags list agree with its tag.* columns (an edit through both)."""
    flags = [c.removeprefix("tag.") for c in edited.columns if c.startswith("tag.")]
    on = [tag for tag in flags if edited.at[customer_id, f"tag.{tag}"]]
    others = [tag for tag in edited.at[customer_id, "tags"] if tag not in flags]
    edited.at[customer_id, "tags"] = [*others, *on]


def _apply_edits(df: pd.DataFrame, edits: list[tuple[int, Any]]) -> pd.DataFrame:
    """The edits as a user makes them; a list once edited is kept in step with tag.* columns
    (edits that contradict each other are refused by the plan, tested in test_diff)."""
    edited = df.copy()
    for key, type_ in _NEW.items():
        edited[f"custom.{key}"] = pd.Series(pd.NA, index=edited.index, dtype=_NEW_DTYPES[type_])
    edited["tag.hx-tag"] = False
    edited["tags"] = edited["tags"].astype(object)
    listed: set[int] = set()
    for position, (what, name, value, _type) in edits:
        customer_id = edited.index[position]
        if what == "custom":
            edited.loc[customer_id, f"custom.{name}"] = pd.NA if value is None else value
        elif what.startswith("tag"):
            edited.loc[customer_id, f"tag.{name}"] = value
            if what == "tag+list" or customer_id in listed:
                _sync_list(edited, customer_id)
                listed.add(customer_id)
        else:
            _sync_list(edited, customer_id)
            tags = [t for t in edited.at[customer_id, "tags"] if t != name]
            edited.at[customer_id, "tags"] = [*tags, name] if value else tags
            listed.add(customer_id)
    return edited


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(edits=_edits)
def test_random_edits_arrive_exactly(
    dialect_server: Emulator, dialect: str, tmp_path: Path, edits: list[tuple[int, Any]]
) -> None:
    dialect_server.reset()  # every example starts from the seeded account
    with cm.Client(
        dialect_server.token,
        dialect_server.secret,
        dialect_server.url,
        cache_dir=tmp_path,
        rate_limit=None,
    ) as client:
        baseline = _reload(client)
        edited = edits_as_the_api_keeps(_apply_edits(baseline, edits), dialect)
        plan = plan_frame(edited)
        result = plan.apply(client, progress=False)
        assert result.ok, repr(result)
        assert server_state(_reload(client)) == edited_state(edited, baseline, dialect)


# --- plan_frame and push ------------------------------------------------------------------------


def test_plan_with_an_explicit_baseline(df: pd.DataFrame) -> None:
    edited = df.copy()
    edited.loc[edited.index[0], "tag.vip"] = not edited.loc[edited.index[0], "tag.vip"]
    stripped = edited.copy()
    stripped.attrs = {}
    plan = stripped.chartmogul.plan(baseline=df)
    assert plan == plan_frame(edited)
    assert plan.source["snapshot_id"] == df.attrs[ATTRS_KEY]["snapshot_id"]
    assert plan.source["account_customers"] == len(df)


def test_a_frame_without_a_baseline_says_how_to_give_one(
    emulator: Emulator, df: pd.DataFrame
) -> None:
    stripped = df.copy()
    stripped.attrs = {}
    with pytest.raises(cm.ValidationError, match=r"plan\(baseline=original_df\)"):
        stripped.chartmogul.plan()
    with pytest.raises(cm.ValidationError, match="baseline must be the DataFrame"):
        plan_frame(df, baseline="not a frame")  # type: ignore[arg-type]


def test_a_vanished_snapshot_says_how_to_recover(df: pd.DataFrame, tmp_path: Path) -> None:
    edited = df.copy()
    edited.attrs = {ATTRS_KEY: {**df.attrs[ATTRS_KEY], "snapshot_dir": str(tmp_path / "gone")}}
    with pytest.raises(cm.ValidationError, match=r"no longer exists.*read_customers"):
        plan_frame(edited)


def test_push_is_a_dry_run_unless_told_otherwise(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame
) -> None:
    edited = df.copy()
    edited.loc[edited.index[:3], "custom.CAC"] = 1
    emulator.clear_request_log()

    planned = edited.chartmogul.push()
    assert isinstance(planned, Plan)
    assert len(planned) == 3
    assert emulator.request_log() == []

    result = edited.chartmogul.push(client, dry_run=False, progress=False)
    assert isinstance(result, ApplyResult)
    assert result.applied == 3
    assert len(_writes(emulator)) == 3


def test_push_uses_the_client_that_loaded_the_frame(
    emulator: Emulator, client: cm.Client, df: pd.DataFrame
) -> None:
    edited = df.copy()
    edited.loc[edited.index[:2], "custom.CAC"] = 2
    result = push(edited, dry_run=False, progress=False)
    assert isinstance(result, ApplyResult)
    assert result.applied == 2
    assert result.journal_path is not None
    assert result.journal_path.parent == client.cache_dir / "journals"


def test_push_refuses_unknown_options_even_in_a_dry_run(
    emulator: Emulator, df: pd.DataFrame
) -> None:
    emulator.clear_request_log()
    with pytest.raises(cm.ValidationError, match=r"unknown option 'max_worker'.*max_workers"):
        df.chartmogul.push(max_worker=2)
    assert emulator.request_log() == []


def test_push_to_another_account_sends_nothing(
    emulator: Emulator, df: pd.DataFrame, tmp_path: Path
) -> None:
    emulator.add_account("second-token", "second-secret", customers=3)
    edited = df.copy()
    edited.loc[edited.index[:2], "custom.CAC"] = 3
    emulator.clear_request_log()
    with (
        cm.Client("second-token", "second-secret", emulator.url, cache_dir=tmp_path) as other,
        pytest.raises(cm.ValidationError, match="another account"),
    ):
        edited.chartmogul.push(other, dry_run=False, progress=False)
    assert emulator.request_log() == []


def test_invalid_edits_send_nothing(emulator: Emulator, df: pd.DataFrame) -> None:
    edited = df.copy()
    edited["custom.bad key"] = 1
    emulator.clear_request_log()
    with pytest.raises(cm.ValidationError, match=r"custom\.bad key"):
        edited.chartmogul.push(dry_run=False)
    assert emulator.request_log() == []


# --- removals that look like an accident ------------------------------------------------------


def test_a_series_assigned_from_a_subset_warns_of_the_removals(df: pd.DataFrame) -> None:
    held = df.index[df["custom.seats"].notna().to_numpy()]
    assert len(held) > 40
    scores = df.loc[held[:10], "custom.seats"] + 1  # new values for ten customers only
    edited = df.copy()
    edited["custom.seats"] = scores  # pandas aligns: every other customer's seats become NA

    with pytest.warns(cm.RemovalWarning, match=r"custom\.seats") as caught:
        plan = edited.chartmogul.plan()

    removals = len(held) - 10
    message = str(caught[0].message)
    assert f"{removals:,} of the {len(held):,}" in message
    assert plan.summary().removals == {"custom.seats": removals}
    assert f"⚠ removes {removals:,} values: custom.seats {removals:,}" in str(plan.summary())
    assert "⚠ removes" in repr(plan)
    # The fix the warning suggests: assign only the rows you have values for.
    fixed = df.copy()
    fixed.loc[scores.index, "custom.seats"] = scores
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = fixed.chartmogul.plan()
    assert {op.kind for op in plan} == {"UpdateCustom"}
    assert len(plan) == 10


def test_a_few_removals_do_not_warn(df: pd.DataFrame) -> None:
    held = df.index[df["custom.seats"].notna().to_numpy()]
    edited = df.copy()
    edited.loc[held[:1], "custom.seats"] = pd.NA
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = edited.chartmogul.plan()
    assert plan.summary().removals == {"custom.seats": 1}


def test_removing_many_tags_warns_too(df: pd.DataFrame) -> None:
    edited = df.copy()
    holders = int(df["tag.vip"].sum())
    edited["tag.vip"] = False
    with pytest.warns(cm.RemovalWarning, match=rf"tag\.vip.*{holders:,} of the {holders:,}"):
        edited.chartmogul.plan()
