"""Points read from the event (bounties): whole numbers only, within bounds, undone like any other award."""

import pytest

from rewards.engine.expressions import EvaluationError
from rewards.engine.loader import load_ruleset_text
from rewards.errors import RulesetError
from tests.engine_harness import Community
from tests.factories import answer, event

BOUNTY_RULES = """
ruleset: bounties
points:
  - id: bounty-start
    on: bounty.started
    label: "bounty on question {post.id}"
    slot: "bounty/{post.id}"
    award:
      - to: actor
        points: -bounty.amount
  - id: bounty-award
    on: bounty.awarded
    label: "bounty on answer {post.id}"
    award:
      - to: post.author
        points: bounty.amount
    undone_by: [bounty.revoked]
"""


def test_a_bounty_moves_the_amount_the_event_carries_from_the_asker_to_the_answerer() -> None:
    community = Community(load_ruleset_text(BOUNTY_RULES))
    q = {"id": "q1", "kind": "question", "author": "asker"}
    a = answer("a1", "expert", "q1")
    community.send(event("bounty.started", {"actor": "asker", "post": q, "bounty": {"amount": 50}}))
    community.send(event("bounty.awarded", {"actor": "asker", "post": a, "bounty": {"amount": 50}}, minutes=5))
    assert (community.rep("asker"), community.rep("expert")) == (-50, 50)
    community.send(event("bounty.revoked", {"actor": "mod", "post": a}, minutes=9))
    assert community.rep("expert") == 0


@pytest.mark.parametrize("amount", ["fifty", 12.5, None, 10**7])
def test_an_amount_that_is_not_a_whole_number_in_range_fails_the_event_with_the_reason(amount: object) -> None:
    community = Community(load_ruleset_text(BOUNTY_RULES))
    a = answer("a1", "expert", "q1")
    with pytest.raises(EvaluationError, match=r"bounty-award.*points `bounty\.amount`"):
        community.send(event("bounty.awarded", {"actor": "asker", "post": a, "bounty": {"amount": amount}}))
    assert community.rep("expert") == 0


def test_points_that_are_neither_a_number_nor_an_expression_are_refused_at_load() -> None:
    with pytest.raises(RulesetError, match="points"):
        load_ruleset_text(BOUNTY_RULES.replace("points: bounty.amount", "points: bounty amount"))
