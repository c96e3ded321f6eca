"""Today's dialect: a cold load by cursor, walked in parts, against one sequential walk.

A cursor walk cannot ask for page 2 before page 1 answers, so at 50 ms a round trip a
100,000-customer account (500 pages) takes 500 round trips in a row. ``read_customers``
walks disjoint parts side by side instead (``cm_frames.api.cursors``). One run, the emulator
(``dialect="current"``, 100,000 customers, ``latency_ms=50``) in this process and every
measurement in a fresh Python process, each a cold load into a frame in the API's order:

- sequential: one cursor walk (``strategy="sequential"``), the baseline;
- statuses: one walk per status (``strategy="statuses"``);
- ranges: ranges of the order from crafted cursors (``strategy="ranges"``, what
  ``read_customers`` does);
- ranges at 40/s: the same under the real service's rate limit, against the time the
  limit alone allows (its requests / 40 per second).

Targets (issue 13): ranges >= 5x faster than sequential, statuses >= 1.5x, ranges at 40/s
<= 1.5x the rate limit's bound.

Run: .venv/bin/python benchmarks/bench_cursor_read.py [customers]
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from _child import run_child  # benchmarks/_child.py (this folder is on sys.path)

CUSTOMERS = 100_000
LATENCY_MS = 50
WORKERS = 8
RATE_LIMIT = 40.0


def child(strategy: str, url: str, api_key: str, rate: str) -> dict[str, Any]:
    """One cold load in this (fresh) process: seconds, rows and requests sent."""
    import cm_frames as cm
    from cm_frames.api.cursors import Rows
    from cm_frames.read.pages import PageDecoder

    rate_limit = None if rate == "none" else float(rate)
    started = time.perf_counter()
    with cm.Client(
        api_key=api_key, base_url=url, cache=False, rate_limit=rate_limit, max_workers=WORKERS
    ) as client:
        decoder = PageDecoder()
        for event in client.walk_customers(strategy=strategy):  # type: ignore[arg-type]
            if isinstance(event, Rows):
                decoder.add_entries(event.entries)
            else:
                decoder.forget(event.ids)
        frame = decoder.finish(api_order=True).to_frame()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(frame), "first": int(frame.index[0])}


def measure(strategy: str, url: str, api_key: str, rate: str) -> dict[str, Any]:
    return run_child(__file__, strategy, url, api_key, rate)


def main(customers: int) -> bool:
    from cm_frames.emulator import Emulator

    print(
        f"cursor load benchmark: {customers:,} customers, today's dialect, latency "
        f"{LATENCY_MS} ms, max_workers={WORKERS}, fresh processes"
    )
    made = time.perf_counter()
    with Emulator(customers=customers, seed=3, dialect="current") as emulator:
        print(f"emulator ready in {time.perf_counter() - made:.1f} s")
        emulator.set_faults(latency_ms=LATENCY_MS)
        runs: dict[str, dict[str, Any]] = {}
        for label, strategy, rate in (
            ("sequential", "sequential", "none"),
            ("statuses", "statuses", "none"),
            ("ranges", "ranges", "none"),
            ("ranges at 40/s", "ranges", str(RATE_LIMIT)),
        ):
            emulator.clear_request_log()
            figures = measure(strategy, emulator.url, emulator.api_key, rate)
            figures["requests"] = len(emulator.request_log())
            runs[label] = figures
            print(
                f"  {label:<16} {figures['seconds']:7.2f} s  {figures['rows']:,} rows  "
                f"{figures['requests']:,} requests"
            )
    rows = {figures["rows"] for figures in runs.values()}
    firsts = {figures["first"] for figures in runs.values()}
    base = runs["sequential"]["seconds"]
    limited = runs["ranges at 40/s"]
    bound = limited["requests"] / RATE_LIMIT
    ratios = {
        "sequential/ranges (speed-up)": (base / runs["ranges"]["seconds"], ">=", 5.0),
        "sequential/statuses (speed-up)": (base / runs["statuses"]["seconds"], ">=", 1.5),
        "ranges at 40/s / rate bound": (limited["seconds"] / bound, "<=", 1.5),
    }
    ok = rows == {customers} and len(firsts) == 1
    print(f"  every load: {customers:,} rows, same first row: {'OK' if ok else 'MISMATCH'}")
    print(f"  rate bound at {RATE_LIMIT:g}/s: {bound:.2f} s for {limited['requests']:,} requests")
    for name, (value, op, target) in ratios.items():
        met = value >= target if op == ">=" else value <= target
        ok &= met
        print(f"  {name:<32} {value:6.2f}x  (target {op} {target}: {'OK' if met else 'MISSED'})")
    return ok


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:6])))
    else:
        sys.exit(0 if main(int(sys.argv[1]) if len(sys.argv) > 1 else CUSTOMERS) else 1)
