"""API models of ruleset versions, publications, validation, preview and publishing."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from rewards.engine.ruleset import MAX_DAYS
from rewards.inputs import MAX_BIGINT, RequestBody
from rewards.rulesets.models import PublishJobStatus
from rewards.rulesets.preview import PreviewResult, Withdrawal

Mode = Literal["from_now_on", "retroactive"]
MAX_SOURCE_CHARS = 1024 * 1024
# The most events a preview runs by default, and the most a request may ask for.
DEFAULT_PREVIEW_EVENTS = 100_000
MAX_PREVIEW_EVENTS = 1_000_000


class PublicationOut(BaseModel):
    id: int
    version: int
    published_at: datetime
    published_by: str
    comment: str
    mode: Mode
    via: Literal["file", "console", "api", "cli"]


class VersionOut(BaseModel):
    version: int
    name: str
    digest: str
    origin: str
    created_at: datetime
    published: bool = Field(description="This is the version every process applies now.")
    publications: list[PublicationOut] = Field(description="When this version was published, newest first.")


class VersionsOut(BaseModel):
    published_version: int | None
    versions: list[VersionOut]


class SourceOut(BaseModel):
    version: int
    name: str
    digest: str
    source: str


class ProblemOut(BaseModel):
    file: str
    line: int | None
    rule_id: str | None
    field: str
    message: str


class ValidateIn(RequestBody):
    source: str = Field(max_length=MAX_SOURCE_CHARS, description="The draft rules file's text.")


class ValidateOut(BaseModel):
    valid: bool
    problems: list[ProblemOut]


class PreviewIn(RequestBody):
    source: str = Field(max_length=MAX_SOURCE_CHARS, description="The draft rules file's text.")
    days: int | None = Field(
        default=None, ge=1, le=MAX_DAYS, description="Events of the last N days (by event time); unset: the whole log."
    )
    max_events: int = Field(
        default=DEFAULT_PREVIEW_EVENTS,
        ge=1,
        le=MAX_PREVIEW_EVENTS,
        description="At most this many events, the newest of the window; the answer says when it is capped.",
    )


class PreviewOut(BaseModel):
    published_version: int
    days: int | None
    since: datetime | None
    baseline: Literal["empty"] = Field(
        description="Both rulesets run the window's events from an empty state (not from the state before it)."
    )
    window_events: int
    max_events: int
    capped: bool
    message: str | None
    result: PreviewResult
    withdrawals: list[Withdrawal] | None = Field(
        description="Open perk grants the rules made that publishing the draft retroactively would end (an unclaimed "
        "offer, a request or a waitlist place the draft does not justify; an active perk whose policy is to "
        "revoke). Only when the preview ran the whole log (no `days`, not capped); null otherwise."
    )


class PublishIn(RequestBody):
    source: str | None = Field(default=None, max_length=MAX_SOURCE_CHARS, description="A draft to publish...")
    version: int | None = Field(
        default=None, ge=1, le=MAX_BIGINT, description="...or an existing version (a rollback)."
    )
    mode: Mode = Field(
        description="`from_now_on`: past awards stay, new events use this version; `retroactive`: the whole log "
        "is replayed under it, in the background (the answer is a job to follow)."
    )
    comment: str = Field(min_length=1, max_length=1000, description="Why: shown in the history and the audit log.")

    @model_validator(mode="after")
    def _one_of(self) -> "PublishIn":
        if (self.source is None) == (self.version is None):
            raise ValueError("give exactly one of `source` (a draft) or `version` (an earlier version)")
        return self


class PublishOut(BaseModel):
    publication_id: int
    version: int
    previous_version: int | None
    mode: Mode
    action: Literal["ruleset.published", "ruleset.rolled_back"]
    replayed_events: int | None
    failed_events: int | None


class PublishJobOut(BaseModel):
    """A retroactive publication, run in the background: the whole log is replayed under `version` in one
    transaction, so the publication and everything it recomputes commit together, or nothing changes."""

    id: int
    version: int
    status: PublishJobStatus = Field(
        description="`queued`, `running`, `done` (published: `publication_id`, `action`, the counts), `failed` "
        "(nothing changed: `error` says why) or `cancelled` (while queued, by a manager or by a changed rules file "
        "published at start-up)."
    )
    requested_at: datetime
    requested_by: str
    comment: str
    via: Literal["console", "api"]
    started_at: datetime | None
    finished_at: datetime | None
    events_total: int | None = Field(description="The log's length when the job was asked for, then when it started.")
    events_done: int | None = Field(
        description="Events replayed so far: every few seconds on PostgreSQL; on SQLite, null until it is done."
    )
    replayed_events: int | None
    failed_events: int | None
    publication_id: int | None
    action: Literal["ruleset.published", "ruleset.rolled_back"] | None
    error: str | None

    model_config = ConfigDict(from_attributes=True)

    @computed_field(description="Where to follow it.")  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        return publish_job_url(self.id)


def publish_job_url(job_id: int) -> str:
    return f"/v1/rulesets/publish-jobs/{job_id}"


class PublishJobsOut(BaseModel):
    jobs: list[PublishJobOut]
