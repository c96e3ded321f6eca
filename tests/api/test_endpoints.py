"""The URL shapes, built and parsed back in one module."""

from __future__ import annotations

import pytest

from cm_frames.api import endpoints
from cm_frames.api.endpoints import ParsedPath, parse_path
from cm_frames.errors import ValidationError


def test_paths_are_built_by_id_uuid_and_email() -> None:
    assert endpoints.customer_path(25647) == "customers/25647"
    assert endpoints.attributes_path("cus_1-a") == "customers/cus_1-a/attributes"
    assert endpoints.section_path(7, "tags") == "customers/7/attributes/tags"
    assert endpoints.by_email_path("custom") == "customers/attributes/custom"


@pytest.mark.parametrize("bad", [-1, True, "search", "attributes", "a/b", "", 2.5])
def test_a_ref_that_would_address_another_endpoint_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError, match="customer_id must be"):
        endpoints.customer_path(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="section must be"):
        endpoints.section_path(1, "stripe")  # type: ignore[arg-type]


def test_every_built_path_parses_back() -> None:
    assert parse_path(endpoints.LIST) == ParsedPath("list")
    assert parse_path(endpoints.SEARCH) == ParsedPath("search")
    assert parse_path(endpoints.customer_path(3)) == ParsedPath("customer", "3")
    assert parse_path(endpoints.attributes_path("cus_x")) == ParsedPath("attributes", "cus_x")
    assert parse_path(endpoints.section_path(3, "custom")) == ParsedPath("section", "3")
    assert parse_path(endpoints.by_email_path("tags")) == ParsedPath("by_email")
    assert parse_path("/customers/3/") == ParsedPath("customer", "3")
    for other in ("customers/search/attributes/tags", "plans", "customers/1/2", ""):
        assert parse_path(other) == ParsedPath("other"), other
