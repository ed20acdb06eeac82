"""The engine's own browser session: a signed, expiring cookie holding who signed in and their CSRF token.

Nothing is stored server-side: the cookie is signed with REWARDS_SESSION_SECRET (itsdangerous, HMAC-SHA1 over a
timestamped payload) and refused once older than REWARDS_SESSION_MAX_AGE_SECONDS.
"""

import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

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

    @property
    def is_manager(self) -> bool:
        return bool(MANAGER_ROLES.intersection(self.roles))


def start(identity: Identity) -> Viewer:
    """A new session for a verified identity, with a fresh CSRF token (never carried over from before)."""
    return Viewer(identity.user_id, identity.name, identity.locale, identity.roles, secrets.token_urlsafe(32))


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
        )
    except (KeyError, TypeError):
        return None


def write(settings: Settings, response: Response, viewer: Viewer) -> None:
    secret = settings.session_signing_secret
    if secret is None:
        raise RuntimeError("write() needs REWARDS_SESSION_SECRET; callers check sign_in_available() first")
    payload = {"u": viewer.user_id, "n": viewer.name, "l": viewer.locale, "r": list(viewer.roles), "c": viewer.csrf}
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
