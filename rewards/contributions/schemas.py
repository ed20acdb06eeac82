"""The contributions API's requests and answers."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from rewards.inputs import RequestBody


class ContributionIn(RequestBody):
    user_id: str = Field(min_length=1, max_length=200, description="The member who made the contribution.")
    kind: str = Field(min_length=1, max_length=64, description="One of the kinds the rules file declares.")
    title: str = Field(
        min_length=1, max_length=200, description="What they did, e.g. `Ran the router workshop in Warsaw`."
    )
    details: str | None = Field(default=None, max_length=2000, description="When, where, for whom, what came of it.")
    link: str | None = Field(
        default=None, max_length=500, description="An absolute http(s) address that shows it (slides, a report)."
    )
    file_name: str | None = Field(
        default=None, max_length=200, description="Or the name of a file that shows it, sent to the manager apart."
    )


class DecisionIn(RequestBody):
    comment: str | None = Field(
        default=None, max_length=400, description="Shown to the member and in the audit log; required to deny."
    )


class ContributionKindOut(BaseModel):
    id: str
    name: str
    description: str | None


class ContributionOut(BaseModel):
    id: int
    user_id: str
    kind: str
    kind_name: str = Field(description="The kind's name in the published rules (its id if they dropped it).")
    title: str
    details: str | None
    link: str | None
    file_name: str | None
    reported_at: datetime
    reported_by: str
    status: Literal["pending", "approved", "denied", "withdrawn"]
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    event_source: str | None = Field(description="For an approval: its event, GET /v1/events/{source}/{id}.")
    event_id: str | None


class ContributionsPageOut(BaseModel):
    contributions: list[ContributionOut]
    kinds: list[ContributionKindOut] = Field(description="The kinds the published rules declare.")
    next_before: int | None = Field(description="Pass as `before` for the next, older page.")
