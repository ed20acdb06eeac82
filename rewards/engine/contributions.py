"""Contributions the forum cannot see (a workshop an expert ran, feedback on a beta): the kinds a rules file
declares for experts to report, and the check that the rules on `contribution.approved` name only those. Pure.

An approved contribution is an event in the log like any other, so a points rule rewards it (`on:
contribution.approved`, `when: kind == "workshop"`) and counts it in a counter, which badges and perks read."""

import ast
from collections.abc import Iterator
from itertools import pairwise
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

CONTRIBUTION_APPROVED = "contribution.approved"
KIND_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"

KindId = Annotated[str, StringConstraints(pattern=KIND_PATTERN)]


class ContributionKind(BaseModel):
    """A kind of contribution experts may report: what the report form offers and the rules match on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: KindId = Field(description="What rules compare `kind` with, e.g. `workshop` or `beta-feedback`.")
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="Shown to experts on the report form and to managers in the queue."
    )
    description: str | None = Field(
        default=None, max_length=500, description="What counts, and what to attach (a link, a file name)."
    )


Problem = tuple[tuple[str | int, ...], str]


def kinds_compared(condition: str) -> Iterator[str]:
    """The texts a condition compares the event's `kind` with: `kind == "workshop"`, `kind in ("a", "b")`."""
    try:
        tree = ast.parse(condition, mode="eval")
    except SyntaxError:  # the expression's own check reports it
        return
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for left, right in pairwise(operands):
            for side, other in ((left, right), (right, left)):
                if isinstance(side, ast.Name) and side.id == "kind":
                    yield from _texts(other)


def _texts(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        for element in node.elts:
            if isinstance(element, ast.Constant) and isinstance(element.value, str):
                yield element.value


def check_contributions(spec: Any) -> list[Problem]:
    """Kinds declared once each; rules on `contribution.approved` comparing `kind` only with declared kinds."""
    problems: list[Problem] = []
    declared: list[str] = []
    for index, kind in enumerate(spec.contributions):
        if kind.id in declared:
            problems.append((("contributions", index, "id"), f"contribution kind {kind.id!r} is declared twice"))
        declared.append(kind.id)
    known = ", ".join(sorted(declared)) or "none are declared"
    for index, rule in enumerate(spec.points):
        conditions: list[tuple[tuple[str | int, ...], str | None]] = []
        if rule.on == CONTRIBUTION_APPROVED:
            if not declared:
                problems.append(
                    (
                        ("points", index, "on"),
                        f"a rule on {CONTRIBUTION_APPROVED} needs the kinds experts report, declared in "
                        "`contributions` (e.g. `- {id: workshop, name: Workshop run}`)",
                    )
                )
                continue
            conditions.append((("points", index, "when"), rule.when))
            conditions += [(("points", index, "award", n, "when"), award.when) for n, award in enumerate(rule.award)]
        conditions += [
            (("points", index, "undone_by", n, "when"), undo.when)
            for n, undo in enumerate(rule.undone_by)
            if undo.on == CONTRIBUTION_APPROVED
        ]
        for location, condition in conditions:
            unknown = [kind for kind in kinds_compared(condition or "") if kind not in declared]
            for kind in dict.fromkeys(unknown):
                problems.append((location, f"contribution kind {kind!r} is not declared in `contributions` ({known})"))
    return problems
