"""``df.chartmogul``: checks that the frame is a customer frame, then delegates in one line.

Like geopandas' accessor, it holds no logic of its own: every method is a call of a plain
function that takes the frame first, so the functions are tested directly and the accessor
once. It never mutates the caller's frame.

The examples use ``df``, six customers as ``read_customers`` returns them (the frame of the
examples in ``cm_frames.analysis.segments``); those that read or write start an emulator.
``tests/test_docstrings.py`` runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

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
    """Customer-frame methods: load state, segment, plot, plan and write back.

    Registered as ``df.chartmogul`` on every DataFrame; it works on customer frames (those of
    ``cm.read_customers``: an index named ``id`` and a ``uuid`` column) and never changes the
    frame. Under mypy, ``cm_frames.mypy_plugin`` types ``df.chartmogul`` as this class.

    Parameters
    ----------
    frame : pandas.DataFrame
        A customer frame.

    Raises
    ------
    AttributeError
        When the frame is not a customer frame (the message says how to restore one).

    Examples
    --------
    >>> df = cm.read_customers(client)  # doctest: +SKIP
    >>> df.chartmogul.tag_counts().head(2)
    tag
    eu     3
    vip    3
    Name: customers, dtype: int64
    """

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
        """The same customers as the server has them now (a new frame; this one is unchanged).

        Parameters
        ----------
        client : Client, optional
            The client to read with (default: the one the frame was loaded with).
        progress : bool, default True
            Show a progress bar while pages arrive.

        Returns
        -------
        pandas.DataFrame
            A fresh load of the same account (and the same ``email`` filter, if any).

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=5, seed=1) as emu:
        ...     client = emu.client()
        ...     loaded = cm.read_customers(client, progress=False)
        ...     edited = loaded.copy()
        ...     edited["tag.trial"] = True
        ...     _ = edited.chartmogul.plan().apply(client, progress=False)  # the server changes
        ...     fresh = loaded.chartmogul.refresh(progress=False)
        >>> "tag.trial" in loaded.columns, bool(fresh["tag.trial"].all())
        (False, True)
        """
        info = self._frame.attrs.get(ATTRS_KEY) or {}
        return read_customers(
            client_for_frame(self._frame, client),
            email=info.get("email"),
            refresh=True,
            progress=progress,
        )

    def to_arrow(self) -> pa.Table:
        """The frame as an Arrow table, with ``id`` as its first column.

        Returns
        -------
        pyarrow.Table
            The same columns and types (``id`` first instead of the index).

        Examples
        --------
        >>> df.chartmogul.to_arrow().column_names[:2]
        ['id', 'uuid']
        """
        return frame_to_table(self._frame)

    # -- segmentation (cm_frames.segments) and plots (cm_frames.plotting)
    def segment(
        self,
        rules: Mapping[str, str | pd.Series | Callable[[pd.DataFrame], Any]],
        *,
        default: str = "other",
        name: str = "segment",
    ) -> pd.Series:
        """Label each customer by the first rule it matches (``segments.segment``).

        Parameters
        ----------
        rules : mapping of str to str, Series or callable
            Label -> rule: a query string as for ``df.query`` (backticks around dotted names),
            a boolean mask aligned with the frame, or a callable returning one. A null in a
            mask does not match.
        default : str, default "other"
            The label of customers no rule matches.
        name : str, default "segment"
            The Series' name.

        Returns
        -------
        pandas.Series
            Categorical, categories in rule order then ``default``.

        Raises
        ------
        ValidationError
            When a rule names no column of the frame or is not a mask of it.

        Examples
        --------
        >>> df.chartmogul.segment({"big": "`custom.seats` >= 50"}).tolist()
        ['big', 'other', 'other', 'other', 'big', 'other']
        """
        return segments.segment(self._frame, rules, default=default, name=name)

    def bucket(
        self, column: str, bins: int | Sequence[float], labels: Sequence[str] | None = None
    ) -> pd.Series:
        """Bin a numeric column into labelled ranges (``segments.bucket``).

        Parameters
        ----------
        column : str
            A numeric column.
        bins : int or sequence of float
            A number of equal-width bins, or increasing edges (each bin includes its left
            edge; ``float("inf")`` as the last edge leaves the top bin open).
        labels : sequence of str, optional
            The bins' labels (default: their ranges, e.g. ``[10, 100)`` and ``≥ 100``).

        Returns
        -------
        pandas.Series
            An ordered categorical; customers without a value or outside the edges get null.

        Raises
        ------
        ValidationError
            When the column does not exist or is not numeric, or the bins are not increasing.

        Examples
        --------
        >>> df.chartmogul.bucket("custom.seats", [0, 10, 100, float("inf")]).tolist()
        ['≥ 100', '[0, 10)', '[10, 100)', nan, '≥ 100', '[10, 100)']
        """
        return segments.bucket(self._frame, column, bins, labels=labels)

    def cohort(self, freq: str = "MS") -> pd.Series:
        """The period each customer started in, from ``customer_since`` (``segments.cohort``).

        Parameters
        ----------
        freq : str, default "MS"
            Period starts: ``"MS"`` months, ``"QS"`` quarters, ``"YS"`` years, ``"W"`` or
            ``"W-MON"`` weeks starting Sunday or Monday, ``"D"`` days.

        Returns
        -------
        pandas.Series
            Each period's start (UTC timestamps); null without ``customer_since``.

        Raises
        ------
        ValidationError
            When ``freq`` is not such a period.

        Examples
        --------
        >>> df.chartmogul.cohort("QS").value_counts().sort_index()
        cohort
        2024-01-01 00:00:00+00:00    2
        2024-04-01 00:00:00+00:00    2
        2024-07-01 00:00:00+00:00    2
        Name: count, dtype: int64[pyarrow]
        """
        return segments.cohort(self._frame, freq=freq)

    def filter(
        self,
        tags_any: Sequence[str] | None = None,
        tags_all: Sequence[str] | None = None,
        tags_none: Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        **custom_equals: Any,
    ) -> pd.DataFrame:
        """The customers with those tags, status and custom attribute values.

        Parameters
        ----------
        tags_any, tags_all, tags_none : sequence of str, optional
            At least one, all, or none of these tags (a single tag may be a string).
        status : str or sequence of str, optional
            One status or several.
        **custom_equals
            ``key=value``: the custom attribute ``key`` equals ``value`` (a list or set: any
            of them; None: no value).

        Returns
        -------
        pandas.DataFrame
            The matching customers (a new frame).

        Raises
        ------
        ValidationError
            For unknown tags, statuses or keys (the message lists the known ones).

        Examples
        --------
        >>> df.chartmogul.filter(tags_any=["vip"], status="Active", plan="pro").index.tolist()
        [1, 5]
        """
        return segments.filter_customers(
            self._frame,
            tags_any=tags_any,
            tags_all=tags_all,
            tags_none=tags_none,
            status=status,
            **custom_equals,
        )

    def tag_counts(self) -> pd.Series:
        """How many customers carry each tag, most common first (ties by name).

        Returns
        -------
        pandas.Series
            Tag -> customers, zeros included.

        Examples
        --------
        >>> df.chartmogul.tag_counts().head()
        tag
        eu      3
        vip     3
        beta    2
        Name: customers, dtype: int64
        """
        return segments.tag_counts(self._frame)

    def tag_matrix(self) -> pd.DataFrame:
        """One bool column per tag (the ``tag.*`` columns, named by tag).

        Returns
        -------
        pandas.DataFrame
            Customers x tags, True where the customer carries the tag.

        Examples
        --------
        >>> df.chartmogul.tag_matrix().sum().to_dict()
        {'beta': 2, 'eu': 3, 'vip': 3}
        """
        return segments.tag_matrix(self._frame)

    def co_occurrence(self) -> pd.DataFrame:
        """Count the customers carrying each pair of tags (a symmetric tag × tag matrix).

        Returns
        -------
        pandas.DataFrame
            Tag x tag counts; the diagonal is each tag's own count.

        Examples
        --------
        >>> int(df.chartmogul.co_occurrence().loc["vip", "eu"])
        2
        """
        return segments.co_occurrence(self._frame)

    def profile(self, by: str | pd.Series) -> pd.DataFrame:
        """One row per segment: size, share, status mix, top tags, medians (``segments.profile``).

        Parameters
        ----------
        by : str or pandas.Series
            The segments: a column name or a Series such as ``segment()``'s.

        Returns
        -------
        pandas.DataFrame
            ``customers``, ``share``, ``status.<status>``, ``top_tags`` and ``median.<column>``
            per segment, and with today's ``mrr`` ``mrr.<currency>`` and
            ``mrr_share.<currency>``; customers without a segment form a last row with a
            null label.

        Raises
        ------
        ValidationError
            When ``by`` names no column of the frame.

        Examples
        --------
        >>> df.chartmogul.profile(df.chartmogul.segment({"vip": "`tag.vip`"}))["customers"]
        segment
        vip      3
        other    3
        Name: customers, dtype: int64
        """
        return segments.profile(self._frame, by)

    # -- money and leads (today's API: mrr/arr in cents, currency, lead_created_at)
    def money(self, column: str = "mrr") -> pd.Series:
        """An amount column in currency units: today's integer cents / 100 (``segments.money``).

        Parameters
        ----------
        column : str, default "mrr"
            An integer column of cents (``mrr`` or ``arr``).

        Returns
        -------
        pandas.Series
            The amounts in currency units (float64 Arrow), each in its customer's currency.

        Raises
        ------
        ValidationError
            When the frame has no such column or it is not integer cents.

        Examples
        --------
        >>> import pandas as pd
        >>> today = df.assign(mrr=pd.array([158977, 4900, 0, 0, 250000, 9950], "int64[pyarrow]"))
        >>> today.chartmogul.money().sum()
        4238.27
        """
        return segments.money(self._frame, column)

    def mrr_bands(
        self,
        edges: Sequence[float] = segments.MRR_BANDS,
        *,
        column: str = "mrr",
        labels: Sequence[str] | None = None,
    ) -> pd.Series:
        """Bin customers by MRR, edges and labels in currency units (``segments.mrr_bands``).

        Parameters
        ----------
        edges : sequence of float, default (0, 100, 1000, 10000, inf)
            Increasing band edges in currency units (not cents).
        column : str, default "mrr"
            An integer column of cents.
        labels : sequence of str, optional
            The bands' labels (default: ``$0–$100``, ``$100–$1k``, ... ``≥ $10k``).

        Returns
        -------
        pandas.Series
            An ordered categorical.

        Raises
        ------
        ValidationError
            When the column is not cents, the edges are not increasing, or the customers are
            in several currencies.

        Examples
        --------
        >>> import pandas as pd
        >>> today = df.assign(mrr=pd.array([158977, 4900, 0, 0, 250000, 9950], "int64[pyarrow]"),
        ...                   currency="USD", currency_sign="$")
        >>> today.chartmogul.mrr_bands([0, 100, 1000, float("inf")]).tolist()
        ['≥ $1k', '$0–$100', '$0–$100', '$0–$100', '≥ $1k', '$0–$100']
        """
        return segments.mrr_bands(self._frame, edges, column=column, labels=labels)

    def mrr_by(
        self,
        by: str | pd.Series,
        *,
        split: str | pd.Series | None = "status",
        column: str = "mrr",
    ) -> pd.DataFrame:
        """MRR per segment and status, in currency units (``segments.mrr_by``).

        Parameters
        ----------
        by : str or pandas.Series
            The segments: a column name or a Series such as ``segment()``'s.
        split : str, pandas.Series or None, default "status"
            The columns' key; None for the total only.
        column : str, default "mrr"
            An integer column of cents.

        Returns
        -------
        pandas.DataFrame
            One row per segment, one column per status, and ``total``.

        Raises
        ------
        ValidationError
            When a row would sum several currencies (filter one, or pass ``by="currency"``).

        Examples
        --------
        >>> import pandas as pd
        >>> today = df.assign(mrr=pd.array([158977, 4900, 0, 0, 250000, 9950], "int64[pyarrow]"),
        ...                   currency=["EUR", "USD", "USD", "USD", "EUR", "USD"])
        >>> today.chartmogul.mrr_by("currency", split=None)
                      mrr
        currency
        EUR       4089.77
        USD        148.50
        """
        return segments.mrr_by(self._frame, by, split=split, column=column)

    def days_to_convert(self) -> pd.Series:
        """Count the days each lead took to become a customer (``segments.days_to_convert``).

        Returns
        -------
        pandas.Series
            ``customer_since`` minus ``lead_created_at``, in days; null for leads.

        Raises
        ------
        ValidationError
            When the frame has no ``lead_created_at`` (a frame of the reference dialect).

        Examples
        --------
        >>> import pandas as pd
        >>> leads = df["customer_since"] - pd.Timedelta(days=3)
        >>> df.assign(lead_created_at=leads).chartmogul.days_to_convert().tolist()
        [3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
        """
        return segments.days_to_convert(self._frame)

    def lead_conversion(self, freq: str = "MS") -> pd.DataFrame:
        """Per lead cohort: leads, converted, conversion share, median days (``segments.lead_conversion``).

        Parameters
        ----------
        freq : str, default "MS"
            Period starts of ``lead_created_at``, as in ``cohort()``.

        Returns
        -------
        pandas.DataFrame
            ``leads``, ``converted``, ``conversion`` and ``median_days`` per cohort.

        Raises
        ------
        ValidationError
            When the frame has no ``lead_created_at``, or ``freq`` is not a period.

        Examples
        --------
        >>> import pandas as pd
        >>> leads = df["customer_since"] - pd.Timedelta(days=3)
        >>> df.assign(lead_created_at=leads).chartmogul.lead_conversion("YS")["conversion"]
        lead_cohort
        2024-01-01 00:00:00+00:00    1.0
        Name: conversion, dtype: float64
        """
        return segments.lead_conversion(self._frame, freq)

    @property
    def plot(self) -> PlotMethods:
        """Deck-ready matplotlib plots of this frame (``analysis.plotting.PlotMethods``).

        Returns
        -------
        PlotMethods
            ``segments``, ``mrr``, ``cohorts``, ``tags``, ``attribute``, ``status``,
            ``countries`` and ``co_occurrence``; each takes ``ax=``, ``title=``, ``figsize=`` and matplotlib
            keywords.

        Examples
        --------
        >>> ax = df.chartmogul.plot.cohorts(freq="QS", figsize=(8, 3))
        """
        from cm_frames.analysis.plotting import PlotMethods

        return PlotMethods(self._frame)

    # -- write-back (cm_frames.writeback, cm_frames.preview)
    def plan(self, baseline: pd.DataFrame | None = None) -> Plan:
        """The changes between this frame and what was loaded (or ``baseline``); nothing sent.

        Parameters
        ----------
        baseline : pandas.DataFrame, optional
            The frame to compare with (default: the snapshot this frame was loaded from).

        Returns
        -------
        Plan
            The operations that would make the server match this frame.

        Raises
        ------
        ValidationError
            When there is no baseline to diff against, or the edits cannot be written (the
            message names the column, customers and fix).

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=5, seed=1) as emu:
        ...     client = emu.client()
        ...     loaded = cm.read_customers(client, progress=False)
        ...     edited = loaded.copy()
        ...     edited["tag.trial"] = True
        ...     plan = edited.chartmogul.plan()
        ...     result = plan.apply(client, progress=False)
        >>> plan.summary().by_kind["AddTags"], result.applied
        (5, 5)
        """
        from cm_frames.writeback.frame import plan_frame

        return plan_frame(self._frame, baseline)

    def update_from(
        self,
        table: pd.DataFrame,
        *,
        on: str,
        columns: Mapping[str, str],
        missing: Literal["keep", "remove"] = "keep",
        others: Literal["keep", "remove"] = "keep",
    ) -> pd.DataFrame:
        """A copy with ``table``'s scores written in by key (``writeback.update.update_from``).

        Parameters
        ----------
        table : pandas.DataFrame
            One row per key, the key in a column (or the index) named ``on``.
        on : {"external_id", "email", "uuid", "id"}
            The key; every customer sharing it (an email) is updated.
        columns : mapping of str to str
            Table column -> ``custom.*`` or ``tag.*`` column (a tag takes a boolean column).
        missing : {"keep", "remove"}, default "keep"
            NA in the table keeps the customer's value, or removes it.
        others : {"keep", "remove"}, default "keep"
            Customers absent from the table keep their values, or lose the attribute.

        Returns
        -------
        pandas.DataFrame
            The edited copy: same index, row order and other columns. ``plan()`` of it lists
            the table's rows that matched no customer.

        Raises
        ------
        ValidationError
            An unknown key or column, a target that is not ``custom.*``/``tag.*``, a tag's
            column that is not boolean, values that do not fit, or a key the table has twice.

        Examples
        --------
        >>> import cm_frames as cm
        >>> import pandas as pd
        >>> with cm.Emulator(customers=5, seed=1) as emu:
        ...     loaded = cm.read_customers(emu.client(), progress=False)
        ...     scores = pd.DataFrame({"id": [loaded.index[1], 999], "score": [72, 15]})
        ...     edited = loaded.chartmogul.update_from(
        ...         scores, on="id", columns={"score": "custom.lead_score"})
        ...     plan = edited.chartmogul.plan()
        >>> [(op.kind, op.attribute) for op in plan], plan.unmatched
        ([('AddCustom', 'custom.lead_score')], (999,))
        """
        from cm_frames.writeback.update import update_from

        return update_from(
            self._frame, table, on=on, columns=columns, missing=missing, others=others
        )

    def push(
        self, client: Client | None = None, *, dry_run: bool = True, **apply_options: Any
    ) -> Any:
        """Plan and, only with ``dry_run=False``, apply.

        Parameters
        ----------
        client : Client, optional
            The client to apply with (default: the one the frame was loaded with).
        dry_run : bool, default True
            Only plan; nothing is sent.
        **apply_options
            Passed to ``Plan.apply``.

        Returns
        -------
        Plan or ApplyResult
            The plan (dry run) or the result of applying it.

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=5, seed=1) as emu:
        ...     client = emu.client()
        ...     loaded = cm.read_customers(client, progress=False)
        ...     edited = loaded.copy()
        ...     edited["tag.trial"] = True
        ...     plan = edited.chartmogul.push()  # a dry run: nothing sent
        ...     result = edited.chartmogul.push(dry_run=False, progress=False)
        >>> len(plan.operations), result.applied
        (5, 5)
        """
        from cm_frames.writeback.frame import push

        return push(self._frame, client, dry_run=dry_run, **apply_options)

    def preview(self, client: Client | None = None) -> ipywidgets.Widget:
        """A dry-run widget: summary, changes, exclusions, then Apply and Undo buttons.

        Parameters
        ----------
        client : Client, optional
            The client Apply uses (default: the one the frame was loaded with).

        Returns
        -------
        ipywidgets.Widget
            The widget (display it in a notebook).

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=5, seed=1) as emu:
        ...     client = emu.client()
        ...     loaded = cm.read_customers(client, progress=False)
        ...     edited = loaded.copy()
        ...     edited["tag.trial"] = True
        ...     widget = edited.chartmogul.preview()  # the last line of a cell shows it
        >>> widget.state, len(widget.ticked_rows())
        ('planned', 5)
        """
        from cm_frames.writeback.preview import preview

        return preview(self._frame, client)
