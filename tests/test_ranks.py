"""Ranks: titles by reputation, declared in the rules file, shown with progress to the next one."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from rewards.engine.loader import load_ruleset_text
from rewards.engine.marks import Marker
from rewards.engine.ranks import standing
from rewards.engine.state import BadgeHolding, BadgeSource, UserState, WorkingState
from rewards.errors import RulesetError
from rewards.outbox.models import OutboxMessage
from tests.conftest import Api, make_settings, open_api
from tests.engine_harness import Community
from tests.factories import accept, answer, upvote

RANKS = Community().ruleset.spec.ranks


@pytest.mark.parametrize(
    ("reputation", "title", "next_title", "needed", "progress"),
    [
        (-5, "Newcomer", "Contributor", 55, 0.0),  # the first rank is everyone's, below zero too
        (0, "Newcomer", "Contributor", 50, 0.0),
        (25, "Newcomer", "Contributor", 25, 0.5),
        (50, "Contributor", "Trusted Helper", 450, 0.0),
        (1999, "Trusted Helper", "Expert", 1, 0.9993),
        (10_000, "Guru", None, None, 1.0),
    ],
)
def test_standing_is_the_highest_title_reached_and_the_way_to_the_next(
    reputation: int, title: str | None, next_title: str | None, needed: int | None, progress: float
) -> None:
    where = standing(RANKS, reputation)
    assert (where.rank.title if where.rank else None) == title
    assert (where.next_rank.title if where.next_rank else None) == next_title
    assert where.reputation_needed == needed and where.progress == progress


def test_ranks_out_of_order_are_refused_with_their_line() -> None:
    rules = (
        "ruleset: r\nranks:\n  - id: a\n    title: A\n    reputation: 0\n  - id: b\n    title: B\n    reputation: 0\n"
    )
    with pytest.raises(RulesetError) as error:
        load_ruleset_text(rules, "r.yaml")
    assert error.value.detail[0]["line"] == 8 and "lowest to highest" in error.value.detail[0]["message"]
    with pytest.raises(RulesetError, match="must be 0"):
        load_ruleset_text("ruleset: r\nranks:\n  - id: a\n    title: A\n    reputation: 10\n", "r.yaml")


async def test_a_profile_shows_rank_and_progress(api: Api) -> None:
    posts = [answer(f"a{i}", "expert", "q1") for i in range(5)]
    await api.post_events(*(upvote(f"v{i}", post) for i, post in enumerate(posts)), accept("asker", posts[0]))
    body = (await api.client.get("/v1/users/expert")).json()
    assert body["reputation"] == 65
    assert body["rank"] == {"id": "contributor", "title": "Contributor", "reputation": 50, "renewal": None}
    assert body["next_rank"] == {
        "id": "trusted",
        "title": "Trusted Helper",
        "reputation": 500,
        "renewal": None,
        "reputation_needed": 435,
        "progress": 0.0333,
        "badges_needed": [],
    }
    page = (await api.client.get("/v1/users", params={"ids": "expert,asker"})).json()
    assert [u["rank"]["title"] for u in page["users"]] == ["Contributor", "Newcomer"]


T = datetime(2026, 11, 23, tzinfo=UTC)

RANKS_WITH_BADGES = """
ruleset: badge-ranks
counters:
  accepted_answers: {name: Accepted answers}
points:
  - id: upvote
    on: post.upvoted
    award: [{to: post.author, points: 10}]
  - id: accepted
    on: answer.accepted
    award: [{to: post.author, points: 15, counts: [accepted_answers]}]
badges:
  - {id: solver, name: Solver, description: Accepted answers., counter: accepted_answers, tiers: {bronze: 1, silver: 2}}
ranks:
  - {id: newcomer, title: Newcomer, reputation: 0}
  - {id: expert, title: Expert, reputation: 20, badges: [solver/silver]}
  - {id: guru, title: Guru, reputation: 100}
"""


@pytest.fixture
async def badge_ranks_api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The API under RANKS_WITH_BADGES."""
    rules = tmp_path / "ranks.yaml"
    rules.write_text(RANKS_WITH_BADGES)
    async with open_api(make_settings(database_url, rules_path=rules)) as api:
        yield api


def test_a_rank_that_needs_badges_waits_for_them_and_says_which() -> None:
    community = Community(load_ruleset_text(RANKS_WITH_BADGES))
    ranks = community.ruleset.spec.ranks
    a1, a2 = answer("a1", "ewa", "q1"), answer("a2", "ewa", "q2")
    community.send(upvote("v1", a1), upvote("v2", a1), upvote("v3", a1))
    held = [(h.badge_id, h.tier) for h in community.state.badges_of("ewa") if h.held]
    where = standing(ranks, community.rep("ewa"), held)
    assert (where.rank.title if where.rank else None, where.badges_needed, where.reputation_needed) == (
        "Newcomer",
        ("solver/silver",),
        0,
    )
    community.send(accept("asker", a1), accept("asker2", a2))
    held = [(h.badge_id, h.tier) for h in community.state.badges_of("ewa") if h.held]
    assert standing(ranks, community.rep("ewa"), held).rank.title == "Expert"  # type: ignore[union-attr]
    # A higher title that needs no badge is not blocked by a lower one that does.
    assert standing(ranks, 150, []).rank.title == "Guru"  # type: ignore[union-attr]


def test_a_rank_naming_an_unknown_badge_is_refused() -> None:
    with pytest.raises(RulesetError, match="no badge 'nope'"):
        load_ruleset_text(RANKS_WITH_BADGES.replace("solver/silver", "nope"))


async def test_the_api_shows_the_badges_a_rank_still_needs(badge_ranks_api: Api) -> None:
    api = badge_ranks_api
    a1 = answer("a1", "ewa", "q1")
    await api.post_events(upvote("v1", a1), upvote("v2", a1), accept("asker", a1))
    user = (await api.client.get("/v1/users/ewa")).json()
    assert user["rank"]["title"] == "Newcomer"
    assert user["next_rank"]["title"] == "Expert" and user["next_rank"]["badges_needed"] == ["solver/silver"]
    await api.post_events(accept("asker2", answer("a2", "ewa", "q2")))
    assert (await api.client.get("/v1/users/ewa")).json()["rank"]["title"] == "Expert"


def test_a_badge_alone_can_change_a_rank_and_it_is_notified() -> None:
    """Accepted answers that give no points but earn Solver silver make a 30-reputation user an Expert."""
    community = Community(load_ruleset_text(RANKS_WITH_BADGES.replace("points: 15, counts", "points: 0, counts")))
    a1, a2 = answer("a1", "ewa", "q1"), answer("a2", "ewa", "q2")
    community.send(upvote("v1", a1), upvote("v2", a1), upvote("v3", a1))
    assert [n.data["to"]["id"] for n in community.rank_changes()] == []
    community.state.committed()
    community.send(accept("asker", a1), accept("asker2", a2))
    assert community.rep("ewa") == 30
    [notice] = community.rank_changes()
    assert (notice.user_id, notice.data["from"]["id"], notice.data["to"]["id"], notice.data["direction"]) == (
        "ewa",
        "newcomer",
        "expert",
        "up",
    )


async def test_a_badge_granted_or_revoked_by_hand_that_moves_a_rank_is_notified(badge_ranks_api: Api) -> None:
    api = badge_ranks_api
    a1 = answer("a1", "ewa", "q1")
    await api.post_events(upvote("v1", a1), upvote("v2", a1), upvote("v3", a1))
    assert (await api.client.get("/v1/users/ewa")).json()["rank"]["title"] == "Newcomer"
    body = {"user_id": "ewa", "badge_id": "solver", "tier": "silver", "reason": "migrated from the old forum"}
    assert (await api.client.post("/v1/admin/badges/grant", json=body)).status_code == 201
    assert (await api.client.get("/v1/users/ewa")).json()["rank"]["title"] == "Expert"
    assert (await api.client.post("/v1/admin/badges/revoke", json=body)).status_code == 200
    assert (await api.client.get("/v1/users/ewa")).json()["rank"]["title"] == "Newcomer"
    async with api.runtime.sessionmaker() as session:
        rows = await session.execute(
            select(OutboxMessage.data).where(OutboxMessage.topic == "rank.changed").order_by(OutboxMessage.id)
        )
        changes = [(data["from"]["id"], data["to"]["id"], data["direction"]) for (data,) in rows]
    assert changes == [("newcomer", "expert", "up"), ("expert", "newcomer", "down")]


@settings(max_examples=200, deadline=None)
@given(
    reputation=st.integers(min_value=-50, max_value=250),
    tiers=st.sets(st.sampled_from(["bronze", "silver"])),
)
def test_the_mark_of_a_user_names_the_rank_their_standing_gives(reputation: int, tiers: set[str]) -> None:
    """The apply step notices rank changes through marks (`rewards.engine.marks`), which look up the rank
    without the rest of the standing: they must always agree with it, badges needed by a rank included."""
    ruleset = load_ruleset_text(RANKS_WITH_BADGES)
    state = WorkingState()
    state.users["ewa"] = UserState(user_id="ewa", reputation=reputation)
    for tier in sorted(tiers):
        state.put_badge(
            BadgeHolding("ewa", "solver", tier, "", T, 1, BadgeSource.RULE, "accepted answers"), loaded=True
        )
    expected = standing(ruleset.spec.ranks, reputation, {("solver", tier) for tier in tiers}).rank
    mark = Marker(ruleset, perks=False).mark(state, "ewa", T)
    assert mark.rank == (expected.id if expected is not None else None)
