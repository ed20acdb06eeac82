"""Use cases of reported contributions: an expert (or the forum on their behalf) reports one, a manager approves
or denies it. An approval is a `contribution.approved` event, returned for the caller to ingest in the same unit
of work as the status change (`rewards.apply.ingest`): both commit or neither does, and rules reward the event like
any other, so the history explains it and a replay keeps it."""

import unicodedata
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.audit import service as audit
from rewards.contributions import repository
from rewards.contributions.models import ContributionRow, ContributionStatus
from rewards.contributions.schemas import ContributionIn, ContributionKindOut, ContributionOut, ContributionsPageOut
from rewards.engine.contributions import CONTRIBUTION_APPROVED, ContributionKind
from rewards.engine.ruleset import Ruleset, web_url
from rewards.errors import InvalidInput, NotFound
from rewards.events.service import ValidEvent
from rewards.outbox import service as outbox

EVENT_SOURCE = "rewards:contributions"
TITLE_LENGTH = (3, 200)
COMMENT_LENGTH = (3, 400)
MAX_PENDING_PER_MEMBER = 20
PAGE = 50


class Refused(InvalidInput):
    """A report or decision the service refuses; `code` lets a page say it in the reader's language."""

    def __init__(self, code: str, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message, status_code=status_code, detail=[{"code": code, "message": message}])
        self.code = code


def kinds(ruleset: Ruleset) -> list[ContributionKind]:
    return list(ruleset.spec.contributions)


def _kind(ruleset: Ruleset, kind_id: str) -> ContributionKind | None:
    return next((kind for kind in ruleset.spec.contributions if kind.id == kind_id), None)


def _known(ruleset: Ruleset) -> str:
    return ", ".join(kind.id for kind in ruleset.spec.contributions) or "none: the published rules declare no kinds"


def _text(value: str | None) -> str | None:
    """Trimmed; None when empty. Control characters (a line break aside) are refused by the callers' checks."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def _has_controls(value: str, *, lines: bool = False) -> bool:
    allowed = "\n\r\t" if lines else ""
    return any(unicodedata.category(char) == "Cc" and char not in allowed for char in value)


def out(row: ContributionRow, ruleset: Ruleset) -> ContributionOut:
    kind = _kind(ruleset, row.kind)
    return ContributionOut(
        id=row.id,
        user_id=row.user_id,
        kind=row.kind,
        kind_name=kind.name if kind is not None else row.kind,
        title=row.title,
        details=row.details,
        link=row.link,
        file_name=row.file_name,
        reported_at=row.reported_at,
        reported_by=row.reported_by,
        status=ContributionStatus(row.status).value,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        comment=row.comment,
        event_source=row.event_source,
        event_id=row.event_id,
    )


def _checked(ruleset: Ruleset, body: ContributionIn) -> ContributionRow:
    user_id = body.user_id.strip()
    if not user_id or _has_controls(user_id):
        raise Refused("member", "give the member's user id")
    if _kind(ruleset, body.kind) is None:
        raise Refused("kind", f"no contribution kind {body.kind!r} in the published rules (kinds: {_known(ruleset)})")
    title = _text(body.title) or ""
    if not TITLE_LENGTH[0] <= len(title) <= TITLE_LENGTH[1] or _has_controls(title):
        raise Refused("title", f"give a title of {TITLE_LENGTH[0]} to {TITLE_LENGTH[1]} characters on one line")
    details = _text(body.details)
    if details is not None and _has_controls(details, lines=True):
        raise Refused("details", "the details hold a control character: write plain text")
    link = _text(body.link)
    if link is not None and web_url(link) is None:
        raise Refused("link", f"a link is an absolute http:// or https:// address, not {link[:60]!r}")
    file_name = _text(body.file_name)
    if file_name is not None and _has_controls(file_name):
        raise Refused("file", "the file name holds a control character")
    if link is None and file_name is None:
        raise Refused("evidence", "give a link (https://...) or the name of a file that shows the contribution")
    return ContributionRow(
        user_id=user_id, kind=body.kind, title=title, details=details, link=link, file_name=file_name
    )


async def report(
    session: AsyncSession, ruleset: Ruleset, body: ContributionIn, reported_by: str, now: datetime
) -> ContributionOut:
    """Store a report, pending a manager's decision."""
    row = _checked(ruleset, body)
    waiting = await repository.search(
        session,
        user_id=row.user_id,
        statuses=(ContributionStatus.PENDING.value,),
        before_id=None,
        limit=MAX_PENDING_PER_MEMBER,
    )
    if len(waiting) >= MAX_PENDING_PER_MEMBER:
        raise Refused(
            "too_many",
            f"{row.user_id} has {MAX_PENDING_PER_MEMBER} contributions waiting for a decision already: wait for a "
            "manager, or withdraw one",
            status_code=409,
        )
    row.reported_at = now
    row.reported_by = reported_by
    row.status = ContributionStatus.PENDING.value
    return out(await repository.add(session, row), ruleset)


async def _existing(session: AsyncSession, contribution_id: int) -> ContributionRow:
    row = await repository.get(session, contribution_id)
    if row is None:
        raise NotFound(f"no contribution {contribution_id}")
    return row


def _already(row: ContributionRow) -> Refused:
    when = f" on {row.decided_at:%Y-%m-%d %H:%M} UTC" if row.decided_at is not None else ""
    who = f" by {row.decided_by}" if row.decided_by else ""
    return Refused("decided", f"contribution {row.id} was {row.status}{who}{when}; nothing changed", status_code=409)


async def get(session: AsyncSession, ruleset: Ruleset, contribution_id: int) -> ContributionOut:
    return out(await _existing(session, contribution_id), ruleset)


async def search(
    session: AsyncSession,
    ruleset: Ruleset,
    *,
    user_id: str | None = None,
    statuses: tuple[str, ...] = (),
    before: int | None = None,
    limit: int = PAGE,
    oldest_first: bool = False,
) -> ContributionsPageOut:
    rows = await repository.search(
        session, user_id=user_id, statuses=statuses, before_id=before, limit=limit + 1, oldest_first=oldest_first
    )
    shown = rows[:limit]
    return ContributionsPageOut(
        contributions=[out(row, ruleset) for row in shown],
        kinds=[ContributionKindOut(id=k.id, name=k.name, description=k.description) for k in kinds(ruleset)],
        next_before=shown[-1].id if len(rows) > limit and not oldest_first else None,
    )


async def pending_count(session: AsyncSession) -> int:
    return await repository.count_pending(session)


def _comment(value: str | None, *, required: bool) -> str | None:
    comment = _text(value)
    if comment is None and not required:
        return None
    if comment is None or not COMMENT_LENGTH[0] <= len(comment) <= COMMENT_LENGTH[1]:
        need = "to deny a contribution, say why: " if required else ""
        raise Refused("comment", f"{need}a comment of {COMMENT_LENGTH[0]} to {COMMENT_LENGTH[1]} characters")
    if _has_controls(comment, lines=True):
        raise Refused("comment", "the comment holds a control character: write plain text")
    return comment


def _notification(topic: str, row: ContributionRow, ruleset: Ruleset, now: datetime) -> outbox.Notification:
    kind = _kind(ruleset, row.kind)
    return outbox.Notification(
        topic=topic,
        user_id=row.user_id,
        data={
            "contribution": row.id,
            "kind": row.kind,
            "kind_name": kind.name if kind is not None else row.kind,
            "title": row.title,
            "comment": row.comment,
            "decided_by": row.decided_by,
        },
        occurred_at=now,
        key=f"{topic}:{row.id}",
    )


async def approve(
    session: AsyncSession, ruleset: Ruleset, contribution_id: int, actor: str, comment: str | None, now: datetime
) -> tuple[ContributionOut, ValidEvent]:
    """Approve a pending contribution: its status, the audit entry and the member's notification, in `session`'s
    transaction, and the `contribution.approved` event the caller ingests in the same one."""
    row = await _existing(session, contribution_id)
    if row.status != ContributionStatus.PENDING:
        raise _already(row)
    if _kind(ruleset, row.kind) is None:
        raise Refused(
            "kind_gone",
            f"the published rules no longer declare the kind {row.kind!r} (kinds: {_known(ruleset)}): deny the "
            "contribution, or declare the kind again and publish",
            status_code=409,
        )
    said = _comment(comment, required=False)
    event = ValidEvent(
        source=EVENT_SOURCE,
        id=f"contribution-{row.id}",
        type=CONTRIBUTION_APPROVED,
        time=now,
        data={
            key: value
            for key, value in {
                "actor": row.user_id,
                "contribution": str(row.id),
                "kind": row.kind,
                "title": row.title,
                "link": row.link,
                "file": row.file_name,
                "approved_by": actor,
            }.items()
            if value is not None
        },
    )
    decided = await repository.decide(
        session,
        row.id,
        status=ContributionStatus.APPROVED,
        decided_by=actor,
        decided_at=now,
        comment=said,
        event=(event.source, event.id),
    )
    row = await _existing(session, contribution_id)
    if not decided:  # decided by someone else since it was read
        raise _already(row)
    await audit.record(
        session, actor=actor, action="contribution.approve", now=now, user_id=row.user_id, target=row.kind,
        reason=said, detail={"contribution": row.id, "title": row.title, "event_id": event.id},
    )  # fmt: skip
    await outbox.record(session, [_notification("contribution.approved", row, ruleset, now)], now)
    return out(row, ruleset), event


async def deny(
    session: AsyncSession, ruleset: Ruleset, contribution_id: int, actor: str, comment: str | None, now: datetime
) -> ContributionOut:
    """Deny a pending contribution, saying why (the member reads it); audited and notified."""
    row = await _existing(session, contribution_id)
    if row.status != ContributionStatus.PENDING:
        raise _already(row)
    said = _comment(comment, required=True)
    decided = await repository.decide(
        session, row.id, status=ContributionStatus.DENIED, decided_by=actor, decided_at=now, comment=said
    )
    row = await _existing(session, contribution_id)
    if not decided:
        raise _already(row)
    await audit.record(
        session, actor=actor, action="contribution.deny", now=now, user_id=row.user_id, target=row.kind,
        reason=said, detail={"contribution": row.id, "title": row.title},
    )  # fmt: skip
    await outbox.record(session, [_notification("contribution.denied", row, ruleset, now)], now)
    return out(row, ruleset)


async def withdraw(
    session: AsyncSession, ruleset: Ruleset, user_id: str, contribution_id: int, now: datetime
) -> ContributionOut:
    """The member takes back a report no one has decided yet."""
    row = await repository.get(session, contribution_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"{user_id} reported no contribution {contribution_id}")
    if row.status != ContributionStatus.PENDING:
        raise _already(row)
    if not await repository.decide(
        session,
        row.id,
        status=ContributionStatus.WITHDRAWN,
        decided_by=f"user:{user_id}",
        decided_at=now,
        comment=None,
    ):
        raise _already(await _existing(session, contribution_id))
    return out(await _existing(session, contribution_id), ruleset)
