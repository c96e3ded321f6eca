"""The wire rules, in one place: what the API accepts as a tag, a custom key and a typed value.

Three paths build requests, and each checks its input against these rules before anything is
sent: a diffed frame (``diff``/``_coerce``, vectorised over columns), a plan built by hand or
read from JSON (``Plan(...)``/``Plan.from_json``, through ``check_operations``), and the
client's own methods (``client.add_tags`` ...). A rule changed here changes for all three.

Rules
-----
- A custom key is 1 to 255 characters of ``[A-Za-z0-9_]`` (so no whitespace anywhere).
- A tag name is 1 to 255 characters of valid Unicode text, not only whitespace and without
  leading or trailing whitespace.
- An Integer is an ``int`` (not a bool) within signed 64-bit; a Boolean a ``bool``; a String a
  ``str`` of valid Unicode text of at most 255 characters; a Timestamp a ``datetime`` with a
  time zone (a naive one is refused rather than taken as UTC).
- Per customer, one operation per tag and one per custom key: AddTags and RemoveTags of one
  tag, two operations on one key, or the same operation twice contradict each other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cm_frames.errors import ValidationError
from cm_frames.operations import (
    KINDS,
    AddCustom,
    AddTags,
    Operation,
    RemoveCustom,
    RemoveTags,
    UpdateCustom,
)
from cm_frames.schema import CUSTOM_KEY_PATTERN, CUSTOM_TYPES, INT64_MAX, INT64_MIN

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_KEY_LENGTH",
    "MAX_STRING_LENGTH",
    "MAX_TAG_LENGTH",
    "Rule",
    "check_operations",
    "is_text",
    "key_problem",
    "operation_problems",
    "padded",
    "string_problem",
    "strings_too_long",
    "tag_problem",
    "value_problem",
]

BoolArray: TypeAlias = npt.NDArray[np.bool_]

MAX_KEY_LENGTH: Final = 255
MAX_TAG_LENGTH: Final = 255
MAX_STRING_LENGTH: Final = 255
_KEY: Final = re.compile(CUSTOM_KEY_PATTERN)


@dataclass(frozen=True, slots=True)
class Rule:
    """A broken rule: ``what`` is wrong and the ``fix`` (prose; callers add their own code)."""

    what: str
    fix: str


def is_text(value: str) -> bool:
    """Whether a str is Unicode text the API can carry as UTF-8 (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def padded(name: str) -> bool:
    """Whether ``name`` starts or ends with whitespace (invisible in a column header)."""
    return name != name.strip()


def key_problem(key: object) -> Rule | None:
    """What is wrong with a custom attribute key, or None when the API accepts it."""
    if not isinstance(key, str):
        return Rule(f"the custom key {key!r} is not a str", "use a str key such as 'lead_score'")
    if not key:
        return Rule("the custom key is empty", "name the key, e.g. 'lead_score'")
    if padded(key):
        return Rule(
            f"the custom key {key!r} starts or ends with whitespace",
            f"remove the whitespace: {key.strip()!r}",
        )
    if not _KEY.fullmatch(key):
        return Rule(
            f"the custom key {key!r} is not made of letters, digits and underscores only",
            "use a key of A-Z, a-z, 0-9 and _ only ([A-Za-z0-9_]+), such as 'lead_score'",
        )
    if len(key) > MAX_KEY_LENGTH:
        return Rule(
            f"the custom key has {len(key)} characters; keys have at most {MAX_KEY_LENGTH}",
            f"use a shorter key (at most {MAX_KEY_LENGTH} characters)",
        )
    return None


def tag_problem(tag: object) -> Rule | None:
    """What is wrong with a tag name, or None when the API accepts it."""
    if not isinstance(tag, str):
        return Rule(f"the tag {tag!r} is not a str", "use a str tag name such as 'vip'")
    if not tag:
        return Rule("the tag name is empty", "give the tag a visible name such as 'vip'")
    if not is_text(tag):
        return Rule(
            f"the tag name {tag!r} is not valid Unicode text (a lone surrogate)",
            "re-decode the name from its source text",
        )
    if not tag.strip():
        return Rule("the tag name is only whitespace", "give the tag a visible name")
    if padded(tag):
        return Rule(
            f"the tag name starts or ends with whitespace ({tag!r})",
            f"remove the whitespace: {tag.strip()!r}",
        )
    if len(tag) > MAX_TAG_LENGTH:
        return Rule(
            f"the tag name has {len(tag)} characters; tag names have 1 to {MAX_TAG_LENGTH}",
            f"use a shorter name (at most {MAX_TAG_LENGTH} characters)",
        )
    return None


def string_problem(value: str) -> Rule | None:
    """What is wrong with a String value (length, text), or None."""
    if not is_text(value):
        return Rule(
            "the String value is not valid Unicode text (a lone surrogate)",
            "re-decode the text, or replace the bad characters",
        )
    if len(value) > MAX_STRING_LENGTH:
        return Rule(
            f"the String value has {len(value)} characters; Strings have at most "
            f"{MAX_STRING_LENGTH}",
            f"shorten it, e.g. value[:{MAX_STRING_LENGTH}]",
        )
    return None


_TYPE_NAMES = {"Integer": "an int", "Boolean": "a bool", "String": "a str"}


def value_problem(type_: str, value: object) -> Rule | None:
    """What is wrong with ``value`` as a custom attribute of ``type_``, or None."""
    if type_ not in CUSTOM_TYPES:
        return Rule(f"unknown type {type_!r}", f"use one of {', '.join(CUSTOM_TYPES)}")
    if type_ == "Integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return Rule(f"the Integer value {value!r} is not an int", "give an int")
        if not INT64_MIN <= value <= INT64_MAX:
            return Rule(
                f"the Integer value {value} is beyond signed 64-bit (the API's Integer range)",
                f"keep it within {INT64_MIN}..{INT64_MAX}, or write it as a String",
            )
        return None
    if type_ == "Boolean":
        if not isinstance(value, bool):
            return Rule(f"the Boolean value {value!r} is not a bool", "give True or False")
        return None
    if type_ == "String":
        if not isinstance(value, str):
            return Rule(f"the String value {value!r} is not a str", "give a str")
        return string_problem(value)
    if not isinstance(value, datetime):
        return Rule(
            f"the Timestamp value {value!r} is not a datetime",
            "give a datetime with a time zone, e.g. datetime(2024, 1, 31, tzinfo=datetime.UTC)",
        )
    if value.tzinfo is None or value.utcoffset() is None:
        return Rule(
            f"a Timestamp with no time zone ({value.isoformat()}): which instant it means "
            "depends on a zone it does not name",
            "say the zone, e.g. value.replace(tzinfo=datetime.UTC) if it is UTC",
        )
    return None


def strings_too_long(strings: pa.Array) -> BoolArray:
    """Which values of a string array are longer than a String may be (nulls: False)."""
    lengths = pc.fill_null(pc.utf8_length(strings), 0).to_numpy(zero_copy_only=False)
    too_long: BoolArray = lengths > MAX_STRING_LENGTH
    return too_long


# --- operations ------------------------------------------------------------------------------

_OPERATION_CLASSES = (AddTags, RemoveTags, AddCustom, UpdateCustom, RemoveCustom)
# Tuples, not ``AddTags | RemoveTags``: a union object is built anew at every isinstance call,
# which made the check of 600k operations three times slower than building the plan.
_TAG_OPERATIONS = (AddTags, RemoveTags)
_CUSTOM_OPERATIONS = (AddCustom, UpdateCustom, RemoveCustom)


def _values(op: Operation) -> list[tuple[str, object]]:
    if isinstance(op, AddCustom):
        return [("value", op.value)]
    if isinstance(op, UpdateCustom):
        return [("old", op.old), ("new", op.new)]
    if isinstance(op, RemoveCustom):
        return [("old", op.old)]
    return []


def operation_problems(operations: Sequence[object]) -> list[str]:
    """Every broken rule among ``operations``, one line each: where, what and the fix.

    One pass over the operations; names are checked once per distinct name (a plan of 100k
    customers has a few dozen), values per operation. Messages are built only for problems:
    ``Plan(ops)`` runs this on every undo and plan file, hundreds of thousands of operations.
    """
    problems: list[str] = []
    names: dict[tuple[bool, str], Rule | None] = {}
    identities: dict[int, tuple[str, str | None]] = {}
    seen: set[tuple[int, bool, str]] = set()
    repeated: set[tuple[int, bool, str]] = set()

    def where(i: int, op: Operation) -> str:
        return f"operations[{i}] (customer {op.customer_id}, {op.attribute})"

    for i, op in enumerate(operations):
        if not isinstance(op, _OPERATION_CLASSES):
            problems.append(
                f"operations[{i}]: expected AddTags, RemoveTags, AddCustom, UpdateCustom "
                f"or RemoveCustom, got {type(op).__name__}. Fix: build plans from these "
                "operations only"
            )
            continue
        customer_id = op.customer_id
        if not isinstance(customer_id, int) or isinstance(customer_id, bool):
            problems.append(
                f"operations[{i}]: customer_id must be an int, got {customer_id!r}. "
                "Fix: use the customer's ChartMogul id"
            )
            continue
        first = identities.setdefault(customer_id, (op.uuid, op.email))
        if first != (op.uuid, op.email):
            problems.append(
                f"operations[{i}]: customer {customer_id} appears with uuid/email "
                f"{op.uuid!r}/{op.email!r} but earlier with {first[0]!r}/{first[1]!r}; "
                "one customer must have one uuid and email throughout a plan. Fix: give "
                "every operation of a customer the uuid and email it has in ChartMogul"
            )
        is_tag = isinstance(op, _TAG_OPERATIONS)
        name = op.tag if isinstance(op, _TAG_OPERATIONS) else op.key
        cache = (is_tag, name)
        if cache not in names:
            names[cache] = tag_problem(name) if is_tag else key_problem(name)
        rule = names[cache]
        if rule is not None:
            problems.append(f"{where(i, op)}: {rule.what}. Fix: {rule.fix}")
        if isinstance(op, _CUSTOM_OPERATIONS):
            type_ = op.type
            for field, value in _values(op):
                rule = value_problem(type_, value)
                if rule is not None:
                    label = "" if field == "value" else f" (its {field} value)"
                    problems.append(f"{where(i, op)}{label}: {rule.what}. Fix: {rule.fix}")
                    break
        touch = (customer_id, is_tag, name)
        if touch in seen:
            repeated.add(touch)
        else:
            seen.add(touch)
    if repeated:
        # Rare: a second pass gathers the operations of each repeated (customer, attribute).
        touches: dict[tuple[int, bool, str], list[int]] = {}
        for i, op in enumerate(operations):
            if isinstance(op, _OPERATION_CLASSES):
                name = op.tag if isinstance(op, _TAG_OPERATIONS) else op.key
                touch = (op.customer_id, isinstance(op, _TAG_OPERATIONS), name)
                if touch in repeated:
                    touches.setdefault(touch, []).append(i)
        for (customer_id, _, _), indices in touches.items():
            attribute = cast(Operation, operations[indices[0]]).attribute
            problems.append(_contradiction(customer_id, attribute, indices, operations))
    return problems


def _contradiction(
    customer_id: int, attribute: str, indices: list[int], operations: Sequence[object]
) -> str:
    ops = [operations[i] for i in indices]
    where = (
        f"operations[{indices[0]}], "
        + ", ".join(f"[{i}]" for i in indices[1:])
        + f" (customer {customer_id}, {attribute})"
    )
    kinds = sorted({type(op).__name__ for op in ops}, key=KINDS.index)
    if all(op == ops[0] for op in ops):
        what = (
            "the same operation twice" if len(ops) == 2 else f"the same operation {len(ops)} times"
        )
        fix = "keep one of them"
    elif attribute.startswith("tag.") and kinds == ["AddTags", "RemoveTags"]:
        what = "AddTags and RemoveTags of the same tag contradict each other"
        fix = "keep one of them: the tag is either added or removed"
    else:
        what = (
            f"{len(ops)} operations on one key of one customer ({', '.join(kinds)}) "
            "contradict each other"
        )
        fix = "keep one operation per key and customer"
    return f"{where}: {what}. Fix: {fix}"


def check_operations(operations: Sequence[object]) -> None:
    """Raise one ``ValidationError`` listing every broken rule among ``operations``."""
    problems = operation_problems(operations)
    if problems:
        n = len(problems)
        head = f"{n} problem{'' if n == 1 else 's'} in the plan; nothing was planned"
        raise ValidationError(head + ":\n- " + "\n- ".join(problems))
