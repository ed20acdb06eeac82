"""HTTP API of the event log: post events, ask what became of one, health."""

import logging
from typing import Annotated, Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Query, Request, status

from rewards.apply.ingest import ingest
from rewards.auth.service import Scope
from rewards.connectors.service import connector_states
from rewards.db import unit_of_work
from rewards.deps import ApplierDep, CanRead, SessionDep, scope
from rewards.errors import PayloadTooLarge, RewardsError
from rewards.events import service
from rewards.events.contract import all_event_schemas
from rewards.events.schemas import EventStatusOut, IntakeResult
from rewards.inputs import MAX_BODY_BYTES_CEILING
from rewards.runtime import utcnow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["events"])

JSON_TYPES = ("application/json", "application/cloudevents+json", "application/cloudevents-batch+json")

_event_refs = [
    {"$ref": "#/components/schemas/Event_" + name.removesuffix(".schema.json").replace(".", "_")}
    for name in all_event_schemas()
]
_EVENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            media_type: {
                "schema": {"oneOf": [{"anyOf": _event_refs}, {"type": "array", "items": {"anyOf": _event_refs}}]}
            }
            for media_type in JSON_TYPES
        },
    }
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not JSON, or `Authorization` and `X-API-Key` carry different keys."},
    401: {"description": "No API key, or an unknown one."},
    403: {"description": "The key lacks the `events:write` scope."},
    413: {"description": "The body is larger than the limit (4 MiB by default) or holds too many events."},
    415: {"description": "Not a JSON content type."},
    422: {
        "description": "At least one event is invalid: nothing was stored. `detail` lists index, id, field, message."
    },
}


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit} bytes: send smaller batches")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes: send smaller batches")
    return bytes(body)


# Up to this many events are validated on the event loop (tens of microseconds each), more in a thread.
INLINE_VALIDATION = 8


@router.post(
    "/events",
    max_body_size=MAX_BODY_BYTES_CEILING,  # the route checks the key, then reads up to REWARDS_MAX_BODY_BYTES
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IntakeResult,
    openapi_extra=_EVENT_BODY,
    responses=_ERRORS,
    dependencies=[scope(Scope.EVENTS_WRITE)],
    summary="Post one CloudEvent, or a JSON array of them",
)
async def post_events(request: Request, applier: ApplierDep) -> IntakeResult:
    """Store events durably; `(source, id)` makes a redelivery a no-op, reported as a duplicate.

    Embedded mode applies them before answering; production mode queues them for `rewards worker`.
    A batch with any invalid event is refused whole (422) and nothing from it is stored.
    """
    runtime = applier.runtime
    settings = runtime.settings
    media_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES:
        raise RewardsError(f"send JSON ({', '.join(JSON_TYPES)}), not {media_type!r}", status_code=415)
    body = await read_body(request, settings.max_body_bytes)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RewardsError(f"the body is not valid JSON: {error}", status_code=400) from None
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise RewardsError("the batch is empty: send at least one event", status_code=422)
    if len(items) > settings.max_events_per_request:
        raise PayloadTooLarge(f"{len(items)} events in one request; the limit is {settings.max_events_per_request}")
    # Validating a large batch takes milliseconds of CPU; in a thread, reads keep being served meanwhile. A few
    # events take less than the hop to a thread and back: the forum's one-event webhooks are validated here.
    if len(items) <= INLINE_VALIDATION:
        events = service.validate_batch(items)
    else:
        events = await anyio.to_thread.run_sync(service.validate_batch, items)

    async with unit_of_work(runtime.sessionmaker) as uow:
        intake = await ingest(applier, uow, events, utcnow())
    return IntakeResult(
        accepted=len(intake.accepted),
        duplicates=len(intake.duplicates),
        accepted_ids=[event.id for event in intake.accepted],
        duplicate_ids=[event.id for event in intake.duplicates],
        mode="embedded" if runtime.queue is None else "queued",
    )


@router.get(
    "/events",
    response_model=EventStatusOut,
    responses={404: {"description": "No event with that source and id was ever accepted."}},
    summary="What became of an event",
)
async def get_event_by_query(
    session: SessionDep,
    _: CanRead,
    source: Annotated[str, Query(max_length=500)],
    id: Annotated[str, Query(max_length=200)],
) -> EventStatusOut:
    """Status (`pending`, `applied`, `failed` with the reason), the rules that fired and the ledger entries written."""
    return await service.explain(session, source, id)


@router.get("/events/{source:path}/{event_id}", response_model=EventStatusOut, summary="What became of an event")
async def get_event(source: str, event_id: str, session: SessionDep, _: CanRead) -> EventStatusOut:
    """Same as `GET /v1/events?source=&id=`; use that form when the id itself contains a slash."""
    return await service.explain(session, source, event_id)


@router.get("/health", tags=["operations"], summary="Liveness and backlog")
async def health(session: SessionDep) -> dict[str, Any]:
    """`pending_events`: events stored but not applied yet. `connectors` (once one has run): each stream's
    watermark and `lag_seconds` behind now, and its consecutive failed runs."""
    answer: dict[str, Any] = {"status": "ok", "pending_events": await service.pending_count(session)}
    states = await connector_states(session, utcnow())
    if states:
        answer["connectors"] = states
    return answer
