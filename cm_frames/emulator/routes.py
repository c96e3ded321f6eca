"""The 11 Enrichment API endpoints: path and method to a function of the state.

Pure request handling with no HTTP machinery: ``dispatch`` takes an authenticated
request and returns the 200 body, or raises a ``Problem`` (400, 402, 404, 405) whose
message names the parameter, field or key. Validation runs on the whole body before the
state is touched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from cm_frames.emulator import validation
from cm_frames.emulator.problems import BadRequestBody, NotFound, Problem
from cm_frames.emulator.state import State

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


def _json_body(request: ApiRequest) -> Any:
    if not request.body.strip():
        raise BadRequestBody("body: required (send a JSON object, Content-Type: application/json)")
    try:
        return json.loads(request.body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError
        raise BadRequestBody(f"body: not valid JSON ({error})") from None


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


def list_customers(state: State, request: ApiRequest) -> bytes:
    page = _int_param(request.query, "page", 1, 1, MAX_PAGE)
    per_page = _int_param(request.query, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    return state.list_page(request.account, page, per_page)


def search_customers(state: State, request: ApiRequest) -> bytes:
    email = request.query.get("email", "")
    if not email.strip():
        raise BadRequestBody("email: required query parameter (e.g. ?email=bob@example.com)")
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
    values = validation.parse_add_custom(_json_body(request))
    return state.add_custom(request.account, _customer_ref(request), values)


def add_custom_by_email(state: State, request: ApiRequest) -> bytes:
    body = _json_body(request)
    email = validation.parse_email(body)
    values = validation.parse_add_custom(body)
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


def _check_query(handler: Handler, query: dict[str, str]) -> None:
    accepted = QUERY_PARAMETERS.get(handler, frozenset())
    unknown = sorted(set(query) - accepted)
    if unknown:
        expected = ", ".join(sorted(accepted)) or "none"
        raise BadRequestBody(
            f"{unknown[0]}: unknown query parameter (this endpoint accepts: {expected})"
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
        _check_query(handler, request.query)
        routed = ApiRequest(
            request.method,
            request.path,
            request.query,
            request.body,
            request.account,
            match.groups(),
        )
        return handler(state, routed)
    raise NotFound(f"path: no endpoint {request.path} (see GET /_emulator/openapi.json)")
