"""Run tests against both API dialects: ``pytestmark = BOTH_DIALECTS`` (see conftest)."""

from __future__ import annotations

import pytest

#: Mark a test (or, as ``pytestmark``, a module) to run once per API dialect: every test so
#: marked that uses the emulator (the ``dialect`` fixture, through ``emulator``, ``client``,
#: ``api``, ...) is parametrised by conftest's ``pytest_generate_tests``.
BOTH_DIALECTS = pytest.mark.both_dialects
DIALECTS = ("enrichment", "current")
