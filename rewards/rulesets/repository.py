"""All SQL for ruleset versions."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.rulesets.models import RulesetVersionRow
from rewards.sql import upsert


async def version_of(session: AsyncSession, digest: str) -> int | None:
    return await session.scalar(select(RulesetVersionRow.version).where(RulesetVersionRow.digest == digest))


async def add_version(
    session: AsyncSession, *, name: str, digest: str, source: str, origin: str, now: datetime
) -> None:
    statement = upsert(session, RulesetVersionRow).on_conflict_do_nothing(index_elements=[RulesetVersionRow.digest])
    await session.execute(
        statement, [{"name": name, "digest": digest, "source": source, "origin": origin, "created_at": now}]
    )
