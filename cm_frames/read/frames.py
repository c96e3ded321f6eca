"""Pure conversions: JSON pages of customers <-> flat Arrow table <-> Arrow-backed DataFrame.

No HTTP here: the client hands over page bodies as bytes. Typical use::

    decoder = PageDecoder()
    for body in client.iter_pages(raw=True):
        decoder.add_page(body)          # decodes as pages arrive
    decoded = decoder.finish()          # unifies column types across pages
    df = decoded.to_frame()             # index ``id``; df.attrs["chartmogul"]["custom_types"]

The frame follows ``schema.py``. This module is the public face; the work is split into small
modules of this package: ``decoder`` (one page -> Arrow arrays), ``columns`` (those arrays
gathered per column, compact in memory), ``assemble`` (the cross-page type decisions),
``pages`` (``PageDecoder``), ``table`` (table <-> frame) and ``parquet`` (streaming to a
Parquet dataset with bounded memory).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pandas as pd

from cm_frames.read.pages import DecodedCustomers, PageDecoder
from cm_frames.read.parquet import ParquetStreamWriter, StreamSummary, read_parquet
from cm_frames.read.table import frame_to_table, table_to_frame

__all__ = [
    "DecodedCustomers",
    "PageDecoder",
    "ParquetStreamWriter",
    "StreamSummary",
    "customers_to_frame",
    "frame_to_table",
    "read_parquet",
    "table_to_frame",
]


def customers_to_frame(entries: Sequence[Mapping[str, Any]]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Frame and custom types of customer objects already decoded from JSON.

    For single-customer responses (``GET /customers/{id}``: pass ``[body]``) and tests. The
    values go through the same decoder as pages, so the result is typed exactly like a load.
    """
    decoder = PageDecoder()
    decoder.add_entries(orjson.loads(orjson.dumps(list(entries))))
    decoded = decoder.finish()
    return decoded.to_frame(), dict(decoded.custom_types)
