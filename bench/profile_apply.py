"""Where the apply time goes: time each step of `apply_events` on PostgreSQL over a generated community.

`python -m bench.profile_apply [--users N] [--events M] [--database postgres|sqlite]` stores the events, drains
them once, and prints one JSON document: wall time, events/s, and the seconds spent in each step (summed over
batches; the steps are wrapped in place for this run only, so the figures include their await time)."""

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.bench_apply import measure_apply
from bench.bench_services import POSTGRES_URL, production_autovacuum, recreate_postgres_database
from bench.community import generate_community
from rewards.apply import steps
from rewards.badges import repository as badges_repository
from rewards.engine.marks import Marker
from rewards.events import repository as events_repository
from rewards.leaderboards import service as leaderboards_service
from rewards.ledger import repository as ledger_repository
from rewards.outbox import service as outbox_service
from rewards.perks import service as perks_service

# (module, attribute, step name): everything `apply_events`, `next_batch` and `write_next_batch` spend time in.
STEPS: list[tuple[Any, str, str]] = [
    (ledger_repository, "load_open_awards", "load: open awards"),
    (ledger_repository, "load_users", "load: users"),
    (ledger_repository, "load_suspensions", "load: suspensions"),
    (ledger_repository, "load_buckets", "load: cap buckets"),
    (badges_repository, "load_counters", "load: counters"),
    (badges_repository, "load_recognition", "load: badges and streaks"),
    (steps, "evaluate", "engine: evaluate"),
    (steps, "settle", "engine: settle"),
    (Marker, "after_event", "engine: marks (rank changes, where perks end a batch)"),
    (ledger_repository, "save_changes", "save: ledger, awards, users, buckets"),
    (leaderboards_service, "record_batch", "save: leaderboard scores"),
    (leaderboards_service, "mirror_batch", "redis: leaderboard mirror (with REWARDS_REDIS_URL)"),
    (badges_repository, "save", "save: counters and badges"),
    (outbox_service, "record", "save: outbox"),
    (perks_service, "after_batch", "perks: after batch"),
    (events_repository, "record_outcomes", "save: event outcomes"),
    (events_repository, "events_after", "load: pending events"),
    (events_repository, "take_cursor", "cursor: take"),
    (events_repository, "advance_cursor", "cursor: advance"),
]


def _timed(function: Callable[..., Any], name: str, spent: dict[str, float]) -> Callable[..., Any]:
    if asyncio.iscoroutinefunction(function):

        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return timed_async

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - started

    return timed


async def _profile(database: str, events: Sequence[dict[str, Any]], before_drain: Sequence[str]) -> dict[str, Any]:
    spent: dict[str, float] = defaultdict(float)
    originals = [(module, attribute, getattr(module, attribute)) for module, attribute, _ in STEPS]
    for (module, attribute, name), (_, _, original) in zip(STEPS, originals, strict=True):
        setattr(module, attribute, _timed(original, name, spent))
    try:
        with tempfile.TemporaryDirectory() as directory:
            if database == "postgres":
                await recreate_postgres_database()
                url = POSTGRES_URL
            else:
                url = f"sqlite+aiosqlite:///{Path(directory) / 'profile.db'}"
            spent.clear()
            figures = await measure_apply(url, events, analyze=database == "postgres", before_drain=before_drain)
    finally:
        for module, attribute, original in originals:
            setattr(module, attribute, original)
    steps = dict(sorted(((name, round(seconds, 2)) for name, seconds in spent.items()), key=lambda kv: -kv[1]))
    accounted = sum(seconds for name, seconds in spent.items() if not name.startswith("load: pending"))
    return {
        "database": figures.database,
        "events": figures.events,
        "batch_size": figures.apply_batch_size,
        "seconds": figures.seconds,
        "events_per_second": figures.events_per_second,
        "process_cpu_seconds": figures.process_cpu_seconds,
        "database_cpu_seconds": figures.database_cpu_seconds,
        "intake_events_per_second": figures.intake.events_per_second,
        "steps_seconds": steps,
        "unaccounted_seconds": round(figures.seconds - accounted - spent.get("load: pending events", 0.0), 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--sql", action="append", default=[], help="a statement to run before the drain (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    events = list(generate_community(users=args.users, events=args.events, seed=args.seed))
    with production_autovacuum() as autovacuum:
        document = asyncio.run(_profile(args.database, events, args.sql))
    print(json.dumps({"postgresql_autovacuum": autovacuum, **document}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
