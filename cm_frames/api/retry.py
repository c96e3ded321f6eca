"""When and how long the client retries: retryable statuses, backoff, Retry-After, budgets.

A request's attempts run in ``Client._send``; everything that decides about the next one is
here: which answers are worth another attempt (``RETRYABLE_STATUSES``, connection failures),
how long to wait (exponential backoff with full jitter, at least the server's
``Retry-After``), when to give up (``retry_for`` seconds in all; a connection refused by a
loopback host after ``loopback_retry_for``), and the pause every thread of the client keeps
after a 429 (through its ``RequestLimiter``, in ``ratelimit.py``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from cm_frames.api.http import describe_exception
from cm_frames.api.ratelimit import RequestLimiter
from cm_frames.errors import ChartMogulError, TransportError, error_for_status

__all__ = [
    "BACKOFF_CAP",
    "DEFAULT_BACKOFF",
    "RETRYABLE_STATUSES",
    "Failure",
    "RetryLoop",
    "RetryPolicy",
    "backoff_delay",
    "parse_retry_after",
    "sleep",
]

# 429 and the 5xx the API documents as "something went wrong on ChartMogul's end".
# 400/401/402/404 are answers about the request itself: sending it again cannot help.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_BACKOFF = 0.25  # seconds: the base delay of the backoff (``Client(backoff=)``)
BACKOFF_CAP = 10.0  # seconds: no single wait of the backoff is longer


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt-1))].

    Full jitter (rather than a fixed exponential step) keeps many threads that failed together
    from retrying together.

    Parameters
    ----------
    attempt : int
        The attempt that failed (1 for the first).
    base : float
        Seconds: the upper bound of the first wait.
    cap : float
        Seconds: no wait is longer.
    rng : random.Random
        The source of the jitter.

    Returns
    -------
    float
        Seconds to wait before the next attempt.

    Examples
    --------
    >>> backoff_delay(3, base=0.25, cap=10.0, rng=random.Random(1)) <= 1.0
    True
    """
    return rng.uniform(0.0, min(cap, base * 2.0 ** max(attempt - 1, 0)))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read the seconds to wait from a Retry-After header (delta-seconds or HTTP-date).

    Parameters
    ----------
    value : str or None
        The header's value.
    now : datetime, optional
        The time an HTTP-date is measured from (default: now, UTC).

    Returns
    -------
    float or None
        Seconds (never negative), or None when the header is absent or unreadable.

    Examples
    --------
    >>> parse_retry_after("3")
    3.0
    >>> parse_retry_after("soon") is None
    True
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; parsedate gives naive for "-0000"
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def sleep(seconds: float, cancel: threading.Event | None) -> bool:
    """Sleep before a retry; True if cancelled meanwhile (a speculative page no longer wanted).

    Parameters
    ----------
    seconds : float
        How long.
    cancel : threading.Event or None
        Set by whoever no longer wants the answer; None: sleep the whole time.

    Returns
    -------
    bool
        Whether ``cancel`` was set before the time was up.

    Examples
    --------
    >>> import threading
    >>> cancel = threading.Event()
    >>> cancel.set()
    >>> sleep(0, None), sleep(60, cancel)  # a set event ends the wait at once
    (False, True)
    """
    if cancel is None:
        time.sleep(seconds)
        return False
    return cancel.wait(seconds)


class Failure:
    """The last retryable failure: an HTTP status with the server's message, or no answer.

    Parameters
    ----------
    status : int or None
        The HTTP status, or None when no answer came (connection error, timeout).
    message : str
        The server's message, or the connection error in words.
    body : object
        The decoded error body (None without an answer).
    retry_after : float, optional
        Seconds the server asked to wait (its ``Retry-After``), if it did.
    reason : str, optional
        The failure in a few words, for a progress bar (default: ``message``).
    refused : bool, optional
        Whether the connection was refused: nothing listens there.

    Examples
    --------
    >>> failure = Failure(503, "Service unavailable", None, retry_after=2.0)
    >>> failure.status, failure.reason, failure.retry_after
    (503, 'Service unavailable', 2.0)
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        body: Any,
        *,
        retry_after: float | None = None,
        reason: str = "",
        refused: bool = False,
    ) -> None:
        self.status = status
        self.message = message
        self.body = body
        self.retry_after = retry_after
        self.reason = reason or message
        self.refused = refused

    @classmethod
    def no_answer(cls, exc: BaseException) -> Failure:
        """The failure of an attempt that got no answer (connection error, timeout, cut off).

        Parameters
        ----------
        exc : BaseException
            What requests raised.

        Returns
        -------
        Failure
            Without a status; ``refused`` when the connection was refused.
        """
        refused = _refused(exc)
        return cls(
            None,
            f"no answer from the API: {describe_exception(exc)}",
            None,
            reason=_short_reason(exc, refused),
            refused=refused,
        )

    @classmethod
    def for_status(
        cls, status: int, message: str, body: Any, retry_after: str | None
    ) -> Failure | None:
        """The failure of an attempt answered with an error ``status``, if it is retryable.

        Parameters
        ----------
        status : int
            The HTTP status (400 or more).
        message : str
            The server's message.
        body : object
            The decoded error body.
        retry_after : str or None
            The ``Retry-After`` header.

        Returns
        -------
        Failure or None
            None when ``status`` is not in ``RETRYABLE_STATUSES``.
        """
        if status not in RETRYABLE_STATUSES:
            return None
        return cls(
            status,
            message,
            body,
            retry_after=parse_retry_after(retry_after),
            reason=f"HTTP {status}",
        )

    def refused_error(
        self,
        method: str,
        url: str,
        attempts: int,
        refused_for: float,
        loopback_retry_for: float,
        retry_for: float,
    ) -> TransportError:
        """The error once a loopback host has refused the connection for its whole bound.

        Parameters
        ----------
        method, url : str
            The request.
        attempts : int
            Attempts made.
        refused_for : float
            Seconds the connection has been refused.
        loopback_retry_for, retry_for : float
            The client's two budgets, named in the message.

        Returns
        -------
        TransportError
            The error to raise.
        """
        where = urlsplit(url).netloc
        plural = "s" if attempts > 1 else ""
        return TransportError(
            f"connection refused by {where}: nothing listens there (refused for "
            f"{refused_for:.1f} s, {attempts} attempt{plural}; a refused connection to a "
            f"loopback address is retried for loopback_retry_for={loopback_retry_for:g} s, "
            f"other failures for retry_for={retry_for:g} s). Start the server (`cm-frames "
            "emulator` prints its URL) or fix the port in base_url / CHARTMOGUL_API_URL; to "
            "wait for a server that is restarting, pass a longer loopback_retry_for= to "
            "cm.Client",
            method=method,
            url=url,
        )

    def error(
        self, method: str, url: str, attempts: int, elapsed: float, retry_for: float
    ) -> ChartMogulError:
        """The typed error to raise once retrying is over; it carries the last status.

        Parameters
        ----------
        method, url : str
            The request.
        attempts : int
            Attempts made.
        elapsed : float
            Seconds since the first attempt.
        retry_for : float
            The client's budget, named in the message.

        Returns
        -------
        ChartMogulError
            A ``TransportError`` without an answer, else the status's ``APIError`` subclass.
        """
        plural = "s" if attempts > 1 else ""
        note = (
            f"still failing after {attempts} attempt{plural} in {elapsed:.1f} s "
            f"(retry_for={retry_for:g} s)"
        )
        if self.status is None:
            return TransportError(f"{self.message} ({note})", method=method, url=url)
        return error_for_status(
            self.status, f"{self.message} ({note})", method=method, url=url, body=self.body
        )


class RetryPolicy:
    """How one client retries: its budgets, its backoff and the pause it shares after a 429.

    Parameters
    ----------
    limiter : RequestLimiter
        The client's limiter, paused by a 429's ``Retry-After`` for every thread.
    retry_for : float
        Seconds all attempts of one request may take.
    loopback_retry_for : float
        Seconds a connection refused by a loopback host is retried.
    loopback : bool
        Whether the client's host is this machine's loopback.
    backoff : float, optional
        Seconds: the base delay of the backoff.
    cap : float, optional
        Seconds: the longest single wait of the backoff.
    rng : random.Random, optional
        The source of the jitter.

    Examples
    --------
    >>> import random
    >>> from cm_frames.api.ratelimit import RequestLimiter
    >>> policy = RetryPolicy(RequestLimiter(None, 4), retry_for=10, loopback_retry_for=5,
    ...                      loopback=False, rng=random.Random(0))
    >>> loop = policy.start("GET", "https://api.chartmogul.com/v1/customers")
    >>> loop.attempt, loop.method
    (0, 'GET')
    """

    def __init__(
        self,
        limiter: RequestLimiter,
        *,
        retry_for: float,
        loopback_retry_for: float,
        loopback: bool,
        backoff: float = DEFAULT_BACKOFF,
        cap: float = BACKOFF_CAP,
        rng: random.Random | None = None,
    ) -> None:
        self.limiter = limiter
        self.retry_for = retry_for
        self.loopback_retry_for = loopback_retry_for
        self.loopback = loopback
        self.backoff = backoff
        self.cap = cap
        self.rng = rng or random.Random()

    def start(self, method: str, url: str) -> RetryLoop:
        """The retry state of one request's attempts.

        Parameters
        ----------
        method, url : str
            The request (named in its errors).

        Returns
        -------
        RetryLoop
            Call ``begin`` before each attempt and ``delay`` after each failed one.
        """
        return RetryLoop(self, method, url)


class RetryLoop:
    """The attempts of one request: counts them, and decides how long to wait or to give up.

    Parameters
    ----------
    policy : RetryPolicy
        The client's policy.
    method, url : str
        The request (named in its errors).

    Examples
    --------
    >>> import random
    >>> from cm_frames.api.ratelimit import RequestLimiter
    >>> policy = RetryPolicy(RequestLimiter(None, 4), retry_for=10, loopback_retry_for=5,
    ...                      loopback=False, rng=random.Random(0))
    >>> loop = RetryLoop(policy, "GET", "https://api.chartmogul.com/v1/customers")
    >>> failure = Failure(503, "Service unavailable", None, retry_after=2.0)
    >>> loop.begin()
    >>> loop.delay(failure)  # at least the server's Retry-After
    (2.0, 'retry_for=10 s')
    >>> loop.begin()
    >>> print(loop.give_up(failure))
    HTTP 503 (GET https://api.chartmogul.com/v1/customers): Service unavailable (still failing after 2 attempts in ...)
    """

    def __init__(self, policy: RetryPolicy, method: str, url: str) -> None:
        self.policy = policy
        self.method = method
        self.url = url
        self.attempt = 0
        self.elapsed = 0.0
        self._started = time.monotonic()
        self._attempt_start = self._started
        self._refused_since: float | None = None  # the start of a run of refused connections

    def begin(self, cancel: threading.Event | None = None) -> None:
        """Count the next attempt, once any pause of the client (after a 429) is over.

        Parameters
        ----------
        cancel : threading.Event, optional
            Ends the wait early.

        Raises
        ------
        TransportError
            ``cancel`` was set while waiting.
        """
        self.attempt += 1
        hold = self.policy.limiter.paused_for()
        if hold > 0 and sleep(hold, cancel):
            raise TransportError(
                "cancelled while waiting out the API's Retry-After",
                method=self.method,
                url=self.url,
            )
        self._attempt_start = time.monotonic()

    def delay(self, failure: Failure) -> tuple[float, str]:
        """How long to wait before the next attempt, after ``failure``.

        At least the server's ``Retry-After``; a 429's also pauses every thread of the client.

        Parameters
        ----------
        failure : Failure
            Why the attempt failed.

        Returns
        -------
        tuple of (float, str)
            Seconds to wait, and the budget that bounds them (for the log line).

        Raises
        ------
        TransportError, APIError
            The budget is spent: the failure as its typed error.
        """
        policy = self.policy
        delay = backoff_delay(self.attempt, base=policy.backoff, cap=policy.cap, rng=policy.rng)
        if failure.retry_after is not None:
            delay = max(delay, failure.retry_after)
            if failure.status == 429:
                policy.limiter.pause(min(failure.retry_after, policy.retry_for))
        if failure.status == 503:
            # Today's API: too many parallel connections for the account: fewer at once. (No
            # log line of its own: the retry's INFO line says 503, one line per retry.)
            policy.limiter.lower_in_flight()
        now = time.monotonic()
        self.elapsed = now - self._started
        budget = f"retry_for={policy.retry_for:g} s"
        if failure.refused and policy.loopback:
            # Nothing listens on that port of this machine: waiting two minutes for it
            # helps nobody. Only an emulator restarting on the port is worth a few seconds.
            if self._refused_since is None:
                self._refused_since = self._attempt_start
            left = policy.loopback_retry_for - (now - self._refused_since)
            if left <= 0:
                raise failure.refused_error(
                    self.method,
                    self.url,
                    self.attempt,
                    now - self._refused_since,
                    policy.loopback_retry_for,
                    policy.retry_for,
                )
            delay = min(delay, left)
            budget = f"loopback_retry_for={policy.loopback_retry_for:g} s"
        else:
            self._refused_since = None
        if self.elapsed + delay > policy.retry_for:
            raise self.give_up(failure)
        return delay, budget

    def wait(self, delay: float, failure: Failure, cancel: threading.Event | None = None) -> None:
        """Sleep ``delay`` seconds before the next attempt.

        Parameters
        ----------
        delay : float
            Seconds (from ``delay``).
        failure : Failure
            The failure being retried (raised if the wait is cancelled).
        cancel : threading.Event, optional
            Ends the wait early.

        Raises
        ------
        TransportError, APIError
            ``cancel`` was set: the failure as its typed error.
        """
        if sleep(delay, cancel):
            raise self.give_up(failure)

    def give_up(self, failure: Failure) -> ChartMogulError:
        """``failure`` as the typed error that ends the request's attempts.

        Parameters
        ----------
        failure : Failure
            The last failure.

        Returns
        -------
        ChartMogulError
            See ``Failure.error``.
        """
        return failure.error(
            self.method, self.url, self.attempt, self.elapsed, self.policy.retry_for
        )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it: chained exceptions and urllib3's ``reason`` attributes."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += list(current.args)
        stack += [item for item in linked if isinstance(item, BaseException)]


def _refused(exc: BaseException) -> bool:
    return any(isinstance(cause, ConnectionRefusedError) for cause in _causes(exc))


def _short_reason(exc: BaseException, refused: bool) -> str:
    """The failure in a few words: what a progress bar has room for."""
    if refused:
        return "connection refused"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "answer cut off"
    return "connection failed"
