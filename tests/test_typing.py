"""The public API's static types, checked by mypy (``make typecheck``: this file is in
``[tool.mypy] files``) and run by pytest like any test, so every call here is real.

``typing.assert_type`` is a no-op at run time and an error under mypy when the inferred type
differs. ``df.chartmogul`` is typed by ``cm_frames.mypy_plugin`` (``[tool.mypy] plugins``):
pandas-stubs alone would make it a Series, as they do every attribute a DataFrame does not
declare.
"""

from __future__ import annotations

from typing import assert_type

import pandas as pd

import cm_frames as cm
from cm_frames.accessor import ChartMogulAccessor
from cm_frames.analysis.plotting import PlotMethods


def test_read_customers_is_a_frame(client: cm.Client) -> None:
    df = cm.read_customers(client, progress=False)
    assert_type(df, pd.DataFrame)
    assert isinstance(df, pd.DataFrame)


def test_df_chartmogul_is_the_accessor_without_a_cast(df: pd.DataFrame) -> None:
    accessor = df.chartmogul
    assert_type(accessor, ChartMogulAccessor)
    assert isinstance(accessor, ChartMogulAccessor)
    assert_type(accessor.plot, PlotMethods)


def test_plan_apply_is_an_apply_result(client: cm.Client, df: pd.DataFrame) -> None:
    edited = df.copy()
    edited["tag.typing-test"] = False
    edited.loc[edited.index[:2], "tag.typing-test"] = True
    plan = edited.chartmogul.plan()
    assert_type(plan, cm.Plan)
    result = plan.apply(client)
    assert_type(result, cm.ApplyResult)
    assert isinstance(result, cm.ApplyResult)
    assert len(plan) == 2
