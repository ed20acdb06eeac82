"""CSRF protection for every browser form: a token in a hidden field that must match what the browser holds.

Signed in, the token lives in the signed session cookie (session-bound). Before sign-in (the development sign-in
and language forms) it is a double-submit cookie. API-key requests are not cookie-authenticated and never pass
through here.
"""

import hmac
import secrets

from fastapi import Request
from starlette.responses import Response

from rewards.config import Settings
from rewards.web.sessions import Viewer

CSRF_COOKIE = "rewards_csrf"
FIELD = "csrf_token"


class CsrfRefused(Exception):
    """A POST from a browser without the form's CSRF token, or with another one."""


def token_for(request: Request, viewer: Viewer | None) -> tuple[str, bool]:
    """The token to put in this page's forms, and whether it is new (the response must then set the cookie)."""
    if viewer is not None:
        return viewer.csrf, False
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing, False
    return secrets.token_urlsafe(32), True


def remember(settings: Settings, response: Response, token: str) -> None:
    response.set_cookie(CSRF_COOKIE, token, path="/", secure=settings.cookie_secure, httponly=True, samesite="strict")


async def check(request: Request, viewer: Viewer | None) -> None:
    """Refuse a form POST whose hidden token is missing or does not match (constant-time comparison)."""
    expected = viewer.csrf if viewer is not None else request.cookies.get(CSRF_COOKIE)
    form = await request.form()
    presented = form.get(FIELD)
    if not expected or not isinstance(presented, str) or not hmac.compare_digest(presented, expected):
        raise CsrfRefused
