"""The ruleset: typed models of the YAML rules file, and their compiled form used per event."""

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from rewards.engine.boards import BoardSpec, check_boards
from rewards.engine.expressions import Expression, ExpressionError, Function, Template

EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$"
RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"

EventType = Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN, max_length=128)]
RuleId = Annotated[str, StringConstraints(pattern=RULE_ID_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_expression(value: str | None) -> str | None:
    if value is not None:
        Expression(value, STATE_FUNCTION_NAMES)
    return value


def _check_template(value: str | None) -> str | None:
    if value is not None:
        Template(value)
    return value


def _check_path(value: str) -> str:
    expression = Expression(value, STATE_FUNCTION_NAMES)
    if expression.path is None:
        raise ExpressionError(f"{value!r} must name a field of the event, like post.author or actor")
    return value


class AwardSpec(_Strict):
    """Who receives how many points when the rule fires."""

    to: str = Field(description="The user who receives the points: `post.author`, `actor`, `flagger`...")
    points: int = Field(ge=-100_000, le=100_000)
    when: str | None = Field(default=None, description="Only for this recipient when this holds.")
    cap: str | None = Field(default=None, description="Id of a cap (in `caps`) that limits these gains.")
    label: str | None = Field(default=None, description="Reason shown in the history; defaults to the rule's.")

    _to = field_validator("to")(_check_path)
    _when = field_validator("when")(_check_expression)
    _label = field_validator("label")(_check_template)

    @model_validator(mode="after")
    def _caps_limit_gains(self) -> "AwardSpec":
        if self.cap is not None and self.points <= 0:
            raise ValueError("a cap limits gains only; remove `cap` from an award of zero or negative points")
        return self


class UndoSpec(_Strict):
    on: EventType
    when: str | None = None

    _when = field_validator("when")(_check_expression)


def _undo_from_text(value: Any) -> Any:
    return {"on": value} if isinstance(value, str) else value


class PointsRule(_Strict):
    """A points rule: on an event type, when a condition holds, give points; later events may undo them."""

    id: RuleId
    on: EventType
    description: str | None = Field(default=None, max_length=500)
    label: str | None = Field(
        default=None, description="Reason in the history, e.g. `upvote on {post.kind} {post.id}`."
    )
    when: str | None = None
    subject: str = Field(default="post.id", description="What the points are about; undo and removal match on it.")
    slot: str | None = Field(
        default=None,
        description="One live choice per slot, e.g. `vote/{post.id}/{actor}`: a new event in the slot replaces "
        "the earlier one; the same event type on the same subject again is a no-op.",
    )
    award: list[AwardSpec] = Field(min_length=1, max_length=20)
    undone_by: list[Annotated[UndoSpec, Field()]] = Field(default_factory=list)
    suspended_by: list[EventType] = Field(default_factory=list)
    restored_by: list[EventType] = Field(default_factory=list)

    _when = field_validator("when")(_check_expression)
    _label = field_validator("label")(_check_template)
    _slot = field_validator("slot")(_check_template)
    _subject = field_validator("subject")(_check_path)

    @field_validator("undone_by", mode="before")
    @classmethod
    def _undo_shorthand(cls, value: Any) -> Any:
        return [_undo_from_text(item) for item in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _restore_needs_suspend(self) -> "PointsRule":
        if self.restored_by and not self.suspended_by:
            raise ValueError("`restored_by` needs `suspended_by`: only suspended points can be restored")
        if self.on in {undo.on for undo in self.undone_by}:
            raise ValueError(f"`undone_by` cannot name the rule's own event type {self.on!r}")
        return self


class Cap(_Strict):
    period: Literal["day"] = Field(default="day", description="UTC day of the event's `time`.")
    max: int = Field(gt=0)
    description: str | None = None


class Rank(_Strict):
    """A title earned by reputation, as Khoros communities give them (Newcomer, Contributor, ... Guru)."""

    id: RuleId
    title: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    reputation: int = Field(ge=0, description="Reputation from which the title is held.")
    description: str | None = Field(default=None, max_length=500)


class RulesetSpec(_Strict):
    """A rules file."""

    ruleset: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: str | None = None
    caps: dict[RuleId, Cap] = Field(default_factory=dict)
    points: list[PointsRule] = Field(default_factory=list)
    ranks: list[Rank] = Field(default_factory=list, description="Lowest first; the first starts at 0.")
    leaderboards: list[BoardSpec] = Field(default_factory=list)


def cross_check(spec: RulesetSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems that span several rules, each with the location of the offending field."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if spec.ranks and spec.ranks[0].reputation != 0:
        problems.append((("ranks", 0, "reputation"), "the first rank is everyone's: its reputation must be 0"))
    rank_ids: set[str] = set()
    for index, rank in enumerate(spec.ranks):
        if rank.id in rank_ids:
            problems.append((("ranks", index, "id"), f"rank id {rank.id!r} is used twice"))
        rank_ids.add(rank.id)
        if index and rank.reputation <= spec.ranks[index - 1].reputation:
            problems.append(
                (
                    ("ranks", index, "reputation"),
                    f"ranks go from lowest to highest: {rank.reputation} is not above "
                    f"{spec.ranks[index - 1].title!r} at {spec.ranks[index - 1].reputation}",
                )
            )
    seen: set[str] = set()
    for index, rule in enumerate(spec.points):
        if rule.id in seen:
            problems.append((("points", index, "id"), f"rule id {rule.id!r} is used twice; rule ids must be unique"))
        seen.add(rule.id)
        for award_index, award in enumerate(rule.award):
            if award.cap is not None and award.cap not in spec.caps:
                known = ", ".join(sorted(spec.caps)) or "none are declared"
                problems.append(
                    (
                        ("points", index, "award", award_index, "cap"),
                        f"cap {award.cap!r} is not declared in `caps` ({known})",
                    )
                )
    problems.extend(check_boards(spec))
    return problems


# Functions a condition may call. They read the working state the evaluator is given for the event.
STATE_FUNCTION_NAMES: dict[str, Function] = {"reputation": lambda user: 0, "is_suspended": lambda user: False}


class StateReader:
    """What expression functions may ask of the state; set per event by the evaluator."""

    def __init__(self) -> None:
        self.reputation: Callable[[str], int] = lambda user: 0
        self.is_suspended: Callable[[str], bool] = lambda user: False

    def functions(self) -> dict[str, Function]:
        return {
            "reputation": lambda user: self.reputation(str(user)),
            "is_suspended": lambda user: self.is_suspended(str(user)),
        }


@dataclass(frozen=True)
class CompiledAward:
    to: Expression
    points: int
    when: Expression | None
    cap: Cap | None
    cap_id: str | None
    label: Template | None


@dataclass(frozen=True)
class CompiledUndo:
    on: str
    when: Expression | None


@dataclass(frozen=True)
class CompiledRule:
    id: str
    on: str
    label: Template
    when: Expression | None
    subject: Expression
    slot: Template | None
    awards: tuple[CompiledAward, ...]
    undone_by: tuple[CompiledUndo, ...]
    suspended_by: frozenset[str]
    restored_by: frozenset[str]


@dataclass
class Ruleset:
    """A compiled ruleset, indexed by event type for the evaluator."""

    spec: RulesetSpec
    source: str
    digest: str
    version: int = 0
    state: StateReader = field(default_factory=StateReader)
    rules: dict[str, CompiledRule] = field(default_factory=dict)
    by_type: dict[str, list[CompiledRule]] = field(default_factory=dict)
    undo_by_type: dict[str, list[tuple[CompiledRule, CompiledUndo]]] = field(default_factory=dict)
    suspend_by_type: dict[str, list[CompiledRule]] = field(default_factory=dict)
    restore_by_type: dict[str, list[CompiledRule]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.ruleset

    def listens_to(self, event_type: str) -> bool:
        return any(
            event_type in index
            for index in (self.by_type, self.undo_by_type, self.suspend_by_type, self.restore_by_type)
        )


def _default_label(rule_id: str) -> str:
    return re.sub(r"[-_]", " ", rule_id)


def compile_ruleset(spec: RulesetSpec, source: str) -> Ruleset:
    ruleset = Ruleset(spec=spec, source=source, digest=hashlib.sha256(source.encode()).hexdigest())
    functions: Mapping[str, Function] = ruleset.state.functions()

    def expr(text: str | None) -> Expression | None:
        return None if text is None else Expression(text, functions)

    for rule_spec in spec.points:
        rule = CompiledRule(
            id=rule_spec.id,
            on=rule_spec.on,
            label=Template(rule_spec.label or _default_label(rule_spec.id)),
            when=expr(rule_spec.when),
            subject=Expression(rule_spec.subject, functions),
            slot=None if rule_spec.slot is None else Template(rule_spec.slot, as_key=True),
            awards=tuple(
                CompiledAward(
                    to=Expression(award.to, functions),
                    points=award.points,
                    when=expr(award.when),
                    cap=None if award.cap is None else spec.caps[award.cap],
                    cap_id=award.cap,
                    label=None if award.label is None else Template(award.label),
                )
                for award in rule_spec.award
            ),
            undone_by=tuple(CompiledUndo(on=undo.on, when=expr(undo.when)) for undo in rule_spec.undone_by),
            suspended_by=frozenset(rule_spec.suspended_by),
            restored_by=frozenset(rule_spec.restored_by),
        )
        ruleset.rules[rule.id] = rule
        ruleset.by_type.setdefault(rule.on, []).append(rule)
        for undo in rule.undone_by:
            ruleset.undo_by_type.setdefault(undo.on, []).append((rule, undo))
        for event_type in rule.suspended_by:
            ruleset.suspend_by_type.setdefault(event_type, []).append(rule)
        for event_type in rule.restored_by:
            ruleset.restore_by_type.setdefault(event_type, []).append(rule)
    return ruleset
