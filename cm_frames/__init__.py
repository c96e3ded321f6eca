"""cm_frames: ChartMogul Enrichment API customers as Arrow-backed pandas DataFrames."""

from __future__ import annotations

from cm_frames.errors import (
    APIError,
    BadRequest,
    ChartMogulError,
    NotFound,
    PlanConflict,
    RateLimited,
    RequestFailed,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "BadRequest",
    "ChartMogulError",
    "NotFound",
    "PlanConflict",
    "RateLimited",
    "RequestFailed",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "ValidationError",
    "__version__",
]
