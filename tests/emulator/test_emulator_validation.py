"""Custom attribute values: the type rules, and a property test of random bodies over HTTP.

Valid bodies round-trip typed (a GET returns each value normalised for its type);
invalid ones get a 400 naming the offending entry and change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cm_frames.emulator import Emulator
from cm_frames.emulator.problems import BadRequestBody
from cm_frames.emulator.validation import coerce_value

TRUE_STRINGS = ["TRUE", "true", "t", "1"]
FALSE_STRINGS = ["FALSE", "false", "f", "0"]
INT64 = (-(2**63), 2**63 - 1)
NORMALISED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


# --- the rules, directly ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "value", "stored"),
    [
        ("String", "", ""),
        ("String", "x" * 255, "x" * 255),
        ("Integer", 8, 8),
        ("Integer", "-12", -12),
        ("Integer", 8.0, 8),
        ("Integer", INT64[1], INT64[1]),
        ("Boolean", True, True),
        ("Boolean", "f", False),
        ("Boolean", 1, True),
        ("Timestamp", "2015-09-08", "2015-09-08T00:00:00Z"),
        ("Timestamp", "2015-06-09T13:16:00-04:00", "2015-06-09T17:16:00Z"),
        ("Timestamp", "2024-01-01T00:00:00.5+01:00", "2023-12-31T23:00:00.500000Z"),
    ],
)
def test_values_are_coerced_to_their_stored_form(type_name: str, value: Any, stored: Any) -> None:
    result = coerce_value(type_name, value, "custom[0].value")
    assert result == stored
    assert type(result) is type(stored)


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("String", "x" * 256),
        ("String", None),
        ("String", "\ud800"),
        ("Integer", INT64[1] + 1),
        ("Integer", "1e3"),
        ("Integer", "12 "),
        ("Integer", 1.5),
        ("Integer", False),
        ("Boolean", "yes"),
        ("Boolean", 2),
        ("Boolean", None),
        ("Timestamp", "2015-13-01"),
        ("Timestamp", "0001-01-01T00:00:00+01:00"),  # before year 1 in UTC
        ("Timestamp", 0),
    ],
)
def test_values_not_of_their_type_are_refused_naming_the_field(type_name: str, value: Any) -> None:
    with pytest.raises(BadRequestBody, match=r"^custom\[0\]\.value: "):
        coerce_value(type_name, value, "custom[0].value")


# --- the property test over HTTP -----------------------------------------------------------

keys = st.from_regex(r"[A-Za-z0-9_]{1,40}", fullmatch=True)
offsets = st.builds(
    timezone,
    st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
    ),
)
moments = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.none() | offsets
)
valid_values: dict[str, st.SearchStrategy[Any]] = {
    "String": st.text(st.characters(exclude_categories=["Cs"]), max_size=255),
    "Integer": st.integers(*INT64) | st.integers(*INT64).map(str),
    "Boolean": st.booleans() | st.sampled_from([*TRUE_STRINGS, *FALSE_STRINGS, 0, 1]),
    "Timestamp": moments.map(lambda moment: moment.isoformat(sep=st_sep(moment))),
}


def st_sep(moment: datetime) -> str:
    return " " if moment.second % 2 else "T"  # both separators are ISO 8601 forms Python reads


def is_iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


invalid_values: dict[str, st.SearchStrategy[Any]] = {
    "String": st.text(min_size=256, max_size=300) | st.integers() | st.none() | st.booleans(),
    "Integer": st.text().filter(lambda s: not re.fullmatch(r"-?[0-9]+", s))
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
    | st.booleans()
    | st.integers(min_value=INT64[1] + 1),
    "Boolean": st.text().filter(lambda s: s not in TRUE_STRINGS + FALSE_STRINGS)
    | st.integers().filter(lambda n: n not in (0, 1))
    | st.none(),
    "Timestamp": st.text().filter(lambda s: not is_iso(s)) | st.integers() | st.booleans(),
}


@st.composite
def valid_entries(draw: st.DrawFn) -> dict[str, Any]:
    type_name = draw(st.sampled_from(sorted(valid_values)))
    return {"type": type_name, "key": draw(keys), "value": draw(valid_values[type_name])}


@st.composite
def invalid_entries(draw: st.DrawFn) -> Any:
    entry = draw(valid_entries())
    flaw = draw(st.sampled_from(["value", "type", "key", "missing", "not an object"]))
    if flaw == "value":
        entry["value"] = draw(invalid_values[entry["type"]])
    elif flaw == "type":
        entry["type"] = draw(st.text().filter(lambda s: s not in valid_values) | st.none())
    elif flaw == "key":
        entry["key"] = draw(
            st.text().filter(lambda s: not re.fullmatch(r"[A-Za-z0-9_]{1,255}", s)) | st.integers()
        )
    elif flaw == "missing":
        del entry[draw(st.sampled_from(["type", "key", "value"]))]
    else:
        return draw(st.text() | st.integers() | st.lists(st.integers(), max_size=2))
    return entry


def expected_stored(entry: dict[str, Any]) -> Any:
    """What a GET must return for a valid entry, computed from the rules, not the code."""
    value = entry["value"]
    if entry["type"] == "Integer":
        return int(value)
    if entry["type"] == "Boolean":
        return value in (True, 1) or value in TRUE_STRINGS
    return value  # String as sent; Timestamp checked as an instant below


@pytest.fixture(scope="module")
def property_account(emulator_server: Emulator) -> Iterator[tuple[requests.Session, str]]:
    """An account of its own (3 customers), and the URL of one customer's custom attributes."""
    emulator_server.add_account("property-test", "property-secret", customers=3, seed=1)
    with requests.Session() as session:
        session.auth = ("property-test", "property-secret")
        customer = session.get(emulator_server.url + "customers").json()["entries"][0]
        yield session, emulator_server.url + f"customers/{customer['id']}/attributes/custom"
    emulator_server.remove_account("property-test")


def current_custom(session: requests.Session, url: str) -> dict[str, Any]:
    custom: dict[str, Any] = session.get(url.removesuffix("/custom")).json()["attributes"]["custom"]
    return custom


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entries=st.lists(valid_entries(), min_size=1, max_size=5))
def test_valid_custom_bodies_round_trip_typed(
    property_account: tuple[requests.Session, str], entries: list[dict[str, Any]]
) -> None:
    session, url = property_account
    response = session.post(url, json={"custom": entries})
    assert response.status_code == 200, response.text
    stored = current_custom(session, url)
    assert response.json() == {"custom": stored}
    final = {entry["key"]: entry for entry in entries}  # a repeated key: the last one wins
    for key, entry in final.items():
        if entry["type"] == "Timestamp":
            assert NORMALISED.fullmatch(stored[key])
            sent = datetime.fromisoformat(entry["value"])
            sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
            assert datetime.fromisoformat(stored[key]) == sent
        else:
            assert stored[key] == expected_stored(entry)
            assert type(stored[key]) is type(expected_stored(entry))
    # Each key keeps its type: a PUT of the value just read back is accepted unchanged.
    again = session.put(url, json={"custom": {key: stored[key] for key in final}})
    assert again.status_code == 200
    assert again.json() == {"custom": stored}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    before=st.lists(valid_entries(), max_size=3),
    bad=invalid_entries(),
    after=st.lists(valid_entries(), max_size=3),
)
def test_invalid_custom_bodies_are_400_and_change_nothing(
    property_account: tuple[requests.Session, str],
    before: list[dict[str, Any]],
    bad: Any,
    after: list[dict[str, Any]],
) -> None:
    session, url = property_account
    unchanged = current_custom(session, url)
    response = session.post(url, json={"custom": [*before, bad, *after]})
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(f"custom[{len(before)}]")
    assert current_custom(session, url) == unchanged
