"""What the API says about a user."""

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from rewards.badges.schemas import BadgeSummaryOut
from rewards.events.schemas import LedgerEntryOut
from rewards.inputs import RequestBody
from rewards.users.profiles import clean_locale, clean_time_zone, clean_url


class RenewalOut(BaseModel):
    """Where the member stands against a rank that must be renewed (`renewal:` in the rules), as of the last event
    applied about them."""

    counter: str = Field(description="The counter the window counts: `accepted_answers`.")
    counter_name: str = Field(description="Its name in the rules: `Accepted answers`.")
    at: int = Field(description="At least this many within the window keep the title.")
    window_months: int = Field(description="12: the current calendar month (UTC) and the 11 before it.")
    count: int = Field(description="Counted in the window.")
    held: bool = Field(description="The window has enough.")
    until: datetime | None = Field(description="When the title lapses if nothing more is counted (held only).")
    warn_from: datetime | None = Field(description="When the member is warned of that lapse (`warn_before`).")
    needed_by_then: int = Field(description="More to count before `until` to keep it past then (else: to earn it).")
    explanation: str = Field(description="In words: `Expert until 2027-03-01: 12 accepted answers in the last ...`.")


class RankOut(BaseModel):
    id: str
    title: str
    reputation: int = Field(description="Reputation from which the title is held.")
    renewal: RenewalOut | None = Field(
        default=None, description="For a rank that must be renewed: its window. Null: the title is held for good."
    )


class NextRankOut(RankOut):
    """`renewal`, on the next rank, only once the member has its reputation: what the window still lacks."""

    reputation_needed: int = Field(description="How much more reputation the user needs for it.")
    progress: float = Field(description="0 to 1: the way from the current rank's threshold to this one's.")
    badges_needed: list[str] = Field(
        default_factory=list, description="Badges this rank also needs that the user lacks: `solver/silver`."
    )


class MemberOut(BaseModel):
    """How a member is shown, beside the id: from the member's profile (`PUT /v1/users/{id}/profile`, SSO
    sign-ins, Discourse deliveries, imports), else the id itself."""

    user_id: str
    display_name: str = Field(description="The member's name; their username, or the id, when no name is known.")
    avatar_url: str | None = Field(description="An absolute http(s) address of the member's picture.")
    profile_url: str | None = Field(description="The member's profile on the forum (an absolute http(s) address).")


class UserOut(MemberOut):
    reputation: int = Field(description="The sum of the user's ledger.")
    rank: RankOut | None = Field(description="The title the reputation earns (null if the ruleset has no ranks).")
    next_rank: NextRankOut | None = Field(description="The next title up; null at the top.")
    suspended: bool
    suspended_until: datetime | None
    first_seen_at: datetime | None
    last_active_at: datetime | None = Field(description="Time of the last event this user did.")
    badges: BadgeSummaryOut | None = Field(default=None, description="Badge counts by tier and the top three badges.")


class HistoryEntryOut(LedgerEntryOut):
    post_id: str | None = Field(description="The post the change is about, when its event names one.")
    post_url: str | None = Field(
        description="Where that post is on the forum (the source's URL template), when known: an http(s) address."
    )


class HistoryOut(BaseModel):
    user_id: str
    reputation: int
    entries: list[HistoryEntryOut] = Field(description="Newest first.")
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


class ProfileIn(RequestBody):
    """A member's profile as the forum knows it. The profile becomes what this says: a field left out is cleared
    (and `profile_url` then comes from the URL template, when one is configured)."""

    display_name: str | None = Field(default=None, max_length=200, description="Shown instead of the id.")
    username: str | None = Field(
        default=None, max_length=200, description="The forum handle: {username} in REWARDS_PROFILE_URL_TEMPLATE."
    )
    avatar_url: str | None = Field(default=None, max_length=2000, description="An absolute http(s) address.")
    profile_url: str | None = Field(default=None, max_length=2000, description="An absolute http(s) address.")
    time_zone: str | None = Field(default=None, max_length=64, description="An IANA time zone: `Europe/Warsaw`.")
    locale: str | None = Field(default=None, max_length=35, description="A BCP 47 language tag: `pl`, `pt-BR`.")

    @field_validator("avatar_url", "profile_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is not None and clean_url(value) is None:
            raise ValueError("must be an absolute http:// or https:// address, such as https://forum.example.com/u/ann")
        return value

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str | None) -> str | None:
        if value is not None and clean_time_zone(value) is None:
            raise ValueError("must be an IANA time zone, such as Europe/Warsaw or America/New_York")
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        if value is not None and clean_locale(value) is None:
            raise ValueError("must be a BCP 47 language tag, such as pl or pt-BR")
        return value


class ProfileOut(MemberOut):
    username: str | None
    time_zone: str | None
    locale: str | None
    source: str = Field(description="Who wrote it last: `api`, `sso`, or an event source (`discourse:https://...`).")
    version: int = Field(description="Grows with every change.")
    updated_at: datetime
