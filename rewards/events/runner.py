"""Drain the event log: apply pending events batch by batch, one transaction per batch.

The embedded API and the arq worker both call `drain`; only who calls it differs.
"""

import logging
import time
from dataclasses import dataclass

from rewards.db import unit_of_work
from rewards.events import service
from rewards.runtime import Runtime, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrainResult:
    applied: int
    failed: int
    batches: int
    finished: bool


async def drain(runtime: Runtime, holder: str, *, time_budget: float | None = None) -> DrainResult:
    """Apply pending events until none is left (or the time budget is spent)."""
    started = time.monotonic()
    applied = failed = batches = 0
    while True:
        kept = runtime.kept_state
        runtime.kept_state = None  # until this batch commits, the state it changes is not known to be exact
        async with unit_of_work(runtime.sessionmaker) as uow:
            result, kept = await service.apply_next_batch(
                uow.session,
                runtime.ruleset,
                runtime.settings.apply_batch_size,
                holder,
                utcnow(),
                writer=runtime.writer,
                kept=kept,
            )
        if kept is not None:
            kept.state.committed()
            runtime.kept_state = kept
        if result.applied == 0 and result.failed == 0:
            return DrainResult(applied, failed, batches, finished=True)
        batches += 1
        applied += result.applied
        failed += result.failed
        if result.failed:
            log.warning(
                "%d event(s) failed in a batch up to seq %d; see GET /v1/events", result.failed, result.last_seq
            )
        if time_budget is not None and time.monotonic() - started > time_budget:
            return DrainResult(applied, failed, batches, finished=False)
