"""The console's rules pages: the published ruleset and its history, diffs between versions, and a draft editor
that validates, previews the impact against the published ruleset, and publishes (from now on or retroactively).
"""

import re
import secrets
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from rewards.apply.publish import publish_now
from rewards.db import unit_of_work
from rewards.deps import ApplierDep, RuntimeDep, SessionDep
from rewards.engine.ruleset import MAX_DAYS
from rewards.errors import Conflict, NotFound, RulesetError
from rewards.inputs import MAX_BIGINT, UPLOAD_BODY_BYTES, NoNul
from rewards.rulesets import service as rulesets
from rewards.rulesets.models import UNFINISHED_JOBS
from rewards.rulesets.schemas import DEFAULT_PREVIEW_EVENTS, MAX_SOURCE_CHARS, PreviewOut, ProblemOut
from rewards.runtime import utcnow
from rewards.security_headers import page_policy_with_style_nonce
from rewards.users.profiles import MemberCard
from rewards.web import service
from rewards.web.endpoints import ManagerDep, csrf_protected
from rewards.web.i18n import N_
from rewards.web.render import PageError, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protected)])

Action = Literal["validate", "preview", "publish"]
RECENT_JOBS = 5  # retroactive publications shown on the rules page


def _not_found(error: NotFound) -> PageError:
    return PageError(404, N_("No such version"), N_("The rules were not found: %(reason)s"), reason=error.message)


@router.get("/admin/rules", response_class=HTMLResponse)
async def rules_page(
    request: Request,
    _: ManagerDep,
    session: SessionDep,
    published: Annotated[int | None, Query(ge=1, le=MAX_BIGINT)] = None,
    queued: Annotated[int | None, Query(ge=1, le=MAX_BIGINT)] = None,
) -> Response:
    found = await rulesets.versions(session)
    jobs = (await rulesets.publish_jobs(session, limit=RECENT_JOBS)).jobs
    return render(
        request,
        "web/admin/rules.html",
        published_version=found.published_version,
        versions=found.versions,
        history=await rulesets.history(session),
        just_published=published,
        just_queued=queued,
        jobs=jobs,
        # While one is queued or running, the page reloads itself to show its progress.
        job_unfinished=any(job.status in UNFINISHED_JOBS for job in jobs),
    )


@router.post("/admin/rules/jobs/{job_id}/cancel", response_class=HTMLResponse)
async def cancel_job(
    viewer: ManagerDep, runtime: RuntimeDep, job_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)]
) -> Response:
    try:
        async with unit_of_work(runtime.sessionmaker) as uow:
            await rulesets.cancel_job(uow.session, job_id, actor=f"user:{viewer.user_id}", now=utcnow())
    except NotFound as error:
        raise PageError(404, N_("No such job"), N_("The job was not found: %(reason)s"), reason=error.message) from None
    except Conflict as error:
        raise PageError(
            409, N_("The job cannot be cancelled"), N_("It cannot be cancelled: %(reason)s"), reason=error.message
        ) from None
    return RedirectResponse("/admin/rules", status_code=303)


@router.get("/admin/rules/diff", response_class=HTMLResponse)
async def diff_page(
    request: Request,
    _: ManagerDep,
    session: SessionDep,
    from_version: Annotated[int | None, Query(alias="from", ge=1, le=MAX_BIGINT)] = None,
    to_version: Annotated[int | None, Query(alias="to", ge=1, le=MAX_BIGINT)] = None,
) -> Response:
    found = await rulesets.versions(session)
    numbers = [version.version for version in found.versions]
    # Without a choice: the published version against the one before it.
    newer = to_version or found.published_version or (numbers[0] if numbers else None)
    older = from_version or next((number for number in numbers if newer is not None and number < newer), newer)
    if newer is None or older is None:
        raise PageError(404, N_("No such version"), N_("No ruleset has been published yet."))
    try:
        lines = await rulesets.diff(session, older, newer)
    except NotFound as error:
        raise _not_found(error) from error
    return render(request, "web/admin/rules_diff.html", versions=found.versions, older=older, newer=newer, lines=lines)


async def _draft_of(session: SessionDep, version: int | None) -> tuple[str, int | None]:
    try:
        if version is not None:
            return (await rulesets.source_of(session, version)).source, version
        published = await rulesets.published_source(session)
    except NotFound as error:
        raise _not_found(error) from error
    return (published.source, published.version) if published is not None else ("", None)


@dataclass(frozen=True)
class DraftForm:
    """What the editor's form holds besides the draft itself, kept across Validate, Preview and Publish."""

    based_on: int | None  # the version the draft started from
    days: int | None  # the preview's window; None: the whole log
    mode: str = rulesets.FROM_NOW_ON
    comment: str = ""


def _edit_page(
    request: Request,
    source: str,
    form: DraftForm,
    *,
    status_code: int = 200,
    problems: list[ProblemOut] | None = None,
    valid: bool = False,
    report: PreviewOut | None = None,
    refused: str | None = None,
    members: dict[str, MemberCard] | None = None,
) -> Response:
    problem_lines = {problem.line for problem in problems or [] if problem.line is not None}
    # The editor's script (static/editor.js, CodeMirror) adds its theme as <style> elements carrying this nonce.
    style_nonce = secrets.token_urlsafe(18)
    response = render(
        request,
        "web/admin/rules_edit.html",
        status_code=status_code,
        source=source,
        source_lines=source.splitlines(),
        form=form,
        problems=problems or [],
        problem_lines=problem_lines,
        valid=valid,
        report=report,
        refused=refused,
        members=members or {},
        style_nonce=style_nonce,
    )
    response.headers["Content-Security-Policy"] = page_policy_with_style_nonce(style_nonce)
    return response


@router.get("/admin/rules/edit", response_class=HTMLResponse)
async def edit_page(
    request: Request,
    _: ManagerDep,
    session: SessionDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_BIGINT)] = None,
) -> Response:
    source, based_on = await _draft_of(session, version)
    # The preview's window starts empty: the whole log, up to the cap on events.
    return _edit_page(request, source, DraftForm(based_on=based_on, days=None))


@router.post("/admin/rules/edit", response_class=HTMLResponse, max_body_size=UPLOAD_BODY_BYTES)
async def edit(
    request: Request,
    viewer: ManagerDep,
    session: SessionDep,
    applier: ApplierDep,
    action: Annotated[Action, Form()],
    source: Annotated[str, Form(max_length=MAX_SOURCE_CHARS), NoNul] = "",
    based_on: Annotated[int | None, Form(ge=1, le=MAX_BIGINT)] = None,
    days: Annotated[str, Form(max_length=6), NoNul] = "",
    mode: Annotated[Literal["from_now_on", "retroactive"], Form()] = rulesets.FROM_NOW_ON,
    comment: Annotated[str, Form(max_length=1000), NoNul] = "",
) -> Response:
    """One form, three buttons: Validate, Preview (both change nothing) and Publish."""
    runtime = applier.runtime
    source = source.replace("\r\n", "\n")
    window = int(days) if re.fullmatch(r"[0-9]{1,6}", days.strip()) and 0 < int(days) <= MAX_DAYS else None
    form = DraftForm(based_on=based_on, days=window, mode=mode, comment=comment)
    problems = rulesets.problems_of(source)
    if problems:
        return _edit_page(request, source, form, status_code=422, problems=problems)
    if action == "validate":
        return _edit_page(request, source, form, valid=True)
    if action == "preview":
        try:
            # A read session: the preview writes nothing and may take a while on a long log.
            report = await rulesets.preview(
                session, source, days=window, max_events=DEFAULT_PREVIEW_EVENTS, now=utcnow()
            )
        except Conflict as error:
            return _edit_page(request, source, form, status_code=409, refused=error.message)
        members = await service.preview_members(session, report)  # names and avatars of the members it names
        return _edit_page(request, source, form, valid=True, report=report, members=members)
    if mode == rulesets.RETROACTIVE:
        # Replayed in the background (it can take minutes): the rules page follows the job.
        try:
            async with unit_of_work(runtime.sessionmaker) as uow:
                job = await rulesets.request_retroactive(
                    uow.session,
                    source=source,
                    version=None,
                    comment=comment,
                    actor=f"user:{viewer.user_id}",
                    via="console",
                    now=utcnow(),
                )
        except (Conflict, RulesetError) as error:
            return _edit_page(request, source, form, status_code=error.status_code, refused=error.message)
        return RedirectResponse(f"/admin/rules?queued={job.id}", status_code=303)
    try:
        # Committed here, before the redirect is sent: the next page must show the publication.
        async with unit_of_work(runtime.sessionmaker) as uow:
            published = await publish_now(
                applier,
                uow,
                source=source,
                version=None,
                mode=mode,
                comment=comment,
                actor=f"user:{viewer.user_id}",
                via="console",
            )
    except (Conflict, RulesetError) as error:
        return _edit_page(request, source, form, status_code=error.status_code, refused=error.message)
    return RedirectResponse(f"/admin/rules?published={published.version}", status_code=303)
