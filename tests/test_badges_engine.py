"""Counters, streaks and badges in the pure core: tiers, post badges, streaks of UTC days, undo, removal, ranks."""

from datetime import UTC, datetime, timedelta
from textwrap import dedent
from typing import Any

import pytest

from rewards.engine.loader import load_ruleset_text
from rewards.engine.ruleset import Ruleset
from rewards.engine.state import BadgeHolding, Notice
from rewards.errors import RulesetError
from tests.engine_harness import Community
from tests.factories import (
    BASE_TIME,
    accept,
    answer,
    event,
    remove,
    restore,
    retract,
    unaccept,
    upvote,
)

A = answer("a1", "expert", "q1")
A2 = answer("a2", "expert", "q2")

# Points and counters shared by the small rulesets below; each test adds the badges it is about.
SMALL_RULES = """\
ruleset: small
counters:
  answers:
    name: Answers
  accepted_answers:
    name: Accepted answers
    scope: post.category
  post_score:
    name: Score
    per: post
points:
  - id: answer-posted
    on: answer.posted
    award:
      - to: post.author
        points: 0
        counts: [answers]
  - id: upvote
    on: post.upvoted
    when: actor != post.author
    slot: "vote/{post.id}/{actor}"
    award:
      - to: post.author
        points: 10
        counts: [post_score]
    undone_by:
      - on: vote.retracted
        when: vote == "up"
    suspended_by: [post.removed]
    restored_by: [post.restored]
  - id: accepted-answer
    on: answer.accepted
    when: actor != post.author
    slot: "accept/{post.question}"
    award:
      - to: post.author
        points: 15
        counts: [accepted_answers]
    undone_by: [answer.unaccepted]
    suspended_by: [post.removed]
    restored_by: [post.restored]
badges:
"""


def small_rules(badges: str) -> Ruleset:
    return load_ruleset_text(SMALL_RULES + dedent(badges), "small.yaml")


def answered(author: str, post_id: str, at: datetime) -> dict[str, Any]:
    return event("answer.posted", {"actor": author, "post": answer(post_id, author, f"q-{post_id}")}, at=at)


def accepted_answer(n: int, author: str = "expert", category: str = "routers") -> dict[str, Any]:
    """Asker `asker{n}` accepts `author`'s answer to question q{n}."""
    return accept(f"asker{n}", answer(f"{category}-a{n}", author, f"{category}-q{n}", category), minutes=n)


def held(c: Community, user: str, badge: str) -> list[tuple[str, str]]:
    """(tier, post) of the badge's holdings the user currently holds."""
    return sorted((h.tier, h.post) for h in c.state.badges_of(user) if h.badge_id == badge and h.held)


def holding(c: Community, user: str, badge: str, tier: str = "bronze", post: str = "") -> BadgeHolding:
    return c.state.badges[(user, badge, tier, post)]


def notices(c: Community, topic: str, badge: str) -> list[Notice]:
    return [n for n in c.state.notices if n.topic == topic and n.data["badge"] == badge]


def revoke_by_manager(c: Community, key: tuple[str, str, str, str]) -> None:
    found = c.state.badges[key]
    found.revoked_at = BASE_TIME
    found.revoked_reason = "awarded for a copied answer"
    found.revoked_by = "manager:m1"


# -- tiers -------------------------------------------------------------------------------------------------


def test_a_tiered_badge_climbs_one_tier_at_each_threshold_and_notifies_each_tier_once() -> None:
    c = Community(
        small_rules("""
        - id: solver
          name: Solver
          description: Accepted answers.
          counter: accepted_answers
          tiers: {bronze: 1, silver: 3, gold: 5}
        """)
    )
    c.send(accepted_answer(1))
    assert held(c, "expert", "solver") == [("bronze", "")]
    c.send(accepted_answer(2))
    assert held(c, "expert", "solver") == [("bronze", "")]
    c.send(accepted_answer(3))
    assert held(c, "expert", "solver") == [("bronze", ""), ("silver", "")]
    assert holding(c, "expert", "solver", "silver").event_seq == 3
    c.send(accepted_answer(4), accepted_answer(5), accepted_answer(6))
    assert held(c, "expert", "solver") == [("bronze", ""), ("gold", ""), ("silver", "")]
    assert holding(c, "expert", "solver", "gold").event_seq == 5
    awarded = notices(c, "badge.awarded", "solver")
    assert [n.data["tier"] for n in awarded] == ["bronze", "silver", "gold"]
    assert awarded[1].data["reason"] == "Accepted answers reached 3"


def test_default_solver_is_bronze_at_the_first_accepted_answer_and_silver_at_the_twenty_fifth() -> None:
    c = Community()
    c.send(accepted_answer(1))
    assert held(c, "expert", "solver") == [("bronze", "")]
    c.send(*(accepted_answer(n) for n in range(2, 25)))
    assert held(c, "expert", "solver") == [("bronze", "")]
    c.send(accepted_answer(25))
    assert held(c, "expert", "solver") == [("bronze", ""), ("silver", "")]
    assert c.state.counters[("expert", "accepted_answers", "")] == 25


def test_accepting_ones_own_answer_does_not_count_towards_solver() -> None:
    c = Community()
    c.send(accept("expert", A))
    assert held(c, "expert", "solver") == []
    assert c.state.counters.get(("expert", "accepted_answers", ""), 0) == 0


# -- post badges ---------------------------------------------------------------------------------------------


def test_nice_answer_is_granted_once_per_post_and_again_for_a_second_post() -> None:
    c = Community()
    c.send(*(upvote(f"v{i}", A) for i in range(9)))
    assert held(c, "expert", "nice-answer") == []
    c.send(upvote("v9", A))
    assert held(c, "expert", "nice-answer") == [("bronze", "a1")]
    c.send(upvote("v10", A), upvote("v11", A))  # more votes on the same post: nothing new
    assert len(notices(c, "badge.awarded", "nice-answer")) == 1
    c.send(*(upvote(f"v{i}", A2) for i in range(10)))
    assert held(c, "expert", "nice-answer") == [("bronze", "a1"), ("bronze", "a2")]
    assert [n.data["post"] for n in notices(c, "badge.awarded", "nice-answer")] == ["a1", "a2"]


def test_nice_answer_counts_answers_only_and_nice_question_questions_only() -> None:
    c = Community()
    q = {"id": "q1", "kind": "question", "author": "asker", "category": "routers"}
    c.send(*(upvote(f"v{i}", q) for i in range(10)))
    assert held(c, "asker", "nice-question") == [("bronze", "q1")]
    assert held(c, "asker", "nice-answer") == []


def test_teacher_is_granted_once_for_the_first_answer_with_a_score_not_for_later_ones() -> None:
    c = Community()
    c.send(upvote("v1", A))
    assert held(c, "expert", "teacher") == [("bronze", "a1")]
    c.send(upvote("v1", A2), upvote("v2", A2))
    assert held(c, "expert", "teacher") == [("bronze", "a1")]
    assert len(notices(c, "badge.awarded", "teacher")) == 1


@pytest.mark.parametrize("accepted_first", [True, False], ids=["accepted-then-score", "score-then-accepted"])
def test_enlightened_needs_both_a_score_of_ten_and_the_accept_in_either_order(accepted_first: bool) -> None:
    c = Community()
    votes = [upvote(f"v{i}", A) for i in range(10)]
    if accepted_first:
        c.send(accept("asker", A), *votes[:9])
        assert held(c, "expert", "enlightened") == []
        c.send(votes[9])
    else:
        c.send(*votes)
        assert held(c, "expert", "enlightened") == []
        c.send(accept("asker", A))
    assert held(c, "expert", "enlightened") == [("silver", "a1")]
    assert holding(c, "expert", "enlightened", "silver", "a1").event_seq == c.seq


def test_enlightened_is_not_granted_for_an_accept_on_another_post() -> None:
    c = Community()
    c.send(*(upvote(f"v{i}", A) for i in range(10)), accept("asker", A2))
    assert held(c, "expert", "enlightened") == []


# -- streaks -------------------------------------------------------------------------------------------------

STREAK_RULES = """
- id: regular
  name: Regular
  description: Answered on 3 consecutive days.
  streak: answers
  level: bronze
  at: 3
"""


def day(n: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 3, 1, hour, minute, tzinfo=UTC) + timedelta(days=n)


def test_a_streak_continues_from_2359_to_0001_of_the_next_utc_day() -> None:
    c = Community(small_rules(STREAK_RULES))
    c.send(answered("u", "p1", day(0, 23, 59)), answered("u", "p2", day(1, 0, 1)))
    streak = c.state.streaks[("u", "answers")]
    assert (streak.length, streak.last_day) == (2, day(1).date())


def test_several_answers_on_one_day_count_as_one_day_of_the_streak() -> None:
    c = Community(small_rules(STREAK_RULES))
    c.send(*(answered("u", f"p{i}", day(0, 0, i)) for i in range(5)))
    assert c.state.streaks[("u", "answers")].length == 1
    c.send(answered("u", "p9", day(1)), answered("u", "p10", day(1, 23, 59)))
    assert c.state.streaks[("u", "answers")].length == 2
    assert held(c, "u", "regular") == []


def test_a_skipped_day_starts_the_streak_again_and_keeps_the_best_run() -> None:
    c = Community(small_rules(STREAK_RULES))
    c.send(answered("u", "p1", day(0)), answered("u", "p2", day(1)))
    c.send(answered("u", "p3", day(3)))
    streak = c.state.streaks[("u", "answers")]
    assert (streak.length, streak.best, streak.last_day) == (1, 2, day(3).date())
    c.send(answered("u", "p4", day(4)))
    assert held(c, "u", "regular") == []


def test_the_streak_badge_is_granted_on_the_day_the_run_reaches_the_threshold() -> None:
    c = Community(small_rules(STREAK_RULES))
    c.send(answered("u", "p1", day(0)), answered("u", "p2", day(1)))
    assert held(c, "u", "regular") == []
    c.send(answered("u", "p3", day(2, 0, 0)))
    assert held(c, "u", "regular") == [("bronze", "")]
    assert holding(c, "u", "regular").granted_at == day(2, 0, 0)
    assert notices(c, "badge.awarded", "regular")[0].data["reason"] == "Answers: consecutive days reached 3"


def test_default_enthusiast_needs_thirty_consecutive_days_of_answers() -> None:
    c = Community()
    c.send(*(answered("u", f"p{n}", day(n)) for n in range(29)))
    assert held(c, "u", "enthusiast") == []
    c.send(answered("u", "p29", day(29)))
    assert held(c, "u", "enthusiast") == [("bronze", "")]


# -- undo: badges stay by default, or are taken back when revocable ------------------------------------------


def test_by_default_a_badge_stays_after_the_votes_that_earned_it_are_retracted() -> None:
    c = Community()
    c.send(*(upvote(f"v{i}", A) for i in range(10)), accept("asker", A))
    c.send(retract("v0", A, "up"), unaccept("asker", A))
    assert c.state.counters[("a1", "post_score", "")] == 9
    assert c.state.counters[("expert", "accepted_answers", "")] == 0
    for badge, tier, post in (
        ("nice-answer", "bronze", "a1"),
        ("enlightened", "silver", "a1"),
        ("solver", "bronze", ""),
    ):
        assert holding(c, "expert", badge, tier, post).held, badge
    assert [n for n in c.state.notices if n.topic == "badge.revoked"] == []


REVOCABLE_RULES = """
- id: popular
  name: Popular
  description: An answer with a score of 2.
  post: post_score
  level: bronze
  at: 2
  revocable: true
- id: solver
  name: Solver
  description: Accepted answers.
  counter: accepted_answers
  tiers: {bronze: 1, silver: 2}
  revocable: true
"""


def test_a_revocable_post_badge_is_revoked_by_the_rules_and_granted_again_when_the_score_comes_back() -> None:
    c = Community(small_rules(REVOCABLE_RULES))
    c.send(upvote("v1", A), upvote("v2", A))
    assert held(c, "expert", "popular") == [("bronze", "a1")]
    c.send(retract("v2", A, "up", minutes=5))
    revoked = holding(c, "expert", "popular", post="a1")
    assert not revoked.held
    assert revoked.revoked_by == "rules"
    assert revoked.revoked_at == BASE_TIME + timedelta(minutes=5)
    assert revoked.revoked_reason == "Score fell below 2"
    assert [n.data["post"] for n in notices(c, "badge.revoked", "popular")] == ["a1"]
    c.send(upvote("v3", A))
    assert held(c, "expert", "popular") == [("bronze", "a1")]
    assert len(notices(c, "badge.awarded", "popular")) == 2


def test_a_revocable_tiered_badge_loses_only_the_tiers_whose_threshold_is_no_longer_met() -> None:
    c = Community(small_rules(REVOCABLE_RULES))
    first, second = answer("a1", "expert", "q1"), answer("a2", "expert", "q2")
    c.send(accept("asker1", first), accept("asker2", second))
    assert held(c, "expert", "solver") == [("bronze", ""), ("silver", "")]
    c.send(unaccept("asker2", second))
    assert held(c, "expert", "solver") == [("bronze", "")]
    assert holding(c, "expert", "solver", "silver").revoked_by == "rules"
    c.send(accept("asker2", second))
    assert held(c, "expert", "solver") == [("bronze", ""), ("silver", "")]
    assert holding(c, "expert", "solver", "silver").revoked_at is None


def test_a_revocable_once_only_post_badge_is_revoked_when_its_post_falls_below_the_threshold() -> None:
    c = Community(
        small_rules("""
        - id: first-score
          name: First Score
          description: The first answer with a score of 1.
          post: post_score
          level: bronze
          at: 1
          repeat: false
          revocable: true
        """)
    )
    c.send(upvote("v1", A))
    assert held(c, "expert", "first-score") == [("bronze", "a1")]
    c.send(retract("v1", A, "up"))
    assert held(c, "expert", "first-score") == []
    assert holding(c, "expert", "first-score", post="a1").revoked_by == "rules"


# -- removal and restore move the counters -------------------------------------------------------------------


def test_removing_a_post_lowers_its_counters_and_restoring_it_raises_them_again() -> None:
    c = Community()
    c.send(upvote("v1", A), upvote("v2", A), accept("asker", A))
    counted = {
        ("a1", "post_score", ""): 2,
        ("a1", "post_score", "answer"): 2,
        ("a1", "accepted", ""): 1,
        ("expert", "accepted_answers", ""): 1,
        ("expert", "accepted_answers", "routers"): 1,
    }
    assert {key: c.state.counters[key] for key in counted} == counted
    c.send(remove("mod", A, "off-topic"))
    assert {key: c.state.counters[key] for key in counted} == dict.fromkeys(counted, 0)
    c.send(restore("mod", A))
    assert {key: c.state.counters[key] for key in counted} == counted


def test_a_vote_arriving_while_the_post_is_removed_counts_only_once_it_is_restored() -> None:
    c = Community()
    c.send(remove("mod", A, "off-topic"), upvote("v1", A))
    assert c.state.counters.get(("a1", "post_score", ""), 0) == 0
    assert held(c, "expert", "teacher") == []
    c.send(restore("mod", A))
    assert c.state.counters[("a1", "post_score", "")] == 1
    assert held(c, "expert", "teacher") == [("bronze", "a1")]


# -- scoped counters and reputation ----------------------------------------------------------------------------


def test_router_expert_counts_only_accepted_answers_in_the_routers_category() -> None:
    c = Community()
    c.send(*(accepted_answer(n, category="routers") for n in range(4)))
    c.send(*(accepted_answer(n, category="billing") for n in range(3)))
    assert c.state.counters[("expert", "accepted_answers", "")] == 7
    assert held(c, "expert", "router-expert") == []
    c.send(accepted_answer(4, category="routers"))
    assert c.state.counters[("expert", "accepted_answers", "routers")] == 5
    assert c.state.counters[("expert", "accepted_answers", "billing")] == 3
    assert held(c, "expert", "router-expert") == [("bronze", "")]
    assert held(c, "expert", "billing-expert") == []


def test_a_reputation_badge_is_granted_when_reputation_reaches_its_threshold() -> None:
    c = Community(
        small_rules("""
        - id: established
          name: Established
          description: Reached 30 reputation.
          reputation: true
          level: silver
          at: 30
        """)
    )
    c.send(upvote("v1", A), upvote("v2", A))
    assert held(c, "expert", "established") == []
    c.send(upvote("v3", A2))
    assert c.rep("expert") == 30
    assert held(c, "expert", "established") == [("silver", "")]
    assert holding(c, "expert", "established", "silver").reason == "reputation reached 30"


# -- ranks ---------------------------------------------------------------------------------------------------


def test_rank_changes_tell_of_a_rank_gained_and_of_a_rank_lost() -> None:
    c = Community()
    c.send(*(upvote(f"v{i}", A) for i in range(4)))
    assert c.rank_changes() == []  # 40: still a Newcomer
    c.state.committed()
    c.send(upvote("v4", A))
    [up] = c.rank_changes()
    assert (up.topic, up.user_id) == ("rank.changed", "expert")
    assert up.data == {
        "from": {"id": "newcomer", "title": "Newcomer"},
        "to": {"id": "contributor", "title": "Contributor"},
        "reputation": 50,
        "direction": "up",
    }
    c.state.committed()
    c.send(retract("v4", A, "up"))
    [down] = c.rank_changes()
    assert (down.data["from"]["id"], down.data["to"]["id"], down.data["direction"]) == (
        "contributor",
        "newcomer",
        "down",
    )
    assert up.key != down.key


def test_a_rank_lost_and_regained_is_told_twice_each_with_its_event_however_the_events_are_batched() -> None:
    """Rank changes follow the log: a retraction and a new vote that leave reputation where it started still
    took the title away and gave it back, as one-at-a-time application tells (it used to be silent when both
    came in one batch, and two notices when they came in two)."""
    together = Community()
    together.send(*(upvote(f"v{i}", A) for i in range(5)))
    together.state.committed()
    together.send(retract("v4", A, "up"), upvote("v4", A))
    one_at_a_time = Community()
    one_at_a_time.send(*(upvote(f"v{i}", A) for i in range(5)))
    notices = []
    for vote in (retract("v4", A, "up"), upvote("v4", A)):
        one_at_a_time.state.committed()
        one_at_a_time.send(vote)
        notices += one_at_a_time.rank_changes()
    told = [(n.data["from"]["id"], n.data["to"]["id"]) for n in together.rank_changes()]
    assert told == [("contributor", "newcomer"), ("newcomer", "contributor")]
    assert [(n.data["from"]["id"], n.data["to"]["id"]) for n in notices] == told


# -- a manager's revocation sticks ---------------------------------------------------------------------------


def test_a_counter_badge_revoked_by_a_manager_is_not_granted_again_by_the_rules() -> None:
    c = Community()
    c.send(accepted_answer(1))
    revoke_by_manager(c, ("expert", "solver", "bronze", ""))
    c.send(accepted_answer(2))
    assert held(c, "expert", "solver") == []
    assert holding(c, "expert", "solver").revoked_by == "manager:m1"
    assert len(notices(c, "badge.awarded", "solver")) == 1


def test_a_post_badge_revoked_by_a_manager_is_not_granted_again_for_that_post() -> None:
    c = Community()
    c.send(*(upvote(f"v{i}", A) for i in range(10)))
    revoke_by_manager(c, ("expert", "nice-answer", "bronze", "a1"))
    c.send(upvote("v10", A))
    assert holding(c, "expert", "nice-answer", post="a1").revoked_by == "manager:m1"
    assert held(c, "expert", "nice-answer") == []


def test_teacher_revoked_by_a_manager_is_not_granted_again_when_the_same_answer_scores_again() -> None:
    c = Community()
    c.send(upvote("v1", A))
    revoke_by_manager(c, ("expert", "teacher", "bronze", "a1"))
    c.send(upvote("v2", A))
    assert holding(c, "expert", "teacher", post="a1").revoked_by == "manager:m1"
    assert held(c, "expert", "teacher") == []


def test_teacher_revoked_by_a_manager_is_not_granted_again_for_another_answer() -> None:
    c = Community()
    c.send(upvote("v1", A))
    revoke_by_manager(c, ("expert", "teacher", "bronze", "a1"))
    c.send(upvote("v1", A2))
    assert held(c, "expert", "teacher") == []


# -- rules files that are refused ----------------------------------------------------------------------------


def refused(badges: str) -> dict[str, Any]:
    with pytest.raises(RulesetError) as raised:
        small_rules(badges)
    [problem] = raised.value.detail
    assert problem["file"] == "small.yaml"
    assert problem["message"] in raised.value.message
    found: dict[str, Any] = problem
    return found


BADGES_LINE = SMALL_RULES.splitlines().index("badges:") + 1  # 1-based line of `badges:`


def test_a_badge_naming_an_undeclared_counter_is_refused_at_that_field() -> None:
    problem = refused("""
    - id: helper
      name: Helper
      description: Helped.
      counter: helpful_flags
      level: bronze
      at: 1
    """)
    assert problem["field"] == "badges.0.counter"
    assert problem["line"] == BADGES_LINE + 5
    assert problem["message"] == (
        "counter 'helpful_flags' is not declared in `counters` (accepted_answers, answers, post_score)"
    )


def test_a_post_badge_naming_a_per_user_counter_is_refused_at_that_field() -> None:
    problem = refused("""
    - id: nice
      name: Nice
      description: Nice.
      post: answers
      level: bronze
      at: 10
    """)
    assert problem["field"] == "badges.0.post"
    assert problem["line"] == BADGES_LINE + 5
    assert problem["message"] == "`post` needs a counter with `per: post`; 'answers' is `per: user`"


def test_a_badge_with_both_level_and_tiers_is_refused() -> None:
    problem = refused("""
    - id: solver
      name: Solver
      description: Accepted answers.
      counter: accepted_answers
      level: bronze
      at: 1
      tiers: {bronze: 1, silver: 25}
    """)
    assert problem["field"] == "badges.0"
    assert problem["line"] == BADGES_LINE + 2
    assert "either `level` and `at` (one level) or `tiers`, not both" in problem["message"]
