"""Contribution kinds in the rules file: declared once, named correctly by the rules that reward approvals (a typo
is refused at its line, with the kinds there are), and rewarded by the default rules like any event. Pure."""

from rewards import PROJECT_ROOT
from rewards.engine.contributions import kinds_compared
from rewards.engine.loader import check_ruleset_text
from rewards.rulesets.service import event_data
from tests.engine_harness import Community
from tests.factories import event

DEFAULT = (PROJECT_ROOT / "rules" / "default.yaml").read_text()

RULES = """\
ruleset: off-forum
counters:
  workshops:
    name: Workshops run
points:
  - id: workshop-run
    on: contribution.approved
    when: '{when}'
    subject: contribution
    award:
      - to: actor
        points: 50
        counts: [workshops]
contributions:
  - id: workshop
    name: Workshop run
  - id: beta-feedback
    name: Beta feedback
"""


def problems(text: str) -> list[str]:
    found, _spec = check_ruleset_text(text, "rules.yaml", event_data())
    return [str(problem) for problem in found]


def test_the_default_rules_declare_two_kinds_and_reward_both() -> None:
    assert problems(DEFAULT) == []
    _found, spec = check_ruleset_text(DEFAULT, "default.yaml", event_data())
    assert spec is not None
    assert [kind.id for kind in spec.contributions] == ["workshop", "beta-feedback"]
    perk = next(perk for perk in spec.perks if perk.id == "beta-mesh-wifi")
    assert perk.eligibility.counters == {"beta_feedback": 1}


def test_a_rule_naming_a_kind_that_is_not_declared_is_refused_at_its_line() -> None:
    assert problems(RULES.format(when='kind == "workshop"')) == []
    assert problems(RULES.format(when='kind in ("workshop", "beta-feedback")')) == []
    assert problems(RULES.format(when='kind == "workshp"')) == [
        "rules.yaml:8: rule 'workshop-run': points.0.when: contribution kind 'workshp' is not declared in "
        "`contributions` (beta-feedback, workshop)"
    ]
    assert problems(RULES.format(when='"beta_feedback" == kind or kind not in ["talk"]')) == [
        "rules.yaml:8: rule 'workshop-run': points.0.when: contribution kind 'beta_feedback' is not declared in "
        "`contributions` (beta-feedback, workshop)",
        "rules.yaml:8: rule 'workshop-run': points.0.when: contribution kind 'talk' is not declared in "
        "`contributions` (beta-feedback, workshop)",
    ]


def test_a_field_the_approval_does_not_carry_is_refused_too() -> None:
    found = problems(RULES.format(when='knd == "workshop"'))
    assert len(found) == 1 and "`knd` is not a field of contribution.approved events" in found[0], found


def test_kinds_are_declared_once_and_rules_on_approvals_need_them() -> None:
    twice = RULES.format(when='kind == "workshop"') + "  - id: workshop\n    name: Workshop again\n"
    assert problems(twice) == ["rules.yaml:19: contributions.2.id: contribution kind 'workshop' is declared twice"]
    none = RULES.format(when="True").split("contributions:")[0]
    found = problems(none)
    assert len(found) == 1 and found[0].startswith("rules.yaml:7: rule 'workshop-run': points.0.on: a rule on "), found
    assert "declared in `contributions`" in found[0]
    bad_id = RULES.format(when="True").replace("id: beta-feedback", "id: Beta Feedback")
    assert any("contributions.1.id" in problem and "pattern" in problem for problem in problems(bad_id))


def test_kinds_compared_reads_equality_and_membership_either_way_round() -> None:
    assert list(kinds_compared('kind == "a" or "b" == kind')) == ["a", "b"]
    assert list(kinds_compared('kind in ("c", "d") and kind != "e"')) == ["c", "d", "e"]
    assert list(kinds_compared('title == "not a kind" and reputation(actor) > 10')) == []


def approval(member: str, kind: str, number: int) -> dict[str, object]:
    data = {
        "actor": member,
        "contribution": str(number),
        "kind": kind,
        "title": f"{kind} {number}",
        "approved_by": "user:mia",
    }
    return event("contribution.approved", data, source="rewards:contributions", minutes=number)


def test_the_default_rules_reward_approved_contributions_by_kind_and_count_them() -> None:
    community = Community()
    community.send(approval("ewa", "workshop", 1), approval("ewa", "beta-feedback", 2))
    assert community.rep("ewa") == 75
    assert [entry.reason for entry in community.state.entries] == [
        "workshop: workshop 1",
        "beta feedback: beta-feedback 2",
    ]
    counters = community.state.counters
    assert (counters.get(("ewa", "workshops", "")), counters.get(("ewa", "beta_feedback", ""))) == (1, 1)
