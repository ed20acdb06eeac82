"""The engine's own browser session: a signed, expiring cookie holding who signed in and their CSRF token.

The cookie is signed with REWARDS_SESSION_SECRET (itsdangerous, HMAC-SHA1 over a timestamped payload) and refused
once older than REWARDS_SESSION_MAX_AGE_SECONDS. It also carries the member's session generation (rewards.auth)
from when it was opened: signing out, or a manager's "sign out", moves the generation on, and from then on
`still_open` refuses every cookie the member held, copies included, on every device and in every process.
"""

import secrets
from dataclasses import dataclass, replace
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from rewards.auth import service as auth
from rewards.config import Settings
from rewards.web.sso import Identity

SESSION_COOKIE = "rewards_session"
MANAGER_ROLES = frozenset({"manager", "admin"})


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, as the forum described them when they signed in."""

    user_id: str
    name: str
    locale: str | None
    roles: tuple[str, ...]
    csrf: str
    # The member's session generation when the session was opened (`bind`). 0, as in cookies made before
    # generations existed, is honoured only until the member's sessions are first ended.
    generation: int = 0

    @property
    def is_manager(self) -> bool:
        return bool(MANAGER_ROLES.intersection(self.roles))


def start(identity: Identity) -> Viewer:
    """A new session for a verified identity, with a fresh CSRF token (never carried over from before)."""
    return Viewer(identity.user_id, identity.name, identity.locale, identity.roles, secrets.token_urlsafe(32))


async def bind(session: AsyncSession, viewer: Viewer) -> Viewer:
    """A new session tied to the member's current generation, so that ending their sessions ends this one."""
    return replace(viewer, generation=await auth.session_generation(session, viewer.user_id))


async def still_open(session: AsyncSession, viewer: Viewer) -> bool:
    """False once the member's sessions were ended after this one was opened: one indexed read, per page."""
    return viewer.generation == await auth.session_generation(session, viewer.user_id)


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="rewards.session")


def read(settings: Settings, raw: str | None) -> Viewer | None:
    secret = settings.session_signing_secret
    if not raw or secret is None:
        return None
    try:
        payload: Any = _serializer(secret).loads(raw, max_age=settings.session_max_age_seconds)
    except BadSignature:  # tampered, signed with another secret, or expired (SignatureExpired is a BadSignature)
        return None
    if not isinstance(payload, dict):
        return None
    try:
        return Viewer(
            user_id=str(payload["u"]),
            name=str(payload["n"]),
            locale=None if payload["l"] is None else str(payload["l"]),
            roles=tuple(str(role) for role in payload["r"]),
            csrf=str(payload["c"]),
            generation=int(payload.get("g", 0)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def write(settings: Settings, response: Response, viewer: Viewer) -> None:
    secret = settings.session_signing_secret
    if secret is None:
        raise RuntimeError("write() needs REWARDS_SESSION_SECRET; callers check sign_in_available() first")
    payload = {
        "u": viewer.user_id,
        "n": viewer.name,
        "l": viewer.locale,
        "r": list(viewer.roles),
        "c": viewer.csrf,
        "g": viewer.generation,
    }
    response.set_cookie(
        SESSION_COOKIE,
        _serializer(secret).dumps(payload),
        max_age=settings.session_max_age_seconds,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def clear(settings: Settings, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=settings.cookie_secure, httponly=True, samesite="lax")
