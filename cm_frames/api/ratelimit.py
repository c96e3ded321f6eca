"""Request pacing shared by every thread of one Client: a rate cap, a cap on requests in flight,
and a pause every thread keeps when the server answers 429 with ``Retry-After``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RequestLimiter"]


class _Pacer:
    """Spaces request starts at least ``1/rate`` seconds apart, across threads.

    A token bucket of capacity one (GCRA): no burst, so N requests take at least (N-1)/rate s,
    which is what the real service's "about 40 requests/s" tolerates. Each caller reserves the
    next free slot under the lock and sleeps outside it, so waiting threads do not serialise on
    the lock and the order of slots is the order of arrival.
    """

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._lock = threading.Lock()
        self._next_slot = time.monotonic()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        delay = slot - now
        if delay > 0:
            time.sleep(delay)


class RequestLimiter:
    """At most ``rate`` request starts per second (None: no cap) and ``max_in_flight`` at once.

    Parameters
    ----------
    rate : float or None
        Request starts per second, across threads; None: no cap.
    max_in_flight : int
        Requests at once.

    Examples
    --------
    >>> limiter = RequestLimiter(40, max_in_flight=8)
    >>> with limiter.slot():
    ...     pass  # send the request here
    """

    def __init__(self, rate: float | None, max_in_flight: int) -> None:
        self._pacer = _Pacer(rate) if rate is not None else None
        # A count under a condition, not a semaphore: the cap can be lowered while requests
        # are in flight (a 503 for too many connections).
        self._slots = threading.Condition()
        self._cap = max_in_flight
        self._active = 0
        self._pause_lock = threading.Lock()
        self._paused_until = 0.0

    @property
    def max_in_flight(self) -> int:
        """Requests allowed at once now (lowered by ``lower_in_flight``).

        Returns
        -------
        int
            The cap.
        """
        return self._cap

    def lower_in_flight(self) -> int:
        """Allow one request fewer at once than are in flight now (at least one).

        The answer to today's API's 503 for too many parallel connections: the account's
        limit (20) counts every client of it, so the server, not our setting, says how many
        fit. Requests in flight finish; new ones wait until they fit under the cap.

        Returns
        -------
        int
            The new cap.

        Examples
        --------
        >>> limiter = RequestLimiter(None, max_in_flight=8)
        >>> limiter.lower_in_flight()
        1
        """
        with self._slots:
            self._cap = max(1, min(self._cap, self._active) - 1)
            return self._cap

    def pause(self, seconds: float) -> None:
        """Start no request for ``seconds`` from now, in any thread (a 429's ``Retry-After``).

        The limit is the account's, not the request's: while one request waits out a 429,
        the others would only collect 429s of their own and spend the quota further.

        Parameters
        ----------
        seconds : float
            How long; a pause already longer is kept.
        """
        until = time.monotonic() + seconds
        with self._pause_lock:
            self._paused_until = max(self._paused_until, until)

    def paused_for(self) -> float:
        """Return the seconds left of the current pause.

        Returns
        -------
        float
            The seconds until requests may start again (0 when there is no pause).
        """
        return max(0.0, self._paused_until - time.monotonic())

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one in-flight slot for the duration of the block, starting on the rate's beat.

        Yields
        ------
        None
            The block runs holding the slot.
        """
        # The in-flight slot is taken first, so threads waiting for the pace also count
        # against max_in_flight and the pace is measured at the moment of sending.
        with self._slots:
            self._slots.wait_for(lambda: self._active < self._cap)
            self._active += 1
        try:
            if self._pacer is not None:
                self._pacer.wait()
            yield
        finally:
            with self._slots:
                self._active -= 1
                self._slots.notify()
