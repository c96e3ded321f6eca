"""``cm-frames load`` and ``cm-frames apply`` against the emulator, over real HTTP.

The commands run in-process through ``cm_frames.cli.main`` with the credentials in
monkeypatched environment variables (and the cache in the test's directory), and once
through the installed ``cm-frames`` entry point in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from dialects import BOTH_DIALECTS

import cm_frames as cm
from cm_frames.cli import main
from cm_frames.emulator import Emulator


@pytest.fixture
def env(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The emulator's credentials in the environment; the CLI's cache under tmp_path."""
    values = {
        "CHARTMOGUL_ACCOUNT_TOKEN": emulator.token,
        "CHARTMOGUL_SECRET_KEY": emulator.secret,
        "CHARTMOGUL_API_URL": emulator.url,
        "XDG_CACHE_HOME": str(tmp_path / "cli-cache"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _one_line_error(stderr: str, command: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"cm-frames {command}: error: ")
    return lines[0]


def _writes(emulator: Emulator) -> list[dict[str, object]]:
    return [entry for entry in emulator.request_log() if entry["method"] != "GET"]


def _plan_file(df: pd.DataFrame, tmp_path: Path, tagged: int = 3) -> tuple[Path, list[int]]:
    """A plan adding the tag ``cli`` to the first ``tagged`` customers, saved as JSON."""
    edited = df.copy()
    ids = [int(i) for i in edited.index[:tagged]]
    edited["tag.cli"] = edited.index.isin(ids)
    path = tmp_path / "plan.json"
    path.write_text(edited.chartmogul.plan().to_json(), encoding="utf-8")
    return path, ids


# --- load ----------------------------------------------------------------------------------


def test_load_writes_every_customer_to_one_parquet_file(
    env: dict[str, str],
    client: cm.Client,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / "customers.parquet"

    assert main(["load", "--to", str(target)]) == 0

    expected = cm.read_customers(client, progress=False)
    loaded = cm.read_parquet(target)
    assert loaded.equals(expected)
    assert list(loaded.dtypes) == list(expected.dtypes)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert f"wrote {len(expected):,} customers × {expected.shape[1]} columns to {target}" in out[0]
    assert not list(tmp_path.glob(".*.partial"))
    # Plain pandas reads the file as it is: the id index, and integers without floats.
    plain = pd.read_parquet(target)
    assert plain.index.name == "id"
    assert plain.index.tolist() == expected.index.tolist()
    integers = [c for c in expected.columns if str(expected[c].dtype) == "int64[pyarrow]"]
    assert integers
    assert all(str(plain[c].dtype) == "int64[pyarrow]" for c in integers)


def test_load_with_email_writes_only_those_customers(
    env: dict[str, str], client: cm.Client, df: pd.DataFrame, tmp_path: Path
) -> None:
    email = str(df["email"].value_counts().index[0])  # shared by several customers
    target = tmp_path / "one.parquet"

    assert main(["load", "--email", email, "--to", str(target)]) == 0

    loaded = cm.read_parquet(target)
    assert loaded.equals(cm.read_customers(client, email=email, progress=False))
    assert len(loaded) >= 2
    assert set(loaded["email"]) == {email}


def test_load_to_a_folder_streams_a_dataset(
    env: dict[str, str], df: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "customers"

    assert main(["load", "--to", str(target)]) == 0

    assert target.is_dir()
    assert cm.read_parquet(target).equals(df)
    assert f"wrote {len(df):,} customers × {df.shape[1]} columns" in capsys.readouterr().out


def test_load_with_email_to_a_folder_is_refused_before_any_request(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["load", "--email", "a@example.com", "--to", str(tmp_path / "folder")])

    assert status == 1
    line = _one_line_error(capsys.readouterr().err, "load")
    assert "ending in .parquet" in line
    assert emulator.request_log() == []


def test_load_without_credentials_says_which_variables_to_set(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("CHARTMOGUL_SECRET_KEY")

    assert main(["load", "--to", str(tmp_path / "c.parquet")]) == 1

    line = _one_line_error(capsys.readouterr().err, "load")
    assert "CHARTMOGUL_SECRET_KEY" in line
    assert not (tmp_path / "c.parquet").exists()


def test_load_with_a_wrong_secret_reports_the_http_error(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CHARTMOGUL_SECRET_KEY", "not-the-secret")

    assert main(["load", "--to", str(tmp_path / "c.parquet")]) == 1

    line = _one_line_error(capsys.readouterr().err, "load")
    assert "HTTP 401" in line
    assert "not-the-secret" not in line
    assert not (tmp_path / "c.parquet").exists()


# --- apply ---------------------------------------------------------------------------------


def test_apply_dry_run_prints_the_summary_and_sends_nothing(
    env: dict[str, str],
    emulator: Emulator,
    df: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan_file, _ = _plan_file(df, tmp_path)
    emulator.clear_request_log()

    assert main(["apply", str(plan_file), "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert "3 operations on 3 customers" in out
    assert "AddTags 3" in out
    assert "dry run: nothing was sent" in out
    assert emulator.request_log() == []


def test_apply_sends_the_plan_and_journals_it(
    env: dict[str, str],
    emulator: Emulator,
    client: cm.Client,
    df: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan_file, ids = _plan_file(df, tmp_path)
    journal = tmp_path / "journal.jsonl"

    assert main(["apply", str(plan_file), "--journal", str(journal)]) == 0

    out = capsys.readouterr().out
    assert "3 applied · 0 skipped · 0 conflicted · 0 failed" in out
    assert f"journal: {journal}" in out
    assert journal.stat().st_size > 0
    assert len(_writes(emulator)) == 3
    reloaded = cm.read_customers(client, refresh=True, progress=False)
    assert reloaded.index[reloaded["tag.cli"]].tolist() == ids

    # The same plan with the same journal resumes: nothing is sent twice.
    emulator.clear_request_log()
    assert main(["apply", str(plan_file), "--journal", str(journal)]) == 0
    assert _writes(emulator) == []


def test_apply_exits_1_when_the_server_changed_since_the_load(
    env: dict[str, str],
    emulator: Emulator,
    client: cm.Client,
    df: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    customer = int(df.index[0])
    mine, theirs = df.copy(), df.copy()
    mine.loc[customer, "custom.lead_score"] = 1
    theirs.loc[customer, "custom.lead_score"] = 2
    plan_file = tmp_path / "mine.json"
    plan_file.write_text(mine.chartmogul.plan().to_json(), encoding="utf-8")
    assert theirs.chartmogul.plan().apply(client, progress=False).ok  # someone else's change

    emulator.clear_request_log()
    assert main(["apply", str(plan_file)]) == 1

    out = capsys.readouterr().out
    assert "1 conflict" in out
    assert _writes(emulator) == []
    server = cm.read_customers(client, refresh=True, progress=False)
    assert server.loc[customer, "custom.lead_score"] == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read the plan file"),
        (b"{not json", "does not parse"),
        (b'{"operations": []}', "not a cm_frames plan"),
    ],
    ids=["missing", "bad-json", "not-a-plan"],
)
def test_apply_rejects_a_bad_plan_file_in_one_line(
    env: dict[str, str],
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    expected: str,
) -> None:
    plan_file = tmp_path / "plan.json"
    if content is not None:
        plan_file.write_bytes(content)

    assert main(["apply", str(plan_file)]) == 1

    line = _one_line_error(capsys.readouterr().err, "apply")
    assert expected in line
    assert str(plan_file) in line
    assert emulator.request_log() == []


def test_apply_refuses_a_plan_of_another_account(
    env: dict[str, str],
    emulator: Emulator,
    df: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan_file, _ = _plan_file(df, tmp_path)
    emulator.add_account("other-token", "other-secret", customers=5, seed=1)
    monkeypatch.setenv("CHARTMOGUL_ACCOUNT_TOKEN", "other-token")
    monkeypatch.setenv("CHARTMOGUL_SECRET_KEY", "other-secret")
    emulator.clear_request_log()

    assert main(["apply", str(plan_file)]) == 1

    line = _one_line_error(capsys.readouterr().err, "apply")
    assert "another account" in line
    assert _writes(emulator) == []


@pytest.mark.parametrize("command", ["load", "apply"])
def test_help_names_the_credential_variables(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])

    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "CHARTMOGUL_ACCOUNT_TOKEN" in out
    assert "CHARTMOGUL_SECRET_KEY" in out


# --- the installed entry point -------------------------------------------------------------


def test_entry_point_loads_and_dry_runs(
    env: dict[str, str], emulator: Emulator, df: pd.DataFrame, tmp_path: Path
) -> None:
    executable = shutil.which("cm-frames", path=str(Path(sys.executable).parent))
    assert executable is not None, "the cm-frames entry point is not installed beside python"
    environment = {**os.environ, **env}
    target = tmp_path / "customers.parquet"

    loaded = subprocess.run(
        [executable, "load", "--to", str(target)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert cm.read_parquet(target).equals(df)

    plan_file, _ = _plan_file(df, tmp_path)
    emulator.clear_request_log()
    dry = subprocess.run(
        [executable, "apply", str(plan_file), "--dry-run"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing was sent" in dry.stdout
    assert emulator.request_log() == []

    broken = subprocess.run(
        [executable, "apply", str(tmp_path / "missing.json")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert broken.returncode == 1
    _one_line_error(broken.stderr, "apply")


# --- cache ---------------------------------------------------------------------------------


def _cli_client() -> cm.Client:
    """A client of the same account and cache directory as the CLI's (from ``env``)."""
    return cm.Client(rate_limit=None)


def test_cache_shows_then_clears_the_http_cache_and_snapshots_but_keeps_journals(
    env: dict[str, str], df: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file, _ = _plan_file(df, tmp_path)
    assert main(["load", "--to", str(tmp_path / "all.parquet")]) == 0
    assert main(["apply", str(plan_file)]) == 0
    with _cli_client() as client:
        client.get_customer(int(df.index[0]))  # one cached GET
        directory = client.cache_dir
    capsys.readouterr()

    assert main(["cache"]) == 0
    shown = capsys.readouterr().out
    assert str(directory) in shown
    assert "snapshots: 1 file," in shown
    assert "journals: 1 file," in shown

    assert main(["cache", "--clear"]) == 0
    assert "journals kept" in capsys.readouterr().out
    assert not list((directory / "snapshots").glob("*.arrow"))
    assert len(list((directory / "journals").glob("*.jsonl"))) == 1
    with _cli_client() as client:
        assert client._cache_backend is not None
        assert list(client._cache_backend.responses.keys()) == []

    assert main(["cache", "--clear", "--journals"]) == 0
    assert not (directory / "journals").exists()


def test_cache_journals_without_clear_is_refused(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cache", "--journals"]) == 1
    assert "--journals only goes with --clear" in _one_line_error(capsys.readouterr().err, "cache")


def test_load_with_a_wrong_secret_fails_even_when_a_snapshot_is_warm(
    env: dict[str, str],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["load", "--to", str(tmp_path / "first.parquet")]) == 0  # the snapshot
    monkeypatch.setenv("CHARTMOGUL_SECRET_KEY", "not-the-secret")
    capsys.readouterr()
    emulator.clear_request_log()

    assert main(["load", "--to", str(tmp_path / "c.parquet")]) == 1

    line = _one_line_error(capsys.readouterr().err, "load")
    assert "HTTP 401" in line
    assert "not-the-secret" not in line
    assert not (tmp_path / "c.parquet").exists()
    assert [entry["status"] for entry in emulator.request_log()] == [401]


# --- the --to path, --version, --help, missing credentials ---------------------------------


@pytest.mark.parametrize("name", ["customers.csv", "customers.json", "out.parq"])
def test_load_to_an_unknown_suffix_is_refused_and_creates_nothing(
    env: dict[str, str],
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    target = tmp_path / "out" / name
    target.parent.mkdir()

    assert main(["load", "--to", str(target)]) == 1

    line = _one_line_error(capsys.readouterr().err, "load")
    assert f"--to {target}" in line
    assert f"unknown suffix {target.suffix}" in line
    assert ".parquet" in line
    assert "ending in /" in line
    assert list(target.parent.iterdir()) == []
    assert emulator.request_log() == []


def test_load_to_a_path_ending_in_a_slash_is_a_dataset_folder_whatever_its_suffix(
    env: dict[str, str], df: pd.DataFrame, tmp_path: Path
) -> None:
    # The fix the refusal above suggests for a folder whose name has a dot.
    target = tmp_path / "customers.csv"

    assert main(["load", "--to", f"{target}/"]) == 0

    assert target.is_dir()
    assert cm.read_parquet(target).equals(df)


def test_load_to_an_upper_case_parquet_suffix_is_one_file(
    env: dict[str, str], df: pd.DataFrame, tmp_path: Path
) -> None:
    target = tmp_path / "customers.PARQUET"
    assert main(["load", "--to", str(target)]) == 0
    assert target.is_file()
    assert cm.read_parquet(target).equals(df)


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"cm-frames {version('cm_frames')}\n"


def test_every_subcommand_help_shows_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from cm_frames.cli import build_parser

    subparsers = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    shown = 0
    for command, parser in subparsers.choices.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for action in parser._actions:
            if action.default in (None, False, argparse.SUPPRESS) or action.help is None:
                continue
            assert f"(default: {action.default})" in text, (command, action.dest)
            shown += 1
    assert shown >= 7  # emulator: port, host, customers, seed; demo: customers, output, seed


@pytest.mark.parametrize(
    "argv", [["load", "--to", "c.parquet"], ["apply", "plan.json"], ["cache"]], ids=str
)
def test_missing_credentials_name_the_variables_and_the_emulator_command(
    env: dict[str, str],
    df: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    _plan_file(df, tmp_path)  # plan.json, for apply
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHARTMOGUL_ACCOUNT_TOKEN")
    monkeypatch.delenv("CHARTMOGUL_SECRET_KEY")
    monkeypatch.delenv("CHARTMOGUL_API_KEY", raising=False)

    assert main(argv) == 1

    line = _one_line_error(capsys.readouterr().err, argv[0])
    assert "no ChartMogul credentials: export CHARTMOGUL_API_KEY" in line
    for name in (
        "CHARTMOGUL_API_KEY",
        "CHARTMOGUL_ACCOUNT_TOKEN",
        "CHARTMOGUL_SECRET_KEY",
        "CHARTMOGUL_API_URL",
    ):
        assert name in line
    assert "`cm-frames emulator`" in line
    assert "cm.Client" not in line
    assert "token=" not in line
    assert not (tmp_path / "c.parquet").exists()


# --- apply --dry-run makes the real run's checks ---------------------------------------------


def test_apply_dry_run_lists_the_requests_it_would_send(
    env: dict[str, str],
    emulator: Emulator,
    df: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan_file, ids = _plan_file(df, tmp_path)
    emulator.clear_request_log()

    assert main(["apply", str(plan_file), "--dry-run"]) == 0

    out = capsys.readouterr().out
    for customer in ids:
        assert f'POST customers/{customer}/attributes/tags {{"tags":["cli"]}}' in out
    assert "would send 3 requests" in out
    assert emulator.request_log() == []
    assert list(Path(env["XDG_CACHE_HOME"]).rglob("*.jsonl")) == []  # no journal begun


def test_apply_dry_run_refuses_a_plan_of_another_account_as_the_real_run_does(
    env: dict[str, str],
    emulator: Emulator,
    df: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan_file, _ = _plan_file(df, tmp_path)
    emulator.add_account("other-token", "other-secret", customers=5, seed=1)
    monkeypatch.setenv("CHARTMOGUL_ACCOUNT_TOKEN", "other-token")
    monkeypatch.setenv("CHARTMOGUL_SECRET_KEY", "other-secret")
    emulator.clear_request_log()

    assert main(["apply", str(plan_file), "--dry-run"]) == 1

    line = _one_line_error(capsys.readouterr().err, "apply")
    assert "another account" in line
    assert "dry run" not in capsys.readouterr().out
    assert emulator.request_log() == []


def test_apply_dry_run_refuses_a_journal_of_another_plan_as_the_real_run_does(
    env: dict[str, str],
    emulator: Emulator,
    df: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan_file, _ = _plan_file(df, tmp_path, tagged=3)
    journal = tmp_path / "journal.jsonl"
    assert main(["apply", str(plan_file), "--journal", str(journal)]) == 0
    other_file, _ = _plan_file(df, tmp_path, tagged=2)  # another plan, same file name
    capsys.readouterr()
    emulator.clear_request_log()
    before = journal.read_bytes()

    for extra in (["--dry-run"], []):
        assert main(["apply", str(other_file), "--journal", str(journal), *extra]) == 1
        line = _one_line_error(capsys.readouterr().err, "apply")
        assert "belongs to another plan" in line
    assert emulator.request_log() == []
    assert journal.read_bytes() == before


# --- sync: a table's scores by key ------------------------------------------------------------


@pytest.fixture
def sync_env(
    emulator: Emulator, dialect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator's credentials as a scheduled job has them: today's API key, or token/secret."""
    _credentials_of(emulator, dialect, monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cli-cache"))


def _credentials_of(emulator: Emulator, dialect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHARTMOGUL_API_KEY", "CHARTMOGUL_ACCOUNT_TOKEN", "CHARTMOGUL_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    if dialect == "current":
        monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator.api_key)
    else:
        monkeypatch.setenv("CHARTMOGUL_ACCOUNT_TOKEN", emulator.token)
        monkeypatch.setenv("CHARTMOGUL_SECRET_KEY", emulator.secret)
    monkeypatch.setenv("CHARTMOGUL_API_URL", emulator.url)


def _score_table(df: pd.DataFrame, rows: int, strangers: int = 0) -> pd.DataFrame:
    """Scores for the first ``rows`` customers by external_id (every third one hot, one blank)."""
    chosen = df.iloc[:rows]
    keys = [*chosen["external_id"].tolist(), *(f"not-a-customer-{i}" for i in range(strangers))]
    scores: list[float | None] = [float(10 + i) for i in range(len(keys))]
    if len(scores) > 1:
        scores[1] = None  # a blank: the customer's value stays
    return pd.DataFrame(
        {"external_id": keys, "score": scores, "hot": [i % 3 == 0 for i in range(len(keys))]}
    )


@BOTH_DIALECTS
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_sync_dry_run_prints_the_summary_and_the_unmatched_rows_and_sends_nothing(
    sync_env: None,
    emulator: Emulator,
    df: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    suffix: str,
) -> None:
    table = _score_table(df, 6, strangers=2)
    path = tmp_path / f"scores{suffix}"
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path)
    emulator.clear_request_log()

    argv = ["sync", str(path), "--on", "external_id", "--set", "risk=score", "--tag", "hot=hot"]
    assert main([*argv, "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert f"sync {path} (8 rows, on external_id) into {len(df):,} customers:" in out
    assert "7 operations on 5 customers" in out  # 5 scores (one blank), 2 hot of 6
    assert "AddTags 2 · AddCustom 5" in out
    assert "2 rows of the table matched no customer (external_id not-a-customer-0" in out
    assert "would send 7 requests" in out
    assert "dry run: nothing was sent" in out
    assert _writes(emulator) == []
    # Fresh: the account is read from the server, not from a snapshot or the HTTP cache.
    assert any(e["path"].endswith("/customers") for e in emulator.request_log())


@BOTH_DIALECTS
def test_sync_writes_the_scores_and_a_second_run_sends_nothing(
    sync_env: None,
    emulator: Emulator,
    client: cm.Client,
    df: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "scores.csv"
    _score_table(df, 6, strangers=1).to_csv(path, index=False)
    journals = tmp_path / "journals"
    argv = ["sync", str(path), "--on", "external_id", "--set", "risk=score", "--tag", "hot=hot"]

    assert main([*argv, "--journal", str(journals)]) == 0

    out = capsys.readouterr().out
    assert "7 applied · 0 skipped · 0 conflicted · 0 failed" in out
    (journal,) = journals.glob("*.jsonl")
    assert f"journal: {journal}" in out
    server = cm.read_customers(client, refresh=True, progress=False)
    ids = df.index[:6]
    assert server.loc[ids, "custom.risk"].tolist()[:1] == [10]
    assert server.loc[ids[2:], "custom.risk"].tolist() == [12, 13, 14, 15]
    assert pd.isna(server.loc[ids[1], "custom.risk"])
    assert server.index[server["tag.hot"]].tolist() == [ids[0], ids[3]]
    assert int(server["custom.risk"].notna().sum()) == 5

    # The nightly rerun of an unchanged table finds everything in place.
    emulator.clear_request_log()
    assert main([*argv, "--journal", str(journals)]) == 0
    out = capsys.readouterr().out
    assert "nothing to apply" in out
    assert "1 row of the table matched no customer" in out
    assert _writes(emulator) == []


@BOTH_DIALECTS
def test_sync_others_remove_mirrors_the_table(
    sync_env: None,
    emulator: Emulator,
    client: cm.Client,
    df: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "scores.csv"
    _score_table(df, 4).to_csv(path, index=False)
    argv = ["sync", str(path), "--on", "external_id", "--set", "risk=score"]
    assert main(argv) == 0
    _score_table(df.iloc[2:], 1).to_csv(path, index=False)  # tonight: one customer only

    assert main([*argv, "--others", "remove"]) == 0

    assert "RemoveCustom 2" in capsys.readouterr().out  # the first two lose it (one was blank)
    server = cm.read_customers(client, refresh=True, progress=False)
    assert server.index[server["custom.risk"].notna()].tolist() == [df.index[2]]


@pytest.mark.parametrize(
    ("table", "argv", "message"),
    [
        ("scores.csv", ["--set", "risk"], "--set risk: expected NAME=COLUMN"),
        ("scores.csv", ["--set", "risk=nope"], "has no column 'nope'; its columns are"),
        ("scores.txt", ["--set", "risk=score"], "unknown suffix .txt; sync reads a .csv or"),
        ("missing.csv", ["--set", "risk=score"], "cannot read"),
        ("scores.csv", ["--tag", "hot=score"], "a tag takes a boolean column"),
        ("twice.csv", ["--set", "risk=score"], "the table has 1 external_id more than once"),
        ("scores.csv", [], "nothing to write: give --set"),
    ],
)
def test_sync_refuses_bad_input_in_one_line_before_any_write(
    sync_env: None,
    emulator: Emulator,
    df: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    table: str,
    argv: list[str],
    message: str,
) -> None:
    scores = _score_table(df, 3)
    scores.to_csv(tmp_path / "scores.csv", index=False)
    scores.to_csv(tmp_path / "scores.txt", index=False)
    pd.concat([scores, scores.iloc[[0]]]).to_csv(tmp_path / "twice.csv", index=False)
    emulator.clear_request_log()

    assert main(["sync", str(tmp_path / table), "--on", "external_id", *argv]) == 1

    line = _one_line_error(capsys.readouterr().err, "sync")
    assert message in line
    assert _writes(emulator) == []


@BOTH_DIALECTS
def test_sync_resumes_after_the_emulator_is_killed_mid_sync(
    dialect: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The emulator stops while the sync writes; the same command, rerun, finishes the job.

    The rerun loads afresh, so its plan holds what the account still lacks: nothing that
    landed before the stop is sent again (a held request lands at the stop, its answer lost).
    """
    import socket
    import threading
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    credentials: dict[str, str] = (
        {"dialect": "current", "api_key": "sync-key"}
        if dialect == "current"
        else {"token": "sync-token", "secret": "sync-secret"}
    )

    def start() -> Emulator:
        server = Emulator(
            customers=200, seed=5, db=tmp_path / "emu.sqlite", port=port, **credentials
        )  # type: ignore[arg-type]
        return server.start()

    server = start()
    try:
        _credentials_of(server, dialect, monkeypatch)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cli-cache"))
        with cm.Client(
            server.token, server.secret, server.url, cache=False, rate_limit=None
        ) as loader:
            df = cm.read_customers(loader, progress=False)
        table = pd.DataFrame({"external_id": df["external_id"].iloc[:90], "score": range(90)})
        path = tmp_path / "scores.csv"
        table.to_csv(path, index=False)
        argv = ["sync", str(path), "--on", "external_id", "--set", "risk=score"]
        server.set_faults(hang_after=30, hang_methods=("POST", "PUT", "DELETE"))
        outcome: list[int] = []
        syncing = threading.Thread(target=lambda: outcome.append(main(argv)))
        syncing.start()
        deadline = time.monotonic() + 60
        while server.hanging_requests() == 0:
            assert time.monotonic() < deadline, "the sync never reached the held write"
            time.sleep(0.005)
        server.stop()  # killed mid-sync: the held writes land, their answers are lost
        first_log = server.request_log()
        syncing.join(timeout=120)
        assert not syncing.is_alive()
        assert outcome == [1]  # failed, and said so
        first = capsys.readouterr().out
        assert "failed" in first

        server = start()
        assert main(argv) == 0
        second = capsys.readouterr().out
        second_log = server.request_log()
        with cm.Client(
            server.token, server.secret, server.url, cache=False, rate_limit=None
        ) as reader:
            now = cm.read_customers(reader, progress=False)
    finally:
        server.stop()

    assert now.loc[df.index[:90], "custom.risk"].tolist() == list(range(90))
    assert int(now["custom.risk"].notna().sum()) == 90
    landed = {e["path"] for e in first_log if e["method"] == "POST" and e["status"] == 200}
    resent = {e["path"] for e in second_log if e["method"] == "POST"}
    assert 30 <= len(landed) < 90
    assert not landed & resent  # nothing that landed before the stop was sent again
    assert len(resent) == 90 - len(landed)
    assert f"{90 - len(landed)} applied · 0 skipped · 0 conflicted · 0 failed" in second


def test_sync_mirror_that_removes_many_values_says_so_in_the_summary_not_as_a_warning(
    sync_env: None,
    emulator: Emulator,
    client: cm.Client,
    df: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The warning's advice (a Series of some customers assigned to a column) never applies to
    # sync, whose removals are what --others remove asks for; the summary leads with them.
    holders = int(df["custom.seats"].notna().sum())
    assert holders > 20
    path = tmp_path / "seats.csv"
    pd.DataFrame({"id": [int(df.index[0])], "seats": [7]}).to_csv(path, index=False)

    argv = ["sync", str(path), "--on", "id", "--set", "seats=seats", "--others", "remove"]
    assert main(argv) == 0

    out = capsys.readouterr().out
    removed = holders - int(pd.notna(df["custom.seats"].iloc[0]))
    assert f"⚠ removes {removed:,} values: custom.seats {removed:,}" in out
    server = cm.read_customers(client, refresh=True, progress=False)
    assert server["custom.seats"].notna().sum() == 1
