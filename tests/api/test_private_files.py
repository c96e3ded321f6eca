"""cm_frames._files: private directories and files, atomic replaces, the write marker.

(Here beside the client's tests, its first user; cm_frames/_files.py is a top-level module.)
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cm_frames._files import (
    WRITE_MARKER,
    create_private,
    ensure_private_dir,
    ensure_private_file,
    touch_write_marker,
    write_private_text,
)
from cm_frames.errors import ValidationError


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_directories_are_0700_and_laxer_ones_tightened(tmp_path: Path) -> None:
    made = ensure_private_dir(tmp_path / "root" / "account")
    assert _mode(made) == 0o700
    assert _mode(made.parent) == 0o700
    made.chmod(0o755)
    ensure_private_dir(made)
    assert _mode(made) == 0o700
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValidationError, match="not a directory"):
        ensure_private_dir(tmp_path / "file")


def test_files_are_0600_and_replaced_whole(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    ensure_private_file(db)
    assert _mode(db) == 0o600
    assert db.read_bytes() == b""
    db.chmod(0o644)
    ensure_private_file(db)
    assert _mode(db) == 0o600
    leftover = tmp_path / "latest.tmp"
    leftover.write_text("old")
    leftover.chmod(0o644)
    create_private(leftover)
    assert _mode(leftover) == 0o600
    assert leftover.read_text() == ""
    write_private_text(tmp_path / "latest.json", '{"a": 1}')
    assert (tmp_path / "latest.json").read_text() == '{"a": 1}'
    assert _mode(tmp_path / "latest.json") == 0o600
    assert not (tmp_path / "latest.tmp").exists()


def test_the_write_marker_moves_forward(tmp_path: Path) -> None:
    touch_write_marker(tmp_path)
    first = (tmp_path / WRITE_MARKER).stat().st_mtime_ns
    touch_write_marker(tmp_path)
    assert (tmp_path / WRITE_MARKER).stat().st_mtime_ns >= first
    assert _mode(tmp_path / WRITE_MARKER) == 0o600
