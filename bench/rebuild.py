"""Times `rewards leaderboards rebuild` on the database `bench.leaderboards` filled (`rewards_bench_lb`, Redis db
11), without filling it again: `python -m bench.rebuild [--rounds 1]` after `python -m bench.leaderboards --sizes
1000000` (or `bench.read_ratios`). Prints JSON: seconds in all, in the database and loading Redis, rows, and the
closed periods left for the heal job."""

import argparse
import asyncio
import json
import time

import redis.asyncio as aioredis

from bench.leaderboards import DATABASE_URL, REDIS_URL
from rewards.apply.applier import Applier
from rewards.config import Settings
from rewards.leaderboards import redis_store, service
from rewards.runtime import utcnow


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1)
    options = parser.parse_args()
    settings = Settings(database_url=DATABASE_URL, redis_url=REDIS_URL, environment="development")
    applier = await Applier.start(settings, connect_queue=False)
    rounds = []
    try:
        for _ in range(options.rounds):
            started = time.perf_counter()
            report = await service.rebuild(applier.runtime, utcnow())
            client = aioredis.Redis.from_url(REDIS_URL)
            try:
                lazy = len(await redis_store.lazy_periods(client))
            finally:
                await client.aclose()
            rounds.append(
                {
                    "seconds": round(time.perf_counter() - started, 1),
                    "database_seconds": report.database_seconds,
                    "redis_seconds": report.redis_seconds,
                    "rows": report.rows,
                    "redis_periods": report.redis_periods,
                    "closed_periods_left_to_heal": lazy,
                }
            )
    finally:
        await applier.stop()
    print(json.dumps({"benchmark": "rebuild", "rounds": rounds}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
