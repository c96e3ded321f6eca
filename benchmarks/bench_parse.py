"""Page bytes -> DataFrame: the options of perf-notes, measured, against cm_frames' PageDecoder.

100,000 emulator customers (``generate_customers``, ~800 bytes each: sparse custom keys of all
four types with two keys of mixed JSON type, 0-6 tags, Stripe, nested Clearbit with nulls) in
500 compact pages of 200. Each run happens in a fresh Python process (imports and page bytes
loaded before the clock starts); figures are the median of the runs. Measured per option:
seconds from page bytes to a DataFrame, extra peak RSS in MB over the process's RSS before,
the speed-up over naive, and whether the result is the frame frames.md specifies (checked on
the data: offsets as UTC instants, the mixed-type key as JSON text, tag columns, ArrowDtypes).

Options:
- naive: json.loads + pd.json_normalize + convert_dtypes(dtype_backend="pyarrow")
- from_pylist: orjson + pa.Table.from_pylist + flatten (GC off)
- array_per_page: orjson + pa.array per page + concat_tables(promote_options="permissive")
- pyarrow_json: compact pages joined by newlines, pyarrow.json.read_json, flatten
- cm_frames: PageDecoder (orjson per page, explicit-type conversion of the documented fields,
  column-wise conversion of custom attributes, Arrow inference for Stripe/Clearbit)

Options that raise on the real data (mixed JSON types) are timed again on a "clean" copy where
every value of the mixed keys is a string, and marked so: their time is for easier data.

Run: .venv/bin/python benchmarks/bench_parse.py [customers] [runs]
"""

from __future__ import annotations

import gc
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _memory import peak_mb, rss_mb  # benchmarks/_memory.py (this folder is on sys.path)

PER_PAGE = 200
MIXED_KEYS = ("crm_id", "priority")  # the generator's keys of mixed JSON type
OPTIONS = ("naive", "from_pylist", "array_per_page", "pyarrow_json", "cm_frames")


# --- the options (each: list of page bodies -> DataFrame) ----------------------------------------


def naive(pages: list[bytes]) -> Any:
    import pandas as pd

    entries = [entry for body in pages for entry in json.loads(body)["entries"]]
    return pd.json_normalize(entries).convert_dtypes(dtype_backend="pyarrow")


def from_pylist(pages: list[bytes]) -> Any:
    import orjson
    import pandas as pd
    import pyarrow as pa

    gc.disable()
    entries = [entry for body in pages for entry in orjson.loads(body)["entries"]]
    table = pa.Table.from_pylist(entries)
    gc.enable()
    return _flatten(table).to_pandas(types_mapper=pd.ArrowDtype)


def array_per_page(pages: list[bytes]) -> Any:
    import orjson
    import pandas as pd
    import pyarrow as pa

    tables = []
    for body in pages:
        entries = orjson.loads(body)["entries"]
        if entries:  # an empty page is a NullArray: it would break the concatenation
            tables.append(pa.Table.from_struct_array(pa.array(entries)))
    table = pa.concat_tables(tables, promote_options="permissive")
    return _flatten(table).to_pandas(types_mapper=pd.ArrowDtype)


def pyarrow_json(pages: list[bytes]) -> Any:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    data = b"\n".join(pages) + b"\n"
    options = pj.ReadOptions(block_size=max(map(len, pages)) * 2 + 1)
    table = pj.read_json(io.BytesIO(data), read_options=options)
    entries = pc.list_flatten(table.column("entries"))
    return _flatten(pa.Table.from_struct_array(entries)).to_pandas(types_mapper=pd.ArrowDtype)


def cm_frames(pages: list[bytes]) -> Any:
    from cm_frames.read.frames import PageDecoder

    decoder = PageDecoder()
    for body in pages:
        decoder.add_page(body)
    return decoder.finish().to_frame()


def _flatten(table: Any) -> Any:
    """Flatten nested structs into dotted column names (what json_normalize does)."""
    import pyarrow as pa

    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return table


# --- correctness on the real data ----------------------------------------------------------------


def check(frame: Any, pages: list[bytes]) -> list[str]:
    """What differs from the frame of frames.md (empty: it is that frame)."""
    import orjson
    import pandas as pd

    first = orjson.loads(pages[0])["entries"][0]
    problems = []
    since = next((c for c in frame.columns if c in ("customer_since", "customer-since")), None)
    expected_since = pd.Timestamp(first["customer-since"]).tz_convert("UTC")
    if since is None or frame[since].iloc[0] != expected_since:
        problems.append("customer-since is not the UTC instant")
    mixed = next((c for c in frame.columns if c.endswith(f"custom.{MIXED_KEYS[0]}")), None)
    mixed_values = _mixed_values(pages, MIXED_KEYS[0])
    if mixed is None:
        problems.append(f"no {MIXED_KEYS[0]} column")
    else:
        got = [None if v is pd.NA else v for v in frame[mixed].tolist()]
        want = [
            None if v is None else v if isinstance(v, str) else json.dumps(v) for v in mixed_values
        ]
        if got != want:
            problems.append(
                f"mixed-type key {MIXED_KEYS[0]} is not JSON text ({frame[mixed].dtype})"
            )
    if not any(str(c).startswith("tag.") for c in frame.columns):
        problems.append("no tag.* columns")
    if not all(isinstance(d, pd.ArrowDtype) for d in frame.dtypes):
        problems.append("not all ArrowDtype")
    return problems


def _mixed_values(pages: list[bytes], key: str) -> list[Any]:
    import orjson

    return [
        (entry.get("attributes") or {}).get("custom", {}).get(key)
        for body in pages
        for entry in orjson.loads(body)["entries"]
    ]


def clean(pages: list[bytes]) -> list[bytes]:
    """The same pages with every value of the mixed keys as a string (no mixed types)."""
    import orjson

    cleaned = []
    for body in pages:
        document = orjson.loads(body)
        for entry in document["entries"]:
            custom = entry["attributes"]["custom"]
            for key in MIXED_KEYS:
                if key in custom:
                    custom[key] = str(custom[key])
        cleaned.append(orjson.dumps(document))
    return cleaned


# --- processes ------------------------------------------------------------------------------------


def child(option: str, pages_file: str, cleaned: bool) -> dict[str, Any]:
    """Run one option once in this fresh process."""
    # Modules are imported before the clock starts, as a notebook would have them already.
    import orjson  # noqa: F401
    import pandas as pd  # noqa: F401
    import pyarrow as pa
    import pyarrow.compute
    import pyarrow.json

    import cm_frames.read.frames  # noqa: F401

    with open(pages_file, "rb") as source:  # line by line: no transient copy of the whole file
        pages = [line.rstrip(b"\n") for line in source]
    if cleaned:
        pages = clean(pages)
    pa.array([{"warm": "up"}])  # pyarrow's one-time lazy initialisation, outside the clock
    function: Callable[[list[bytes]], Any] = globals()[option]
    before = rss_mb()
    started = time.perf_counter()
    try:
        frame = function(pages)
    except Exception as error:  # the point: which options survive real data
        return {"error": f"{type(error).__name__}: {str(error)[:90]}"}
    seconds = time.perf_counter() - started
    peak = peak_mb()  # before check() runs
    return {
        "seconds": seconds,
        "extra_peak_mb": peak - before,
        "problems": [] if cleaned else check(frame, pages),
        "shape": list(frame.shape),
    }


def run(option: str, pages_file: str, cleaned: bool) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", option, pages_file, "clean" if cleaned else "real"],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(option: str, pages_file: str, runs: int) -> dict[str, Any]:
    results = [run(option, pages_file, cleaned=False) for _ in range(runs)]
    cleaned = False
    if "error" in results[0]:
        error = results[0]["error"]
        results = [run(option, pages_file, cleaned=True) for _ in range(runs)]
        cleaned = True
        if "error" in results[0]:
            return {"error": error, "clean_error": results[0]["error"]}
        results[0]["problems"] = [f"raises on real data: {error}"]
    return {
        "seconds": statistics.median(r["seconds"] for r in results),
        "extra_peak_mb": statistics.median(r["extra_peak_mb"] for r in results),
        "problems": results[0]["problems"],
        "cleaned": cleaned,
        "shape": results[0]["shape"],
    }


def main(customers: int, runs: int) -> None:
    import orjson

    from cm_frames.emulator.generator import generate_customers

    generated = generate_customers(customers, seed=0)
    pages = [
        orjson.dumps({"entries": generated[i : i + PER_PAGE], "has_more": i + PER_PAGE < customers})
        for i in range(0, customers, PER_PAGE)
    ]
    size_mb = sum(map(len, pages)) / 1e6
    print(
        f"{customers:,} customers in {len(pages)} pages of {PER_PAGE} ({size_mb:.1f} MB), "
        f"median of {runs} fresh processes per option\n"
    )
    with tempfile.TemporaryDirectory() as directory:
        pages_file = os.path.join(directory, "pages.jsonl")
        with open(pages_file, "wb") as sink:
            sink.write(b"\n".join(pages))
        del generated, pages
        figures = {option: measure(option, pages_file, runs) for option in OPTIONS}

    naive_seconds = figures["naive"].get("seconds")
    print(f"{'option':<16}{'seconds':>9}{'peak MB':>9}{'vs naive':>10}  frames.md frame?")
    for option, result in figures.items():
        if "seconds" not in result:
            print(f"{option:<16}{'-':>9}{'-':>9}{'-':>10}  fails: {result['error']}")
            continue
        ratio = f"{naive_seconds / result['seconds']:.1f}x" if naive_seconds else "-"
        verdict = "yes" if not result["problems"] else "no: " + "; ".join(result["problems"])
        note = " (timed on clean data)" if result["cleaned"] else ""
        print(
            f"{option:<16}{result['seconds']:>9.2f}{result['extra_peak_mb']:>9.0f}{ratio:>10}"
            f"  {verdict}{note}"
        )
    chosen = figures["cm_frames"]
    if "seconds" in chosen:
        target = 1.0 * customers / 100_000
        print(
            f"\ncm_frames: {chosen['seconds']:.2f} s for {customers:,} customers (target ~{target:.1f} s)"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        option, pages_file, kind = sys.argv[2:5]
        print(json.dumps(child(option, pages_file, cleaned=kind == "clean")))
    else:
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 100_000,
            int(sys.argv[2]) if len(sys.argv) > 2 else 3,
        )
