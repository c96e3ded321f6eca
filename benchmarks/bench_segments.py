"""Segmentation helpers on 1,000,000 customers: ``segment``, ``profile`` and ``tag_counts``.

Target: each under 1 second on this 2-core machine. The frame: 100,000 emulator customers
(``generate_customers``, realistic mess: sparse custom keys, nullable ints, nulls in Arrow bools,
40 tags) repeated 10 times with fresh ids, so the value distributions are the generator's and the
dtypes exactly those of a load. Each operation runs ``REPEATS`` times in this process; the
first run and the median are printed, with the median's ratio to the target. The other helpers
and two plots are timed for information.

Run: .venv/bin/python benchmarks/bench_segments.py [rows]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa

from cm_frames.analysis import plotting, segments
from cm_frames.emulator.generator import generate_customers
from cm_frames.read.frames import PageDecoder, frame_to_table, table_to_frame

TARGET_SECONDS = 1.0
REPEATS = 5
DISTINCT = 100_000


def build_frame(rows: int) -> pd.DataFrame:
    """``rows`` customers: DISTINCT generated ones, tiled, with ids 1..rows."""
    distinct = min(rows, DISTINCT)
    decoder = PageDecoder()
    decoder.add_entries(generate_customers(distinct, 0))
    table = frame_to_table(decoder.finish().to_frame())
    copies = -(-rows // distinct)
    tiled = pa.concat_tables([table] * copies).slice(0, rows)
    ids = pa.array(np.arange(1, rows + 1, dtype=np.int64))
    return table_to_frame(tiled.set_column(0, "id", ids))


def rules(df: pd.DataFrame) -> dict[str, Any]:
    """Rules of the four kinds an analyst writes: queries, a mask, a callable."""
    return {
        "enterprise": "`clearbit.metrics.employees` >= 1000",
        "at risk": df["tag.churn-risk"] | df["tag.at risk"],
        "active pro": lambda d: (d["status"] == "Active") & d["custom.pro"],
        "europe": "`address.country` in ['DE', 'FR', 'NL', 'ES', 'SE', 'IE', 'GB']",
        "big accounts": "`custom.seats` > 200 and `custom.lead_score` >= 50",
    }


def timed(operation: Callable[[], Any]) -> tuple[float, float]:
    """(first run, median of REPEATS runs) in seconds."""
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        operation()
        times.append(time.perf_counter() - started)
    return times[0], statistics.median(times)


def main(rows: int) -> int:
    started = time.perf_counter()
    df = build_frame(rows)
    print(
        f"frame: {len(df):,} rows x {df.shape[1]} columns, built in "
        f"{time.perf_counter() - started:.1f} s ({DISTINCT:,} generated customers, tiled)"
    )
    labels = segments.segment(df, rules(df))

    def draw(plot: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            plt.close(plot().figure)

        return run

    targets: dict[str, Callable[[], Any]] = {
        "segment (5 rules)": lambda: segments.segment(df, rules(df)),
        "profile(segment)": lambda: segments.profile(df, labels),
        "tag_counts": lambda: segments.tag_counts(df),
    }
    informative: dict[str, Callable[[], Any]] = {
        "profile('status')": lambda: segments.profile(df, "status"),
        "co_occurrence": lambda: segments.co_occurrence(df),
        "tag_matrix": lambda: segments.tag_matrix(df),
        "cohort('QS')": lambda: segments.cohort(df, "QS"),
        "bucket(seats, 5)": lambda: segments.bucket(df, "custom.seats", 5),
        "filter_customers": lambda: segments.filter_customers(
            df, tags_any=["vip", "eu"], status="Active", pro=True
        ),
        "plot_cohorts(MS, by)": draw(lambda: plotting.plot_cohorts(df, "MS", by=labels)),
        "plot_status(by)": draw(lambda: plotting.plot_status(df, by=labels)),
    }
    print(f"\n{'operation':<24}{'first s':>9}{'median s':>10}{'x target':>10}")
    missed = []
    for name, operation in targets.items():
        first, median = timed(operation)
        ratio = median / TARGET_SECONDS
        print(f"{name:<24}{first:>9.3f}{median:>10.3f}{ratio:>10.2f}")
        if median > TARGET_SECONDS:
            missed.append(name)
    print("\nfor information:")
    for name, operation in informative.items():
        first, median = timed(operation)
        print(f"{name:<24}{first:>9.3f}{median:>10.3f}")
    if missed:
        print(f"\nover the {TARGET_SECONDS:g} s target: {', '.join(missed)}")
        return 1
    print(f"\nsegment, profile and tag_counts: each under {TARGET_SECONDS:g} s on {rows:,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
