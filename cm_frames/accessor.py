"""``df.chartmogul``: checks that the frame is a customer frame, then delegates in one line.

Like geopandas' accessor, it holds no logic of its own: every method is a call of a plain
function that takes the frame first, so the functions are tested directly and the accessor
once. It never mutates the caller's frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from cm_frames.analysis import segments
from cm_frames.read.frames import frame_to_table
from cm_frames.read.load import client_for_frame, read_customers
from cm_frames.read.table import ATTRS_KEY
from cm_frames.schema import restore_index_advice

if TYPE_CHECKING:
    import ipywidgets

    from cm_frames.analysis.plotting import PlotMethods
    from cm_frames.api.client import Client
    from cm_frames.writeback.plan import Plan

__all__ = ["ChartMogulAccessor"]


@pd.api.extensions.register_dataframe_accessor("chartmogul")
class ChartMogulAccessor:
    """Customer-frame methods: load state, segment, plot, plan and write back."""

    def __init__(self, frame: pd.DataFrame) -> None:
        if frame.index.name != "id" or "uuid" not in frame.columns:
            # pandas turns an AttributeError here into "no attribute 'chartmogul'" with our text.
            raise AttributeError(
                "df.chartmogul works on customer frames from cm.read_customers(): they have an "
                "index named 'id' and a 'uuid' column. This frame has index "
                f"{frame.index.name!r} and {'a' if 'uuid' in frame.columns else 'no'} 'uuid' "
                f"column: {restore_index_advice(frame.columns)}."
            )
        self._frame = frame

    # -- read path
    def refresh(self, client: Client | None = None, *, progress: bool = True) -> pd.DataFrame:
        """The same customers as the server has them now (a new frame; this one is unchanged)."""
        info = self._frame.attrs.get(ATTRS_KEY) or {}
        return read_customers(
            client_for_frame(self._frame, client),
            email=info.get("email"),
            refresh=True,
            progress=progress,
        )

    def to_arrow(self) -> pa.Table:
        """The frame as an Arrow table, with ``id`` as its first column."""
        return frame_to_table(self._frame)

    # -- segmentation (cm_frames.segments) and plots (cm_frames.plotting)
    def segment(
        self,
        rules: Mapping[str, str | pd.Series | Callable[[pd.DataFrame], Any]],
        *,
        default: str = "other",
        name: str = "segment",
    ) -> pd.Series:
        """Label each customer by the first rule it matches (categorical, rule order)."""
        return segments.segment(self._frame, rules, default=default, name=name)

    def bucket(
        self, column: str, bins: int | Sequence[float], labels: Sequence[str] | None = None
    ) -> pd.Series:
        """Bin a numeric column into labelled ranges (categorical)."""
        return segments.bucket(self._frame, column, bins, labels=labels)

    def cohort(self, freq: str = "MS") -> pd.Series:
        """The period each customer started in, from ``customer_since``."""
        return segments.cohort(self._frame, freq=freq)

    def filter(
        self,
        tags_any: Sequence[str] | None = None,
        tags_all: Sequence[str] | None = None,
        tags_none: Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        **custom_equals: Any,
    ) -> pd.DataFrame:
        """The customers with those tags, status and custom attribute values."""
        return segments.filter_customers(
            self._frame,
            tags_any=tags_any,
            tags_all=tags_all,
            tags_none=tags_none,
            status=status,
            **custom_equals,
        )

    def tag_counts(self) -> pd.Series:
        """How many customers carry each tag, most common first."""
        return segments.tag_counts(self._frame)

    def tag_matrix(self) -> pd.DataFrame:
        """One bool column per tag (the ``tag.*`` columns, named by tag)."""
        return segments.tag_matrix(self._frame)

    def co_occurrence(self) -> pd.DataFrame:
        """Customers carrying each pair of tags (a symmetric tag × tag count matrix)."""
        return segments.co_occurrence(self._frame)

    def profile(self, by: str | pd.Series) -> pd.DataFrame:
        """One row per segment: size, share, status mix, top tags, medians."""
        return segments.profile(self._frame, by)

    @property
    def plot(self) -> PlotMethods:
        """Deck-ready matplotlib plots: ``df.chartmogul.plot.cohorts(freq="QS")`` ..."""
        from cm_frames.analysis.plotting import PlotMethods

        return PlotMethods(self._frame)

    # -- write-back (cm_frames.writeback, cm_frames.preview)
    def plan(self, baseline: pd.DataFrame | None = None) -> Plan:
        """The changes between this frame and what was loaded (or ``baseline``); nothing sent."""
        from cm_frames.writeback.frame import plan_frame

        return plan_frame(self._frame, baseline)

    def push(
        self, client: Client | None = None, *, dry_run: bool = True, **apply_options: Any
    ) -> Any:
        """Plan and, only with ``dry_run=False``, apply: returns the Plan or the ApplyResult."""
        from cm_frames.writeback.frame import push

        return push(self._frame, client, dry_run=dry_run, **apply_options)

    def preview(self, client: Client | None = None) -> ipywidgets.Widget:
        """A dry-run widget: summary, changes, exclusions, then Apply and Undo buttons."""
        from cm_frames.writeback.preview import preview

        return preview(self._frame, client)
