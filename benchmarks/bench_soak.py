"""Soak (issue 7): read and write back through the issue's fault mix, then check nothing was lost.

Against the bundled emulator with 10% 5xx, 3% 429 with ``Retry-After: 1``, 1% dropped
connections and 3 ms of latency on every request:

1. read every customer fault-free, then again under faults: the frames must be equal;
2. edit the frame read under faults with exactly ``--ops`` cell edits of every kind (tags
   added to and removed from existing columns, a new tag column, custom values added, changed
   and removed in columns of all four types, a new custom column, and tags and a custom value
   given to every customer sharing an email, which the plan sends by email);
3. apply that plan under faults: every operation must be reported applied, and a fault-free
   reload must hold exactly the edited frame's tags and custom values (and planning the edited
   frame against the reload must give an empty plan);
4. reset the emulator and apply the same plan fault-free: the same checks, and the ratio of
   the two applies' operations/s.

Printed: pages, requests sent, faults seen by kind, retries, the shortest wait after a 429,
times and ratios against the fault-free runs, and PASS/FAIL per check. The exit code is 1 if a
check failed and 3 if the run outlived ``--time-limit``, which it enforces itself. Emulator and
client share this process (and its 2 cores): the ratios compare like with like.

``tests/system/test_soak.py`` runs the same path at a small size; both use ``tests/system/soak_harness.py``.

Run: .venv/bin/python benchmarks/bench_soak.py [--customers 20000] [--ops 5000] [--seed 7]
     [--time-limit 600]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from math import ceil
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import pandas as pd

import cm_frames as cm
from cm_frames.writeback.frame import plan_frame

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "system"))

from soak_harness import (  # tests/system/soak_harness.py, shared with the test
    FAULT_MIX,
    PER_PAGE,
    EditsDoNotFit,
    edit_for_soak,
    fault_counts,
    faults_on,
    landed_once,
    planned_writes,
    read,
    read_only_columns,
    retries,
    retry_after_gaps,
    take_log,
    writable_state,
    write_attempts,
)

T = TypeVar("T")


class TimeLimitExceeded(Exception):
    """Raised in the main thread when the run outlives ``--time-limit``."""


@contextmanager
def time_limit(seconds: float, grace: float = 60.0) -> Iterator[None]:
    """Raise ``TimeLimitExceeded`` after ``seconds``; end the process if that cannot stop it.

    The exception stops the run between two requests (apply lets requests in flight finish);
    if the run is still not over ``grace`` seconds later, the process exits with code 3.
    """

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeLimitExceeded(f"the soak did not finish within --time-limit {seconds:g} s")

    def kill() -> None:
        print(f"\nFAIL: still running {grace:g} s after the time limit; exiting", flush=True)
        os._exit(3)

    backstop = threading.Timer(seconds + grace, kill)
    backstop.daemon = True
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    backstop.start()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        backstop.cancel()


def timed(action: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


class Checks:
    """PASS/FAIL lines, printed as they come."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, name: str, passed: bool, detail: str = "") -> None:
        print(f"  {'PASS' if passed else 'FAIL'}  {name}{f': {detail}' if detail else ''}")
        if not passed:
            self.failed.append(name)

    def frames_equal(self, name: str, actual: pd.DataFrame, expected: pd.DataFrame) -> None:
        try:
            pd.testing.assert_frame_equal(actual, expected)
        except AssertionError as exc:
            self.check(name, False, " ".join(str(exc).split())[:400])
        else:
            self.check(name, True)


def describe_log(label: str, log: Sequence[Mapping[str, Any]]) -> None:
    faults = fault_counts(log)
    writes = sum(entry["method"] != "GET" for entry in log)
    print(
        f"  {label}: {len(log):,} requests sent ({writes:,} writes), {retries(log):,} retries; "
        f"faults: {faults['5xx']:,} 5xx, {faults['429']:,} 429, {faults['dropped']:,} dropped"
    )


def verify_state(
    checks: Checks, label: str, client: cm.Client, edited: pd.DataFrame, clean: pd.DataFrame
) -> None:
    """A fault-free reload holds the edits, and nothing else changed."""
    reloaded = read(client)
    checks.frames_equal(
        f"{label}: server tags and custom values equal the edited frame's",
        writable_state(reloaded),
        writable_state(edited),
    )
    columns = read_only_columns(clean)
    checks.frames_equal(f"{label}: read-only columns unchanged", reloaded[columns], clean[columns])
    # Without its tags lists: the edits went through the tag.* columns, so the edited frame's
    # lists are still the ones loaded, and against the reload they would read as removals.
    left = plan_frame(edited.drop(columns="tags"), baseline=reloaded)
    checks.check(f"{label}: planning again gives an empty plan", left.is_empty, f"{len(left)} left")


def verify_result(checks: Checks, label: str, result: cm.ApplyResult, plan: cm.Plan) -> None:
    counts = result.counts()
    checks.check(
        f"{label}: every operation applied, none failed",
        result.applied == len(plan) and result.ok and result.skipped == 0,
        ", ".join(f"{n:,} {what}" for what, n in counts.items()),
    )
    writes = len(plan.requests())
    checks.check(
        f"{label}: requests sent equal the plan's",
        result.requests_sent == writes,
        f"{result.requests_sent:,} of {writes:,}",
    )


def soak(customers: int, n_ops: int, seed: int) -> list[str]:
    """The whole soak; returns the names of the checks that failed."""
    checks = Checks()
    mix = ", ".join(f"{name}={value}" for name, value in FAULT_MIX.items())
    print(f"soak: {customers:,} customers, {n_ops:,} operations, seed {seed}\nfaults: {mix}")
    started = time.perf_counter()
    with (
        cm.Emulator(customers=customers, seed=seed) as emulator,
        tempfile.TemporaryDirectory() as workdir,
        emulator.client(cache_dir=workdir, rate_limit=None) as client,
    ):
        print(f"emulator ready in {time.perf_counter() - started:.1f} s at {emulator.url}")

        print("\nread")
        clean, clean_s = timed(lambda: read(client))
        describe_log("fault-free", take_log(emulator))
        faults_on(emulator)
        faulty, faulty_s = timed(lambda: read(client))
        emulator.clear_faults()
        read_log = take_log(emulator)
        describe_log("faults    ", read_log)
        pages = ceil(len(clean) / PER_PAGE)
        print(
            f"  {len(clean):,} customers in {pages:,} pages: fault-free {clean_s:.2f} s, "
            f"faults {faulty_s:.2f} s ({faulty_s / clean_s:.2f}x)"
        )
        checks.frames_equal("read under faults equals the fault-free read", faulty, clean)
        checks.check("faults during the read", sum(fault_counts(read_log).values()) > 0)

        edits = edit_for_soak(faulty, n_ops, seed)
        plan = plan_frame(edits.frame)
        requests = plan.requests()
        by_email = sum(r.by_email for r in requests)
        print(
            f"\nplan: {len(plan):,} operations "
            f"({', '.join(f'{n:,} {kind}' for kind, n in sorted(edits.kinds.items()))}) in "
            f"{len(requests):,} requests ({by_email:,} by email) for "
            f"{plan.summary().customers:,} customers"
        )
        checks.check(
            "the plan holds exactly the edits",
            Counter(op.kind for op in plan) == edits.kinds and len(plan) == n_ops,
        )

        print("\napply under faults")
        faults_on(emulator)
        journal = Path(workdir) / "soak-faults.jsonl"
        result, faulty_apply_s = timed(lambda: plan.apply(client, journal=journal, progress=False))
        emulator.clear_faults()
        apply_log = take_log(emulator)
        describe_log("faults    ", apply_log)
        gaps = retry_after_gaps(apply_log)
        shortest = f"{min(gaps):.2f} s" if gaps else "none"
        print(f"  retries after a 429: {len(gaps):,}, shortest wait {shortest}")
        verify_result(checks, "faults", result, plan)
        attempts = write_attempts(apply_log)
        checks.check(
            "each planned write landed exactly once, after faults only",
            attempts.keys() == planned_writes(plan) and landed_once(attempts),
        )
        checks.check("faults of every kind during the apply", len(fault_counts(apply_log)) == 3)
        checks.check(
            "every retry after a 429 waited Retry-After",
            bool(gaps) and min(gaps) >= FAULT_MIX["retry_after_s"],
        )
        verify_state(checks, "faults", client, edits.frame, clean)
        take_log(emulator)

        print("\napply fault-free (emulator reset to its seeded customers)")
        emulator.reset()
        journal = Path(workdir) / "soak-clean.jsonl"
        clean_result, clean_apply_s = timed(
            lambda: plan.apply(client, journal=journal, progress=False)
        )
        describe_log("fault-free", take_log(emulator))
        verify_result(checks, "fault-free", clean_result, plan)
        verify_state(checks, "fault-free", client, edits.frame, clean)

        faulty_rate, clean_rate = len(plan) / faulty_apply_s, len(plan) / clean_apply_s
        print(
            f"\napply: faults {faulty_apply_s:.2f} s = {faulty_rate:,.0f} ops/s; fault-free "
            f"{clean_apply_s:.2f} s = {clean_rate:,.0f} ops/s; fault-free/faults "
            f"{clean_rate / faulty_rate:.2f}x"
        )
        print(
            f"read: faults {faulty_s:.2f} s, fault-free {clean_s:.2f} s; faults/fault-free "
            f"{faulty_s / clean_s:.2f}x"
        )
    print(f"total {time.perf_counter() - started:.1f} s")
    return checks.failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000, help="customers to read")
    parser.add_argument("--ops", type=int, default=5_000, help="operations to apply")
    parser.add_argument("--seed", type=int, default=7, help="seeds the data, faults and edits")
    parser.add_argument(
        "--time-limit", type=float, default=600, help="seconds before the run stops itself"
    )
    args = parser.parse_args(argv)
    for name in ("customers", "ops", "time_limit"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0")
    try:
        with time_limit(args.time_limit):
            failed = soak(args.customers, args.ops, args.seed)
    except TimeLimitExceeded as exc:
        print(f"\nFAIL: {exc}")
        return 3
    except EditsDoNotFit as exc:
        parser.error(str(exc))
    print("\nall checks PASS" if not failed else "\nFAILED:\n  " + "\n  ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
