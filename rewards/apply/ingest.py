"""Taking events in: every caller that stores events (the events API, the Discourse adapter, adjustments by
hand, the schedule, the console, imports) stores them here, and they are applied once the caller's unit of work
commits."""

from collections.abc import Sequence
from datetime import datetime

from rewards.apply.applier import Applier
from rewards.db import UnitOfWork
from rewards.events import service as events
from rewards.events.service import Intake, ValidEvent


async def ingest(
    applier: Applier, uow: UnitOfWork, valid: Sequence[ValidEvent], now: datetime, *, apply: bool = True
) -> Intake:
    """Store validated events in `uow`'s transaction (a `(source, id)` seen before is a duplicate). Once it
    commits, the new ones are applied: now, before the caller answers (embedded mode), or by the worker, for
    which a job is queued (production mode). `apply=False`: a bulk load that drains once at its end."""
    intake = await events.store(uow.session, valid, now)
    if intake.accepted and apply:
        up_to_seq = intake.max_seq

        async def apply_them() -> None:
            await applier.after_intake(up_to_seq)

        uow.after_commit(apply_them)
    return intake
