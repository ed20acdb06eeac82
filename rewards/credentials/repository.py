"""All SQL for badge credentials: the award a credential attests, issuing one, and what a status list reads."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.badges.models import BadgeAwardRow
from rewards.credentials.models import BadgeCredentialRow
from rewards.sql import table_of, upsert


@dataclass(frozen=True)
class CredentialState:
    """A credential and whether the grant it attests is still held (same award, same grant, not revoked)."""

    credential: BadgeCredentialRow
    held: bool


# The award a credential attests: same key, same grant (a badge granted again is a new award), not revoked.
_ATTESTED = and_(
    BadgeAwardRow.user_id == BadgeCredentialRow.user_id,
    BadgeAwardRow.badge_id == BadgeCredentialRow.badge_id,
    BadgeAwardRow.tier == BadgeCredentialRow.tier,
    BadgeAwardRow.post == BadgeCredentialRow.post,
    BadgeAwardRow.granted_at == BadgeCredentialRow.granted_at,
    BadgeAwardRow.revoked_at.is_(None),
)


async def held_award(session: AsyncSession, user_id: str, badge_id: str, tier: str, post: str) -> BadgeAwardRow | None:
    """The member's award of this badge tier (for this post), if they hold it now."""
    return (
        await session.scalars(
            select(BadgeAwardRow).where(
                BadgeAwardRow.user_id == user_id,
                BadgeAwardRow.badge_id == badge_id,
                BadgeAwardRow.tier == tier,
                BadgeAwardRow.post == post,
                BadgeAwardRow.revoked_at.is_(None),
            )
        )
    ).first()


async def issue(session: AsyncSession, award: BadgeAwardRow, now: datetime) -> BadgeCredentialRow:
    """The credential of this grant: created on first use, the same one ever after (so its status list index
    and its address never change)."""
    statement = upsert(session, table_of(BadgeCredentialRow)).values(
        credential_id=str(uuid.uuid4()),
        user_id=award.user_id,
        badge_id=award.badge_id,
        tier=award.tier,
        post=award.post,
        granted_at=award.granted_at,
        issued_at=now,
    )
    await session.execute(
        statement.on_conflict_do_nothing(index_elements=["user_id", "badge_id", "tier", "post", "granted_at"])
    )
    row = (
        await session.scalars(
            select(BadgeCredentialRow).where(
                BadgeCredentialRow.user_id == award.user_id,
                BadgeCredentialRow.badge_id == award.badge_id,
                BadgeCredentialRow.tier == award.tier,
                BadgeCredentialRow.post == award.post,
                BadgeCredentialRow.granted_at == award.granted_at,
            )
        )
    ).one()
    return row


async def credential_state(session: AsyncSession, credential_id: str) -> CredentialState | None:
    found = (
        await session.execute(
            select(BadgeCredentialRow, BadgeAwardRow.user_id)
            .outerjoin(BadgeAwardRow, _ATTESTED)
            .where(BadgeCredentialRow.credential_id == credential_id)
        )
    ).first()
    if found is None:
        return None
    credential, held_by = found
    return CredentialState(credential, held_by is not None)


async def revoked_indexes(session: AsyncSession, first: int, last: int) -> list[int]:
    """Status list indexes in [first, last] whose grant is no longer held (revoked, or gone in a replay)."""
    rows = await session.scalars(
        select(BadgeCredentialRow.status_index)
        .outerjoin(BadgeAwardRow, _ATTESTED)
        .where(
            BadgeCredentialRow.status_index >= first,
            BadgeCredentialRow.status_index <= last,
            BadgeAwardRow.user_id.is_(None),
        )
    )
    return list(rows)


async def last_index(session: AsyncSession) -> int:
    """The highest status list index handed out (0 before the first credential)."""
    return (await session.scalar(select(func.max(BadgeCredentialRow.status_index)))) or 0
