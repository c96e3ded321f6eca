"""``read_customers``: every customer of an account into the frame of design.md.

This is the one place where the client (HTTP, retries, rate limits) meets the pure decoding
of ``frames.py`` and the snapshots of ``snapshot.py``. Cold, pages stream from the client's
parallel fetcher straight into the Arrow decoder; warm, the last full load is mapped back
from its snapshot without a request.
"""

from __future__ import annotations

import weakref
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import pandas as pd

from cm_frames.errors import ValidationError
from cm_frames.frames import ATTRS_KEY, PageDecoder, ParquetStreamWriter, table_to_frame
from cm_frames.snapshot import Snapshot, SnapshotStore

if TYPE_CHECKING:
    from collections.abc import Generator

    from cm_frames.client import Client

__all__ = ["ATTRS_KEY", "client_for_frame", "read_customers", "snapshot_store"]


# Frames remember which client loaded them (by account), so ``df.chartmogul.refresh()`` and
# ``plan()`` work without passing it again. Weak: the registry never keeps a client alive.
_clients: weakref.WeakValueDictionary[str, Client] = weakref.WeakValueDictionary()


def snapshot_store(client: Client) -> SnapshotStore:
    """The snapshot store of the client's account (beside its HTTP cache)."""
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
    lifetime returns the stored snapshot without a request, unless a write came in between or
    ``refresh=True``. With ``to=PATH`` pages stream into a Parquet dataset at PATH with bounded
    memory instead, and the path is returned.
    """
    if client is None:
        from cm_frames.client import Client

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
            return _frame_from_snapshot(cached)

    decoder = PageDecoder()
    # closing(): on an error (a broken page) the pages in flight stop now, not whenever the
    # generator is collected (a notebook's traceback would keep its threads alive).
    with (
        _progress_bar(progress, email) as bar,
        closing(_page_bodies(client, email=email, refresh=refresh)) as bodies,
    ):
        for body in bodies:
            bar.update(decoder.add_page(body))
    decoded = decoder.finish()
    metadata = {
        "base_url": client.base_url,
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
    """The client a frame was loaded with (if still alive), else one built from the environment."""
    if client is not None:
        return client
    info = df.attrs.get(ATTRS_KEY) or {}
    found = _clients.get(str(info.get("account_hash")))
    if found is not None:
        return found
    from cm_frames.client import Client

    return Client(base_url=info.get("base_url"))


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
    else:
        yield client.request_raw(
            "GET", "customers/search", params={"email": email}, refresh=refresh
        )


def _stream_to_parquet(client: Client, path: Path, *, refresh: bool, progress: bool) -> Path:
    # A new export replaces the one cm_frames wrote there before (only its own files); on an
    # error the parts written so far are removed, so no partial dataset passes for a whole.
    with (
        ParquetStreamWriter(path, overwrite=True) as writer,
        _progress_bar(progress, None) as bar,
        closing(client.iter_pages(raw=True, cache=False, refresh=refresh)) as bodies,
    ):
        for body in bodies:
            bar.update(writer.add_page(body))
    return path


def _progress_bar(enabled: bool, email: str | None) -> Any:
    from tqdm.auto import tqdm

    what = f"customers with {email}" if email else "customers"
    return tqdm(desc=f"Loading {what}", unit=" customers", disable=not enabled, leave=True)


def _max_age_seconds(expire_after: Any) -> float | None:
    if expire_after is None or (isinstance(expire_after, int | float) and expire_after < 0):
        return None
    if isinstance(expire_after, timedelta):
        return expire_after.total_seconds()
    return float(expire_after)
