"""Use cases of the outbox: record notifications in the caller's transaction, deliver them as signed webhooks.

Delivery is at least once: a delivery (one message to one endpoint) keeps its id across retries, so a
receiver dedupes on `X-Rewards-Delivery`. A sender leases the due deliveries it takes (rows locked with
SKIP LOCKED on PostgreSQL, then pushed past its lease), so several workers never send the same one at once.
"""

import asyncio
import hashlib
import hmac
import logging
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from rewards.config import Settings
from rewards.db import unit_of_work
from rewards.engine.state import Notice
from rewards.errors import InvalidInput, NotFound
from rewards.outbound import AddressPolicy, GuardedTransport, parse_networks
from rewards.outbox import repository
from rewards.outbox.models import (
    DeliveryStatus,
    MessageStatus,
    OutboxMessage,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from rewards.outbox.schemas import AttemptOut, DeliveriesOut, DeliveryOut, WebhookCreatedOut, WebhookIn, WebhookOut
from rewards.redis_keys import WEBHOOK_JOB, WEBHOOK_JOB_ID

if TYPE_CHECKING:  # the runtime imports the event log, which records notifications: no cycle at run time
    from rewards.runtime import Runtime

log = logging.getLogger(__name__)

PING_TOPIC = "ping"
# Wait after failed attempt n (n = 1, 2, ...), each stretched or shrunk by up to JITTER so that receivers coming
# back up are not hit by every retry at once. After the last one fails (about 23 hours in), the delivery fails.
BACKOFF = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=8),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
JITTER = 0.2
# A sender holds the deliveries it took for this long; if it dies meanwhile, they are due again after it.
LEASE = timedelta(minutes=2)
FAN_OUT_BATCH = 1000
SEND_BATCH = 100
# Parallel requests per sender: one slow receiver must not hold up the others for long.
SEND_CONCURRENCY = 10
# Rounds of (fan out, send) per call; the next scheduled run carries on.
MAX_ROUNDS = 20
MAX_ERROR_CHARS = 500
USER_AGENT = "rewards-webhooks/1.0"


@dataclass(frozen=True)
class Notification:
    topic: str  # "badge.awarded", "badge.revoked", "rank.changed", "perk.offered", "perk.granted", ...
    user_id: str | None
    data: dict[str, Any]  # JSON-able
    occurred_at: datetime
    key: str  # idempotency key, unique per outbox row (e.g. "badge.awarded:u1:solver:gold")

    @classmethod
    def of(cls, notice: Notice) -> "Notification":
        """The engine's notice (a badge awarded, a rank changed), to be recorded."""
        return cls(
            topic=notice.topic, user_id=notice.user_id, data=notice.data, occurred_at=notice.occurred_at, key=notice.key
        )


# Set while a replay or backfill runs: what it records is kept but never delivered.
_suppressing: ContextVar[bool] = ContextVar("rewards_outbox_suppressing", default=False)


@contextmanager
def suppress_notifications() -> Iterator[None]:
    """`with suppress_notifications(): ...` makes every `record` inside (same task) store rows as suppressed."""
    token = _suppressing.set(True)
    try:
        yield
    finally:
        _suppressing.reset(token)


async def record(
    session: AsyncSession, notifications: Sequence[Notification], now: datetime, *, deliver: bool = True
) -> int:
    """Add notifications to the outbox in the caller's transaction (a key already there is skipped); how many
    were new. With `deliver=False`, or inside `suppress_notifications()`, they are stored as suppressed."""
    if not notifications:
        return 0
    status = MessageStatus.SUPPRESSED if not deliver or _suppressing.get() else MessageStatus.PENDING
    rows = [
        {
            "key": notification.key,
            "topic": notification.topic,
            "user_id": notification.user_id,
            "data": notification.data,
            "occurred_at": notification.occurred_at,
            "created_at": now,
            "status": status.value,
        }
        for notification in notifications
    ]
    return await repository.insert_messages(session, rows)


async def kick(runtime: "Runtime") -> None:
    """After the caller's commit: ask a worker to deliver now. Embedded mode has no queue (the scheduler
    delivers every few seconds), and a failure here only delays delivery until the next sweep."""
    if runtime.queue is None:
        return
    try:
        await runtime.queue.enqueue_job(WEBHOOK_JOB, _job_id=WEBHOOK_JOB_ID)
    except Exception:  # Redis down: the periodic sweep delivers instead
        log.warning("could not enqueue webhook delivery; the periodic sweep will deliver", exc_info=True)


# Signing --------------------------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The X-Rewards-Signature value: `sha256=` and the hex HMAC-SHA256 of the raw body with the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(message: OutboxMessage, sent_at: int) -> bytes:
    # `sent_at` repeats X-Rewards-Timestamp inside the signed body, so a receiver can trust the timestamp.
    return orjson.dumps(
        {
            "id": message.id,
            "topic": message.topic,
            "occurred_at": message.occurred_at.isoformat(),
            "user_id": message.user_id,
            "data": message.data,
            "sent_at": sent_at,
        }
    )


def topic_matches(patterns: Sequence[str], topic: str) -> bool:
    if not patterns:
        return True
    for pattern in patterns:
        if pattern == "*" or pattern == topic:
            return True
        if pattern.endswith(".*") and topic.startswith(pattern[:-1]):
            return True
    return False


def retry_delay(failed_attempt: int, rng: random.Random) -> timedelta | None:
    """How long to wait after attempt `failed_attempt` (1-based) failed; None: that was the last one."""
    if failed_attempt >= MAX_ATTEMPTS:
        return None
    return BACKOFF[failed_attempt - 1] * rng.uniform(1 - JITTER, 1 + JITTER)


# Delivery -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    attempt: int
    url: str
    secret: str
    message: OutboxMessage
    retries: bool  # a ping is tried once


@dataclass(frozen=True)
class _Result:
    claimed: _Claimed
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.error is None


async def deliver_due(
    runtime: "Runtime",
    now: datetime,
    *,
    client: httpx.AsyncClient | None = None,
    rng: random.Random | None = None,
    batch_size: int = SEND_BATCH,
) -> int:
    """Fan out new messages to their endpoints and send every delivery due at `now`; how many attempts made."""
    rng = rng or random.Random()
    attempts = 0
    async with _client(runtime, client) as http:
        for _ in range(MAX_ROUNDS):
            await fan_out(runtime, now)
            token = uuid.uuid4().hex
            async with unit_of_work(runtime.sessionmaker) as uow:
                due = await repository.lock_due_deliveries(uow.session, now, batch_size)
                await repository.lease_deliveries(
                    uow.session, [delivery.id for delivery, _, _ in due], token, now + LEASE
                )
            if not due:
                break
            claimed = [
                _Claimed(delivery.id, delivery.attempts + 1, endpoint.url, endpoint.secret, message, True)
                for delivery, message, endpoint in due
            ]
            results = await _send_all(http, claimed, now)
            await _finish(runtime, results, token, now, rng)
            attempts += len(results)
            if len(due) < batch_size:
                break
    return attempts


async def fan_out(runtime: "Runtime", now: datetime) -> int:
    """One delivery row per new message and matching active endpoint; how many messages were fanned out."""
    total = 0
    while True:
        async with unit_of_work(runtime.sessionmaker) as uow:
            messages = await repository.lock_pending_messages(uow.session, FAN_OUT_BATCH)
            if not messages:
                return total
            endpoints = await repository.active_endpoints(uow.session)
            rows = [
                {
                    "message_id": message.id,
                    "endpoint_id": endpoint.id,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for message in messages
                for endpoint in endpoints
                if topic_matches(endpoint.topics, message.topic)
            ]
            await repository.insert_deliveries(uow.session, rows)
            await repository.mark_messages(uow.session, [message.id for message in messages], MessageStatus.DISPATCHED)
        total += len(messages)
        if len(messages) < FAN_OUT_BATCH:
            return total


def address_policy(settings: Settings) -> AddressPolicy:
    """Where webhooks may go: public addresses, and the networks in REWARDS_WEBHOOK_ALLOWED_NETWORKS."""
    return AddressPolicy(parse_networks(settings.webhook_allowed_networks))


@asynccontextmanager
async def _client(runtime: "Runtime", given: httpx.AsyncClient | None) -> AsyncIterator[httpx.AsyncClient]:
    """The caller's HTTP client, or a fresh one with the configured timeout, closed afterwards: it connects only
    to addresses the policy allows, and only to the address it checked (`GuardedTransport`). A redirect is not
    followed (a receiver answers 2xx), and proxy variables are not read: through a proxy, the address checked
    would be the proxy's."""
    if given is not None:
        yield given
        return
    async with httpx.AsyncClient(
        timeout=runtime.settings.webhook_timeout_seconds,
        follow_redirects=False,
        trust_env=False,
        transport=GuardedTransport(address_policy(runtime.settings)),
    ) as own:
        yield own


async def _send_all(http: httpx.AsyncClient, claimed: Sequence[_Claimed], now: datetime) -> list[_Result]:
    limit = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(item: _Claimed) -> _Result:
        async with limit:
            return await _send(http, item, now)

    return list(await asyncio.gather(*(one(item) for item in claimed)))


async def _send(http: httpx.AsyncClient, claimed: _Claimed, now: datetime) -> _Result:
    sent_at = int(now.timestamp())
    body = body_of(claimed.message, sent_at)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Rewards-Topic": claimed.message.topic,
        "X-Rewards-Delivery": str(claimed.delivery_id),
        "X-Rewards-Timestamp": str(sent_at),
        "X-Rewards-Signature": sign(claimed.secret, body),
    }
    started = time.monotonic()
    status_code: int | None = None
    try:
        response = await http.post(claimed.url, content=body, headers=headers)
        status_code = response.status_code
        error = None if response.is_success else _http_error(response)
    except httpx.TimeoutException as exc:
        error = f"timed out ({type(exc).__name__})"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # ForbiddenAddress too: a refused address is a failure
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration_ms = round((time.monotonic() - started) * 1000)
    return _Result(claimed, status_code, error[:MAX_ERROR_CHARS] if error else None, duration_ms)


def _http_error(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f"HTTP {response.status_code}" + (f": {text[:200]}" if text else "")


async def _finish(
    runtime: "Runtime", results: Sequence[_Result], token: str, now: datetime, rng: random.Random
) -> None:
    attempts: list[dict[str, Any]] = []
    async with unit_of_work(runtime.sessionmaker) as uow:
        for result in results:
            attempt = result.claimed.attempt
            delay = retry_delay(attempt, rng) if result.claimed.retries else None
            next_attempt_at = None if result.ok or delay is None else now + delay
            if result.ok:
                status = DeliveryStatus.DELIVERED
            elif next_attempt_at is None:
                status = DeliveryStatus.FAILED
            else:
                status = DeliveryStatus.PENDING
            current = await repository.finish_attempt(
                uow.session,
                result.claimed.delivery_id,
                token,
                {
                    "status": status.value,
                    "attempts": attempt,
                    "next_attempt_at": next_attempt_at,
                    "claim_token": None,
                    "last_status_code": result.status_code,
                    "last_error": result.error,
                    "delivered_at": now if result.ok else None,
                },
            )
            if not current:
                # Its lease ran out (or its endpoint was deleted) meanwhile: the attempt happened, log it,
                # but whoever holds the delivery now decides what comes next.
                log.warning("webhook delivery %s: result after the lease was lost", result.claimed.delivery_id)
                next_attempt_at = None
            if not result.ok:
                log.info("webhook delivery %s attempt %s failed: %s", result.claimed.delivery_id, attempt, result.error)
            attempts.append(
                {
                    "delivery_id": result.claimed.delivery_id,
                    "attempt": attempt,
                    "attempted_at": now,
                    "status_code": result.status_code,
                    "error": result.error,
                    "duration_ms": result.duration_ms,
                    "next_attempt_at": next_attempt_at,
                }
            )
        await repository.add_attempts(uow.session, attempts)


# Endpoints (admin API) ------------------------------------------------------------------------------------


def _endpoint_out(row: WebhookEndpoint, policy: AddressPolicy) -> WebhookOut:
    return WebhookOut(
        id=row.id,
        url=row.url,
        topics=row.topics,
        description=row.description,
        active=row.active,
        created_at=row.created_at,
        refused_because=url_refusal(row.url, policy),
    )


def url_refusal(url: str, policy: AddressPolicy) -> str | None:
    """Why deliveries to `url` are refused, judged without DNS (an address, in any spelling, or a name that is
    always local); None when only resolving its host at delivery can tell."""
    try:
        host = httpx.URL(url).raw_host.decode("ascii")
    except httpx.InvalidURL as error:  # such as 0177.0.0.1 (octal), which httpx will not send to: say what it is
        return policy.refusal_of_host(urlsplit(url).hostname or "") or f"it cannot be sent to: {error}"
    return policy.refusal_of_host(host)


async def create_endpoint(
    session: AsyncSession, spec: WebhookIn, now: datetime, *, policy: AddressPolicy
) -> WebhookCreatedOut:
    """A new endpoint; 422 for a url whose address `policy` refuses (a host name is judged at each delivery)."""
    refusal = url_refusal(spec.url, policy)
    if refusal is not None:
        raise InvalidInput(
            f"url {spec.url!r} is refused: {refusal}", detail=[{"field": "body.url", "message": refusal}]
        )
    row = await repository.add_endpoint(
        session,
        url=spec.url,
        secret="whsec_" + secrets.token_urlsafe(32),
        topics=spec.topics,
        description=spec.description,
        active=True,
        created_at=now,
    )
    return WebhookCreatedOut(**_endpoint_out(row, policy).model_dump(), secret=row.secret)


async def list_endpoints(session: AsyncSession, policy: AddressPolicy) -> list[WebhookOut]:
    return [_endpoint_out(row, policy) for row in await repository.list_endpoints(session)]


async def _existing(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    row = await repository.get_endpoint(session, endpoint_id)
    if row is None:
        raise NotFound(f"no webhook {endpoint_id}: list them with GET /v1/webhooks")
    return row


async def delete_endpoint(session: AsyncSession, endpoint_id: int, now: datetime) -> None:
    await _existing(session, endpoint_id)
    await repository.delete_endpoint(session, endpoint_id, now)


async def deliveries(
    session: AsyncSession, endpoint_id: int, *, before: int | None, limit: int, status: DeliveryStatus | None
) -> DeliveriesOut:
    await _existing(session, endpoint_id)
    rows = await repository.deliveries_of_endpoint(
        session, endpoint_id, before=before, limit=limit, status=status.value if status else None
    )
    by_delivery: dict[int, list[WebhookAttempt]] = {}
    for attempt in await repository.attempts_of(session, [delivery.id for delivery, _ in rows]):
        by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
    return DeliveriesOut(
        deliveries=[_delivery_out(delivery, message, by_delivery.get(delivery.id, [])) for delivery, message in rows],
        next_before=rows[-1][0].id if len(rows) == limit else None,
    )


def _delivery_out(delivery: WebhookDelivery, message: OutboxMessage, attempts: Sequence[WebhookAttempt]) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        message_id=message.id,
        topic=message.topic,
        user_id=message.user_id,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        log=[
            AttemptOut(
                attempt=attempt.attempt,
                attempted_at=attempt.attempted_at,
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
                next_attempt_at=attempt.next_attempt_at,
            )
            for attempt in attempts
        ],
    )


async def send_test(
    runtime: "Runtime", endpoint_id: int, now: datetime, *, client: httpx.AsyncClient | None = None
) -> DeliveryOut:
    """Send a `ping` to one endpoint now, once, and say how it went (it is in the delivery log too)."""
    token = uuid.uuid4().hex
    async with unit_of_work(runtime.sessionmaker) as uow:
        endpoint = await _existing(uow.session, endpoint_id)
        message = OutboxMessage(
            key=f"{PING_TOPIC}:{endpoint_id}:{uuid.uuid4().hex}",
            topic=PING_TOPIC,
            user_id=None,
            data={"webhook_id": endpoint_id, "message": "a test from the rewards engine"},
            occurred_at=now,
            created_at=now,
            status=MessageStatus.DISPATCHED.value,
        )
        uow.session.add(message)
        await uow.session.flush()
        # Created already leased to this request, so the scheduled sender leaves it alone.
        delivery_id = await repository.insert_delivery(
            uow.session,
            message_id=message.id,
            endpoint_id=endpoint_id,
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now + LEASE,
            claim_token=token,
            created_at=now,
        )
        claimed = _Claimed(delivery_id, 1, endpoint.url, endpoint.secret, message, retries=False)
    async with _client(runtime, client) as http:
        result = await _send(http, claimed, now)
    await _finish(runtime, [result], token, now, random.Random())
    async with runtime.sessionmaker() as session:
        found = await repository.get_delivery(session, delivery_id)
        if found is None:
            raise NotFound(f"webhook {endpoint_id} was deleted during its test")
        delivery, message = found
        return _delivery_out(delivery, message, await repository.attempts_of(session, [delivery_id]))
