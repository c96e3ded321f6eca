"""Pure conversions: JSON pages of customers <-> flat Arrow table <-> Arrow-backed DataFrame.

No HTTP here: the client hands over page bodies as bytes. Typical use::

    decoder = PageDecoder()
    for body in client.iter_pages(raw=True):
        decoder.add_page(body)          # decodes as pages arrive (about 2 ms per page of 200)
    decoded = decoder.finish()          # unifies column types across pages
    df = decoded.to_frame()             # index ``id``; df.attrs["chartmogul"]["custom_types"]

The frame follows ``schema.py`` (design.md, "The frame"). This module is the public face; the
work is split into small modules: ``_decode.py`` (one page -> Arrow arrays), ``_columns.py``
(those arrays gathered per column, compact in memory), ``_assemble.py`` (the cross-page type
decisions), ``_pages.py`` (``PageDecoder``), ``_table.py`` (table <-> frame) and
``parquet_stream.py`` (streaming to a Parquet dataset with bounded memory).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pandas as pd

from cm_frames.read.pages import DecodedCustomers, PageDecoder
from cm_frames.read.parquet import ParquetStreamWriter, StreamSummary, read_parquet
from cm_frames.read.table import ATTRS_KEY, frame_to_table, table_to_frame

__all__ = [
    "ATTRS_KEY",
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
