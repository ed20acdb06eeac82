"""Leaderboards: period keys at UTC and ISO-week edges, deltas, ranks and ties, undo, suspension, the API and its
errors, rebuild = live, Redis self-healing after FLUSHDB, and period-end awards closed exactly once."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from rewards.apply import steps
from rewards.apply.applier import Applier
from rewards.apply.publish import replay
from rewards.config import Settings
from rewards.db import unit_of_work
from rewards.engine.boards import (
    BoardSpec,
    CounterScore,
    board_deltas,
    competition_ranks,
    parse_at,
    period_end,
    period_key,
    previous_key,
    redis_expiry,
)
from rewards.engine.loader import check_ruleset_text
from rewards.engine.state import CounterChange, EntryKind, LedgerEntry
from rewards.events import repository as events_repository
from rewards.leaderboards import repository, service
from rewards.leaderboards import tasks as leaderboard_tasks
from rewards.rulesets import repository as rulesets_repository
from rewards.rulesets.models import PublishJobStatus
from rewards.runtime import Runtime
from tests.conftest import REDIS_URL, Api, make_settings, open_api, run_scheduled_publish
from tests.factories import accept, answer, event, retract, unaccept, upvote

UTC_END_2026 = datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
DEFAULT_RULES = Path(__file__).resolve().parents[1] / "rules" / "default.yaml"


# -- pure: periods ------------------------------------------------------------------------------------------


def keys(when: datetime) -> list[str]:
    return [period_key(p, when) for p in ("all-time", "yearly", "quarterly", "monthly", "weekly", "daily")]


def test_period_keys_at_the_last_and_first_microsecond_of_a_year() -> None:
    assert keys(UTC_END_2026) == ["all", "2026", "2026-Q4", "2026-12", "2026-W53", "2026-12-31"]
    # 2027-01-01 is a Friday: still in ISO week 53 of 2026, but in 2027 for every other period.
    new_year = UTC_END_2026 + timedelta(microseconds=1)
    assert keys(new_year) == ["all", "2027", "2027-Q1", "2027-01", "2026-W53", "2027-01-01"]
    assert period_key("weekly", datetime(2027, 1, 4, tzinfo=UTC)) == "2027-W01"  # the first Monday
    assert period_key("weekly", datetime(2024, 12, 30, tzinfo=UTC)) == "2025-W01"  # a December day in next year


def test_periods_are_utc_whatever_offset_the_event_was_sent_with() -> None:
    warsaw_new_year = datetime.fromisoformat("2027-01-01T00:30:00+01:00")  # 2026-12-31T23:30Z
    assert keys(warsaw_new_year)[1:4] == ["2026", "2026-Q4", "2026-12"]
    honolulu_evening = datetime.fromisoformat("2026-11-22T20:00:00-10:00")  # Monday 06:00Z
    assert period_key("weekly", honolulu_evening) == "2026-W48"
    assert period_key("daily", honolulu_evening) == "2026-11-23"
    with pytest.raises(ValueError, match="naive"):
        period_key("daily", datetime(2026, 1, 1))


def test_period_bounds_and_the_previous_period() -> None:
    assert period_end("weekly", "2026-W53") == datetime(2027, 1, 4, tzinfo=UTC)
    assert period_end("quarterly", "2026-Q4") == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_end("all-time", "all") is None
    assert previous_key("weekly", "2027-W01") == "2026-W53"
    assert previous_key("monthly", "2027-01") == "2026-12"
    assert previous_key("daily", "2026-03-01") == "2026-02-28"


def test_at_accepts_keys_and_dates_and_says_what_it_expects() -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert parse_at("weekly", None, now) == "2026-W48"
    assert parse_at("weekly", "2026-W53", now) == "2026-W53"
    assert parse_at("weekly", "2027-01-01", now) == "2026-W53"
    assert parse_at("quarterly", "2026-11-23", now) == "2026-Q4"
    assert parse_at("all-time", None, now) == "all"
    for period, bad, message in (
        ("weekly", "2027-W53", "has no ISO week 53"),  # 2027 has 52 ISO weeks
        ("weekly", "2026-47", "YYYY-Www"),
        ("monthly", "2026-13", "not a month"),
        ("daily", "2026-02-30", "not a date"),
        ("quarterly", "2026-Q5", "YYYY-Qn"),
        ("all-time", "2026", "no `at`"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_at(period, bad, now)  # type: ignore[arg-type]


def test_closed_periods_leave_redis_after_their_retention() -> None:
    board = BoardSpec(id="b", title="B", retention={"weekly": 2})
    assert redis_expiry(board, "weekly", "2026-W47") == datetime(2026, 12, 7, tzinfo=UTC)  # W47 ends 11-30, +2 weeks
    assert redis_expiry(board, "all-time", "all") is None
    assert redis_expiry(board, "daily", "2026-11-23") == datetime(2026, 11, 24, tzinfo=UTC) + timedelta(days=35)


# -- pure: deltas and ranks ---------------------------------------------------------------------------------


def entry(user: str, points: int, when: datetime, rule: str = "upvote") -> LedgerEntry:
    return LedgerEntry(
        id=0,
        user_id=user,
        points=points,
        kind=EntryKind.AWARD,
        award_id=0,
        reverses_id=None,
        event_seq=1,
        rule_id=rule,
        ruleset_version=1,
        reason="",
        occurred_at=when,
    )


def test_deltas_bucket_each_item_by_its_own_time_and_an_undo_lowers_the_score() -> None:
    board = BoardSpec(id="rep", title="Rep", periods=["all-time", "weekly"])
    monday = datetime(2026, 11, 23, 9, tzinfo=UTC)
    deltas = board_deltas(
        [board],
        [
            entry("ann", 10, monday),
            entry("ann", 10, monday + timedelta(hours=1)),
            entry("ann", -10, monday + timedelta(days=7)),  # undone the next week
            entry("bob", 0, monday),  # zero points change nothing
        ],
        [],
    )
    found = {(d.period, d.user_id): (d.points, d.reached_at) for d in deltas}
    assert found == {
        ("all", "ann"): (10, monday + timedelta(days=7)),
        ("2026-W48", "ann"): (20, monday + timedelta(hours=1)),
        ("2026-W49", "ann"): (-10, monday + timedelta(days=7)),
    }


def test_deltas_of_rule_and_counter_boards_take_only_their_items() -> None:
    when = datetime(2026, 11, 23, tzinfo=UTC)
    rules_board = BoardSpec.model_validate({"id": "acc", "title": "A", "score": {"rules": ["accepted"]}})
    routers = BoardSpec(id="r", title="R", score=CounterScore(counter="accepted_answers", scope="routers"))
    changes = [
        CounterChange("ann", "accepted_answers", "routers", 1, when),
        CounterChange("bob", "accepted_answers", "billing", 1, when),
        CounterChange("ann", "answers", "routers", 1, when),
        CounterChange("ann", "accepted_answers", "routers", -1, when),
        CounterChange("cid", "accepted_answers", "routers", 1, when),
    ]
    deltas = board_deltas([rules_board, routers], [entry("ann", 10, when), entry("bob", 15, when, "accepted")], changes)
    all_time = {(d.board, d.user_id): d.points for d in deltas if d.period == "all"}
    assert all_time == {("acc", "bob"): 15, ("r", "ann"): 0, ("r", "cid"): 1}


def test_standard_competition_ranks() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [("a", 30, t), ("b", 20, t), ("c", 20, t), ("d", 10, t), ("e", 10, t)]
    assert [r.rank for r in competition_ranks(rows, 1, 0)] == [1, 2, 2, 4, 4]
    # A page that starts inside a tie: the first row's rank comes from the store (count of higher scores + 1).
    assert [r.rank for r in competition_ranks(rows[2:], 2, 2)] == [2, 4, 4]


def test_rules_files_with_broken_boards_are_refused_with_the_place() -> None:
    source = DEFAULT_RULES.read_text() + (
        "  - id: bad\n    title: Bad\n    score: {counter: nope}\n"
        "  - id: bad2\n    title: Bad\n    score: {rules: [ghost]}\n"
        "    awards: [{period: weekly, top: 3, badge: nope}]\n"
        "  - id: reputation\n    title: Twice\n"
    )
    problems, spec = check_ruleset_text(source, "rules.yaml")
    text = "\n".join(str(problem) for problem in problems)
    assert spec is None
    for expected in ("counter 'nope' is not declared", "rule 'ghost' is not declared", "badge 'nope' is not", "twice"):
        assert expected in text
    problems, _ = check_ruleset_text(
        DEFAULT_RULES.read_text()
        + "  - {id: x, title: X, periods: [daily], awards: [{period: weekly, top: 1, perk: p}]}\n",
        "rules.yaml",
    )
    assert "not one of the board's periods" in "\n".join(str(problem) for problem in problems)
    problems, _ = check_ruleset_text(
        DEFAULT_RULES.read_text()
        + "  - {id: x, title: X, periods: [daily], awards: [{period: daily, top: 1, perk: p}]}\n",
        "rules.yaml",
    )
    assert "perk 'p' is not declared in `perks`" in "\n".join(str(problem) for problem in problems)


# -- through the API (embedded mode, SQLite and PostgreSQL) ------------------------------------------------

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)  # Monday of 2026-W48


def votes(author: str, count: int, *, at: datetime = T0, post: str | None = None) -> list[dict[str, Any]]:
    target = answer(post or f"a-{author}", author, "q1")
    return [upvote(f"{author}-fan{i}", target, at=at, minutes=i) for i in range(count)]


async def board(api: Api, name: str = "reputation", **params: Any) -> dict[str, Any]:
    response = await api.client.get(f"/v1/leaderboards/{name}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ranking(body: dict[str, Any]) -> list[tuple[int, str, int]]:
    return [(e["rank"], e["user_id"], e["score"]) for e in body["entries"]]


async def test_ties_share_a_rank_and_who_reached_the_score_first_comes_first(api: Api) -> None:
    await api.post_events(*votes("zed", 2, at=T0))  # 20, reached at 09:01
    await api.post_events(*votes("amy", 2, at=T0 + timedelta(hours=1)))  # 20, reached later
    await api.post_events(*votes("bob", 2, at=T0 + timedelta(hours=1)))  # 20, same time as amy: user id decides
    await api.post_events(*votes("top", 3, at=T0), *votes("low", 1, at=T0))
    body = await board(api)
    assert body["board"] == "reputation" and body["period"] == "all-time" and body["at"] == "all"
    assert ranking(body) == [(1, "top", 30), (2, "zed", 20), (2, "amy", 20), (2, "bob", 20), (5, "low", 10)]
    assert body["entries"][0]["rank_title"] == "Newcomer" and body["served_from"] == "database"
    page = await board(api, offset=2, limit=2)
    assert ranking(page) == [(2, "amy", 20), (2, "bob", 20)]
    assert len({e["user_id"] for e in body["entries"]}) == len(body["entries"])  # nobody twice


async def test_an_undo_lowers_the_score_and_periods_follow_each_entry_time(api: Api) -> None:
    target = answer("a1", "ann", "q1")
    next_week = T0 + timedelta(days=7)
    await api.post_events(*votes("bob", 1), upvote("v1", target, at=T0), upvote("v2", target, at=T0, minutes=1))
    assert ranking(await board(api))[0] == (1, "ann", 20)
    await api.post_events(retract("v1", target, "up", at=next_week))
    # Equal again: bob reached 10 first (ann's score last changed with the retraction).
    assert ranking(await board(api)) == [(1, "bob", 10), (1, "ann", 10)]
    assert ranking(await board(api, period="weekly", at="2026-W48")) == [(1, "ann", 20), (2, "bob", 10)]
    assert ranking(await board(api, period="weekly", at="2026-W49")) == []  # ann is at -10 there: not shown
    assert ranking(await board(api, period="daily", at="2026-11-23"))[0] == (1, "ann", 20)
    assert ranking(await board(api, period="monthly", at="2026-11")) == [(1, "bob", 10), (1, "ann", 10)]
    assert ranking(await board(api, period="monthly", at="2026-12")) == []


async def test_suspended_users_are_hidden_and_come_back_when_reinstated(api: Api) -> None:
    await api.post_events(*votes("ann", 3), *votes("bob", 2), *votes("cid", 1))
    await api.post_events(event("user.suspended", {"actor": "mod", "user": "ann"}, at=T0, minutes=30))
    assert ranking(await board(api)) == [(1, "bob", 20), (2, "cid", 10)]
    missing = await api.client.get("/v1/leaderboards/reputation/around/ann")
    assert missing.status_code == 404 and "not on board" in missing.json()["error"]
    await api.post_events(event("user.reinstated", {"actor": "mod", "user": "ann"}, at=T0, minutes=40))
    assert ranking(await board(api))[0] == (1, "ann", 30)


async def test_around_a_user_shows_the_neighbours(api: Api) -> None:
    for index in range(9):
        await api.post_events(*votes(f"u{index}", index + 1))
    response = await api.client.get("/v1/leaderboards/reputation/around/u4", params={"radius": 2})
    assert response.status_code == 200, response.text
    assert ranking(response.json()) == [(3, "u6", 70), (4, "u5", 60), (5, "u4", 50), (6, "u3", 40), (7, "u2", 30)]
    top = (await api.client.get("/v1/leaderboards/reputation/around/u8", params={"radius": 1})).json()
    assert ranking(top) == [(1, "u8", 90), (2, "u7", 80)]


async def test_category_boards_count_accepted_answers(api: Api) -> None:
    routers, billing = answer("a1", "ann", "q1", "routers"), answer("a2", "ann", "q2", "billing")
    await api.post_events(
        accept("asker1", routers), accept("asker2", billing), accept("asker3", answer("a3", "bob", "q3"))
    )
    assert ranking(await board(api, "accepted-routers")) == [(1, "ann", 1), (1, "bob", 1)]
    assert ranking(await board(api, "accepted-billing")) == [(1, "ann", 1)]
    await api.post_events(unaccept("asker1", routers, minutes=5))
    assert ranking(await board(api, "accepted-routers")) == [(1, "bob", 1)]


async def test_the_boards_and_clear_errors(api: Api) -> None:
    listed = (await api.client.get("/v1/leaderboards")).json()["boards"]
    reputation = next(b for b in listed if b["id"] == "reputation")
    assert reputation["periods"] == ["all-time", "yearly", "quarterly", "monthly", "weekly", "daily"]
    assert set(reputation["current"]) == set(reputation["periods"])
    unknown = await api.client.get("/v1/leaderboards/nope")
    assert unknown.status_code == 404 and "reputation" in unknown.json()["error"]
    assert "reputation" in unknown.json()["detail"]["boards"]
    bad_at = await api.client.get("/v1/leaderboards/reputation", params={"period": "weekly", "at": "2026-47"})
    assert bad_at.status_code == 422 and "YYYY-Www" in bad_at.json()["error"]
    bad_period = await api.client.get("/v1/leaderboards/accepted-routers", params={"period": "daily"})
    assert bad_period.status_code == 422 and "all-time, yearly, monthly, weekly" in bad_period.json()["error"]
    too_many = await api.client.get("/v1/leaderboards/reputation", params={"limit": 1000})
    assert too_many.status_code == 422
    anonymous = await api.client.get("/v1/leaderboards", headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def scores(runtime: Runtime) -> list[tuple[str, str, str, int, datetime]]:
    async with runtime.sessionmaker() as session:
        return await repository.all_rows(session)


async def test_rebuild_and_replay_give_the_live_state(api: Api) -> None:
    target = answer("a1", "ann", "q1")
    await api.post_events(*votes("bob", 3, at=T0 - timedelta(days=40)), upvote("v1", target), accept("q", target))
    await api.post_events(retract("v1", target, "up", minutes=10), unaccept("q", target, at=T0 + timedelta(days=3)))
    await api.post_events(
        accept("q", answer("a9", "cid", "q1", "billing")), *votes("ann", 2, at=T0 + timedelta(days=9))
    )
    live = await scores(api.runtime)
    assert {row[0] for row in live} == {"reputation", "accepted-routers", "accepted-billing"}
    report = await service.rebuild(api.runtime, datetime.now(UTC))
    assert report.rows == len(live)
    assert await scores(api.runtime) == live
    async with unit_of_work(api.runtime.sessionmaker) as uow:
        await replay(uow.session, api.runtime.ruleset, 2, "test", datetime.now(UTC))
    assert await scores(api.runtime) == live  # a replay recomputes the boards; nothing counts twice


async def test_deltas_folded_while_batches_are_applied_equal_a_rebuild(postgres_database_url: str) -> None:
    """PostgreSQL folds each batch's deltas on another connection while the next batch is computed: with many
    small batches, folds and batches interleave, and the scores must still be exactly the ledger's."""
    from sqlalchemy import func, select

    from bench.community import generate_community
    from rewards.leaderboards.models import leaderboard_deltas

    settings = make_settings(postgres_database_url, apply_batch_size=40)
    async with open_api(settings) as api:
        community = list(generate_community(users=60, events=2400, seed=7, days=20))
        for start in range(0, len(community), 400):
            await api.post_events(*community[start : start + 400])  # applied in 10 batches before the answer
            async with api.runtime.sessionmaker() as session:  # a drain folds everything before it returns
                assert await session.scalar(select(func.count()).select_from(leaderboard_deltas)) == 0
        live = await scores(api.runtime)
        assert len({row[1] for row in live}) > 20  # daily, weekly... periods of 20 days
        await service.rebuild(api.runtime, datetime.now(UTC))
        assert await scores(api.runtime) == live


# -- production mode: Redis, self-healing -------------------------------------------------------------------


async def post_and_apply(api: Api, *events: dict[str, Any]) -> None:
    await api.post_events(*events)
    await api.applier.drain("test")


async def test_redis_boards_heal_themselves_after_flushdb(postgres_database_url: str, redis_url: str) -> None:
    settings = make_settings(postgres_database_url, redis_url=redis_url)
    async with open_api(settings) as api:
        await post_and_apply(api, *votes("ann", 3), *votes("bob", 2), *votes("cid", 2, at=T0 + timedelta(hours=2)))
        expected = ranking(await board(api))
        assert expected == [(1, "ann", 30), (2, "bob", 20), (2, "cid", 20)]
        assert (await board(api))["served_from"] == "database"  # Redis was never built
        assert await service.heal(api.runtime, datetime.now(UTC)) == 1
        assert await service.heal(api.runtime, datetime.now(UTC)) == 0
        assert (await board(api))["served_from"] == "redis" and ranking(await board(api)) == expected

        # Batches now go to Redis too, under the same watermark as the database.
        await post_and_apply(api, *votes("dan", 4), event("user.suspended", {"actor": "m", "user": "bob"}, at=T0))
        from_redis = await board(api)
        assert from_redis["served_from"] == "redis"
        assert ranking(from_redis) == [(1, "dan", 40), (2, "ann", 30), (3, "cid", 20)]
        around = (await api.client.get("/v1/leaderboards/reputation/around/cid", params={"radius": 1})).json()
        assert around["served_from"] == "redis" and ranking(around) == [(2, "ann", 30), (3, "cid", 20)]
        weekly = await board(api, period="weekly", at="2026-W48")
        assert weekly["served_from"] == "redis" and ranking(weekly) == ranking(from_redis)

        client = aioredis.Redis.from_url(REDIS_URL)
        await client.flushdb()
        await client.aclose()
        degraded = await board(api)
        assert degraded["served_from"] == "database" and ranking(degraded) == ranking(from_redis)
        # A batch applied while Redis is empty is not lost: the database has it, and the heal reloads it.
        await post_and_apply(api, *votes("eve", 5))
        assert (await board(api))["served_from"] == "database"
        assert await service.heal(api.runtime, datetime.now(UTC)) == 1
        healed = await board(api)
        assert healed["served_from"] == "redis"
        assert ranking(healed) == [(1, "eve", 50), (2, "dan", 40), (3, "ann", 30), (4, "cid", 20)]
        async with api.runtime.sessionmaker() as session:
            sql = await service._sql_page(session, "reputation", "all", 0, 50)
        assert [(r.rank, r.user_id, r.score) for r in sql] == ranking(healed)


async def test_a_batch_redis_missed_marks_the_boards_stale(postgres_database_url: str, redis_url: str) -> None:
    settings = make_settings(postgres_database_url, redis_url=redis_url)
    async with open_api(settings) as api:
        await post_and_apply(api, *votes("ann", 1))
        await service.heal(api.runtime, datetime.now(UTC))
        # A batch applied without the runner's mirror (as if Redis had been unreachable for it).
        await api.post_events(*votes("bob", 2))
        async with unit_of_work(api.runtime.sessionmaker) as uow:
            batch = await steps.next_batch(
                uow.session, api.runtime.ruleset, 100, "test", datetime.now(UTC), writer="other"
            )
            await steps.write_next_batch(uow.session, api.runtime.ruleset, batch, datetime.now(UTC), writer="other")
        await post_and_apply(api, *votes("cid", 3))  # Redis sees a gap in the watermark: stale, not wrong
        body = await board(api)
        assert body["served_from"] == "database"
        assert ranking(body) == [(1, "cid", 30), (2, "bob", 20), (3, "ann", 10)]
        await service.heal(api.runtime, datetime.now(UTC))
        assert ranking(await board(api)) == ranking(body) and (await board(api))["served_from"] == "redis"


# -- period-end awards ---------------------------------------------------------------------------------------


def rules_with_weekly_prizes(tmp_path: Path) -> Path:
    text = DEFAULT_RULES.read_text().replace(
        "    periods: [all-time, yearly, quarterly, monthly, weekly, daily]\n",
        "    periods: [all-time, yearly, quarterly, monthly, weekly, daily]\n"
        "    awards:\n"
        "      - {period: weekly, top: 2, perk: expert-workshop}\n"
        "      - {period: weekly, top: 1, badge: citizen-patrol}\n"
        "      - {period: monthly, top: 1, perk: strategy-briefing}\n",
        1,
    )
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


async def test_a_period_closes_exactly_once_with_two_closers_at_once(
    postgres_database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(postgres_database_url, rules_path=rules_with_weekly_prizes(tmp_path))
    async with open_api(settings) as api:
        await api.post_events(*votes("ann", 3), *votes("bob", 2), *votes("cid", 2, at=T0 + timedelta(hours=1)))
        await api.post_events(*votes("dan", 1), *votes("eve", 9, at=T0 + timedelta(days=7)))
        second_applier = await Applier.start(Settings.model_validate(settings.model_dump()), connect_queue=False)
        second = second_applier.runtime
        try:
            # The next Monday, after the grace: week 48 has ended; November has not.
            now = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
            closed = await asyncio.gather(service.close_periods(api.runtime, now), service.close_periods(second, now))
            assert sum(closed) == 2  # week 48, and month 10 (nothing in it): each closed once, by one of them
            assert await service.close_periods(second, now + timedelta(minutes=1)) == 0
        finally:
            await second_applier.stop()
        response = await api.client.get("/v1/leaderboards/reputation/closed")
        assert response.status_code == 200, response.text
        by_period = {c["at"]: c for c in response.json()["closed"]}
        assert set(by_period) == {"2026-W48", "2026-10"}
        winners = [
            (w["rank"], w["user_id"], w["score"], w["prize"], w["granted"]) for w in by_period["2026-W48"]["winners"]
        ]
        # Top 2 with the tie at the border: ann 30, then bob and cid both at 20 (rank 2); the badge went to ann.
        assert winners == [
            (1, "ann", 30, "badge:citizen-patrol", True),
            (1, "ann", 30, "perk:expert-workshop", True),
            (2, "bob", 20, "perk:expert-workshop", True),
            (2, "cid", 20, "perk:expert-workshop", True),
        ]
        badges = (await api.client.get("/v1/users/ann/badges")).json()
        assert [(b["badge_id"], b["source"]) for b in badges["earned"] if b["badge_id"] == "citizen-patrol"] == [
            ("citizen-patrol", "board")
        ]
        # The prize is an offer, whatever the perk's eligibility and without waiting for a manager's approval.
        perks = (await api.client.get("/v1/users/bob/perks")).json()
        assert [(g["perk_id"], g["status"]) for g in perks["offered"]] == [("expert-workshop", "offered")]
        assert by_period["2026-10"]["winners"] == []


async def test_a_winner_who_already_holds_the_prize_badge_leaves_the_closing_and_the_other_prizes_intact(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, rules_path=rules_with_weekly_prizes(tmp_path))
    async with open_api(settings) as api:
        week_49 = T0 + timedelta(days=7)
        await api.post_events(*votes("ann", 3), *votes("bob", 2))
        await api.post_events(*votes("ann", 3, at=week_49, post="a-ann-2"), *votes("cid", 2, at=week_49))
        assert await service.close_periods(api.runtime, datetime(2026, 11, 30, 0, 30, tzinfo=UTC)) >= 1
        # Week 49: ann wins the one-per-user badge again (she keeps the first); cid still gets his perk.
        assert await service.close_periods(api.runtime, datetime(2026, 12, 7, 0, 30, tzinfo=UTC)) >= 1
        closed = (await api.client.get("/v1/leaderboards/reputation/closed")).json()["closed"]
        week = next(c for c in closed if c["at"] == "2026-W49")
        assert [(w["user_id"], w["prize"], w["granted"]) for w in week["winners"]] == [
            ("ann", "badge:citizen-patrol", False),
            ("ann", "perk:expert-workshop", False),  # her week-48 offer is still open
            ("cid", "perk:expert-workshop", True),
        ]
        badges = (await api.client.get("/v1/users/ann/badges")).json()["earned"]
        assert [b["badge_id"] for b in badges].count("citizen-patrol") == 1


async def test_closing_skips_its_turn_while_a_retroactive_publish_replays_and_closes_after(
    database_url: str, tmp_path: Path
) -> None:
    """The replay holds the apply cursor: closing waits for its next turn instead of for the replay."""
    settings = make_settings(database_url, rules_path=rules_with_weekly_prizes(tmp_path))
    async with open_api(settings) as api:
        await api.post_events(*votes("ann", 3), *votes("bob", 2))
        asked = await api.client.post(
            "/v1/rulesets/publish",
            json={"version": api.runtime.ruleset.version, "mode": "retroactive", "comment": "recount"},
        )
        assert asked.status_code == 202, asked.text
        async with unit_of_work(api.runtime.sessionmaker) as uow:
            assert await rulesets_repository.mark_job_running(uow.session, asked.json()["id"], T0, 10)
        at = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
        async with api.runtime.sessionmaker() as holder, holder.begin():
            await events_repository.take_cursor(holder, "replay", at)  # as the replay does, until it commits
            assert await asyncio.wait_for(leaderboard_tasks.close_periods(api.runtime, at), timeout=10) == 0
            assert await asyncio.wait_for(leaderboard_tasks.heal_boards(api.runtime, at), timeout=10) == 0
        async with unit_of_work(api.runtime.sessionmaker) as uow:  # the replay ended
            await rulesets_repository.end_jobs(
                uow.session,
                now=at,
                status=PublishJobStatus.DONE,
                error=None,
                among=(PublishJobStatus.RUNNING,),
                job_id=asked.json()["id"],
            )
        assert await leaderboard_tasks.close_periods(api.runtime, at) >= 1


async def test_healing_redis_skips_its_turn_while_a_replay_holds_the_apply_cursor(
    postgres_database_url: str, redis_url: str
) -> None:
    settings = make_settings(postgres_database_url, redis_url=redis_url)
    async with open_api(settings) as api:
        await post_and_apply(api, *votes("ann", 3), *votes("bob", 2))
        assert (await board(api))["served_from"] == "database"  # Redis was never built: a heal is due
        at = datetime.now(UTC)
        async with api.runtime.sessionmaker() as holder, holder.begin():
            await events_repository.take_cursor(holder, "replay", at)  # as a replay does, until it commits
            assert await asyncio.wait_for(leaderboard_tasks.heal_boards(api.runtime, at), timeout=10) == 0
        assert (await board(api))["served_from"] == "database"
        assert await leaderboard_tasks.heal_boards(api.runtime, at) == 1  # the next turn
        assert (await board(api))["served_from"] == "redis"


async def test_boards_without_awards_close_nothing(api: Api) -> None:
    await api.post_events(*votes("ann", 1))
    assert await service.close_periods(api.runtime, datetime(2026, 11, 30, 0, 5, tzinfo=UTC)) == 0


async def test_a_retroactive_publish_sends_readers_to_the_database_until_redis_is_healed(
    postgres_database_url: str, redis_url: str
) -> None:
    settings = make_settings(postgres_database_url, redis_url=redis_url)
    async with open_api(settings) as api:
        await post_and_apply(api, *votes("ann", 3), *votes("bob", 2))
        await service.heal(api.runtime, datetime.now(UTC))
        assert (await board(api))["served_from"] == "redis"
        doubled = DEFAULT_RULES.read_text().replace("        points: 10\n", "        points: 20\n", 1)
        published = await api.client.post(
            "/v1/rulesets/publish", json={"source": doubled, "mode": "retroactive", "comment": "upvotes count double"}
        )
        assert published.status_code == 202, published.text
        assert await run_scheduled_publish(api.applier) == 1
        body = await board(api)
        assert body["served_from"] == "database"  # Redis still holds the scores from before the replay
        assert ranking(body) == [(1, "ann", 60), (2, "bob", 40)]
        await service.heal(api.runtime, datetime.now(UTC))
        healed = await board(api)
        assert healed["served_from"] == "redis" and ranking(healed) == ranking(body)


async def test_a_rebuild_loads_open_periods_and_leaves_closed_ones_to_the_heal(
    postgres_database_url: str, redis_url: str
) -> None:
    """A rebuild puts only the open periods in Redis; a closed one is served from the database (late events
    included) until a heal turn loads it, and from Redis after, with the same ranking, late events applied."""
    settings = make_settings(postgres_database_url, redis_url=redis_url)
    async with open_api(settings) as api:
        await post_and_apply(api, *votes("ann", 3), *votes("bob", 2))  # 2026-W48, closed by now
        await service.rebuild(api.runtime, datetime.now(UTC))
        assert (await board(api))["served_from"] == "redis"  # all-time: open, loaded
        closed = await board(api, period="weekly", at="2026-W48")
        assert closed["served_from"] == "database" and ranking(closed) == [(1, "ann", 30), (2, "bob", 20)]

        # A late event for the closed week: the database has it; Redis, not holding that week, leaves it alone.
        await post_and_apply(api, *votes("cid", 4, at=T0 + timedelta(hours=3)))
        late = await board(api, period="weekly", at="2026-W48")
        assert late["served_from"] == "database"
        assert ranking(late) == [(1, "cid", 40), (2, "ann", 30), (3, "bob", 20)]
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            assert await client.exists("rewards:lb:reputation:2026-W48:z") == 0
        finally:
            await client.aclose()

        assert await service.heal(api.runtime, datetime.now(UTC)) == 0  # healthy: it only loads closed periods
        loaded = await board(api, period="weekly", at="2026-W48")
        assert loaded["served_from"] == "redis" and ranking(loaded) == ranking(late)
        await post_and_apply(api, *votes("dan", 5, at=T0 + timedelta(hours=4)))  # now Redis keeps it up to date
        after = await board(api, period="weekly", at="2026-W48")
        assert after["served_from"] == "redis" and ranking(after)[0] == (1, "dan", 50)
        assert ranking(after) == ranking(await board(api, period="weekly", at="2026-W48", limit=50))
