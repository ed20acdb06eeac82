"""An applier keeps engine state in memory between batches; it must never act on state someone else changed."""

from typing import Any

from rewards.db import unit_of_work
from rewards.events import service
from rewards.events.runner import drain
from rewards.runtime import Runtime, utcnow
from tests.conftest import make_settings
from tests.factories import accept, answer, downvote, remove, restore, retract, upvote
from tests.state_snapshot import snapshot

A = answer("a1", "expert", "q1")
B = answer("a2", "rival", "q1")


async def _post(runtime: Runtime, *events: dict[str, Any]) -> None:
    async with unit_of_work(runtime.sessionmaker) as uow:
        await service.store(uow.session, service.validate_batch(list(events)), utcnow())


async def test_two_appliers_taking_turns_reach_the_state_of_a_replay(database_url: str) -> None:
    first = await Runtime.start(make_settings(database_url, apply_batch_size=2))
    second = await Runtime.start(make_settings(database_url, apply_batch_size=2))
    try:
        turns: list[tuple[Runtime, list[dict[str, Any]]]] = [
            (first, [upvote("v1", A), upvote("v2", A), accept("asker", A)]),
            (second, [retract("v1", A, "up"), downvote("v1", A), accept("asker", B)]),
            (first, [upvote("v3", A), remove("mod", A, "spam"), upvote("v4", A)]),
            (second, [restore("mod", A), retract("v3", A, "up")]),
            (first, [accept("asker", A), upvote("v1", A)]),
        ]
        for runtime, events in turns:
            await _post(runtime, *events)
            await drain(runtime, "test")
            assert runtime.kept_state is not None
        async with first.sessionmaker() as session:
            live = await snapshot(session)
        async with unit_of_work(first.sessionmaker) as uow:
            await service.replay(uow.session, first.ruleset, 1000, "replay", utcnow())
        async with first.sessionmaker() as session:
            assert await snapshot(session) == live
        reputations = dict((user, rep) for user, rep, _ in live["users"])
        # a1: v2 +10, v1 re-voted +10 (after the down vote was replaced), v4 +10, accepted again +15
        assert reputations["expert"] == 45
        assert reputations["rival"] == 0 and reputations["asker"] == 2
        # After a replay, neither applier may trust what it kept.
        await _post(first, upvote("v5", A))
        await drain(first, "test")
        assert await _reputation(first, "expert") == 55
    finally:
        await first.stop()
        await second.stop()


async def _reputation(runtime: Runtime, user: str) -> int:
    async with runtime.sessionmaker() as session:
        state = await snapshot(session)
    reputation: int = next(rep for user_id, rep, _ in state["users"] if user_id == user)
    return reputation
