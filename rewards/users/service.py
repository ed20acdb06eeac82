"""Use cases for reading users: profile and reputation history."""

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.audit import service as audit
from rewards.badges import service as badges_service
from rewards.badges.schemas import BadgeSummaryOut
from rewards.engine.evaluate import ADJUSTMENT_TYPE
from rewards.engine.ranks import (
    HeldBadges,
    RenewalShown,
    renewal_shown,
    renewed_ranks,
    standing,
)
from rewards.engine.renewal import Counts
from rewards.engine.ruleset import Counter, Rank, Ruleset
from rewards.errors import InvalidInput, NotFound
from rewards.events.service import ValidEvent, entry_out
from rewards.ledger import repository as ledger_repository
from rewards.links import Links
from rewards.renewals import repository as renewals
from rewards.templating import templates
from rewards.users import profiles, repository
from rewards.users.cache import Encoded, caches_of
from rewards.users.repository import ProfileView, UserView
from rewards.users.schemas import (
    AdjustmentIn,
    HistoryEntryOut,
    HistoryOut,
    NextRankOut,
    ProfileOut,
    RankOut,
    RenewalOut,
    UserOut,
)


def _unknown(user_id: str) -> NotFound:
    return NotFound(f"user {user_id!r} has not appeared in any event yet")


async def _user(session: AsyncSession, user_id: str) -> UserView:
    user = await repository.view(session, user_id)
    if user is None:
        raise _unknown(user_id)
    return user


async def renewal_windows(session: AsyncSession, ranks: list[Rank], users: Iterable[UserView]) -> Counts:
    return await renewals.windows(session, ranks, ((user.user_id, user.reputation) for user in users))


def _renewal_out(shown: RenewalShown | None, counter_name: str) -> RenewalOut | None:
    if shown is None or shown.rank.renewal is None:
        return None
    renewal, found = shown.rank.renewal, shown.status
    return RenewalOut(
        counter=renewal.counter,
        counter_name=counter_name,
        at=renewal.at,
        window_months=renewal.months,
        count=found.count,
        held=found.held,
        until=found.lapses_at if found.held else None,
        warn_from=found.warns_at(renewal) if found.held else None,
        needed_by_then=found.needed_by_then,
        explanation=shown.explanation,
    )


def _out(
    user: UserView,
    ranks: list[Rank],
    badges: BadgeSummaryOut | None = None,
    held: HeldBadges = (),
    windows: Counts | None = None,
    counters: Mapping[str, Counter] | None = None,
) -> UserOut:
    """`windows` (`renewal_windows`): a rank that must be renewed is held only while its window has enough, and
    says so; None: windows not read (only the reputation is wanted)."""
    renewed = None if windows is None else renewed_ranks(ranks, windows, user.user_id, user.reputation)
    where = standing(ranks, user.reputation, held, renewed)

    def renewal(rank: Rank | None) -> RenewalOut | None:
        if windows is None or rank is None or rank.renewal is None:
            return None
        counter = (counters or {}).get(rank.renewal.counter)
        name = counter.name if counter is not None else rank.renewal.counter
        return _renewal_out(renewal_shown(rank, windows, user.user_id, name), name)

    return UserOut(
        user_id=user.user_id,
        **profiles.member_fields(user.user_id, user.profile),
        reputation=user.reputation,
        rank=None
        if where.rank is None
        else RankOut(**where.rank.model_dump(include={"id", "title", "reputation"}), renewal=renewal(where.rank)),
        next_rank=None
        if where.next_rank is None or where.reputation_needed is None or where.progress is None
        else NextRankOut(
            **where.next_rank.model_dump(include={"id", "title", "reputation"}),
            # Only once the reputation is there: below it the windows are not read (see `renewal_windows`).
            renewal=renewal(where.next_rank) if user.reputation >= where.next_rank.reputation else None,
            reputation_needed=where.reputation_needed,
            progress=where.progress,
            badges_needed=list(where.badges_needed),
        ),
        suspended=user.suspended,
        suspended_until=user.suspended_until,
        first_seen_at=user.first_seen_at,
        last_active_at=user.last_active_at,
        badges=badges,
    )


def held_by_user(held: list[tuple[str, str, str, datetime]]) -> dict[str, list[tuple[str, str]]]:
    """(badge, tier) held per user, from the rows `held_badges_of` returns; ranks may need badges."""
    by_user: dict[str, list[tuple[str, str]]] = {}
    for user_id, badge_id, tier, _ in held:
        by_user.setdefault(user_id, []).append((badge_id, tier))
    return by_user


async def profile(session: AsyncSession, user_id: str, ranks: list[Rank], ruleset: Ruleset | None = None) -> UserOut:
    """With `ruleset`, the badge summary and the renewal windows too."""
    user, held = await repository.view_with_badges(session, user_id)
    if user is None:
        raise _unknown(user_id)
    if ruleset is None:
        return _out(user, ranks, None, held_by_user(held).get(user_id, []))
    summary = badges_service.summaries(ruleset, held, [user_id])[user_id]
    windows = await renewal_windows(session, ranks, [user])
    return _out(user, ranks, summary, held_by_user(held).get(user_id, []), windows, ruleset.spec.counters)


def _held_key(held: list[tuple[str, str, str, datetime]]) -> tuple[tuple[str, str, datetime], ...]:
    return tuple(sorted((badge, tier, granted_at) for _, badge, tier, granted_at in held))


Held = list[tuple[str, str, str, datetime]]  # (user, badge, tier, granted_at) of held badges


def _member_validator(ruleset: Ruleset, user: UserView, held: Held) -> tuple[object, ...]:
    """What a member's JSON is encoded once per change of: the member's row (all of it, not only `updated_seq`: a
    replay or a retroactive publish rewrites reputations under the same seqs), their held badges (a manager's grant
    changes no seq) and the ruleset. Not the renewal windows: they move only when an event about the member is
    applied (a counted award, the schedule's `renewal.check`), which sets `updated_seq`, or in a replay, which
    gives the same windows under the same rules."""
    return (ruleset.version, user, _held_key(held))


def _member_cached(session: AsyncSession, user: UserView, held: Held, ruleset: Ruleset) -> bytes | None:
    found = caches_of(session).members.get(user.user_id, _member_validator(ruleset, user, held))
    return None if found is None else found.body


def _member_json(session: AsyncSession, user: UserView, held: Held, ruleset: Ruleset, windows: Counts) -> bytes:
    """A member as `UserOut` JSON (the profile, and an entry of a page of users), encoded and kept (see
    `_member_validator`); `windows`: `renewal_windows`."""
    summary = badges_service.summaries(ruleset, held, [user.user_id])[user.user_id]
    held_pairs = [(badge, tier) for _, badge, tier, _ in held]
    body = _out(user, ruleset.spec.ranks, summary, held_pairs, windows, ruleset.spec.counters)
    encoded = Encoded(_member_validator(ruleset, user, held), body.model_dump_json().encode(), "")
    return caches_of(session).members.put(user.user_id, encoded).body


async def profile_json(session: AsyncSession, user_id: str, ruleset: Ruleset) -> bytes:
    """`GET /v1/users/{id}`: the bytes of `profile(session, user_id, ranks, ruleset)`, in one round trip (two when
    they are encoded again for a member whose title may lapse)."""
    user, held = await repository.view_with_badges(session, user_id)
    if user is None:
        raise _unknown(user_id)
    found = _member_cached(session, user, held, ruleset)
    if found is not None:
        return found
    windows = await renewal_windows(session, ruleset.spec.ranks, [user])
    return _member_json(session, user, held, ruleset, windows)


MAX_USERS_PER_PAGE = 100


@dataclass(frozen=True)
class UsersPage:
    body: bytes = field(repr=False)  # `UsersPageOut` as JSON
    etag: str


_IDS_JSON = TypeAdapter(list[str])


def parse_ids(raw: str) -> list[str]:
    ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not ids:
        raise InvalidInput("`ids` is empty: pass up to 100 user ids separated by commas, e.g. ?ids=u1,u2")
    if len(ids) > MAX_USERS_PER_PAGE:
        raise InvalidInput(f"{len(ids)} ids asked; at most {MAX_USERS_PER_PAGE} per call")
    if any(len(user_id) > 200 for user_id in ids):
        raise InvalidInput("a user id is longer than 200 characters")
    return ids


async def page(session: AsyncSession, user_ids: list[str], ruleset: Ruleset) -> UsersPage:
    """Users for a page of posts, and a validator that changes whenever any of them changes.

    Every change to a user sets its `updated_seq` to the seq of the event that made it, and seqs only grow,
    so the largest `updated_seq` among the users changes whenever one of them does. The ruleset version is in
    it too: a replay under other rules changes reputations without new events. Badges granted or revoked by a
    manager change no seq, so the held badges are part of the digest, and so are the members' profiles (a name
    or an avatar changes no seq either).
    """
    found, held = await repository.views_with_badges(session, user_ids)
    newest = max((user.updated_seq for user in found.values()), default=0)
    fingerprint = (
        "\x1f".join(user_ids)
        + "\x1e"
        + "\x1f".join(sorted(f"{u}/{b}/{t}" for u, b, t, _ in held))
        + "\x1e"
        + "\x1f".join(_profile_stamp(user.profile) for user in found.values() if user.profile is not None)
    )
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    held_by: dict[str, Held] = {}
    for row in held:
        held_by.setdefault(row[0], []).append(row)
    cached = {
        user_id: _member_cached(session, user, held_by.get(user_id, []), ruleset) for user_id, user in found.items()
    }
    # The windows of the members encoded again, in one round trip.
    stale = [found[user_id] for user_id, body in cached.items() if body is None]
    windows = await renewal_windows(session, ruleset.spec.ranks, stale) if stale else {}
    # Byte for byte what `UsersPageOut(...).model_dump_json()` gives, from each member's JSON encoded once.
    users = b",".join(
        cached[user_id] or _member_json(session, found[user_id], held_by.get(user_id, []), ruleset, windows)
        for user_id in user_ids
        if user_id in found
    )
    missing = _IDS_JSON.dump_json([user_id for user_id in user_ids if user_id not in found])
    return UsersPage(
        body=b'{"users":[' + users + b'],"missing":' + missing + b"}",
        etag=f'W/"{ruleset.version}-{newest}-{len(found)}-{digest}"',
    )


def _profile_stamp(profile: ProfileView) -> str:
    return f"{profile.user_id}/{profile.version}/{profile.updated_at.isoformat()}"


async def history(
    session: AsyncSession, user_id: str, *, before: int | None, limit: int, links: Links | None = None
) -> HistoryOut:
    """A page of the member's ledger, each line with the post it is about and, where the post's source has a URL
    template (`links`; without it, the templates a source's name gives), where that post is on the forum."""
    user = await _user(session, user_id)
    rows = await ledger_repository.history(session, user_id, before_id=before, limit=limit + 1)
    page = rows[:limit]
    posts = await repository.posts_of_events(session, [row.event_seq for row in page]) if page else {}
    links = links or Links()
    entries = []
    for row in page:
        source, post_id, kind = posts.get(row.event_seq, ("", None, None))
        entry = entry_out(row)
        post_url = links.post_url(source, post_id, kind) if post_id else None
        entries.append(HistoryEntryOut(**entry.model_dump(), post_id=post_id, post_url=post_url))
    return HistoryOut(
        user_id=user_id,
        reputation=user.reputation,
        entries=entries,
        next_before=page[-1].id if len(rows) > limit else None,
    )


def profile_out(user_id: str, profile: ProfileView) -> ProfileOut:
    return ProfileOut(
        user_id=user_id,
        **profiles.member_fields(user_id, profile),
        username=profile.username,
        time_zone=profile.time_zone,
        locale=profile.locale,
        source=profile.source,
        version=profile.version,
        updated_at=profile.updated_at,
    )


async def stored_profile(session: AsyncSession, user_id: str) -> ProfileOut:
    found = await profiles.stored(session, user_id)
    if found is None:
        raise NotFound(f"no profile is stored for {user_id!r}: it is shown by its id")
    return profile_out(user_id, found)


@dataclass(frozen=True)
class Flair:
    svg: str
    etag: str


NEW_MEMBER = "new member"


async def flair(session: AsyncSession, user_id: str, ruleset_version: int, ranks: list[Rank]) -> Flair:
    """Drawn once per change of the member (their row, profile or held badges, or the ruleset), in one round trip
    (two for a member no event has named: their flair is a neutral "new member" one, never a broken image beside
    a newcomer's first post). The ETag is the drawing's own digest, so it changes whenever the drawing does."""
    user, held_rows = await repository.view_with_badges(session, user_id)
    profile = user.profile if user is not None else await profiles.stored(session, user_id)
    caches = caches_of(session)
    # The whole row: see `_member_json`.
    validator = (ruleset_version, user, _held_key(held_rows)) if user is not None else (None, profile)
    found = caches.flair.get(user_id, validator)
    if found is None:
        name = profiles.display_name(user_id, profile)
        if user is None:
            svg = _new_member_svg(name)
        else:
            windows = await renewal_windows(session, ranks, [user])  # see `_member_validator`
            svg = _flair_svg(user, name, [(badge, tier) for _, badge, tier, _ in held_rows], ranks, windows)
        etag = f'W/"flair-{hashlib.sha256(svg.encode()).hexdigest()[:20]}"'
        found = caches.flair.put(user_id, Encoded(validator, svg.encode(), etag))
    return Flair(svg=found.body.decode(), etag=found.etag)


def _shortened(name: str) -> str:
    return name if len(name) <= 24 else name[:23] + "…"


def _drawn(name: str, value: str, background: str, label: str) -> str:
    # Verdana 11px averages about 7 px a character; the badge only has to be roughly right.
    name_width = 12 + 7 * len(name)
    width = name_width + 12 + 7 * len(value)
    return templates.get_template("flair.svg").render(
        name=name, reputation=value, name_width=name_width, width=width, background=background, label=label
    )


def _flair_svg(user: UserView, shown: str, held: list[tuple[str, str]], ranks: list[Rank], windows: Counts) -> str:
    rank = standing(ranks, user.reputation, held, renewed_ranks(ranks, windows, user.user_id, user.reputation)).rank
    reputation = f"{user.reputation:,}" + (f" · {rank.title}" if rank is not None else "")
    label = f"{shown}: {user.reputation:,} reputation" + (f", {rank.title}" if rank is not None else "")
    return _drawn(_shortened(shown), reputation, "#9e9e9e" if user.suspended else "#0b57d0", label)


def _new_member_svg(shown: str) -> str:
    return _drawn(_shortened(shown), NEW_MEMBER, "#5f6368", f"{shown}: {NEW_MEMBER}")


ADJUSTMENT_SOURCE = "rewards:admin"


async def adjust(session: AsyncSession, user_id: str, body: AdjustmentIn, actor: str, now: datetime) -> ValidEvent:
    """A `points.adjusted` event for the user, audited in `session`'s transaction; the caller ingests it
    (`rewards.apply.ingest`) in the same one, so it is applied like any event and a replay keeps it."""
    if await repository.get(session, user_id) is None:
        raise NotFound(f"user {user_id!r} has not appeared in any event yet")
    if body.points == 0:
        raise InvalidInput("an adjustment of 0 points changes nothing")
    event = ValidEvent(
        source=ADJUSTMENT_SOURCE,
        id=uuid.uuid4().hex,
        type=ADJUSTMENT_TYPE,
        time=now,
        data={"actor": actor, "user": user_id, "points": body.points, "reason": body.reason},
    )
    await audit.record(
        session, actor=actor, action="points.adjust", now=now, user_id=user_id, target=None, reason=body.reason,
        detail={"points": body.points, "event_id": event.id},
    )  # fmt: skip
    return event
