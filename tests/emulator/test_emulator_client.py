"""``Emulator.client()``: a client of the emulator whose cache goes away with the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

import cm_frames as cm
from cm_frames.api.cache import default_cache_root
from cm_frames.emulator import Emulator


@pytest.fixture
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user cache directory (platformdirs reads XDG_CACHE_HOME), in the test's directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    root = default_cache_root()
    assert root == tmp_path / "user-cache" / "cm_frames"
    return root


def _files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*")) if path.exists() else []


def test_the_client_of_an_emulator_leaves_nothing_in_the_user_cache(user_cache: Path) -> None:
    with Emulator(customers=20, seed=3) as emu:
        client = emu.client()
        df = cm.read_customers(client, progress=False)
        cache_dir = client.cache_dir
        assert len(df) == 20
        assert list((cache_dir / "snapshots").glob("*.arrow"))  # the cache was used
        assert client.rate_limit is None  # the emulator has no rate limit
        assert not cache_dir.is_relative_to(user_cache)

    assert _files_under(user_cache) == []
    assert not cache_dir.exists()
    assert not cache_dir.parent.exists()  # the emulator's throwaway directory, all of it


def test_two_emulators_on_new_ports_leave_no_account_folders_behind(user_cache: Path) -> None:
    for seed in (1, 2):
        with Emulator(customers=5, seed=seed) as emu, emu.client() as client:
            cm.read_customers(client, progress=False)
    assert _files_under(user_cache) == []


def test_the_clients_of_one_emulator_share_its_cache(user_cache: Path) -> None:
    with Emulator(customers=5) as emu, emu.client() as first, emu.client() as second:
        assert first.cache_dir == second.cache_dir
        cm.read_customers(first, progress=False)
        emu.clear_request_log()
        cm.read_customers(second, progress=False)  # warm: the proof of credentials only
        assert [e["query"] for e in emu.request_log()] == [{"page": "1", "per_page": "1"}]


def test_a_cache_dir_given_is_kept_and_options_pass_through(
    user_cache: Path, tmp_path: Path
) -> None:
    mine = tmp_path / "mine"
    with (
        Emulator(customers=5) as emu,
        emu.client(cache_dir=mine, rate_limit=50, max_workers=2, retry_for=3) as client,
    ):
        cm.read_customers(client, progress=False)
        assert (client.rate_limit, client.max_workers) == (50, 2)
        assert client._retry_for == 3
        assert client.cache_dir.parent == mine
    assert list(mine.rglob("*.arrow"))
    assert _files_under(user_cache) == []


def test_client_before_start_says_to_start_the_emulator() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        Emulator(customers=1).client()


def test_the_client_of_todays_emulator_speaks_with_its_api_key(user_cache: Path) -> None:
    with Emulator(customers=25, seed=3, dialect="current") as emu, emu.client() as client:
        df = cm.read_customers(client, progress=False)
        assert len(df) == 25
        logged = emu.request_log()
        assert logged
        assert {entry["account"] for entry in logged} == {emu.api_key}
        assert all("page" not in entry["query"] for entry in logged)  # cursors, not pages
