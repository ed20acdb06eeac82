"""HTTP API for users: standing, reputation history, flair, and the member's profile (how they are shown)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.convertors import Convertor, register_url_convertor

from rewards.apply.ingest import ingest
from rewards.db import unit_of_work
from rewards.deps import ApplierDep, CanRead, CanWriteEvents, IsAdmin, RuntimeDep, SessionDep, UowDep, actor_of
from rewards.errors import InvalidInput, NotFound
from rewards.inputs import MAX_BIGINT
from rewards.runtime import utcnow
from rewards.users import profiles, service
from rewards.users.schemas import AdjustmentIn, AdjustmentOut, HistoryOut, ProfileIn, ProfileOut, UserOut, UsersPageOut

router = APIRouter(prefix="/v1/users", tags=["users"])

# Reputation next to posts may be this stale; the ETag lets a forum revalidate for nothing meanwhile.
PAGE_CACHE_CONTROL = "private, max-age=10"
FLAIR_CACHE_CONTROL = "public, max-age=300"


class MemberIdConvertor(Convertor[str]):
    """A member id in a path, as the forum spells it: any characters, slashes included (`team/alice`, sent as is or
    as `team%2Falice`: both arrive decoded) and line breaks too (Starlette's `path` stops at those). Routes take it
    as `{user_id:member}`, before a fixed suffix: `/v1/users/team/alice/history` is team/alice's history."""

    regex = r"(?s:.+)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class MemberProfileIdConvertor(MemberIdConvertor):
    """The id of `GET /v1/users/{id}`, which would otherwise swallow the member's sub-resources served by the
    routers after this one: a path ending in one of them is that sub-resource, never a profile (the profile of a
    member `x/perks` is in `GET /v1/users?ids=x/perks`). So is a path ending in a sub-resource that only takes POST
    (adjust, a perk's claim and decline): a GET there is a 405 whose `Allow` says POST, as the API document says."""

    regex = r"(?s:(?!.*/(?:adjust|badges|flair\.svg|history|perks|perks/[^/]+/(?:claim|decline)|profile)\Z).+)"


register_url_convertor("member", MemberIdConvertor())
register_url_convertor("member_profile", MemberProfileIdConvertor())

UserId = Annotated[str, Path(min_length=1, max_length=200, description="The forum's user id (slashes allowed).")]


@router.get(
    "",
    response_model=UsersPageOut,
    responses={304: {"description": "Nothing changed since the ETag sent in If-None-Match."}},
    summary="Users for a page of posts, in one call",
)
async def get_users(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    _: CanRead,
    ids: Annotated[str, Query(description="Up to 100 user ids, separated by commas.", max_length=25_000)],
) -> Response:
    """Reputation of up to 100 users at once, with an `ETag`: send it back as `If-None-Match` for a `304`."""
    page = await service.page(session, service.parse_ids(ids), runtime.ruleset)
    headers = {"ETag": page.etag, "Cache-Control": PAGE_CACHE_CONTROL}
    if page.etag in _etags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    # Serialised once from the typed page, without validating it again against `response_model`.
    return Response(page.body, media_type="application/json", headers=headers)


def _etags(header: str | None) -> set[str]:
    return {tag.strip() for tag in header.split(",")} if header else set()


@router.get(
    "/{user_id:member}/flair.svg",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}},
        304: {"description": "Nothing changed since the ETag sent in If-None-Match."},
    },
    summary="A small SVG badge with the user's name and reputation, for <img> tags",
)
async def get_flair(request: Request, user_id: UserId, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Public (an `<img>` cannot send a key) and cacheable for five minutes. A member no event has named yet gets a
    neutral "new member" flair (200), never a broken image beside their first post."""
    flair = await service.flair(session, user_id, runtime.ruleset.version, runtime.ruleset.spec.ranks)
    headers = {"ETag": flair.etag, "Cache-Control": FLAIR_CACHE_CONTROL}
    if flair.etag in _etags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(flair.svg, media_type="image/svg+xml", headers=headers)


@router.get(
    "/{user_id:member_profile}", response_model=UserOut, responses={404: {"description": "Never named in any event."}}
)
async def get_user(user_id: UserId, session: SessionDep, runtime: RuntimeDep, _: CanRead) -> Response:
    """Reputation, rank and progress to the next rank, badge counts and top badges, and standing of one user."""
    # Encoded once per change of the member, without validating it again against `response_model`.
    return Response(await service.profile_json(session, user_id, runtime.ruleset), media_type="application/json")


@router.get("/{user_id:member}/history", response_model=HistoryOut, responses={404: {"description": "Never named."}})
async def get_history(
    user_id: UserId,
    session: SessionDep,
    _: CanRead,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=0, le=MAX_BIGINT, description="`next_before` of the previous page.")] = None,
) -> HistoryOut:
    """The user's ledger, newest first, each change with its reason in words (`+10 upvote on answer a9`) and,
    when its source has a URL template, a link to the post it is about."""
    return await service.history(session, user_id, before=before, limit=limit, links=runtime.settings.links)


@router.put("/{user_id:member}/profile", response_model=ProfileOut, summary="Set how a member is shown")
async def put_profile(
    user_id: UserId, body: ProfileIn, uow: UowDep, runtime: RuntimeDep, _: CanWriteEvents
) -> ProfileOut:
    """The forum's word on a member's display name, username, avatar, profile link, time zone and locale (a key
    with `events:write`, as for events). The profile becomes what the body says; a member no event has named yet
    may have one. Pages and answers show it at once: their cached copies are keyed on the profile's version."""
    made = profiles.change(user_id, profiles.API_SOURCE, **body.model_dump(), whole=True)
    if made is None:
        raise InvalidInput("a user id is 1 to 200 characters, without NUL")
    await profiles.upsert(uow.session, [made], utcnow(), runtime.settings.links)  # a Core upsert: sent at once
    return await service.stored_profile(uow.session, user_id)


@router.get(
    "/{user_id:member}/profile",
    response_model=ProfileOut,
    responses={404: {"description": "No profile is stored for this member: they are shown by their id."}},
    summary="How a member is shown, as stored",
)
async def get_profile(user_id: UserId, session: SessionDep, _: CanRead) -> ProfileOut:
    """The stored profile, with who wrote it last (`source`) and its `version`."""
    return await service.stored_profile(session, user_id)


@router.delete(
    "/{user_id:member}/profile",
    status_code=204,
    response_class=Response,
    responses={404: {"description": "No profile is stored for this member."}},
    summary="Forget how a member is shown",
)
async def delete_profile(user_id: UserId, uow: UowDep, _: CanWriteEvents) -> Response:
    """The forum deleted the account, or the member asked: their name, avatar and links are forgotten, and they
    are shown by their id again. Their reputation and history stay."""
    if not await profiles.remove(uow.session, user_id):
        raise NotFound(f"no profile is stored for {user_id!r}")
    return Response(status_code=204)


@router.post("/{user_id:member}/adjust", response_model=AdjustmentOut, status_code=201, tags=["admin"])
async def adjust_points(user_id: UserId, body: AdjustmentIn, applier: ApplierDep, principal: IsAdmin) -> AdjustmentOut:
    """Add or take away points by hand, with a reason. It is an event in the log (`points.adjusted`), so a replay
    keeps it, the user's history explains it, and the audit log records who did it."""
    runtime = applier.runtime
    async with unit_of_work(runtime.sessionmaker) as uow:
        event = await service.adjust(uow.session, user_id, body, actor_of(principal), utcnow())
        await ingest(applier, uow, [event], utcnow())
    async with runtime.sessionmaker() as session:
        profile = await service.profile(session, user_id, runtime.ruleset.spec.ranks)
    return AdjustmentOut(event_source=event.source, event_id=event.id, user_id=user_id, reputation=profile.reputation)
