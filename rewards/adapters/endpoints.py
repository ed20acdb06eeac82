"""POST /v1/adapters/discourse: Discourse webhooks as Discourse sends them."""

import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request

from rewards.adapters import discourse
from rewards.apply.ingest import ingest
from rewards.db import unit_of_work
from rewards.deps import ApplierDep
from rewards.errors import InvalidInput, RewardsError, Unauthorized
from rewards.events import service
from rewards.events.endpoints import read_body
from rewards.inputs import MAX_BODY_BYTES_CEILING, nul_problem
from rewards.runtime import utcnow
from rewards.users import profiles

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/adapters", tags=["adapters"])

# The route reads its body itself (after the signature check), so FastAPI cannot describe it: declared here.
_DELIVERY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "description": "A Discourse webhook payload."}}},
    }
}
_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not JSON."},
    401: {"description": "The X-Discourse-Event-Signature is missing or does not match the webhook's secret."},
    413: {"description": "The body is larger than REWARDS_MAX_BODY_BYTES."},
    422: {"description": "The body is not an object, holds a NUL character, or an X-Discourse-* header is missing."},
    503: {"description": "Discourse webhooks are off (no REWARDS_DISCOURSE_WEBHOOK_SECRET), or the database is busy."},
}


@router.post(
    "/discourse",
    summary="Receive a Discourse webhook",
    max_body_size=MAX_BODY_BYTES_CEILING,
    openapi_extra=_DELIVERY,
    responses=_REFUSALS,
)
async def discourse_webhook(
    request: Request,
    applier: ApplierDep,
    x_discourse_event: Annotated[str | None, Header(max_length=100)] = None,
    x_discourse_event_id: Annotated[str | None, Header(max_length=100)] = None,
    x_discourse_instance: Annotated[str | None, Header(max_length=300)] = None,
    x_discourse_event_signature: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """Signed with the webhook's secret (`X-Discourse-Event-Signature`); a wrong or missing signature gets
    401 and nothing is stored. A redelivery (same `X-Discourse-Event-Id`) is a duplicate. Unknown Discourse
    events are stored as `discourse.<event>` and acknowledged. A delivery whose fields the adapter cannot use
    (a string where the post should be, a `null` user id) is stored as `discourse.delivery.unusable` and
    acknowledged with 200 and the reason under `unusable`: Discourse would retry an error, and nobody is
    made up from it."""
    runtime = applier.runtime
    secret = runtime.settings.discourse_webhook_secret
    if secret is None:
        raise RewardsError("Discourse webhooks are off: set REWARDS_DISCOURSE_WEBHOOK_SECRET", status_code=503)
    body = await read_body(request, runtime.settings.max_body_bytes)
    if not discourse.signature_ok(secret.get_secret_value(), body, x_discourse_event_signature):
        raise Unauthorized("the X-Discourse-Event-Signature does not match the webhook's secret")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RewardsError(f"the body is not valid JSON: {error}", status_code=400) from None
    if payload == {"ping": "OK"}:
        return {"ping": "OK"}
    if not isinstance(payload, dict):
        raise RewardsError('a Discourse webhook body is an object: {"<event group>": {...}}', status_code=422)
    nul = nul_problem(payload)
    if nul is not None:  # refused before any lookup: the database cannot hold it
        raise RewardsError(f"{nul[1]}: at {nul[0] or 'the top level'} of the webhook body", status_code=422)
    if not (x_discourse_event and x_discourse_event_id and x_discourse_instance):
        raise RewardsError(
            "X-Discourse-Event, X-Discourse-Event-Id and X-Discourse-Instance are required", status_code=422
        )
    source = f"discourse:{x_discourse_instance}"
    question_author = None
    question = discourse.solved_question(x_discourse_event, payload)
    if question is not None:
        async with runtime.sessionmaker() as session:
            question_author = await service.question_author(session, source, question)
    received_at = utcnow()
    events = discourse.to_events(
        event=x_discourse_event,
        event_id=x_discourse_event_id,
        instance=x_discourse_instance,
        payload=payload,
        received_at=received_at,
        question_author=question_author,
    )
    try:
        valid = service.validate_batch(events)
    except InvalidInput as refused:
        # Too large or too deep to store, even without the post's text: kept without the payload, so that
        # Discourse does not send it again and again.
        reason = "; ".join(f"{problem['field']}: {problem['message']}" for problem in refused.detail)
        events = [
            discourse.unusable_event(
                x_discourse_event, x_discourse_event_id, x_discourse_instance, received_at, reason, payload=None
            )
        ]
        valid = service.validate_batch(events)
    async with unit_of_work(runtime.sessionmaker) as uow:
        intake = await ingest(applier, uow, valid, utcnow())
        # How the members it names are shown, in the same transaction (not an event: nothing to apply).
        await profiles.upsert(
            uow.session, discourse.profiles(x_discourse_instance, payload), utcnow(), runtime.settings.links
        )
    answer: dict[str, Any] = {
        "accepted": len(intake.accepted),
        "duplicates": len(intake.duplicates),
        "events": [{"type": event.type, "id": event.id} for event in valid],
    }
    unusable = next((event["data"]["unusable"] for event in events if event["type"] == discourse.UNUSABLE), None)
    if unusable is not None:
        log.warning(
            "Discourse delivery %s (%s) from %s is unusable: %s",
            x_discourse_event_id,
            x_discourse_event,
            x_discourse_instance,
            unusable,
        )
        answer["unusable"] = unusable
    return answer
