"""All SQL for reported contributions."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.contributions.models import ContributionRow, ContributionStatus


async def add(session: AsyncSession, row: ContributionRow) -> ContributionRow:
    session.add(row)
    await session.flush()
    return row


async def get(session: AsyncSession, contribution_id: int) -> ContributionRow | None:
    return await session.get(ContributionRow, contribution_id, populate_existing=True)


async def decide(
    session: AsyncSession,
    contribution_id: int,
    *,
    status: ContributionStatus,
    decided_by: str,
    decided_at: datetime,
    comment: str | None,
    event: tuple[str, str] | None = None,
) -> bool:
    """Move a pending contribution to `status`; False when it is not pending (any more). One statement, so two
    managers deciding at once cannot both succeed, on PostgreSQL as on SQLite."""
    values: dict[str, Any] = {
        "status": status.value,
        "decided_by": decided_by,
        "decided_at": decided_at,
        "comment": comment,
    }
    if event is not None:
        values["event_source"], values["event_id"] = event
    result = await session.execute(
        update(ContributionRow)
        .where(ContributionRow.id == contribution_id, ContributionRow.status == ContributionStatus.PENDING.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def search(
    session: AsyncSession,
    *,
    user_id: str | None,
    statuses: tuple[str, ...],
    before_id: int | None,
    limit: int,
    oldest_first: bool = False,
) -> list[ContributionRow]:
    query: Any = select(ContributionRow)
    if user_id is not None:
        query = query.where(ContributionRow.user_id == user_id)
    if statuses:
        query = query.where(ContributionRow.status.in_(statuses))
    if before_id is not None:
        query = query.where(ContributionRow.id < before_id)
    order = ContributionRow.id.asc() if oldest_first else ContributionRow.id.desc()
    return list((await session.scalars(query.order_by(order).limit(limit))).all())


async def count_pending(session: AsyncSession) -> int:
    found = await session.scalar(
        select(func.count()).select_from(ContributionRow).where(ContributionRow.status == ContributionStatus.PENDING)
    )
    return int(found or 0)
