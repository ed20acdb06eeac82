"""Member profiles: how a member is shown (a display name, an avatar, a link to their forum profile; the time zone
and locale an SSO token gives), merged from what each source sends.

Written where the forum's data comes in (a sign-in, a Discourse delivery, an import, a Khoros window, the API),
never by the apply pipeline; read with the member (`UserView.profile`), so the validators of the encoded-once
answers change with it. A member without a profile is shown by their id.
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rewards.db import unit_of_work
from rewards.engine.ruleset import web_url
from rewards.links import Links
from rewards.sql import chunks
from rewards.users import repository
from rewards.users.repository import ProfileView

API_SOURCE = "api"
SSO_SOURCE = "sso"
MAX_NAME = 200
MAX_URL = 2000
_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}", re.ASCII)
_TIME_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}", re.ASCII)
# Control characters, and the invisible ones that reorder or hide text (a name must read as what it is).
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def clean_name(value: object) -> str | None:
    """A name as people see it: one line, no control or invisible formatting characters, at most 200 characters;
    None when nothing is left."""
    if not isinstance(value, str):
        return None
    text = "".join(" " if char.isspace() else char for char in value if unicodedata.category(char) not in _HIDDEN)
    text = " ".join(text.split())[:MAX_NAME].strip()
    return text or None


def clean_url(value: object) -> str | None:
    """An absolute http(s) address of at most 2,000 characters, else None (never a `javascript:` link)."""
    if not isinstance(value, str) or len(value) > MAX_URL:
        return None
    return web_url(value.strip())


@lru_cache(maxsize=512)
def clean_time_zone(value: str) -> str | None:
    """An IANA time zone this machine knows (`Europe/Warsaw`), else None."""
    if len(value) > 64 or not _TIME_ZONE.fullmatch(value):
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
    return value


def clean_locale(value: object) -> str | None:
    """A BCP 47 language tag (`pl`, `pt-BR`; `pt_BR` is read as `pt-BR`), else None."""
    if not isinstance(value, str):
        return None
    tag = value.strip().replace("_", "-")
    return tag if len(tag) <= 35 and _LOCALE.fullmatch(tag) else None


@dataclass(frozen=True)
class ProfileChange:
    """What one source says about a member's profile. None: the source does not say (what was stored stays),
    unless `whole` (the API's PUT: the profile is what the request says, fields left out are cleared)."""

    user_id: str
    source: str
    username: str | None = None
    display_name: str | None = None
    avatar_url: str | None = None
    profile_url: str | None = None
    time_zone: str | None = None
    locale: str | None = None
    whole: bool = False


def change(
    user_id: str,
    source: str,
    *,
    username: object = None,
    display_name: object = None,
    avatar_url: object = None,
    profile_url: object = None,
    time_zone: object = None,
    locale: object = None,
    whole: bool = False,
) -> ProfileChange | None:
    """A change from what a source sent, each value cleaned (what cannot be used is left out); None when it says
    nothing usable (and is not `whole`), or names nobody."""
    if not user_id or len(user_id) > 200 or "\x00" in user_id:
        return None
    found = ProfileChange(
        user_id=user_id,
        source=source[:500],
        username=clean_name(username),
        display_name=clean_name(display_name),
        avatar_url=clean_url(avatar_url),
        profile_url=clean_url(profile_url),
        time_zone=clean_time_zone(time_zone) if isinstance(time_zone, str) else None,
        locale=clean_locale(locale),
        whole=whole,
    )
    said = (found.username, found.display_name, found.avatar_url, found.profile_url, found.time_zone, found.locale)
    return found if whole or any(value is not None for value in said) else None


_FIELDS = ("username", "display_name", "avatar_url", "profile_url", "time_zone", "locale")


def _merged(current: ProfileView | None, changes: Sequence[ProfileChange], links: Links) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(_FIELDS)
    if current is not None:
        values.update((name, getattr(current, name)) for name in _FIELDS)
    source = current.source if current is not None else API_SOURCE
    for made in changes:
        source = made.source
        if made.whole:
            values.update((name, getattr(made, name)) for name in _FIELDS)
        else:
            values.update((name, getattr(made, name)) for name in _FIELDS if getattr(made, name) is not None)
        if made.profile_url is None:
            # No address sent: the source's pattern gives one (a Discourse base URL and a username), which follows
            # a renamed member; else what was stored stays.
            derived = links.profile_url(made.source, made.user_id, values["username"])
            if derived is not None:
                values["profile_url"] = derived
    values["source"] = source
    return values


def search_key(display_name: str | None, username: str | None) -> str:
    """What the console's member search matches, case-folded (SQLite's lower() folds ASCII only)."""
    return f"{(display_name or '').casefold()}\n{(username or '').casefold()}"[:401]


async def upsert(session: AsyncSession, changes: Iterable[ProfileChange], now: datetime, links: Links) -> int:
    """Store what the changes say, merged in order over each member's stored profile, in `session`'s
    transaction. Only profiles that change are written (and get a new version): a source that sends the same
    name with every delivery costs a read, never a cache invalidation. The number of profiles written."""
    by_user: dict[str, list[ProfileChange]] = {}
    for made in changes:
        by_user.setdefault(made.user_id, []).append(made)
    if not by_user:
        return 0
    stored = await repository.profiles_to_change(session, list(by_user))
    rows = []
    for user_id, said in by_user.items():
        current = stored.get(user_id)
        values = _merged(current, said, links)
        if current is not None and all(getattr(current, name) == values[name] for name in (*_FIELDS, "source")):
            continue
        rows.append(
            {
                "user_id": user_id,
                **values,
                "version": 1 if current is None else current.version + 1,
                "updated_at": now,
                "search_key": search_key(values["display_name"], values["username"]),
            }
        )
    await repository.write_profiles(session, rows)
    return len(rows)


async def store(
    sessionmaker: async_sessionmaker[AsyncSession],
    changes: Iterable[ProfileChange],
    now: datetime,
    links: Links,
    batch: int = 1000,
) -> int:
    """`upsert` for an import: `batch` members a transaction, so a dump's 100,000 members never hold one long
    write. The number of profiles written."""
    written = 0
    for part in chunks(changes, batch):
        async with unit_of_work(sessionmaker) as uow:
            written += await upsert(uow.session, part, now, links)
    return written


async def remove(session: AsyncSession, user_id: str) -> bool:
    """Forget a member's profile (the forum deleted the account): they are shown by their id again."""
    return await repository.delete_profile(session, user_id)


async def stored(session: AsyncSession, user_id: str) -> ProfileView | None:
    found = await repository.profiles(session, [user_id])
    return found.get(user_id)


# -- how a member is shown -------------------------------------------------------------------------------------


def display_name(user_id: str, profile: ProfileView | None) -> str:
    """The name, else the username, else the id."""
    if profile is None:
        return user_id
    return profile.display_name or profile.username or user_id


def member_fields(user_id: str, profile: ProfileView | None) -> dict[str, Any]:
    """`display_name`, `avatar_url` and `profile_url` of a member, as the API shows them beside the id."""
    return {
        "display_name": display_name(user_id, profile),
        "avatar_url": None if profile is None else profile.avatar_url,
        "profile_url": None if profile is None else profile.profile_url,
    }


@dataclass(frozen=True)
class MemberCard:
    """A member as the pages show one: name and avatar, the id as the fallback, and the forum profile."""

    user_id: str
    display_name: str
    avatar_url: str | None = None
    profile_url: str | None = None

    @classmethod
    def of(cls, user_id: str, profile: ProfileView | None) -> "MemberCard":
        return cls(user_id=user_id, **member_fields(user_id, profile))


async def cards(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, MemberCard]:
    """A card for each of these members (by their id alone when no profile is stored), in one round trip."""
    wanted = list(dict.fromkeys(user_ids))
    found = await repository.profiles(session, wanted) if wanted else {}
    return {user_id: MemberCard.of(user_id, found.get(user_id)) for user_id in wanted}
