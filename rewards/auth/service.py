"""API keys: `rk_<prefix>_<secret>`. The secret is 32 random bytes, so a SHA-256 of it is a safe store.

And members' session generations: what ends a member's browser sessions on the server (rewards/web/sessions.py)."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.audit import service as audit
from rewards.auth import repository
from rewards.errors import Forbidden, Unauthorized


class Scope(StrEnum):
    EVENTS_WRITE = "events:write"
    READ = "read"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    key_id: int
    name: str
    scopes: frozenset[str]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(session: AsyncSession, name: str, scopes: list[Scope], now: datetime) -> str:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    await repository.add(
        session, name=name, prefix=prefix, secret_hash=_hash(secret), scopes=sorted(set(scopes)), now=now
    )
    return f"rk_{prefix}_{secret}"


async def authenticate(session: AsyncSession, presented: str | None) -> Principal:
    """Checked against the database on every request, with no cache in between: a revoked key is refused by
    every API process from the moment the revocation commits. (One indexed read; a cache of verified keys kept
    fresh by a revocation counter in the database would cost the same read.)"""
    if not presented:
        raise Unauthorized(
            "an API key is required: send `Authorization: Bearer rk_...` (create one with `rewards apikey create`)"
        )
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "rk":
        raise Unauthorized("the API key is malformed: keys look like rk_<prefix>_<secret>")
    row = await repository.active_key(session, parts[1])
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(parts[2])):
        raise Unauthorized("the API key is unknown or revoked")
    return Principal(key_id=row.id, name=row.name, scopes=frozenset(row.scopes))


def require(principal: Principal, scope: Scope) -> None:
    if not principal.allows(scope):
        raise Forbidden(f"this API key lacks the {scope.value!r} scope (it has: {', '.join(sorted(principal.scopes))})")


async def list_keys(session: AsyncSession) -> list[dict[str, str]]:
    return [
        {
            "prefix": row.prefix,
            "name": row.name,
            "scopes": ",".join(row.scopes),
            "created_at": row.created_at.isoformat(),
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else "active",
        }
        for row in await repository.all_keys(session)
    ]


async def revoke_key(session: AsyncSession, prefix: str, now: datetime) -> bool:
    row = await repository.by_prefix(session, prefix.removeprefix("rk_").split("_")[0])
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    return True


async def session_generation(session: AsyncSession, user_id: str) -> int:
    """The generation a session cookie of this member must carry to be honoured."""
    return await repository.session_generation(session, user_id)


async def end_sessions(
    session: AsyncSession, user_id: str, now: datetime, *, actor: str | None = None, reason: str | None = None
) -> int:
    """End every browser session of the member, on every device: the cookies they hold are refused from the
    commit on. The new generation is returned. When someone else ends them (`actor`: a manager), the audit log
    says who and why, in the same transaction; a member's own sign-out is not audited."""
    generation = await repository.next_session_generation(session, user_id, now)
    if actor is not None:
        await audit.record(
            session,
            actor=actor,
            action="sessions.end",
            now=now,
            user_id=user_id,
            reason=reason,
            detail={"generation": generation},
        )
    return generation
