"""What the API says about perks."""

from datetime import datetime

from pydantic import BaseModel, Field

from rewards.engine.ruleset import MAX_SEATS
from rewards.inputs import RequestBody


class PerkDetailsOut(BaseModel):
    date: datetime | None
    place: str | None
    agenda: str | None
    group: str | None
    url: str | None


class PerkRenewalOut(BaseModel):
    """Where the holder stands against a perk that must be renewed (`renewal:` in the rules), as of the last event
    applied about them."""

    counter: str = Field(description="The counter the window counts: `accepted_answers`.")
    counter_name: str = Field(description="Its name in the rules: `Accepted answers`.")
    at: int = Field(description="At least this many within the window keep the perk.")
    window_months: int = Field(description="12: the current calendar month (UTC) and the 11 before it.")
    count: int = Field(description="Counted in the window.")
    until: datetime | None = Field(description="When the perk ends if nothing more is counted.")
    warn_from: datetime | None = Field(description="When the holder is warned of that (`warn_before`).")
    needed_by_then: int = Field(description="More to count before `until` to keep it past then.")
    explanation: str = Field(description="In words: `Beta access until 2027-03-01: 5 accepted answers in the ...`.")


class PerkGrantOut(BaseModel):
    grant_id: int
    perk_id: str
    name: str
    kind: str
    status: str = Field(
        description="waitlisted, pending_approval, offered, active; or ended: declined, offer_expired, denied, "
        "expired, revoked, withdrawn (no longer qualifying, window closed), suspended (the account was), lapsed "
        "(its renewal window did not have enough)."
    )
    queued_at: datetime
    offered_at: datetime | None
    respond_by: datetime | None = Field(description="For an offer: claim or decline before this time.")
    activated_at: datetime | None
    expires_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    code: str | None = Field(description="For beta access: the code handed out.")
    code_status: str | None = Field(
        description="For beta access: `issued`, or `awaiting_codes` when the pool ran out (a code follows when "
        "managers upload more)."
    )
    waitlist_position: int | None = Field(description="1 is next in line.")
    details: PerkDetailsOut
    renewal: PerkRenewalOut | None = Field(
        default=None, description="For an active perk that must be renewed: its window. Null otherwise."
    )


class PerkInReachOut(BaseModel):
    perk_id: str
    name: str
    kind: str
    description: str
    missing: list[str] = Field(description="Each thing still needed, in words.")
    missing_text: str = Field(description="`250 more reputation and Solver silver`.")


class PerkAvailableOut(BaseModel):
    perk_id: str
    name: str
    kind: str
    description: str
    note: str = Field(description="Why it is not offered yet, e.g. `opens 2026-12-01 09:00 UTC`.")


class UserPerksOut(BaseModel):
    user_id: str
    active: list[PerkGrantOut]
    offered: list[PerkGrantOut]
    pending_approval: list[PerkGrantOut]
    waitlisted: list[PerkGrantOut]
    in_reach: list[PerkInReachOut] = Field(description="Perks the user does not qualify for yet, with what is missing.")
    eligible_not_open: list[PerkAvailableOut] = Field(description="Qualified, but the perk's window is not open.")
    past: list[PerkGrantOut]


class PerkOut(BaseModel):
    id: str
    name: str
    kind: str
    description: str
    seats: int | None = Field(description="Capacity (a manager's setting overrides the rules file); null: unlimited.")
    seats_taken: int
    waitlist: int
    codes_left: int | None = Field(description="For beta access: free codes in the pool.")
    opens: datetime | None
    closes: datetime | None
    approval: bool
    claim_within_days: int | None
    expires_after_days: int | None
    statuses: dict[str, int]
    details: PerkDetailsOut


class PerksOut(BaseModel):
    perks: list[PerkOut]


class PerkDecisionIn(RequestBody):
    user_id: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=3, max_length=500)


class CodesIn(RequestBody):
    codes: list[str] = Field(min_length=1, max_length=100_000)


class CodesOut(BaseModel):
    perk_id: str
    added: int = Field(description="New codes (codes already in the pool are skipped).")
    codes_left: int
    codes_issued_to_waiting: int = Field(description="Active grants that were waiting for a code and got one.")


class SeatsIn(RequestBody):
    seats: int | None = Field(ge=0, le=MAX_SEATS, description="null: back to the rules file's value.")
