"""What the API says about a user."""

from datetime import datetime

from pydantic import BaseModel, Field

from rewards.badges.schemas import BadgeSummaryOut
from rewards.events.schemas import LedgerEntryOut
from rewards.inputs import RequestBody


class RankOut(BaseModel):
    id: str
    title: str
    reputation: int = Field(description="Reputation from which the title is held.")


class NextRankOut(RankOut):
    reputation_needed: int = Field(description="How much more reputation the user needs for it.")
    progress: float = Field(description="0 to 1: the way from the current rank's threshold to this one's.")
    badges_needed: list[str] = Field(
        default_factory=list, description="Badges this rank also needs that the user lacks: `solver/silver`."
    )


class UserOut(BaseModel):
    user_id: str
    reputation: int = Field(description="The sum of the user's ledger.")
    rank: RankOut | None = Field(description="The title the reputation earns (null if the ruleset has no ranks).")
    next_rank: NextRankOut | None = Field(description="The next title up; null at the top.")
    suspended: bool
    suspended_until: datetime | None
    first_seen_at: datetime | None
    last_active_at: datetime | None = Field(description="Time of the last event this user did.")
    badges: BadgeSummaryOut | None = Field(default=None, description="Badge counts by tier and the top three badges.")


class HistoryOut(BaseModel):
    user_id: str
    reputation: int
    entries: list[LedgerEntryOut] = Field(description="Newest first.")
    next_before: int | None = Field(description="Pass as `before` for the next page; null on the last page.")


class UsersPageOut(BaseModel):
    users: list[UserOut] = Field(description="In the order asked, each user once; users never seen are left out.")
    missing: list[str] = Field(description="Ids no event has named yet.")


class AdjustmentIn(RequestBody):
    points: int = Field(ge=-100_000, le=100_000, description="Added to the user's reputation; negative to take away.")
    reason: str = Field(min_length=3, max_length=400, description="Shown in the user's history and the audit log.")


class AdjustmentOut(BaseModel):
    event_source: str
    event_id: str = Field(description="The adjustment is an event in the log: GET /v1/events/{source}/{id}.")
    user_id: str
    reputation: int
