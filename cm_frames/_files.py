"""Private files on disk: directories 0700, files 0600, atomic replaces, the write marker.

Everything cm_frames keeps for an account (the HTTP cache, snapshots, journals) holds customer
data, so nothing of it is ever readable by other users, not even for an instant: directories
and files are created with their private mode rather than tightened after the fact.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from cm_frames.errors import ValidationError

__all__ = [
    "WRITE_MARKER",
    "create_private",
    "ensure_private_dir",
    "ensure_private_file",
    "touch_write_marker",
    "write_private_text",
]

# Touched after every successful write through any client of the account, in any process:
# the read path never serves a snapshot taken before it (see cm_frames.read.snapshot).
WRITE_MARKER = "writes.marker"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` with mode 0700 (never readable by others, even for an instant).

    Parameters
    ----------
    path : Path
        The directory. Its parent is created too (0700) when missing; an existing directory
        with a laxer mode is tightened to 0700.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValidationError
        ``path`` exists and is not a directory.
    """
    # The cache root too, when we create it (its own parents get the usual umask modes).
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode):
            raise ValidationError(
                f"cache directory {path} exists but is not a directory; remove it or pass "
                "another cache_dir= to cm.Client"
            ) from None
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(path, 0o700)
    return path


def ensure_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600, or tighten an existing file's mode to 0600.

    For files another library opens afterwards with its own, laxer mode (SQLite uses 0644).
    Never follows a symlink when creating.

    Parameters
    ----------
    path : Path
        The file.
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        if stat.S_IMODE(os.lstat(path).st_mode) & 0o077:
            os.chmod(path, 0o600)
    else:
        os.close(fd)  # an empty file is a valid empty SQLite database


def touch_write_marker(directory: Path) -> None:
    """Record "the account changed now" as the marker file's mtime (nanoseconds).

    Parameters
    ----------
    directory : Path
        The account's cache directory; the marker is ``directory / WRITE_MARKER`` (0600).
    """
    marker = directory / WRITE_MARKER
    os.close(os.open(marker, os.O_CREAT | os.O_WRONLY, 0o600))
    now = time.time_ns()
    os.utime(marker, ns=(now, now))


def create_private(path: Path) -> None:
    """Create (or truncate) ``path`` as 0600 before anything is written to it.

    Opening an existing file keeps its mode, so the writer that follows never exposes the
    data to other users, not even briefly.

    Parameters
    ----------
    path : Path
        The file (typically a temp file, replaced into place when complete).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # A leftover temp file (a crash mid-write under an older, laxer version) keeps its own
        # mode when opened: tighten it before any data goes in.
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def write_private_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text`` (UTF-8), the file private (0600) throughout.

    Written to ``path`` with the suffix ``.tmp`` first, then moved into place
    (``os.replace``): a reader sees the old text or the new, never a part.

    Parameters
    ----------
    path : Path
        The file.
    text : str
        Its new content.
    """
    temp = path.with_suffix(".tmp")
    create_private(temp)
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
