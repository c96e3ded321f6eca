"""TypedDicts of the Enrichment API's wire JSON, as the client returns it (no models, no copies).

Field names follow the wire exactly, so ``customer-since`` needs the functional syntax.
Values the API leaves to the account's own data (custom, Stripe and Clearbit attributes) are
``dict[str, Any]``: their keys and types differ per account.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "Address",
    "Attributes",
    "AttributesResponse",
    "CustomAttribute",
    "CustomResponse",
    "CustomType",
    "Customer",
    "CustomerPage",
    "EntriesResponse",
    "SearchResult",
    "TagsResponse",
]

CustomType = Literal["String", "Integer", "Timestamp", "Boolean"]


class CustomAttribute(TypedDict):
    """One typed custom attribute to add (POST .../attributes/custom)."""

    type: CustomType
    key: str
    value: Any


class Address(TypedDict, total=False):
    """A customer's ``address`` object (every field may be absent or null)."""

    address_line1: str | None
    address_line2: str | None
    address_zip: str | None
    city: str | None
    country: str | None
    state: str | None


class Attributes(TypedDict, total=False):
    """A customer's ``attributes``: tags, custom attributes, and the Stripe and Clearbit data."""

    custom: dict[str, Any]
    tags: list[str]
    stripe: dict[str, Any]
    clearbit: dict[str, Any]


Customer = TypedDict(
    "Customer",
    {
        "id": int,
        "uuid": str,
        "external_id": str | None,
        "email": str | None,
        "name": str | None,
        # The by-email write endpoints return customers without an address.
        "address": NotRequired[Address],
        "customer-since": str,
        "status": str,
        "attributes": Attributes,
    },
)
# The functional form (for the key "customer-since") takes no docstring of its own.
Customer.__doc__ = """One customer object of a list page or a search result, as the API sends it.

The key ``customer-since`` is why this TypedDict uses the functional form; the by-email
write endpoints return customers without ``address``.
"""


class CustomerPage(TypedDict):
    """GET /customers: one page of customers, oldest first."""

    entries: list[Customer]
    has_more: bool
    per_page: int
    page: int


class SearchResult(TypedDict):
    """GET /customers/search: every customer with the email."""

    entries: list[Customer]
    has_more: NotRequired[bool]
    per_page: NotRequired[int]
    page: NotRequired[int]


class EntriesResponse(TypedDict):
    """POST /customers/attributes/{tags,custom}: the customers the by-email write touched."""

    entries: list[Customer]
    has_more: NotRequired[bool]
    per_page: NotRequired[int]
    page: NotRequired[int]


class AttributesResponse(TypedDict):
    """GET /customers/{id}/attributes."""

    attributes: Attributes


class TagsResponse(TypedDict):
    """POST/DELETE /customers/{id}/attributes/tags: the customer's tags after the write."""

    tags: list[str]


class CustomResponse(TypedDict):
    """POST/PUT/DELETE /customers/{id}/attributes/custom: the custom attributes after the write."""

    custom: dict[str, Any]
