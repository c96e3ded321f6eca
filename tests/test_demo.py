"""cm-frames demo: the whole job runs, checks itself and leaves its plots."""

from __future__ import annotations

from pathlib import Path

import pytest

from cm_frames.cli import main


@pytest.mark.parametrize("dialect", ["current", "enrichment"])
def test_demo_runs_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dialect: str
) -> None:
    output = tmp_path / "out"
    argv = ["demo", "--customers", "400", "--output", str(output), "--seed", "5"]
    status = main([*argv, "--dialect", dialect] if dialect == "enrichment" else argv)
    text = capsys.readouterr().out
    what = "today's API" if dialect == "current" else "the reference's API"
    assert f"A local ChartMogul emulator ({what})" in text
    assert status == 0, text
    assert "FAILED" not in text
    assert text.count("ok: ") == 2
    assert "requests sent while planning: 0" in text
    plots = sorted(p.name for p in output.glob("*.png"))
    assert plots == [
        "co_occurrence.png",
        "cohorts.png",
        "countries.png",
        "lead_score.png",
        "segments.png",
        "status.png",
        "tags.png",
    ]
    assert all((output / name).stat().st_size > 10_000 for name in plots)
    assert list((output / "cache").rglob("*.jsonl")), "the journals are kept beside the plots"
