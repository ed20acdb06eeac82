"""The public event contract: CloudEvents 1.0 envelopes carrying forum events, and the API's answers."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictStr, StringConstraints, field_validator

from rewards.engine.ruleset import EVENT_TYPE_PATTERN
from rewards.inputs import Rfc3339

Id = Annotated[StrictStr, StringConstraints(min_length=1, max_length=200)]
ShortText = Annotated[StrictStr, StringConstraints(min_length=1, max_length=100)]


class _Open(BaseModel):
    """Forums may send more fields than we read; they are kept with the event."""

    model_config = ConfigDict(extra="allow")


class Post(_Open):
    """A post, given in full with every event about it, so the engine needs no history of its own."""

    id: Id
    kind: ShortText = Field(description="`question` or `answer` (other kinds are accepted for custom rules).")
    author: Id
    question: Id | None = Field(default=None, description="For an answer: the id of its question.")
    category: ShortText | None = None
    tags: list[ShortText] | None = Field(default=None, max_length=50)


class QuestionPost(Post):
    kind: Literal["question"]


class AnswerPost(Post):
    kind: Literal["answer"]
    question: Id


class ActorData(_Open):
    actor: Id = Field(description="The user who did it.")


class QuestionPostedData(ActorData):
    post: QuestionPost


class AnswerPostedData(ActorData):
    post: AnswerPost


class VoteData(ActorData):
    post: Post


class VoteRetractedData(VoteData):
    vote: Literal["up", "down"]


class AcceptanceData(ActorData):
    post: AnswerPost = Field(description="The answer.")


class PostRemovedData(ActorData):
    post: Post
    reason: ShortText = Field(description="`spam`, `offensive`, `duplicate`, `off-topic`, ...")


class PostRestoredData(ActorData):
    post: Post


class FlagResolvedData(ActorData):
    post: Post
    flagger: Id
    outcome: Literal["helpful", "declined"]


class UserSuspendedData(ActorData):
    user: Id
    until: AwareDatetime | None = None


class UserReinstatedData(ActorData):
    user: Id


class ContributionApprovedData(ActorData):
    """Written by the engine when a manager approves a contribution an expert reported (`POST /v1/contributions`);
    a forum cannot post it."""

    actor: Id = Field(description="The member who made the contribution, who reported it.")
    contribution: Id = Field(description="The contribution's id in the engine (`GET /v1/contributions/{id}`).")
    kind: ShortText = Field(description="One of the kinds the rules file declares in `contributions`.")
    title: Annotated[StrictStr, StringConstraints(min_length=1, max_length=200)]
    link: Annotated[StrictStr, StringConstraints(max_length=500)] | None = None
    file: Annotated[StrictStr, StringConstraints(max_length=200)] | None = Field(
        default=None, description="The name of a file the expert gave instead of (or besides) a link."
    )
    approved_by: Id = Field(description="The manager (`user:<id>`) or API key (`key:<name>`) who approved it.")


class CustomData(_Open):
    """Any other event type a programme posts (`workshop.attended`...): an object, `actor` if someone acted."""

    actor: Id | None = None


DATA_MODELS: dict[str, type[BaseModel]] = {
    "question.posted": QuestionPostedData,
    "answer.posted": AnswerPostedData,
    "post.upvoted": VoteData,
    "post.downvoted": VoteData,
    "vote.retracted": VoteRetractedData,
    "answer.accepted": AcceptanceData,
    "answer.unaccepted": AcceptanceData,
    "post.removed": PostRemovedData,
    "post.restored": PostRestoredData,
    "flag.resolved": FlagResolvedData,
    "user.suspended": UserSuspendedData,
    "user.reinstated": UserReinstatedData,
    "contribution.approved": ContributionApprovedData,
}


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event in structured JSON mode. `(source, id)` identifies it: a redelivery is a no-op."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    id: Id
    source: Annotated[StrictStr, StringConstraints(min_length=1, max_length=500)]
    type: Annotated[StrictStr, StringConstraints(pattern=EVENT_TYPE_PATTERN, max_length=128)] = Field(
        description="A forum event type (`post.upvoted`...) or any dotted lower-case type a rule names."
    )
    time: Annotated[AwareDatetime, Rfc3339] = Field(description="When it happened (RFC 3339); points are dated by it.")
    datacontenttype: Literal["application/json"] | None = None

    @field_validator("time")
    @classmethod
    def _plausible_time(cls, value: datetime) -> datetime:
        if not 1970 <= value.year <= 2200:
            raise ValueError("time must be between the years 1970 and 2200")
        return value.astimezone(UTC)

    subject: Annotated[StrictStr, StringConstraints(max_length=500)] | None = None
    data: dict[str, Any]


class ItemError(BaseModel):
    index: int = Field(description="Position of the event in the batch (0 for a single event).")
    id: str | None = Field(description="The event's id, when it has a readable one.")
    field: str = Field(description="Dotted path of the offending field, e.g. `data.post.author`.")
    message: str


class IntakeResult(BaseModel):
    accepted: int
    duplicates: int
    accepted_ids: list[str]
    duplicate_ids: list[str]
    mode: Literal["embedded", "queued"] = Field(
        description="`embedded`: already applied when this answer was sent. `queued`: a worker applies them."
    )


class LedgerEntryOut(BaseModel):
    id: int
    user_id: str
    points: int
    kind: str
    reason: str = Field(description="The change in words, e.g. `+10 upvote on answer a9`.")
    rule_id: str
    ruleset_version: int
    award_id: int
    reverses_id: int | None
    event_seq: int
    occurred_at: datetime


class EventStatusOut(BaseModel):
    source: str
    id: str
    type: str
    time: datetime
    seq: int = Field(description="Place in the order of acceptance.")
    status: Literal["pending", "applied", "failed"]
    error: str | None = Field(description="Why it failed, when it did.")
    received_at: datetime
    applied_at: datetime | None
    ruleset_version: int | None
    rules_fired: list[str]
    notes: list[str] = Field(description="What each rule listening to this event type made of it.")
    ledger_entries: list[LedgerEntryOut]
