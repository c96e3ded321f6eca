"""parquet_stream.py: a streamed dataset equals the in-memory frame; memory stays bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from cm_frames import schema
from cm_frames.emulator.generator import generate_customers
from cm_frames.errors import ChartMogulError, ValidationError
from cm_frames.read.frames import PageDecoder, ParquetStreamWriter, read_parquet
from cm_frames.read.parquet import METADATA_FILE


def page(*customers: dict[str, Any]) -> bytes:
    return orjson.dumps({"entries": list(customers), "has_more": True})


def customer(cid: int, **attributes: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "uuid": f"cus_{cid}",
        "email": f"c{cid}@example.com",
        "customer-since": "2021-05-06T07:08:09-03:00",
        "status": ["Active", "Lead", "Cancelled"][cid % 3],
        "attributes": {"tags": [], "custom": {}, "stripe": {}, "clearbit": {}, **attributes},
    }


def in_memory(bodies: list[bytes]) -> pd.DataFrame:
    decoder = PageDecoder()
    for body in bodies:
        decoder.add_page(body)
    return decoder.finish().to_frame()


def stream(bodies: list[bytes], path: Path, pages_per_part: int) -> Any:
    with ParquetStreamWriter(path, pages_per_part=pages_per_part) as writer:
        for body in bodies:
            writer.add_page(body)
    return writer.summary


# Parts of 2 pages that disagree on everything that can disagree.
TRAP_PAGES = [
    # part 0
    page(
        customer(1, tags=["a"], custom={"code": 1, "when": "2015-09-08T00:00:00Z", "flag": True}),
        customer(2, custom={"n": 10, "nully": None}, stripe={"n": 1, "s": 1}),
    ),
    page(customer(3, custom={"when": "2015-09-09", "cnt": None}, clearbit={"m": {"x": None}})),
    # part 1: code becomes mixed, when stops being a Timestamp, stripe.n a double, stripe.s text
    page(
        customer(4, tags=["b"], custom={"code": "A-12", "when": "later", "flag": False}),
        customer(5, stripe={"n": 2.5, "s": "x"}),
    ),
    page(),  # an empty page inside a part
    # part 2: a key, a tag and a nested Clearbit value seen for the first time
    page(
        customer(
            6, tags=["late", "a"], custom={"only_late": 5, "cnt": 3}, clearbit={"m": {"x": 3}}
        ),
    ),
    page(customer(7, custom={"n": 11})),
]


def test_stream_equals_in_memory_frame_across_disagreeing_parts(tmp_path: Path) -> None:
    expected = in_memory(TRAP_PAGES)
    summary = stream(TRAP_PAGES, tmp_path / "ds", pages_per_part=2)
    got = read_parquet(tmp_path / "ds")

    assert got.equals(expected)
    assert list(got.columns) == list(expected.columns)
    assert list(got.dtypes) == list(expected.dtypes)
    info = got.attrs["chartmogul"]
    assert info["custom_types"] == expected.attrs["chartmogul"]["custom_types"]
    assert info["parquet_path"] == str((tmp_path / "ds").absolute())  # its baseline for plan()
    assert info["customers"] == 7
    assert summary.count == 7
    assert summary.parts == 3
    assert summary.rewritten == 3  # every part lacked something
    assert summary.custom_types == expected.attrs["chartmogul"]["custom_types"]
    assert summary.custom_types == {
        "cnt": "Integer",  # null in part 0 has no say
        "code": "String",
        "flag": "Boolean",
        "n": "Integer",
        "nully": "String",
        "only_late": "Integer",
        "when": "String",
    }
    # the values that needed unifying, spelled out
    assert got["custom.code"].tolist() == ["1", pd.NA, pd.NA, "A-12", pd.NA, pd.NA, pd.NA]
    assert got["custom.when"].tolist()[:4] == ["2015-09-08T00:00:00Z", pd.NA, "2015-09-09", "later"]
    assert got["stripe.n"].dtype == schema.DOUBLE
    assert got["stripe.s"].tolist()[1] == "1"
    assert got["tag.late"].tolist() == [False] * 5 + [True, False]
    assert got["clearbit.m.x"].tolist()[5] == 3
    assert got.index.tolist() == [1, 2, 3, 4, 5, 6, 7]

    files = sorted(p.name for p in (tmp_path / "ds").iterdir())
    assert files == [
        METADATA_FILE,
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    meta = json.loads((tmp_path / "ds" / METADATA_FILE).read_text())
    assert meta["custom_types"] == summary.custom_types
    assert meta["count"] == 7


def test_timestamps_stay_timestamps_when_every_part_agrees(tmp_path: Path) -> None:
    bodies = [
        page(customer(1, custom={"at": "2020-01-01T00:00:00+02:00"})),
        page(customer(2, custom={"at": "2020-01-02"}), customer(3, tags=["t"])),
    ]
    summary = stream(bodies, tmp_path / "ds", pages_per_part=1)
    got = read_parquet(tmp_path / "ds")
    assert got.equals(in_memory(bodies))
    assert summary.custom_types == {"at": "Timestamp"}
    assert got["custom.at"].tolist()[:2] == [
        pd.Timestamp("2019-12-31 22:00", tz="UTC"),
        pd.Timestamp("2020-01-02", tz="UTC"),
    ]


def test_stream_of_generated_customers(tmp_path: Path) -> None:
    customers = generate_customers(1000, seed=21)
    bodies = [page(*customers[i : i + 50]) for i in range(0, 1000, 50)]
    summary = stream(bodies, tmp_path / "ds", pages_per_part=4)
    expected = in_memory(bodies)
    got = read_parquet(tmp_path / "ds")
    assert summary.parts == 5
    assert got.equals(expected)
    assert list(got.dtypes) == list(expected.dtypes)

    # other readers see one table with the frame's columns and types
    table = pads.dataset(tmp_path / "ds", format="parquet").to_table()
    assert table.column_names == ["id", *expected.columns]
    assert table.num_rows == 1000
    for name, dtype in expected.dtypes.items():
        assert table.schema.field(name).type == dtype.pyarrow_dtype, name
    arrow_pandas = pd.read_parquet(tmp_path / "ds", dtype_backend="pyarrow")
    assert list(arrow_pandas.columns) == list(expected.columns)
    assert dict(arrow_pandas.dtypes) == dict(expected.dtypes)
    assert arrow_pandas.index.name == "id"  # from the pandas metadata of the parts
    assert arrow_pandas.index.tolist() == expected.index.tolist()
    for name in ("custom.CAC", "customer_since", "status", "tags", "clearbit.metrics.employees"):
        assert arrow_pandas[name].tolist() == expected[name].tolist(), name
    plain = pd.read_parquet(tmp_path / "ds")  # the pandas metadata: index and dtypes
    assert plain.shape == expected.shape
    assert plain.index.name == "id"
    assert plain["custom.CAC"].dtype == schema.INT64  # not float64 for the NAs


def test_parsed_entries_stream_as_their_page_bodies_do(tmp_path: Path) -> None:
    # How today's dialect exports: the cursor walk's parsed pages, not their bodies again.
    customers = generate_customers(600, seed=22)
    bodies = [page(*customers[i : i + 50]) for i in range(0, 600, 50)]
    stream(bodies, tmp_path / "bodies", pages_per_part=5)
    with ParquetStreamWriter(tmp_path / "entries", pages_per_part=5) as writer:
        counts = [writer.add_entries(json.loads(body)["entries"]) for body in bodies]
    assert counts == [50] * 12
    assert read_parquet(tmp_path / "entries").equals(read_parquet(tmp_path / "bodies"))
    with pytest.raises(ChartMogulError, match="closed"):
        writer.add_entries([customer(1)])


def test_no_pages_still_make_a_readable_dataset(tmp_path: Path) -> None:
    with ParquetStreamWriter(tmp_path / "ds") as writer:
        writer.add_page(page())
    assert writer.summary is not None
    assert writer.summary.count == 0
    got = read_parquet(tmp_path / "ds")
    assert len(got) == 0
    assert list(got.columns) == list(schema.BASE_COLUMNS)
    assert got["customer_since"].dtype == schema.TIMESTAMP


def test_identical_parts_are_not_rewritten(tmp_path: Path) -> None:
    # Alike but for the id: the same customer twice is refused (test_hostile_responses.py).
    alike = [page(customer(cid, tags=["a"], custom={"k": 1})) for cid in (1, 2, 3)]
    summary = stream(alike, tmp_path / "ds", pages_per_part=1)
    assert (summary.parts, summary.rewritten) == (3, 0)
    assert len(read_parquet(tmp_path / "ds")) == 3


def test_existing_dataset_is_refused_unless_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "ds"
    stream([page(customer(1))], path, pages_per_part=1)
    with pytest.raises(ValidationError, match=r"already holds a dataset.*overwrite=True"):
        ParquetStreamWriter(path)
    stream_again = ParquetStreamWriter(path, overwrite=True)
    stream_again.add_page(page(customer(2), customer(3)))
    assert stream_again.close().count == 2
    assert read_parquet(path).index.tolist() == [2, 3]


def test_failure_inside_with_block_removes_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "ds"
    bodies = [page(customer(1, custom={"at": "2020-01-01"})), b"{broken"]
    with pytest.raises(ChartMogulError, match="not valid JSON"):
        stream(bodies, path, pages_per_part=1)
    assert list(path.iterdir()) == []  # the part and its timestamp side file are gone


def test_writer_argument_and_state_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="pages_per_part"):
        ParquetStreamWriter(tmp_path / "a", pages_per_part=0)
    writer = ParquetStreamWriter(tmp_path / "b")
    writer.close()
    assert writer.close() is writer.summary  # idempotent
    with pytest.raises(ChartMogulError, match="closed"):
        writer.add_page(page(customer(1)))


# --- bounded memory -------------------------------------------------------------------------

_PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys, tempfile
    import orjson, pyarrow as pa
    from cm_frames.emulator.generator import generate_customers
    from cm_frames.read.frames import PageDecoder, ParquetStreamWriter

    mode, pages = sys.argv[1], int(sys.argv[2])
    customers = generate_customers(800, seed=4)
    chunks = [customers[i:i + 100] for i in range(0, 800, 100)]

    def body(i):
        # The 8 pages again and again, with new ids each round (a repeated id is refused).
        shift = 1_000_000 * (i // len(chunks))
        return orjson.dumps({"entries": [dict(c, id=c["id"] + shift) for c in chunks[i % 8]]})

    samples = []
    if mode == "stream":
        with tempfile.TemporaryDirectory() as directory:
            with ParquetStreamWriter(directory + "/ds", pages_per_part=4) as writer:
                for i in range(pages):
                    writer.add_page(body(i))
                    samples.append(pa.total_allocated_bytes())
    else:
        decoder = PageDecoder()
        for i in range(pages):
            decoder.add_page(body(i))
            samples.append(pa.total_allocated_bytes())
        table = decoder.finish().table
    print(json.dumps({
        "arrow_peak": pa.default_memory_pool().max_memory(),
        "sampled_max": max(samples),
        # VmHWM, not ru_maxrss: ru_maxrss would start at the parent's (pytest's) peak
        "rss_kb": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]),
    }))
    """
)


def peak(mode: str, pages: int) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, mode, str(pages)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, int] = json.loads(done.stdout)
    return result


def test_streaming_memory_does_not_grow_with_the_number_of_pages() -> None:
    small, large = peak("stream", 16), peak("stream", 96)  # 1,600 vs 9,600 customers
    # Arrow's peak (the pool's high-water mark, close() included) stays put ...
    assert large["arrow_peak"] < 1.3 * small["arrow_peak"], (small, large)
    assert large["sampled_max"] < 1.3 * small["sampled_max"], (small, large)
    assert large["rss_kb"] < small["rss_kb"] + 40_000, (small, large)
    # ... while the in-memory decoder's grows with the pages: the measure can tell
    in_memory_small, in_memory_large = peak("memory", 16), peak("memory", 96)
    assert in_memory_large["arrow_peak"] > 3 * in_memory_small["arrow_peak"]
    assert in_memory_large["arrow_peak"] > 2 * large["arrow_peak"]


def test_pages_per_part_bounds_each_part(tmp_path: Path) -> None:
    customers = generate_customers(300, seed=8)
    bodies = [page(*customers[i : i + 30]) for i in range(0, 300, 30)]
    stream(bodies, tmp_path / "ds", pages_per_part=3)
    fragments = list(pads.dataset(tmp_path / "ds", format="parquet").get_fragments())
    assert [f.count_rows() for f in fragments] == [90, 90, 90, 30]
    assert pa.types.is_dictionary(fragments[0].physical_schema.field("status").type)


def test_whole_numbers_beyond_2_53_in_one_part_and_decimals_in_another(tmp_path: Path) -> None:
    bodies = [
        page(customer(1, stripe={"n": 2**53 + 1, "ok": 3}, clearbit={"x": 2**60})),
        page(customer(2, stripe={"n": 1.25, "ok": 0.5}, clearbit={"x": 2**61})),
        page(customer(3, clearbit={"x": -1.5})),
    ]
    expected = in_memory(bodies)
    assert expected["stripe.n"].tolist() == [str(2**53 + 1), "1.25", pd.NA]
    assert expected["clearbit.x"].tolist() == [str(2**60), str(2**61), "-1.5"]
    for pages_per_part in (1, 2):
        path = tmp_path / f"ds{pages_per_part}"
        summary = stream(bodies, path, pages_per_part=pages_per_part)
        assert summary.rewritten >= 1
        pd.testing.assert_frame_equal(read_parquet(path), expected)


def test_a_close_that_fails_half_way_leaves_no_partial_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cm_frames.read.parquet as parquet_stream

    def disk_full(part: Any, *args: Any) -> None:
        part.path.with_name(f"_rewriting-{part.path.name}").write_bytes(b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(parquet_stream, "_rewrite", disk_full)
    with pytest.raises(OSError, match="No space left"):
        stream(TRAP_PAGES, tmp_path / "ds", pages_per_part=2)  # parts disagree: rewritten
    assert list((tmp_path / "ds").iterdir()) == []


# --- today's dialect -------------------------------------------------------------------------


@pytest.mark.parametrize("pages_per_part", [1, 3])
def test_todays_fields_stream_equal_to_the_in_memory_frame(
    tmp_path: Path, pages_per_part: int
) -> None:
    from cm_frames.emulator.generator import generate_current_customers

    customers = generate_current_customers(120, seed=5)
    for c in customers[:30]:  # a first part without some of today's fields
        del c["mrr"], c["lead_created_at"], c["owner"]
    bodies = [page(*customers[i : i + 20]) for i in range(0, 120, 20)]
    stream(bodies, tmp_path / "d", pages_per_part)
    got, expected = read_parquet(tmp_path / "d"), in_memory(bodies)
    assert got.equals(expected)
    assert list(got.dtypes) == list(expected.dtypes)
    assert got["mrr"].dtype == schema.INT64
    assert got["lead_created_at"].dtype == schema.TIMESTAMP


def test_undocumented_fields_stream_equal_to_the_in_memory_frame(tmp_path: Path) -> None:
    bodies = [
        page({**customer(1), "level": 2, "tier": "gold"}),
        page({**customer(2), "level": 3, "region": {"code": "eu"}, "tier": "silver"}),
    ]
    stream(bodies, tmp_path / "d", 1)
    assert read_parquet(tmp_path / "d").equals(in_memory(bodies))
