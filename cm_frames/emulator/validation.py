"""Request-body validation for the emulator's write endpoints.

Every function here is pure: it takes the parsed JSON body and returns a normalised,
typed request or raises ``BadRequestBody`` whose message names the offending field
(``custom[2].value: "abc" is not an Integer``). The server validates the whole body
before it touches state, so a rejected request changes nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cm_frames.emulator.problems import BadRequestBody

__all__ = [
    "ATTRIBUTE_TYPES",
    "CustomValue",
    "TypedValue",
    "coerce_value",
    "format_current_timestamp",
    "format_timestamp",
    "infer_type",
    "parse_add_custom",
    "parse_email",
    "parse_remove_custom",
    "parse_tags",
    "parse_update_custom",
]

ATTRIBUTE_TYPES = ("String", "Integer", "Timestamp", "Boolean")
KEY_PATTERN = re.compile(r"[A-Za-z0-9_]{1,255}")
MAX_STRING_LENGTH = 255
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INTEGER_STRING = re.compile(r"-?[0-9]+")
_BOOLEAN_STRINGS = {"TRUE": True, "true": True, "t": True, "1": True}
_BOOLEAN_STRINGS |= {"FALSE": False, "false": False, "f": False, "0": False}
# The one form a stored Timestamp is returned in; also how a value read back from the
# wire (or produced by the generator) is recognised as a Timestamp.
# Today's service writes milliseconds (``2016-01-31T00:00:00.000Z``): also a Timestamp.
_NORMALISED_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?Z")

CustomValue = str | int | bool


@dataclass(frozen=True, slots=True)
class TypedValue:
    """One custom attribute as stored: its type, its normalised JSON value and (today's
    dialect) the ``source`` it was sent with, if any."""

    type: str
    value: CustomValue
    source: str | None = None


def _show(value: Any) -> str:
    """A short JSON rendering of a value for error messages."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def format_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` in UTC (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def format_current_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC: how today's service echoes a Timestamp."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_current_timestamp(value: str) -> datetime:
    """ISO 8601, or the ``2016-01-31 00:00:00 UTC`` form today's service accepts (recorded)."""
    text = value.strip()
    if text.endswith(" UTC"):
        moment = datetime.fromisoformat(text[:-4])
        if moment.tzinfo is not None:
            raise ValueError("two time zones")
        return moment.replace(tzinfo=UTC)
    return datetime.fromisoformat(text)


def coerce_value(type_name: str, value: Any, where: str, *, current: bool = False) -> CustomValue:
    """Check ``value`` against ``type_name`` and return its normalised stored form.

    ``current``: as today's service does, a Timestamp may also be written
    ``2016-01-31 00:00:00 UTC`` and is stored as ``2016-01-31T00:00:00.000Z``.
    """
    if type_name == "String":
        if not isinstance(value, str):
            raise BadRequestBody(f"{where}: {_show(value)} is not a String (send a JSON string)")
        _require_unicode(value, where)
        if len(value) > MAX_STRING_LENGTH:
            raise BadRequestBody(
                f"{where}: String of {len(value)} characters is longer than {MAX_STRING_LENGTH}"
            )
        return value
    if type_name == "Integer":
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)  # 8.0 is an integer in JSON (and JSON Schema) terms
        elif isinstance(value, str) and _INTEGER_STRING.fullmatch(value):
            number = int(value)
        if number is None:
            raise BadRequestBody(
                f"{where}: {_show(value)} is not an Integer (send a JSON integer or a string of digits)"
            )
        if not INT64_MIN <= number <= INT64_MAX:
            raise BadRequestBody(f"{where}: {number} is outside the signed 64-bit Integer range")
        return number
    if type_name == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value in _BOOLEAN_STRINGS:
            return _BOOLEAN_STRINGS[value]
        raise BadRequestBody(
            f"{where}: {_show(value)} is not a Boolean "
            "(send true/false or one of TRUE, true, t, 1, FALSE, false, f, 0)"
        )
    if type_name == "Timestamp":
        if isinstance(value, str):
            try:
                if current:
                    return format_current_timestamp(_parse_current_timestamp(value))
                return format_timestamp(datetime.fromisoformat(value))
            except (ValueError, OverflowError):  # not ISO 8601, or out of range in UTC
                pass
        raise BadRequestBody(
            f"{where}: {_show(value)} is not a Timestamp (send an ISO 8601 string such as "
            '"2024-05-01T12:00:00Z")'
        )
    raise BadRequestBody(f"{where}: unknown type {_show(type_name)}")  # pragma: no cover


def _require_unicode(text: str, where: str) -> None:
    """JSON may escape a lone surrogate (\\ud800); such a string is not text and cannot be stored."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequestBody(
            f"{where}: {_show(text)} is not valid Unicode (a lone surrogate)"
        ) from None


def infer_type(value: Any) -> str:
    """The type of a custom value read in wire form (seed data): how it would be stored."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, str) and _NORMALISED_TIMESTAMP.fullmatch(value):
        return "Timestamp"
    if isinstance(value, str):
        return "String"
    raise ValueError(f"custom value {_show(value)} has no attribute type")


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestBody("body: expected a JSON object")
    return body


def _require_key(key: Any, where: str) -> str:
    if not isinstance(key, str):
        raise BadRequestBody(f"{where}: {_show(key)} is not a string key")
    if not KEY_PATTERN.fullmatch(key):
        raise BadRequestBody(
            f"{where}: {_show(key)} is not a valid key (use 1-255 characters of A-Z, a-z, 0-9 and _)"
        )
    return key


def _require_list(body: dict[str, Any], field: str, what: str) -> list[Any]:
    if field not in body:
        raise BadRequestBody(f"{field}: required ({what})")
    items = body[field]
    if not isinstance(items, list):
        raise BadRequestBody(f"{field}: expected a JSON array ({what}), got {_show(items)}")
    if not items:
        raise BadRequestBody(f"{field}: must not be empty ({what})")
    return items


def parse_email(body: Any) -> str:
    """The ``email`` field of a by-email request."""
    fields = _require_object(body)
    if "email" not in fields:
        raise BadRequestBody("email: required (the email address of the customers to change)")
    email = fields["email"]
    if not isinstance(email, str) or not email.strip():
        raise BadRequestBody(f"email: expected a non-empty string, got {_show(email)}")
    return email


def parse_tags(body: Any) -> list[str]:
    """``{"tags": ["a", "b"]}`` -> the tags, in order."""
    items = _require_list(_require_object(body), "tags", "a list of tag strings")
    for index, tag in enumerate(items):
        if not isinstance(tag, str) or not tag:
            raise BadRequestBody(f"tags[{index}]: expected a non-empty string, got {_show(tag)}")
        _require_unicode(tag, f"tags[{index}]")
    return list(items)


def parse_add_custom(body: Any, *, current: bool = False) -> list[tuple[str, TypedValue]]:
    """``{"custom": [{"type", "key", "value"}, ...]}`` -> (key, typed value) pairs, in order.

    ``current``: today's service, where an item may also carry a ``"source"`` string.
    """
    items = _require_list(
        _require_object(body), "custom", 'a list of {"type", "key", "value"} objects'
    )
    parsed: list[tuple[str, TypedValue]] = []
    for index, item in enumerate(items):
        where = f"custom[{index}]"
        if not isinstance(item, dict):
            raise BadRequestBody(
                f'{where}: expected an object with "type", "key" and "value", got {_show(item)}'
            )
        for field in ("type", "key", "value"):
            if field not in item:
                raise BadRequestBody(f"{where}.{field}: required")
        type_name = item["type"]
        if type_name not in ATTRIBUTE_TYPES:
            raise BadRequestBody(
                f"{where}.type: {_show(type_name)} is not one of {', '.join(ATTRIBUTE_TYPES)}"
            )
        if current and "source" in item and not isinstance(item["source"], str):
            raise BadRequestBody(f"{where}.source: {_show(item['source'])} is not a string")
        key = _require_key(item["key"], f"{where}.key")
        value = coerce_value(type_name, item["value"], f"{where}.value", current=current)
        source = item.get("source") if current else None
        parsed.append((key, TypedValue(type_name, value, source)))
    return parsed


def parse_remove_custom(body: Any) -> list[str]:
    """``{"custom": ["key", ...]}`` -> the keys."""
    items = _require_list(_require_object(body), "custom", "a list of custom attribute keys")
    return [_require_key(key, f"custom[{index}]") for index, key in enumerate(items)]


def parse_update_custom(body: Any) -> dict[str, Any]:
    """``{"custom": {"key": value, ...}}`` -> the raw values by key.

    The values are checked against each key's stored type later, by the state, because
    only the state knows the types.
    """
    fields = _require_object(body)
    if "custom" not in fields:
        raise BadRequestBody("custom: required (an object of key: new value)")
    changes = fields["custom"]
    if not isinstance(changes, dict):
        raise BadRequestBody(
            f"custom: expected a JSON object of key: new value, got {_show(changes)}"
        )
    if not changes:
        raise BadRequestBody("custom: must not be empty (an object of key: new value)")
    for key, value in changes.items():
        _require_key(key, f"custom.{key}")
        _require_attribute_value(value, f"custom.{key}")
    return dict(changes)


def _require_attribute_value(value: Any, where: str) -> None:
    """Reject a value no attribute type can hold, before looking up the key's type."""
    if isinstance(value, bool | str):
        return
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise BadRequestBody(f"{where}: {value} is outside the signed 64-bit Integer range")
        return
    raise BadRequestBody(
        f"{where}: {_show(value)} is not a custom attribute value"
        " (send a string, an integer, true/false or an ISO 8601 string)"
    )
