"""Use cases of the outbox: record notifications in the caller's transaction, deliver them as signed webhooks."""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.outbox import repository
from rewards.outbox.models import MessageStatus
from rewards.redis_keys import WEBHOOK_JOB, WEBHOOK_JOB_ID

if TYPE_CHECKING:  # the runtime imports the event log, which records notifications: no cycle at run time
    from rewards.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notification:
    topic: str  # "badge.awarded", "badge.revoked", "rank.changed", "perk.offered", "perk.granted", ...
    user_id: str | None
    data: dict[str, Any]  # JSON-able
    occurred_at: datetime
    key: str  # idempotency key, unique per outbox row (e.g. "badge.awarded:u1:solver:gold")


# Set while a replay or backfill runs: what it records is kept but never delivered.
_suppressing: ContextVar[bool] = ContextVar("rewards_outbox_suppressing", default=False)


@contextmanager
def suppress_notifications() -> Iterator[None]:
    """`with suppress_notifications(): ...` makes every `record` inside (same task) store rows as suppressed."""
    token = _suppressing.set(True)
    try:
        yield
    finally:
        _suppressing.reset(token)


async def record(
    session: AsyncSession, notifications: Sequence[Notification], now: datetime, *, deliver: bool = True
) -> int:
    """Add notifications to the outbox in the caller's transaction (a key already there is skipped); how many
    were new. With `deliver=False`, or inside `suppress_notifications()`, they are stored as suppressed."""
    if not notifications:
        return 0
    status = MessageStatus.SUPPRESSED if not deliver or _suppressing.get() else MessageStatus.PENDING
    rows = [
        {
            "key": notification.key,
            "topic": notification.topic,
            "user_id": notification.user_id,
            "data": notification.data,
            "occurred_at": notification.occurred_at,
            "created_at": now,
            "status": status.value,
        }
        for notification in notifications
    ]
    return await repository.insert_messages(session, rows)


async def kick(runtime: "Runtime") -> None:
    """After the caller's commit: ask a worker to deliver now. Embedded mode has no queue (the scheduler
    delivers every few seconds), and a failure here only delays delivery until the next sweep."""
    if runtime.queue is None:
        return
    try:
        await runtime.queue.enqueue_job(WEBHOOK_JOB, _job_id=WEBHOOK_JOB_ID)
    except Exception:  # Redis down: the periodic sweep delivers instead
        log.warning("could not enqueue webhook delivery; the periodic sweep will deliver", exc_info=True)
