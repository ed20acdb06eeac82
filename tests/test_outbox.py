"""The outbox and signed webhook delivery: recording, fan-out, signing, retries, give-up, concurrency, the API."""

import asyncio
import hashlib
import hmac
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq import ArqRedis
from arq.jobs import Job, JobStatus
from sqlalchemy import func, select

from rewards.apply.applier import Applier
from rewards.auth.service import Scope
from rewards.config import Settings
from rewards.db import unit_of_work
from rewards.outbox import repository, service
from rewards.outbox.models import DeliveryStatus, MessageStatus, OutboxMessage, WebhookDelivery
from rewards.outbox.schemas import DeliveryOut, WebhookCreatedOut, WebhookIn
from rewards.outbox.service import Notification, kick, record, suppress_notifications
from rewards.queue import deserialize_job
from rewards.redis_keys import WEBHOOK_JOB_ID
from rewards.runtime import Runtime
from rewards.worker import build_worker
from tests.conftest import make_settings, open_api
from tests.webhook_receiver import Received, Receiver

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def refused_url() -> str:
    """A port nobody listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


# Helpers --------------------------------------------------------------------------------------------------


def badge(user_id: str, badge_id: str = "solver", tier: str = "gold", at: datetime = NOW) -> Notification:
    return Notification(
        topic="badge.awarded",
        user_id=user_id,
        data={"badge": badge_id, "tier": tier},
        occurred_at=at,
        key=f"badge.awarded:{user_id}:{badge_id}:{tier}",
    )


async def add_endpoint(runtime: Runtime, url: str, topics: list[str] | None = None) -> WebhookCreatedOut:
    async with unit_of_work(runtime.sessionmaker) as uow:
        return await service.create_endpoint(
            uow.session, WebhookIn(url=url, topics=topics or []), NOW, policy=service.address_policy(runtime.settings)
        )


async def record_now(runtime: Runtime, *notifications: Notification, deliver: bool = True) -> int:
    async with unit_of_work(runtime.sessionmaker) as uow:
        return await record(uow.session, notifications, NOW, deliver=deliver)


async def deliveries(runtime: Runtime, endpoint_id: int) -> list[DeliveryOut]:
    async with runtime.sessionmaker() as session:
        page = await service.deliveries(session, endpoint_id, before=None, limit=200, status=None)
    return page.deliveries


async def only_delivery(runtime: Runtime, endpoint_id: int) -> DeliveryOut:
    found = await deliveries(runtime, endpoint_id)
    assert len(found) == 1, found
    return found[0]


def verify(secret: str, received: Received) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers["x-rewards-signature"])


# Signing --------------------------------------------------------------------------------------------------


def test_signature_is_hmac_sha256_of_the_body_in_hex() -> None:
    # RFC 4231, test case 2.
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert service.sign("Jefe", b"what do ya want for nothing?") == f"sha256={expected}"


def test_topic_patterns() -> None:
    assert service.topic_matches([], "perk.offered")
    assert service.topic_matches(["*"], "rank.changed")
    assert service.topic_matches(["perk.*"], "perk.offered")
    assert not service.topic_matches(["perk.*"], "perks.offered")
    assert not service.topic_matches(["badge.awarded"], "badge.revoked")


def test_back_off_grows_and_stops_after_about_a_day() -> None:
    import random

    rng = random.Random(7)
    delays = [service.retry_delay(attempt, rng) for attempt in range(1, service.MAX_ATTEMPTS + 1)]
    assert delays[-1] is None
    waits = [delay for delay in delays if delay is not None]
    for wait, base in zip(waits, service.BACKOFF, strict=True):
        assert base * 0.8 <= wait <= base * 1.2
    assert timedelta(hours=18) < sum(waits, timedelta()) < timedelta(hours=30)


# Recording ------------------------------------------------------------------------------------------------


async def test_record_is_idempotent_per_key_and_joins_the_callers_transaction(runtime: Runtime) -> None:
    assert await record_now(runtime, badge("u1"), badge("u2")) == 2
    assert await record_now(runtime, badge("u1"), badge("u3")) == 1
    with pytest.raises(RuntimeError):
        async with unit_of_work(runtime.sessionmaker) as uow:
            await record(uow.session, [badge("u4")], NOW)
            raise RuntimeError("the caller's change failed")
    async with runtime.sessionmaker() as session:
        keys = set((await session.scalars(select(OutboxMessage.key))).all())
    assert keys == {"badge.awarded:u1:solver:gold", "badge.awarded:u2:solver:gold", "badge.awarded:u3:solver:gold"}


# Delivery -------------------------------------------------------------------------------------------------


async def test_a_message_is_delivered_signed_to_a_real_receiver(runtime: Runtime, receiver: Receiver) -> None:
    endpoint = await add_endpoint(runtime, receiver.url + "/hooks/rewards")
    await record_now(runtime, badge("u1"))

    assert await service.deliver_due(runtime, NOW) == 1

    [received] = receiver.received
    assert received.path == "/hooks/rewards"
    assert verify(endpoint.secret, received)
    assert not verify(endpoint.secret + "x", received)
    delivery = await only_delivery(runtime, endpoint.id)
    assert received.headers["x-rewards-delivery"] == str(delivery.id)
    assert received.headers["x-rewards-topic"] == "badge.awarded"
    assert received.headers["x-rewards-timestamp"] == str(int(NOW.timestamp()))
    assert received.headers["content-type"] == "application/json"
    assert received.json == {
        "id": delivery.message_id,
        "topic": "badge.awarded",
        "occurred_at": "2026-11-24T12:00:00+00:00",
        "user_id": "u1",
        "data": {"badge": "solver", "tier": "gold"},
        "sent_at": int(NOW.timestamp()),
    }
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [(entry.attempt, entry.status_code, entry.error) for entry in delivery.log] == [(1, 200, None)]

    # Delivered once: later runs send nothing more.
    assert await service.deliver_due(runtime, NOW + timedelta(days=2)) == 0
    assert len(receiver.received) == 1


async def test_a_500_is_retried_with_back_off_under_the_same_delivery_id(runtime: Runtime, receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    endpoint = await add_endpoint(runtime, receiver.url)
    await record_now(runtime, badge("u1"))

    assert await service.deliver_due(runtime, NOW) == 1
    first = await only_delivery(runtime, endpoint.id)
    assert first.status == DeliveryStatus.PENDING
    assert first.last_status_code == 500
    assert first.last_error is not None and "HTTP 500" in first.last_error
    assert first.next_attempt_at is not None
    assert NOW + timedelta(seconds=8) <= first.next_attempt_at <= NOW + timedelta(seconds=12)
    assert first.log[0].next_attempt_at == first.next_attempt_at

    # Not due yet: nothing is sent.
    assert await service.deliver_due(runtime, first.next_attempt_at - timedelta(seconds=1)) == 0
    assert len(receiver.received) == 1

    assert await service.deliver_due(runtime, first.next_attempt_at) == 1
    second = await only_delivery(runtime, endpoint.id)
    assert second.last_status_code == 503
    assert second.next_attempt_at is not None
    wait = second.next_attempt_at - first.next_attempt_at
    assert timedelta(seconds=48) <= wait <= timedelta(seconds=72)

    assert await service.deliver_due(runtime, second.next_attempt_at) == 1
    done = await only_delivery(runtime, endpoint.id)
    assert done.status == DeliveryStatus.DELIVERED
    assert done.next_attempt_at is None
    assert [entry.status_code for entry in done.log] == [500, 503, 200]
    assert receiver.delivery_ids() == [str(done.id)] * 3
    assert len({item.json["id"] for item in receiver.received}) == 1


async def test_connection_refused_is_retried_then_given_up_after_the_last_attempt(runtime: Runtime) -> None:
    endpoint = await add_endpoint(runtime, refused_url())
    await record_now(runtime, badge("u1"))

    clock = NOW
    for attempt in range(1, service.MAX_ATTEMPTS + 1):
        assert await service.deliver_due(runtime, clock) == 1, f"attempt {attempt}"
        delivery = await only_delivery(runtime, endpoint.id)
        assert delivery.attempts == attempt
        assert delivery.last_status_code is None
        assert delivery.last_error is not None and "ConnectError" in delivery.last_error
        if attempt < service.MAX_ATTEMPTS:
            assert delivery.status == DeliveryStatus.PENDING
            assert delivery.next_attempt_at is not None and delivery.next_attempt_at > clock
            clock = delivery.next_attempt_at

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.next_attempt_at is None
    assert len(delivery.log) == service.MAX_ATTEMPTS
    assert delivery.log[-1].next_attempt_at is None
    assert timedelta(hours=18) < clock - NOW < timedelta(hours=30)
    # Given up: nothing more, however late.
    assert await service.deliver_due(runtime, clock + timedelta(days=30)) == 0


async def test_each_endpoint_gets_the_topics_it_asked_for(runtime: Runtime, receiver: Receiver) -> None:
    badges = await add_endpoint(runtime, receiver.url + "/badges", ["badge.*"])
    ranks = await add_endpoint(runtime, receiver.url + "/ranks", ["rank.changed"])
    everything = await add_endpoint(runtime, receiver.url + "/all")
    rank = Notification("rank.changed", "u1", {"from": "Newcomer", "to": "Contributor"}, NOW, "rank:u1:1")
    perk = Notification("perk.offered", "u1", {"perk": "beta"}, NOW, "perk.offered:u1:beta")
    await record_now(runtime, badge("u1"), rank, perk)

    assert await service.deliver_due(runtime, NOW) == 5

    got = sorted((item.path, item.headers["x-rewards-topic"]) for item in receiver.received)
    assert got == [
        ("/all", "badge.awarded"),
        ("/all", "perk.offered"),
        ("/all", "rank.changed"),
        ("/badges", "badge.awarded"),
        ("/ranks", "rank.changed"),
    ]
    assert [len(await deliveries(runtime, e.id)) for e in (badges, ranks, everything)] == [1, 1, 3]


async def test_suppressed_notifications_are_kept_but_never_sent(runtime: Runtime, receiver: Receiver) -> None:
    await add_endpoint(runtime, receiver.url)
    assert await record_now(runtime, badge("u1"), deliver=False) == 1
    with suppress_notifications():
        assert await record_now(runtime, badge("u2")) == 1
    # The flag ends with its block.
    assert await record_now(runtime, badge("u3")) == 1

    await service.deliver_due(runtime, NOW)
    await service.deliver_due(runtime, NOW + timedelta(days=3))

    assert [item.json["user_id"] for item in receiver.received] == ["u3"]
    async with runtime.sessionmaker() as session:
        statuses = dict((await session.execute(select(OutboxMessage.user_id, OutboxMessage.status))).all())
        assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
    assert statuses == {"u1": MessageStatus.SUPPRESSED, "u2": MessageStatus.SUPPRESSED, "u3": MessageStatus.DISPATCHED}


async def test_a_sender_that_dies_mid_send_is_replaced_after_its_lease(runtime: Runtime, receiver: Receiver) -> None:
    endpoint = await add_endpoint(runtime, receiver.url)
    await record_now(runtime, badge("u1"))
    await service.fan_out(runtime, NOW)
    # A sender takes the delivery and dies before recording anything.
    async with unit_of_work(runtime.sessionmaker) as uow:
        due = await repository.lock_due_deliveries(uow.session, NOW, 10)
        await repository.lease_deliveries(uow.session, [d.id for d, _, _ in due], "dead", NOW + service.LEASE)
    assert len(due) == 1

    assert await service.deliver_due(runtime, NOW + service.LEASE - timedelta(seconds=1)) == 0
    assert await service.deliver_due(runtime, NOW + service.LEASE) == 1

    delivery = await only_delivery(runtime, endpoint.id)
    assert delivery.status == DeliveryStatus.DELIVERED
    assert receiver.delivery_ids() == [str(delivery.id)]


async def test_deleting_an_endpoint_cancels_its_pending_retries(runtime: Runtime, receiver: Receiver) -> None:
    receiver.statuses = [500]
    endpoint = await add_endpoint(runtime, receiver.url)
    await record_now(runtime, badge("u1"))
    await service.deliver_due(runtime, NOW)
    async with unit_of_work(runtime.sessionmaker) as uow:
        await service.delete_endpoint(uow.session, endpoint.id, NOW)
    await record_now(runtime, badge("u2"))

    assert await service.deliver_due(runtime, NOW + timedelta(days=2)) == 0
    assert len(receiver.received) == 1
    async with runtime.sessionmaker() as session:
        statuses = (await session.scalars(select(WebhookDelivery.status))).all()
    assert statuses == [DeliveryStatus.CANCELLED]


@pytest.mark.postgres
async def test_concurrent_senders_on_postgresql_never_send_a_delivery_twice(
    postgres_database_url: str, receiver: Receiver
) -> None:
    settings = make_settings(postgres_database_url)
    appliers = [await Applier.start(settings, connect_queue=False) for _ in range(3)]
    runtimes = [applier.runtime for applier in appliers]
    try:
        first = runtimes[0]
        await add_endpoint(first, receiver.url + "/one")
        await add_endpoint(first, receiver.url + "/two")
        async with unit_of_work(first.sessionmaker) as uow:
            await record(uow.session, [badge(f"u{n}") for n in range(150)], NOW)

        # Six senders at once, in small batches, until none finds anything due (one that meets only locked
        # rows stops early and leaves them to the others, so a round may not finish the work).
        made = 0
        for _ in range(100):
            senders = (service.deliver_due(rt, NOW, batch_size=7) for rt in runtimes for _ in range(2))
            round_made = sum(await asyncio.gather(*senders))
            if round_made == 0:
                break
            made += round_made

        ids = receiver.delivery_ids()
        assert len(ids) == 300
        assert len(set(ids)) == 300
        assert made == 300
        async with first.sessionmaker() as session:
            counts = dict(
                (
                    await session.execute(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status))
                ).all()
            )
        assert counts == {DeliveryStatus.DELIVERED: 300}
    finally:
        for each in appliers:
            await each.stop()


# The queue ------------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
async def test_kick_enqueues_one_job_that_a_worker_runs(
    postgres_database_url: str, redis_url: str, receiver: Receiver
) -> None:
    settings = make_settings(postgres_database_url, redis_url=redis_url)
    applier = await Applier.start(settings)
    runtime = applier.runtime
    try:
        endpoint = await add_endpoint(runtime, receiver.url)
        await record_now(runtime, badge("u1"))
        await kick(runtime)
        await kick(runtime)  # the same job id: still one job
        assert runtime.queue is not None
        queued = await runtime.queue.queued_jobs()
        assert [job.job_id for job in queued] == [WEBHOOK_JOB_ID]

        worker = build_worker(settings, burst=True, poll_delay=0, handle_signals=False, cron_jobs=[])
        try:
            await worker.main()
        finally:
            await worker.close()

        assert (await only_delivery(runtime, endpoint.id)).status == DeliveryStatus.DELIVERED
        assert len(receiver.received) == 1
        job = Job(WEBHOOK_JOB_ID, runtime.queue, _deserializer=deserialize_job)
        assert await job.status() == JobStatus.not_found  # ran and gone: the next kick enqueues again
    finally:
        await applier.stop()


async def test_kick_never_raises_when_the_queue_is_down(runtime: Runtime) -> None:
    runtime.queue = ArqRedis.from_url(refused_url().replace("http://", "redis://").removesuffix("/hook"))
    try:
        await kick(runtime)
    finally:
        await runtime.queue.aclose()
        runtime.queue = None


# The admin API --------------------------------------------------------------------------------------------


@pytest.fixture
async def api_settings(database_url: str) -> Settings:
    return make_settings(database_url)


async def test_webhooks_api(api_settings: Settings, receiver: Receiver) -> None:
    async with open_api(api_settings) as api:
        created = await api.client.post("/v1/webhooks", json={"url": receiver.url + "/in", "topics": ["badge.*"]})
        assert created.status_code == 201, created.text
        webhook = created.json()
        assert webhook["secret"].startswith("whsec_")
        assert webhook["topics"] == ["badge.*"]
        assert webhook["active"] is True

        listed = await api.client.get("/v1/webhooks")
        assert listed.status_code == 200
        assert [item["id"] for item in listed.json()["webhooks"]] == [webhook["id"]]
        assert "secret" not in listed.json()["webhooks"][0]

        ping = await api.client.post(f"/v1/webhooks/{webhook['id']}/test")
        assert ping.status_code == 200, ping.text
        assert ping.json()["status"] == "delivered"
        assert ping.json()["topic"] == "ping"
        [received] = receiver.received
        assert received.headers["x-rewards-topic"] == "ping"
        assert verify(webhook["secret"], received)

        log = await api.client.get(f"/v1/webhooks/{webhook['id']}/deliveries")
        assert log.status_code == 200
        [entry] = log.json()["deliveries"]
        assert entry["id"] == int(received.headers["x-rewards-delivery"])
        assert [(a["attempt"], a["status_code"], a["error"]) for a in entry["log"]] == [(1, 200, None)]
        assert log.json()["next_before"] is None

        deleted = await api.client.delete(f"/v1/webhooks/{webhook['id']}")
        assert deleted.status_code == 204
        assert (await api.client.get("/v1/webhooks")).json()["webhooks"] == []
        assert (await api.client.delete(f"/v1/webhooks/{webhook['id']}")).status_code == 404


async def test_a_ping_to_an_unreachable_endpoint_fails_once_with_the_reason(api_settings: Settings) -> None:
    async with open_api(api_settings) as api:
        webhook = (await api.client.post("/v1/webhooks", json={"url": refused_url()})).json()
        ping = await api.client.post(f"/v1/webhooks/{webhook['id']}/test")
        assert ping.status_code == 200, ping.text
        body = ping.json()
        assert body["status"] == "failed"
        assert body["next_attempt_at"] is None
        assert "ConnectError" in body["last_error"]
        assert [(a["attempt"], a["status_code"]) for a in body["log"]] == [(1, None)]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"url": "not a url"}, "body.url", "absolute http:// or https:// URL"),
        ({"url": "ftp://files.example.com/x"}, "body.url", "absolute http:// or https:// URL"),
        ({"url": "https://"}, "body.url", "absolute http:// or https:// URL"),
        ({"url": "https://ok.example.com:99999/"}, "body.url", "cannot be parsed"),
        ({"url": "https://ok.example.com", "topics": ["Badge Awarded"]}, "body.topics", "not a topic pattern"),
        ({"topics": []}, "body.url", "Field required"),
    ],
)
async def test_bad_webhook_input_is_422_with_a_clear_message(
    api_settings: Settings, body: dict[str, Any], field: str, words: str
) -> None:
    async with open_api(api_settings) as api:
        response = await api.client.post("/v1/webhooks", json=body)
        assert response.status_code == 422, response.text
        [problem] = response.json()["detail"]
        assert problem["field"] == field
        assert words in problem["message"]
        assert words in response.json()["error"]


async def test_unknown_webhook_is_404(api_settings: Settings) -> None:
    async with open_api(api_settings) as api:
        for method, path in [
            ("DELETE", "/v1/webhooks/999"),
            ("GET", "/v1/webhooks/999/deliveries"),
            ("POST", "/v1/webhooks/999/test"),
        ]:
            response = await api.client.request(method, path)
            assert response.status_code == 404, (method, path, response.text)
            assert "no webhook 999" in response.json()["error"]


async def test_webhooks_need_the_admin_scope(api_settings: Settings) -> None:
    async with open_api(api_settings) as api:
        key = await api.key(Scope.READ, Scope.EVENTS_WRITE)
        headers = {"Authorization": f"Bearer {key}"}
        for method, path in [
            ("POST", "/v1/webhooks"),
            ("GET", "/v1/webhooks"),
            ("DELETE", "/v1/webhooks/1"),
            ("GET", "/v1/webhooks/1/deliveries"),
            ("POST", "/v1/webhooks/1/test"),
        ]:
            response = await api.client.request(
                method, path, headers=headers, json={"url": "https://x.example.com"} if method == "POST" else None
            )
            assert response.status_code == 403, (method, path, response.text)
            assert "admin" in response.json()["error"]
