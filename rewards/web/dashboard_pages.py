"""The programme dashboard in the console: the page, and each of its tables as a CSV file with the same numbers.

The figures come from rewards/web/dashboard.py and rewards/web/dashboard_trends.py (pure), the rows from
rewards/web/dashboard_repository.py. By default the page shows the 30 days up to the newest event in the log, not
up to today: an imported history (the demo's is from 2021) opens on its own last month.
"""

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from rewards.badges import service as badges
from rewards.badges.schemas import BadgeOut
from rewards.deps import RuntimeDep, SessionDep
from rewards.runtime import Runtime, utcnow
from rewards.web import dashboard, dashboard_repository, dashboard_trends
from rewards.web.dashboard import BarChart, DateRange, RangeRefused, SupportFigures
from rewards.web.dashboard_trends import CohortRow, LineChart, MonthRow, WeekRow
from rewards.web.endpoints import ManagerDep, csrf_protected
from rewards.web.i18n import N_
from rewards.web.render import PageError, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protected)])

DateParam = Annotated[str, Query(max_length=10)]


@dataclass(frozen=True)
class ProgrammeFigures:
    period: DateRange
    per_day: list[tuple[date, int]]
    chart: BarChart
    support: SupportFigures
    weeks: list[WeekRow]
    shares_chart: LineChart
    experts_chart: BarChart
    months: list[MonthRow]
    cohorts: list[CohortRow]
    perks: list[tuple[str, dashboard_repository.PerkActivity]]
    badges: list[BadgeOut]
    staff: int

    @property
    def events(self) -> int:
        return sum(count for _, count in self.per_day)


async def default_last_day(session: AsyncSession) -> date:
    """The newest event's UTC day (today when the log is empty)."""
    newest = await dashboard_repository.newest_event_time(session)
    return (newest or utcnow()).astimezone(UTC).date()


async def period_asked(session: AsyncSession, first: str, last: str) -> DateRange:
    return dashboard.parse_range(first, last, await default_last_day(session))


async def support_figures(
    session: AsyncSession, period: DateRange, staff: frozenset[str], known_until: datetime
) -> tuple[SupportFigures, list[WeekRow], list[MonthRow]]:
    """One pass over the support events: the range's totals, its weeks, and its months' returning experts."""
    tally = dashboard.SupportTally(period, staff)
    span_start, span_end = dashboard_trends.activity_span(period)
    answers: list[tuple[str, datetime]] = []
    since = min(period.start, period.active_since, span_start)
    async for event in dashboard_repository.log_events(
        session, dashboard.SUPPORT_TYPES, since, max(period.end, span_end)
    ):
        tally.add(event)
        author = dashboard.answered_by(event)
        if author is not None and span_start <= event.time:
            answers.append((author, event.time))
    weeks = dashboard_trends.weekly(tally.outcomes(), tally.answered_at, period, staff)
    months = dashboard_trends.returning_experts(answers, period, staff, known_until)
    return tally.figures(), weeks, months


async def cohorts(session: AsyncSession, runtime: Runtime) -> list[CohortRow]:
    """Every badge tier and perk of the rules: its holders' answers before and after, beside who came close."""
    ruleset = runtime.ruleset
    awards = await dashboard_repository.first_badge_awards(session)
    perk_members = await dashboard_repository.perk_members(session)
    close: dict[tuple[str, str], list[str]] = {}
    for badge in ruleset.spec.badges:
        for tier, at in badge.levels():
            floor = dashboard_trends.close_floor(at)
            if badge.reputation:
                values = await dashboard_repository.reputations(session, floor)
            elif badge.counter is not None:
                values = await dashboard_repository.counter_values(session, badge.counter, badge.scope or "", floor)
            else:
                continue  # per post or a streak: no single count that comes close
            close[(badge.id, tier)] = [
                member for member, value in values.items() if dashboard_trends.is_close(value, at)
            ]
    references = [at for holders in awards.values() for at in holders.values()]
    references += [
        at for members in perk_members.values() for at in (*members.active_since.values(), *members.queued.values())
    ]
    answers: dict[str, list[datetime]] = {}
    if references:
        window = timedelta(days=dashboard_trends.WINDOW_DAYS)
        answers = dashboard_trends.answers_by_member(
            [
                pair
                async for pair in dashboard_repository.answers_posted(
                    session, min(references) - window, max(references) + window
                )
            ]
        )
    rows = []
    for badge in ruleset.spec.badges:
        for tier, _ in badge.levels():
            tier_name = tier if badge.tiers is not None else ""
            rows.append(
                dashboard_trends.badge_cohort(
                    badge.id,
                    tier_name,
                    badge.name,
                    awards.get((badge.id, tier), {}),
                    close.get((badge.id, tier), []),
                    answers,
                    counted=(badge.id, tier) in close,
                )
            )
    for perk in ruleset.spec.perks:
        members = perk_members.get(perk.id, dashboard_repository.PerkMembers({}, {}))
        rows.append(dashboard_trends.perk_cohort(perk.id, perk.name, members.active_since, members.queued, answers))
    return rows


async def programme_figures(session: AsyncSession, runtime: Runtime, period: DateRange) -> ProgrammeFigures:
    per_day = dashboard.per_day(await dashboard_repository.events_per_day(session, period.start, period.end), period)
    staff = runtime.settings.staff_user_ids
    newest = await dashboard_repository.newest_event_time(session)
    support, weeks, months = await support_figures(session, period, staff, newest or period.start)
    names = {perk.id: perk.name for perk in runtime.ruleset.spec.perks}
    activity = await dashboard_repository.perk_activity(session, period.start, period.end)
    labels = [week.week for week in weeks]
    return ProgrammeFigures(
        period=period,
        per_day=per_day,
        chart=dashboard.bar_chart(per_day),
        support=support,
        weeks=weeks,
        shares_chart=dashboard_trends.share_chart(
            labels, [[week.answered_share for week in weeks], [week.solved_share for week in weeks]]
        ),
        experts_chart=dashboard.bar_chart([(week.first, week.active_experts) for week in weeks]),
        months=months,
        cohorts=await cohorts(session, runtime),
        perks=[(names.get(row.perk_id, row.perk_id), row) for row in activity],
        badges=(await badges.catalogue(session, runtime.ruleset)).badges,
        staff=len(staff),
    )


@router.get("/admin/dashboard", response_class=HTMLResponse)
async def dashboard_page(
    request: Request,
    _: ManagerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    first: Annotated[str, Query(alias="from", max_length=10)] = "",
    last: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> Response:
    try:
        period = await period_asked(session, first, last)
    except RangeRefused as refused:
        error = {"message": refused.message, "params": refused.params}
        values = {"from": first, "to": last}
        return render(request, "web/admin/dashboard.html", status_code=400, figures=None, error=error, values=values)
    figures = await programme_figures(session, runtime, period)
    values = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    return render(
        request,
        "web/admin/dashboard.html",
        figures=figures,
        error=None,
        values=values,
        duration=dashboard.duration,
        week_label=dashboard_trends.week_label,
    )


# -- the tables as CSV --------------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    """A share as the page shows it: whole percent."""
    return "" if value is None else str(round(value * 100))


def _minutes(seconds: float | None) -> str:
    """A duration as the page shows it: to the minute."""
    return "" if seconds is None else str(round(seconds / 60))


def _mean(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def week_rows(figures: ProgrammeFigures) -> tuple[list[str], list[list[Any]]]:
    header = [
        "week", "first_day", "last_day", "questions", "answered_by_community", "answered_by_staff",
        "answered_by_community_percent", "solved_by_community", "solved_by_staff", "solved_by_community_percent",
        "median_minutes_to_first_answer", "median_minutes_to_solution", "active_experts",
    ]  # fmt: skip
    rows = [
        [
            week.week,
            week.first.isoformat(),
            week.last.isoformat(),
            week.questions,
            week.answered_by_community,
            week.answered_by_staff,
            _percent(week.answered_share),
            week.solved_by_community,
            week.solved_by_staff,
            _percent(week.solved_share),
            _minutes(week.median_first_answer_seconds),
            _minutes(week.median_solution_seconds),
            week.active_experts,
        ]
        for week in figures.weeks
    ]
    return header, rows


def month_rows(figures: ProgrammeFigures) -> tuple[list[str], list[list[Any]]]:
    header = ["month", "active_experts", "returned_next_month", "returned_percent"]
    rows: list[list[Any]] = [
        [month.month, month.active, "" if month.returned is None else month.returned, _percent(month.returned_share)]
        for month in figures.months
    ]
    return header, rows


def cohort_rows(figures: ProgrammeFigures) -> tuple[list[str], list[list[Any]]]:
    header = [
        "kind", "id", "tier", "name", "holders", "holders_answers_90_days_before", "holders_answers_90_days_after",
        "came_close", "came_close_answers_90_days_before", "came_close_answers_90_days_after",
    ]  # fmt: skip
    rows: list[list[Any]] = []
    for row in figures.cohorts:
        close = row.close
        rows.append(
            [
                row.kind,
                row.id,
                row.tier,
                row.name,
                row.holders.members,
                _mean(row.holders.before),
                _mean(row.holders.after),
                "" if close is None else close.members,
                "" if close is None else _mean(close.before),
                "" if close is None else _mean(close.after),
            ]
        )
    return header, rows


def day_rows(figures: ProgrammeFigures) -> tuple[list[str], list[list[Any]]]:
    return ["day", "events"], [[day.isoformat(), count] for day, count in figures.per_day]


TABLES: dict[str, Callable[[ProgrammeFigures], tuple[list[str], list[list[Any]]]]] = {
    "weeks": week_rows,
    "months": month_rows,
    "cohorts": cohort_rows,
    "days": day_rows,
}


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


@router.get("/admin/dashboard/{table}.csv")
async def dashboard_csv(
    table: str,
    _: ManagerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    first: Annotated[str, Query(alias="from", max_length=10)] = "",
    last: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> Response:
    rows_of = TABLES.get(table)
    if rows_of is None:
        raise PageError(
            404, N_("Page not found"), N_("The dashboard has these tables: %(tables)s."), tables=", ".join(TABLES)
        )
    try:
        period = await period_asked(session, first, last)
    except RangeRefused as refused:
        raise PageError(400, N_("This range cannot be shown"), refused.message, **refused.params) from None
    header, rows = rows_of(await programme_figures(session, runtime, period))
    filename = f"dashboard-{table}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return Response(
        csv_text(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
