"""HTTP API for rulesets: versions and their publications, validating and previewing a draft, publishing."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from rewards.apply.publish import publish_now
from rewards.db import unit_of_work
from rewards.deps import ApplierDep, IsAdmin, RuntimeDep, SessionDep, actor_of
from rewards.errors import RulesetError
from rewards.inputs import MAX_BIGINT, UPLOAD_BODY_BYTES
from rewards.rulesets import service
from rewards.rulesets.schemas import (
    PreviewIn,
    PreviewOut,
    PublishIn,
    PublishJobOut,
    PublishJobsOut,
    PublishOut,
    SourceOut,
    ValidateIn,
    ValidateOut,
    VersionsOut,
)
from rewards.runtime import utcnow

router = APIRouter(tags=["rulesets"])

Version = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="A ruleset version number.")]
DRAFT_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "The draft has errors: `detail` lists each with file, line and reason."}
}


@router.get("/v1/rulesets", response_model=VersionsOut, summary="Ruleset versions, with their publications")
async def list_versions(session: SessionDep, _: IsAdmin) -> VersionsOut:
    return await service.versions(session)


# Before /v1/rulesets/{version}, which would take "publish-jobs" for a version.
@router.get(
    "/v1/rulesets/publish-jobs",
    response_model=PublishJobsOut,
    summary="Retroactive publications asked for, newest first (the last 50)",
)
async def list_publish_jobs(session: SessionDep, _: IsAdmin) -> PublishJobsOut:
    return await service.publish_jobs(session)


@router.get(
    "/v1/rulesets/publish-jobs/{job_id}",
    response_model=PublishJobOut,
    responses={404: {"description": "No such job."}},
    summary="A retroactive publication: queued, running (with progress), done or failed",
)
async def get_publish_job(
    job_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)], session: SessionDep, _: IsAdmin
) -> PublishJobOut:
    return await service.publish_job(session, job_id)


@router.post(
    "/v1/rulesets/publish-jobs/{job_id}/cancel",
    response_model=PublishJobOut,
    responses={404: {"description": "No such job."}, 409: {"description": "It is running, or has ended."}},
    summary="Cancel a queued retroactive publication",
)
async def cancel_publish_job(
    job_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)], runtime: RuntimeDep, principal: IsAdmin
) -> PublishJobOut:
    """Only while it is queued: a running one is one transaction, which commits or rolls back whole.
    Audit-logged."""
    async with unit_of_work(runtime.sessionmaker) as uow:
        return await service.cancel_job(uow.session, job_id, actor=actor_of(principal), now=utcnow())


@router.get(
    "/v1/rulesets/{version:int}",  # digits only: /v1/rulesets/validate is not a version (and takes POST only)
    response_model=SourceOut,
    responses={404: {"description": "No such version."}},
    summary="A version's rules file",
)
async def get_version(version: Version, session: SessionDep, _: IsAdmin) -> SourceOut:
    return await service.source_of(session, version)


@router.post(
    "/v1/rulesets/validate",
    response_model=ValidateOut,
    responses=DRAFT_ERRORS,
    summary="Check a draft",
    max_body_size=UPLOAD_BODY_BYTES,
)
async def validate(body: ValidateIn, _: IsAdmin) -> ValidateOut:
    problems = service.problems_of(body.source)
    if problems:
        summary = "; ".join(f"line {problem.line}: {problem.message}" for problem in problems[:5])
        raise RulesetError(
            f"the draft has {len(problems)} problem(s): {summary}",
            detail=[problem.model_dump() for problem in problems],
        )
    return ValidateOut(valid=True, problems=[])


@router.post(
    "/v1/rulesets/preview",
    max_body_size=UPLOAD_BODY_BYTES,
    response_model=PreviewOut,
    responses={**DRAFT_ERRORS, 409: {"description": "No ruleset has been published yet."}},
    summary="What a draft would change, against the published ruleset",
)
async def preview(body: PreviewIn, session: SessionDep, _: IsAdmin) -> PreviewOut:
    """Runs the log's events (the last `days`, or all of it, at most `max_events`, the newest) in memory under
    the published ruleset and the draft, both from an empty state, and compares: reputation movers, badges gained
    and lost, perk eligibility, the top 10 of each all-time leaderboard, events and users affected. Changes
    nothing."""
    return await service.preview(session, body.source, days=body.days, max_events=body.max_events, now=utcnow())


@router.post(
    "/v1/rulesets/publish",
    max_body_size=UPLOAD_BODY_BYTES,
    response_model=None,
    responses={
        200: {"model": PublishOut, "description": "Published from now on."},
        202: {"model": PublishJobOut, "description": "A retroactive publication, queued: follow its `url`."},
        **DRAFT_ERRORS,
        404: {"description": "No such version."},
        409: {"description": "Already published, or a retroactive publication is still queued or running."},
    },
    summary="Publish a draft or an earlier version (a rollback)",
)
async def publish(
    body: PublishIn, applier: ApplierDep, principal: IsAdmin, response: Response
) -> PublishOut | PublishJobOut:
    """`from_now_on`: past awards stay as they were; events applied from now on use this version (200).
    `retroactive`: the whole log is replayed under it, in the background (202, with a job to follow at its
    `url`, also in `Location`): the publication and everything it recomputes commit together when the replay
    ends (the past is not notified again; perk offers made at the end are); if it fails, nothing changes and
    the job says why. One at a time: while one is queued or running, publishing is refused (409).
    Audit-logged with the key's name and the comment."""
    runtime = applier.runtime
    if body.mode == service.RETROACTIVE:
        async with unit_of_work(runtime.sessionmaker) as uow:
            job = await service.request_retroactive(
                uow.session,
                source=body.source,
                version=body.version,
                comment=body.comment,
                actor=actor_of(principal),
                via="api",
                now=utcnow(),
            )
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers["Location"] = job.url
        return job
    # Committed before the answer is sent, so a client reading right after sees the publication.
    async with unit_of_work(runtime.sessionmaker) as uow:
        published = await publish_now(
            applier,
            uow,
            source=body.source,
            version=body.version,
            mode=body.mode,
            comment=body.comment,
            actor=actor_of(principal),
            via="api",
        )
    return published
