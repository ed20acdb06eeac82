"""Benchmark of the rewards engine: the pure engine in memory, in-process apply (and replay) on SQLite and
PostgreSQL, and end to end over HTTP; the pipeline's figures also as shares of the engine's (`ratios`).

`python -m bench.run [--users N] [--events M] [--seed S] [--only engine,apply-sqlite,apply-postgres,end-to-end]
[--quick]` prints one JSON document on stdout, figures next to their targets; progress goes to stderr."""

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bench.bench_apply import ApplyFigures, measure_apply
from bench.bench_end_to_end import measure_end_to_end
from bench.bench_services import (
    POSTGRES_URL,
    postgres_server_version,
    production_autovacuum,
    recreate_postgres_database,
)
from bench.community import generate_community
from bench.engine import measure_engine
from rewards import PROJECT_ROOT

log = logging.getLogger("bench")

PARTS = ("engine", "apply-sqlite", "apply-postgres", "end-to-end")
QUICK_USERS, QUICK_EVENTS = 2_000, 50_000


@dataclass(frozen=True)
class Target:
    """A figure of the report (a path of keys into it), the bound it should respect, and its unit."""

    figure: tuple[str, ...]
    comparison: Literal[">=", "<="]
    bound: float
    unit: str

    def judge(self, document: dict[str, Any]) -> dict[str, Any]:
        value: Any = document
        for key in self.figure:
            value = value.get(key) if isinstance(value, dict) else None
        met = None if value is None else (value >= self.bound if self.comparison == ">=" else value <= self.bound)
        return {
            "figure": ".".join(self.figure),
            "value": value,
            "target": f"{self.comparison} {self.bound:,g} {self.unit}",
            "met": met,
        }


TARGETS = {
    # Issue 16: store + apply and replay at half the pure engine's speed or better, on the same log, same run.
    "apply_postgres_vs_engine": Target(("ratios", "apply_postgres_vs_engine"), ">=", 0.5, "of the engine"),
    "replay_postgres_vs_engine": Target(("ratios", "replay_postgres_vs_engine"), ">=", 0.5, "of the engine"),
    "apply_postgres": Target(("apply_postgres", "events_per_second"), ">=", 20_000, "events/s"),
    "end_to_end": Target(("end_to_end", "events_per_second"), ">=", 5_000, "events/s"),
    "get_user_p99": Target(("end_to_end", "get_user", "p99_ms"), "<=", 10, "ms"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)

    header = _header(args)
    log.info("machine and parameters: %s", json.dumps(header))
    events, community = _generate(args.users, args.events, args.seed)
    document: dict[str, Any] = {"header": header, "community": community}

    errors = 0
    with production_autovacuum() as autovacuum:
        header["postgresql_autovacuum"] = autovacuum
        for part in PARTS:
            if part not in args.only:
                continue
            log.info("=== %s", part)
            try:
                figures = _run_part(part, events, args)
            except Exception as error:
                # One broken part must not throw away the figures of the others: report it and go on.
                log.exception("%s failed", part)
                document[part.replace("-", "_")] = {"error": f"{type(error).__name__}: {error}"}
                errors += 1
            else:
                document[part.replace("-", "_")] = asdict(figures)

    document["ratios"] = _ratios(document)
    document["targets"] = {name: target.judge(document) for name, target in TARGETS.items()}
    document["header"]["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    document["header"]["total_seconds"] = round(time.perf_counter() - args.started, 1)
    print(json.dumps(document, indent=2))
    return 1 if errors else 0


def _ratios(document: dict[str, Any]) -> dict[str, float | None]:
    """Each pipeline figure as a share of the pure engine's, measured on the same log in the same run."""
    engine = document.get("engine", {}).get("events_per_second")

    def share(part: str, figure: str) -> float | None:
        value = document.get(part, {}).get(figure)
        return None if not engine or value is None else round(value / engine, 3)

    return {
        "apply_sqlite_vs_engine": share("apply_sqlite", "events_per_second"),
        "apply_postgres_vs_engine": share("apply_postgres", "events_per_second"),
        "replay_postgres_vs_engine": share("apply_postgres", "replay_events_per_second"),
    }


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--users", type=int, help="community size (default 10000, --quick 2000)")
    parser.add_argument("--events", type=int, help="events to generate (default 500000, --quick 50000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", type=_parts, default=PARTS, help=f"comma-separated parts: {','.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_USERS} users, {QUICK_EVENTS} events")
    parser.add_argument("--http-batch-size", type=int, default=500, help="events per POST /v1/events")
    parser.add_argument("--senders", type=int, default=4, help="concurrent POST /v1/events callers")
    parser.add_argument(
        "--reads-per-second", type=float, default=100.0, help="GET /v1/users/{id} sent at this fixed rate (open loop)"
    )
    parser.add_argument(
        "--read-api",
        choices=("own", "shared"),
        default="own",
        help="the reader's GETs go to an API process of their own (default), or to the one the senders post to",
    )
    parser.add_argument(
        "--background-nice",
        type=int,
        default=10,
        help="niceness of the worker and the posting API process (default 10: reads first; 0: all equal)",
    )
    parser.add_argument("--drain-timeout", type=float, default=1800.0, help="seconds to wait for the worker")
    args = parser.parse_args(argv)
    args.started = time.perf_counter()
    if args.users is None:
        args.users = QUICK_USERS if args.quick else 10_000
    if args.events is None:
        args.events = QUICK_EVENTS if args.quick else 500_000
    if args.users < 2 or args.events < 1:
        parser.error("--users must be at least 2 and --events at least 1")
    return args


def _parts(value: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [part for part in chosen if part not in PARTS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(PARTS)}; not {', '.join(unknown) or 'nothing'}")
    return chosen


def _header(args: argparse.Namespace) -> dict[str, Any]:
    try:
        postgresql: str | None = asyncio.run(postgres_server_version())
    except OSError as error:
        log.warning("PostgreSQL is unreachable: %s", error)
        postgresql = None
    return {
        "utc_time": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        # Anything else running on the machine shows here, and in the figures.
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgresql": postgresql,
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        # Others may be editing the tree: a dirty tree means the figures are not exactly those of the commit.
        "git_dirty": bool(_git("status", "--porcelain")),
        "parameters": {
            "users": args.users,
            "events": args.events,
            "seed": args.seed,
            "only": list(args.only),
            "quick": args.quick,
            "http_batch_size": args.http_batch_size,
            "senders": args.senders,
            "reads_per_second": args.reads_per_second,
            "read_api": args.read_api,
            "background_nice": args.background_nice,
        },
    }


def _git(*arguments: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip()


def _generate(users: int, events: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    log.info("generating %d events for %d users (seed %d)", events, users, seed)
    started = time.perf_counter()
    gc.disable()
    try:
        community = list(generate_community(users, events, seed))
    finally:
        gc.enable()
    seconds = time.perf_counter() - started
    # The events stay in memory for the whole run, which no engine process would do: keep the collector from
    # rescanning them during the measured phases.
    gc.freeze()
    log.info("generated in %.1f s", seconds)
    types = Counter(event["type"] for event in community)
    return community, {
        "users": users,
        "events": len(community),
        "seed": seed,
        "generation_seconds": round(seconds, 3),
        "types": dict(types.most_common()),
    }


def _run_part(part: str, events: list[dict[str, Any]], args: argparse.Namespace) -> Any:
    if part == "engine":
        return measure_engine(events)
    if part == "apply-sqlite":
        with tempfile.TemporaryDirectory(prefix="rewards-bench-sqlite-") as folder:
            return asyncio.run(
                measure_apply(f"sqlite+aiosqlite:///{Path(folder) / 'rewards.db'}", events, analyze=False)
            )
    if part == "apply-postgres":
        return asyncio.run(_apply_postgres(events))
    return measure_end_to_end(
        events,
        users=args.users,
        seed=args.seed,
        http_batch_size=args.http_batch_size,
        senders=args.senders,
        reads_per_second=args.reads_per_second,
        drain_timeout=args.drain_timeout,
        read_api=args.read_api,
        background_nice=args.background_nice,
    )


async def _apply_postgres(events: list[dict[str, Any]]) -> ApplyFigures:
    await recreate_postgres_database()
    return await measure_apply(POSTGRES_URL, events, analyze=True, replay=True)


if __name__ == "__main__":
    raise SystemExit(main())
