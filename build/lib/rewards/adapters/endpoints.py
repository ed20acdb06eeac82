"""POST /v1/adapters/discourse: Discourse webhooks as Discourse sends them."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request

from rewards.adapters import discourse
from rewards.db import unit_of_work
from rewards.deps import RuntimeDep
from rewards.errors import RewardsError, Unauthorized
from rewards.events import service
from rewards.events.endpoints import read_body
from rewards.events.runner import after_intake
from rewards.inputs import MAX_BODY_BYTES_CEILING, nul_problem
from rewards.runtime import utcnow

router = APIRouter(prefix="/v1/adapters", tags=["adapters"])


@router.post("/discourse", summary="Receive a Discourse webhook", max_body_size=MAX_BODY_BYTES_CEILING)
async def discourse_webhook(
    request: Request,
    runtime: RuntimeDep,
    x_discourse_event: Annotated[str | None, Header(max_length=100)] = None,
    x_discourse_event_id: Annotated[str | None, Header(max_length=100)] = None,
    x_discourse_instance: Annotated[str | None, Header(max_length=300)] = None,
    x_discourse_event_signature: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """Signed with the webhook's secret (`X-Discourse-Event-Signature`); a wrong or missing signature gets
    401 and nothing is stored. A redelivery (same `X-Discourse-Event-Id`) is a duplicate. Unknown Discourse
    events are stored as `discourse.<event>` and acknowledged."""
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
    if x_discourse_event in ("accepted_solution", "unaccepted_solution"):
        solved = payload.get("solved")
        solved = solved if isinstance(solved, dict) else {}
        async with runtime.sessionmaker() as session:
            question_author = await service.question_author(session, source, f"t{solved.get('topic_id', '')}")
    events = discourse.to_events(
        event=x_discourse_event,
        event_id=x_discourse_event_id,
        instance=x_discourse_instance,
        payload=payload,
        received_at=utcnow(),
        question_author=question_author,
    )
    valid = service.validate_batch(events)
    async with unit_of_work(runtime.sessionmaker) as uow:
        intake = await service.store(uow.session, valid, utcnow())
    if intake.accepted:
        await after_intake(runtime, intake.max_seq)
    return {
        "accepted": len(intake.accepted),
        "duplicates": len(intake.duplicates),
        "events": [{"type": event.type, "id": event.id} for event in valid],
    }
