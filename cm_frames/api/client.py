"""``Client``: the one object that talks to the ChartMogul Enrichment API.

One cached, retrying, rate-limited ``requests`` session for the client's life; every endpoint
method builds a path and calls ``request()`` (pyairtable's shape), which owns retries, the
rate limit, logging, the status → error mapping and cache invalidation after writes.
"""

from __future__ import annotations

import json
import logging
import numbers
import os
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, cast, overload
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from requests_cache import CachedSession
from requests_cache.backends.sqlite import SQLiteCache

from cm_frames._files import ensure_private_dir, touch_write_marker
from cm_frames.api import endpoints
from cm_frames.api.cache import (
    account_hash,
    default_cache_root,
    delete_stale,
    open_cached_session,
    written_customers,
)
from cm_frames.api.cursors import Forget, Rows, Strategy, decode_answer, walk_customers
from cm_frames.api.dialect import Dialect, resolve_credentials
from cm_frames.api.http import describe_exception, error_message, is_loopback, normalise_base_url
from cm_frames.api.limits import MAX_PER_PAGE, check_max_workers
from cm_frames.api.paging import (
    PAGING_HINT,
    PageSequence,
    PageSummary,
    check_page,
    check_page_size,
    summarise_page,
)
from cm_frames.api.ratelimit import RequestLimiter
from cm_frames.api.retry import (
    DEFAULT_BACKOFF,
    Failure,
    RetryPolicy,
)
from cm_frames.api.wire import (
    AttributesResponse,
    CustomAttribute,
    Customer,
    CustomerPage,
    CustomResponse,
    EntriesResponse,
    SearchResult,
    TagsResponse,
)
from cm_frames.errors import (
    APIError,
    PagingError,
    TransportError,
    ValidationError,
    error_for_status,
)
from cm_frames.schema import CUSTOM_TYPES, MAX_KEY_LENGTH

__all__ = [
    "DEFAULT_BASE_URL",
    "Client",
    "RetryHook",
    "RetryNotice",
    "WriteHook",
]

DEFAULT_BASE_URL = "https://api.chartmogul.com/v1/"
ENV_BASE_URL = "CHARTMOGUL_API_URL"

logger = logging.getLogger("cm_frames")

WriteHook = Callable[[list[int]], None]
"""Called after each successful write with the ids of the customers it touched."""


@dataclass(frozen=True, slots=True)
class RetryNotice:
    """One failed attempt that is about to be retried (what ``watch_retries`` reports).

    Attributes
    ----------
    method, path : str
        The request: its method and its path with the query (never credentials).
    attempt : int
        The attempt that failed (1 for the first).
    reason : str
        The failure in a few words, such as ``"connection refused"`` or ``"HTTP 503"``.
    error : str
        The failure in full (the server's message, or the connection error).
    delay : float
        Seconds until the next attempt.
    elapsed : float
        Seconds since the request's first attempt.
    """

    method: str
    path: str
    attempt: int
    reason: str
    error: str
    delay: float
    elapsed: float


RetryHook = Callable[[RetryNotice], None]
"""Called, in the retrying thread, before each retry's wait (``Client.watch_retries``)."""

_BOOLEAN_STRINGS = frozenset({"TRUE", "true", "t", "1", "FALSE", "false", "f", "0"})
_INTEGER_STRING = re.compile(r"-?[0-9]+")
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _package_version() -> str:
    try:
        return version("cm_frames")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


class Client:
    """A client of the ChartMogul API for one account, in either of its two dialects.

    Today's API (``dialect="current"``) takes an API key: ``api_key=`` or the
    ``CHARTMOGUL_API_KEY`` environment variable (a key passed as both token and secret, as
    ChartMogul tells users of older clients, is an API key too); it pages by cursor and
    addresses customers by uuid. The reference's API (``dialect="enrichment"``) takes a
    ``token`` and ``secret``, or ``CHARTMOGUL_ACCOUNT_TOKEN`` / ``CHARTMOGUL_SECRET_KEY``, and
    pages by number. The same methods work in both. The base URL comes from ``base_url``,
    ``CHARTMOGUL_API_URL`` or the public endpoint. Every method may be called from several
    threads at once; they share one connection pool, one rate limit (``rate_limit``
    requests/s, ``None`` for none) and at most ``max_workers`` requests in flight.

    Reads (GET, status 200) are cached for ``expire_after`` seconds (``None``: until cleared)
    in a private SQLite file per account under ``cache_dir`` (default: the user cache
    directory); ``refresh=True`` fetches anew. Writes delete what they made stale.

    Failed requests (connection errors, timeouts, 429, 5xx) are retried with backoff for at
    most ``retry_for`` seconds in all; each retry is logged at INFO on the ``cm_frames``
    logger. A connection refused by a loopback host (``127.0.0.1``, ``localhost``: nothing
    listens on that port) is retried for ``loopback_retry_for`` seconds only, long enough for
    an emulator that is restarting on the same port.

    A cached answer or a local snapshot is served only once the credentials were proven:
    by any answer of the server to this client, or by ``verify_credentials()`` (one uncached
    request), since the cache of an account is found by token and base URL alone.

    Parameters
    ----------
    token, secret : str, optional
        The account token and secret key (default: ``CHARTMOGUL_ACCOUNT_TOKEN`` and
        ``CHARTMOGUL_SECRET_KEY``). The secret is kept only in the session's auth object.
    base_url : str, optional
        The API's base URL (default: ``CHARTMOGUL_API_URL``, else
        ``https://api.chartmogul.com/v1/``). HTTPS, or http:// to a loopback host only.
    api_key : str, optional
        Today's API key (default: ``CHARTMOGUL_API_KEY``, when no token or secret is given).
        Kept only in the session's auth object, like the secret.
    dialect : {"current", "enrichment"}, optional
        The API to speak (default: ``"current"`` for an API key, ``"enrichment"`` for a token
        and a different secret key).
    cache : bool, default True
        Cache GET answers (status 200) on disk.
    cache_dir : path-like, optional
        The root of the cache (default: the user cache directory); this account's private
        directory is ``cache_dir / account_hash``.
    expire_after : float or timedelta or None, default 3600
        Seconds cached reads stay fresh; None: until cleared.
    timeout : float or (float, float), default (5, 30)
        Seconds to connect and to read, per attempt.
    rate_limit : float or None, default 40
        Request starts per second, across threads; None: no cap.
    max_workers : int, default 8
        Requests in flight at once (1 to ``MAX_WORKERS_LIMIT``, 20).
    retry_for : float, default 120
        Seconds all attempts of one request may take.
    loopback_retry_for : float, default 5
        Seconds a connection refused by a loopback host is retried.
    backoff : float, default 0.25
        Seconds: the base delay of the exponential backoff (full jitter, each wait at most
        10 s); a smaller one retries sooner.

    Raises
    ------
    MissingCredentials
        No API key, and no token and secret key.
    ValidationError
        An argument is out of range, or ``base_url`` is not an API URL.

    Examples
    --------
    >>> import cm_frames as cm
    >>> client = cm.Client(api_key="...")  # doctest: +SKIP
    >>> client = cm.Client(token="...", secret="...")  # the reference's API  # doctest: +SKIP
    >>> client.get_customer(25647)["email"]  # doctest: +SKIP
    'bob@example.com'
    """

    def __init__(
        self,
        token: str | None = None,
        secret: str | None = None,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        dialect: Dialect | None = None,
        cache: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        expire_after: float | timedelta | None = 3600,
        timeout: float | tuple[float, float] = (5, 30),
        rate_limit: float | None = 40,
        max_workers: int = 8,
        retry_for: float = 120,
        loopback_retry_for: float = 5,
        backoff: float = DEFAULT_BACKOFF,
    ) -> None:
        credentials = resolve_credentials(token, secret, api_key, dialect)
        self._dialect: Dialect = credentials.dialect
        self._base_url = normalise_base_url(
            base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
        )
        self._max_workers = check_max_workers(max_workers)
        self._timeout = _check_timeout(timeout)
        self._retry_for = _check_non_negative("retry_for", retry_for)
        self._loopback_retry_for = _check_non_negative("loopback_retry_for", loopback_retry_for)
        self._loopback = is_loopback(urlsplit(self._base_url).hostname or "")
        if rate_limit is not None:
            _check_positive("rate_limit", rate_limit)
        if isinstance(expire_after, int | float) and not isinstance(expire_after, bool):
            _check_non_negative("expire_after", expire_after)
        self._rate_limit = rate_limit
        self._expire_after = expire_after
        self._limiter = RequestLimiter(rate_limit, self._max_workers)
        self._retry = RetryPolicy(
            self._limiter,
            retry_for=self._retry_for,
            loopback_retry_for=self._loopback_retry_for,
            loopback=self._loopback,
            backoff=_check_non_negative("backoff", backoff),
        )
        self._token_prefix = credentials.user[:4]
        self._account_hash = account_hash(credentials.user, self._base_url)
        root = Path(cache_dir) if cache_dir is not None else default_cache_root()
        self._cache_dir = root / self._account_hash
        self._closed = False
        self._write_lock = threading.Lock()
        self._write_generation = 0
        self._write_hooks: list[WriteHook] = []
        self._environment_settings: dict[str, Any] | None = None
        self._retry_hooks: list[RetryHook] = []
        # Set by the first answer the server accepts; until then nothing local is served.
        self._credentials_proven = False
        self._proof_lock = threading.Lock()

        self._cache_backend: SQLiteCache | None = None
        session: requests.Session
        if cache:
            cached = open_cached_session(
                ensure_private_dir(self._cache_dir), self._base_url, expire_after=expire_after
            )
            self._cache_backend = cast(SQLiteCache, cached.cache)
            session = cached
        else:
            session = requests.Session()
        # The secret lives only in the session's auth object: never on the client, never
        # in a repr, a log line, an exception or the cache (requests-cache redacts the header).
        session.auth = HTTPBasicAuth(credentials.user, credentials.password)
        session.headers.update(
            {"User-Agent": f"cm_frames/{_package_version()}", "Accept": "application/json"}
        )
        # Retries are the loop in _send, not urllib3's Retry on this adapter: Retry cannot
        # bound all attempts by total elapsed time, and its backoff has no full jitter when
        # it honours Retry-After. The pool holds a connection for every worker thread.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._max_workers, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._session = session

    # ------------------------------------------------------------------ lifecycle, introspection

    def close(self) -> None:
        """Close the connections and the cache file. Idempotent.

        A closed client refuses every request (``ValidationError``). ``with cm.Client(...)
        as client:`` closes it at the end of the block.

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=1) as emu:
        ...     client = emu.client()
        ...     client.close()
        ...     client.close()  # a second close does nothing
        >>> client
        Client(base_url='http://127.0.0.1:.../v1/', dialect='enrichment', token='emul…', cache=on, closed)
        """
        if not self._closed:
            self._closed = True
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        cache = "on" if self._cache_backend is not None else "off"
        closed = ", closed" if self._closed else ""
        return (
            f"Client(base_url={self._base_url!r}, dialect={self._dialect!r}, "
            f"{'api_key' if self._dialect == 'current' else 'token'}="
            f"{self._token_prefix + '…'!r}, cache={cache}{closed})"
        )

    @property
    def base_url(self) -> str:
        """The API's base URL, with exactly one trailing slash."""
        return self._base_url

    @property
    def dialect(self) -> Dialect:
        """Which API the client speaks: ``"current"`` (API key) or ``"enrichment"`` (token)."""
        return self._dialect

    @property
    def account_hash(self) -> str:
        """The sha256 of token (or API key) and base URL, 16 hex digits: the cache's namespace."""
        return self._account_hash

    @property
    def cache_dir(self) -> Path:
        """This account's private directory (mode 0700), created on first use.

        It holds the HTTP cache, the snapshots of loads and the journals of applied plans.
        """
        return ensure_private_dir(self._cache_dir)

    @property
    def cache_file(self) -> Path | None:
        """The SQLite file of the HTTP cache, or None when the cache is off."""
        if self._cache_backend is None:
            return None
        return Path(self._cache_backend.db_path)

    @property
    def expire_after(self) -> float | timedelta | None:
        """How long cached reads stay fresh (seconds; None: until cleared)."""
        return self._expire_after

    @property
    def max_workers(self) -> int:
        """Requests in flight at once (and the threads a load or an apply uses)."""
        return self._max_workers

    @property
    def rate_limit(self) -> float | None:
        """Request starts per second across threads (None: no cap)."""
        return self._rate_limit

    @property
    def backoff(self) -> float:
        """Seconds: the base delay of the retries' exponential backoff."""
        return self._retry.backoff

    @property
    def write_generation(self) -> int:
        """How many writes succeeded through this client (the read path compares it)."""
        return self._write_generation

    def on_write(self, callback: WriteHook) -> WriteHook:
        """Register ``callback(customer_ids)`` to run after every successful write.

        It runs after the stale cache entries are gone, in the writing thread; what it raises
        propagates to the caller of the write. Ids are those the write named or returned
        (empty for a write by uuid, whose id the response does not tell).

        Parameters
        ----------
        callback : callable
            Called with a list of int customer ids.

        Returns
        -------
        callable
            ``callback`` (so ``on_write`` works as a decorator).

        Examples
        --------
        >>> @client.on_write  # doctest: +SKIP
        ... def written(ids):
        ...     print("changed", ids)
        """
        with self._write_lock:
            self._write_hooks.append(callback)
        return callback

    @contextmanager
    def watch_retries(self, callback: RetryHook) -> Iterator[None]:
        """Call ``callback(notice)`` before each retry's wait while the ``with`` block runs.

        Parameters
        ----------
        callback : callable
            Receives a ``RetryNotice`` (method, path, attempt, reason, delay). It runs in the
            thread that retries (a page fetcher's, for a load); what it raises propagates there.

        Yields
        ------
        None
            ``callback`` is registered for the duration of the block.

        Examples
        --------
        >>> with client.watch_retries(lambda notice: print(notice.reason)):  # doctest: +SKIP
        ...     cm.read_customers(client)
        """
        with self._write_lock:
            self._retry_hooks.append(callback)
        try:
            yield
        finally:
            with self._write_lock:
                self._retry_hooks.remove(callback)

    def verify_credentials(self) -> None:
        """Prove the token and secret with one uncached request, once per client.

        ``GET customers?page=1&per_page=1``, never answered from the cache. Warm loads and
        cached reads call it first: the local cache is found by token and base URL, so
        without it a wrong or revoked secret key would be answered from disk. After it
        succeeded (or any other request was answered) it sends nothing.

        Raises
        ------
        Unauthorized
            The server refused the token or the secret key.
        TransportError, ServerError, RateLimited
            The server could not be reached or kept failing for ``retry_for`` seconds.

        Examples
        --------
        >>> import cm_frames as cm
        >>> emu = cm.Emulator(customers=1).start()
        >>> client = cm.Client(emu.token, emu.secret, emu.url, cache=False)
        >>> client.verify_credentials()
        >>> client.credentials_verified
        True
        >>> wrong = cm.Client(emu.token, "not the secret", emu.url, cache=False)
        >>> wrong.verify_credentials()
        Traceback (most recent call last):
        ...
        cm_frames.errors.Unauthorized: HTTP 401 (GET http://127.0.0.1:.../v1/customers?page=1&per_page=1): ...
        >>> client.close(); wrong.close(); emu.stop()
        """
        if self._credentials_proven:
            return
        with self._proof_lock:
            if not self._credentials_proven:
                self._send(
                    "GET",
                    endpoints.LIST,
                    params={"per_page": 1}
                    if self._dialect == "current"
                    else {"page": 1, "per_page": 1},
                    json_body=None,
                    refresh=True,
                    use_cache=False,
                )

    @property
    def credentials_verified(self) -> bool:
        """Whether the server has accepted this client's credentials (see ``verify_credentials``)."""
        return self._credentials_proven

    def cache_clear(self) -> None:
        """Empty this account's HTTP cache (nothing happens when the cache is off).

        Snapshots of loads stay; ``cm.read_customers(client, refresh=True)`` replaces them.

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=1) as emu, emu.client() as client:
        ...     _ = client.get_customer(1)
        ...     _ = client.get_customer(1)  # from the cache
        ...     client.cache_clear()
        ...     _ = client.get_customer(1)  # asked again
        ...     [entry["path"] for entry in emu.request_log()]
        ['/v1/customers/1', '/v1/customers/1']
        """
        if self._cache_backend is not None:
            self._cache_backend.clear()  # type: ignore[no-untyped-call]  # untyped in requests-cache 1.3

    # ------------------------------------------------------------------ the one request path

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        refresh: bool = False,
        cache: bool = True,
    ) -> Any:
        """Send one request and decode its JSON.

        Retries, the rate limit, logging, the status → error mapping and the cache's
        invalidation after writes all happen here; the endpoint methods call it.

        Parameters
        ----------
        method : str
            ``"GET"``, ``"POST"``, ``"PUT"``, ``"PATCH"`` or ``"DELETE"``.
        path : str
            Relative to the base URL, such as ``"customers/25647"`` (see
            ``cm_frames.api.endpoints``).
        params : mapping, optional
            The query.
        json : object, optional
            The body, sent as JSON.
        refresh : bool, default False
            Fetch anew, not from the cache (and store the answer).
        cache : bool, default True
            Use the cache at all (False: neither read nor filled).

        Returns
        -------
        object
            The decoded JSON (None for an empty body).

        Raises
        ------
        BadRequest, Unauthorized, RequestFailed, NotFound
            The server refused the request (not retried).
        RateLimited, ServerError, TransportError
            Still failing after ``retry_for`` seconds of retries.
        APIError
            A success status whose body is not the API's JSON (an HTML page, another
            Content-Type, no body, invalid JSON).
        ValidationError
            The client is closed, or ``path`` is not relative.

        Examples
        --------
        >>> client.request("GET", "customers/25647")["id"]  # doctest: +SKIP
        25647
        """
        response = self._send(
            method, path, params=params, json_body=json, refresh=refresh, use_cache=cache
        )
        try:
            return _decode(response)
        except APIError:
            self._evict(response)
            raise

    def request_raw(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        refresh: bool = False,
        cache: bool = True,
    ) -> bytes:
        """Like ``request`` but returns the response body undecoded (for bulk Arrow decoding).

        Parameters
        ----------
        method : str
            ``"GET"``, ``"POST"``, ``"PUT"``, ``"PATCH"`` or ``"DELETE"``.
        path : str
            Relative to the base URL, such as ``"customers/25647"``.
        params : mapping, optional
            The query.
        json : object, optional
            The body, sent as JSON.
        refresh : bool, default False
            Fetch anew, not from the cache (and store the answer).
        cache : bool, default True
            Use the cache at all (False: neither read nor filled).

        Returns
        -------
        bytes
            The body, as the server sent it.

        Raises
        ------
        APIError, TransportError, ValidationError
            As for ``request`` (the body is checked to be JSON by its Content-Type only).

        Examples
        --------
        >>> import json
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=1) as emu, emu.client() as client:
        ...     body = client.request_raw("GET", "customers/1")
        >>> type(body).__name__, json.loads(body)["id"]
        ('bytes', 1)
        """
        response = self._send(
            method, path, params=params, json_body=json, refresh=refresh, use_cache=cache
        )
        return response.content

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        refresh: bool,
        use_cache: bool,
        cancel: threading.Event | None = None,
    ) -> requests.Response:
        if self._closed:
            raise ValidationError("this cm.Client is closed; create a new one")
        method = method.upper()
        request = requests.Request(
            method, self._url(path), params=dict(params or {}), json=json_body
        )
        prepared = self._session.prepare_request(request)
        shown = _shown_path(prepared.url or "")
        cacheable = self._cache_backend is not None and use_cache and method == "GET"

        if cacheable and not refresh:
            lookup_start = time.perf_counter()
            hit = self._cached(prepared)
            if hit is not None:
                _log_attempt(method, shown, hit.status_code, lookup_start, cache_hit=True)
                accepted = self._accepted(hit, method, _safe_url(prepared.url))
                # The cache is found by token and URL: a wrong secret must not read it.
                self.verify_credentials()
                return accepted

        url = _safe_url(prepared.url)
        environment = self._environment(prepared.url or self._base_url)
        retrying = self._retry.start(method, url)
        while True:
            retrying.begin(cancel)
            outcome = self._attempt(
                prepared, shown, url, cacheable=cacheable, refresh=refresh, environment=environment
            )
            if isinstance(outcome, requests.Response):
                if method in _WRITE_METHODS:
                    # Before the body is checked: a write answered with a broken body may
                    # have landed, so what it may have changed is dropped from the cache too.
                    self._after_write(path, json_body, outcome)
                accepted = self._accepted(outcome, method, url)
                self._credentials_proven = True
                return accepted
            delay, budget = retrying.delay(outcome)
            self._report_retry(
                RetryNotice(
                    method,
                    shown,
                    retrying.attempt,
                    outcome.reason,
                    outcome.message,
                    delay,
                    retrying.elapsed,
                ),
                budget,
            )
            retrying.wait(delay, outcome, cancel)

    def _report_retry(self, notice: RetryNotice, budget: str) -> None:
        """One INFO line per retry (never credentials: the path and the error's text only)."""
        logger.info(
            "%s %s: attempt %d failed (%s: %s); retrying in %.1f s (%.1f s spent, %s)",
            notice.method,
            notice.path,
            notice.attempt,
            notice.reason,
            notice.error,
            notice.delay,
            notice.elapsed,
            budget,
            extra={
                "cm_method": notice.method,
                "cm_path": notice.path,
                "cm_attempt": notice.attempt,
                "cm_reason": notice.reason,
                "cm_delay_s": notice.delay,
            },
        )
        with self._write_lock:
            hooks = list(self._retry_hooks)
        for hook in hooks:
            hook(notice)

    def _attempt(
        self,
        prepared: requests.PreparedRequest,
        shown: str,
        url: str,
        *,
        cacheable: bool,
        refresh: bool,
        environment: Mapping[str, Any],
    ) -> requests.Response | Failure:
        """One attempt: the response (status < 400), a retryable failure, or a raised error."""
        method = prepared.method or ""
        attempt_start = time.perf_counter()
        try:
            with self._limiter.slot():
                response = self._transmit(
                    prepared.copy(), cacheable=cacheable, refresh=refresh, environment=environment
                )
        except requests.exceptions.SSLError as exc:
            # A certificate that fails verification now will fail again: no retry.
            _log_attempt(method, shown, "TLS error", attempt_start, cache_hit=False)
            raise TransportError(
                f"TLS verification failed: {describe_exception(exc)}. The server's certificate is not "
                "trusted (verification stays on: fix the URL or the CA bundle)",
                method=method,
                url=url,
            ) from None
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            _log_attempt(method, shown, type(exc).__name__, attempt_start, cache_hit=False)
            return Failure.no_answer(exc)
        except requests.RequestException as exc:
            _log_attempt(method, shown, type(exc).__name__, attempt_start, cache_hit=False)
            raise TransportError(
                f"the request could not be sent: {describe_exception(exc)}", method=method, url=url
            ) from None
        status = response.status_code
        from_cache = bool(getattr(response, "from_cache", False))
        _log_attempt(method, shown, status, attempt_start, cache_hit=from_cache)
        if status < 400:
            return response
        message, body = error_message(response.content, response.reason or "")
        failure = Failure.for_status(status, message, body, response.headers.get("Retry-After"))
        if failure is None:  # an answer about the request itself: sending it again cannot help
            raise error_for_status(status, message, method=method, url=url, body=body)
        return failure

    def _environment(self, url: str) -> Mapping[str, Any]:
        """Proxies and CA bundle from the environment, read once per client.

        Every request goes to the one base URL, so the answer never differs, and requests
        would look it up again for each request. Environment variables set after the client
        was made do not apply to it.
        """
        if self._environment_settings is None:
            self._environment_settings = dict(
                self._session.merge_environment_settings(url, {}, None, None, None)
            )
        return self._environment_settings

    def _accepted(self, response: requests.Response, method: str, url: str) -> requests.Response:
        """``response`` if its body can be the API's JSON; else an ``APIError``, not retried.

        Checked before any parsing, for every endpoint: a success status with an HTML page,
        another Content-Type or no body at all. Not retried: the transient failures of a
        proxy come with a 5xx status (retried); a 200 with HTML is a login page, a captive
        portal or a wrong base URL, which retrying for ``retry_for`` seconds would not fix,
        and an empty or mislabelled body from the server is a bug that stays. Such an answer
        is removed from the HTTP cache (requests-cache stored it before it got here).
        """
        problem = _broken_response(response)
        if problem is None:
            return response
        self._evict(response)
        raise APIError(
            response.status_code,
            problem,
            method=method,
            url=url,
            body=response.content[:500].decode("utf-8", "replace"),
            hint=_broken_hint(method, self._base_url),
        )

    def _evict(self, response: requests.Response) -> None:
        """Drop a refused answer from the HTTP cache (requests-cache stored it on arrival)."""
        if self._cache_backend is not None and response.request.method == "GET":
            self._cache_backend.delete(requests=[response.request])

    def _cached(self, prepared: requests.PreparedRequest) -> requests.Response | None:
        """The fresh cached response, if any, without touching the network or the rate limit."""
        session = cast(CachedSession, self._session)
        response = session.send(prepared.copy(), only_if_cached=True)
        # Only 200s are stored; anything else is requests-cache's synthetic "504 Not Cached".
        return response if response.status_code == 200 else None

    def _transmit(
        self,
        prepared: requests.PreparedRequest,
        *,
        cacheable: bool,
        refresh: bool,
        environment: Mapping[str, Any],
    ) -> requests.Response:
        options: dict[str, Any] = {"timeout": self._timeout, "allow_redirects": True, **environment}
        if cacheable:
            # force_refresh skips the cache read and overwrites the entry (refresh=True).
            return cast(CachedSession, self._session).send(
                prepared, force_refresh=refresh, **options
            )
        # Bypass requests-cache entirely (neither read nor written) on the same session and pool:
        # filling the cache would dominate an uncached bulk load (benchmarks/bench_read.py).
        response = requests.Session.send(self._session, prepared, **{**options, "stream": True})
        _read_body(response)
        return response

    def _url(self, path: str) -> str:
        if not isinstance(path, str) or "://" in path or path.startswith("//"):
            raise ValidationError(
                f"path must be relative to the API base URL (such as 'customers/25647'), got {path!r}"
            )
        return self._base_url + path.lstrip("/")

    # ------------------------------------------------------------------ after a write

    def _ref(self, customer_id: int | str) -> int | str:
        """``customer_id`` as this dialect addresses a customer: today's API takes uuids only."""
        if self._dialect == "current" and not isinstance(customer_id, str):
            raise ValidationError(
                f"today's API addresses customers by uuid, got the id {customer_id!r}: pass the "
                "customer's uuid ('cus_...'), such as df.loc[customer_id, 'uuid']"
            )
        return customer_id

    def _after_write(self, path: str, json_body: Any, response: requests.Response) -> None:
        """Drop what the write made stale from the cache, count it, then run the write hooks."""
        touched = written_customers(path.split("?")[0].strip("/"), json_body, response.content)
        if self._cache_backend is not None:
            delete_stale(self._cache_backend, touched.stale)
        touch_write_marker(self.cache_dir)
        with self._write_lock:
            self._write_generation += 1
            hooks = list(self._write_hooks)
        for hook in hooks:
            hook(touched.ids)

    # ------------------------------------------------------------------ reads

    def list_customers(
        self,
        page: int = 1,
        per_page: int = MAX_PER_PAGE,
        *,
        cursor: str | None = None,
        status: str | None = None,
        refresh: bool = False,
    ) -> CustomerPage:
        """GET /customers: one page of customers (oldest first).

        The reference's API pages by number (``page``); today's by cursor: pass the
        ``cursor`` of the previous answer (``None`` for the first page).

        Parameters
        ----------
        page : int, default 1
            The page, from 1 (the reference's dialect only).
        per_page : int, default 200
            Customers per page (1 to 200, the API's maximum).
        cursor : str, optional
            Today's dialect: where to go on, from the previous answer's ``cursor``.
        status : str, optional
            Today's dialect: only customers with this status (such as ``"Active"``).
        refresh : bool, default False
            Fetch anew, not from the cache.

        Returns
        -------
        CustomerPage
            ``entries`` and ``has_more``; with ``per_page`` and ``page`` (the reference's), or
            ``cursor`` (today's).

        Raises
        ------
        ValidationError
            ``page`` or ``per_page`` out of range, or an argument of the other dialect.
        APIError, TransportError
            As for ``request``.

        Examples
        --------
        >>> client.list_customers(per_page=1)["entries"][0]["id"]  # doctest: +SKIP
        25647
        """
        params: dict[str, Any] = {"per_page": _check_per_page(per_page)}
        if self._dialect == "current":
            if page != 1:
                raise ValidationError(
                    "today's API pages by cursor, not by page number: pass cursor= from the "
                    "previous answer (or use iter_pages(), which walks every page)"
                )
            if cursor is not None:
                params["cursor"] = _check_text("cursor", cursor)
            if status is not None:
                params["status"] = _check_text("status", status)
        else:
            if cursor is not None or status is not None:
                raise ValidationError(
                    "cursor= and status= are today's API (dialect='current'); the reference's "
                    "pages by number: pass page="
                )
            params["page"] = _check_page(page)
        return cast(
            CustomerPage, self.request("GET", endpoints.LIST, params=params, refresh=refresh)
        )

    def get_customer(self, customer_id: int | str, *, refresh: bool = False) -> Customer:
        """GET /customers/{customer_id}: one customer by ChartMogul id (or uuid).

        Parameters
        ----------
        customer_id : int or str
            Its ChartMogul id (such as 25647) or its uuid (``cus_...``).
        refresh : bool, default False
            Fetch anew, not from the cache.

        Returns
        -------
        Customer
            The customer's JSON object.

        Raises
        ------
        NotFound
            No such customer.
        ValidationError
            ``customer_id`` is neither an id nor a uuid.
        APIError, TransportError
            As for ``request``.

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=2) as emu, emu.client() as client:
        ...     client.get_customer(2)["id"]
        2

        Today's API addresses a customer by uuid only:

        >>> with cm.Emulator(customers=2, dialect="current") as emu, emu.client() as client:
        ...     uuid = client.list_customers()["entries"][0]["uuid"]
        ...     client.get_customer(uuid)["uuid"] == uuid
        True
        """
        path = endpoints.customer_path(self._ref(customer_id))
        return cast(Customer, self.request("GET", path, refresh=refresh))

    def search_customers(self, email: str, *, refresh: bool = False) -> SearchResult:
        """GET /customers/search: every customer with this email.

        Parameters
        ----------
        email : str
            The email (surrounding whitespace is dropped).
        refresh : bool, default False
            Fetch anew, not from the cache.

        Returns
        -------
        SearchResult
            ``entries``: the customers with the email.

        Raises
        ------
        ValidationError
            ``email`` is empty or not a str.
        APIError, TransportError
            As for ``request``.

        Examples
        --------
        >>> [c["id"] for c in client.search_customers("bob@example.com")["entries"]]  # doctest: +SKIP
        [25647]
        """
        params = {"email": _check_email(email)}
        return cast(
            SearchResult, self.request("GET", endpoints.SEARCH, params=params, refresh=refresh)
        )

    def get_attributes(
        self, customer_id: int | str, *, refresh: bool = False
    ) -> AttributesResponse:
        """GET /customers/{customer_id}/attributes: tags, custom, Stripe and Clearbit attributes.

        Parameters
        ----------
        customer_id : int or str
            Its ChartMogul id or its uuid.
        refresh : bool, default False
            Fetch anew, not from the cache.

        Returns
        -------
        AttributesResponse
            ``attributes``: ``tags``, ``custom``, ``stripe``, ``clearbit``.

        Raises
        ------
        NotFound
            No such customer.
        ValidationError
            ``customer_id`` is neither an id nor a uuid.
        APIError, TransportError
            As for ``request``.

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=1) as emu, emu.client() as client:
        ...     sorted(client.get_attributes(1)["attributes"])
        ['clearbit', 'custom', 'stripe', 'tags']
        """
        path = endpoints.attributes_path(self._ref(customer_id))
        answer = self.request("GET", path, refresh=refresh)
        # Today's API answers the attributes object itself; the reference wraps it.
        if isinstance(answer, dict) and not isinstance(answer.get("attributes"), dict):
            answer = {"attributes": answer}
        return cast(AttributesResponse, answer)

    @overload
    def iter_pages(
        self,
        per_page: int = ...,
        *,
        refresh: bool = ...,
        raw: Literal[False] = ...,
        cache: bool = ...,
    ) -> Generator[CustomerPage, None, None]: ...

    @overload
    def iter_pages(
        self, per_page: int = ..., *, refresh: bool = ..., raw: Literal[True], cache: bool = ...
    ) -> Generator[bytes, None, None]: ...

    def iter_pages(
        self,
        per_page: int = MAX_PER_PAGE,
        *,
        refresh: bool = False,
        raw: bool = False,
        cache: bool = True,
    ) -> Generator[CustomerPage, None, None] | Generator[bytes, None, None]:
        """Every page of customers, in order, fetched ``max_workers`` at a time.

        Pages are requested ahead of the consumer (up to ``max_workers`` in flight, at most
        ``2 * max_workers`` pages ahead) and yielded in page order up to and including the
        first with ``has_more: false``; pages fetched beyond it are discarded. With
        ``raw=True`` each page is the undecoded response body. ``cache=False`` neither reads
        nor fills the HTTP cache. A page that fails after its retries raises here: the
        iteration never ends early in silence.

        Pages that cannot be put together raise too, so paging always ends: an answer that is
        not JSON, a page whose ``page``/``per_page`` fields contradict the request, a page with
        more entries than ``per_page``, an empty page or a byte-for-byte repeat of the
        previous page that says ``has_more: true``, and (decoded pages) a customer already
        seen on an earlier page. Raw pages are checked for repeated customers by the decoder
        that parses them (``PageDecoder``, as ``read_customers`` and ``to=`` use it).

        Parameters
        ----------
        per_page : int, default 200
            Customers per page (1 to 200).
        refresh : bool, default False
            Fetch anew, not from the cache.
        raw : bool, default False
            Yield each page's body (bytes) instead of the decoded page.
        cache : bool, default True
            Use the cache at all.

        Returns
        -------
        generator of CustomerPage or bytes
            Each page, in order (``per_page`` is checked at the call, the pages as they come).

        Raises
        ------
        PagingError
            The pages do not fit together (see above).
        APIError, TransportError
            A page failed, as for ``request``.
        ValidationError
            ``per_page`` out of range.

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=5) as emu, emu.client() as client:
        ...     [len(page["entries"]) for page in client.iter_pages(per_page=2)]
        [2, 2, 1]
        """
        per_page = _check_per_page(per_page)
        if self._dialect == "current":
            return self._iter_cursor_pages(per_page, refresh=refresh, raw=raw, use_cache=cache)
        return self._iter_pages(per_page, refresh=refresh, raw=raw, use_cache=cache)

    def walk_customers(
        self, *, per_page: int = MAX_PER_PAGE, strategy: Strategy = "auto"
    ) -> Generator[Rows | Forget, None, None]:
        """Walk every customer by cursor (today's dialect), in disjoint parts side by side.

        The account is split into ranges of the API's order (or, where the API does not
        prove that cursors can start at a chosen time, into status parts; else one walk),
        at most ``max_workers`` walks at a time. Pages come as ``Rows`` in the order they
        arrive, not the API's: sort by ``cm_frames.api.cursors.order_key``. ``Forget``
        voids the rows given so far of some ids (a customer that changed part during the
        load is read again; a strategy that did not fit starts over). See
        ``cm_frames.api.cursors`` for the checks.

        Every page is fetched anew (the pages bypass the HTTP cache).

        Parameters
        ----------
        per_page : int, default 200
            Customers per page (1 to 200).
        strategy : {"auto", "ranges", "statuses", "sequential"}, default "auto"
            Where to start: ``"auto"`` splits an account of more than two pages when
            ``max_workers`` > 1, by ranges first; any strategy falls back to the next when
            it does not fit (with a log line).

        Returns
        -------
        generator of Rows or Forget
            The pages of customers as they arrive, and the ids whose earlier rows are void.

        Raises
        ------
        ValidationError
            The client speaks the reference's dialect (use ``iter_pages``).
        PagingError
            The pages do not fit together, or the account kept changing.
        APIError, TransportError
            As for ``request``.

        Examples
        --------
        >>> import cm_frames as cm
        >>> from cm_frames.api.cursors import Rows
        >>> with cm.Emulator(customers=5, dialect="current") as emu, emu.client() as client:
        ...     events = list(client.walk_customers())
        >>> sorted(e["id"] for event in events if isinstance(event, Rows) for e in event.entries)
        [1, 2, 3, 4, 5]
        """
        if self._dialect != "current":
            raise ValidationError(
                "walk_customers() is today's cursor walk (dialect='current'); this client "
                "speaks the reference's API: use iter_pages()"
            )

        def fetch(
            params: dict[str, Any], *, cancel: threading.Event | None = None
        ) -> dict[str, Any]:
            response = self._send(
                "GET",
                endpoints.LIST,
                params=params,
                json_body=None,
                refresh=True,
                use_cache=False,
                cancel=cancel,
            )
            return self._answer_object(response)

        def get_customer(uuid: str) -> dict[str, Any] | None:
            return cast(
                dict[str, Any], self.request("GET", endpoints.customer_path(uuid), refresh=True)
            )

        return walk_customers(
            fetch,
            workers=self._max_workers,
            get_customer=get_customer,
            per_page=_check_per_page(per_page),
            strategy=strategy,
        )

    def _answer_object(self, response: requests.Response) -> dict[str, Any]:
        try:
            return decode_answer(response.content)
        except ValueError as exc:
            self._evict(response)
            raise _bad_json(response, exc) from None

    def _iter_cursor_pages(
        self, per_page: int, *, refresh: bool, raw: bool, use_cache: bool
    ) -> Generator[Any, None, None]:
        """Today's dialect, one page after the other: each answer's cursor asks for the next."""
        cursor: str | None = None
        number = 0
        while True:
            params: dict[str, Any] = {"per_page": per_page}
            if cursor is not None:
                params["cursor"] = cursor
            response = self._send(
                "GET",
                endpoints.LIST,
                params=params,
                json_body=None,
                refresh=refresh,
                use_cache=use_cache,
            )
            answer = self._answer_object(response)
            number += 1
            entries = answer.get("entries")
            where = f"page {number}"
            if not isinstance(entries, list):
                self._evict(response)
                raise PagingError(f"The {where} has no entries list. {PAGING_HINT}", status=200)
            check_page_size(len(entries), per_page, where)
            yield response.content if raw else answer
            if not answer.get("has_more"):
                return
            following = answer.get("cursor")
            if (
                not isinstance(following, str)
                or not following
                or following == cursor
                or not entries
            ):
                raise PagingError(
                    f"The {where} says has_more but gives no new cursor ({following!r}), so "
                    f"paging would not end. {PAGING_HINT}",
                    status=200,
                )
            cursor = following

    def _iter_pages(
        self, per_page: int, *, refresh: bool, raw: bool, use_cache: bool
    ) -> Generator[Any, None, None]:
        cancel = threading.Event()

        def fetch(page: int) -> PageSummary:
            return self._fetch_page(
                page, per_page, refresh=refresh, raw=raw, use_cache=use_cache, cancel=cancel
            )

        lookahead = 2 * self._max_workers
        pool = ThreadPoolExecutor(
            max_workers=self._max_workers, thread_name_prefix="cm_frames-page"
        )
        pending: dict[int, Future[PageSummary]] = {}
        sequence = PageSequence(raw=raw)
        next_page = current = 1
        try:
            while True:
                running = sum(not f.done() for f in pending.values())
                while running < self._max_workers and next_page < current + lookahead:
                    pending[next_page] = pool.submit(fetch, next_page)
                    next_page += 1
                    running += 1
                if not pending[current].done():
                    wait([f for f in pending.values() if not f.done()], return_when=FIRST_COMPLETED)
                    continue
                summary = pending.pop(current).result()
                url = f"{self._base_url}{endpoints.LIST}?page={current}&per_page={per_page}"
                sequence.check(current, summary, url=url)
                yield summary.payload
                if not summary.has_more:
                    return
                current += 1
        finally:
            # Pages still in flight are speculative: stop their retries and drop them.
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _fetch_page(
        self,
        page: int,
        per_page: int,
        *,
        refresh: bool,
        raw: bool,
        use_cache: bool,
        cancel: threading.Event,
    ) -> PageSummary:
        """One list page (raw bytes or decoded) with its has_more and entry count if known.

        Refused (``APIError``): an answer that is not JSON; (``PagingError``) a page whose own
        ``page`` or ``per_page`` contradicts the request, a page with more entries than
        ``per_page``.
        """
        response = self._send(
            "GET",
            endpoints.LIST,
            params={"page": page, "per_page": per_page},
            json_body=None,
            refresh=refresh,
            use_cache=use_cache,
            cancel=cancel,
        )
        try:
            summary = summarise_page(response.content, raw=raw)
        except ValueError as exc:
            self._evict(response)
            raise _bad_json(response, exc) from None
        try:
            check_page(
                summary,
                page,
                per_page,
                status=response.status_code,
                url=_safe_url(response.request.url),
            )
        except PagingError:
            self._evict(response)
            raise
        return summary

    # ------------------------------------------------------------------ writes

    def add_tags(self, customer_id: int | str, tags: Sequence[str]) -> TagsResponse:
        """POST /customers/{customer_id}/attributes/tags: add tags.

        Parameters
        ----------
        customer_id : int or str
            Its ChartMogul id or its uuid.
        tags : sequence of str
            The tags to add (non-empty strings).

        Returns
        -------
        TagsResponse
            ``tags``: all the customer's tags after the write.

        Raises
        ------
        ValidationError
            A malformed argument (nothing is sent).
        NotFound
            No such customer.
        APIError, TransportError
            As for ``request``.

        Examples
        --------
        >>> client.add_tags(25647, ["vip"])["tags"]  # doctest: +SKIP
        ['vip']
        """
        path = endpoints.section_path(self._ref(customer_id), "tags")
        return cast(TagsResponse, self.request("POST", path, json={"tags": _check_tags(tags)}))

    def add_tags_by_email(self, email: str, tags: Sequence[str]) -> EntriesResponse:
        """POST /customers/attributes/tags: add tags to every customer with this email.

        Parameters
        ----------
        email : str
            The email.
        tags : sequence of str
            The tags to add.

        Returns
        -------
        EntriesResponse
            ``entries``: the customers the write touched.

        Raises
        ------
        ValidationError
            A malformed argument (nothing is sent).
        APIError, TransportError
            As for ``request``.

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=1) as emu, emu.client() as client:
        ...     email = client.get_customer(1)["email"]
        ...     touched = client.add_tags_by_email(email, ["newsletter"])["entries"]
        >>> [(c["id"], "newsletter" in c["attributes"]["tags"]) for c in touched]
        [(1, True)]
        """
        body = {"email": _check_email(email), "tags": _check_tags(tags)}
        return cast(
            EntriesResponse, self.request("POST", endpoints.by_email_path("tags"), json=body)
        )

    def remove_tags(self, customer_id: int | str, tags: Sequence[str]) -> TagsResponse:
        """DELETE /customers/{customer_id}/attributes/tags: remove tags.

        Parameters
        ----------
        customer_id : int or str
            Its ChartMogul id or its uuid.
        tags : sequence of str
            The tags to remove.

        Returns
        -------
        TagsResponse
            ``tags``: the customer's tags left.

        Raises
        ------
        ValidationError
            A malformed argument (nothing is sent).
        NotFound
            No such customer.
        APIError, TransportError
            As for ``request``.

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=1) as emu, emu.client() as client:
        ...     _ = client.add_tags(1, ["newsletter"])
        ...     "newsletter" in client.remove_tags(1, ["newsletter"])["tags"]
        False
        """
        path = endpoints.section_path(self._ref(customer_id), "tags")
        return cast(TagsResponse, self.request("DELETE", path, json={"tags": _check_tags(tags)}))

    def add_custom(
        self, customer_id: int | str, custom: Sequence[CustomAttribute]
    ) -> CustomResponse:
        """POST /customers/{customer_id}/attributes/custom: add typed custom attributes.

        Adding a key the customer has replaces its value and its type.

        Parameters
        ----------
        customer_id : int or str
            Its ChartMogul id or its uuid.
        custom : sequence of dict
            ``{"type": ..., "key": ..., "value": ...}`` each; types ``String``, ``Integer``,
            ``Timestamp``, ``Boolean``.

        Returns
        -------
        CustomResponse
            ``custom``: the customer's custom attributes after the write.

        Raises
        ------
        ValidationError
            A malformed argument (nothing is sent).
        NotFound
            No such customer.
        APIError, TransportError
            As for ``request``.

        Examples
        --------
        >>> client.add_custom(25647, [{"type": "Integer", "key": "seats", "value": 5}])  # doctest: +SKIP
        {'custom': {'seats': 5}}
        """
        path = endpoints.section_path(self._ref(customer_id), "custom")
        return cast(
            CustomResponse, self.request("POST", path, json={"custom": _check_custom(custom)})
        )

    def add_custom_by_email(self, email: str, custom: Sequence[CustomAttribute]) -> EntriesResponse:
        """POST /customers/attributes/custom: add typed custom attributes by email.

        Every customer with the email gets them.

        Parameters
        ----------
        email : str
            The email.
        custom : sequence of dict
            As for ``add_custom``.

        Returns
        -------
        EntriesResponse
            ``entries``: the customers the write touched.

        Raises
        ------
        ValidationError
            A malformed argument (nothing is sent).
        APIError, TransportError
            As for ``request``.

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=1) as emu, emu.client() as client:
        ...     email = client.get_customer(1)["email"]
        ...     seats = [{"type": "Integer", "key": "seats", "value": 5}]
        ...     touched = client.add_custom_by_email(email, seats)["entries"]
        >>> [(c["id"], c["attributes"]["custom"]["seats"]) for c in touched]
        [(1, 5)]
        """
        body = {"email": _check_email(email), "custom": _check_custom(custom)}
        return cast(
            EntriesResponse, self.request("POST", endpoints.by_email_path("custom"), json=body)
        )

    def remove_custom(self, customer_id: int | str, keys: Sequence[str]) -> CustomResponse:
        """DELETE /customers/{customer_id}/attributes/custom: remove custom attributes by key.

        Parameters
        ----------
        customer_id : int or str
            Its ChartMogul id or its uuid.
        keys : sequence of str
            The keys to remove.

        Returns
        -------
        CustomResponse
            ``custom``: the custom attributes left.

        Raises
        ------
        ValidationError
            A malformed argument (nothing is sent).
        NotFound
            No such customer.
        APIError, TransportError
            As for ``request``.

        Examples
        --------
        >>> import cm_frames as cm
        >>> with cm.Emulator(customers=1) as emu, emu.client() as client:
        ...     _ = client.add_custom(1, [{"type": "Integer", "key": "seats", "value": 5}])
        ...     "seats" in client.remove_custom(1, ["seats"])["custom"]
        False
        """
        path = endpoints.section_path(self._ref(customer_id), "custom")
        answer = self.request("DELETE", path, json={"custom": _check_keys(keys)})
        # Today's API answers 204 with no body when no custom attribute is left.
        return cast(CustomResponse, {"custom": {}} if answer is None else answer)

    def update_custom(self, customer_id: int | str, custom: Mapping[str, Any]) -> CustomResponse:
        """PUT /customers/{customer_id}/attributes/custom: change values of existing custom attributes.

        The stored type of each key is kept (use ``add_custom`` to change it).

        Parameters
        ----------
        customer_id : int or str
            Its ChartMogul id or its uuid.
        custom : mapping
            Key → new value (str, int, float, bool, date or datetime).

        Returns
        -------
        CustomResponse
            ``custom``: the custom attributes after the write.

        Raises
        ------
        ValidationError
            A malformed argument (nothing is sent).
        NotFound
            No such customer.
        APIError, TransportError
            As for ``request``.

        Examples
        --------
        >>> client.update_custom(25647, {"seats": 6})  # doctest: +SKIP
        {'custom': {'seats': 6}}
        """
        path = endpoints.section_path(self._ref(customer_id), "custom")
        return cast(
            CustomResponse, self.request("PUT", path, json={"custom": _check_updates(custom)})
        )


# ---------------------------------------------------------------------- request helpers


def _safe_url(url: str | None) -> str:
    """The URL without any userinfo (the base URL has none, but never print one)."""
    parts = urlsplit(url or "")
    netloc = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=netloc).geturl()


def _shown_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _read_body(response: requests.Response) -> None:
    """Read a streamed response's whole body in one read, as ``response.content`` then gives.

    requests reads a body in 10 KB pieces, each through several layers of Python and a
    release and retake of the GIL: about 16 trips for a 160 KB page, each one taken from the
    main thread while it decodes the pages before (benchmarks/README.md has the figures).
    ``iter_content(None)`` on a streamed response is one read of everything, with requests'
    own translation of read errors (``ChunkedEncodingError``, ``ConnectionError``), which the
    retry loop knows.
    """
    # requests has no public setter: ``content`` returns ``_content`` once it is set (as
    # requests-cache and requests' own non-streamed send do).
    response._content = b"".join(response.iter_content(None)) or b""


def _log_attempt(
    method: str, path: str, status: int | str, started: float, *, cache_hit: bool
) -> None:
    """Exactly one DEBUG line per attempt: method, path, status, milliseconds, cache hit."""
    if not logger.isEnabledFor(logging.DEBUG):
        return
    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.debug(
        "%s %s -> %s in %.1f ms (cache %s)",
        method,
        path,
        status,
        elapsed_ms,
        "hit" if cache_hit else "miss",
        extra={
            "cm_method": method,
            "cm_path": path,
            "cm_status": status,
            "cm_elapsed_ms": elapsed_ms,
            "cm_cache_hit": cache_hit,
        },
    )


def _decode(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise _bad_json(response, exc) from None


def _bad_json(response: requests.Response, exc: Exception) -> APIError:
    method = response.request.method or ""
    body = response.content
    looks = "; it looks like an HTML page" if _looks_like_html(body) else ""
    return APIError(
        response.status_code,
        f"the answer is not valid JSON ({exc}): it was cut short or is not the API's "
        f"answer{looks}; {len(body)} bytes, starting {body[:120]!r}",
        method=method,
        url=_safe_url(response.request.url),
        body=body[:500].decode("utf-8", "replace"),
        hint=_broken_hint(method, ""),
    )


_JSON_MEDIA = re.compile(r"application/json|[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+\+json")
_HTML_MEDIA = frozenset({"text/html", "application/xhtml+xml"})
_HTML_START = re.compile(rb"\s*<(?:!doctype|html|head|body|\?xml)", re.IGNORECASE)
_HTML_TITLE = re.compile(rb"<title[^>]*>([^<]{1,120})</title>", re.IGNORECASE)


def _looks_like_html(body: bytes) -> bool:
    return _HTML_START.match(body[:200]) is not None


def _broken_response(response: requests.Response) -> str | None:
    """Why a success answer cannot be the API's JSON (None if it can), without parsing it."""
    content_type = response.headers.get("Content-Type", "")
    media = content_type.partition(";")[0].strip().lower()
    body = response.content
    shown_type = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
    if media in _HTML_MEDIA or _looks_like_html(body):
        title = _HTML_TITLE.search(body[:4096])
        named = f" titled {title[1].decode('utf-8', 'replace').strip()!r}" if title else ""
        return (
            f"the answer is an HTML page{named} ({shown_type}, {len(body)} bytes), not the "
            "API's JSON: something other than the ChartMogul API answered"
        )
    if not body:
        if response.status_code == 204:
            return None  # No Content: today's API after a DELETE that emptied the section
        return f"the answer has an empty body ({shown_type}), where the API always sends JSON"
    if not _JSON_MEDIA.fullmatch(media):
        return (
            f"the answer has {shown_type}, not JSON (application/json), so it was not used "
            f"as the API's answer; {len(body)} bytes, starting {body[:80]!r}"
        )
    return None


def _broken_hint(method: str, base_url: str) -> str:
    where = f" ({base_url})" if base_url else ""
    hint = (
        "Nothing from this answer was used. Check that base_url" + where + " is the API's "
        "(https://api.chartmogul.com/v1/) and that no proxy, captive portal or login page "
        "stands in between, then try again"
    )
    if method.upper() in _WRITE_METHODS:
        hint += (
            ". The write may or may not have been applied: applying the plan again re-reads "
            "the customers and sends only what is still missing"
        )
    return hint


# ---------------------------------------------------------------------- configuration checks


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


def _check_non_negative(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValidationError(f"{name} must be a number >= 0 (seconds), got {value!r}")
    return float(value)


def _check_timeout(timeout: float | tuple[float, float]) -> float | tuple[float, float]:
    if isinstance(timeout, tuple):
        if len(timeout) != 2:
            raise ValidationError(
                f"timeout must be seconds or (connect, read) seconds, got {timeout!r}"
            )
        return (
            _check_positive("timeout (connect)", timeout[0]),
            _check_positive("timeout (read)", timeout[1]),
        )
    return _check_positive("timeout", timeout)


def _check_page(page: int) -> int:
    if isinstance(page, bool) or not isinstance(page, numbers.Integral) or page < 1:
        raise ValidationError(f"page must be an int >= 1, got {page!r}")
    return int(page)


def _check_per_page(per_page: int) -> int:
    if (
        isinstance(per_page, bool)
        or not isinstance(per_page, numbers.Integral)
        or not 1 <= per_page <= MAX_PER_PAGE
    ):
        raise ValidationError(
            f"per_page must be an int from 1 to {MAX_PER_PAGE} (the API's maximum), got {per_page!r}"
        )
    return int(per_page)


# ---------------------------------------------------------------------- argument checks


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} must be a non-empty str, got {value!r}")
    return value


def _check_email(email: str) -> str:
    if not isinstance(email, str) or not email.strip():
        raise ValidationError(
            f"email must be a non-empty str such as 'bob@example.com', got {email!r}"
        )
    return email.strip()


def _string_list(
    name: str, values: Sequence[str], example: str, rule: Callable[[object], Any]
) -> list[str]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | set | frozenset):
        raise ValidationError(
            f"{name} must be a list of strings such as [{example!r}], got {values!r}"
        )
    result = list(values)
    if not result:
        raise ValidationError(f"{name} is empty: give at least one, such as [{example!r}]")
    # The shared wire rules (cm_frames.validation), so a frame, a plan and the client agree.
    broken = [(v, rule(v)) for v in result]
    bad = [(v, r) for v, r in broken if r is not None]
    if bad:
        reasons = "; ".join(f"{r.what}" for _, r in bad[:3])
        raise ValidationError(
            f"{name} must hold non-empty strings only; not allowed: {[v for v, _ in bad]!r} "
            f"({reasons}). Fix: {bad[0][1].fix}"
        )
    return result


def _check_tags(tags: Sequence[str]) -> list[str]:
    from cm_frames.validation import tag_problem

    return _string_list("tags", tags, "vip", tag_problem)


def _check_key(key: object, where: str) -> str:
    from cm_frames.validation import key_problem

    problem = key_problem(key)
    if problem is not None:
        raise ValidationError(
            f"{where}: custom attribute key {key!r} is not allowed ({problem.what}); keys are "
            f"1 to {MAX_KEY_LENGTH} letters, digits and underscores ([A-Za-z0-9_]+), such as "
            "'lead_score'"
        )
    return key  # type: ignore[return-value]


def _check_keys(keys: Sequence[str]) -> list[str]:
    from cm_frames.validation import key_problem

    def present(key: object) -> Any:
        # Non-str and empty keys here; every other broken rule in _check_key's wording.
        return key_problem(key) if not isinstance(key, str) or not key else None

    return [_check_key(k, "keys") for k in _string_list("keys", keys, "lead_score", present)]


def _check_custom(custom: Sequence[CustomAttribute]) -> list[dict[str, Any]]:
    if isinstance(custom, str | bytes | Mapping) or not isinstance(custom, Sequence):
        raise ValidationError(
            "custom must be a list of {'type': ..., 'key': ..., 'value': ...} dicts, such as "
            f"[{{'type': 'Integer', 'key': 'lead_score', 'value': 80}}], got {custom!r}"
        )
    if not custom:
        raise ValidationError(
            "custom is empty: give at least one {'type', 'key', 'value'} attribute"
        )
    checked = []
    for position, attribute in enumerate(custom):
        where = f"custom[{position}]"
        if not isinstance(attribute, Mapping) or set(attribute) != {"type", "key", "value"}:
            raise ValidationError(
                f"{where} must be a dict with exactly the keys 'type', 'key' and 'value', got {attribute!r}"
            )
        kind = attribute["type"]
        if kind not in CUSTOM_TYPES:
            raise ValidationError(
                f"{where}: unknown type {kind!r}; use one of {', '.join(CUSTOM_TYPES)}"
            )
        key = _check_key(attribute["key"], where)
        checked.append(
            {
                "type": kind,
                "key": key,
                "value": _typed_value(kind, attribute["value"], f"{where} ({key})"),
            }
        )
    return checked


def _typed_value(kind: str, value: Any, where: str) -> Any:
    """The JSON value for a custom attribute of ``kind``, or a ValidationError saying why not."""
    from cm_frames.validation import value_problem

    if value is None:
        raise ValidationError(
            f"{where}: value is None; to delete a custom attribute use remove_custom"
        )
    if kind == "Integer":
        number: int | None = None
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            number = int(value)
        elif isinstance(value, str) and _INTEGER_STRING.fullmatch(value.strip()):
            number = int(value.strip())
        if number is not None:
            _refuse(where, value_problem(kind, number))
            return number if not isinstance(value, str) else value.strip()
    elif kind == "Boolean":
        if isinstance(value, bool) or (isinstance(value, str) and value in _BOOLEAN_STRINGS):
            return value
    elif kind == "Timestamp":
        if isinstance(value, datetime):
            _refuse(where, value_problem(kind, value))
            return value.isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value.strip())
            except ValueError:
                pass
            else:
                return value.strip()
    elif isinstance(value, str):  # String
        _refuse(where, value_problem(kind, value))
        return value
    expected = {
        "Integer": "an int",
        "Boolean": f"a bool (or one of {sorted(_BOOLEAN_STRINGS)})",
        "Timestamp": "an ISO 8601 str such as '2015-09-08T00:00:00Z', or a datetime",
        "String": "a str",
    }[kind]
    raise ValidationError(f"{where}: a {kind} value must be {expected}, got {value!r}")


def _refuse(where: str, problem: Any) -> None:
    # A broken wire rule (cm_frames.validation.Rule) as the client's ValidationError.
    if problem is not None:
        raise ValidationError(f"{where}: {problem.what}. Fix: {problem.fix}")


def _check_updates(custom: Mapping[str, Any]) -> dict[str, Any]:
    from cm_frames.validation import value_problem

    if not isinstance(custom, Mapping):
        raise ValidationError(
            f"custom must be a dict of key -> new value, such as {{'pro': True}}, got {custom!r}"
        )
    if not custom:
        raise ValidationError("custom is empty: give at least one key -> new value")
    checked: dict[str, Any] = {}
    for key, value in custom.items():
        key = _check_key(key, "custom")
        if isinstance(value, datetime):
            _refuse(f"custom[{key!r}]", value_problem("Timestamp", value))
            value = value.isoformat()
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = int(value)
            _refuse(f"custom[{key!r}]", value_problem("Integer", value))
        elif isinstance(value, str):
            _refuse(f"custom[{key!r}]", value_problem("String", value))
        elif value is None or not isinstance(value, str | bool | float):
            raise ValidationError(
                f"custom[{key!r}]: the new value must be a str, int, float, bool or datetime, got "
                f"{value!r}; to delete a custom attribute use remove_custom"
            )
        checked[key] = value
    return checked
