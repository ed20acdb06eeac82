"""Every table, imported in one place for Alembic."""

from rewards.auth.models import ApiKeyRow
from rewards.events.models import ApplyCursor, EventOutcome, StoredEvent
from rewards.ledger.models import AwardRow, CapBucketRow, LedgerEntryRow, SuspensionRow
from rewards.models_base import Base
from rewards.outbox.models import OutboxMessage, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from rewards.rulesets.models import RulesetVersionRow
from rewards.users.models import UserRow

__all__ = [
    "ApiKeyRow",
    "ApplyCursor",
    "AwardRow",
    "Base",
    "CapBucketRow",
    "EventOutcome",
    "LedgerEntryRow",
    "OutboxMessage",
    "RulesetVersionRow",
    "StoredEvent",
    "SuspensionRow",
    "UserRow",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
