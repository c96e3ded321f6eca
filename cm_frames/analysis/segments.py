"""Segmentation helpers: label, bucket, filter and profile customers of an Arrow-backed frame.

Pure functions that take a customer frame first (``df.chartmogul`` delegates to them) and never
mutate it. They are written for the frame's Arrow dtypes, where pandas' defaults surprise:

- A null never matches. Comparisons on Arrow columns give null where a value is missing
  (``custom.seats > 10`` is null for customers without seats); every mask here treats that
  null as "no match" instead of raising or propagating it.
- Nullable integers stay exact until a median is taken; Arrow booleans are booleans (pandas'
  own ``df.plot`` skips them), and null group keys get a group of their own instead of being
  dropped.
- Tags are read from the ``tag.*`` columns, which is what an analyst edits; the ``tags`` list
  column is only the wire format.

Today's API adds money and lead dates: ``mrr``/``arr`` in integer cents (``money`` gives
currency units), ``currency``, ``lead_created_at``. ``mrr_bands``, ``mrr_by``, ``profile``,
``days_to_convert`` and ``lead_conversion`` use them; an amount is never summed across
currencies without saying so (a ValidationError names the currencies and the fix,
``df[df.currency == "USD"]``).

The examples use ``df``, a frame of six customers as ``read_customers`` returns them (tags
``vip``, ``eu``, ``beta``; custom ``seats`` and ``plan``; statuses Active, Cancelled, Lead and
Past Due); ``tests/test_docstrings.py`` builds it from their JSON and runs the examples. The
money examples give it today's columns with ``df.assign``.
"""

from __future__ import annotations

import difflib
import itertools
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cm_frames.errors import ValidationError
from cm_frames.schema import CLEARBIT_PREFIX, CUSTOM_PREFIX, TAG_PREFIX, TIMESTAMP

__all__ = [
    "CENTS",
    "MISSING_LABEL",
    "MRR_BANDS",
    "Currency",
    "Grouping",
    "bucket",
    "co_occurrence",
    "cohort",
    "cross_counts",
    "days_to_convert",
    "filter_customers",
    "grouping",
    "lead_conversion",
    "money",
    "money_text",
    "mrr_bands",
    "mrr_by",
    "numeric_profile_columns",
    "one_currency",
    "period_alias",
    "profile",
    "segment",
    "tag_columns",
    "tag_counts",
    "tag_matrix",
]

Rule = str | pd.Series | npt.NDArray[np.bool_] | Callable[[pd.DataFrame], Any]
BoolArray = npt.NDArray[np.bool_]

#: How customers without a value are labelled where a label must be text (plots, top tags).
MISSING_LABEL: Final = "(no value)"

#: How many tags ``profile`` lists per segment in ``top_tags``.
TOP_TAGS: Final = 3

# --- errors and lookups ----------------------------------------------------------------------------


def _closest(name: str, choices: Iterable[str], *, limit: int = 8) -> str:
    """A short list of the choices most like ``name`` (or the first few), for error messages."""
    choices = list(choices)
    if not choices:
        return "none"
    close = difflib.get_close_matches(name, choices, n=limit, cutoff=0.5)
    shown = close or choices[:limit]
    more = "" if len(choices) <= len(shown) else f" (and {len(choices) - len(shown)} more)"
    prefix = "closest: " if close else ""
    return prefix + ", ".join(repr(c) for c in shown) + more


def _column(df: pd.DataFrame, column: str, *, parameter: str) -> pd.Series:
    if column not in df.columns:
        raise ValidationError(
            f"{parameter}: the frame has no column {column!r}; "
            f"{_closest(column, map(str, df.columns))}. Column names are the frame's, "
            "e.g. 'custom.seats', 'clearbit.metrics.employees', 'tag.vip'."
        )
    series = df[column]
    if isinstance(series, pd.DataFrame):
        raise ValidationError(f"{parameter}: the frame has several columns named {column!r}")
    return series


def tag_columns(df: pd.DataFrame) -> list[str]:
    """The ``tag.*`` columns of a frame, in frame order.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).

    Returns
    -------
    list of str
        Their names (``tag.vip``, ...).

    Examples
    --------
    >>> tag_columns(df)
    ['tag.beta', 'tag.eu', 'tag.vip']
    """
    return [c for c in df.columns if isinstance(c, str) and c.startswith(TAG_PREFIX)]


def _is_bool(dtype: Any) -> bool:
    return bool(pd.api.types.is_bool_dtype(dtype))


def _is_number(dtype: Any) -> bool:
    """Integer or float, but not bool (which pandas counts as numeric)."""
    return bool(pd.api.types.is_numeric_dtype(dtype)) and not _is_bool(dtype)


# --- masks -------------------------------------------------------------------------------------------


def _align(values: pd.Series, df: pd.DataFrame, what: str) -> pd.Series:
    """``values`` on the frame's index: as is, or reordered when it holds the same customers."""
    if values.index.equals(df.index):
        return values
    if len(values) == len(df) and values.index.is_unique and values.index.isin(df.index).all():
        return values.reindex(df.index)
    missing = int((~df.index.isin(values.index)).sum())
    raise ValidationError(
        f"{what} is a Series whose index does not match the frame's ({missing} of {len(df)} "
        "customers missing from it). Build it from this frame (e.g. df['tag.vip'] or "
        "df['custom.seats'] > 10), or align it first: series.reindex(df.index)."
    )


def _as_mask(values: Any, df: pd.DataFrame, what: str) -> BoolArray:
    """A numpy bool array, one per customer, from a mask-like value; null counts as False."""
    if isinstance(values, np.ndarray | pd.api.extensions.ExtensionArray):
        if values.ndim != 1 or len(values) != len(df):
            raise ValidationError(
                f"{what} is an array of shape {values.shape}; a mask needs one value per "
                f"customer ({len(df)})"
            )
        values = pd.Series(values, index=df.index, copy=False)
    elif not isinstance(values, pd.Series):
        raise ValidationError(
            f"{what} gave a {type(values).__name__}; a mask must be a boolean Series (or array) "
            "with one value per customer, e.g. df['custom.seats'] > 10"
        )
    values = _align(values, df, what)
    mask: BoolArray
    if _is_bool(values.dtype):
        mask = values.to_numpy(dtype=bool, na_value=False)
        return mask
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
        "boolean",
        "empty",
    ):
        mask = values.fillna(False).to_numpy(dtype=bool)
        return mask
    raise ValidationError(
        f"{what} gave {values.dtype} values; a mask must be boolean (True where the rule "
        "matches), e.g. df['custom.seats'] > 10 rather than df['custom.seats']"
    )


_BACKTICKED: Final = re.compile(r"`([^`]*)`")
# Frames of cm_frames itself are skipped whatever the module (a hard-coded list of module
# paths broke ``@var`` silently when a module moved).
_PACKAGE: Final = __name__.split(".", 1)[0]


def _is_ours(module: object) -> bool:
    return isinstance(module, str) and (module == _PACKAGE or module.startswith(_PACKAGE + "."))


def _caller_scope() -> tuple[dict[str, Any], dict[str, Any]]:
    """Locals and globals of the code that called into cm_frames, for ``@name`` in queries.

    ``df.query("x > @limit")`` looks ``limit`` up where ``query`` was called; a query passed
    through the accessor and this module should behave the same, so skip our own frames.
    """
    frame = sys._getframe(1)
    while frame.f_back is not None and _is_ours(frame.f_globals.get("__name__")):
        frame = frame.f_back
    return dict(frame.f_locals), frame.f_globals


def _query_mask(
    df: pd.DataFrame, query: str, what: str, scope: tuple[dict[str, Any], dict[str, Any]]
) -> BoolArray:
    for name in _BACKTICKED.findall(query):
        if name not in df.columns:
            raise ValidationError(
                f"{what}: the query {query!r} names column `{name}`, which the frame does not "
                f"have; {_closest(name, map(str, df.columns))}"
            )
    local_dict, global_dict = scope
    try:
        result = df.eval(query, local_dict=local_dict, global_dict=global_dict)
    except Exception as error:  # pandas raises many types (SyntaxError, NameError, TypeError...)
        hint = (
            "Put column names with dots or spaces in backticks (`clearbit.metrics.employees` "
            ">= 1000, `tag.at risk`), refer to Python variables as @name, and compare "
            "timestamps with a time zone ('2020-01-01T00:00Z')."
        )
        raise ValidationError(
            f"{what}: the query {query!r} failed: {type(error).__name__}: {error}. {hint}"
        ) from error
    if not isinstance(result, pd.Series):
        raise ValidationError(
            f"{what}: the query {query!r} gave a {type(result).__name__}, not one boolean per "
            "customer; write a condition such as `custom.seats` > 10"
        )
    return _as_mask(result, df, f"{what} (query {query!r})")


def _rule_mask(
    df: pd.DataFrame, label: str, rule: object, scope: tuple[dict[str, Any], dict[str, Any]]
) -> BoolArray:
    what = f"rule {label!r}"
    if isinstance(rule, str):
        return _query_mask(df, rule, what, scope)
    if isinstance(rule, pd.Series | np.ndarray | pd.api.extensions.ExtensionArray):
        return _as_mask(rule, df, what)
    if callable(rule):
        try:
            result = rule(df)
        except Exception as error:
            raise ValidationError(
                f"{what}: the callable raised {type(error).__name__}: {error}. It is called "
                "with the whole frame and must return one boolean per customer."
            ) from error
        return _as_mask(result, df, f"{what} (callable)")
    raise ValidationError(
        f"{what} is a {type(rule).__name__}; a rule is a query string "
        "(\"`clearbit.metrics.employees` >= 1000\"), a boolean mask (df['tag.vip']) or a "
        "callable taking the frame and returning a mask (lambda d: d['custom.seats'] > 10)"
    )


# --- labelling -------------------------------------------------------------------------------------


def segment(
    df: pd.DataFrame,
    rules: Mapping[str, Rule],
    *,
    default: str = "other",
    name: str = "segment",
) -> pd.Series:
    """Label each customer with the first rule it matches, else ``default``.

    A rule is a query string as for ``df.query`` (backticks around dotted names, ``@name`` for
    variables), a boolean mask aligned with the frame, or a callable taking the frame and
    returning such a mask. A null in a mask (a customer without the attribute) does not match.
    The result is categorical, categories in rule order then ``default``.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).
    rules : mapping of str to str, Series or callable
        Label -> rule (query string, boolean mask, or a callable returning a mask).
    default : str, default "other"
        The label of customers no rule matches.
    name : str, default "segment"
        The Series' name.

    Returns
    -------
    pandas.Series
        Categorical labels, categories in rule order then ``default``.

    Raises
    ------
    ValidationError
        When a rule names no column of the frame, or is not a boolean mask of it.

    Examples
    --------
    >>> segment(df, {"big": "`custom.seats` >= 50", "vip": "`tag.vip`"}).tolist()
    ['big', 'other', 'other', 'vip', 'big', 'other']
    """
    labels = list(rules)
    for label in labels:
        if not isinstance(label, str):
            raise ValidationError(
                f"segment label {label!r} is a {type(label).__name__}; labels must be strings"
            )
    if default in rules:
        raise ValidationError(
            f"default={default!r} is also a rule label; pick another default (default='rest') "
            "or rename the rule, so that each label means one thing"
        )
    scope = _caller_scope()
    codes = np.full(len(df), len(labels), dtype=np.int32)  # everyone starts in the default
    unassigned = np.ones(len(df), dtype=bool)
    for position, label in enumerate(labels):
        if not unassigned.any():
            break
        # first match wins: only customers not claimed by an earlier rule take this label
        take = _rule_mask(df, label, rules[label], scope) & unassigned
        codes[take] = position
        unassigned &= ~take
    categories = pd.Index([*labels, default], dtype=object)
    values = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories))
    return pd.Series(values, index=df.index, name=name)


def _number_text(value: float) -> str:
    if np.isinf(value):
        return "∞" if value > 0 else "-∞"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.6g}"


def _bin_labels(edges: npt.NDArray[np.float64], *, closed_last: bool) -> list[str]:
    labels = []
    last = len(edges) - 2
    for i, (low, high) in enumerate(itertools.pairwise(edges)):
        if np.isneginf(low):
            labels.append(f"< {_number_text(high)}")
        elif np.isposinf(high):
            labels.append(f"≥ {_number_text(low)}")
        else:
            close = "]" if closed_last and i == last else ")"
            labels.append(f"[{_number_text(low)}, {_number_text(high)}{close}")
    return labels


def bucket(
    df: pd.DataFrame,
    column: str,
    bins: int | Sequence[float],
    labels: Sequence[str] | None = None,
) -> pd.Series:
    """Bin a numeric column into ordered, labelled ranges (an ordered categorical).

    ``bins`` is either a number of equal-width bins over the column's range, or increasing
    edges; each bin includes its left edge (``[10, 50)``: 10 to 49.99...), and with a number of
    bins the last one includes the maximum. Use ``float("inf")`` as the last edge for an open
    top bin (labelled ``≥ 1,000``). Customers without a value, or outside the edges, get null.
    Integer columns such as today's ``mrr`` (int64 cents) are cut exactly, in their own unit;
    ``mrr_bands`` takes edges in currency units instead and labels bands ``$0–$100``.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).
    column : str
        A numeric column.
    bins : int or sequence of float
        A number of equal-width bins, or increasing edges.
    labels : sequence of str, optional
        The bins' labels (default: their ranges, ``[10, 100)`` and ``≥ 100``).

    Returns
    -------
    pandas.Series
        An ordered categorical; null without a value or outside the edges.

    Raises
    ------
    ValidationError
        When the column does not exist or is not numeric, or the bins are not increasing.

    Examples
    --------
    >>> bucket(df, "custom.seats", [0, 10, 100, float("inf")]).value_counts().sort_index()
    custom.seats
    [0, 10)      1
    [10, 100)    2
    ≥ 100        2
    Name: count, dtype: int64
    """
    series = _column(df, column, parameter="bucket column")
    if not _is_number(series.dtype):
        raise ValidationError(
            f"bucket column {column!r} is {series.dtype}, not a number; bucket numeric columns "
            "(custom Integer attributes, clearbit metrics), use cohort() for timestamps and "
            "segment() for anything else"
        )
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    present = values[~np.isnan(values)]
    if isinstance(bins, bool):
        raise ValidationError(f"bins={bins!r}: pass a number of bins or a list of edges")
    if isinstance(bins, int | np.integer):
        if bins < 1:
            raise ValidationError(f"bins={bins}: the number of bins must be at least 1")
        low, high = (present.min(), present.max()) if present.size else (0.0, 1.0)
        if low == high:  # one distinct value: a bin of width 1 around it
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, int(bins) + 1)
        closed_last = True
    else:
        edges = np.asarray(list(bins), dtype="float64")
        if edges.size < 2 or np.isnan(edges).any() or not (np.diff(edges) > 0).all():
            raise ValidationError(
                f"bins={list(bins)!r}: edges must be at least two increasing numbers, e.g. "
                "[0, 10, 50, float('inf')]"
            )
        closed_last = False
    names = list(labels) if labels is not None else _bin_labels(edges, closed_last=closed_last)
    if len(names) != len(edges) - 1 or len(set(names)) != len(names):
        raise ValidationError(
            f"labels={names!r}: {len(edges) - 1} bins need {len(edges) - 1} distinct labels"
        )
    cut_edges = edges.copy()
    if closed_last:  # right-open bins would leave the maximum out of the last one
        cut_edges[-1] = np.nextafter(cut_edges[-1], np.inf)
    # bin i holds edges[i] <= value < edges[i + 1]; NaN sorts past the last edge
    codes = np.searchsorted(cut_edges, values, side="right") - 1
    codes[(codes < 0) | (codes >= len(names))] = -1
    dtype = pd.CategoricalDtype(pd.Index(names, dtype=object), ordered=True)
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), index=df.index, name=column)


_WEEKDAYS: Final = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_MONTHS: Final = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")  # fmt: skip


def period_alias(freq: str) -> str:
    """Return the pandas period alias whose periods start where ``freq``'s labels fall.

    ``"MS"`` -> ``"M"``, ``"QS"`` -> ``"Q-DEC"``, ``"W-MON"`` -> ``"W-SUN"`` (weeks starting Monday end
    on Sunday). Only single periods starting on a date are supported (not ``"2MS"`` or ``"ME"``).

    Parameters
    ----------
    freq : str
        A pandas frequency of periods labelled by their first day: ``"D"``, ``"W"``,
        ``"W-MON"``, ``"MS"``, ``"QS"``, ``"QS-FEB"``, ``"YS"``, ``"YS-JUL"``.

    Returns
    -------
    str
        The alias to give ``Series.dt.to_period``.

    Raises
    ------
    ValidationError
        When ``freq`` is not one period starting on a date.

    Examples
    --------
    >>> period_alias("MS"), period_alias("QS"), period_alias("W-MON")
    ('M', 'Q-DEC', 'W-SUN')
    >>> period_alias("ME")
    Traceback (most recent call last):
    ...
    cm_frames.errors.ValidationError: freq='ME': cohorts are periods starting on a date; ...
    """
    bad = ValidationError(
        f"freq={freq!r}: cohorts are periods starting on a date; use 'D' (day), 'W' (weeks "
        "starting Sunday) or 'W-MON' (Monday), 'MS' (month), 'QS' (quarter) or 'YS' (year); "
        "'QS-FEB' and 'YS-JUL' shift quarters and years"
    )
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        raise bad from None
    if offset.n != 1:
        raise bad
    if isinstance(offset, pd.offsets.Day):
        return "D"
    # (pandas-stubs do not declare the offsets' anchors: weekday, startingMonth, month)
    if isinstance(offset, pd.offsets.Week) and offset.weekday is not None:  # type: ignore[attr-defined]
        weekday: int = offset.weekday  # type: ignore[attr-defined]
        # weeks labelled by their first day end the day before: W-MON starts -> W-SUN periods
        return f"W-{_WEEKDAYS[(weekday - 1) % 7]}"
    if isinstance(offset, pd.offsets.MonthBegin):
        return "M"
    if isinstance(offset, pd.offsets.QuarterBegin):
        first_month: int = offset.startingMonth  # type: ignore[attr-defined]
        return f"Q-{_MONTHS[(first_month - 2) % 12]}"
    if isinstance(offset, pd.offsets.YearBegin):
        year_month: int = offset.month  # type: ignore[attr-defined]
        return f"Y-{_MONTHS[(year_month - 2) % 12]}"
    raise bad


def cohort(df: pd.DataFrame, freq: str = "MS") -> pd.Series:
    """The start (UTC) of the period each customer started in, from ``customer_since``.

    ``freq`` is an offset alias of period starts: ``"MS"`` months, ``"QS"`` quarters, ``"YS"``
    years, ``"W"``/``"W-MON"`` weeks starting Sunday/Monday, ``"D"`` days. The result keeps the
    frame's timestamp dtype; customers without ``customer_since`` get null.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).
    freq : str, default "MS"
        Period starts: ``"MS"``, ``"QS"``, ``"YS"``, ``"W"``, ``"W-MON"`` or ``"D"``.

    Returns
    -------
    pandas.Series
        The start of each customer's period (UTC timestamps).

    Raises
    ------
    ValidationError
        When ``freq`` is not a single period starting on a date.

    Examples
    --------
    >>> cohort(df, "QS").value_counts().sort_index()
    cohort
    2024-01-01 00:00:00+00:00    2
    2024-04-01 00:00:00+00:00    2
    2024-07-01 00:00:00+00:00    2
    Name: count, dtype: int64[pyarrow]
    """
    since = _column(df, "customer_since", parameter="cohort")
    alias = period_alias(freq)
    if not pd.api.types.is_datetime64_any_dtype(since.dtype) and not (
        isinstance(since.dtype, pd.ArrowDtype) and pa.types.is_timestamp(since.dtype.pyarrow_dtype)
    ):
        raise ValidationError(
            f"cohort: customer_since is {since.dtype}, not a timestamp; reload the frame with "
            "cm.read_customers() or convert it with pd.to_datetime(..., utc=True)"
        )
    instants = pd.DatetimeIndex(
        since.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    )
    # to_period drops a time zone with a warning: periods are computed on naive UTC instants
    starts = instants.to_period(alias).start_time
    arrow = pa.array(starts.to_numpy(dtype="datetime64[us]"), type=pa.timestamp("us"))
    values = pd.arrays.ArrowExtensionArray(arrow.cast(TIMESTAMP.pyarrow_dtype))
    return pd.Series(values, index=df.index, name="cohort")


# --- filtering ---------------------------------------------------------------------------------------


def _names(values: str | Sequence[str] | None) -> list[str]:
    if values is None:
        return []
    return [values] if isinstance(values, str) else list(values)


def _tag_mask(df: pd.DataFrame, tag: str, parameter: str) -> BoolArray:
    column = f"{TAG_PREFIX}{tag}"
    if column not in df.columns:
        known = [c.removeprefix(TAG_PREFIX) for c in tag_columns(df)]
        raise ValidationError(
            f"{parameter}: no customer in this frame has the tag {tag!r} (no column "
            f"{column!r}); tags here: {_closest(tag, known)}. Tags are case-sensitive."
        )
    mask: BoolArray = df[column].to_numpy(dtype=bool, na_value=False)
    return mask


def _status_mask(df: pd.DataFrame, statuses: list[str]) -> BoolArray:
    column = _column(df, "status", parameter="status")
    known = set(column.dropna().unique().tolist())
    dtype = column.dtype
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_dictionary(dtype.pyarrow_dtype):
        # a subset of a frame keeps the whole dictionary: statuses of the account, present or not
        arrow = column.array.__arrow_array__().unify_dictionaries()
        for chunk in arrow.chunks:
            known.update(chunk.dictionary.to_pylist())
    unknown = [s for s in statuses if s not in known]
    if unknown:
        raise ValidationError(
            f"status: {unknown!r} is not a status of this account; statuses: "
            f"{', '.join(repr(s) for s in sorted(known, key=str))} (case-sensitive)"
        )
    mask: BoolArray = column.isin(statuses).to_numpy(dtype=bool, na_value=False)
    return mask


def _typed_scalar(series: pd.Series, value: object, what: str) -> object:
    """``value`` as the column's type, so ``seats=10`` and ``renewal_date="2024-01-01"`` work."""
    dtype = series.dtype
    try:
        if isinstance(dtype, pd.ArrowDtype) and pa.types.is_timestamp(dtype.pyarrow_dtype):
            stamp = pd.Timestamp(value)  # type: ignore[arg-type]
            return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
        if isinstance(dtype, pd.ArrowDtype):
            arrow_type = dtype.pyarrow_dtype
            if pa.types.is_dictionary(arrow_type):
                arrow_type = arrow_type.value_type
            if pa.types.is_boolean(arrow_type) and not isinstance(value, bool | np.bool_):
                raise TypeError(f"{value!r} is not a bool")
            return pa.scalar(value, type=arrow_type).as_py()
    except (TypeError, ValueError, pa.ArrowException) as error:
        raise ValidationError(
            f"{what}: {value!r} cannot be compared with a {dtype} column ({error}); pass a value "
            "of the attribute's type (int for Integer, True/False for Boolean, a date string or "
            "Timestamp for Timestamp, str for String)"
        ) from None
    return value


def _custom_mask(df: pd.DataFrame, key: str, value: object) -> BoolArray:
    column = f"{CUSTOM_PREFIX}{key}"
    if column not in df.columns:
        known = [
            c.removeprefix(CUSTOM_PREFIX) for c in df.columns if str(c).startswith(CUSTOM_PREFIX)
        ]
        raise ValidationError(
            f"{key}={value!r}: the frame has no custom attribute {key!r} (no column "
            f"{column!r}); custom keys: {_closest(key, known)}. Pass keys without 'custom.'."
        )
    series = df[column]
    what = f"{key}={value!r}"
    if value is None:  # customers without the attribute
        missing: BoolArray = series.isna().to_numpy(dtype=bool)
        return missing
    if isinstance(value, list | tuple | set | frozenset):  # any of several values
        wanted = [_typed_scalar(series, v, what) for v in value]
        matched: BoolArray = series.isin(wanted).to_numpy(dtype=bool, na_value=False)
        return matched
    equal = series == _typed_scalar(series, value, what)
    return _as_mask(equal, df, what)


def filter_customers(
    df: pd.DataFrame,
    *,
    tags_any: str | Sequence[str] | None = None,
    tags_all: str | Sequence[str] | None = None,
    tags_none: str | Sequence[str] | None = None,
    status: str | Sequence[str] | None = None,
    **custom_equals: Any,
) -> pd.DataFrame:
    """The customers matching every condition given (a new frame; ``df`` is unchanged).

    ``tags_any``: at least one of these tags; ``tags_all``: all of them; ``tags_none``: none of
    them (a single tag may be passed as a string; None or empty means no condition).
    ``status``: one status or several. Each keyword ``key=value`` keeps customers whose custom
    attribute ``key`` equals ``value`` (a list or set: any of them; None: no value). Unknown
    tags, statuses or keys raise ValidationError listing the known ones.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).
    tags_any, tags_all, tags_none : str or sequence of str, optional
        At least one, all, or none of these tags.
    status : str or sequence of str, optional
        One status or several.
    **custom_equals
        ``key=value`` on custom attributes (a list or set: any of them; None: no value).

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
    >>> filter_customers(df, tags_any=["vip"], status="Active").index.tolist()
    [1, 5]
    """
    keep = np.ones(len(df), dtype=bool)
    any_tags = _names(tags_any)
    if any_tags:
        matched = np.zeros(len(df), dtype=bool)
        for tag in any_tags:
            matched |= _tag_mask(df, tag, "tags_any")
        keep &= matched
    for tag in _names(tags_all):
        keep &= _tag_mask(df, tag, "tags_all")
    for tag in _names(tags_none):
        keep &= ~_tag_mask(df, tag, "tags_none")
    statuses = _names(status)
    if statuses:
        keep &= _status_mask(df, statuses)
    for key, value in custom_equals.items():
        keep &= _custom_mask(df, key, value)
    return df.loc[keep].copy()


# --- tags --------------------------------------------------------------------------------------------


def _carriers(flags: pd.Series) -> npt.NDArray[np.intp]:
    """Positions of the customers whose bool is True (null is not True).

    Tags are sparse, so the positions are a small array; Arrow finds them without unpacking
    the bitmap into a numpy bool array first.
    """
    if isinstance(flags.dtype, pd.ArrowDtype):
        positions = pc.indices_nonzero(flags.array.__arrow_array__())
        return np.asarray(positions.to_numpy(), dtype=np.intp)
    return np.flatnonzero(flags.to_numpy(dtype=bool, na_value=False))


def _tag_bits(df: pd.DataFrame) -> tuple[list[str], BoolArray]:
    """Tag names and an (n customers × n tags) bool matrix; nulls are False."""
    columns = tag_columns(df)
    matrix = np.zeros((len(df), len(columns)), dtype=bool)
    for i, column in enumerate(columns):
        matrix[_carriers(df[column]), i] = True
    return [c.removeprefix(TAG_PREFIX) for c in columns], matrix


def tag_counts(df: pd.DataFrame) -> pd.Series:
    """How many customers carry each tag, most common first (ties by name); zeros included.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).

    Returns
    -------
    pandas.Series
        Tag -> customers carrying it, named ``customers``.

    Examples
    --------
    >>> tag_counts(df).head(3)
    tag
    eu      3
    vip     3
    beta    2
    Name: customers, dtype: int64
    """
    columns = tag_columns(df)
    # Series.sum skips nulls; on Arrow bools it is one pyarrow kernel per column
    counts = [int(df[c].sum()) for c in columns]
    result = pd.Series(
        np.asarray(counts, dtype=np.int64),
        index=pd.Index([c.removeprefix(TAG_PREFIX) for c in columns], dtype=object, name="tag"),
        name="customers",
    )
    return _most_common_first(result)


def _most_common_first(counts: pd.Series) -> pd.Series:
    order = np.lexsort((counts.index.to_numpy(dtype=str), -counts.to_numpy()))
    return counts.iloc[order]


def tag_matrix(df: pd.DataFrame) -> pd.DataFrame:
    """One Arrow bool column per tag, named by the tag (nulls read as False), index as ``df``.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).

    Returns
    -------
    pandas.DataFrame
        One bool column per tag, named by the tag.

    Examples
    --------
    >>> tag_matrix(df).sum().to_dict()
    {'beta': 2, 'eu': 3, 'vip': 3}
    """
    columns = tag_columns(df)
    data = {
        c.removeprefix(TAG_PREFIX): df[c].fillna(False).astype(pd.ArrowDtype(pa.bool_()))
        for c in columns
    }
    matrix = pd.DataFrame(data, index=df.index)
    matrix.columns = pd.Index(list(data), dtype=object, name="tag")
    return matrix


def co_occurrence(df: pd.DataFrame) -> pd.DataFrame:
    """Count the customers carrying each pair of tags: a symmetric tag × tag matrix.

    The diagonal is each tag's own count; tags are ordered most common first.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).

    Returns
    -------
    pandas.DataFrame
        Tag x tag counts, most common tags first.

    Examples
    --------
    >>> int(co_occurrence(df).loc["vip", "eu"])
    2
    """
    order = tag_counts(df).index
    names, bits = _tag_bits(df)
    position = {name: i for i, name in enumerate(names)}
    bits = np.ascontiguousarray(bits[:, [position[name] for name in order]])
    product = np.zeros((len(names), len(names)), dtype=np.int64)
    for i in range(len(names)):
        # row i: among the customers with tag i, how many carry each tag. Tags are sparse, so
        # gathering those customers beats a dense (customers x tags) matrix product.
        carriers = bits[np.flatnonzero(bits[:, i])]
        product[i] = carriers.sum(axis=0, dtype=np.int64)
    index = pd.Index(list(order), dtype=object, name="tag")
    return pd.DataFrame(product, index=index, columns=index.copy())


# --- grouping and profiles -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Grouping:
    """Customers split by a key, as ``grouping()`` returns them.

    ``codes[i]`` is the position of customer i's group in ``labels``, or -1 when its key is
    missing.

    Attributes
    ----------
    name : str
        The key's name (the column, or the Series' name).
    labels : list
        The groups' labels, in order.
    codes : numpy.ndarray of intp
        Each customer's group: a position in ``labels``, -1 for a missing key.
    ordered : bool
        The labels have a natural order (numbers, dates, an ordered categorical such as a
        bucket) rather than one to sort by size.

    Examples
    --------
    >>> import numpy as np
    >>> groups = Grouping("plan", ["basic", "pro"], np.array([1, 0, -1]), ordered=False)
    >>> groups.has_missing
    True
    """

    name: str
    labels: list[Any]
    codes: npt.NDArray[np.intp]
    ordered: bool

    @property
    def has_missing(self) -> bool:
        """Whether some customer's key is missing (code -1)."""
        return bool((self.codes < 0).any())


def grouping(df: pd.DataFrame, by: str | pd.Series) -> Grouping:
    """Return the groups of ``by``: a column name, or a Series aligned with the frame.

    A categorical key keeps its categories and their order, empty ones included (a segment
    nobody matched is worth seeing); any other key is grouped by its sorted distinct values.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame.
    by : str or pandas.Series
        A column name, or a Series on the frame's index (``segment()``, ``bucket()``,
        ``cohort()``).

    Returns
    -------
    Grouping
        The labels and each customer's code.

    Raises
    ------
    ValidationError
        When ``by`` names no column, is not aligned with the frame, or holds lists.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"custom.plan": ["pro", "basic", None, "pro"]})
    >>> groups = grouping(df, "custom.plan")
    >>> groups.labels, groups.codes.tolist(), groups.ordered
    (['basic', 'pro'], [1, 0, -1, 1], False)
    """
    if isinstance(by, str):
        key = _column(df, by, parameter="by")
        name = by
    elif isinstance(by, pd.Series):
        key = _align(by, df, "by")
        name = str(by.name) if by.name is not None else "segment"
    else:
        raise ValidationError(
            f"by is a {type(by).__name__}; pass a column name ('status', 'custom.plan_name') "
            "or a Series aligned with the frame (the result of segment(), bucket(), cohort())"
        )
    if isinstance(key.dtype, pd.CategoricalDtype):
        codes = np.asarray(key.cat.codes, dtype=np.intp)
        return Grouping(name, list(key.cat.categories), codes, bool(key.cat.ordered))
    if isinstance(key.dtype, pd.ArrowDtype) and pa.types.is_nested(key.dtype.pyarrow_dtype):
        raise ValidationError(
            f"by {name!r} holds {key.dtype} values; group by a column of single values "
            "(for tags use tag_counts() or a tag.<name> column)"
        )
    codes, uniques = pd.factorize(key, sort=True, use_na_sentinel=True)
    labels = uniques.tolist() if hasattr(uniques, "tolist") else list(uniques)
    # ordered: numbers, timestamps and bools have a natural order (a timeline, a range)
    natural = not (
        pd.api.types.is_string_dtype(key.dtype)
        or (
            isinstance(key.dtype, pd.ArrowDtype) and pa.types.is_dictionary(key.dtype.pyarrow_dtype)
        )
        or key.dtype == object
    )
    return Grouping(name, labels, np.asarray(codes, dtype=np.intp), natural)


def numeric_profile_columns(df: pd.DataFrame) -> list[str]:
    """Return the numeric (not bool) ``custom.*`` and ``clearbit.*`` columns of a frame.

    They are the columns ``profile`` takes medians of.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame.

    Returns
    -------
    list of str
        The column names, in the frame's order.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"custom.seats": [3, 5], "custom.vip": [True, False],
    ...                    "clearbit.metrics.employees": [10.0, 2000.0], "name": ["a", "b"]})
    >>> numeric_profile_columns(df)
    ['custom.seats', 'clearbit.metrics.employees']
    """
    return [
        c
        for c in df.columns
        if isinstance(c, str)
        and c.startswith((CUSTOM_PREFIX, CLEARBIT_PREFIX))
        and _is_number(df[c].dtype)
    ]


def cross_counts(
    rows: npt.NDArray[np.intp], n_rows: int, columns: npt.NDArray[np.intp], n_columns: int
) -> npt.NDArray[np.int64]:
    """Count each ``(rows[i], columns[i])`` pair in an ``(n_rows, n_columns)`` table.

    One bincount of a combined key: a crosstab of two sets of codes without a Python loop.

    Parameters
    ----------
    rows : numpy.ndarray of intp
        Each item's row, in ``range(n_rows)``.
    n_rows : int
        The table's number of rows.
    columns : numpy.ndarray of intp
        Each item's column, in ``range(n_columns)``, as long as ``rows``.
    n_columns : int
        The table's number of columns.

    Returns
    -------
    numpy.ndarray of int64
        The counts, ``n_rows`` by ``n_columns``.

    Examples
    --------
    >>> import numpy as np
    >>> cross_counts(np.array([0, 0, 1]), 2, np.array([1, 1, 0]), 3)
    array([[0, 2, 0],
           [1, 0, 0]])
    """
    flat = np.bincount(rows * n_columns + columns, minlength=n_rows * n_columns)
    return flat.reshape(n_rows, n_columns).astype(np.int64)


def _fractions(
    counts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Each row of counts over its group's size; NaN for an empty group."""
    with np.errstate(invalid="ignore", divide="ignore"):
        result: npt.NDArray[np.float64] = counts / sizes[:, None].astype(np.float64)
    return result


def profile(df: pd.DataFrame, by: str | pd.Series) -> pd.DataFrame:
    """One row per segment of ``by``: what the segment is made of.

    Columns: ``customers``; ``share`` (of all customers); ``status.<status>``, the fraction of
    the segment in each status (most common status first); ``top_tags``, the segment's
    most common tags with the fraction carrying each (``"vip 45%, eu 30%"``); and
    ``median.<column>`` for each numeric ``custom.*`` and ``clearbit.*`` column (customers
    without a value are left out of the median). Customers whose key is missing form a last
    row with a null label.

    With today's ``mrr`` (cents), also ``mrr.<currency>``, the segment's MRR in currency units,
    and ``mrr_share.<currency>``, its share of that currency's MRR: one pair per currency, so
    no amount is added to another currency's (``mrr`` and ``mrr_share`` without a
    ``currency`` column).

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame (``cm.read_customers``).
    by : str or pandas.Series
        The segments: a column name or a Series on the frame's index such as ``segment()``'s.

    Returns
    -------
    pandas.DataFrame
        One row per segment: ``customers``, ``share``, ``status.<status>``, ``top_tags``,
        ``median.<column>``.

    Raises
    ------
    ValidationError
        When ``by`` names no column of the frame.

    Examples
    --------
    >>> profile(df, "status")[["customers", "top_tags"]]
               customers                    top_tags
    status
    Active             3  eu 100%, vip 67%, beta 33%
    Cancelled          1
    Lead               1                    vip 100%
    Past Due           1                   beta 100%
    >>> import pandas as pd
    >>> today = df.assign(
    ...     mrr=pd.array([158977, 4900, 0, 0, 250000, 9950], "int64[pyarrow]"), currency="USD")
    >>> profile(today, "status")[["customers", "mrr.USD", "mrr_share.USD"]].round(3)
               customers  mrr.USD  mrr_share.USD
    status
    Active             3  4138.77          0.977
    Cancelled          1     0.00          0.000
    Lead               1     0.00          0.000
    Past Due           1    99.50          0.023
    """
    groups = grouping(df, by)
    codes = groups.codes.copy()
    labels: list[Any] = list(groups.labels)
    if groups.has_missing:
        codes[codes < 0] = len(labels)
        labels.append(None)
    n_groups = len(labels)
    sizes = np.bincount(codes, minlength=n_groups).astype(np.int64)
    columns: dict[str, Any] = {
        "customers": sizes,
        "share": sizes / len(df) if len(df) else np.full(n_groups, np.nan),
    }
    columns.update(_status_mix(df, codes, sizes))
    columns["top_tags"] = _top_tags(df, codes, sizes)
    for column in numeric_profile_columns(df):
        columns[f"median.{column}"] = _group_medians(df[column], codes, n_groups)
    if "mrr" in df.columns and pd.api.types.is_integer_dtype(df["mrr"].dtype):
        columns.update(_mrr_columns(df, codes, n_groups))
    index = pd.Index(labels, name=groups.name)
    return pd.DataFrame(columns, index=index)


def _mrr_columns(
    df: pd.DataFrame, codes: npt.NDArray[np.intp], n_groups: int
) -> dict[str, npt.NDArray[np.float64]]:
    """``mrr.<currency>`` and ``mrr_share.<currency>`` per group: each currency on its own."""
    cents = df["mrr"].to_numpy(dtype="float64", na_value=0.0)
    table = _currency_table(df)
    if table is None:
        currency_codes, names = np.zeros(len(df), dtype=np.intp), [""]
    else:
        currency_codes, names = table
        if not names:
            currency_codes, names = np.zeros(len(df), dtype=np.intp), [""]
    known = currency_codes >= 0
    flat = np.bincount(
        codes[known] * len(names) + currency_codes[known],
        weights=cents[known],
        minlength=n_groups * len(names),
    )
    sums = flat.reshape(n_groups, len(names)) / CENTS
    totals = sums.sum(axis=0)
    columns: dict[str, npt.NDArray[np.float64]] = {}
    for position in sorted(range(len(names)), key=lambda i: (-totals[i], names[i])):
        suffix = f".{names[position]}" if names[position] else ""
        columns[f"mrr{suffix}"] = sums[:, position]
        with np.errstate(invalid="ignore", divide="ignore"):
            columns[f"mrr_share{suffix}"] = sums[:, position] / totals[position]
    return columns


def _group_medians(
    series: pd.Series, codes: npt.NDArray[np.intp], n_groups: int
) -> npt.NDArray[np.float64]:
    """The median of each group's non-null values (NaN for a group without any)."""
    # custom attributes are sparse: grouping only the customers with a value is much cheaper
    if isinstance(series.dtype, pd.ArrowDtype):
        arrow = series.array.__arrow_array__()
        present = np.asarray(arrow.is_valid().to_numpy(), dtype=bool)
        values = np.asarray(pc.drop_null(arrow).to_numpy(), dtype=np.float64)
    else:
        everything = series.to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(everything)
        values = everything[present]
    medians = pd.Series(values).groupby(codes[present]).median()
    result: npt.NDArray[np.float64] = medians.reindex(range(n_groups)).to_numpy(dtype=np.float64)
    return result


def _status_mix(
    df: pd.DataFrame, codes: npt.NDArray[np.intp], sizes: npt.NDArray[np.int64]
) -> dict[str, npt.NDArray[np.float64]]:
    if "status" not in df.columns:
        return {}
    status_codes, statuses = pd.factorize(df["status"], use_na_sentinel=True)
    names: list[Any] = list(statuses.tolist())
    if (status_codes < 0).any():
        status_codes = np.where(status_codes < 0, len(names), status_codes)
        names.append(MISSING_LABEL)
    mix_counts = cross_counts(codes, len(sizes), status_codes, len(names))
    fractions = _fractions(mix_counts, sizes)
    overall = mix_counts.sum(axis=0)
    mix = {}
    for position in np.lexsort((np.asarray(names, dtype=str), -overall)):
        mix[f"status.{names[position]}"] = fractions[:, position]
    return mix


def _top_tags(
    df: pd.DataFrame, codes: npt.NDArray[np.intp], sizes: npt.NDArray[np.int64]
) -> list[str]:
    columns = tag_columns(df)
    if not columns:
        return [""] * len(sizes)
    names = [c.removeprefix(TAG_PREFIX) for c in columns]
    counts = np.zeros((len(sizes), len(names)), dtype=np.int64)
    for i, column in enumerate(columns):
        counts[:, i] = np.bincount(codes[_carriers(df[column])], minlength=len(sizes))
    fractions = _fractions(counts, sizes)
    tag_order = np.asarray(names, dtype=str)
    texts = []
    for row in fractions:
        row = np.nan_to_num(row, nan=0.0)
        ranked = np.lexsort((tag_order, -row))[:TOP_TAGS]
        texts.append(", ".join(f"{names[i]} {row[i]:.0%}" for i in ranked if row[i] > 0))
    return texts


# --- money: today's mrr and arr (integer cents) ----------------------------------------------------

#: Today's API gives ``mrr`` and ``arr`` in cents: this many to a currency unit.
CENTS: Final = 100

#: The MRR bands of ``mrr_bands`` by default, in currency units.
MRR_BANDS: Final = (0.0, 100.0, 1_000.0, 10_000.0, float("inf"))


@dataclass(frozen=True)
class Currency:
    """The one currency of the customers an amount sums, as ``one_currency`` finds it.

    Attributes
    ----------
    code : str or None
        ISO code (``"USD"``); None when the frame has no ``currency`` column.
    sign : str
        What amounts are written with (``"$"``, from ``currency_sign``), else the code, else "".

    Examples
    --------
    >>> Currency("EUR", "€").text(1234.5)
    '€1.23k'
    """

    code: str | None
    sign: str

    def text(self, value: float) -> str:
        """Write an amount in currency units compactly: ``$12.3k``, ``-€950``, ``CHF 1.5M``.

        Parameters
        ----------
        value : float
            The amount, in currency units (not cents).

        Returns
        -------
        str
            The amount with the currency's sign, three significant digits past 1,000.

        Examples
        --------
        >>> Currency("USD", "$").text(12_345), Currency("USD", "$").text(99.5)
        ('$12.3k', '$99.5')
        """
        return money_text(value, self.sign)


def money_text(value: float, sign: str = "$") -> str:
    """Write an amount in currency units as a deck does: ``$12.3k``, ``$1.5M``, ``-$950``.

    Parameters
    ----------
    value : float
        The amount, in currency units.
    sign : str, default "$"
        The currency's sign (a word such as ``CHF`` is followed by a space).

    Returns
    -------
    str
        The text; ``∞`` for an infinite amount.

    Examples
    --------
    >>> money_text(0), money_text(1_589.77), money_text(2_500_000, "€"), money_text(-950, "CHF")
    ('$0', '$1.59k', '€2.5M', '-CHF 950')
    """
    gap = " " if sign[-1:].isalpha() else ""
    minus = "-" if value < 0 else ""
    magnitude = abs(float(value))
    if np.isinf(magnitude):
        return f"{minus}{sign}{gap}∞"
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{minus}{sign}{gap}{magnitude / limit:.3g}{suffix}"
    return f"{minus}{sign}{gap}{magnitude:.3g}"


def _cents(df: pd.DataFrame, column: str, what: str) -> pd.Series:
    series = _column(df, column, parameter=what)
    if not pd.api.types.is_integer_dtype(series.dtype):
        raise ValidationError(
            f"{what}: {column!r} is {series.dtype}, not integer cents; amounts in cents are "
            "today's API's mrr and arr columns (cm.read_customers of a client of today's API)"
        )
    return series


def money(df: pd.DataFrame, column: str = "mrr") -> pd.Series:
    """An amount column in currency units: the API's integer cents divided by 100.

    ``mrr`` 158977 (cents, as today's API gives it) is 1589.77 dollars. The result is a
    float64 Arrow Series (nulls stay null) named like the column. Each customer's amount is in
    that customer's ``currency``: convert before adding amounts of several currencies.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame of today's API (``cm.read_customers``).
    column : str, default "mrr"
        An integer column of cents (``mrr`` or ``arr``).

    Returns
    -------
    pandas.Series
        The amounts in currency units (float64).

    Raises
    ------
    ValidationError
        When the frame has no such column or it is not integer (no cents).

    Examples
    --------
    >>> import pandas as pd
    >>> today = df.assign(mrr=pd.array([158977, 4900, 0, 0, 250000, 9950], "int64[pyarrow]"))
    >>> money(today).tolist()
    [1589.77, 49.0, 0.0, 0.0, 2500.0, 99.5]
    """
    series = _cents(df, column, "money")
    if isinstance(series.dtype, pd.ArrowDtype):
        arrow = series.array.__arrow_array__()
        units = pc.divide(arrow.cast(pa.float64()), float(CENTS))
        return pd.Series(pd.arrays.ArrowExtensionArray(units), index=df.index, name=column)
    values = series.to_numpy(dtype="float64", na_value=np.nan) / CENTS
    return pd.Series(values, index=df.index, name=column, dtype=pd.ArrowDtype(pa.float64()))


def _currency_table(df: pd.DataFrame) -> tuple[npt.NDArray[np.intp], list[str]] | None:
    """Each customer's currency as a code into the sorted currencies (-1: none), or None."""
    if "currency" not in df.columns:
        return None
    codes, uniques = pd.factorize(df["currency"], sort=True, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), [str(u) for u in uniques.tolist()]


def _mixed_currencies(
    what: str, names: list[str], counts: npt.NDArray[np.int64], *, by_currency: bool
) -> ValidationError:
    order = sorted(range(len(names)), key=lambda i: (-int(counts[i]), names[i]))
    listed = ", ".join(f"{names[i]} ({int(counts[i]):,} customers)" for i in order if counts[i])
    top = names[order[0]]
    group = " or group by it (by='currency')" if by_currency else ""
    return ValidationError(
        f"{what}: these customers' amounts are in {sum(1 for c in counts if c)} currencies: "
        f"{listed}; a sum across currencies means nothing. Take one currency, "
        f'df[df.currency == "{top}"]{group}, or convert the amounts to one currency first.'
    )


def one_currency(df: pd.DataFrame, *, what: str = "MRR", groupable: bool = False) -> Currency:
    """The currency every customer of the frame is billed in, or a ValidationError naming them.

    Customers without a currency are left out of the check. A frame without a ``currency``
    column (the reference dialect) has no known currency: ``Currency(None, "")``.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame.
    what : str, default "MRR"
        What is being summed, for the message.
    groupable : bool, default False
        The caller can sum each currency on its own: the message also offers
        ``by='currency'``.

    Returns
    -------
    Currency
        Its code and sign (``currency_sign``, else the code).

    Raises
    ------
    ValidationError
        When the customers are in several currencies: the message lists them and the fix,
        ``df[df.currency == "USD"]``.

    Examples
    --------
    >>> today = df.assign(currency="EUR", currency_sign="€")
    >>> one_currency(today)
    Currency(code='EUR', sign='€')
    >>> one_currency(today.assign(currency=["EUR", "USD", "EUR", "EUR", "USD", "EUR"]))
    Traceback (most recent call last):
    ...
    cm_frames.errors.ValidationError: MRR: these customers' amounts are in 2 currencies: ...
    """
    table = _currency_table(df)
    if table is None:
        return Currency(None, "")
    codes, names = table
    counts = np.bincount(codes[codes >= 0], minlength=len(names)).astype(np.int64)
    if len(names) > 1:
        raise _mixed_currencies(what, names, counts, by_currency=groupable)
    if not names:
        return Currency(None, "")
    code = names[0]
    sign = code
    if "currency_sign" in df.columns:
        signs = df["currency_sign"].dropna().unique().tolist()
        if len(signs) == 1 and str(signs[0]):
            sign = str(signs[0])
    return Currency(code, sign)


def _check_groups_currency(
    df: pd.DataFrame, codes: npt.NDArray[np.intp], n_groups: int, what: str
) -> None:
    """Refuse to sum amounts of several currencies into one group (``codes``: each row's group)."""
    table = _currency_table(df)
    if table is None:
        return
    currency_codes, names = table
    known = currency_codes >= 0
    per_group = cross_counts(codes[known], n_groups, currency_codes[known], max(len(names), 1))
    mixed = (per_group > 0).sum(axis=1) > 1
    if mixed.any():  # the message counts the whole frame: its fix names the main currency
        raise _mixed_currencies(what, names, per_group.sum(axis=0), by_currency=True)


def mrr_bands(
    df: pd.DataFrame,
    edges: Sequence[float] = MRR_BANDS,
    *,
    column: str = "mrr",
    labels: Sequence[str] | None = None,
) -> pd.Series:
    """Bin customers by MRR into bands given in currency units, labelled ``$0–$100`` ...

    ``bucket`` on the cents, with edges and labels in the currency (``edges`` times 100 are
    the cut points; each band includes its lower edge, the last one is open with an infinite
    edge). Customers without an amount get null. Bands of amounts in different currencies do
    not compare: a frame of several currencies is refused.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame of today's API.
    edges : sequence of float, default (0, 100, 1000, 10000, inf)
        Increasing band edges in currency units.
    column : str, default "mrr"
        An integer column of cents (``mrr`` or ``arr``).
    labels : sequence of str, optional
        The bands' labels (default: ``$0–$100``, ``$100–$1k``, ``≥ $10k``).

    Returns
    -------
    pandas.Series
        An ordered categorical, one band per customer, named ``MRR band`` (``ARR band``).

    Raises
    ------
    ValidationError
        When the column is not cents, the edges are not increasing, or the customers are in
        several currencies.

    Examples
    --------
    >>> import pandas as pd
    >>> today = df.assign(
    ...     mrr=pd.array([158977, 4900, 0, 0, 2500000, 9950], "int64[pyarrow]"), currency="USD",
    ...     currency_sign="$")
    >>> mrr_bands(today).value_counts(sort=False)
    MRR band
    $0–$100       4
    $100–$1k      0
    $1k–$10k      1
    ≥ $10k        1
    Name: count, dtype: int64
    """
    _cents(df, column, "mrr_bands")
    currency = one_currency(df, what="mrr_bands")
    cut = [float(e) for e in edges]
    if labels is None:
        labels = []
        for low, high in itertools.pairwise(cut):
            if np.isinf(high):
                labels.append(f"≥ {currency.text(low)}")
            elif np.isinf(low):
                labels.append(f"< {currency.text(high)}")
            else:
                labels.append(f"{currency.text(low)}–{currency.text(high)}")
        if len(set(labels)) != len(labels):  # edges too close for 3 digits: exact amounts
            labels = [f"[{_number_text(a)}, {_number_text(b)})" for a, b in itertools.pairwise(cut)]
    try:
        bands = bucket(df, column, [e * CENTS for e in cut], labels=labels)
    except ValidationError as error:
        raise ValidationError(str(error).replace("bins=", "edges=", 1)) from None
    return bands.rename(f"{column.upper() if column in ('mrr', 'arr') else column} band")


def _status_codes(df: pd.DataFrame) -> tuple[npt.NDArray[np.intp], list[str]]:
    status_codes, statuses = pd.factorize(_column(df, "status", parameter="split"))
    names = [str(s) for s in statuses.tolist()]
    codes = np.asarray(status_codes, dtype=np.intp)
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append(MISSING_LABEL)
    return codes, names


def mrr_by(
    df: pd.DataFrame,
    by: str | pd.Series,
    *,
    split: str | pd.Series | None = "status",
    column: str = "mrr",
) -> pd.DataFrame:
    """MRR per segment of ``by``, split by status (or ``split``), in currency units.

    One row per segment (customers without a key: a last row with a null label), one column
    per status (most MRR first), and ``total``. Sums are exact in cents, then divided by 100.
    A row summing amounts of several currencies is refused: filter one currency
    (``df[df.currency == "USD"]``) or group by it (``by="currency"``).

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame of today's API.
    by : str or pandas.Series
        The segments: a column name or a Series on the frame's index (``segment()``,
        ``mrr_bands()``).
    split : str, pandas.Series or None, default "status"
        The columns' key; None for the total only.
    column : str, default "mrr"
        An integer column of cents (``mrr`` or ``arr``).

    Returns
    -------
    pandas.DataFrame
        MRR (float, currency units) per segment and status, and ``total``.

    Raises
    ------
    ValidationError
        When a column is missing, ``column`` is not cents, or a row mixes currencies.

    Examples
    --------
    >>> import pandas as pd
    >>> today = df.assign(
    ...     mrr=pd.array([158977, 4900, 0, 0, 250000, 9950], "int64[pyarrow]"), currency="USD")
    >>> mrr_by(today, df.chartmogul.segment({"vip": "`tag.vip`"}))
                Active  Past Due  Cancelled  Lead    total
    segment
    vip      4089.77       0.0        0.0   0.0  4089.77
    other      49.00      99.5        0.0   0.0   148.50
    """
    cents = _cents(df, column, "mrr_by")
    groups = grouping(df, by)
    codes = groups.codes.copy()
    labels: list[Any] = list(groups.labels)
    if groups.has_missing:
        codes[codes < 0] = len(labels)
        labels.append(None)
    _check_groups_currency(df, codes, len(labels), "mrr_by")
    amounts = cents.to_numpy(dtype="float64", na_value=0.0)
    if split is None:
        split_codes, split_names = np.zeros(len(df), dtype=np.intp), [column]
    elif isinstance(split, str) and split == "status":
        split_codes, split_names = _status_codes(df)
    else:
        split_groups = grouping(df, split)
        split_codes = split_groups.codes.copy()
        split_names = [str(v) for v in split_groups.labels]
        if split_groups.has_missing:
            split_codes[split_codes < 0] = len(split_names)
            split_names.append(MISSING_LABEL)
    flat = np.bincount(
        codes * len(split_names) + split_codes,
        weights=amounts,
        minlength=len(labels) * len(split_names),
    )
    sums = flat.reshape(len(labels), len(split_names)) / CENTS
    result = pd.DataFrame(sums, index=pd.Index(labels, name=groups.name), columns=split_names)
    if split is not None:
        counts = cross_counts(codes, len(labels), split_codes, len(split_names)).sum(axis=0)
        order = sorted(
            range(len(split_names)), key=lambda i: (-sums[:, i].sum(), -counts[i], split_names[i])
        )
        result = result.iloc[:, order]
        result["total"] = sums.sum(axis=1)
    result.columns.name = None
    return result


def days_to_convert(df: pd.DataFrame) -> pd.Series:
    """Count the days from ``lead_created_at`` to ``customer_since``: how long a lead took.

    Null for customers still leads (no ``customer_since``) or without ``lead_created_at``.
    Fractional days (float64 Arrow Series), as the two instants give them.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame of today's API (``lead_created_at``).

    Returns
    -------
    pandas.Series
        Days, named ``days_to_convert``.

    Raises
    ------
    ValidationError
        When the frame has no ``lead_created_at`` or ``customer_since`` timestamps.

    Examples
    --------
    >>> import pandas as pd
    >>> leads = pd.Series(pd.to_datetime(["2024-01-05", "2024-01-20", "2024-04-01", "2024-04-15",
    ...     "2024-07-01", "2024-08-01"], utc=True), index=df.index).astype("timestamp[us, UTC][pyarrow]")
    >>> days_to_convert(df.assign(lead_created_at=leads)).round(1).tolist()
    [10.4, 14.4, 19.7, 17.3, 10.5, 29.8]
    """
    since = _timestamp_column(df, "customer_since", "days_to_convert")
    created = _timestamp_column(df, "lead_created_at", "days_to_convert")
    start = created.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    end = since.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    elapsed = (end - start) / np.timedelta64(1, "D")
    arrow = pa.array(elapsed, type=pa.float64(), from_pandas=True)  # NaT -> NaN -> null
    return pd.Series(pd.arrays.ArrowExtensionArray(arrow), index=df.index, name="days_to_convert")


def _timestamp_column(df: pd.DataFrame, column: str, what: str) -> pd.Series:
    series = _column(df, column, parameter=what)
    dtype = series.dtype
    if not (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or (isinstance(dtype, pd.ArrowDtype) and pa.types.is_timestamp(dtype.pyarrow_dtype))
    ):
        raise ValidationError(
            f"{what}: {column} is {dtype}, not a timestamp; reload the frame with "
            "cm.read_customers() or convert it with pd.to_datetime(..., utc=True)"
        )
    return series


def _period_starts(series: pd.Series, freq: str) -> npt.NDArray[np.datetime64]:
    alias = period_alias(freq)
    instants = pd.DatetimeIndex(
        series.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    )
    starts: npt.NDArray[np.datetime64] = instants.to_period(alias).start_time.to_numpy(
        dtype="datetime64[us]"
    )
    return starts


def lead_conversion(df: pd.DataFrame, freq: str = "MS") -> pd.DataFrame:
    """Lead cohorts: per period of ``lead_created_at``, how many leads became customers, how fast.

    Every customer with a ``lead_created_at`` is a lead of its period; it converted if it has
    a ``customer_since``. Columns: ``leads``, ``converted``, ``conversion`` (the share
    converted, so far: recent cohorts have had less time), ``median_days`` (to convert, among
    those converted). Every period from the first cohort to the last gets a row.

    Parameters
    ----------
    df : pandas.DataFrame
        A customer frame of today's API.
    freq : str, default "MS"
        Period starts, as in ``cohort()``: ``"MS"``, ``"QS"``, ``"YS"``, ``"W-MON"``, ``"D"``.

    Returns
    -------
    pandas.DataFrame
        One row per lead cohort (its start, UTC), named ``lead_cohort``.

    Raises
    ------
    ValidationError
        When the frame has no ``lead_created_at``/``customer_since`` timestamps, or ``freq``
        is not a period.

    Examples
    --------
    >>> import pandas as pd
    >>> leads = pd.Series(pd.to_datetime(["2024-01-05", "2024-01-20", "2024-04-01", "2024-04-15",
    ...     "2024-07-01", "2024-08-01"], utc=True), index=df.index).astype("timestamp[us, UTC][pyarrow]")
    >>> since = df["customer_since"].where(df["status"] != "Lead")
    >>> lead_conversion(df.assign(lead_created_at=leads, customer_since=since), "QS")
                               leads  converted  conversion  median_days
    lead_cohort
    2024-01-01 00:00:00+00:00      2          2         1.0    12.406250
    2024-04-01 00:00:00+00:00      2          1         0.5    19.666667
    2024-07-01 00:00:00+00:00      2          2         1.0    20.140625
    """
    days = days_to_convert(df)
    created = _timestamp_column(df, "lead_created_at", "lead_conversion")
    starts = _period_starts(created, freq)
    known = ~np.isnat(starts)
    alias = period_alias(freq)
    index_name = "lead_cohort"
    if not known.any():
        empty = pd.DataFrame(
            {"leads": [], "converted": [], "conversion": [], "median_days": []},
            index=pd.DatetimeIndex([], tz="UTC", name=index_name),
        )
        return empty.astype({"leads": "int64", "converted": "int64"})
    periods = pd.period_range(
        pd.Timestamp(starts[known].min()), pd.Timestamp(starts[known].max()), freq=alias
    )
    period_starts = pd.DatetimeIndex(periods.start_time)
    codes = period_starts.get_indexer(pd.DatetimeIndex(starts[known]))
    converted_mask = (
        _timestamp_column(df, "customer_since", "lead_conversion")
        .notna()
        .to_numpy(dtype=bool)[known]
    )
    leads = np.bincount(codes, minlength=len(period_starts)).astype(np.int64)
    converted = np.bincount(codes[converted_mask], minlength=len(period_starts)).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        conversion = converted / leads.astype(np.float64)
    elapsed = days.to_numpy(dtype="float64", na_value=np.nan)[known]
    present = ~np.isnan(elapsed)
    medians = pd.Series(elapsed[present]).groupby(codes[present]).median()
    median_days = medians.reindex(range(len(period_starts))).to_numpy(dtype=np.float64)
    index = pd.DatetimeIndex(period_starts.tz_localize("UTC"), name=index_name)
    return pd.DataFrame(
        {
            "leads": leads,
            "converted": converted,
            "conversion": conversion,
            "median_days": median_days,
        },
        index=index,
    )
