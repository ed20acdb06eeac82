"""What the API says about manager actions."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="Who acted: `key:<api key name>` or `user:<forum user id>`.")
    action: str = Field(description="`badge.grant`, `badge.revoke`, `perk.grant`, `perk.approve`, ...")
    user_id: str | None = Field(description="The person affected, if any.")
    target: str | None = Field(description="The badge, perk... acted on.")
    reason: str | None
    detail: dict[str, Any]


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut] = Field(description="Newest first.")
    next_before: int | None = Field(description="Pass as `before` for the next page; null on the last page.")
