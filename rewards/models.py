"""Every table, imported in one place for Alembic."""

from rewards.audit.models import AuditRow
from rewards.auth.models import ApiKeyRow, SessionGenerationRow
from rewards.badges.models import BadgeAwardRow
from rewards.connectors.models import ConnectorStateRow
from rewards.contributions.models import ContributionRow
from rewards.credentials.models import BadgeCredentialRow
from rewards.events.models import ApplyCursor, EventOutcome, StoredEvent
from rewards.leaderboards.models import (
    LeaderboardPeriodClosure,
    LeaderboardScoreRow,
    LeaderboardSync,
    LeaderboardWinner,
)
from rewards.ledger.models import AwardRow, CapBucketRow, CounterRow, LedgerEntryRow, StreakRow, SuspensionRow
from rewards.models_base import Base
from rewards.outbox.models import OutboxMessage, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from rewards.perks.models import PerkCodeRow, PerkGrantRow, PerkSettingRow
from rewards.rulesets.models import RulesetPublicationRow, RulesetVersionRow
from rewards.users.models import UserRow

__all__ = [
    "ApiKeyRow",
    "ApplyCursor",
    "AuditRow",
    "AwardRow",
    "BadgeAwardRow",
    "BadgeCredentialRow",
    "Base",
    "CapBucketRow",
    "ConnectorStateRow",
    "ContributionRow",
    "CounterRow",
    "EventOutcome",
    "LeaderboardPeriodClosure",
    "LeaderboardScoreRow",
    "LeaderboardSync",
    "LeaderboardWinner",
    "LedgerEntryRow",
    "OutboxMessage",
    "PerkCodeRow",
    "PerkGrantRow",
    "PerkSettingRow",
    "RulesetPublicationRow",
    "RulesetVersionRow",
    "SessionGenerationRow",
    "StoredEvent",
    "StreakRow",
    "SuspensionRow",
    "UserRow",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
