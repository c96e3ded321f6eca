"""A local ChartMogul Enrichment API: the project's honest stand-in for the real service.

``Emulator`` serves the 11 endpoints of the reference over real HTTP from seeded,
realistic data in SQLite, with fault injection, a request log and an OpenAPI document.
``Emulator(dialect="current")`` speaks the service as it is today instead (an API key,
cursor paging, uuids in paths, today's customer object and answers).
It imports nothing from the client side of cm_frames: the two meet only over HTTP.
"""

from __future__ import annotations

from cm_frames.emulator.core import DEFAULT_TOKEN, Emulator
from cm_frames.emulator.generator import generate_customers

__all__ = ["DEFAULT_TOKEN", "Emulator", "generate_customers"]
