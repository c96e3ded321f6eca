"""The frame's vocabulary: column names, canonical dtypes, custom attribute types and inference.

Everything here is pure and cheap to import. ``frames.py`` builds frames that follow these
conventions; the write-back side (plan/diff) uses the same constants to read them back.

Frame layout (design.md, "The frame"): index ``id`` (numpy int64), then the fixed columns of
``BASE_COLUMNS``, then those of ``CURRENT_COLUMNS`` that today's API sent (mrr, currency,
lead_created_at, ...), then ``tag.*``, ``custom.*``, ``stripe.*`` and ``clearbit.*``, each group
sorted by name, then top-level fields no one documented (named by ``field_column``). Every
column is a ``pd.ArrowDtype``; all strings are ``pa.string()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, cast, get_args

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.extensions import ExtensionDtype

__all__ = [
    "ADDRESS_COLUMNS",
    "ADDRESS_FIELDS",
    "BASE_COLUMNS",
    "BOOL",
    "CLEARBIT_PREFIX",
    "CURRENT_COLUMNS",
    "CURRENT_FIELDS",
    "CURRENT_GROUP",
    "CUSTOM_ARROW_TYPES",
    "CUSTOM_KEY_PATTERN",
    "CUSTOM_PREFIX",
    "CUSTOM_TYPES",
    "DOUBLE",
    "INDEX_NAME",
    "INT64",
    "INT64_MAX",
    "INT64_MIN",
    "ISO_8601_PATTERN",
    "MAX_KEY_LENGTH",
    "MAX_STRING_LENGTH",
    "MAX_TAG_LENGTH",
    "STATUS",
    "STRING",
    "STRIPE_PREFIX",
    "TAGS",
    "TAG_PREFIX",
    "TIMESTAMP",
    "CustomType",
    "base_arrow_schema",
    "column_group",
    "current_arrow_types",
    "custom_column",
    "custom_type_for_dtype",
    "field_column",
    "is_custom_key",
    "null_array",
    "parse_timestamps",
    "render_json_text",
    "restore_index_advice",
    "sort_columns",
    "tag_column",
]

# --- names -------------------------------------------------------------------------------------

INDEX_NAME: Final = "id"
TAG_PREFIX: Final = "tag."
CUSTOM_PREFIX: Final = "custom."
STRIPE_PREFIX: Final = "stripe."
CLEARBIT_PREFIX: Final = "clearbit."

ADDRESS_FIELDS: Final = (
    "address_line1",
    "address_line2",
    "address_zip",
    "city",
    "country",
    "state",
)
ADDRESS_COLUMNS: Final = tuple(f"address.{field}" for field in ADDRESS_FIELDS)

#: The fixed columns, in frame order (the index ``id`` is not a column).
BASE_COLUMNS: Final = (
    "uuid",
    "external_id",
    "email",
    "name",
    *ADDRESS_COLUMNS,
    "customer_since",
    "status",
    "tags",
)

#: Today's API (the "current" dialect): its top-level fields beyond the reference's, wire name
#: -> column name (dashes become underscores), in frame order. A column appears only when the
#: answers carry its field, so frames of the reference dialect have none of them. ``mrr`` and
#: ``arr`` are integers in cents, as the API gives them. The top-level location fields keep
#: their names (``country``: a code such as ``US``), unlike ``address.country`` ("United States").
CURRENT_FIELDS: Final = {
    "mrr": "mrr",
    "arr": "arr",
    "currency": "currency",
    "currency-sign": "currency_sign",
    "lead_created_at": "lead_created_at",
    "free_trial_started_at": "free_trial_started_at",
    "company": "company",
    "website_url": "website_url",
    "owner": "owner",
    "country": "country",
    "state": "state",
    "city": "city",
    "zip": "zip",
    "external_ids": "external_ids",
    "data_source_uuid": "data_source_uuid",
    "data_source_uuids": "data_source_uuids",
    "chartmogul-url": "chartmogul_url",
    "billing-system-url": "billing_system_url",
    "billing-system-type": "billing_system_type",
}
CURRENT_COLUMNS: Final = tuple(CURRENT_FIELDS.values())
#: What ``column_group`` says of today's columns: a group, but without a prefix.
CURRENT_GROUP: Final = ""
_CURRENT_SET: Final = frozenset(CURRENT_COLUMNS)

# --- canonical dtypes ----------------------------------------------------------------------------
# One dtype per kind of value. In particular ONE string dtype: ArrowDtype(pa.string()); never
# pandas' ``str``/StringDtype ("string[pyarrow]" is StringDtype!) and never large_string, because
# mixing them makes ``.equals`` False and concat fall back to object (perf-notes).

STRING: Final = pd.ArrowDtype(pa.string())
INT64: Final = pd.ArrowDtype(pa.int64())
BOOL: Final = pd.ArrowDtype(pa.bool_())
DOUBLE: Final = pd.ArrowDtype(pa.float64())
TIMESTAMP: Final = pd.ArrowDtype(pa.timestamp("us", tz="UTC"))
STATUS: Final = pd.ArrowDtype(pa.dictionary(pa.int32(), pa.string()))
TAGS: Final = pd.ArrowDtype(pa.list_(pa.string()))


def restore_index_advice(columns: Iterable[object], name: str = "df") -> str:
    """Say how to give a frame with the columns ``columns`` its ``id`` index back, as code.

    ``set_index('id')`` works only when the ids are still a column; after
    ``reset_index(drop=True)`` it raises ``KeyError``, and the uuids are what still say who
    each row is, mapped through a frame as loaded (a warm ``read_customers`` is instant).

    Parameters
    ----------
    columns : iterable
        The frame's columns.
    name : str, default "df"
        The frame's variable name, as the advice's code uses it.

    Returns
    -------
    str
        The advice, with the code between backticks.

    Examples
    --------
    >>> restore_index_advice(["id", "uuid", "email"], name="edited")
    "restore the index: `edited = edited.set_index('id')`"
    """
    present = {str(c) for c in columns}
    if INDEX_NAME in present:
        return f"restore the index: `{name} = {name}.set_index('{INDEX_NAME}')`"
    if "uuid" in present:
        return (
            "the ids were dropped (reset_index(drop=True)); put them back from the uuids of a "
            "frame as loaded: `loaded = cm.read_customers(client)`, then "
            f"`{name}.index = pd.Index({name}['uuid'].map(pd.Series(loaded.index, "
            f"index=loaded['uuid'])), dtype='int64', name='{INDEX_NAME}')`"
        )
    return f"start again from `{name} = cm.read_customers(client)`, whose index is the customer id"


def base_arrow_schema() -> pa.Schema:
    """Return the Arrow schema of ``id`` plus the fixed columns (the dynamic groups come after).

    Returns
    -------
    pyarrow.Schema
        ``id`` (int64), then ``BASE_COLUMNS`` with their canonical Arrow types.

    Examples
    --------
    >>> base_arrow_schema().names[:4]
    ['id', 'uuid', 'external_id', 'email']
    >>> base_arrow_schema().field("customer_since").type
    TimestampType(timestamp[us, tz=UTC])
    """
    types: dict[str, pa.DataType] = {name: pa.string() for name in BASE_COLUMNS}
    types["customer_since"] = TIMESTAMP.pyarrow_dtype
    types["status"] = STATUS.pyarrow_dtype
    types["tags"] = TAGS.pyarrow_dtype
    return pa.schema(
        [pa.field(INDEX_NAME, pa.int64()), *(pa.field(n, types[n]) for n in BASE_COLUMNS)]
    )


def current_arrow_types() -> dict[str, pa.DataType]:
    """Return the Arrow type of each column of ``CURRENT_COLUMNS``, in frame order.

    Returns
    -------
    dict of str to pyarrow.DataType
        ``mrr``/``arr`` int64 (cents), ``lead_created_at``/``free_trial_started_at``
        timestamps (UTC), ``external_ids``/``data_source_uuids`` lists of strings, the rest
        strings.

    Examples
    --------
    >>> types = current_arrow_types()
    >>> types["mrr"], types["lead_created_at"], types["external_ids"]
    (DataType(int64), TimestampType(timestamp[us, tz=UTC]), ListType(list<item: string>))
    """
    types: dict[str, pa.DataType] = dict.fromkeys(CURRENT_COLUMNS, STRING.pyarrow_dtype)
    types["mrr"] = types["arr"] = INT64.pyarrow_dtype
    types["lead_created_at"] = types["free_trial_started_at"] = TIMESTAMP.pyarrow_dtype
    types["external_ids"] = types["data_source_uuids"] = TAGS.pyarrow_dtype
    return types


def field_column(field: str, taken: Iterable[str] = ()) -> str:
    """Name the column of a top-level customer field beyond the reference's: dashes become ``_``.

    A field no one documented (neither the reference nor today's API) is kept, never dropped:
    its column is named by this rule. A name in the ``address.``, ``tag.``, ``custom.``,
    ``stripe.`` or ``clearbit.`` namespaces has its first dot made an underscore too, and a
    name the frame already gives to another column (a documented one, ``id``, or one of
    ``taken``) gets trailing underscores until it is free.

    Parameters
    ----------
    field : str
        The field's name on the wire (``currency-sign``).
    taken : iterable of str, optional
        Further names already in use.

    Returns
    -------
    str
        The column name (``currency_sign``).

    Examples
    --------
    >>> field_column("currency-sign"), field_column("health-score")
    ('currency_sign', 'health_score')
    >>> field_column("customer_since"), field_column("tag.vip")  # no clash with the frame's
    ('customer_since_', 'tag_vip')
    """
    if field in CURRENT_FIELDS:
        return CURRENT_FIELDS[field]
    name = field.replace("-", "_")
    if name.startswith(("address.", *_GROUP_ORDER)):  # "tag.x" is no tag: "tag_x"
        name = name.replace(".", "_", 1)
    used = {INDEX_NAME, *BASE_COLUMNS, *CURRENT_COLUMNS, *taken}
    while name in used:
        name += "_"
    return name


# --- custom attributes ---------------------------------------------------------------------------

# The wire's constants are written here once; the rules that use them are in validation.py.
# The emulator keeps its own copies on purpose: it stands in for the server, not for us.

CustomType = Literal["String", "Integer", "Timestamp", "Boolean"]
CUSTOM_TYPES: Final[tuple[CustomType, ...]] = get_args(CustomType)

#: The Arrow type of each custom attribute type: what a load reads and a write-back sends.
CUSTOM_ARROW_TYPES: Final[Mapping[CustomType, pa.DataType]] = {
    "String": STRING.pyarrow_dtype,
    "Integer": INT64.pyarrow_dtype,
    "Timestamp": TIMESTAMP.pyarrow_dtype,
    "Boolean": BOOL.pyarrow_dtype,
}

#: Keys the API accepts for custom attributes (alphanumerics and underscores).
CUSTOM_KEY_PATTERN: Final = r"[A-Za-z0-9_]+"
_CUSTOM_KEY_RE: Final = re.compile(CUSTOM_KEY_PATTERN)

#: Longest custom attribute key, tag name and String value the API stores, in characters.
MAX_KEY_LENGTH: Final = 255
MAX_TAG_LENGTH: Final = 255
MAX_STRING_LENGTH: Final = 255

#: The API's Integer is a signed 64-bit integer.
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

#: ISO 8601 as this package understands it: a date, or a date-time with ``T`` or a space, minutes
#: or seconds, up to 6 fractional digits (microseconds: nothing is rounded), and an optional ``Z``
#: or ``±HH``/``±HHMM``/``±HH:MM`` offset. Naive values mean UTC. ASCII digits only. Arrow's
#: string→timestamp cast then validates the calendar (no February 30th).
ISO_8601_PATTERN: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?)?$"
)
_HAS_ZONE: Final = r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)$"
_DATE_ONLY: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def is_custom_key(key: str) -> bool:
    """Tell whether ``key`` is made of the characters a custom attribute key may have.

    The length limit (``MAX_KEY_LENGTH``) and the messages are ``validation.key_problem``'s.

    Parameters
    ----------
    key : str
        The key, without the ``custom.`` prefix.

    Returns
    -------
    bool
        True when ``key`` is one or more of ``[A-Za-z0-9_]``.

    Examples
    --------
    >>> is_custom_key("lead_score"), is_custom_key("lead score"), is_custom_key("")
    (True, False, False)
    """
    return _CUSTOM_KEY_RE.fullmatch(key) is not None


# pyarrow-stubs type pa.nulls per concrete DataType subclass; a column's type here is known
# only as a DataType, so this is the one place that says what pa.nulls returns for any type.
_nulls: Final = cast("Callable[[int, pa.DataType], pa.Array[Any]]", pa.nulls)


def null_array(size: int, arrow_type: pa.DataType) -> pa.Array[Any]:
    """An all-null Arrow array of ``size`` values of ``arrow_type`` (``pa.nulls``, typed).

    Parameters
    ----------
    size : int
        The number of values.
    arrow_type : pyarrow.DataType
        The type of the array.

    Returns
    -------
    pyarrow.Array
        ``size`` nulls of type ``arrow_type``.

    Examples
    --------
    >>> null_array(2, pa.string()).to_pylist()
    [None, None]
    """
    return _nulls(size, arrow_type)


def parse_timestamps(strings: pa.Array[Any] | pa.ChunkedArray[Any]) -> pa.Array[Any] | None:
    """Parse ISO 8601 strings to ``timestamp[us, UTC]`` (the instant), or None if any is not one.

    Nulls stay null. ``2015-06-09T13:16:00-04:00`` becomes 17:16 UTC; naive values and dates
    are taken as UTC (the rule of the API's Timestamp type). Vectorised: one regex check and
    one Arrow cast, so it costs microseconds per value, never a Python loop.

    Parameters
    ----------
    strings : pyarrow.Array or pyarrow.ChunkedArray
        String values (``ISO_8601_PATTERN``), nulls allowed.

    Returns
    -------
    pyarrow.Array or None
        The instants, or None when a value is not ISO 8601 or not a calendar date.

    Examples
    --------
    >>> parsed = parse_timestamps(pa.array(["2015-06-09T13:16:00-04:00", "2024-01-31", None]))
    >>> [t.isoformat() if t else t for t in parsed.to_pylist()]
    ['2015-06-09T17:16:00+00:00', '2024-01-31T00:00:00+00:00', None]
    >>> parse_timestamps(pa.array(["2015-02-30"])) is None
    True
    """
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    target = TIMESTAMP.pyarrow_dtype
    if len(strings) == strings.null_count:
        return null_array(len(strings), target)
    if not pc.all(pc.match_substring_regex(strings, ISO_8601_PATTERN)).as_py():
        return None
    try:  # the common case: every value carries its offset (the API's customer-since does)
        return strings.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # Arrow parses offsets to the UTC instant but refuses naive strings for a zoned type:
    # give naive date-times a "Z" and dates a midnight "Z" first.
    date_only = pc.match_substring_regex(strings, _DATE_ONLY)
    zoned = pc.match_substring_regex(strings, _HAS_ZONE)
    suffix = pc.if_else(date_only, "T00:00:00Z", pc.if_else(zoned, "", "Z"))
    try:
        suffixed: pa.Array[Any] = pc.binary_join_element_wise(strings, suffix, "")
        return suffixed.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # matched the pattern but not the calendar (e.g. 2015-02-30)


def custom_type_for_dtype(dtype: np.dtype[Any] | ExtensionDtype) -> CustomType | None:
    """Return the API type a column of ``dtype`` writes as, or None (floats, lists, objects).

    Accepts ArrowDtype, numpy and pandas extension dtypes: int -> Integer, bool -> Boolean,
    timestamp/datetime -> Timestamp, string -> String. Floats return None: the write-back
    validation decides whether their values are integral.

    Parameters
    ----------
    dtype : numpy.dtype or pandas ExtensionDtype
        A column's dtype (a categorical's is its categories').

    Returns
    -------
    {"String", "Integer", "Timestamp", "Boolean"} or None
        The custom attribute type, or None when the dtype alone does not say.

    Examples
    --------
    >>> custom_type_for_dtype(INT64), custom_type_for_dtype(np.dtype("bool"))
    ('Integer', 'Boolean')
    >>> custom_type_for_dtype(np.dtype("float64")) is None
    True
    """
    if isinstance(dtype, pd.ArrowDtype):
        arrow = dtype.pyarrow_dtype
        if pa.types.is_dictionary(arrow):
            arrow = arrow.value_type
        if pa.types.is_boolean(arrow):
            return "Boolean"
        if pa.types.is_integer(arrow):
            return "Integer"
        if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
            return "Timestamp"
        if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
            return "String"
        return None
    if isinstance(dtype, pd.CategoricalDtype):
        return custom_type_for_dtype(dtype.categories.dtype)
    if pd.api.types.is_bool_dtype(dtype):
        return "Boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "Integer"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "Timestamp"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "String"
    return None


# --- column helpers ------------------------------------------------------------------------------


def tag_column(tag: str) -> str:
    """Name the bool column of one tag: ``tag.<name>``.

    Parameters
    ----------
    tag : str
        The tag's name.

    Returns
    -------
    str
        The column name.

    Examples
    --------
    >>> tag_column("vip")
    'tag.vip'
    """
    return f"{TAG_PREFIX}{tag}"


def custom_column(key: str) -> str:
    """Name the column of one custom attribute: ``custom.<key>``.

    Parameters
    ----------
    key : str
        The custom attribute's key.

    Returns
    -------
    str
        The column name.

    Examples
    --------
    >>> custom_column("seats")
    'custom.seats'
    """
    return f"{CUSTOM_PREFIX}{key}"


_GROUP_ORDER: Final = (TAG_PREFIX, CUSTOM_PREFIX, STRIPE_PREFIX, CLEARBIT_PREFIX)


def column_group(column: str) -> str | None:
    """Return the dynamic group prefix of ``column`` (``"tag."`` ...), or None for others.

    Today's columns (``CURRENT_COLUMNS``) form a group without a prefix, ``CURRENT_GROUP``
    (``""``): like a section's, they exist only when the answers carry them, and a reader that
    unifies parts (Parquet) takes each one's type from the parts that hold values.

    Parameters
    ----------
    column : str
        A column name.

    Returns
    -------
    str or None
        ``TAG_PREFIX``, ``CUSTOM_PREFIX``, ``STRIPE_PREFIX``, ``CLEARBIT_PREFIX`` or
        ``CURRENT_GROUP``; None for the fixed columns and for columns of no group.

    Examples
    --------
    >>> column_group("tag.vip"), column_group("email"), column_group("mrr")
    ('tag.', None, '')
    """
    if column in _CURRENT_SET:
        return CURRENT_GROUP
    for prefix in _GROUP_ORDER:
        if column.startswith(prefix):
            return prefix
    return None


def sort_columns(columns: Iterable[str]) -> list[str]:
    """Put columns in frame order: BASE_COLUMNS', CURRENT_COLUMNS', then tag/custom/stripe/clearbit.

    Each group is sorted by name. Columns of no known group (user additions, undocumented
    fields) go last, in their given order; ``id`` (the index) is left out.

    Parameters
    ----------
    columns : iterable of str
        Column names.

    Returns
    -------
    list of str
        The same names in frame order.

    Examples
    --------
    >>> sort_columns(["custom.b", "tag.z", "email", "id", "custom.a", "mine", "uuid"])
    ['uuid', 'email', 'tag.z', 'custom.a', 'custom.b', 'mine']
    """
    columns = list(columns)
    present = set(columns)
    ordered = [c for c in (*BASE_COLUMNS, *CURRENT_COLUMNS) if c in present]
    for prefix in _GROUP_ORDER:
        ordered += sorted(c for c in columns if c.startswith(prefix))
    known = set(ordered)
    return ordered + [c for c in columns if c not in known and c != INDEX_NAME]


def render_json_text(value: object) -> str | None:
    """A JSON value as a String column shows it: strings as they are, others as their JSON.

    The rule for a custom key whose customers hold values of different JSON types: the
    reader types it String and shows each value as its JSON text, and apply compares a
    String operation's old value with the server's value through the same rule.

    Parameters
    ----------
    value : object
        A decoded JSON value (str, int, float, bool, None, list or dict).

    Returns
    -------
    str or None
        The text (None stays None).

    Examples
    --------
    >>> render_json_text("Gabi"), render_json_text(123), render_json_text(True)
    ('Gabi', '123', 'true')
    >>> render_json_text([1, "a"]) is None
    False
    """
    if value is None or type(value) is str:
        return value
    return orjson.dumps(value).decode()
