"""FastAPI dependencies, as `Annotated` aliases so route signatures stay readable."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.apply.applier import Applier
from rewards.auth.service import Principal, Scope, authenticate, require
from rewards.db import UnitOfWork, unit_of_work
from rewards.errors import RewardsError
from rewards.inputs import NUL, NUL_IN_TEXT
from rewards.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """`async`, like every dependency here: FastAPI would run a plain function in its thread pool, a thread
    hand-off per request for an attribute read."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_applier(request: Request) -> Applier:
    """The process's applier: for routes that store events (`rewards.apply.ingest`) or publish rules."""
    applier: Applier = request.app.state.applier
    return applier


ApplierDep = Annotated[Applier, Depends(get_applier)]


async def get_uow(runtime: RuntimeDep) -> AsyncIterator[UnitOfWork]:
    async with unit_of_work(runtime.sessionmaker) as uow:
        yield uow


# `scope="function"`: the commit happens before the response is sent, so a client that reads right after a
# write sees it, and a failed commit is an error response, not a 200 for a change that was lost.
UowDep = Annotated[UnitOfWork, Depends(get_uow, scope="function")]


async def get_read_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """For requests that only read: no transaction, no commit."""
    maker = runtime.read_sessionmaker or runtime.sessionmaker
    async with maker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_read_session)]


def _presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """`Authorization: Bearer <key>`, or the key alone in `X-API-Key` (the OpenAPI document's two security
    schemes). Both naming different keys is refused (400, as RFC 6750 does for a token sent more than one way):
    picking one would act as a key the client did not mean. An `Authorization` of another scheme is not a key."""
    bearer = None
    if authorization and authorization.lower().startswith("bearer "):
        bearer = authorization[7:].strip() or None
    alone = x_api_key.strip() if x_api_key else None
    if bearer and alone and bearer != alone:
        raise RewardsError(
            "Authorization and X-API-Key carry different API keys: send the key once, in one of them", status_code=400
        )
    return bearer or alone or None


async def get_principal(
    session: SessionDep,
    runtime: RuntimeDep,
    # Declared in the OpenAPI document as security schemes, not as parameters (rewards.openapi).
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    return await authenticate(session, _presented_key(authorization, x_api_key), runtime.queue)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def scope(needed: Scope) -> Any:
    async def check(principal: PrincipalDep) -> Principal:
        require(principal, needed)
        return principal

    return Depends(check)


CanWriteEvents = Annotated[Principal, scope(Scope.EVENTS_WRITE)]
CanRead = Annotated[Principal, scope(Scope.READ)]
IsAdmin = Annotated[Principal, scope(Scope.ADMIN)]


def actor_of(principal: Principal) -> str:
    """How the audit log names who acted through the API."""
    return f"key:{principal.name}"


async def refuse_nul(request: Request) -> None:
    """Application-wide: a NUL character in a path parameter or the query string is a 422 that names the
    parameter. (Event payloads, JSON bodies and form fields are checked where they are parsed: the body is
    never read here, before the route's own limits and authentication.)"""
    errors: list[dict[str, Any]] = []
    for name, value in request.path_params.items():
        if isinstance(value, str) and NUL in value:
            errors.append(_error("path", name))
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            errors.append(_error("query", name.replace(NUL, "\\u0000")))
    if errors:
        raise RequestValidationError(errors)


def _error(where: str, name: str) -> dict[str, Any]:
    return {"type": "nul_character", "loc": (where, name), "msg": NUL_IN_TEXT, "input": None}
