"""The Khoros connector: reads a community's APIs since its watermark, window by window, and stores what it reads
as canonical events (the same mapping as `rewards import khoros`, so a file import and the live feed agree).

Two streams, each with its own watermark:
- `bulk`: the Bulk Data API (Classic `lsi-data/v2`, Basic auth with the access token and a `client-id` header;
  or Aurora v3 with a bearer token), every action (kudos on old messages, solutions accepted later,
  moderation), at most 7 days a request and one request at a time (a lease on the stream's row).
- `liql`: the Community API v2, messages by `post_time` with cursor paging, and each message's kudos.

Windows overlap (the next one starts `overlap` before the watermark): late records are read again and are
duplicates. A failing window keeps the watermark where it is and is read again next run. A 429 is retried
after `Retry-After`, taken as a floor (Khoros has been seen to send `Retry-After: 0`), with exponential
back-off. Credentials live in settings as secrets and never reach a log or an error message.
"""

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from rewards.apply.applier import Applier
from rewards.apply.ingest import ingest
from rewards.config import Settings
from rewards.connectors import repository
from rewards.db import unit_of_work
from rewards.errors import InvalidInput, RewardsError
from rewards.events import service as events
from rewards.imports.khoros import (
    KhorosInput,
    KhorosStats,
    add_payload,
    community_source,
    flatten,
    input_profiles,
)
from rewards.imports.service import khoros_events
from rewards.imports.stackexchange import DumpError
from rewards.runtime import holder_name, utcnow
from rewards.users import profiles

log = logging.getLogger(__name__)

BULK, LIQL = "bulk", "liql"
BULK_MAX_WINDOW = timedelta(days=7)  # Khoros: "can query up to 7 days worth of data at one time"
LIQL_PAGE = 1000  # LiQL's largest LIMIT (without one, 25)
LEASE = timedelta(minutes=30)
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
SAFE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")  # a message id that may go into a LiQL string literal
SAFE_CURSOR = re.compile(r"^[A-Za-z0-9+/=_-]{1,1000}$")  # LiQL cursors are base64: no quote can close the literal


class KhorosUnavailable(RewardsError):
    """Khoros did not answer usefully (after the retries): the window is read again next run."""

    status_code = 502


@dataclass(frozen=True)
class KhorosConfig:
    community_url: str
    source: str
    liql: bool
    liql_auth: str
    liql_token: SecretStr | None
    liql_kudos: bool
    bulk_api: str
    bulk_url: str | None
    bulk_token: SecretStr | None
    bulk_client_id: SecretStr | None
    every: timedelta
    overlap: timedelta
    bulk_window: timedelta
    liql_window: timedelta
    start: datetime | None
    windows_per_run: int
    timeout_seconds: float
    retry_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "KhorosConfig | None":
        """None when no Khoros community is configured: the scheduled job then does nothing."""
        if not settings.khoros_community_url:
            return None
        url = settings.khoros_community_url.rstrip("/")
        if "//" not in url:
            url = f"https://{url}"
        return cls(
            community_url=url,
            source=community_source(url),
            liql=settings.khoros_liql,
            liql_auth=settings.khoros_liql_auth,
            liql_token=settings.khoros_liql_token,
            liql_kudos=settings.khoros_liql_kudos,
            bulk_api=settings.khoros_bulk_api,
            bulk_url=settings.khoros_bulk_url,
            bulk_token=settings.khoros_bulk_token,
            bulk_client_id=settings.khoros_bulk_client_id,
            every=timedelta(seconds=settings.khoros_sync_every_seconds),
            overlap=timedelta(hours=settings.khoros_sync_overlap_hours),
            bulk_window=min(timedelta(hours=settings.khoros_bulk_window_hours), BULK_MAX_WINDOW),
            liql_window=timedelta(hours=settings.khoros_liql_window_hours),
            start=settings.khoros_sync_start,
            windows_per_run=settings.khoros_sync_windows_per_run,
            timeout_seconds=settings.khoros_request_timeout_seconds,
            retry_attempts=settings.khoros_retry_attempts,
            retry_base_seconds=settings.khoros_retry_base_seconds,
            retry_max_seconds=settings.khoros_retry_max_seconds,
        )

    @property
    def streams(self) -> list[str]:
        found = []
        if self.bulk_token is not None and (self.bulk_api == "aurora-v3" or self.bulk_url):
            found.append(BULK)
        if self.liql:
            found.append(LIQL)
        return found

    def window(self, stream: str) -> timedelta:
        return self.bulk_window if stream == BULK else self.liql_window


# -- HTTP --------------------------------------------------------------------------------------------------------


Sleep = Callable[[float], Awaitable[None]]


class KhorosClient:
    """Khoros's APIs with retries: 429 and 5xx are retried `retry_attempts` times; anything else is an error."""

    def __init__(self, config: KhorosConfig, http: httpx.AsyncClient, sleep: Sleep = asyncio.sleep) -> None:
        self.config = config
        self.http = http
        self.sleep = sleep
        self.requests = 0
        self.retries = 0

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        backoff = self.config.retry_base_seconds * 2**attempt
        floor = 0.0
        if retry_after is not None:
            try:
                floor = float(retry_after)
            except ValueError:
                floor = 0.0  # an HTTP date: the back-off decides
        return float(min(max(floor, backoff), self.config.retry_max_seconds))

    async def get(self, what: str, url: str, **kwargs: Any) -> httpx.Response:
        last = ""
        for attempt in range(self.config.retry_attempts):
            self.requests += 1
            try:
                response = await self.http.get(url, **kwargs)
            except httpx.TransportError as error:
                last = f"{type(error).__name__}"
                retry_after = None
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRIED_STATUSES:
                    raise KhorosUnavailable(f"{what}: Khoros answered {response.status_code} ({_reason(response)})")
                last = f"{response.status_code}"
                retry_after = response.headers.get("retry-after")
            if attempt + 1 < self.config.retry_attempts:
                self.retries += 1
                await self.sleep(self._wait(attempt, retry_after))
        raise KhorosUnavailable(f"{what}: Khoros answered {last} {self.config.retry_attempts} times")

    # LiQL --------------------------------------------------------------------------------------------------------

    def _liql_headers(self) -> dict[str, str]:
        token = self.config.liql_token.get_secret_value() if self.config.liql_token is not None else None
        if token and self.config.liql_auth == "bearer":
            return {"Authorization": f"Bearer {token}"}
        if token and self.config.liql_auth == "session-key":
            return {"li-api-session-key": token}
        return {}

    async def liql(self, query: str) -> dict[str, Any]:
        """One LiQL answer's `data` (`{"type", "items", "next_cursor"?}`)."""
        response = await self.get(
            "LiQL search",
            f"{self.config.community_url}/api/2.0/search",
            params={"q": query},
            headers=self._liql_headers(),
        )
        answer = _json(response, "LiQL search")
        if not isinstance(answer, dict) or answer.get("status") not in (None, "success"):
            message = answer.get("message") if isinstance(answer, dict) else None
            raise KhorosUnavailable(f"LiQL search: Khoros answered an error: {str(message)[:300]}")
        data = answer.get("data")
        if not isinstance(data, dict):
            raise KhorosUnavailable("LiQL search: an answer without `data`")
        return data

    async def liql_all(self, query: str) -> list[dict[str, Any]]:
        """Every item of a query, page after page: `CURSOR '<data.next_cursor>'` until there is none."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            paged = f"{query} LIMIT {LIQL_PAGE}" + (f" CURSOR '{cursor}'" if cursor else "")
            data = await self.liql(paged)
            page = data.get("items")
            if isinstance(page, list):
                items.extend(item for item in page if isinstance(item, dict))
            next_cursor = data.get("next_cursor")
            if not isinstance(next_cursor, str) or not next_cursor or not page:
                return items
            if not SAFE_CURSOR.match(next_cursor):
                raise KhorosUnavailable("LiQL search: a cursor the connector will not put into a query")
            cursor = next_cursor

    # Bulk Data ---------------------------------------------------------------------------------------------------

    async def bulk(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The actions between `start` and `end` (at most 7 days), as flat dotted records."""
        config = self.config
        token = config.bulk_token.get_secret_value() if config.bulk_token is not None else ""
        if config.bulk_api == "aurora-v3":
            url = f"{config.community_url}/t5/s/api/2.1/analytics/bulk/export"
            params = {"bda.fromDate": start.strftime("%Y-%m-%d"), "bda.toDate": end.strftime("%Y-%m-%d")}
            kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}", "Accept": "application/json"}}
        else:
            url = config.bulk_url or ""
            params = {"fromDate": start.strftime("%Y%m%d%H%M"), "toDate": end.strftime("%Y%m%d%H%M")}
            client_id = config.bulk_client_id.get_secret_value() if config.bulk_client_id is not None else ""
            kwargs = {"headers": {"client-id": client_id, "Accept": "application/json"}, "auth": (token, "")}
        response = await self.get("Bulk Data export", url, params=params, **kwargs)
        answer = _json(response, "Bulk Data export")
        records = answer.get("records") if isinstance(answer, dict) else answer
        if not isinstance(records, list):
            raise KhorosUnavailable("Bulk Data export: an answer without `records`")
        return [flatten(record) if isinstance(record, dict) else {} for record in records]


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise KhorosUnavailable(f"{what}: the answer is not JSON") from None


def _reason(response: httpx.Response) -> str:
    """A short reason from Khoros's answer, for the state row and the log (never the request's headers)."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no reason given"
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body.get("status") or "no reason given")[:300]
    return "no reason given"


def liql_time(when: datetime) -> str:
    """LiQL wants milliseconds and a colon in the offset: `2024-08-07T00:00:00.000+00:00`."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


# -- one stream's run ------------------------------------------------------------------------------------------


@dataclass
class WindowRead:
    start: datetime
    end: datetime
    records: int = 0
    accepted: int = 0
    duplicates: int = 0


@dataclass
class StreamRun:
    stream: str
    windows: list[WindowRead] = field(default_factory=list)
    watermark: datetime | None = None
    error: str | None = None
    busy: bool = False  # another process holds the stream's lease
    requests: int = 0
    retries: int = 0
    stats: KhorosStats = field(default_factory=KhorosStats)

    @property
    def accepted(self) -> int:
        return sum(window.accepted for window in self.windows)

    def report(self) -> dict[str, object]:
        return {
            "stream": self.stream,
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "windows": [
                {
                    "from": window.start.isoformat(),
                    "to": window.end.isoformat(),
                    "records": window.records,
                    "accepted": window.accepted,
                    "duplicates": window.duplicates,
                }
                for window in self.windows
            ],
            "accepted": self.accepted,
            "requests": self.requests,
            "retries": self.retries,
            "error": self.error,
            "busy": self.busy,
            "skipped": self.stats.skipped,
            "actions_not_mapped": self.stats.actions_not_mapped,
        }


async def read_window(client: KhorosClient, stream: str, start: datetime, end: datetime) -> KhorosInput:
    read = KhorosInput()
    if stream == BULK:
        read.bulk.extend(await client.bulk(start, end))
        return read
    stats = KhorosStats()
    # LiQL, not SQL: the times are the connector's own, formatted; message ids are checked against SAFE_ID.
    messages = await client.liql_all(
        f"SELECT * FROM messages WHERE post_time >= '{liql_time(start)}' AND post_time < '{liql_time(end)}' "  # noqa: S608
        "ORDER BY post_time ASC"
    )
    add_payload(read, messages, stats, "LiQL messages")
    if client.config.liql_kudos:
        for message in messages:
            message_id = str(message.get("id", ""))
            if SAFE_ID.match(message_id):
                kudos = await client.liql_all(f"SELECT * FROM kudos WHERE message.id = '{message_id}'")  # noqa: S608
                add_payload(read, kudos, stats, "LiQL kudos")
    return read


async def sync_stream(
    applier: Applier,
    config: KhorosConfig,
    client: KhorosClient,
    stream: str,
    now: datetime,
    *,
    since: datetime | None = None,
    windows: int | None = None,
) -> StreamRun:
    """Read up to `windows` windows of one stream from its watermark, storing each window's events and the new
    watermark in one transaction. Stops at the first failing window (kept for the next run) or once caught up."""
    runtime = applier.runtime
    run = StreamRun(stream)
    holder = holder_name(f"khoros-{stream}")
    async with unit_of_work(runtime.sessionmaker) as uow:
        if since is not None:
            await repository.set_watermark(uow.session, config.source, stream, since)
        row = await repository.take_lease(uow.session, config.source, stream, holder, now, now + LEASE)
    if row is None:
        run.busy = True
        return run
    watermark = row.watermark or config.start or now - config.window(stream)
    run.watermark = watermark
    try:
        for _ in range(windows or config.windows_per_run):
            start = watermark - config.overlap
            if stream == BULK:  # Khoros advises windows from 00:00 UTC (others are slow to answer)
                start = start.replace(hour=0, minute=0, second=0, microsecond=0)
            # A LiQL window is the overlap plus `window` of new time; a Bulk Data request is at most 7 days, the
            # overlap included (settings keep the overlap under 3 days, so each window still moves on).
            length = config.window(stream) + (config.overlap if stream == LIQL else timedelta(0))
            end = min(start + length, now)
            if end <= watermark and run.windows:
                break
            window = WindowRead(start, end)
            try:
                read = await read_window(client, stream, start, end)
                window.records = len(read.bulk) + len(read.messages) + len(read.kudos)
                made = await khoros_events(runtime, read, config.source, run.stats)
                valid = valid_events(made, run.stats)
            except (KhorosUnavailable, DumpError) as error:
                run.error = f"window {start.isoformat()} to {end.isoformat()}: {error.message}"
                break
            except httpx.HTTPError as error:  # not a transport error (those are retried): a bad URL, a redirect loop
                run.error = f"window {start.isoformat()} to {end.isoformat()}: {type(error).__name__}"
                break
            async with unit_of_work(runtime.sessionmaker) as uow:
                intake = await ingest(applier, uow, valid, utcnow())
                # The window's members as Khoros shows them (logins, profile pages), in the same transaction.
                await profiles.upsert(
                    uow.session, input_profiles(read, config.source), utcnow(), runtime.settings.links
                )
                await repository.advance(
                    uow.session,
                    config.source,
                    stream,
                    holder,
                    max(end, watermark),
                    len(intake.accepted),
                    utcnow(),
                    LEASE,
                )
            window.accepted, window.duplicates = len(intake.accepted), len(intake.duplicates)
            run.windows.append(window)
            watermark = max(end, watermark)
            run.watermark = watermark
            if end >= now:
                break
    finally:
        run.requests, run.retries = client.requests, client.retries
        async with unit_of_work(runtime.sessionmaker) as uow:
            if run.error is not None:
                log.warning("Khoros %s stream of %s: %s", stream, config.source, run.error)
                await repository.fail(uow.session, config.source, stream, holder, run.error)
            await repository.release(uow.session, config.source, stream, holder)
    return run


def valid_events(made: list[dict[str, Any]], stats: KhorosStats) -> list[events.ValidEvent]:
    """The events as the contract takes them; one that it refuses is counted, never allowed to hold the window
    back (it would fail again at every run)."""
    try:
        return events.validate_batch(made)
    except InvalidInput:
        pass
    valid = []
    for item in made:
        try:
            valid.extend(events.validate_batch([item]))
        except InvalidInput as refused:
            problem = refused.detail[0] if isinstance(refused.detail, list) and refused.detail else {}
            stats.skip(f"refused by the event contract: {problem.get('field', '?')}: {problem.get('message', '?')}")
    return valid


def _http(config: KhorosConfig) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=config.timeout_seconds, follow_redirects=False)


async def sync_due(
    applier: Applier, config: KhorosConfig, now: datetime, sleep: Sleep = asyncio.sleep
) -> list[StreamRun]:
    """The scheduled job's work: each stream whose last attempt is `every` old or more runs once."""
    runs = []
    async with applier.runtime.sessionmaker() as session:
        states = {row.stream: row for row in await repository.all_states(session) if row.connector == config.source}
    async with _http(config) as http:
        for stream in config.streams:
            row = states.get(stream)
            if row is not None and row.last_attempt_at is not None and now - row.last_attempt_at < config.every:
                continue
            runs.append(await sync_stream(applier, config, KhorosClient(config, http, sleep), stream, now))
    return runs


async def catch_up(
    applier: Applier,
    config: KhorosConfig,
    *,
    since: datetime | None = None,
    now: datetime | None = None,
    sleep: Sleep = asyncio.sleep,
) -> list[StreamRun]:
    """`rewards import khoros --live`: every stream, window after window, until it reaches now or fails."""
    runs = []
    async with _http(config) as http:
        for stream in config.streams:
            client = KhorosClient(config, http, sleep)
            run = await sync_stream(applier, config, client, stream, now or utcnow(), since=since, windows=100_000)
            runs.append(run)
    return runs
