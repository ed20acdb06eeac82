"""What the renewal tests share: rules that count accepted answers (10 an upvote, 50 an accepted answer), an
Expert title that must be renewed (2 accepted answers in 12 months, warned 30 days before), and the calendar of a
window opened in March 2026."""

from datetime import UTC, datetime, timedelta

COUNTING = """\
counters:
  accepted_answers: {name: Accepted answers}
points:
  - id: upvote
    on: post.upvoted
    award:
      - {to: post.author, points: 10}
  - id: accepted
    on: answer.accepted
    slot: "accept/{post.question}"
    award:
      - {to: post.author, points: 50, counts: [accepted_answers]}
"""

EXPERT_RENEWS = """\
ranks:
  - {id: newcomer, title: Newcomer, reputation: 0}
  - {id: member, title: Member, reputation: 20}
  - id: expert
    title: Expert
    reputation: 100
    renewal: {counter: accepted_answers, at: 2, window: 12 months, warn_before: 30 days}
"""

MARCH_2026 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LAPSE = datetime(2027, 3, 1, tzinfo=UTC)  # March 2026 leaves the window of the 12 months up to March 2027
WARNING = LAPSE - timedelta(days=30)


def rules(name: str, *sections: str) -> str:
    """A rules file named `name`: the counting rules, then `sections` (YAML top-level sections, as text)."""
    return f"ruleset: {name}\n" + COUNTING + "".join(sections)
