"""Read benchmark: the forum frontend's calls against a community of N users (default 100,000).

`python -m bench.reads --users 1000000` fills the `rewards_bench` database with users (COPY, random
reputations) and times, in-process through ASGI (no network, one client at a time), `GET /v1/users/{id}` and
`GET /v1/users?ids=` with 50 ids; it prints JSON with p50/p99 and requests per second. Over HTTP with a
concurrent client is the leaderboard issue's benchmark; this isolates the service's own cost.
"""

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.bench_services import POSTGRES_URL, recreate_postgres_database
from rewards.app import create_app
from rewards.auth.service import Scope, create_key
from rewards.config import Settings
from rewards.db import unit_of_work
from rewards.runtime import Runtime, utcnow
from rewards.sql import asyncpg_connection


async def _fill(runtime: Runtime, users: int, seed: int) -> float:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    started = time.perf_counter()
    async with unit_of_work(runtime.sessionmaker) as uow:
        connection = await asyncpg_connection(uow.session)
        for start in range(1, users + 1, 100_000):
            records = [
                (f"u{i}", int(rng.paretovariate(1.2) * 10) - 10, False, None, now, now, i)
                for i in range(start, min(start + 100_000, users + 1))
            ]
            await connection.copy_records_to_table(
                "users",
                records=records,
                columns=(
                    "user_id",
                    "reputation",
                    "suspended",
                    "suspended_until",
                    "first_seen_at",
                    "last_active_at",
                    "updated_seq",
                ),
            )
        await connection.execute("ANALYZE users")
    return time.perf_counter() - started


def _figures(latencies: list[float], seconds: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "p50_ms": round(ordered[len(ordered) // 2], 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)], 2),
        "max_ms": round(ordered[-1], 2),
        "requests_per_second": round(len(ordered) / seconds, 1),
    }


async def measure(users: int, requests: int, seed: int) -> dict[str, Any]:
    await recreate_postgres_database()
    settings = Settings(database_url=POSTGRES_URL, environment="test")
    app = create_app(settings)
    rng = random.Random(seed + 1)
    results: dict[str, Any] = {"users": users, "requests_each": requests}
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        results["fill_seconds"] = round(await _fill(runtime, users, seed), 2)
        async with unit_of_work(runtime.sessionmaker) as uow:
            key = await create_key(uow.session, "bench", [Scope.READ], utcnow())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers={"Authorization": f"Bearer {key}"}
        ) as client:

            def one_user() -> str:
                return f"/v1/users/u{rng.randint(1, users)}"

            def page_of_50() -> str:
                return "/v1/users?ids=" + ",".join(f"u{rng.randint(1, users)}" for _ in range(50))

            calls: dict[str, Callable[[], str]] = {"get_user": one_user, "get_users_50": page_of_50}
            for name, path in calls.items():
                for _ in range(50):  # warm up
                    await client.get(path())
                latencies: list[float] = []
                started = time.perf_counter()
                for _ in range(requests):
                    url = path()
                    sent = time.perf_counter()
                    response = await client.get(url)
                    latencies.append((time.perf_counter() - sent) * 1000)
                    if response.status_code != 200:
                        raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
                results[name] = _figures(latencies, time.perf_counter() - started)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(f"bench.reads: filling {args.users:,} users into rewards_bench", file=sys.stderr)
    results = asyncio.run(measure(args.users, args.requests, args.seed))
    results["utc_time"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
