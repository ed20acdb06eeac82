"""Renewal: a rank held only while enough is counted in a rolling window, lowered on schedule when it lapses,
warned before and notified once."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rewards.apply.publish import replay
from rewards.db import unit_of_work
from rewards.engine.loader import load_ruleset_text
from rewards.engine.renewal import RENEWAL_CHECK, due, status
from rewards.errors import RulesetError
from rewards.events.models import StoredEvent
from rewards.outbox.models import OutboxMessage
from rewards.renewals.tasks import check_renewals
from rewards.runtime import utcnow
from tests.conftest import Api, make_settings, open_api
from tests.engine_harness import Community
from tests.factories import accept, answer, event, upvote
from tests.renewal_rules import EXPERT_RENEWS, LAPSE, MARCH_2026, WARNING, rules
from tests.state_snapshot import snapshot

RULES = rules("renewing", EXPERT_RENEWS)


def check(user: str, kind: str, at: datetime) -> dict[str, Any]:
    """The event the schedule stores (`rewards.renewals.tasks`)."""
    data = {"actor": "rewards:schedule", "user": user, "rank": "expert", "check": kind}
    return event(RENEWAL_CHECK, data, at=at, source="rewards:schedule")


def expert_in_march(community: Community) -> None:
    community.send(
        accept("asker", answer("a1", "ewa", "q1"), at=MARCH_2026),
        accept("asker", answer("a2", "ewa", "q2"), at=MARCH_2026, minutes=5),
    )


def test_a_rank_with_a_window_lapses_on_schedule_warned_once_before() -> None:
    community = Community(load_ruleset_text(RULES))
    expert_in_march(community)
    assert [(n.data["to"]["id"], n.data["direction"]) for n in community.rank_changes()] == [
        ("member", "up"),
        ("expert", "up"),
    ]
    renewal = community.ruleset.spec.ranks[2].renewal
    assert renewal is not None
    where = status(community.state.counters, "ewa", renewal)
    assert (where.held, where.count, where.lapses_at, where.needed_by_then) == (True, 2, LAPSE, 2)
    # What the schedule finds due, and when: nothing until the warning, then the warning, then the lapse.
    counters = community.state.counters
    assert due(counters, "ewa", "expert", renewal, WARNING - timedelta(seconds=1)) is None
    warn = due(counters, "ewa", "expert", renewal, WARNING + timedelta(days=3))
    assert warn is not None and (warn.kind, warn.at, warn.lapses_at) == ("warn", WARNING, LAPSE)
    lapse = due(counters, "ewa", "expert", renewal, LAPSE + timedelta(days=40))
    assert lapse is not None and (lapse.kind, lapse.at) == ("lapse", LAPSE)

    community.state.committed()
    community.send(check("ewa", "warn", WARNING))
    warnings = [n for n in community.state.notices if n.topic == "rank.renewal_due"]
    assert [(n.user_id, n.data["rank"]["id"], n.data["lapses_at"], n.key) for n in warnings] == [
        ("ewa", "expert", LAPSE.isoformat(), "rank.renewal_due:ewa:expert:2027-03-01")
    ]
    assert warnings[0].data["reason"] == (
        "Expert until 2027-03-01: 2 accepted answers in the last 12 months (2 needed); 2 more by then keep it"
    )
    assert community.rank_changes() == []  # warned, still Expert
    # The check names the member; it is not something they did.
    assert community.state.users["ewa"].last_active_at is None

    community.state.committed()
    community.send(check("ewa", "lapse", LAPSE))
    lowered = community.rank_changes()
    assert [(n.data["from"]["id"], n.data["to"]["id"], n.data["direction"]) for n in lowered] == [
        ("expert", "member", "down")
    ]
    assert lowered[0].data["reason"] == "lapsed: Expert needs 2 accepted answers in the last 12 months: 0 so far"
    assert due(community.state.counters, "ewa", "expert", renewal, LAPSE + timedelta(days=400)) is None

    # Later events change nothing more: the title stays lowered, nobody is told again.
    community.state.committed()
    community.send(upvote("v1", answer("a1", "ewa", "q1"), at=LAPSE, minutes=60 * 24 * 40))
    assert community.state.notices == []
    assert community.marker.mark(community.state, "ewa", LAPSE).rank == "member"


def test_accepted_answers_13_months_apart_never_make_a_12_month_window() -> None:
    community = Community(load_ruleset_text(RULES))
    community.send(
        accept("asker", answer("a1", "ewa", "q1"), at=MARCH_2026),
        accept("asker", answer("a2", "ewa", "q2"), at=MARCH_2026 + timedelta(days=396)),  # April 2027
    )
    assert community.rep("ewa") == 100
    assert [n.data["to"]["id"] for n in community.rank_changes()] == ["member"]
    # One more within 12 months of the second, and the title is earned.
    community.send(accept("asker", answer("a3", "ewa", "q3"), at=MARCH_2026 + timedelta(days=420)))
    assert [n.data["to"]["id"] for n in community.rank_changes()][-1] == "expert"


def test_an_answer_before_the_lapse_renews_the_rank() -> None:
    community = Community(load_ruleset_text(RULES))
    expert_in_march(community)
    community.send(accept("asker", answer("a3", "ewa", "q3"), at=datetime(2026, 12, 5, tzinfo=UTC)))
    community.send(accept("asker", answer("a4", "ewa", "q4"), at=datetime(2027, 1, 5, tzinfo=UTC)))
    community.state.committed()
    community.send(check("ewa", "lapse", LAPSE))
    assert community.rank_changes() == []
    renewal = community.ruleset.spec.ranks[2].renewal
    assert renewal is not None
    assert status(community.state.counters, "ewa", renewal).lapses_at == datetime(2027, 12, 1, tzinfo=UTC)


def test_a_check_posted_by_someone_else_warns_nobody() -> None:
    community = Community(load_ruleset_text(RULES))
    expert_in_march(community)
    community.state.committed()
    forged = event(RENEWAL_CHECK, {"actor": "x", "user": "ewa", "check": "warn"}, at=WARNING)
    community.send(forged)
    assert community.state.notices == []


@pytest.mark.parametrize(
    ("renewal", "line", "message"),
    [
        ("{counter: accepted_answers, at: 2, window: 365d}", 20, "write it in months"),
        ("{counter: accepted_answers, at: 2, window: 12 months, warn_before: 2 weeks}", 20, "write it in days"),
        ("{counter: answers, at: 2, window: 12 months}", 20, "'answers' is not a declared `per: user` counter"),
        ("{counter: accepted_answers, at: 0, window: 12 months}", 20, "greater than or equal to 1"),
        ("{counter: accepted_answers, at: 2, window: 12 months, on_lapse: end}", 20, "'lower'"),
    ],
)
def test_a_bad_renewal_is_refused_with_file_line_and_reason(renewal: str, line: int, message: str) -> None:
    rules = RULES.replace(
        "renewal: {counter: accepted_answers, at: 2, window: 12 months, warn_before: 30 days}", f"renewal: {renewal}"
    )
    with pytest.raises(RulesetError) as error:
        load_ruleset_text(rules, "renewing.yaml")
    problem = error.value.detail[0]
    assert (problem["file"], problem["line"]) == ("renewing.yaml", line), problem
    assert message in problem["message"], problem


def test_the_first_rank_cannot_lapse() -> None:
    rules = RULES.replace(
        "  - {id: newcomer, title: Newcomer, reputation: 0}",
        "  - {id: newcomer, title: Newcomer, reputation: 0, renewal: {counter: accepted_answers, at: 1, "
        "window: 1 month}}",
    )
    with pytest.raises(RulesetError, match="it cannot lapse"):
        load_ruleset_text(rules, "renewing.yaml")


def test_without_a_window_a_rank_stays_for_good(tmp_path: Path) -> None:
    community = Community(
        load_ruleset_text(
            RULES.replace(
                "    renewal: {counter: accepted_answers, at: 2, window: 12 months, warn_before: 30 days}\n", ""
            )
        )
    )
    expert_in_march(community)
    community.state.committed()
    community.send(check("ewa", "lapse", LAPSE), upvote("v1", answer("a1", "ewa", "q1"), at=LAPSE, minutes=1))
    assert community.rank_changes() == [] and community.state.notices == []
    assert community.marker.mark(community.state, "ewa", LAPSE).rank == "expert"


async def test_the_schedule_lowers_a_lapsing_rank_on_time_notified_once_also_after_a_replay(
    database_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "renewing.yaml"
    rules.write_text(RULES)
    async with open_api(make_settings(database_url, rules_path=rules)) as api:
        await api.post_events(
            accept("asker", answer("a1", "ewa", "q1"), at=MARCH_2026),
            accept("asker", answer("a2", "ewa", "q2"), at=MARCH_2026, minutes=5),
            accept("asker", answer("a3", "bob", "q3"), at=MARCH_2026, minutes=6),  # 50: a Member, never Expert
        )
        assert (await api.client.get("/v1/users/ewa")).json()["rank"]["id"] == "expert"
        # Nothing is due before the warning; the job may run any number of times, on any worker.
        assert await check_renewals(api.applier, WARNING - timedelta(minutes=1)) == 0
        assert await check_renewals(api.applier, WARNING + timedelta(days=2)) == 1
        assert await check_renewals(api.applier, WARNING + timedelta(days=3)) == 0
        assert await check_renewals(api.applier, LAPSE - timedelta(minutes=1)) == 0
        assert await check_renewals(api.applier, LAPSE + timedelta(minutes=1)) == 1
        assert await check_renewals(api.applier, LAPSE + timedelta(minutes=2)) == 0
        assert await check_renewals(api.applier, LAPSE + timedelta(days=400)) == 0
        async with api.runtime.sessionmaker() as session:
            stored = await session.execute(
                select(StoredEvent.event_id, StoredEvent.time).where(StoredEvent.type == RENEWAL_CHECK)
            )
            assert sorted((event_id, time) for event_id, time in stored) == [
                ("renewal/ewa/expert/lapse/2027-03-01", LAPSE),
                ("renewal/ewa/expert/warn/2027-03-01", WARNING),
            ]
        assert await notified(api) == EXPECTED

        # A replay (under the same rules) gives the same state and tells nobody anything again.
        async with api.runtime.sessionmaker() as session:
            live = await snapshot(session)
        async with unit_of_work(api.runtime.sessionmaker) as uow:
            await replay(uow.session, api.runtime.ruleset, 1000, "replay", utcnow())
        async with api.runtime.sessionmaker() as session:
            assert await snapshot(session) == live
        assert await notified(api) == EXPECTED
        assert await check_renewals(api.applier, LAPSE + timedelta(days=1)) == 0
        # The rank is lowered in the log: a later event does not bring it back or tell anyone again.
        await api.post_events(upvote("v1", answer("a1", "ewa", "q1"), at=LAPSE, minutes=30))
        assert await notified(api) == EXPECTED


EXPECTED = [
    ("rank.changed", "ewa", "up", None),
    ("rank.changed", "ewa", "up", None),
    ("rank.changed", "bob", "up", None),
    (
        "rank.renewal_due",
        "ewa",
        None,
        "Expert until 2027-03-01: 2 accepted answers in the last 12 months (2 needed); 2 more by then keep it",
    ),
    ("rank.changed", "ewa", "down", "lapsed: Expert needs 2 accepted answers in the last 12 months: 0 so far"),
]


async def notified(api: Api) -> list[tuple[str, str | None, str | None, str | None]]:
    """The rank notifications meant for delivery (a replay's are kept as suppressed, never sent)."""
    async with api.runtime.sessionmaker() as session:
        rows = await session.execute(
            select(OutboxMessage.topic, OutboxMessage.user_id, OutboxMessage.data)
            .where(OutboxMessage.topic.like("rank.%"), OutboxMessage.status != "suppressed")
            .order_by(OutboxMessage.id)
        )
        return [(topic, user_id, data.get("direction"), data.get("reason")) for topic, user_id, data in rows]
