"""Use cases of the event log: validate and store events, explain what each one did. Applying them is
`rewards.apply`'s."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.errors import InvalidInput, NotFound
from rewards.events import repository
from rewards.events.models import EventStatus
from rewards.events.schemas import (
    DATA_MODELS,
    CloudEvent,
    CustomData,
    EventStatusOut,
    ItemError,
    LedgerEntryOut,
)
from rewards.inputs import nul_problem
from rewards.ledger import repository as ledger_repository

log = logging.getLogger(__name__)

MAX_DATA_DEPTH = 16
MAX_EVENT_BYTES = 64 * 1024


@dataclass(frozen=True)
class ValidEvent:
    source: str
    id: str
    type: str
    time: datetime
    data: dict[str, Any]


# Written by the engine itself (a manager's adjustment through the admin API, the schedule lifting a suspension or
# checking a renewal): a forum cannot post them, or any event in the engine's own sources.
RESERVED_TYPES = {
    "points.adjusted": "use POST /v1/users/{id}/adjust (scope admin) to change points by hand",
    "contribution.approved": "report it with POST /v1/contributions; a manager approves it in the console or with "
    "POST /v1/contributions/{id}/approve (scope admin)",
    "renewal.check": "the schedule stores it when a rank's renewal window is due a warning or a lapse; a title "
    "renews when the rules count enough in its window (post the events that count, e.g. answer.accepted)",
}
RESERVED_SOURCE_PREFIX = "rewards:"


def validate_batch(items: Sequence[Any]) -> list[ValidEvent]:
    """Every event, or InvalidInput with one error per offending item: a batch is taken whole or not at all."""
    errors: list[ItemError] = []
    events: list[ValidEvent] = []
    for index, item in enumerate(items):
        event_id = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
        problem = _shape_problem(item)
        if problem is not None:
            errors.append(ItemError(index=index, id=event_id, field=problem[0], message=problem[1]))
            continue
        try:
            envelope = CloudEvent.model_validate(item)
        except ValidationError as error:
            errors.extend(_item_errors(index, event_id, error, prefix=()))
            continue
        if envelope.type in RESERVED_TYPES:
            errors.append(
                ItemError(
                    index=index,
                    id=event_id,
                    field="type",
                    message=f"{envelope.type!r} is written by the engine itself: {RESERVED_TYPES[envelope.type]}",
                )
            )
            continue
        if envelope.source.startswith(RESERVED_SOURCE_PREFIX):
            errors.append(
                ItemError(
                    index=index,
                    id=event_id,
                    field="source",
                    message=f"sources starting with {RESERVED_SOURCE_PREFIX!r} are the engine's own; use your forum's",
                )
            )
            continue
        try:
            DATA_MODELS.get(envelope.type, CustomData).model_validate(envelope.data)
        except ValidationError as error:
            errors.extend(_item_errors(index, event_id, error, prefix=("data",)))
            continue
        events.append(
            ValidEvent(
                source=envelope.source,
                id=envelope.id,
                type=envelope.type,
                time=envelope.time.astimezone(UTC),
                data=item["data"],
            )
        )
    if errors:
        raise InvalidInput(
            f"{len({error.index for error in errors})} of {len(items)} event(s) are invalid; nothing was stored",
            detail=[error.model_dump() for error in errors],
        )
    return events


def _item_errors(index: int, event_id: str | None, error: ValidationError, prefix: tuple[str, ...]) -> list[ItemError]:
    return [
        ItemError(
            index=index,
            id=event_id,
            field=".".join(str(part) for part in (*prefix, *detail["loc"])) or "(event)",
            message=detail["msg"],
        )
        for detail in error.errors(include_url=False, include_input=False)
    ]


def _shape_problem(item: Any) -> tuple[str, str] | None:
    if not isinstance(item, dict):
        return "(event)", f"an event is a JSON object, not {type(item).__name__}"
    # Depth first: orjson reads deeper JSON than it writes (it refuses to dump past 255 levels), so dumping a
    # deep event would raise instead of answering.
    if _too_deep(item):
        return "data", f"data is nested more than {MAX_DATA_DEPTH} levels deep"
    dumped = orjson.dumps(item)
    if len(dumped) > MAX_EVENT_BYTES:
        return "(event)", f"an event is limited to {MAX_EVENT_BYTES // 1024} KiB of JSON"
    # JSON escapes NUL as \u0000: without that text anywhere, no name or value holds one (the walk that finds
    # where is only needed then).
    problem = nul_problem(item) if b"\\u0000" in dumped else None
    return (problem[0] or "(event)", problem[1]) if problem is not None else None


def _too_deep(item: dict[str, Any]) -> bool:
    """Whether any value lies more than MAX_DATA_DEPTH levels down (the event itself is level 0)."""
    stack: list[tuple[Any, int]] = [(item, 0)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        if children and depth + 1 > MAX_DATA_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


@dataclass(frozen=True)
class Intake:
    accepted: list[ValidEvent]
    duplicates: list[ValidEvent]
    max_seq: int


async def store(session: AsyncSession, events: Sequence[ValidEvent], now: datetime) -> Intake:
    """Store events durably; a (source, id) seen before, in this batch or earlier, is a duplicate."""
    unique: dict[tuple[str, str], ValidEvent] = {}
    repeated: list[ValidEvent] = []
    for event in events:
        if (event.source, event.id) in unique:
            repeated.append(event)
        else:
            unique[(event.source, event.id)] = event
    rows = [
        {
            "source": event.source,
            "event_id": event.id,
            "type": event.type,
            "time": event.time,
            "data": event.data,
            "received_at": now,
        }
        for event in unique.values()
    ]
    new = await repository.insert_events(session, rows) if rows else {}
    accepted = [event for key, event in unique.items() if key in new]
    duplicates = [event for key, event in unique.items() if key not in new] + repeated
    return Intake(accepted=accepted, duplicates=duplicates, max_seq=max(new.values(), default=0))


async def pending_count(session: AsyncSession) -> int:
    return await repository.pending_count(session)


async def has_pending(session: AsyncSession, up_to_seq: int | None = None) -> bool:
    return await repository.has_pending(session, up_to_seq)


async def explain(session: AsyncSession, source: str, event_id: str) -> EventStatusOut:
    found = await repository.get_event(session, source, event_id)
    if found is None:
        raise NotFound(f"no event with source {source!r} and id {event_id!r} was ever accepted")
    stored, outcome = found
    entries = await ledger_repository.entries_for_event(session, stored.seq) if outcome is not None else []
    return EventStatusOut(
        source=stored.source,
        id=stored.event_id,
        type=stored.type,
        time=stored.time,
        seq=stored.seq,
        status=EventStatus(outcome.status).value if outcome is not None else "pending",
        error=outcome.error if outcome is not None else None,
        received_at=stored.received_at,
        applied_at=outcome.applied_at if outcome is not None else None,
        ruleset_version=outcome.ruleset_version if outcome is not None else None,
        rules_fired=outcome.rules_fired if outcome is not None else [],
        notes=outcome.notes if outcome is not None else [],
        ledger_entries=[entry_out(entry) for entry in entries],
    )


def entry_out(entry: Any) -> LedgerEntryOut:
    return LedgerEntryOut(
        id=entry.id,
        user_id=entry.user_id,
        points=entry.points,
        kind=entry.kind,
        reason=f"{entry.points:+d} {entry.reason}",
        rule_id=entry.rule_id,
        ruleset_version=entry.ruleset_version,
        award_id=entry.award_id,
        reverses_id=entry.reverses_id,
        event_seq=entry.event_seq,
        occurred_at=entry.occurred_at,
    )


async def question_author(session: AsyncSession, source: str, question_id: str) -> str | None:
    return await repository.question_author(session, source, question_id)
