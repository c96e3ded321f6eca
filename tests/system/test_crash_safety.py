"""Crash safety: SIGKILL the applying process at random points; every resume ends right.

Issue 7: "kill the applying process (SIGKILL of a subprocess) at random points, 10 times; each
resume with the journal ends in the right state and sends nothing the journal shows done."
``crash_harness.py`` runs the rounds and lists what it checks; here are the 10 kill points
(seeded, spread over the whole run, from the conflict check to the last requests) and what
they must, together, have exercised.

What the design does with a request that was ``sending`` but not ``done`` at the kill (its
outcome unknown): the journal calls its operations *unconfirmed*, not done. The resume's
conflict check re-reads those customers: an operation whose new value is on the server
landed (it is reported applied, "sent by an earlier run", and is not sent again); one whose
old value is still there did not land and is sent. Three of the ten rounds switch the
emulator to dropping every request just before the kill, so that some unconfirmed requests
certainly never landed; in the others the request the emulator holds at the kill point
(``hang_after``), and any the latency keeps in flight, land after it.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from crash_harness import (
    KillPoint,
    applied_on_server,
    crash_plan,
    crash_round,
    customer_refs,
    op_identity,
    planned_attributes,
    read_attributes,
    restart,
    run_and_kill,
)
from dialects import BOTH_DIALECTS

import cm_frames as cm
from cm_frames.emulator import Emulator
from cm_frames.writeback.operations import KINDS

pytestmark = BOTH_DIALECTS

ROUNDS = 10
SEED = 7
CUSTOMERS = 300  # in the emulator
EDITED = 120  # customers the plan changes (plus those sharing an email)
TIME_LIMIT_S = 120  # the whole test stops with a TimeoutError beyond this


def _kill_points(requests: int, rng: random.Random) -> list[list[KillPoint]]:
    """Per round, the points to kill at: one spread over the run, a second every other round.

    Round i kills after a seeded random number of writes within the i-th tenth of the run,
    except round 0, which kills at the first request in flight (the conflict check's read,
    before any write). Rounds 2, 5 and 8 drop requests first; odd rounds also kill the first
    resume, early in its run.
    """
    last = requests - 10  # writes left after every point: the emulator holds the next one
    rounds = []
    for i in range(ROUNDS):
        writes = rng.randrange(i * last // ROUNDS, (i + 1) * last // ROUNDS) if i else 0
        first = KillPoint(writes, drop=i % 3 == 2)
        again = [KillPoint(rng.randrange(0, 20))] if i % 2 else []
        rounds.append([first, *again])
    return rounds


def test_ten_kills_at_random_points_each_resume_to_the_planned_state(
    tmp_path: Path, dialect: str
) -> None:
    deadline = time.monotonic() + TIME_LIMIT_S
    with Emulator(
        customers=CUSTOMERS,
        seed=SEED,
        db=tmp_path / "emulator.sqlite",
        dialect=dialect,
    ) as emulator:
        with cm.Client(
            emulator.token, emulator.secret, emulator.url, cache_dir=tmp_path, rate_limit=None
        ) as client:
            plan = crash_plan(client, customers=EDITED, seed=SEED)
        requests = plan.requests()
        assert 300 <= len(plan) <= 600  # a few hundred operations ...
        assert {op.kind for op in plan} == set(KINDS)  # ... of every kind ...
        assert any(r.by_email for r in requests)  # ... some sent by email
        planned = planned_attributes(read_attributes(emulator), plan)

        rounds = []
        for number, points in enumerate(_kill_points(len(requests), random.Random(SEED))):
            found = crash_round(
                emulator, plan, planned, points, tmp_path / f"round-{number}", deadline=deadline
            )
            assert not found.problems, f"round {number}, {points}:\n" + "\n".join(found.problems)
            assert found.kills >= 1, f"round {number}: the child finished before {points[0]}"
            rounds.append(found)

    assert sum(r.resent_done for r in rounds) == 0
    # Both kinds of unknown outcome happened and were told apart by the resumes.
    assert sum(r.unanswered_landed for r in rounds) > 0
    assert sum(r.unanswered_lost for r in rounds) > 0
    # Every kill but round 0's struck mid-run, after some requests were journaled done.
    assert all(r.done_at_kill > 0 or r.finished_by_child for r in rounds[1:])


def test_the_command_line_resumes_a_killed_apply_from_its_default_journal(
    tmp_path: Path, dialect: str
) -> None:
    # What a user does after a crash: run the same `cm-frames apply plan.json` again. The
    # journal is the default one (in the cache directory, named by the plan), and the
    # command's real rate limit (40 requests/s) keeps this plan of 40 requests about 1 s long.
    executable = shutil.which("cm-frames", path=str(Path(sys.executable).parent))
    assert executable is not None, "the cm-frames entry point is not installed beside python"
    with Emulator(
        customers=CUSTOMERS,
        seed=SEED,
        db=tmp_path / "emulator.sqlite",
        dialect=dialect,
    ) as emulator:
        with cm.Client(
            emulator.token, emulator.secret, emulator.url, cache_dir=tmp_path, rate_limit=None
        ) as client:
            df = cm.read_customers(client, progress=False)
        unshared = ~df["email"].duplicated(keep=False).to_numpy(dtype=bool)
        tagged = df.index[unshared][:40]  # one request per customer: 40 requests
        edited = df.copy()
        edited["tag.cli-crash"] = edited.index.isin(tagged)
        plan = edited.chartmogul.plan()
        plan_file = tmp_path / "plan.json"
        plan_file.write_text(plan.to_json(), encoding="utf-8")
        env = {
            **os.environ,
            "CHARTMOGUL_ACCOUNT_TOKEN": emulator.token,
            "CHARTMOGUL_SECRET_KEY": emulator.secret,
            "CHARTMOGUL_API_URL": emulator.url,
            "XDG_CACHE_HOME": str(tmp_path / "cli-cache"),
        }
        argv = [executable, "apply", str(plan_file)]
        deadline = time.monotonic() + 60

        killed, _ = run_and_kill(emulator, argv, env, KillPoint(writes=15), deadline=deadline)
        assert killed
        restart(emulator)
        first = emulator.request_log()
        emulator.clear_request_log()
        resumed = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        second = emulator.request_log()
        now = read_attributes(emulator)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(plan)} applied" in resumed.stdout
    assert "applied earlier (from journal)" in resumed.stdout
    emails = plan.email_groups
    uuids = customer_refs(plan)
    applied = applied_on_server(first, emails, uuids) + applied_on_server(second, emails, uuids)
    assert applied == Counter(op_identity(op) for op in plan.operations)
    assert all("cli-crash" in now[customer][0] for customer in tagged)
