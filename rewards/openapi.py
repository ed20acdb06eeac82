"""The OpenAPI document, completed by rule so that it says what the service answers: every error in the one
`Error` shape, the refusals each operation can give (derived from its dependencies, parameters and body), and the
key as security schemes instead of header parameters. A client generated from it handles every answer."""

import copy
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.routing import BaseRoute

from rewards.auth.service import Scope
from rewards.deps import get_principal, scope
from rewards.events.contract import openapi_components

ERROR_REF = "#/components/schemas/Error"
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "description": "Every refusal and failure: what is wrong in `error`, and what there is to know in `detail`.",
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "What is wrong, in words a person can act on."},
        "detail": {
            "description": 'null, or more about it: for a 422, one `{"field", "message"}` per problem (a batch '
            "of events adds `index` and `id`; a rules draft gives file, line and reason)."
        },
    },
}
# Alternatives (a list of requirements): either header carries the key.
SECURITY_SCHEMES: dict[str, Any] = {
    "BearerKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "The API key (`rewards apikey create`): `Authorization: Bearer rk_...`.",
    },
    "ApiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "Or the key itself in `X-API-Key`. Both headers naming different keys is refused (400).",
    },
}
KEY_REQUIRED: list[dict[str, list[str]]] = [{"BearerKey": []}, {"ApiKeyHeader": []}]

INVALID = 'The request is invalid: `error` says what, `detail` lists each problem as `{"field", "message"}`.'
UNAVAILABLE = "The database is busy with a long write (a replay, an import) or unreachable: retry after `Retry-After`."
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}


def build(
    app_routes: Sequence[BaseRoute], *, title: str, version: str, description: str, body_limit: int
) -> dict[str, Any]:
    """The document of these routes, completed; `body_limit` is what a route takes unless it declares more."""
    document = get_openapi(title=title, version=version, description=description, routes=app_routes)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(openapi_components())
    schemas["Error"] = copy.deepcopy(ERROR_SCHEMA)
    document["components"]["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    document.pop("security", None)  # per operation: some take no key (health, flair, Discourse deliveries)
    routes = {
        (context.path_format, method.lower()): context
        for context in iter_route_contexts(app_routes)
        if isinstance(context.original_route, APIRoute) and context.include_in_schema
        for method in context.methods or ()
    }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            route = routes.get((path, method))
            if route is not None:
                _complete(operation, route, body_limit)
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, which this service never sends
        others = [document["paths"], *(schema for other, schema in schemas.items() if other != name)]
        if f"#/components/schemas/{name}" not in _references(others):
            schemas.pop(name, None)
    return document


def _complete(operation: dict[str, Any], route: RouteContext, body_limit: int) -> None:
    """Add the refusals this operation can give, keep the ones its route declares, and give every error the
    `Error` body."""
    declared: dict[int | str, dict[str, Any]] = route.responses or {}
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, description in _refusals(operation, route, body_limit).items():
        if status not in {str(code) for code in declared}:
            responses[status] = {"description": description}
    for status, response in responses.items():
        if not _is_error(status):
            continue
        explicit = next((value for code, value in declared.items() if str(code) == status), {})
        if "model" not in explicit and "content" not in explicit:
            response["content"] = {"application/json": {"schema": {"$ref": ERROR_REF}}}
        if status == "503":
            response.setdefault("headers", copy.deepcopy(RETRY_AFTER))
    operation["responses"] = dict(sorted(responses.items()))
    if _needs_key(route.dependant):
        operation["security"] = copy.deepcopy(KEY_REQUIRED)


def _refusals(operation: dict[str, Any], route: RouteContext, body_limit: int) -> dict[str, str]:
    """Status -> why, for what any operation of this kind can be refused with: from its dependencies (the key and
    its scope), its path parameters, its body; and for every one, invalid input and a busy database."""
    refusals: dict[str, list[str]] = {}
    takes_body = "requestBody" in operation
    if route.body_field is not None:  # FastAPI reads it; text it cannot decode is a 400 (invalid JSON is a 422)
        refusals.setdefault("400", []).append("The body cannot be decoded as JSON text.")
    if _needs_key(route.dependant):
        refusals.setdefault("400", []).append("`Authorization` and `X-API-Key` carry different keys: send one.")
        refusals["401"] = ["No API key, or a malformed, unknown or revoked one."]
        needed = _scopes_checked(route.dependant)
        if needed:
            named = " or ".join(f"`{value}`" for value in sorted(needed))
            also = "" if needed == {Scope.ADMIN.value} else " (`admin` has every scope)"
            refusals["403"] = [f"The key lacks the {named} scope{also}."]
    path_parameters = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"]
    if path_parameters:
        named = " and ".join(f"`{name}`" for name in path_parameters)
        refusals["404"] = [f"Nothing is known by that {named}."]
    if takes_body:
        limit = route.max_body_size or body_limit
        refusals["413"] = [f"The body is larger than this operation takes: at most {limit:,} bytes."]
    refusals["422"] = [INVALID]  # the query string too: a NUL character in any of it (rewards.deps.refuse_nul)
    refusals["503"] = [UNAVAILABLE]
    return {status: " ".join(reasons) for status, reasons in refusals.items()}


def _is_error(status: str) -> bool:
    return status[:1] in {"4", "5"} or status == "default"


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def _needs_key(dependant: Dependant) -> bool:
    return any(dependency.call is get_principal for dependency in _dependencies(dependant))


def _scopes_checked(dependant: Dependant) -> set[str]:
    """The scopes the operation's `rewards.deps.scope(...)` dependencies check."""
    return {
        needed.value
        for dependency in _dependencies(dependant)
        if dependency.call is not None and _made_by(dependency.call, scope)
        for needed in inspect.getclosurevars(dependency.call).nonlocals.values()
        if isinstance(needed, Scope)
    }


def _made_by(call: Callable[..., Any], factory: Callable[..., Any]) -> bool:
    return getattr(call, "__qualname__", "").startswith(f"{factory.__qualname__}.<locals>.")


def _references(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_references(item) for item in node))
    return set()
