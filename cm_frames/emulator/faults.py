"""Fault injection: latency, dropped connections, throttling and server errors.

Decisions come from one seeded ``random.Random`` (the same draws for every /v1 request),
so a run with the same seed and the same request order sees the same faults.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

__all__ = ["SERVER_ERRORS", "Fault", "FaultInjector", "FaultSettings"]

SERVER_ERRORS = (500, 502, 503, 504)


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """What to inject; every rate is a probability per request, all default 0."""

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    drop_rate: float = 0.0
    latency_ms: float = 0.0
    retry_after_s: int = 0

    def __post_init__(self) -> None:
        rates = {
            "error_rate": self.error_rate,
            "throttle_rate": self.throttle_rate,
            "drop_rate": self.drop_rate,
        }
        for name, rate in rates.items():
            if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
                raise ValueError(f"{name}: must be a number between 0 and 1, got {rate!r}")
        if sum(rates.values()) > 1:
            raise ValueError(
                f"error_rate + throttle_rate + drop_rate must be at most 1, got {sum(rates.values())}"
            )
        if not isinstance(self.latency_ms, int | float) or isinstance(self.latency_ms, bool):
            raise ValueError(f"latency_ms: must be a number, got {self.latency_ms!r}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms: must be >= 0, got {self.latency_ms!r}")
        if (
            not isinstance(self.retry_after_s, int)
            or isinstance(self.retry_after_s, bool)
            or self.retry_after_s < 0
        ):
            raise ValueError(f"retry_after_s: must be an integer >= 0, got {self.retry_after_s!r}")

    @classmethod
    def from_json(cls, data: Any) -> FaultSettings:
        """Settings from a control request body; unknown names are an error, not ignored."""
        if not isinstance(data, dict):
            raise ValueError("body: expected a JSON object of fault settings")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"{unknown[0]}: unknown fault setting (known: {', '.join(sorted(known))})"
            )
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Fault(Enum):
    """What happens to one request instead of normal handling."""

    DROP = "drop"
    THROTTLE = "throttle"
    ERROR = "error"


class FaultInjector:
    """Thread-safe: holds the settings and the seeded random source."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._random = random.Random(seed)
        self._settings = FaultSettings()

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def configure(self, settings: FaultSettings) -> None:
        with self._lock:
            self._settings = settings

    def clear(self) -> None:
        """No faults, and the random source back to its seed (a reset replays the same faults)."""
        with self._lock:
            self._settings = FaultSettings()
            self._random = random.Random(self._seed)

    def decide(self) -> tuple[FaultSettings, Fault | None, int]:
        """The settings in force, the fault for this request (or None) and its status.

        The same two draws per request whatever the settings (a uniform roll compared
        with the cumulative rates: drop, then throttle, then error; and which 5xx), so
        the sequence of faults depends only on the seed and the order of requests.
        """
        with self._lock:
            settings = self._settings
            roll = self._random.random()
            error_status = self._random.choice(SERVER_ERRORS)
        if roll < settings.drop_rate:
            return settings, Fault.DROP, 0
        if roll < settings.drop_rate + settings.throttle_rate:
            return settings, Fault.THROTTLE, 429
        if roll < settings.drop_rate + settings.throttle_rate + settings.error_rate:
            return settings, Fault.ERROR, error_status
        return settings, None, 200
