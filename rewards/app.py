"""The FastAPI application: routers, error rendering, start-up and shut-down of shared resources."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY, RequestBodyLimitMiddleware

from rewards.adapters.endpoints import router as adapters_router
from rewards.apply.applier import Applier
from rewards.audit.endpoints import router as audit_router
from rewards.badges.endpoints import router as badges_router
from rewards.body_limits import JsonTooLarge, too_large_message
from rewards.config import Settings, get_settings
from rewards.connectors.endpoints import router as connectors_router
from rewards.contributions.endpoints import router as contributions_router
from rewards.credentials.endpoints import pages as credential_pages
from rewards.credentials.endpoints import router as credentials_router
from rewards.db import lock_wait_ended
from rewards.deps import refuse_nul
from rewards.errors import RewardsError
from rewards.events.endpoints import router as events_router
from rewards.leaderboards.endpoints import router as leaderboards_router
from rewards.openapi import build as build_openapi
from rewards.outbox.endpoints import router as webhooks_router
from rewards.pages import router as pages_router
from rewards.periodic import periodic_jobs, run_forever
from rewards.perks.endpoints import router as perks_router
from rewards.rulesets.endpoints import router as rulesets_router
from rewards.security_headers import SecurityHeaders, headers_for
from rewards.users.endpoints import router as users_router
from rewards.web.contribution_pages import router as contribution_pages
from rewards.web.endpoints import install as install_web_pages
from rewards.web.render import invalid_request_page, not_found_page, wants_page

log = logging.getLogger(__name__)

DESCRIPTION = """
The rewards engine for expert communities. A forum posts its events (questions, answers, votes, accepted
answers, moderation) as CloudEvents to `POST /v1/events`; the engine applies declarative rules and keeps an
append-only reputation ledger that explains every point.

Authenticate with an API key (`rewards apikey create`): `Authorization: Bearer rk_...`, or the key alone in
`X-API-Key`; sending both with different keys is refused (400). Operations marked with a lock need a key.
Every error is JSON, the `Error` schema: `{"error": "what is wrong", "detail": ...}`. No text in a request may
hold the NUL character (`\\u0000`, which the databases cannot store): it is refused with 422.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        applier = await Applier.start(settings)
        app.state.applier = applier
        app.state.runtime = applier.runtime
        scheduler = None
        if settings.embedded and settings.run_scheduler and settings.environment != "test":
            scheduler = asyncio.create_task(run_forever(applier, periodic_jobs()), name="rewards-scheduler")
        # Publications made elsewhere (another process, `rewards rules publish`) reach this process too.
        follower = asyncio.create_task(applier.follow_forever(), name="rewards-ruleset-follower")
        try:
            yield
        finally:
            follower.cancel()
            with suppress(asyncio.CancelledError):
                await follower
            if scheduler is not None:
                scheduler.cancel()
                with suppress(asyncio.CancelledError):
                    await scheduler
            await applier.stop()

    app = FastAPI(
        title="Rewards engine",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(refuse_nul)],  # no NUL character in paths and queries (rewards.inputs)
    )
    app.include_router(events_router)
    app.include_router(badges_router)
    app.include_router(users_router)
    app.include_router(audit_router)
    app.include_router(perks_router)
    app.include_router(leaderboards_router)
    app.include_router(adapters_router)
    app.include_router(connectors_router)
    app.include_router(pages_router)
    app.include_router(webhooks_router)
    app.include_router(rulesets_router)
    app.include_router(credentials_router)
    app.include_router(credential_pages)  # the verification page, and a member's downloads under /me
    app.include_router(contributions_router)
    app.include_router(contribution_pages)  # /me/contributions and the console's queue
    # Every body is counted as it arrives, before it is parsed or the key checked; routes that take more declare
    # it (rewards.inputs). The limiter's own refusals are made JSON outside it (rewards.body_limits).
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=settings.max_request_body_bytes)
    app.add_middleware(JsonTooLarge, smallest=settings.max_request_body_bytes)
    app.add_middleware(SecurityHeaders)  # outermost, so refusals above get them too
    install_web_pages(app)  # sign-in, /me, /u/{id}, /admin, static files, HTML error pages
    _install_error_handlers(app)
    _install_openapi(app, body_limit=settings.max_request_body_bytes)
    return app


def _error(status_code: int, message: str, detail: Any = None) -> JSONResponse:
    return JSONResponse(status_code=status_code, content={"error": message, "detail": detail})


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RewardsError)
    async def rewards_error(_request: Request, error: RewardsError) -> JSONResponse:
        response = _error(error.status_code, error.message, error.detail)
        if error.status_code == 401:  # RFC 9110: a 401 names the scheme the client should use
            response.headers["WWW-Authenticate"] = 'Bearer realm="rewards"'
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        if wants_page(request):
            return invalid_request_page(request, [(str(item["loc"][-1]), item["msg"]) for item in error.errors()])
        detail = [
            {"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"]} for item in error.errors()
        ]
        return _error(
            422, "the request is invalid: " + "; ".join(f"{d['field']}: {d['message']}" for d in detail), detail
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 404 and wants_page(request):
            return not_found_page(request)
        if error.status_code == 413:
            return _error(
                413,
                too_large_message(request.scope.get(MAX_BODY_SIZE_SCOPE_KEY), request.headers.get("content-length")),
            )
        message = "no such endpoint; see /docs" if error.status_code == 404 else str(error.detail)
        response = _error(error.status_code, message)
        response.headers.update(error.headers or {})
        if error.status_code == 405:  # Starlette's `Allow` names the methods of the first route at the path only
            response.headers["Allow"] = _allowed_methods(request)
        return response

    @app.exception_handler(DBAPIError)
    async def database_error(_request: Request, error: DBAPIError) -> JSONResponse:
        # Connections are not pinged before use (see `rewards.db`): a connection the server dropped fails its
        # request, and the pool then replaces every connection opened before. Retrying is safe and works.
        if error.connection_invalidated or isinstance(error, OperationalError | InterfaceError):
            log.warning("database connection lost or refused: %s", error.orig)
            # SQLite has one writer: a long write (a replay, an import) keeps others waiting past its timeout.
            busy = lock_wait_ended(error)
            message = (
                "the database is busy with a long write (a replay or an import); retry in a moment (events "
                "already stored are then reported as duplicates)"
                if busy
                else "the database connection was lost or refused; retry in a moment"
            )
            response = _error(503, message)
            response.headers["Retry-After"] = "1"
            return response
        log.exception("unexpected database error", exc_info=error)
        return _error(500, "internal error: this is a bug in the rewards engine, and it has been logged")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=error)
        response = _error(500, "internal error: this is a bug in the rewards engine, and it has been logged")
        # Starlette answers an unhandled error from outside every middleware: the headers are added here.
        response.headers.update(headers_for(request.url.path, "application/json"))
        return response


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path, as a 405's `Allow` header says."""
    path = request.scope["path"]
    return ", ".join(
        sorted(
            {
                method
                for route in iter_route_contexts(request.app.routes)
                if (regex := getattr(route, "path_regex", None)) is not None and regex.match(path)
                for method in route.methods or ()
            }
        )
    )


def _install_openapi(app: FastAPI, *, body_limit: int) -> None:
    """The document says what the service answers (rewards.openapi): built once, on first request."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(
                app.routes, title=app.title, version=app.version, description=app.description, body_limit=body_limit
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
