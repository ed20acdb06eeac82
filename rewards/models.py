"""Every table, imported in one place for Alembic."""

from rewards.auth.models import ApiKeyRow
from rewards.events.models import StoredEvent
from rewards.ledger.models import AwardRow, CapBucketRow, LedgerEntryRow, SuspensionRow
from rewards.models_base import Base
from rewards.rulesets.models import ApplyLockRow, RulesetVersionRow
from rewards.users.models import UserRow

__all__ = [
    "ApiKeyRow",
    "ApplyLockRow",
    "AwardRow",
    "Base",
    "CapBucketRow",
    "LedgerEntryRow",
    "RulesetVersionRow",
    "StoredEvent",
    "SuspensionRow",
    "UserRow",
]
