"""Write-back speed: planning (``diff``) and applying (requests/s against the emulator).

Planning: ``diff`` of 100,000 customers x (20 custom + 40 tag columns), 10% of those 6,000,000
writable cells edited (adds, updates and removes of custom values of all four types; tags set
and cleared through the tag.* columns). Target: ``diff`` under 2 s. The frames are built
directly (synthetic, ArrowDtype columns as frames.md defines them); no emulator. Also printed,
for information: building the operation objects, the summary and the requests, which happen
later and lazily.

Applying: 10,000 operations (2 AddTags + 2 AddCustom on each of 2,500 customers) sent to the
bundled emulator over loopback with ``rate_limit=None``: throughput in operations/s and
requests/s, with the conflict check (default) and without; the number of write requests the
emulator logged must equal ``len(plan.requests())``. Loopback has no latency, so this measures
the client, the journal and the emulator, not the network (the real API allows ~40 requests/s).

Run: .venv/bin/python benchmarks/bench_writeback.py [customers] [apply_operations]
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

import cm_frames as cm
from cm_frames.writeback.diff import diff
from cm_frames.writeback.frame import plan_frame

TARGET_SECONDS = 2.0
N_CUSTOM_PER_TYPE = 5  # x 4 types = 20 custom columns
N_TAGS = 40
EDIT_SHARE = 0.10
SEED = 7

STRING = pd.ArrowDtype(pa.string())
BOOL = pd.ArrowDtype(pa.bool_())
INT64 = pd.ArrowDtype(pa.int64())
TIMESTAMP = pd.ArrowDtype(pa.timestamp("us", tz="UTC"))


def _strings(
    values: np.ndarray, mask: np.ndarray | None = None
) -> pd.api.extensions.ExtensionArray:
    return pd.arrays.ArrowExtensionArray(pa.array(values, pa.string(), mask=mask))


def build_baseline(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, str]]:
    """A frame shaped like read_customers' output: base columns, tags, 40 tag.*, 20 custom.*."""
    ids = np.arange(10_000, 10_000 + n, dtype=np.int64)
    numbers = np.char.mod("%d", ids)
    # Most emails unique; every 50th pair shares one (by-email grouping has work to do).
    email_ids = np.where(ids % 50 == 1, ids - 1, ids)
    columns: dict[str, Any] = {
        "uuid": _strings(np.char.add("cus_", numbers)),
        "external_id": _strings(numbers),
        "email": _strings(np.char.add(np.char.mod("%d", email_ids), "@example.com")),
        "name": _strings(np.char.add("Customer ", numbers)),
    }
    for field in ("address_line1", "address_line2", "address_zip", "city", "country", "state"):
        columns[f"address.{field}"] = _strings(np.full(n, field))
    since = 1_420_070_400_000_000 + rng.integers(0, 10**14, n)
    columns["customer_since"] = pd.arrays.ArrowExtensionArray(
        pa.array(since, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    )
    columns["status"] = pd.arrays.ArrowExtensionArray(
        pa.array(rng.choice(["Active", "Past Due", "Cancelled"], n)).dictionary_encode()
    )
    tag_names = [f"t{i:02d}" for i in range(N_TAGS)]
    has_tag = rng.random((n, N_TAGS)) < 0.1
    _, cols = np.nonzero(has_tag)  # row-major: each row's tags in order, as offsets expect
    offsets = np.concatenate([[0], np.cumsum(has_tag.sum(axis=1))]).astype(np.int32)
    flat = pa.array(np.array(tag_names, dtype=object)[cols], pa.string())
    columns["tags"] = pd.arrays.ArrowExtensionArray(pa.ListArray.from_arrays(offsets, flat))
    for t, name in enumerate(tag_names):
        columns[f"tag.{name}"] = pd.arrays.ArrowExtensionArray(pa.array(has_tag[:, t]))
    custom_types: dict[str, str] = {}
    for i in range(N_CUSTOM_PER_TYPE):
        for type_, make in _CUSTOM_MAKERS.items():
            key = f"{type_.lower()}_{i}"
            absent = rng.random(n) < 0.3
            columns[f"custom.{key}"] = make(rng.integers(0, 1_000_000, n), absent)
            custom_types[key] = type_
    frame = pd.DataFrame(columns, index=pd.Index(ids, name="id"))
    frame = frame[sorted(frame.columns, key=_frame_order)]
    return frame, custom_types


def _frame_order(column: str) -> tuple[int, str]:
    for rank, prefix in enumerate(("tag.", "custom.")):
        if column.startswith(prefix):
            return rank + 1, column
    return 0, ""


_CUSTOM_MAKERS: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
    "Integer": lambda v, m: pd.arrays.ArrowExtensionArray(pa.array(v, pa.int64(), mask=m)),
    "Boolean": lambda v, m: pd.arrays.ArrowExtensionArray(pa.array(v % 2 == 0, mask=m)),
    "Timestamp": lambda v, m: pd.arrays.ArrowExtensionArray(
        pa.array(1_600_000_000_000_000 + v * 1_000_000, pa.int64(), mask=m).cast(
            pa.timestamp("us", tz="UTC")
        )
    ),
    "String": lambda v, m: _strings(np.char.add("value ", np.char.mod("%d", v)), m),
}


def edit(baseline: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A copy with 10% of the writable cells changed, column by column (vectorised)."""
    edited = baseline.copy()
    n = len(edited)
    for column in [c for c in edited.columns if c.startswith(("tag.", "custom."))]:
        rows = rng.random(n) < EDIT_SHARE
        array = pa.array(edited[column])
        if column.startswith("tag."):
            flipped = pa.array(np.where(rows, ~array.to_numpy(zero_copy_only=False), array))
            edited[column] = pd.arrays.ArrowExtensionArray(flipped)
            continue
        valid = array.is_valid().to_numpy(zero_copy_only=False)
        # Edited cells: a third removed (where there was a value), the rest get a new value.
        remove = rows & valid & (rng.random(n) < 0.33)
        change = rows & ~remove
        fresh = _fresh_values(array.type, rng.integers(1_000_000, 2_000_000, n))
        new = pa.compute.if_else(pa.array(change), fresh, array)
        new = pa.compute.if_else(pa.array(remove), pa.nulls(n, array.type), new)
        edited[column] = pd.arrays.ArrowExtensionArray(new)
    return edited


def _fresh_values(type_: pa.DataType, values: np.ndarray) -> pa.Array:
    if pa.types.is_boolean(type_):
        return pa.array(values % 2 == 0)
    if pa.types.is_integer(type_):
        return pa.array(values, pa.int64())
    if pa.types.is_timestamp(type_):
        return pa.array(1_700_000_000_000_000 + values * 1_000_000, pa.int64()).cast(type_)
    return pa.array(np.char.add("new ", np.char.mod("%d", values)), pa.string())


def timed(label: str, action: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    print(f"{label:<34} {seconds:7.3f} s")
    return seconds, result


def bench_diff(n: int) -> bool:
    """The planning benchmark; True when ``diff`` meets its target."""
    rng = np.random.default_rng(SEED)
    baseline, custom_types = build_baseline(n, rng)
    edited = edit(baseline, rng)
    cells = n * (N_TAGS + 4 * N_CUSTOM_PER_TYPE)
    print(
        f"{n:,} customers x ({4 * N_CUSTOM_PER_TYPE} custom + {N_TAGS} tag columns) = "
        f"{cells:,} writable cells, ~{EDIT_SHARE:.0%} edited"
    )
    runs = [timed("diff", lambda: diff(edited, baseline, custom_types=custom_types))]
    runs += [timed("diff (again)", lambda: diff(edited, baseline, custom_types=custom_types))]
    seconds = min(s for s, _ in runs)
    plan = runs[0][1]
    _, summary = timed("plan.summary()", plan.summary)
    timed("plan.operations (objects)", lambda: plan.operations)
    _, requests = timed("plan.requests()", plan.requests)
    timed("plan.to_json()", plan.to_json)
    print(
        f"operations: {len(plan):,}   requests: {len(requests):,} (summary: {summary.requests:,})"
    )
    print(f"{summary}")
    verdict = "OK" if seconds < TARGET_SECONDS else "TOO SLOW"
    print(
        f"diff: {seconds:.3f} s = {seconds / TARGET_SECONDS:.2f} x the {TARGET_SECONDS:.0f} s "
        f"target: {verdict}"
    )
    return seconds < TARGET_SECONDS


APPLY_OPS_PER_CUSTOMER = 4


def bench_apply(n_ops: int) -> bool:
    """The apply benchmark; True when the emulator saw exactly the planned write requests."""
    customers = max(1, n_ops // APPLY_OPS_PER_CUSTOMER)
    print(f"\napply: {customers:,} customers x {APPLY_OPS_PER_CUSTOMER} operations, emulator")
    with (
        cm.Emulator(customers=customers, seed=SEED) as emulator,
        tempfile.TemporaryDirectory() as cache_dir,
        emulator.client(cache_dir=cache_dir, rate_limit=None) as client,
    ):
        baseline = cm.read_customers(client, progress=False)
        edited = baseline.copy()
        edited["tag.bench-a"] = True
        edited["tag.bench-b"] = True
        edited["custom.bench_score"] = pd.array(range(customers), dtype="int64[pyarrow]")
        edited["custom.bench_label"] = pd.array(["bench"] * customers, dtype="string[pyarrow]")
        plan = plan_frame(edited)
        requests = len(plan.requests())
        print(
            f"plan: {len(plan):,} operations -> {requests:,} requests "
            f"(max_workers={client.max_workers})"
        )
        exact = True
        applied: cm.ApplyResult | None = None
        for label, check in (
            ("apply (conflict check)", True),
            ("undo: result.undo(client, check_conflicts=False)", False),
        ):
            # The undo is what the apply wrote (here all of it), as users undo.
            the_plan: cm.Plan = plan if applied is None else applied.undo_plan()
            emulator.clear_request_log()
            seconds, result = timed(
                label,
                lambda p=the_plan, c=check: p.apply(client, check_conflicts=c, progress=False),
            )
            applied = result
            writes = sum(1 for entry in emulator.request_log() if entry["method"] != "GET")
            reads = sum(1 for entry in emulator.request_log() if entry["method"] == "GET")
            print(
                f"  {result.applied:,} operations applied, {writes:,} write + {reads:,} read "
                f"requests: {result.applied / seconds:,.0f} ops/s, "
                f"{result.requests_sent / seconds:,.0f} requests/s"
            )
            exact &= result.ok and writes == len(the_plan.requests()) == result.requests_sent
        print(f"write requests equal len(plan.requests()): {'OK' if exact else 'MISMATCH'}")
        return exact


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_ops = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    planned = bench_diff(n)
    applied = bench_apply(n_ops)
    if not (planned and applied):
        sys.exit(1)


if __name__ == "__main__":
    main()
