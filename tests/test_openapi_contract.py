"""The OpenAPI document describes what the service answers, so that a client generated from it works: one `Error`
shape for every refusal, the refusals each kind of operation can give, and the key as security schemes that the
service honours as documented. (tests/test_schemathesis.py checks the answers themselves against the document.)"""

import re
from typing import Any

import pytest

from rewards.app import create_app
from rewards.auth.service import Scope
from rewards.config import Settings
from tests.conftest import Api

ERROR_REF = "#/components/schemas/Error"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    built: dict[str, Any] = create_app(Settings(environment="test")).openapi()
    return built


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _refusals_of_its_kind(operation: dict[str, Any]) -> set[str]:
    """What any operation like this one can be refused with."""
    # Every request's input is validated (the query string of every one: no NUL); any may meet a busy database.
    expected = {"422", "503"}
    if any(parameter["in"] == "path" for parameter in operation.get("parameters", [])):
        expected |= {"404"}
    if operation.get("security"):
        expected |= {"400", "401", "403"}  # 400: two different keys
    if "requestBody" in operation:
        expected |= {"413", "422"}
    return expected


def test_every_error_is_declared_with_the_error_schema(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "detail"] and error["properties"]["error"]["type"] == "string"
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "HTTPValidationError" not in str(document["paths"])
    wrong = [
        f"{method} {path} {status}"
        for method, path, operation in _operations(document)
        for status, response in operation["responses"].items()
        if status[0] in "45" and response.get("content") != {"application/json": {"schema": {"$ref": ERROR_REF}}}
    ]
    assert not wrong, wrong
    invalid = [operation["responses"]["422"] for _, _, operation in _operations(document)]
    assert all(response["content"]["application/json"]["schema"]["$ref"] == ERROR_REF for response in invalid)


def test_each_kind_of_operation_declares_its_refusals(document: dict[str, Any]) -> None:
    assert len(_operations(document)) > 40
    lacking = [
        f"{method} {path}: {sorted(missing)}"
        for method, path, operation in _operations(document)
        if (missing := _refusals_of_its_kind(operation) - set(operation["responses"]))
    ]
    assert not lacking, lacking
    events = document["paths"]["/v1/events"]["post"]["responses"]
    assert {"400", "415"} <= set(events) and "events:write" in events["403"]["description"]
    assert "409" in document["paths"]["/v1/rulesets/publish"]["post"]["responses"]
    assert "503" in document["paths"]["/v1/adapters/discourse"]["post"]["responses"]
    assert "admin" in document["paths"]["/v1/webhooks"]["get"]["responses"]["403"]["description"]


def test_the_key_is_declared_once_as_security_schemes(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerKey"] == schemes["BearerKey"] | {"type": "http", "scheme": "bearer"}
    assert schemes["ApiKeyHeader"] == schemes["ApiKeyHeader"] | {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert "security" not in document  # per operation: some take no key
    header_parameters = [
        f"{method} {path}: {parameter['name']}"
        for method, path, operation in _operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "header" and parameter["name"].lower() in {"authorization", "x-api-key"}
    ]
    assert not header_parameters, header_parameters
    # Which operations need a key is checked against the service below; these take none (a signature, or nothing).
    public = {(method, path) for method, path, operation in _operations(document) if "security" not in operation}
    assert {
        ("GET", "/v1/health"),
        ("GET", "/v1/users/{user_id}/flair.svg"),
        ("POST", "/v1/adapters/discourse"),
    } <= public
    alternatives = document["paths"]["/v1/users"]["get"]["security"]
    assert alternatives == [{"BearerKey": []}, {"ApiKeyHeader": []}]


async def test_the_operations_that_declare_a_key_are_the_ones_that_need_it(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    wrong = []
    for method, path, operation in _operations(document):
        # Each path parameter made concrete: a number fits every one (ids, versions, names alike).
        url = re.sub(r"\{[^}]+\}", "1", path)
        answer = await api.client.request(method, url, headers={"Authorization": ""})
        if (answer.status_code == 401) != ("security" in operation):
            wrong.append(f"{method} {path}: {answer.status_code}, security {operation.get('security')}")
        if answer.status_code == 401 and answer.headers.get("www-authenticate") != 'Bearer realm="rewards"':
            wrong.append(f"{method} {path}: a 401 without WWW-Authenticate")  # RFC 9110 asks for one
    assert not wrong, wrong


async def test_the_key_goes_in_one_header_or_both_agree(api: Api) -> None:
    reader = await api.key(Scope.READ)
    other = await api.key(Scope.READ)

    async def status(headers: dict[str, str]) -> int:
        return (await api.client.get("/v1/badges", headers={"Authorization": "", **headers})).status_code

    assert await status({"Authorization": f"Bearer {reader}"}) == 200
    assert await status({"X-API-Key": reader}) == 200
    assert await status({"Authorization": f"Bearer {reader}", "X-API-Key": reader}) == 200
    refused = await api.client.get("/v1/badges", headers={"Authorization": f"Bearer {reader}", "X-API-Key": other})
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "Authorization and X-API-Key carry different API keys: send the key once, in one of them",
        "detail": None,
    }
    # Whichever of the two is valid: refused all the same, not decided by which header is looked at first.
    assert await status({"Authorization": f"Bearer {reader}", "X-API-Key": "rk_wrong_key"}) == 400
    assert await status({"Authorization": "Bearer rk_wrong_key", "X-API-Key": reader}) == 400
    # Another scheme in Authorization is not a key (a proxy's credentials): X-API-Key is.
    assert await status({"Authorization": "Basic dXNlcjpwYXNz", "X-API-Key": reader}) == 200


async def test_a_405_names_every_method_the_path_takes(api: Api) -> None:
    for method, path, allowed in [
        ("DELETE", "/v1/events", "GET, POST"),  # two routes at one path
        ("GET", "/v1/rulesets/validate", "POST"),  # not a version
        ("GET", "/v1/users/team/alice/adjust", "POST"),  # a member id with a slash, then a POST-only resource
        ("GET", "/v1/users/alice/perks/beta/claim", "POST"),
    ]:
        answer = await api.client.request(method, path)
        assert (answer.status_code, answer.headers.get("allow")) == (405, allowed), (method, path)
        assert answer.json() == {"error": "Method Not Allowed", "detail": None}
