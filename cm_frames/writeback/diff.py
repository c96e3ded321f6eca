"""``diff(edited, baseline)``: the pure, vectorised comparison behind write-back.

Per writable column it turns whatever dtype the user produced into one canonical Arrow array
(int64, bool, timestamp[us, UTC] or string: ``cm_frames.writeback.coerce``), compares whole
arrays, and only then builds rows for the cells that changed (``_change_table``: one columnar
``Changes`` table, no object per cell). Every problem found is collected and raised together
as one ``ValidationError`` before a plan exists, so nothing is ever sent from a half-valid frame.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cm_frames.errors import ValidationError
from cm_frames.schema import (
    CUSTOM_ARROW_TYPES,
    CUSTOM_PREFIX,
    CUSTOM_TYPES,
    INDEX_NAME,
    TAG_PREFIX,
    CustomType,
    null_array,
)
from cm_frames.validation import is_text, key_problem, padded, tag_problem
from cm_frames.writeback.changes import Changes
from cm_frames.writeback.coerce import (
    CAST_FIX,
    ColumnValues,
    Problems,
    coerce_custom,
    coerce_tag_flags,
    coerce_tag_lists,
    column_values,
    is_missing,
    not_text,
)
from cm_frames.writeback.operations import (
    AddCustom,
    AddTags,
    RemoveCustom,
    RemoveTags,
    UpdateCustom,
)
from cm_frames.writeback.plan import IgnoredRows, Plan, SkippedEdit

__all__ = ["diff"]

BoolArray: TypeAlias = npt.NDArray[np.bool_]
IntArray: TypeAlias = npt.NDArray[np.int64]

TAGS_COLUMN = "tags"
# Who a row is: read-only, and a row whose values here differ from the baseline's for its id is
# not the customer the id names (rows moved under other ids, or identity edited by hand).
IDENTITY_COLUMNS = ("uuid", "email", "external_id")
# Puts each row back under the id its uuid has in the frame as loaded (``df``); works whether
# the index was lost (reset_index(drop=True)), renamed, retyped or shifted.
REALIGN = (
    "`edited.index = pd.Index(edited['uuid'].map(pd.Series(df.index, index=df['uuid'])), "
    "dtype='int64', name='id')`"
)
_AS_LOADED = "with df the frame as read_customers returned it"
_ADD_TAGS, _REMOVE_TAGS = AddTags.code, RemoveTags.code
_ADD_CUSTOM, _UPDATE_CUSTOM, _REMOVE_CUSTOM = AddCustom.code, UpdateCustom.code, RemoveCustom.code


def diff(
    edited: pd.DataFrame,
    baseline: pd.DataFrame,
    *,
    custom_types: Mapping[str, str] | None = None,
    source: Mapping[str, Any] | None = None,
) -> Plan:
    """The plan that turns ``baseline`` into ``edited`` on the writable columns.

    Writable: ``custom.*``, ``tag.*`` and ``tags``; edits elsewhere are listed in
    ``plan.skipped``. Rows are matched by the index ``id``; rows added or dropped are only
    counted. ``custom_types`` are the baseline's custom attribute types (None: read them from the
    baseline's dtypes); ``source`` is JSON-safe provenance carried into the plan. Pure: nothing
    is sent and neither frame is changed.

    Parameters
    ----------
    edited : pandas.DataFrame
        The edited frame (index ``id``).
    baseline : pandas.DataFrame
        The frame as loaded.
    custom_types : mapping, optional
        Custom key -> ``"String"``, ``"Integer"``, ``"Timestamp"`` or ``"Boolean"``.
    source : mapping, optional
        JSON-safe provenance for the plan (apply checks it against the client).

    Returns
    -------
    Plan
        The operations that turn ``original`` into ``edited``, with the skipped edits.

    Raises
    ------
    ValidationError
        Every problem at once (moved rows, bad names, values or tags), each with its fix.

    Examples
    --------
    >>> import pandas as pd
    >>> baseline = pd.DataFrame(
    ...     {"uuid": ["cus_1", "cus_2"], "tag.vip": [False, True]},
    ...     index=pd.Index([1, 2], name="id"),
    ... )
    >>> edited = baseline.assign(**{"tag.vip": [True, True]})
    >>> diff(edited, baseline).operations
    (AddTags(customer_id=1, uuid='cus_1', email=None, tag='vip'),)
    """
    problems = Problems()
    _check_structure(edited, "edited", problems)
    _check_structure(baseline, "baseline", problems)
    known_types = _known_types(custom_types, problems)
    problems.raise_if_any()

    rows = _Rows.align(edited.index, baseline.index)
    work = _Work(edited, baseline, rows, problems)
    _check_identity(work)
    # Rows under the wrong ids make every other comparison meaningless (tags lists disagree
    # with tag columns, values "change"): report only what to fix, the index.
    problems.raise_if_any()
    skipped = _read_only_edits(work)
    custom = _custom_changes(work, known_types, skipped)
    tags = _tag_changes(work, skipped)
    problems.raise_if_any()

    changes = _change_table(work, [*tags, *custom])
    return Plan.from_changes(
        changes,
        skipped=skipped,
        ignored_rows=IgnoredRows(added=rows.added, dropped=rows.dropped),
        source=source,
        email_groups=_email_groups(baseline, changes),
    )


def _check_structure(frame: pd.DataFrame, which: str, problems: Problems) -> None:
    """What must hold before rows and columns can be matched at all."""
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"{which} must be a pandas DataFrame, got {type(frame).__name__}")
    if isinstance(frame.columns, pd.MultiIndex):
        problems.add(
            "<columns>",
            f"the {which} frame has MultiIndex columns",
            "flatten them to the frame's names (custom.<key>, tag.<name>, ...)",
        )
        return
    duplicated = frame.columns[frame.columns.duplicated()].unique().tolist()
    if duplicated:
        problems.add(
            ", ".join(map(str, duplicated)),
            f"duplicate column names in the {which} frame",
            f"keep one column per name, e.g. `{which} = {which}.loc[:, ~{which}.columns.duplicated()]`",
        )
    index = frame.index
    if INDEX_NAME in frame.columns:
        restore = f"`{which} = {which}.set_index('id')`"
    elif which == "edited" and "uuid" in frame.columns:
        # set_index('id') would be a KeyError here: the ids were dropped (reset_index(drop=True))
        # or never a column. The uuids still say who each row is.
        restore = f"put the customer ids back from the uuid column, {_AS_LOADED}: {REALIGN}"
    else:
        restore = "keep the customer ids as the index, named 'id', as read_customers returns it"
    if isinstance(index, pd.MultiIndex) or not pd.api.types.is_integer_dtype(index.dtype):
        problems.add(
            "<index>",
            f"the {which} frame's index is not the integer customer id (dtype {index.dtype})",
            restore,
        )
    elif index.name != INDEX_NAME:
        problems.add(
            "<index>",
            f"the {which} frame's index is named {index.name!r}, not 'id' (the customer id)",
            restore,
        )
    elif index.hasnans:
        problems.add("<index>", f"the {which} frame's index has missing customer ids", restore)
    elif index.has_duplicates:
        dup = np.unique(np.asarray(index[index.duplicated()], dtype=np.int64))
        problems.add(
            "<index>",
            f"the {which} frame's index repeats customer ids",
            f"keep one row per customer, e.g. `{which} = {which}[~{which}.index.duplicated()]`",
            dup,
        )
    if which == "baseline" and "uuid" not in frame.columns:
        problems.add(
            "uuid",
            "the baseline frame has no uuid column",
            "diff against the frame read_customers returned (unchanged)",
        )


def _known_types(
    custom_types: Mapping[str, str] | None, problems: Problems
) -> dict[str, CustomType]:
    known: dict[str, CustomType] = {}
    for key, type_ in (custom_types or {}).items():
        if type_ in CUSTOM_TYPES:
            known[str(key)] = type_
        else:
            problems.add(
                CUSTOM_PREFIX + str(key),
                f"custom_types gives the type {type_!r}",
                f"use one of {', '.join(CUSTOM_TYPES)} (as read_customers stores them)",
            )
    return known


# --- rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """Rows of both frames that are the same customer, in baseline order."""

    ids: IntArray  # customer ids of the matched rows
    edited_pos: IntArray | None  # their positions in edited (None: the same as baseline's)
    baseline_pos: IntArray | None
    added: int
    dropped: int

    @classmethod
    def align(cls, edited: pd.Index, baseline: pd.Index) -> _Rows:
        ids = np.asarray(baseline, dtype=np.int64)
        if edited.equals(baseline):
            return cls(ids, None, None, 0, 0)
        in_edited = np.asarray(edited.get_indexer(baseline), dtype=np.int64)
        matched = np.flatnonzero(in_edited >= 0)
        return cls(
            ids=ids[matched],
            edited_pos=in_edited[matched],
            baseline_pos=matched.astype(np.int64),
            added=len(edited) - len(matched),
            dropped=len(baseline) - len(matched),
        )

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class _Work:
    """The inputs of one diff, with column access aligned to the matched rows."""

    edited: pd.DataFrame
    baseline: pd.DataFrame
    rows: _Rows
    problems: Problems
    # Column names as strings (labels may be anything hashable) -> the frame's own label.
    edited_columns: dict[str, Any] = field(init=False)
    baseline_columns: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.edited_columns = {str(c): c for c in self.edited.columns}
        self.baseline_columns = {str(c): c for c in self.baseline.columns}

    def column(self, which: str, name: str) -> ColumnValues | None:
        """A column's values on the matched rows: Arrow, or numpy for object columns."""
        frame, labels, positions = (
            (self.edited, self.edited_columns, self.rows.edited_pos)
            if which == "edited"
            else (self.baseline, self.baseline_columns, self.rows.baseline_pos)
        )
        if name not in labels:
            return None
        return column_values(frame[labels[name]], positions, name, self.problems)


# --- identity ------------------------------------------------------------------------------------


def _check_identity(work: _Work) -> None:
    """Rows whose uuid/email/external_id disagree with the baseline for their id are refused.

    Otherwise a shifted or scrambled index writes one customer's attributes onto another. Null
    against null agrees; any other difference (a blanked email too) is refused: the columns are
    read-only, so a difference means the row is not the customer its id names.
    """
    ids = work.rows.ids
    differs: dict[str, BoolArray] = {}
    for name in IDENTITY_COLUMNS:
        edited = work.column("edited", name)
        baseline = work.column("baseline", name)
        if edited is not None and baseline is not None:
            changed = _differs(edited, baseline)
            if changed.any():
                differs[name] = changed
    if not differs:
        return
    moved = differs.get("uuid")
    if moved is None:
        for name, changed in differs.items():
            work.problems.add(
                name,
                f"identity columns are read-only, and {name} differs from the baseline: the "
                "row is not the customer its id names, or the value was edited",
                f"restore the column, {_AS_LOADED}: `edited[{name!r}] = df[{name!r}]` (a "
                f"customer's {name} is changed in ChartMogul itself)",
                ids[changed],
            )
        return
    anywhere = np.logical_or.reduce(list(differs.values()))
    work.problems.add(
        " / ".join(differs),
        "rows moved under other customer ids (identity columns are read-only, and here they "
        f"disagree with the baseline for the row's id): {_moved_examples(work, moved)}; "
        "planning them would write one customer's attributes onto another",
        f"put the ids back from the uuid column, {_AS_LOADED}: {REALIGN}",
        ids[anywhere],
    )


def _moved_examples(work: _Work, moved: BoolArray, limit: int = 3) -> str:
    """``the row with id 2 holds uuid 'cus_1' (customer 1)``, for the first few moved rows."""
    ids = work.rows.ids
    positions = np.flatnonzero(moved)[:limit]
    edited = work.column("edited", "uuid")
    assert edited is not None  # only called when both frames have a uuid column
    uuids = (
        edited.take(cast(pa.Int64Array, pa.array(positions))).to_pylist()
        if isinstance(edited, pa.Array)
        else edited[positions].tolist()
    )
    all_uuids = _string_column(work.baseline, "uuid", pa.array(np.arange(len(work.baseline))))
    owners = pc.index_in(
        pa.array([u if isinstance(u, str) else None for u in uuids], pa.string()),
        value_set=all_uuids,
    ).to_pylist()
    baseline_ids = np.asarray(work.baseline.index, dtype=np.int64)
    parts = []
    for row, uuid, owner in zip(positions.tolist(), uuids, owners, strict=True):
        whose = (
            "no customer of the baseline" if owner is None else f"customer {baseline_ids[owner]}"
        )
        parts.append(f"the row with id {ids[row]} holds uuid {uuid!r} ({whose})")
    more = int(moved.sum()) - len(positions)
    return ", ".join(parts) + (f" and {more:,} more" if more > 0 else "")


# --- read-only columns ---------------------------------------------------------------------------


def _is_writable(name: str) -> bool:
    return name == TAGS_COLUMN or name.startswith((TAG_PREFIX, CUSTOM_PREFIX))


_PREFIX_TYPO = re.compile(r"([A-Za-z]+)([._:\- ])(.+)$", re.DOTALL)


def _osa_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from ``a`` to ``b``."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def near_miss(name: str) -> str | None:
    """The writable column a new column's name was probably meant to be, or None.

    ``Custom.x``, ``TAG.x``, ``tags.x``, ``custom_x``, ``cusotm.x``, `` custom.x``: a prefix
    equal to ``custom``/``tag``/``tags`` but for case, or a dotted prefix within a small edit
    distance of them. Other separators need the exact word (``tax_rate`` is not ``tag_rate``).
    """
    stripped = name.strip()
    if stripped.lower() == TAGS_COLUMN:
        return TAGS_COLUMN if name != TAGS_COLUMN else None
    match = _PREFIX_TYPO.match(stripped)
    if match is None:
        return None
    prefix, separator, rest = match.groups()
    word = prefix.lower()
    target: str | None = None
    if separator == ".":
        if _osa_distance(word, "custom") <= 2:
            target = CUSTOM_PREFIX
        elif min(_osa_distance(word, "tag"), _osa_distance(word, "tags")) <= 1:
            target = TAG_PREFIX
    elif word in ("custom", "customs"):
        target = CUSTOM_PREFIX
    elif word in ("tag", "tags"):
        target = TAG_PREFIX
    if target is None or target + rest == name:
        return None
    return target + rest


def _read_only_edits(work: _Work) -> list[SkippedEdit]:
    skipped: list[SkippedEdit] = []
    ids = work.rows.ids
    for name in work.edited_columns:
        if _is_writable(name) or name in IDENTITY_COLUMNS:
            continue
        meant = None if name in work.baseline_columns else near_miss(name)
        if meant is not None:
            label = work.edited_columns[name]
            work.problems.add(
                name,
                "a new column named almost like a written one, which would be skipped in "
                f"silence (only custom.<key>, tag.<name> and tags are written, in lower case); "
                f"did you mean `{meant}`?",
                f"rename it, `edited[{meant!r}] = edited.pop({label!r})`",
            )
            continue
        edited = work.column("edited", name)
        if edited is None:
            continue
        if name in work.baseline_columns:
            baseline = work.column("baseline", name)
            if baseline is None:
                continue
            changed = _differs(edited, baseline)
            reason = (
                "read-only column: only custom.*, tag.* and tags are written back; "
                "edits here are never sent"
            )
        else:
            changed = _not_null(edited)
            reason = (
                "new column that is not written back (only custom.<key>, tag.<name> and "
                "tags are); name it custom.<key> to write it as a custom attribute"
            )
        if changed.any():
            skipped.append(SkippedEdit(name, tuple(ids[changed].tolist()), reason))
    return skipped


def _not_null(values: ColumnValues) -> BoolArray:
    if isinstance(values, np.ndarray):
        return np.fromiter((not is_missing(v) for v in values), bool, len(values))
    valid: BoolArray = values.is_valid().to_numpy(zero_copy_only=False)
    return valid


def _differs(edited: ColumnValues, baseline: ColumnValues) -> BoolArray:
    """Rows where two columns hold different values (null equals null, NaN equals NaN)."""
    if isinstance(edited, pa.Array) and isinstance(baseline, pa.Array):
        if edited.equals(baseline):
            return np.zeros(len(edited), dtype=bool)
        nested = pa.types.is_nested(baseline.type) or pa.types.is_nested(edited.type)
        if not nested:
            try:
                if edited.type != baseline.type:
                    edited = edited.cast(baseline.type)
                equal = pc.equal(edited, baseline)
                if pa.types.is_floating(baseline.type):
                    equal = pc.or_(equal, pc.and_(pc.is_nan(edited), pc.is_nan(baseline)))
            except (pa.ArrowException, TypeError, ValueError):
                pass  # types that cannot be compared by Arrow: compare the Python values
            else:
                both_null = pc.and_(edited.is_null(), baseline.is_null())
                same = pc.or_(
                    cast(pa.BooleanArray, pc.fill_null(equal, pa.scalar(False))), both_null
                )
                differs: BoolArray = ~same.to_numpy(zero_copy_only=False)
                return differs
    left = edited.to_pylist() if isinstance(edited, pa.Array) else edited.tolist()
    right = baseline.to_pylist() if isinstance(baseline, pa.Array) else baseline.tolist()
    return np.fromiter(
        (not _same_value(a, b) for a, b in zip(left, right, strict=True)), bool, len(left)
    )


def _same_value(a: object, b: object) -> bool:
    a_null, b_null = is_missing(a), is_missing(b)
    if a_null or b_null:
        return a_null and b_null
    try:
        return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
    except (TypeError, ValueError):
        return False


# --- custom attributes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    """Changes of one attribute: matched-row positions, kind codes and old/new values."""

    name: str  # tag name or custom key
    type: CustomType | None  # None for tags
    rows: IntArray
    kinds: npt.NDArray[np.int8]
    old: pa.Array[Any] | None = None
    new: pa.Array[Any] | None = None


def _custom_changes(
    work: _Work, known_types: Mapping[str, CustomType], skipped: list[SkippedEdit]
) -> list[_Chunk]:
    names = {
        n: None
        for n in (*work.baseline_columns, *work.edited_columns)
        if n.startswith(CUSTOM_PREFIX)
    }
    chunks = []
    for column in sorted(names):
        chunk = _custom_column_changes(work, column, known_types, skipped)
        if chunk is not None:
            chunks.append(chunk)
    return chunks


def _custom_column_changes(
    work: _Work, column: str, known_types: Mapping[str, CustomType], skipped: list[SkippedEdit]
) -> _Chunk | None:
    key = column[len(CUSTOM_PREFIX) :]
    ids, problems = work.rows.ids, work.problems
    base_data = work.column("baseline", column)
    base = None if base_data is None else coerce_custom(base_data, column, ids, problems)
    # The key's type: as read_customers inferred it, else what the baseline column holds (a
    # column without any value says nothing: the key is new for these customers).
    known = known_types.get(key) or (base.type if base is not None else None)
    edited_data = work.column("edited", column)
    if edited_data is None:
        if base is not None and base.type is not None:
            had = base.values.is_valid().to_numpy(zero_copy_only=False)
            skipped.append(
                SkippedEdit(
                    column,
                    tuple(ids[had].tolist()),
                    "column missing from the edited frame: nothing is removed "
                    "(to remove the attribute, set its values to pd.NA)",
                )
            )
        return None
    edited = coerce_custom(edited_data, column, ids, problems)
    if edited is None:
        return None
    if base is not None and base.type is not None and known is not None and base.type != known:
        problems.add(
            column,
            f"custom_types says {known} but the baseline column holds {base.type} values",
            "pass the custom_types that read_customers stored with this baseline",
        )
        return None
    if known is not None and edited.type is not None and edited.type != known:
        problems.add(
            column,
            f"the key {key!r} is {known} in the baseline but the column now holds "
            f"{edited.type} values",
            f"write {known} values, e.g. {CAST_FIX[known].format(col=column)}",
        )
        return None
    type_ = known or edited.type
    if type_ is None:
        return None  # no values on either side
    arrow_type = CUSTOM_ARROW_TYPES[type_]
    old = (
        base.values.cast(arrow_type)
        if base is not None and base.type is not None
        else null_array(len(ids), arrow_type)
    )
    new = edited.values.cast(arrow_type)
    had = old.is_valid().to_numpy(zero_copy_only=False)
    has = new.is_valid().to_numpy(zero_copy_only=False)
    update = had & has & ~_equal(old, new, type_)
    add, remove = ~had & has, had & ~has
    rows = np.flatnonzero(add | update | remove)
    if not len(rows):
        return None
    rule = key_problem(key)
    if rule is not None:
        meant = _key_suggestion(key, work)
        existing = meant in work.baseline_columns or meant in work.edited_columns
        label = work.edited_columns[column]
        problems.add(
            column,
            rule.what + (f"; did you mean `{meant}`?" if existing else ""),
            f"rename the column, e.g. `edited[{meant!r}] = edited.pop({label!r})`",
            ids[rows],
        )
        return None
    if edited.naive is not None:
        written = edited.naive & (add | update)
        if written.any():
            problems.add(
                column,
                "timestamps without a time zone (naive): the instant they mean depends on a "
                "zone they do not name, so they are not taken as UTC in silence",
                f"say which zone they are in, e.g. {edited.naive_fix} if they are UTC "
                "(or that zone's name)",
                ids[written],
            )
            return None
    kinds = np.where(
        add[rows], _ADD_CUSTOM, np.where(update[rows], _UPDATE_CUSTOM, _REMOVE_CUSTOM)
    ).astype(np.int8)
    taken = cast(pa.Int64Array, pa.array(rows))
    return _Chunk(key, type_, rows, kinds, old.take(taken), new.take(taken))


def _key_suggestion(key: str, work: _Work) -> str:
    """A valid column for a bad key: an existing key it spells (``seats ``, ``Seats!``) first."""
    valid = key.strip()
    letters = re.sub(r"[^A-Za-z0-9_]", "", valid).lower()
    for name in (*work.baseline_columns, *work.edited_columns):
        existing = name[len(CUSTOM_PREFIX) :]
        if (
            name.startswith(CUSTOM_PREFIX)
            and existing.lower() == letters
            and key_problem(existing) is None
        ):
            return name
    fallback = re.sub(r"[^A-Za-z0-9_]+", "_", valid).strip("_")[:40] or "key"
    return CUSTOM_PREFIX + fallback


def _equal(old: pa.Array[Any], new: pa.Array[Any], type_: CustomType) -> BoolArray:
    """Element-wise equality where both hold values (int and timestamp compared as integers)."""
    if type_ == "String":
        equal: BoolArray = cast(
            pa.BooleanArray, pc.fill_null(pc.equal(old, new), pa.scalar(True))
        ).to_numpy(zero_copy_only=False)
        return equal
    if type_ == "Timestamp":
        old, new = old.cast(pa.int64()), new.cast(pa.int64())
    left = old.fill_null(0 if type_ != "Boolean" else False).to_numpy(zero_copy_only=False)
    right = new.fill_null(0 if type_ != "Boolean" else False).to_numpy(zero_copy_only=False)
    result: BoolArray = left == right
    return result


# --- tags ----------------------------------------------------------------------------------------


def _tag_changes(work: _Work, skipped: list[SkippedEdit]) -> list[_Chunk]:
    """AddTags/RemoveTags from the ``tags`` lists and the ``tag.*`` columns, reconciled."""
    ids, problems = work.rows.ids, work.problems
    n = len(ids)
    base_lists = coerce_tag_lists(work.column("baseline", TAGS_COLUMN), TAGS_COLUMN, ids, problems)
    edited_lists = coerce_tag_lists(work.column("edited", TAGS_COLUMN), TAGS_COLUMN, ids, problems)
    base_cols = {c[len(TAG_PREFIX) :]: c for c in work.baseline_columns if c.startswith(TAG_PREFIX)}
    edited_cols = {c[len(TAG_PREFIX) :]: c for c in work.edited_columns if c.startswith(TAG_PREFIX)}
    universe: set[str] = set(base_cols) | set(edited_cols)
    for lists in (base_lists, edited_lists):
        if lists is not None:
            universe.update(cast("list[str]", pc.unique(pc.list_flatten(lists)).to_pylist()))
    broken = sorted(name for name in universe if not is_text(name))
    if broken:
        # Tag names come from column labels too, which an object Index can hold as any str.
        for name in broken:
            not_text(
                TAG_PREFIX + name,
                None,
                problems,
                what="a tag name that is",
                fix="rename the column (or the entry in the tags lists) to valid text",
            )
        return []
    names = sorted(universe)
    position = {name: i for i, name in enumerate(names)}

    base = np.zeros((n, len(names)), dtype=bool)
    if base_lists is not None:
        _scatter(base, base_lists, names)
    else:
        for name, column in base_cols.items():
            values = coerce_tag_flags(work.column("baseline", column), column, ids, False, problems)
            if values is not None:
                base[:, position[name]] = values
    from_columns = base.copy()
    present = np.zeros(len(names), dtype=bool)
    for name, column in edited_cols.items():
        values = coerce_tag_flags(work.column("edited", column), column, ids, True, problems)
        if values is not None:
            from_columns[:, position[name]] = values
            present[position[name]] = True
    final = from_columns
    if edited_lists is not None:
        from_lists = np.zeros_like(base)
        _scatter(from_lists, edited_lists, names)
        final = _reconcile(base, from_lists, from_columns, present, names, ids, problems)
    else:
        for name in names:
            if not present[position[name]] and base[:, position[name]].any():
                had = base[:, position[name]]
                skipped.append(
                    SkippedEdit(
                        TAG_PREFIX + name,
                        tuple(ids[had].tolist()),
                        "tag column (and the tags column) missing from the edited frame: "
                        "nothing is removed (to remove the tag, set the column to False)",
                    )
                )
    return _tag_chunks(base, final, names, ids, problems, work)


def _reconcile(
    base: BoolArray,
    from_lists: BoolArray,
    from_columns: BoolArray,
    present: BoolArray,
    names: list[str],
    ids: IntArray,
    problems: Problems,
) -> BoolArray:
    """One tag state per customer from both edit paths; contradictions are problems.

    A customer edited through only one path takes that path. Edited through both, the two must
    agree on every tag that has a column.
    """
    by_list = (from_lists != base).any(axis=1)
    by_column = ((from_columns != base) & present).any(axis=1)
    both = by_list & by_column
    if both.any():
        disagree = (from_lists != from_columns) & present & both[:, None]
        for t in np.flatnonzero(disagree.any(axis=0)).tolist():
            column = TAG_PREFIX + names[t]
            for in_list, rows in (
                (True, disagree[:, t] & from_lists[:, t]),
                (False, disagree[:, t] & ~from_lists[:, t]),
            ):
                if not rows.any():
                    continue
                says = (
                    f"the tags list has {names[t]!r} but {column} is False"
                    if in_list
                    else f"{column} is True but the tags list lacks {names[t]!r}"
                )
                problems.add(
                    f"{TAGS_COLUMN} / {column}",
                    f"these customers were edited through both, and {says}",
                    f"edit a customer's tags through one of the two, or make both agree "
                    f"(set {column} to {in_list}, or fix the list)",
                    ids[rows],
                )
    final: BoolArray = np.where(by_list[:, None], from_lists, from_columns)
    return final


def _tag_chunks(
    base: BoolArray,
    final: BoolArray,
    names: list[str],
    ids: IntArray,
    problems: Problems,
    work: _Work,
) -> list[_Chunk]:
    added, removed = final & ~base, base & ~final
    chunks = []
    for t in np.flatnonzero((added | removed).any(axis=0)).tolist():
        name = names[t]
        add_rows = np.flatnonzero(added[:, t])
        # The client and the API refuse these names: the plan would fail when applied, midway.
        rule = tag_problem(name) if len(add_rows) else None
        if rule is not None:
            problems.add(TAG_PREFIX + name, rule.what, _tag_fix(name, work), ids[add_rows])
            continue
        rows = np.flatnonzero(added[:, t] | removed[:, t])
        kinds = np.where(added[rows, t], _ADD_TAGS, _REMOVE_TAGS).astype(np.int8)
        chunks.append(_Chunk(name, None, rows, kinds))
    return chunks


def _tag_fix(name: str, work: _Work) -> str:
    column = TAG_PREFIX + name
    if padded(name) and name.strip():
        if column in work.edited_columns:
            label = work.edited_columns[column]
            return f"rename the column, `edited[{TAG_PREFIX + name.strip()!r}] = edited.pop({label!r})`"
        return (
            "strip the names in the lists, "
            f"`edited[{TAGS_COLUMN!r}] = edited[{TAGS_COLUMN!r}].map(lambda tags: [t.strip() for t in tags])`"
        )
    return "rename the tag to 1-255 visible characters (the column, or the entry in the tags lists)"


def _scatter(matrix: BoolArray, lists: pa.Array[Any], names: list[str]) -> None:
    """Set ``matrix[row, tag]`` for each tag in each row's list (Arrow, no Python loop)."""
    flat = pc.list_flatten(lists)
    if not len(flat):
        return
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    codes = pc.index_in(flat, value_set=pa.array(names, pa.string())).to_numpy(zero_copy_only=False)
    matrix[parents, codes] = True


# --- assembly ------------------------------------------------------------------------------------


def _change_table(work: _Work, chunks: list[_Chunk]) -> Changes:
    """One columnar change table in operation order: by customer, kind, then attribute."""
    rows = np.concatenate([c.rows for c in chunks]) if chunks else np.empty(0, np.int64)
    kind = np.concatenate([c.kinds for c in chunks]) if chunks else np.empty(0, np.int8)
    attr = (
        np.concatenate([np.full(len(c.rows), a, dtype=np.int64) for a, c in enumerate(chunks)])
        if chunks
        else np.empty(0, np.int64)
    )
    vidx = (
        np.concatenate([np.arange(len(c.rows), dtype=np.int64) for c in chunks])
        if chunks
        else np.empty(0, np.int64)
    )
    # Chunks come sorted by attribute name within tags and within custom, so the chunk number
    # orders attributes by name within each kind.
    order = np.lexsort((attr, kind, rows))
    rows, kind, attr, vidx = rows[order], kind[order], attr[order], vidx[order]
    # Keep only the customers that change (np.unique keeps baseline order: rows are positions).
    touched, cust = np.unique(rows, return_inverse=True)
    positions = pa.array(
        touched if work.rows.baseline_pos is None else work.rows.baseline_pos[touched]
    )
    uuids = _string_column(work.baseline, "uuid", positions).fill_null("")
    emails = _string_column(work.baseline, "email", positions)
    return Changes(
        customer_ids=work.rows.ids[touched],
        uuids=uuids,
        emails=emails,
        names=tuple(c.name for c in chunks),
        types=tuple(c.type for c in chunks),
        old=tuple(c.old if c.old is not None else [] for c in chunks),
        new=tuple(c.new if c.new is not None else [] for c in chunks),
        cust=cust.astype(np.int64),
        kind=kind.astype(np.int8),
        attr=attr,
        vidx=vidx,
    )


def _string_column(frame: pd.DataFrame, name: str, positions: pa.Array[Any]) -> pa.Array[Any]:
    if name not in frame.columns:
        return pa.nulls(len(positions), pa.string())
    values = frame[name]
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        array = pa.array([v if isinstance(v, str) else None for v in values], pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    strings: pa.Array[Any] = array.take(positions).cast(pa.string())
    return strings


def _email_groups(baseline: pd.DataFrame, changes: Changes) -> dict[str, tuple[int, ...]]:
    """Emails shared by 2+ baseline customers, one of whom changes: email -> all their ids.

    Grouped case-insensitively, so a by-email request is never used where another spelling of
    the address exists: its customer would lack the change (or carry another email).
    """
    if not len(changes) or "email" not in baseline.columns:
        return {}
    emails = _string_column(baseline, "email", pa.array(np.arange(len(baseline))))
    normal = pc.utf8_lower(pc.utf8_trim_whitespace(emails))
    normal = pc.if_else(pc.equal(normal, pa.scalar("")), pa.nulls(len(normal), pa.string()), normal)
    counts = pc.value_counts(normal.drop_null())
    shared = counts.field("values").filter(pc.greater(counts.field("counts"), pa.scalar(1)))
    if not len(shared):
        return {}
    in_shared = cast(pa.BooleanArray, pc.is_in(normal, value_set=shared))
    rows = np.flatnonzero(in_shared.fill_null(False).to_numpy(False))
    ids = np.asarray(baseline.index, dtype=np.int64)
    groups: dict[str, list[int]] = {}
    spellings: dict[str, set[str]] = {}
    exact = cast("list[str]", emails.to_pylist())  # the rows below all hold an email
    lowered = normal.to_pylist()
    for row in rows.tolist():
        groups.setdefault(lowered[row], []).append(int(ids[row]))
        spellings.setdefault(lowered[row], set()).add(exact[row])
    touched = set(changes.customer_ids.tolist())
    return {
        spelling: tuple(members)
        for key, members in groups.items()
        if touched.intersection(members)
        for spelling in sorted(spellings[key])
    }
