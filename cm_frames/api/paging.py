"""Whether a list page is acceptable: the one module that decides, raising ``PagingError``.

Each page must be the page asked for, hold at most ``per_page`` customers, not be empty or a
repeat while it says ``has_more: true``, and list each customer once across the whole load.

The API pages by offset (``?page=N&per_page=K``), with no total and no snapshot. A customer
added or deleted while an account is being loaded shifts every later offset by one, so one
customer shows up on two pages and another can be skipped; a server or proxy that keeps saying
``has_more: true`` serves the same customers again. Either way the pages are not the account.
These checks make that an error naming the customer and the pages; a silent dedupe would hide
the customer that was skipped.

``SeenIds`` remembers every id of a load with the page it came on, as sorted numpy runs merged
like a binary counter: 6 bytes per customer (offsets from each run's smallest id, and pages,
in the fewest bytes that hold them), and each page is checked against O(log pages) runs (none
whose ids lie outside the page's). That stays small for the largest accounts and for the
bounded-memory Parquet stream, whose decoder is emptied every part.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from cm_frames.errors import PagingError

__all__ = [
    "PAGING_HINT",
    "PageSequence",
    "PageSummary",
    "SeenIds",
    "check_page",
    "check_page_size",
    "entry_ids",
    "page_fields",
    "page_has_more",
    "summarise_page",
]

_AGAIN = (
    "Nothing from this load was kept. Load again (cm.read_customers(client, refresh=True)); if "
    "it keeps happening, the API's paging is broken: report it to ChartMogul support"
)

IdArray = np.ndarray[Any, np.dtype[np.int64]]
PageArray = np.ndarray[Any, np.dtype[np.unsignedinteger[Any]]]
#: A run's sorted ids, as uint32 offsets from its smallest id or as int64 ids.
OffsetArray = np.ndarray[Any, np.dtype[np.uint32 | np.int64]]


# What the client's refusals of a page advise (the decoder's checks say it in their message).
PAGING_HINT = (
    "Nothing from this load was kept. Load again (cm.read_customers(client, refresh=True)); "
    "if it keeps happening, check base_url and any proxy in between, or report it to "
    "ChartMogul support"
)


def check_page_size(entries: int, per_page: object, where: str) -> None:
    """Refuse a page with more customers than its ``per_page``: its paging cannot be trusted.

    Parameters
    ----------
    entries : int
        The customers the page holds.
    per_page : object
        The page's own ``per_page`` field (not checked unless an int).
    where : str
        The page, for the message (such as ``"page 3"``).

    Raises
    ------
    PagingError
        ``entries`` is more than ``per_page``.

    Examples
    --------
    >>> check_page_size(2, 2, "page 1")
    >>> check_page_size(3, 2, "page 3")
    Traceback (most recent call last):
    ...
    cm_frames.errors.PagingError: The page 3 holds 3 customers but per_page is 2: ...
    """
    if type(per_page) is int and entries > per_page:
        raise PagingError(
            f"The {where} holds {entries} customers but per_page is {per_page}: the server is "
            "not paging as documented, so customers could be missing or repeated. " + _AGAIN
        )


# The top-level keys of a list page follow its "entries" array in the API's documents, so the
# last "]" ends the customers (``page_has_more`` and ``page_fields`` rely on it).
_PAGE = re.compile(rb'"page"\s*:\s*(-?[0-9]+)')
_PER_PAGE = re.compile(rb'"per_page"\s*:\s*(-?[0-9]+)')


def page_fields(body: bytes) -> tuple[int | None, int | None] | None:
    """``page`` and ``per_page`` of a raw list page from its tail (None for an absent field).

    Parameters
    ----------
    body : bytes
        The raw list page.

    Returns
    -------
    tuple of (int or None, int or None), or None
        The two fields; None when the tail is not conclusive (a field named twice, or the
        keys in another order): the caller then decodes the page.

    Examples
    --------
    >>> page_fields(b'{"entries":[],"has_more":false,"per_page":50,"page":3}')
    (3, 50)
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
    """Every customer id of a load so far, and the page each came on.

    Examples
    --------
    >>> seen = SeenIds()
    >>> seen.add([1, 2], page=1)
    >>> seen.add([2, 3], page=2)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    PagingError: Customer 2 is on page 1 and again on page 2 ...
    """

    def __init__(self) -> None:
        self._runs: list[_Run] = []

    def __len__(self) -> int:
        return sum(len(run.offsets) for run in self._runs)

    def add(self, ids: IdArray | list[int], page: int) -> None:
        """Record the ids of ``page``; raise if one is on it twice or was on an earlier page.

        Parameters
        ----------
        ids : array of int64 or list of int
            The customer ids of the page, in page order.
        page : int
            The page's number.

        Raises
        ------
        PagingError
            A customer is on the page twice, or was on an earlier page. The page's ids are
            not recorded then.
        """
        page_ids: IdArray = np.asarray(ids, dtype=np.int64)
        if not len(page_ids):
            return
        order = np.argsort(page_ids, kind="stable")
        sorted_ids = page_ids[order]
        twice = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
        if len(twice):
            raise PagingError(
                f"Customer {sorted_ids[twice[0]]} appears twice on page {page}: a page lists "
                "each customer once, so this one cannot be trusted. " + _AGAIN
            )
        earlier = np.zeros(len(sorted_ids), dtype=np.int64)  # 0: not seen before
        for run in self._runs:
            # Only the page's ids within the run's range can be in it: ids that only grow
            # (the API's usual order) never meet an older run.
            first = int(np.searchsorted(sorted_ids, run.low))
            stop = int(np.searchsorted(sorted_ids, run.high, side="right"))
            if first == stop:
                continue
            keys = (sorted_ids[first:stop] - run.base).astype(run.offsets.dtype)
            position = np.minimum(np.searchsorted(run.offsets, keys), len(run.offsets) - 1)
            hit = run.offsets[position] == keys
            earlier[first:stop][hit] = run.pages[position[hit]]
        if earlier.any():
            in_page_order = np.empty_like(earlier)
            in_page_order[order] = earlier
            raise PagingError(_seen_before(page_ids, in_page_order, page))
        self._runs.append(_Run.of_page(sorted_ids, page))
        # Binary-counter merging keeps O(log pages) runs at O(n log n) total work. (Capping
        # the runs' size to bound a merge's memory made a random-order load of 10,000,000
        # customers 4.6x slower: each page is then searched in dozens of large runs.)
        while len(self._runs) > 1 and len(self._runs[-2].offsets) <= len(self._runs[-1].offsets):
            newer = self._runs.pop()
            self._runs.append(_merge(self._runs.pop(), newer))


@dataclass(slots=True)
class _Run:
    """Sorted ids as offsets from the smallest, with the page of each.

    Offsets take four bytes while the run's ids span less than ``_NARROW_SPAN`` (ids less
    than four billion apart), else eight (``base`` 0); pages take two bytes while they fit
    (the first 13 million customers, 200 a page), else four: 6 bytes a customer, against 12
    as int64 ids and int32 pages.
    """

    base: int
    offsets: OffsetArray
    pages: PageArray

    @classmethod
    def of_page(cls, sorted_ids: IdArray, page: int) -> _Run:
        low, high = int(sorted_ids[0]), int(sorted_ids[-1])
        offsets: OffsetArray
        if high - low < _NARROW_SPAN:
            offsets, base = (sorted_ids - low).astype(np.uint32), low
        else:
            offsets, base = sorted_ids, 0
        page_type = np.uint16 if page <= np.iinfo(np.uint16).max else np.uint32
        return cls(base, offsets, np.full(len(sorted_ids), page, dtype=page_type))

    @property
    def low(self) -> int:
        return self.base + int(self.offsets[0])

    @property
    def high(self) -> int:
        return self.base + int(self.offsets[-1])

    def rebase(self, base: int, dtype: np.dtype[Any]) -> None:
        """Offsets from ``base`` (at most the run's own) as ``dtype``, in place when they can."""
        shift = self.base - base
        if self.offsets.dtype == dtype:
            if shift:
                self.offsets += self.offsets.dtype.type(shift)
        else:  # only ever widened, to int64 ids (base 0)
            self.offsets = self.offsets.astype(np.int64) + shift
        self.base = base


def _merge(older: _Run, newer: _Run) -> _Run:
    """One sorted run of two, built in place of a sort of their concatenation.

    Holds the two runs, the result and a mask of it (one byte an id): the largest merge of a
    long load (two runs of half its customers) was its peak of memory when it concatenated,
    sorted and gathered (34 MB at 1,000,000 customers, against 11 MB so). Both runs are
    shifted to the merged run's base in place; they are not used after.
    """
    low, high = min(older.low, newer.low), max(older.high, newer.high)
    narrow = high - low < _NARROW_SPAN
    base, dtype = (low, np.dtype(np.uint32)) if narrow else (0, np.dtype(np.int64))
    older.rebase(base, dtype)
    newer.rebase(base, dtype)
    size = len(older.offsets) + len(newer.offsets)
    offsets = np.empty(size, dtype=dtype)
    pages: PageArray = np.empty(size, dtype=np.result_type(older.pages, newer.pages))
    from_older = np.ones(size, dtype=bool)
    for start in range(0, len(newer.offsets), _MERGE_STEP):
        chunk = slice(start, start + _MERGE_STEP)
        # add() refused every id seen before, so the runs share none: each newer id lands
        # after the older ids below it and the newer ids before it.
        to_newer = np.searchsorted(older.offsets, newer.offsets[chunk])
        to_newer += np.arange(start, start + len(to_newer))
        offsets[to_newer] = newer.offsets[chunk]
        pages[to_newer] = newer.pages[chunk]
        from_older[to_newer] = False
    offsets[from_older] = older.offsets
    pages[from_older] = older.pages
    return _Run(base, offsets, pages)


# Narrow offsets while a run's ids span less than this (2**32 - 1 itself never occurs).
_NARROW_SPAN = 2**32 - 1
# Newer ids placed this many at a time: their positions cost 8 bytes each while they last.
_MERGE_STEP = 1 << 16


def _seen_before(ids: IdArray, earlier: IdArray, page: int) -> str:
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


# The top-level keys of a page follow its "entries" array in the API's documents, so the last
# "has_more" after the last "]" is the page's own flag, not a customer's custom key.
_HAS_MORE = re.compile(rb'"has_more"\s*:\s*(true|false)')
# Below this size a page is decoded fully: cheap, and the only way to count its entries
# (an empty page is about 60 bytes; a page of even one customer is far larger).
_SMALL_PAGE = 4096


def page_has_more(body: bytes) -> tuple[bool, int | None]:
    """``has_more`` of a customers page and, when the page was decoded, its number of entries.

    Large pages are only scanned at their tail (the Arrow read path decodes them anyway);
    the page is decoded in full when it is small or the tail does not hold the flag.

    Parameters
    ----------
    body : bytes
        The raw list page.

    Returns
    -------
    tuple of (bool, int or None)
        ``has_more``, and the number of entries (None when the page was not decoded).

    Raises
    ------
    ValueError
        The page is not JSON, or not an object with an ``entries`` list.

    Examples
    --------
    >>> page_has_more(b'{"entries": [{"id": 1}, {"id": 2}], "has_more": true}')
    (True, 2)
    """
    if len(body) >= _SMALL_PAGE:
        tail = body[body.rfind(b"]") + 1 :]
        found = _HAS_MORE.findall(tail)
        if len(found) == 1:
            return found[0] == b"true", None
    page = json.loads(body)
    if not isinstance(page, dict) or not isinstance(page.get("entries"), list):
        raise ValueError("a customers page must be a JSON object with an 'entries' list")
    return bool(page.get("has_more", False)), len(page["entries"])


@dataclass(frozen=True, slots=True)
class PageSummary:
    """What the paging checks need of one list page.

    Attributes
    ----------
    payload : bytes or dict
        The page: its raw body, or the decoded document.
    has_more : bool
        The page's ``has_more``.
    entries : int or None
        How many customers it holds (None for a raw page that was not decoded).
    fields : tuple
        Its own ``page`` and ``per_page`` fields (None where absent).

    Examples
    --------
    >>> summary = summarise_page(b'{"entries": [{"id": 1}], "has_more": false}', raw=True)
    >>> summary.has_more, summary.entries, summary.fields
    (False, 1, (None, None))
    """

    payload: Any
    has_more: bool
    entries: int | None
    fields: tuple[Any, Any]


def summarise_page(content: bytes, *, raw: bool) -> PageSummary:
    """Read a list page's ``has_more``, size and own ``page``/``per_page``.

    A large raw page is only scanned at its tail (``page_has_more``); it is decoded in full
    when the tail is not conclusive, or when the body does not end as a JSON object does (a
    page cut short after its has_more).

    Parameters
    ----------
    content : bytes
        The answer's body.
    raw : bool
        Keep the body as the payload (True) or the decoded document (False).

    Returns
    -------
    PageSummary
        The page's ``has_more``, entries, fields and decoded payload.

    Raises
    ------
    ValueError
        The body is not JSON, or not an object with an ``entries`` list.

    Examples
    --------
    >>> body = b'{"entries": [{"id": 1}, {"id": 2}], "has_more": true, "page": 1, "per_page": 2}'
    >>> summary = summarise_page(body, raw=False)
    >>> summary.has_more, summary.entries, summary.fields, summary.payload["entries"][0]
    (True, 2, (1, 2), {'id': 1})
    """
    if raw:
        has_more, entries = page_has_more(content)
        fields = page_fields(content)
        if entries is None and fields is not None and content.rstrip().endswith(b"}"):
            return PageSummary(content, has_more, None, fields)
        document = json.loads(content)
        if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
            raise ValueError("a customers page must be a JSON object with an 'entries' list")
        fields = (document.get("page"), document.get("per_page"))
        return PageSummary(
            content, bool(document.get("has_more", False)), len(document["entries"]), fields
        )
    payload = json.loads(content)
    if not isinstance(payload, dict) or not isinstance(payload.get("entries"), list):
        raise ValueError("expected an object with an 'entries' list")
    return PageSummary(
        payload,
        bool(payload.get("has_more", False)),
        len(payload["entries"]),
        (payload.get("page"), payload.get("per_page")),
    )


def check_page(
    summary: PageSummary, page: int, per_page: int, *, status: int = 200, url: str = ""
) -> None:
    """Refuse a page whose own fields contradict the request, or that holds too many customers.

    Parameters
    ----------
    summary : PageSummary
        The page (``summarise_page``).
    page, per_page : int
        What was asked for.
    status : int, optional
        The answer's HTTP status.
    url : str, optional
        The request's URL, for the error.

    Raises
    ------
    PagingError
        The page is another page or of another size than asked, or holds more than
        ``per_page`` customers.

    Examples
    --------
    >>> summary = summarise_page(b'{"entries": [{"id": 1}, {"id": 2}], "has_more": true, "page": 1, "per_page": 2}', raw=False)
    >>> check_page(summary, 1, 2)
    >>> check_page(summary, 2, 2)
    Traceback (most recent call last):
    ...
    cm_frames.errors.PagingError: HTTP 200 (GET ): asked for page 2 of customers, the answer is page 1 ...
    """
    problem = _page_mismatch(page, per_page, summary.fields)
    if problem is None and summary.entries is not None and summary.entries > per_page:
        problem = (
            f"page {page} of customers holds {summary.entries} customers but per_page is "
            f"{per_page}: the server is not paging as documented, so customers could be "
            "missing or repeated"
        )
    if problem is not None:
        raise PagingError(problem, status=status, method="GET", url=url, hint=PAGING_HINT)


def entry_ids(entries: list[Any]) -> list[int]:
    """The integer ids of decoded customers (malformed ones are the decoder's to report).

    Parameters
    ----------
    entries : list
        The decoded ``entries`` of a page.

    Returns
    -------
    list of int
        The ids that are int64 integers, in page order.

    Examples
    --------
    >>> entry_ids([{"id": 1}, {"id": "x"}, "not a customer", {"id": 2}])
    [1, 2]
    """
    ids = (entry.get("id") if isinstance(entry, dict) else None for entry in entries)
    return [i for i in ids if type(i) is int and -(2**63) <= i < 2**63]


class PageSequence:
    """The pages of one iteration, checked in order so that paging always ends.

    Decoded pages are checked for customers seen before (``SeenIds``); raw pages by the
    decoder that parses them (``PageDecoder``), and here only for a page repeated byte for
    byte.

    Parameters
    ----------
    raw : bool
        Whether the payloads are raw bodies (else decoded documents).

    Examples
    --------
    >>> summary = summarise_page(b'{"entries": [{"id": 1}, {"id": 2}], "has_more": true, "page": 1, "per_page": 2}', raw=False)
    >>> pages = PageSequence(raw=False)
    >>> pages.check(1, summary, url="customers?page=1")
    >>> pages.check(2, summary, url="customers?page=2")
    Traceback (most recent call last):
    ...
    cm_frames.errors.PagingError: Page 2 repeats customers already loaded from page 1 ...
    """

    def __init__(self, *, raw: bool) -> None:
        self._raw = raw
        self._seen = SeenIds()
        self._previous: bytes = b""
        self._previous_end = -1

    def check(self, page: int, summary: PageSummary, *, url: str) -> None:
        """Refuse ``page`` if it cannot follow the pages before it.

        Parameters
        ----------
        page : int
            Its number (pages are checked in order, from 1).
        summary : PageSummary
            The page.
        url : str
            Its URL, for the error.

        Raises
        ------
        PagingError
            The page is empty or a byte-for-byte repeat of the previous one and says
            ``has_more: true``, or (decoded pages) repeats a customer.
        """
        has_more = summary.has_more
        if has_more and summary.entries == 0:
            raise PagingError(
                f"page {page} of customers is empty but says has_more: true; "
                "stopped instead of paging forever",
                method="GET",
                url=url,
                hint=PAGING_HINT,
            )
        if self._raw:
            payload: bytes = summary.payload
            end = payload.rfind(b"]") + 1
            # Lengths first: slicing copies the page, and pages of equal length are rare.
            if (
                has_more
                and end == self._previous_end
                and payload[:end] == self._previous[: self._previous_end]
            ):
                raise PagingError(
                    f"page {page} of customers holds exactly the customers of page "
                    f"{page - 1} and says has_more: true; stopped instead of "
                    "paging forever",
                    method="GET",
                    url=url,
                    hint=PAGING_HINT,
                )
            self._previous, self._previous_end = payload, end
        else:
            self._seen.add(entry_ids(summary.payload["entries"]), page)


def _page_mismatch(page: int, per_page: int, fields: tuple[Any, Any]) -> str | None:
    """Why a list page's own ``page``/``per_page`` fields contradict the request, or None."""
    got_page, got_per_page = fields
    if type(got_page) is int and got_page != page:
        return (
            f'asked for page {page} of customers, the answer is page {got_page} (its "page" '
            "field): the server or a proxy ignored the page parameter (a cache that drops "
            "query strings does this), so paging was stopped instead of loading the same "
            "customers again"
        )
    if type(got_per_page) is int and got_per_page != per_page:
        return (
            f"asked for {per_page} customers per page, the answer has per_page {got_per_page}: "
            "pages of another size than asked cannot be put together without gaps or repeats"
        )
    return None
