"""All SQL for API keys and session generations."""

from datetime import datetime

from sqlalchemy import Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.auth.models import ApiKeyRow, SessionGenerationRow
from rewards.sql import table_of, upsert

# Built once, and from the tables rather than the mapped classes: these two run on every API call and on every
# signed-in page, where building a statement and the ORM's handling of it are a large share of so small a read.
_KEYS = table_of(ApiKeyRow)
_ACTIVE_KEY = select(_KEYS.c.id, _KEYS.c.name, _KEYS.c.scopes, _KEYS.c.secret_hash).where(
    _KEYS.c.prefix == bindparam("prefix"), _KEYS.c.revoked_at.is_(None)
)
_GENERATIONS = table_of(SessionGenerationRow)
_SESSION_GENERATION = select(_GENERATIONS.c.generation).where(_GENERATIONS.c.user_id == bindparam("user_id"))


async def add(
    session: AsyncSession, *, name: str, prefix: str, secret_hash: str, scopes: list[str], now: datetime
) -> ApiKeyRow:
    row = ApiKeyRow(name=name, prefix=prefix, secret_hash=secret_hash, scopes=scopes, created_at=now)
    session.add(row)
    await session.flush()
    return row


async def by_prefix(session: AsyncSession, prefix: str) -> ApiKeyRow | None:
    return await session.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))


async def active_key(session: AsyncSession, prefix: str) -> Row[int, str, list[str], str] | None:
    """The key with this prefix unless it was revoked: id, name, scopes, secret_hash."""
    return (await session.execute(_ACTIVE_KEY, {"prefix": prefix})).first()


async def all_keys(session: AsyncSession) -> list[ApiKeyRow]:
    return list(await session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)))


async def session_generation(session: AsyncSession, user_id: str) -> int:
    generation = await session.scalar(_SESSION_GENERATION, {"user_id": user_id})
    return 0 if generation is None else int(generation)


async def next_session_generation(session: AsyncSession, user_id: str, now: datetime) -> int:
    """One more than before, in one statement (two sign-outs at once both count)."""
    table = _GENERATIONS
    statement = (
        upsert(session, table)
        .values(user_id=user_id, generation=1, ended_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.user_id], set_={"generation": table.c.generation + 1, "ended_at": now}
        )
        .returning(table.c.generation)
    )
    return int((await session.execute(statement)).scalar_one())
