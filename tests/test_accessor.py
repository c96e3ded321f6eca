"""df.chartmogul: refuses other frames, delegates each method to its plain function once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from customer_frames import customers_to_frame

import cm_frames as cm
from cm_frames.analysis import segments
from cm_frames.emulator import Emulator
from cm_frames.read.frames import frame_to_table


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    path = Path(__file__).parent / "data" / "reference" / "get_customers.response.json"
    df, _ = customers_to_frame(json.loads(path.read_text())["entries"])
    return df


def test_other_frames_get_a_helpful_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"cm\.read_customers\(\)"):
        _ = pd.DataFrame({"a": [1]}).chartmogul
    with pytest.raises(AttributeError, match="set_index"):
        _ = pd.DataFrame({"id": [1], "uuid": ["cus_x"]}).chartmogul


def _advice(frame: pd.DataFrame) -> list[str]:
    """The code spans of the AttributeError that ``frame.chartmogul`` raises."""
    with pytest.raises(AttributeError) as caught:
        _ = frame.chartmogul
    return re.findall(r"`([^`]+)`", str(caught.value))


def test_the_advice_for_a_reset_index_works_with_or_without_the_ids(
    df: pd.DataFrame, client: cm.Client
) -> None:
    # Ids kept as a column (reset_index()): one line puts them back.
    kept = df.reset_index()
    [fix] = _advice(kept)
    scope: dict[str, Any] = {"df": kept, "pd": pd, "cm": cm, "client": client}
    exec(fix, scope)
    pd.testing.assert_frame_equal(scope["df"], df)
    # Ids dropped (reset_index(drop=True)): a frame as loaded gives them back by uuid.
    dropped = df.reset_index(drop=True)
    fixes = _advice(dropped)
    assert len(fixes) == 2
    scope = {"df": dropped, "pd": pd, "cm": cm, "client": client}
    for line in fixes:
        exec(line, scope)
    assert scope["df"].index.equals(df.index)
    assert scope["df"].chartmogul.plan().is_empty


def test_reading_helpers_delegate(frame: pd.DataFrame) -> None:
    accessor = frame.chartmogul
    assert accessor.to_arrow().equals(frame_to_table(frame))
    rules = {"big": "`clearbit.metrics.employees` >= 1000"}
    pd.testing.assert_series_equal(accessor.segment(rules), segments.segment(frame, rules))
    pd.testing.assert_series_equal(accessor.tag_counts(), segments.tag_counts(frame))
    pd.testing.assert_frame_equal(accessor.tag_matrix(), segments.tag_matrix(frame))
    pd.testing.assert_frame_equal(accessor.co_occurrence(), segments.co_occurrence(frame))
    pd.testing.assert_series_equal(accessor.cohort("MS"), segments.cohort(frame, freq="MS"))
    pd.testing.assert_frame_equal(
        accessor.filter(tags_any=["engage"]), segments.filter_customers(frame, tags_any=["engage"])
    )
    by = accessor.segment(rules)
    pd.testing.assert_frame_equal(accessor.profile(by), segments.profile(frame, by))
    assert accessor.plot.tags().get_title()


def test_accessor_never_mutates_the_frame(frame: pd.DataFrame) -> None:
    before = frame.copy()
    frame.chartmogul.segment({"big": "`clearbit.metrics.employees` >= 1000"})
    frame.chartmogul.profile("status")
    pd.testing.assert_frame_equal(frame, before)


def test_plan_push_and_preview_through_the_accessor(emulator: Emulator, tmp_path: Path) -> None:
    client = emulator.client(cache_dir=tmp_path, rate_limit=None)
    with client:
        df = cm.read_customers(client, progress=False)
        edited = df.copy()
        edited["tag.accessor-test"] = False
        edited.loc[edited.index[:3], "tag.accessor-test"] = True
        plan = edited.chartmogul.plan()
        assert isinstance(plan, cm.Plan)
        assert len(plan) == 3
        emulator.clear_request_log()
        dry = edited.chartmogul.push(client)
        assert dry == plan
        assert [e for e in emulator.request_log() if e["method"] != "GET"] == []
        widget = edited.chartmogul.preview(client)
        assert "3" in repr(widget)
        result = edited.chartmogul.push(client, dry_run=False, progress=False)
        assert result.ok
        assert edited.chartmogul.refresh()["tag.accessor-test"].sum() == 3


def test_the_public_api_is_complete() -> None:
    for name in cm.__all__:
        assert hasattr(cm, name), name
    for name in ("Client", "read_customers", "Emulator", "Plan", "ApplyResult", "AddTags"):
        assert name in cm.__all__
    errors = [getattr(cm, n) for n in cm.__all__ if isinstance(getattr(cm, n), type)]
    assert all(issubclass(e, cm.ChartMogulError) for e in errors if e.__name__.endswith("Error"))


def test_a_shifted_index_stops_the_plan_before_any_request(
    df: pd.DataFrame, emulator: Emulator
) -> None:
    """``edited.index = edited.index + 1`` would give 299 customers their neighbour's attributes."""
    edited = df.copy()
    edited["custom.lead_score"] = edited["custom.lead_score"].fillna(0) + 1
    edited.index = edited.index + 1
    emulator.clear_request_log()
    with pytest.raises(cm.ValidationError) as info:
        edited.chartmogul.plan()
    message = str(info.value)
    assert "rows moved under other customer ids" in message
    # Examples follow the baseline's row order: its first id that the shifted frame still has.
    ids = {int(i) for i in df.index}
    first = next(int(i) for i in df.index if int(i) - 1 in ids)
    owner = first - 1
    example = f"the row with id {first} holds uuid {df.at[owner, 'uuid']!r} (customer {owner})"
    assert example in message
    realign = (
        "edited.index = pd.Index(edited['uuid'].map(pd.Series(df.index, index=df['uuid'])), "
        "dtype='int64', name='id')"
    )
    assert f"`{realign}`" in message
    assert emulator.request_log() == []

    exec(realign, {"pd": pd}, {"edited": edited, "df": df})  # exactly the suggested fix
    plan = edited.chartmogul.plan()
    assert {op.attribute for op in plan} == {"custom.lead_score"}
    assert {op.customer_id for op in plan} == {int(i) for i in df.index}
    for op in plan:
        old = df.at[op.customer_id, "custom.lead_score"]
        assert op.kind == ("AddCustom" if pd.isna(old) else "UpdateCustom")
    assert emulator.request_log() == []


def test_moved_rows_are_the_only_problem_reported(df: pd.DataFrame) -> None:
    # Tag edits compared under the wrong ids disagree with the tags lists too; reporting those
    # would bury the one thing to fix, the index.
    edited = df.copy()
    holders = edited.index[edited["tag.vip"].to_numpy(dtype=bool)]
    edited.loc[holders[:3], "tag.vip"] = False
    edited.index = edited.index + 1
    with pytest.raises(cm.ValidationError) as caught:
        edited.chartmogul.plan()
    message = str(caught.value)
    assert message.startswith("1 problem in the frame")
    assert "rows moved under other customer ids" in message
