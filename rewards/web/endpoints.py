"""The pages for people: forum sign-in, an expert's own page, public profiles and the managers' console."""

import importlib
from dataclasses import replace
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from rewards.auth import service as auth
from rewards.deps import RuntimeDep, SessionDep, UowDep
from rewards.inputs import MAX_BIGINT, NoNul
from rewards.outbox import service as outbox
from rewards.runtime import Runtime, utcnow
from rewards.users import profiles
from rewards.web import csrf, i18n, service, sessions, sso
from rewards.web.i18n import N_
from rewards.web.render import (
    LANGUAGE_COOKIE,
    PageContext,
    PageError,
    SignInRequired,
    install_error_pages,
    local_path,
    page_context,
    render,
    with_member_time_zone,
)
from rewards.web.sessions import Viewer

STATIC_DIR = Path(__file__).resolve().parent / "static"
# The forum's sign-in POST comes from the forum's own page: the signed token is its proof, not a form token.
CSRF_EXEMPT = frozenset({"/sso"})
# What a claim or decline on /me did, for the page it redirects to (POST-redirect-GET): signed, for that member, read
# once, and short-lived.
FLASH_COOKIE = "rewards_flash"
FLASH_MAX_AGE = 300


async def checked_page_context(request: Request, session: SessionDep) -> PageContext:
    """The page context, with a session cookie that was ended on the server (sign-out, a manager's "sign out")
    read as nobody. Every page and form of the site's routers depends on this (through `csrf_protected`), so it
    is checked before anything renders, and the error pages of the request see the same."""
    context = page_context(request)
    if context.viewer is None:
        return context
    if await sessions.still_open(session, context.viewer):
        profile = await profiles.stored(session, context.viewer.user_id)  # their time zone, when the forum said it
        context = with_member_time_zone(context, profile.time_zone if profile is not None else None)
        request.state.page_context = context
        return context
    token, new = csrf.token_for(request, None)
    context = replace(context, viewer=None, csrf_token=token, new_csrf_cookie=new)
    request.state.page_context = context  # what render() and the error pages read (rewards.web.render)
    return context


ContextDep = Annotated[PageContext, Depends(checked_page_context)]


async def csrf_protected(request: Request, context: ContextDep) -> None:
    if request.method == "POST" and request.url.path not in CSRF_EXEMPT:
        await csrf.check(request, context.viewer)


def signed_in(context: ContextDep) -> Viewer:
    if context.viewer is None:
        raise SignInRequired
    return context.viewer


ViewerDep = Annotated[Viewer, Depends(signed_in)]


def manager(viewer: ViewerDep) -> Viewer:
    if not viewer.is_manager:
        raise PageError(403, N_("Managers only"), N_("The console is for the programme's managers."))
    return viewer


ManagerDep = Annotated[Viewer, Depends(manager)]
Next = Annotated[str | None, Query(max_length=2000)]

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protected)])


def install(app: FastAPI) -> None:
    sso.hide_tokens_from_access_log()
    app.include_router(router)
    app.include_router(importlib.import_module("rewards.web.console_rules").router)  # it imports this module
    app.include_router(importlib.import_module("rewards.web.console_ops").router)  # it imports this module
    app.include_router(importlib.import_module("rewards.web.dashboard_pages").router)  # it imports this module
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_error_pages(app)

    @app.exception_handler(service.OfferRefused)
    async def offer_refused(request: Request, refused: service.OfferRefused) -> Response:
        # The unit of work has rolled back; the expert's page says why, beside the buttons.
        context = page_context(request)
        response = RedirectResponse("/me#outcome", status_code=303)
        if context.viewer is not None:
            _flash(context, response, refused.action, refused.perk_id, refused.reason)
        return response


def _flash_serializer(context: PageContext) -> URLSafeTimedSerializer | None:
    secret = context.settings.session_signing_secret
    return None if secret is None else URLSafeTimedSerializer(secret, salt="rewards.flash")


def _flash(context: PageContext, response: Response, action: str, perk_id: str, problem: str | None) -> None:
    serializer = _flash_serializer(context)
    if serializer is None or context.viewer is None:
        return
    value = serializer.dumps({"u": context.viewer.user_id, "a": action, "p": perk_id, "e": problem})
    response.set_cookie(
        FLASH_COOKIE, value, max_age=FLASH_MAX_AGE, path="/me", secure=context.settings.cookie_secure,
        httponly=True, samesite="lax",
    )  # fmt: skip


def _read_flash(context: PageContext, request: Request) -> tuple[str, str, str | None] | None:
    """(action, perk, problem) of the member's last claim or decline, when this is the page right after it."""
    serializer, raw = _flash_serializer(context), request.cookies.get(FLASH_COOKIE)
    if serializer is None or not raw or context.viewer is None:
        return None
    try:
        said = serializer.loads(raw, max_age=FLASH_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(said, dict) or said.get("u") != context.viewer.user_id:
        return None
    action, perk_id, problem = said.get("a"), said.get("p"), said.get("e")
    if not isinstance(action, str) or not isinstance(perk_id, str) or not isinstance(problem, str | None):
        return None
    return action, perk_id, problem


async def _signed_in_response(
    context: PageContext, session: AsyncSession, viewer: Viewer, next_path: str | None
) -> Response:
    # A redirect to a clean address: a token that came in the query string is not left in the address bar, the
    # history or a Referer header; and nothing in between may keep the answer.
    response = RedirectResponse(local_path(next_path), status_code=303)
    sessions.write(context.settings, response, await sessions.bind(session, viewer))
    response.delete_cookie(csrf.CSRF_COOKIE, path="/")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request, context: ContextDep, next: Next = None) -> Response:
    if context.viewer is not None:
        return RedirectResponse(local_path(next), status_code=303)
    return render(
        request, "web/signin.html", next_path=local_path(next), forum_login_url=context.settings.sso_login_url
    )


async def _forum_sign_in(
    context: PageContext, session: AsyncSession, runtime: Runtime, token: str, next_path: str | None
) -> Response:
    identity = service.verified_identity(context.settings, token)
    await service.remember_profile(runtime, identity, utcnow())  # the token's name, picture, zone and locale
    return await _signed_in_response(context, session, sessions.start(identity), next_path)


@router.get("/sso")
async def sso_get(
    context: ContextDep,
    session: SessionDep,
    runtime: RuntimeDep,
    token: Annotated[str, Query(max_length=8192)] = "",
    next: Next = None,
) -> Response:
    """Kept for forums that redirect with `?token=`: the token is used once and the browser sent on at once;
    uvicorn's access log hides this query (sso.HideSignInTokens), a proxy in front may not."""
    return await _forum_sign_in(context, session, runtime, token, next)


@router.post("/sso")
async def sso_post(
    context: ContextDep,
    session: SessionDep,
    runtime: RuntimeDep,
    token: Annotated[str, Form(max_length=8192), NoNul] = "",
    next: Annotated[str | None, Form(max_length=2000), NoNul] = None,
) -> Response:
    """The way in: the forum's page posts the token as a form field, so it is in no address (logs, history)."""
    return await _forum_sign_in(context, session, runtime, token, next)


@router.post("/signout")
async def signout(context: ContextDep, uow: UowDep) -> Response:
    """Ends the member's sessions on the server, on every device (a copied cookie is refused too), not only this
    browser's cookie."""
    if context.viewer is not None:
        await auth.end_sessions(uow.session, context.viewer.user_id, utcnow())
    response = RedirectResponse("/", status_code=303)
    sessions.clear(context.settings, response)
    return response


@router.get("/dev/signin", response_class=HTMLResponse)
async def development_signin_page(
    request: Request, context: ContextDep, session: SessionDep, next: Next = None
) -> Response:
    if context.settings.environment != "development":
        raise PageError(404, N_("Page not found"), N_("The development sign-in exists only in development."))
    return render(
        request,
        "web/dev_signin.html",
        next_path=local_path(next),
        demo_manager=service.DEMO_MANAGER,
        demo_expert=await service.demo_expert_id(session),
    )


@router.post("/dev/signin")
async def development_signin(
    context: ContextDep,
    session: SessionDep,
    runtime: RuntimeDep,
    who: Annotated[str, Form(max_length=20), NoNul],
    locale: Annotated[str, Form(max_length=35), NoNul] = "",
    next: Annotated[str | None, Form(max_length=2000), NoNul] = None,
) -> Response:
    identity = await service.development_identity(session, context.settings, who, i18n.supported(locale))
    if who == "manager" and local_path(next) == "/me":
        next = "/admin"  # a manager has no ledger of their own: the console is where they start
    # Through the same door as the forum's tokens: mint one, then verify it.
    token = sso.mint_development_token(context.settings, identity)
    return await _forum_sign_in(context, session, runtime, token, next)


@router.get("/language/{locale}")
async def choose_language(locale: str, context: ContextDep, next: Next = None) -> Response:
    chosen = i18n.supported(locale)
    if chosen is None:
        raise PageError(404, N_("Page not found"), N_("This language is not available."))
    response = RedirectResponse(local_path(next, default="/"), status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE, chosen, max_age=365 * 86400, path="/", secure=context.settings.cookie_secure, samesite="lax"
    )
    return response


@router.get("/me", response_class=HTMLResponse)
async def my_page(
    request: Request,
    context: ContextDep,
    viewer: ViewerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    before: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
) -> Response:
    page = await service.member_page(
        session, runtime.ruleset, viewer.user_id, before=before, now=utcnow(), links=runtime.settings.links
    )
    spots = await service.my_spots(runtime, session, viewer.user_id, utcnow()) if page.user is not None else []
    flashed = _read_flash(context, request)
    outcome = service.offer_outcome(runtime.ruleset, page.perks, *flashed) if flashed is not None else None
    response = render(request, "web/me.html", page=page, spots=spots, outcome=outcome)
    if flashed is not None:
        response.delete_cookie(FLASH_COOKIE, path="/me")  # said once: a reload does not say it again
    return response


@router.post("/me/perks/{perk_id}/{action}")
async def answer_offer(
    perk_id: str, action: str, context: ContextDep, viewer: ViewerDep, uow: UowDep, runtime: RuntimeDep
) -> Response:
    """Claim or decline one's own offer: the user is always the signed-in one, never a form field. The page it
    leads back to confirms what the expert got (the code, the seat and its date), or says why it did not work."""
    perk_id = perk_id[:64]
    await service.answer_offer(uow.session, runtime.ruleset, viewer.user_id, perk_id, action, utcnow())
    uow.after_commit(lambda: outbox.kick(runtime))
    response = RedirectResponse("/me#outcome", status_code=303)
    _flash(context, response, action, perk_id, None)
    return response


@router.get("/badges/{badge_id}", response_class=HTMLResponse)
async def badge(
    request: Request,
    badge_id: str,
    context: ContextDep,
    session: SessionDep,
    runtime: RuntimeDep,
    tier: Annotated[str | None, Query(max_length=16)] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    """A badge: how to earn it, where the viewer stands, and who holds it, newest first."""
    page = await service.badge_page(
        session,
        runtime.ruleset,
        badge_id[:64],
        viewer_id=context.viewer.user_id if context.viewer is not None else None,
        tier=tier or None,
        cursor=cursor or None,
        links=runtime.settings.links,
    )
    return render(request, "web/badge.html", page=page)


@router.get("/u/{user_id:path}", response_class=HTMLResponse)
async def profile(request: Request, user_id: str, session: SessionDep, runtime: RuntimeDep) -> Response:
    page = await service.public_profile(session, runtime.ruleset, user_id[:200], utcnow(), runtime.settings.links)
    return render(request, "web/profile.html", page=page)


@router.get("/admin", response_class=HTMLResponse)
async def console(request: Request, _: ManagerDep) -> Response:
    return render(request, "web/admin.html")


@router.get("/admin/people", response_class=HTMLResponse)
async def people(
    request: Request, _: ManagerDep, session: SessionDep, q: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    return render(request, "web/people.html", query=q, people=await service.find_people(session, q))


@router.get("/admin/people/{user_id:path}", response_class=HTMLResponse)
async def person(
    request: Request,
    user_id: str,
    _: ManagerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    before: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    page = await service.member_page(
        session, runtime.ruleset, user_id[:200], before=before, now=utcnow(), links=runtime.settings.links
    )
    if page.user is None:
        raise PageError(404, N_("No such member"), N_("No event has named the user %(user)s yet."), user=user_id)
    return render(request, "web/person.html", page=page, forms=service.person_forms(runtime.ruleset, done=done))
