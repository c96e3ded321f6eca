"""One exception tree for everything cm_frames raises.

``APIError`` subclasses carry what the server said (status, message, body) and which
request it was (method, URL), never credentials. ``error_for_status`` is the single place
that maps an HTTP status to its class.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "BadRequest",
    "ChartMogulError",
    "Forbidden",
    "MissingCredentials",
    "NotFound",
    "PagingError",
    "RateLimited",
    "RemovalWarning",
    "RequestFailed",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "UnprocessableEntity",
    "ValidationError",
    "error_for_status",
]


class ChartMogulError(Exception):
    """Base of every error cm_frames raises: catch it to handle them all.

    Raised as itself for an answer that breaks the API's documented shape (a page that is
    not JSON, a customer without an id) or for a misused object (a closed writer); the
    message says what happened and what to do, usually to load or apply again.

    Examples
    --------
    >>> import cm_frames as cm
    >>> issubclass(cm.NotFound, cm.ChartMogulError), issubclass(cm.ValidationError, ValueError)
    (True, True)
    """


class APIError(ChartMogulError):
    """The API answered with an error status.

    The base of the status classes below (``error_for_status`` picks one); raised as itself
    for a status none of them covers (403, 422 in today's dialect). Its text names the
    request, the status, the server's message and, where one helps, a hint; the fix depends
    on the status.

    Parameters
    ----------
    status : int
        The HTTP status of the answer.
    message : str
        What the server said.
    method, url : str, optional
        The request (never with credentials).
    body : object, optional
        The answer's decoded body.
    hint : str, optional
        What to do, appended to the text.

    Examples
    --------
    >>> error = APIError(422, "Invalid key", method="POST", url="https://api.example/v1/x")
    >>> str(error), error.status
    ('HTTP 422 (POST https://api.example/v1/x): Invalid key', 422)
    """

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
    """400: the request was malformed (a missing or wrong parameter).

    Raised when the server refuses a request's shape; cm_frames checks values before
    sending, so this usually means the service's rules differ from the documented ones:
    the message says which parameter, and the fix is to change that value.
    """


class Unauthorized(APIError):
    """401: the API key (or the account token or secret key) was missing or wrong.

    Raised by the first request with bad credentials (``read_customers`` checks them even
    when it could answer from a snapshot). Fix the API key passed to ``cm.Client`` or set in
    ``CHARTMOGUL_API_KEY`` (the reference's API: the token and secret key, or
    ``CHARTMOGUL_ACCOUNT_TOKEN`` / ``CHARTMOGUL_SECRET_KEY``).
    """


class RequestFailed(APIError):
    """402: the parameters were valid but the request failed (for example an unknown key).

    Raised when the server cannot carry out a well-formed write, such as updating a custom
    key the customer does not have; the message says why. Load again and plan from the
    fresh frame.
    """


class Forbidden(APIError):
    """403: the credentials are valid but not allowed to do this (today's API).

    Raised when an API key lacks the permission a request needs, such as a read-only key
    used for a write. Use a key with write access (ChartMogul: Profile > API keys).
    """


class UnprocessableEntity(APIError):
    """422: the request was well formed but its content was refused (today's API).

    Raised when the service refuses a value (a field of the wrong type, a key it does not
    accept); the message names the field. cm_frames checks values before sending, so this
    means the service's rules differ from the documented ones: change that value.
    """


class NotFound(APIError):
    """404: the customer (or email) does not exist in this account.

    Raised when a customer was deleted since the frame was loaded, or an id or email is
    mistyped. Load again, or drop the customer from the plan.
    """


class RateLimited(APIError):
    """429: too many requests, still refused after every retry.

    The client waits (``Retry-After``) and retries on its own; this is raised only when the
    service kept throttling. Lower ``rate_limit`` or ``max_workers`` and try again.
    """


class ServerError(APIError):
    """5xx: something went wrong on the server's side, still failing after every retry.

    Raised after the client's retries with backoff ran out. Try again later; an apply
    resumes from its journal (``result.retry(client)``) without resending what was done.
    """


class TransportError(ChartMogulError):
    """The request never got an HTTP answer (connection refused or dropped, timeout, bad TLS).

    Raised after the client's retries when the network or the server is unreachable. Check
    the base URL and the connection, then try again (an apply resumes from its journal).

    Parameters
    ----------
    message : str
        What went wrong.
    method, url : str, optional
        The request.

    Examples
    --------
    >>> str(TransportError("Connection refused", method="GET", url="http://localhost:1/v1/x"))
    'Connection refused (GET http://localhost:1/v1/x)'
    """

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
    """Our own check failed before anything was sent; the message says what and how to fix it.

    Raised when a plan is made from a frame with values the API would refuse (a float in an
    Integer column, a key outside ``[A-Za-z0-9_]+``, a string over 255 characters), for a
    bad argument, or for a journal or plan file that does not fit. Also a ``ValueError``.
    Nothing was sent: fix what the message names and call again.
    """


class MissingCredentials(ValidationError):
    """No credentials were given or found in the environment.

    Raised by ``cm.Client()``. Pass ``api_key=`` (today's API) or ``token=`` and ``secret=``
    (the reference's), or set ``CHARTMOGUL_API_KEY`` (or ``CHARTMOGUL_ACCOUNT_TOKEN`` and
    ``CHARTMOGUL_SECRET_KEY``) in the environment.
    """


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
    403: Forbidden,
    404: NotFound,
    422: UnprocessableEntity,
    429: RateLimited,
}

_HINTS: dict[type[APIError], str] = {
    Unauthorized: (
        "Check the API key (cm.Client(api_key=...) or CHARTMOGUL_API_KEY), or the account "
        "token and secret key of the reference's API (cm.Client(token, secret), or "
        "CHARTMOGUL_ACCOUNT_TOKEN / CHARTMOGUL_SECRET_KEY)"
    ),
    Forbidden: "Use an API key with the access this request needs (ChartMogul: Profile > API keys)",
    RateLimited: "The service kept throttling; lower rate_limit or max_workers and try again",
}


def error_for_status(
    status: int, message: str, *, method: str = "", url: str = "", body: Any = None
) -> APIError:
    """Build the exception for an HTTP error status (the one status → class mapping).

    Parameters
    ----------
    status : int
        The answer's HTTP status (400 or more).
    message : str
        What the server said.
    method, url : str, optional
        The request.
    body : object, optional
        The answer's decoded body.

    Returns
    -------
    APIError
        An instance of the status's class (``ServerError`` for any 5xx, ``APIError`` for a
        status without a class of its own), with a hint where one helps.

    Examples
    --------
    >>> error = error_for_status(404, "Customer not found", method="GET", url="customers/1")
    >>> type(error).__name__, str(error)
    ('NotFound', 'HTTP 404 (GET customers/1): Customer not found')
    >>> type(error_for_status(503, "Unavailable")).__name__
    'ServerError'
    """
    if status >= 500:
        cls: type[APIError] = ServerError
    else:
        cls = _STATUS_ERRORS.get(status, APIError)
    return cls(status, message, method=method, url=url, body=body, hint=_HINTS.get(cls, ""))
