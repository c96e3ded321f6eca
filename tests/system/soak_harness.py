"""The soak's shared parts: the issue's fault mix, the edits of every kind, request-log analysis.

Used by ``tests/system/test_soak.py`` (small) and ``benchmarks/bench_soak.py`` (20,000 customers,
5,000 operations), so both check the same things.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from dialects import edits_as_the_api_keeps

import cm_frames as cm
from cm_frames.emulator.faults import SERVER_ERRORS

__all__ = [
    "FAULT_MIX",
    "PER_PAGE",
    "EditsDoNotFit",
    "SoakEdits",
    "edit_for_soak",
    "fault_counts",
    "faults_on",
    "landed_once",
    "planned_writes",
    "read",
    "read_only_columns",
    "retries",
    "retry_after_gaps",
    "take_log",
    "writable_state",
    "write_attempts",
]

# The mix. Retry-After is in whole seconds and 1 is its smallest useful value.
FAULT_MIX: Mapping[str, Any] = {
    "error_rate": 0.10,
    "throttle_rate": 0.03,
    "drop_rate": 0.01,
    "latency_ms": 3,
    "retry_after_s": 1,
}
PER_PAGE = 200  # read_customers' page size (the API's maximum)

# How the edits are shared among the kinds of change (must sum to 1).
SHARES: Mapping[str, float] = {
    "add_tag": 0.15,  # tag.x False -> True in an existing tag column
    "remove_tag": 0.15,  # tag.x True -> False
    "new_tag": 0.10,  # a tag no customer had: a new tag.* column
    "add_custom": 0.15,  # a value where an existing key had none (all four types)
    "update_custom": 0.15,  # a changed value (all four types)
    "remove_custom": 0.15,  # a value set to NA
    "new_custom": 0.10,  # a key no customer had: a new Integer custom.* column
    "by_email": 0.05,  # the same new tag or value for every customer sharing an email
}
NEW_TAG = "tag.soak new"
NEW_CUSTOM = "custom.soak_score"
BY_EMAIL_TAG = "tag.soak by email"
BY_EMAIL_CUSTOM = "custom.soak_cohort"


# --- the edits -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoakEdits:
    """An edited copy of a loaded frame and the operations its plan must hold, per kind."""

    frame: pd.DataFrame
    kinds: Counter[str]
    by_email_groups: int  # email groups whose sharers all get the same change


def edit_for_soak(df: pd.DataFrame, n_ops: int, seed: int) -> SoakEdits:
    """A copy of ``df`` (from ``read_customers``) with exactly ``n_ops`` writable cells edited.

    Every cell edit is one operation, so ``kinds`` is exactly what ``plan_frame`` must plan.
    Customers sharing an email are edited only together (by email), so that nothing else of
    theirs keeps the plan from using the by-email endpoints.
    """
    rng = np.random.default_rng(seed)
    budget = {kind: int(n_ops * share) for kind, share in SHARES.items()}
    budget["add_tag"] += n_ops - sum(budget.values())
    edited = df.copy()
    kinds: Counter[str] = Counter()
    cells: dict[str, dict[int, Any]] = {}  # column -> row position -> new value (None: NA)

    email_counts = df["email"].value_counts()
    shared = df["email"].isin(email_counts.index[email_counts >= 2]).to_numpy(bool)
    groups = _email_groups(df, shared, budget["by_email"], rng)
    budget["add_custom"] += budget["by_email"] - sum(len(g) for g in groups)
    for number, group in enumerate(groups):
        if number % 2 == 0:
            cells.setdefault(BY_EMAIL_TAG, {}).update(dict.fromkeys(group, True))
            kinds["AddTags"] += len(group)
        else:
            cells.setdefault(BY_EMAIL_CUSTOM, {}).update(dict.fromkeys(group, f"cohort-{number}"))
            kinds["AddCustom"] += len(group)

    alone = np.flatnonzero(~shared)  # positions of customers with an email of their own
    tag_columns = [c for c in df.columns if c.startswith("tag.")]
    has_tag = df[tag_columns].to_numpy(bool)[alone]
    for row, col in _pick(~has_tag, budget["add_tag"], rng, "tag.* cells that are False"):
        cells.setdefault(tag_columns[col], {})[int(alone[row])] = True
    for row, col in _pick(has_tag, budget["remove_tag"], rng, "tag.* cells that are True"):
        cells.setdefault(tag_columns[col], {})[int(alone[row])] = False
    kinds["AddTags"] += budget["add_tag"]
    kinds["RemoveTags"] += budget["remove_tag"]

    custom_columns = [c for c in df.columns if c.startswith("custom.")]
    has_value = df[custom_columns].notna().to_numpy(bool)[alone]
    arrow_types = [pa.array(df[column].array).type for column in custom_columns]
    for row, col in _pick(~has_value, budget["add_custom"], rng, "custom.* cells that are NA"):
        cells.setdefault(custom_columns[col], {})[int(alone[row])] = _fresh(arrow_types[col], rng)
    changed = budget["update_custom"] + budget["remove_custom"]
    picked = _pick(has_value, changed, rng, "custom.* cells with a value")
    for number, (row, col) in enumerate(picked):
        column, position = custom_columns[col], int(alone[row])
        old = df[column].iloc[position]
        new = _changed(old, rng) if number < budget["update_custom"] else None
        cells.setdefault(column, {})[position] = new
    kinds["AddCustom"] += budget["add_custom"]
    kinds["UpdateCustom"] += budget["update_custom"]
    kinds["RemoveCustom"] += budget["remove_custom"]

    tagged = rng.choice(alone, size=budget["new_tag"], replace=False)
    cells[NEW_TAG] = dict.fromkeys(tagged.tolist(), True)
    scored = rng.choice(alone, size=budget["new_custom"], replace=False)
    scores = rng.integers(-(10**12), 10**12, size=scored.size)
    cells[NEW_CUSTOM] = dict(zip(scored.tolist(), scores.tolist(), strict=True))
    kinds["AddTags"] += budget["new_tag"]
    kinds["AddCustom"] += budget["new_custom"]

    new_types = {
        NEW_TAG: pa.bool_(),
        BY_EMAIL_TAG: pa.bool_(),
        NEW_CUSTOM: pa.int64(),
        BY_EMAIL_CUSTOM: pa.string(),
    }
    for column, changes in cells.items():
        if column in df.columns:
            loaded = pa.array(df[column].array)
            values, type_ = loaded.to_pylist(), loaded.type
        else:
            type_ = new_types[column]
            values = [False if pa.types.is_boolean(type_) else None] * len(df)
        for position, new_value in changes.items():
            values[position] = new_value
        edited[column] = pd.arrays.ArrowExtensionArray(pa.array(values, type_))
    return SoakEdits(edited, +kinds, len(groups))


def _email_groups(
    df: pd.DataFrame, shared: np.ndarray, budget: int, rng: np.random.Generator
) -> list[list[int]]:
    """Row positions of whole email groups, at most ``budget`` customers in all."""
    positions = np.flatnonzero(shared)
    by_email: dict[str, list[int]] = {}
    for position, email in zip(positions, df["email"].iloc[positions], strict=True):
        by_email.setdefault(str(email), []).append(int(position))
    chosen: list[list[int]] = []
    left = budget
    for email in rng.permutation(sorted(by_email)):
        group = by_email[str(email)]
        if len(group) <= left:
            chosen.append(group)
            left -= len(group)
    return chosen


class EditsDoNotFit(ValueError):
    """More edits of a kind were asked for than the frame has cells for."""


def _pick(
    candidates: np.ndarray, count: int, rng: np.random.Generator, what: str
) -> list[tuple[int, int]]:
    """``count`` distinct (row, column) cells where ``candidates`` is True, chosen at random."""
    flat = np.flatnonzero(candidates)
    if count > flat.size:
        raise EditsDoNotFit(
            f"--ops too large for this frame: {count} edits wanted among {flat.size} {what}; "
            "use more customers or fewer operations"
        )
    chosen = rng.choice(flat, size=count, replace=False)
    rows, cols = np.unravel_index(chosen, candidates.shape)
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


def _fresh(type_: pa.DataType, rng: np.random.Generator) -> Any:
    """A new value of this Arrow type (for a customer that had none)."""
    number = int(rng.integers(0, 10**6))
    if pa.types.is_boolean(type_):
        return bool(number % 2)
    if pa.types.is_integer(type_):
        return number
    if pa.types.is_timestamp(type_):
        return datetime(2031, 1, 1, tzinfo=UTC) + timedelta(seconds=number, microseconds=number)
    return f"soak added {number} ✓"


def _changed(old: Any, rng: np.random.Generator) -> Any:
    """A value of the same type that differs from ``old``."""
    step = int(rng.integers(1, 1000))
    if isinstance(old, bool | np.bool_):
        return not old
    if isinstance(old, int | np.integer):
        return int(old) + step
    if isinstance(old, datetime):
        return old + timedelta(days=step, microseconds=step)
    if old.lstrip("-").isdigit():
        # A String column can hold another type's values (crm_id: mostly Integer, sometimes
        # "A-12"); the API keeps each customer's attribute type, so keep the value an integer.
        return str(int(old) + step)
    return f"soak changed {step} ✓"


# --- what to compare -------------------------------------------------------------------------


def writable_state(frame: pd.DataFrame, dialect: str = "enrichment") -> pd.DataFrame:
    """The tags and custom values a frame holds: every ``tag.*`` column with a True and every
    ``custom.*`` column with a value, sorted by name (a reload has no column for a tag or key
    nobody has any more, an edited frame may).

    As the dialect's server stores them: today's API keeps a Timestamp to the millisecond.
    """
    kept = [
        column
        for column in frame.columns
        if (column.startswith("tag.") and bool(frame[column].any()))
        or (column.startswith("custom.") and bool(frame[column].notna().any()))
    ]
    return edits_as_the_api_keeps(frame[sorted(kept)], dialect)


def read_only_columns(frame: pd.DataFrame) -> list[str]:
    """Columns no write-back may change (``tags`` follows the ``tag.*`` columns)."""
    return [c for c in frame.columns if not c.startswith(("tag.", "custom.")) and c != "tags"]


# --- what the request log says ---------------------------------------------------------------


def faults_on(emulator: cm.Emulator) -> None:
    """Inject ``FAULT_MIX`` from the start of the seed's sequence (so a run can be repeated).

    The emulator draws for every request, faults or not; clearing first rewinds its draws.
    """
    emulator.clear_faults()
    emulator.set_faults(**FAULT_MIX)


def _request_key(entry: Mapping[str, Any]) -> str:
    """What makes two log entries attempts of the same request."""
    fields = (entry["method"], entry["path"], entry["query"], entry["body"])
    return json.dumps(fields, sort_keys=True, default=str)


def fault_counts(log: Sequence[Mapping[str, Any]]) -> Counter[str]:
    """Requests answered with an injected fault, by kind: ``5xx``, ``429``, ``dropped``."""
    kinds: Counter[str] = Counter()
    for entry in log:
        status = entry["status"]
        if status in SERVER_ERRORS:
            kinds["5xx"] += 1
        elif status == 429:
            kinds["429"] += 1
        elif status == 0:  # the emulator logs a dropped connection as status 0
            kinds["dropped"] += 1
    return kinds


def retries(log: Sequence[Mapping[str, Any]]) -> int:
    """Attempts beyond the first of each distinct request."""
    return len(log) - len({_request_key(entry) for entry in log})


WriteKey = tuple[str, str, str]


def write_key(method: str, path: str, body: Any) -> WriteKey:
    """A write request as the emulator logs it: method, /v1 path, canonical JSON body."""
    return method, path, json.dumps(body, sort_keys=True)


def planned_writes(plan: cm.Plan) -> set[WriteKey]:
    return {write_key(r.method, "/v1/" + r.path, r.body) for r in plan.requests()}


def write_attempts(log: Sequence[Mapping[str, Any]]) -> dict[WriteKey, list[int]]:
    """The statuses of every attempt of each write request, in arrival order."""
    attempts: dict[WriteKey, list[int]] = {}
    for entry in log:
        if entry["method"] != "GET":
            key = write_key(entry["method"], entry["path"], entry["body"])
            attempts.setdefault(key, []).append(entry["status"])
    return attempts


def landed_once(attempts: Mapping[WriteKey, list[int]]) -> bool:
    """Each write answered 200 exactly once, on its last attempt, after faults only."""
    faults = {429, 0, *SERVER_ERRORS}
    return all(
        statuses[-1] == 200 and all(s in faults for s in statuses[:-1])
        for statuses in attempts.values()
    )


def retry_after_gaps(log: Sequence[Mapping[str, Any]]) -> list[float]:
    """Seconds from each 429 to the next attempt of the same request (where there was one)."""
    keys = [_request_key(entry) for entry in log]
    gaps = []
    for index, entry in enumerate(log):
        if entry["status"] != 429:
            continue
        later = next((j for j in range(index + 1, len(log)) if keys[j] == keys[index]), None)
        if later is not None:
            gaps.append(log[later]["time"] - entry["time"])
    return gaps


# --- the run ---------------------------------------------------------------------------------


def take_log(emulator: cm.Emulator) -> list[dict[str, Any]]:
    """The request log so far, then an empty one (one log per phase)."""
    log = emulator.request_log()
    emulator.clear_request_log()
    return log


def read(client: cm.Client) -> pd.DataFrame:
    return cm.read_customers(client, refresh=True, progress=False)
