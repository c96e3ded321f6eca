"""SeenIds and the page checks of ``cm_frames.api.paging``, against a plain dict as the model."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cm_frames.api.paging import PageSequence, SeenIds, _merge, _Run, summarise_page
from cm_frames.errors import PagingError

# Pages of distinct ids drawn from a small range, so that repeats across pages are common.
pages_of_ids = st.lists(
    st.lists(st.integers(-50, 400), min_size=1, max_size=12, unique=True),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(pages_of_ids)
def test_seen_ids_refuses_exactly_the_first_repeat_and_names_its_earlier_page(
    pages: list[list[int]],
) -> None:
    seen = SeenIds()
    first_page: dict[int, int] = {}
    for number, ids in enumerate(pages, start=1):
        repeated = [i for i in ids if i in first_page]
        if not repeated:
            seen.add(ids, number)
            first_page.update(dict.fromkeys(ids, number))
            assert len(seen) == len(first_page)
            continue
        with pytest.raises(PagingError) as refused:
            seen.add(ids, number)
        message = str(refused.value)
        if len(repeated) == len(ids):
            assert f"Page {number} repeats customers already loaded" in message
        else:
            customer = repeated[0]
            assert f"Customer {customer} is on page {first_page[customer]} and again" in message
        # A refused page is not recorded: the same ids are still new to the runs.
        assert len(seen) == len(first_page)
        return


@settings(max_examples=200, deadline=None)
@given(
    st.sets(st.integers(-(2**63), 2**63 - 1), min_size=2, max_size=300)
    | st.sets(st.integers(10**9, 10**9 + 5000), min_size=2, max_size=300),
    st.data(),
)
def test_merge_gives_the_sorted_union_with_each_id_s_page(
    ids: set[int], data: st.DataObject
) -> None:
    # Narrow runs (uint32 offsets) and wide ones (int64 ids), merged into either.
    values = sorted(ids)
    older_mask = data.draw(
        st.lists(st.booleans(), min_size=len(values), max_size=len(values)).filter(
            lambda mask: any(mask) and not all(mask)
        )
    )
    older = np.array([v for v, o in zip(values, older_mask, strict=True) if o], dtype=np.int64)
    newer = np.array([v for v, o in zip(values, older_mask, strict=True) if not o], np.int64)
    merged = _merge(_Run.of_page(older, 1), _Run.of_page(newer, 70_000))
    assert (merged.offsets.astype(object) + merged.base).tolist() == values
    assert merged.pages.tolist() == [1 if o else 70_000 for o in older_mask]
    narrow = values[-1] - values[0] < 2**32 - 1
    assert merged.offsets.dtype == (np.uint32 if narrow else np.int64)


def test_ids_spanning_more_than_four_billion_are_kept_and_found_exactly() -> None:
    seen = SeenIds()
    seen.add([3, 2**40], page=1)
    seen.add([-(2**62), 7], page=2)
    seen.add([2**62, 5], page=3)
    assert seen._runs[0].offsets.dtype == np.int64
    with pytest.raises(PagingError, match=f"Customer {2**40} is on page 1 and again on page 4"):
        seen.add([11, 2**40], page=4)
    with pytest.raises(PagingError, match="Customer -4611686018427387904 is on page 2 and again"):
        seen.add([1, -(2**62)], page=4)


def test_a_page_number_beyond_two_bytes_is_kept_exactly() -> None:
    seen = SeenIds()
    seen.add([5], page=65_535)
    seen.add([6], page=70_000)
    with pytest.raises(PagingError, match="Customer 6 is on page 70000 and again on page 70001"):
        seen.add([7, 6], page=70_001)


def test_a_repeat_within_one_page_is_refused() -> None:
    with pytest.raises(PagingError, match="Customer 3 appears twice on page 1"):
        SeenIds().add([3, 4, 3], page=1)


def test_ascending_ids_are_checked_against_every_overlapping_run() -> None:
    # Ids that grow skip older runs by their range; one that goes back must still be found.
    seen = SeenIds()
    for page in range(1, 41):
        seen.add(list(range(page * 10, page * 10 + 10)), page)
    with pytest.raises(PagingError, match="Customer 125 is on page 12 and again on page 41"):
        seen.add([1000, 125], page=41)


def test_a_raw_page_repeated_byte_for_byte_is_refused_when_it_says_has_more() -> None:
    body = b'{"entries": [' + b'{"id": 1, "name": "x"},' * 200 + b'{"id": 2}], "has_more": true}'
    pages = PageSequence(raw=True)
    pages.check(1, summarise_page(body, raw=True), url="customers?page=1")
    # Same length, other bytes: a new page.
    other = body.replace(b'"id": 2}', b'"id": 3}')
    pages.check(2, summarise_page(other, raw=True), url="customers?page=2")
    with pytest.raises(PagingError, match=re.escape("page 3 of customers holds exactly")):
        pages.check(3, summarise_page(other, raw=True), url="customers?page=3")
