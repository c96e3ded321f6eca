"""Run tests against both API dialects: ``pytestmark = BOTH_DIALECTS`` (see conftest)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pyarrow as pa
import pytest

#: Mark a test (or, as ``pytestmark``, a module) to run once per API dialect: every test so
#: marked that uses the emulator (the ``dialect`` fixture, through ``emulator``, ``client``,
#: ``api``, ...) is parametrised by conftest's ``pytest_generate_tests``.
BOTH_DIALECTS = pytest.mark.both_dialects
DIALECTS = ("enrichment", "current")


def as_the_api_keeps(moment: datetime, dialect: str) -> datetime:
    """A timestamp a user can write in ``dialect``: today's API keeps milliseconds.

    cm_frames refuses finer values there (they would land rounded), so tests that mean to
    write one draw it at the dialect's precision.
    """
    if dialect != "current":
        return moment
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def edits_as_the_api_keeps(frame: pd.DataFrame, dialect: str) -> pd.DataFrame:
    """``frame`` with its ``custom.*`` timestamp columns floored to what ``dialect`` keeps."""
    if dialect != "current":
        return frame
    kept = frame.copy()
    for column in kept.columns:
        dtype = kept[column].dtype
        arrow = isinstance(dtype, pd.ArrowDtype) and pa.types.is_timestamp(dtype.pyarrow_dtype)
        if column.startswith("custom.") and (arrow or pd.api.types.is_datetime64_any_dtype(dtype)):
            kept[column] = kept[column].dt.floor("ms")
    return kept
