"""Speed of `rewards import khoros`: the real LiQL answers, and a generated Bulk Data export (JSON or CSV) of N
actions of a support forum (topics, replies, kudos, a super user's kudos, solutions, moderation, page views).

`python -m bench.khoros_import [--actions 100000] [--format json|csv] [--rules rules/khoros.yaml]
[--database-url URL]` prints one JSON document: per input, actions read, events stored, seconds, events/s (the
import's own figure: stored and applied), and the mapping's share of the time. Without `--database-url`, a fresh
SQLite file in a temporary folder."""

import argparse
import asyncio
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from random import Random
from typing import Any

import orjson

from rewards import PROJECT_ROOT
from rewards.apply.applier import Applier
from rewards.config import Settings
from rewards.db import create_engine, migrate
from rewards.imports import khoros, service

START_MS = 1_700_000_000_000
REAL = PROJECT_ROOT.parent / "shared" / "data" / "khoros"


def generate(actions: int, seed: int = 7) -> list[dict[str, Any]]:
    """A Bulk Data export's records: one topic in 5 actions, 2 replies, a kudo or two, now and then a solution, a
    rejection, and page views (which the import counts and skips)."""
    rng = Random(seed)
    users = [str(1000 + n) for n in range(max(50, actions // 40))]
    records: list[dict[str, Any]] = []
    topics: list[tuple[str, str]] = []  # (topic, author)
    replies: list[tuple[str, str, str]] = []  # (reply, author, topic)
    next_id = 100_000
    at = START_MS
    while len(records) < actions:
        at += rng.randint(1_000, 60_000)
        roll = rng.random()
        document = f"gen-{len(records)}"
        base = {"document.id": document, "event.time.ms": at, "board.uid": rng.choice(("routers", "billing", "tv"))}
        if roll < 0.10 or not topics:
            next_id += 1
            author = rng.choice(users)
            topics.append((str(next_id), author))
            records.append({**base, "action.key": "messages.publish", "user.uid": author, "message.uid": str(next_id),
                            "message.is_topic": "true", "conversation.uid": str(next_id)})  # fmt: skip
        elif roll < 0.35:
            topic, _ = rng.choice(topics[-200:])
            next_id += 1
            author = rng.choice(users)
            replies.append((str(next_id), author, topic))
            records.append({**base, "action.key": "messages.publish", "user.uid": author, "message.uid": str(next_id),
                            "message.is_topic": "false", "conversation.uid": topic})  # fmt: skip
        elif roll < 0.75 and replies:
            reply, author, topic = rng.choice(replies[-500:])
            giver = rng.choice(users)
            records.append({**base, "action.key": "kudos.give", "user.uid": giver, "target.user.uid": author,
                            "message.uid": reply, "message.is_topic": "false", "conversation.uid": topic,
                            "action.weight": 2 if rng.random() < 0.05 else 1})  # fmt: skip
        elif roll < 0.82 and replies:
            reply, author, topic = rng.choice(replies[-500:])
            records.append({**base, "action.key": "solutions.accept", "user.uid": rng.choice(users),
                            "target.user.uid": author, "message.uid": reply, "conversation.uid": topic})  # fmt: skip
        elif roll < 0.83 and replies:
            reply, author, topic = rng.choice(replies[-500:])
            records.append({**base, "action.key": "moderation.reject", "user.uid": "1", "target.user.uid": author,
                            "message.uid": reply, "conversation.uid": topic})  # fmt: skip
        else:
            records.append({**base, "action.key": "view", "user.uid": "-1", "message.uid": str(next_id)})
    return records


def write(records: list[dict[str, Any]], folder: Path, form: str) -> Path:
    if form == "json":
        path = folder / "bulk.json"
        path.write_bytes(orjson.dumps({"records": records}))
        return path
    path = folder / "bulk.csv"
    names = sorted({name for record in records for name in record})
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=names)
        writer.writeheader()
        writer.writerows(records)
    return path


async def measure(paths: list[Path], database_url: str, rules: Path, community: str) -> dict[str, Any]:
    engine = create_engine(Settings(database_url=database_url))
    await migrate(engine)
    await engine.dispose()
    stats = khoros.KhorosStats()
    started = time.perf_counter()
    read = khoros.read_input(paths, stats)
    khoros.map_input(read, khoros.community_source(community), stats, khoros.input_posts(read))
    mapping = time.perf_counter() - started
    applier = await Applier.start(
        Settings(database_url=database_url, environment="test", rules_path=rules), connect_queue=False
    )
    try:
        summary = await service.import_khoros(applier, paths, community)
    finally:
        await applier.stop()
    return {
        "files": [str(path) for path in paths],
        "records_read": stats.bulk_records + sum(stats.liql_items.values()),
        "events_stored": summary.accepted,
        "failed": summary.failed,
        "seconds": round(summary.seconds, 2),
        "events_per_second": summary.events_per_second,
        "mapping_seconds": round(mapping, 2),
        "skipped": sum(summary.khoros.skipped.values()),
        "actions_not_mapped": summary.khoros.actions_not_mapped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--actions", type=int, default=100_000)
    parser.add_argument("--format", choices=("json", "csv"), default="json")
    parser.add_argument("--rules", type=Path, default=service.KHOROS_RULES)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        if REAL.exists():
            url = args.database_url or f"sqlite+aiosqlite:///{folder / 'real.db'}"
            results["real_liql_answers"] = asyncio.run(measure([REAL], url, args.rules, "community.neo4j.com"))
        print(f"generating {args.actions:,} actions", file=sys.stderr)
        path = write(generate(args.actions), folder, args.format)
        url = args.database_url or f"sqlite+aiosqlite:///{folder / 'generated.db'}"
        results[f"generated_bulk_{args.format}"] = asyncio.run(measure([path], url, args.rules, "bench.example.com"))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
