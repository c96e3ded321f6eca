"""Shared fixtures: one emulator per test session, reset to its seeded state per test.

``emulator`` is what tests use: the session's Emulator (300 customers, seed 7) after
``reset()``, so every test starts from the seeded data with no faults and an empty
request log. ``auth`` is its (token, secret) pair; ``api`` a ``requests`` session
authenticated as that account whose relative URLs resolve against ``emulator.url``, with
the dialect-aware views of tests/server_view.py (``api.customer_path(id)``,
``api.attributes(id)``, ...);
``client`` a cm_frames Client of that account and ``df`` every customer loaded through it.

Every one of them speaks the dialect that the ``dialect`` fixture names: the reference's
(``"enrichment"``) unless a module or test asks for both with ``BOTH_DIALECTS``::

    from dialects import BOTH_DIALECTS
    pytestmark = BOTH_DIALECTS   # every test of the module runs against both emulators

Then ``emulator`` is the session emulator of today's API for the ``"current"`` runs (its
``token`` and ``secret`` are both its API key, which today's API and the client accept).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dialects import DIALECTS
from server_view import ApiSession

import cm_frames as cm
from cm_frames.emulator import Emulator

EMULATOR_CUSTOMERS = 300
EMULATOR_SEED = 7


@pytest.fixture(scope="session", autouse=True)
def private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user cache directory (platformdirs reads XDG_CACHE_HOME) in the session's temp dir.

    A test that builds a client without ``cache_dir=`` must not write snapshots or journals
    into the cache of the person running the tests (some did, into ~/.cache/cm_frames).
    Children (kernels, subprocesses) inherit the variable.
    """
    path = tmp_path_factory.mktemp("user-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(path))
        yield path


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Emulator]:
    """One running emulator for the whole session (started once, stopped at the end)."""
    with Emulator(customers=EMULATOR_CUSTOMERS, seed=EMULATOR_SEED) as emu:
        yield emu


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_dialects: run the test against the emulator of each API dialect"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Only the tests that reach an emulator run twice; the marked module's others, once.
    if metafunc.definition.get_closest_marker("both_dialects") and (
        "dialect" in metafunc.fixturenames
    ):
        metafunc.parametrize("dialect", DIALECTS, indirect=True)


@pytest.fixture
def dialect(request: pytest.FixtureRequest) -> str:
    """The API dialect of this test's emulator: ``"enrichment"`` unless parametrised."""
    return str(getattr(request, "param", "enrichment"))


@pytest.fixture
def dialect_server(request: pytest.FixtureRequest, dialect: str) -> Emulator:
    """The session emulator of ``dialect`` as it is (for tests that reset it themselves)."""
    name = "current_emulator_server" if dialect == "current" else "emulator_server"
    server: Emulator = request.getfixturevalue(name)
    return server


@pytest.fixture
def emulator(dialect_server: Emulator) -> Emulator:
    """The session emulator of ``dialect``, back to its seeded data, no faults, empty log."""
    dialect_server.reset()
    return dialect_server


@pytest.fixture
def auth(emulator: Emulator) -> tuple[str, str]:
    """HTTP Basic credentials of the emulator's main account."""
    return (emulator.token, emulator.secret)


@pytest.fixture
def api(emulator: Emulator, dialect: str) -> Iterator[ApiSession]:
    """An authenticated session against the (freshly reset) emulator; closed afterwards."""
    with ApiSession(emulator.url, (emulator.token, emulator.secret), dialect) as session:
        if dialect == "current":
            # The uuids learnt now, before the test: its request log holds only its own.
            session.learn_uuids()
            emulator.clear_request_log()
        yield session


@pytest.fixture
def client(emulator: Emulator, tmp_path: Path) -> Iterator[cm.Client]:
    """A client of the emulator's main account, its cache in the test's own directory.

    No rate limit: the emulator has none, and tests should not wait for the real one.
    """
    with cm.Client(
        emulator.token, emulator.secret, emulator.url, cache_dir=tmp_path, rate_limit=None
    ) as c:
        yield c


@pytest.fixture
def df(client: cm.Client) -> pd.DataFrame:
    """Every customer of the emulator, loaded through ``client``."""
    return cm.read_customers(client, progress=False)


@pytest.fixture(scope="session")
def current_emulator_server() -> Iterator[Emulator]:
    """One running emulator of today's dialect for the whole session (300 customers, seed 7)."""
    with Emulator(customers=EMULATOR_CUSTOMERS, seed=EMULATOR_SEED, dialect="current") as emu:
        yield emu


@pytest.fixture
def current_emulator(current_emulator_server: Emulator) -> Emulator:
    """Today's session emulator, back to its seeded data, faults cleared, request log empty."""
    current_emulator_server.reset()
    return current_emulator_server


@pytest.fixture
def current_api(current_emulator: Emulator) -> Iterator[ApiSession]:
    """A session against today's emulator: the API key as user name, an empty password."""
    with ApiSession(current_emulator.url, (current_emulator.api_key, ""), "current") as session:
        yield session
