"""Renewal: a rank or a perk held only while enough was counted in a rolling window ("10 accepted answers in the
last 12 months"), re-checked as time passes. Pure.

Time enters through the log, never through a clock: each member's counts are kept per calendar month (UTC) of
the counted award's time, and the month the windows are read at (the member's "as of" month) moves only when an
event about the member is applied, to that event's month. The schedule stores a `renewal.check` event for a
member when a warning or a lapse falls due, with that moment as its time, so a lapse is applied (and notified) at
the same place in the log in live processing and in a replay.

Both are kept as counters (see `rewards.engine.recognition`): `(user, "@accepted_answers", "2026-03")` counts one
month, `(user, "@renewal", "as-of")` holds the month index the windows are read at. Counter ids are lowercase
and scopes of declared counters are never looked up under an `@` id, so neither can meet a declared counter.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

RENEWAL_CHECK = "renewal.check"  # stored by the schedule (source `rewards:schedule`) when a renewal falls due
AS_OF_COUNTER = "@renewal"
AS_OF_SCOPE = "as-of"
MAX_WINDOW_MONTHS = 120

_MONTHS = re.compile(r"^\s*(\d{1,3})\s*months?\s*$")
_DAYS = re.compile(r"^\s*(\d{1,3})\s*days?\s*$")


class RenewalWindow(BaseModel):
    """What keeps a rank or a perk: at least `at` of a per-user counter within the window, else it lapses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    counter: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")] = Field(
        description="A `per: user` counter, e.g. accepted_answers."
    )
    at: int = Field(ge=1, description="At least this many within the window.")
    window: str = Field(
        description="`12 months`: the current calendar month (UTC) and the 11 before it. Months only: counts "
        "are kept per month, so a lapse falls on the first of a month."
    )
    warn_before: str | None = Field(default=None, description="`30 days`: a warning this long before a lapse.")

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        found = _MONTHS.match(value)
        if found is None or not 1 <= int(found.group(1)) <= MAX_WINDOW_MONTHS:
            raise ValueError(
                f"{value!r} is not a window: write it in months, 1 to {MAX_WINDOW_MONTHS} (`12 months`); "
                "counts are kept per calendar month"
            )
        return value

    @field_validator("warn_before")
    @classmethod
    def _warn_before(cls, value: str | None) -> str | None:
        if value is None:
            return None
        found = _DAYS.match(value)
        if found is None or not 1 <= int(found.group(1)) <= 365:
            raise ValueError(f"{value!r} is not a warning time: write it in days, 1 to 365 (`30 days`)")
        return value

    @property
    def months(self) -> int:
        found = _MONTHS.match(self.window)
        assert found is not None  # checked when read
        return int(found.group(1))

    @property
    def warn_days(self) -> int | None:
        found = _DAYS.match(self.warn_before) if self.warn_before is not None else None
        return None if found is None else int(found.group(1))


class Renewal(RenewalWindow):
    """A rank's renewal."""

    on_lapse: Literal["lower"] = Field(
        default="lower", description="`lower`: the member falls to the highest title they still qualify for."
    )


class PerkRenewal(RenewalWindow):
    """A perk's renewal: it is offered only while the window has enough, and an open grant ends when it lapses."""

    on_lapse: Literal["end"] = Field(
        default="end",
        description="`end`: an active perk ends (status `lapsed`); an offer, a request or a waitlist place is "
        "withdrawn. The member is offered it again once the window has enough again.",
    )


def month_index(when: datetime) -> int:
    return when.year * 12 + when.month - 1


def month_start(index: int) -> datetime:
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def bucket_counter(counter_id: str) -> str:
    """The counter id a windowed counter's monthly counts are kept under."""
    return f"@{counter_id}"


Counts = Mapping[tuple[str, str, str], int]  # the working state's counters, or the rows read for a page


def as_of(counters: Counts, user_id: str) -> int | None:
    """The month the member's windows are read at: that of the last event applied about them (None: none yet)."""
    value = counters.get((user_id, AS_OF_COUNTER, AS_OF_SCOPE))
    return value or None


def in_window(counters: Counts, user_id: str, renewal: RenewalWindow, month: int) -> int:
    """What the member counted in the window ending with `month` (that month and the `months - 1` before)."""
    counter = bucket_counter(renewal.counter)
    months = range(month - renewal.months + 1, month + 1)
    return sum(counters.get((user_id, counter, month_label(index)), 0) for index in months)


@dataclass(frozen=True)
class RenewalStatus:
    """Where a member stands against a rank's or a perk's renewal, read at their as-of month."""

    held: bool  # the window has enough
    count: int  # counted in the window
    at: int
    lapses_at: datetime | None  # when it lapses if nothing more is counted (held only)
    needed_by_then: int  # more to count before `lapses_at` to keep it past then
    month: int | None  # the as-of month
    # When a window that lacks enough last fell short (`lapsed_at`); filled in where a lapse is acted on.
    lapsed_at: datetime | None = None

    def warns_at(self, renewal: RenewalWindow) -> datetime | None:
        days = renewal.warn_days
        if self.lapses_at is None or days is None:
            return None
        return self.lapses_at - timedelta(days=days)


def status(counters: Counts, user_id: str, renewal: RenewalWindow) -> RenewalStatus:
    month = as_of(counters, user_id)
    if month is None:
        return RenewalStatus(False, 0, renewal.at, None, renewal.at, None)
    count = in_window(counters, user_id, renewal, month)
    if count < renewal.at:
        return RenewalStatus(False, count, renewal.at, None, renewal.at - count, month)
    # Nothing more counted: the window slides over empty months until too little is left in it.
    for later in range(month + 1, month + renewal.months + 1):
        left = in_window(counters, user_id, renewal, later)
        if left < renewal.at:
            return RenewalStatus(True, count, renewal.at, month_start(later), renewal.at - left, month)
    raise AssertionError("a window over empty months counts nothing")  # pragma: no cover


def lapsed_at(counters: Counts, user_id: str, renewal: RenewalWindow) -> datetime | None:
    """When a window that lacks enough at the member's as-of month last fell short: the first of the month after
    the last one (within a window's length back) whose window had enough. None: it has enough, or had not then."""
    month = as_of(counters, user_id)
    if month is None or in_window(counters, user_id, renewal, month) >= renewal.at:
        return None
    for earlier in range(month - 1, month - renewal.months - 1, -1):
        if in_window(counters, user_id, renewal, earlier) >= renewal.at:
            return month_start(earlier + 1)
    return None


def explain(title: str, counter_name: str, renewal: RenewalWindow, found: RenewalStatus) -> str:
    """In words: `Expert until 2027-03-01: 12 accepted answers in the last 12 months (10 needed); 3 more by then
    keep it`, or `Expert needs 10 accepted answers in the last 12 months: 7 so far`."""
    what = f"{counter_name.lower()} in the last {renewal.window.strip()}"
    if not found.held or found.lapses_at is None:
        return f"{title} needs {found.at:,} {what}: {found.count:,} so far"
    return (
        f"{title} until {found.lapses_at.date().isoformat()}: {found.count:,} {what} ({found.at:,} needed); "
        f"{found.needed_by_then:,} more by then keep it"
    )


@dataclass(frozen=True)
class DueCheck:
    """A renewal check the schedule stores: a warning or a lapse of a rank's (or, with `perk_id`, a perk's)
    window fell due at `at`."""

    user_id: str
    rank_id: str | None
    kind: Literal["warn", "lapse"]
    at: datetime
    lapses_at: datetime
    perk_id: str | None = None

    @property
    def event_id(self) -> str:
        # One per member, rank (or perk), kind and lapse: several workers, or the same one again, store it once.
        # A perk's is named `perk:<id>`: a rank and a perk may share an id.
        what = f"perk:{self.perk_id}" if self.perk_id is not None else self.rank_id
        return f"renewal/{self.user_id}/{what}/{self.kind}/{self.lapses_at.date().isoformat()}"

    def event_data(self, actor: str) -> dict[str, object]:
        return {
            "actor": actor,
            "user": self.user_id,
            **({"perk": self.perk_id} if self.perk_id is not None else {"rank": self.rank_id}),
            "check": self.kind,
            "lapses_at": self.lapses_at.isoformat(),
        }


def due(
    counters: Counts,
    user_id: str,
    rank_id: str | None,
    renewal: RenewalWindow,
    now: datetime,
    perk_id: str | None = None,
) -> DueCheck | None:
    """The check that fell due by `now` for a member whose window still holds as the log left it: the lapse once
    it passed, else the warning once its time came (none when the lapse came first: no warning after the fact)."""
    found = status(counters, user_id, renewal)
    if found.lapses_at is None:
        return None
    if found.lapses_at <= now:
        return DueCheck(user_id, rank_id, "lapse", found.lapses_at, found.lapses_at, perk_id)
    warns_at = found.warns_at(renewal)
    if warns_at is not None and warns_at <= now:
        return DueCheck(user_id, rank_id, "warn", warns_at, found.lapses_at, perk_id)
    return None


def perk_check(event_type: str, source: str, data: Mapping[str, object]) -> tuple[str, str, str] | None:
    """(user, perk, `warn` or `lapse`) of a perk's renewal check the schedule stored; None for any other event
    (one posted by anyone else too: a forum cannot post it, and it would warn nobody)."""
    if event_type != RENEWAL_CHECK or not source.startswith("rewards:"):
        return None
    user, perk, kind = data.get("user"), data.get("perk"), data.get("check")
    if isinstance(user, str) and isinstance(perk, str) and kind in ("warn", "lapse"):
        return user, perk, str(kind)
    return None
