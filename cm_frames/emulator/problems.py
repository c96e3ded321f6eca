"""The emulator's error responses as exceptions: a status and a message naming the field.

Raised by validation and by the state; the server turns each into
``{"code": status, "message": message}`` with that HTTP status (today's dialect adds
``"param"``, and answers a 422 as ``{"errors": {param: message}}``).
"""

from __future__ import annotations

__all__ = ["BadRequestBody", "NotFound", "Problem", "RequestFailed", "Unprocessable"]


class Problem(Exception):
    """An API error response: ``status`` and a ``message`` saying what and where."""

    status = 500

    def __init__(
        self, message: str, *, status: int | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        # The parameter at fault, for today's error shape ({"code", "message", "param"}).
        self.param = param
        if status is not None:
            self.status = status


class BadRequestBody(Problem):
    """400: the request (body or query) is malformed."""

    status = 400


class RequestFailed(Problem):
    """402: the request is well formed but cannot be done (e.g. updating a missing key)."""

    status = 402


class NotFound(Problem):
    """404: no such customer (in this account) or no such path."""

    status = 404


class Unprocessable(Problem):
    """422 (today's service): well-formed JSON whose values are wrong."""

    status = 422
