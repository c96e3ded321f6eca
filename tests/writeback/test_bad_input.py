"""Edited frames of every bad kind, loaded from the emulator: a ValidationError or a correct plan.

Each category of issue 7 (wrong dtypes, NaN, inf, integers beyond the API, unicode and empty
keys, empty strings, thousands of tags, duplicate column names, a missing or duplicated index,
mixed types in one column) has its own edit strategy, applied to a frame really loaded over
HTTP. Every strategy knows what its edit must give: the columns and customers a rejection must
name, or exactly the changes a plan must hold (checked operation by operation against the
edited cells, and after ``push``/``apply`` against what the server then holds). Planning and a
rejected push send nothing: the emulator's request log stays empty.

``tests/writeback/test_plan_properties.py`` throws random values at ``diff`` on synthetic frames; this
module goes through the user's entry points (``df.chartmogul.plan()``, ``plan_frame``,
``push``, ``plan.apply``) on a loaded frame.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dialects import BOTH_DIALECTS, as_the_api_keeps
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from server_view import ApiSession

import cm_frames as cm
from cm_frames.emulator import Emulator
from cm_frames.schema import (
    INT64_MAX,
    INT64_MIN,
    MAX_STRING_LENGTH,
    is_custom_key,
    restore_index_advice,
)
from cm_frames.writeback.frame import plan_frame, push

REMOVED = "<removed>"  # expected value of a custom attribute the plan removes
Expected = dict[tuple[int, str], Any]  # (customer id, column) -> new value, True/False for tags

SURROGATES = ["\ud800", "x\udfff"]  # lone surrogates: str, but not Unicode text
# Text the API can carry: every code point but the surrogates.
TEXT = st.text(st.characters(codec="utf-8"), max_size=30)


@dataclass(frozen=True)
class Loaded:
    """A small emulator account, a client of it and every customer loaded through it."""

    emulator: Emulator
    client: cm.Client
    api: ApiSession
    df: pd.DataFrame
    types: dict[str, str]
    journals: Path
    mixed: frozenset[str]  # keys whose stored JSON values differ in type between customers
    counter: Iterator[int] = field(default_factory=itertools.count)

    def __repr__(self) -> str:
        return f"Loaded({len(self.df)} customers at {self.emulator.url})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    @property
    def ids(self) -> list[int]:
        return [int(i) for i in self.df.index]

    def keys(self, type_: str) -> list[str]:
        """Keys of that type (a key of mixed JSON types is a String key)."""
        return sorted(k for k, t in self.types.items() if t == type_)

    def journal(self) -> Path:
        return self.journals / f"journal-{next(self.counter)}.jsonl"


@pytest.fixture(scope="module")
def loaded_accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Loaded]]:
    """Per dialect, once in the module, on first use: its own small emulator account, loaded."""
    accounts: dict[str, Loaded] = {}
    with ExitStack() as stack:
        _OPEN.append((stack, tmp_path_factory, accounts))
        try:
            yield accounts
        finally:
            _OPEN.clear()
            _LOADED.clear()


def _load(dialect: str) -> Loaded:
    stack, tmp_path_factory, accounts = _OPEN[-1]
    root = tmp_path_factory.mktemp(f"bad_input_{dialect}")
    emulator = stack.enter_context(Emulator(customers=24, seed=11, dialect=dialect))
    client = stack.enter_context(emulator.client(cache_dir=root / "cache", rate_limit=None))
    api = stack.enter_context(ApiSession.of(emulator))
    df = cm.read_customers(client, progress=False)
    types = dict(df.attrs["chartmogul"]["custom_types"])
    (root / "journals").mkdir()
    raw = raw_customers(api)
    accounts[dialect] = Loaded(emulator, client, api, df, types, root / "journals", mixed_keys(raw))
    return accounts[dialect]


@pytest.fixture
def loaded(loaded_accounts: dict[str, Loaded], dialect: str) -> Loaded:
    """The loaded account of ``dialect``; the strategies draw from it (``current()``)."""
    account = loaded_accounts.get(dialect) or _load(dialect)
    _LOADED[:] = [account]
    return account


def raw_customers(api: ApiSession) -> list[dict[str, Any]]:
    """Every customer as the API returns it."""
    return api.customers()


def mixed_keys(customers: list[dict[str, Any]]) -> frozenset[str]:
    kinds: dict[str, set[type]] = {}
    for customer in customers:
        for key, value in customer["attributes"]["custom"].items():
            kinds.setdefault(key, set()).add(type(value))
    return frozenset(key for key, types in kinds.items() if len(types) > 1)


# The strategies need the loaded frame, which exists only once the fixture ran: they are built
# on first draw from here (st.deferred), so @example can name a case before anything is loaded.
_LOADED: list[Loaded] = []
_OPEN: list[tuple[ExitStack, pytest.TempPathFactory, dict[str, Loaded]]] = []


def current() -> Loaded:
    assert _LOADED, "the module fixture 'loaded' must run first"
    return _LOADED[-1]


@dataclass
class Case:
    """An edited frame and what it must give: a rejection naming things, or exact changes."""

    category: str
    edited: pd.DataFrame
    reject: bool
    names: tuple[str, ...] = ()  # a rejection names one of these columns (or '<index>')
    customers: tuple[int, ...] = ()  # ... and, when given, one of these customers
    expected: Expected = field(default_factory=dict)
    dropped: int = 0
    added: int = 0

    def __repr__(self) -> str:  # the frame itself would be a 100 kB falsifying example
        outcome = (
            f"reject naming {self.names} / {self.customers}"
            if self.reject
            else (f"{len(self.expected)} changes")
        )
        return f"Case({self.category}: {outcome}; frame {self.edited.shape})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how Hypothesis prints it
        printer.text(repr(self))


# --- helpers ---------------------------------------------------------------------------------


def cell(value: Any) -> Any:
    """A frame cell as a plain Python value (None for any kind of missing)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def column_with(
    frame: pd.DataFrame, column: str, changes: dict[int, Any], dtype: Any = object
) -> pd.Series:
    """``column`` with some customers' cells replaced (a new column: all None elsewhere)."""
    old = frame[column] if column in frame.columns else None
    values = [
        changes[i] if i in changes else (None if old is None else cell(old[i])) for i in frame.index
    ]
    return pd.Series(values, frame.index, dtype=dtype)


def tags_of(lf: Loaded, customer: int) -> list[str]:
    tags: Any = lf.df.at[customer, "tags"]
    return [str(tag) for tag in tags]


def some(ids: list[int], max_size: int = 4, min_size: int = 1) -> st.SearchStrategy[list[int]]:
    return st.lists(st.sampled_from(ids), min_size=min_size, max_size=max_size, unique=True)


def baseline_value(lf: Loaded, customer: int, column: str) -> Any:
    return cell(lf.df.at[customer, column]) if column in lf.df.columns else None


def changes_from(lf: Loaded, column: str, new: dict[int, Any]) -> Expected:
    """The expected changes of setting ``new`` cells: only the ones that differ, typed."""
    expected: Expected = {}
    for customer, value in new.items():
        old = baseline_value(lf, customer, column)
        if value is None:
            if old is not None:
                expected[customer, column] = REMOVED
        elif old is None or type(old) is not type(value) or old != value:
            expected[customer, column] = value
    return expected


def object_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with an object column index: the only kind that can hold any str label."""
    frame = frame.copy()
    frame.columns = pd.Index(list(frame.columns), dtype=object)
    return frame


_CUSTOMER_LIST = re.compile(r"customers? ((?:\d+)(?:, \d+)*)")


def mentioned_customers(message: str) -> set[int]:
    """Customer ids the message names (``customer 7``, ``customers 1, 2, 3 and 9 more``)."""
    return {int(n) for found in _CUSTOMER_LIST.findall(message) for n in found.split(", ")}


# --- one strategy per category of bad input --------------------------------------------------


@st.composite
def nan_values(draw: st.DrawFn, lf: Loaded) -> Case:
    """NaN (the float NA) in an Integer column made float64, or in a String object column."""
    key = draw(st.sampled_from(lf.keys("Integer") + lf.keys("String")))
    column, who = f"custom.{key}", draw(some(lf.ids))
    edited = lf.df.copy()
    dtype = "float64" if lf.types[key] == "Integer" else object
    edited[column] = column_with(lf.df, column, dict.fromkeys(who, np.nan), dtype)
    return Case("NaN", edited, False, expected=changes_from(lf, column, dict.fromkeys(who)))


@st.composite
def infinities(draw: st.DrawFn, lf: Loaded) -> Case:
    column = "custom." + draw(st.sampled_from(lf.keys("Integer")))
    who = draw(some(lf.ids))
    value = draw(st.sampled_from([np.inf, -np.inf]))
    edited = lf.df.copy()
    edited[column] = column_with(lf.df, column, dict.fromkeys(who, value), "float64")
    return Case("inf", edited, True, (column,), tuple(who))


@st.composite
def large_integers(draw: st.DrawFn, lf: Loaded) -> Case:
    """Integers beyond signed 64-bit (refused), or exactly at its limits (planned)."""
    column = "custom." + draw(st.sampled_from([*lf.keys("Integer"), "fresh_int"]))
    who = draw(some(lf.ids))
    value = draw(
        st.one_of(
            st.integers(INT64_MAX + 1, 2**80),
            st.integers(-(2**80), INT64_MIN - 1),
            st.sampled_from([INT64_MAX, INT64_MIN, INT64_MAX + 1, 2**64 - 1]),
        )
    )
    edited = lf.df.copy()
    beyond = not INT64_MIN <= value <= INT64_MAX
    as_uint64 = beyond and 0 < value < 2**64 and draw(st.booleans())
    if as_uint64:  # a uint64 column: every cell needs a value, so the others get 0
        edited[column] = pd.Series(
            [value if i in who else 0 for i in lf.ids], edited.index, "uint64"
        )
    else:
        edited[column] = column_with(lf.df, column, dict.fromkeys(who, value))
    if beyond:
        event(f"beyond int64 ({'uint64' if as_uint64 else 'object'} column)")
        return Case("large integer", edited, True, (column,), tuple(who))
    return Case(
        "large integer", edited, False, expected=changes_from(lf, column, dict.fromkeys(who, value))
    )


def _wrong_dtypes(lf: Loaded) -> dict[str, tuple[str, Callable[[pd.Series], pd.Series], bool]]:
    """name -> (key type or 'tag', conversion of the column, whether the planner must refuse)."""
    return {
        "tag as int": ("tag", lambda s: s.astype("int64"), True),
        "tag as float": ("tag", lambda s: s.astype("float64"), True),
        "tag as text": ("tag", lambda s: s.astype("str"), True),
        "tag as categorical": ("tag", lambda s: s.astype("category"), True),
        "Boolean as ints": ("Boolean", lambda s: s.astype("Int64"), True),
        "Timestamp as ISO text": ("Timestamp", lambda s: s.dt.strftime("%Y-%m-%dT%H:%M:%SZ"), True),
        "Integer as text": ("Integer", lambda s: s.astype("string[pyarrow]"), True),
        "String as ints": ("String", lambda s: s.isna().astype("int64").where(s.notna()), True),
        # Conversions that keep every value: nothing to write.
        "Integer as float64": ("Integer", lambda s: s.astype("float64"), False),
        "Integer as Int64": ("Integer", lambda s: s.astype("Int64"), False),
        "Integer as object": ("Integer", lambda s: s.astype(object), False),
        "Boolean as boolean": ("Boolean", lambda s: s.astype("boolean"), False),
        "String as categorical": ("String", lambda s: s.astype("category"), False),
        "String as object": ("String", lambda s: s.astype(object), False),
        "Timestamp in Tokyo": ("Timestamp", lambda s: s.dt.tz_convert("Asia/Tokyo"), False),
        "Timestamp naive": ("Timestamp", lambda s: s.dt.tz_localize(None), False),
        "Timestamp datetime64[ns]": ("Timestamp", lambda s: s.astype("datetime64[ns, UTC]"), False),
        "tag as numpy bool": ("tag", lambda s: s.astype(bool), False),
    }


@st.composite
def wrong_dtypes(draw: st.DrawFn, lf: Loaded) -> Case:
    conversions = _wrong_dtypes(lf)
    name = draw(st.sampled_from(sorted(conversions)))
    kind, convert, refused = conversions[name]
    if kind == "tag":
        column = draw(st.sampled_from([c for c in lf.df.columns if c.startswith("tag.")]))
    else:
        column = "custom." + draw(st.sampled_from(lf.keys(kind)))
    edited = lf.df.copy()
    edited[column] = convert(edited[column])
    event(f"dtype: {name}")
    return Case("wrong dtype", edited, refused, (column,))


KEY_NAMES = st.one_of(
    st.from_regex(r"[A-Za-z0-9_]{1,30}", fullmatch=True),
    st.text(max_size=30),
    st.sampled_from(["", "a-b", "a b", "ünï", "日本", "a" * 255, "a" * 256, "é_1", *SURROGATES]),
)


@st.composite
def custom_keys(draw: st.DrawFn, lf: Loaded) -> Case:
    """A new custom.<key> column: unicode, empty, punctuated, too long or a fine key."""
    key = draw(KEY_NAMES.filter(lambda k: f"custom.{k}" not in lf.df.columns))
    column, who = f"custom.{key}", draw(some(lf.ids))
    value = draw(st.one_of(st.integers(INT64_MIN, INT64_MAX), TEXT.filter(bool)))
    edited = object_columns(lf.df)  # a surrogate label fits only there
    edited[column] = column_with(edited, column, dict.fromkeys(who, value))
    valid = is_custom_key(key) and len(key) <= MAX_STRING_LENGTH
    event(f"custom key {'accepted' if valid else 'refused'}")
    if valid:
        return Case(
            "custom key",
            edited,
            False,
            expected=changes_from(lf, column, dict.fromkeys(who, value)),
        )
    return Case("custom key", edited, True, (column,), tuple(who))


TAG_NAMES = st.one_of(
    TEXT,
    st.sampled_from(
        ["", " ", "\t", "é", "日本", "a b", " padded ", "x" * 255, "x" * 256, *SURROGATES]
    ),
)


def is_text(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def valid_tag(name: str) -> bool:
    # Leading or trailing whitespace is refused too: "tag.hot " would create the tag 'hot '.
    return (
        0 < len(name) <= MAX_STRING_LENGTH and name == name.strip() and bool(name) and is_text(name)
    )


@st.composite
def tag_names(draw: st.DrawFn, lf: Loaded) -> Case:
    """A new tag with any name, added through a tag.<name> column or the tags lists."""
    name = draw(TAG_NAMES.filter(lambda n: f"tag.{n}" not in lf.df.columns))
    column, who = f"tag.{name}", draw(some(lf.ids))
    by_list = draw(st.booleans())
    edited = object_columns(lf.df)
    if by_list:
        edited["tags"] = column_with(lf.df, "tags", {i: [*tags_of(lf, i), name] for i in who})
    else:
        edited[column] = pd.Series([i in who for i in lf.ids], edited.index, "bool")
    valid = valid_tag(name)
    event(f"tag name {'accepted' if valid else 'refused'} ({'list' if by_list else 'column'})")
    if valid:
        return Case("tag name", edited, False, expected={(i, column): True for i in who})
    # A label that is not text is refused as a name, before any customer is looked at.
    customers = () if not is_text(name) and not by_list else tuple(who)
    return Case("tag name", edited, True, (column, "tags"), customers)


@st.composite
def empty_strings(draw: st.DrawFn, lf: Loaded) -> Case:
    """ "" as a String value (fine), as a tag in the lists or as a tag column (refused)."""
    where = draw(st.sampled_from(["String value", "new String key", "tags list", "tag column"]))
    who = draw(some(lf.ids))
    edited = lf.df.copy()
    event(f"empty string: {where}")
    if where == "tags list":
        edited["tags"] = column_with(lf.df, "tags", {i: [*tags_of(lf, i), ""] for i in who})
        return Case("empty string", edited, True, ("tag.", "tags"), tuple(who))
    if where == "tag column":
        edited["tag."] = pd.Series([i in who for i in lf.ids], edited.index, "bool")
        return Case("empty string", edited, True, ("tag.",), tuple(who))
    key = draw(st.sampled_from(lf.keys("String"))) if where == "String value" else "fresh_text"
    column = f"custom.{key}"
    dtype = draw(st.sampled_from([object, "str", pd.ArrowDtype(pa.string())]))
    edited[column] = column_with(lf.df, column, dict.fromkeys(who, ""), dtype)
    return Case(
        "empty string", edited, False, expected=changes_from(lf, column, dict.fromkeys(who, ""))
    )


@st.composite
def thousands_of_tags(draw: st.DrawFn, lf: Loaded) -> Case:
    """Thousands of new tags on a few customers, as tag columns or in the tags lists."""
    by_list = draw(st.booleans())
    count = draw(st.integers(1000, 3000 if by_list else 1500))
    who = draw(some(lf.ids, max_size=2))
    names = [f"bulk_{n:04d}" for n in range(count)]
    edited = lf.df.copy()
    if by_list:
        edited["tags"] = column_with(lf.df, "tags", {i: [*tags_of(lf, i), *names] for i in who})
    else:
        flags = pd.Series([i in who for i in lf.ids], edited.index, pd.ArrowDtype(pa.bool_()))
        # assign, not pd.concat: concat drops df.attrs (the frame's provenance) unless every
        # input carries the same attrs, and the plan then asks for the baseline explicitly.
        edited = edited.assign(**{f"tag.{n}": flags for n in names})
    event(f"thousands of tags ({'list' if by_list else 'columns'})")
    return Case(
        "many tags", edited, False, expected={(i, f"tag.{n}"): True for i in who for n in names}
    )


@st.composite
def duplicate_columns(draw: st.DrawFn, lf: Loaded) -> Case:
    column = draw(st.sampled_from(list(lf.df.columns)))
    edited = pd.concat([lf.df, lf.df[[column]]], axis=1)
    return Case("duplicate column", edited, True, (column,))


@st.composite
def broken_index(draw: st.DrawFn, lf: Loaded) -> Case:
    """The index lost, renamed, repeated, retyped; or rows dropped and added (ignored)."""
    variant = draw(
        st.sampled_from(
            [
                "reset",
                "drop",
                "renamed",
                "repeated",
                "float",
                "NaN",
                "text",
                "rows dropped",
                "row added",
            ]
        )
    )
    event(f"index: {variant}")
    df = lf.df
    if variant == "rows dropped":
        gone = draw(some(lf.ids))
        return Case("index", df.drop(index=gone), False, dropped=len(gone))
    if variant == "row added":
        extra = df.iloc[[0]].rename(index={df.index[0]: max(lf.ids) + 1000})
        return Case("index", pd.concat([df, extra]), False, added=1)
    if variant == "repeated":
        twice = draw(some(lf.ids, max_size=2))
        return Case("index", pd.concat([df, df.loc[twice]]), True, ("<index>",), tuple(twice))
    edited = {
        "reset": lambda: df.reset_index(),
        "drop": lambda: df.reset_index(drop=True),
        "renamed": lambda: df.rename_axis("customer"),
        "float": lambda: df.set_axis(df.index.astype("float64")),
        "NaN": lambda: df.set_axis(pd.Index([np.nan, *lf.ids[1:]], name="id")),
        "text": lambda: df.set_axis(pd.Index([str(i) for i in lf.ids], name="id")),
    }[variant]()
    return Case("index", edited, True, ("<index>",))


MIXED_PAIRS = [
    (5, "five"),
    (True, 3),
    (datetime(2024, 1, 1, tzinfo=UTC), "x"),
    (1, 2.5),
    ("a", 1.0),
    (1, [1]),
    (1, b"bytes"),
    (True, "true"),
    (pd.Timestamp("2024-01-01", tz="UTC"), 7),
]


@st.composite
def mixed_types(draw: st.DrawFn, lf: Loaded) -> Case:
    first, second = draw(st.sampled_from(MIXED_PAIRS))
    key = draw(st.sampled_from(["fresh_mix", *lf.keys("Integer"), *lf.keys("String")]))
    column = f"custom.{key}"
    who = draw(some(lf.ids, max_size=6, min_size=2))
    split = len(who) // 2
    changes = {**dict.fromkeys(who[:split], first), **dict.fromkeys(who[split:], second)}
    edited = lf.df.copy()
    edited[column] = column_with(lf.df, column, changes)
    event(f"mixed: {type(first).__name__} + {type(second).__name__}")
    return Case("mixed types", edited, True, (column,), tuple(who))


@st.composite
def typed_edits(draw: st.DrawFn, lf: Loaded) -> Case:
    """Ordinary edits of every kind (the plan must hold exactly them)."""
    edited, expected = lf.df.copy(), Expected()
    values = {
        "Integer": st.integers(INT64_MIN, INT64_MAX),
        "Boolean": st.booleans(),
        "Timestamp": st.datetimes(
            datetime(1900, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC)
        ).map(lambda moment: as_the_api_keeps(moment, lf.api.dialect)),
        "String": TEXT,
    }
    for type_ in draw(
        st.lists(st.sampled_from(sorted(values)), min_size=1, max_size=3, unique=True)
    ):
        column = "custom." + draw(st.sampled_from(lf.keys(type_)))
        new = {i: draw(st.none() | values[type_]) for i in draw(some(lf.ids))}
        edited[column] = column_with(lf.df, column, new, lf.df[column].dtype)
        expected |= changes_from(lf, column, new)
    tag = draw(st.sampled_from([c for c in lf.df.columns if c.startswith("tag.")]))
    flipped = draw(st.lists(st.sampled_from(lf.ids), max_size=3, unique=True))
    edited[tag] = pd.Series(
        [bool(lf.df.at[i, tag]) != (i in flipped) for i in lf.ids],
        edited.index,
        pd.ArrowDtype(pa.bool_()),
    )
    expected |= {(i, tag): not bool(lf.df.at[i, tag]) for i in flipped}
    return Case("typed edits", edited, False, expected=expected)


@st.composite
def read_only_edits(draw: st.DrawFn, lf: Loaded) -> Case:
    column = draw(
        st.sampled_from(["name", "email", "external_id", "clearbit.name", "address.city", "notes"])
    )
    who = draw(some(lf.ids))
    edited = lf.df.copy()
    edited[column] = column_with(lf.df, column, dict.fromkeys(who, "edited by hand"))
    if column in ("email", "external_id"):
        # Identity columns: a difference means the row is not the customer its id names.
        return Case("identity edited", edited, True, (column,), tuple(who))
    return Case("read-only", edited, False)


@st.composite
def moved_rows(draw: st.DrawFn, lf: Loaded) -> Case:
    """Rows moved under other ids: shifted, scrambled, or the index lost and renamed."""
    how = draw(st.sampled_from(["shifted", "scrambled", "positions named id"]))
    event(f"moved rows: {how}")
    edited = lf.df.copy()
    if how == "shifted":
        edited.index = edited.index + draw(st.sampled_from([1, -1, 7]))
    elif how == "scrambled":
        order = draw(st.permutations(list(range(len(lf.ids)))).filter(lambda p: p != sorted(p)))
        edited.index = pd.Index([lf.ids[i] for i in order], name="id")
    else:
        edited = edited.reset_index(drop=True).rename_axis("id")
        if not set(edited.index) & set(lf.ids):
            return Case("moved rows", edited, False, dropped=len(lf.ids), added=len(lf.ids))
    return Case("moved rows", edited, True, ("uuid / email / external_id",))


PREFIX_TYPOS = [
    "Custom.",
    "CUSTOM.",
    "custom_",
    "cusotm.",
    "Tag.",
    "TAG.",
    "tags.",
    "tag_",
    " tag.",
]


@st.composite
def prefix_typos(draw: st.DrawFn, lf: Loaded) -> Case:
    """A new column meant as custom.<key> or tag.<name> but misspelt: refused, never skipped."""
    prefix = draw(st.sampled_from(PREFIX_TYPOS))
    column = prefix + draw(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True))
    edited = lf.df.copy()
    edited[column] = pd.Series([True] * len(lf.ids), edited.index, "bool")
    return Case("prefix typo", edited, True, (column,))


@st.composite
def na_in_tag_columns(draw: st.DrawFn, lf: Loaded) -> Case:
    """NA in a tag column, new (from .loc or all None) or existing: one rule, refused."""
    new = draw(st.booleans())
    column = (
        "tag.fresh_na"
        if new
        else draw(st.sampled_from([c for c in lf.df.columns if c.startswith("tag.")]))
    )
    who = draw(some(lf.ids))
    edited = lf.df.copy()
    if new:
        edited.loc[who, column] = True  # NA on every other row
        holes = [i for i in lf.ids if i not in who]
        if not holes:
            return Case("NA in tags", edited, False, expected={(i, column): True for i in who})
    else:
        edited[column] = edited[column].astype(object)
        edited.loc[who, column] = None
        holes = who
    return Case("NA in tags", edited, True, (column,), tuple(holes))


CATEGORIES = [
    nan_values,
    infinities,
    large_integers,
    wrong_dtypes,
    custom_keys,
    tag_names,
    empty_strings,
    thousands_of_tags,
    duplicate_columns,
    broken_index,
    mixed_types,
    typed_edits,
    read_only_edits,
    moved_rows,
    prefix_typos,
    na_in_tag_columns,
]


@st.composite
def cases(draw: st.DrawFn, lf: Loaded) -> Case:
    # Each category as likely as the others (one_of would favour the first while shrinking).
    case = draw(draw(st.sampled_from(CATEGORIES))(lf))
    event(f"category: {case.category}")
    structural = case.category in ("index", "duplicate column", "moved rows")
    if case.reject and not structural and draw(st.booleans()):
        # A valid edit beside the bad one: still nothing may be planned or sent.
        tag = draw(
            st.sampled_from(
                [c for c in lf.df.columns if c.startswith("tag.") and c not in case.names]
            )
        )
        flipped = draw(st.sampled_from(lf.ids))
        flags = [bool(lf.df.at[i, tag]) != (i == flipped) for i in case.edited.index]
        case.edited[tag] = pd.Series(flags, case.edited.index, pd.ArrowDtype(pa.bool_()))
    return case


@st.composite
def _cases_of_the_loaded_account(draw: st.DrawFn) -> Case:
    # Drawn from the account loaded for the running test's dialect (each has its own frame).
    return draw(cases(current()))


CASES = _cases_of_the_loaded_account()


def _surrogate_value(lf: Loaded) -> Case:
    edited = lf.df.copy()
    edited["custom.fresh"] = column_with(lf.df, "custom.fresh", {lf.ids[0]: "\ud800"})
    return Case("regression", edited, True, ("custom.fresh",), (lf.ids[0],))


def _surrogate_in_tag_lists(lf: Loaded) -> Case:
    edited = lf.df.copy()
    edited["tags"] = column_with(lf.df, "tags", {lf.ids[1]: ["ok", "x\udfff"]})
    return Case("regression", edited, True, ("tags",), (lf.ids[1],))


def _surrogate_tag_label(lf: Loaded) -> Case:
    edited = object_columns(lf.df)
    edited["tag.\udfff"] = pd.Series([i == lf.ids[2] for i in lf.ids], edited.index, "bool")
    return Case("regression", edited, True, ("tag.\udfff",))


def _long_key(lf: Loaded) -> Case:
    column = "custom." + "k" * 256
    edited = lf.df.copy()
    edited[column] = column_with(lf.df, column, {lf.ids[0]: 1})
    return Case("regression", edited, True, (column,), (lf.ids[0],))


def _blank_tag(lf: Loaded) -> Case:
    edited = lf.df.copy()
    edited["tag. "] = pd.Series([i == lf.ids[3] for i in lf.ids], edited.index, "bool")
    return Case("regression", edited, True, ("tag. ",), (lf.ids[3],))


# Inputs that once escaped as UnicodeEncodeError from Arrow (lone surrogates), or made plans
# that the client or the API refuse halfway through apply (a 256-character key, a blank tag).
REGRESSIONS: dict[str, Callable[[Loaded], Case]] = {
    "lone surrogate in a String value": _surrogate_value,
    "lone surrogate in the tags lists": _surrogate_in_tag_lists,
    "lone surrogate as a tag column label": _surrogate_tag_label,
    "custom key of 256 characters": _long_key,
    "whitespace-only tag": _blank_tag,
}


def resolve(case: Case | str, lf: Loaded) -> Case:
    """A drawn case, or a regression example given by name."""
    return REGRESSIONS[case](lf) if isinstance(case, str) else case


def regression_examples(**fixed: Any) -> Callable[[Any], Any]:
    def decorate(test: Any) -> Any:
        for name in reversed(REGRESSIONS):
            test = example(case=name, **fixed)(test)
        return test

    return decorate


# --- what a plan or a rejection must be ------------------------------------------------------


def planned_changes(plan: cm.Plan) -> Expected:
    changes: Expected = {}
    for op in plan:
        value: Any = {
            "AddTags": True,
            "RemoveTags": False,
            "RemoveCustom": REMOVED,
        }.get(op.kind)
        if value is None:
            value = op.value if isinstance(op, cm.AddCustom) else op.new  # type: ignore[attr-defined]
        changes[op.customer_id, op.attribute] = value
    return changes


def assert_correct_plan(plan: cm.Plan, case: Case, lf: Loaded) -> None:
    assert not case.reject, (
        f"{case.category}: expected a ValidationError, got a plan of {len(plan)}"
    )
    got = planned_changes(plan)
    assert got.keys() == case.expected.keys()
    for where, value in case.expected.items():
        assert got[where] == value, where
        assert type(got[where]) is type(value), where
    for op in plan:  # kinds and old values follow the baseline
        old = baseline_value(lf, op.customer_id, op.attribute)
        if isinstance(op, cm.AddTags | cm.RemoveTags):
            assert bool(old) is isinstance(op, cm.RemoveTags)
        elif isinstance(op, cm.AddCustom):
            assert old is None
        else:
            assert op.old == old  # type: ignore[attr-defined]
            assert type(op.old) is type(old)  # type: ignore[attr-defined]
    assert (plan.ignored_rows.dropped, plan.ignored_rows.added) == (case.dropped, case.added)


def assert_named_rejection(error: cm.ValidationError, case: Case) -> None:
    message = str(error)
    assert case.reject, f"{case.category}: unexpected ValidationError: {message}"
    assert any(repr(name) in message for name in case.names), (case.names, message)
    if case.customers:
        assert mentioned_customers(message) & set(case.customers), (case.customers, message)
    assert "Fix:" in message


def plan_through(route: str, case: Case, lf: Loaded) -> cm.Plan:
    if route == "accessor":
        if case.edited.index.name != "id":
            # pandas' rule for accessors: a frame that is not a customer frame is refused on
            # access (AttributeError), with the way back in the message; planning it directly
            # is then a ValidationError like every other bad input.
            assert case.reject
            assert case.names == ("<index>",)
            advice = restore_index_advice(case.edited.columns)  # set_index, or via the uuids
            with pytest.raises(AttributeError, match=re.escape(advice)):
                _ = case.edited.chartmogul
            return plan_frame(case.edited)
        planned: cm.Plan = case.edited.chartmogul.plan()
        return planned
    if route == "push (dry run)":
        dry_run = push(case.edited, lf.client)
        assert isinstance(dry_run, cm.Plan)
        return dry_run
    return plan_frame(case.edited)


# One dialect only: planning never reaches the server (the test checks that nothing is sent)
# and reads nothing of the dialect but the frame's source, while its 300 examples take about
# 90 s; the tests below, which send, run against both.
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # ``loaded``: the same account for every example
    ],
)
@given(case=CASES, route=st.sampled_from(["accessor", "plan_frame", "push (dry run)"]))
@regression_examples(route="accessor")
def test_every_bad_edit_is_a_named_validation_error_or_a_correct_plan_and_sends_nothing(
    loaded: Loaded, case: Case | str, route: str
) -> None:
    case = resolve(case, loaded)
    loaded.emulator.clear_request_log()
    try:
        plan = plan_through(route, case, loaded)
    except cm.ValidationError as error:
        assert_named_rejection(error, case)
    else:
        assert_correct_plan(plan, case, loaded)
    assert loaded.emulator.request_log() == []


# --- push and apply --------------------------------------------------------------------------


def server_holds(lf: Loaded, expected: Expected) -> None:
    """The server has every expected change (read back over plain HTTP, not through the client)."""
    customers = {customer for customer, _ in expected}
    current = {customer: lf.api.attributes(customer) for customer in customers}
    for (customer, column), value in expected.items():
        attributes = current[customer]
        if column.startswith("tag."):
            assert (column[4:] in attributes["tags"]) is value, (customer, column)
            continue
        key = column.removeprefix("custom.")
        if value == REMOVED:
            assert key not in attributes["custom"], (customer, column)
        elif isinstance(value, datetime):
            stored = datetime.fromisoformat(attributes["custom"][key])
            value = as_the_api_keeps(value, lf.api.dialect)  # today's API keeps milliseconds
            assert stored == value, (customer, column, stored, value)
        else:
            stored = attributes["custom"][key]
            assert stored == value, (customer, column)
            assert type(stored) is type(value), (customer, column)


@BOTH_DIALECTS
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # ``loaded``: the same account for every example
    ],
)
@given(case=CASES, through=st.sampled_from(["df.chartmogul.push", "plan.apply"]))
@regression_examples(through="df.chartmogul.push")
def test_push_applies_exactly_a_valid_plan_and_sends_nothing_for_a_rejected_one(
    loaded: Loaded, case: Case | str, through: str
) -> None:
    case = resolve(case, loaded)
    loaded.emulator.clear_request_log()
    options: dict[str, Any] = {"journal": loaded.journal(), "progress": False}
    result: Any
    try:
        if through == "plan.apply":
            plan = plan_frame(case.edited)
            result = plan.apply(loaded.client, **options)
        else:
            # The accessor refuses frames without the 'id' index (see plan_through): push those
            # through the function it delegates to.
            pushing = case.edited.chartmogul.push if case.edited.index.name == "id" else None
            if pushing is None:
                result = push(case.edited, loaded.client, dry_run=False, **options)
            else:
                result = pushing(loaded.client, dry_run=False, **options)
            plan = result.plan
    except cm.ValidationError as error:
        assert_named_rejection(error, case)
        assert loaded.emulator.request_log() == []
        event("push: refused, nothing sent")
        return
    event(f"push: {'empty plan' if plan.is_empty else 'applied'}")
    try:
        assert_correct_plan(plan, case, loaded)
        assert result.ok, result.summary_lines()
        assert result.applied == len(plan)
        if plan.is_empty:
            assert loaded.emulator.request_log() == []
        else:
            server_holds(loaded, case.expected)
    finally:
        # Back to the loaded state for the next example (the frame's snapshot stays the baseline).
        loaded.emulator.reset()
        loaded.client.cache_clear()


@BOTH_DIALECTS
@pytest.mark.parametrize("check_conflicts", [True, False])
def test_text_onto_a_mixed_keys_integer_is_stored_as_the_string_the_frame_shows(
    loaded: Loaded, check_conflicts: bool
) -> None:
    """A key of mixed JSON types reads as String, but PUT keeps each customer's stored type.

    Apply sees the stored Integer in its read before writing (made with and without the
    conflict check) and sends that update as a typed POST (String), so the server ends up
    holding what the frame shows; undo restores the text the frame showed before.
    """
    stored = {
        (customer["id"], key): value
        for customer in raw_customers(loaded.api)
        for key, value in customer["attributes"]["custom"].items()
        if key in loaded.mixed
    }
    (customer, key), number = next(
        (where, value) for where, value in stored.items() if type(value) is int
    )
    column = f"custom.{key}"
    assert loaded.types[key] == "String"
    try:
        edited = loaded.df.copy()
        edited[column] = column_with(loaded.df, column, {customer: "edited"}, edited[column].dtype)
        loaded.emulator.clear_request_log()
        result = push(
            edited,
            loaded.client,
            dry_run=False,
            journal=loaded.journal(),
            check_conflicts=check_conflicts,
            progress=False,
        )
        assert isinstance(result, cm.ApplyResult)
        assert result.ok, result.summary_lines()
        assert result.applied == 1
        writes = [e for e in loaded.emulator.request_log() if e["method"] != "GET"]
        assert [(e["method"], e["status"], e["body"]) for e in writes] == [
            ("POST", 200, {"custom": [{"type": "String", "key": key, "value": "edited"}]})
        ]
        server_holds(loaded, {(customer, column): "edited"})

        undone = result.undo(loaded.client, check_conflicts=check_conflicts, progress=False)
        assert undone.ok, undone.summary_lines()
        reloaded = cm.read_customers(loaded.client, refresh=True, progress=False)
        assert reloaded.at[customer, column] == str(number)
    finally:
        loaded.emulator.reset()
        loaded.client.cache_clear()
