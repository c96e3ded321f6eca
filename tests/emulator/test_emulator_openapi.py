"""The shipped OpenAPI document: valid, complete, served, and true of the running emulator.

It describes both dialects: the reference's at the top level, today's as a whole document
under ``x-dialects.current``. Each test runs for each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_spec_validator import validate

from cm_frames.emulator import Emulator

# The 11 endpoints of the API reference.
REFERENCE_OPERATIONS = {
    ("get", "/customers"),
    ("get", "/customers/{customer_id}"),
    ("get", "/customers/search"),
    ("get", "/customers/{customer_id}/attributes"),
    ("post", "/customers/{customer_id}/attributes/tags"),
    ("post", "/customers/attributes/tags"),
    ("delete", "/customers/{customer_id}/attributes/tags"),
    ("post", "/customers/{customer_id}/attributes/custom"),
    ("post", "/customers/attributes/custom"),
    ("delete", "/customers/{customer_id}/attributes/custom"),
    ("put", "/customers/{customer_id}/attributes/custom"),
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def shipped() -> dict[str, Any]:
    text = resources.files("cm_frames.emulator").joinpath("openapi.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@pytest.fixture(scope="module", params=["enrichment", "current"])
def dialect(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def document(dialect: str) -> dict[str, Any]:
    whole = shipped()
    if dialect == "current":
        current: dict[str, Any] = whole["x-dialects"]["current"]
        return current
    return whole


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_document_describes_exactly_the_11_endpoints_with_basic_auth(
    document: dict[str, Any], dialect: str
) -> None:
    operations = {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert operations == REFERENCE_OPERATIONS
    assert document["components"]["securitySchemes"]["basicAuth"] == {
        "type": "http",
        "scheme": "basic",
    }
    assert document["security"] == [{"basicAuth": []}]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            statuses = set(operation["responses"])
            assert {"200", "401", "429", "5XX"} <= statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= statuses, (method, path)
                if dialect == "current":
                    assert "422" in statuses, (method, path)
            if dialect == "current":
                assert "503" in statuses, (method, path)
            if "{customer_id}" in path:
                assert "404" in statuses, (method, path)


def test_the_current_document_has_todays_paging_and_shapes(dialect: str) -> None:
    current = shipped()["x-dialects"]["current"]
    names = {p["name"] for p in current["paths"]["/customers"]["get"]["parameters"]}
    assert names == {
        "cursor",
        "per_page",
        "page",
        "status",
        "external_id",
        "data_source_uuid",
        "system",
    }
    assert (
        "204"
        in current["paths"]["/customers/{customer_id}/attributes/custom"]["delete"]["responses"]
    )
    assert "param" in current["components"]["schemas"]["Error"]["required"]
    assert "mrr" in current["components"]["schemas"]["Customer"]["required"]


def test_the_emulator_serves_the_shipped_document(
    request: pytest.FixtureRequest, dialect: str, document: dict[str, Any]
) -> None:
    emulator: Emulator = request.getfixturevalue(
        "emulator" if dialect == "enrichment" else "current_emulator"
    )
    response = requests.get(emulator.url.removesuffix("v1/") + "_emulator/openapi.json", timeout=5)
    assert response.status_code == 200
    assert response.json() == document


SCHEMATHESIS_CONFIG = """
# A schema-valid PUT can still be refused for reasons that depend on the stored state,
# which no schema can express: a key the customer does not have (402), or a value of
# another type than the key's stored one (400; 422 in today's dialect).
[[operations]]
include-operation-id = "updateCustom"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "402", "404", "422", "429"]
"""
# Today's: a schema-valid cursor string that names no position is refused (400).
CURRENT_SCHEMATHESIS_CONFIG = (
    SCHEMATHESIS_CONFIG
    + """
[[operations]]
include-operation-id = "listCustomers"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "429"]

[[operations]]
include-operation-id = "searchCustomers"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "429"]
"""
)


def test_schemathesis_finds_no_server_errors_or_schema_violations(
    tmp_path: Path, dialect: str
) -> None:
    """Every schemathesis check (status codes, content types, response schemas, headers,
    negative data rejected, positive data accepted, undeclared methods, auth) over the
    example, coverage, fuzzing and stateful phases, with a bounded number of examples."""
    config = tmp_path / "schemathesis.toml"
    current = dialect == "current"
    config.write_text(CURRENT_SCHEMATHESIS_CONFIG if current else SCHEMATHESIS_CONFIG)
    executable = Path(sys.executable).with_name("schemathesis")
    emulator = (
        Emulator(customers=30, seed=3, dialect="current", api_key="schemathesis-key")
        if current
        else Emulator(customers=30, seed=3, secret="schemathesis-secret")
    )
    with emulator:
        # Today's: the key as user name, an empty password.
        credentials = f"{emulator.api_key}:" if current else f"{emulator.token}:{emulator.secret}"
        command = [
            *(str(executable), "--config-file", str(config), "--no-color"),
            *("run", emulator.url.removesuffix("v1/") + "_emulator/openapi.json"),
            *("--url", emulator.url.removesuffix("/")),
            *("--auth", credentials),
            *("--checks", "all", "--max-examples", "25", "--seed", "1"),
        ]
        result = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False
        )
        statuses = {entry["status"] for entry in emulator.request_log()}
    summary = result.stdout[-4000:]
    assert result.returncode == 0, summary
    assert " passed" in summary
    assert not any(status >= 500 for status in statuses if status)
    assert {200, 400, 401, 404} <= statuses  # the run reached the core, the errors and auth
