"""arq job and scheduled sweep that deliver the outbox's webhooks."""

from datetime import datetime
from typing import Any

from rewards.outbox import service
from rewards.runtime import Runtime, utcnow


async def deliver_webhooks(ctx: dict[str, Any]) -> int:
    """Enqueued by `kick` after a commit that recorded notifications; how many attempts it made."""
    runtime: Runtime = ctx["runtime"]
    return await service.deliver_due(runtime, utcnow())


async def sweep_webhooks(runtime: Runtime, now: datetime) -> int:
    """Every few seconds: retries that came due, and messages whose kick was lost (or embedded mode)."""
    return await service.deliver_due(runtime, now)
