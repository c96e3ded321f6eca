"""``PageDecoder``: page bodies in, one flat Arrow table out (decoding as pages arrive)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cm_frames.api.paging import SeenIds
from cm_frames.read.assemble import Sections, assemble
from cm_frames.read.columns import release_unused_memory
from cm_frames.read.decoder import (
    KeyValues,
    decode_custom,
    decode_page,
    gc_paused,
    load_entries,
)
from cm_frames.read.table import ATTRS_KEY, table_to_frame
from cm_frames.schema import CustomType

__all__ = ["DecodedCustomers", "PageDecoder"]


@dataclass(frozen=True, slots=True)
class DecodedCustomers:
    """What a load decoded: the flat table (``id`` first), the inferred custom types, the count.

    ``PageDecoder.finish()`` returns it.

    Attributes
    ----------
    table : pyarrow.Table
        The customers, one row each, ``id`` first, in the frame's column order.
    custom_types : dict of str to CustomType
        ``{key: "Integer" | "Boolean" | "Timestamp" | "String"}``, JSON-safe, sorted by key.
    count : int
        The number of customers.
    timestamp_text : mapping of str to pyarrow.Array
        The original strings of the Timestamp custom columns (only with
        ``keep_timestamp_text``).

    Examples
    --------
    >>> decoder = PageDecoder()
    >>> _ = decoder.add_entries([{"id": 7, "uuid": "cus_7", "attributes": {"custom": {"n": 1}}}])
    >>> decoded = decoder.finish()
    >>> decoded.count, decoded.custom_types, decoded.table.column_names[0]
    (1, {'n': 'Integer'}, 'id')
    """

    table: pa.Table
    #: ``{key: "Integer" | "Boolean" | "Timestamp" | "String"}``, JSON-safe, sorted by key
    custom_types: dict[str, CustomType]
    count: int
    #: original strings of the Timestamp custom columns (only with ``keep_timestamp_text``)
    timestamp_text: Mapping[str, pa.Array[Any]]

    def to_frame(self) -> pd.DataFrame:
        """The DataFrame, with ``attrs["chartmogul"]["custom_types"]`` set.

        Returns
        -------
        pandas.DataFrame
            The customer frame (index ``id``, Arrow dtypes).

        Examples
        --------
        >>> decoder = PageDecoder()
        >>> _ = decoder.add_entries([{"id": 7, "uuid": "cus_7", "attributes": {"custom": {"n": 1}}}])
        >>> df = decoder.finish().to_frame()
        >>> df.index.name, df.attrs["chartmogul"]
        ('id', {'custom_types': {'n': 'Integer'}})
        """
        frame = table_to_frame(self.table)
        frame.attrs[ATTRS_KEY] = {"custom_types": dict(self.custom_types)}
        return frame


class PageDecoder:
    """Decodes pages of customers as they arrive; ``finish()`` builds the table.

    ``add_page`` accepts a list page (``{"entries": [...], "has_more": ...}``) or a search
    result (``{"entries": [...]}``), compact or pretty-printed, and returns its number of
    entries. Pages must be added in the API's order (row order is kept). Not thread-safe:
    feed it from one thread (the client's ``iter_pages`` yields in order).

    Each page is parsed and converted when added (its Python objects die before the call
    returns, so the garbage collector never scans them); only the custom attributes wait, as
    flat key/value lists, to be converted every ``batch_rows`` customers (that conversion has
    a fixed cost per call). Every ``compact_rows`` customers the pieces of each column are
    concatenated (``columns``: fewer, larger arrays keep the allocator's memory reusable).
    ``finish()`` then decides each column's type over all pages and builds the table one
    column at a time.

    Pages must fit together: a customer seen on an earlier page (or twice on one), or a page
    with more entries than its ``per_page``, raises ``ChartMogulError`` naming the customer
    and the pages, never a silent dedupe. The ids seen stay known across ``finish()`` (a
    Parquet stream finishes every part), like the page count.

    Parameters
    ----------
    batch_rows : int, default 1000
        Convert the pending custom attributes every this many customers.
    compact_rows : int, default 10000
        Concatenate each column's pieces every this many customers.
    keep_timestamp_text : bool, default False
        Keep the original strings of Timestamp custom columns (``timestamp_text``).

    Examples
    --------
    >>> decoder = PageDecoder()
    >>> decoder.add_page(b'{"entries": [{"id": 1, "uuid": "cus_1"}], "has_more": false}')
    1
    >>> decoder.finish().to_frame().index.tolist()
    [1]
    """

    def __init__(
        self,
        *,
        batch_rows: int = 1000,
        compact_rows: int = 10_000,
        keep_timestamp_text: bool = False,
    ) -> None:
        # benchmarks/bench_read.py: the custom conversion's cost per call is lowest around
        # 1,000 rows; compacting every 10,000 cut the extra peak of a cold read of 100k
        # customers from 3.5x the frame's memory to 2.1x.
        self._batch_rows = batch_rows
        self._compact_rows = compact_rows
        self._keep_timestamp_text = keep_timestamp_text
        self._sections = Sections()
        self._pending_custom = KeyValues()
        self._count = 0
        self._pages = 0
        self._compacted_at = 0
        self._seen = SeenIds()
        # id -> how many rows had been added when it was forgotten (rows before are void).
        self._forgotten: dict[int, int] = {}

    @property
    def count(self) -> int:
        """Customers added so far.

        Returns
        -------
        int
            The count.

        Examples
        --------
        >>> PageDecoder().count
        0
        """
        return self._count

    @property
    def pages(self) -> int:
        """Pages added so far (empty ones included).

        Returns
        -------
        int
            The count.

        Examples
        --------
        >>> PageDecoder().pages
        0
        """
        return self._pages

    def add_page(self, body: bytes | bytearray | memoryview | str) -> int:
        """Decode one page body; returns how many customers it held.

        Parameters
        ----------
        body : bytes, bytearray, memoryview or str
            A page's JSON: a list page or a search result.

        Returns
        -------
        int
            The page's number of customers.

        Raises
        ------
        ChartMogulError
            When the page is not valid JSON of the documented shape, or does not fit the
            pages before it.

        Examples
        --------
        >>> PageDecoder().add_page(b'{"entries": [], "has_more": false}')
        0
        """
        with gc_paused():
            # The page's objects must be freed before the collector is back on (else it
            # scans them all): nothing here keeps a reference past add_entries.
            return self.add_entries(load_entries(body, where=f"page {self._pages + 1}"))

    def add_entries(self, entries: list[Any]) -> int:
        """Add customers already decoded from JSON (one page's list of customer objects).

        Parameters
        ----------
        entries : list
            The page's customer objects.

        Returns
        -------
        int
            How many were added.

        Raises
        ------
        ChartMogulError
            As ``add_page`` does.

        Examples
        --------
        >>> PageDecoder().add_entries([{"id": 7, "uuid": "cus_7"}])
        1
        """
        with gc_paused():
            self._pages += 1
            page = decode_page(entries, self._pending_custom, where=f"page {self._pages}")
            if page is None:
                return 0
            ids = page.fixed.columns["id"].to_numpy()
            if self._forgotten:
                # A forgotten customer may come again (read anew): only it skips the check.
                ids = ids[~np.isin(ids, np.fromiter(self._forgotten, np.int64))]
            self._seen.add(ids, self._pages)
            self._sections.fixed.add(page.fixed)
            self._sections.stripe.add(page.stripe)
            self._sections.clearbit.add(page.clearbit)
            self._count += page.size
            if len(self._pending_custom.lengths) >= self._batch_rows:
                self._convert_custom()
            if self._count - self._compacted_at >= self._compact_rows:
                self._sections.compact()
                self._compacted_at = self._count
                release_unused_memory()
            return page.size

    def forget(self, ids: Iterable[int]) -> None:
        """Void the rows added so far of these customer ids; each may be added once more.

        How a cursor load drops a customer that changed part while it was loading (a fresher
        row follows) or the rows of a strategy that did not fit (it starts over).

        Parameters
        ----------
        ids : iterable of int
            Customer ids.

        Examples
        --------
        >>> decoder = PageDecoder()
        >>> _ = decoder.add_entries([{"id": 7, "uuid": "cus_7", "name": "old"}])
        >>> decoder.forget([7])
        >>> _ = decoder.add_entries([{"id": 7, "uuid": "cus_7", "name": "new"}])
        >>> decoder.finish().table.column("name").to_pylist()
        ['new']
        """
        for customer_id in ids:
            self._forgotten[int(customer_id)] = self._count

    def _convert_custom(self) -> None:
        pending, self._pending_custom = self._pending_custom, KeyValues()
        if pending.lengths:
            self._sections.custom.add(decode_custom(pending))

    def finish(self, *, api_order: bool = False) -> DecodedCustomers:
        """Unify column types across pages and build the table. The decoder is then empty.

        Parameters
        ----------
        api_order : bool, default False
            Sort the rows as today's API lists customers (``customer_since``, then ``id``;
            customers without ``customer_since`` last), for pages gathered out of order;
            otherwise rows stay in the order they were added.

        Returns
        -------
        DecodedCustomers
            The table, the custom types and the count.

        Examples
        --------
        >>> decoder = PageDecoder()
        >>> _ = decoder.add_entries([{"id": 7, "uuid": "cus_7"}])
        >>> decoder.finish().count
        1
        """
        with gc_paused():
            self._convert_custom()
            sections, self._sections = self._sections, Sections()
            assembled = assemble(sections, keep_timestamp_text=self._keep_timestamp_text)
            del sections
        release_unused_memory()
        table = _without_forgotten(assembled.table, self._forgotten)
        if api_order:
            table = table.take(pc.sort_indices(table, sort_keys=_API_ORDER))  # type: ignore[arg-type]  # stubs lack null_placement per key
        self._count = self._compacted_at = 0
        self._forgotten = {}
        return DecodedCustomers(
            table=table,
            custom_types=assembled.custom_types,
            count=table.num_rows,
            timestamp_text=assembled.timestamp_text,
        )


# Today's API lists customer-since ascending, then id; customers without one come last.
_API_ORDER = [("customer_since", "ascending", "at_end"), ("id", "ascending", "at_end")]


def _without_forgotten(table: pa.Table, forgotten: Mapping[int, int]) -> pa.Table:
    """``table`` without the rows that ``forget`` voided (those added before the call)."""
    if not forgotten or not table.num_rows:
        return table
    voided_ids = np.fromiter(forgotten, np.int64, len(forgotten))
    before = np.fromiter(forgotten.values(), np.int64, len(forgotten))
    order = np.argsort(voided_ids)
    voided_ids, before = voided_ids[order], before[order]
    ids = table.column("id").to_numpy()
    at = np.minimum(np.searchsorted(voided_ids, ids), len(voided_ids) - 1)
    hit = voided_ids[at] == ids
    void = hit & (np.arange(len(ids)) < before[at])
    return table.filter(pa.array(~void)) if void.any() else table
