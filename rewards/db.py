"""Database engine, sessions, the unit of work, and bringing a database's schema up to date."""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from rewards.config import Settings
from rewards.resources import MIGRATIONS_DIR

log = logging.getLogger(__name__)

# Errors about the data itself: retrying the same writes would fail again. (A lost connection is not one.)
# On PostgreSQL the bulk writes go through the driver itself (COPY, array and JSON statements), whose errors
# SQLAlchemy does not wrap: without asyncpg's classes here, a batch the server refused stopped the log for good.
# (A value asyncpg cannot even encode for COPY raises OverflowError or TypeError in this process instead; the
# engine's values are bounded and typed so that it cannot, and catching those would hide bugs.)
REFUSED_DATA = (
    DataError,
    IntegrityError,
    asyncpg.exceptions.DataError,
    asyncpg.exceptions.IntegrityConstraintViolationError,
)


def lock_wait_ended(error: DBAPIError) -> bool:
    """A wait for a lock gave up: SQLite's busy timeout ("database is locked": another connection is writing),
    or PostgreSQL's lock_timeout (SQLSTATE 55P03)."""
    return getattr(error.orig, "sqlstate", None) == "55P03" or "database is locked" in str(error.orig)


def refusal(error: BaseException) -> str:
    """The database's own words: SQLAlchemy keeps the driver's error in `orig`."""
    return str(getattr(error, "orig", None) or error)


# How long an SQLite writer waits for the one write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK_KEY = 7_426_001  # pg_advisory_xact_lock key: one migrator at a time across processes

AfterCommit = Callable[[], Awaitable[Any]]


def create_engine(settings: Settings) -> AsyncEngine:
    json_options: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    if settings.is_sqlite:
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 30}, **json_options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        # Not pinged before each use: the ping (BEGIN, ROLLBACK) was two round trips per request, a fifth of the
        # CPU of the forum's reads. A connection the server dropped fails the one request or batch that meets
        # it (the API answers 503, the worker's next batch retries), and SQLAlchemy then replaces the whole pool.
        pool_pre_ping=False,
        pool_recycle=1800,
        # Batch lookups pass thousands of keys as one array (`key = ANY($1)`). A cached generic plan cannot see
        # the array's size and may pick a sequential scan that compares every row with every key.
        connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
        **json_options,
    )


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the site read while events are applied; NORMAL is durable across application crashes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class UnitOfWork:
    """One transaction: commit once at the end, or roll back; follow-up jobs run only after a commit."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._after_commit: list[AfterCommit] = []

    def after_commit(self, callback: AfterCommit) -> None:
        self._after_commit.append(callback)


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[UnitOfWork]:
    async with sessionmaker() as session:
        uow = UnitOfWork(session)
        try:
            yield uow
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
    for callback in uow._after_commit:
        await callback()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the database up to date (safe to run from several processes at once)."""

    def upgrade(connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


async def refresh_planner_statistics(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """After a bulk load (an import, a replay): PostgreSQL's planner statistics, which autovacuum gathers only a
    while later. Until then the planner guesses from empty tables, and a user's held badges were read through
    the wrong index: every held badge scanned, 1.7 ms of database time per profile instead of 0.05. The load is
    committed by then: a failure here is logged, not raised."""
    try:
        async with unit_of_work(sessionmaker) as uow:
            if uow.session.get_bind().dialect.name == "postgresql":
                await uow.session.execute(text("ANALYZE"))
    except DBAPIError as error:
        log.warning("ANALYZE after a bulk load failed (autovacuum will gather the statistics later): %s", error)
