"""Values as the API will see them: whatever dtype a user produced -> one canonical Arrow array.

``coerce_custom`` turns a custom column (numpy, pandas extension, Arrow or object dtype) into
int64, bool, timestamp[us, UTC] or string, exactly, and ``coerce_tag_flags``/``coerce_tag_lists``
do the same for tag columns and the ``tags`` lists. Nothing here raises on bad values: each
problem goes to a ``Problems`` collector with the column, the customers and the fix, so
``diff`` can report them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cm_frames.errors import ValidationError
from cm_frames.schema import (
    CUSTOM_ARROW_TYPES,
    INT64_MAX,
    INT64_MIN,
    MAX_STRING_LENGTH,
    CustomType,
)
from cm_frames.validation import is_text, strings_too_long

__all__ = [
    "CAST_FIX",
    "ColumnValues",
    "Problems",
    "Typed",
    "coerce_custom",
    "coerce_tag_flags",
    "coerce_tag_lists",
    "column_values",
    "ids_text",
    "is_missing",
    "not_text",
]

BoolArray: TypeAlias = npt.NDArray[np.bool_]
IntArray: TypeAlias = npt.NDArray[np.int64]
# A column on the matched rows: Arrow, or numpy for object columns (checked value by value).
ColumnValues: TypeAlias = "pa.Array[Any] | npt.NDArray[np.object_]"

# Code in messages goes between backticks, exactly as it can be run (the tests run it).
CAST_FIX: dict[CustomType, str] = {
    "Integer": "`edited[{col!r}] = edited[{col!r}].astype('int64[pyarrow]')`",
    "Boolean": "`edited[{col!r}] = edited[{col!r}].astype('bool[pyarrow]')`",
    "Timestamp": "`edited[{col!r}] = pd.to_datetime(edited[{col!r}], utc=True)`",
    "String": "`edited[{col!r}] = edited[{col!r}].astype('string[pyarrow]')`",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Python's datetime range (years 1-9999) in microseconds since the epoch: what a Timestamp can be.
_MIN_MICROS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND
_MAX_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) // _MICROSECOND
_MICROS_PER_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1}


# --- problems ------------------------------------------------------------------------------------


@dataclass
class Problems:
    """Everything wrong with the input, reported together.

    Parameters
    ----------
    items : list of str, optional
        The problems so far, one sentence each (``add`` appends).

    Examples
    --------
    >>> problems = Problems()
    >>> problems.add("custom.seats", "floats", "round them", np.array([3, 5]))
    >>> problems.items
    ["column 'custom.seats': floats (customers 3, 5). Fix: round them"]
    """

    items: list[str] = field(default_factory=list)

    def add(self, column: str, what: str, fix: str, ids: IntArray | None = None) -> None:
        """Record one problem of one column.

        Parameters
        ----------
        column : str
            The column it is in.
        what : str
            What is wrong, in a few words.
        fix : str
            How to fix it (code between backticks runs as it stands).
        ids : numpy.ndarray, optional
            The customers concerned (``ids_text`` names the first few).
        """
        where = f" ({ids_text(ids)})" if ids is not None and len(ids) else ""
        self.items.append(f"column {column!r}: {what}{where}. Fix: {fix}")

    def raise_if_any(self) -> None:
        """Raise one error listing every problem recorded, if any was.

        Raises
        ------
        ValidationError
            When a problem was recorded: nothing is planned then.
        """
        if self.items:
            n = len(self.items)
            head = f"{n} problem{'' if n == 1 else 's'} in the frame; nothing was planned"
            raise ValidationError(head + ":\n- " + "\n- ".join(self.items))


def ids_text(ids: IntArray | list[int], limit: int = 10) -> str:
    """Name the customers a problem is about, kept short: ``customers 1, 2, 3 and 7 more``.

    Parameters
    ----------
    ids : numpy.ndarray or list of int
        The customer ids.
    limit : int, default 10
        How many are named; the rest are counted.

    Returns
    -------
    str
        The text.

    Examples
    --------
    >>> ids_text([4]), ids_text(list(range(1, 14)))
    ('customer 4', 'customers 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 3 more')
    """
    values = [int(i) for i in ids[:limit]]
    more = f" and {len(ids) - limit:,} more" if len(ids) > limit else ""
    return f"customer{'' if len(ids) == 1 else 's'} {', '.join(map(str, values))}{more}"


def column_values(
    series: pd.Series, positions: IntArray | None, name: str, problems: Problems
) -> ColumnValues | None:
    """Take a column at ``positions`` (None: all rows): Arrow for typed columns, numpy for object.

    Parameters
    ----------
    series : pandas.Series
        The column.
    positions : numpy.ndarray or None
        The row positions to take, or None for every row.
    name : str
        The column's name, for a problem.
    problems : Problems
        Where a column Arrow cannot hold is recorded.

    Returns
    -------
    pyarrow.Array or numpy.ndarray or None
        The values (numpy for object columns), or None after recording a problem.

    Examples
    --------
    >>> series = pd.Series([1, 2, 3], dtype="int64[pyarrow]")
    >>> column_values(series, np.array([2, 0]), "custom.n", Problems()).to_pylist()
    [3, 1]
    """
    if series.dtype == object:
        values: npt.NDArray[np.object_] = series.to_numpy(dtype=object)
        return values if positions is None else values[positions]
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        problems.add(
            name,
            f"values of dtype {series.dtype} cannot be written ({exc})",
            "convert the column to int, bool, datetime or string values",
        )
        return None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    picked: pa.Array[Any] = array if positions is None else array.take(pa.array(positions))
    return picked


def not_text(
    column: str,
    ids: IntArray | None,
    problems: Problems,
    what: str = "strings that are",
    fix: str = "",
) -> None:
    """Record values (or names) that are not valid Unicode text.

    Parameters
    ----------
    column : str
        The column they are in.
    ids : numpy.ndarray or None
        The customers concerned.
    problems : Problems
        Where the problem is recorded.
    what : str, default "strings that are"
        What is not text (the sentence goes on "not valid Unicode text").
    fix : str, optional
        The fix (default: re-decode the column's strings).
    """
    problems.add(
        column,
        f"{what} not valid Unicode text (lone surrogates such as '\\ud800', often "
        "from decoding bytes with errors='surrogateescape')",
        fix
        or "re-decode the source text, or replace the bad characters, e.g. "
        f"`edited[{column!r}] = edited[{column!r}].str.encode('utf-8', 'replace').str.decode('utf-8')`",
        ids,
    )


# --- values -> canonical Arrow arrays ------------------------------------------------------------


@dataclass(frozen=True)
class Typed:
    """One column as the API will see it: a type (None: no values at all) and canonical values.

    ``naive`` marks the rows holding timestamps without a time zone (None: no such row), with
    ``naive_fix`` the code that names their zone: they are refused where they would be written.

    Parameters
    ----------
    type : {"String", "Integer", "Timestamp", "Boolean"} or None
        The custom type the values write as (None: all null).
    values : pyarrow.Array
        The values, of the type's Arrow type (``CUSTOM_ARROW_TYPES``).
    naive : numpy.ndarray of bool, optional
        The rows whose timestamps had no time zone.
    naive_fix : str, optional
        The code that gives them one.
    """

    type: CustomType | None
    values: pa.Array[Any]
    naive: BoolArray | None = None
    naive_fix: str = ""


def coerce_custom(
    data: pa.Array[Any] | npt.NDArray[np.object_], column: str, ids: IntArray, problems: Problems
) -> Typed | None:
    """Return the canonical typed values of one custom column, or None after recording why not.

    Parameters
    ----------
    data : pyarrow.Array or numpy.ndarray
        The column's values on the rows concerned (``column_values``).
    column : str
        The column's name, for problems.
    ids : numpy.ndarray
        The customer id of each value, for problems.
    problems : Problems
        Where values that cannot be written exactly are recorded.

    Returns
    -------
    Typed or None
        The type and values, or None when there was a problem.

    Examples
    --------
    >>> problems = Problems()
    >>> typed = coerce_custom(pa.array([1.0, None, 3.0]), "custom.seats", np.array([1, 2, 3]), problems)
    >>> typed.type, typed.values.to_pylist()
    ('Integer', [1, None, 3])
    >>> coerce_custom(pa.array([1.5]), "custom.seats", np.array([7]), problems) is None
    True
    >>> problems.items[0][:60]
    "column 'custom.seats': floats with a fractional part (custom"
    """
    if isinstance(data, np.ndarray):
        return _coerce_objects(data, column, ids, problems)
    if isinstance(data, pa.DictionaryArray):
        data = data.dictionary_decode()
    kind = data.type
    if data.null_count == len(data):
        return Typed(None, pa.nulls(len(data)))
    if pa.types.is_boolean(kind):
        return Typed("Boolean", data)
    if pa.types.is_integer(kind):
        if pa.types.is_uint64(kind):  # the only integer type that can exceed int64
            limit = pa.scalar(INT64_MAX, pa.uint64())
            too_big = pc.greater(data, limit).fill_null(False).to_numpy(zero_copy_only=False)
            if too_big.any():
                _beyond_int64(column, ids[too_big], problems)
                return None
        return Typed("Integer", data.cast(pa.int64()))
    if pa.types.is_floating(kind):
        floats = data.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return _coerce_floats(floats, column, ids, problems)
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return _coerce_timestamps(data, column, ids, problems)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return _checked_strings(data.cast(pa.string()), column, ids, problems)
    problems.add(
        column,
        f"values of Arrow type {kind} cannot be written as a custom attribute",
        "convert the column to int, bool, datetime or string values",
    )
    return None


def _beyond_int64(column: str, ids: IntArray, problems: Problems) -> None:
    problems.add(
        column,
        "integers beyond signed 64-bit (the API's Integer range)",
        f"keep values within {INT64_MIN}..{INT64_MAX}, or write them as text with "
        + CAST_FIX["String"].format(col=column),
        ids,
    )


def _coerce_floats(
    floats: npt.NDArray[np.float64], column: str, ids: IntArray, problems: Problems
) -> Typed | None:
    """Floats whose non-NaN values are all whole become Integer, exactly; anything else fails."""
    valid = ~np.isnan(floats)
    infinite = np.isinf(floats)
    with np.errstate(invalid="ignore"):
        fractional = valid & ~infinite & (floats != np.floor(floats))
        # 2**63 is exact as a float; the largest float below it is the last that fits int64.
        beyond = valid & ~infinite & ((floats < -(2.0**63)) | (floats >= 2.0**63))
    ok = True
    if infinite.any():
        problems.add(
            column,
            "infinite values (inf or -inf)",
            f"replace them, e.g. `edited[{column!r}] = edited[{column!r}].replace([np.inf, -np.inf], pd.NA)`",
            ids[infinite],
        )
        ok = False
    if fractional.any():
        problems.add(
            column,
            "floats with a fractional part (custom attributes are whole Integers, not floats)",
            f"round them, `edited[{column!r}] = edited[{column!r}].round().astype('int64[pyarrow]')`, "
            f"or write text, `edited[{column!r}] = edited[{column!r}].astype('string[pyarrow]')`",
            ids[fractional],
        )
        ok = False
    if beyond.any():
        _beyond_int64(column, ids[beyond], problems)
        ok = False
    if not ok:
        return None
    if not valid.any():
        return Typed(None, pa.nulls(len(floats)))
    whole = np.where(valid, floats, 0.0).astype(np.int64)
    return Typed("Integer", pa.array(whole, pa.int64(), mask=~valid))


def _coerce_timestamps(
    data: pa.Array[Any], column: str, ids: IntArray, problems: Problems
) -> Typed | None:
    """Any timestamp or date to timestamp[us, UTC]; naive values are marked (dates are UTC)."""
    kind = data.type
    naive = pa.types.is_timestamp(kind) and kind.tz is None
    valid = data.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_date32(kind):
        raw, per_unit = data.cast(pa.int32()).cast(pa.int64()), 86_400_000_000
    elif pa.types.is_date64(kind):
        raw, per_unit = data.cast(pa.int64()), 1_000
    else:
        # Zoned or naive, Arrow stores the UTC instant (naive: the wall clock taken as UTC).
        raw, per_unit = data.cast(pa.int64()), _MICROS_PER_UNIT.get(kind.unit, 0)
    values = raw.fill_null(0).to_numpy(zero_copy_only=False)
    if per_unit == 0:  # nanoseconds: exact only when whole microseconds
        partial = valid & (values % 1000 != 0)
        if partial.any():
            problems.add(
                column,
                "timestamps with nanoseconds (the API keeps microseconds)",
                f"`edited[{column!r}] = edited[{column!r}]"
                + (".dt.tz_localize('UTC')" if naive else "")
                + ".dt.floor('us')`"
                + (" (naive timestamps: name their zone; UTC assumed here)" if naive else ""),
                ids[partial],
            )
            return None
        micros = values // 1000
    else:
        lo, hi = _MIN_MICROS // per_unit, _MAX_MICROS // per_unit
        out = valid & ((values < lo) | (values > hi))
        if out.any():
            problems.add(
                column,
                "timestamps outside the years 1-9999",
                "keep timestamps within years 1-9999 (or remove the value with pd.NA)",
                ids[out],
            )
            return None
        micros = values * per_unit
    array = pa.array(micros, pa.int64(), mask=~valid).cast(CUSTOM_ARROW_TYPES["Timestamp"])
    if naive:
        fix = f"`edited[{column!r}] = edited[{column!r}].dt.tz_localize('UTC')`"
        return Typed("Timestamp", array, valid, fix)
    return Typed("Timestamp", array)


def _checked_strings(
    strings: pa.Array[Any], column: str, ids: IntArray, problems: Problems
) -> Typed | None:
    too_long = strings_too_long(strings)
    if too_long.any():
        problems.add(
            column,
            f"strings longer than {MAX_STRING_LENGTH} characters",
            f"shorten them, e.g. `edited[{column!r}] = edited[{column!r}].str.slice(0, {MAX_STRING_LENGTH})`",
            ids[too_long],
        )
        return None
    return Typed("String", strings)


# Classes of Python values in object columns.
_NULL, _BOOL, _INT, _FLOAT, _STR, _TIME, _OTHER = range(7)
_CLASS_NAMES = {_BOOL: "bool", _INT: "int", _FLOAT: "float", _STR: "str", _TIME: "datetime"}


def is_missing(value: object) -> bool:
    """Tell whether one cell of an object column means "no value" (None, NA, NaT, NaN).

    Parameters
    ----------
    value : object
        The cell.

    Returns
    -------
    bool
        True for None, ``pd.NA``, ``pd.NaT`` and NaN (float or datetime64).

    Examples
    --------
    >>> is_missing(None), is_missing(float("nan")), is_missing(0)
    (True, True, False)
    """
    return _value_class(value) == _NULL


def _value_class(value: object) -> int:
    if value is None or value is pd.NA or value is pd.NaT:
        return _NULL
    if isinstance(value, bool | np.bool_):
        return _BOOL
    if isinstance(value, int | np.integer):
        return _INT
    if isinstance(value, float | np.floating):
        return _NULL if value != value else _FLOAT
    if isinstance(value, str):
        return _STR
    if isinstance(value, np.datetime64):
        return _NULL if np.isnat(value) else _TIME
    if isinstance(value, datetime | date):
        return _TIME
    return _OTHER


def _coerce_objects(
    values: npt.NDArray[np.object_], column: str, ids: IntArray, problems: Problems
) -> Typed | None:
    """An object column (``.loc`` into a new column, mixed assignments): classify each value."""
    classes = np.fromiter((_value_class(v) for v in values), dtype=np.int8, count=len(values))
    present = set(np.unique(classes).tolist()) - {_NULL}
    valid = classes != _NULL
    if _OTHER in present:
        bad = classes == _OTHER
        example = type(values[np.flatnonzero(bad)[0]]).__name__
        problems.add(
            column,
            f"values that are not int, bool, datetime or str (e.g. {example})",
            "store one scalar per cell (int, bool, datetime or str), or pd.NA to remove",
            ids[bad],
        )
        return None
    if not present:
        return Typed(None, pa.nulls(len(values)))
    if present <= {_INT, _FLOAT}:
        return _coerce_numbers(values, classes, column, ids, problems)
    if len(present) > 1:
        parts = [
            f"{_CLASS_NAMES[c]} for {ids_text(ids[classes == c], limit=3)}" for c in sorted(present)
        ]
        problems.add(
            column,
            "mixed value types in one column: " + "; ".join(parts),
            "give the column one type, e.g. " + CAST_FIX["String"].format(col=column),
        )
        return None
    (only,) = present
    listed = [v if ok else None for v, ok in zip(values.tolist(), valid.tolist(), strict=True)]
    if only == _BOOL:
        return Typed(
            "Boolean", pa.array([None if v is None else bool(v) for v in listed], pa.bool_())
        )
    if only == _STR:
        # Only object columns can hold lone surrogates (Arrow-backed strings cannot).
        broken = np.fromiter((v is not None and not is_text(v) for v in listed), bool, len(listed))
        if broken.any():
            not_text(column, ids[broken], problems)
            return None
        return _checked_strings(pa.array(listed, pa.string()), column, ids, problems)
    return _coerce_datetimes(listed, column, ids, problems)


def _coerce_numbers(
    values: npt.NDArray[np.object_],
    classes: npt.NDArray[np.int8],
    column: str,
    ids: IntArray,
    problems: Problems,
) -> Typed | None:
    ints = classes == _INT
    whole: list[int] = [0] * len(values)
    beyond = np.zeros(len(values), dtype=bool)
    for i in np.flatnonzero(ints).tolist():
        number = int(values[i])
        if INT64_MIN <= number <= INT64_MAX:
            whole[i] = number
        else:
            beyond[i] = True
    if beyond.any():
        _beyond_int64(column, ids[beyond], problems)
        return None
    floats = np.where(classes == _FLOAT, values, np.nan).astype(np.float64)
    from_floats = _coerce_floats(floats, column, ids, problems)
    if from_floats is None:
        return None
    merged = np.array(whole, dtype=np.int64)
    if from_floats.type is not None:
        merged = np.where(
            ints, merged, from_floats.values.fill_null(0).to_numpy(zero_copy_only=False)
        )
    valid = ints | (classes == _FLOAT)
    return Typed("Integer", pa.array(merged, pa.int64(), mask=~valid))


def _coerce_datetimes(
    values: list[Any], column: str, ids: IntArray, problems: Problems
) -> Typed | None:
    micros: list[int | None] = []
    partial = np.zeros(len(values), dtype=bool)
    naive = np.zeros(len(values), dtype=bool)
    for i, value in enumerate(values):
        exact = None if value is None else _micros(value)
        partial[i] = value is not None and exact is None
        naive[i] = value is not None and _is_naive(value)
        micros.append(exact)
    if partial.any():
        problems.add(
            column,
            "timestamps with nanoseconds or outside the years 1-9999",
            f"`edited[{column!r}] = pd.to_datetime(edited[{column!r}], utc=True).dt.floor('us')`",
            ids[partial],
        )
        return None
    array = pa.array(micros, pa.int64()).cast(CUSTOM_ARROW_TYPES["Timestamp"])
    if naive.any():
        fix = f"`edited[{column!r}] = pd.to_datetime(edited[{column!r}], utc=True)`"
        return Typed("Timestamp", array, naive, fix)
    return Typed("Timestamp", array)


def _is_naive(value: datetime | date | np.datetime64) -> bool:
    """A date-time without a zone; a calendar date (or a day-unit datetime64) is not one."""
    if isinstance(value, np.datetime64):
        return np.datetime_data(value)[0] not in ("Y", "M", "W", "D")
    return isinstance(value, datetime) and value.tzinfo is None


def _micros(value: datetime | date | np.datetime64) -> int | None:
    """Microseconds since the epoch (naive = UTC), or None when that is not exact or possible."""
    try:
        if isinstance(value, np.datetime64):
            value = pd.Timestamp(value)
        if isinstance(value, pd.Timestamp):
            if value.nanosecond:
                return None
            value = value.to_pydatetime()
        if not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - _EPOCH) // _MICROSECOND
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        return None


def coerce_tag_flags(
    data: ColumnValues | None,
    column: str,
    ids: IntArray,
    strict: bool,
    problems: Problems,
) -> BoolArray | None:
    """A tag column as bools. ``strict`` (the edited frame): NA in any tag column is an error.

    One rule for new and existing columns alike, because NA cannot say whether the tag should
    be there: ``.loc[mask, "tag.x"] = True`` leaves NA elsewhere, and the fix says ``False``.
    The baseline (not strict) reads NA as False.

    Parameters
    ----------
    data : pyarrow.Array or numpy.ndarray or None
        The column's values (``column_values``); None passes through.
    column : str
        The column's name, for problems.
    ids : numpy.ndarray
        The customer id of each value, for problems.
    strict : bool
        Whether NA is a problem (the edited frame) or False (the baseline).
    problems : Problems
        Where values that are not True/False are recorded.

    Returns
    -------
    numpy.ndarray of bool or None
        The flags, or None when ``data`` is None or there was a problem.

    Examples
    --------
    >>> coerce_tag_flags(pa.array([True, None]), "tag.vip", np.array([1, 2]), False, Problems())
    array([ True, False])
    >>> coerce_tag_flags(pa.array([True, None]), "tag.vip", np.array([1, 2]), True, Problems()) is None
    True
    """
    if data is None:
        return None
    if isinstance(data, np.ndarray):
        classes = np.fromiter((_value_class(v) for v in data), np.int8, len(data))
        wrong = (classes != _NULL) & (classes != _BOOL)
        if wrong.any():
            _not_bool(column, data[wrong], ids[wrong], problems)
            return None
        nulls = classes == _NULL
        values = np.array(
            [bool(v) if c == _BOOL else False for v, c in zip(data, classes, strict=True)],
            dtype=bool,
        )
    elif data.null_count == len(data):
        nulls, values = np.ones(len(data), dtype=bool), np.zeros(len(data), dtype=bool)
    elif pa.types.is_boolean(data.type):
        nulls = data.is_null().to_numpy(zero_copy_only=False)
        values = data.fill_null(False).to_numpy(zero_copy_only=False)
    else:
        _not_bool(column, data, ids, problems)
        return None
    if nulls.any() and strict:
        problems.add(
            column,
            "missing values (NA) in a tag column: a tag is either there (True) or not (False), "
            "in a new tag column as in an existing one",
            f"`edited[{column!r}] = edited[{column!r}].fillna(False)`",
            ids[nulls],
        )
        return None
    result: BoolArray = values.astype(bool)
    return result


_TRUE_WORDS = ("yes", "y", "true", "t", "1", "x", "on")


def _not_bool(column: str, values: ColumnValues, ids: IntArray, problems: Problems) -> None:
    """A tag column of other values, with a fix that works for what it holds."""
    if isinstance(values, pa.Array):
        if isinstance(values, pa.DictionaryArray):
            values = values.dictionary_decode()
        kind = values.type
        text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        what = f"values of type {kind}"
        sample: list[Any] = pc.unique(values.drop_null()).to_pylist()[:50] if text else []
        numeric = (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or (pa.types.is_boolean(kind))
        )
    else:
        kinds = {type(v) for v in values.tolist()}
        text = kinds <= {str}
        numeric = all(isinstance(v, int | float | np.integer | np.floating) for v in values)
        sample = sorted({v for v in values.tolist() if isinstance(v, str)})[:50]
        what = f"values like {values[0]!r}"
    if text and sample:
        # .astype('bool[pyarrow]') raises on words: compare with the word that means True.
        true = next((v for v in sample if v.strip().lower() in _TRUE_WORDS), sample[0])
        fix = (
            f"`edited[{column!r}] = edited[{column!r}].eq({true!r})` (True where it holds {true!r})"
        )
    elif numeric:
        fix = f"`edited[{column!r}] = edited[{column!r}].astype('bool[pyarrow]')`"
    else:
        fix = "make every cell True or False, e.g. from a condition on other columns"
    problems.add(column, f"tag columns hold True/False only, this one has {what}", fix, ids)


def coerce_tag_lists(
    data: ColumnValues | None, column: str, ids: IntArray, problems: Problems
) -> pa.Array[Any] | None:
    """Return the ``tags`` column as list<string>, every cell a list of strings.

    Parameters
    ----------
    data : pyarrow.Array or numpy.ndarray or None
        The column's values (``column_values``); None passes through.
    column : str
        The column's name, for problems.
    ids : numpy.ndarray
        The customer id of each value, for problems.
    problems : Problems
        Where cells that are not lists of tag names are recorded.

    Returns
    -------
    pyarrow.Array or None
        The lists, or None when ``data`` is None or there was a problem.

    Examples
    --------
    >>> cells = np.array([["vip"], []], dtype=object)
    >>> coerce_tag_lists(cells, "tags", np.array([1, 2]), Problems()).to_pylist()
    [['vip'], []]
    """
    if data is None:
        return None
    fix = (
        "make every cell a list of tag names ([] for none), e.g. "
        f"`edited[{column!r}] = edited[{column!r}].map(lambda t: [t] if isinstance(t, str) else "
        "[str(x) for x in t if x is not None] if isinstance(t, (list, tuple)) or "
        "hasattr(t, 'tolist') else [])` (a str becomes a one-tag list, a missing cell [])"
    )
    if isinstance(data, np.ndarray):
        bad = np.array([not _is_tag_list(cell) for cell in data], dtype=bool)
        if bad.any():
            problems.add(column, "cells that are not lists of strings", fix, ids[bad])
            return None
        broken = np.array([not all(map(is_text, cell)) for cell in data], dtype=bool)
        if broken.any():
            not_text(
                column,
                ids[broken],
                problems,
                what="tag names that are",
                fix="rebuild the lists from valid text, e.g. "
                f"`edited[{column!r}] = edited[{column!r}].map(lambda tags: "
                "[t.encode('utf-8', 'replace').decode('utf-8') for t in tags])`",
            )
            return None
        return pa.array([list(cell) for cell in data], pa.list_(pa.string()))
    kind = data.type
    is_list = pa.types.is_list(kind) or pa.types.is_large_list(kind)
    if not is_list or not (
        pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)
    ):
        problems.add(column, f"values of type {kind}, not lists of strings", fix, ids)
        return None
    lists = data.cast(pa.list_(pa.string()))
    bad = lists.is_null().to_numpy(zero_copy_only=False)
    inner_null = (
        pc.list_flatten(cast("pa.ListArray[Any]", lists)).is_null().to_numpy(zero_copy_only=False)
    )
    if inner_null.any():
        parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
        bad[parents[inner_null]] = True
    if bad.any():
        problems.add(
            column, "missing cells or missing tag names (use [] for no tags)", fix, ids[bad]
        )
        return None
    return lists


def _is_tag_list(cell: object) -> bool:
    if isinstance(cell, list | tuple | np.ndarray):
        return all(isinstance(item, str) for item in cell)
    return False
