"""Write-back operations (one frozen dataclass per changed cell) and the requests they group into.

An operation knows its customer, the attribute it touches and its old and new values, so apply
can check the server still holds the old value, and ``inverse()`` can undo it exactly.
``group_requests`` is the one place that decides how operations become HTTP requests (one per
customer and kind; the by-email endpoints where every sharer of an email gets the same change).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias, cast

import numpy as np
import numpy.typing as npt

from cm_frames.api.dialect import Dialect
from cm_frames.api.endpoints import Section, by_email_path, section_path
from cm_frames.errors import ValidationError
from cm_frames.schema import CUSTOM_TYPES, INT64_MAX, INT64_MIN, CustomType

__all__ = [
    "CLASS_BY_KIND",
    "INVERSE_CODES",
    "KINDS",
    "OPERATION_CLASSES",
    "AddCustom",
    "AddTags",
    "CustomType",
    "CustomValue",
    "Operation",
    "RemoveCustom",
    "RemoveTags",
    "Request",
    "UpdateCustom",
    "decode_value",
    "encode_value",
    "format_timestamp",
    "group_requests",
    "operation_from_record",
    "retyping_request",
]

CustomValue: TypeAlias = int | bool | str | datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- typed values <-> JSON -------------------------------------------------------------------


def format_timestamp(value: datetime, dialect: Dialect = "enrichment") -> str:
    """Format a datetime as ISO 8601 in UTC with ``Z``, as Timestamp values are sent.

    The reference's form writes microseconds only when there are any (both forms are
    exact); today's API stores and echoes milliseconds (``.000Z``), so that is how the
    current dialect writes them, with all six digits when there are more.

    Parameters
    ----------
    value : datetime.datetime
        A timezone-aware datetime.
    dialect : {"enrichment", "current"}, default "enrichment"
        Whose stored form to write.

    Returns
    -------
    str
        ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``, or ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (current).

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> format_timestamp(datetime(2024, 1, 31, 13, tzinfo=timezone(timedelta(hours=1))))
    '2024-01-31T12:00:00Z'
    >>> format_timestamp(datetime(2024, 1, 31, 12, 0, 0, 250, tzinfo=timezone.utc))
    '2024-01-31T12:00:00.000250Z'
    >>> format_timestamp(datetime(2024, 1, 31, 12, tzinfo=timezone.utc), "current")
    '2024-01-31T12:00:00.000Z'
    """
    utc = value.astimezone(UTC)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if dialect == "current" and utc.microsecond % 1000 == 0:
        return f"{text}.{utc.microsecond // 1000:03d}Z"
    return f"{text}.{utc.microsecond:06d}Z" if utc.microsecond else f"{text}Z"


def timestamp_from_micros(micros: int) -> datetime:
    """Return the UTC datetime ``micros`` microseconds after the epoch (exact: no float).

    Parameters
    ----------
    micros : int
        Microseconds since 1970-01-01T00:00:00Z.

    Returns
    -------
    datetime.datetime
        The instant, in UTC.

    Examples
    --------
    >>> timestamp_from_micros(1_706_702_400_000_001)
    datetime.datetime(2024, 1, 31, 12, 0, 0, 1, tzinfo=datetime.timezone.utc)
    """
    return _EPOCH + timedelta(microseconds=micros)


def encode_value(type_: str, value: CustomValue, dialect: Dialect = "enrichment") -> Any:
    """Encode a custom value as JSON: timestamps as ISO 8601 strings, the rest unchanged.

    Parameters
    ----------
    type_ : str
        The custom attribute's type: ``"String"``, ``"Integer"``, ``"Boolean"`` or
        ``"Timestamp"``.
    value : int, bool, str or datetime.datetime
        The value.
    dialect : {"enrichment", "current"}, default "enrichment"
        Whose timestamp form to write (records and journals use the default).

    Returns
    -------
    object
        The JSON value (``decode_value`` reads it back).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> encode_value("Timestamp", datetime(2024, 1, 31, 12, tzinfo=timezone.utc))
    '2024-01-31T12:00:00Z'
    >>> encode_value("Integer", 5)
    5
    """
    if type_ == "Timestamp" and isinstance(value, datetime):
        return format_timestamp(value, dialect)
    return value


def decode_value(type_: str, raw: Any, *, where: str = "value") -> CustomValue:
    """Decode the typed value that ``encode_value`` wrote; anything else is refused.

    Parameters
    ----------
    type_ : str
        The custom attribute's type.
    raw : object
        The JSON value (from a plan file, a journal or a record).
    where : str, default "value"
        What is decoded, for the error message.

    Returns
    -------
    int, bool, str or datetime.datetime
        The value (timestamps in UTC).

    Raises
    ------
    ValidationError
        When ``raw`` is not a valid value of ``type_`` (a bool is no Integer, a timestamp
        needs a time zone).

    Examples
    --------
    >>> decode_value("Timestamp", "2024-01-31T12:00:00Z")
    datetime.datetime(2024, 1, 31, 12, 0, tzinfo=datetime.timezone.utc)
    >>> decode_value("Integer", True, where="seats")
    Traceback (most recent call last):
    ...
    cm_frames.errors.ValidationError: seats: True is not a valid Integer value (expected ...)
    """
    if type_ == "Boolean" and isinstance(raw, bool):
        return raw
    is_int = isinstance(raw, int) and not isinstance(raw, bool)
    if type_ == "Integer" and is_int and INT64_MIN <= raw <= INT64_MAX:
        return cast(int, raw)
    if type_ == "String" and isinstance(raw, str):
        return raw
    if type_ == "Timestamp" and isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    raise ValidationError(
        f"{where}: {raw!r} is not a valid {type_} value (expected "
        f"{_EXPECTED.get(type_, 'one of the types String, Integer, Timestamp, Boolean')})"
    )


_EXPECTED = {
    "Boolean": "true or false",
    "Integer": "a whole number within signed 64-bit",
    "String": "a string",
    "Timestamp": "an ISO 8601 date-time with a time zone, e.g. 2024-01-31T12:00:00Z",
}


# --- operations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operation:
    """One changed cell of one customer. Subclasses say what changed; this says for whom.

    Each subclass owns everything about its kind: its ``code`` (its position in ``KINDS``,
    the order a customer's requests are sent in, and its code in a plan's columnar store), the
    ``method`` and ``endpoint`` of its requests, whether it ``has_by_email`` (an endpoint that
    writes every customer with one email), its ``inverse_class``, its record (``to_record``,
    ``operation_from_record``), its request body and its old/new values for display.

    Parameters
    ----------
    customer_id : int
        The customer's ChartMogul id (the frame's index).
    uuid : str
        The customer's uuid when the plan was made: apply refuses to write if the id names
        another customer by then.
    email : str or None
        The customer's email when the plan was made (by-email requests need it).

    Examples
    --------
    >>> op = AddTags(25647, "cus_de305d54", "bob@example.com", "vip")
    >>> op.kind, op.attribute, op.code, op.method, op.endpoint
    ('AddTags', 'tag.vip', 0, 'POST', 'tags')
    >>> op.inverse()
    RemoveTags(customer_id=25647, uuid='cus_de305d54', email='bob@example.com', tag='vip')
    """

    customer_id: int
    uuid: str
    email: str | None

    #: The kind's position in ``KINDS``: its order among a customer's requests and its code
    #: in a plan's columnar store.
    code: ClassVar[int] = -1
    #: The HTTP method of its requests.
    method: ClassVar[str] = ""
    #: ``"tags"`` or ``"custom"``: the attribute endpoint its requests go to (paths are built
    #: by ``cm_frames.api.endpoints``).
    endpoint: ClassVar[Section] = "tags"
    #: Whether a by-email endpoint exists for it (only adding has one).
    has_by_email: ClassVar[bool] = False
    #: The names of its value fields, as in its record (``"value"``, ``"old"``, ``"new"``).
    value_fields: ClassVar[tuple[str, ...]] = ()
    #: The class of ``inverse()`` (set below, once every class exists).
    inverse_class: ClassVar[type[Operation]]
    _prefix: ClassVar[str] = ""

    @property
    def kind(self) -> str:
        """The operation's class name, e.g. ``"AddTags"``."""
        return type(self).__name__

    @property
    def name(self) -> str:
        """The tag name or custom key it touches (``attribute`` without its prefix)."""
        raise NotImplementedError

    @property
    def value_type(self) -> CustomType | None:
        """The custom attribute's type, or None for a tag."""
        return None

    @property
    def attribute(self) -> str:
        """The frame column it touches: ``"tag.<name>"`` or ``"custom.<key>"``."""
        return self._prefix + self.name

    @property
    def op_id(self) -> str:
        """A short deterministic hash of every field: how the journal knows what was done."""
        # The repr of the record's values (str, int, bool, None only: timestamps are already
        # ISO strings) is deterministic across runs and platforms, and one C call, so 600k
        # operations hash in well under a second.
        text = repr(tuple(self.to_record().values()))
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    def old_new(self) -> tuple[Any, Any]:
        """The cell's value before and after, typed: a tag as False/True, absent as None.

        Returns
        -------
        tuple
            ``(old, new)``, as a plan's ``to_frame()`` and an apply's results show them.

        Examples
        --------
        >>> AddCustom(1, "cus_1", None, "seats", "Integer", 5).old_new()
        (None, 5)
        >>> RemoveTags(1, "cus_1", None, "vip").old_new()
        (True, False)
        """
        raise NotImplementedError

    @classmethod
    def from_cell(
        cls,
        customer_id: int,
        uuid: str,
        email: str | None,
        name: str,
        type_: CustomType | None,
        old: Any,
        new: Any,
    ) -> Operation:
        """The operation of this kind for one changed cell (``old``/``new`` as ``old_new()``).

        Parameters
        ----------
        customer_id : int
            The customer's ChartMogul id (see ``Operation``).
        uuid : str
            The customer's uuid when the plan was made.
        email : str or None
            The customer's email when the plan was made.
        name : str
            The tag name or custom key.
        type_ : str or None
            The custom attribute's type (ignored for tags).
        old, new : object
            The values before and after (those a kind does not hold are ignored).

        Returns
        -------
        Operation
            An instance of this class.

        Examples
        --------
        >>> UpdateCustom.from_cell(1, "cus_1", None, "seats", "Integer", 5, 6)
        UpdateCustom(customer_id=1, uuid='cus_1', email=None, key='seats', type='Integer', old=5, new=6)
        """
        raise NotImplementedError

    def inverse(self) -> Operation:
        """The operation that undoes this one.

        Returns
        -------
        Operation
            An instance of ``inverse_class`` with old and new swapped.

        Examples
        --------
        >>> UpdateCustom(1, "cus_1", None, "seats", "Integer", 5, 6).inverse().old_new()
        (6, 5)
        """
        old, new = self.old_new()
        return self.inverse_class.from_cell(
            self.customer_id, self.uuid, self.email, self.name, self.value_type, new, old
        )

    def to_record(self) -> dict[str, Any]:
        """A JSON-safe dict with ``kind`` and every field (timestamps as ISO 8601 strings).

        Returns
        -------
        dict
            What ``operation_from_record`` reads back, and what a plan file holds.

        Examples
        --------
        >>> AddTags(1, "cus_1", None, "vip").to_record()
        {'kind': 'AddTags', 'customer_id': 1, 'uuid': 'cus_1', 'email': None, 'tag': 'vip'}
        """
        raise NotImplementedError

    @classmethod
    def request_body(
        cls, ops: Sequence[Operation], dialect: Dialect = "enrichment"
    ) -> dict[str, Any]:
        """The JSON body of one request of this kind carrying ``ops`` (one customer's).

        Parameters
        ----------
        ops : sequence of Operation
            Operations of this class.
        dialect : {"enrichment", "current"}, default "enrichment"
            The API's dialect (how timestamps are written).

        Returns
        -------
        dict
            The body, in the shape of the API reference's example request for the endpoint.

        Examples
        --------
        >>> RemoveCustom.request_body([RemoveCustom(1, "cus_1", None, "seats", "Integer", 5)])
        {'custom': ['seats']}
        """
        raise NotImplementedError

    @classmethod
    def path(cls, customer_id: int | str) -> str:
        """The endpoint of this kind for one customer, relative to the ``/v1/`` base.

        Parameters
        ----------
        customer_id : int or str
            The customer's ChartMogul id (the reference's dialect) or uuid (today's).

        Returns
        -------
        str
            The path, such as ``customers/25647/attributes/tags``.

        Examples
        --------
        >>> AddTags.path(25647)
        'customers/25647/attributes/tags'
        """
        return section_path(customer_id, cls.endpoint)

    @classmethod
    def email_path(cls) -> str:
        """The by-email endpoint of this kind (only for ``has_by_email`` kinds).

        Returns
        -------
        str
            The path, relative to the ``/v1/`` base.

        Raises
        ------
        ValueError
            The kind has no by-email endpoint.

        Examples
        --------
        >>> AddCustom.email_path()
        'customers/attributes/custom'
        """
        if not cls.has_by_email:
            raise ValueError(f"{cls.__name__} has no by-email endpoint")
        return by_email_path(cls.endpoint)

    def _who(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "customer_id": self.customer_id,
            "uuid": self.uuid,
            "email": self.email,
        }

    def _signature(self) -> tuple[Any, ...]:
        # What must be identical across the sharers of an email for a by-email request.
        return (self.attribute,)


@dataclass(frozen=True, slots=True)
class _TagOperation(Operation):
    tag: str
    _prefix: ClassVar[str] = "tag."
    endpoint: ClassVar[Section] = "tags"

    @property
    def name(self) -> str:
        return self.tag

    @classmethod
    def from_cell(
        cls,
        customer_id: int,
        uuid: str,
        email: str | None,
        name: str,
        type_: CustomType | None,
        old: Any,
        new: Any,
    ) -> Operation:
        return cls(customer_id, uuid, email, name)

    def to_record(self) -> dict[str, Any]:
        return {**self._who(), "tag": self.tag}

    @classmethod
    def request_body(
        cls, ops: Sequence[Operation], dialect: Dialect = "enrichment"
    ) -> dict[str, Any]:
        return {"tags": [op.name for op in ops]}


@dataclass(frozen=True, slots=True)
class AddTags(_TagOperation):
    """Add ``tag`` to the customer (``tag.<tag>`` False → True): POST .../attributes/tags.

    Parameters
    ----------
    customer_id : int
        The customer's ChartMogul id (see ``Operation``).
    uuid : str
        The customer's uuid when the plan was made.
    email : str or None
        The customer's email when the plan was made.
    tag : str
        The tag to add.

    Examples
    --------
    >>> op = AddTags(25647, "cus_de305d54", "bob@example.com", "vip")
    >>> op.attribute, op.old_new(), op.has_by_email
    ('tag.vip', (False, True), True)
    >>> AddTags.request_body([op])
    {'tags': ['vip']}
    """

    code: ClassVar[int] = 0
    method: ClassVar[str] = "POST"
    has_by_email: ClassVar[bool] = True

    def old_new(self) -> tuple[Any, Any]:
        return False, True


@dataclass(frozen=True, slots=True)
class RemoveTags(_TagOperation):
    """Remove ``tag`` from the customer (``tag.<tag>`` True → False): DELETE .../attributes/tags.

    Parameters
    ----------
    customer_id : int
        The customer's ChartMogul id (see ``Operation``).
    uuid : str
        The customer's uuid when the plan was made.
    email : str or None
        The customer's email when the plan was made.
    tag : str
        The tag to remove.

    Examples
    --------
    >>> op = RemoveTags(25647, "cus_de305d54", None, "engage")
    >>> op.method, op.path(op.customer_id), op.inverse().kind
    ('DELETE', 'customers/25647/attributes/tags', 'AddTags')
    """

    code: ClassVar[int] = 1
    method: ClassVar[str] = "DELETE"

    def old_new(self) -> tuple[Any, Any]:
        return True, False


@dataclass(frozen=True, slots=True)
class _CustomOperation(Operation):
    key: str
    type: CustomType
    _prefix: ClassVar[str] = "custom."
    endpoint: ClassVar[Section] = "custom"

    @property
    def name(self) -> str:
        return self.key

    @property
    def value_type(self) -> CustomType | None:
        return self.type


@dataclass(frozen=True, slots=True)
class AddCustom(_CustomOperation):
    """Set custom attribute ``key`` (absent before) to ``value`` of ``type``: a typed POST.

    Parameters
    ----------
    customer_id : int
        The customer's ChartMogul id (see ``Operation``).
    uuid : str
        The customer's uuid when the plan was made.
    email : str or None
        The customer's email when the plan was made.
    key : str
        The custom attribute's key.
    type : {"String", "Integer", "Timestamp", "Boolean"}
        Its type.
    value : int, bool, str or datetime
        The value to set (a datetime with a time zone for a Timestamp).

    Examples
    --------
    >>> op = AddCustom(25647, "cus_de305d54", None, "seats", "Integer", 5)
    >>> op.old_new(), op.inverse().kind
    ((None, 5), 'RemoveCustom')
    >>> AddCustom.request_body([op])
    {'custom': [{'type': 'Integer', 'key': 'seats', 'value': 5}]}
    """

    value: CustomValue
    value_fields: ClassVar[tuple[str, ...]] = ("value",)
    code: ClassVar[int] = 2
    method: ClassVar[str] = "POST"
    has_by_email: ClassVar[bool] = True

    def old_new(self) -> tuple[Any, Any]:
        return None, self.value

    @classmethod
    def from_cell(
        cls,
        customer_id: int,
        uuid: str,
        email: str | None,
        name: str,
        type_: CustomType | None,
        old: Any,
        new: Any,
    ) -> Operation:
        return cls(customer_id, uuid, email, name, cast(CustomType, type_), new)

    def to_record(self) -> dict[str, Any]:
        return {
            **self._who(),
            "key": self.key,
            "type": self.type,
            "value": encode_value(self.type, self.value),
        }

    @classmethod
    def request_body(
        cls, ops: Sequence[Operation], dialect: Dialect = "enrichment"
    ) -> dict[str, Any]:
        return {"custom": [_typed_entry(cast(AddCustom, op), dialect) for op in ops]}

    def _signature(self) -> tuple[Any, ...]:
        # Key, type and value (encoded, so True and 1 differ, and with the type, so "1" and 1
        # differ too).
        return (self.key, self.type, repr(encode_value(self.type, self.value)))


@dataclass(frozen=True, slots=True)
class UpdateCustom(_CustomOperation):
    """Change custom attribute ``key`` from ``old`` to ``new``: PUT .../attributes/custom.

    Parameters
    ----------
    customer_id : int
        The customer's ChartMogul id (see ``Operation``).
    uuid : str
        The customer's uuid when the plan was made.
    email : str or None
        The customer's email when the plan was made.
    key : str
        The custom attribute's key.
    type : {"String", "Integer", "Timestamp", "Boolean"}
        Its type.
    old, new : int, bool, str or datetime
        The value when the plan was made (apply checks the server still has it) and the new one.

    Examples
    --------
    >>> op = UpdateCustom(25647, "cus_de305d54", None, "seats", "Integer", 5, 6)
    >>> op.method, UpdateCustom.request_body([op])
    ('PUT', {'custom': {'seats': 6}})
    """

    old: CustomValue
    new: CustomValue
    value_fields: ClassVar[tuple[str, ...]] = ("old", "new")
    code: ClassVar[int] = 3
    method: ClassVar[str] = "PUT"

    def old_new(self) -> tuple[Any, Any]:
        return self.old, self.new

    @classmethod
    def from_cell(
        cls,
        customer_id: int,
        uuid: str,
        email: str | None,
        name: str,
        type_: CustomType | None,
        old: Any,
        new: Any,
    ) -> Operation:
        return cls(customer_id, uuid, email, name, cast(CustomType, type_), old, new)

    def to_record(self) -> dict[str, Any]:
        return {
            **self._who(),
            "key": self.key,
            "type": self.type,
            "old": encode_value(self.type, self.old),
            "new": encode_value(self.type, self.new),
        }

    @classmethod
    def request_body(
        cls, ops: Sequence[Operation], dialect: Dialect = "enrichment"
    ) -> dict[str, Any]:
        updates = [cast(UpdateCustom, op) for op in ops]
        return {"custom": {op.key: encode_value(op.type, op.new, dialect) for op in updates}}


@dataclass(frozen=True, slots=True)
class RemoveCustom(_CustomOperation):
    """Remove custom attribute ``key``, whose value was ``old``: DELETE .../attributes/custom.

    Parameters
    ----------
    customer_id : int
        The customer's ChartMogul id (see ``Operation``).
    uuid : str
        The customer's uuid when the plan was made.
    email : str or None
        The customer's email when the plan was made.
    key : str
        The custom attribute's key.
    type : {"String", "Integer", "Timestamp", "Boolean"}
        Its type.
    old : int, bool, str or datetime
        The value when the plan was made (apply checks the server still has it; undo restores it).

    Examples
    --------
    >>> op = RemoveCustom(25647, "cus_de305d54", None, "seats", "Integer", 5)
    >>> op.old_new(), op.inverse()
    ((5, None), AddCustom(customer_id=25647, uuid='cus_de305d54', email=None, key='seats', type='Integer', value=5))
    """

    old: CustomValue
    value_fields: ClassVar[tuple[str, ...]] = ("old",)
    code: ClassVar[int] = 4
    method: ClassVar[str] = "DELETE"

    def old_new(self) -> tuple[Any, Any]:
        return self.old, None

    @classmethod
    def from_cell(
        cls,
        customer_id: int,
        uuid: str,
        email: str | None,
        name: str,
        type_: CustomType | None,
        old: Any,
        new: Any,
    ) -> Operation:
        return cls(customer_id, uuid, email, name, cast(CustomType, type_), old)

    def to_record(self) -> dict[str, Any]:
        return {
            **self._who(),
            "key": self.key,
            "type": self.type,
            "old": encode_value(self.type, self.old),
        }

    @classmethod
    def request_body(
        cls, ops: Sequence[Operation], dialect: Dialect = "enrichment"
    ) -> dict[str, Any]:
        return {"custom": [op.name for op in ops]}


def _typed_entry(op: AddCustom, dialect: Dialect = "enrichment") -> dict[str, Any]:
    return {"type": op.type, "key": op.key, "value": encode_value(op.type, op.value, dialect)}


AddTags.inverse_class, RemoveTags.inverse_class = RemoveTags, AddTags
AddCustom.inverse_class, RemoveCustom.inverse_class = RemoveCustom, AddCustom
UpdateCustom.inverse_class = UpdateCustom

# The tables, derived from the classes in this one place.
#: Every operation class, by code.
OPERATION_CLASSES: tuple[type[Operation], ...] = tuple(
    sorted((AddTags, RemoveTags, AddCustom, UpdateCustom, RemoveCustom), key=lambda c: c.code)
)
assert [c.code for c in OPERATION_CLASSES] == list(range(len(OPERATION_CLASSES)))
#: Kind names in code order: the order requests for one customer are sent (and listed).
KINDS: tuple[str, ...] = tuple(c.__name__ for c in OPERATION_CLASSES)
#: Kind name -> class.
CLASS_BY_KIND: Mapping[str, type[Operation]] = MappingProxyType(
    {c.__name__: c for c in OPERATION_CLASSES}
)
#: Code -> the code of its inverse (for inverting a columnar plan in one numpy take).
INVERSE_CODES: npt.NDArray[np.int8] = np.array(
    [c.inverse_class.code for c in OPERATION_CLASSES], dtype=np.int8
)
INVERSE_CODES.flags.writeable = False


def operation_from_record(record: Mapping[str, Any], *, where: str = "operation") -> Operation:
    """Rebuild an operation from ``to_record()`` output, typed.

    Parameters
    ----------
    record : mapping
        A dict as ``Operation.to_record()`` returns it (a plan file's ``operations`` entry).
    where : str
        How messages name the record, e.g. ``"operations[3]"``.

    Returns
    -------
    Operation
        The operation, values typed (a Timestamp as a UTC datetime).

    Raises
    ------
    ValidationError
        The record is not one ``to_record`` writes: the message says which field is wrong.

    Examples
    --------
    >>> op = AddCustom(1, "cus_1", None, "seats", "Integer", 5)
    >>> operation_from_record(op.to_record()) == op
    True
    """
    if not isinstance(record, Mapping):
        raise ValidationError(f"{where}: expected an object, got {type(record).__name__}")
    kind = record.get("kind")
    cls = CLASS_BY_KIND.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValidationError(
            f"{where}: unknown kind {kind!r} (expected one of {', '.join(KINDS)})"
        )
    customer_id, uuid, email = record.get("customer_id"), record.get("uuid"), record.get("email")
    if not isinstance(customer_id, int) or isinstance(customer_id, bool):
        raise ValidationError(f"{where}: customer_id must be an integer, got {customer_id!r}")
    if not isinstance(uuid, str):
        raise ValidationError(f"{where}: uuid must be a string, got {uuid!r}")
    if email is not None and not isinstance(email, str):
        raise ValidationError(f"{where}: email must be a string or null, got {email!r}")
    if issubclass(cls, _TagOperation):
        tag = record.get("tag")
        if not isinstance(tag, str):
            raise ValidationError(f"{where}: tag must be a string, got {tag!r}")
        return cls.from_cell(customer_id, uuid, email, tag, None, None, None)
    key, type_ = record.get("key"), record.get("type")
    if not isinstance(key, str):
        raise ValidationError(f"{where}: key must be a string, got {key!r}")
    if type_ not in CUSTOM_TYPES:
        raise ValidationError(
            f"{where}: type must be one of {', '.join(CUSTOM_TYPES)}, got {type_!r}"
        )
    values = {
        name: decode_value(type_, record.get(name), where=f"{where} {name}")
        for name in cls.value_fields
    }
    old = values.get("old")
    new = values.get("value", values.get("new"))
    return cls.from_cell(customer_id, uuid, email, key, type_, old, new)


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request apply will send: ``path`` is relative to the ``/v1/`` base.

    ``Plan.requests()`` lists them; build them with ``group_requests``.

    Attributes
    ----------
    method : str
        The HTTP method.
    path : str
        The endpoint, relative to the ``/v1/`` base.
    body : dict
        The JSON body.
    op_ids : tuple of str
        The ids of the operations it carries (``Operation.op_id``).
    customer_ids : tuple of int
        The customers it writes (several for a by-email request).
    by_email : bool
        Whether it goes to a by-email endpoint (every customer with one email).
    kind : str
        The kind of its operations (``"AddTags"``, ...).

    Examples
    --------
    >>> (request,) = group_requests([AddTags(1, "cus_1", None, "vip")], {})
    >>> request.method, request.path, request.body
    ('POST', 'customers/1/attributes/tags', {'tags': ['vip']})
    """

    method: str
    path: str
    body: dict[str, Any] = field(hash=False)
    op_ids: tuple[str, ...]
    customer_ids: tuple[int, ...]
    by_email: bool
    kind: str


def retyping_request(op: UpdateCustom, dialect: Dialect = "enrichment") -> Request:
    """``op`` sent as a typed POST, which sets the value and its type, instead of a PUT.

    PUT keeps the type the customer's value is stored with; a key whose customers hold
    different JSON types reads as String, and text written onto a stored Integer or Boolean
    that way would be refused. POST on an existing key replaces the value and the type.

    Parameters
    ----------
    op : UpdateCustom
        The update to send.
    dialect : {"enrichment", "current"}, default "enrichment"
        The API's dialect: today's addresses the customer by uuid.

    Returns
    -------
    Request
        A POST to the custom endpoint carrying ``op``'s id, typed as ``op.type``.

    Examples
    --------
    >>> request = retyping_request(UpdateCustom(1, "cus_1", None, "plan", "String", "5", "pro"))
    >>> request.method, request.body
    ('POST', {'custom': [{'type': 'String', 'key': 'plan', 'value': 'pro'}]})
    """
    as_added = AddCustom(op.customer_id, op.uuid, op.email, op.key, op.type, op.new)
    return Request(
        method=AddCustom.method,
        path=AddCustom.path(op.uuid if dialect == "current" else op.customer_id),
        body=AddCustom.request_body([as_added], dialect),
        op_ids=(op.op_id,),
        customer_ids=(op.customer_id,),
        by_email=False,
        kind=op.kind,
    )


def by_email_merges(
    ops_by_customer: Mapping[int, Sequence[Operation]],
    email_groups: Mapping[str, Sequence[int]],
) -> dict[tuple[str, str], tuple[int, ...]]:
    """Find the ``(email, kind)`` pairs that go through a by-email endpoint.

    A by-email request touches every customer with that email, so it is used only where 2+
    customers share the email, every one of them (as listed in ``email_groups``: all customers
    of the baseline with that email) gets exactly the same non-empty set of AddTags (or
    AddCustom), and each of their operations carries exactly that email.

    Parameters
    ----------
    ops_by_customer : mapping of int to sequence of Operation
        Each customer's operations.
    email_groups : mapping of str to sequence of int
        Every customer id of the baseline with each shared email.

    Returns
    -------
    dict of (str, str) to tuple of int
        ``(email, kind)`` → the customers one by-email request writes.

    Examples
    --------
    >>> bob = [AddTags(1, "cus_1", "bob@example.com", "vip"),
    ...        AddTags(2, "cus_2", "bob@example.com", "vip")]
    >>> by_email_merges({1: bob[:1], 2: bob[1:]}, {"bob@example.com": [1, 2]})
    {('bob@example.com', 'AddTags'): (1, 2)}
    """
    merges: dict[tuple[str, str], tuple[int, ...]] = {}
    for email, members in email_groups.items():
        if len(members) < 2:
            continue
        for kind in (c.__name__ for c in OPERATION_CLASSES if c.has_by_email):
            signatures: set[frozenset[tuple[Any, ...]]] = set()
            for customer_id in members:
                ops = [op for op in ops_by_customer.get(customer_id, ()) if op.kind == kind]
                if not ops or any(op.email != email for op in ops):
                    break
                signatures.add(frozenset(op._signature() for op in ops))
                if len(signatures) > 1:
                    break
            else:
                merges[(email, kind)] = tuple(members)
    return merges


def group_requests(
    operations: Iterable[Operation],
    email_groups: Mapping[str, Sequence[int]],
    *,
    by_email: bool = True,
    dialect: Dialect = "enrichment",
) -> list[Request]:
    """Group operations into requests: per customer, one request per kind.

    Requests are ordered by the customer's first operation, then by kind (``KINDS``); a by-email
    request takes the place of its first customer.

    Parameters
    ----------
    operations : iterable of Operation
        The operations of a plan.
    email_groups : mapping of str to sequence of int
        Every customer id of the baseline with each shared email (``Plan.email_groups``).
    by_email : bool, default True
        Use by-email endpoints where ``by_email_merges`` allows it.
    dialect : {"enrichment", "current"}, default "enrichment"
        The API's dialect: today's addresses customers by uuid and writes timestamps with
        milliseconds.

    Returns
    -------
    list of Request
        The requests, in the order apply sends them.

    Examples
    --------
    >>> ops = [AddTags(1, "cus_1", "bob@example.com", "vip"),
    ...        AddTags(2, "cus_2", "bob@example.com", "vip"),
    ...        AddTags(3, "cus_3", None, "eu")]
    >>> [(r.path, r.customer_ids) for r in group_requests(ops, {"bob@example.com": [1, 2]})]
    [('customers/attributes/tags', (1, 2)), ('customers/3/attributes/tags', (3,))]
    >>> len(group_requests(ops, {"bob@example.com": [1, 2]}, by_email=False))
    3
    """
    groups: dict[tuple[int, str], list[Operation]] = {}
    for op in operations:
        groups.setdefault((op.customer_id, op.kind), []).append(op)
    order = {customer_id: rank for rank, (customer_id, _) in enumerate(dict.fromkeys(groups))}
    ops_by_customer: dict[int, list[Operation]] = {}
    if by_email and email_groups:
        for (customer_id, _), ops in groups.items():
            ops_by_customer.setdefault(customer_id, []).extend(ops)
    merges = by_email_merges(ops_by_customer, email_groups) if ops_by_customer else {}
    merged_into: dict[tuple[int, str], tuple[str, tuple[int, ...]]] = {
        (customer_id, kind): (email, members)
        for (email, kind), members in merges.items()
        for customer_id in members
    }
    requests: list[Request] = []
    sent: set[tuple[str, str]] = set()
    by_uuid = dialect == "current"
    for customer_id, kind in sorted(groups, key=lambda k: (order[k[0]], CLASS_BY_KIND[k[1]].code)):
        cls = CLASS_BY_KIND[kind]
        merge = merged_into.get((customer_id, kind))
        if merge is None:
            ops = groups[(customer_id, kind)]
            requests.append(
                Request(
                    method=cls.method,
                    path=cls.path(ops[0].uuid if by_uuid else customer_id),
                    body=cls.request_body(ops, dialect),
                    op_ids=tuple(op.op_id for op in ops),
                    customer_ids=(customer_id,),
                    by_email=False,
                    kind=kind,
                )
            )
            continue
        email, members = merge
        if (email, kind) in sent:
            continue
        sent.add((email, kind))
        member_ops = [op for member in members for op in groups[(member, kind)]]
        requests.append(
            Request(
                method=cls.method,
                path=cls.email_path(),
                # Every sharer gets the same set: the body lists it once, from the first sharer.
                body={"email": email, **cls.request_body(groups[(customer_id, kind)], dialect)},
                op_ids=tuple(op.op_id for op in member_ops),
                customer_ids=members,
                by_email=True,
                kind=kind,
            )
        )
    return requests
