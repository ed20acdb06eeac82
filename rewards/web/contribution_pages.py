"""Reported contributions in the browser: an expert reports what the forum cannot see and follows the decision on
`/me/contributions`; managers approve or deny in the console's queue (`/admin/contributions`), with a comment.

Each action is one unit of work through `rewards.contributions.service`; an approval ingests its
`contribution.approved` event in that same unit of work, so the status and the event commit together or not at all.
"""

from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from rewards.apply.ingest import ingest
from rewards.contributions import service
from rewards.contributions.schemas import ContributionIn
from rewards.contributions.service import COMMENT_LENGTH, MAX_PENDING_PER_MEMBER, TITLE_LENGTH, Refused
from rewards.db import unit_of_work
from rewards.deps import ApplierDep, RuntimeDep, SessionDep
from rewards.errors import RewardsError
from rewards.inputs import MAX_BIGINT, NoNul
from rewards.outbox import service as outbox
from rewards.runtime import Runtime, utcnow
from rewards.web.endpoints import ManagerDep, ViewerDep, csrf_protected
from rewards.web.i18n import N_
from rewards.web.render import PageError, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protected)])

QUEUE_SHOWN = 100
DECIDED_SHOWN = 50

# The service's refusals (by code) in the reader's language; any other refusal is shown in the service's words.
REFUSALS = {
    "member": (N_("Give the member's user id."), {}),
    "kind": (N_("Choose one of the kinds in the list."), {}),
    "title": (
        N_("Give a title of %(least)s to %(most)s characters on one line."),
        {"least": str(TITLE_LENGTH[0]), "most": str(TITLE_LENGTH[1])},
    ),
    "details": (N_("The details hold a control character: write plain text."), {}),
    "link": (N_("A link is a web address starting with https:// or http://."), {}),
    "file": (N_("The file name holds a control character."), {}),
    "evidence": (N_("Give a link or the name of a file that shows the contribution."), {}),
    "too_many": (
        N_("%(count)s of your contributions are waiting for a decision: wait for a manager, or withdraw one."),
        {"count": str(MAX_PENDING_PER_MEMBER)},
    ),
    "comment": (
        N_("A comment is %(least)s to %(most)s characters; to deny a contribution, say why."),
        {"least": str(COMMENT_LENGTH[0]), "most": str(COMMENT_LENGTH[1])},
    ),
    "decided": (N_("This contribution was decided already; nothing changed."), {}),
    "kind_gone": (
        N_("The published rules no longer declare this kind: deny the contribution, or declare the kind again."),
        {},
    ),
}
DONE = {
    "reported": N_("Reported. A manager will approve or deny it."),
    "withdrawn": N_("Withdrawn."),
    "approved": N_("Approved contribution %(id)s of %(user)s."),
    "denied": N_("Denied contribution %(id)s of %(user)s."),
}
Text = Annotated[str, Form(max_length=2000), NoNul]


@dataclass(frozen=True)
class Outcome:
    """What the page says about the action just tried: done or refused, and the form as it was sent."""

    form: str
    ok: bool
    message: str
    params: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)


def _refused(form: str, error: RewardsError, values: dict[str, str]) -> Outcome:
    if isinstance(error, Refused) and error.code in REFUSALS:
        message, params = REFUSALS[error.code]
        return Outcome(form, False, message, dict(params), values)
    return Outcome(form, False, N_("Not done: %(reason)s"), {"reason": error.message}, values)


def _done(action: str, contribution_id: int = 0, user_id: str = "") -> Outcome | None:
    if action not in DONE:
        return None
    return Outcome("", True, DONE[action], {"id": str(contribution_id), "user": user_id})


# -- the expert's page ----------------------------------------------------------------------------------------------


async def _my_page(
    request: Request,
    session: AsyncSession,
    runtime: Runtime,
    user_id: str,
    outcome: Outcome | None,
    status_code: int = 200,
    before: int | None = None,
) -> HTMLResponse:
    found = await service.search(session, runtime.ruleset, user_id=user_id, before=before)
    return render(request, "web/contributions.html", status_code=status_code, found=found, outcome=outcome)


@router.get("/me/contributions", response_class=HTMLResponse)
async def my_contributions(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_BIGINT)] = None,
) -> Response:
    outcome = _done(done) if done else None
    return await _my_page(request, session, runtime, viewer.user_id, outcome, before=before)


@router.post("/me/contributions")
async def report(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    kind: Annotated[str, Form(max_length=64), NoNul] = "",
    title: Annotated[str, Form(max_length=200), NoNul] = "",
    details: Text = "",
    link: Annotated[str, Form(max_length=500), NoNul] = "",
    file_name: Annotated[str, Form(max_length=200), NoNul] = "",
) -> Response:
    """Report one's own contribution: the member is always the signed-in one, never a form field."""
    values = {"kind": kind, "title": title, "details": details, "link": link, "file_name": file_name}
    # The form's bounds are the API body's; what else a report needs (a declared kind, a title of 3 characters or
    # more, an http(s) link...) the service checks, with a refusal this page can word.
    body = ContributionIn.model_construct(
        user_id=viewer.user_id, kind=kind, title=title, details=details, link=link, file_name=file_name
    )
    try:
        async with unit_of_work(runtime.sessionmaker) as uow:
            await service.report(uow.session, runtime.ruleset, body, f"user:{viewer.user_id}", utcnow())
    except RewardsError as error:
        outcome = _refused("report", error, values)
        return await _my_page(request, session, runtime, viewer.user_id, outcome, error.status_code)
    return RedirectResponse("/me/contributions?done=reported", status_code=303)


@router.post("/me/contributions/{contribution_id}/withdraw")
async def withdraw(
    request: Request, contribution_id: int, viewer: ViewerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    if not 1 <= contribution_id <= MAX_BIGINT:
        raise PageError(404, N_("Page not found"), N_("There is no such contribution."))
    try:
        async with unit_of_work(runtime.sessionmaker) as uow:
            await service.withdraw(uow.session, runtime.ruleset, viewer.user_id, contribution_id, utcnow())
    except RewardsError as error:
        outcome = _refused(f"withdraw-{contribution_id}", error, {})
        return await _my_page(request, session, runtime, viewer.user_id, outcome, error.status_code)
    return RedirectResponse("/me/contributions?done=withdrawn", status_code=303)


# -- the console's queue --------------------------------------------------------------------------------------------


async def _queue_page(
    request: Request, session: AsyncSession, runtime: Runtime, outcome: Outcome | None, status_code: int = 200
) -> HTMLResponse:
    pending = await service.search(
        session, runtime.ruleset, statuses=("pending",), limit=QUEUE_SHOWN, oldest_first=True
    )
    decided = await service.search(session, runtime.ruleset, statuses=("approved", "denied"), limit=DECIDED_SHOWN)
    return render(
        request,
        "web/admin/contributions.html",
        status_code=status_code,
        pending=pending.contributions,
        waiting=await service.pending_count(session),
        decided=decided.contributions,
        outcome=outcome,
    )


@router.get("/admin/contributions", response_class=HTMLResponse)
async def queue(
    request: Request,
    _: ManagerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
    id: Annotated[int, Query(ge=0, le=MAX_BIGINT)] = 0,
    user: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    outcome = _done(done, id, user) if done else None
    return await _queue_page(request, session, runtime, outcome)


@router.post("/admin/contributions/{contribution_id}/decide")
async def decide(
    request: Request,
    contribution_id: int,
    viewer: ManagerDep,
    session: SessionDep,
    applier: ApplierDep,
    action: Annotated[str, Form(max_length=20), NoNul] = "",
    comment: Text = "",
) -> Response:
    """Approve (the `contribution.approved` event is stored with the status, then applied) or deny, with a
    comment the member reads."""
    runtime = applier.runtime
    if action not in ("approve", "deny") or not 1 <= contribution_id <= MAX_BIGINT:
        raise PageError(404, N_("Page not found"), N_("A contribution can be approved or denied, nothing else."))
    actor = f"user:{viewer.user_id}"
    try:
        async with unit_of_work(runtime.sessionmaker) as uow:
            if action == "approve":
                decided, event = await service.approve(
                    uow.session, runtime.ruleset, contribution_id, actor, comment, utcnow()
                )
                await ingest(applier, uow, [event], utcnow())
            else:
                decided = await service.deny(uow.session, runtime.ruleset, contribution_id, actor, comment, utcnow())
    except RewardsError as error:
        outcome = _refused(f"decide-{contribution_id}", error, {"comment": comment})
        return await _queue_page(request, session, runtime, outcome, error.status_code)
    await outbox.kick(runtime)
    done = {"approve": "approved", "deny": "denied"}[action]
    query = urlencode({"done": done, "id": decided.id, "user": decided.user_id})
    return RedirectResponse(f"/admin/contributions?{query}", status_code=303)
