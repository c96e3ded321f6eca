"""Read path speed and memory: naive baseline, raw-fetch floor, read_customers cold and warm.

One run, against an emulator serving 100,000 customers in its own process, at two settings:
no added latency (loopback, where the client's own overhead shows) and ``latency_ms=50``
(close to a real API's round trip). Each measurement runs in a fresh Python process, so
imports are outside the timing, memory is the process's own, and "warm" means what a user
sees the next time they open a notebook (the snapshot on disk, nothing in memory).

- naive: one requests.Session, pages in sequence, json.loads, pd.json_normalize,
  convert_dtypes(dtype_backend="pyarrow");
- floor: the same pages' bytes with read_customers' concurrency (Client.iter_pages,
  raw, no cache), no decoding;
- cold: cm.read_customers with an empty cache directory;
- warm: cm.read_customers again, in a new process, with the cache the cold run left.

Each kind is measured in 3 rounds, alternated; the ratios are of the best round of each (the
rounds' range is printed beside it), the memory the highest peak of the rounds.

Targets (issues 3 and 14): at 50 ms cold >= 4x faster than naive and <= 1.5x the floor; with
no latency cold >= 2.5x faster than naive; warm >= 20x faster than cold; peak memory of the
cold read <= 3x the final frame's memory_usage(deep=True).

Run: .venv/bin/python benchmarks/bench_read.py [customers]
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from typing import Any

from _child import run_child  # benchmarks/_child.py
from _memory import peak_mb, reset_peak  # benchmarks/_memory.py (this folder is on sys.path)

CUSTOMERS = 100_000
LATENCIES_MS = (0, 50)
KINDS = ("naive", "floor", "cold", "warm")
#: Rounds per latency: cold runs vary by up to a third from one process to the next here
#: (threads handing the GIL to each other across two cores), the naive loop by a few per cent.
ROUNDS = 3


def child(kind: str, url: str, token: str, secret: str, cache_dir: str) -> dict[str, Any]:
    """One measurement in this (fresh) process; returns seconds and memory figures."""
    import pandas as pd
    import requests

    import cm_frames as cm

    frame: pd.DataFrame | None = None
    gc.collect()
    before = reset_peak()
    started = time.perf_counter()
    if kind == "naive":
        rows: list[dict[str, Any]] = []
        with requests.Session() as session:
            session.auth = (token, secret)
            page = 1
            while True:
                response = session.get(url + "customers", params={"page": page, "per_page": 200})
                response.raise_for_status()
                body = json.loads(response.content)
                rows.extend(body["entries"])
                if not body["has_more"]:
                    break
                page += 1
        frame = pd.json_normalize(rows).convert_dtypes(dtype_backend="pyarrow")
        del rows
    elif kind == "floor":
        with cm.Client(token, secret, url, cache=False, rate_limit=None) as client:
            size = sum(len(body) for body in client.iter_pages(raw=True, cache=False))
    else:
        with cm.Client(token, secret, url, cache_dir=cache_dir, rate_limit=None) as client:
            frame = cm.read_customers(client, progress=False)
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {"seconds": seconds, "peak_extra_mb": peak_mb() - before}
    if frame is not None:
        result["rows"] = len(frame)
        result["frame_mb"] = frame.memory_usage(deep=True).sum() / 2**20
    else:
        result["bytes_mb"] = size / 2**20
    return result


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest round's figures, the range of the rounds' seconds and the highest peak."""
    best = dict(min(results, key=lambda r: r["seconds"]))
    best["low"] = best["seconds"]
    best["high"] = max(r["seconds"] for r in results)
    best["peak_extra_mb"] = max(r["peak_extra_mb"] for r in results)
    return best


def measure(kind: str, url: str, token: str, secret: str, cache_dir: str) -> dict[str, Any]:
    return run_child(__file__, kind, url, token, secret, cache_dir)


def main(customers: int) -> None:
    from cm_frames.emulator import Emulator

    print(f"read path benchmark: {customers:,} customers, 2 latency settings, fresh processes")
    emulator = Emulator(customers=customers, seed=3)
    started = time.perf_counter()
    emulator.start()
    print(f"emulator ready in {time.perf_counter() - started:.1f} s at {emulator.url}")
    args = (emulator.url, emulator.token, emulator.secret)
    failures: list[str] = []
    try:
        for latency in LATENCIES_MS:
            emulator.set_faults(latency_ms=latency)
            rounds: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
            for _ in range(ROUNDS):
                # Alternated, so that a slow spell of the machine touches every kind alike.
                with tempfile.TemporaryDirectory() as cache_dir:
                    for kind in KINDS:  # warm reads the cache that this round's cold left
                        rounds[kind].append(measure(kind, *args, cache_dir))
            naive, floor, cold, warm = (summarise(rounds[kind]) for kind in KINDS)
            print(f"\nlatency {latency} ms (best of {ROUNDS} rounds; the range of the rounds)")
            for name, result in zip(KINDS, (naive, floor, cold, warm), strict=True):
                extra = (
                    f", frame {result['frame_mb']:.0f} MB"
                    if "frame_mb" in result
                    else f", {result['bytes_mb']:.0f} MB of bodies"
                )
                print(
                    f"  {name:<6} {result['seconds']:7.2f} s  ({result['low']:.2f}-"
                    f"{result['high']:.2f})  peak +{result['peak_extra_mb']:.0f} MB{extra}"
                )
            assert cold["rows"] == naive["rows"] == warm["rows"] == customers
            ratios = {
                "naive/cold (speed-up)": naive["seconds"] / cold["seconds"],
                "cold/floor": cold["seconds"] / floor["seconds"],
                "cold/warm (speed-up)": cold["seconds"] / warm["seconds"],
                "cold peak / frame memory": cold["peak_extra_mb"] / cold["frame_mb"],
            }
            targets = {
                "naive/cold (speed-up)": (">=", 4.0 if latency else 2.5),
                "cold/floor": ("<=", 1.5) if latency else None,
                "cold/warm (speed-up)": (">=", 20.0),
                "cold peak / frame memory": ("<=", 3.0),
            }
            for name, value in ratios.items():
                target = targets[name]
                if target is None:
                    print(f"  {name:<26} {value:6.2f}x  (no target at this latency)")
                    continue
                op, bound = target
                met = value >= bound if op == ">=" else value <= bound
                print(
                    f"  {name:<26} {value:6.2f}x  target {op} {bound}: {'met' if met else 'MISSED'}"
                )
                if not met:
                    failures.append(
                        f"latency {latency} ms: {name} {value:.2f} (target {op} {bound})"
                    )
    finally:
        emulator.stop()
    print("\nall targets met" if not failures else "\nmissed:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        os.environ.setdefault("PYTHONHASHSEED", "0")
        print(json.dumps(child(*sys.argv[2:7])))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else CUSTOMERS)
