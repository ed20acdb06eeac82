"""The ruleset: typed models of the YAML rules file, and their compiled form used per event."""

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from rewards.engine.boards import BoardSpec, check_boards
from rewards.engine.contributions import ContributionKind, check_contributions
from rewards.engine.expressions import Expression, ExpressionError, Function, Template
from rewards.engine.renewal import PerkRenewal, Renewal
from rewards.engine.texts import RuleTexts

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


# A web address in the rules file (a perk's link, a badge's image) becomes a link or an image on members' pages and
# in the forum: only an absolute http(s) address, so a rules file cannot put `javascript:` or `data:` there. No
# whitespace or control character either: browsers drop some of them, which would change what the address is.
_WEB_URL = re.compile(r"https?://[^\x00-\x20\x7f/?#\\]+[^\x00-\x20\x7f]*", re.IGNORECASE | re.ASCII)
# What a browser would read as an address rather than a symbol: a scheme (after dropping what it drops), or `//`.
_ADDRESS_LIKE = re.compile(r"[a-z][a-z0-9+.-]*:|//|\\", re.IGNORECASE | re.ASCII)


def web_url(value: object) -> str | None:
    """`value` when it is an absolute http(s) address, else None (pages then show it as text, not as a link)."""
    return value if isinstance(value, str) and _WEB_URL.fullmatch(value) else None


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _check_web_url(value: str | None) -> str | None:
    if value is not None and web_url(value) is None:
        raise ValueError(
            f"`url` must be an absolute http:// or https:// address, such as https://forum.example.com/beta, "
            f"not {_shown(value)}"
        )
    return value


def _check_icon(value: str | None) -> str | None:
    """A symbol (an emoji, `:trophy:`), or an image's address, which must then be a web address."""
    if value is not None and web_url(value) is None and _ADDRESS_LIKE.match(re.sub(r"[\x00-\x20\x7f]", "", value)):
        raise ValueError(
            f"`icon` is a short symbol or an image's absolute http:// or https:// address, not {_shown(value)}"
        )
    return value


MAX_POINTS = 100_000


class AwardSpec(_Strict):
    """Who receives how many points when the rule fires."""

    to: str = Field(description="The user who receives the points: `post.author`, `actor`, `flagger`...")
    points: int | str = Field(
        description="A whole number, or an expression on the event for amounts the event carries, such as a "
        "bounty: `bounty.amount`, `-bounty.amount`. Either way within ±100,000."
    )
    when: str | None = Field(default=None, description="Only for this recipient when this holds.")
    cap: str | None = Field(default=None, description="Id of a cap (in `caps`) that limits these gains.")
    label: str | None = Field(default=None, description="Reason shown in the history; defaults to the rule's.")
    counts: dict[RuleId, int] = Field(
        default_factory=dict,
        description="Counters (in `counters`) this award adds to while it is live, e.g. `[accepted_answers]`, or "
        "with a weight: `{post_score: -1}`. Undo, suspension and restore move the counters with the points.",
    )

    _to = field_validator("to")(_check_path)

    @field_validator("counts", mode="before")
    @classmethod
    def _counts_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {value: 1}
        return {item: 1 for item in value} if isinstance(value, list) else value

    _when = field_validator("when")(_check_expression)
    _label = field_validator("label")(_check_template)

    @field_validator("points")
    @classmethod
    def _points_in_range(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not -MAX_POINTS <= value <= MAX_POINTS:
            raise ValueError(f"points must be within ±{MAX_POINTS:,}")
        if isinstance(value, str):
            Expression(value, STATE_FUNCTION_NAMES)
        return value

    @model_validator(mode="after")
    def _caps_limit_gains(self) -> "AwardSpec":
        if self.cap is not None and isinstance(self.points, int) and self.points <= 0:
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
    badges: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}(/(bronze|silver|gold))?$")]] = (
        Field(
            default_factory=list,
            description="Badges needed too, as `id` or `id/tier` (that tier or higher): `[solver/silver]`.",
        )
    )
    renewal: Renewal | None = Field(
        default=None,
        description="Held only while enough is counted in a rolling window, else lowered: `{counter: "
        "accepted_answers, at: 10, window: 12 months, warn_before: 30 days}`. Unset: held for good.",
    )


class Counter(_Strict):
    """A running count kept by the engine: accepted answers of a user, the score of a post..."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: str | None = Field(default=None, max_length=500)
    per: Literal["user", "post"] = Field(
        default="user",
        description="`user`: counts for the award's recipient; `post`: counts for the award's subject (a post), "
        "for post badges such as Nice Answer.",
    )
    scope: str | None = Field(
        default=None,
        description="Also count per value of this event field, e.g. `post.category` for a category expert badge.",
    )

    _scope = field_validator("scope")(lambda value: None if value is None else _check_path(value))


Tier = Literal["bronze", "silver", "gold"]
TIER_ORDER: dict[str, int] = {"bronze": 1, "silver": 2, "gold": 3}


class Badge(_Strict):
    """A badge: one level (`level` + `at`) or tiers (`tiers: {bronze: 1, silver: 25, gold: 100}`), earned by a
    counter of the user, a counter of one of their posts, a streak of days, or reputation."""

    id: RuleId
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: str = Field(min_length=1, max_length=500)
    icon: str | None = Field(
        default=None, max_length=300, description="A short symbol, or an image's absolute http(s) address."
    )
    level: Tier | None = Field(default=None, description="For a one-level badge: bronze, silver or gold.")
    at: int | None = Field(default=None, ge=1, description="For a one-level badge: the threshold.")
    tiers: dict[Tier, int] | None = Field(default=None, description="For a tiered badge: threshold per tier.")
    counter: RuleId | None = Field(default=None, description="A `per: user` counter, e.g. accepted_answers.")
    scope: str | None = Field(default=None, max_length=100, description="With `counter`: one scope value.")
    post: RuleId | None = Field(default=None, description="A `per: post` counter: granted once per post.")
    streak: RuleId | None = Field(
        default=None, description="A `per: user` counter: consecutive UTC days on which it went up."
    )
    reputation: bool = Field(default=False, description="Thresholds are reputation.")
    requires: dict[RuleId, int] = Field(
        default_factory=dict,
        description="Other counters that must be at least these values too: of the same post for a post badge "
        "(Enlightened: an answer with score 10 that is also accepted), else of the user.",
    )
    repeat: bool = Field(
        default=True,
        description="For a post badge: granted again for every post that qualifies (Nice Answer); false grants "
        "it once, for the first post (Teacher).",
    )
    revocable: bool = Field(
        default=False,
        description="Taken back when its count falls below the threshold again (after undo). By default badges "
        "stay, as on Stack Exchange.",
    )

    _icon = field_validator("icon")(_check_icon)

    @model_validator(mode="after")
    def _one_criterion_and_levels(self) -> "Badge":
        criteria = [name for name in ("counter", "post", "streak") if getattr(self, name) is not None]
        criteria += ["reputation"] if self.reputation else []
        if len(criteria) != 1:
            raise ValueError(
                "a badge needs exactly one criterion: `counter`, `post`, `streak` or `reputation: true`"
                + (f" (it has {', '.join(criteria)})" if criteria else "")
            )
        if self.scope is not None and self.counter is None and self.post is None:
            raise ValueError("`scope` goes with `counter` or `post`")
        if (self.tiers is None) == (self.level is None or self.at is None):
            raise ValueError("a badge has either `level` and `at` (one level) or `tiers`, not both")
        if self.tiers is not None:
            if not self.tiers:
                raise ValueError("`tiers` needs at least one tier")
            ordered = sorted(self.tiers.items(), key=lambda item: TIER_ORDER[item[0]])
            for (low, low_at), (high, high_at) in pairwise(ordered):
                if high_at <= low_at:
                    raise ValueError(f"tier {high} ({high_at}) must need more than {low} ({low_at})")
        return self

    def levels(self) -> list[tuple[str, int]]:
        """(tier, threshold), lowest first."""
        if self.tiers is not None:
            return sorted(self.tiers.items(), key=lambda item: TIER_ORDER[item[0]])
        assert self.level is not None and self.at is not None
        return [(self.level, self.at)]


# Bounds of the rules file's numbers that become dates and stored counts: 100 years; a million seats.
MAX_DAYS = 36_500
MAX_SEATS = 1_000_000


class Eligibility(_Strict):
    """What an expert needs for a perk; each unmet part is shown to them as what is missing."""

    reputation: int | None = Field(default=None, ge=0)
    rank: RuleId | None = Field(default=None, description="A rank id: this rank or a higher one.")
    badges: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}(/(bronze|silver|gold))?$")]] = (
        Field(default_factory=list, description="Badge ids, or `id/tier` for a tier or higher: `solver/silver`.")
    )
    counters: dict[RuleId, int] = Field(default_factory=dict, description="Counter minimums: `{accepted_answers: 10}`.")
    active_within_days: int | None = Field(default=None, ge=1, le=MAX_DAYS, description="Active in the last N days.")


class PerkDetails(_Strict):
    """What the expert is given: a workshop's date, place and agenda; a role's forum group."""

    date: datetime | None = None
    place: str | None = Field(default=None, max_length=300)
    agenda: str | None = Field(default=None, max_length=2000)
    group: str | None = Field(default=None, max_length=100, description="For `role` perks: the forum group.")
    url: str | None = Field(default=None, max_length=500, description="An absolute http(s) address.")

    _url = field_validator("url")(_check_web_url)


class Perk(_Strict):
    """A non-monetary reward: beta access, a workshop or briefing seat, a role such as moderator."""

    id: RuleId
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: str = Field(min_length=1, max_length=1000)
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = Field(
        description="`beta_access` (hands out a code), `workshop`, `briefing`, `role`, or your own word."
    )
    eligibility: Eligibility = Field(default_factory=Eligibility)
    seats: int | None = Field(default=None, ge=0, le=MAX_SEATS, description="Capacity; unset is unlimited.")
    opens: datetime | None = Field(default=None, description="No offers before this time.")
    closes: datetime | None = Field(default=None, description="No new offers from this time.")
    expires_after_days: int | None = Field(
        default=None, ge=1, le=MAX_DAYS, description="An active perk ends this long after."
    )
    approval: bool = Field(default=False, description="A manager approves each request before the offer.")
    claim_within_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DAYS,
        description="The expert claims the offer within N days; unset grants it at once.",
    )
    when_suspended: Literal["keep", "revoke"] = Field(
        default="revoke", description="What happens to an active perk when its holder is suspended."
    )
    when_rules_no_longer_qualify: Literal["keep", "revoke"] = Field(
        default="keep",
        description="What happens to an active perk when rules published retroactively (or a rollback) mean its "
        "holder never qualified. An unclaimed offer or a waitlist place is withdrawn either way.",
    )
    renewal: PerkRenewal | None = Field(
        default=None,
        description="Offered and kept only while enough is counted in a rolling window; when it lapses an active "
        "perk ends and an unclaimed offer is withdrawn: `{counter: accepted_answers, at: 5, window: 12 months, "
        "warn_before: 30 days}`. Unset: kept until it expires or is revoked.",
    )
    details: PerkDetails = Field(default_factory=PerkDetails)

    @model_validator(mode="after")
    def _window(self) -> "Perk":
        for name in ("opens", "closes"):  # first: a naive time cannot be compared with an aware one
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"`{name}` needs a time zone, e.g. 2026-12-01T09:00:00Z")
        if self.opens is not None and self.closes is not None and self.closes <= self.opens:
            raise ValueError("`closes` must be after `opens`")
        return self


class RulesetSpec(_Strict):
    """A rules file."""

    ruleset: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: str | None = None
    caps: dict[RuleId, Cap] = Field(default_factory=dict)
    counters: dict[RuleId, Counter] = Field(default_factory=dict)
    points: list[PointsRule] = Field(default_factory=list)
    badges: list[Badge] = Field(default_factory=list)
    perks: list[Perk] = Field(default_factory=list)
    ranks: list[Rank] = Field(default_factory=list, description="Lowest first; the first starts at 0.")
    leaderboards: list[BoardSpec] = Field(default_factory=list)
    contributions: list[ContributionKind] = Field(
        default_factory=list, description="Kinds of contribution experts report and managers approve."
    )


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
    for index, rule in enumerate(spec.points):
        for award_index, award in enumerate(rule.award):
            for counter_id in award.counts:
                if counter_id not in spec.counters:
                    known = ", ".join(sorted(spec.counters)) or "none are declared"
                    problems.append(
                        (
                            ("points", index, "award", award_index, "counts"),
                            f"counter {counter_id!r} is not declared in `counters` ({known})",
                        )
                    )
    badge_ids: set[str] = set()
    for index, badge in enumerate(spec.badges):
        if badge.id in badge_ids:
            problems.append((("badges", index, "id"), f"badge id {badge.id!r} is used twice"))
        badge_ids.add(badge.id)
        for field_name, per in (("counter", "user"), ("streak", "user"), ("post", "post")):
            counter_id = getattr(badge, field_name)
            if counter_id is None:
                continue
            counter = spec.counters.get(counter_id)
            if counter is None:
                known = ", ".join(sorted(spec.counters)) or "none are declared"
                problems.append(
                    (("badges", index, field_name), f"counter {counter_id!r} is not declared in `counters` ({known})")
                )
            elif counter.per != per:
                problems.append(
                    (
                        ("badges", index, field_name),
                        f"`{field_name}` needs a counter with `per: {per}`; {counter_id!r} is `per: {counter.per}`",
                    )
                )
            elif badge.scope is not None and counter.scope is None and field_name != "streak":
                problems.append(
                    (("badges", index, "scope"), f"counter {counter_id!r} has no `scope`, so it cannot be scoped")
                )
        for counter_id in badge.requires:
            required = spec.counters.get(counter_id)
            per = "post" if badge.post is not None else "user"
            if required is None or required.per != per:
                problems.append(
                    (
                        ("badges", index, "requires"),
                        f"`requires` names {counter_id!r}, which is not a declared `per: {per}` counter",
                    )
                )
    for index, rank in enumerate(spec.ranks):
        for reference in rank.badges:
            if reference.split("/")[0] not in badge_ids:
                problems.append((("ranks", index, "badges"), f"no badge {reference.split('/')[0]!r} in `badges`"))
        if index == 0 and rank.badges:
            problems.append((("ranks", 0, "badges"), "the first rank is everyone's: it cannot need badges"))
        if rank.renewal is not None:
            if index == 0:
                problems.append((("ranks", 0, "renewal"), "the first rank is everyone's: it cannot lapse"))
            counter = spec.counters.get(rank.renewal.counter)
            if counter is None or counter.per != "user":
                problems.append(
                    (
                        ("ranks", index, "renewal", "counter"),
                        f"{rank.renewal.counter!r} is not a declared `per: user` counter",
                    )
                )
    perk_ids: set[str] = set()
    for index, perk in enumerate(spec.perks):
        if perk.id in perk_ids:
            problems.append((("perks", index, "id"), f"perk id {perk.id!r} is used twice"))
        perk_ids.add(perk.id)
        if perk.renewal is not None:
            counter = spec.counters.get(perk.renewal.counter)
            if counter is None or counter.per != "user":
                problems.append(
                    (
                        ("perks", index, "renewal", "counter"),
                        f"{perk.renewal.counter!r} is not a declared `per: user` counter",
                    )
                )
        needs = perk.eligibility
        if needs.rank is not None and needs.rank not in rank_ids:
            problems.append((("perks", index, "eligibility", "rank"), f"no rank {needs.rank!r} in `ranks`"))
        for badge_ref in needs.badges:
            if badge_ref.split("/")[0] not in badge_ids:
                problems.append(
                    (("perks", index, "eligibility", "badges"), f"no badge {badge_ref.split('/')[0]!r} in `badges`")
                )
        for counter_id in needs.counters:
            if spec.counters.get(counter_id) is None or spec.counters[counter_id].per != "user":
                problems.append(
                    (("perks", index, "eligibility", "counters"), f"{counter_id!r} is not a `per: user` counter")
                )
    problems.extend(check_boards(spec))
    problems.extend(check_contributions(spec))
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
    points_from: Expression | None  # points read from the event, when the rule says so
    when: Expression | None
    cap: Cap | None
    cap_id: str | None
    label: Template | None
    counts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class CompiledCounter:
    id: str
    per: str
    scope: Expression | None


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
    counters: dict[str, CompiledCounter] = field(default_factory=dict)
    badges: dict[str, Badge] = field(default_factory=dict)
    # Badges by what moves them: a user counter, a post counter, a streak counter, reputation.
    badges_by_counter: dict[str, list[Badge]] = field(default_factory=dict)
    badges_by_post_counter: dict[str, list[Badge]] = field(default_factory=dict)
    badges_by_streak: dict[str, list[Badge]] = field(default_factory=dict)
    reputation_badges: list[Badge] = field(default_factory=list)
    post_counting_rules: set[str] = field(default_factory=set)  # rules with awards that count for posts
    badge_floors: dict[str, int] = field(default_factory=dict)  # each badge's lowest threshold
    # Counters some rank's or perk's renewal reads, kept per month too (`rewards.engine.renewal`).
    windowed_counters: frozenset[str] = frozenset()
    # The file's texts in other languages, for pages (the engine itself works with the canonical ones).
    texts: RuleTexts = field(default_factory=RuleTexts)

    @property
    def name(self) -> str:
        return self.spec.ruleset

    # Per event type, worked out on first use: the users its conditions ask about (`reputation(actor)`).
    _asked_paths: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict, repr=False, compare=False)

    def listens_to(self, event_type: str) -> bool:
        return any(
            event_type in index
            for index in (self.by_type, self.undo_by_type, self.suspend_by_type, self.restore_by_type)
        )

    def asked_paths(self, event_type: str) -> tuple[tuple[str, ...], ...]:
        """The field paths naming users whose state the conditions of `event_type`'s rules read."""
        found = self._asked_paths.get(event_type)
        if found is None:
            rules = self.by_type.get(event_type, ())
            conditions = [
                *(rule.when for rule in rules),
                *(award.when for rule in rules for award in rule.awards),
                *(undo.when for _rule, undo in self.undo_by_type.get(event_type, ())),
            ]
            paths = (path for condition in conditions if condition is not None for path in condition.asks_about)
            found = tuple(dict.fromkeys(paths))
            self._asked_paths[event_type] = found
        return found


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
                    points=award.points if isinstance(award.points, int) else 0,
                    points_from=expr(award.points) if isinstance(award.points, str) else None,
                    when=expr(award.when),
                    cap=None if award.cap is None else spec.caps[award.cap],
                    cap_id=award.cap,
                    label=None if award.label is None else Template(award.label),
                    counts=tuple(award.counts.items()),
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
    for counter_id, counter in spec.counters.items():
        ruleset.counters[counter_id] = CompiledCounter(
            id=counter_id,
            per=counter.per,
            scope=None if counter.scope is None else Expression(counter.scope, functions),
        )
    for rule in ruleset.rules.values():
        if any(ruleset.counters[c].per == "post" for award in rule.awards for c, _ in award.counts):
            ruleset.post_counting_rules.add(rule.id)
    for badge in spec.badges:
        ruleset.badges[badge.id] = badge
        ruleset.badge_floors[badge.id] = badge.levels()[0][1]
        if badge.counter is not None:
            for counter_id in (badge.counter, *badge.requires):
                ruleset.badges_by_counter.setdefault(counter_id, []).append(badge)
        if badge.post is not None:
            for counter_id in (badge.post, *badge.requires):
                ruleset.badges_by_post_counter.setdefault(counter_id, []).append(badge)
        if badge.streak is not None:
            ruleset.badges_by_streak.setdefault(badge.streak, []).append(badge)
        if badge.reputation:
            ruleset.reputation_badges.append(badge)
    ruleset.windowed_counters = frozenset(
        [rank.renewal.counter for rank in spec.ranks if rank.renewal is not None]
        + [perk.renewal.counter for perk in spec.perks if perk.renewal is not None]
    )
    return ruleset
