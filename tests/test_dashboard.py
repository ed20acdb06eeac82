"""The programme dashboard's pure computations: date ranges, who carried support, medians, shares, the chart."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from rewards.web import dashboard
from rewards.web.dashboard import DateRange, LogEvent, RangeRefused

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MARCH = DateRange(date(2026, 3, 1), date(2026, 3, 7))
STAFF = frozenset({"sam.staff"})


def asked(qid: str, author: str, minutes: float = 0) -> LogEvent:
    post = {"id": qid, "kind": "question", "author": author}
    return LogEvent("question.posted", T0 + timedelta(minutes=minutes), {"actor": author, "post": post})


def answered(aid: str, author: str, qid: str, minutes: float) -> LogEvent:
    post = {"id": aid, "kind": "answer", "author": author, "question": qid}
    return LogEvent("answer.posted", T0 + timedelta(minutes=minutes), {"actor": author, "post": post})


def on_answer(type_: str, aid: str, author: str, qid: str, minutes: float, **data: Any) -> LogEvent:
    post = {"id": aid, "kind": "answer", "author": author, "question": qid}
    return LogEvent(type_, T0 + timedelta(minutes=minutes), {"actor": "someone", "post": post, **data})


def test_the_default_range_is_the_thirty_days_up_to_today() -> None:
    period = dashboard.parse_range(None, None, date(2026, 3, 10))
    assert (period.first, period.last) == (date(2026, 2, 9), date(2026, 3, 10))
    assert len(period.days) == 30
    assert period.start == datetime(2026, 2, 9, tzinfo=UTC) and period.end == datetime(2026, 3, 11, tzinfo=UTC)
    assert period.active_since == period.start


def test_a_chosen_range_is_whole_utc_days_and_bad_ones_are_refused_with_a_reason() -> None:
    period = dashboard.parse_range("2026-03-01", "2026-03-07", date(2026, 12, 1))
    assert period == MARCH and period.end == datetime(2026, 3, 8, tzinfo=UTC)
    assert period.active_since == datetime(2026, 2, 6, tzinfo=UTC)  # the last 30 days reach before a short range
    assert dashboard.parse_range("2026-03-01", "", date(2026, 3, 4)).last == date(2026, 3, 4)
    with pytest.raises(RangeRefused, match="YYYY-MM-DD"):
        dashboard.parse_range("1 March", None, date(2026, 3, 4))
    with pytest.raises(RangeRefused, match="swap the dates"):
        dashboard.parse_range("2026-03-08", "2026-03-07", date(2026, 3, 9))
    with pytest.raises(RangeRefused, match="731 days at most"):
        dashboard.parse_range("2020-01-01", "2026-03-07", date(2026, 3, 9))


def small_community() -> list[LogEvent]:
    """q1 answered first by piotr (30 min; accepted), q2 by anna (90 min), q3 by sam (staff, 10 min; accepted),
    q4 only by its own asker (not support), q5 asked before the range, q6 removed."""
    return [
        asked("q5", "jan", minutes=-3 * 24 * 60),
        answered("a50", "piotr", "q5", minutes=-3 * 24 * 60 + 5),
        asked("q1", "jan"),
        asked("q2", "ewa", minutes=1),
        asked("q3", "ola", minutes=2),
        asked("q4", "tom", minutes=3),
        asked("q6", "spam.bot", minutes=4),
        answered("a3", "sam.staff", "q3", minutes=12),
        answered("a1", "piotr", "q1", minutes=30),
        answered("a1b", "sam.staff", "q1", minutes=60),
        answered("a2x", "spammer", "q2", minutes=50),
        on_answer("post.removed", "a2x", "spammer", "q2", minutes=55, reason="spam"),
        answered("a2", "anna", "q2", minutes=91),
        answered("a4", "tom", "q4", minutes=20),
        on_answer("answer.accepted", "a4", "tom", "q4", minutes=21),
        answered("a6", "anna", "q6", minutes=6),
        LogEvent("post.removed", T0 + timedelta(minutes=7), {"post": {"id": "q6", "kind": "question"}}),
        on_answer("answer.accepted", "a1b", "sam.staff", "q1", minutes=61),
        on_answer("answer.unaccepted", "a1b", "sam.staff", "q1", minutes=62),
        on_answer("answer.accepted", "a1", "piotr", "q1", minutes=63),
        on_answer("answer.accepted", "a3", "sam.staff", "q3", minutes=64),
        # After the range: neither answers nor solves anything in it.
        answered("a4late", "kasia", "q4", minutes=8 * 24 * 60),
    ]


def test_support_on_a_small_known_community() -> None:
    figures = dashboard.support(small_community(), MARCH, STAFF)
    assert figures.questions == 4  # q1..q4; q5 was asked before the range, q6 was removed
    assert (figures.answered_by_community, figures.answered_by_staff) == (2, 1)
    assert figures.unanswered == 1  # q4: its asker's own answer is not support, kasia answered after the range
    assert figures.community_share == pytest.approx(2 / 3)
    assert (figures.solved_by_community, figures.solved_by_staff) == (1, 1)  # q1 by piotr after the swap; q3
    assert figures.community_solved_share == 0.5
    # First answers: q1 30 min (piotr), q2 91 - 1 = 90 min (the removed spam answer does not count), q3 10 min.
    assert sorted(figures.first_answer_seconds) == [600.0, 1800.0, 5400.0]
    assert figures.median_first_answer_seconds == 1800.0
    # Answered in the 30 days up to the range's end: piotr, anna, tom, spammer (community), sam (staff).
    assert (figures.active_community, figures.active_staff) == (4, 1)


def test_without_staff_everyone_is_the_community() -> None:
    figures = dashboard.support(small_community(), MARCH, frozenset())
    assert (figures.answered_by_community, figures.answered_by_staff) == (3, 0)
    assert figures.community_share == 1.0


def test_an_empty_range_has_no_shares_and_no_median() -> None:
    figures = dashboard.support([], MARCH, STAFF)
    assert figures.questions == 0 and figures.community_share is None and figures.median_first_answer_seconds is None


def test_malformed_events_are_skipped() -> None:
    odd = [
        LogEvent("question.posted", T0, {"post": "not an object"}),
        LogEvent("answer.posted", T0, {"post": {"id": 7, "author": "x"}}),
        LogEvent("answer.posted", T0, {}),
        asked("q1", "jan"),
        LogEvent("answer.posted", T0, {"post": {"id": "a1", "question": "q1"}}),  # no author
    ]
    figures = dashboard.support(odd, MARCH, STAFF)
    assert figures.questions == 1 and figures.answered == 0 and figures.active_community == 0


def test_median_share_and_duration() -> None:
    assert dashboard.median([]) is None
    assert dashboard.median([5.0]) == 5.0
    assert dashboard.median([9.0, 1.0, 5.0]) == 5.0
    assert dashboard.median([4.0, 1.0, 3.0, 10.0]) == 3.5
    assert dashboard.share(2, 3) == pytest.approx(0.6667, abs=1e-4)
    assert dashboard.share(0, 0) is None
    assert dashboard.duration(0) == dashboard.Duration(0, 0, 0)
    assert dashboard.duration(5400) == dashboard.Duration(0, 1, 30)
    assert dashboard.duration(29.9) == dashboard.Duration(0, 0, 0)
    assert dashboard.duration(30 * 3600 + 90) == dashboard.Duration(1, 6, 2)  # 1 d 6 h 1.5 min -> 2 min


def test_per_day_fills_the_days_without_events() -> None:
    counts = {date(2026, 3, 2): 5, date(2026, 3, 5): 1, date(2026, 2, 1): 99}
    days = dashboard.per_day(counts, MARCH)
    assert [count for _, count in days] == [0, 5, 0, 0, 1, 0, 0]
    assert days[0][0] == date(2026, 3, 1) and days[-1][0] == date(2026, 3, 7)


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (10, 10), (11, 20), (480, 500)]
)
def test_the_axis_top_is_a_round_number(value: int, ceiling: int) -> None:
    assert dashboard.nice_ceiling(value) == ceiling


def test_the_chart_scales_bars_to_the_axis_and_stays_in_its_box() -> None:
    days = dashboard.per_day({date(2026, 3, 2): 8, date(2026, 3, 3): 4}, MARCH)
    chart = dashboard.bar_chart(days, width=300, height=140, left=40, bottom=20)
    assert chart.top == 10 and [tick.value for tick in chart.ticks] == [0, 5, 10]
    plot_height = 140 - 20 - 8
    heights = {bar.day: bar.height for bar in chart.bars}
    assert heights[date(2026, 3, 2)] == pytest.approx(plot_height * 0.8)
    assert heights[date(2026, 3, 3)] == pytest.approx(plot_height * 0.4)
    assert heights[date(2026, 3, 1)] == 0
    for bar in chart.bars:
        assert bar.x >= 40 and bar.x + bar.width <= 300 - 8 + 0.01
        assert bar.y + bar.height == pytest.approx(chart.plot_bottom)
    assert [bar.x for bar in chart.bars] == sorted(bar.x for bar in chart.bars)
    assert chart.ticks[0].y == pytest.approx(chart.plot_bottom) and chart.ticks[-1].y == pytest.approx(8)
    assert [day for _, day in chart.labels] == [date(2026, 3, 1) + timedelta(days=n) for n in (0, 2, 4, 6)]


def test_a_year_long_chart_labels_about_six_days() -> None:
    period = DateRange(date(2025, 1, 1), date(2025, 12, 31))
    chart = dashboard.bar_chart(dashboard.per_day({}, period))
    assert len(chart.bars) == 365 and 5 <= len(chart.labels) <= 7 and chart.top == 1
