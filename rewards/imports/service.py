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
from rewards.connectors import repository as connectors
from rewards.db import refresh_planner_statistics, unit_of_work
from rewards.engine.loader import load_ruleset_file
from rewards.events import service as events
from rewards.imports import fidelity, khoros_fidelity
from rewards.imports.fidelity import BadgeAgreement
from rewards.imports.khoros import (
    KhorosInput,
    KhorosStats,
    PostInfo,
    community_source,
    complete_pending,
    figures_from_input,
    input_posts,
    input_profiles,
    map_input,
    read_input,
)
from rewards.imports.stackexchange import (
    DumpError,
    DumpStats,
    dump_badge_holders,
    dump_events,
    dump_profiles,
    dump_users,
)
from rewards.resources import RULES_DIR
from rewards.runtime import Runtime, holder_name, utcnow
from rewards.users import profiles
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
    await import_events(applier, stream, summary, progress)
    # How the members are shown (names, pictures, profile links): not events, nothing to apply.
    runtime = applier.runtime
    await profiles.store(runtime.sessionmaker, dump_profiles(folder, summary.source), utcnow(), runtime.settings.links)
    return summary


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


# -- Khoros ------------------------------------------------------------------------------------------------------

KHOROS_RULES: Path = RULES_DIR / "khoros.yaml"


@dataclass
class KhorosImportSummary(ImportSummary):
    khoros: KhorosStats = field(default_factory=KhorosStats)


async def known_khoros_posts(runtime: Runtime, source: str, message_ids: Iterable[str]) -> dict[str, PostInfo]:
    """Messages an earlier import or window stored (`message-<id>` events), by message id."""
    async with runtime.sessionmaker() as session:
        stored = await connectors.posts_by_event_id(session, source, [f"message-{mid}" for mid in message_ids])
    posts = {}
    for body in stored.values():
        post = PostInfo.from_body(body)
        if post is not None:
            posts[post.id] = post
    return posts


async def khoros_events(runtime: Runtime, read: KhorosInput, source: str, stats: KhorosStats) -> list[dict[str, Any]]:
    """The input's events in time order. Kudos and other actions about messages the input does not hold take the
    message from the stored events (an earlier import, an earlier window); those still unknown are counted."""
    posts = input_posts(read)
    mapped = map_input(read, source, stats, posts)
    if mapped.pending:
        stored = await known_khoros_posts(runtime, source, {item.message_id for item in mapped.pending})
        mapped.events.extend(complete_pending(mapped.pending, stored, stats, final=True))
        mapped.events.sort(key=lambda made: made["time"])
    return mapped.events


async def import_khoros(
    applier: Applier, paths: list[Path], community: str, progress: Callable[[int], None] | None = None
) -> KhorosImportSummary:
    """Store the events of LiQL answers and Bulk Data exports (files or folders) under `khoros:<community>` and
    apply them with the service's ruleset; a second import, or an overlapping export, finds them duplicates."""
    source = community_source(community)
    summary = KhorosImportSummary(source=source)
    read = read_input(paths, summary.khoros)
    events = await khoros_events(applier.runtime, read, source, summary.khoros)
    await import_events(applier, events, summary, progress)
    runtime = applier.runtime
    await profiles.store(runtime.sessionmaker, input_profiles(read, source), utcnow(), runtime.settings.links)
    return summary


@dataclass
class KhorosCheck:
    """The fidelity report: the input's events under `ruleset`, compared with Khoros's own counts."""

    ruleset: str
    rules_path: str
    kudos_received: dict[str, Any]
    solutions_authored: dict[str, Any]
    differences: list[dict[str, Any]]  # the biggest, with their causes
    users_without_counts: int  # users answers carrying sub-queries instead of counts
    events_failed: list[str]
    note: str | None = None


async def check_khoros(
    runtime: Runtime, paths: list[Path], community: str, rules_path: Path = KHOROS_RULES
) -> KhorosCheck:
    """Rebuild the input under `rules_path` in memory (touching nothing stored) and compare each member's kudos
    received and solutions authored with Khoros's counts in the input (a users answer with
    `kudos_received.sum(weight)` and `solutions_authored.count(*)`, else the input's own messages)."""
    ruleset = load_ruleset_file(rules_path)
    source = community_source(community)
    stats = KhorosStats()
    read = read_input(paths, stats)
    events = await khoros_events(runtime, read, source, stats)
    rebuilt = khoros_fidelity.reconstruct(ruleset, events)
    figures = figures_from_input(read, stats)
    rows = khoros_fidelity.compare(figures, rebuilt, stats)
    biggest = sorted((row for row in rows if row.difference), key=lambda row: abs(row.difference), reverse=True)
    counted_users = sum(1 for figure in figures.values() if figure.origin == "users")
    without = len(read.users) - counted_users
    return KhorosCheck(
        ruleset=ruleset.name,
        rules_path=str(rules_path),
        kudos_received=khoros_fidelity.summary(rows, khoros_fidelity.KUDOS_COUNTER),
        solutions_authored=khoros_fidelity.summary(rows, khoros_fidelity.SOLUTIONS_COUNTER),
        differences=[
            {
                "user_id": row.user_id,
                "measure": row.measure,
                "khoros": row.khoros,
                "engine": row.engine,
                "difference": row.difference,
                "causes": list(row.causes),
            }
            for row in biggest[:20]
        ],
        users_without_counts=without,
        events_failed=rebuilt.failed[:20],
        note=(
            f"{without} users in the users answers carry sub-queries, not counts: ask LiQL for `kudos_received.sum"
            "(weight)` and `solutions_authored.count(*)` in the users query to compare them"
            if without
            else None
        ),
    )


def format_khoros_check(report: KhorosCheck) -> str:
    lines = [f"ruleset {report.ruleset} ({report.rules_path})"]
    lines.append(f"{'measure':<22}{'members':>8}{'exact':>8}{'share':>9}{'Khoros':>9}{'engine':>9}  figures from")
    for name, shares in (("kudos received", report.kudos_received), ("solutions authored", report.solutions_authored)):
        share = "-" if shares["exact_share"] is None else f"{shares['exact_share']}%"
        origins = ", ".join(f"{origin} {count}" for origin, count in shares["figures_from"].items()) or "none"
        lines.append(
            f"{name:<22}{shares['members']:>8}{shares['exact']:>8}{share:>9}{shares['khoros_total']:>9}"
            f"{shares['engine_total']:>9}  {origins}"
        )
    for name, shares in (("kudos received", report.kudos_received), ("solutions authored", report.solutions_authored)):
        if shares["causes"]:
            lines.append(f"{name}: differences by likely cause (members):")
            lines.extend(f"  {count:>5}  {cause}" for cause, count in shares["causes"].items())
    if report.differences:
        lines.append("biggest differences:")
        for row in report.differences[:10]:
            lines.append(
                f"  user {row['user_id']:>8} {row['measure']:<19} Khoros {row['khoros']:>6}, engine {row['engine']:>6},"
                f" {row['difference']:+5d}  {'; '.join(row['causes'])}"
            )
    if report.note:
        lines.append(f"NOTE: {report.note}")
    if report.events_failed:
        lines.append(f"events the ruleset could not apply: {', '.join(report.events_failed)}")
    return "\n".join(lines)
