"""The API's documented limits that callers check their arguments against."""

from __future__ import annotations

from typing import Any, Final

from cm_frames.errors import ValidationError

__all__ = ["MAX_PER_PAGE", "MAX_WORKERS_LIMIT", "check_max_workers"]

MAX_WORKERS_LIMIT: Final = 20  # the real service allows about 20 connections per account
MAX_PER_PAGE: Final = 200  # the most customers one list page holds


def check_max_workers(max_workers: Any) -> int:
    """``max_workers`` if it is an int from 1 to ``MAX_WORKERS_LIMIT``.

    Parameters
    ----------
    max_workers : int
        Requests in flight at once (a ``Client``'s, or ``apply_plan``'s).

    Returns
    -------
    int
        ``max_workers``.

    Raises
    ------
    ValidationError
        Not an int (a bool is not one), or outside 1 to ``MAX_WORKERS_LIMIT``.

    Examples
    --------
    >>> check_max_workers(8)
    8
    """
    if (
        isinstance(max_workers, bool)
        or not isinstance(max_workers, int)
        or not 1 <= max_workers <= MAX_WORKERS_LIMIT
    ):
        raise ValidationError(
            f"max_workers must be an int from 1 to {MAX_WORKERS_LIMIT} (the API allows about "
            f"{MAX_WORKERS_LIMIT} connections per account), got {max_workers!r}"
        )
    return max_workers
