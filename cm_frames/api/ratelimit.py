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
        self._in_flight = threading.BoundedSemaphore(max_in_flight)
        self._pause_lock = threading.Lock()
        self._paused_until = 0.0

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
        with self._in_flight:
            if self._pacer is not None:
                self._pacer.wait()
            yield
