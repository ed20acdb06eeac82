"""All SQL for API keys."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.auth.models import ApiKeyRow


async def add(
    session: AsyncSession, *, name: str, prefix: str, secret_hash: str, scopes: list[str], now: datetime
) -> ApiKeyRow:
    row = ApiKeyRow(name=name, prefix=prefix, secret_hash=secret_hash, scopes=scopes, created_at=now)
    session.add(row)
    await session.flush()
    return row


async def by_prefix(session: AsyncSession, prefix: str) -> ApiKeyRow | None:
    return await session.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))


async def all_keys(session: AsyncSession) -> list[ApiKeyRow]:
    return list(await session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)))
