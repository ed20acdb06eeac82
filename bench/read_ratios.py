"""Reads against the cheapest request, in one run: `GET /v1/health` and the forum's most frequent reads (top 50 of
a board, around-me, a page of 50 users, one user), each as a share of health's request rate (issue 18: >= 0.5).

`python -m bench.read_ratios --users 10000` recreates `rewards_bench_lb` and Redis db 11 (as `bench.leaderboards`
does), fills N members with 3 ledger entries each, rebuilds the boards (timed), starts `rewards.app` under uvicorn
with `--workers` API processes in production mode (Redis), and times each call with `--concurrency` keep-alive
clients from this process (its own), in three interleaved rounds (the median round is kept). Prints JSON
with req/s, p50/p99 and `ratios` to health.
"""

import argparse
import asyncio
import json
import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.leaderboards import DATABASE_URL, PORT, REDIS_URL, fill, measure, recreate, start_api, wait_ready
from rewards.apply.applier import Applier
from rewards.auth.service import Scope, create_key
from rewards.config import Settings
from rewards.db import unit_of_work
from rewards.leaderboards import service
from rewards.runtime import utcnow

ROUNDS = 3


async def prepare(users: int, seed: int) -> tuple[dict[str, Any], str]:
    await recreate()
    settings = Settings(database_url=DATABASE_URL, redis_url=REDIS_URL, environment="development")
    applier = await Applier.start(settings, connect_queue=False)
    runtime = applier.runtime
    try:
        figures: dict[str, Any] = {"users": users}
        figures.update(await fill(runtime, users, seed))
        started = time.perf_counter()
        report = await service.rebuild(runtime, utcnow())
        figures["rebuild_seconds"] = round(time.perf_counter() - started, 1)
        figures["rebuild_rows"] = report.rows
        async with unit_of_work(runtime.sessionmaker) as uow:
            key = await create_key(uow.session, "bench", [Scope.READ], utcnow())
    finally:
        await applier.stop()
    return figures, key


async def run(users: int, requests: int, concurrency: int, workers: int, seed: int) -> dict[str, Any]:
    figures, key = await prepare(users, seed)
    server = await start_api(workers)
    rng = random.Random(seed + 1)
    calls: dict[str, Callable[[], str]] = {
        "health": lambda: "/v1/health",
        "top50": lambda: "/v1/leaderboards/reputation?limit=50",
        "around_me": lambda: f"/v1/leaderboards/reputation/around/u{rng.randint(1, users)}?radius=5",
        "users_page_50": lambda: "/v1/users?ids=" + ",".join(f"u{rng.randint(1, users)}" for _ in range(50)),
        "one_user": lambda: f"/v1/users/u{rng.randint(1, users)}",
    }
    try:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{PORT}", headers={"Authorization": f"Bearer {key}"}, limits=limits
        ) as client:
            await wait_ready(client)
            for path in calls.values():  # warm up every call in both processes
                await measure(client, [path() for _ in range(200)], concurrency)
            # Interleaved rounds, so that the load of a shared machine weighs on every call alike; the median round.
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in calls}
            for _ in range(ROUNDS):
                for name, path in calls.items():
                    rounds[name].append(await measure(client, [path() for _ in range(requests)], concurrency))
            for name, measured in rounds.items():
                figures[name] = sorted(measured, key=lambda one: one["requests_per_second"])[ROUNDS // 2]
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=30)
    health = figures["health"]["requests_per_second"]
    figures["ratios"] = {
        name: round(figures[name]["requests_per_second"] / health, 2) for name in calls if name != "health"
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=3000, help="Requests per measured call.")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="API processes.")
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    figures = asyncio.run(run(options.users, options.requests, options.concurrency, options.workers, options.seed))
    figures["utc_time"] = datetime.now(UTC).isoformat(timespec="seconds")
    figures["cpus"] = os.cpu_count()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
