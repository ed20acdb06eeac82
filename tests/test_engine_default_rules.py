"""The shipped default ruleset reproduces Stack Exchange's reputation rules (pure core, no database)."""

from datetime import timedelta

from tests.engine_harness import Community
from tests.factories import (
    BASE_TIME,
    accept,
    answer,
    downvote,
    event,
    question,
    remove,
    restore,
    retract,
    unaccept,
    upvote,
)

Q = question("q1", "asker")
A = answer("a1", "expert", "q1")
B = answer("a2", "rival", "q1")


def test_upvotes_give_ten_to_the_author_of_a_question_or_an_answer() -> None:
    c = Community()
    c.send(upvote("v1", Q), upvote("v1", A), upvote("v2", A))
    assert c.rep("asker") == 10
    assert c.rep("expert") == 20
    assert c.rep("v1") == 0


def test_downvote_costs_author_two_and_voter_one_on_answers_only() -> None:
    c = Community()
    c.send(downvote("v1", A))
    assert (c.rep("expert"), c.rep("v1")) == (-2, -1)
    c.send(downvote("v2", Q))
    assert (c.rep("asker"), c.rep("v2")) == (-2, 0)


def test_a_new_vote_replaces_the_voters_earlier_vote_and_a_repeat_is_a_no_op() -> None:
    c = Community()
    c.send(upvote("v1", A))
    written = c.send(upvote("v1", A))
    assert written == []
    assert c.rep("expert") == 10
    c.send(downvote("v1", A))
    assert (c.rep("expert"), c.rep("v1")) == (-2, -1)
    c.send(upvote("v1", A))
    assert (c.rep("expert"), c.rep("v1")) == (10, 0)


def test_retracting_a_vote_undoes_it_with_a_compensating_entry() -> None:
    c = Community()
    first = c.send(upvote("v1", A))
    undo = c.send(retract("v1", A, "up"))
    assert c.rep("expert") == 0
    assert [(e.points, e.reverses_id) for e in undo] == [(-10, first[0].id)]
    c.send(downvote("v1", A), retract("v1", A, "down"))
    assert (c.rep("expert"), c.rep("v1")) == (0, 0)


def test_retracting_a_vote_the_voter_does_not_have_changes_nothing() -> None:
    c = Community()
    c.send(upvote("v1", A))
    assert c.send(retract("v1", A, "down"), retract("v2", A, "up")) == []
    assert c.rep("expert") == 10


def test_votes_on_ones_own_post_and_accepting_ones_own_answer_earn_nothing() -> None:
    c = Community()
    own = answer("a9", "asker", "q1")
    c.send(upvote("asker", Q), downvote("asker", own), accept("asker", own))
    assert c.rep("asker") == 0


def test_accept_gives_fifteen_to_the_answerer_and_two_to_the_asker() -> None:
    c = Community()
    c.send(accept("asker", A))
    assert (c.rep("expert"), c.rep("asker")) == (15, 2)
    c.send(unaccept("asker", A))
    assert (c.rep("expert"), c.rep("asker")) == (0, 0)


def test_accepting_another_answer_undoes_the_earlier_accept() -> None:
    c = Community()
    c.send(accept("asker", A), accept("asker", B))
    assert (c.rep("expert"), c.rep("rival"), c.rep("asker")) == (0, 15, 2)
    c.send(accept("asker", B))  # again: no-op
    assert (c.rep("rival"), c.rep("asker")) == (15, 2)


def test_accepting_ones_own_answer_still_replaces_the_earlier_accept() -> None:
    c = Community()
    own = answer("a9", "asker", "q1")
    c.send(accept("asker", A), accept("asker", own))
    assert (c.rep("expert"), c.rep("asker")) == (0, 0)


def test_unaccepting_an_answer_that_is_not_the_accepted_one_changes_nothing() -> None:
    c = Community()
    c.send(accept("asker", A))
    assert c.send(unaccept("asker", B)) == []
    assert c.rep("expert") == 15


def test_removal_undoes_votes_and_accepts_for_everyone_and_restore_puts_them_back() -> None:
    c = Community()
    c.send(upvote("v1", A), downvote("v2", A), accept("asker", A))
    before = {user: c.rep(user) for user in ("expert", "v1", "v2", "asker")}
    assert before == {"expert": 10 - 2 + 15, "v1": 0, "v2": -1, "asker": 2}
    c.send(remove("mod", A, "off-topic"))
    assert {user: c.rep(user) for user in before} == {"expert": 0, "v1": 0, "v2": 0, "asker": 0}
    c.send(restore("mod", A))
    assert {user: c.rep(user) for user in before} == before


def test_spam_or_offensive_removal_costs_the_author_a_hundred_until_restored() -> None:
    for reason, penalty in (("spam", -100), ("offensive", -100), ("duplicate", 0)):
        c = Community()
        c.send(upvote("v1", A))
        c.send(remove("mod", A, reason))
        assert c.rep("expert") == penalty, reason
        c.send(restore("mod", A))
        assert c.rep("expert") == 10, reason


def test_votes_while_a_post_is_removed_count_once_it_is_restored() -> None:
    c = Community()
    c.send(remove("mod", A, "off-topic"), upvote("v1", A))
    assert c.rep("expert") == 0
    c.send(restore("mod", A))
    assert c.rep("expert") == 10


def test_a_vote_retracted_while_the_post_is_removed_stays_undone_after_restore() -> None:
    c = Community()
    c.send(upvote("v1", A), remove("mod", A, "off-topic"), retract("v1", A, "up"), restore("mod", A))
    assert c.rep("expert") == 0


def _posts(n: int) -> list[dict[str, object]]:
    return [answer(f"a{i}", "expert", "q1") for i in range(n)]


def test_upvote_gains_are_capped_at_200_per_utc_day() -> None:
    c = Community()
    c.send(*(upvote(f"v{i}", post, minutes=i) for i, post in enumerate(_posts(25))))
    assert c.rep("expert") == 200
    assert sum(1 for e in c.state.entries if e.points == 0 and "daily cap" in e.reason) == 5


def test_the_cap_is_per_utc_day_of_the_vote_and_accepts_are_not_capped() -> None:
    c = Community()
    late = BASE_TIME.replace(hour=23, minute=50)
    c.send(*(upvote(f"v{i}", post, at=late) for i, post in enumerate(_posts(21))))
    c.send(*(upvote(f"w{i}", post, at=late + timedelta(minutes=20)) for i, post in enumerate(_posts(3))))
    c.send(accept("asker", _posts(1)[0], at=late))
    assert c.rep("expert") == 200 + 30 + 15


def test_undoing_a_capped_day_re_derives_it_and_records_the_difference() -> None:
    c = Community()
    posts = _posts(22)
    c.send(*(upvote(f"v{i}", post) for i, post in enumerate(posts)))
    assert c.rep("expert") == 200  # 220 raw
    undo = c.send(retract("v0", posts[0], "up"))
    assert c.rep("expert") == 200 and [e.points for e in undo] == [0]  # 210 raw: still capped
    c.send(retract("v1", posts[1], "up"), retract("v2", posts[2], "up"))
    assert c.rep("expert") == 190
    c.send(remove("mod", posts[3], "off-topic"))
    assert c.rep("expert") == 180
    c.send(restore("mod", posts[3]))
    assert c.rep("expert") == 190


def test_downvotes_are_never_capped_and_do_not_count_against_the_cap() -> None:
    c = Community()
    posts = _posts(21)
    c.send(*(upvote(f"v{i}", post) for i, post in enumerate(posts)))
    c.send(downvote("d1", posts[0]))
    assert c.rep("expert") == 198


def test_reputation_is_the_sum_of_the_ledger() -> None:
    c = Community()
    posts = _posts(30)
    c.send(*(upvote(f"v{i}", post) for i, post in enumerate(posts)), downvote("x", posts[1]), accept("asker", posts[2]))
    c.send(retract("v5", posts[5], "up"), remove("mod", posts[2], "spam"), restore("mod", posts[2]))
    for user in ("expert", "x", "asker"):
        assert c.rep(user) == c.ledger_sum(user)


def test_custom_event_types_are_not_limited_to_the_forum_table() -> None:
    from rewards.engine.loader import load_ruleset_text

    rules = """
ruleset: programme
points:
  - id: workshop
    on: workshop.attended
    subject: workshop
    label: "attended workshop {workshop}"
    when: role == "speaker" or role == "attendee"
    award:
      - to: actor
        points: 25
        when: role == "attendee"
      - to: actor
        points: 100
        when: role == "speaker"
"""
    c = Community(load_ruleset_text(rules, "programme.yaml"))
    c.send(
        event("workshop.attended", {"actor": "u1", "workshop": "w1", "role": "speaker"}),
        event("workshop.attended", {"actor": "u2", "workshop": "w1", "role": "attendee"}),
        event("workshop.attended", {"actor": "u3", "workshop": "w1", "role": "catering"}),
    )
    assert (c.rep("u1"), c.rep("u2"), c.rep("u3")) == (100, 25, 0)
    assert [e.reason for e in c.state.entries] == ["attended workshop w1", "attended workshop w1"]


def test_conditions_can_read_the_reputation_of_users_involved() -> None:
    from rewards.engine.loader import load_ruleset_text

    rules = """
ruleset: trusted-votes
points:
  - id: verified
    on: user.verified
    subject: actor
    award:
      - to: actor
        points: 20
  - id: upvote
    on: post.upvoted
    when: actor != post.author and reputation(actor) >= 15
    slot: "vote/{post.id}/{actor}"
    award:
      - to: post.author
        points: 10
"""
    c = Community(load_ruleset_text(rules, "trusted.yaml"))
    c.send(event("user.verified", {"actor": "expert"}))
    c.send(upvote("newbie", A), upvote("expert", answer("a5", "newbie", "q1")))
    assert c.rep("expert") == 20  # newbie's vote did not count: 0 reputation when voting
    assert c.rep("newbie") == 10
