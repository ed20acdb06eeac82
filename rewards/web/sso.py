"""Forum single sign-on: verify the JWT the forum hands a browser (HS256 shared secret, or RS256 by key or JWKS).

Pure apart from fetching a JWKS: the settings say which keys to trust; the token says nothing about that. Tokens
are short-lived (REWARDS_SSO_MAX_TOKEN_LIFETIME_SECONDS) and kept out of uvicorn's access log.
"""

import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt

from rewards.config import Settings
from rewards.inputs import NUL
from rewards.web.i18n import N_

# How long a development token lives: it is minted and verified within the same request.
DEVELOPMENT_TOKEN_SECONDS = 60
ROLES = frozenset({"manager", "admin"})
MAX_TOKEN_CHARS = 8192


class SignInRefused(Exception):
    """The token cannot sign anyone in. `message` (a catalog message id, with `params`) says why in words a person
    can act on; the pages show it translated."""

    def __init__(self, message: str, **params: str) -> None:
        super().__init__(message % params)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class ProfileClaims:
    """The token's OpenID Connect standard claims about the person, as sent (checked when stored:
    rewards.users.profiles): none of them is needed to sign in."""

    name: str | None = None
    preferred_username: str | None = None
    picture: str | None = None
    profile: str | None = None
    zoneinfo: str | None = None
    locale: str | None = None


@dataclass(frozen=True)
class Identity:
    user_id: str
    name: str
    locale: str | None
    roles: tuple[str, ...]
    claims: ProfileClaims = ProfileClaims()


def verify(token: str, settings: Settings) -> Identity:
    """The identity in a forum token, or SignInRefused: bad signature, expired, other issuer or audience."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise SignInRefused(N_("no sign-in token was given"))
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as error:
        raise SignInRefused(N_("the sign-in token is not a JWT")) from error
    algorithm = header.get("alg")
    key = _key_for(algorithm, token, settings)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[str(algorithm)],
            audience=settings.sso_audience,
            issuer=settings.sso_issuer,
            leeway=settings.sso_leeway_seconds,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise SignInRefused(N_("the sign-in token has expired: go back to the forum and sign in again")) from error
    except jwt.InvalidAudienceError as error:
        raise SignInRefused(N_("the sign-in token was issued for another service (wrong audience)")) from error
    except jwt.InvalidIssuerError as error:
        raise SignInRefused(N_("the sign-in token was not issued by the configured forum (wrong issuer)")) from error
    except jwt.MissingRequiredClaimError as error:
        raise SignInRefused(N_("the sign-in token lacks the %(claim)s claim"), claim=str(error.claim)) from error
    except jwt.InvalidSignatureError as error:
        raise SignInRefused(
            N_("the sign-in token's signature does not verify: it was not made by the forum")
        ) from error
    except jwt.InvalidTokenError as error:
        raise SignInRefused(N_("the sign-in token is invalid (%(error)s)"), error=str(error)) from error
    _refuse_long_lived(claims, settings, time.time())
    return _identity(claims)


def _refuse_long_lived(claims: dict[str, Any], settings: Settings, now: float) -> None:
    """A sign-in token is a bearer credential on its way through the browser: one that lives for a year is a
    password anyone who saw it can use. Both its whole life (`exp` - `iat`) and what is left of it (`exp` - now)
    must be short; `iat` in the future is already refused by PyJWT."""
    longest = settings.sso_max_token_lifetime_seconds
    # As PyJWT reads them (it has checked that both are whole numbers, or text that is one).
    expires = int(claims["exp"])
    issued = claims.get("iat")
    lives = expires - int(issued) if issued is not None else 0
    if lives > longest or expires - now > longest + settings.sso_leeway_seconds:
        raise SignInRefused(
            N_(
                "the sign-in token is valid for more than %(seconds)s seconds: the forum must mint short-lived "
                "tokens (a minute is plenty)"
            ),
            seconds=str(longest),
        )


def _key_for(algorithm: object, token: str, settings: Settings) -> Any:
    # The algorithm comes from the token, so each one is only ever paired with the key configured for it: an
    # RS256 public key can never be used as an HS256 secret.
    if algorithm == "HS256":
        secret = settings.sso_hs256_secret
        if secret is None:
            raise SignInRefused(N_("HS256 sign-in tokens are not accepted here (no REWARDS_SSO_SECRET)"))
        return secret.encode()
    if algorithm == "RS256":
        if settings.sso_public_key:
            return _public_key(settings.sso_public_key)
        if settings.sso_jwks_url:
            try:
                return _jwks_key(settings.sso_jwks_url, token)
            except (jwt.PyJWKClientError, jwt.PyJWKSetError, OSError, ValueError) as error:
                raise SignInRefused(
                    N_("no key of the forum's JWKS verifies this token (%(error)s)"), error=str(error)
                ) from error
            except jwt.InvalidTokenError as error:
                raise SignInRefused(N_("the sign-in token is invalid (%(error)s)"), error=str(error)) from error
        raise SignInRefused(N_("RS256 sign-in tokens are not accepted here (no REWARDS_SSO_PUBLIC_KEY or _JWKS_URL)"))
    raise SignInRefused(
        N_("sign-in tokens signed with %(algorithm)s are not accepted (HS256 or RS256 only)"), algorithm=str(algorithm)
    )


@lru_cache(maxsize=4)
def _public_key(configured: str) -> str:
    if configured.lstrip().startswith("-----BEGIN"):
        return configured
    return Path(configured).read_text()


def _jwks_key(configured: str, token: str) -> Any:
    """The JWKS key named by the token's `kid` (or the only one), from a URL or a file."""
    if configured.startswith(("https://", "http://")):
        return _jwks_client(configured).get_signing_key_from_jwt(token).key
    path = Path(configured.removeprefix("file://"))
    keys = _jwks_file(path, path.stat().st_mtime_ns)
    kid = jwt.get_unverified_header(token).get("kid")
    for key in keys.keys:
        if (kid is None and len(keys.keys) == 1) or key.key_id == kid:
            return key.key
    raise jwt.PyJWKClientError(f"no key with kid {kid!r} in {path}")


@lru_cache(maxsize=4)
def _jwks_client(uri: str) -> jwt.PyJWKClient:
    # Keys are cached for five minutes, so a rotated key is picked up without a restart.
    return jwt.PyJWKClient(uri, cache_keys=True, lifespan=300, timeout=5)


@lru_cache(maxsize=4)
def _jwks_file(path: Path, _mtime_ns: int) -> jwt.PyJWKSet:
    # Keyed by the file's modification time too: a rotated key file is read again.
    return jwt.PyJWKSet.from_json(path.read_text())


def _identity(claims: dict[str, Any]) -> Identity:
    user_id = claims.get("sub")
    # 195: "user:<id>" names who acted in 200 characters (the audit log, publications, decisions).
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 195 or NUL in user_id:
        raise SignInRefused(
            N_("the sign-in token's 'sub' (the forum user id) must be a string of 1 to 195 characters, without NUL")
        )
    name = claims.get("name")
    locale = claims.get("locale")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise SignInRefused(N_("the sign-in token's 'roles' must be a list of strings"))
    return Identity(
        user_id=user_id,
        name=name[:200] if isinstance(name, str) and name.strip() else user_id,
        locale=locale if isinstance(locale, str) and 0 < len(locale) <= 35 else None,
        roles=tuple(sorted(ROLES.intersection(roles))),
        claims=ProfileClaims(
            name=_text_claim(claims, "name", 1000),
            preferred_username=_text_claim(claims, "preferred_username", 1000),
            picture=_text_claim(claims, "picture", 2000),
            profile=_text_claim(claims, "profile", 2000),
            zoneinfo=_text_claim(claims, "zoneinfo", 64),
            locale=_text_claim(claims, "locale", 35),
        ),
    )


def _text_claim(claims: dict[str, Any], name: str, longest: int) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and 0 < len(value) <= longest and NUL not in value else None


class HideSignInTokens(logging.Filter):
    """uvicorn's access log writes each request's path with its query string: `GET /sso?token=...` would keep a
    working sign-in token in the log. This filter hides a query that holds a `token` (on /sso, and on `/sso/`,
    which is redirected to it, or a mistyped path); the line stays, the token does not."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs '%s - "%s %s HTTP/%s" %d' with (client, method, path and query, HTTP version, status).
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            if "token=" in query:
                record.args = (args[0], args[1], f"{path}?<hidden>", args[3], args[4])
        return True


_HIDE_SIGN_IN_TOKENS = HideSignInTokens()


def hide_tokens_from_access_log() -> None:
    """Install the filter on uvicorn's access logger (once: the same filter is never added twice)."""
    logging.getLogger("uvicorn.access").addFilter(_HIDE_SIGN_IN_TOKENS)


def mint_development_token(settings: Settings, identity: Identity) -> str:
    """What a forum does, for the development sign-in page: an HS256 token with the development secret."""
    secret = settings.sso_hs256_secret
    if secret is None:
        raise SignInRefused(N_("no HS256 secret to mint a development token with"))
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.sso_issuer,
        "aud": settings.sso_audience,
        "sub": identity.user_id,
        "name": identity.name,
        "roles": list(identity.roles),
        "iat": now,
        "exp": now + DEVELOPMENT_TOKEN_SECONDS,
    }
    if identity.locale is not None:
        claims["locale"] = identity.locale
    claims.update(
        (name, value)
        for name, value in (
            ("picture", identity.claims.picture),
            ("preferred_username", identity.claims.preferred_username),
            ("zoneinfo", identity.claims.zoneinfo),
        )
        if value is not None
    )
    return jwt.encode(claims, secret.encode(), algorithm="HS256")
