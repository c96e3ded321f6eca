"""The two dialects of the ChartMogul API, and which one a client's credentials speak.

``"enrichment"`` is the API of the reference document: an account token and a secret key,
page numbers, customers addressed by their numeric id. ``"current"`` is the service as it is
today: one API key (HTTP Basic, the key as user name and an empty password), cursor paging,
customers addressed by uuid, revenue and lifecycle fields on every customer.

The differences the client handles are listed in ``DIFFERENCES`` (the README's table is
written from it), so each one has a name a test can point at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final, Literal, cast

from cm_frames.errors import MissingCredentials, ValidationError

__all__ = [
    "DIALECTS",
    "DIFFERENCES",
    "ENV_API_KEY",
    "ENV_SECRET",
    "ENV_TOKEN",
    "Credentials",
    "Dialect",
    "resolve_credentials",
]

Dialect = Literal["current", "enrichment"]
DIALECTS: Final[tuple[Dialect, ...]] = ("current", "enrichment")

ENV_API_KEY: Final = "CHARTMOGUL_API_KEY"
ENV_TOKEN: Final = "CHARTMOGUL_ACCOUNT_TOKEN"
ENV_SECRET: Final = "CHARTMOGUL_SECRET_KEY"

#: What differs between the dialects, and where the client deals with it.
DIFFERENCES: Final[dict[str, tuple[str, str]]] = {
    "credentials": ("token + secret key", "an API key (password empty)"),
    "paging": ("?page=N&per_page=K", "?cursor=…&per_page=K, walked in disjoint parts"),
    "customer in paths": ("numeric id", "uuid (cus_…)"),
    "attributes answer": ('{"attributes": {...}}', "the attributes object itself"),
    "by-email answers": ("a page with paging keys", '{"entries": [...]}'),
    "custom DELETE emptying every key": ("200 with the custom object", "204, no body"),
    "customer fields": (
        "id, uuid, external_id, name, email, status, customer-since, address, attributes",
        "those, and mrr, arr, currency, lead_created_at, links, location codes, …",
    ),
    "customer-since": ("always set", "null for leads"),
    "timestamps written": ("2016-01-31T00:00:00Z", "2016-01-31T00:00:00.000Z"),
    "errors": ("400/401/402/404/429/5xx", "also 403, 422, and 503 for too many connections"),
}


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a client sends (HTTP Basic) and the dialect that implies.

    Attributes
    ----------
    dialect : {"current", "enrichment"}
        The dialect.
    user : str
        The Basic user name: the API key, or the account token.
    password : str
        The Basic password: empty for an API key, else the secret key.
    """

    dialect: Dialect
    user: str
    password: str = ""

    def __repr__(self) -> str:
        # Never the secret; four characters of the user name are enough to tell keys apart.
        return f"Credentials(dialect={self.dialect!r}, user={self.user[:4] + '…'!r})"


def resolve_credentials(
    token: str | None = None,
    secret: str | None = None,
    api_key: str | None = None,
    dialect: str | None = None,
) -> Credentials:
    """Which credentials and dialect a client's arguments (and the environment) mean.

    An API key (``api_key=`` or ``CHARTMOGUL_API_KEY``) speaks today's dialect; a token and a
    secret key speak the reference's, except a key passed as both token and secret (what
    ChartMogul tells users of older clients), which is an API key. ``dialect=`` decides
    when both could apply. Arguments win over the environment.

    Parameters
    ----------
    token, secret : str, optional
        The account token and secret key.
    api_key : str, optional
        An API key.
    dialect : {"current", "enrichment"}, optional
        The dialect to speak.

    Returns
    -------
    Credentials
        The dialect, and the user and password of the HTTP basic auth.

    Raises
    ------
    MissingCredentials
        Nothing to authenticate with.
    ValidationError
        A value is not a str, ``dialect`` is unknown, or the arguments contradict it.

    Examples
    --------
    >>> resolve_credentials(api_key="k1")
    Credentials(dialect='current', user='k1…')
    >>> resolve_credentials("tok", "sec").dialect
    'enrichment'
    >>> resolve_credentials("key", "key").password
    ''
    """
    if dialect is not None and dialect not in DIALECTS:
        raise ValidationError(
            f"dialect must be 'current' (today's API, an API key) or 'enrichment' (the "
            f"reference's, token + secret), got {dialect!r}"
        )
    api_key = _text("api_key", api_key)
    if api_key and (token or secret):
        raise ValidationError(
            "pass either api_key= (today's API) or token= and secret= (the reference's), not both"
        )
    if not api_key and token is None and secret is None and dialect != "enrichment":
        api_key = _text(ENV_API_KEY, os.environ.get(ENV_API_KEY))
    if (not api_key and dialect != "current") or token is not None or secret is not None:
        # As before API keys: an argument left out is taken from the environment.
        token = _text("token", token if token is not None else os.environ.get(ENV_TOKEN))
        secret = _text("secret", secret if secret is not None else os.environ.get(ENV_SECRET))
    token, secret = token or "", secret or ""
    if api_key:
        if dialect == "enrichment":
            raise ValidationError(
                "dialect='enrichment' needs token= and secret=; an API key speaks today's API "
                "(dialect='current', or leave dialect out)"
            )
        return Credentials("current", api_key)
    if token and token == secret and dialect != "enrichment":
        return Credentials("current", token)
    if dialect == "current" and token and not secret:
        return Credentials("current", token)
    if token and secret:
        if dialect == "current":
            raise ValidationError(
                "dialect='current' takes an API key (api_key=, or the key as both token and "
                "secret); a different token and secret speak dialect='enrichment'"
            )
        return Credentials("enrichment", token, secret)
    raise MissingCredentials(_missing_message(token, secret, dialect))


def _text(name: str, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a str, got {type(value).__name__}")
    return value.strip()


def _missing_message(token: str, secret: str, dialect: str | None) -> str:
    options = {
        "current": f"an API key: cm.Client(api_key=...) or the environment variable {ENV_API_KEY}",
        "enrichment": (
            f"a token and secret key: cm.Client(token=..., secret=...) or the environment "
            f"variables {ENV_TOKEN} and {ENV_SECRET}"
        ),
    }
    chosen = [options[cast(Dialect, dialect)]] if dialect else list(options.values())
    if token or secret:
        missing = (
            f"the secret key (secret= or {ENV_SECRET})"
            if token
            else f"the account token (token= or {ENV_TOKEN})"
        )
        head = f"No ChartMogul credentials: missing {missing}"
    else:
        head = "No ChartMogul credentials were given or found in the environment"
    return (
        f"{head}. Pass " + "; or ".join(chosen) + ". API keys are on the Profile > API keys "
        "page of ChartMogul's app; token and secret key on the API tab of the admin pages."
    )
