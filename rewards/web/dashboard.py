"""The programme dashboard's figures from plain rows: who carried support, medians, shares, the chart's geometry.

Pure: no session, no clock. rewards/web/dashboard_repository.py reads the rows; the console page shows the result.

Definitions (the README repeats them):
- A question counts when it was asked in the range; its answers and acceptances count up to the range's end, so a
  past range always shows the same figures. Removed posts (not restored by then) do not count.
- An answer by the question's own author is not support: it neither answers nor solves the question here.
- A question is answered by whoever wrote its first answer (community member or staff), solved by whoever wrote
  its accepted answer. Staff are the ids in REWARDS_STAFF_USERS; everyone else is the community.
- Active experts: people with an answer in the last 30 days of the range.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rewards.engine.boards import FIRST_YEAR, LAST_YEAR
from rewards.web.i18n import N_

DEFAULT_DAYS = 30
ACTIVE_DAYS = 30
MAX_DAYS = 731
SUPPORT_TYPES = (
    "question.posted",
    "answer.posted",
    "answer.accepted",
    "answer.unaccepted",
    "post.removed",
    "post.restored",
)


class RangeRefused(ValueError):
    """A date range the dashboard cannot show; `message` is a catalog message id with `params`."""

    def __init__(self, message: str, **params: str) -> None:
        super().__init__(message % params)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days, `first` to `last` inclusive."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the range."""
        return datetime(self.last.year, self.last.month, self.last.day, tzinfo=UTC) + timedelta(days=1)

    @property
    def active_since(self) -> datetime:
        """The start of the last 30 days of the range (before `start` when the range is shorter)."""
        return self.end - timedelta(days=ACTIVE_DAYS)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def parse_range(first: str | None, last: str | None, today: date) -> DateRange:
    """The range a form asks for (ISO dates; either may be empty): by default the 30 days up to today."""
    try:
        last_day = date.fromisoformat(last) if last else today
        first_day = date.fromisoformat(first) if first else last_day - timedelta(days=DEFAULT_DAYS - 1)
    except (ValueError, OverflowError):
        raise RangeRefused(N_("Dates are written as YYYY-MM-DD, for example 2026-03-01.")) from None
    if not (first_day.year >= FIRST_YEAR and last_day.year <= LAST_YEAR):
        raise RangeRefused(
            N_("Choose dates from %(first)s to %(last)s."), first=f"{FIRST_YEAR}-01-01", last=f"{LAST_YEAR}-12-31"
        )
    if first_day > last_day:
        raise RangeRefused(N_("The range starts after it ends: swap the dates."))
    if (last_day - first_day).days + 1 > MAX_DAYS:
        raise RangeRefused(N_("Choose a range of %(days)s days at most."), days=str(MAX_DAYS))
    return DateRange(first_day, last_day)


# -- support: questions, answers, acceptances -------------------------------------------------------------


@dataclass(frozen=True)
class LogEvent:
    """An event of the log as the repository streams it, in log order (`seq`)."""

    type: str
    time: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class SupportFigures:
    questions: int
    answered_by_community: int
    answered_by_staff: int
    solved_by_community: int
    solved_by_staff: int
    active_community: int
    active_staff: int
    first_answer_seconds: list[float] = field(repr=False)

    @property
    def answered(self) -> int:
        return self.answered_by_community + self.answered_by_staff

    @property
    def unanswered(self) -> int:
        return self.questions - self.answered

    @property
    def solved(self) -> int:
        return self.solved_by_community + self.solved_by_staff

    @property
    def community_share(self) -> float | None:
        """The share of answered questions the community answered first: the support it carries."""
        return share(self.answered_by_community, self.answered)

    @property
    def community_solved_share(self) -> float | None:
        return share(self.solved_by_community, self.solved)

    @property
    def median_first_answer_seconds(self) -> float | None:
        return median(self.first_answer_seconds)


@dataclass(frozen=True)
class _Question:
    author: str
    asked_at: datetime


@dataclass(frozen=True)
class QuestionOutcome:
    """What became of one question asked in the range, as of the range's end: its first answer by someone other
    than the asker, and its accepted answer (when one by someone other than the asker is accepted then)."""

    asked_at: datetime
    first_answer_at: datetime | None
    first_answer_by: str | None
    solved_at: datetime | None  # when the accepted answer was accepted
    solved_by: str | None


def _post(data: dict[str, Any]) -> dict[str, Any]:
    post = data.get("post")
    return post if isinstance(post, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class SupportTally:
    """Counts support from the log's events, fed in log order from `period.active_since` or `period.start` (the
    earlier) to its end. Keeps only questions asked in the range: memory grows with those, not with the log."""

    def __init__(self, period: DateRange, staff: frozenset[str]) -> None:
        self.period = period
        self.staff = staff
        self.questions: dict[str, _Question] = {}
        self.answers: dict[str, tuple[str, str, datetime]] = {}  # answer id -> question id, author, time
        self.accepted: dict[str, tuple[str, str, datetime]] = {}  # question id -> answer id, its author, when
        self.removed: set[str] = set()
        self.active: set[str] = set()
        self.answered_at: list[tuple[str, datetime]] = []  # (author, time) of every answer in the range

    def add(self, event: LogEvent) -> None:
        if event.time >= self.period.end:
            return
        post = _post(event.data)
        post_id = _text(post.get("id"))
        if post_id is None:
            return
        author, question_id = _text(post.get("author")), _text(post.get("question"))
        if event.type == "question.posted":
            if author is not None and self.period.start <= event.time:
                self.questions[post_id] = _Question(author, event.time)
        elif event.type == "answer.posted":
            if author is None:
                return
            if event.time >= self.period.active_since:
                self.active.add(author)
            if event.time >= self.period.start:
                self.answered_at.append((author, event.time))
            if question_id is not None and question_id in self.questions:
                self.answers[post_id] = (question_id, author, event.time)
        elif event.type == "answer.accepted":
            if question_id is not None and question_id in self.questions and author is not None:
                self.accepted[question_id] = (post_id, author, event.time)
        elif event.type == "answer.unaccepted":
            if question_id is not None and self.accepted.get(question_id, ("", "", event.time))[0] == post_id:
                del self.accepted[question_id]
        elif event.type == "post.removed":
            self.removed.add(post_id)
        elif event.type == "post.restored":
            self.removed.discard(post_id)

    def outcomes(self) -> list[QuestionOutcome]:
        """Every question asked in the range and not removed, in the order asked."""
        first: dict[str, tuple[datetime, str]] = {}  # question id -> its first answer's time and author
        for answer_id, (question_id, author, at) in self.answers.items():
            if answer_id in self.removed or author == self.questions[question_id].author:
                continue
            if question_id not in first or at < first[question_id][0]:
                first[question_id] = (at, author)
        outcomes = []
        for question_id, question in self.questions.items():
            if question_id in self.removed:
                continue
            answer_at, answer_by = first.get(question_id, (None, None))
            solved_at, solved_by = None, None
            solution = self.accepted.get(question_id)
            if solution is not None and solution[0] not in self.removed and solution[1] != question.author:
                solved_at, solved_by = solution[2], solution[1]
            outcomes.append(QuestionOutcome(question.asked_at, answer_at, answer_by, solved_at, solved_by))
        return sorted(outcomes, key=lambda outcome: outcome.asked_at)

    def figures(self) -> SupportFigures:
        answered = {"community": 0, "staff": 0}
        solved = {"community": 0, "staff": 0}
        waits: list[float] = []
        outcomes = self.outcomes()
        for outcome in outcomes:
            if outcome.first_answer_at is not None and outcome.first_answer_by is not None:
                answered["staff" if outcome.first_answer_by in self.staff else "community"] += 1
                waits.append(max(0.0, (outcome.first_answer_at - outcome.asked_at).total_seconds()))
            if outcome.solved_by is not None:
                solved["staff" if outcome.solved_by in self.staff else "community"] += 1
        return SupportFigures(
            questions=len(outcomes),
            answered_by_community=answered["community"],
            answered_by_staff=answered["staff"],
            solved_by_community=solved["community"],
            solved_by_staff=solved["staff"],
            active_community=len(self.active - self.staff),
            active_staff=len(self.active & self.staff),
            first_answer_seconds=waits,
        )


def answered_by(event: LogEvent) -> str | None:
    """The author of an `answer.posted` event (None for any other event or a malformed one)."""
    if event.type != "answer.posted":
        return None
    return _text(_post(event.data).get("author"))


def support(events: Iterable[LogEvent], period: DateRange, staff: frozenset[str]) -> SupportFigures:
    tally = SupportTally(period, staff)
    for event in events:
        tally.add(event)
    return tally.figures()


# -- small computations -----------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def share(part: int, whole: int) -> float | None:
    """`part` of `whole` (0 to 1); None when there is nothing to share."""
    if whole <= 0:
        return None
    return part / whole


@dataclass(frozen=True)
class Duration:
    days: int
    hours: int
    minutes: int


def duration(seconds: float) -> Duration:
    """Whole days, hours and minutes (rounded to the nearest minute)."""
    minutes = round(seconds / 60)
    return Duration(days=minutes // 1440, hours=minutes % 1440 // 60, minutes=minutes % 60)


def per_day(counts: dict[date, int], period: DateRange) -> list[tuple[date, int]]:
    """Every day of the range with its count, days without events included."""
    return [(day, counts.get(day, 0)) for day in period.days]


# -- the events-per-day chart (an SVG drawn on the server) ------------------------------------------------


@dataclass(frozen=True)
class Bar:
    day: date
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot_left: int
    plot_bottom: int
    top: int
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[tuple[float, date]]


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... that is at least `value` (an axis that reads well)."""
    if value <= 1:
        return 1
    magnitude = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover (the loop always returns)


def bar_chart(
    days: Sequence[tuple[date, int]], *, width: int = 720, height: int = 240, left: int = 48, bottom: int = 28
) -> BarChart:
    """Bars for counts per day in a `width` x `height` box: an axis on the left (`left` wide) with ticks at 0,
    half and the top, date labels under the plot (`bottom` high) at most about every seventh bar."""
    top = nice_ceiling(max((count for _, count in days), default=0))
    plot_width = width - left - 8
    plot_height = height - bottom - 8
    slot = plot_width / max(len(days), 1)
    gap = min(2.0, slot * 0.2)
    bars = []
    for index, (day, count) in enumerate(days):
        bar_height = plot_height * count / top
        bars.append(
            Bar(
                day=day,
                count=count,
                x=round(left + index * slot + gap / 2, 2),
                y=round(8 + plot_height - bar_height, 2),
                width=round(slot - gap, 2),
                height=round(bar_height, 2),
            )
        )
    ticks = [Tick(value, round(8 + plot_height - plot_height * value / top, 2)) for value in sorted({0, top // 2, top})]
    every = max(1, math.ceil(len(days) / 6))
    labels = [
        (round(left + index * slot + slot / 2, 2), day) for index, (day, _) in enumerate(days) if index % every == 0
    ]
    return BarChart(width, height, left, 8 + plot_height, top, bars, ticks, labels)
