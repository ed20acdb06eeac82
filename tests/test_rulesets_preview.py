"""The preview of a draft ruleset, pure: the same events under the published ruleset and the draft, compared."""

from datetime import UTC, datetime
from typing import Any

from rewards import PROJECT_ROOT
from rewards.engine.loader import load_ruleset_text
from rewards.engine.ruleset import Ruleset
from rewards.engine.state import EventInput
from rewards.rulesets.preview import BoardRow, Comparison, ReputationMove, preview
from tests.factories import accept, answer, event, question, retract, upvote

DEFAULT = (PROJECT_ROOT / "rules" / "default.yaml").read_text()
UPVOTE_AWARD = "        points: 10\n        cap: upvotes-per-day\n"
NOW = datetime(2026, 3, 20, tzinfo=UTC)


def inputs(*raw_events: dict[str, Any]) -> list[EventInput]:
    return [
        EventInput(
            seq=seq,
            source=raw["source"],
            id=raw["id"],
            type=raw["type"],
            time=datetime.fromisoformat(raw["time"]),
            data=raw["data"],
        )
        for seq, raw in enumerate(raw_events, start=1)
    ]


def rules(source: str) -> Ruleset:
    return load_ruleset_text(source, "test")


def doubled_upvotes() -> Ruleset:
    assert DEFAULT.count(UPVOTE_AWARD) == 1
    return rules(DEFAULT.replace(UPVOTE_AWARD, UPVOTE_AWARD.replace("10", "20")))


A1 = answer("a1", "piotr", "q1")
A2 = answer("a2", "anna", "q2")


def community() -> list[EventInput]:
    """piotr: 3 upvotes (30); anna: 2 upvotes and an accepted answer (20 + 15 = 35); jan accepted it (+2)."""
    return inputs(
        event("question.posted", {"actor": "jan", "post": question("q2", "jan")}),
        event("answer.posted", {"actor": "piotr", "post": A1}),
        event("answer.posted", {"actor": "anna", "post": A2}),
        upvote("ola", A1, minutes=1),
        upvote("marek", A1, minutes=2),
        upvote("tomek", A1, minutes=3),
        upvote("ola", A2, minutes=4),
        upvote("marek", A2, minutes=5),
        accept("jan", A2, minutes=6),
    )


def test_a_draft_that_doubles_upvote_points_shows_the_movers_and_the_board_changing_order() -> None:
    result = preview(community(), rules(DEFAULT), doubled_upvotes(), NOW)

    assert result.events == 9
    assert result.events_affected == 5  # the five upvotes; posts and the accept write the same entries
    assert result.gainers == [ReputationMove("piotr", 30, 60, 30), ReputationMove("anna", 35, 55, 20)]
    assert result.losers == []
    assert result.reputation_changed == 2
    assert result.users_affected == 2
    assert result.failed_published == result.failed_draft == 0
    reputation = next(board for board in result.boards if board.board_id == "reputation")
    assert reputation.before == [BoardRow(1, "anna", 35), BoardRow(2, "piotr", 30), BoardRow(3, "jan", 2)]
    assert reputation.after == [BoardRow(1, "piotr", 60), BoardRow(2, "anna", 55), BoardRow(3, "jan", 2)]
    assert reputation.changed
    routers = next(board for board in result.boards if board.board_id == "accepted-routers")
    assert routers.before == routers.after == [BoardRow(1, "anna", 1)]
    assert not routers.changed
    assert result.badges == []  # the same posts have the same scores


def test_the_same_ruleset_changes_nothing() -> None:
    result = preview(community(), rules(DEFAULT), rules(DEFAULT), NOW)
    assert result.events_affected == 0 and result.users_affected == 0 and result.reputation_changed == 0
    assert result.gainers == result.losers == [] and result.badges == []
    assert result.boards and result.perks  # every declared board and perk is compared...
    assert not any(board.changed for board in result.boards) and not any(perk.changed for perk in result.perks)


def test_undone_votes_count_under_each_ruleset() -> None:
    events = inputs(upvote("ola", A1), upvote("marek", A1, minutes=1), retract("ola", A1, "up", minutes=2))
    result = preview(events, rules(DEFAULT), doubled_upvotes(), NOW)
    assert result.gainers == [ReputationMove("piotr", 10, 20, 10)]
    assert result.events_affected == 3  # the retraction takes back 20 instead of 10


def test_a_draft_that_removes_a_badge_shows_it_lost() -> None:
    start = DEFAULT.index("  - id: teacher\n")
    end = DEFAULT.index("  - id: nice-answer\n")
    without_teacher = rules(DEFAULT[:start] + DEFAULT[end:])

    result = preview(community(), rules(DEFAULT), without_teacher, NOW)

    [teacher] = result.badges
    assert (teacher.badge_id, teacher.tier, teacher.name) == ("teacher", "bronze", "Teacher")
    assert (teacher.holders_before, teacher.holders_after) == (2, 0)
    assert (teacher.gained, teacher.lost) == (0, 2)
    assert teacher.lost_examples == ["anna (a2)", "piotr (a1)"]  # a post badge names its post
    assert result.gainers == result.losers == []
    assert result.users_affected == 2
    assert result.events_affected == 2  # the first upvote on each answer awarded Teacher


PERK_RULES = """
ruleset: perks
points:
  - id: upvote
    on: post.upvoted
    when: actor != post.author
    slot: "vote/{post.id}/{actor}"
    award:
      - to: post.author
        points: 10
perks:
  - id: router-beta
    name: Router beta
    description: Try the new router.
    kind: beta_access
    eligibility:
      reputation: 30
"""


def test_perk_eligibility_changes_with_the_points() -> None:
    halved = rules(PERK_RULES.replace("points: 10", "points: 5"))
    cheaper = rules(PERK_RULES.replace("reputation: 30", "reputation: 20"))

    lower = preview(community(), rules(PERK_RULES), halved, NOW)
    [beta] = lower.perks
    assert (beta.perk_id, beta.name) == ("router-beta", "Router beta")
    assert (beta.eligible_before, beta.eligible_after) == (1, 0)  # piotr's 30 becomes 15; anna has 20 -> 10
    assert (beta.newly_eligible, beta.no_longer_eligible) == (0, 1)
    assert beta.no_longer_examples == ["piotr"] and beta.changed

    easier = preview(community(), rules(PERK_RULES), cheaper, NOW)
    [beta] = easier.perks
    assert (beta.eligible_before, beta.eligible_after, beta.newly_eligible) == (1, 2, 1)
    assert beta.newly_examples == ["anna"]
    assert easier.users_affected == 1 and easier.reputation_changed == 0


def test_a_draft_whose_rule_fails_reports_the_failures() -> None:
    failing = rules(PERK_RULES.replace("points: 10", "points: post.bonus"))
    result = preview(community(), rules(PERK_RULES), failing, NOW)
    assert result.failed_published == 0
    assert result.failed_draft == 5
    assert result.draft_failure_examples[0].startswith("forum/")
    assert result.losers == [ReputationMove("piotr", 30, 0, -30), ReputationMove("anna", 20, 0, -20)]


def test_feeding_page_by_page_gives_the_same_result() -> None:
    events = community()
    whole = preview(events, rules(DEFAULT), doubled_upvotes(), NOW)
    comparison = Comparison(rules(DEFAULT), doubled_upvotes())
    for start in range(0, len(events), 2):
        comparison.feed(events[start : start + 2])
    assert comparison.finish(NOW) == whole
