"""Leaderboards declared in the rules file: what they score, their periods and period-end awards; the period
keys a time falls in, and what a batch of ledger entries and counter changes adds to each board (pure, no I/O).
"""

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from rewards.engine.state import CounterChange, LedgerEntry

BoardId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Period = Literal["all-time", "yearly", "quarterly", "monthly", "weekly", "daily"]
PERIODS: tuple[Period, ...] = ("all-time", "yearly", "quarterly", "monthly", "weekly", "daily")
ALL_TIME_KEY = "all"

# How many closed periods of each kind stay in Redis by default; older ones are read from the database.
DEFAULT_RETENTION: dict[str, int] = {"yearly": 5, "quarterly": 8, "monthly": 13, "weekly": 26, "daily": 35}

AT_FORMATS: dict[str, str] = {
    "all-time": "all",
    "yearly": "YYYY, e.g. 2026",
    "quarterly": "YYYY-Qn, e.g. 2026-Q4",
    "monthly": "YYYY-MM, e.g. 2026-11",
    "weekly": "YYYY-Www (ISO week), e.g. 2026-W47",
    "daily": "YYYY-MM-DD, e.g. 2026-11-23",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RulesScore(_Strict):
    """Points of the ledger entries of these rules (their undos and suspensions included)."""

    rules: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]] = Field(min_length=1)


class CounterScore(_Strict):
    """A counter of the user (accepted answers...), optionally one scope value of it (a category)."""

    counter: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    scope: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


ScoreSource = Literal["reputation"] | RulesScore | CounterScore


class PeriodAward(_Strict):
    """At the close of each `period`, the board's top `top` (ties at the border included) get a badge or a perk."""

    period: Period
    top: int = Field(ge=1, le=1000)
    badge: str | None = Field(default=None, max_length=64)
    perk: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_prize(self) -> "PeriodAward":
        if (self.badge is None) == (self.perk is None):
            raise ValueError("a period award names exactly one of `badge` or `perk`")
        if self.period == "all-time":
            raise ValueError("the all-time period never closes; choose yearly, quarterly, monthly, weekly or daily")
        return self


class BoardSpec(_Strict):
    id: BoardId
    title: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: str | None = Field(default=None, max_length=500)
    score: ScoreSource = Field(
        default="reputation",
        description="`reputation` (the sum of the ledger), `{rules: [rule ids]}` (the points of those rules) or "
        "`{counter: id, scope: value}` (a counter, e.g. accepted answers in one category).",
    )
    periods: list[Period] = Field(default_factory=lambda: list(PERIODS), min_length=1)
    retention: dict[Period, int] = Field(
        default_factory=dict,
        description="Closed periods of each kind kept in Redis (defaults: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_RETENTION.items())
        + "); older ones stay readable from the database.",
    )
    awards: list[PeriodAward] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "BoardSpec":
        if len(set(self.periods)) != len(self.periods):
            raise ValueError("a period is listed twice")
        for award in self.awards:
            if award.period not in self.periods:
                raise ValueError(f"the award's period {award.period!r} is not one of the board's periods")
        for period, count in self.retention.items():
            if not 0 <= count <= MAX_RETENTION:
                raise ValueError(f"retention of {period} must be 0 to {MAX_RETENTION} closed periods")
        return self

    def retained(self, period: Period) -> int:
        return self.retention.get(period, DEFAULT_RETENTION.get(period, 0))


def check_boards(spec: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems that span boards and the rest of the rules file (a board naming an unknown rule or counter)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    seen: set[str] = set()
    rule_ids = {rule.id for rule in spec.points}
    counters: dict[str, Any] = dict(getattr(spec, "counters", None) or {})
    for index, board in enumerate(spec.leaderboards):
        if board.id in seen:
            problems.append((("leaderboards", index, "id"), f"board id {board.id!r} is used twice"))
        seen.add(board.id)
        badge_ids = {badge.id for badge in getattr(spec, "badges", None) or ()}
        for award_index, award in enumerate(board.awards):
            if award.badge is not None and award.badge not in badge_ids:
                problems.append(
                    (
                        ("leaderboards", index, "awards", award_index, "badge"),
                        f"badge {award.badge!r} is not declared in `badges`",
                    )
                )
            perk_ids = {perk.id for perk in getattr(spec, "perks", None) or ()}
            if award.perk is not None and award.perk not in perk_ids:
                problems.append(
                    (
                        ("leaderboards", index, "awards", award_index, "perk"),
                        f"perk {award.perk!r} is not declared in `perks`",
                    )
                )
        score = board.score
        if isinstance(score, RulesScore):
            for rule_index, rule_id in enumerate(score.rules):
                if rule_id not in rule_ids:
                    problems.append(
                        (
                            ("leaderboards", index, "score", "rules", rule_index),
                            f"rule {rule_id!r} is not declared in `points`",
                        )
                    )
        elif isinstance(score, CounterScore):
            if score.counter not in counters:
                known = ", ".join(sorted(counters)) or "none are declared"
                problems.append(
                    (
                        ("leaderboards", index, "score", "counter"),
                        f"counter {score.counter!r} is not declared in `counters` ({known})",
                    )
                )
            else:
                counter = counters[score.counter]
                if getattr(counter, "per", "user") != "user":
                    problems.append(
                        (
                            ("leaderboards", index, "score", "counter"),
                            f"counter {score.counter!r} counts per post; a board ranks users",
                        )
                    )
                if score.scope is not None and getattr(counter, "scope", None) is None:
                    problems.append(
                        (
                            ("leaderboards", index, "score", "scope"),
                            f"counter {score.counter!r} has no `scope`, so a board cannot pick one of its values",
                        )
                    )
    return problems


def boards_digest(boards: Sequence[BoardSpec]) -> str:
    """Changes when what the boards score changes (a new board, other rules): their stored scores must be
    recomputed then. Titles, retention and awards do not change scores."""
    text = "|".join(
        f"{board.id}:{board.score if isinstance(board.score, str) else board.score.model_dump_json()}:"
        f"{','.join(board.periods)}"
        for board in boards
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# -- periods ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def day_keys(day: date) -> dict[Period, str]:
    """The key of every period a UTC day falls in."""
    iso = day.isocalendar()
    return {
        "all-time": ALL_TIME_KEY,
        "yearly": f"{day.year:04d}",
        "quarterly": f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}",
        "monthly": f"{day.year:04d}-{day.month:02d}",
        "weekly": f"{iso.year:04d}-W{iso.week:02d}",
        "daily": day.isoformat(),
    }


def period_key(period: Period, when: datetime) -> str:
    """The key of the period (UTC) a time falls in: `2026`, `2026-Q4`, `2026-11`, `2026-W47`, `2026-11-23`, `all`.
    Weeks are ISO weeks: Monday to Sunday, numbered in the ISO year (2026-12-31 is in 2026-W53)."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: periods are computed in UTC from timezone-aware times")
    return day_keys(when.astimezone(UTC).date())[period]


_PATTERNS: dict[str, re.Pattern[str]] = {
    "yearly": re.compile(r"^([0-9]{4})$"),
    "quarterly": re.compile(r"^([0-9]{4})-Q([1-4])$"),
    "monthly": re.compile(r"^([0-9]{4})-([0-9]{2})$"),
    "weekly": re.compile(r"^([0-9]{4})-W([0-9]{2})$"),
    "daily": re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$"),
}
# The years boards cover: those of event times (the intake refuses others), so that every period of them has a
# previous and a next one.
FIRST_YEAR, LAST_YEAR = 1970, 2200
MAX_RETENTION = 1000


def period_start(period: Period, key: str) -> datetime:
    """The first instant (UTC) of the period `key`; ValueError when `key` is not a key of that period."""
    if period == "all-time":
        if key != ALL_TIME_KEY:
            raise ValueError(f"the all-time period has one key, {ALL_TIME_KEY!r}")
        return datetime.min.replace(tzinfo=UTC)
    match = _PATTERNS[period].match(key)
    if match is None:
        raise ValueError(f"{key!r} is not a {period} period; expected {AT_FORMATS[period]}")
    numbers = [int(part) for part in match.groups()]
    if not FIRST_YEAR <= numbers[0] <= LAST_YEAR:
        raise ValueError(f"{key!r}: boards cover the years {FIRST_YEAR} to {LAST_YEAR}")
    if period == "yearly":
        day = date(numbers[0], 1, 1)
    elif period == "quarterly":
        day = date(numbers[0], 3 * numbers[1] - 2, 1)
    elif period == "monthly":
        if not 1 <= numbers[1] <= 12:
            raise ValueError(f"{key!r} is not a month; expected {AT_FORMATS[period]}")
        day = date(numbers[0], numbers[1], 1)
    elif period == "weekly":
        try:
            day = date.fromisocalendar(numbers[0], numbers[1], 1)
        except ValueError:
            raise ValueError(f"{key!r}: year {numbers[0]} has no ISO week {numbers[1]}") from None
    else:
        try:
            day = date(numbers[0], numbers[1], numbers[2])
        except ValueError:
            raise ValueError(f"{key!r} is not a date; expected {AT_FORMATS[period]}") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def period_end(period: Period, key: str) -> datetime | None:
    """The first instant after the period (None for all-time)."""
    if period == "all-time":
        return None
    start = period_start(period, key)
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(weeks=1)
    months = {"monthly": 1, "quarterly": 3, "yearly": 12}[period]
    month = start.month - 1 + months
    return start.replace(year=start.year + month // 12, month=month % 12 + 1)


def previous_key(period: Period, key: str) -> str:
    """The period just before `key`."""
    return period_key(period, period_start(period, key) - timedelta(microseconds=1))


def parse_at(period: Period, text: str | None, now: datetime) -> str:
    """The period key a request's `at=` names: a period key, a date (`2026-11-23`, any period) or nothing (the
    current period). ValueError says the expected format."""
    if period == "all-time":
        if text not in (None, "", ALL_TIME_KEY):
            raise ValueError(f"the all-time period has no `at`; leave it out or send {ALL_TIME_KEY!r}")
        return ALL_TIME_KEY
    if text is None or text == "":
        return period_key(period, now)
    if period != "daily" and _PATTERNS["daily"].match(text):
        return period_key(period, period_start("daily", text))
    period_start(period, text)  # validates
    return text


def redis_expiry(board: BoardSpec, period: Period, key: str) -> datetime | None:
    """When a period's scores leave Redis: after the board's retention of closed periods (None: never)."""
    end = period_end(period, key)
    if end is None:
        return None
    expiry = end
    for _ in range(board.retained(period)):
        expiry = period_end(period, period_key(period, expiry)) or expiry
    return expiry


# -- what a batch adds ------------------------------------------------------------------------------------


class BoardDelta(NamedTuple):
    """A user's score on one board and period moved by `points`; `reached_at` is the latest time of the items
    that moved it (a later score replaces an earlier one as "reached at").

    A named tuple, not a frozen dataclass: a batch makes several per event, and a tuple is made in a third of
    the time (its fields are also the `leaderboard_deltas` columns in order, ready for COPY)."""

    board: str
    period: str  # the period key: `2026-W47`, `all`...
    user_id: str
    points: int
    reached_at: datetime


def _items(board: BoardSpec, entries: Iterable[LedgerEntry], changes: Iterable[CounterChange]) -> Iterable[Any]:
    score = board.score
    if isinstance(score, CounterScore):
        return (
            (change.user_id, change.delta, change.occurred_at)
            for change in changes
            if change.counter_id == score.counter and (score.scope is None or change.scope == score.scope)
        )
    if isinstance(score, RulesScore):
        rules = set(score.rules)
        return ((e.user_id, e.points, e.occurred_at) for e in entries if e.rule_id in rules)
    return ((e.user_id, e.points, e.occurred_at) for e in entries)


def board_deltas(
    boards: Sequence[BoardSpec], entries: Sequence[LedgerEntry], counter_changes: Sequence[CounterChange]
) -> list[BoardDelta]:
    """What a batch's ledger entries and counter changes add to each board and period, one delta per
    (board, period, user). Items of zero points change nothing, not even "reached at"."""
    deltas: list[BoardDelta] = []
    days: dict[datetime, date] = {}  # an event's entries share its time: one conversion per event
    for board in boards:
        # First by user and UTC day (a batch's items fall on a few days), then out to the board's periods.
        daily: dict[tuple[str, date], list[Any]] = {}
        for user_id, points, occurred_at in _items(board, entries, counter_changes):
            if points == 0:
                continue
            day = days.get(occurred_at)
            if day is None:
                day = days[occurred_at] = occurred_at.astimezone(UTC).date()
            key = (user_id, day)
            found = daily.get(key)
            if found is None:
                daily[key] = [points, occurred_at]
            else:
                found[0] += points
                if occurred_at > found[1]:
                    found[1] = occurred_at
        totals: dict[tuple[str, str], list[Any]] = {}
        # A batch's items fall on a few days: each day's period keys are worked out once, not once per user.
        keys_of_day: dict[date, list[str]] = {}
        for (user_id, day), (points, reached_at) in daily.items():
            keys = keys_of_day.get(day)
            if keys is None:
                every_key = day_keys(day)
                keys = keys_of_day[day] = [every_key[period] for period in board.periods]
            for key_of_period in keys:
                period_total = totals.get((key_of_period, user_id))
                if period_total is None:
                    totals[(key_of_period, user_id)] = [points, reached_at]
                else:
                    period_total[0] += points
                    if reached_at > period_total[1]:
                        period_total[1] = reached_at
        board_id = board.id
        deltas.extend(
            BoardDelta(board_id, key_of_period, user, points, reached)
            for (key_of_period, user), (points, reached) in totals.items()
        )
    return deltas


def period_of_key(key: str) -> Period:
    """Which kind of period a key is (keys of different kinds never look alike)."""
    if key == ALL_TIME_KEY:
        return "all-time"
    for period, pattern in _PATTERNS.items():
        if pattern.match(key):
            return period  # type: ignore[return-value]
    raise ValueError(f"{key!r} is not a period key")


@dataclass(frozen=True, slots=True)
class Ranked:
    """One row of a board: standard competition rank (1, 2, 2, 4)."""

    rank: int
    user_id: str
    score: int
    reached_at: datetime


def competition_ranks(rows: Sequence[tuple[str, int, datetime]], first_rank: int, first_position: int) -> list[Ranked]:
    """Ranks for consecutive rows of a board in order (score desc, reached_at asc, user id asc), starting at
    global position `first_position` (0-based) whose rank is `first_rank`: a row with the previous row's score
    shares its rank, any other row's rank is its position + 1."""
    ranked: list[Ranked] = []
    for index, (user_id, score, reached_at) in enumerate(rows):
        if index == 0:
            rank = first_rank
        elif score == ranked[-1].score:
            rank = ranked[-1].rank
        else:
            rank = first_position + index + 1
        ranked.append(Ranked(rank=rank, user_id=user_id, score=score, reached_at=reached_at))
    return ranked
