"""``cm-frames demo``: the whole job against the bundled emulator, start to finish.

Starts an emulator, loads every customer (progress bar), reloads from the snapshot,
segments and profiles them, saves the plots, scores customers and writes the scores back
(dry run first, then applied and verified by a reload), undoes it and verifies again.
Everything it prints is what a user would do in a notebook, in the same order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cm_frames.accessor import ChartMogulAccessor
from cm_frames.api.client import Client
from cm_frames.api.dialect import Dialect
from cm_frames.emulator import Emulator
from cm_frames.errors import ChartMogulError
from cm_frames.read.load import read_customers

__all__ = ["run_demo"]

SCORE_COLUMN = "custom.health_score"
HOT_COLUMN = "tag.hot"


def run_demo(
    customers: int = 5000,
    output: str | Path = "demo-output",
    seed: int = 1,
    dialect: Dialect = "current",
) -> int:
    """Run the demo (``make demo``, ``cm-frames demo``): the user's whole path, offline.

    Starts an emulator, loads every customer, segments and plots them, plans and applies a
    write-back, checks the server holds it, and undoes it, printing each step. By default
    it speaks today's API (an API key, cursor paging, revenue fields), which is what users
    meet; ``dialect="enrichment"`` runs the reference's.

    Parameters
    ----------
    customers : int, default 5000
        The emulator's number of customers.
    output : str or Path, default "demo-output"
        Where the plots go, and the demo's cache (snapshots, journals) under ``cache/``.
    seed : int, default 1
        The seed of the emulator's data.
    dialect : {"current", "enrichment"}, default "current"
        The API the emulator speaks.

    Returns
    -------
    int
        The process exit status: 0 when every check held, 1 otherwise.

    Examples
    --------
    >>> run_demo(customers=200, output="demo-output")  # doctest: +SKIP
    0
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # The demo's cache (snapshots, journals) stays beside its plots, not in the user's cache.
    cache_dir = output / "cache"
    with Emulator(customers=customers, seed=seed, dialect=dialect) as emulator:
        what = "today's API" if dialect == "current" else "the reference's API"
        _step(
            f"1. A local ChartMogul emulator ({what}) with {customers:,} customers at "
            f"{emulator.url}"
        )
        # No rate limit (the real service allows about 40 requests/s; the emulator has none).
        with emulator.client(cache_dir=cache_dir) as client:
            df = _load(client)
            _segment_and_plot(df, output)
            ok = _write_back(df, client, emulator)
    _step("Done")
    print(f"  plots:      {', '.join(sorted(p.name for p in output.glob('*.png')))}")
    print(f"  written to: {output.resolve()}")
    print(f"  journals and snapshots: {cache_dir.resolve()}")
    print(f"  total time: {time.perf_counter() - started:.1f} s")
    print("  Point the same code at your account: set CHARTMOGUL_API_KEY (or, for the")
    print("  reference's API, CHARTMOGUL_ACCOUNT_TOKEN and CHARTMOGUL_SECRET_KEY), then")
    print("  cm.read_customers(cm.Client()).")
    return 0 if ok else 1


def _cm(df: pd.DataFrame) -> ChartMogulAccessor:
    """``df.chartmogul`` (typed as the accessor by cm_frames.mypy_plugin)."""
    return df.chartmogul


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _load(client: Client) -> pd.DataFrame:
    _step("2. Load every customer into an Arrow-backed DataFrame")
    t0 = time.perf_counter()
    df = read_customers(client)
    cold = time.perf_counter() - t0
    families = {
        prefix: sum(c.startswith(prefix) for c in df.columns)
        for prefix in ("tag.", "custom.", "stripe.", "clearbit.")
    }
    print(
        f"  {len(df):,} customers x {df.shape[1]} columns in {cold:.2f} s: "
        + ", ".join(f"{n} {prefix}*" for prefix, n in families.items())
    )
    types = df.attrs["chartmogul"]["custom_types"]
    print("  custom attribute types inferred: " + ", ".join(f"{k}={v}" for k, v in types.items()))
    t0 = time.perf_counter()
    again = read_customers(client, progress=False)
    warm = time.perf_counter() - t0
    print(
        f"  reloaded from the local snapshot in {warm * 1000:.0f} ms "
        f"({cold / max(warm, 1e-9):.0f}x faster, no request sent); identical: {again.equals(df)}"
    )
    return df


def _segment_and_plot(df: pd.DataFrame, output: Path) -> None:
    _step("3. Segment, profile and plot")
    segment = _cm(df).segment(
        {
            "enterprise": "`clearbit.metrics.employees` >= 1000",
            "at risk": df["tag.churn-risk"] | df["tag.at risk"],
            "trial": "status == 'Trial'",
        }
    )
    profile = _cm(df).profile(segment)
    shown = ["customers", "share", "status.Active", "status.Cancelled", "top_tags"]
    shown += [c for c in ("median.custom.lead_score", "median.custom.seats") if c in profile]
    print(profile[shown].to_string(max_colwidth=44, float_format="{:.2f}".format))
    plots: dict[str, Callable[[Axes], Axes]] = {
        "segments.png": lambda ax: _cm(df).plot.segments(segment, ax=ax),
        "cohorts.png": lambda ax: _cm(df).plot.cohorts(freq="QS", by=segment, ax=ax),
        "tags.png": lambda ax: _cm(df).plot.tags(top=20, ax=ax),
        "status.png": lambda ax: _cm(df).plot.status(by=segment, ax=ax),
        "countries.png": lambda ax: _cm(df).plot.countries(top=15, ax=ax),
        "lead_score.png": lambda ax: _cm(df).plot.attribute("custom.lead_score", ax=ax),
        "co_occurrence.png": lambda ax: _cm(df).plot.co_occurrence(top=15, ax=ax),
    }
    for name, draw in plots.items():
        # A bare Figure (no pyplot): no GUI backend, no global figure registry to leak.
        figure = Figure(figsize=(10, 6), layout="tight")
        draw(figure.subplots())
        figure.savefig(output / name, dpi=110)
    print(f"  saved {len(plots)} plots to {output}/")


def _score(df: pd.DataFrame) -> pd.DataFrame:
    """A toy health score for active customers (0-100) and a `hot` tag for the best."""
    edited = df.copy()
    active = edited["status"] == "Active"
    logins = edited["custom.logins_30d"].fillna(0).astype("int64[pyarrow]")
    tickets = edited["custom.support_tickets"].fillna(0).astype("int64[pyarrow]")
    score = (50 + logins // 6 - tickets * 2).clip(0, 100)
    edited[SCORE_COLUMN] = score.where(active)
    edited[HOT_COLUMN] = (score >= 80) & active
    return edited


def _write_back(df: pd.DataFrame, client: Client, emulator: Emulator) -> bool:
    _step("4. Score customers and plan the write-back (dry run: nothing is sent)")
    edited = _score(df)
    emulator.clear_request_log()
    plan = _cm(edited).plan()
    print(plan.summary(rate_limit=40))
    writes = [e for e in emulator.request_log() if e["method"] != "GET"]
    print(f"  requests sent while planning: {len(writes)}")

    _step("5. Apply, then reload from the server and verify")
    result = plan.apply(client)
    print(result)
    reloaded = _cm(df).refresh(client)
    ok = _check(
        "the server has the scores and tags, and nothing else changed",
        _applied(reloaded, edited, df),
    )

    _step("6. Undo what this apply wrote, then reload and verify the original is back")
    undo = result.undo(client)
    print(undo)
    restored = _cm(df).refresh(client)
    ok &= _check("every customer is back exactly as loaded", restored.equals(df))
    return ok and result.ok and undo.ok


def _applied(reloaded: pd.DataFrame, edited: pd.DataFrame, original: pd.DataFrame) -> bool:
    """The server has the new columns as edited, and everything else as it was.

    ``tags`` is the one other column that moves: the server's list now ends with "hot"
    where ``tag.hot`` was set, and is otherwise unchanged.
    """
    new = [SCORE_COLUMN, HOT_COLUMN]
    hot = edited[HOT_COLUMN].to_numpy(dtype=bool)
    expected_tags = [
        [*tags, "hot"] if is_hot else list(tags)
        for tags, is_hot in zip(original["tags"], hot, strict=True)
    ]
    return bool(
        reloaded[new].equals(edited[new])
        and reloaded.drop(columns=[*new, "tags"]).equals(original.drop(columns="tags"))
        and [list(tags) for tags in reloaded["tags"]] == expected_tags
    )


def _check(what: str, passed: bool) -> bool:
    print(f"  {'ok' if passed else 'FAILED'}: {what}")
    return passed


def main(customers: int, output: str, seed: int, dialect: Dialect = "current") -> int:
    """Run the demo for the command line: 1 and the reason when the emulator fails.

    Parameters
    ----------
    customers, output, seed, dialect
        As for ``run_demo``.

    Returns
    -------
    int
        The exit status.
    """
    try:
        return run_demo(customers, output, seed, dialect)
    except ChartMogulError as error:
        print(f"demo failed: {error}")
        return 1
