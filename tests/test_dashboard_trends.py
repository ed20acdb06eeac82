"""The dashboard's proof that the programme works, checked against a small community computed by hand: the pure
figures (weeks, returning experts, before and after a badge), then the same numbers on the page and in its CSV
files, on SQLite and PostgreSQL."""

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from rewards.web import dashboard, dashboard_trends
from rewards.web.dashboard import DateRange, LogEvent
from rewards.web.dashboard_trends import Activity
from tests.factories import answer, event, question
from tests.test_web import Web, open_web, web_settings

STAFF = frozenset({"sam.staff"})
MARCH = DateRange(date(2026, 3, 2), date(2026, 3, 15))
NONE = "\u2013"  # what a cell without a figure shows (an en dash)  # ISO weeks 10 and 11, Monday to Sunday


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def hand_community() -> list[tuple[str, dict[str, Any], datetime]]:
    """(type, data, time) in log order. By hand, for the weeks of 2 to 15 March 2026 (staff: sam.staff):
    W10: q1 answered by piotr after 30 min, accepted after 120; q2 by sam.staff (staff) after 10, accepted after 20;
         q3 answered by its asker tom (not support), then by anna after 1,440 min; q4 never answered.
         -> 4 questions, 2 answered by the community (50 %), 1 solved by it (25 %), first answers 10/30/1,440 min
         (median 30), solutions 20/120 min (median 70); experts piotr, tom, anna (3; sam.staff is staff).
    W11: q5 answered by anna after 45 min, piotr's answer accepted after 1,440 min; q6 answered by piotr only
         after the range. -> 2 questions, 1 answered (50 %), 1 solved (50 %), medians 45 and 1,440; experts anna,
         piotr (2). Outside: q0 in February (piotr answers), q7 in April (piotr answers: he comes back), q8 on 1 May.
    """
    rows: list[tuple[str, dict[str, Any], datetime]] = []

    def ask(qid: str, asker: str, when: datetime) -> None:
        rows.append(("question.posted", {"actor": asker, "post": question(qid, asker)}, when))

    def reply(aid: str, author: str, qid: str, when: datetime) -> None:
        rows.append(("answer.posted", {"actor": author, "post": answer(aid, author, qid)}, when))

    def accept(asker: str, aid: str, author: str, qid: str, when: datetime) -> None:
        rows.append(("answer.accepted", {"actor": asker, "post": answer(aid, author, qid)}, when))

    ask("q0", "jan", at(2, 10, 12))
    reply("a0", "piotr", "q0", at(2, 10, 13))
    ask("q1", "jan", at(3, 2, 9))
    reply("a1", "piotr", "q1", at(3, 2, 9, 30))
    accept("jan", "a1", "piotr", "q1", at(3, 2, 11))
    ask("q2", "ewa", at(3, 3, 10))
    reply("a2", "sam.staff", "q2", at(3, 3, 10, 10))
    accept("ewa", "a2", "sam.staff", "q2", at(3, 3, 10, 20))
    ask("q3", "tom", at(3, 4, 12))
    reply("a3t", "tom", "q3", at(3, 4, 12, 5))
    reply("a3", "anna", "q3", at(3, 5, 12))
    ask("q4", "ola", at(3, 6, 8))
    ask("q5", "jan", at(3, 9, 9))
    reply("a5a", "anna", "q5", at(3, 9, 9, 45))
    reply("a5p", "piotr", "q5", at(3, 9, 10))
    accept("jan", "a5p", "piotr", "q5", at(3, 10, 9))
    ask("q6", "ewa", at(3, 15, 23))
    reply("a6", "piotr", "q6", at(3, 16, 1))
    ask("q7", "jan", at(4, 1, 10))
    reply("a7", "piotr", "q7", at(4, 2, 10))
    ask("q8", "ewa", at(5, 1, 0))
    return rows


def log() -> list[LogEvent]:
    return [LogEvent(type_, when, data) for type_, data, when in hand_community()]


def march_figures() -> tuple[list[dashboard_trends.WeekRow], list[dashboard_trends.MonthRow]]:
    tally = dashboard.SupportTally(MARCH, STAFF)
    for item in log():
        tally.add(item)
    weeks = dashboard_trends.weekly(tally.outcomes(), tally.answered_at, MARCH, STAFF)
    answers = [(author, item.time) for item in log() if (author := dashboard.answered_by(item)) is not None]
    months = dashboard_trends.returning_experts(answers, MARCH, STAFF, known_until=at(5, 1, 0))
    return weeks, months


def test_weekly_support_on_the_hand_computed_community() -> None:
    weeks, _ = march_figures()
    assert [(w.week, w.first, w.last) for w in weeks] == [
        ("2026-W10", date(2026, 3, 2), date(2026, 3, 8)),
        ("2026-W11", date(2026, 3, 9), date(2026, 3, 15)),
    ]
    w10, w11 = weeks
    assert (w10.questions, w10.answered_by_community, w10.answered_by_staff) == (4, 2, 1)
    assert (w10.solved_by_community, w10.solved_by_staff) == (1, 1)
    assert (w10.answered_share, w10.solved_share) == (0.5, 0.25)
    assert (w10.median_first_answer_seconds, w10.median_solution_seconds) == (30 * 60, 70 * 60)
    assert w10.active_experts == 3
    assert (w11.questions, w11.answered_by_community, w11.solved_by_community) == (2, 1, 1)
    assert (w11.answered_share, w11.solved_share) == (0.5, 0.5)
    assert (w11.median_first_answer_seconds, w11.median_solution_seconds) == (45 * 60, 1440 * 60)
    assert w11.active_experts == 2


def test_a_range_that_cuts_a_week_keeps_only_its_days_and_empty_weeks_show_nothing_to_share() -> None:
    period = DateRange(date(2026, 3, 7), date(2026, 3, 9))  # Saturday to Monday
    weeks = dashboard_trends.weekly([], [], period, STAFF)
    assert [(w.week, w.first, w.last) for w in weeks] == [
        ("2026-W10", date(2026, 3, 7), date(2026, 3, 8)),
        ("2026-W11", date(2026, 3, 9), date(2026, 3, 9)),
    ]
    assert weeks[0].answered_share is None and weeks[0].median_first_answer_seconds is None
    assert dashboard_trends.week_label(date(2027, 1, 1)) == "2026-W53"  # ISO years


def test_experts_who_come_back_the_next_month() -> None:
    _, months = march_figures()
    # March: piotr, tom, anna answered (sam.staff is staff); in April only piotr answered again.
    assert [(m.month, m.active, m.returned) for m in months] == [("2026-03", 3, 1)]
    assert months[0].returned_share == pytest.approx(1 / 3)
    answers = [(author, item.time) for item in log() if (author := dashboard.answered_by(item)) is not None]
    early = dashboard_trends.returning_experts(answers, MARCH, STAFF, known_until=at(4, 30, 23))
    assert early[0].returned is None and early[0].returned_share is None  # April is not over in the log yet
    december = DateRange(date(2025, 12, 20), date(2026, 1, 5))
    assert [m.month for m in dashboard_trends.returning_experts([], december, STAFF, at(5, 1, 0))] == [
        "2025-12",
        "2026-01",
    ]


def test_answers_in_the_ninety_days_before_and_from_the_reference_time() -> None:
    t = at(6, 1, 12)
    answers = dashboard_trends.answers_by_member(
        [
            ("ada", t - timedelta(days=91)),  # too early
            ("ada", t - timedelta(days=30)),
            ("ada", t - timedelta(seconds=1)),
            ("ada", t),  # "from": counts after
            ("ada", t + timedelta(days=89)),
            ("ada", t + timedelta(days=90)),  # too late
            ("bob", t + timedelta(days=1)),
        ]
    )
    assert dashboard_trends.activity({"ada": t, "cyd": t}, answers) == Activity(2, 1.0, 1.0)
    assert dashboard_trends.activity({}, answers) == Activity(0, None, None)
    assert Activity(2, 2.0, 3.0).change == 0.5 and Activity(1, 0.0, 3.0).change is None


def test_who_came_close_to_a_badge_and_when_they_are_compared() -> None:
    assert [v for v in range(30) if dashboard_trends.is_close(v, 25)] == [19, 20, 21, 22, 23, 24]
    assert not any(dashboard_trends.is_close(v, 1) for v in range(3))  # a one-step badge has nobody close
    t1, t2, t3 = at(3, 1, 0), at(3, 5, 0), at(3, 9, 0)
    answers = dashboard_trends.answers_by_member([("cyd", t2 - timedelta(days=1)), ("cyd", t2), ("ada", t1)])
    row = dashboard_trends.badge_cohort(
        "solver", "silver", "Solver", {"ada": t1, "bob": t2, "eve": t3}, ["cyd", "ada"], answers, counted=True
    )
    assert row.holders == Activity(3, 0.0, 1 / 3)
    assert row.close == Activity(1, 1.0, 1.0)  # cyd, around the holders' median award time t2; ada holds it
    nobody = dashboard_trends.badge_cohort("x", "", "X", {}, ["cyd"], answers, counted=True)
    assert nobody.close == Activity(1, None, None)
    per_post = dashboard_trends.badge_cohort("nice", "", "Nice", {"ada": t1}, [], answers, counted=False)
    assert per_post.close is None
    perk = dashboard_trends.perk_cohort("beta", "Beta", {"ada": t1}, {"ada": t1, "cyd": t2}, answers)
    assert perk.holders == Activity(1, 0.0, 1.0) and perk.close == Activity(1, 1.0, 1.0)


def test_the_share_chart_draws_both_lines_and_breaks_where_a_week_has_no_questions() -> None:
    chart = dashboard_trends.share_chart(["W1", "W2", "W3"], [[0.5, None, 1.0], [0.25, 0.0, None]], width=300)
    answered, solved = chart.lines
    assert len(answered.segments) == 2 and len(solved.segments) == 1
    assert [p.label for p in answered.points] == ["W1", "W3"]
    assert answered.points[1].y == 8 and solved.points[1].y == chart.plot_bottom  # 100 % at the top, 0 at the axis
    assert answered.points[0].y == pytest.approx((8 + chart.plot_bottom) / 2)
    assert [percent for percent, _ in chart.ticks] == [0, 25, 50, 75, 100]
    assert all(chart.plot_left <= p.x <= chart.plot_right for p in answered.points + solved.points)


# --- the same figures on the page and in the CSV files ------------------------------------------------------------


@pytest.fixture
async def programme(database_url: str) -> AsyncIterator[Web]:
    async with open_web(web_settings(database_url, staff_users="sam.staff")) as web:
        await web.post_events(*(event(type_, data, at=when) for type_, data, when in hand_community()))
        await web.sign_in("mia", roles=["manager"])
        yield web


def cells(html: str, testid: str) -> list[str]:
    row = re.search(rf'data-testid="{testid}">(.*?)</tr>', html, re.S)
    assert row is not None, testid
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row.group(1))]


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_the_page_and_its_csv_files_show_the_hand_computed_figures(programme: Web) -> None:
    query = {"from": "2026-03-02", "to": "2026-03-15"}
    page = await programme.browser.get("/admin/dashboard", params=query)
    assert page.status_code == 200
    assert cells(page.text, "week-2026-W10") == ["2026-W10", "4", "50%", "25%", "30 min", "1 h 10 min", "3"]
    assert cells(page.text, "week-2026-W11") == ["2026-W11", "2", "50%", "50%", "45 min", "1 d 0 h", "2"]
    assert cells(page.text, "month-2026-03") == ["2026-03", "3", "1", "33%"]
    # Solver bronze: piotr (2 March 11:00; 2 answers in the 90 days before, 3 after) and sam.staff (3 March 10:20;
    # 1 before, none after). Nobody has 75 % of a higher tier; nobody reaches the beta's 1,000 reputation.
    assert cells(page.text, "cohort-badge-solver-bronze") == ["Solver bronze", "2", "1.5", "1.5", "0", NONE, NONE]
    assert cells(page.text, "cohort-perk-beta-5g-router") == ["5G router beta (perk)", "0", NONE, NONE, "0", NONE, NONE]
    assert cells(page.text, "cohort-badge-nice-answer")[-1] == "no such cohort"  # earned per post
    assert 'data-testid="shares-chart"' in page.text and 'data-testid="experts-chart"' in page.text

    weeks = await programme.browser.get("/admin/dashboard/weeks.csv", params=query)
    assert weeks.status_code == 200 and weeks.headers["content-type"] == "text/csv; charset=utf-8"
    assert weeks.headers["content-disposition"] == 'attachment; filename="dashboard-weeks-2026-03-02-2026-03-15.csv"'
    assert csv_rows(weeks.text) == [
        {
            "week": "2026-W10", "first_day": "2026-03-02", "last_day": "2026-03-08", "questions": "4",
            "answered_by_community": "2", "answered_by_staff": "1", "answered_by_community_percent": "50",
            "solved_by_community": "1", "solved_by_staff": "1", "solved_by_community_percent": "25",
            "median_minutes_to_first_answer": "30", "median_minutes_to_solution": "70", "active_experts": "3",
        },
        {
            "week": "2026-W11", "first_day": "2026-03-09", "last_day": "2026-03-15", "questions": "2",
            "answered_by_community": "1", "answered_by_staff": "0", "answered_by_community_percent": "50",
            "solved_by_community": "1", "solved_by_staff": "0", "solved_by_community_percent": "50",
            "median_minutes_to_first_answer": "45", "median_minutes_to_solution": "1440", "active_experts": "2",
        },
    ]  # fmt: skip
    months = await programme.browser.get("/admin/dashboard/months.csv", params=query)
    assert csv_rows(months.text) == [
        {"month": "2026-03", "active_experts": "3", "returned_next_month": "1", "returned_percent": "33"}
    ]
    cohorts = {(row["id"], row["tier"]): row for row in csv_rows((await programme.browser.get(
        "/admin/dashboard/cohorts.csv", params=query)).text)}  # fmt: skip
    solver = cohorts[("solver", "bronze")]
    assert (solver["holders"], solver["holders_answers_90_days_before"], solver["holders_answers_90_days_after"]) == (
        "2",
        "1.5",
        "1.5",
    )
    assert cohorts[("nice-answer", "")]["came_close"] == ""
    days = csv_rows((await programme.browser.get("/admin/dashboard/days.csv", params=query)).text)
    assert len(days) == 14 and days[0] == {"day": "2026-03-02", "events": "3"}


async def test_the_page_opens_on_the_last_30_days_of_the_log_and_refuses_bad_input(programme: Web) -> None:
    page = await programme.browser.get("/admin/dashboard")
    # The newest event is q8 on 1 May 2026, not today.
    assert 'value="2026-04-02"' in page.text and 'value="2026-05-01"' in page.text
    assert re.search(r'data-testid="questions">1<', page.text)
    assert 'href="/admin/dashboard/weeks.csv?from=2026-04-02&amp;to=2026-05-01"' in page.text
    default_csv = await programme.browser.get("/admin/dashboard/weeks.csv")
    assert "dashboard-weeks-2026-04-02-2026-05-01.csv" in default_csv.headers["content-disposition"]
    for query, message in [({"from": "March"}, "YYYY-MM-DD"), ({"from": "2026-03-08", "to": "2026-03-01"}, "swap")]:
        refused = await programme.browser.get("/admin/dashboard/weeks.csv", params=query)
        assert refused.status_code == 400 and message in refused.text
    unknown = await programme.browser.get("/admin/dashboard/everything.csv")
    assert unknown.status_code == 404 and "weeks, months, cohorts, days" in unknown.text
    await programme.sign_in("piotr")
    assert (await programme.browser.get("/admin/dashboard/weeks.csv")).status_code == 403
