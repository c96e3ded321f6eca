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
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, TypeAlias, cast

from cm_frames.errors import ValidationError
from cm_frames.schema import CUSTOM_TYPES, INT64_MAX, INT64_MIN, CustomType

__all__ = [
    "KINDS",
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

# Kind names in the order requests for one customer are sent (and operations are listed).
KINDS = ("AddTags", "RemoveTags", "AddCustom", "UpdateCustom", "RemoveCustom")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- typed values <-> JSON -------------------------------------------------------------------


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with ``Z``; microseconds only when there are any (both forms are exact)."""
    utc = value.astimezone(UTC)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    return f"{text}.{utc.microsecond:06d}Z" if utc.microsecond else f"{text}Z"


def timestamp_from_micros(micros: int) -> datetime:
    """The UTC datetime ``micros`` microseconds after the epoch (exact: no float on the way)."""
    return _EPOCH + timedelta(microseconds=micros)


def encode_value(type_: str, value: CustomValue) -> Any:
    """A custom value as JSON: timestamps as ISO 8601 strings, everything else unchanged."""
    if type_ == "Timestamp" and isinstance(value, datetime):
        return format_timestamp(value)
    return value


def decode_value(type_: str, raw: Any, *, where: str = "value") -> CustomValue:
    """The typed value that ``encode_value`` wrote; anything else is a ValidationError."""
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
    """One changed cell of one customer. Subclasses say what changed; this says for whom."""

    customer_id: int
    uuid: str
    email: str | None

    _prefix: ClassVar[str] = ""

    @property
    def kind(self) -> str:
        """The operation's class name, e.g. ``"AddTags"``."""
        return type(self).__name__

    @property
    def attribute(self) -> str:
        """The frame column it touches: ``"tag.<name>"`` or ``"custom.<key>"``."""
        return self._prefix + self._name()

    @property
    def op_id(self) -> str:
        """A short deterministic hash of every field: how the journal knows what was done."""
        # The repr of the record's values (str, int, bool, None only: timestamps are already
        # ISO strings) is deterministic across runs and platforms, and one C call, so 600k
        # operations hash in well under a second.
        text = repr(tuple(self.to_record().values()))
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    def _name(self) -> str:
        raise NotImplementedError

    def inverse(self) -> Operation:
        """The operation that undoes this one."""
        raise NotImplementedError

    def to_record(self) -> dict[str, Any]:
        """A JSON-safe dict with ``kind`` and every field (timestamps as ISO 8601 strings)."""
        raise NotImplementedError

    def _who(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "customer_id": self.customer_id,
            "uuid": self.uuid,
            "email": self.email,
        }


@dataclass(frozen=True, slots=True)
class AddTags(Operation):
    """Add ``tag`` to the customer (``tag.<tag>`` False → True)."""

    tag: str
    _prefix: ClassVar[str] = "tag."

    def _name(self) -> str:
        return self.tag

    def inverse(self) -> RemoveTags:
        return RemoveTags(self.customer_id, self.uuid, self.email, self.tag)

    def to_record(self) -> dict[str, Any]:
        return {**self._who(), "tag": self.tag}


@dataclass(frozen=True, slots=True)
class RemoveTags(Operation):
    """Remove ``tag`` from the customer (``tag.<tag>`` True → False)."""

    tag: str
    _prefix: ClassVar[str] = "tag."

    def _name(self) -> str:
        return self.tag

    def inverse(self) -> AddTags:
        return AddTags(self.customer_id, self.uuid, self.email, self.tag)

    def to_record(self) -> dict[str, Any]:
        return {**self._who(), "tag": self.tag}


@dataclass(frozen=True, slots=True)
class AddCustom(Operation):
    """Set custom attribute ``key`` (absent before) to ``value`` of ``type``."""

    key: str
    type: CustomType
    value: CustomValue
    _prefix: ClassVar[str] = "custom."

    def _name(self) -> str:
        return self.key

    def inverse(self) -> RemoveCustom:
        return RemoveCustom(
            self.customer_id, self.uuid, self.email, self.key, self.type, self.value
        )

    def to_record(self) -> dict[str, Any]:
        return {
            **self._who(),
            "key": self.key,
            "type": self.type,
            "value": encode_value(self.type, self.value),
        }


@dataclass(frozen=True, slots=True)
class UpdateCustom(Operation):
    """Change custom attribute ``key`` from ``old`` to ``new``."""

    key: str
    type: CustomType
    old: CustomValue
    new: CustomValue
    _prefix: ClassVar[str] = "custom."

    def _name(self) -> str:
        return self.key

    def inverse(self) -> UpdateCustom:
        return UpdateCustom(
            self.customer_id, self.uuid, self.email, self.key, self.type, self.new, self.old
        )

    def to_record(self) -> dict[str, Any]:
        return {
            **self._who(),
            "key": self.key,
            "type": self.type,
            "old": encode_value(self.type, self.old),
            "new": encode_value(self.type, self.new),
        }


@dataclass(frozen=True, slots=True)
class RemoveCustom(Operation):
    """Remove custom attribute ``key``, whose value was ``old``."""

    key: str
    type: CustomType
    old: CustomValue
    _prefix: ClassVar[str] = "custom."

    def _name(self) -> str:
        return self.key

    def inverse(self) -> AddCustom:
        return AddCustom(self.customer_id, self.uuid, self.email, self.key, self.type, self.old)

    def to_record(self) -> dict[str, Any]:
        return {
            **self._who(),
            "key": self.key,
            "type": self.type,
            "old": encode_value(self.type, self.old),
        }


_CLASSES: dict[str, type[Operation]] = {
    cls.__name__: cls for cls in (AddTags, RemoveTags, AddCustom, UpdateCustom, RemoveCustom)
}


def operation_from_record(record: Mapping[str, Any], *, where: str = "operation") -> Operation:
    """Rebuild an operation from ``to_record()`` output, typed; bad input is a ValidationError."""
    if not isinstance(record, Mapping):
        raise ValidationError(f"{where}: expected an object, got {type(record).__name__}")
    kind = record.get("kind")
    cls = _CLASSES.get(kind) if isinstance(kind, str) else None
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
    if cls is AddTags or cls is RemoveTags:
        tag = record.get("tag")
        if not isinstance(tag, str):
            raise ValidationError(f"{where}: tag must be a string, got {tag!r}")
        return (
            AddTags(customer_id, uuid, email, tag)
            if cls is AddTags
            else RemoveTags(customer_id, uuid, email, tag)
        )
    key, type_ = record.get("key"), record.get("type")
    if not isinstance(key, str):
        raise ValidationError(f"{where}: key must be a string, got {key!r}")
    if type_ not in CUSTOM_TYPES:
        raise ValidationError(
            f"{where}: type must be one of {', '.join(CUSTOM_TYPES)}, got {type_!r}"
        )
    if cls is AddCustom:
        value = decode_value(type_, record.get("value"), where=f"{where} value")
        return AddCustom(customer_id, uuid, email, key, type_, value)
    old = decode_value(type_, record.get("old"), where=f"{where} old")
    if cls is RemoveCustom:
        return RemoveCustom(customer_id, uuid, email, key, type_, old)
    new = decode_value(type_, record.get("new"), where=f"{where} new")
    return UpdateCustom(customer_id, uuid, email, key, type_, old, new)


def date_to_datetime(value: date) -> datetime:
    """Midnight UTC of a calendar date (how a date-only value is written as a Timestamp)."""
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request apply will send: ``path`` is relative to the ``/v1/`` base."""

    method: str
    path: str
    body: dict[str, Any] = field(hash=False)
    op_ids: tuple[str, ...]
    customer_ids: tuple[int, ...]
    by_email: bool
    kind: str


_ENDPOINTS = {
    "AddTags": ("POST", "tags"),
    "RemoveTags": ("DELETE", "tags"),
    "AddCustom": ("POST", "custom"),
    "UpdateCustom": ("PUT", "custom"),
    "RemoveCustom": ("DELETE", "custom"),
}

# Only adding has a by-email endpoint.
_BY_EMAIL_KINDS = ("AddTags", "AddCustom")


def _body(kind: str, ops: Sequence[Operation]) -> dict[str, Any]:
    # The shapes of the reference's example requests, one per endpoint.
    if kind in ("AddTags", "RemoveTags"):
        return {"tags": [op._name() for op in ops]}
    if kind == "AddCustom":
        return {"custom": [_typed_entry(cast(AddCustom, op)) for op in ops]}
    if kind == "UpdateCustom":
        updates = [cast(UpdateCustom, op) for op in ops]
        return {"custom": {op.key: encode_value(op.type, op.new) for op in updates}}
    return {"custom": [op._name() for op in ops]}


def _typed_entry(op: AddCustom) -> dict[str, Any]:
    return {"type": op.type, "key": op.key, "value": encode_value(op.type, op.value)}


def retyping_request(op: UpdateCustom) -> Request:
    """``op`` sent as a typed POST, which sets the value and its type, instead of a PUT.

    PUT keeps the type the customer's value is stored with; a key whose customers hold
    different JSON types reads as String, and text written onto a stored Integer or Boolean
    that way would be refused. POST on an existing key replaces the value and the type.
    """
    entry = {"type": op.type, "key": op.key, "value": encode_value(op.type, op.new)}
    return Request(
        method="POST",
        path=f"customers/{op.customer_id}/attributes/custom",
        body={"custom": [entry]},
        op_ids=(op.op_id,),
        customer_ids=(op.customer_id,),
        by_email=False,
        kind=op.kind,
    )


def _signature(op: Operation) -> tuple[Any, ...]:
    # What must be identical across the sharers of an email: the tag, or key, type and value
    # (encoded, so True and 1 differ, and with the type, so "1" and 1 differ too).
    if isinstance(op, AddCustom):
        return (op.key, op.type, repr(encode_value(op.type, op.value)))
    return (op.attribute,)


def by_email_merges(
    ops_by_customer: Mapping[int, Sequence[Operation]],
    email_groups: Mapping[str, Sequence[int]],
) -> dict[tuple[str, str], tuple[int, ...]]:
    """Which ``(email, kind)`` pairs go through a by-email endpoint, with their customer ids.

    A by-email request touches every customer with that email, so it is used only where 2+
    customers share the email, every one of them (as listed in ``email_groups``: all customers
    of the baseline with that email) gets exactly the same non-empty set of AddTags (or
    AddCustom), and each of their operations carries exactly that email.
    """
    merges: dict[tuple[str, str], tuple[int, ...]] = {}
    for email, members in email_groups.items():
        if len(members) < 2:
            continue
        for kind in _BY_EMAIL_KINDS:
            signatures: set[frozenset[tuple[Any, ...]]] = set()
            for customer_id in members:
                ops = [op for op in ops_by_customer.get(customer_id, ()) if op.kind == kind]
                if not ops or any(op.email != email for op in ops):
                    break
                signatures.add(frozenset(_signature(op) for op in ops))
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
) -> list[Request]:
    """Group operations into requests: per customer, one request per kind.

    Requests are ordered by the customer's first operation, then by kind (``KINDS``); a by-email
    request takes the place of its first customer.
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
    kind_rank = {kind: rank for rank, kind in enumerate(KINDS)}
    for customer_id, kind in sorted(groups, key=lambda k: (order[k[0]], kind_rank[k[1]])):
        method, what = _ENDPOINTS[kind]
        merge = merged_into.get((customer_id, kind))
        if merge is None:
            ops = groups[(customer_id, kind)]
            requests.append(
                Request(
                    method=method,
                    path=f"customers/{customer_id}/attributes/{what}",
                    body=_body(kind, ops),
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
                method=method,
                path=f"customers/attributes/{what}",
                # Every sharer gets the same set: the body lists it once, from the first sharer.
                body={"email": email, **_body(kind, groups[(customer_id, kind)])},
                op_ids=tuple(op.op_id for op in member_ops),
                customer_ids=members,
                by_email=True,
                kind=kind,
            )
        )
    return requests
