"""The client's HTTP cache: a private per-account directory, a requests-cache SQLite session,
and cache keys that say which customer, search or list page they belong to.

requests-cache does not invalidate on writes. Its keys are opaque hashes, and finding the
entries a write made stale by deserialising every cached response (every list page of the
account) would cost more than the write. So the key function prefixes each hash with
the resource it caches (``list``, ``customer-25647``, ``search-<hash of email>``): after a
write, the client scans the keys alone and deletes the stale ones through requests-cache's
own ``delete``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from platformdirs import user_cache_dir
from requests_cache import CachedSession
from requests_cache.backends.sqlite import SQLiteCache
from requests_cache.cache_keys import create_key
from requests_cache.policy.settings import DEFAULT_IGNORED_PARAMS

from cm_frames._files import ensure_private_file
from cm_frames.api.endpoints import parse_path

__all__ = [
    "CACHE_FILE_NAME",
    "ResourceKeys",
    "StaleEntries",
    "account_hash",
    "default_cache_root",
    "delete_stale",
    "email_digest",
    "open_cached_session",
    "written_customers",
]

CACHE_FILE_NAME = "http_cache.sqlite"
# SQLite's companions of the database file. It creates them with the database file's mode,
# but one left over from an older, laxer setup keeps its own mode, so they are checked too.
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
# Never stored in a key or a cached request: requests-cache replaces their values with
# "REDACTED" (Authorization carries base64 of token:secret).
_REDACTED = (*DEFAULT_IGNORED_PARAMS,)


def account_hash(token: str, base_url: str) -> str:
    """First 16 hex digits of sha256(token, base URL): the account's cache namespace.

    Parameters
    ----------
    token : str
        The account token.
    base_url : str
        The normalised base URL.

    Returns
    -------
    str
        16 hex digits: the name of the account's cache directory.

    Examples
    --------
    >>> key = account_hash("token", "https://api.chartmogul.com/v1/")
    >>> len(key), key == account_hash("token", "http://127.0.0.1:8000/v1/")
    (16, False)
    """
    return hashlib.sha256(f"{token}\n{base_url}".encode()).hexdigest()[:16]


def default_cache_root() -> Path:
    """The user cache directory of cm_frames (platformdirs), where each account has its own.

    Returns
    -------
    Path
        Such as ``~/.cache/cm_frames`` on Linux.

    Examples
    --------
    >>> default_cache_root().name
    'cm_frames'
    """
    return Path(user_cache_dir("cm_frames"))


def open_cached_session(
    directory: Path, base_url: str, *, expire_after: int | float | timedelta | None
) -> CachedSession:
    """A requests-cache session on ``directory/http_cache.sqlite``: GET 200 only, auth redacted.

    The database file and its SQLite companions are created (or tightened) 0600 first.

    Parameters
    ----------
    directory : Path
        The account's private directory.
    base_url : str
        The client's base URL (the keys name the resource relative to it).
    expire_after : float or timedelta or None
        How long entries stay fresh; None: until cleared.

    Returns
    -------
    CachedSession
        Keyed by ``ResourceKeys``.

    Examples
    --------
    >>> import tempfile
    >>> directory = Path(tempfile.mkdtemp())
    >>> session = open_cached_session(directory, "http://127.0.0.1:9/v1/", expire_after=60)
    >>> oct((directory / CACHE_FILE_NAME).stat().st_mode & 0o777)
    '0o600'
    >>> session.close()
    """
    db_path = directory / CACHE_FILE_NAME
    ensure_private_file(db_path)
    for suffix in _SQLITE_COMPANIONS:
        companion = db_path.with_name(db_path.name + suffix)
        if companion.exists():
            ensure_private_file(companion)
    # WAL lets the reader threads of a parallel load read while one of them writes.
    backend = SQLiteCache(db_path, wal=True, busy_timeout=30_000)
    return CachedSession(
        backend=backend,
        expire_after=-1 if expire_after is None else expire_after,
        allowable_methods=("GET",),
        allowable_codes=(200,),
        ignored_parameters=_REDACTED,
        key_fn=ResourceKeys(base_url),
        stale_if_error=False,
    )


class ResourceKeys:
    """Key cache entries by requests-cache's usual hash, prefixed with the resource read.

    The ``key_fn`` of the client's cache. Prefixes contain only ``[A-Za-z0-9_-]``
    (requests-cache 1.3 quotes keys into SQL text).

    Parameters
    ----------
    base_url : str
        The client's base URL.

    Examples
    --------
    >>> keys = ResourceKeys("https://api.chartmogul.com/v1/")
    >>> keys.resource("https://api.chartmogul.com/v1/customers?page=2")
    'list'
    """

    def __init__(self, base_url: str) -> None:
        self._base_path = urlsplit(base_url).path

    def __call__(self, request: Any, **kwargs: Any) -> str:
        """The key of ``request``: ``"<resource>:<requests-cache's hash>"``."""
        return f"{self.resource(request.url or '')}:{create_key(request, **kwargs)}"

    def resource(self, url: str) -> str:
        """The resource ``url`` reads: ``list``, ``search-<digest>``, ``customer-<ref>``, ``other``.

        Parameters
        ----------
        url : str
            A full request URL.

        Returns
        -------
        str
            The key's prefix (see ``cm_frames.api.endpoints.parse_path``).

        Examples
        --------
        >>> ResourceKeys("https://api.chartmogul.com/v1/").resource(
        ...     "https://api.chartmogul.com/v1/customers/25647/attributes"
        ... )
        'customer-25647'
        """
        parts = urlsplit(url)
        if not parts.path.startswith(self._base_path):
            return "other"
        parsed = parse_path(parts.path[len(self._base_path) :])
        if parsed.kind == "list":
            return "list"
        if parsed.kind == "search":
            emails = [v for k, v in parse_qsl(parts.query) if k == "email"]
            return f"search-{email_digest(emails[0])}" if len(emails) == 1 else "search"
        if parsed.kind in ("customer", "attributes"):
            return f"customer-{parsed.ref}"
        return "other"


def email_digest(email: str) -> str:
    """Digest an email for the key of its searches, case-folded (over-invalidating is safe).

    Parameters
    ----------
    email : str
        The email searched for or written by.

    Returns
    -------
    str
        16 hex digits.

    Examples
    --------
    >>> email_digest("Bob@Example.com ") == email_digest("bob@example.com")
    True
    """
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


class StaleEntries:
    """Which cache keys a successful write made stale.

    ``ids``/``uuids`` are the written customers as far as they are known. An unknown side
    (a write by id tells nothing about the uuid, whose cached ``/customers/cus_...`` entries
    then all go) and unknown emails (``emails=None``: every cached search goes) are handled
    conservatively. Every list page is always stale.

    Parameters
    ----------
    ids, uuids : collection of str
        The written customers' ids and uuids, as far as known.
    ids_known, uuids_known : bool
        Whether all the written customers' ids (uuids) are known.
    emails : collection of str or None
        Their emails; None when unknown.

    Examples
    --------
    >>> stale = StaleEntries(
    ...     ids=["25647"], uuids=[], ids_known=True, uuids_known=False, emails=[]
    ... )
    >>> stale("list:1a2b"), stale("customer-25647:1a2b"), stale("customer-99:1a2b")
    (True, True, False)
    >>> stale("customer-cus_de305d54:1a2b")  # its uuid is not known: assumed written
    True
    """

    def __init__(
        self,
        *,
        ids: Collection[str],
        uuids: Collection[str],
        ids_known: bool,
        uuids_known: bool,
        emails: Collection[str] | None,
    ) -> None:
        self._refs = set(ids) | set(uuids)
        self._ids_known = ids_known
        self._uuids_known = uuids_known
        self._searches = None if emails is None else {email_digest(e) for e in emails}

    def __call__(self, key: str) -> bool:
        """Whether the cache entry with ``key`` is stale."""
        resource = key.partition(":")[0]
        if resource == "list":
            return True
        if resource.startswith("search"):
            digest = resource.partition("-")[2]
            return self._searches is None or not digest or digest in self._searches
        if resource.startswith("customer-"):
            ref = resource.removeprefix("customer-")
            if ref in self._refs:
                return True
            return not (self._ids_known if ref.isdigit() else self._uuids_known)
        return False


def delete_stale(cache: SQLiteCache, is_stale: StaleEntries) -> int:
    """Delete the stale entries (keys scanned without deserialising any response).

    Parameters
    ----------
    cache : SQLiteCache
        The client's cache backend.
    is_stale : StaleEntries
        Which keys to delete.

    Returns
    -------
    int
        How many entries were deleted.

    Examples
    --------
    >>> import tempfile
    >>> session = open_cached_session(Path(tempfile.mkdtemp()), "http://127.0.0.1:9/v1/",
    ...                               expire_after=60)
    >>> stale = written_customers("customers/25647/attributes/tags", {"tags": ["vip"]}, b"{}").stale
    >>> delete_stale(session.cache, stale)  # an empty cache: nothing to delete
    0
    >>> session.close()
    """
    keys = [key for key in cache.responses if is_stale(key)]
    if keys:
        # vacuum=False: rewriting the whole file after every write would cost more than the write.
        cache.delete(*keys, vacuum=False)
    return len(keys)


@dataclass(frozen=True, slots=True)
class WrittenCustomers:
    """The customers a successful write touched, and which cache entries it made stale.

    Attributes
    ----------
    ids : list of int
        The ids the write named or returned, sorted.
    stale : StaleEntries
        The cache entries it made stale.
    """

    ids: list[int]
    stale: StaleEntries


def written_customers(path: str, json_body: Any, response_body: bytes) -> WrittenCustomers:
    """What a successful write to ``path`` (relative to the base URL) touched.

    A write by id names its customer; a write by email names the email, and its response
    lists the customers (ids, uuids, emails). Whatever is not known is assumed stale.

    Parameters
    ----------
    path : str
        The write's path, relative to the base URL, without its query.
    json_body : object
        The request's JSON body.
    response_body : bytes
        The response's body.

    Returns
    -------
    WrittenCustomers
        The ids, uuids and emails written (what is unknown is left empty, and assumed stale).

    Examples
    --------
    >>> written = written_customers(
    ...     "customers/25647/attributes/tags", {"tags": ["vip"]}, b'{"tags": ["vip"]}'
    ... )
    >>> written.ids, written.stale("customer-25647:1a2b")
    ([25647], True)
    """
    entries = _response_entries(response_body)
    ids = [e["id"] for e in entries if isinstance(e.get("id"), int)]
    uuids = [e["uuid"] for e in entries if isinstance(e.get("uuid"), str)]
    emails = [e["email"] for e in entries if isinstance(e.get("email"), str)]
    parsed = parse_path(path)
    if parsed.kind in ("attributes", "section") and parsed.ref is not None:
        ref = parsed.ref
        if ref.isdigit():
            ids.append(int(ref))
        else:
            uuids.append(ref)
        stale = StaleEntries(
            ids=[str(i) for i in ids],
            uuids=uuids,
            ids_known=ref.isdigit() or bool(ids),
            uuids_known=not ref.isdigit() or bool(uuids),
            emails=emails or None,
        )
    elif parsed.kind == "by_email":
        if isinstance(json_body, dict) and isinstance(json_body.get("email"), str):
            emails.append(json_body["email"])
        stale = StaleEntries(
            ids=[str(i) for i in ids], uuids=uuids, ids_known=True, uuids_known=True, emails=emails
        )
    else:  # a write this client does not know: everything it might have touched is stale
        stale = StaleEntries(ids=(), uuids=(), ids_known=False, uuids_known=False, emails=None)
    return WrittenCustomers(sorted(set(ids)), stale)


def _response_entries(body: bytes) -> list[dict[str, Any]]:
    """Customers named in a write's response (the by-email endpoints return them)."""
    try:
        decoded = json.loads(body) if body else None
    except ValueError:
        return []
    if isinstance(decoded, dict) and isinstance(decoded.get("entries"), list):
        return [e for e in decoded["entries"] if isinstance(e, dict)]
    if isinstance(decoded, dict) and "id" in decoded:
        return [decoded]
    return []
