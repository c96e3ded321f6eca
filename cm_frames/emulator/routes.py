"""The 11 Enrichment API endpoints: path and method to a function of the state.

Pure request handling with no HTTP machinery: ``dispatch`` takes an authenticated
request and returns the 200 body (``NO_CONTENT``: a 204), or raises a ``Problem`` (400,
402, 404, 405, and 422 in today's dialect) whose message names the parameter, field or
key. Validation runs on the whole body before the state is touched.

The state's dialect decides the answers. Today's (``state.current``): the list pages by
cursor (see ``cursors``), with filters; a path names the customer by uuid only; a valid
JSON body with a wrong value is a 422 (malformed JSON stays a 400).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from cm_frames.emulator import validation
from cm_frames.emulator.cursors import Position, decode_cursor, encode_cursor
from cm_frames.emulator.problems import BadRequestBody, NotFound, Problem, Unprocessable
from cm_frames.emulator.state import CURRENT_FILTERS, State, encode

__all__ = ["MAX_PER_PAGE", "ApiRequest", "MethodNotAllowed", "dispatch"]

MAX_PER_PAGE = 200
MAX_PAGE = 2**31 - 1  # documented in openapi.json; keeps page * per_page in SQLite's range


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One /v1 request after authentication."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    account: str
    route_args: tuple[str, ...] = field(default=())


class MethodNotAllowed(Problem):
    """405: the path exists but not with this method; ``allow`` lists the methods it has."""

    status = 405

    def __init__(self, message: str, allow: list[str]) -> None:
        super().__init__(message)
        self.allow = allow


Handler = Callable[[State, ApiRequest], bytes]


class MalformedBody(BadRequestBody):
    """400 in both dialects: no body, or a body that is not JSON."""


def _json_body(request: ApiRequest) -> Any:
    if not request.body.strip():
        raise MalformedBody("body: required (send a JSON object, Content-Type: application/json)")
    try:
        return json.loads(request.body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError
        raise MalformedBody(f"body: not valid JSON ({error})") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DIGITS = re.compile(r"[0-9]{1,18}")


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    bounds = f"between {low} and {high}"
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadRequestBody(f"{name}: must be an integer {bounds}, got {raw!r}")
    return int(raw)


def _customer_ref(request: ApiRequest) -> str:
    return unquote(request.route_args[0])


# --- the endpoints ---------------------------------------------------------------


def _per_page(query: dict[str, str]) -> int:
    """Today's per_page: 200 by default, and a larger value falls back to 200 (no error)."""
    raw = query.get("per_page")
    if raw is None:
        return MAX_PER_PAGE
    if not _DIGITS.fullmatch(raw) or int(raw) < 1:
        raise BadRequestBody(f"per_page: must be a positive integer, got {raw!r}", param="per_page")
    return min(int(raw), MAX_PER_PAGE)


def cursor_position(state: State, cursor: str) -> Position:
    """Where a cursor says the page starts after (400 for a cursor that says nowhere)."""
    if state.opaque is not None:
        return state.opaque.resolve(cursor)
    return decode_cursor(cursor)


def _issue_cursor(state: State, position: Position | None) -> str | None:
    if position is None:
        return None
    return state.opaque.issue(position) if state.opaque is not None else encode_cursor(position)


def current_page(
    state: State,
    entries: list[bytes],
    has_more: bool,
    last: Position | None,
    per_page: int,
    *,
    first: bool,
    total: int | None,
    search: bool = False,
) -> bytes:
    """A page of today's list (or search) in the recorded key order.

    The first page (no cursor) also carries the deprecated paging keys, as recorded:
    ``entries, current_page, total_pages, has_more, per_page, page, cursor`` (search's
    ``total_pages`` was recorded null); a later one only ``entries, cursor, has_more``.
    """
    cursor = encode(_issue_cursor(state, last))
    flag = b"true" if has_more else b"false"
    joined = b",".join(entries)
    if not first:
        return b'{"entries":[%s],"cursor":%s,"has_more":%s}' % (joined, cursor, flag)
    pages = b"null" if search or total is None else b"%d" % max(1, -(-total // per_page))
    return b'{"entries":[%s],"current_page":1,"total_pages":%s,"has_more":%s,' % (
        joined,
        pages,
        flag,
    ) + b'"per_page":%d,"page":1,"cursor":%s}' % (per_page, cursor)


def _current_list(state: State, request: ApiRequest, filters: dict[str, str]) -> bytes:
    per_page = _per_page(request.query)
    cursor = request.query.get("cursor")
    # ``page`` is deprecated (October 2023) and read by nothing: the cursor says where.
    after = cursor_position(state, cursor) if cursor else None
    entries, has_more, last, total = state.list_after(
        request.account, after, per_page, filters, count=after is None
    )
    search = "email" in filters
    if search and not entries and after is None:
        raise NotFound(
            f"Can't find any customers with email: {json.dumps(filters['email'])}", param="email"
        )
    return current_page(
        state, entries, has_more, last, per_page, first=after is None, total=total, search=search
    )


def list_customers(state: State, request: ApiRequest) -> bytes:
    if state.current:
        filters = {name: request.query[name] for name in CURRENT_FILTERS if name in request.query}
        return _current_list(state, request, filters)
    page = _int_param(request.query, "page", 1, 1, MAX_PAGE)
    per_page = _int_param(request.query, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    return state.list_page(request.account, page, per_page)


def search_customers(state: State, request: ApiRequest) -> bytes:
    email = request.query.get("email", "")
    if not email.strip():
        raise BadRequestBody(
            "email: required query parameter (e.g. ?email=bob@example.com)", param="email"
        )
    if state.current:
        return _current_list(state, request, {"email": email})
    return state.search(request.account, email)


def get_customer(state: State, request: ApiRequest) -> bytes:
    return state.get_customer(request.account, _customer_ref(request))


def get_attributes(state: State, request: ApiRequest) -> bytes:
    return state.get_attributes(request.account, _customer_ref(request))


def add_tags(state: State, request: ApiRequest) -> bytes:
    tags = validation.parse_tags(_json_body(request))
    return state.add_tags(request.account, _customer_ref(request), tags)


def remove_tags(state: State, request: ApiRequest) -> bytes:
    tags = validation.parse_tags(_json_body(request))
    return state.remove_tags(request.account, _customer_ref(request), tags)


def add_tags_by_email(state: State, request: ApiRequest) -> bytes:
    body = _json_body(request)
    email = validation.parse_email(body)
    tags = validation.parse_tags(body)
    return state.add_tags_by_email(request.account, email, tags)


def add_custom(state: State, request: ApiRequest) -> bytes:
    values = validation.parse_add_custom(_json_body(request), current=state.current)
    return state.add_custom(request.account, _customer_ref(request), values)


def add_custom_by_email(state: State, request: ApiRequest) -> bytes:
    body = _json_body(request)
    email = validation.parse_email(body)
    values = validation.parse_add_custom(body, current=state.current)
    return state.add_custom_by_email(request.account, email, values)


def remove_custom(state: State, request: ApiRequest) -> bytes:
    keys = validation.parse_remove_custom(_json_body(request))
    return state.remove_custom(request.account, _customer_ref(request), keys)


def update_custom(state: State, request: ApiRequest) -> bytes:
    changes = validation.parse_update_custom(_json_body(request))
    return state.update_custom(request.account, _customer_ref(request), changes)


# Order matters: the literal segments (search, attributes) before the {customer_id} ones.
ROUTES: tuple[tuple[re.Pattern[str], dict[str, Handler]], ...] = (
    (re.compile(r"/v1/customers"), {"GET": list_customers}),
    (re.compile(r"/v1/customers/search"), {"GET": search_customers}),
    (re.compile(r"/v1/customers/attributes/tags"), {"POST": add_tags_by_email}),
    (re.compile(r"/v1/customers/attributes/custom"), {"POST": add_custom_by_email}),
    (re.compile(r"/v1/customers/([^/]+)"), {"GET": get_customer}),
    (re.compile(r"/v1/customers/([^/]+)/attributes"), {"GET": get_attributes}),
    (
        re.compile(r"/v1/customers/([^/]+)/attributes/tags"),
        {"POST": add_tags, "DELETE": remove_tags},
    ),
    (
        re.compile(r"/v1/customers/([^/]+)/attributes/custom"),
        {"POST": add_custom, "DELETE": remove_custom, "PUT": update_custom},
    ),
)


# Query parameters each endpoint accepts; any other is refused (400), so that a typo such as
# ``perpage=50`` fails loudly here instead of being silently ignored.
QUERY_PARAMETERS: dict[Handler, frozenset[str]] = {
    list_customers: frozenset({"page", "per_page"}),
    search_customers: frozenset({"email"}),
}
# Today's: cursor paging and the list filters (page still accepted, and ignored).
CURRENT_QUERY_PARAMETERS: dict[Handler, frozenset[str]] = {
    list_customers: frozenset({"cursor", "page", "per_page", *CURRENT_FILTERS}),
    search_customers: frozenset({"email", "cursor", "page", "per_page"}),
}


def _check_query(handler: Handler, query: dict[str, str], current: bool = False) -> None:
    table = CURRENT_QUERY_PARAMETERS if current else QUERY_PARAMETERS
    accepted = table.get(handler, frozenset())
    unknown = sorted(set(query) - accepted)
    if unknown:
        expected = ", ".join(sorted(accepted)) or "none"
        raise BadRequestBody(
            f"{unknown[0]}: unknown query parameter (this endpoint accepts: {expected})",
            param=unknown[0],
        )


def dispatch(state: State, request: ApiRequest) -> bytes:
    """The 200 body for ``request``, or a ``Problem`` raised with its status."""
    for pattern, handlers in ROUTES:
        match = pattern.fullmatch(request.path)
        if match is None:
            continue
        handler = handlers.get(request.method)
        if handler is None:
            allowed = sorted(handlers)
            raise MethodNotAllowed(
                f"method: {request.method} is not allowed on {request.path}"
                f" (allowed: {', '.join(allowed)})",
                allowed,
            )
        _check_query(handler, request.query, state.current)
        routed = ApiRequest(
            request.method,
            request.path,
            request.query,
            request.body,
            request.account,
            match.groups(),
        )
        if not state.current or request.method == "GET":
            return handler(state, routed)
        try:
            return handler(state, routed)
        except MalformedBody:
            raise
        except BadRequestBody as problem:  # valid JSON, wrong values: today's 422
            param = problem.param or problem.message.partition(":")[0]
            raise Unprocessable(problem.message, param=param) from None
    raise NotFound(f"path: no endpoint {request.path} (see GET /_emulator/openapi.json)")
