"""Import a Stack Exchange dump into the event log and apply it; compare the result with the dump."""

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rewards.db import unit_of_work
from rewards.events import service as events
from rewards.events.runner import drain
from rewards.imports.stackexchange import DumpError, DumpStats, dump_events, dump_reputations
from rewards.runtime import Runtime, holder_name, utcnow
from rewards.users import repository as users

BATCH = 1000


@dataclass
class ImportSummary:
    source: str
    accepted: int = 0
    duplicates: int = 0
    failed: int = 0
    seconds: float = 0.0
    stats: DumpStats = field(default_factory=DumpStats)

    @property
    def events_per_second(self) -> float:
        return round((self.accepted + self.duplicates) / self.seconds, 1) if self.seconds else 0.0


def site_source(folder: Path) -> str:
    return f"stackexchange:{folder.resolve().name}"


async def import_dump(runtime: Runtime, folder: Path, progress: Callable[[int], None] | None = None) -> ImportSummary:
    """Store every event of the dump (a second import finds them all duplicates) and apply them."""
    summary = ImportSummary(source=site_source(folder))
    return await import_events(runtime, dump_events(folder, summary.source, summary.stats), summary, progress)


def read_event_lines(path: Path) -> Iterator[dict[str, Any]]:
    """CloudEvents, one JSON object per line (blank lines are skipped)."""
    try:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    try:
                        yield orjson.loads(line)
                    except orjson.JSONDecodeError as error:
                        raise DumpError(f"{path}: line {number}: not a JSON event ({error})") from None
    except FileNotFoundError:
        raise DumpError(f"{path}: no such file") from None


async def import_events(
    runtime: Runtime,
    stream: Iterable[dict[str, Any]],
    summary: ImportSummary,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Store events in batches (each validated whole, as `POST /v1/events` would) and apply them."""
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []

    async def flush() -> None:
        valid = events.validate_batch(batch)
        async with unit_of_work(runtime.sessionmaker) as uow:
            intake = await events.store(uow.session, valid, utcnow())
        summary.accepted += len(intake.accepted)
        summary.duplicates += len(intake.duplicates)
        if progress is not None:
            progress(len(batch))
        batch.clear()

    for event in stream:
        batch.append(event)
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    result = await drain(runtime, holder_name("import"))
    summary.failed = result.failed
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass
class Check:
    users: int
    exact: float
    exact_or_association_bonus: float
    within_1_percent: float  # these shares allow the association bonus too
    within_10_percent: float
    active_users: int
    active_exact_or_association_bonus: float
    active_within_5_percent: float
    biggest_differences: list[dict[str, Any]]
    meta_site: bool = False
    note: str | None = None


def _share(hits: int, total: int) -> float:
    return round(100 * hits / total, 1) if total else 0.0


async def check(runtime: Runtime, folder: Path) -> Check:
    """The engine's reputation against the dump's `Users.xml`, user by user."""
    expected = dump_reputations(folder)
    async with runtime.sessionmaker() as session:
        found = await users.get_many_reputations(session, list(expected))
    rows = []
    for user_id, want in expected.items():
        # Stack Exchange starts everyone at 1 (the engine at 0) and never goes below 1.
        got = max(1, 1 + found.get(user_id, 0))
        rows.append((user_id, want, got))

    def near(want: int, got: int, share: float) -> bool:
        # Within `share` of the engine's figure, with or without the +100 association bonus (which a dump
        # cannot show: it comes from the user's other sites).
        return any(abs(want - candidate) <= share * max(abs(want), 1) for candidate in (got, got + 100))

    active = [(u, w, g) for u, w, g in rows if w > 1]
    meta = is_meta_site(folder)
    biggest = sorted(rows, key=lambda r: abs(r[1] - r[2]), reverse=True)[:10]
    return Check(
        users=len(rows),
        exact=_share(sum(w == g for _, w, g in rows), len(rows)),
        exact_or_association_bonus=_share(sum(w in (g, g + 100) for _, w, g in rows), len(rows)),
        within_1_percent=_share(sum(near(w, g, 0.01) for _, w, g in rows), len(rows)),
        within_10_percent=_share(sum(near(w, g, 0.10) for _, w, g in rows), len(rows)),
        active_users=len(active),
        active_exact_or_association_bonus=_share(sum(w in (g, g + 100) for _, w, g in active), len(active)),
        active_within_5_percent=_share(sum(near(w, g, 0.05) for _, w, g in active), len(active)),
        biggest_differences=[{"user_id": u, "dump": w, "engine": g, "difference": w - g} for u, w, g in biggest],
        meta_site=meta,
        note="a meta site shows each user's reputation on the parent site, which its own posts and votes cannot "
        "reproduce: these shares say nothing about the import"
        if meta
        else None,
    )


def is_meta_site(folder: Path) -> bool:
    """`meta.<site>` or `<site>.meta` (or the dump's `...meta.stackexchange.com` folder names)."""
    name = folder.resolve().name.lower()
    return name.startswith("meta.") or ".meta" in name or name.endswith("meta")
