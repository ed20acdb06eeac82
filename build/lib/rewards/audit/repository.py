"""All SQL for the audit log."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.audit.models import AuditRow


async def add(session: AsyncSession, row: AuditRow) -> None:
    session.add(row)
    await session.flush()


async def search(
    session: AsyncSession,
    *,
    user_id: str | None,
    action: str | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[AuditRow]:
    query: Any = select(AuditRow)
    if user_id is not None:
        query = query.where(AuditRow.user_id == user_id)
    if action is not None:
        query = query.where(AuditRow.action.startswith(action))
    if actor is not None:
        query = query.where(AuditRow.actor == actor)
    if since is not None:
        query = query.where(AuditRow.at >= since)
    if until is not None:
        query = query.where(AuditRow.at < until)
    if before_id is not None:
        query = query.where(AuditRow.id < before_id)
    rows = await session.scalars(query.order_by(AuditRow.id.desc()).limit(limit))
    return list(rows)
