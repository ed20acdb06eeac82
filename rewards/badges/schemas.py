"""What the API says about badges."""

from datetime import datetime

from pydantic import BaseModel, Field

from rewards.inputs import RequestBody


class TierOut(BaseModel):
    tier: str = Field(description="bronze, silver or gold.")
    at: int = Field(description="The threshold of the badge's criterion for this tier.")
    holders: int = Field(description="Users holding this tier now.")


class BadgeOut(BaseModel):
    id: str
    name: str
    description: str
    icon: str | None
    criterion: str = Field(description="What is counted, in words: `Accepted answers in routers`.")
    kind: str = Field(description="`counter`, `post` (earned per post), `streak` or `reputation`.")
    revocable: bool
    tiers: list[TierOut]


class CatalogueOut(BaseModel):
    badges: list[BadgeOut]


class EarnedBadgeOut(BaseModel):
    badge_id: str
    name: str
    icon: str | None
    tier: str
    post: str | None = Field(description="For a post badge, the post that earned it.")
    granted_at: datetime
    source: str = Field(description="`rule` (earned), `manual` (granted by a manager) or `board` (a leaderboard).")
    reason: str
    revoked_at: datetime | None
    revoked_reason: str | None


class ProgressOut(BaseModel):
    badge_id: str
    name: str
    next_tier: str
    value: int
    at: int
    text: str = Field(description="`Solver silver: 7/25`.")


class UserBadgesOut(BaseModel):
    user_id: str
    counts: dict[str, int] = Field(description="Held badges by tier: gold, silver, bronze.")
    earned: list[EarnedBadgeOut] = Field(description="Held badges, newest first.")
    revoked: list[EarnedBadgeOut] = Field(description="Badges the user held and lost.")
    progress: list[ProgressOut] = Field(description="Every badge with a next tier within reach by counting.")


class TopBadgeOut(BaseModel):
    id: str
    name: str
    tier: str
    icon: str | None


class BadgeSummaryOut(BaseModel):
    """What a forum shows next to a username."""

    gold: int
    silver: int
    bronze: int
    top: list[TopBadgeOut] = Field(description="Up to three: highest tier first, then most recent.")


class GrantBadgeIn(RequestBody):
    user_id: str = Field(min_length=1, max_length=200)
    badge_id: str = Field(min_length=1, max_length=64)
    tier: str | None = Field(default=None, description="Defaults to the badge's lowest tier.")
    post: str | None = Field(default=None, max_length=300, description="For a post badge: the post.")
    reason: str = Field(min_length=3, max_length=500, description="Shown to the user and kept in the audit log.")


class RevokeBadgeIn(GrantBadgeIn):
    pass


class BadgeHolderOut(BaseModel):
    user_id: str
    display_name: str = Field(description="The member's name on the forum; the id when none is known.")
    avatar_url: str | None
    profile_url: str | None
    tier: str
    since: datetime = Field(description="When the member first earned this tier.")
    posts: int = Field(description="How many times the member holds this tier (a per-post badge: its posts).")


class BadgeHoldersOut(BaseModel):
    badge: BadgeOut
    holders: list[BadgeHolderOut] = Field(description="One row per member and tier, newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
