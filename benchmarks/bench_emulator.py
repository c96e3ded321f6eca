"""Emulator speed: generating 100,000 customers, loading them, and serving every page.

Measured: ``generate_customers`` alone; ``Emulator.start()`` (generate + encode + load into
SQLite); one sequential ``requests.Session`` fetching all pages (per_page=200), in pages/s
and MB/s; and, for information, the same read by 4 threads (on loopback the client is the
bottleneck, so threads help little on 2 cores), tag writes from 1 and 8 sessions (the
state's one lock is not the bottleneck) and ``reset()`` after writes and with none.
Targets: the load within a few seconds, the sequential read within a few seconds.

Run: .venv/bin/python benchmarks/bench_emulator.py [customers]
"""

from __future__ import annotations

import sys
import threading
import time

import requests

from cm_frames.emulator import Emulator, generate_customers

PER_PAGE = 200


def fetch_pages(url: str, auth: tuple[str, str], pages: list[int]) -> int:
    """Fetch the given pages on one session; the number of body bytes read."""
    total = 0
    with requests.Session() as session:
        session.auth = auth
        for page in pages:
            response = session.get(url + "customers", params={"page": page, "per_page": PER_PAGE})
            response.raise_for_status()
            total += len(response.content)
    return total


def write_tags(url: str, auth: tuple[str, str], worker: int, count: int) -> None:
    """``count`` POSTs of one tag each, to consecutive customers, on one session."""
    with requests.Session() as session:
        session.auth = auth
        for index in range(count):
            response = session.post(
                url + f"customers/{1 + (worker * count + index) % 1000}/attributes/tags",
                json={"tags": [f"bench-{worker}"]},
            )
            response.raise_for_status()


def main(customers: int) -> None:
    started = time.perf_counter()
    generate_customers(customers, seed=0)
    generation = time.perf_counter() - started
    print(f"generate_customers({customers:,}): {generation:.2f} s")

    emulator = Emulator(customers=customers, seed=0)
    started = time.perf_counter()
    emulator.start()
    load = time.perf_counter() - started
    print(f"Emulator.start() (generate + encode + load into SQLite): {load:.2f} s")
    try:
        auth = (emulator.token, emulator.secret)
        pages = list(range(1, -(-customers // PER_PAGE) + 1))

        started = time.perf_counter()
        size = fetch_pages(emulator.url, auth, pages)
        elapsed = time.perf_counter() - started
        print(
            f"sequential read, 1 session: {len(pages)} pages, {size / 1e6:.1f} MB in {elapsed:.2f} s"
            f" = {len(pages) / elapsed:.0f} pages/s, {size / 1e6 / elapsed:.1f} MB/s"
        )

        threads_count = 4
        sizes: list[int] = []
        workers = [
            threading.Thread(
                target=lambda share: sizes.append(fetch_pages(emulator.url, auth, share)),
                args=(pages[index::threads_count],),
            )
            for index in range(threads_count)
        ]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        print(
            f"parallel read, {threads_count} sessions: {len(pages) / elapsed:.0f} pages/s,"
            f" {sum(sizes) / 1e6 / elapsed:.1f} MB/s"
        )

        writes_total = 1600
        for threads_count in (1, 8):
            each = writes_total // threads_count
            workers = [
                threading.Thread(target=write_tags, args=(emulator.url, auth, index, each))
                for index in range(threads_count)
            ]
            started = time.perf_counter()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            elapsed = time.perf_counter() - started
            print(
                f"tag writes, {threads_count} session(s): {writes_total / elapsed:.0f} requests/s"
            )

        started = time.perf_counter()
        emulator.reset()
        print(
            f"reset() after a write ({customers:,} customers reloaded): {time.perf_counter() - started:.2f} s"
        )
        started = time.perf_counter()
        emulator.reset()
        print(f"reset() with nothing written: {(time.perf_counter() - started) * 1000:.1f} ms")
    finally:
        emulator.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
