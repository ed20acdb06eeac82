"""API keys: `rk_<prefix>_<secret>`. The secret is 32 random bytes, so a SHA-256 of it is a safe store."""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

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


# Verified keys, kept briefly so that the forum's many reads skip a database round trip. A revoked key stops
# working within this many seconds.
KEY_CACHE_SECONDS = 30.0
_verified: dict[str, tuple[float, Principal]] = {}


async def authenticate(session: AsyncSession, presented: str | None) -> Principal:
    if presented:
        cached = _verified.get(presented)
        if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
    principal = await _verify(session, presented)
    if len(_verified) > 10_000:
        _verified.clear()
    _verified[str(presented)] = (time.monotonic(), principal)
    return principal


async def _verify(session: AsyncSession, presented: str | None) -> Principal:
    if not presented:
        raise Unauthorized(
            "an API key is required: send `Authorization: Bearer rk_...` (create one with `rewards apikey create`)"
        )
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "rk":
        raise Unauthorized("the API key is malformed: keys look like rk_<prefix>_<secret>")
    row = await repository.by_prefix(session, parts[1])
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, _hash(parts[2])):
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
    _verified.clear()
    return True
