"""``Emulator``: the local Enrichment API as an object you start, configure and stop.

    with Emulator(customers=1000, seed=0) as emu:
        requests.get(emu.url + "customers", auth=(emu.token, emu.secret))

    with Emulator(dialect="current") as emu:  # the service as it is today
        requests.get(emu.url + "customers", auth=(emu.api_key, ""))

It owns the state (SQLite, in memory or in a file), the fault injector, the request log
and a server thread. Nothing here imports the client side of cm_frames except
``client()``, lazily: the two meet only over HTTP.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

from cm_frames.emulator.cursors import CURSOR_MODES
from cm_frames.emulator.faults import FaultInjector, FaultSettings, as_tuple
from cm_frames.emulator.server import EmulatorHTTPServer, RequestLog
from cm_frames.emulator.state import DIALECTS, AccountSpec, State

if TYPE_CHECKING:
    from cm_frames.api.client import Client

__all__ = ["DEFAULT_TOKEN", "Emulator"]

DEFAULT_TOKEN = "emulator-token"

SeedCustomers = int | Sequence[Mapping[str, Any]]


def _spec(
    customers: SeedCustomers, seed: int, id_start: int, dialect: str = "enrichment"
) -> AccountSpec:
    if isinstance(customers, bool) or not isinstance(customers, int | Sequence):
        raise TypeError(
            f"customers: expected a count or a list of customer objects, got {customers!r}"
        )
    if isinstance(customers, int):
        if customers < 0:
            raise ValueError(f"customers: must be >= 0, got {customers}")
        return AccountSpec(customers, seed, id_start, dialect)
    return AccountSpec(tuple(customers), dialect=dialect)


class Emulator:
    """A local ChartMogul Enrichment API over real HTTP, with seeded data.

    ``customers`` is a count of generated customers (deterministic from ``seed``) or an
    explicit list of customer objects in wire format. ``db`` keeps the state in that
    SQLite file: a file that already holds data is used as it is, so writes survive a
    restart (and, with ``secret=None``, the stored secret is adopted). ``port=0`` picks a
    free port. The constructor does not start the server: ``start()`` or ``with`` does.

    Parameters
    ----------
    customers : int or list of dict, default 1000
        How many customers to generate, or the customer objects themselves (wire format).
    seed : int, default 0
        The seed of the generated customers and of fault injection.
    db : str or PathLike, optional
        A SQLite file to keep the state in (default: in memory).
    token, secret : str, optional
        The main account's credentials (default: ``DEFAULT_TOKEN`` and a random secret).
    host : str, default "127.0.0.1"
        The address to listen on.
    port : int, default 0
        The port (0: a free one).
    dialect : {"enrichment", "current"}, default "enrichment"
        ``"enrichment"``: the API of the reference document (token + secret, page numbers,
        numeric ids). ``"current"``: the service as it is today (an API key, cursor paging
        and filters, uuids in paths, today's customer object and answer shapes, 422s,
        204s, a limit on parallel requests); its customers are generated as today's.
        Today's list order, which cursors follow and clients may rely on: customer-since
        ascending, then id; leads (customer-since null) last, by id. A cursor is base64
        of ``"<customer-since, UTC, nine fractional digits>&<id>"`` of a page's last entry
        (``"&<id>"`` for a lead), and a page starts strictly after it, so a crafted
        ``base64("<T>&0")`` starts at the first customer since T, ``base64("&0")`` at the
        first lead.
    api_key : str, optional
        Today's API key (``dialect="current"`` only; default: a random one, or the one a
        ``db`` file holds). It is also ``token`` and ``secret`` there.
    cursors : {"transparent", "opaque"}, default "transparent"
        Today's cursors as recorded (base64 of customer-since and id, so a client may craft
        one), or random tokens the server remembers (a crafted cursor is refused: 400).
    max_parallel : int, default 20
        Today's limit of requests of one account in flight at once (503 past it).

    Examples
    --------
    >>> with Emulator(customers=50) as emulator:  # doctest: +SKIP
    ...     df = cm.read_customers(emulator.client(), progress=False)
    """

    def __init__(
        self,
        customers: SeedCustomers = 1000,
        seed: int = 0,
        db: str | PathLike[str] | None = None,
        token: str | None = None,
        secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        dialect: str = "enrichment",
        api_key: str | None = None,
        cursors: str = "transparent",
        max_parallel: int = 20,
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"dialect: expected one of {', '.join(DIALECTS)}, got {dialect!r}")
        if cursors not in CURSOR_MODES:
            raise ValueError(f"cursors: expected one of {', '.join(CURSOR_MODES)}, got {cursors!r}")
        if dialect == "enrichment" and (api_key is not None or cursors != "transparent"):
            raise ValueError('api_key and cursors are settings of dialect="current"')
        if dialect == "current" and (token is not None or secret is not None):
            raise ValueError('dialect="current" takes api_key=, not token= and secret=')
        if isinstance(max_parallel, bool) or not isinstance(max_parallel, int) or max_parallel < 1:
            raise ValueError(f"max_parallel: must be an integer >= 1, got {max_parallel!r}")
        self.dialect = dialect
        self.cursors = cursors
        self.max_parallel = max_parallel
        self._spec = _spec(customers, seed, id_start=1, dialect=dialect)
        self.seed = seed
        self.db = None if db is None else str(db)
        self._api_key_given = api_key is not None
        if dialect == "current":
            # One credential: the key is the account's token, and its secret too.
            key = api_key or secrets.token_hex(16)
            token, secret = key, key
        self.token = token or DEFAULT_TOKEN
        self._secret_given = secret is not None
        self.secret = secret if secret is not None else secrets.token_urlsafe(24)
        # The hooks of on_list_request: [requests left, function], run in arrival order.
        self._list_hooks: list[list[Any]] = []
        self._hooks_lock = threading.Lock()
        self.host = host
        self.port = port
        self._faults = FaultInjector(seed)
        self._log = RequestLog()
        self._state: State | None = None
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()
        # The cache of the clients client() makes: the emulator's own, gone at stop().
        self._client_cache: str | None = None

    def __repr__(self) -> str:  # never the secret (nor today's key, which is one)
        where = self.url if self.running else "not started"
        if self.dialect == "current":
            return f"<Emulator {where} dialect='current'>"
        return f"<Emulator {where} token={self.token!r}>"

    @property
    def api_key(self) -> str:
        """Today's API key (``dialect="current"``): the Basic user name, password empty.

        Returns
        -------
        str
            The key.

        Raises
        ------
        AttributeError
            In the reference dialect, which has a token and a secret instead.

        Examples
        --------
        >>> Emulator(dialect="current", api_key="k").api_key
        'k'
        """
        if self.dialect != "current":
            raise AttributeError('api_key: only dialect="current" has one (use token and secret)')
        return self.token

    # --- lifecycle ----------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server is serving (between ``start()`` and ``stop()``).

        Returns
        -------
        bool
            True while it serves.

        Examples
        --------
        >>> Emulator().running
        False
        """
        return self._server is not None

    @property
    def url(self) -> str:
        """The /v1/ base URL, with its trailing slash.

        Returns
        -------
        str
            E.g. ``http://127.0.0.1:54321/v1/``.

        Raises
        ------
        RuntimeError
            When the emulator is not running.

        Examples
        --------
        >>> Emulator().start().url  # doctest: +SKIP
        'http://127.0.0.1:54321/v1/'
        """
        if self._server is None:
            raise RuntimeError(
                "the emulator is not running: call start() or use `with Emulator(...)`"
            )
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1/"

    def start(self) -> Emulator:
        """Open the state and serve on a background thread (a no-op when running).

        Returns
        -------
        Emulator
            This emulator, so ``Emulator().start()`` chains.

        Examples
        --------
        >>> emulator = Emulator(customers=10).start()  # doctest: +SKIP
        >>> emulator.stop()  # doctest: +SKIP
        """
        with self._lifecycle:
            if self._server is not None:
                return self
            state = State(self.db, self.dialect, self.cursors)
            try:
                self._open_primary_account(state)
                server = EmulatorHTTPServer(
                    (self.host, self.port),
                    state=state,
                    faults=self._faults,
                    log=self._log,
                    on_reset=self.reset,
                    on_list=self._after_list_request,
                    max_parallel=self.max_parallel,
                )
            except BaseException:
                state.close()
                raise
            self._state, self._server = state, server
            self.port = server.server_address[1]
            self._faults.serving()
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"cm-frames-emulator:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def _open_primary_account(self, state: State) -> None:
        if self.dialect == "current" and not self._api_key_given:
            stored = list(state.accounts())
            if stored:  # a db file of today's dialect: its key, as a restart should
                self.token = self.secret = stored[0]
                return
        stored_secret = state.secret_of(self.token)
        if stored_secret is None:
            spec = self._spec
            if isinstance(spec.customers, int):
                spec = AccountSpec(spec.customers, spec.seed, state.next_id_start(), spec.dialect)
            state.put_account(self.token, self.secret, spec)
        elif self._secret_given and stored_secret != self.secret:
            state.set_secret(self.token, self.secret)
        else:
            self.secret = stored_secret

    def stop(self) -> None:
        """Stop serving, close every connection, release the port and close SQLite.

        Examples
        --------
        >>> emulator.stop()  # doctest: +SKIP
        """
        with self._lifecycle:
            server, thread, state = self._server, self._thread, self._state
            self._server = self._thread = self._state = None
            client_cache, self._client_cache = self._client_cache, None
            if client_cache is not None:
                # Its accounts are named by token and URL, and the URL's port is new each
                # run: kept, every run would leave one more folder behind.
                shutil.rmtree(client_cache, ignore_errors=True)
            if server is None:
                return
            server.shutdown()
            server.close_connections()
            server.server_close()
            if thread is not None:
                thread.join()
            if state is not None:
                state.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _running_state(self) -> State:
        if self._state is None:
            raise RuntimeError(
                "the emulator is not running: call start() or use `with Emulator(...)`"
            )
        return self._state

    # --- control ------------------------------------------------------------------

    def set_faults(
        self,
        error_rate: float = 0,
        throttle_rate: float = 0,
        drop_rate: float = 0,
        latency_ms: float = 0,
        retry_after_s: int = 0,
        corrupt: str | None = None,
        corrupt_pages: Sequence[int] = (),
        corrupt_methods: Sequence[str] = (),
        hang_after: int | None = None,
        hang_methods: Sequence[str] = (),
    ) -> None:
        """Inject faults into every /v1 request from now on (replacing earlier settings).

        ``corrupt`` breaks 200 answers in one of the ways of ``faults.CORRUPTIONS`` (such as
        ``"truncated_json"`` or ``"duplicate_customer"``); ``corrupt_pages`` limits it to
        those page numbers of ``GET /customers``, ``corrupt_methods`` to those methods. In
        today's dialect a cursor page's number is where it starts in its walk (``1 +
        customers the filters select before it // per_page``).
        ``hang_after=n`` lets n more requests through (counting only ``hang_methods``, if
        given), then holds every request (``hanging_requests()`` counts them) until the next
        ``set_faults``/``clear_faults`` or ``stop()``: a server that stopped answering. Then
        each goes on; at a stop it lands but its answer is lost with its connection.

        Parameters
        ----------
        error_rate, throttle_rate, drop_rate : float, default 0
            The share of requests answered 500, answered 429, or whose connection is dropped.
        latency_ms : float, default 0
            Added to every answer.
        retry_after_s : int, default 0
            The ``Retry-After`` of throttled answers.
        corrupt : str, optional
            One of ``faults.CORRUPTIONS``.
        corrupt_pages, corrupt_methods : sequence, optional
            Limit ``corrupt`` to these page numbers, or to these methods.
        hang_after : int, optional
            Let this many more requests through, then hold every request.
        hang_methods : sequence of str, optional
            Count only these methods towards ``hang_after``.

        Raises
        ------
        ValueError
            For a rate outside 0..1, an unknown corruption or a negative count.

        Examples
        --------
        >>> emulator.set_faults(throttle_rate=0.2, retry_after_s=1)  # doctest: +SKIP
        """
        self._faults.configure(
            FaultSettings(
                error_rate,
                throttle_rate,
                drop_rate,
                latency_ms,
                retry_after_s,
                corrupt,
                as_tuple("corrupt_pages", corrupt_pages),
                as_tuple("corrupt_methods", corrupt_methods),
                hang_after,
                as_tuple("hang_methods", hang_methods),
            )
        )

    def clear_faults(self) -> None:
        """No more faults (held requests go on).

        Examples
        --------
        >>> emulator.clear_faults()  # doctest: +SKIP
        """
        self._faults.clear()

    def faults(self) -> dict[str, Any]:
        """The fault settings in force, as JSON.

        Returns
        -------
        dict
            ``set_faults``' parameters and their values.

        Examples
        --------
        >>> emulator.faults()["error_rate"]  # doctest: +SKIP
        0
        """
        return self._faults.settings.to_json()

    def hanging_requests(self) -> int:
        """How many /v1 requests ``hang_after`` is holding now.

        Returns
        -------
        int
            The count.

        Examples
        --------
        >>> emulator.hanging_requests()  # doctest: +SKIP
        0
        """
        return self._faults.hanging

    def reset(self) -> None:
        """Every account back to its seeded customers; faults and request log cleared.

        Raises
        ------
        RuntimeError
            When the emulator is not running.

        Examples
        --------
        >>> emulator.reset()  # doctest: +SKIP
        """
        self._running_state().reset()
        self._faults.clear()
        self._log.clear()
        with self._hooks_lock:
            self._list_hooks.clear()

    def request_log(self) -> list[dict[str, Any]]:
        """Every /v1 request in arrival order: method, path, query, status, account, body, time.

        ``status`` is 0 for a request whose connection was dropped by fault injection, and
        None for one still being answered.

        Returns
        -------
        list of dict
            One entry per request.

        Examples
        --------
        >>> [e["path"] for e in emulator.request_log()][:1]  # doctest: +SKIP
        ['/v1/customers']
        """
        return self._log.entries()

    def clear_request_log(self) -> None:
        """Forget the requests logged so far.

        Examples
        --------
        >>> emulator.clear_request_log()  # doctest: +SKIP
        """
        self._log.clear()

    def add_account(
        self, token: str, secret: str, *, customers: SeedCustomers = 0, seed: int = 0
    ) -> None:
        """Add (or replace) an account, isolated from the others; ids stay unique.

        In today's dialect ``token`` is the account's API key (with an empty password, the
        key again, or ``secret``), and generated customers are today's.

        Parameters
        ----------
        token, secret : str
            The account's credentials.
        customers : int or list of dict, default 0
            Its customers, as for the constructor.
        seed : int, default 0
            The seed of generated customers.

        Raises
        ------
        ValueError
            For an empty token or secret.
        RuntimeError
            When the emulator is not running.

        Examples
        --------
        >>> emulator.add_account("other", "s3cret", customers=5)  # doctest: +SKIP
        """
        if not token or not secret:
            raise ValueError("add_account: token and secret must be non-empty strings")
        state = self._running_state()
        spec = _spec(
            customers, seed, id_start=state.next_id_start(excluding=token), dialect=self.dialect
        )
        state.put_account(token, secret, spec)

    def remove_account(self, token: str) -> None:
        """Remove an account added with ``add_account`` (its customers and their ids go too).

        Parameters
        ----------
        token : str
            The account's token.

        Raises
        ------
        ValueError
            For the emulator's main account.

        Examples
        --------
        >>> emulator.remove_account("other")  # doctest: +SKIP
        """
        if token == self.token:
            raise ValueError(f"remove_account: {token!r} is the emulator's main account")
        if not self._running_state().remove_account(token):
            raise KeyError(f"remove_account: no account {token!r}")

    def update_customer(self, uuid: str, **fields: Any) -> dict[str, Any]:
        """Change fields of one customer of the main account, as the service would over time.

        For tests of a load that runs while the data changes (with ``on_list_request``): a
        status, ``customer_since`` (``_`` stands for ``-`` in names), ``mrr``... Today's
        list order follows at once: a customer given a customer-since moves among the
        customers, one given None moves among the leads (nothing is implied: a lead made
        ``"Active"`` keeps its null customer-since unless one is given).

        Parameters
        ----------
        uuid : str
            The customer's ``cus_`` uuid.
        **fields
            New values of top-level fields the customer has (not ``id``, ``uuid`` or
            ``attributes``).

        Returns
        -------
        dict
            The customer as stored now.

        Raises
        ------
        KeyError
            For an unknown uuid or a field the customer does not have.
        RuntimeError
            When the emulator is not running.

        Examples
        --------
        >>> emulator.update_customer(uuid, status="Cancelled", mrr=0, arr=0)  # doctest: +SKIP
        """
        return self._running_state().update_customer(self.token, uuid, fields)

    def custom_sources(self, uuid: str) -> dict[str, str]:
        """The ``source`` each custom attribute of a customer was last sent with (today's).

        Today's service takes an optional ``"source"`` on each custom attribute item and
        does not echo it (none of the recordings shows one): it is kept, and read here.

        Parameters
        ----------
        uuid : str
            The customer's ``cus_`` uuid (main account).

        Returns
        -------
        dict
            Key to source, for the keys sent with one.

        Raises
        ------
        KeyError
            For an unknown uuid.
        RuntimeError
            When the emulator is not running.

        Examples
        --------
        >>> emulator.custom_sources(uuid)  # doctest: +SKIP
        {'channel': 'integration'}
        """
        return self._running_state().custom_sources(self.token, uuid)

    def on_list_request(self, n: int, action: Callable[[], object]) -> None:
        """Run ``action()`` once, right after the n-th ``GET /customers`` from now is answered.

        It runs on the server's thread after that request's answer is computed and before
        it is sent, so the client's next request sees what ``action`` changed, and no test
        needs to sleep or guess timing. Search requests do not count; the hooks are
        forgotten at ``reset()``.

        Parameters
        ----------
        n : int
            Which list request, counting from 1 (1: the next one).
        action : callable
            Called with no arguments, e.g. ``lambda: emu.update_customer(uuid, status=...)``.

        Raises
        ------
        ValueError
            For ``n`` < 1.

        Examples
        --------
        >>> emulator.on_list_request(2, lambda: emulator.update_customer(uuid, status="Cancelled"))  # doctest: +SKIP
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"on_list_request: n must be an integer >= 1, got {n!r}")
        with self._hooks_lock:
            self._list_hooks.append([n, action])

    def _after_list_request(self) -> None:
        due: list[Callable[[], object]] = []
        with self._hooks_lock:
            for hook in self._list_hooks:
                hook[0] -= 1
                if hook[0] == 0:
                    due.append(hook[1])
            self._list_hooks = [hook for hook in self._list_hooks if hook[0] > 0]
        for action in due:
            action()

    def client(
        self,
        *,
        rate_limit: float | None = None,
        cache_dir: str | PathLike[str] | None = None,
        **options: Any,
    ) -> Client:
        """A cm_frames ``Client`` of the emulator's main account (today's: by its API key).

        Parameters
        ----------
        rate_limit : float or None
            Requests per second; None (the default) for none, as the emulator has no limit.
        cache_dir : path, optional
            Where the client keeps its HTTP cache, snapshots and journals. By default a
            temporary directory of the emulator's, shared by all its clients and deleted
            when the emulator stops, so nothing is left in the user cache directory.
        **options
            Passed on to ``cm_frames.Client`` (``max_workers``, ``retry_for``,
            ``expire_after``, ...).

        Returns
        -------
        Client
            Close it (or use ``with``) when done.

        Raises
        ------
        RuntimeError
            When the emulator is not running.

        Examples
        --------
        >>> with emulator.client() as client:  # doctest: +SKIP
        ...     df = cm.read_customers(client)
        """
        # Imported here only: the emulator and the client meet over HTTP, never by import.
        from cm_frames.api.client import Client

        url = self.url  # raises if the emulator is not running
        if cache_dir is None:
            with self._lifecycle:
                if self._client_cache is None:
                    self._client_cache = tempfile.mkdtemp(prefix="cm-frames-emulator-")
                cache_dir = self._client_cache
        if self.dialect == "current":
            return Client(
                api_key=self.api_key,
                base_url=url,
                rate_limit=rate_limit,
                cache_dir=cache_dir,
                **options,
            )
        return Client(
            self.token, self.secret, url, rate_limit=rate_limit, cache_dir=cache_dir, **options
        )
