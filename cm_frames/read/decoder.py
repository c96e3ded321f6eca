"""Decoded JSON customers -> Arrow arrays, page by page (custom attributes in batches).

How (benchmarks/bench_parse.py compares this with the other ways of decoding pages):

* ``orjson`` decodes each page with the cyclic GC paused (``gc_paused``: the collector would
  rescan the heap while the page's objects are created), and nothing of the page's objects
  outlives the call.
* The documented fields (id, uuid, ..., address, customer-since, tags) go through ONE
  ``pa.array(entries, type=WIRE_TYPE)`` per page: an explicit type, so nothing is inferred,
  missing keys are null, unknown keys are ignored, and a wrong JSON type raises. The struct
  is split at once into flat columns (``FIXED_TYPES``; zero copy), so each column's memory
  can be freed on its own later. ``customer-since`` stays a string here and is parsed
  deliberately later (pyarrow.json's inference drops offsets).
* ``attributes.custom`` holds user data whose JSON types mix from one customer to the next
  (``123`` and ``"A-12"``), which makes ``pa.array``, ``from_pylist`` and ``pyarrow.json``
  raise. Its keys and values are chained into flat lists (``KeyValues``, C loops) and
  converted a few pages at a time by ``_flatten_pairs``: the values' JSON types are classified
  with numpy and each column type gets one ``pa.array`` and one ``take``, so the cost follows
  the number of values, not rows x keys.
* ``.stripe`` and ``.clearbit`` are dense and nested: Arrow's own struct inference converts
  them when it can be trusted, else the same column-wise path does (``decode_section``).
* Today's API carries more top-level fields (``mrr``, ``currency``, ``lead_created_at``, ...:
  ``schema.CURRENT_FIELDS``). Those a page holds join the same one ``pa.array`` (its struct
  type gains just those fields, so a page of the reference dialect converts exactly as
  before); integers and lists among them are type-checked first, because an explicit type
  would truncate 8008.5 to 8008 or split a string into a list of characters. A top-level
  field no one documented is kept as a column of its own (``decode_loose``), never dropped.

Each piece keeps its columns' natural types (int64, bool, string, double, null, or JSON text
for mixes); a column's final type needs every page and is chosen in ``_assemble.py``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import Any, Final, cast

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from cm_frames.api.paging import check_page_size
from cm_frames.errors import ChartMogulError
from cm_frames.schema import (
    ADDRESS_FIELDS,
    CURRENT_FIELDS,
    INT64_MAX,
    INT64_MIN,
    field_column,
    render_json_text,
)

__all__ = [
    "CURRENT_WIRE_TYPES",
    "FIXED_TYPES",
    "WIRE_TYPE",
    "ColumnChunk",
    "KeyValues",
    "PageArrays",
    "decode_custom",
    "decode_loose",
    "decode_page",
    "decode_section",
    "gc_paused",
    "load_entries",
    "render_text",
]

_STRING = pa.string()

#: The documented, fixed part of a customer on the wire. Extra keys are ignored by pa.array.
WIRE_TYPE: Final = pa.struct(
    [
        pa.field("id", pa.int64()),
        pa.field("uuid", _STRING),
        pa.field("external_id", _STRING),
        pa.field("email", _STRING),
        pa.field("name", _STRING),
        pa.field("address", pa.struct([pa.field(f, _STRING) for f in ADDRESS_FIELDS])),
        pa.field("customer-since", _STRING),
        pa.field("status", _STRING),
        pa.field("attributes", pa.struct([pa.field("tags", pa.list_(_STRING))])),
    ]
)

_TAGS = pa.list_(_STRING)

#: The flat columns of the documented fields (frame names, but ``customer-since`` and
#: ``status`` still as the wire's strings), in frame order.
FIXED_TYPES: Final[dict[str, pa.DataType]] = {
    "id": pa.int64(),
    "uuid": _STRING,
    "external_id": _STRING,
    "email": _STRING,
    "name": _STRING,
    **{f"address.{name}": _STRING for name in ADDRESS_FIELDS},
    "customer-since": _STRING,
    "status": _STRING,
    "tags": _TAGS,
}

#: Today's top-level fields on the wire (``schema.CURRENT_FIELDS``): the two dates stay strings
#: here and are parsed later, like ``customer-since``.
CURRENT_WIRE_TYPES: Final[dict[str, pa.DataType]] = {
    **dict.fromkeys(CURRENT_FIELDS, _STRING),
    "mrr": pa.int64(),
    "arr": pa.int64(),
    "external_ids": _TAGS,
    "data_source_uuids": _TAGS,
}
#: The JSON types an explicitly typed field may hold (besides null), where Arrow would coerce.
_STRICT_FIELDS: Final[dict[str, type]] = {
    "mrr": int,
    "arr": int,
    "external_ids": list,
    "data_source_uuids": list,
}
_KNOWN_FIELDS: Final = frozenset(WIRE_TYPE.names) | frozenset(CURRENT_FIELDS)

_EMPTY: Final[dict[str, Any]] = {}
_CONVERSION_ERRORS: Final = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError)
_SECTIONS: Final = ("custom", "stripe", "clearbit")

IntArray = np.ndarray[Any, np.dtype[np.intp]]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around a burst of allocations (JSON decoding).

    JSON values hold no reference cycles, so nothing is lost; the collector would otherwise
    rescan the whole heap repeatedly while a page's objects are being created. Restores the
    previous state (the caller may have disabled it already).

    Yields
    ------
    None
        While the block runs, with the collector off.

    Examples
    --------
    >>> import gc
    >>> with gc_paused():
    ...     gc.isenabled()
    False
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_entries(body: bytes | bytearray | memoryview | str, *, where: str = "page") -> list[Any]:
    """Return the ``entries`` list of a list page or a search result.

    A list page with more entries than its ``per_page`` is refused (``check_page_size``).
    orjson decodes integers exactly from -2**63 to 2**64-1 (a superset of the API's signed
    64-bit Integer); a JSON integer beyond that, which only third-party data could hold,
    arrives as a float.

    Parameters
    ----------
    body : bytes, bytearray, memoryview or str
        The page's JSON (compact or pretty-printed).
    where : str, default "page"
        What the body is, for error messages ("page 3").

    Returns
    -------
    list
        The customer objects, as JSON decodes them.

    Raises
    ------
    ChartMogulError
        When the body is not JSON, has no ``entries`` list, or more entries than ``per_page``.

    Examples
    --------
    >>> load_entries(b'{"entries": [{"id": 1}], "has_more": false}')
    [{'id': 1}]
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ChartMogulError(
            f"The {where} body is not valid JSON ({error}; {len(body)} bytes, starting "
            f"{bytes(body[:80]) if not isinstance(body, str) else body[:80]!r}): it was cut "
            "short, or something other than the API answered. Nothing from this load was "
            "kept; load again"
        ) from error
    entries = document.get("entries") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        found = f"keys {sorted(document)[:10]}" if isinstance(document, dict) else "no object"
        raise ChartMogulError(
            f'The {where} body has no "entries" list ({found}); expected a /customers list '
            "page or a /customers/search result"
        )
    check_page_size(len(entries), document.get("per_page"), where)
    return entries


def render_text(array: pa.Array[Any]) -> pa.Array[Any]:
    """Render a column as JSON text strings: 123 -> "123", true -> "true", 1.5 -> "1.5".

    ints and bools through Arrow's cast (exact, and the same text as JSON); doubles and
    anything else through orjson, so the text is the same whichever path produced it.

    Parameters
    ----------
    array : pyarrow.Array
        A column of any type but timestamp.

    Returns
    -------
    pyarrow.Array
        The same values as strings (nulls stay null).

    Raises
    ------
    ValueError
        For a timestamp column (rendered from its original text instead).

    Examples
    --------
    >>> import pyarrow as pa
    >>> render_text(pa.array([1.5, None])).to_pylist()
    ['1.5', None]
    >>> render_text(pa.array([True])).to_pylist()
    ['true']
    """
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_integer(array.type) or pa.types.is_boolean(array.type):
        return array.cast(_STRING)
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), _STRING)
    if pa.types.is_timestamp(array.type):
        raise ValueError("timestamps are rendered from their original text, not from instants")
    return pa.array(list(map(render_json_text, array.to_pylist())), type=_STRING)


def _put(out: dict[str, pa.Array[Any]], name: str, array: pa.Array[Any]) -> None:
    """Store a column; if the name is taken, merge the two (first non-null value wins).

    Only a section with both a dotted key and the nested object it spells can collide
    (Stripe ``{"utm.source": 1, "utm": {"source": 2}}``): both values are kept, never dropped
    silently, as text if their types differ.
    """
    existing = out.get(name)
    if existing is None or existing.null_count == len(existing):
        out[name] = array
    elif array.null_count == len(array):
        return
    elif existing.type == array.type:
        out[name] = pc.coalesce(existing, array)
    else:
        out[name] = pc.coalesce(render_text(existing), render_text(array))


@dataclass(frozen=True, slots=True)
class ColumnChunk:
    """Columns of one attribute section for ``size`` consecutive customers.

    Attributes
    ----------
    size : int
        How many customers (rows) the chunk covers.
    columns : dict of str to pyarrow.Array
        The columns, each ``size`` long, named by key (dotted when nested).
    text : frozenset of str
        Columns whose strings are rendered mixes (certainly String, never Timestamp).

    Examples
    --------
    >>> chunk = decode_section([{"code": 1}, {"code": "A-12"}], nested=False)
    >>> chunk.size, chunk.columns["code"].to_pylist(), chunk.text
    (2, ['1', 'A-12'], frozenset({'code'}))
    """

    size: int
    columns: dict[str, pa.Array[Any]]
    #: columns whose strings are rendered mixes (certainly String, never Timestamp)
    text: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PageArrays:
    """One page's documented fields and Stripe/Clearbit columns, in the API's order.

    Attributes
    ----------
    size : int
        The page's number of customers.
    fixed : ColumnChunk
        The documented fields as ``FIXED_TYPES`` columns.
    stripe, clearbit : ColumnChunk
        The two third-party sections, flattened.

    Examples
    --------
    >>> page = decode_page([{"id": 1, "email": "a@example.com"}], KeyValues())
    >>> page.size, page.fixed.columns["email"].to_pylist()
    (1, ['a@example.com'])
    """

    size: int
    #: the documented fields as ``FIXED_TYPES`` columns
    fixed: ColumnChunk
    stripe: ColumnChunk
    clearbit: ColumnChunk


@dataclass(slots=True)
class KeyValues:
    """The custom attributes of consecutive customers as three flat lists (no dict kept).

    Batching several pages makes the column-wise conversion cheaper per customer; flat lists
    of scalars (unlike thousands of dicts) cost the garbage collector nothing to keep.

    Attributes
    ----------
    lengths : list of int
        Each customer's number of custom attributes.
    keys, values : list
        Every customer's keys and values, one after the other.

    Examples
    --------
    >>> custom = KeyValues()
    >>> custom.add([{"seats": 3}, {}, {"seats": 5, "plan": "pro"}])
    >>> decode_custom(custom).columns["seats"].to_pylist()
    [3, None, 5]
    """

    lengths: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)

    def add(self, dicts: Sequence[dict[str, Any]]) -> None:
        """Append the next customers' custom attributes.

        Parameters
        ----------
        dicts : sequence of dict
            One ``attributes.custom`` object per customer, in order.
        """
        self.lengths.extend(map(len, dicts))
        self.keys.extend(chain.from_iterable(dicts))
        self.values.extend(chain.from_iterable(map(dict.values, dicts)))


def decode_page(entries: list[Any], custom: KeyValues, *, where: str = "page") -> PageArrays | None:
    """Convert one page's customer objects; their custom attributes are appended to ``custom``.

    Parameters
    ----------
    entries : list
        The page's customer objects (``load_entries``).
    custom : KeyValues
        Where the customers' custom attributes go (decoded later, for several pages at once).
    where : str, default "page"
        What the entries are, for error messages.

    Returns
    -------
    PageArrays or None
        The page's columns; None when there are no entries (an empty page must not become
        a NullArray).

    Raises
    ------
    ChartMogulError
        When an entry breaks the documented shape (no integer id, a section not an object,
        a field of the wrong JSON type such as a fractional ``mrr``).

    Examples
    --------
    >>> custom = KeyValues()
    >>> page = decode_page([{"id": 1, "attributes": {"stripe": {"uid": 7}}}], custom)
    >>> page.size, page.stripe.columns["uid"].to_pylist(), custom.lengths
    (1, [7], [0])
    """
    if not entries:
        return None
    try:
        fields: set[str] = set().union(*entries)  # every key of every entry, in C
    except TypeError:  # an entry that is not an object: the conversion below names it
        fields = set()
    current = tuple(f for f in CURRENT_FIELDS if f in fields)
    wire_type = _wire_type(current)
    try:
        fixed = pa.array(entries, type=wire_type)
    except _CONVERSION_ERRORS as error:
        raise ChartMogulError(_describe_bad_entries(entries, where, error, wire_type)) from error
    assert isinstance(fixed, pa.StructArray)  # the wire type is a struct
    # An explicit int64 would truncate a float id (25647.5 -> 25647) without a word.
    if (
        fixed.null_count
        or fixed.field("id").null_count
        or {type(e["id"]) for e in entries} != {int}
    ):
        raise ChartMogulError(
            f"A customer in the {where} has no integer id (entry {_first_without_id(entries)}); every "
            "customer object must carry its integer id"
        )
    for name in current:
        _check_strict(entries, name, where)
    attributes = [e.get("attributes") or _EMPTY for e in entries]
    sections: dict[str, list[dict[str, Any]]] = {}
    for section in _SECTIONS:
        dicts = [a.get(section) or _EMPTY for a in attributes]
        if not set(map(type, dicts)) <= {dict}:
            raise ChartMogulError(
                f"attributes.{section} is not a JSON object for some customer in the {where}; "
                "the API documents it as an object of key/value pairs"
            )
        sections[section] = dicts
    custom.add(sections["custom"])
    columns = _fixed_columns(fixed, current)
    text: set[str] = set()
    for name in sorted(fields - _KNOWN_FIELDS):
        column = field_column(name, columns)
        array, is_text = decode_loose(list(map(dict.get, entries, repeat(name))))
        columns[column] = array
        if is_text:
            text.add(column)
    return PageArrays(
        size=len(entries),
        fixed=ColumnChunk(len(entries), columns, frozenset(text)),
        stripe=decode_section(sections["stripe"], nested=True),
        clearbit=decode_section(sections["clearbit"], nested=True),
    )


def _wire_type(current: tuple[str, ...]) -> pa.StructType:
    """``WIRE_TYPE`` plus today's fields ``current`` (those some entry of the page carries)."""
    if not current:
        return WIRE_TYPE
    return pa.struct([*WIRE_TYPE, *(pa.field(f, CURRENT_WIRE_TYPES[f]) for f in current)])


def _check_strict(entries: list[Any], name: str, where: str) -> None:
    """Refuse a value an explicit Arrow type would coerce (8008.5 -> 8008, "ab" -> [a, b])."""
    allowed = _STRICT_FIELDS.get(name)
    if allowed is None:
        return
    kinds = set(map(type, map(dict.get, entries, repeat(name))))
    if kinds <= {allowed, type(None)}:
        return
    for position, entry in enumerate(entries):
        value = entry.get(name)
        if value is not None and type(value) is not allowed:
            what = "an integer (cents)" if allowed is int else "a list"
            raise ChartMogulError(
                f"Customer {entry.get('id')} (entry {position} of the {where}) has field "
                f"{name!r} = {value!r:.80}, which is not {what} as the API documents"
            )


def _fixed_columns(
    fixed: pa.StructArray, current: tuple[str, ...] = ()
) -> dict[str, pa.Array[Any]]:
    """The ``FIXED_TYPES`` columns of a page's struct (which has no nulls of its own), then
    the columns of today's fields ``current``, named as in the frame."""
    columns = dict(zip(fixed.type.names, fixed.flatten(), strict=True))
    address = columns.pop("address")
    attributes = columns.pop("attributes")
    assert isinstance(address, pa.StructArray)
    assert isinstance(attributes, pa.StructArray)
    columns.update(
        zip((f"address.{name}" for name in ADDRESS_FIELDS), address.flatten(), strict=True)
    )
    tags = attributes.flatten()[0]
    if tags.null_count:  # a customer without attributes (or tags) has no tags
        tags = pc.if_else(pc.is_null(tags), pa.scalar([], type=_TAGS), tags)
    columns["tags"] = tags
    ordered = {name: columns[name] for name in FIXED_TYPES}
    ordered.update((CURRENT_FIELDS[f], columns[f]) for f in current)
    return ordered


def decode_loose(values: list[Any]) -> tuple[pa.Array[Any], bool]:
    """One column of a top-level field no one documented, typed by its JSON values.

    Values of one JSON type keep it (int64, bool, string; ints with floats: double; only
    nulls: null); anything else (objects, lists, mixes, ints a double or int64 cannot hold)
    becomes its JSON text, so nothing is coerced, truncated or dropped. The same rules as the
    ``stripe.*`` columns', but nested objects stay whole, as text.

    Parameters
    ----------
    values : list
        The field's value of each customer (None where absent).

    Returns
    -------
    (pyarrow.Array, bool)
        The column, and whether its strings are rendered JSON text.

    Examples
    --------
    >>> array, text = decode_loose([3, None, 4.5])
    >>> array.to_pylist(), text
    ([3.0, None, 4.5], False)
    >>> array, text = decode_loose([{"tier": "gold"}, None])
    >>> array.to_pylist(), text
    (['{"tier":"gold"}', None], True)
    """
    kinds = np.fromiter(map(_KIND_OF.get, map(type, values), repeat(_OTHER)), np.intp, len(values))
    bits = int(np.bitwise_or.reduce(1 << kinds)) if len(values) else 0
    target = _LOOSE_TARGETS[bits]
    if target == _T_NULL:
        return pa.nulls(len(values)), False
    if target != _T_TEXT:
        try:
            return pa.array(values, type=_BUCKET_TYPES[target]), False
        except _CONVERSION_ERRORS:  # ints beyond int64, or beyond 2**53 among doubles
            pass
    return pa.array(list(map(render_json_text, values)), _STRING), True


def decode_custom(custom: KeyValues) -> ColumnChunk:
    """Decode the custom attribute columns of the customers gathered in ``custom``.

    Parameters
    ----------
    custom : KeyValues
        The custom attributes of consecutive customers.

    Returns
    -------
    ColumnChunk
        One column per key; mixed JSON types become text (listed in ``text``).

    Examples
    --------
    >>> custom = KeyValues()
    >>> custom.add([{"seats": 3, "code": 1}, {"code": "A-12"}])
    >>> chunk = decode_custom(custom)
    >>> chunk.columns["seats"].to_pylist(), chunk.columns["code"].to_pylist(), chunk.text
    ([3, None], ['1', 'A-12'], frozenset({'code'}))
    """
    n = len(custom.lengths)
    lengths = np.fromiter(custom.lengths, np.intp, n)
    columns: dict[str, pa.Array[Any]] = {}
    text: set[str] = set()
    _flatten_pairs(lengths, custom.keys, custom.values, np.arange(n), n, "", False, columns, text)
    return ColumnChunk(n, columns, frozenset(text))


# --- attribute sections --------------------------------------------------------------------------

# The JSON type of each value, as a small int for numpy.
_NULL, _INT, _BOOL, _STR, _FLOAT, _DICT, _OTHER = range(7)
_KIND_OF: Final[dict[type, int]] = {
    type(None): _NULL,
    int: _INT,
    bool: _BOOL,
    str: _STR,
    float: _FLOAT,
    dict: _DICT,
}
# What a column becomes in a chunk.
_T_NULL, _T_INT, _T_BOOL, _T_STR, _T_DOUBLE, _T_TEXT, _T_NESTED = range(7)
_BUCKET_TYPES: Final[dict[int, pa.DataType]] = {
    _T_INT: pa.int64(),
    _T_BOOL: pa.bool_(),
    _T_STR: _STRING,
    _T_DOUBLE: pa.float64(),
    _T_TEXT: _STRING,
}


def _target(kinds: int, nested: bool) -> int:
    """A column's chunk type from the bit set of its values' JSON types (nulls excluded).

    One JSON type -> that type. Nested sections (stripe, clearbit) also keep numbers as double
    when ints mix with floats (JSON has one number type) and flatten objects into dotted
    columns. Everything else (mixes, floats in custom, lists) is rendered as JSON text.
    """
    single = {1 << _INT: _T_INT, 1 << _BOOL: _T_BOOL, 1 << _STR: _T_STR}
    numbers = (1 << _INT) | (1 << _FLOAT)
    if kinds == 0:
        return _T_NULL
    if kinds in single:
        return single[kinds]
    if nested and kinds & (1 << _FLOAT) and not kinds & ~numbers:
        return _T_DOUBLE
    if nested and kinds == 1 << _DICT:
        return _T_NESTED
    return _T_TEXT


# Precomputed for every bit set of the 7 kinds (the null bit ignored), flat and nested.
_TARGETS: Final = {
    nested: np.array([_target(bits & ~1, nested) for bits in range(1 << 7)], dtype=np.intp)
    for nested in (False, True)
}
# Undocumented top-level fields: typed like a nested section's leaves, objects kept as text.
_LOOSE_TARGETS: Final = [
    _T_TEXT if target == _T_NESTED else int(target) for target in _TARGETS[True].tolist()
]


def decode_section(dicts: Sequence[dict[str, Any]], *, nested: bool) -> ColumnChunk:
    """Decode one attribute section for consecutive customers (one dict per customer).

    Column names are the keys, dotted for nested objects when ``nested``. A key containing a
    dot (a Stripe ``utm.source``) keeps it, so ``stripe.utm.source`` may be that key or
    ``{"utm": {"source": ...}}``: the two cannot be told apart after flattening (custom keys,
    ``[A-Za-z0-9_]+``, cannot contain dots).

    Parameters
    ----------
    dicts : sequence of dict
        The section's object of each customer.
    nested : bool
        Flatten nested objects into dotted columns, and keep mixed ints and floats as
        doubles (Stripe, Clearbit); otherwise render them as text (custom).

    Returns
    -------
    ColumnChunk
        The section's columns, ``len(dicts)`` long.

    Examples
    --------
    >>> chunk = decode_section([{"metrics": {"employees": 10}}, {}], nested=True)
    >>> chunk.columns["metrics.employees"].to_pylist()
    [10, None]
    """
    n = len(dicts)
    columns: dict[str, pa.Array[Any]] = {}
    if not n:
        return ColumnChunk(0, columns)
    if nested and _flatten_struct(dicts, columns):
        return ColumnChunk(n, columns)
    columns.clear()
    text: set[str] = set()
    _flatten_dicts(dicts, np.arange(n), n, "", nested, columns, text)
    return ColumnChunk(n, columns, frozenset(text))


def _flatten_struct(dicts: Sequence[dict[str, Any]], out: dict[str, pa.Array[Any]]) -> bool:
    """The fast path for dense, consistent sections (Stripe, Clearbit): Arrow's own inference.

    ``pa.array(dicts)`` infers a struct in C++ (faster than ``_flatten_dicts`` when most rows
    have most keys) and raises on most mixed types instead of coercing them (verified for
    int/bool, bool/int, str/int, int/str, bool/float). But once it has seen a float it turns a
    later bool into 1.0 (``[1.5, True]`` -> ``[1.5, 1.0]``), so a double is not trusted here.
    Accepted leaves agree with ``_target``: int64, bool, string, null, nested structs. Returns
    False, with nothing decided, when it raises or infers anything else (doubles, lists): the
    caller then takes the general path, which types every value itself.
    """
    try:
        struct = pa.array(dicts)
    except _CONVERSION_ERRORS:
        return False
    return isinstance(struct, pa.StructArray) and _struct_leaves(struct, "", out)


def _struct_leaves(struct: pa.StructArray, prefix: str, out: dict[str, pa.Array[Any]]) -> bool:
    for arrow_field, child in zip(struct.type, struct.flatten(), strict=True):
        name = prefix + arrow_field.name
        if pa.types.is_struct(arrow_field.type):
            assert isinstance(child, pa.StructArray)
            if not _struct_leaves(child, name + ".", out):
                return False
        elif arrow_field.type in _STRUCT_LEAF_TYPES:
            _put(out, name, child)
        else:
            return False
    return True


_STRUCT_LEAF_TYPES: Final = frozenset([pa.int64(), pa.bool_(), _STRING, pa.null()])


def _flatten_dicts(
    dicts: Sequence[dict[str, Any]],
    rows: IntArray,
    n: int,
    prefix: str,
    nested: bool,
    out: dict[str, pa.Array[Any]],
    text: set[str],
) -> None:
    """Columns of ``dicts`` (the dict at position i belongs to row ``rows[i]`` of ``n``)."""
    lengths = np.fromiter(map(len, dicts), np.intp, len(dicts))
    keys = list(chain.from_iterable(dicts))
    values = list(chain.from_iterable(map(dict.values, dicts)))
    _flatten_pairs(lengths, keys, values, rows, n, prefix, nested, out, text)


def _flatten_pairs(
    lengths: IntArray,
    keys: list[str],
    value_list: list[Any],
    rows: IntArray,
    n: int,
    prefix: str,
    nested: bool,
    out: dict[str, pa.Array[Any]],
    text: set[str],
) -> None:
    """Columns from chained keys and values; dict i (``lengths[i]`` pairs) is row ``rows[i]``.

    Vectorised: the values' JSON types are classified at once, each column type gets ONE
    ``pa.array`` and ONE ``take`` for all its columns, and per key there is only a zero-copy
    slice, so the cost follows the number of values, not rows x keys (struct inference,
    ``pa.array(dicts)``, pays per row for every key seen: slow for sparse custom attributes).
    """
    total = len(keys)
    if not total:
        return
    kinds = np.fromiter(map(_KIND_OF.get, map(type, value_list), repeat(_OTHER)), np.intp, total)
    values = np.fromiter(value_list, dtype=object, count=total)
    names = sorted(set(keys))
    code_of = dict(zip(names, range(len(names)), strict=True))
    codes = np.fromiter(map(code_of.__getitem__, keys), np.intp, total)
    value_rows = np.repeat(rows, lengths)
    bits = np.zeros(len(names), dtype=np.intp)
    np.bitwise_or.at(bits, codes, 1 << kinds)
    targets = _TARGETS[nested][bits]
    while True:
        buckets = _fill_buckets(values, kinds, codes, targets)
        if isinstance(buckets, dict):
            break
        targets[buckets] = _T_TEXT  # ints beyond 64 bits: those keys become exact text
    for target, (chosen, array) in buckets.items():
        keys_here = np.flatnonzero(targets == target)
        slot = np.full(len(names), -1, dtype=np.intp)
        slot[keys_here] = np.arange(len(keys_here))
        # One take builds every column of this type side by side; each is then a slice.
        index = np.full(len(keys_here) * n, -1, dtype=np.intp)
        index[slot[codes[chosen]] * n + value_rows[chosen]] = np.arange(len(chosen))
        wide = array.take(cast(pa.Int64Array, pa.array(index, mask=index < 0)))
        for position, key in enumerate(keys_here):
            name = prefix + names[key]
            _put(out, name, wide.slice(position * n, n))
            if target == _T_TEXT:
                text.add(name)
    for key in np.flatnonzero(targets == _T_NULL):
        _put(out, prefix + names[key], pa.nulls(n))
    for key in np.flatnonzero(targets == _T_NESTED):
        chosen = np.flatnonzero((codes == key) & (kinds == _DICT))
        sub = list(values[chosen])
        _flatten_dicts(sub, value_rows[chosen], n, f"{prefix}{names[key]}.", nested, out, text)


def _fill_buckets(
    values: np.ndarray[Any, np.dtype[np.object_]],
    kinds: IntArray,
    codes: IntArray,
    targets: IntArray,
) -> dict[int, tuple[IntArray, pa.Array[Any]]] | IntArray:
    """Per chunk type, the positions of its values and their Arrow array.

    Returns instead the keys that must become text when an int cannot be stored exactly: beyond
    signed 64 bits in an int64 column, or beyond 2**53 among doubles. Each bucket holds only values of the exact Python types its target allows (decided by
    ``_target``), so the explicit-type conversions cannot coerce (pa.array would truncate a
    float into int64, or turn a bool into a double, if one got there).
    """
    value_targets = targets[codes]
    value_targets[kinds == _NULL] = _T_NULL
    buckets: dict[int, tuple[IntArray, pa.Array[Any]]] = {}
    for target, arrow_type in _BUCKET_TYPES.items():
        chosen = np.flatnonzero(value_targets == target)
        if not len(chosen):
            continue
        selected = values[chosen]
        if target == _T_TEXT:
            buckets[target] = (chosen, pa.array(list(map(render_json_text, selected)), _STRING))
            continue
        try:
            buckets[target] = (chosen, pa.array(selected, type=arrow_type))
        except _CONVERSION_ERRORS:
            inexact = _beyond_double if target == _T_DOUBLE else _beyond_int64
            too_big = np.fromiter(map(inexact, selected), bool, len(selected))
            if not too_big.any():
                raise
            return np.unique(codes[chosen[too_big]])
    return buckets


def _beyond_int64(value: object) -> bool:
    return type(value) is int and not INT64_MIN <= value <= INT64_MAX


def _beyond_double(value: object) -> bool:
    # A double holds every integer up to 2**53 exactly; pyarrow refuses inexact ones.
    return type(value) is int and not -(2**53) <= value <= 2**53


# --- error messages ------------------------------------------------------------------------------


def _first_without_id(entries: list[Any]) -> int:
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or type(entry.get("id")) is not int:
            return position
    return -1


def _describe_bad_entries(
    entries: list[Any], where: str, error: Exception, wire_type: pa.StructType = WIRE_TYPE
) -> str:
    """Name the customer and field whose JSON type does not match the API's documentation."""
    for position, entry in enumerate(entries):
        try:
            pa.array([entry], type=wire_type)
        except _CONVERSION_ERRORS as entry_error:
            if not isinstance(entry, dict):
                return f"Entry {position} of the {where} is {type(entry).__name__}, not a customer object"
            who = entry.get("id")
            for wire_field in wire_type:
                value = entry.get(wire_field.name)
                try:
                    pa.array([value], type=wire_field.type)
                except _CONVERSION_ERRORS:
                    return (
                        f"Customer {who} (entry {position} of the {where}) has field "
                        f"{wire_field.name!r} = {value!r:.80}, which is not a {wire_field.type} "
                        "as the API documents"
                    )
            return f"Customer {who} (entry {position} of the {where}) is malformed: {entry_error}"
    return f"The {where} entries could not be converted: {error}"
