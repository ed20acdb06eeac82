"""A replay (what `rewards replay` and a retroactive publish run) of a large log on PostgreSQL, timed against the
pure engine on the same events, with the process's peak memory.

`python -m bench.replay [--users 100000] [--events 1000000]` stores the generated community's events (nothing
applied), then replays the whole log in one transaction, as a retroactive publication does. Prints JSON."""

import argparse
import asyncio
import json
import logging
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.bench_apply import _store_all
from bench.bench_services import POSTGRES_URL, production_autovacuum, recreate_postgres_database
from bench.community import generate_community
from bench.engine import measure_engine
from rewards.apply.applier import Applier
from rewards.apply.publish import replay
from rewards.config import Settings
from rewards.db import unit_of_work
from rewards.runtime import APPLYING_GC_THRESHOLD, utcnow

log = logging.getLogger("bench")


async def measure_replay(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    await recreate_postgres_database()
    applier = await Applier.start(
        Settings(database_url=POSTGRES_URL, environment="test"), connect_queue=False, gc_threshold=APPLYING_GC_THRESHOLD
    )
    runtime = applier.runtime
    try:
        intake = await _store_all(runtime, events)
        rss_before = _peak_rss_mib()
        log.info("replaying %d events", intake.accepted)
        started = time.perf_counter()
        async with unit_of_work(runtime.sessionmaker) as uow:
            result = await replay(
                uow.session, runtime.ruleset, runtime.settings.apply_batch_size, "bench-replay", utcnow()
            )
        seconds = time.perf_counter() - started
    finally:
        await applier.stop()
    done = result.applied + result.failed
    return {
        "events": done,
        "failed": result.failed,
        "seconds": round(seconds, 2),
        "events_per_second": round(done / seconds, 1),
        "peak_rss_mib_before_replay": rss_before,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    events = list(generate_community(users=args.users, events=args.events, seed=args.seed))
    engine = measure_engine(events, rounds=1)  # one round: a million events take a minute each way
    log.info("pure engine: %.0f events/s", engine.events_per_second)
    with production_autovacuum():
        figures = asyncio.run(measure_replay(events))
    figures["engine_events_per_second"] = engine.events_per_second
    figures["replay_vs_engine"] = round(figures["events_per_second"] / engine.events_per_second, 3)
    figures["users"] = args.users
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
