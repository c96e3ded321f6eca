"""``read_customers``: every customer of an account into the frame of design.md.

This is the one place where the client (HTTP, retries, rate limits) meets the pure decoding
of ``frames.py`` and the snapshots of ``snapshot.py``. Cold, pages stream from the client's
parallel fetcher straight into the Arrow decoder; warm, the last full load is mapped back
from its snapshot once the credentials are proven (one small request per client).
"""

from __future__ import annotations

import json
import weakref
from contextlib import closing, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import pandas as pd

from cm_frames.api import endpoints
from cm_frames.api.cursors import Rows
from cm_frames.api.limits import MAX_PER_PAGE
from cm_frames.errors import PagingError, ValidationError
from cm_frames.read.frames import PageDecoder, ParquetStreamWriter, table_to_frame
from cm_frames.read.parquet import METADATA_FILE, merge_into_file
from cm_frames.read.snapshot import Snapshot, SnapshotStore
from cm_frames.read.table import ATTRS_KEY

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    from cm_frames.api.client import Client, RetryNotice

__all__ = ["client_for_frame", "read_customers", "snapshot_store"]


# Frames remember which client loaded them (by account), so ``df.chartmogul.refresh()`` and
# ``plan()`` work without passing it again. Weak: the registry never keeps a client alive.
_clients: weakref.WeakValueDictionary[str, Client] = weakref.WeakValueDictionary()


def snapshot_store(client: Client) -> SnapshotStore:
    """Return the snapshot store of the client's account (beside its HTTP cache).

    Parameters
    ----------
    client : Client
        The account whose loads the store keeps.

    Returns
    -------
    SnapshotStore
        The store in ``client.cache_dir``'s ``snapshots`` directory.

    Examples
    --------
    >>> import cm_frames as cm
    >>> with cm.Emulator(customers=5, seed=1) as emu:
    ...     client = emu.client()
    ...     _ = cm.read_customers(client, progress=False)
    ...     snapshot_store(client).latest(max_age_s=None) is not None
    True
    """
    return SnapshotStore(Path(client.cache_dir) / "snapshots")


@overload
def read_customers(
    client: Client | None = None,
    *,
    email: str | None = None,
    refresh: bool = False,
    progress: bool = True,
    to: None = None,
) -> pd.DataFrame: ...


@overload
def read_customers(
    client: Client | None = None,
    *,
    email: str | None = None,
    refresh: bool = False,
    progress: bool = True,
    to: str | Path,
) -> Path: ...


def read_customers(
    client: Client | None = None,
    *,
    email: str | None = None,
    refresh: bool = False,
    progress: bool = True,
    to: str | Path | None = None,
) -> pd.DataFrame | Path:
    """Load every customer of the account (or those with ``email``) as an Arrow-backed frame.

    Index ``id``; one column per attribute (``tag.*``, ``custom.*``, ``stripe.*``,
    ``clearbit.*``); provenance in ``df.attrs["chartmogul"]``. A second call within the cache's
    lifetime returns the stored snapshot, unless a write came in between or ``refresh=True``;
    a client that has had no answer from the server yet first proves its credentials with
    one small request (``client.verify_credentials()``), so a wrong secret key raises
    ``Unauthorized`` instead of reading the snapshot. With ``to=PATH`` pages stream into a
    Parquet dataset at PATH with bounded memory instead, and the path is returned.

    Parameters
    ----------
    client : Client, optional
        The account to read (default: ``Client()``, credentials from the environment).
    email : str, optional
        Only the customers with this email address.
    refresh : bool, default False
        Fetch every page again instead of serving the stored snapshot.
    progress : bool, default True
        Show a progress bar while pages arrive.
    to : str or Path, optional
        Stream into a Parquet dataset at this directory instead of building a frame, or into
        one file when the path ends in ``.parquet`` (read either back with ``cm.read_parquet``,
        or with pandas, DuckDB, Spark as they are); not with ``email``.

    Returns
    -------
    pandas.DataFrame or Path
        The customers (index ``id``, Arrow dtypes), or with ``to`` the dataset's path.

    Raises
    ------
    ValidationError
        For an empty ``email``, or ``to`` with ``email``.
    Unauthorized
        When the credentials are wrong or revoked.
    ChartMogulError
        When the service fails or answers pages that break the API's documented shape.

    Examples
    --------
    Against the real service, credentials from the environment:

    >>> import cm_frames as cm
    >>> df = cm.read_customers(cm.Client(), progress=False)  # doctest: +SKIP

    The same against the bundled emulator:

    >>> with cm.Emulator(customers=20, seed=1) as emu:
    ...     df = cm.read_customers(emu.client(), progress=False)
    >>> len(df), df.index.name, str(df["email"].dtype)
    (20, 'id', 'string[pyarrow]')
    """
    if client is None:
        from cm_frames.api.client import Client

        client = Client()
    if email is not None and not email.strip():
        raise ValidationError("email is empty: pass the customer's email address, or omit email")
    if to is not None and email is not None:
        raise ValidationError("to= streams the whole account; it cannot be combined with email=")
    _clients[client.account_hash] = client
    if to is not None:
        return _stream_to_parquet(client, Path(to), refresh=refresh, progress=progress)

    store = snapshot_store(client)
    if email is None and not refresh:
        cached = store.latest(max_age_s=_max_age_seconds(client.expire_after))
        if cached is not None:
            # Snapshots are found by token and base URL: without this one request a wrong
            # or revoked secret key would be answered from disk (done once per client).
            client.verify_credentials()
            return _frame_from_snapshot(cached)

    decoder = PageDecoder()
    by_parts = client.dialect == "current" and email is None
    # closing(): on an error (a broken page) the pages in flight stop now, not whenever the
    # generator is collected (a notebook's traceback would keep its threads alive).
    with _progress_bar(progress, email) as bar, _retries_shown(client, bar) as shown:
        if by_parts:
            with closing(client.walk_customers()) as events:
                for event in events:
                    if isinstance(event, Rows):
                        bar.update(decoder.add_entries(event.entries))
                    else:
                        decoder.forget(event.ids)
                        bar.update(-len(event.ids))
                    shown.landed()
        else:
            with closing(_page_bodies(client, email=email, refresh=refresh)) as bodies:
                for body in bodies:
                    bar.update(decoder.add_page(body))
                    shown.landed()
    # Parts arrive as they are walked, not in the API's order: the table is sorted into it.
    decoded = decoder.finish(api_order=by_parts)
    metadata = {
        "base_url": client.base_url,
        "dialect": client.dialect,
        "account_hash": client.account_hash,
        "loaded_at": datetime.now(UTC).isoformat(),
        "snapshot_dir": str(store.directory),
        "custom_types": dict(decoded.custom_types),
        "email": email,
        "customers": decoded.count,
    }
    snapshot = store.save(decoded.table, metadata, latest=email is None)
    return _frame_from_snapshot(snapshot)


def client_for_frame(df: pd.DataFrame, client: Client | None = None) -> Client:
    """Return the client a frame was loaded with (if still alive), else one from the environment.

    The accessor's write-back methods call this, so ``df.chartmogul.plan().apply()`` needs
    no client in the session that loaded ``df``.

    Parameters
    ----------
    df : pandas.DataFrame
        A frame ``read_customers`` returned (its ``attrs`` name the account).
    client : Client, optional
        Returned as it is when given.

    Returns
    -------
    Client
        ``client``; else the live client that loaded ``df``; else ``Client(base_url=...)``
        of the frame's base URL, with credentials from the environment.

    Raises
    ------
    MissingCredentials
        When a new client is needed and the environment has no credentials.

    Examples
    --------
    >>> import cm_frames as cm
    >>> with cm.Emulator(customers=5, seed=1) as emu:
    ...     client = emu.client()
    ...     df = cm.read_customers(client, progress=False)
    ...     client_for_frame(df) is client
    True
    """
    if client is not None:
        return client
    info = df.attrs.get(ATTRS_KEY) or {}
    found = _clients.get(str(info.get("account_hash")))
    if found is not None:
        return found
    from cm_frames.api.client import Client

    return Client(base_url=info.get("base_url"), dialect=info.get("dialect"))


def _frame_from_snapshot(snapshot: Snapshot) -> pd.DataFrame:
    frame = table_to_frame(snapshot.table)
    frame.attrs[ATTRS_KEY] = dict(snapshot.metadata)
    return frame


def _page_bodies(
    client: Client, *, email: str | None, refresh: bool
) -> Generator[bytes, None, None]:
    if email is None:
        # Pages bypass the HTTP cache: the snapshot is the cache for whole loads, and filling
        # requests-cache would cost about 5.5 ms a page (perf-notes), most of a cold load.
        yield from client.iter_pages(raw=True, cache=False, refresh=refresh)
    elif client.dialect == "current":
        yield from _search_pages(client, email, refresh=refresh)
    else:
        yield client.request_raw("GET", endpoints.SEARCH, params={"email": email}, refresh=refresh)


def _search_pages(client: Client, email: str, *, refresh: bool) -> Generator[bytes, None, None]:
    """Today's search answers in the list's shape, by cursor: every page of it."""
    params: dict[str, Any] = {"email": email, "per_page": MAX_PER_PAGE}
    for _ in range(_MAX_SEARCH_PAGES):
        body = client.request_raw("GET", endpoints.SEARCH, params=params, refresh=refresh)
        yield body
        answer = json.loads(body)
        cursor = answer.get("cursor") if isinstance(answer, dict) else None
        if not answer.get("has_more") or not isinstance(cursor, str) or not cursor:
            return
        params = {**params, "cursor": cursor}
    raise PagingError(
        f"The search for {email!r} kept saying has_more after {_MAX_SEARCH_PAGES} pages: "
        "paging would not end. Search again; if it keeps happening, report it to ChartMogul."
    )


# An email is shared by a handful of customers; this many pages means the paging is broken.
_MAX_SEARCH_PAGES = 1000


def _stream_to_parquet(client: Client, path: Path, *, refresh: bool, progress: bool) -> Path:
    # A new export replaces the one cm_frames wrote there before (only its own files); on an
    # error the parts written so far are removed, so no partial dataset passes for a whole.
    # A path ending in .parquet becomes one file: the parts go to a hidden folder beside it
    # first (memory still holds one part), then are copied into the file one at a time.
    single_file = path.suffix.lower() == ".parquet"
    folder = path.with_name(f".{path.name}.parts") if single_file else path
    provenance = {
        "base_url": client.base_url,
        "dialect": client.dialect,
        "account_hash": client.account_hash,
        "loaded_at": datetime.now(UTC).isoformat(),
        "email": None,
    }
    try:
        with (
            ParquetStreamWriter(folder, overwrite=True, provenance=provenance) as writer,
            _progress_bar(progress, None) as bar,
            _retries_shown(client, bar) as shown,
            closing(_exported_pages(client, writer, refresh=refresh)) as counts,
        ):
            for count in counts:
                bar.update(count)
                shown.landed()
        if single_file:
            merge_into_file(folder, path)
    finally:
        if single_file:
            _remove_parts(folder)
    return path


def _exported_pages(
    client: Client, writer: ParquetStreamWriter, *, refresh: bool
) -> Generator[int, None, None]:
    """Each page of the account into ``writer``, yielding how many customers it held."""
    if client.dialect == "current":
        # The cursor walk parses each page for its cursor: the writer takes the parsed
        # customers instead of parsing the page again (as the in-memory load does).
        with closing(client.iter_pages(cache=False, refresh=refresh)) as pages:
            for page in pages:
                yield writer.add_entries(page["entries"])
    else:
        with closing(client.iter_pages(raw=True, cache=False, refresh=refresh)) as bodies:
            for body in bodies:
                yield writer.add_page(body)


def _remove_parts(folder: Path) -> None:
    """Delete the writer's own files from the parts folder of a single-file export, then it."""
    for part in [*folder.glob("part-*.parquet"), folder / METADATA_FILE]:
        part.unlink(missing_ok=True)
    with suppress(OSError):  # not empty: something else was put there, left as it is
        folder.rmdir()


def _progress_bar(enabled: bool, email: str | None) -> Any:
    from tqdm.auto import tqdm

    what = f"customers with {email}" if email else "customers"
    return tqdm(desc=f"Loading {what}", unit=" customers", disable=not enabled, leave=True)


class _RetryPostfix:
    """Shows the latest retry on the progress bar ("retrying: HTTP 503 (attempt 3)")."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._showing = False

    def __call__(self, notice: RetryNotice) -> None:
        # In a page fetcher's thread; tqdm's own lock serialises the redraws.
        self._showing = True
        self._bar.set_postfix_str(f"retrying: {notice.reason} (attempt {notice.attempt + 1})")

    def landed(self) -> None:
        """A page arrived: the retrying is over, so the note goes."""
        if self._showing:
            self._showing = False
            self._bar.set_postfix_str("")


@contextmanager
def _retries_shown(client: Client, bar: Any) -> Iterator[_RetryPostfix]:
    postfix = _RetryPostfix(bar)
    if getattr(bar, "disable", False):
        yield postfix
        return
    with client.watch_retries(postfix):
        yield postfix


def _max_age_seconds(expire_after: Any) -> float | None:
    if expire_after is None or (isinstance(expire_after, int | float) and expire_after < 0):
        return None
    if isinstance(expire_after, timedelta):
        return expire_after.total_seconds()
    return float(expire_after)
