"""Frame-level write-back: ``plan_frame`` (diff against what was loaded) and ``push``.

The accessor delegates here: ``df.chartmogul.plan()`` and ``df.chartmogul.push()``. A frame
from ``read_customers`` names its baseline snapshot in ``df.attrs["chartmogul"]``; the plan is
the diff against that snapshot, carrying the account it came from so it is never applied to
another one.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cm_frames.errors import RemovalWarning, ValidationError
from cm_frames.read.frames import table_to_frame
from cm_frames.read.load import client_for_frame
from cm_frames.read.parquet import EXPORT_ID_KEY, PARQUET_PATH_KEY, read_parquet
from cm_frames.read.snapshot import KEEP_SNAPSHOTS, SnapshotStore
from cm_frames.read.table import ATTRS_KEY
from cm_frames.schema import TAG_PREFIX
from cm_frames.writeback.checks import precision_error
from cm_frames.writeback.diff import diff
from cm_frames.writeback.options import APPLY_OPTION_NAMES, ApplyOptions
from cm_frames.writeback.plan import Plan
from cm_frames.writeback.update import table_matches

if TYPE_CHECKING:
    from cm_frames.api.client import Client
    from cm_frames.writeback.result import ApplyResult

__all__ = ["plan_frame", "push"]

_HOW_TO_GIVE_A_BASELINE = (
    "pass the frame as loaded: df.chartmogul.plan(baseline=original_df), or start again from "
    "df = cm.read_customers(client) and edit a copy (edited = df.copy())"
)


def plan_frame(df: pd.DataFrame, baseline: pd.DataFrame | None = None) -> Plan:
    """The plan that turns ``baseline`` (default: the snapshot ``df`` was loaded from) into ``df``.

    Nothing is sent. ``df.chartmogul.plan()`` calls this.

    Parameters
    ----------
    df : pandas.DataFrame
        The edited frame of customers.
    baseline : pandas.DataFrame, optional
        The frame as loaded (default: the snapshot named in ``df.attrs["chartmogul"]``).

    Returns
    -------
    Plan
        What would change; nothing is sent.

    Raises
    ------
    ValidationError
        There is no baseline to diff against, or the edits cannot be written (the message
        names the column, customers and fix).

    Warns
    -----
    RemovalWarning
        The plan removes more than 5% of an attribute's values (at least 10).

    Examples
    --------
    >>> import cm_frames as cm
    >>> emu = cm.Emulator(customers=20, seed=1).start()
    >>> client = emu.client()
    >>> df = cm.read_customers(client, progress=False)
    >>> edited = df.copy()
    >>> edited["tag.trial"] = edited.index == 5
    >>> plan = plan_frame(edited)
    >>> [(op.kind, op.customer_id, op.attribute) for op in plan]
    [('AddTags', 5, 'tag.trial')]
    >>> emu.stop()
    """
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"expected a DataFrame of customers, got {type(df).__name__}")
    info = _provenance(df)
    if baseline is None:
        baseline, info = _load_baseline(info)
    elif not isinstance(baseline, pd.DataFrame):
        raise ValidationError(
            f"baseline must be the DataFrame as loaded (from cm.read_customers), got "
            f"{type(baseline).__name__}"
        )
    else:
        # The baseline's own provenance describes the values being replaced best.
        info = _provenance(baseline) or info
    _check_precision(df, info.get("dialect"))
    custom_types = info.get("custom_types")
    plan = diff(
        df,
        baseline,
        custom_types=custom_types if isinstance(custom_types, Mapping) else None,
        source=_source(info),
    )
    # The edited frame's own attrs say which tables update_from wrote into it.
    matches = table_matches(df)
    _warn_of_large_removals(plan, baseline, asked={c for m in matches for c in m.removing})
    return plan.with_table_matches(matches) if matches else plan


def _check_precision(df: pd.DataFrame, dialect: object) -> None:
    """Today's API keeps Timestamps to the millisecond: refuse finer edits, naming them.

    Values read from the server are whole milliseconds already, so any finer value in a
    Timestamp column is an edit (vectorised: one pass per timestamp column).
    """
    if dialect != "current":
        return
    finer: dict[str, list[object]] = {}
    # By position: a frame with duplicate column names is refused later, by diff, naming them.
    for position, column in enumerate(df.columns):
        series = df.iloc[:, position]
        dtype = series.dtype
        arrow_timestamp = isinstance(dtype, pd.ArrowDtype) and pa.types.is_timestamp(
            dtype.pyarrow_dtype
        )
        if not (
            isinstance(column, str)
            and column.startswith("custom.")
            and (arrow_timestamp or pd.api.types.is_datetime64_any_dtype(dtype))
        ):
            continue
        values = pa.array(series)
        nanos = pc.cast(values, pa.timestamp("ns", values.type.tz)).cast(pa.int64())
        mask = nanos.fill_null(0).to_numpy(zero_copy_only=False) % 1_000_000 != 0
        if mask.any():
            finer[column] = df.index[mask].tolist()
    if finer:
        raise precision_error(finer)


#: plan() warns (RemovalWarning) when it removes more than this share of an attribute's
#: values, and at least REMOVAL_WARNING_MIN of them (a handful is a deliberate edit).
REMOVAL_WARNING_SHARE = 0.05
REMOVAL_WARNING_MIN = 10


def _warn_of_large_removals(plan: Plan, baseline: pd.DataFrame, *, asked: Set[str]) -> None:
    """Warn when a plan removes more than a few per cent of an attribute's values.

    The usual cause is ``edited[col] = series`` with a Series of some rows only: pandas
    aligns it on the index and every other row becomes NA, which the plan reads as "remove".
    Columns in ``asked`` are left out: ``update_from`` was told to remove their values.
    """
    removals = plan.removals
    heavy = []
    for column, removed in removals.items():
        if column not in baseline.columns or column in asked or removed < REMOVAL_WARNING_MIN:
            continue
        values = baseline[column]
        held = int(values.sum()) if column.startswith(TAG_PREFIX) else int(values.notna().sum())
        if held and removed / held > REMOVAL_WARNING_SHARE:
            heavy.append(f"{column}: {removed:,} of the {held:,} values ({removed / held:.0%})")
    if not heavy:
        return
    warnings.warn(
        "this plan removes a large share of some attributes' values: "
        + "; ".join(heavy)
        + ". NA in a custom.* column (False in a tag.* column) removes the value. If you "
        "assigned a Series holding only some customers (edited[col] = values), pandas set every "
        "other row to NA: assign those rows only, edited.loc[values.index, col] = values. If the "
        "removal is meant, go on (plan.summary() lists it; "
        'warnings.simplefilter("ignore", cm.RemovalWarning) silences this).',
        RemovalWarning,
        stacklevel=3,
    )


def push(
    df: pd.DataFrame,
    client: Client | None = None,
    *,
    dry_run: bool = True,
    baseline: pd.DataFrame | None = None,
    **apply_options: Unpack[ApplyOptions],
) -> Plan | ApplyResult:
    """Plan the frame's edits and, only with ``dry_run=False``, apply them.

    ``df.chartmogul.push()`` calls this.

    Parameters
    ----------
    df : pandas.DataFrame
        The edited frame of customers.
    client : Client, optional
        Default: the client that loaded the frame.
    dry_run : bool, default True
        Return the plan and send nothing.
    baseline : pandas.DataFrame, optional
        As for ``plan_frame``.
    **apply_options
        ``journal``, ``check_conflicts``, ``max_workers``, ``progress``
        (``cm_frames.writeback.options.ApplyOptions``), checked with ``dry_run`` too.

    Returns
    -------
    Plan or ApplyResult
        The plan (dry run), or what the apply did.

    Raises
    ------
    ValidationError
        An unknown apply option, or anything ``plan_frame`` and ``Plan.apply`` raise.

    Examples
    --------
    >>> import cm_frames as cm
    >>> emu = cm.Emulator(customers=20, seed=1).start()
    >>> client = emu.client()
    >>> df = cm.read_customers(client, progress=False)
    >>> edited = df.copy()
    >>> edited["tag.trial"] = edited.index == 5
    >>> push(edited).summary().operations
    1
    >>> push(edited, dry_run=False, progress=False).applied
    1
    >>> push(edited, retries=3)
    Traceback (most recent call last):
    ...
    cm_frames.errors.ValidationError: push() got unknown option 'retries'; the apply options are journal, check_conflicts, max_workers, progress (and client=, dry_run=, baseline=)
    >>> emu.stop()
    """
    from cm_frames.writeback.apply import apply_plan

    _check_apply_options(apply_options)
    plan = plan_frame(df, baseline)
    if dry_run:
        return plan
    return apply_plan(plan, client_for_frame(df, client), **apply_options)


def _check_apply_options(options: Mapping[str, Any]) -> None:
    # Checked before planning, and with dry_run too: a misspelt option must not pass silently.
    known = APPLY_OPTION_NAMES
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValidationError(
            f"push() got unknown option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; the apply options are {', '.join(known)} "
            "(and client=, dry_run=, baseline=)"
        )


def _provenance(frame: pd.DataFrame) -> dict[str, Any]:
    info = frame.attrs.get(ATTRS_KEY)
    return dict(info) if isinstance(info, Mapping) else {}


def _load_baseline(info: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    directory, snapshot_id = info.get("snapshot_dir"), info.get("snapshot_id")
    export = info.get(PARQUET_PATH_KEY)
    if not isinstance(directory, str) or not isinstance(snapshot_id, str):
        if isinstance(export, str):
            return _export_baseline(export, info)
        raise ValidationError(
            "this frame does not say which load it came from (df.attrs['chartmogul'] names no "
            "snapshot), so there is nothing to compare it with: " + _HOW_TO_GIVE_A_BASELINE
        )
    try:
        snapshot = SnapshotStore(Path(directory)).load(snapshot_id)
    except (FileNotFoundError, OSError) as exc:
        if isinstance(export, str):
            # Read from a Parquet export of that load: the export is the load as it was.
            return _export_baseline(export, info)
        raise ValidationError(
            f"the snapshot this frame was loaded from ({snapshot_id} in {directory}) no longer "
            f"exists ({type(exc).__name__}: the cache was cleared, or it was one of the older loads "
            f"pruned after {KEEP_SNAPSHOTS} newer ones): " + _HOW_TO_GIVE_A_BASELINE
        ) from None
    frame = table_to_frame(snapshot.table)
    # The snapshot's own metadata is the authority on what the baseline was.
    return frame, {**info, **snapshot.metadata}


def _export_baseline(export: str, info: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The Parquet export a frame was read from (cm.read_parquet), if it is still that export."""
    try:
        frame = read_parquet(export)
    except (FileNotFoundError, OSError) as exc:
        raise ValidationError(
            f"this frame was read from {export}, which can no longer be read "
            f"({type(exc).__name__}), so there is nothing to compare it with: "
            + _HOW_TO_GIVE_A_BASELINE
        ) from None
    found = _provenance(frame)
    for key in (EXPORT_ID_KEY, "snapshot_id", "loaded_at"):
        if found.get(key) != info.get(key):
            raise ValidationError(
                f"{export} was written again since this frame was read from it ({key} "
                f"{info.get(key)!r}, now {found.get(key)!r}), so it is not this frame's baseline: "
                "read the export again (df = cm.read_parquet(path)) and redo the edits on a copy, "
                "or pass the frame as read: df.chartmogul.plan(baseline=original_df)"
            )
    return frame, {**info, **found}


def _source(info: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe provenance carried in the plan (never credentials)."""
    source = {
        name: info[name]
        for name in ("base_url", "account_hash", "snapshot_id", "dialect")
        if isinstance(info.get(name), str)
    }
    customers = info.get("customers")
    if info.get("email") is None and isinstance(customers, int) and not isinstance(customers, bool):
        # The account's size at load lets apply's conflict check choose per-customer reads or
        # whole pages, whichever needs fewer requests (known only for a whole-account load).
        source["account_customers"] = customers
    return source
