"""HTTP API for reported contributions: the forum reports one for a member, a manager approves or denies it."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from rewards.apply.ingest import ingest
from rewards.contributions import service
from rewards.contributions.schemas import ContributionIn, ContributionOut, ContributionsPageOut, DecisionIn
from rewards.deps import ApplierDep, CanRead, CanWriteEvents, IsAdmin, RuntimeDep, SessionDep, UowDep, actor_of
from rewards.inputs import MAX_BIGINT
from rewards.outbox import service as outbox
from rewards.runtime import utcnow

router = APIRouter(prefix="/v1/contributions", tags=["contributions"])

ContributionId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="The contribution's id.")]
DECIDED: dict[int | str, dict[str, Any]] = {
    409: {"description": "It was approved, denied or withdrawn already; nothing changed."}
}


@router.post(
    "",
    response_model=ContributionOut,
    status_code=201,
    responses={409: {"description": "The member has 20 contributions waiting for a decision already."}},
)
async def report_contribution(
    body: ContributionIn, uow: UowDep, runtime: RuntimeDep, principal: CanWriteEvents
) -> ContributionOut:
    """Report, for a member, a contribution the forum cannot see (a workshop they ran, feedback on a beta): one of
    the kinds the rules declare, with a link or a file name that shows it. It waits for a manager's decision."""
    return await service.report(uow.session, runtime.ruleset, body, actor_of(principal), utcnow())


@router.get("", response_model=ContributionsPageOut)
async def list_contributions(
    session: SessionDep,
    runtime: RuntimeDep,
    _: CanRead,
    user_id: Annotated[str | None, Query(min_length=1, max_length=200, description="One member's.")] = None,
    status: Annotated[Literal["pending", "approved", "denied", "withdrawn"] | None, Query()] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_BIGINT, description="`next_before` of the page before.")] = None,
) -> ContributionsPageOut:
    """Reported contributions, newest first, with the kinds the published rules declare."""
    statuses = (status,) if status is not None else ()
    return await service.search(session, runtime.ruleset, user_id=user_id, statuses=statuses, before=before)


@router.get("/{contribution_id}", response_model=ContributionOut)
async def get_contribution(
    contribution_id: ContributionId, session: SessionDep, runtime: RuntimeDep, _: CanRead
) -> ContributionOut:
    return await service.get(session, runtime.ruleset, contribution_id)


@router.post("/{contribution_id}/approve", response_model=ContributionOut, tags=["admin"], responses=DECIDED)
async def approve_contribution(
    contribution_id: ContributionId, body: DecisionIn, uow: UowDep, applier: ApplierDep, principal: IsAdmin
) -> ContributionOut:
    """Approve it: a `contribution.approved` event (with its kind) enters the log in the same transaction, and the
    rules reward it like any event. The member is notified (webhook topic `contribution.approved`)."""
    runtime = applier.runtime
    approved, event = await service.approve(
        uow.session, runtime.ruleset, contribution_id, actor_of(principal), body.comment, utcnow()
    )
    await ingest(applier, uow, [event], utcnow())
    uow.after_commit(lambda: outbox.kick(runtime))
    return approved


@router.post("/{contribution_id}/deny", response_model=ContributionOut, tags=["admin"], responses=DECIDED)
async def deny_contribution(
    contribution_id: ContributionId, body: DecisionIn, uow: UowDep, runtime: RuntimeDep, principal: IsAdmin
) -> ContributionOut:
    """Deny it, with a comment the member reads (required). Webhook topic `contribution.denied`."""
    actor = actor_of(principal)
    denied = await service.deny(uow.session, runtime.ruleset, contribution_id, actor, body.comment, utcnow())
    uow.after_commit(lambda: outbox.kick(runtime))
    return denied
