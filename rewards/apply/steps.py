"""The steps of one batch, in their order: load what the events touch, run the engine event by event, take the
changes out as rows, then write them (ledger, counters and badges, boards, outbox, perks, outcomes) and move the
cursor. Pure apart from the database session it is given: the applier (`rewards.apply.applier`) decides when a
batch runs and what happens after it commits."""

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from rewards.badges import repository as badges_repository
from rewards.engine.evaluate import evaluate, needs, settle
from rewards.engine.expressions import EvaluationError
from rewards.engine.marks import Marker
from rewards.engine.ruleset import Ruleset
from rewards.engine.state import EventInput, Notice, WorkingState
from rewards.events import repository
from rewards.events.models import EventStatus
from rewards.leaderboards import service as leaderboards
from rewards.ledger import repository as ledger_repository
from rewards.outbox import service as outbox
from rewards.perks import service as perks_service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchResult:
    applied: int
    failed: int
    last_seq: int
    notified: int = 0  # notifications written to the outbox for delivery


@dataclass
class PreparedBatch:
    """A batch computed and taken out of the working state as plain rows, ready to be written.

    Once taken, the state moves on: the next batch can be computed from it while this one is written."""

    ruleset_version: int
    events: list[EventInput]
    outcomes: list[repository.Outcome]
    ledger: ledger_repository.LedgerChanges
    boards: leaderboards.BoardChanges
    recognition: badges_repository.RecognitionChanges
    notices: list[Notice]
    perk_candidates: perks_service.BatchCandidates | None
    undone_awards: list[int]  # drop them from the state once this batch is committed (see WorkingState)
    # Events read with this batch but left for the next: the batch ended early, at an event after which perks
    # had to be decided. Their state is already loaded; the next batch starts with them.
    rest: list[EventInput] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome[1] == EventStatus.FAILED.value)


# While a batch is computed, let other tasks run this often (the previous batch's writes, when pipelined).
YIELD_EVERY_SECONDS = 0.002


async def prepare_batch(
    session: AsyncSession,
    ruleset: Ruleset,
    events: Sequence[EventInput],
    state: WorkingState,
    *,
    replay: bool = False,
) -> PreparedBatch:
    """Load the state `events` touch (what `state` lacks), run the engine, and take the changes out as rows.

    Pure apart from its reads: it writes nothing, so it may run on a connection of its own while an earlier
    batch is being written, as long as that batch's changes are already in `state` (loads never replace what
    the state holds)."""
    wanted = [needs(ruleset, event) for event in events]
    users = set().union(*(need.users for need in wanted))
    slots = set().union(*(need.slots for need in wanted))
    subjects = set().union(*(need.subjects for need in wanted))
    await ledger_repository.load_open_awards(session, state, slots=slots, subjects=subjects)
    # Only these awards can be undone, suspended or restored by this batch: their owners and cap days too.
    reachable = [award for slot in slots for award in state.awards_in_slot(slot)]
    reachable += [award for subject in subjects for award in state.awards_on_subject(subject)]
    users.update(award.user_id for award in reachable)
    await ledger_repository.load_users(session, state, users)
    await ledger_repository.load_suspensions(
        session, state, set().union(*(need.suspension_subjects for need in wanted))
    )
    # Caps are per user and UTC day: the days of these events for everyone they name or award, and the days
    # of the awards they may take back.
    scopes = {(user, event.time.date()) for event, need in zip(events, wanted, strict=True) for user in need.users}
    scopes.update((award.user_id, award.cap_day) for award in reachable if award.cap_day is not None)
    await ledger_repository.load_buckets(session, state, scopes)
    # Counters of the users and posts awards may move; badges and streaks of the users.
    owners = users | subjects | {award.subject for award in reachable if award.subject is not None}
    owners |= set().union(*(need.counted_subjects for need in wanted))
    await badges_repository.load_counters(session, state, owners)
    await badges_repository.load_recognition(session, state, users)
    # Ranks and perks are decided event by event (rewards.engine.marks): note where each user stands. Not in a
    # replay (`replay`), which decides perks once at its end and would only store rank notices as suppressed.
    marker = None if replay else Marker(ruleset, perks=True)
    if marker is not None and events:
        marker.note(state, users, events[0].time)

    outcomes: list[repository.Outcome] = []
    rest: list[EventInput] = []
    yielded = time.perf_counter()
    for index, event in enumerate(events):
        if time.perf_counter() - yielded > YIELD_EVERY_SECONDS:
            await asyncio.sleep(0)
            yielded = time.perf_counter()
        try:
            decisions = evaluate(ruleset, event, state)
        except EvaluationError as error:
            outcomes.append((event.seq, EventStatus.FAILED.value, str(error), [], []))
            continue
        except Exception as error:  # a bug, but one event must not stop the log: it fails, loudly
            log.exception("evaluating event seq %d failed unexpectedly", event.seq)
            outcomes.append((event.seq, EventStatus.FAILED.value, f"internal error: {error!r}", [], []))
            continue
        settle(ruleset, event, state, decisions)
        outcomes.append((event.seq, EventStatus.APPLIED.value, None, decisions.rules_fired, decisions.notes))
        if marker is not None and marker.after_event(state, event):
            # Someone's perk decisions may change with this event: the batch ends here, so that they are made
            # on the state as this event left it, whatever the batch size (the rest comes in the next batch).
            events, rest = events[: index + 1], list(events[index + 1 :])
            break

    # The rows are taken before the state forgets its changes.
    ledger = ledger_repository.changes(state)
    board_changes = leaderboards.BoardChanges([], []) if replay else leaderboards.board_changes(ruleset, state)
    recognition = badges_repository.changes(state)
    notices = list(state.notices)
    perk_candidates = None if replay else perks_service.batch_candidates(ruleset, state, events)
    return PreparedBatch(
        ruleset_version=ruleset.version,
        events=list(events),
        outcomes=outcomes,
        ledger=ledger,
        boards=board_changes,
        recognition=recognition,
        notices=notices,
        perk_candidates=perk_candidates,
        undone_awards=state.forget_changes(),
        rest=rest,
    )


async def write_batch(
    session: AsyncSession,
    ruleset: Ruleset,
    prepared: PreparedBatch,
    now: datetime,
    *,
    replay: bool = False,
) -> BatchResult:
    """Write a prepared batch. Badges awarded, ranks changed... go to the outbox in the same transaction; with
    `replay` they are kept there as suppressed, never delivered. Then perk eligibility is
    re-checked for the users the batch changed (not during a replay, which checks once at the end). With
    `replay`, no board deltas are recorded: the replay rebuilds the boards once at its end."""
    notify = not replay
    events = prepared.events
    await ledger_repository.save_changes(session, prepared.ledger)
    if events and not replay:
        await leaderboards.record_batch(session, ruleset, events[0].seq, events[-1].seq, prepared.boards)
    await badges_repository.save(session, prepared.recognition)
    notified = await outbox.record(
        session, [outbox.Notification.of(notice) for notice in prepared.notices], now, deliver=notify
    )
    notified += await perks_service.after_batch(session, ruleset, prepared.perk_candidates, now, notify=notify)
    await repository.record_outcomes(session, prepared.outcomes, ruleset.version, now)
    return BatchResult(
        applied=len(events) - prepared.failed,
        failed=prepared.failed,
        last_seq=events[-1].seq if events else 0,
        notified=notified if notify else 0,
    )


async def apply_events(
    session: AsyncSession,
    ruleset: Ruleset,
    events: Sequence[EventInput],
    now: datetime,
    state: WorkingState,
    *,
    replay: bool = False,
) -> BatchResult:
    """Apply events in order: prepare a batch (load, compute), then write it, until every event is written (a
    batch ends early where perks must be decided). The caller commits; `state` may be kept for the next events
    only by a caller that holds the cursor until then (a replay)."""
    applied = failed = notified = 0
    last_seq = 0
    remaining = list(events)
    while remaining:
        prepared = await prepare_batch(session, ruleset, remaining, state, replay=replay)
        state.drop_awards(prepared.undone_awards)  # no load runs before the commit: they can go now
        result = await write_batch(session, ruleset, prepared, now, replay=replay)
        applied, failed, notified = applied + result.applied, failed + result.failed, notified + result.notified
        last_seq = result.last_seq
        remaining = prepared.rest
    return BatchResult(applied=applied, failed=failed, last_seq=last_seq, notified=notified)


@dataclass
class KeptState:
    """Engine state an applier keeps in memory between its batches.

    It is exact as long as nobody else advanced the apply cursor since this applier did: the cursor records
    its last writer, and the state is dropped whenever that is someone else (another worker, a replay).

    `ahead` is the next batch, already prepared from this state while the last one was written (see
    `prepare_ahead`): the state includes its changes, so it is used or the state is dropped with it.
    """

    writer: str
    applied_through: int
    state: WorkingState
    ahead: PreparedBatch | None = None


# Beyond this many users, awards, buckets and loaded keys in memory (a few hundred MB), an applier starts
# again from an empty state.
MAX_KEPT_OBJECTS = 1_000_000


@dataclass
class NextBatch:
    """The next batch, under the apply cursor's lock: prepared (None: nothing pending), and the state to keep
    once it is committed (None: not exact, do not keep)."""

    prepared: PreparedBatch | None
    kept: KeptState | None
    applied_through: int  # where the cursor was when taken


async def next_batch(
    session: AsyncSession,
    ruleset: Ruleset,
    limit: int,
    holder: str,
    now: datetime,
    *,
    writer: str,
    kept: KeptState | None = None,
) -> NextBatch:
    """Take the apply cursor's lock and prepare the next pending events: the batch `kept` prepared ahead if the
    state is still exact, else read and prepared now. Written by `write_next_batch`, in the same transaction."""
    applied_through, last_writer = await repository.take_cursor(session, holder, now)
    still_exact = (
        kept is not None
        and kept.writer == writer == last_writer
        and kept.applied_through == applied_through
        and kept.state.size() < MAX_KEPT_OBJECTS
        and (kept.ahead is None or kept.ahead.ruleset_version == ruleset.version)
    )
    prepared: PreparedBatch | None = None
    if still_exact and kept is not None:
        state, prepared = kept.state, kept.ahead  # the ahead batch follows `kept.applied_through`
    else:
        state = WorkingState()
    if prepared is None:
        events = await repository.events_after(session, applied_through, limit)
        if not events:
            kept_now = KeptState(writer, applied_through, state) if still_exact else None
            return NextBatch(None, kept_now, applied_through)
        prepared = await prepare_batch(session, ruleset, events, state)
    return NextBatch(prepared, KeptState(writer, prepared.events[-1].seq, state), applied_through)


async def write_next_batch(
    session: AsyncSession, ruleset: Ruleset, batch: NextBatch, now: datetime, *, writer: str
) -> BatchResult:
    """Write the batch `next_batch` prepared and move the cursor past it. The caller's unit of work commits,
    then keeps `batch.kept` and calls `state.drop_awards(prepared.undone_awards)` once nothing it runs still
    reads the database as it was before the commit."""
    if batch.prepared is None:
        return BatchResult(applied=0, failed=0, last_seq=batch.applied_through)
    result = await write_batch(session, ruleset, batch.prepared, now)
    await repository.advance_cursor(session, result.last_seq, writer)
    return result


async def prepare_ahead(
    session: AsyncSession, ruleset: Ruleset, kept: KeptState, limit: int, rest: Sequence[EventInput] = ()
) -> PreparedBatch | None:
    """Read and prepare the batch after `kept.applied_through` from the kept state, on a connection of its own,
    while the batch before it is still being written and committed: the database then works on one batch while
    this process computes the next.

    Sound because every object the batch being written changed is in the state, and loads never replace what
    the state holds: what they read from the database is what no batch since has touched. The result is only
    used if the cursor, once taken, is where this batch follows and was last moved by this applier; otherwise
    it is dropped with the state. None if no event is pending yet. `rest`: the events the batch being written
    read but left for the next (they follow it), which need not be read again."""
    events = list(rest) if rest else await repository.events_after(session, kept.applied_through, limit)
    if not events:
        return None
    return await prepare_batch(session, ruleset, events, kept.state)


async def fail_next_event(
    session: AsyncSession, ruleset: Ruleset, holder: str, now: datetime, writer: str, reason: str
) -> int | None:
    """Record the next pending event as failed and move past it: the database would not store its effects."""
    applied_through, _ = await repository.take_cursor(session, holder, now)
    events = await repository.events_after(session, applied_through, 1)
    if not events:
        return None
    seq = events[0].seq
    await repository.record_outcomes(
        session,
        [(seq, EventStatus.FAILED.value, f"the database refused its effects: {reason}", [], [])],
        ruleset.version,
        now,
    )
    await repository.advance_cursor(session, seq, writer)
    return seq
