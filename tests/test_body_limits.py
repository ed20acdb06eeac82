"""Every route refuses a body over its limit with 413 before parsing it or checking the key: a caller without a
key cannot make the service read and parse megabytes (it did, for every JSON route but two)."""

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Route

from rewards.app import create_app
from rewards.config import Settings
from rewards.inputs import MAX_BODY_BYTES_CEILING, UPLOAD_BODY_BYTES
from rewards.web import console_ops, console_rules
from rewards.web import endpoints as web_endpoints
from tests.conftest import make_settings

SMALL = 64 * 1024
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# The routes that take more than the default, and how much: each is a decision, so a new one fails here.
LARGE_BODY_ROUTES = {
    ("POST", "/v1/events"): MAX_BODY_BYTES_CEILING,  # reads up to REWARDS_MAX_BODY_BYTES once the key is checked
    ("POST", "/v1/adapters/discourse"): MAX_BODY_BYTES_CEILING,  # the same, once the signature is checked
    ("POST", "/v1/connectors/khoros/firehose"): MAX_BODY_BYTES_CEILING,  # the same, once the token is checked
    ("POST", "/v1/rulesets/validate"): UPLOAD_BODY_BYTES,
    ("POST", "/v1/rulesets/preview"): UPLOAD_BODY_BYTES,
    ("POST", "/v1/rulesets/publish"): UPLOAD_BODY_BYTES,
    ("POST", "/v1/admin/perks/{perk_id}/codes"): UPLOAD_BODY_BYTES,
    ("POST", "/admin/rules/edit"): UPLOAD_BODY_BYTES,
    ("POST", "/admin/perks/{perk_id}/codes"): UPLOAD_BODY_BYTES,
}


@pytest.fixture
def settings(tmp_path: Path, sqlite_template: Path) -> Settings:
    # The limit is the same on both databases: SQLite only.
    shutil.copy(sqlite_template, tmp_path / "limits.db")
    return make_settings(f"sqlite+aiosqlite:///{tmp_path / 'limits.db'}")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def _concrete(path_format: str) -> str:
    return re.sub(r"\{[^}]+\}", "p1", path_format)


def _body_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) that may take a body, from the OpenAPI document and the pages' routers."""
    found = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method.upper() in BODY_METHODS
    }
    found |= {
        (method, route.path_format)
        for router in (console_ops.router, console_rules.router, web_endpoints.router)
        for route in router.routes
        if isinstance(route, Route) and route.methods
        for method in route.methods & BODY_METHODS
    }
    return sorted(found)


def _anonymous(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rewards.test")


async def test_every_route_refuses_a_body_over_its_limit_without_a_key(app: FastAPI) -> None:
    routes = _body_routes(app)
    assert ("POST", "/v1/admin/perks/{perk_id}/codes") in routes and len(routes) > 20
    assert set(LARGE_BODY_ROUTES) <= set(routes), "a large-body route that no longer exists"
    async with _anonymous(app) as client:
        for method, path in routes:
            limit = LARGE_BODY_ROUTES.get((method, path), SMALL)
            # Declared, as every client but a chunked one does: refused before a byte is read. (The largest
            # limits are tested through the declared length only, so the test does not send 64 MiB.)
            over = await client.request(
                method,
                _concrete(path),
                content=b"x" * (min(limit, UPLOAD_BODY_BYTES) + 1),
                headers={"content-type": "application/json", "content-length": str(limit + 1)},
            )
            assert over.status_code == 413, (method, path, over.status_code, over.text)
            assert over.headers["content-type"] == "application/json", (method, path, over.text)
            assert f"at most {limit:,} bytes" in over.json()["error"]


async def test_a_body_within_the_limit_reaches_authentication(app: FastAPI) -> None:
    async with _anonymous(app) as client:
        small = await client.post("/v1/admin/badges/grant", content=b"{}" + b" " * (SMALL - 2))
        assert small.status_code == 401, small.text
        # A large-body route takes more than the small limit, and still wants a key.
        codes = await client.post(
            "/v1/admin/perks/beta-5g-router/codes",
            content=b'{"codes": []}' + b" " * (SMALL * 4),
            headers={"content-type": "application/json"},
        )
        assert codes.status_code == 401, codes.text


async def test_a_chunked_body_is_counted_as_it_arrives(app: FastAPI) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 4096

    async with _anonymous(app) as client:
        # No Content-Length: httpx sends a streamed body chunked. 160 KiB passes the 64 KiB limit part way.
        response = await client.post(
            "/v1/users/u1/adjust", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413, response.text
        assert "at most 65,536 bytes" in response.json()["error"]
        events = await client.post("/v1/events", content=chunks(), headers={"content-type": "application/json"})
        assert events.status_code == 401, events.text  # within the events' 4 MiB


async def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body(app: FastAPI) -> None:
    """Straight on the ASGI app: the answer comes before the body is asked for even once."""
    asked = 0
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/admin/perks/beta-5g-router/codes",
        "raw_path": b"/v1/admin/perks/beta-5g-router/codes",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(30 * 1024 * 1024).encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("rewards.test", 80),
        "state": {},
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert asked == 0
    assert sent[0]["status"] == 413
