"""Settings, read from `REWARDS_*` environment variables and a `.env` file."""

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rewards.inputs import MAX_BODY_BYTES_CEILING
from rewards.links import POST_FIELDS, PROFILE_FIELDS, Links, SourceLinks, check_template
from rewards.outbound import parse_networks
from rewards.resources import RULES_DIR

# Development-only stand-ins so `make run` signs in with no set-up; production refuses them.
DEVELOPMENT_SSO_SECRET = "development-only-sso-secret-not-for-production"  # noqa: S105 (refused in production)
DEVELOPMENT_SESSION_SECRET = "development-only-session-secret-not-for-production"  # noqa: S105
PLACEHOLDER_SECRETS = frozenset({DEVELOPMENT_SSO_SECRET, DEVELOPMENT_SESSION_SECRET, "changeme", "secret"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REWARDS_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite+aiosqlite:///./rewards.db"
    # No Redis means embedded mode: events are applied in-process before POST /v1/events returns.
    redis_url: str | None = None
    rules_path: Path = RULES_DIR / "default.yaml"

    # The bodies of POST /v1/events and of Discourse deliveries (read once the sender is known)...
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=MAX_BODY_BYTES_CEILING)
    # ...and of every route that declares no limit of its own (rewards.inputs): larger ones get 413 before they
    # are parsed and before the key is checked.
    max_request_body_bytes: int = Field(default=64 * 1024, ge=1024, le=MAX_BODY_BYTES_CEILING)
    max_events_per_request: int = Field(default=1000, ge=1)
    # Events applied per transaction: large enough to amortise round trips, small enough to keep
    # a transaction short.
    apply_batch_size: int = Field(default=2000, ge=1)
    db_pool_size: int = Field(default=10, ge=1)
    # The secret of the Discourse webhook (Admin > API > Webhooks); unset: POST /v1/adapters/discourse is off.
    discourse_webhook_secret: SecretStr | None = None
    # Seconds to wait for a webhook receiver (connect and answer) before the attempt counts as failed.
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # Embedded mode runs the scheduled jobs (offer and perk expiry, webhook delivery, period closing) in the
    # API process; tests turn this off and run them with a chosen clock.
    run_scheduler: bool = True

    # Sign-in for the web pages (rewards/web): the forum hands the browser a JWT, HS256 with this shared secret or
    # RS256 against a public key (PEM text or a file) or a JWKS (http(s) URL, file:// URL or file path).
    # Outside production, unset secrets fall back to development placeholders, which production refuses.
    sso_secret: SecretStr | None = None
    sso_public_key: str | None = None
    sso_jwks_url: str | None = None
    sso_issuer: str = "forum"
    sso_audience: str = "rewards"
    sso_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # Where "sign in" sends a browser: the forum's page that mints a token and comes back to /sso?token=...
    sso_login_url: str | None = None
    # Signs the engine's own session cookie (and the sign-in CSRF cookie).
    session_secret: SecretStr | None = None
    session_max_age_seconds: int = Field(default=12 * 3600, ge=60)
    # Secure cookies need HTTPS; unset means secure everywhere except `development` (http://127.0.0.1).
    session_cookie_secure: bool | None = None
    # The company's own support staff, as forum user ids separated by commas: the programme dashboard counts
    # their answers apart from the community's (volunteer moderators are community members).
    staff_users: str = ""

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

    @model_validator(mode="after")
    def _production_refuses_placeholder_secrets(self) -> "Settings":
        if self.environment != "production":
            return self
        for name, secret in (("SSO_SECRET", self.sso_secret), ("SESSION_SECRET", self.session_secret)):
            if secret is None:
                continue
            value = secret.get_secret_value()
            if value in PLACEHOLDER_SECRETS or len(value) < 32:
                raise ValueError(f"REWARDS_{name} is a placeholder or shorter than 32 characters: set a random one")
        if self.session_secret is None and (self.sso_secret or self.sso_public_key or self.sso_jwks_url):
            raise ValueError("sign-in is configured (REWARDS_SSO_*) but REWARDS_SESSION_SECRET is not set")
        return self

    @property
    def sso_hs256_secret(self) -> str | None:
        """The shared secret for HS256 tokens; outside production, a development placeholder when unset."""
        if self.sso_secret is not None:
            return self.sso_secret.get_secret_value()
        return None if self.environment == "production" else DEVELOPMENT_SSO_SECRET

    @property
    def session_signing_secret(self) -> str | None:
        """None in production without REWARDS_SESSION_SECRET: browser sign-in is then off."""
        if self.session_secret is not None:
            return self.session_secret.get_secret_value()
        return None if self.environment == "production" else DEVELOPMENT_SESSION_SECRET

    @property
    def staff_user_ids(self) -> frozenset[str]:
        return frozenset(user_id.strip() for user_id in self.staff_users.split(",") if user_id.strip())

    @property
    def cookie_secure(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return self.environment != "development"

    # Webhooks go to public addresses only (rewards.outbound): loopback, private, link-local, multicast, reserved
    # and cloud metadata addresses are refused, at registration and again at every connection, except in these
    # networks, comma-separated ("10.0.0.0/8,fd00::/8"; a bare address is itself).
    webhook_allowed_networks: str = ""

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # a typo fails at start-up, naming the entry
        return value

    # Slow clients (rewards.request_deadlines, run by `rewards serve`): a request's line and headers must arrive
    # within this many seconds of the connection opening (or of its first byte, on a kept-alive connection), and
    # in at most that many bytes; its body within the body timeout of the headers. Deadlines, not idle timeouts: a
    # client trickling a byte at a time is cut all the same. Past them: 408 or 431, and the connection is closed.
    request_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    request_body_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    max_request_header_bytes: int = Field(default=64 * 1024, ge=4096, le=1024 * 1024)

    # The longest a forum's sign-in token may live (its `exp` less its `iat`, or less now): a longer one is
    # refused, so a token that leaked (a proxy's log, a browser's history) is soon worth nothing.
    sso_max_token_lifetime_seconds: int = Field(default=600, ge=10, le=86400)

    # A Khoros community (rewards.connectors; README "Connecting a Khoros community"). Unset: no connector, no
    # Firehose receiver. Its events are stored under `khoros:<host of this URL>`.
    khoros_community_url: str | None = None
    # The Bulk Data API: Classic (`lsi-data/v2`: the export URL with the community ID, Basic auth with the access
    # token and the `client-id` header) or Aurora v3 (a bearer token from a "Bulk Data API" app).
    khoros_bulk_api: Literal["classic-v2", "aurora-v3"] = "classic-v2"
    khoros_bulk_url: str | None = None  # https://api.lithium.com/lsi-data/v2/data/export/community/<community id>
    khoros_bulk_token: SecretStr | None = None
    khoros_bulk_client_id: SecretStr | None = None
    khoros_bulk_window_hours: float = Field(default=168, gt=0, le=168)  # Khoros answers at most 7 days a request
    # The Community API v2 (LiQL): messages by post time, and each one's kudos.
    khoros_liql: bool = False
    khoros_liql_auth: Literal["none", "bearer", "session-key"] = "none"
    khoros_liql_token: SecretStr | None = None
    khoros_liql_kudos: bool = True
    khoros_liql_window_hours: float = Field(default=24, gt=0, le=24 * 31)  # new time a window reads, past the overlap
    # Each stream runs every so often, re-reading `overlap` hours before its watermark (late records are
    # duplicates); a stream that never ran starts at `sync_start`, or one window before now.
    khoros_sync_every_seconds: int = Field(default=3600, ge=60)
    khoros_sync_overlap_hours: float = Field(default=24, ge=0, le=72)
    khoros_sync_start: datetime | None = None
    khoros_sync_windows_per_run: int = Field(default=4, ge=1, le=1000)
    khoros_request_timeout_seconds: float = Field(default=300, gt=0, le=900)  # Khoros: 5 min for odd windows
    khoros_retry_attempts: int = Field(default=5, ge=1, le=20)
    khoros_retry_base_seconds: float = Field(default=1.0, ge=0, le=60)
    khoros_retry_max_seconds: float = Field(default=300, ge=0, le=3600)
    # The Firehose (Aurora): Khoros fetches a token from POST /v1/connectors/khoros/firehose/token with this client
    # id and secret, then posts batches to /v1/connectors/khoros/firehose with it. Unset: the receiver is off.
    khoros_firehose_client_id: str | None = None
    khoros_firehose_client_secret: SecretStr | None = None
    khoros_firehose_token_seconds: int = Field(default=3600, ge=60, le=86400)

    # Links out (rewards.links): where a post and a member's profile live on the forum, for ledger lines, per-post
    # badges, the boards and the console. Placeholders: {post_id} (the id the events give, `a9`), {post_number} (its
    # last run of digits, `9`); {user_id}, {username}. Each is an absolute http(s) address with its host written
    # out. Discourse, Stack Exchange and Khoros sources need none (their names give their forum away); these serve
    # the other sources, and REWARDS_SOURCE_LINKS overrides per source:
    # `{"khoros:community.example.com": {"post": "https://community.example.com/t5/-/-/m-p/{post_id}"}}`.
    post_url_template: str | None = None
    profile_url_template: str | None = None
    # The time zone of the pages' times for a reader whose forum did not say theirs (the SSO `zoneinfo` claim, a
    # profile's `time_zone`) and whose browser has not either: an IANA name such as `Europe/Warsaw`.
    default_time_zone: str = "UTC"
    source_links: dict[str, dict[Literal["post", "profile"], str]] = Field(default_factory=dict)

    @field_validator("default_time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"REWARDS_DEFAULT_TIME_ZONE must be an IANA time zone such as Europe/Warsaw, not {value!r}"
            ) from None
        return value.strip()

    @field_validator("post_url_template")
    @classmethod
    def _post_template(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else check_template(value.strip(), POST_FIELDS)

    @field_validator("profile_url_template")
    @classmethod
    def _profile_template(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else check_template(value.strip(), PROFILE_FIELDS)

    @field_validator("source_links")
    @classmethod
    def _source_templates(
        cls, value: dict[str, dict[Literal["post", "profile"], str]]
    ) -> dict[str, dict[Literal["post", "profile"], str]]:
        for templates in value.values():
            for kind, template in templates.items():
                check_template(template, POST_FIELDS if kind == "post" else PROFILE_FIELDS)
        return value

    @property
    def links(self) -> Links:
        """The templates as `rewards.links.Links`."""
        return Links(
            post=self.post_url_template,
            profile=self.profile_url_template,
            sources={
                source: SourceLinks(post=templates.get("post"), profile=templates.get("profile"))
                for source, templates in self.source_links.items()
            },
        )

    # Open Badges 3.0 credentials (rewards.credentials): the RSA private key (PEM) that signs them, the same file on
    # every server. Unset with the embedded SQLite database: one is made on first use beside the database file.
    credentials_key_file: Path | None = None
    # The issuer named in every credential, and on LinkedIn as the certification's organization.
    credentials_issuer_name: str = Field(default="Community rewards", min_length=1, max_length=200)
    credentials_issuer_url: str | None = Field(default=None, max_length=2000)  # the community's site; unset: ours
    # Where this engine is reached (https://rewards.example.com): credentials, keys and status lists are named by
    # addresses under it, so it must not change once credentials are out. Unset: the address of each request.
    public_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")

    @model_validator(mode="after")
    def _khoros_secrets(self) -> "Settings":
        if self.khoros_firehose_client_secret is not None:
            if not self.khoros_firehose_client_id or not self.khoros_community_url:
                raise ValueError(
                    "REWARDS_KHOROS_FIREHOSE_CLIENT_SECRET needs REWARDS_KHOROS_FIREHOSE_CLIENT_ID and "
                    "REWARDS_KHOROS_COMMUNITY_URL"
                )
            value = self.khoros_firehose_client_secret.get_secret_value()
            if self.environment == "production" and (value in PLACEHOLDER_SECRETS or len(value) < 32):
                raise ValueError("REWARDS_KHOROS_FIREHOSE_CLIENT_SECRET is a placeholder or shorter than 32 characters")
        if self.khoros_bulk_window_hours <= self.khoros_sync_overlap_hours + 24:
            # A window starts at 00:00 UTC before the overlap: it must reach past the watermark to move on.
            raise ValueError("REWARDS_KHOROS_BULK_WINDOW_HOURS must exceed REWARDS_KHOROS_SYNC_OVERLAP_HOURS + 24")
        if self.khoros_sync_start is not None and self.khoros_sync_start.tzinfo is None:
            self.khoros_sync_start = self.khoros_sync_start.replace(tzinfo=UTC)
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
