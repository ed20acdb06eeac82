"""The console's operations pages (perks, actions on a member, the audit log) and the
public leaderboards page.

Every action goes through the domain's own service with the signed-in manager as the actor (`user:<id>`), so it
is audited exactly as the API's actions are. An action runs in its own unit of work: when the service refuses
it, nothing of it is committed and the page comes back with the service's message and the form as it was sent.
"""

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from rewards.apply.ingest import ingest
from rewards.audit import service as audit
from rewards.audit.schemas import AuditPageOut
from rewards.auth import service as auth
from rewards.badges import service as badges
from rewards.badges.schemas import GrantBadgeIn, RevokeBadgeIn
from rewards.db import unit_of_work
from rewards.deps import ApplierDep, RuntimeDep, SessionDep
from rewards.engine.boards import PERIODS, Period, period_end, period_key, previous_key
from rewards.engine.ruleset import MAX_SEATS
from rewards.errors import RewardsError
from rewards.inputs import MAX_BIGINT, UPLOAD_BODY_BYTES, NoNul
from rewards.leaderboards import service as leaderboards
from rewards.leaderboards.schemas import BoardOut, BoardPageOut
from rewards.outbox import service as outbox
from rewards.perks import repository as perks_repository
from rewards.perks import service as perks
from rewards.perks.endpoints import attendees_download
from rewards.perks.models import PerkGrantRow
from rewards.perks.schemas import PerkOut
from rewards.runtime import Runtime, utcnow
from rewards.users import service as users
from rewards.users.schemas import AdjustmentIn
from rewards.web import service
from rewards.web.endpoints import ManagerDep, csrf_protected
from rewards.web.i18n import N_
from rewards.web.render import PageError, render
from rewards.web.sessions import Viewer

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protected)])

T = TypeVar("T")
WAITLIST_SHOWN = 50
AUDIT_PAGE = 50
BOARD_PAGE = 50
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
REASON_LENGTH = (3, 400)
PERIOD_NAMES = {
    "all-time": N_("All time"),
    "yearly": N_("Year"),
    "quarterly": N_("Quarter"),
    "monthly": N_("Month"),
    "weekly": N_("Week"),
    "daily": N_("Day"),
}
Text = Annotated[str, Form(max_length=2000), NoNul]
LongText = Annotated[str, Form(max_length=2_000_000), NoNul]


def actor(viewer: Viewer) -> str:
    """How the audit log names a manager acting in the console."""
    return f"user:{viewer.user_id}"


class FormRefused(Exception):
    """A form value the page refuses before any service sees it (a catalog message id)."""

    def __init__(self, message: str, **params: str) -> None:
        super().__init__(message % params)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class Outcome:
    """What the page says about the action just tried: done (a message id) or refused (the service's words)."""

    form: str
    ok: bool
    message: str
    params: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)


async def _act(runtime: Runtime, use_case: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """One unit of work for one action: committed whole, or rolled back whole when the service refuses."""
    async with unit_of_work(runtime.sessionmaker) as uow:
        result = await use_case(uow.session)
    await outbox.kick(runtime)
    return result


def _reason(value: str) -> str:
    reason = value.strip()
    if not REASON_LENGTH[0] <= len(reason) <= REASON_LENGTH[1]:
        raise FormRefused(
            N_("Give a reason of %(least)s to %(most)s characters."),
            least=str(REASON_LENGTH[0]),
            most=str(REASON_LENGTH[1]),
        )
    return reason


def _user_id(value: str) -> str:
    user_id = value.strip()
    if not 1 <= len(user_id) <= 200:
        raise FormRefused(N_("Give the member's user id."))
    return user_id


# -- perks --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerkQueue:
    """One perk as its page shows it: seats, the waitlist in order, open offers and requests awaiting a decision."""

    perk: PerkOut
    waitlist: list[PerkGrantRow]
    offers: list[PerkGrantRow]
    requests: list[PerkGrantRow]


async def perk_queues(session: AsyncSession, runtime: Runtime) -> list[PerkQueue]:
    queues = []
    for perk in (await perks.catalogue(session, runtime.ruleset)).perks:
        queues.append(
            PerkQueue(
                perk=perk,
                waitlist=await perks_repository.waitlisted(session, perk.id, limit=WAITLIST_SHOWN),
                offers=await perks_repository.grants_of_perk(session, perk.id, ("offered",)),
                requests=await perks_repository.grants_of_perk(session, perk.id, ("pending_approval",)),
            )
        )
    return queues


async def _perks_page(
    request: Request, session: AsyncSession, runtime: Runtime, outcome: Outcome | None, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "web/admin/perks.html",
        status_code=status_code,
        queues=await perk_queues(session, runtime),
        outcome=outcome,
        waitlist_shown=WAITLIST_SHOWN,
    )


PERK_DONE = {
    "approve": N_("Approved %(perk)s for %(user)s."),
    "deny": N_("Denied %(perk)s to %(user)s."),
    "grant": N_("Granted %(perk)s to %(user)s."),
    "revoke": N_("Revoked %(perk)s from %(user)s."),
    "codes": N_("Added %(count)s new codes to %(perk)s."),
    "seats": N_("Seats of %(perk)s changed."),
}


@router.get("/admin/perks", response_class=HTMLResponse)
async def perks_page(
    request: Request,
    _: ManagerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
    perk: Annotated[str, Query(max_length=64)] = "",
    user: Annotated[str, Query(max_length=200)] = "",
    count: Annotated[int, Query(ge=0, le=MAX_BIGINT)] = 0,
) -> Response:
    outcome = None
    if done in PERK_DONE:
        params = {"perk": perk, "user": user, "count": str(count)}
        outcome = Outcome(f"perk-{perk}", True, PERK_DONE[done], params)
    return await _perks_page(request, session, runtime, outcome)


def _perk_done(action: str, perk_id: str, user_id: str = "", count: int = 0) -> Response:
    query = urlencode({"done": action, "perk": perk_id, "user": user_id, "count": count})
    return RedirectResponse(f"/admin/perks?{query}#perk-{quote(perk_id, safe='')}", status_code=303)


async def _perk_refused(
    request: Request, session: AsyncSession, runtime: Runtime, form: str, error: Exception, values: dict[str, str]
) -> HTMLResponse:
    if isinstance(error, RewardsError):
        outcome = Outcome(form, False, N_("Not done: %(reason)s"), {"reason": error.message}, values)
        return await _perks_page(request, session, runtime, outcome, status_code=error.status_code)
    assert isinstance(error, FormRefused)
    return await _perks_page(request, session, runtime, Outcome(form, False, error.message, error.params, values), 422)


@router.post("/admin/perks/{perk_id}/decide")
async def decide_perk(
    request: Request,
    perk_id: str,
    viewer: ManagerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    action: Annotated[str, Form(max_length=20), NoNul],
    user_id: Text = "",
    reason: Text = "",
) -> Response:
    """Approve or deny a request, or grant or revoke the perk by hand, for one member."""
    values = {"user_id": user_id, "reason": reason, "action": action}
    # Approve and deny answer one request (a form per request); grant and revoke share the "by hand" form.
    form = f"request-{perk_id}-{user_id}" if action in ("approve", "deny") else f"hand-{perk_id}"
    use_case = {
        "approve": perks.approve,
        "deny": perks.deny,
        "grant": perks.grant_by_hand,
        "revoke": perks.revoke,
    }.get(action)
    if use_case is None:
        raise PageError(404, N_("Page not found"), N_("A perk can be approved, denied, granted or revoked."))
    try:
        member, why = _user_id(user_id), _reason(reason)
        await _act(runtime, lambda s: use_case(s, runtime.ruleset, perk_id[:64], member, actor(viewer), why, utcnow()))
    except (RewardsError, FormRefused) as error:
        return await _perk_refused(request, session, runtime, form, error, values)
    return _perk_done(action, perk_id[:64], member)


def _codes_from_file(name: str, content: bytes) -> list[str]:
    """One code a line; in a CSV file, the first column (a first row `code` is a header)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FormRefused(N_("The file is not UTF-8 text: save it as UTF-8 and send it again.")) from None
    if name.lower().endswith(".csv"):
        try:
            rows = [row[0].strip() for row in csv.reader(io.StringIO(text)) if row and row[0].strip()]
        except csv.Error as error:
            raise FormRefused(
                N_("The CSV file cannot be read (%(reason)s): one code a line."), reason=str(error)
            ) from None
        if rows and rows[0].lower() == "code":
            rows = rows[1:]
        return rows
    return [line.strip() for line in text.splitlines() if line.strip()]


@router.post("/admin/perks/{perk_id}/codes", max_body_size=UPLOAD_BODY_BYTES)
async def upload_codes(
    request: Request,
    perk_id: str,
    viewer: ManagerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    codes: LongText = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Add beta codes from the textarea (one a line) and/or a text or CSV file."""
    form = f"codes-{perk_id}"
    try:
        found = [line.strip() for line in codes.splitlines() if line.strip()]
        if file is not None and file.filename:
            content = await file.read(MAX_UPLOAD_BYTES + 1)
            if len(content) > MAX_UPLOAD_BYTES:
                raise FormRefused(N_("The file is larger than 5 MB: split it."))
            found += _codes_from_file(file.filename, content)
        if not found:
            raise FormRefused(N_("Paste codes, one a line, or choose a file."))
        result = await _act(
            runtime, lambda s: perks.upload_codes(s, runtime.ruleset, perk_id[:64], found, actor(viewer), utcnow())
        )
    except (RewardsError, FormRefused) as error:
        return await _perk_refused(request, session, runtime, form, error, {"codes": codes})
    return _perk_done("codes", perk_id[:64], count=result.added)


@router.post("/admin/perks/{perk_id}/seats")
async def set_seats(
    request: Request,
    perk_id: str,
    viewer: ManagerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    seats: Annotated[str, Form(max_length=20), NoNul] = "",
) -> Response:
    """A number of seats, or empty: back to the rules file's number."""
    try:
        wanted: int | None = None
        if seats.strip():
            try:
                wanted = int(seats.strip())
            except ValueError:
                wanted = -1
            if not 0 <= wanted <= MAX_SEATS:
                raise FormRefused(N_("Seats are a whole number from 0 up, or empty for the rules file's number."))
        await _act(
            runtime, lambda s: perks.set_seats(s, runtime.ruleset, perk_id[:64], wanted, actor(viewer), utcnow())
        )
    except (RewardsError, FormRefused) as error:
        return await _perk_refused(request, session, runtime, f"seats-{perk_id}", error, {"seats": seats})
    return _perk_done("seats", perk_id[:64])


@router.get("/admin/perks/{perk_id}/attendees.csv")
async def attendees_csv(perk_id: str, _: ManagerDep, session: SessionDep, runtime: RuntimeDep) -> Response:
    try:
        text = await perks.attendees_csv(session, runtime.ruleset, perk_id[:64])
    except RewardsError as error:
        message = N_("Not done: %(reason)s")
        raise PageError(error.status_code, N_("Page not found"), message, reason=error.message) from error
    return attendees_download(perk_id[:64], text)


# -- actions on a member ------------------------------------------------------------------------------------


async def _person_refused(
    request: Request,
    session: AsyncSession,
    runtime: Runtime,
    user_id: str,
    form: str,
    error: Exception,
    values: dict[str, str],
) -> HTMLResponse:
    page = await service.member_page(session, runtime.ruleset, user_id, before=None, now=utcnow())
    if page.user is None:
        raise PageError(404, N_("No such member"), N_("No event has named the user %(user)s yet."), user=user_id)
    if isinstance(error, RewardsError):
        message, params, status_code = N_("Not done: %(reason)s"), {"reason": error.message}, error.status_code
    else:
        assert isinstance(error, FormRefused)
        message, params, status_code = error.message, error.params, 422
    forms = service.person_forms(runtime.ruleset)
    forms = service.PersonForms(
        forms.badges, forms.tiers, forms.perks, failed=form, error=message, error_params=params, values=values
    )
    return render(request, "web/person.html", status_code=status_code, page=page, forms=forms)


def _person_done(user_id: str, action: str) -> Response:
    return RedirectResponse(f"/admin/people/{quote(user_id, safe='')}?done={action}#actions", status_code=303)


@router.post("/admin/people/{user_id:path}/adjust")
async def adjust_points(
    request: Request,
    user_id: str,
    viewer: ManagerDep,
    session: SessionDep,
    applier: ApplierDep,
    points: Annotated[str, Form(max_length=20), NoNul] = "",
    reason: Text = "",
) -> Response:
    """Points by hand: a `points.adjusted` event, applied after its commit like the API's adjustments."""
    runtime = applier.runtime
    user_id = user_id[:200]
    try:
        try:
            amount = int(points.strip().replace("+", "", 1))
        except ValueError:
            raise FormRefused(N_("Points are a whole number, like 25 or -10.")) from None
        if amount == 0 or not -100_000 <= amount <= 100_000:
            raise FormRefused(N_("Points are from -100000 to 100000, and not 0."))
        body = AdjustmentIn(points=amount, reason=_reason(reason))
        async with unit_of_work(runtime.sessionmaker) as uow:
            event = await users.adjust(uow.session, user_id, body, actor(viewer), utcnow())
            await ingest(applier, uow, [event], utcnow())
    except (RewardsError, FormRefused) as error:
        values = {"points": points, "reason": reason}
        return await _person_refused(request, session, runtime, user_id, "adjust", error, values)
    return _person_done(user_id, "adjust")


@router.post("/admin/people/{user_id:path}/badges/{action}")
async def badge_action(
    request: Request,
    user_id: str,
    action: str,
    viewer: ManagerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    badge_id: Annotated[str, Form(max_length=64), NoNul] = "",
    tier: Annotated[str, Form(max_length=20), NoNul] = "",
    post: Annotated[str, Form(max_length=300), NoNul] = "",
    reason: Text = "",
) -> Response:
    user_id = user_id[:200]
    if action not in ("grant", "revoke"):
        raise PageError(404, N_("Page not found"), N_("A badge can be granted or revoked, nothing else."))
    values = {"badge_id": badge_id, "tier": tier, "post": post, "reason": reason}
    try:
        why = _reason(reason)
        try:
            body = RevokeBadgeIn(
                user_id=user_id, badge_id=badge_id, tier=tier or None, post=post.strip() or None, reason=why
            )
        except ValidationError:
            raise FormRefused(N_("Choose a badge.")) from None
        if action == "grant":
            grant = GrantBadgeIn(**body.model_dump())
            await _act(runtime, lambda s: badges.grant(s, runtime.ruleset, grant, actor(viewer), utcnow()))
        else:
            await _act(runtime, lambda s: badges.revoke(s, runtime.ruleset, body, actor(viewer), utcnow()))
    except (RewardsError, FormRefused) as error:
        return await _person_refused(request, session, runtime, user_id, f"badge-{action}", error, values)
    return _person_done(user_id, f"badge-{action}")


@router.post("/admin/people/{user_id:path}/perks/{action}")
async def perk_action(
    request: Request,
    user_id: str,
    action: str,
    viewer: ManagerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    perk_id: Annotated[str, Form(max_length=64), NoNul] = "",
    reason: Text = "",
) -> Response:
    user_id = user_id[:200]
    use_case = {"grant": perks.grant_by_hand, "revoke": perks.revoke}.get(action)
    if use_case is None:
        raise PageError(404, N_("Page not found"), N_("A perk can be approved, denied, granted or revoked."))
    try:
        why = _reason(reason)
        await _act(runtime, lambda s: use_case(s, runtime.ruleset, perk_id, user_id, actor(viewer), why, utcnow()))
    except (RewardsError, FormRefused) as error:
        values = {"perk_id": perk_id, "reason": reason}
        return await _person_refused(request, session, runtime, user_id, f"perk-{action}", error, values)
    return _person_done(user_id, f"perk-{action}")


@router.post("/admin/people/{user_id:path}/sessions/end")
async def end_sessions(
    request: Request, user_id: str, viewer: ManagerDep, session: SessionDep, runtime: RuntimeDep, reason: Text = ""
) -> Response:
    """Sign a member out everywhere (a lost phone, a shared computer, roles taken away at the forum): every
    session cookie they hold is refused from the commit on, in every process; audited with its reason. The page
    comes back with the outcome (there is no `done` message for it to redirect to)."""
    user_id = user_id[:200]
    page = await service.member_page(session, runtime.ruleset, user_id, before=None, now=utcnow())
    if page.user is None:
        raise PageError(404, N_("No such member"), N_("No event has named the user %(user)s yet."), user=user_id)
    try:
        why = _reason(reason)
        async with unit_of_work(runtime.sessionmaker) as uow:
            await auth.end_sessions(uow.session, user_id, utcnow(), actor=actor(viewer), reason=why)
    except FormRefused as error:
        return await _person_refused(request, session, runtime, user_id, "sessions-end", error, {"reason": reason})
    forms = service.person_forms(runtime.ruleset)
    return render(request, "web/person.html", page=page, forms=forms, sessions_ended=True)


# -- the audit log ------------------------------------------------------------------------------------------


def _day(value: str, *, after: bool = False) -> datetime | None:
    """A form's date as the first instant of that UTC day (`after`: of the next day); None when empty."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise FormRefused(N_("Dates are written as YYYY-MM-DD, for example 2026-03-01.")) from None
    start = datetime(day.year, day.month, day.day, tzinfo=utcnow().tzinfo)
    if after and day == date.max:
        return None  # "until the end of time": no upper bound (the next day does not exist)
    return start + timedelta(days=1) if after else start


@router.get("/admin/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    _: ManagerDep,
    session: SessionDep,
    user: Annotated[str, Query(max_length=200)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    actor_filter: Annotated[str, Query(alias="actor", max_length=200)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    before: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
) -> Response:
    filters = {"user": user.strip(), "action": action.strip(), "actor": actor_filter.strip(), "since": since,
               "until": until}  # fmt: skip
    error: FormRefused | None = None
    found: AuditPageOut | None = None
    try:
        found = await audit.search(
            session,
            user_id=filters["user"] or None,
            action=filters["action"] or None,
            actor=filters["actor"] or None,
            since=_day(since),
            until=_day(until, after=True),
            before=before,
            limit=AUDIT_PAGE,
        )
    except FormRefused as refused:
        error = refused
    more = None
    if found is not None and found.next_before is not None:
        more = urlencode({**{k: v for k, v in filters.items() if v}, "before": found.next_before})
    return render(
        request,
        "web/admin/audit.html",
        status_code=200 if error is None else 400,
        filters=filters,
        found=found,
        error=error,
        more=more,
    )


# -- leaderboards (public) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardView:
    boards: list[BoardOut]
    board: BoardOut | None
    period: str
    page: BoardPageOut | None
    offset: int
    previous_at: str | None
    next_at: str | None
    more: bool


def _neighbours(period: Period, key: str, now: datetime) -> tuple[str | None, str | None]:
    """The periods before and after `key` (no link into the future, none for all-time)."""
    if period == "all-time":
        return None, None
    end = period_end(period, key)
    following = period_key(period, end) if end is not None and end <= now else None
    return previous_key(period, key), following


@router.get("/leaderboards", response_class=HTMLResponse)
async def leaderboards_page(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    board: Annotated[str, Query(max_length=64)] = "",
    period: Annotated[str, Query(max_length=16)] = "",
    at: Annotated[str, Query(max_length=16)] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    now = utcnow()
    boards = leaderboards.list_boards(runtime.ruleset, now)
    chosen = next((b for b in boards if b.id == board), boards[0] if boards else None)
    error: str | None = None
    page: BoardPageOut | None = None
    chosen_period = period if chosen is not None and period in chosen.periods else ""
    if chosen is not None and not chosen_period:
        chosen_period = "all-time" if "all-time" in chosen.periods else chosen.periods[0]
    if chosen is not None:
        try:
            page = await leaderboards.board_page(
                runtime, session, chosen.id, chosen_period, at.strip() or None, BOARD_PAGE + 1, offset, now
            )
        except RewardsError as refused:
            error = refused.message
    more = page is not None and len(page.entries) > BOARD_PAGE
    if page is not None:
        page = page.model_copy(update={"entries": page.entries[:BOARD_PAGE]})
    previous_at = next_at = None
    if page is not None and page.period in PERIODS:
        previous_at, next_at = _neighbours(_as_period(page.period), page.at, now)
    view = BoardView(boards, chosen, chosen_period, page, offset, previous_at, next_at, more)
    return render(
        request,
        "web/leaderboards.html",
        status_code=200 if error is None else 400,
        view=view,
        error=error,
        at=at,
        period_names=PERIOD_NAMES,
        page_size=BOARD_PAGE,
    )


def _as_period(value: str) -> Period:
    for period in PERIODS:
        if period == value:
            return period
    raise ValueError(value)
