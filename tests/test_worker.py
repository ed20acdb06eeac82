"""Production mode: PostgreSQL + Redis + arq workers. Exactly-once effect with several workers and crashes."""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bench.community import generate_community
from rewards import PROJECT_ROOT
from rewards.apply.applier import Applier
from rewards.apply.publish import replay
from rewards.apply.tasks import apply_events
from rewards.db import unit_of_work
from rewards.events import service
from rewards.redis_keys import ARQ_QUEUE
from rewards.runtime import Runtime, utcnow
from rewards.worker import build_worker
from tests.conftest import make_settings, open_api
from tests.factories import accept, answer, upvote
from tests.state_snapshot import snapshot
from tests.webhook_receiver import Receiver

A = answer("a1", "expert", "q1")
DEFAULT_RULES = (PROJECT_ROOT / "rules" / "default.yaml").read_text()


async def _run_burst_workers(settings: Any, count: int) -> None:
    workers = [build_worker(settings, burst=True, poll_delay=0, handle_signals=False) for _ in range(count)]
    try:
        await asyncio.gather(*(worker.main() for worker in workers))
    finally:
        for worker in workers:
            await worker.close()


async def _store(runtime: Runtime, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 1000):
        async with unit_of_work(runtime.sessionmaker) as uow:
            await service.store(uow.session, service.validate_batch(events[start : start + 1000]), utcnow())


async def _replayed(runtime: Runtime) -> dict[str, Any]:
    async with unit_of_work(runtime.sessionmaker) as uow:
        await replay(uow.session, runtime.ruleset, 2000, "test-replay", utcnow())
    async with runtime.sessionmaker() as session:
        return await snapshot(session)


async def test_queued_events_are_applied_by_the_worker(postgres_database_url: str, redis_url: str) -> None:
    settings = make_settings(postgres_database_url, redis_url=redis_url)
    async with open_api(settings) as api:
        result = await api.post_events(upvote("v1", A), upvote("v2", A), accept("asker", A))
        assert result["mode"] == "queued" and result["accepted"] == 3
        assert (await api.client.get("/v1/health")).json()["pending_events"] == 3
        pending = (
            await api.client.get("/v1/events", params={"source": "forum", "id": result["accepted_ids"][0]})
        ).json()
        assert pending["status"] == "pending"
        await _run_burst_workers(settings, 1)
        assert (await api.client.get("/v1/health")).json()["pending_events"] == 0
        assert await api.reputation("expert") == 35


async def test_the_worker_runs_a_retroactive_publish_asked_for_through_the_api(
    postgres_database_url: str, redis_url: str
) -> None:
    settings = make_settings(postgres_database_url, redis_url=redis_url)
    async with open_api(settings) as api:
        await api.post_events(upvote("v1", A), upvote("v2", A), accept("asker", A))
        await _run_burst_workers(settings, 1)
        assert await api.reputation("expert") == 35
        upvote_award = "        points: 10\n        cap: upvotes-per-day\n"
        doubled = DEFAULT_RULES.replace(upvote_award, upvote_award.replace("10", "20"))
        asked = await api.client.post(
            "/v1/rulesets/publish", json={"source": doubled, "mode": "retroactive", "comment": "double upvotes"}
        )
        assert asked.status_code == 202, asked.text

        # The scheduled job runs when a worker starts (then every 5 s) and starts the replay in a task of its own.
        worker = build_worker(settings, poll_delay=0.05, handle_signals=False)
        running = asyncio.create_task(worker.main())
        try:
            async with asyncio.timeout(60):
                while (job := (await api.client.get(asked.headers["location"])).json())["status"] != "done":
                    assert job["status"] in ("queued", "running"), job
                    await asyncio.sleep(0.1)
        finally:
            # Its polling first, then its shutdown: close() does not stop main(), whose next poll would then
            # find the Redis pool closed.
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await worker.close()
        assert (job["replayed_events"], job["events_done"], job["error"]) == (3, 3, None), job
        assert await api.reputation("expert") == 55
        assert (await api.client.get("/v1/rulesets")).json()["published_version"] == job["version"]


async def test_events_are_kept_when_the_queue_is_down_and_applied_by_the_next_sweep(
    postgres_database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(postgres_database_url, redis_url=redis_url)
    async with open_api(settings) as api:
        assert api.runtime.queue is not None

        async def redis_is_down(*args: object, **kwargs: object) -> None:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        monkeypatch.setattr(api.runtime.queue, "enqueue_job", redis_is_down)
        result = await api.post_events(upvote("v1", A))
        assert result["accepted"] == 1
        redis = aioredis.Redis.from_url(redis_url)
        try:
            assert await redis.zcard(ARQ_QUEUE) == 0  # no job was enqueued: only the sweep can apply it
        finally:
            await redis.aclose()
        await _run_burst_workers(settings, 1)  # its start-up sweep finds the stored event
        assert await api.reputation("expert") == 10


async def test_several_workers_at_once_never_double_award(postgres_database_url: str, redis_url: str) -> None:
    settings = make_settings(postgres_database_url, redis_url=redis_url, apply_batch_size=300)
    events = list(generate_community(users=300, events=6000, seed=7, days=20))
    async with open_api(settings) as api:
        for start in range(0, len(events), 500):
            await api.post_events(*events[start : start + 500])
        await _run_burst_workers(settings, 3)
        assert (await api.client.get("/v1/health")).json()["pending_events"] == 0
        async with api.runtime.sessionmaker() as session:
            live = await snapshot(session)
        assert live == await _replayed(api.runtime)
        assert len(live["entries"]) > 3000


@pytest.mark.slow
async def test_a_worker_killed_mid_batch_loses_nothing_and_awards_nothing_twice(
    postgres_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(postgres_database_url, redis_url=redis_url, apply_batch_size=500)
    applier = await Applier.start(settings)
    runtime = applier.runtime
    try:
        await _store(runtime, list(generate_community(users=2000, events=40_000, seed=11, days=60)))
        env = {
            **os.environ,
            "REWARDS_DATABASE_URL": postgres_database_url,
            "REWARDS_REDIS_URL": redis_url,
            "REWARDS_APPLY_BATCH_SIZE": "500",
            "REWARDS_ENVIRONMENT": "test",
        }
        command = [sys.executable, "-m", "rewards.cli", "worker"]
        first_log = tmp_path / "first-worker.log"
        with first_log.open("wb") as log:
            first = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
        # Kill it (SIGKILL: no clean-up) once it has committed some batches but is far from done.
        deadline = time.monotonic() + 60
        while True:
            async with runtime.sessionmaker() as session:
                pending = await service.pending_count(session)
            if pending < 38_000:
                break
            assert time.monotonic() < deadline, first_log.read_text()
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert 0 < pending < 40_000

        second_log = tmp_path / "second-worker.log"
        with second_log.open("wb") as log:
            second = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                async with runtime.sessionmaker() as session:
                    if await service.pending_count(session) == 0:
                        break
                assert time.monotonic() < deadline, second_log.read_text()
                await asyncio.sleep(0.2)
        finally:
            second.terminate()
            second.wait(timeout=30)
        async with runtime.sessionmaker() as session:
            live = await snapshot(session)
        assert live == await _replayed(runtime)
    finally:
        await applier.stop()


async def test_a_badge_the_worker_awards_is_delivered_without_waiting_for_the_sweep(
    postgres_database_url: str, redis_url: str, receiver: Receiver
) -> None:
    """The worker asks for delivery right after the batch that notified: with no scheduled job at all, the
    burst worker still delivers the webhook (before, only the 5 s sweep did, in a worker)."""
    settings = make_settings(postgres_database_url, redis_url=redis_url)
    async with open_api(settings) as api:
        created = await api.client.post("/v1/webhooks", json={"url": receiver.url + "/in", "topics": ["badge.*"]})
        assert created.status_code == 201, created.text
        await api.post_events(upvote("v1", A), upvote("v2", A), accept("asker", A))
        worker = build_worker(settings, burst=True, poll_delay=0, handle_signals=False, cron_jobs=[])
        try:
            await worker.main()
        finally:
            await worker.close()
        topics = {json.loads(item.body)["topic"] for item in receiver.received}
        assert "badge.awarded" in topics and await api.reputation("expert") == 35


async def test_an_apply_job_leaves_the_events_to_a_drain_already_running_here(
    postgres_database_url: str, redis_url: str
) -> None:
    """Under steady intake, apply jobs used to queue behind the running drain and fill arq's job slots, so that
    webhook deliveries and scheduled jobs waited. A job now hands its events to the running drain at once."""
    applier = await Applier.start(make_settings(postgres_database_url, redis_url=redis_url), connect_queue=False)
    try:
        await _store(applier.runtime, [upvote("v1", A), upvote("v2", A)])
        async with applier.lock:  # a drain is under way in this process
            applier.draining = True
            handed_over = await asyncio.wait_for(apply_events({"applier": applier}, None), timeout=5)
            applier.draining = False
        assert handed_over == 0 and applier.drain_again
        result = await applier.drain("test")  # that drain goes on: the events, then one more look
        assert result.applied == 2 and not applier.drain_again
    finally:
        await applier.stop()
