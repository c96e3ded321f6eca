"""Crash safety at size: SIGKILL the applying process 10 times at random points, resume each.

The large version of tests/system/test_crash_safety.py, with the same harness
(tests/system/crash_harness.py): an emulator of 5,000 customers on a SQLite file, a plan of a few
thousand operations of every kind over 1,500 of them (and every customer sharing an email).
Each of 10 rounds resets the emulator, applies the plan in a child process, SIGKILLs it once
the server has let a seeded random number of writes through and holds the next ones, with
more in flight (rounds 2, 5, 8 after switching the emulator to dropping requests; odd rounds
also kill the first resume), restarts
the emulator on the same file and port, resumes in this process with the same journal and
checks: every operation applied exactly once over all runs, nothing journaled done sent
again, every unanswered request re-checked (landed: not resent; lost: sent), every
customer's attributes as planned.

Prints per round: the kill point, operations journaled done at the kill, unanswered
operations that landed / were lost, operations journaled done but sent again (must be 0),
the resume's requests and seconds. Exits 1 if any check fails, 2 past the time limit.

Run: .venv/bin/python benchmarks/bench_crash.py [customers] [edited_customers] [time_limit_s]
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "system"))

from crash_harness import (  # tests/system/crash_harness.py, shared with the test
    KillPoint,
    Round,
    crash_plan,
    crash_round,
    planned_attributes,
    read_attributes,
)

import cm_frames as cm
from cm_frames.emulator import Emulator

CUSTOMERS = 5_000
EDITED = 1_500
TIME_LIMIT_S = 600.0
ROUNDS = 10
SEED = 7


def kill_points(requests: int, rng: random.Random) -> list[list[KillPoint]]:
    """As in the test: round i within the i-th tenth of the run; round 0 at the first request."""
    last = requests - 50
    rounds = []
    for i in range(ROUNDS):
        writes = rng.randrange(i * last // ROUNDS, (i + 1) * last // ROUNDS) if i else 0
        first = KillPoint(writes, drop=i % 3 == 2)
        again = [KillPoint(rng.randrange(0, requests // 10))] if i % 2 else []
        rounds.append([first, *again])
    return rounds


def main() -> int:
    customers = int(sys.argv[1]) if len(sys.argv) > 1 else CUSTOMERS
    edited = int(sys.argv[2]) if len(sys.argv) > 2 else EDITED
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else TIME_LIMIT_S
    started = time.monotonic()
    deadline = started + limit
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as tmp:
        work = Path(tmp)
        with Emulator(customers=customers, seed=SEED, db=work / "emulator.sqlite") as emulator:
            with cm.Client(
                emulator.token, emulator.secret, emulator.url, cache_dir=work, rate_limit=None
            ) as client:
                plan = crash_plan(client, customers=edited, seed=SEED)
            requests = len(plan.requests())
            planned = planned_attributes(read_attributes(emulator), plan)
            print(
                f"crash safety: {customers:,} customers, plan of {len(plan):,} operations in "
                f"{requests:,} requests, {ROUNDS} rounds, time limit {limit:.0f} s"
            )
            print(
                f"{'round':>5} {'kill at writes':>16} {'kills':>5} {'done':>6} {'landed':>6} "
                f"{'lost':>5} {'resent':>6} {'resume req':>10} {'resume s':>8}"
            )
            rounds: list[Round] = []
            failed = False
            for number, points in enumerate(kill_points(requests, random.Random(SEED))):
                try:
                    found = crash_round(
                        emulator, plan, planned, points, work / f"round-{number}", deadline=deadline
                    )
                except TimeoutError as exc:
                    print(f"round {number}: {exc} (time limit {limit:.0f} s)")
                    return 2
                rounds.append(found)
                where = " + ".join(f"{p.writes}{' (drop)' if p.drop else ''}" for p in points)
                print(
                    f"{number:>5} {where:>16} {found.kills:>5} {found.done_at_kill:>6} "
                    f"{found.unanswered_landed:>6} {found.unanswered_lost:>5} "
                    f"{found.resent_done:>6} {found.resume_requests:>10} "
                    f"{found.resume_seconds:>8.2f}"
                )
                for problem in found.problems:
                    failed = True
                    print(f"  FAIL: {problem}")
                if found.kills == 0:
                    failed = True
                    print("  FAIL: the child finished before the kill point")
                if time.monotonic() > deadline:
                    print(f"time limit of {limit:.0f} s reached after round {number}")
                    return 2

    resumes = [r.resume_seconds for r in rounds]
    print(
        f"kills: {sum(r.kills for r in rounds)}; operations journaled done and sent again: "
        f"{sum(r.resent_done for r in rounds)} (must be 0); unanswered operations re-checked: "
        f"{sum(r.unanswered_landed for r in rounds)} had landed (not resent), "
        f"{sum(r.unanswered_lost for r in rounds)} had not (sent by the resume)"
    )
    print(
        f"resume: median {statistics.median(resumes):.2f} s, max {max(resumes):.2f} s "
        f"(conflict check + remaining requests); total {time.monotonic() - started:.0f} s"
    )
    print("OK" if not failed else "FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
