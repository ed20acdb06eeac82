"""Ranks: titles by reputation, declared in the rules file, shown with progress to the next one."""

import pytest

from rewards.engine.loader import load_ruleset_text
from rewards.engine.ranks import standing
from rewards.errors import RulesetError
from tests.conftest import Api
from tests.engine_harness import Community
from tests.factories import accept, answer, upvote

RANKS = Community().ruleset.spec.ranks


@pytest.mark.parametrize(
    ("reputation", "title", "next_title", "needed", "progress"),
    [
        (-5, None, "Newcomer", 5, 0.0),
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
    assert body["rank"] == {"id": "contributor", "title": "Contributor", "reputation": 50}
    assert body["next_rank"] == {
        "id": "trusted",
        "title": "Trusted Helper",
        "reputation": 500,
        "reputation_needed": 435,
        "progress": 0.0333,
    }
    page = (await api.client.get("/v1/users", params={"ids": "expert,asker"})).json()
    assert [u["rank"]["title"] for u in page["users"]] == ["Contributor", "Newcomer"]
