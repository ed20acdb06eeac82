"""Record manager actions, and read them back filtered."""

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.audit import repository
from rewards.audit.models import AuditRow
from rewards.audit.schemas import AuditEntryOut, AuditPageOut


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    now: datetime,
    user_id: str | None = None,
    target: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """In the caller's transaction: the action and its audit entry commit together or not at all."""
    await repository.add(
        session,
        AuditRow(
            at=now, actor=actor, action=action, user_id=user_id, target=target, reason=reason, detail=detail or {}
        ),
    )


async def search(
    session: AsyncSession,
    *,
    user_id: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 50,
) -> AuditPageOut:
    rows = await repository.search(
        session,
        user_id=user_id,
        action=action,
        actor=actor,
        since=since,
        until=until,
        before_id=before,
        limit=limit + 1,
    )
    page = rows[:limit]
    return AuditPageOut(
        entries=[
            AuditEntryOut(
                id=row.id,
                at=row.at,
                actor=row.actor,
                action=row.action,
                user_id=row.user_id,
                target=row.target,
                reason=row.reason,
                detail=row.detail,
            )
            for row in page
        ],
        next_before=page[-1].id if len(rows) > limit else None,
    )
