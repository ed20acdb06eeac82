"""The benchmark's own PostgreSQL database and Redis db: recreate them, read the server's version, count results.

Only `rewards_bench` and Redis db 14 are ever touched; the tests use other databases."""

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

BENCH_DATABASE = "rewards_bench"
POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{BENCH_DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/14"


async def recreate_postgres_database() -> None:
    """Drop `rewards_bench` (ending any session still on it) and create it empty."""
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    finally:
        await connection.close()


async def postgres_server_version() -> str:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        version: str = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return version


async def _admin(*statements: str) -> str:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        for statement in statements:
            await connection.execute(statement)
        value: str = await connection.fetchval("SHOW autovacuum")
    finally:
        await connection.close()
    return value


@contextmanager
def production_autovacuum() -> Iterator[str]:
    """Autovacuum on for the run, as on any production server, if the server has it off (test machines often
    do: a freshly filled database then keeps no planner statistics, and delete-heavy tables are never vacuumed,
    so the figures would be those of a misconfigured server). Restored afterwards. Yields what the header
    should say."""
    was = asyncio.run(_admin())
    if was == "on":
        yield "on"
        return
    asyncio.run(_admin("ALTER SYSTEM SET autovacuum = on", "SELECT pg_reload_conf()"))
    try:
        yield "on for this run (the server has it off)"
    finally:
        asyncio.run(_admin("ALTER SYSTEM RESET autovacuum", "SELECT pg_reload_conf()"))


async def flush_redis() -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def redis_key_exists(key: str) -> bool:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        return bool(await client.exists(key))
    finally:
        await client.aclose()


@dataclass(frozen=True)
class DatabaseFigures:
    """What the engine left in the database: a sanity check that the measured work was really done."""

    outcomes: dict[str, int]
    users: int
    ledger_entries: int


async def database_figures(engine: AsyncEngine) -> DatabaseFigures:
    async with engine.connect() as connection:
        outcomes = await connection.execute(text("SELECT status, count(*) FROM event_outcomes GROUP BY status"))
        by_status = {str(status): int(count) for status, count in outcomes}
        users = await connection.scalar(text("SELECT count(*) FROM users"))
        ledger_entries = await connection.scalar(text("SELECT count(*) FROM ledger_entries"))
    return DatabaseFigures(outcomes=by_status, users=int(users or 0), ledger_entries=int(ledger_entries or 0))


def _stat(path: Path) -> tuple[str, list[str]]:
    """A /proc/<pid>/stat: the command name, and the fields after it (the name, in parentheses, may hold spaces)."""
    text = path.read_text()
    return text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time of a running process so far."""
    _, fields = _stat(Path(f"/proc/{pid}/stat"))
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def postgres_cpu_seconds() -> float | None:
    """CPU time of the local PostgreSQL server's processes so far (ended backends count in the postmaster's
    children times); None when there is no /proc or no local server."""
    total = 0
    found = False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = _stat(stat)
        except OSError:
            continue
        if name.startswith("postgres"):
            total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
            found = True
    return total / os.sysconf("SC_CLK_TCK") if found else None
