"""``update_from``: scores from another table written into a loaded frame, by key.

A score computed elsewhere (a model fed from the product warehouse, a colleague's CSV) arrives
as a table with a key column. Merging it by hand is where mistakes happen: ``df.merge`` drops
the ``id`` index, and ``edited[col] = series`` of some customers leaves every other row NA,
which a plan reads as "remove". ``update_from`` writes by position instead, so the frame keeps
its index, its row order and every column it was not asked to change, and it records how the
table's rows matched (``TableMatch``) in the frame's attrs, where ``plan()`` finds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cm_frames.errors import ValidationError
from cm_frames.read.table import ATTRS_KEY
from cm_frames.schema import TAG_PREFIX
from cm_frames.writeback.plan import TableMatch

__all__ = ["KEYS", "MATCHES_KEY", "table_matches", "update_from"]

#: The columns a table can be matched on (``id`` is the frame's index).
KEYS = ("external_id", "email", "uuid", "id")
#: Where in ``df.attrs["chartmogul"]`` the matches of ``update_from`` are kept (JSON-safe).
MATCHES_KEY = "table_matches"
_CUSTOM_PREFIX = "custom."
_SHOWN = 10  # keys named in an error message


def update_from(
    df: pd.DataFrame,
    table: pd.DataFrame,
    *,
    on: str,
    columns: Mapping[str, str],
    missing: Literal["keep", "remove"] = "keep",
    others: Literal["keep", "remove"] = "keep",
) -> pd.DataFrame:
    """A copy of the loaded frame with ``table``'s columns written in, matched by ``on``.

    ``df.chartmogul.update_from()`` calls this. Each column of ``table`` named in ``columns``
    is written into its ``custom.*`` or ``tag.*`` column for the customers whose key matches
    (every customer sharing a key, such as an email). Nothing else changes: not the index, not
    the row order, not another column, not a customer the table does not name (unless
    ``others="remove"``). How the rows matched goes with the frame to ``plan()``.

    Parameters
    ----------
    df : pandas.DataFrame
        A frame loaded with ``cm.read_customers`` (or an edited copy of one).
    table : pandas.DataFrame
        The scores: one row per key, the key in a column (or the index) named ``on``.
    on : {"external_id", "email", "uuid", "id"}
        The key matched against the frame's column of that name (``id``: its index).
    columns : mapping of str to str
        Table column -> frame column: ``{"score": "custom.lead_score", "hot": "tag.hot"}``.
        A ``tag.*`` column takes a boolean column (True adds the tag, False removes it); a
        ``custom.*`` column takes any column the attribute's type holds (a new attribute gets
        the column's type; a float column of whole numbers becomes an Integer one).
    missing : {"keep", "remove"}, default "keep"
        NA in the table: keep the customer's value (as ``DataFrame.update`` does), or remove
        it (a tag: False).
    others : {"keep", "remove"}, default "keep"
        The customers the table does not name: keep their values, or remove the attribute
        from them (a mirror of the table).

    Returns
    -------
    pandas.DataFrame
        The edited copy; ``df`` is unchanged. ``plan()`` of it lists the table's rows that
        matched no customer (``plan.table_matches``, and a line of ``plan.summary()``).

    Raises
    ------
    ValidationError
        ``df`` is not a loaded frame; ``on`` is not a key or not a column of the table; a
        mapped column is missing from the table; a target is not ``custom.*``/``tag.*`` (or
        is named twice); a tag's column is not boolean; the table's values do not fit the
        attribute's type; the table has a key more than once (the message names them).

    Examples
    --------
    >>> import cm_frames as cm
    >>> import pandas as pd
    >>> emu = cm.Emulator(customers=5, seed=1).start()
    >>> df = cm.read_customers(emu.client(), progress=False)
    >>> scores = pd.DataFrame({
    ...     "external_id": [df["external_id"].iloc[0], df["external_id"].iloc[2], "not-ours"],
    ...     "churn": [0.9, None, 0.2],
    ...     "risky": [True, False, False],
    ... })
    >>> scores["churn"] = (scores["churn"] * 100).round().astype("Int64")
    >>> edited = update_from(df, scores, on="external_id",
    ...                      columns={"churn": "custom.churn_score", "risky": "tag.risky"})
    >>> edited["custom.churn_score"].tolist(), edited["tag.risky"].tolist()
    ([90, <NA>, <NA>, <NA>, <NA>], [True, False, False, False, False])
    >>> edited.index.equals(df.index)
    True
    >>> plan = edited.chartmogul.plan()
    >>> print(plan.summary(rate_limit=None))
    2 operations on 1 customer → 2 requests
    AddTags 1 · AddCustom 1
    1 row of the table matched no customer (external_id not-ours: plan.table_matches lists them)
    >>> emu.stop()
    """
    info = _check_frame(df)
    if on not in KEYS:
        raise ValidationError(
            f"update_from(on={on!r}): the key must be one of {', '.join(map(repr, KEYS))}"
        )
    for name, value in (("missing", missing), ("others", others)):
        if value not in ("keep", "remove"):
            raise ValidationError(f"update_from({name}={value!r}): expected 'keep' or 'remove'")
    if not isinstance(table, pd.DataFrame):
        raise ValidationError(
            f"update_from() takes a DataFrame of scores, got {type(table).__name__}"
        )
    keys = _table_keys(table, on)
    mapping = _check_columns(columns, table, df)
    _refuse_duplicates(keys, on)

    # Match by position: row_of[p] is the table row of the frame's p-th customer (-1: none).
    frame_keys = _frame_keys(df, on)
    has_key = keys.notna().to_numpy()
    keyed_rows = np.flatnonzero(has_key)
    lookup = pd.Index(keys.to_numpy(dtype=object)[keyed_rows], dtype=object)
    found = lookup.get_indexer(frame_keys.to_numpy(dtype=object))
    found[frame_keys.isna().to_numpy()] = -1
    row_of = np.full(len(df), -1, dtype=np.int64)
    row_of[found >= 0] = keyed_rows[found[found >= 0]]
    matched = row_of >= 0
    hits = np.bincount(row_of[matched], minlength=len(table))

    edited = df.copy()
    for source, target in mapping.items():
        edited[target] = _written(df, table[source], target, row_of, missing, others)

    key_values = keys.to_numpy(dtype=object)
    match = TableMatch(
        on=on,
        rows=len(table),
        unmatched=tuple(_json_key(key_values[i]) for i in np.flatnonzero(hits == 0)),
        shared=_shared(key_values, row_of, hits, df.index),
        removing=tuple(mapping.values()) if "remove" in (missing, others) else (),
    )
    previous = info.get(MATCHES_KEY)
    recorded = list(previous) if isinstance(previous, list) else []
    edited.attrs = {
        **edited.attrs,
        ATTRS_KEY: {**info, MATCHES_KEY: [*recorded, match.to_record()]},
    }
    return edited


def _shared(
    key_values: np.ndarray[Any, np.dtype[Any]],
    row_of: np.ndarray[Any, np.dtype[np.int64]],
    hits: np.ndarray[Any, np.dtype[np.int64]],
    index: pd.Index,
) -> dict[str, tuple[int, ...]]:
    """Keys matched by several customers, each with their ids in frame order (one sort)."""
    if not (hits > 1).any():
        return {}
    positions = np.flatnonzero((row_of >= 0) & (hits[np.maximum(row_of, 0)] > 1))
    if not len(positions):
        return {}
    positions = positions[np.argsort(row_of[positions], kind="stable")]
    rows, starts = np.unique(row_of[positions], return_index=True)
    ids = index.to_numpy()[positions].tolist()
    bounds = [*starts.tolist(), len(positions)]
    return {
        str(key_values[row]): tuple(int(i) for i in ids[bounds[k] : bounds[k + 1]])
        for k, row in enumerate(rows.tolist())
    }


def table_matches(df: pd.DataFrame) -> tuple[TableMatch, ...]:
    """The matches ``update_from`` recorded in a frame's attrs (none for other frames).

    Parameters
    ----------
    df : pandas.DataFrame
        A frame, edited by ``update_from`` or not.

    Returns
    -------
    tuple of TableMatch
        One per ``update_from`` call that made the frame, in order.

    Raises
    ------
    ValidationError
        When the attrs hold something else under that name.

    Examples
    --------
    >>> import pandas as pd
    >>> table_matches(pd.DataFrame())
    ()
    """
    info = df.attrs.get(ATTRS_KEY)
    raw = info.get(MATCHES_KEY) if isinstance(info, Mapping) else None
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValidationError(f"df.attrs[{ATTRS_KEY!r}][{MATCHES_KEY!r}] must be a list")
    return tuple(
        TableMatch.from_record(item, where=f"{MATCHES_KEY}[{i}]") for i, item in enumerate(raw)
    )


# --- checks ----------------------------------------------------------------------------------


def _check_frame(df: object) -> dict[str, Any]:
    advice = (
        "update_from works on a frame loaded with cm.read_customers(client) (or an edited "
        "copy of one): it writes into the customers' custom.*/tag.* columns, and plan() diffs "
        "the result against that load"
    )
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"{advice}; got {type(df).__name__}")
    info = df.attrs.get(ATTRS_KEY)
    if df.index.name != "id" or "uuid" not in df.columns or not isinstance(info, Mapping):
        raise ValidationError(
            f"{advice}; this frame is not one (it has index {df.index.name!r}"
            + ("" if "uuid" in df.columns else ", no 'uuid' column")
            + ("" if isinstance(info, Mapping) else f", no df.attrs[{ATTRS_KEY!r}]")
            + ")"
        )
    if not df.index.is_unique:
        raise ValidationError(f"{advice}; this frame has an id more than once")
    return dict(info)


def _table_keys(table: pd.DataFrame, on: str) -> pd.Series:
    """The table's keys by row, as the frame holds them: text (an int as its digits), or ids."""
    if on in table.columns:
        raw = table[on]
        if isinstance(raw, pd.DataFrame):
            raise ValidationError(f"update_from(on={on!r}): the table has {on!r} more than once")
    elif table.index.name == on:
        raw = table.index.to_series()
    else:
        raise ValidationError(
            f"update_from(on={on!r}): the table has no column {on!r} (nor an index of that "
            f"name); its columns are {', '.join(map(repr, map(str, table.columns)))}"
        )
    # Plain lists, not Series.map: pandas would turn a None result back into NaN.
    convert = _as_id if on == "id" else _key_text
    keys = [None if _is_na(v) else convert(v) for v in raw.to_numpy(dtype=object)]
    return pd.Series(keys, index=range(len(table)), dtype=object)


def _is_na(value: object) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float | np.floating) and bool(np.isnan(value)))
    )


def _key_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an external_id read as 123.0 from a CSV column with blanks
    return str(value)


def _as_id(value: object) -> int:
    if isinstance(value, bool | np.bool_):
        raise _bad_id(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise _bad_id(value)


def _bad_id(value: object) -> ValidationError:
    return ValidationError(
        f"update_from(on='id'): the table's id {value!r} is not a customer id (an integer); "
        "match on 'uuid', 'external_id' or 'email' for other keys"
    )


def _check_columns(
    columns: Mapping[str, str], table: pd.DataFrame, df: pd.DataFrame
) -> dict[str, str]:
    if not isinstance(columns, Mapping) or not columns:
        raise ValidationError(
            "update_from(columns=...) maps the table's columns to the frame's, such as "
            "{'score': 'custom.lead_score', 'hot': 'tag.hot'}"
        )
    problems = []
    targets: dict[str, str] = {}
    for source, target in columns.items():
        if source not in table.columns:
            reversed_hint = (
                f" (columns maps table columns to frame columns: {{{target!r}: {source!r}}}?)"
                if isinstance(target, str) and target in table.columns
                else ""
            )
            problems.append(
                f"{source!r} is not a column of the table{reversed_hint}; its columns are "
                + ", ".join(map(repr, map(str, table.columns)))
            )
            continue
        if not isinstance(target, str) or not (
            (target.startswith(_CUSTOM_PREFIX) and len(target) > len(_CUSTOM_PREFIX))
            or (target.startswith(TAG_PREFIX) and len(target) > len(TAG_PREFIX))
        ):
            problems.append(
                f"{source!r} -> {target!r}: only custom.* and tag.* columns are written back; "
                f"name the attribute, such as 'custom.{source}' (a typed value) or "
                f"'tag.{source}' (a boolean column)"
            )
            continue
        if target in targets:
            problems.append(f"{target!r} is named for both {targets[target]!r} and {source!r}")
            continue
        targets[target] = source
        if target.startswith(TAG_PREFIX) and not _is_boolean(table[source]):
            problems.append(
                f"{source!r} -> {target!r}: a tag takes a boolean column (True adds the tag, "
                f"False removes it), and {source!r} is {table[source].dtype}; write, for "
                f"instance, table[{source!r}] > threshold, or map it to a custom.* column"
            )
    if problems:
        raise ValidationError("update_from(columns=...): " + "; ".join(problems))
    return {source: target for target, source in targets.items()}


def _is_boolean(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series.dtype):
        return True
    # A CSV column of True/False with blanks reads as object: accept it if that is all it is.
    return series.dtype == object and all(
        isinstance(v, bool | np.bool_) for v in series.dropna().tolist()
    )


def _refuse_duplicates(keys: pd.Series, on: str) -> None:
    keyed = keys.dropna()
    repeated = keyed[keyed.duplicated(keep=False)]
    if repeated.empty:
        return
    counts = repeated.value_counts(sort=False)
    shown = ", ".join(f"{key!r} ({n} rows)" for key, n in list(counts.items())[:_SHOWN])
    more = f" and {len(counts) - _SHOWN:,} more" if len(counts) > _SHOWN else ""
    raise ValidationError(
        f"update_from(on={on!r}): the table has {len(counts):,} {on}{'' if len(counts) == 1 else 's'} "
        f"more than once: {shown}{more}; keep one row per key, such as "
        f"table.drop_duplicates({on!r}, keep='last')"
    )


def _frame_keys(df: pd.DataFrame, on: str) -> pd.Series:
    if on == "id":
        return pd.Series(df.index.to_numpy(dtype=object), dtype=object)
    values = pd.Series(df[on].to_numpy(dtype=object), dtype=object)
    return values.where(values.notna(), None)


def _json_key(value: object) -> str | int | None:
    if value is None or isinstance(value, str):
        return value
    return int(value) if isinstance(value, int | np.integer) else str(value)


# --- writing ---------------------------------------------------------------------------------


def _written(
    df: pd.DataFrame,
    values: pd.Series,
    target: str,
    row_of: np.ndarray[Any, np.dtype[np.int64]],
    missing: str,
    others: str,
) -> pd.Series:
    """The target column after the write: taken by position from [old, table values, blank]."""
    is_tag = target.startswith(TAG_PREFIX)
    new = _arrow(values, boolean=is_tag)
    if target in df.columns:
        old = _arrow(df[target], boolean=is_tag)
        new = _cast(new, old.type, values.name, target)
    else:
        new = _whole_floats_as_ints(new)
        old = pa.nulls(len(df), new.type)
        if is_tag:
            old = pa.array(np.zeros(len(df), dtype=bool))
    if is_tag:
        old = old.fill_null(False)  # a tag column is never null
    blank = pa.array([False] if is_tag else [None], old.type)
    n, rows = len(df), len(values)
    take = np.arange(n, dtype=np.int64)
    matched = row_of >= 0
    writes = matched.copy()
    if missing == "keep":
        valid = np.asarray(pc.is_valid(new).to_numpy(zero_copy_only=False), dtype=bool)
        writes[matched] &= valid[row_of[matched]]
    elif is_tag:
        new = new.fill_null(False)
    take[writes] = n + row_of[writes]
    if others == "remove":
        take[~matched] = n + rows
    column = pa.concat_arrays([old, new, blank]).take(pa.array(take))
    return pd.Series(pd.arrays.ArrowExtensionArray(column), index=df.index, name=target)


def _arrow(series: pd.Series, *, boolean: bool) -> pa.Array[Any]:
    if boolean and series.dtype == object:
        series = series.astype("boolean")
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValidationError(
            f"update_from: the column {series.name!r} does not convert to one Arrow type "
            f"({exc}); give it one type, such as table[{series.name!r}].astype(str)"
        ) from None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    decoded: pa.Array[Any] = array
    return decoded


def _cast(new: pa.Array[Any], to: pa.DataType, source: object, target: str) -> pa.Array[Any]:
    if new.type == to:
        return new
    try:
        cast: pa.Array[Any] = new.cast(to)
        return cast
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ValidationError(
            f"update_from: the table's {source!r} ({new.type}) does not fit {target!r} "
            f"({to}): {exc}; convert the column first (a whole number for an Integer, an ISO "
            "8601 string or Timestamp for a Timestamp), or write it to another attribute"
        ) from None


def _whole_floats_as_ints(array: pa.Array[Any]) -> pa.Array[Any]:
    # A CSV column of scores with blanks reads as float64; whole numbers are an Integer score.
    if not pa.types.is_floating(array.type):
        return array
    values = array.drop_null().to_numpy(zero_copy_only=False)
    whole = len(values) and np.all(np.isfinite(values)) and np.all(values == np.round(values))
    if whole and np.all(np.abs(values) < 2**53):
        return array.cast(pa.int64())
    return array
