"""Ruleset versions and publishing: which ruleset every process applies, changing it safely, and its history.

Policy. The latest publication is the ruleset every process applies. At start-up the rules file
(`REWARDS_RULES_PATH`) is published when its text differs from the last version published *from the file*: an
operator who changes the file and restarts publishes it. Otherwise the latest publication stands, so a restart
does not undo what a manager published in the console (or with `rewards rules publish`).
"""

import asyncio
import difflib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.audit import service as audit
from rewards.engine.loader import RuleProblem, check_ruleset_text, load_ruleset_file, load_ruleset_text
from rewards.engine.ruleset import Ruleset
from rewards.engine.typecheck import EventData
from rewards.errors import Conflict, NotFound, RulesetError
from rewards.events import repository as events_repository
from rewards.events.contract import event_schema
from rewards.events.schemas import DATA_MODELS
from rewards.perks import repository as perks_repository
from rewards.rulesets import repository
from rewards.rulesets.models import PublishJobStatus, RulesetPublicationRow, RulesetPublishJobRow
from rewards.rulesets.preview import Comparison
from rewards.rulesets.schemas import (
    Mode,
    PreviewOut,
    ProblemOut,
    PublicationOut,
    PublishJobOut,
    PublishJobsOut,
    PublishOut,
    SourceOut,
    VersionOut,
    VersionsOut,
    publish_job_url,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

FROM_NOW_ON: Mode = "from_now_on"
RETROACTIVE: Mode = "retroactive"
Via = Literal["file", "console", "api", "cli"]
PREVIEW_PAGE = 2000
DRAFT_FILE = "draft"


async def register(session: AsyncSession, ruleset: Ruleset, origin: str, now: datetime) -> int:
    """The version of this exact ruleset text: an existing one, or the next number."""
    version = await repository.version_of(session, ruleset.digest)
    if version is None:
        await repository.add_version(
            session, name=ruleset.name, digest=ruleset.digest, source=ruleset.source, origin=origin, now=now
        )
        version = await repository.version_of(session, ruleset.digest)
    assert version is not None
    ruleset.version = version
    return version


def load(path: Path) -> Ruleset:
    return load_ruleset_file(path)


async def compile_version(session: AsyncSession, version: int) -> Ruleset:
    row = await repository.get_version(session, version)
    if row is None:
        raise NotFound(f"no ruleset version {version}; GET /v1/rulesets lists them")
    ruleset = load_ruleset_text(row.source, f"ruleset version {version}")
    ruleset.version = version
    return ruleset


# -- which ruleset a process applies ------------------------------------------------------------------------------


async def start_up(session: AsyncSession, file_ruleset: Ruleset, origin: str, now: datetime) -> Ruleset:
    """The ruleset this process applies: the rules file when it changed since it was last published from the
    file (then it is published now), else the latest publication.

    Only a changed file takes the publishing lock: a process starting while a retroactive publish runs (it
    holds the lock for its whole replay) waits for it only if it has a new file to publish. A queued one is
    then superseded: it would have undone what the operator just published."""
    known = await repository.version_of(session, file_ruleset.digest)
    last_from_file = await repository.last_publication(session, via="file")
    unchanged = known is not None and last_from_file is not None and last_from_file.version == known
    if not unchanged:
        await repository.lock_publications(session)
    version = await register(session, file_ruleset, origin, now)
    last_from_file = await repository.last_publication(session, via="file")
    if last_from_file is None or last_from_file.version != version:
        for superseded in await repository.end_jobs(
            session,
            now=now,
            status=PublishJobStatus.CANCELLED,
            error=f"superseded: the rules file {origin} changed and was published at start-up after it was asked "
            "for; ask again if it should still apply",
            among=(PublishJobStatus.QUEUED,),
        ):
            await _audit_job_end(session, superseded, "ruleset.publish_cancelled", now, actor="file")
        previous = await repository.published_version(session)
        comment = f"the rules file {origin} changed" if last_from_file is not None else f"the rules file {origin}"
        await repository.add_publication(
            session, version=version, now=now, published_by="file", comment=comment, mode=FROM_NOW_ON, via="file"
        )
        await audit.record(
            session,
            actor="file",
            action="ruleset.published",
            now=now,
            target=f"ruleset:{version}",
            reason=comment,
            detail={"version": version, "previous_version": previous, "mode": FROM_NOW_ON, "via": "file"},
        )
        return file_ruleset
    published = await repository.published_version(session)
    if published is None or published == version:
        return file_ruleset
    try:
        ruleset = await compile_version(session, published)
    except RulesetError as error:
        raise RulesetError(
            f"the published ruleset version {published} no longer compiles ({error.message}); publish another "
            f"version, or change the rules file {origin} (a changed file is published at start-up)",
            detail=error.detail,
        ) from None
    log.info("applying ruleset version %d (published after the rules file %s)", published, origin)
    return ruleset


# -- reading --------------------------------------------------------------------------------------------------------


_VIA: dict[str, Via] = {"file": "file", "console": "console", "api": "api", "cli": "cli"}


def _publication_out(row: RulesetPublicationRow) -> PublicationOut:
    return PublicationOut(
        id=row.id,
        version=row.version,
        published_at=row.published_at,
        published_by=row.published_by,
        comment=row.comment,
        mode=FROM_NOW_ON if row.mode == FROM_NOW_ON else RETROACTIVE,
        via=_VIA.get(row.via, "api"),
    )


async def history(session: AsyncSession, limit: int = 200) -> list[PublicationOut]:
    """Publications, newest first."""
    return [_publication_out(row) for row in await repository.list_publications(session, limit=limit)]


async def versions(session: AsyncSession) -> VersionsOut:
    published = await repository.published_version(session)
    by_version: dict[int, list[PublicationOut]] = {}
    for publication in await history(session, limit=10_000):
        by_version.setdefault(publication.version, []).append(publication)
    return VersionsOut(
        published_version=published,
        versions=[
            VersionOut(
                version=row.version,
                name=row.name,
                digest=row.digest,
                origin=row.origin,
                created_at=row.created_at,
                published=row.version == published,
                publications=by_version.get(row.version, []),
            )
            for row in await repository.list_versions(session)
        ],
    )


async def source_of(session: AsyncSession, version: int) -> SourceOut:
    row = await repository.get_version(session, version)
    if row is None:
        raise NotFound(f"no ruleset version {version}; GET /v1/rulesets lists them")
    return SourceOut(version=row.version, name=row.name, digest=row.digest, source=row.source)


async def published_source(session: AsyncSession) -> SourceOut | None:
    version = await repository.published_version(session)
    return None if version is None else await source_of(session, version)


# -- checking and comparing drafts ----------------------------------------------------------------------------------


@cache
def event_data() -> EventData:
    """What rules can read on each event type, from the published event contract: drafts are checked against it."""
    return EventData.from_schemas({kind: event_schema(kind) for kind in DATA_MODELS}, other=event_schema(None))


def problems_of(source: str, filename: str = DRAFT_FILE) -> list[ProblemOut]:
    problems, _spec = check_ruleset_text(source, filename, event_data())
    return [_problem_out(problem) for problem in problems]


def _problem_out(problem: RuleProblem) -> ProblemOut:
    return ProblemOut(
        file=problem.file, line=problem.line, rule_id=problem.rule_id, field=problem.field, message=problem.message
    )


def compile_draft(source: str) -> Ruleset:
    """The draft compiled, or RulesetError (422) listing every problem with its line."""
    return load_ruleset_text(source, DRAFT_FILE, event_data())


@dataclass(frozen=True)
class DiffLine:
    kind: Literal["hunk", "context", "added", "removed"]
    old: int | None  # line number in the older text
    new: int | None  # line number in the newer text
    text: str


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def diff_lines(old: str, new: str, context: int = 3) -> list[DiffLine]:
    """A unified diff (difflib) as numbered lines, for a page to render."""
    lines: list[DiffLine] = []
    old_no = new_no = 0
    for raw in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=context):
        if raw.startswith(("---", "+++")) and not lines:
            continue
        found = _HUNK.match(raw)
        if found:
            old_no, new_no = int(found.group(1)), int(found.group(2))
            lines.append(DiffLine("hunk", None, None, raw))
        elif raw.startswith("+"):
            lines.append(DiffLine("added", None, new_no, raw[1:]))
            new_no += 1
        elif raw.startswith("-"):
            lines.append(DiffLine("removed", old_no, None, raw[1:]))
            old_no += 1
        else:
            lines.append(DiffLine("context", old_no, new_no, raw[1:]))
            old_no += 1
            new_no += 1
    return lines


async def diff(session: AsyncSession, from_version: int, to_version: int) -> list[DiffLine]:
    older, newer = await source_of(session, from_version), await source_of(session, to_version)
    return diff_lines(older.source, newer.source)


# -- preview --------------------------------------------------------------------------------------------------------


async def preview(
    session: AsyncSession, draft_source: str, *, days: int | None, max_events: int, now: datetime
) -> PreviewOut:
    """Run the window's events (the last `days` by event time, or the whole log; at most the newest
    `max_events` of it) in memory under the published ruleset and under the draft, both from an empty state."""
    draft = compile_draft(draft_source)
    published_version = await repository.published_version(session)
    if published_version is None:
        raise Conflict("no ruleset has been published yet")
    # Compiled afresh: the process's own ruleset object is in use by the drain.
    published = await compile_version(session, published_version)
    since = now - timedelta(days=days) if days is not None else None
    window_events = await repository.count_events_since(session, since)
    capped = window_events > max_events
    from_seq = (await repository.first_seq_of_newest(session, since, max_events) or 0) if capped else 0
    comparison = Comparison(published, draft)
    after_seq = 0
    while True:
        page = await repository.events_page(
            session, since=since, from_seq=from_seq, after_seq=after_seq, limit=PREVIEW_PAGE
        )
        if not page:
            break
        comparison.feed(page)
        after_seq = page[-1].seq
        await asyncio.sleep(0)  # a long preview must not starve the process's other requests
    result = comparison.finish(now)
    withdrawals = None
    if days is None and not capped:  # the draft's run is the whole log: what a replay under it would rebuild
        open_grants = await perks_repository.open_grants_made_by_rules(session)
        withdrawals = comparison.withdrawals(
            [(grant.perk_id, grant.user_id, grant.status) for grant in open_grants], now
        )
    message = None
    if capped:
        message = (
            f"capped: the window holds {window_events:,} events; the preview ran the newest {result.events:,} "
            f"(from {result.first_event_at:%Y-%m-%d %H:%M} UTC). Ask for more with max_events, or a shorter window."
        )
    return PreviewOut(
        published_version=published_version,
        days=days,
        since=since,
        baseline="empty",
        window_events=window_events,
        max_events=max_events,
        capped=capped,
        message=message,
        result=result,
        withdrawals=withdrawals,
    )


# -- publishing -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Publication:
    """A publication begun in a transaction (`begin_publication`), to be finished in it (`finish_publication`)
    once the log is replayed under it, when it is retroactive."""

    ruleset: Ruleset
    previous: int | None
    publication_id: int
    mode: Mode
    comment: str
    actor: str
    via: Via
    job_id: int | None


async def begin_publication(
    session: AsyncSession,
    *,
    source: str | None,
    version: int | None,
    mode: Mode,
    comment: str,
    actor: str,
    via: Via,
    now: datetime,
    holder: str,
    job_id: int | None = None,
) -> Publication:
    """Publish a draft (`source`) or an earlier version, from now on or retroactively, under the publishing lock
    and the apply cursor. Refused while a retroactive publication is queued or running, unless this is that job
    (`job_id`). A retroactive one is replayed by the caller (`rewards.apply.publish`) before it finishes it."""
    comment = _checked_comment(comment)
    if job_id is None:
        # Before the lock too: a running job holds it for its whole replay, and this must not wait that long.
        await _refuse_while_a_job_is_unfinished(session)
    await repository.lock_publications(session)
    if job_id is None:
        await _refuse_while_a_job_is_unfinished(session)
    else:
        await _check_still_wanted(session, job_id)
    # Publications commit under the apply cursor, so a batch is applied wholly under one published version.
    await events_repository.take_cursor(session, holder, now)
    if version is not None:
        ruleset = await compile_version(session, version)
    else:
        assert source is not None
        ruleset = compile_draft(source)
        await register(session, ruleset, f"{via}:{actor}", now)
    previous = await repository.published_version(session)
    if ruleset.version == previous and mode == FROM_NOW_ON:
        raise Conflict(
            f"version {ruleset.version} is already the published ruleset; publishing it again from now on would "
            "change nothing (publish it retroactively to recompute the past under it)"
        )
    publication = await repository.add_publication(
        session, version=ruleset.version, now=now, published_by=actor, comment=comment, mode=mode, via=via
    )
    return Publication(ruleset, previous, publication.id, mode, comment, actor, via, job_id)


async def finish_publication(
    session: AsyncSession, begun: Publication, now: datetime, *, replayed: int | None, failed: int | None
) -> PublishOut:
    """Audit-log a publication (and how many events its replay applied) and say what was done."""
    ruleset, previous = begun.ruleset, begun.previous
    rolled_back = previous is not None and ruleset.version < previous
    action: Literal["ruleset.published", "ruleset.rolled_back"] = (
        "ruleset.rolled_back" if rolled_back else "ruleset.published"
    )
    await audit.record(
        session,
        actor=begun.actor,
        action=action,
        now=now,
        target=f"ruleset:{ruleset.version}",
        reason=begun.comment,
        detail={
            "version": ruleset.version,
            "previous_version": previous,
            "mode": begun.mode,
            "via": begun.via,
            "digest": ruleset.digest,
            "replayed_events": replayed,
            "failed_events": failed,
            **({"job": begun.job_id} if begun.job_id is not None else {}),
        },
    )
    return PublishOut(
        publication_id=begun.publication_id,
        version=ruleset.version,
        previous_version=previous,
        mode=begun.mode,
        action=action,
        replayed_events=replayed,
        failed_events=failed,
    )


# -- retroactive publications, in the background --------------------------------------------------------------------

# A running job whose publishing lock is free has died (its process was killed), unless it started less than
# this long ago: it is marked running just before it takes the lock.
INTERRUPTED_AFTER = timedelta(minutes=1)
JOBS_LISTED = 50
SCHEDULE_ACTOR = "rewards:schedule"  # the audit log's actor for what the schedule itself finds


def _checked_comment(comment: str) -> str:
    comment = comment.strip()
    if not comment:
        raise RulesetError("say why in a comment: it is shown in the history and the audit log")
    return comment


async def _refuse_while_a_job_is_unfinished(session: AsyncSession) -> None:
    job = await repository.unfinished_job(session)
    if job is not None:
        raise _unfinished(job)


def _unfinished(job: RulesetPublishJobRow) -> Conflict:
    return Conflict(
        f"a retroactive publish of version {job.version}, asked for by {job.requested_by} at "
        f"{job.requested_at:%Y-%m-%d %H:%M} UTC, is {job.status}: publish again once it has finished (the "
        f"rules page shows it, and {publish_job_url(job.id)})"
    )


async def _check_still_wanted(session: AsyncSession, job_id: int) -> None:
    """Under the publishing lock, before a job replays: it is still running (not taken for dead), and no rules
    file was published at start-up since it was asked for (that cancels queued jobs; this one was already
    claimed)."""
    job = await repository.get_job(session, job_id)
    if job is None or job.status != PublishJobStatus.RUNNING:
        raise Conflict(f"job {job_id} is no longer running (it was taken for dead); publish again")
    from_file = await repository.last_publication(session, via="file")
    if from_file is not None and from_file.published_at > job.requested_at:
        raise Conflict(
            f"superseded: the rules file was published at start-up ({from_file.comment}) after it was asked for; "
            "ask again if it should still apply"
        )


def job_out(row: RulesetPublishJobRow) -> PublishJobOut:
    return PublishJobOut.model_validate(row)


async def request_retroactive(
    session: AsyncSession,
    *,
    source: str | None,
    version: int | None,
    comment: str,
    actor: str,
    via: Literal["console", "api"],
    now: datetime,
) -> PublishJobOut:
    """Queue a retroactive publication of a draft (`source`, registered as a version now) or of an earlier
    version: the scheduled job `publish_retroactively` replays the log under it. Checked now (the comment,
    the draft compiles, the version exists, no other job is unfinished), audit-logged as asked for. The caller
    commits."""
    comment = _checked_comment(comment)
    await _refuse_while_a_job_is_unfinished(session)
    await repository.lock_publications(session)
    await _refuse_while_a_job_is_unfinished(session)
    if version is not None:
        await compile_version(session, version)  # it exists and still compiles
    else:
        assert source is not None
        ruleset = compile_draft(source)
        version = await register(session, ruleset, f"{via}:{actor}", now)
    events_total = await repository.count_events_since(session, None)
    row = await repository.add_job(
        session,
        version=version,
        requested_at=now,
        requested_by=actor,
        comment=comment,
        via=via,
        events_total=events_total,
    )
    if row is None:  # another request queued one at the same moment (SQLite has no publishing lock)
        raise Conflict("another retroactive publish was asked for at the same moment: see the rules page")
    await audit.record(
        session,
        actor=actor,
        action="ruleset.publish_requested",
        now=now,
        target=f"ruleset:{version}",
        reason=comment,
        detail={"version": version, "mode": RETROACTIVE, "via": via, "job": row.id, "events": events_total},
    )
    return job_out(row)


async def cancel_job(session: AsyncSession, job_id: int, *, actor: str, now: datetime) -> PublishJobOut:
    """Cancel a queued job (a wrong draft, or no worker to run it). A running one cannot be: its replay is one
    transaction, which commits or rolls back whole."""
    cancelled = await repository.end_jobs(
        session, now=now, status=PublishJobStatus.CANCELLED, error=None, among=(PublishJobStatus.QUEUED,), job_id=job_id
    )
    if cancelled:
        await _audit_job_end(session, cancelled[0], "ruleset.publish_cancelled", now, actor=actor)
        return job_out(cancelled[0])
    found = await repository.get_job(session, job_id)
    if found is None:
        raise NotFound(f"no retroactive publish job {job_id}; GET /v1/rulesets/publish-jobs lists them")
    if found.status == PublishJobStatus.RUNNING:
        raise Conflict(
            f"job {job_id} is running: its replay is one transaction, which commits or rolls back whole, and "
            "cannot be stopped halfway; publish the version you want once it has finished"
        )
    raise Conflict(f"job {job_id} has already ended ({found.status})")


async def publish_job(session: AsyncSession, job_id: int) -> PublishJobOut:
    row = await repository.get_job(session, job_id)
    if row is None:
        raise NotFound(f"no retroactive publish job {job_id}; GET /v1/rulesets/publish-jobs lists them")
    return job_out(row)


async def publish_jobs(session: AsyncSession, limit: int = JOBS_LISTED) -> PublishJobsOut:
    return PublishJobsOut(jobs=[job_out(row) for row in await repository.list_jobs(session, limit=limit)])


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    version: int
    comment: str
    requested_by: str
    via: Via
    events_total: int


async def claim_queued_job(session: AsyncSession, now: datetime) -> ClaimedJob | None:
    """Mark jobs whose process died as failed, then take the oldest queued one (marked running), if any."""
    if await repository.try_lock_publications(session):  # nobody is publishing: a running job is dead
        for dead in await repository.end_jobs(
            session,
            now=now,
            status=PublishJobStatus.FAILED,
            error="interrupted: the process running it was killed before it committed; nothing was "
            "changed, publish it again",
            among=(PublishJobStatus.RUNNING,),
            started_before=now - INTERRUPTED_AFTER,
        ):
            await _audit_job_end(session, dead, "ruleset.publish_failed", now)
    job = await repository.next_queued_job(session)
    if job is None:
        return None
    events_total = await repository.count_events_since(session, None)
    if not await repository.mark_job_running(session, job.id, now, events_total):
        return None  # another process took it
    return ClaimedJob(job.id, job.version, job.comment, job.requested_by, _VIA[job.via], events_total)


async def finish_job(session: AsyncSession, job_id: int, published: PublishOut, now: datetime) -> None:
    """In the publication's own transaction: the job is done."""
    if not await repository.finish_job(
        session,
        job_id,
        now=now,
        replayed_events=published.replayed_events or 0,
        failed_events=published.failed_events or 0,
        publication_id=published.publication_id,
        action=published.action,
    ):
        raise Conflict(f"job {job_id} is no longer running (it was taken for dead); publish again")


async def fail_job(session: AsyncSession, job_id: int, reason: str, now: datetime) -> None:
    """The job's transaction rolled back: mark it failed, with the reason, and audit it."""
    for failed in await repository.end_jobs(
        session,
        now=now,
        status=PublishJobStatus.FAILED,
        error=f"{reason}; nothing was changed",
        among=(PublishJobStatus.RUNNING,),
        job_id=job_id,
    ):
        await _audit_job_end(session, failed, "ruleset.publish_failed", now)


async def requeue_job(session: AsyncSession, job_id: int) -> bool:
    return await repository.requeue_job(session, job_id)


async def record_job_progress(session: AsyncSession, job_id: int, events_done: int) -> None:
    await repository.record_job_progress(session, job_id, events_done)


async def _audit_job_end(
    session: AsyncSession, job: RulesetPublishJobRow, action: str, now: datetime, *, actor: str = SCHEDULE_ACTOR
) -> None:
    await audit.record(
        session,
        actor=actor,
        action=action,
        now=now,
        target=f"ruleset:{job.version}",
        reason=job.error,
        detail={"version": job.version, "mode": RETROACTIVE, "via": job.via, "job": job.id, "by": job.requested_by},
    )
