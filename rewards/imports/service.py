"""Import a Stack Exchange dump into the event log and apply it; compare the result with the dump."""

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rewards.apply.applier import Applier
from rewards.apply.ingest import ingest
from rewards.db import refresh_planner_statistics, unit_of_work
from rewards.engine.loader import load_ruleset_file
from rewards.events import service as events
from rewards.imports import fidelity
from rewards.imports.fidelity import BadgeAgreement
from rewards.imports.stackexchange import DumpError, DumpStats, dump_badge_holders, dump_events, dump_users
from rewards.resources import RULES_DIR
from rewards.runtime import Runtime, holder_name, utcnow
from rewards.users import repository as users

BATCH = 1000
STACKEXCHANGE_RULES: Path = RULES_DIR / "stackexchange.yaml"


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


async def import_dump(
    applier: Applier,
    folder: Path,
    progress: Callable[[int], None] | None = None,
    question_upvote: int | None = None,
) -> ImportSummary:
    """Store every event of the dump (a second import finds them all duplicates) and apply them under the
    service's own ruleset. `question_upvote` overrides the value the dump's date gives question upvotes."""
    summary = ImportSummary(source=site_source(folder))
    stream = dump_events(folder, summary.source, summary.stats, question_upvote)
    return await import_events(applier, stream, summary, progress)


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
    applier: Applier,
    stream: Iterable[dict[str, Any]],
    summary: ImportSummary,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Store events in batches (each validated whole, as `POST /v1/events` would) and apply them."""
    runtime = applier.runtime
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []

    async def flush() -> None:
        valid = events.validate_batch(batch)
        async with unit_of_work(runtime.sessionmaker) as uow:
            intake = await ingest(applier, uow, valid, utcnow(), apply=False)
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
    result = await applier.drain(holder_name("import"))
    await refresh_planner_statistics(runtime.sessionmaker)
    summary.failed = result.failed
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass
class Check:
    """The fidelity report: the dump's events under `ruleset`, compared with Users.xml and Badges.xml."""

    ruleset: str
    rules_path: str
    service_ruleset: str
    question_upvote: int
    question_upvote_from: str
    all_users: dict[str, Any]
    active_users: dict[str, Any]  # reputation > 1 in the dump
    causes: dict[str, int]  # users whose difference each cause explains (a user may have two)
    biggest_differences: list[dict[str, Any]]
    badges: list[BadgeAgreement]
    votes_on_deleted_posts: dict[str, int]
    events_failed: list[str]
    meta_site: bool = False
    note: str | None = None
    service_agrees: float | None = None  # share of users whose stored reputation equals the check's

    @property
    def users(self) -> int:
        return int(self.all_users["users"])

    @property
    def active_exact_or_association_bonus(self) -> float:
        return float(self.active_users["exact_or_association_bonus"])

    @property
    def active_within_5_percent(self) -> float:
        return float(self.active_users["within_5_percent"])


async def check(
    runtime: Runtime, folder: Path, rules_path: Path = STACKEXCHANGE_RULES, question_upvote: int | None = None
) -> Check:
    """Reconstruct the dump under `rules_path` (by default Stack Exchange's own rules, whatever the service runs)
    in memory, and compare it with the dump user by user and badge by badge. When the service runs the same
    ruleset, also say how many of its stored figures equal the check's (they should all)."""
    ruleset = load_ruleset_file(rules_path)
    stats = DumpStats()
    rebuilt = fidelity.reconstruct(ruleset, dump_events(folder, site_source(folder), stats, question_upvote))
    users_in_dump = dump_users(folder)
    meta = is_meta_site(folder)
    rows = fidelity.compare_users(
        users_in_dump,
        rebuilt,
        meta=meta,
        post_history=stats.post_history,
        deleted_bounties=stats.bounties_on_missing_posts,
    )
    active = [row for row in rows if row.dump > 1]
    causes: Counter[str] = Counter(cause for row in rows for cause in row.causes)
    biggest = sorted(
        (row for row in rows if not row.exact or row.causes), key=lambda r: abs(r.difference), reverse=True
    )
    engine_badges = {badge.name for badge in ruleset.badges.values()}
    dump_badges = dump_badge_holders(folder)
    service_agrees = None
    if runtime.ruleset.digest == ruleset.digest:
        async with runtime.sessionmaker() as session:
            stored = await users.get_many_reputations(session, list(users_in_dump))
        same = sum(stored.get(user_id, 0) == rebuilt.reputation.get(user_id, 0) for user_id in users_in_dump)
        service_agrees = fidelity.share(same, len(users_in_dump))
    return Check(
        ruleset=ruleset.name,
        rules_path=str(rules_path),
        service_ruleset=runtime.ruleset.name,
        question_upvote=stats.question_upvote,
        question_upvote_from=stats.question_upvote_from,
        all_users=fidelity.shares(rows),
        active_users=fidelity.shares(active),
        causes=dict(causes.most_common()),
        biggest_differences=[
            {
                "user_id": row.user_id,
                "dump": row.dump,
                "engine": row.engine,
                "difference": row.difference,
                "causes": list(row.causes),
            }
            for row in biggest[:10]
        ],
        badges=fidelity.compare_badges(
            dump_badges,
            rebuilt.badge_holders,
            [name for name in dump_badges if name in engine_badges],
            stats,
            set(users_in_dump),
        ),
        votes_on_deleted_posts=dict(stats.skipped_votes_on_missing_posts_by_type),
        events_failed=rebuilt.failed[:20],
        meta_site=meta,
        note="a meta site shows each user's reputation on the parent site, which its own posts and votes cannot "
        "reproduce: these shares say nothing about the import"
        if meta
        else None,
        service_agrees=service_agrees,
    )


def is_meta_site(folder: Path) -> bool:
    """`meta.<site>` or `<site>.meta` (or the dump's `...meta.stackexchange.com` folder names)."""
    name = folder.resolve().name.lower()
    return name.startswith("meta.") or ".meta" in name or name.endswith("meta")


def format_check(report: Check) -> str:
    """The fidelity report for people: shares, causes, biggest differences and badges, as a few tables."""
    lines = [
        f"ruleset {report.ruleset} ({report.rules_path}); the service runs {report.service_ruleset!r}"
        + ("" if report.service_agrees is None else f", whose stored figures equal these for {report.service_agrees}%"),
        f"question upvote: +{report.question_upvote} ({report.question_upvote_from})",
    ]
    if report.note:
        lines.append(f"META SITE: {report.note}")
    lines.append(f"{'users':<24}{'count':>7}{'exact':>8}{'+100':>8}{'1%':>8}{'5%':>8}{'10%':>8}")
    for name, shares in (("all", report.all_users), ("active (reputation > 1)", report.active_users)):
        lines.append(
            f"{name:<24}{shares['users']:>7}{shares['exact']:>7}%{shares['exact_or_association_bonus']:>7}%"
            f"{shares['within_1_percent']:>7}%{shares['within_5_percent']:>7}%{shares['within_10_percent']:>7}%"
        )
    lines.append("(+100: exact allowing the association bonus; 1/5/10%: within that much, allowing it too)")
    lines.append("differences by likely cause (users):")
    lines.extend(f"  {count:>5}  {cause}" for cause, count in report.causes.items())
    deleted = ", ".join(
        f"{VOTE_TYPES.get(kind, kind)} {count}" for kind, count in report.votes_on_deleted_posts.items()
    )
    lines.append(f"votes on deleted posts (not in Posts.xml, owner unknown): {deleted or 'none'}")
    lines.append("biggest differences:")
    for row in report.biggest_differences:
        lines.append(
            f"  user {row['user_id']:>8}: dump {row['dump']:>7}, engine {row['engine']:>7}, {row['difference']:+6d}"
            f"  {'; '.join(row['causes']) or 'within the association bonus'}"
        )
    lines.append(f"{'badge':<16}{'dump':>6}{'engine':>8}{'both':>6}{'only dump':>11}{'only engine':>13}")
    for badge in report.badges:
        lines.append(
            f"{badge.badge:<16}{badge.dump_holders:>6}{badge.engine_holders:>8}{badge.both:>6}"
            f"{badge.only_dump:>11}{badge.only_engine:>13}"
        )
    causes = sorted({cause for badge in report.badges for cause in badge.likely_causes})
    lines.extend(f"  {cause}" for cause in causes)
    if report.events_failed:
        lines.append(f"events the ruleset could not apply: {', '.join(report.events_failed)}")
    return "\n".join(lines)


VOTE_TYPES = {"1": "accepts", "2": "upvotes", "3": "downvotes", "8": "bounty starts", "9": "bounty awards"}
