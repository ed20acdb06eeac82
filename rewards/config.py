"""Settings, read from `REWARDS_*` environment variables and a `.env` file."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rewards import PROJECT_ROOT


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REWARDS_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite+aiosqlite:///./rewards.db"
    # No Redis means embedded mode: events are applied in-process before POST /v1/events returns.
    redis_url: str | None = None
    rules_path: Path = PROJECT_ROOT / "rules" / "default.yaml"

    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_events_per_request: int = Field(default=1000, ge=1)
    # Events applied per transaction: large enough to amortise round trips, small enough to keep
    # a transaction short.
    apply_batch_size: int = Field(default=2000, ge=1)
    db_pool_size: int = Field(default=10, ge=1)
    # The secret of the Discourse webhook (Admin > API > Webhooks); unset: POST /v1/adapters/discourse is off.
    discourse_webhook_secret: SecretStr | None = None
    # Embedded mode runs the scheduled jobs (offer and perk expiry, webhook delivery, period closing) in the
    # API process; tests turn this off and run them with a chosen clock.
    run_scheduler: bool = True

    @model_validator(mode="after")
    def _production_needs_real_services(self) -> "Settings":
        if self.environment == "production" and self.database_url.startswith("sqlite"):
            raise ValueError("REWARDS_ENVIRONMENT=production needs REWARDS_DATABASE_URL=postgresql+asyncpg://...")
        return self

    @property
    def embedded(self) -> bool:
        return self.redis_url is None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
