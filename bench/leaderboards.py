"""Leaderboard benchmark: N users with scores on the `reputation` board in production mode (Redis), read over
HTTP from a real uvicorn process by a concurrent client.

`python -m bench.leaderboards` (default sizes 10,000, 100,000 and 1,000,000 users; `--sizes 10000` for a quick
run) does, for each size: recreate the PostgreSQL database `rewards_bench_lb` and Redis db 11; COPY users and 3
ledger entries per user spread over the last year; `rewards leaderboards rebuild` (timed: the boards from the
ledger in SQL, then Redis loaded from them); start `rewards serve`; then time top-50, around-me (radius 5, a
random user) and `GET /v1/users?ids=` (50 random ids) with `--concurrency` clients. Prints JSON and saves it as
`bench/results-leaderboards.json`.
"""

import argparse
import asyncio
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

from rewards import PROJECT_ROOT
from rewards.apply.applier import Applier
from rewards.auth.service import Scope, create_key
from rewards.config import Settings
from rewards.db import unit_of_work
from rewards.engine.state import EntryKind, LedgerEntry, UserState, WorkingState
from rewards.leaderboards import service
from rewards.ledger import repository as ledger_repository
from rewards.runtime import Runtime, utcnow

DATABASE = "rewards_bench_lb"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/11"
PORT = 8431
ENTRIES_PER_USER = 3
RESULTS = PROJECT_ROOT / "bench" / "results-leaderboards.json"


async def recreate() -> None:
    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await connection.close()
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def fill(runtime: Runtime, users: int, seed: int) -> dict[str, float]:
    """Users and their ledger (heavy-tailed points: a few experts, many with a little), saved as a batch is."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    started = time.perf_counter()
    entry_id = 0
    for start in range(1, users + 1, 100_000):
        # Written the way the engine writes a batch (users upserted, ledger entries copied), one chunk a time.
        state = WorkingState()
        for i in range(start, min(start + 100_000, users + 1)):
            total = 0
            for _ in range(ENTRIES_PER_USER):
                points = int(rng.paretovariate(1.3) * 10)
                total += points
                entry_id += 1
                when = now - timedelta(seconds=rng.randrange(365 * 86400))
                state.entries.append(
                    LedgerEntry(
                        entry_id, f"u{i}", points, EntryKind.AWARD, entry_id, None, entry_id, "upvote", 1, "bench", when
                    )
                )
            state.users[f"u{i}"] = UserState(f"u{i}", total, False, None, now, now, i)
            state.changed_users.add(f"u{i}")
        async with unit_of_work(runtime.sessionmaker) as uow:
            await ledger_repository.save(uow.session, state)
    async with runtime.engine.connect() as connection:
        await connection.exec_driver_sql("COMMIT")
        await connection.exec_driver_sql("ANALYZE")
    return {"fill_seconds": round(time.perf_counter() - started, 1)}


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def measure(
    client: httpx.AsyncClient, paths: list[str], concurrency: int, check: str | None = None
) -> dict[str, Any]:
    latencies: list[float] = []
    queue = list(reversed(paths))
    served: dict[str, int] = {}

    async def worker() -> None:
        while queue:
            path = queue.pop()
            started = time.perf_counter()
            response = await client.get(path)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
            if check is not None:
                value = str(response.json().get(check))
                served[value] = served.get(value, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    result: dict[str, Any] = {
        "requests": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "requests_per_second": round(len(ordered) / seconds),
    }
    if served:
        result["served_from"] = served
    return result


async def start_api(workers: int = 1) -> asyncio.subprocess.Process:
    """The API in production mode (the bench's database and Redis) on PORT, `workers` uvicorn processes."""
    env = {
        **os.environ,
        "REWARDS_DATABASE_URL": DATABASE_URL,
        "REWARDS_REDIS_URL": REDIS_URL,
        "REWARDS_ENVIRONMENT": "development",
    }
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "uvicorn", "rewards.app:create_app", "--factory", "--port", str(PORT)),
        *("--workers", str(workers), "--log-level", "warning", "--no-access-log"),
        env=env,
        cwd=PROJECT_ROOT,
    )


async def wait_ready(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        try:
            if (await client.get("/v1/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the API did not start")


async def run_size(users: int, requests: int, concurrency: int, seed: int) -> dict[str, Any]:
    await recreate()
    settings = Settings(database_url=DATABASE_URL, redis_url=REDIS_URL, environment="development")
    applier = await Applier.start(settings, connect_queue=False)
    runtime = applier.runtime
    try:
        figures: dict[str, Any] = {"users": users, "ledger_entries": users * ENTRIES_PER_USER}
        figures.update(await fill(runtime, users, seed))
        started = time.perf_counter()
        report = await service.rebuild(runtime, utcnow())
        figures["rebuild_seconds"] = round(time.perf_counter() - started, 1)
        figures["rebuild_rows"] = report.rows
        figures["redis_periods"] = report.redis_periods
        figures["rebuild_database_seconds"] = report.database_seconds
        figures["rebuild_redis_seconds"] = report.redis_seconds
        print(json.dumps(figures), file=sys.stderr, flush=True)  # the rebuild's figures, before the reads
        async with unit_of_work(runtime.sessionmaker) as uow:
            key = await create_key(uow.session, "bench", [Scope.READ], utcnow())
    finally:
        await applier.stop()

    server = await start_api()
    rng = random.Random(seed + 1)
    try:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{PORT}", headers={"Authorization": f"Bearer {key}"}, limits=limits
        ) as client:
            await wait_ready(client)
            warm = [f"/v1/leaderboards/reputation/around/u{rng.randint(1, users)}" for _ in range(200)]
            await measure(client, warm, concurrency)
            top = ["/v1/leaderboards/reputation?limit=50"] * requests
            figures["top50"] = await measure(client, top, concurrency, check="served_from")
            around = [f"/v1/leaderboards/reputation/around/u{rng.randint(1, users)}?radius=5" for _ in range(requests)]
            figures["around_me"] = await measure(client, around, concurrency, check="served_from")
            pages = [
                "/v1/users?ids=" + ",".join(f"u{rng.randint(1, users)}" for _ in range(50)) for _ in range(requests)
            ]
            figures["users_page_50"] = await measure(client, pages, concurrency)
            deep = [f"/v1/leaderboards/reputation?limit=50&offset={rng.randint(0, users - 50)}" for _ in range(200)]
            figures["page_at_random_offset"] = await measure(client, deep, concurrency, check="served_from")
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=30)
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="Users per run, comma-separated.")
    parser.add_argument("--requests", type=int, default=3000, help="Requests per measured call.")
    parser.add_argument("--concurrency", type=int, default=8, help="Concurrent client connections.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    options = parser.parse_args()
    runs = []
    for size in (int(part) for part in options.sizes.split(",")):
        figures = await run_size(size, options.requests, options.concurrency, options.seed)
        print(json.dumps(figures), file=sys.stderr, flush=True)
        runs.append(figures)
    result = {
        "benchmark": "leaderboards",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "concurrency": options.concurrency,
        "cpus": os.cpu_count(),
        "runs": runs,
    }
    options.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
