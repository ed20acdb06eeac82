"""Badges, counters and streaks on real databases: saved and loaded between batches and restarts, rebuilt
exactly by a replay, and notified through the outbox only when applied live."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from rewards import PROJECT_ROOT
from rewards.apply.publish import replay as replay_log
from rewards.badges import repository as badges_repository
from rewards.badges.models import BadgeAwardRow
from rewards.config import Settings
from rewards.db import unit_of_work
from rewards.outbox.models import MessageStatus, OutboxMessage
from rewards.runtime import utcnow
from tests.conftest import Api, make_settings, open_api
from tests.factories import accept, answer, event, remove, restore, retract, unaccept, upvote
from tests.state_snapshot import recognition_rows

A = answer("a1", "expert", "q1")
A2 = answer("a2", "expert", "q2")


def answered(author: str, post_id: str, at: datetime) -> dict[str, Any]:
    return event("answer.posted", {"actor": author, "post": answer(post_id, author, f"q-{post_id}")}, at=at)


def day(n: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 3, 1, hour, minute, tzinfo=UTC) + timedelta(days=n)


async def held(api: Api, user: str) -> list[tuple[str, str, str]]:
    """(badge, tier, post) the user holds now, as stored."""
    async with api.runtime.sessionmaker() as session:
        rows = await badges_repository.user_badges(session, user)
    return sorted((row.badge_id, row.tier, row.post) for row in rows if row.revoked_at is None)


async def recognition(api: Api) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored counter, streak and badge award."""
    async with api.runtime.sessionmaker() as session:
        return await recognition_rows(session)


async def outbox(api: Api) -> list[tuple[str, str, str]]:
    """(key, topic, status) of every outbox message."""
    async with api.runtime.sessionmaker() as session:
        rows = await session.execute(select(OutboxMessage.key, OutboxMessage.topic, OutboxMessage.status))
        return sorted((key, topic, status) for key, topic, status in rows)


async def replay(api: Api, batch_size: int = 1000) -> None:
    async with unit_of_work(api.runtime.sessionmaker) as uow:
        await replay_log(uow.session, api.runtime.ruleset, batch_size, "test-replay", utcnow())


async def test_badges_counters_and_streaks_are_saved_after_every_batch(api: Api) -> None:
    await api.post_events(*(upvote(f"v{i}", A) for i in range(9)))
    assert await held(api, "expert") == [("teacher", "bronze", "a1")]
    await api.post_events(upvote("v9", A))
    assert await held(api, "expert") == [("nice-answer", "bronze", "a1"), ("teacher", "bronze", "a1")]
    await api.post_events(accept("asker", A))
    assert await held(api, "expert") == [
        ("enlightened", "silver", "a1"),
        ("nice-answer", "bronze", "a1"),
        ("solver", "bronze", ""),
        ("teacher", "bronze", "a1"),
    ]
    async with api.runtime.sessionmaker() as session:
        counters = await badges_repository.user_counters(session, "expert")
    assert counters[("expert", "accepted_answers", "")] == 1
    assert counters[("expert", "accepted_answers", "routers")] == 1
    awarded = [key for key, topic, status in await outbox(api) if topic == "badge.awarded"]
    assert len(awarded) == 4


async def test_a_fresh_runtime_carries_on_from_the_badges_counters_and_streaks_in_the_database(
    settings: Settings,
) -> None:
    async with open_api(settings) as api:
        await api.post_events(*(upvote(f"v{i}", A) for i in range(9)))
        await api.post_events(accept("asker", A))
        await api.post_events(answered("expert", "p1", day(0)))
        await api.post_events(answered("expert", "p2", day(1)))
        before = await held(api, "expert")
    assert before == [("solver", "bronze", ""), ("teacher", "bronze", "a1")]
    async with open_api(settings) as api:
        # Score 9 and the accept of a1 come from the database: the tenth vote makes Nice Answer and Enlightened.
        await api.post_events(upvote("v9", A))
        assert await held(api, "expert") == [
            ("enlightened", "silver", "a1"),
            ("nice-answer", "bronze", "a1"),
            ("solver", "bronze", ""),
            ("teacher", "bronze", "a1"),
        ]
        # Teacher is once only, and it is held already.
        await api.post_events(upvote("v1", A2), accept("asker2", A2))
        await api.post_events(answered("expert", "p3", day(2)))
        assert ("teacher", "bronze", "a2") not in await held(api, "expert")
        async with api.runtime.sessionmaker() as session:
            counters = await badges_repository.user_counters(session, "expert")
            streaks = await badges_repository.user_streaks(session, "expert")
            solver = await badges_repository.get_holding(session, ("expert", "solver", "bronze", ""))
        assert counters[("expert", "accepted_answers", "")] == 2
        assert (streaks["answers"].length, streaks["answers"].last_day) == (3, date(2026, 3, 3))
        assert solver is not None and solver.event_seq == 10  # still the grant of the first accept
        awarded = [key for key, topic, _ in await outbox(api) if topic == "badge.awarded"]
        assert len(awarded) == 4


async def test_a_streak_counts_utc_days_whatever_offset_the_forum_sends(api: Api) -> None:
    late = answered("u", "p1", day(0, 23, 59))
    # 22:01 at UTC-2 is 00:01 UTC of the next day: the run goes on.
    next_day = answered("u", "p2", day(0))
    next_day["time"] = "2026-03-01T22:01:00-02:00"
    same_day = answered("u", "p3", day(0))
    same_day["time"] = "2026-03-02T08:00:00+05:00"  # 03:00 UTC, still the second day
    await api.post_events(late)
    await api.post_events(next_day)
    await api.post_events(same_day)
    async with api.runtime.sessionmaker() as session:
        streak = (await badges_repository.user_streaks(session, "u"))["answers"]
    assert (streak.length, streak.best, streak.last_day) == (2, 2, date(2026, 3, 2))


HISTORY = [
    [*(upvote(f"v{i}", A) for i in range(10)), accept("asker", A)],
    [retract("v0", A, "up"), upvote("v0", A2), accept("asker2", A2)],
    [remove("mod", A2, "off-topic"), answered("expert", "p1", day(0))],
    [answered("expert", "p2", day(1)), restore("mod", A2), unaccept("asker", A)],
    [
        event("flag.resolved", {"actor": "mod", "post": A2, "flagger": "watcher", "outcome": "helpful"}),
        answered("expert", "p3", day(3)),
        accept("asker", A),
    ],
]


async def test_replay_rebuilds_the_live_counters_streaks_and_badges_and_notifies_no_one(api: Api) -> None:
    for batch in HISTORY:
        await api.post_events(*batch)
    live = await recognition(api)
    assert ("expert", "accepted_answers", "", 2) in live["counters"]
    assert {(b[0], b[1]) for b in live["badges"]} >= {("expert", "enlightened"), ("watcher", "citizen-patrol")}
    notified = await outbox(api)
    assert {status for _, _, status in notified} == {MessageStatus.PENDING.value}
    assert any(topic == "badge.awarded" for _, topic, _ in notified)

    await replay(api, batch_size=3)  # other batch boundaries than live: state is reloaded between them

    assert await recognition(api) == live
    after = await outbox(api)
    assert [row for row in after if row[2] == MessageStatus.PENDING.value] == notified
    # Rank changes are decided event by event, keyed by their event: other batch boundaries find the same ones,
    # already recorded, and record nothing new.
    assert any(topic == "rank.changed" for _, topic, _ in notified)
    assert set(after) == set(notified)


async def test_a_replay_under_changed_rules_records_its_new_badges_as_suppressed_only(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    await api.post_events(upvote("v1", A), upvote("v2", A))
    live = await outbox(api)
    assert [(topic, status) for _, topic, status in live] == [("badge.awarded", "pending")]  # Teacher
    source = (PROJECT_ROOT / "rules" / "default.yaml").read_text()
    nice_at_ten = "    level: bronze\n    at: 10\n  - id: good-answer"
    assert nice_at_ten in source
    rules = tmp_path / "rules.yaml"
    rules.write_text(source.replace(nice_at_ten, nice_at_ten.replace("at: 10", "at: 2")))

    async with open_api(make_settings(database_url, rules_path=rules)) as changed:
        await replay(changed)
        assert await held(changed, "expert") == [("nice-answer", "bronze", "a1"), ("teacher", "bronze", "a1")]
        after = await outbox(changed)
    new = sorted(set(after) - set(live))
    assert [(topic, status) for _, topic, status in new] == [("badge.awarded", "suppressed")]
    assert ":nice-answer:" in new[0][0]
    assert [row for row in after if row[2] == MessageStatus.PENDING.value] == live


async def test_a_badge_a_manager_revoked_stays_revoked_through_new_events_and_a_replay(api: Api) -> None:
    await api.post_events(accept("asker", A))
    async with unit_of_work(api.runtime.sessionmaker) as uow:
        await uow.session.execute(
            update(BadgeAwardRow)
            .where(BadgeAwardRow.user_id == "expert", BadgeAwardRow.badge_id == "solver")
            .values(revoked_at=utcnow(), revoked_reason="gamed accepts", revoked_by="manager:m1")
        )
    api.applier.kept = None  # the applier must see the manager's change, as a fresh process would
    await api.post_events(accept("asker2", A2))
    assert ("solver", "bronze", "") not in await held(api, "expert")
    await replay(api)
    async with api.runtime.sessionmaker() as session:
        solver = await badges_repository.get_holding(session, ("expert", "solver", "bronze", ""))
    assert solver is not None and solver.revoked_by == "manager:m1" and solver.revoked_at is not None
    assert ("solver", "bronze", "") not in await held(api, "expert")
