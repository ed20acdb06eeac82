"""Rules texts in several languages (`name: {en: ..., pl: ...}`): what a rules file may say and what is refused
with file, line and reason; the engine keeps the file's own language, pages read the reader's, ledger reasons too."""

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from ruamel.yaml import YAML

from rewards import PROJECT_ROOT
from rewards.engine.loader import _plain, check_ruleset_text, load_ruleset_file, load_ruleset_text
from rewards.engine.texts import TEXT_FIELDS, _locations
from rewards.errors import RulesetError
from rewards.web import i18n

SHIPPED = sorted((PROJECT_ROOT / "rules").glob("*.yaml"))

RULES = """\
ruleset: texts
counters:
  accepted_answers:
    name: {en: Accepted answers, pl: Zaakceptowane odpowiedzi}
points:
  - id: upvote
    on: post.upvoted
    label: {en: "upvote on {post.kind} {post.id}", pl: "głos w górę za wpis {post.id}"}
    award: [{to: post.author, points: 10}]
    undone_by: [vote.retracted]
  - id: accepted-answer
    on: answer.accepted
    label: "answer {post.id} accepted"
    award: [{to: post.author, points: 15, counts: [accepted_answers]}]
badges:
  - id: solver
    name:
      en: Solver
      pl: Rozwiązujący
    description: Answers accepted as the solution.
    counter: accepted_answers
    level: bronze
    at: 1
"""


def _english_only(source: str) -> str:
    """The file with every translated text replaced by its English one, as a file without translations says it."""
    yaml = YAML(typ="rt")
    tree = yaml.load(source)
    for pattern in TEXT_FIELDS:
        for _location, container, key in list(_locations(tree, pattern)):
            if isinstance(container[key], dict):
                container[key] = container[key]["en"]
    out = io.StringIO()
    yaml.dump(tree, out)
    return str(out.getvalue())


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_the_shipped_rules_files_say_every_text_in_english_and_polish(path: Path) -> None:
    data = _plain(YAML(typ="rt").load(path.read_text(encoding="utf-8")))
    untranslated = [
        ".".join(map(str, location))
        for pattern in TEXT_FIELDS
        for location, container, key in _locations(data, pattern)
        if not (isinstance(container[key], dict) and set(container[key]) == {"en", "pl"})
    ]
    assert untranslated == []
    # The engine sees the English texts, exactly as before the translations: same rules, same ledger words.
    ruleset = load_ruleset_file(path)
    assert ruleset.spec == load_ruleset_text(_english_only(path.read_text(encoding="utf-8"))).spec
    assert all(badge.name == ruleset.texts.text(badge.name, "en") for badge in ruleset.spec.badges)


def test_the_engine_keeps_the_files_language_and_pages_ask_for_theirs() -> None:
    ruleset = load_ruleset_text(RULES, "texts.yaml")
    assert ruleset.spec.badges[0].name == "Solver"
    assert ruleset.spec.counters["accepted_answers"].name == "Accepted answers"
    assert ruleset.rules["upvote"].label.source == "upvote on {post.kind} {post.id}"
    assert ruleset.texts.text("Solver", "pl") == "Rozwiązujący"
    assert ruleset.texts.text("Answers accepted as the solution.", "pl") == "Answers accepted as the solution."
    assert ruleset.texts.reason("upvote", "upvote on answer a9", "pl") == "głos w górę za wpis a9"
    assert ruleset.texts.reason("upvote", "upvote on answer a9", "en") == "upvote on answer a9"
    assert ruleset.texts.reason("accepted-answer", "answer a9 accepted", "pl") == "answer a9 accepted"

    # A file written in Polish: Polish is what the engine keeps; English readers get the `en` texts.
    polish_rules = RULES.replace("{en: Accepted answers, pl:", "{pl:").replace(
        '"głos w górę za wpis {post.id}"', '"głos w górę za {post.kind} {post.id}"'
    )
    polish = load_ruleset_text("language: pl\n" + polish_rules, "pl.yaml")
    assert polish.spec.badges[0].name == "Rozwiązujący"
    assert polish.texts.text("Rozwiązujący", "en") == "Solver"
    assert polish.texts.reason("upvote", "głos w górę za answer a9", "en") == "upvote on answer a9"


@pytest.mark.parametrize(
    ("change", "line", "expected"),
    [
        (("pl: Rozwiązujący", "de: Löser"), 19, "badges.0.name.de: 'de' is not a language of the pages"),
        (
            ("{en: Accepted answers, pl:", "{pl:"),
            4,
            "counters.accepted_answers.name: the texts must include the rules file's language (en)",
        ),
        (
            ('pl: "głos w górę za wpis {post.id}"', 'pl: "głos {post.author}"'),
            8,
            "points.0.label.pl: the pl label can use only the placeholders of the en one ({post.id}, {post.kind})",
        ),
        (("pl: Zaakceptowane odpowiedzi}", "pl: ''}"), 4, "counters.accepted_answers.name.pl: must be a text"),
        (("ruleset: texts", "ruleset: texts\nlanguage: de"), 2, "language: unknown language 'de'"),
        (
            ("description: Answers accepted as the solution.", "description: {en: Solver, pl: Rozwiązywacz}"),
            20,
            "badges.0.description.pl: 'Solver' is translated as 'Rozwiązujący' at `badges.0.name`",
        ),
    ],
)
def test_a_wrong_translation_is_refused_with_file_line_and_reason(
    change: tuple[str, str], line: int, expected: str
) -> None:
    source = RULES.replace(*change)
    assert source != RULES
    problems, spec = check_ruleset_text(source, "texts.yaml")
    assert spec is None
    assert [f"{problem.file}:{problem.line}" for problem in problems] == [f"texts.yaml:{line}"], problems
    assert expected in str(problems[0])
    with pytest.raises(RulesetError, match=r"texts\.yaml"):
        load_ruleset_text(source, "texts.yaml")


def test_ledger_reasons_are_said_in_the_readers_language() -> None:
    texts = load_ruleset_text(RULES, "texts.yaml").texts

    def said(reason: str, points: int = 10, rule_id: str = "upvote", locale: str = "pl") -> str:
        entry = SimpleNamespace(rule_id=rule_id, points=points, reason=reason)
        with i18n.reading("UTC", texts):
            return str(i18n.environment(locale).filters["reason"](entry))

    assert said("+10 upvote on answer a9") == "+10 głos w górę za wpis a9"
    assert said("+10 upvote on answer a9", locale="en") == "+10 upvote on answer a9"
    assert (
        said("-10 upvote on answer a9 undone: vote retracted", -10)
        == "-10 głos w górę za wpis a9 cofnięte: vote retracted"
    )
    assert (
        said("-10 upvote on answer a9 undone: replaced by post downvoted", -10)
        == "-10 głos w górę za wpis a9 cofnięte: zastąpione przez post downvoted"
    )
    assert (
        said("-10 upvote on answer a9 suspended: post removed", -10)
        == "-10 głos w górę za wpis a9 zawieszone: post removed"
    )
    assert (
        said("+0 upvote on answer a9 (held: the post is removed)", 0)
        == "+0 głos w górę za wpis a9 (wstrzymane: wpis jest removed)"
    )
    assert said("+5 adjusted by user:anna: welcome", 5, "manual-adjustment") == "+5 korekta od user:anna: welcome"
    # A reason no label of the rule gives (a rule changed since) is shown as stored.
    assert said("+10 something else") == "+10 something else"
