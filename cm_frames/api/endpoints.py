"""The URL shapes of the Enrichment API's customer endpoints, written once.

Every path is relative to the base URL (``https://api.chartmogul.com/v1/``). The client's
endpoint methods and write-back's requests build them here; the HTTP cache reads them back
with ``parse_path``, the one parser of these shapes.

=================================== ======================================================
path                                endpoint
=================================== ======================================================
``customers``                       ``LIST``: one page of customers (GET)
``customers/search``                ``SEARCH``: customers by email (GET ``?email=``)
``customers/{ref}``                 ``customer_path``: one customer (GET)
``customers/{ref}/attributes``      ``attributes_path``: its attributes (GET)
``customers/{ref}/attributes/{s}``  ``section_path``: write its tags or custom attributes
``customers/attributes/{s}``        ``by_email_path``: write those of every customer with
                                    an email (POST, the email in the body)
=================================== ======================================================

``ref`` is a customer's ChartMogul id or its uuid (``customer_ref`` checks it); ``s`` is a
``Section``, ``"tags"`` or ``"custom"``.
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass
from typing import Final, Literal

from cm_frames.errors import ValidationError

__all__ = [
    "LIST",
    "RESERVED_REFS",
    "SEARCH",
    "ParsedPath",
    "PathKind",
    "Section",
    "attributes_path",
    "by_email_path",
    "customer_path",
    "customer_ref",
    "parse_path",
    "section_path",
]

LIST: Final = "customers"
SEARCH: Final = "customers/search"

Section = Literal["tags", "custom"]

# Words that would address another endpoint in the place of a customer's ref.
RESERVED_REFS: Final = frozenset({"search", "attributes"})
_REF = r"[A-Za-z0-9_-]+"
_REF_PATTERN = re.compile(_REF)


def customer_ref(customer_id: int | str) -> str:
    """The path segment for a customer: its ChartMogul id, or its uuid.

    Parameters
    ----------
    customer_id : int or str
        A ChartMogul customer id (an int >= 0) or a customer uuid (``[A-Za-z0-9_-]+``,
        not ``"search"`` or ``"attributes"``).

    Returns
    -------
    str
        The segment.

    Raises
    ------
    ValidationError
        Neither an id nor a uuid.

    Examples
    --------
    >>> customer_ref(25647)
    '25647'
    """
    if type(customer_id) is int and customer_id >= 0:
        # The common case, first: an ABC isinstance per request slowed plan.requests() by ~9%.
        return str(customer_id)
    if isinstance(customer_id, numbers.Integral) and not isinstance(customer_id, bool):
        if int(customer_id) >= 0:
            return str(int(customer_id))
    elif (
        isinstance(customer_id, str)
        and _REF_PATTERN.fullmatch(customer_id)
        and customer_id not in RESERVED_REFS
    ):
        return customer_id
    raise ValidationError(
        "customer_id must be a ChartMogul customer id (an int such as 25647) or a customer "
        f"uuid (such as 'cus_de305d54-75b4-431b-adb2-eb6b9e546012'), got {customer_id!r}"
    )


def customer_path(customer_id: int | str) -> str:
    """``customers/{ref}``: one customer.

    Parameters
    ----------
    customer_id : int or str
        Its ChartMogul id or uuid (see ``customer_ref``).

    Returns
    -------
    str
        The customer's path, relative to the ``/v1/`` base.

    Raises
    ------
    ValidationError
        ``customer_id`` is neither an id nor a uuid.

    Examples
    --------
    >>> customer_path(25647)
    'customers/25647'
    """
    return f"{LIST}/{customer_ref(customer_id)}"


def attributes_path(customer_id: int | str) -> str:
    """``customers/{ref}/attributes``: a customer's attributes.

    Parameters
    ----------
    customer_id : int or str
        Its ChartMogul id or uuid (see ``customer_ref``).

    Returns
    -------
    str
        The path of the customer's attributes.

    Raises
    ------
    ValidationError
        ``customer_id`` is neither an id nor a uuid.

    Examples
    --------
    >>> attributes_path(25647)
    'customers/25647/attributes'
    """
    return f"{LIST}/{customer_ref(customer_id)}/attributes"


def section_path(customer_id: int | str, section: Section) -> str:
    """``customers/{ref}/attributes/{section}``: write a customer's tags or custom attributes.

    Parameters
    ----------
    customer_id : int or str
        Its ChartMogul id or uuid (see ``customer_ref``).
    section : {"tags", "custom"}
        Which attributes.

    Returns
    -------
    str
        The path of the customer's tags or custom attributes.

    Raises
    ------
    ValidationError
        ``customer_id`` is neither an id nor a uuid, or ``section`` is not a section.

    Examples
    --------
    >>> section_path(25647, "tags")
    'customers/25647/attributes/tags'
    """
    # One f-string, not attributes_path(): plan.requests() builds one path per request.
    return f"{LIST}/{customer_ref(customer_id)}/attributes/{_section(section)}"


def by_email_path(section: Section) -> str:
    """``customers/attributes/{section}``: write those of every customer with an email.

    The email goes in the request's body (``{"email": ..., ...}``).

    Parameters
    ----------
    section : {"tags", "custom"}
        Which attributes.

    Returns
    -------
    str
        The by-email path of the section.

    Raises
    ------
    ValidationError
        ``section`` is not a section.

    Examples
    --------
    >>> by_email_path("custom")
    'customers/attributes/custom'
    """
    return f"{LIST}/attributes/{_section(section)}"


def _section(section: str) -> str:
    if section not in ("tags", "custom"):
        raise ValidationError(f"section must be 'tags' or 'custom', got {section!r}")
    return section


PathKind = Literal["list", "search", "customer", "attributes", "section", "by_email", "other"]

_CUSTOMER = re.compile(rf"customers/(?P<ref>{_REF})")
_ATTRIBUTES = re.compile(rf"customers/(?P<ref>{_REF})/attributes")
_SECTION = re.compile(rf"customers/(?P<ref>{_REF})/attributes/.*")
_BY_EMAIL = re.compile(r"customers/attributes(?:/.*)?")
_BY_REF: tuple[tuple[PathKind, re.Pattern[str]], ...] = (
    ("customer", _CUSTOMER),
    ("attributes", _ATTRIBUTES),
    ("section", _SECTION),
)


@dataclass(frozen=True, slots=True)
class ParsedPath:
    """What a relative path addresses (``parse_path``).

    Attributes
    ----------
    kind : str
        ``"list"``, ``"search"``, ``"customer"`` (``customers/{ref}``), ``"attributes"``
        (``customers/{ref}/attributes``), ``"section"`` (anything below that),
        ``"by_email"`` (``customers/attributes`` and anything below it) or ``"other"``.
    ref : str or None
        The customer's id or uuid as written in the path (for the three kinds by ref).

    Examples
    --------
    >>> ParsedPath("section", "25647") == parse_path("customers/25647/attributes/tags")
    True
    """

    kind: PathKind
    ref: str | None = None


def parse_path(relative: str) -> ParsedPath:
    """What ``relative`` (a path below the base URL, without its query) addresses.

    Parameters
    ----------
    relative : str
        Such as ``"customers/25647/attributes/tags"``; leading and trailing slashes are
        ignored.

    Returns
    -------
    ParsedPath
        The path's kind and customer reference.

    Examples
    --------
    >>> parse_path("customers/25647/attributes")
    ParsedPath(kind='attributes', ref='25647')
    >>> parse_path("customers/attributes/tags").kind
    'by_email'
    """
    relative = relative.strip("/")
    if relative == LIST:
        return ParsedPath("list")
    if relative == SEARCH:
        return ParsedPath("search")
    for kind, pattern in _BY_REF:
        match = pattern.fullmatch(relative)
        if match and match["ref"] not in RESERVED_REFS:
            return ParsedPath(kind, match["ref"])
    if _BY_EMAIL.fullmatch(relative):
        return ParsedPath("by_email")
    return ParsedPath("other")
