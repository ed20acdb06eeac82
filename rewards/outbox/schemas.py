"""API models of webhook endpoints and their delivery log."""

import re
from datetime import datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from rewards.inputs import RequestBody

# "badge.awarded", "perk.*" (every perk topic) or "*" (everything).
TOPIC_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")


class WebhookIn(RequestBody):
    url: str = Field(
        max_length=2000,
        description="Where to POST: an absolute http:// or https:// URL.",
        examples=["https://forum.example.com/hooks/rewards"],
    )
    topics: list[str] = Field(
        default_factory=list,
        max_length=50,
        description='Topics to receive: exact ("badge.awarded"), a family ("perk.*"), or "*". Empty: every topic.',
    )
    description: str | None = Field(default=None, max_length=500)

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, url: str) -> str:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError on a port that is not a number or out of range)
        except ValueError as error:
            raise ValueError(f"url {url!r} cannot be parsed ({error})") from error
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(
                f"url must be an absolute http:// or https:// URL with a host, such as "
                f"https://forum.example.com/hooks/rewards (got {url!r})"
            )
        if any(character.isspace() for character in url):
            raise ValueError("url must not contain spaces")
        return url

    @field_validator("topics")
    @classmethod
    def _topic_patterns(cls, topics: list[str]) -> list[str]:
        wrong = [topic for topic in topics if not TOPIC_PATTERN.match(topic)]
        if wrong:
            raise ValueError(
                f"not a topic pattern: {', '.join(map(repr, wrong))}; use a topic such as 'badge.awarded', "
                "a family such as 'perk.*', or '*'"
            )
        return sorted(set(topics))


class WebhookOut(BaseModel):
    id: int
    url: str
    topics: list[str] = Field(description="Empty: every topic.")
    description: str | None
    active: bool
    created_at: datetime
    refused_because: str | None = Field(
        description="Why deliveries to `url` are refused under the address policy in force (its address is loopback, "
        "private, link-local, multicast, reserved or a cloud metadata service, and REWARDS_WEBHOOK_ALLOWED_NETWORKS "
        "does not allow it); null otherwise. A host name is judged when a delivery resolves it: see the delivery log.",
    )


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="Signs every delivery. Shown this once: keep it where the receiver runs.")


class WebhooksOut(BaseModel):
    webhooks: list[WebhookOut]


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null when no answer came.")
    error: str | None = Field(description="Why the attempt failed; null when it succeeded.")
    duration_ms: int
    next_attempt_at: datetime | None = Field(description="The retry this failure scheduled; null: none.")


class DeliveryOut(BaseModel):
    id: int = Field(description="Sent as X-Rewards-Delivery: the same on every retry, for receivers to dedupe.")
    message_id: int
    topic: str
    user_id: str | None
    status: str = Field(description="pending, delivered, failed (gave up), cancelled (endpoint deleted).")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    log: list[AttemptOut] = Field(description="Every attempt, oldest first.")


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut] = Field(description="Newest first.")
    next_before: int | None = Field(description="Pass as `before` for the next page; null on the last page.")
