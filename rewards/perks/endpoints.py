"""HTTP API for perks: the catalogue, an expert's perks, claims and declines, and managers' actions."""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Response

from rewards.deps import CanRead, CanWriteEvents, IsAdmin, RuntimeDep, SessionDep, UowDep, actor_of
from rewards.inputs import UPLOAD_BODY_BYTES
from rewards.outbox import service as outbox
from rewards.perks import service
from rewards.perks.schemas import (
    CodesIn,
    CodesOut,
    PerkDecisionIn,
    PerkGrantOut,
    PerkOut,
    PerksOut,
    SeatsIn,
    UserPerksOut,
)
from rewards.runtime import utcnow
from rewards.users.endpoints import UserId  # and the `member` path convertor: ids may hold slashes

router = APIRouter(tags=["perks"])

PerkId = Annotated[str, Path(min_length=1, max_length=64)]
NO_OFFER: dict[int | str, dict[str, Any]] = {409: {"description": "No open offer of the perk, or it expired."}}
NO_REQUEST: dict[int | str, dict[str, Any]] = {409: {"description": "The user has no request awaiting approval."}}


@router.get("/v1/perks", response_model=PerksOut, summary="Perks with seats, waitlist and code pool")
async def get_perks(session: SessionDep, runtime: RuntimeDep, _: CanRead) -> PerksOut:
    return await service.catalogue(session, runtime.ruleset)


@router.get(
    "/v1/users/{user_id:member}/perks", response_model=UserPerksOut, summary="An expert's perks, and what is in reach"
)
async def get_user_perks(user_id: UserId, session: SessionDep, runtime: RuntimeDep, _: CanRead) -> UserPerksOut:
    """Active (with code, date, place), offered (with deadline), waitlisted (with position), and perks in reach
    with exactly what is missing: `250 more reputation and Solver silver`."""
    return await service.user_perks(session, runtime.ruleset, user_id, utcnow())


@router.post("/v1/users/{user_id:member}/perks/{perk_id}/claim", response_model=PerkGrantOut, responses=NO_OFFER)
async def claim_perk(
    user_id: UserId, perk_id: PerkId, uow: UowDep, runtime: RuntimeDep, _: CanWriteEvents
) -> PerkGrantOut:
    """Claim an offer before its deadline; a beta perk hands out its code. 409 when there is no open offer.
    The forum calls it for the signed-in expert, with a key of scope `events:write` (what it posts events with)."""
    claimed = await service.claim(uow.session, runtime.ruleset, user_id, perk_id, utcnow())
    uow.after_commit(lambda: outbox.kick(runtime))
    return claimed


@router.post("/v1/users/{user_id:member}/perks/{perk_id}/decline", response_model=PerkGrantOut, responses=NO_OFFER)
async def decline_perk(
    user_id: UserId, perk_id: PerkId, uow: UowDep, runtime: RuntimeDep, _: CanWriteEvents
) -> PerkGrantOut:
    """Decline an offer (or leave the waitlist); the seat goes to the next person waiting."""
    declined = await service.decline(uow.session, runtime.ruleset, user_id, perk_id, utcnow())
    uow.after_commit(lambda: outbox.kick(runtime))
    return declined


async def _decide(
    action: str, perk_id: str, body: PerkDecisionIn, uow: UowDep, runtime: RuntimeDep, actor: str
) -> PerkGrantOut:
    use_case = {
        "approve": service.approve,
        "deny": service.deny,
        "grant": service.grant_by_hand,
        "revoke": service.revoke,
    }[action]
    result = await use_case(uow.session, runtime.ruleset, perk_id, body.user_id, actor, body.reason, utcnow())
    uow.after_commit(lambda: outbox.kick(runtime))
    return result


@router.post("/v1/admin/perks/{perk_id}/approve", response_model=PerkGrantOut, tags=["admin"], responses=NO_REQUEST)
async def approve_perk(
    perk_id: PerkId, body: PerkDecisionIn, uow: UowDep, runtime: RuntimeDep, principal: IsAdmin
) -> PerkGrantOut:
    """Approve a request awaiting approval: it becomes an offer (or the perk itself)."""
    return await _decide("approve", perk_id, body, uow, runtime, actor_of(principal))


@router.post("/v1/admin/perks/{perk_id}/deny", response_model=PerkGrantOut, tags=["admin"], responses=NO_REQUEST)
async def deny_perk(
    perk_id: PerkId, body: PerkDecisionIn, uow: UowDep, runtime: RuntimeDep, principal: IsAdmin
) -> PerkGrantOut:
    return await _decide("deny", perk_id, body, uow, runtime, actor_of(principal))


@router.post(
    "/v1/admin/perks/{perk_id}/grant",
    response_model=PerkGrantOut,
    status_code=201,
    tags=["admin"],
    responses={
        404: {"description": "No such perk, or the user never appeared in an event."},
        409: {"description": "The user already has the perk."},
    },
)
async def grant_perk(
    perk_id: PerkId, body: PerkDecisionIn, uow: UowDep, runtime: RuntimeDep, principal: IsAdmin
) -> PerkGrantOut:
    """Grant a perk by hand, whatever the eligibility; it takes a seat."""
    return await _decide("grant", perk_id, body, uow, runtime, actor_of(principal))


@router.post(
    "/v1/admin/perks/{perk_id}/revoke",
    response_model=PerkGrantOut,
    tags=["admin"],
    responses={404: {"description": "No such perk, or the user has no open grant of it."}},
)
async def revoke_perk(
    perk_id: PerkId, body: PerkDecisionIn, uow: UowDep, runtime: RuntimeDep, principal: IsAdmin
) -> PerkGrantOut:
    """End a user's perk (or offer, or waitlist place); the seat goes to the next person waiting."""
    return await _decide("revoke", perk_id, body, uow, runtime, actor_of(principal))


@router.post(
    "/v1/admin/perks/{perk_id}/codes", response_model=CodesOut, tags=["admin"], max_body_size=UPLOAD_BODY_BYTES
)
async def upload_codes(
    perk_id: PerkId, body: CodesIn, uow: UowDep, runtime: RuntimeDep, principal: IsAdmin
) -> CodesOut:
    """Add beta codes to the pool; codes already there are skipped; experts waiting for a code get one."""
    result = await service.upload_codes(
        uow.session, runtime.ruleset, perk_id, body.codes, actor_of(principal), utcnow()
    )
    uow.after_commit(lambda: outbox.kick(runtime))
    return result


@router.put(
    "/v1/admin/perks/{perk_id}/seats",
    response_model=PerkOut,
    tags=["admin"],
    responses={409: {"description": "More members hold seats than that: revoke grants first."}},
)
async def set_seats(perk_id: PerkId, body: SeatsIn, uow: UowDep, runtime: RuntimeDep, principal: IsAdmin) -> PerkOut:
    """Change the capacity; new seats go to the waitlist at once."""
    result = await service.set_seats(uow.session, runtime.ruleset, perk_id, body.seats, actor_of(principal), utcnow())
    uow.after_commit(lambda: outbox.kick(runtime))
    return result


@router.get("/v1/admin/perks/{perk_id}/attendees.csv", tags=["admin"], response_class=Response)
async def attendees_csv(perk_id: PerkId, session: SessionDep, runtime: RuntimeDep, _: IsAdmin) -> Response:
    """Holders of the perk (a workshop's attendee list), as CSV."""
    return attendees_download(perk_id, await service.attendees_csv(session, runtime.ruleset, perk_id))


def attendees_download(perk_id: str, text: str) -> Response:
    """The attendee list as a CSV file to save (the API's and the console's download)."""
    return Response(
        text,
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{quote(perk_id, safe="")}-attendees.csv"',
            "Cache-Control": "no-store",
        },
    )
