"""Fixtures: a clean database per test on SQLite and on real PostgreSQL, a clean Redis db, an API client.

Service tests never skip: if PostgreSQL or Redis cannot be reached, they fail and say how to start them.
"""

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from rewards.app import create_app
from rewards.apply.applier import Applier
from rewards.apply.publish import publish_retroactively
from rewards.auth.service import Scope, create_key
from rewards.config import Settings
from rewards.db import create_engine, migrate, unit_of_work
from rewards.models import Base
from rewards.runtime import Runtime, utcnow

# The `receiver` fixture (a real HTTP server for webhooks), for the outbox and worker tests.
pytest_plugins = ["tests.webhook_receiver"]

POSTGRES_URL = os.environ.get("REWARDS_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/rewards_test")
REDIS_URL = os.environ.get("REWARDS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
HOW_TO_START = (
    "start it (PostgreSQL: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`; Redis: "
    "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no`) or run `.ci/run`"
)


async def _recreate_postgres_database(url: str) -> None:
    parsed = make_url(url)
    admin_dsn = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    try:
        connection = await asyncpg.connect(admin_dsn)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(f"PostgreSQL at {url} is unreachable ({error}): {HOW_TO_START}", pytrace=False)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def postgres_url() -> str:
    await _recreate_postgres_database(POSTGRES_URL)
    engine = create_engine(Settings(database_url=POSTGRES_URL))
    await migrate(engine)
    await engine.dispose()
    return POSTGRES_URL


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "rewards.db"
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    await migrate(engine)
    await engine.dispose()
    return path


async def clean_postgres(url: str) -> None:
    engine = create_engine(Settings(database_url=url))
    async with engine.begin() as connection:
        names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        await connection.execute(text("INSERT INTO apply_cursor (id, applied_through) VALUES (1, 0)"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, postgres_url: str) -> str:
    """A clean, migrated database: each test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "rewards.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    await clean_postgres(postgres_url)
    return postgres_url


@pytest.fixture
async def postgres_database_url(postgres_url: str) -> str:
    await clean_postgres(postgres_url)
    return postgres_url


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    except (OSError, aioredis.ConnectionError) as error:
        pytest.fail(f"Redis at {REDIS_URL} is unreachable ({error}): {HOW_TO_START}", pytrace=False)
    yield REDIS_URL
    await client.flushdb()
    await client.aclose()


# Tests deliver webhooks to the `receiver` on 127.0.0.1, an address refused unless allowed; the tests of that
# policy (test_outbound_addresses.py) pass webhook_allowed_networks="" for the default.
RECEIVER_NETWORKS = "127.0.0.0/8"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=database_url, environment="test", **{"webhook_allowed_networks": RECEIVER_NETWORKS, **overrides}
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def applier(settings: Settings) -> AsyncIterator[Applier]:
    started = await Applier.start(settings, connect_queue=False)
    yield started
    await started.stop()


@pytest.fixture
def runtime(applier: Applier) -> Runtime:
    return applier.runtime


class Api:
    """An HTTP client on the app, with an admin key, plus helpers the tests share."""

    def __init__(self, client: httpx.AsyncClient, applier: Applier) -> None:
        self.client = client
        self.applier = applier
        self.runtime = applier.runtime

    async def post_events(self, *events: dict[str, Any], expect: int = 202) -> dict[str, Any]:
        body: Any = list(events) if len(events) != 1 else events[0]
        response = await self.client.post("/v1/events", json=body)
        assert response.status_code == expect, response.text
        result: dict[str, Any] = response.json()
        return result

    async def reputation(self, user_id: str) -> int:
        response = await self.client.get(f"/v1/users/{user_id}")
        assert response.status_code == 200, response.text
        value: int = response.json()["reputation"]
        return value

    async def key(self, *scopes: Scope) -> str:
        async with unit_of_work(self.runtime.sessionmaker) as uow:
            return await create_key(uow.session, "test", list(scopes), utcnow())


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with open_api(settings) as opened:
        yield opened


@asynccontextmanager
async def open_api(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        async with unit_of_work(runtime.sessionmaker) as uow:
            key = await create_key(uow.session, "admin", [Scope.ADMIN], utcnow())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://rewards.test", headers={"Authorization": f"Bearer {key}"}
        ) as client:
            yield Api(client, app.state.applier)


@pytest.fixture
def shared_data() -> Iterator[Path]:
    path = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.exists():
        pytest.fail(f"{path} is missing: the shared data sets sit beside the project", pytrace=False)
    yield path


async def run_scheduled_publish(applier: Applier) -> int:
    """What the scheduler does every 5 s (it does not run in tests): start the oldest queued retroactive publish
    in its task, then wait for the task to end. 1 if one was started."""
    started = await publish_retroactively(applier, utcnow())
    if started:
        assert applier.publish_task is not None
        await applier.publish_task
    return started
