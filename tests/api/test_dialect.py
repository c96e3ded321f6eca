"""Which dialect a client's credentials speak (``resolve_credentials``), arguments and env."""

from __future__ import annotations

import pytest

from cm_frames.api.dialect import resolve_credentials
from cm_frames.errors import MissingCredentials, ValidationError

ENV = ("CHARTMOGUL_ACCOUNT_TOKEN", "CHARTMOGUL_SECRET_KEY", "CHARTMOGUL_API_KEY")


@pytest.fixture(autouse=True)
def _no_credentials_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_an_api_key_speaks_today_s_api_with_an_empty_password() -> None:
    found = resolve_credentials(api_key=" key-1 ")
    assert (found.dialect, found.user, found.password) == ("current", "key-1", "")


def test_a_token_and_a_secret_speak_the_reference_s_api() -> None:
    found = resolve_credentials("tok", "sec")
    assert (found.dialect, found.user, found.password) == ("enrichment", "tok", "sec")


def test_a_key_passed_as_both_token_and_secret_is_an_api_key() -> None:
    found = resolve_credentials("key-2", "key-2")
    assert (found.dialect, found.user, found.password) == ("current", "key-2", "")
    # ... unless the reference's dialect is asked for: then it is sent as it is.
    assert resolve_credentials("key-2", "key-2", dialect="enrichment").password == "key-2"


def test_the_environment_s_api_key_wins_when_no_argument_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHARTMOGUL_API_KEY", "env-key")
    monkeypatch.setenv("CHARTMOGUL_ACCOUNT_TOKEN", "env-tok")
    monkeypatch.setenv("CHARTMOGUL_SECRET_KEY", "env-sec")
    assert resolve_credentials().user == "env-key"
    assert resolve_credentials(dialect="enrichment").user == "env-tok"
    # An argument left out is still taken from the environment, as before API keys.
    assert resolve_credentials(token="arg-tok").password == "env-sec"


def test_a_token_alone_is_an_api_key_when_today_s_dialect_is_asked_for() -> None:
    assert resolve_credentials("key-3", dialect="current").user == "key-3"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_key": "k", "token": "t"}, "not both"),
        ({"api_key": "k", "dialect": "enrichment"}, "dialect='enrichment' needs token="),
        ({"token": "t", "secret": "s", "dialect": "current"}, "dialect='current' takes an API"),
        ({"api_key": "k", "dialect": "v2"}, "dialect must be 'current'"),
        ({"api_key": 5}, "api_key must be a str"),
    ],
)
def test_contradictions_are_refused_naming_the_fix(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        resolve_credentials(**kwargs)  # type: ignore[arg-type]


def test_nothing_at_all_names_both_ways_to_authenticate() -> None:
    with pytest.raises(MissingCredentials) as caught:
        resolve_credentials()
    assert "CHARTMOGUL_API_KEY" in str(caught.value)
    assert "CHARTMOGUL_ACCOUNT_TOKEN and CHARTMOGUL_SECRET_KEY" in str(caught.value)
    with pytest.raises(MissingCredentials) as only_current:
        resolve_credentials(dialect="current")
    assert "CHARTMOGUL_ACCOUNT_TOKEN" not in str(only_current.value)


def test_the_repr_never_shows_the_secret() -> None:
    found = resolve_credentials("tok-abcdef", "very-secret")
    assert "very-secret" not in repr(found)
    assert "tok-abcdef" not in repr(found)
