"""Checks that the pages of one load fit together: each customer once, no page over per_page.

The API pages by offset (``?page=N&per_page=K``), with no total and no snapshot. A customer
added or deleted while an account is being loaded shifts every later offset by one, so one
customer shows up on two pages and another can be skipped; a server or proxy that keeps saying
``has_more: true`` serves the same customers again. Either way the pages are not the account.
These checks make that an error naming the customer and the pages; a silent dedupe would hide
the customer that was skipped.

``SeenIds`` remembers every id of a load with the page it came on, as sorted numpy runs merged
like a binary counter: 12 bytes per customer, and each page is checked against O(log pages)
runs. That stays small for the largest accounts and for the bounded-memory Parquet stream,
whose decoder is emptied every part.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from cm_frames.errors import ChartMogulError

__all__ = ["SeenIds", "check_page_size", "page_fields"]

_AGAIN = (
    "Nothing from this load was kept. Load again (cm.read_customers(client, refresh=True)); if "
    "it keeps happening, the API's paging is broken: report it to ChartMogul support"
)

IdArray = np.ndarray[Any, np.dtype[np.int64]]
PageArray = np.ndarray[Any, np.dtype[np.int32]]


def check_page_size(entries: int, per_page: object, where: str) -> None:
    """Refuse a page with more customers than its ``per_page``: its paging cannot be trusted."""
    if type(per_page) is int and entries > per_page:
        raise ChartMogulError(
            f"The {where} holds {entries} customers but per_page is {per_page}: the server is "
            "not paging as documented, so customers could be missing or repeated. " + _AGAIN
        )


# The top-level keys of a list page follow its "entries" array in the API's documents (as
# ``_http.page_has_more`` relies on), so the last "]" ends the customers.
_PAGE = re.compile(rb'"page"\s*:\s*(-?[0-9]+)')
_PER_PAGE = re.compile(rb'"per_page"\s*:\s*(-?[0-9]+)')


def page_fields(body: bytes) -> tuple[int | None, int | None] | None:
    """``page`` and ``per_page`` of a raw list page from its tail (None for an absent field).

    None when the tail is not conclusive (a field named twice, or the keys in another order):
    the caller then decodes the page.
    """
    tail = body[body.rfind(b"]") + 1 :]
    found = []
    for pattern in (_PAGE, _PER_PAGE):
        matches = pattern.findall(tail)
        if len(matches) > 1:
            return None
        found.append(int(matches[0]) if matches else None)
    return found[0], found[1]


class SeenIds:
    """Every customer id of a load so far, and the page each came on."""

    def __init__(self) -> None:
        self._runs: list[tuple[IdArray, PageArray]] = []

    def __len__(self) -> int:
        return sum(len(ids) for ids, _ in self._runs)

    def add(self, ids: IdArray | list[int], page: int) -> None:
        """Record the ids of ``page``; raise if one is on it twice or was on an earlier page."""
        page_ids: IdArray = np.asarray(ids, dtype=np.int64)
        if not len(page_ids):
            return
        order = np.argsort(page_ids, kind="stable")
        sorted_ids = page_ids[order]
        twice = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
        if len(twice):
            raise ChartMogulError(
                f"Customer {sorted_ids[twice[0]]} appears twice on page {page}: a page lists "
                "each customer once, so this one cannot be trusted. " + _AGAIN
            )
        earlier = np.zeros(len(sorted_ids), dtype=np.int32)  # 0: not seen before
        for run_ids, run_pages in self._runs:
            position = np.minimum(np.searchsorted(run_ids, sorted_ids), len(run_ids) - 1)
            hit = run_ids[position] == sorted_ids
            earlier[hit] = run_pages[position[hit]]
        if earlier.any():
            in_page_order = np.empty_like(earlier)
            in_page_order[order] = earlier
            raise ChartMogulError(_seen_before(page_ids, in_page_order, page))
        self._runs.append((sorted_ids, np.full(len(sorted_ids), page, dtype=np.int32)))
        # Binary-counter merging keeps O(log pages) runs at O(n log n) total work.
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= len(self._runs[-1][0]):
            (ids_b, pages_b), (ids_a, pages_a) = self._runs.pop(), self._runs.pop()
            merged_ids = np.concatenate([ids_a, ids_b])
            merged_order = np.argsort(merged_ids, kind="stable")  # two sorted runs: linear
            self._runs.append(
                (merged_ids[merged_order], np.concatenate([pages_a, pages_b])[merged_order])
            )


def _seen_before(ids: IdArray, earlier: PageArray, page: int) -> str:
    """The message for a page some of whose customers came on earlier pages."""
    repeated = np.flatnonzero(earlier)
    first = repeated[0]
    customer, before = int(ids[first]), int(earlier[first])
    if len(repeated) == len(ids):
        pages = sorted({int(p) for p in earlier})
        named = f"page {pages[0]}" if len(pages) == 1 else f"pages {pages[0]}-{pages[-1]}"
        return (
            f"Page {page} repeats customers already loaded from {named} (all {len(ids)} of "
            f"them, such as customer {customer}): the server says has_more: true but serves no "
            "new customers, so paging was stopped instead of going on forever. " + _AGAIN
        )
    return (
        f"Customer {customer} is on page {before} and again on page {page} ({len(repeated)} "
        f"of page {page}'s {len(ids)} customers were already loaded): the account changed "
        "while it was being loaded. Offset paging shifts when customers are added or deleted "
        "during a load, so a customer can appear twice and another be skipped, and these "
        "pages may be missing customers. Nothing from this load was kept; load again "
        "(cm.read_customers(client, refresh=True)) when the account is not being changed"
    )
