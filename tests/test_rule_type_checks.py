"""A draft that validates can work: what its rules compute (points, conditions, recipients, counters, thresholds) is
checked against the data of the event types they read, and a rule that never could is refused at its line."""

from dataclasses import dataclass

from rewards import PROJECT_ROOT
from rewards.engine.loader import check_ruleset_text, load_ruleset_text
from rewards.rulesets.service import event_data
from tests.conftest import Api

RULES = PROJECT_ROOT / "rules"

MINE = """\
ruleset: mine
caps:
  upvotes-per-day:
    max: 200
counters:
  post_score:
    name: Score
    per: post
    scope: post.kind
points:
  - id: upvote
    on: post.upvoted
    label: "upvote on {post.kind} {post.id}"
    when: actor != post.author
    award:
      - to: post.author
        points: 10
        cap: upvotes-per-day
        counts: [post_score]
    undone_by:
      - on: vote.retracted
        when: vote == "up"
badges:
  - id: nice-answer
    name: Nice Answer
    description: An answer with a score of 10 or more.
    post: post_score
    level: bronze
    at: 10
"""


@dataclass(frozen=True)
class Broken:
    """MINE with `old` replaced by `new`: refused at the line of `new`, on `field`, saying `says`."""

    old: str
    new: str
    field: str
    says: tuple[str, ...]
    also: tuple[tuple[str, str], ...] = ()

    def source(self) -> str:
        source = MINE
        for old, new in ((self.old, self.new), *self.also):
            assert source.count(old) == 1, old
            source = source.replace(old, new)
        return source

    def line(self) -> int:
        source = self.source()
        return source[: source.index(self.new)].count("\n") + 1


AWARD = "points.0.award.0"
BROKEN = {
    "a number written as a word": Broken(
        "points: 10\n", "points: fifteen\n", f"{AWARD}.points", ("`fifteen` is not a number", "like 15")
    ),
    "a number written as a word, on the programme's own event type": Broken(
        "points: 10\n",
        "points: fifteen\n",
        f"{AWARD}.points",
        ("`fifteen` is not a number", "like 15"),
        also=(("on: post.upvoted", "on: bonus.granted"),),
    ),
    "text multiplied by text": Broken(
        "points: 10\n", "points: \"post.id * 'a'\"\n", f"{AWARD}.points", ("cannot multiply text and text",)
    ),
    "points that can only be text, from a field the forum may add": Broken(
        "points: 10\n",
        "points: \"post.score * 'a'\"\n",
        f"{AWARD}.points",
        ("points must be a whole number", "`post.score * 'a'` is text"),
    ),
    "points read from a text field": Broken(
        "points: 10\n", "points: post.kind\n", f"{AWARD}.points", ("points must be a whole number", "is text")
    ),
    "points as quoted text": Broken(
        "points: 10\n", "points: \"'10'\"\n", f"{AWARD}.points", ("points must be a whole number, like 10",)
    ),
    "points as true": Broken(
        "points: 10\n", "points: true\n", f"{AWARD}.points", ("must be a whole number, like 10, not true",)
    ),
    "a condition that is never true or false": Broken(
        "when: actor != post.author\n",
        "when: reputation(actor)\n",
        "points.0.when",
        ("is always a number", "not true or false", "reputation(actor) >= 100"),
    ),
    "a function used as a field": Broken(
        "when: actor != post.author\n",
        "when: reputation >= 100\n",
        "points.0.when",
        ("`reputation` is a function", "reputation(actor)"),
    ),
    "a data field the event type does not have": Broken(
        "when: actor != post.author\n",
        "when: actr != post.author\n",
        "points.0.when",
        ("`actr` is not a field of post.upvoted events", "did you mean `actor`?"),
    ),
    "text compared with a number": Broken(
        "when: actor != post.author\n",
        "when: post.kind > 5\n",
        "points.0.when",
        ("`post.kind > 5` cannot work", "cannot compare text with a number"),
    ),
    "a misspelt field of the post": Broken(
        "- to: post.author\n", "- to: post.auther\n", f"{AWARD}.to", ("did you mean `post.author`?",)
    ),
    "a recipient that is not a user": Broken(
        "- to: post.author\n", "- to: post\n", f"{AWARD}.to", ("must name a user", "it is an object")
    ),
    "text without quotes, in an undo's condition (read on the undo's event type)": Broken(
        'when: vote == "up"\n',
        "when: vote == up\n",
        "points.0.undone_by.0.when",
        ("`up` is not a field of vote.retracted events", 'text goes in quotes: "up"'),
    ),
    "a misspelt field in a label": Broken(
        'label: "upvote on {post.kind} {post.id}"\n',
        'label: "upvote by {voter}"\n',
        "points.0.label",
        ("`voter` is not a field of post.upvoted events",),
    ),
    "a counter scope the event does not have": Broken(
        "scope: post.kind\n", "scope: kind\n", "counters.post_score.scope", ("`kind` is not a field of",)
    ),
    "a badge threshold of true": Broken(
        "at: 10\n", "at: true\n", "badges.0.at", ("must be a whole number, like 10, not true",)
    ),
    "a badge threshold written as a word": Broken(
        "at: 10\n", "at: ten\n", "badges.0.at", ("must be a whole number, like 10, not 'ten'",)
    ),
    "a cap of true": Broken(
        "max: 200\n", "max: true\n", "caps.upvotes-per-day.max", ("must be a whole number, like 10, not true",)
    ),
    "a counter increment of true": Broken(
        "counts: [post_score]\n",
        "counts: {post_score: true}\n",
        f"{AWARD}.counts.post_score",
        ("must be a whole number, like 10, not true",),
    ),
}

# Rules that read what events carry in every way the docs show; none may be refused.
VALID = [
    """\
ruleset: programme
points:
  - id: bounty-start
    on: bounty.started
    subject: bounty.id
    label: "bounty on question {post.id}"
    award:
      - to: actor
        points: -bounty.amount
  - id: bounty-award
    on: bounty.awarded
    subject: bounty.id
    award:
      - to: post.author
        points: bounty.amount
    undone_by: [bounty.revoked]
  - id: workshop
    on: workshop.attended
    subject: workshop
    label: "attended workshop {workshop}"
    when: role == "speaker" or role == "attendee"
    award:
      - to: actor
        points: 100 if role == "speaker" else 25
""",
    """\
ruleset: forum
counters:
  answers:
    name: Answers
    scope: post.category
  helpful_flags:
    name: Helpful flags
points:
  - id: upvote
    on: post.upvoted
    when: actor != post.author and reputation(actor) >= 15 and not is_suspended(post.author)
    slot: "vote/{post.id}/{actor}"
    award:
      - to: post.author
        points: post.upvote_value or 10
        when: not post.wiki and event.source != "import"
      - to: post.author
        points: 0
        when: post.kind == "answer" and post.question_author == post.author
    undone_by:
      - on: vote.retracted
        when: vote == "up"
    suspended_by: [post.removed]
    restored_by: [post.restored]
  - id: answer
    on: answer.posted
    when: post.category and (post.tags is None or "wifi" in post.tags or post.tags[0] == "routers")
    award:
      - to: post.author
        points: 0
        counts: [answers]
  - id: helpful-flag
    on: flag.resolved
    when: outcome == "helpful"
    slot: "flag/{post.id}/{flagger}"
    award:
      - to: flagger
        points: 0
        counts: {helpful_flags: 1}
  - id: abuse
    on: post.removed
    when: reason in ("spam", "offensive") and post["score"] != 0
    award:
      - to: post.author
        points: -100
    undone_by: [post.restored]
""",
]


async def test_validate_refuses_a_rule_that_cannot_work_with_its_line_and_what_to_change(api: Api) -> None:
    for case, broken in BROKEN.items():
        response = await api.client.post("/v1/rulesets/validate", json={"source": broken.source()})
        assert response.status_code == 422, (case, response.text)
        body = response.json()
        assert len(body["detail"]) == 1, (case, body["detail"])
        [problem] = body["detail"]
        where = (problem["file"], problem["line"], problem["field"])
        assert where == ("draft", broken.line(), broken.field), (case, problem)
        assert problem["rule_id"] == ("upvote" if broken.field.startswith("points.") else None), (case, problem)
        for words in broken.says:
            assert words in problem["message"], (case, words, problem["message"])
        assert f"line {broken.line()}: {problem['message']}" in body["error"], (case, body["error"])


async def test_publishing_and_previewing_a_draft_refuse_it_too(api: Api) -> None:
    source = BROKEN["a number written as a word"].source()
    before = (await api.client.get("/v1/rulesets")).json()["published_version"]
    published = await api.client.post(
        "/v1/rulesets/publish", json={"source": source, "mode": "from_now_on", "comment": "fifteen points"}
    )
    assert published.status_code == 422, published.text
    assert "draft:17: rule 'upvote': points.0.award.0.points: `fifteen` is not a number" in published.json()["error"]
    assert (await api.client.get("/v1/rulesets")).json()["published_version"] == before
    previewed = await api.client.post("/v1/rulesets/preview", json={"source": source})
    assert previewed.status_code == 422 and "`fifteen` is not a number" in previewed.json()["error"]


async def test_the_shipped_rules_and_valid_custom_rules_still_validate(api: Api) -> None:
    sources = [path.read_text() for path in sorted(RULES.glob("*.yaml"))] + VALID
    assert len(sources) >= 4
    for source in sources:
        response = await api.client.post("/v1/rulesets/validate", json={"source": source})
        assert response.json() == {"valid": True, "problems": []}, (source[:40], response.text)


def test_a_problem_reads_file_line_rule_field_and_reason_while_stored_versions_still_load() -> None:
    source = BROKEN["a number written as a word"].source()
    problems, spec = check_ruleset_text(source, "rules/mine.yaml", event_data())
    assert spec is None
    assert [str(problem) for problem in problems] == [
        "rules/mine.yaml:17: rule 'upvote': points.0.award.0.points: "
        "`fifteen` is not a number: write numbers in digits, like 15"
    ]
    # A version published before these checks is still compiled (and fails its events, as it always did): rolling
    # back to it, or replaying the log under it, must not break.
    assert load_ruleset_text(source, "ruleset version 3").rules["upvote"].awards[0].points_from is not None
