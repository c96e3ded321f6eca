"""cm_frames: ChartMogul Enrichment API customers as Arrow-backed pandas DataFrames.

Load every customer into a frame (``read_customers``), segment and plot it through
``df.chartmogul``, and write edited columns back as a reviewed, journaled ``Plan``.
Everything a user needs is importable from here.
"""

from __future__ import annotations

import cm_frames.accessor  # noqa: F401  (importing it registers df.chartmogul)
from cm_frames.api.client import Client
from cm_frames.emulator import Emulator
from cm_frames.errors import (
    APIError,
    BadRequest,
    ChartMogulError,
    Forbidden,
    MissingCredentials,
    NotFound,
    PagingError,
    RateLimited,
    RemovalWarning,
    RequestFailed,
    ServerError,
    TransportError,
    Unauthorized,
    UnprocessableEntity,
    ValidationError,
)
from cm_frames.read.frames import read_parquet
from cm_frames.read.load import read_customers
from cm_frames.writeback.diff import diff
from cm_frames.writeback.operations import (
    AddCustom,
    AddTags,
    Operation,
    RemoveCustom,
    RemoveTags,
    Request,
    UpdateCustom,
)
from cm_frames.writeback.plan import IgnoredRows, Plan, PlanSummary, SkippedEdit, TableMatch
from cm_frames.writeback.result import ApplyResult, OperationResult

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AddCustom",
    "AddTags",
    "ApplyResult",
    "BadRequest",
    "ChartMogulError",
    "Client",
    "Emulator",
    "Forbidden",
    "IgnoredRows",
    "MissingCredentials",
    "NotFound",
    "Operation",
    "OperationResult",
    "PagingError",
    "Plan",
    "PlanSummary",
    "RateLimited",
    "RemovalWarning",
    "RemoveCustom",
    "RemoveTags",
    "Request",
    "RequestFailed",
    "ServerError",
    "SkippedEdit",
    "TableMatch",
    "TransportError",
    "Unauthorized",
    "UnprocessableEntity",
    "UpdateCustom",
    "ValidationError",
    "__version__",
    "diff",
    "read_customers",
    "read_parquet",
]
