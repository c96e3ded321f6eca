"""Decoded chunks -> the frame's flat Arrow table, and the rules that choose a column's type.

The type of a ``custom.*``, ``stripe.*`` or ``clearbit.*`` column depends on every page (a key
can be an int on page 1 and "A-12" on page 2), so chunks keep natural types (``ColumnChunk``)
and the decision is made here, once. The same rules (``resolve_custom``, ``resolve_external``,
``render_text``) unify the parts of a streamed Parquet dataset, so a streamed dataset and an
in-memory frame of the same pages agree exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cm_frames._decode import WIRE_TYPE, ColumnChunk, render_text
from cm_frames.errors import ChartMogulError
from cm_frames.schema import (
    ADDRESS_FIELDS,
    CLEARBIT_PREFIX,
    CUSTOM_PREFIX,
    INDEX_NAME,
    STATUS,
    STRIPE_PREFIX,
    TAG_PREFIX,
    TIMESTAMP,
    CustomType,
    parse_timestamps,
)

__all__ = [
    "CUSTOM_ARROW_TYPES",
    "AssembledTable",
    "Chunks",
    "assemble",
    "canonical_status",
    "resolve_custom",
    "resolve_external",
    "tag_columns",
]

_STRING = pa.string()
_TAGS = pa.list_(_STRING)

#: The Arrow type of each custom attribute type.
CUSTOM_ARROW_TYPES: Final[dict[CustomType, pa.DataType]] = {
    "String": _STRING,
    "Integer": pa.int64(),
    "Boolean": pa.bool_(),
    "Timestamp": TIMESTAMP.pyarrow_dtype,
}

#: A chunk's custom column of plain strings: Timestamp if every chunk agrees, else String.
_STRINGS: Final = "strings"


@dataclass(slots=True)
class Chunks:
    """Everything decoded so far, in the API's row order. ``assemble`` empties it as it goes."""

    #: the documented fields, one struct array per page
    fixed: list[pa.StructArray] = field(default_factory=list)
    #: custom attribute columns, in batches of several pages
    custom: list[ColumnChunk] = field(default_factory=list)
    #: Stripe and Clearbit columns, one chunk per page
    stripe: list[ColumnChunk] = field(default_factory=list)
    clearbit: list[ColumnChunk] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AssembledTable:
    """The decoded table plus what a streaming writer needs to unify parts later."""

    table: pa.Table
    custom_types: dict[str, CustomType]
    #: the original strings of the Timestamp columns (by custom key), when asked for
    timestamp_text: dict[str, pa.Array]


# --- type resolution rules -----------------------------------------------------------------------


def resolve_custom(votes: Iterable[str]) -> str:
    """One custom key's type from the kinds of its non-null chunks (or parts).

    Votes are custom types or ``"strings"`` (plain strings, Timestamp only if they all parse).
    No vote (null everywhere) -> String; one kind -> that kind; a mix -> String.
    """
    kinds = set(votes)
    return kinds.pop() if len(kinds) == 1 else "String"


def resolve_external(types: Iterable[pa.DataType]) -> pa.DataType:
    """A Stripe/Clearbit column's type from the types of its non-null chunks (or parts).

    One type -> it; int64 with double -> double (JSON has one number type); other mixes ->
    string (values rendered as JSON text); null everywhere -> string.
    """
    distinct = set(types)
    if len(distinct) == 1:
        return distinct.pop()
    if distinct == {pa.int64(), pa.float64()}:
        return pa.float64()
    return _STRING


def _custom_vote(array: pa.Array, text: bool) -> str | None:
    if array.null_count == len(array):
        return None
    if pa.types.is_int64(array.type):
        return "Integer"
    if pa.types.is_boolean(array.type):
        return "Boolean"
    return "String" if text else _STRINGS


# --- assembly ------------------------------------------------------------------------------------


def assemble(chunks: Chunks, *, keep_timestamp_text: bool = False) -> AssembledTable:
    """Build the flat table (``id`` + the frame's columns, in frame order) from ``chunks``.

    Consumes ``chunks``: each column's pieces are released once it is built, so the peak is
    about the final table plus one column, not twice the table.
    """
    fixed_parts, chunks.fixed = chunks.fixed, []
    fixed = pa.concat_arrays(fixed_parts) if fixed_parts else pa.array([], WIRE_TYPE)
    del fixed_parts
    columns: dict[str, pa.Array] = {}
    ids = fixed.field("id")
    columns[INDEX_NAME] = ids
    for name in ("uuid", "external_id", "email", "name"):
        columns[name] = fixed.field(name)
    for name, values in zip(ADDRESS_FIELDS, fixed.field("address").flatten(), strict=True):
        columns[f"address.{name}"] = values
    columns["customer_since"] = _customer_since(fixed.field("customer-since"), ids)
    columns["status"] = canonical_status(fixed.field("status"))
    tags = fixed.field("attributes").flatten()[0]
    if tags.null_count:  # a customer without attributes (or tags) has no tags
        tags = pc.if_else(pc.is_null(tags), pa.scalar([], type=_TAGS), tags)
    columns["tags"] = tags
    columns.update(tag_columns(tags))

    custom_types: dict[str, CustomType] = {}
    timestamp_text: dict[str, pa.Array] = {}
    for key, parts in _take_columns(chunks.custom):
        votes = (
            _custom_vote(part, key in chunk.text)
            for part, chunk in zip(parts, chunks.custom, strict=True)
            if part is not None
        )
        kind = resolve_custom(v for v in votes if v is not None)
        column: pa.Array | None = None
        if kind == _STRINGS:
            text = _concat(parts, chunks.custom, _STRING)
            column = parse_timestamps(text)
            kind = "String" if column is None else "Timestamp"
            if column is not None and keep_timestamp_text:
                timestamp_text[key] = text
        custom_type = cast(CustomType, kind)
        if column is None:
            column = _concat(parts, chunks.custom, CUSTOM_ARROW_TYPES[custom_type])
        custom_types[key] = custom_type
        columns[CUSTOM_PREFIX + key] = column

    for section, prefix in ((chunks.stripe, STRIPE_PREFIX), (chunks.clearbit, CLEARBIT_PREFIX)):
        for name, parts in _take_columns(section):
            votes_types = [p.type for p in parts if p is not None and p.null_count < len(p)]
            columns[prefix + name] = _concat(parts, section, resolve_external(votes_types))
    chunks.custom, chunks.stripe, chunks.clearbit = [], [], []

    table = pa.Table.from_arrays(list(columns.values()), names=list(columns))
    return AssembledTable(table, dict(sorted(custom_types.items())), timestamp_text)


def _take_columns(
    chunks: list[ColumnChunk],
) -> Iterable[tuple[str, list[pa.Array | None]]]:
    """Per column name (sorted), its array in each chunk (None where the chunk lacks it).

    Pops the arrays out of the chunks one column at a time, so what is built can be freed.
    """
    names: set[str] = set()
    for chunk in chunks:
        names.update(chunk.columns)
    for name in sorted(names):
        yield name, [chunk.columns.pop(name, None) for chunk in chunks]


def _concat(
    parts: list[pa.Array | None], chunks: list[ColumnChunk], target: pa.DataType
) -> pa.Array:
    """Concatenate chunk arrays as ``target``: missing ones are nulls, others are converted."""
    arrays = []
    for part, chunk in zip(parts, chunks, strict=True):
        if part is None or part.null_count == len(part):
            arrays.append(pa.nulls(chunk.size, target))
        elif part.type == target:
            arrays.append(part)
        elif pa.types.is_string(target):
            arrays.append(render_text(part))
        else:
            arrays.append(part.cast(target))  # int64 -> double only (resolve_external)
    if not arrays:
        return pa.array([], type=target)
    return pa.concat_arrays(arrays)


def _customer_since(strings: pa.Array, ids: pa.Array) -> pa.Array:
    parsed = parse_timestamps(strings)
    if parsed is not None:
        return parsed
    for customer_id, value in zip(ids.to_pylist(), strings.to_pylist(), strict=True):
        if value is not None and parse_timestamps(pa.array([value], _STRING)) is None:
            raise ChartMogulError(
                f"Customer {customer_id} has customer-since {value!r}, which is not an ISO 8601 "
                "date-time; the API documents values like 2015-06-09T13:16:00-04:00"
            )
    raise AssertionError("unreachable: some customer-since failed to parse")  # pragma: no cover


def canonical_status(strings: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Dictionary-encode with a sorted dictionary, so equal values always encode the same way."""
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if pa.types.is_dictionary(strings.type):
        strings = strings.cast(_STRING)
    values = pc.unique(strings.drop_null())
    values = values.take(pc.sort_indices(values))
    indices = pc.index_in(strings, value_set=values).cast(pa.int32())
    return pa.DictionaryArray.from_arrays(indices, values).cast(STATUS.pyarrow_dtype)


def tag_columns(tags: pa.Array) -> dict[str, pa.Array]:
    """One bool column per tag seen (``tag.<name>``, sorted by name): True where the customer has it.

    Arrow ``list_flatten`` + ``list_parent_indices`` + a numpy scatter (perf-notes: 0.03 s for
    100k rows and 50 tags, against 3.2 s for str.get_dummies). Empty tag names make no column.
    """
    flat = pc.list_flatten(tags)
    parents = pc.list_parent_indices(tags)
    keep = pc.fill_null(pc.not_equal(flat, ""), False)
    flat, parents = flat.filter(keep), parents.filter(keep)
    names = sorted(pc.unique(flat).to_pylist())
    if not names:
        return {}
    codes = pc.index_in(flat, value_set=pa.array(names, _STRING)).to_numpy()
    matrix = np.zeros((len(names), len(tags)), dtype=bool)
    matrix[codes, parents.to_numpy()] = True
    return {TAG_PREFIX + name: pa.array(row) for name, row in zip(names, matrix, strict=True)}
