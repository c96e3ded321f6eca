"""``cm-frames emulator``: prints its URL and credentials, serves, and exits 0 on Ctrl-C."""

from __future__ import annotations

import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from cm_frames.cli import main

# `python -m cm_frames.cli` as a terminal starts it: with Ctrl-C at its default. A shell
# starts a background job (`make test &`) with SIGINT ignored, which children inherit.
AS_FROM_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('cm_frames.cli', run_name='__main__', alter_sys=True)"
)


def start_cli(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start the emulator command; return it and the variables it exported."""
    process = subprocess.Popen(
        [sys.executable, "-c", AS_FROM_A_TERMINAL, "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    exported: dict[str, str] = {}
    for line in process.stdout:  # the banner ends with the Ctrl-C hint
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exported[name] = value
        if line.startswith("Press Ctrl-C"):
            break
    return process, exported


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_emulator_command_serves_until_interrupted(stop_signal: signal.Signals) -> None:
    process, exported = start_cli(
        "--customers", "12", "--seed", "4", "--token", "cli-token", "--secret", "cli-secret"
    )
    try:
        assert exported["CHARTMOGUL_ACCOUNT_TOKEN"] == "cli-token"
        assert exported["CHARTMOGUL_SECRET_KEY"] == "cli-secret"
        url = exported["CHARTMOGUL_API_URL"]
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/v1/")
        response = requests.get(url + "customers", auth=("cli-token", "cli-secret"), timeout=10)
        assert response.status_code == 200
        assert len(response.json()["entries"]) == 12
    finally:
        process.send_signal(stop_signal)
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()  # and close its pipes: the failure is the timeout, not a leak
            process.communicate()
            raise
    assert process.returncode == 0, stderr
    assert "stopped" in stdout
    assert "Traceback" not in stderr


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "emulator" in capsys.readouterr().err


def test_emulator_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["emulator", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for option in ("--port", "--customers", "--seed", "--db", "--token", "--secret"):
        assert option in help_text


def test_a_busy_port_is_one_line_naming_the_port_and_the_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        assert main(["emulator", "--port", str(port), "--customers", "1"]) == 1

    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"cm-frames emulator: error: port {port} on 127.0.0.1 is in use")
    assert "another --port" in lines[0]
    assert "--port 0" in lines[0]


def test_the_exported_lines_are_what_load_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The missing-credentials message of load points at these lines: they must be enough.
    for name in ("CHARTMOGUL_ACCOUNT_TOKEN", "CHARTMOGUL_SECRET_KEY", "CHARTMOGUL_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    process, exported = start_cli("--customers", "7")
    try:
        for name, value in exported.items():
            monkeypatch.setenv(name, shlex.split(value)[0])
        assert main(["load", "--to", str(tmp_path / "c.parquet")]) == 0
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert "wrote 7 customers" in capsys.readouterr().out


def test_the_current_dialect_serves_todays_api_with_the_given_key() -> None:
    process, exported = start_cli("--customers", "9", "--dialect", "current", "--api-key", "k-1")
    try:
        assert exported["CHARTMOGUL_API_KEY"] == "k-1"
        assert "CHARTMOGUL_SECRET_KEY" not in exported
        url = exported["CHARTMOGUL_API_URL"]
        body = requests.get(url + "customers", auth=("k-1", ""), timeout=10).json()
        assert len(body["entries"]) == 9
        assert "cursor" in body  # today's paging
        assert requests.get(url + "customers", auth=("k-2", ""), timeout=10).status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "stopped" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dialect", "current", "--token", "t"], "takes --api-key"),
        (["--api-key", "k"], "--api-key is for --dialect current"),
    ],
)
def test_credentials_of_the_other_dialect_are_refused(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["emulator", "--port", "0", "--customers", "1", *args]) == 1
    assert message in capsys.readouterr().err


def test_emulator_help_lists_the_dialect_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["emulator", "--help"])
    help_text = capsys.readouterr().out
    assert "--dialect" in help_text
    assert "--api-key" in help_text
