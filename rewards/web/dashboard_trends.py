"""The dashboard's proof that the programme works, from plain rows: support per ISO week, experts who come back the
next month, and the activity of badge and perk holders before and after, beside members who came close. Pure.

Definitions (the README repeats them):
- Weeks are ISO weeks (Monday to Sunday, UTC), clipped to the chosen range. A question belongs to the week it was
  asked in; what became of it is counted up to the range's end (rewards/web/dashboard.py, `SupportTally`).
- Answered / solved by the community: the share of the week's questions whose first answer / accepted answer came
  from a member who is neither the asker nor staff (REWARDS_STAFF_USERS). Time to first answer: from the question
  to its first answer; time to solution: from the question to the acceptance of its answer; medians of the week.
- Active experts: community members who posted an answer that week (or month). Returning: active in a month and
  again in the next; unknown (None) until the log holds the whole next month.
- Before and after: answers posted by each member in the 90 days before the day they got a badge tier or a perk,
  and in the 90 days from it (up to the log's newest event), averaged over the members.
- Came close: for a badge tier counted per member (a counter or reputation), members who do not hold it and whose
  count now reaches 75 % of its threshold, compared over the 90 days around the holders' median award time. For a
  perk, members who were queued for it (waitlisted, offered, denied, declined, expired) but never had it active,
  around the time they were queued. Post badges and streak badges have no such cohort.
"""

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from rewards.web.dashboard import DateRange, QuestionOutcome, median, share

WINDOW_DAYS = 90
CLOSE_SHARE = 0.75


def week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _day(time: datetime) -> date:
    return time.astimezone(UTC).date()


@dataclass(frozen=True)
class WeekRow:
    week: str  # 2026-W10
    first: date  # the week's days within the range
    last: date
    questions: int
    answered_by_community: int
    answered_by_staff: int
    solved_by_community: int
    solved_by_staff: int
    median_first_answer_seconds: float | None
    median_solution_seconds: float | None
    active_experts: int

    @property
    def answered_share(self) -> float | None:
        """The share of the week's questions the community answered first."""
        return share(self.answered_by_community, self.questions)

    @property
    def solved_share(self) -> float | None:
        """The share of the week's questions solved by a community member's answer."""
        return share(self.solved_by_community, self.questions)


def weekly(
    outcomes: Iterable[QuestionOutcome],
    answered_at: Iterable[tuple[str, datetime]],
    period: DateRange,
    staff: frozenset[str],
) -> list[WeekRow]:
    """One row per ISO week that overlaps `period`, oldest first, weeks without questions included."""
    weeks: dict[str, list[date]] = {}
    for day in period.days:
        weeks.setdefault(week_label(day), []).append(day)
    asked: dict[str, list[QuestionOutcome]] = {week: [] for week in weeks}
    for outcome in outcomes:
        week = week_label(_day(outcome.asked_at))
        if week in asked:
            asked[week].append(outcome)
    experts: dict[str, set[str]] = {week: set() for week in weeks}
    for author, at in answered_at:
        week = week_label(_day(at))
        if week in experts and author not in staff:
            experts[week].add(author)
    rows = []
    for week, days in weeks.items():
        questions = asked[week]
        answered_by = [q.first_answer_by for q in questions if q.first_answer_by is not None]
        solved_by = [q.solved_by for q in questions if q.solved_by is not None]
        waits = [(q.first_answer_at - q.asked_at).total_seconds() for q in questions if q.first_answer_at]
        solutions = [(q.solved_at - q.asked_at).total_seconds() for q in questions if q.solved_at]
        rows.append(
            WeekRow(
                week=week,
                first=days[0],
                last=days[-1],
                questions=len(questions),
                answered_by_community=sum(1 for who in answered_by if who not in staff),
                answered_by_staff=sum(1 for who in answered_by if who in staff),
                solved_by_community=sum(1 for who in solved_by if who not in staff),
                solved_by_staff=sum(1 for who in solved_by if who in staff),
                median_first_answer_seconds=median([max(0.0, wait) for wait in waits]),
                median_solution_seconds=median([max(0.0, wait) for wait in solutions]),
                active_experts=len(experts[week]),
            )
        )
    return rows


# -- experts who come back ----------------------------------------------------------------------------------


def _month_start(year: int, month: int) -> datetime:
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def months_of(period: DateRange) -> list[tuple[int, int]]:
    """The calendar months the range touches, oldest first."""
    months = []
    year, month = period.first.year, period.first.month
    while (year, month) <= (period.last.year, period.last.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def activity_span(period: DateRange) -> tuple[datetime, datetime]:
    """The answers the returning-experts table reads: from the range's first month to the end of the month after
    its last."""
    first, last = months_of(period)[0], months_of(period)[-1]
    return _month_start(*first), _month_start(last[0], last[1] + 2)


@dataclass(frozen=True)
class MonthRow:
    month: str  # 2026-03
    active: int
    returned: int | None  # None while the next month is not over in the log

    @property
    def returned_share(self) -> float | None:
        return None if self.returned is None else share(self.returned, self.active)


def returning_experts(
    answered_at: Iterable[tuple[str, datetime]], period: DateRange, staff: frozenset[str], known_until: datetime
) -> list[MonthRow]:
    """Per month of the range: community members with an answer in it, and how many answered again the next
    month. `known_until` is the newest event's time: a next month that ends after it is not known yet."""
    active: dict[tuple[int, int], set[str]] = {}
    for author, at in answered_at:
        if author in staff:
            continue
        at = at.astimezone(UTC)
        active.setdefault((at.year, at.month), set()).add(author)
    rows = []
    for year, month in months_of(period):
        these = active.get((year, month), set())
        following = _month_start(year, month + 1)
        following_year, following_month = following.year, following.month
        known = known_until >= _month_start(year, month + 2)
        returned = len(these & active.get((following_year, following_month), set())) if known else None
        rows.append(MonthRow(f"{year}-{month:02d}", len(these), returned))
    return rows


# -- before and after a badge or a perk ---------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    """Answers per member in the 90 days before and from a reference time, averaged over `members`."""

    members: int
    before: float | None
    after: float | None

    @property
    def change(self) -> float | None:
        if self.before is None or self.after is None or self.before == 0:
            return None
        return (self.after - self.before) / self.before


def answers_by_member(answered_at: Iterable[tuple[str, datetime]]) -> dict[str, list[datetime]]:
    """Each member's answer times, sorted (what `activity` counts in)."""
    times: dict[str, list[datetime]] = {}
    for author, at in answered_at:
        times.setdefault(author, []).append(at)
    for member_times in times.values():
        member_times.sort()
    return times


def activity(references: dict[str, datetime], answers: dict[str, list[datetime]]) -> Activity:
    """The members' answers in [t - 90 d, t) and [t, t + 90 d), t being each member's reference time."""
    if not references:
        return Activity(0, None, None)
    window = timedelta(days=WINDOW_DAYS)
    before = after = 0
    for member, at in references.items():
        times = answers.get(member, [])
        start, middle, end = (bisect.bisect_left(times, t) for t in (at - window, at, at + window))
        before += middle - start
        after += end - middle
    return Activity(len(references), before / len(references), after / len(references))


def is_close(value: int, threshold: int) -> bool:
    """A count that reaches 75 % of a threshold without meeting it."""
    return close_floor(threshold) <= value < threshold


def median_time(times: Sequence[datetime]) -> datetime | None:
    """The middle one of `times` (the earlier of the two middle ones for an even count)."""
    if not times:
        return None
    ordered = sorted(times)
    return ordered[(len(ordered) - 1) // 2]


@dataclass(frozen=True)
class CohortRow:
    kind: str  # badge or perk
    id: str
    tier: str  # "" for a perk
    name: str
    holders: Activity
    close: Activity | None  # None when there is no "came close" cohort for this kind of badge


def badge_cohort(
    badge_id: str,
    tier: str,
    name: str,
    awarded: dict[str, datetime],
    close_members: Iterable[str],
    answers: dict[str, list[datetime]],
    *,
    counted: bool,
) -> CohortRow:
    """`awarded`: each holder's first award of the tier; `close_members`: who came close (when `counted`)."""
    reference = median_time(list(awarded.values()))
    close: Activity | None = None
    if counted:
        near = [member for member in close_members if member not in awarded]
        if reference is None:  # nobody holds it: no time to compare around
            close = Activity(len(near), None, None)
        else:
            close = activity(dict.fromkeys(near, reference), answers)
    return CohortRow("badge", badge_id, tier, name, activity(awarded, answers), close)


def perk_cohort(
    perk_id: str,
    name: str,
    active_since: dict[str, datetime],
    queued: dict[str, datetime],
    answers: dict[str, list[datetime]],
) -> CohortRow:
    """`active_since`: when each holder first had the perk active; `queued`: when each member who never had it was
    first queued for it."""
    near = {member: at for member, at in queued.items() if member not in active_since}
    return CohortRow("perk", perk_id, "", name, activity(active_since, answers), activity(near, answers))


# -- the weekly shares chart (an SVG drawn on the server) ---------------------------------------------------


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    value: float  # 0 to 1


@dataclass(frozen=True)
class Line:
    points: list[Point]
    segments: list[str]  # SVG polyline `points` lists; a week without questions breaks the line


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: int
    lines: list[Line]
    ticks: list[tuple[int, float]]  # (percent, y)
    labels: list[tuple[float, str]]


def share_chart(
    labels: Sequence[str],
    series: Sequence[Sequence[float | None]],
    *,
    width: int = 720,
    height: int = 260,
    left: int = 48,
    bottom: int = 28,
) -> LineChart:
    """Lines of shares (0 to 1, None where there is nothing to share) over evenly spaced `labels`, on a 0-100 %
    axis; about six labels under the plot."""
    top, right = 8, width - 16
    plot_height = height - bottom - top
    slot = (right - left) / max(len(labels), 1)

    def x_of(index: int) -> float:
        return round(left + index * slot + slot / 2, 2)

    def y_of(value: float) -> float:
        return round(top + plot_height * (1 - min(max(value, 0.0), 1.0)), 2)

    lines = []
    for values in series:
        points: list[Point] = []
        segments: list[str] = []
        run: list[str] = []
        for index, value in enumerate(values):
            if value is None:
                if run:
                    segments.append(" ".join(run))
                run = []
                continue
            point = Point(x_of(index), y_of(value), labels[index], value)
            points.append(point)
            run.append(f"{point.x},{point.y}")
        if run:
            segments.append(" ".join(run))
        lines.append(Line(points, segments))
    every = max(1, math.ceil(len(labels) / 6))
    return LineChart(
        width=width,
        height=height,
        plot_left=left,
        plot_right=right,
        plot_bottom=top + plot_height,
        lines=lines,
        ticks=[(percent, y_of(percent / 100)) for percent in (0, 25, 50, 75, 100)],
        labels=[(x_of(index), label) for index, label in enumerate(labels) if index % every == 0],
    )


def close_floor(threshold: int) -> int:
    """The least count that comes close to `threshold` (75 % of it, rounded up)."""
    return math.ceil(CLOSE_SHARE * threshold)
