"""API models of leaderboards."""

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from rewards.badges.schemas import BadgeSummaryOut


class PeriodAwardOut(BaseModel):
    period: str
    top: int
    badge: str | None
    perk: str | None


class BoardOut(BaseModel):
    id: str
    title: str
    description: str | None
    score: str = Field(description="What the board counts: reputation, points from rules, or a counter.")
    periods: list[str]
    current: dict[str, str] = Field(description="The current period's key for each period, e.g. weekly: 2026-W47.")
    awards: list[PeriodAwardOut]


class BoardsOut(BaseModel):
    boards: list[BoardOut]


class EntryOut(BaseModel):
    rank: int = Field(description="Standard competition rank: equal scores share a rank (1, 2, 2, 4).")
    user_id: str
    display_name: str = Field(
        default="", description="The member's name (their profile's); their username, or the id, when none is known."
    )
    avatar_url: str | None = Field(default=None, description="An absolute http(s) address of the member's picture.")
    profile_url: str | None = Field(default=None, description="The member's profile on the forum.")
    score: int
    reached_at: datetime = Field(description="When the user reached this score; among equal scores, earlier first.")
    reputation: int
    rank_title: str | None
    badges: BadgeSummaryOut = Field(description="Badge counts by tier and the top three badges.")

    @model_validator(mode="after")
    def _named(self) -> "EntryOut":
        # A member without a profile is shown by their id (the service passes `profiles.member_fields`).
        if not self.display_name:
            self.display_name = self.user_id
        return self


class BoardPageOut(BaseModel):
    board: str
    period: str
    at: str = Field(description="The period's key: all, 2026, 2026-Q4, 2026-11, 2026-W47 or 2026-11-23.")
    served_from: str = Field(description="`redis`, or `database` (embedded mode, or while Redis is rebuilt).")
    entries: list[EntryOut]


class WinnerOut(BaseModel):
    rank: int
    user_id: str
    score: int
    prize: str = Field(description="`badge:<id>` or `perk:<id>`.")
    granted: bool = Field(description="Whether the badge or perk was handed over.")


class ClosedPeriodOut(BaseModel):
    period: str
    at: str
    closed_at: datetime
    winners: list[WinnerOut]


class ClosedPeriodsOut(BaseModel):
    board: str
    closed: list[ClosedPeriodOut]
