"""One exception tree for everything cm_frames raises.

``APIError`` subclasses carry what the server said (status, message, body) and which
request it was (method, URL), never credentials. ``status_to_error`` is the single place
that maps an HTTP status to its class.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "BadRequest",
    "ChartMogulError",
    "NotFound",
    "PagingError",
    "RateLimited",
    "RemovalWarning",
    "RequestFailed",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "ValidationError",
    "error_for_status",
]


class ChartMogulError(Exception):
    """Base of every error cm_frames raises."""


class APIError(ChartMogulError):
    """The API answered with an error status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        method: str = "",
        url: str = "",
        body: Any = None,
        hint: str = "",
    ) -> None:
        self.status = status
        self.message = message
        self.method = method
        self.url = url
        self.body = body
        self.hint = hint
        super().__init__(self._text())

    def _text(self) -> str:
        where = f" ({self.method} {self.url})" if self.method else ""
        text = f"HTTP {self.status}{where}: {self.message}"
        return f"{text}. {self.hint}" if self.hint else text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments need an explicit recipe to survive pickling (multiprocessing).
        return (_rebuild_api_error, (type(self), self.status, self.message, self.__dict__))


def _rebuild_api_error(
    cls: type[APIError], status: int, message: str, state: dict[str, Any]
) -> APIError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._text())
    return error


class PagingError(APIError):
    """The list pages of a load do not fit together, so they are not the account.

    A page that is not the one asked for, larger than its ``per_page``, empty or repeated
    while it says ``has_more: true``, or with customers already loaded from another page.
    An ``APIError`` with the status of the page's answer (200): the server answered, but
    not as the API pages. Nothing from the load is kept.

    Parameters
    ----------
    message : str
        What is wrong with the page, and what to do.
    status : int, optional
        The HTTP status of the answer (200).
    method, url : str, optional
        The request, when the check knows it (the client's); without them the error's text
        is the message alone (the decoder's checks, which see only the bodies).
    body : object, optional
        The answer's body, if kept.
    hint : str, optional
        What to do, appended to the text.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 200,
        method: str = "",
        url: str = "",
        body: Any = None,
        hint: str = "",
    ) -> None:
        super().__init__(status, message, method=method, url=url, body=body, hint=hint)

    def _text(self) -> str:
        if self.method:
            return super()._text()
        return f"{self.message}. {self.hint}" if self.hint else self.message


class BadRequest(APIError):
    """400: the request was malformed (a missing or wrong parameter)."""


class Unauthorized(APIError):
    """401: the account token or secret key was missing or wrong."""


class RequestFailed(APIError):
    """402: the parameters were valid but the request failed (for example an unknown key)."""


class NotFound(APIError):
    """404: the customer (or email) does not exist in this account."""


class RateLimited(APIError):
    """429: too many requests, still refused after every retry."""


class ServerError(APIError):
    """5xx: something went wrong on the server's side, still failing after every retry."""


class TransportError(ChartMogulError):
    """The request never got an HTTP answer (connection refused or dropped, timeout, bad TLS)."""

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        self.method = method
        self.url = url
        where = f" ({method} {url})" if method else ""
        super().__init__(f"{message}{where}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_transport_error, (type(self), self.__dict__, str(self)))


def _rebuild_transport_error(
    cls: type[TransportError], state: dict[str, Any], text: str
) -> TransportError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, text)
    return error


class ValidationError(ChartMogulError, ValueError):
    """Our own check failed before anything was sent; the message says what and how to fix it."""


class RemovalWarning(UserWarning):
    """A plan removes a large share of an attribute's values: check that this is meant.

    Removing is what NA means in an edited ``custom.*`` column (and False in a ``tag.*``
    column), and a Series assigned from a subset of rows leaves every other row NA. Silence it
    with ``warnings.simplefilter("ignore", cm.RemovalWarning)`` when the removal is intended.
    """


_STATUS_ERRORS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    402: RequestFailed,
    404: NotFound,
    429: RateLimited,
}

_HINTS: dict[type[APIError], str] = {
    Unauthorized: (
        "Check the account token and secret key (arguments to cm.Client, or "
        "CHARTMOGUL_ACCOUNT_TOKEN / CHARTMOGUL_SECRET_KEY)"
    ),
    RateLimited: "The service kept throttling; lower rate_limit or max_workers and try again",
}


def error_for_status(
    status: int, message: str, *, method: str = "", url: str = "", body: Any = None
) -> APIError:
    """Build the exception for an HTTP error status (the one status → class mapping)."""
    if status >= 500:
        cls: type[APIError] = ServerError
    else:
        cls = _STATUS_ERRORS.get(status, APIError)
    return cls(status, message, method=method, url=url, body=body, hint=_HINTS.get(cls, ""))
