"""An applier keeps engine state in memory between batches; it must never act on state someone else changed."""

from dataclasses import replace
from typing import Any

import pytest

from rewards.apply import steps
from rewards.apply.applier import Applier
from rewards.apply.publish import replay
from rewards.db import unit_of_work
from rewards.engine.state import Award, AwardStatus, WorkingState
from rewards.events import service
from rewards.runtime import utcnow
from tests.conftest import make_settings
from tests.factories import accept, answer, downvote, remove, restore, retract, upvote
from tests.state_snapshot import snapshot

A = answer("a1", "expert", "q1")
B = answer("a2", "rival", "q1")


async def _post(applier: Applier, *events: dict[str, Any]) -> None:
    async with unit_of_work(applier.runtime.sessionmaker) as uow:
        await service.store(uow.session, service.validate_batch(list(events)), utcnow())


async def test_two_appliers_taking_turns_reach_the_state_of_a_replay(database_url: str) -> None:
    first = await Applier.start(make_settings(database_url, apply_batch_size=2))
    second = await Applier.start(make_settings(database_url, apply_batch_size=2))
    try:
        turns: list[tuple[Applier, list[dict[str, Any]]]] = [
            (first, [upvote("v1", A), upvote("v2", A), accept("asker", A)]),
            (second, [retract("v1", A, "up"), downvote("v1", A), accept("asker", B)]),
            (first, [upvote("v3", A), remove("mod", A, "spam"), upvote("v4", A)]),
            (second, [restore("mod", A), retract("v3", A, "up")]),
            (first, [accept("asker", A), upvote("v1", A)]),
        ]
        for applier, events in turns:
            await _post(applier, *events)
            await applier.drain("test")
            assert applier.kept is not None
        live = await _assert_a_replay_reaches_the_same_state(first)
        reputations = dict((user, rep) for user, rep, _ in live["users"])
        # a1: v2 +10, v1 re-voted +10 (after the down vote was replaced), v4 +10, accepted again +15
        assert reputations["expert"] == 45
        assert reputations["rival"] == 0 and reputations["asker"] == 2
        # After a replay, neither applier may trust what it kept.
        await _post(first, upvote("v5", A))
        await first.drain("test")
        assert await _reputation(first, "expert") == 55
    finally:
        await first.stop()
        await second.stop()


async def _assert_a_replay_reaches_the_same_state(applier: Applier) -> dict[str, Any]:
    """Rebuild everything from the event log; the derived state must be what the appliers left. Returns it."""
    runtime = applier.runtime
    async with runtime.sessionmaker() as session:
        live = await snapshot(session)
    async with unit_of_work(runtime.sessionmaker) as uow:
        await replay(uow.session, runtime.ruleset, 1000, "replay", utcnow())
    async with runtime.sessionmaker() as session:
        assert await snapshot(session) == live
    return live


async def _reputation(applier: Applier, user: str) -> int:
    async with applier.runtime.sessionmaker() as session:
        state = await snapshot(session)
    reputation: int = next(rep for user_id, rep, _ in state["users"] if user_id == user)
    return reputation


async def test_a_drain_computing_each_batch_while_the_previous_one_is_written_reaches_the_state_of_a_replay(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One event per batch, so that every batch but the first is prepared ahead, while the one before it is
    # written: accepting B undoes the accept of A, and the next batch then loads A's awards by subject (the
    # removal) from a database that does not show the undo yet.
    applier = await Applier.start(make_settings(database_url, apply_batch_size=1))
    used_ahead: list[int] = []
    real_prepare_ahead = steps.prepare_ahead

    async def counting(*args: Any, **kwargs: Any) -> steps.PreparedBatch | None:
        prepared = await real_prepare_ahead(*args, **kwargs)
        if prepared is not None:
            used_ahead.append(prepared.events[0].seq)
        return prepared

    monkeypatch.setattr(steps, "prepare_ahead", counting)
    try:
        events = [
            upvote("v1", A),
            accept("asker", A),
            accept("asker", B),
            remove("mod", A, "spam"),
            upvote("v2", A),
            restore("mod", A),
            retract("v1", A, "up"),
            accept("asker", A),
            downvote("v3", B),
            upvote("v1", A),
        ]
        await _post(applier, *events)
        result = await applier.drain("test")
        assert result.applied == len(events) and result.failed == 0
        assert len(used_ahead) >= len(events) - 2  # the pipeline ran: each batch after the first was ready
        # expert: v1 +10, accepted +15 then replaced by B (-15), removed (v1 suspended -10; the undone accept stays
        # undone), v2 held while removed, restored (v1 and v2: +20), v1 retracted -10, accepted again +15, v1 +10
        assert await _reputation(applier, "expert") == 35
        await _assert_a_replay_reaches_the_same_state(applier)
    finally:
        await applier.stop()


def test_an_undone_award_stays_in_the_state_until_its_batch_is_committed() -> None:
    # A batch prepared ahead may load the award's subject from the database before the undo is committed: the
    # row it reads still says "live", and must not bring the award back.
    state = WorkingState()
    award = Award(
        id=1_000,
        user_id="expert",
        rule_id="accept",
        event_seq=1,
        subject="a1",
        slot="accepted:q1",
        points=15,
        cap_id=None,
        cap_max=None,
        cap_day=None,
        label="accepted answer a1",
        status=AwardStatus.LIVE,
        occurred_at=utcnow(),
    )
    state.create_award(award)
    state.forget_changes()
    state.set_award_status(award, AwardStatus.UNDONE)
    undone = state.forget_changes()
    assert undone == [1_000]
    stale_row = replace(award, status=AwardStatus.LIVE)
    state.add_loaded_award(stale_row)
    assert state.awards_on_subject("a1") == [] and state.awards_in_slot("accepted:q1") == []
    state.drop_awards(undone)
    assert 1_000 not in state.awards and state.awards_by_subject["a1"] == []


async def test_a_batch_prepared_ahead_is_dropped_when_another_applier_moved_the_cursor(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await Applier.start(make_settings(database_url, apply_batch_size=2))
    second = await Applier.start(make_settings(database_url, apply_batch_size=2))
    # Writing the stale batch again would be refused (its outcome rows exist) and then retried event by event
    # from the database, which ends in the right state: what shows the mistake is the second attempt.
    attempted: list[int] = []
    real_write_batch = steps.write_batch

    async def recording(session: Any, ruleset: Any, prepared: steps.PreparedBatch, *args: Any, **kwargs: Any) -> Any:
        attempted.extend(event.seq for event in prepared.events)
        return await real_write_batch(session, ruleset, prepared, *args, **kwargs)

    monkeypatch.setattr(steps, "write_batch", recording)
    try:
        await _post(first, upvote("v1", A), accept("asker", A), upvote("v2", A), accept("asker", B))
        # One batch, then the drain stops (time budget spent) with the next one prepared ahead and kept.
        stopped = await first.drain("test", time_budget=0)
        assert not stopped.finished and stopped.applied == 2
        assert first.kept is not None and first.kept.ahead is not None
        await second.drain("test")  # applies the batch the first had prepared, and more
        await _post(first, remove("mod", B, "spam"), upvote("v3", A))
        await first.drain("test")
        assert await _reputation(first, "expert") == 30  # v1, v2, v3; the accept went to B
        assert attempted == [1, 2, 3, 4, 5, 6]  # each batch written once, by one applier or the other
        await _assert_a_replay_reaches_the_same_state(first)
    finally:
        await first.stop()
        await second.stop()
