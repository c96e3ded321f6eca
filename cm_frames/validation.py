"""The wire rules, in one place: what the API accepts as a tag, a custom key and a typed value.

Three paths build requests, and each checks its input against these rules before anything is
sent: a diffed frame (``diff``/``_coerce``, vectorised over columns), a plan built by hand or
read from JSON (``Plan(...)``/``Plan.from_json``, through ``writeback.checks``), and the
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

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from cm_frames.schema import (
    CUSTOM_TYPES,
    INT64_MAX,
    INT64_MIN,
    MAX_KEY_LENGTH,
    MAX_STRING_LENGTH,
    MAX_TAG_LENGTH,
    is_custom_key,
)

__all__ = [
    "Rule",
    "is_text",
    "key_problem",
    "padded",
    "string_problem",
    "strings_too_long",
    "tag_problem",
    "value_problem",
]

BoolArray: TypeAlias = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Rule:
    """A broken rule: ``what`` is wrong and the ``fix`` (prose; callers add their own code).

    Parameters
    ----------
    what : str
        What is wrong, naming the value.
    fix : str
        How to make it right.

    Examples
    --------
    >>> tag_problem("").fix
    "give the tag a visible name such as 'vip'"
    """

    what: str
    fix: str


def is_text(value: str) -> bool:
    """Tell whether a str is Unicode text the API can carry as UTF-8 (no lone surrogates).

    Parameters
    ----------
    value : str
        The text.

    Returns
    -------
    bool
        False when it holds a lone surrogate (``"\\ud800"``), which UTF-8 cannot encode.

    Examples
    --------
    >>> is_text("café"), is_text("\\ud800")
    (True, False)
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def padded(name: str) -> bool:
    """Tell whether ``name`` starts or ends with whitespace (invisible in a column header).

    Parameters
    ----------
    name : str
        A tag name or custom key.

    Returns
    -------
    bool
        True when stripping whitespace would change it.

    Examples
    --------
    >>> padded(" vip"), padded("vip")
    (True, False)
    """
    return name != name.strip()


def key_problem(key: object) -> Rule | None:
    """Say what is wrong with a custom attribute key, or None when the API accepts it.

    Parameters
    ----------
    key : object
        The key, without the ``custom.`` prefix.

    Returns
    -------
    Rule or None
        The first rule it breaks (a str, not empty, no padding, ``[A-Za-z0-9_]``, at most
        ``MAX_KEY_LENGTH`` characters), or None.

    Examples
    --------
    >>> key_problem("seats") is None
    True
    >>> key_problem("lead score").what
    "the custom key 'lead score' is not made of letters, digits and underscores only"
    """
    if not isinstance(key, str):
        return Rule(f"the custom key {key!r} is not a str", "use a str key such as 'lead_score'")
    if not key:
        return Rule("the custom key is empty", "name the key, e.g. 'lead_score'")
    if padded(key):
        return Rule(
            f"the custom key {key!r} starts or ends with whitespace",
            f"remove the whitespace: {key.strip()!r}",
        )
    if not is_custom_key(key):
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
    """Say what is wrong with a tag name, or None when the API accepts it.

    Parameters
    ----------
    tag : object
        The tag name.

    Returns
    -------
    Rule or None
        The first rule it breaks (a str, not empty, text, not only whitespace, no padding,
        at most ``MAX_TAG_LENGTH`` characters), or None.

    Examples
    --------
    >>> tag_problem("vip") is None
    True
    >>> tag_problem(" vip").fix
    "remove the whitespace: 'vip'"
    """
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
    """Say what is wrong with a String value (text, length), or None.

    Parameters
    ----------
    value : str
        The value.

    Returns
    -------
    Rule or None
        The rule it breaks (Unicode text, at most ``MAX_STRING_LENGTH`` characters), or None.

    Examples
    --------
    >>> string_problem("x" * 256).what
    'the String value has 256 characters; Strings have at most 255'
    """
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


def value_problem(type_: str, value: object) -> Rule | None:
    """Say what is wrong with ``value`` as a custom attribute of ``type_``, or None.

    Parameters
    ----------
    type_ : str
        The custom type: ``"String"``, ``"Integer"``, ``"Timestamp"`` or ``"Boolean"``.
    value : object
        The value: a str, an int within signed 64-bit, a datetime with a time zone, a bool.

    Returns
    -------
    Rule or None
        The rule it breaks (an unknown type included), or None.

    Examples
    --------
    >>> value_problem("Integer", 5) is None
    True
    >>> value_problem("Integer", 2**63).fix
    'keep it within -9223372036854775808..9223372036854775807, or write it as a String'
    >>> value_problem("Boolean", "yes").what
    "the Boolean value 'yes' is not a bool"
    """
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


def strings_too_long(strings: pa.Array[Any]) -> BoolArray:
    """Find the values of a string array longer than a String may be (nulls: False).

    Parameters
    ----------
    strings : pyarrow.Array
        String values.

    Returns
    -------
    numpy.ndarray of bool
        True where a value has more than ``MAX_STRING_LENGTH`` characters.

    Examples
    --------
    >>> strings_too_long(pa.array(["a", "b" * 256, None]))
    array([False,  True, False])
    """
    lengths = (
        pc.utf8_length(cast(pa.StringArray, strings)).fill_null(0).to_numpy(zero_copy_only=False)
    )
    too_long: BoolArray = lengths > MAX_STRING_LENGTH
    return too_long
