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

from cm_frames.read.pages import DecodedCustomers, PageDecoder
from cm_frames.read.parquet import ParquetStreamWriter, StreamSummary, read_parquet
from cm_frames.read.table import frame_to_table, table_to_frame

__all__ = [
    "DecodedCustomers",
    "PageDecoder",
    "ParquetStreamWriter",
    "StreamSummary",
    "frame_to_table",
    "read_parquet",
    "table_to_frame",
]
