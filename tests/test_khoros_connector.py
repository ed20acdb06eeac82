"""The Khoros connector against a fake Khoros on 127.0.0.1 (aiohttp): Bulk Data windows of at most 7 days, one
request at a time, overlapping windows stored once, LiQL cursor paging, 429 with `Retry-After: 0`, a failing
window kept for the next run, the watermark and its lag in /v1/health, and credentials kept out of errors and logs."""

import asyncio
import base64
import json
import logging
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from rewards.apply.applier import Applier
from rewards.config import Settings
from rewards.connectors import khoros as connector
from rewards.connectors import repository
from rewards.connectors.tasks import sync_khoros
from rewards.db import unit_of_work
from rewards.events import service as events
from rewards.imports.khoros import community_source
from tests.conftest import make_settings, open_api

START = datetime(2023, 11, 1, tzinfo=UTC)
TOKEN = "2f25a1b2c3d4e5f60718293a4b5c6d7e8fa10dec04068"  # shaped as the SDK's masked example: 40+ hex characters
CLIENT_ID = "ay0CexampleExampleExample/EXAMPLE+example4KhQ="
LIQL_TOKEN = "liql-bearer-token-for-the-fake-khoros"
EXPORT_PATH = "/lsi-data/v2/data/export/community/example.prod"


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def action(document_id: str, key: str, when: datetime, **fields: Any) -> dict[str, Any]:
    """A Bulk Data record: flat dotted field names (given here with `_` for `.`)."""
    return {
        "document.id": document_id,
        "action.key": key,
        "event.time.ms": ms(when),
        **{name.replace("_", ".", 1) if name.startswith(("user_", "message_", "target_")) else name: value
           for name, value in fields.items()},
    }  # fmt: skip


def bulk_records(days: int) -> list[dict[str, Any]]:
    """A day of a small forum per day: a topic, a reply, a kudo (every third one a super user's), a solution."""
    records: list[dict[str, Any]] = []
    for day in range(days):
        at = START + timedelta(days=day, hours=10)
        topic, reply = str(10_000 + 2 * day), str(10_001 + 2 * day)
        asker, helper, fan = f"{100 + day % 3}", f"{200 + day % 2}", f"{300 + day % 5}"
        thread = {"conversation.uid": topic, "board.uid": "routers"}
        kudo = action(f"k-{reply}", "kudos.give", at + timedelta(hours=2), user_uid=fan, message_uid=reply, **thread)
        kudo.update({"target.user.uid": helper, "message.is_topic": "false", "action.weight": 2 if day % 3 == 0 else 1})
        kudo["event.time.ms"] = str(kudo["event.time.ms"])  # text here, a number elsewhere: both are read
        solution = action(f"s-{reply}", "solutions.accept", at + timedelta(hours=3), user_uid=asker, **thread)
        solution.update({"target.user.uid": helper, "message.uid": reply})
        records += [
            action(f"p-{topic}", "messages.publish", at, user_uid=asker, message_uid=topic, **thread),
            action(f"p-{reply}", "messages.publish", at + timedelta(hours=1), user_uid=helper, message_uid=reply,
                   **thread),
            kudo,
            solution,
            action(f"v-{reply}", "view", at + timedelta(hours=4), user_uid="-1", message_uid=reply),
        ]  # fmt: skip
        records[-5]["message.is_topic"] = "true"
        records[-4]["message.is_topic"] = "false"
    return records


def liql_messages(days: int) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    messages, kudos = [], {}
    for day in range(days):
        at = START + timedelta(days=day, hours=9)
        topic, reply = str(20_000 + 2 * day), str(20_001 + 2 * day)
        conversation = {"type": "conversation", "id": topic, "style": "forum"}
        messages += [
            {"type": "message", "id": topic, "author": {"type": "user", "id": "400"}, "board": {"id": "billing"},
             "conversation": conversation, "topic": {"id": topic}, "depth": 0, "post_time": at.isoformat(),
             "is_solution": False, "solution_data": {}},
            {"type": "message", "id": reply, "author": {"type": "user", "id": "401"}, "board": {"id": "billing"},
             "conversation": conversation, "topic": {"id": topic}, "parent": {"id": topic}, "depth": 1,
             "post_time": (at + timedelta(minutes=30)).isoformat(), "is_solution": True,
             "solution_data": {"type": "solution_data", "message_id": reply, "accepter": {"type": "user", "id": "400"},
                               "time": (at + timedelta(hours=1)).isoformat()}},
        ]  # fmt: skip
        kudos[reply] = [
            {"type": "kudo", "id": f"{reply}-{giver}", "user": {"type": "user", "id": str(giver)},
             "message": {"type": "message", "id": reply}, "time": (at + timedelta(hours=2)).isoformat(), "weight": 1}
            for giver in (500, 501, 502)
        ]  # fmt: skip
    return messages, kudos


def khoros_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%d%H%M").replace(tzinfo=UTC)


@dataclass
class FakeKhoros:
    """Answers as Khoros does, as far as the public facts go; records what it was asked."""

    records: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    kudos: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 2  # smaller than the connector's LIMIT, so that paging shows
    throttle: list[str] = field(default_factory=list)  # Retry-After values of the next 429s
    failing_from: set[str] = field(default_factory=set)  # fromDate values that always answer 500
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    url: str = ""

    async def _enter(self, request: web.Request) -> web.Response | None:
        self.headers.append(dict(request.headers))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.005)
        self.in_flight -= 1
        if self.throttle:
            return web.json_response({"status": "error", "message": "Too many requests"}, status=429,
                                     headers={"Retry-After": self.throttle.pop(0)})  # fmt: skip
        return None

    async def export(self, request: web.Request) -> web.Response:
        throttled = await self._enter(request)
        if throttled is not None:
            return throttled
        expected = "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode()
        if request.headers.get("Authorization") != expected or request.headers.get("client-id") != CLIENT_ID:
            return web.json_response({"message": "unauthorized"}, status=401)
        start, end = khoros_time(request.query["fromDate"]), khoros_time(request.query["toDate"])
        if end - start > timedelta(days=7):
            return web.json_response({"message": "can query up to 7 days worth of data at one time"}, status=400)
        self.windows.append((start, end))
        if request.query["fromDate"] in self.failing_from:
            return web.Response(status=500, text="internal error")
        found = [r for r in self.records if ms(start) <= int(r["event.time.ms"]) < ms(end)]
        return web.json_response({"records": found})

    async def search(self, request: web.Request) -> web.Response:
        throttled = await self._enter(request)
        if throttled is not None:
            return throttled
        query = request.query["q"]
        self.searches.append(query)
        cursor = re.search(r"CURSOR '(\d+)'", query)
        offset = int(cursor.group(1)) if cursor else 0
        if "FROM messages" in query:
            low, high = re.findall(r"post_time [<>]=? '([^']+)'", query)
            items = [
                m for m in self.messages
                if datetime.fromisoformat(low) <= datetime.fromisoformat(m["post_time"]) < datetime.fromisoformat(high)
            ]  # fmt: skip
            kind = "messages"
        else:
            message = re.search(r"message\.id = '([^']+)'", query)
            items, kind = self.kudos.get(message.group(1) if message else "", []), "kudos"
        page = items[offset : offset + self.page_size]
        data: dict[str, Any] = {"type": kind, "size": len(page), "items": page}
        if offset + self.page_size < len(items):
            data["next_cursor"] = str(offset + self.page_size)
        return web.json_response({"status": "success", "message": "", "http_code": 200, "data": data})


@pytest.fixture
async def khoros() -> AsyncIterator[FakeKhoros]:
    fake = FakeKhoros()
    app = web.Application()
    app.router.add_get(EXPORT_PATH, fake.export)
    app.router.add_get("/api/2.0/search", fake.search)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    fake.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"  # type: ignore[attr-defined]
    yield fake
    await runner.cleanup()


def khoros_settings(database_url: str, fake: FakeKhoros, **overrides: Any) -> Settings:
    return make_settings(
        database_url,
        khoros_community_url=fake.url,
        khoros_bulk_url=fake.url + EXPORT_PATH,
        khoros_bulk_token=TOKEN,
        khoros_bulk_client_id=CLIENT_ID,
        khoros_retry_attempts=3,
        khoros_retry_base_seconds=0.25,
        **overrides,
    )


class Waits:
    """Stands in for asyncio.sleep: records the back-off the client asked for, without waiting."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


@pytest.fixture
async def started(request: pytest.FixtureRequest, database_url: str, khoros: FakeKhoros) -> AsyncIterator[Applier]:
    overrides = getattr(request, "param", {})
    applier = await Applier.start(khoros_settings(database_url, khoros, **overrides), connect_queue=False)
    yield applier
    await applier.stop()


async def run(applier: Applier, stream: str, now: datetime, waits: Waits, **kwargs: Any) -> connector.StreamRun:
    config = connector.KhorosConfig.from_settings(applier.runtime.settings)
    assert config is not None
    async with connector._http(config) as http:
        client = connector.KhorosClient(config, http, waits)
        return await connector.sync_stream(applier, config, client, stream, now, **kwargs)


async def test_bulk_windows_of_seven_days_one_at_a_time_overlap_and_store_each_action_once(
    started: Applier, khoros: FakeKhoros, caplog: pytest.LogCaptureFixture
) -> None:
    khoros.records = bulk_records(days=15)
    khoros.throttle = ["0", "5"]  # Khoros has sent `Retry-After: 0`: a floor, never a reason to retry at once
    waits = Waits()
    now = START + timedelta(days=15)
    result = await run(started, "bulk", now, waits, since=START, windows=10)

    assert result.error is None and result.watermark == now
    assert all(end - start <= timedelta(days=7) for start, end in khoros.windows)
    assert all(start.hour == start.minute == 0 for start, _ in khoros.windows)  # windows start at 00:00 UTC
    assert khoros.most_in_flight == 1
    # Each window starts a day (the overlap) before the last one ended: the days read twice are duplicates.
    assert [start for start, _ in khoros.windows] == [START - timedelta(days=1), START + timedelta(days=5),
                                                      START + timedelta(days=11)]  # fmt: skip
    assert result.accepted == 15 * 4 and sum(window.duplicates for window in result.windows) == 2 * 4
    assert result.stats.actions_not_mapped == {"view": 15 + 2}
    # 429 twice: first the back-off (0.25 s, as Retry-After says 0), then Retry-After's 5 s, the larger.
    assert waits.asked == [0.25, 5.0] and result.retries == 2

    again = await run(started, "bulk", now, waits, windows=10)  # nothing new: the overlap is read again
    assert again.accepted == 0 and len(again.windows) == 1 and again.windows[0].duplicates > 0

    async with started.runtime.sessionmaker() as session:
        kudo = await events.explain(session, community_source(khoros.url), "kudos-10001-300")
    assert kudo.status == "applied" and kudo.type == "post.upvoted"
    assert TOKEN not in caplog.text and CLIENT_ID not in caplog.text


async def test_a_failing_window_keeps_the_watermark_and_is_read_again_next_run(
    started: Applier, khoros: FakeKhoros, caplog: pytest.LogCaptureFixture
) -> None:
    khoros.records = bulk_records(days=12)
    khoros.failing_from = {(START + timedelta(days=5)).strftime("%Y%m%d%H%M")}
    now = START + timedelta(days=12)
    waits = Waits()
    caplog.set_level(logging.WARNING)
    first = await run(started, "bulk", now, waits, since=START, windows=10)
    assert first.error is not None and "500 3 times" in first.error
    assert first.watermark == START + timedelta(days=6) and len(first.windows) == 1
    source = community_source(khoros.url)
    async with started.runtime.sessionmaker() as session:
        state = await repository.state(session, source, "bulk")
    assert state is not None and state.watermark == START + timedelta(days=6) and state.failures == 1
    assert state.lease_holder is None and state.last_error == first.error
    for text in (state.last_error or "", caplog.text, first.error):
        assert TOKEN not in text and CLIENT_ID not in text

    khoros.failing_from.clear()
    second = await run(started, "bulk", now, waits, windows=10)
    assert second.error is None and second.watermark == now
    assert first.accepted + second.accepted == 12 * 4
    async with started.runtime.sessionmaker() as session:
        state = await repository.state(session, source, "bulk")
    assert state is not None and state.failures == 0 and state.last_error is None
    assert state.events_accepted == 12 * 4


@pytest.mark.parametrize(
    "started", [{"khoros_liql": True, "khoros_liql_auth": "bearer", "khoros_liql_token": LIQL_TOKEN}], indirect=True
)
async def test_liql_pages_with_cursors_and_reads_each_messages_kudos(started: Applier, khoros: FakeKhoros) -> None:
    khoros.messages, khoros.kudos = liql_messages(days=3)
    khoros.throttle = ["0"]
    waits = Waits()
    now = START + timedelta(days=3)
    result = await run(started, "liql", now, waits, since=START, windows=10)
    assert result.error is None and result.watermark == now and result.retries == 1
    # 3 days: 3 topics, 3 replies, 3 solutions, 9 kudos; every page of 2 asked for with the cursor of the last.
    assert result.accepted == 18
    assert any("CURSOR '2'" in query and "FROM messages" in query for query in khoros.searches)
    assert any("CURSOR '2'" in query and "FROM kudos" in query for query in khoros.searches)
    assert all("LIMIT 1000" in query for query in khoros.searches)
    assert all(headers.get("Authorization") == f"Bearer {LIQL_TOKEN}" for headers in khoros.headers)
    # LiQL times carry milliseconds and a colon in the offset.
    assert re.search(r"post_time >= '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00'", khoros.searches[0])


async def test_a_stream_another_process_is_reading_is_left_alone(started: Applier, khoros: FakeKhoros) -> None:
    source = community_source(khoros.url)
    now = START + timedelta(days=1)
    async with unit_of_work(started.runtime.sessionmaker) as uow:
        assert await repository.take_lease(uow.session, source, "bulk", "other", now, now + timedelta(hours=1))
    result = await run(started, "bulk", now, Waits())
    assert result.busy and not khoros.windows


async def test_the_scheduled_job_runs_each_stream_when_due_and_health_shows_its_lag(
    database_url: str, khoros: FakeKhoros
) -> None:
    khoros.records = bulk_records(days=2)
    settings = khoros_settings(database_url, khoros, khoros_sync_start=START, khoros_sync_every_seconds=600)
    async with open_api(settings) as api:
        now = START + timedelta(days=2)
        assert await sync_khoros(api.applier, now) == 2 * 4
        asked = len(khoros.windows)
        assert await sync_khoros(api.applier, now + timedelta(minutes=5)) == 0  # not due yet
        assert len(khoros.windows) == asked
        response = await api.client.get("/v1/health")
        assert response.status_code == 200
        (state,) = response.json()["connectors"]
        assert state["stream"] == "bulk" and state["watermark"] == now.isoformat() and state["failures"] == 0
        assert state["lag_seconds"] > 0
        assert TOKEN not in response.text

    unconfigured = make_settings(database_url)
    async with open_api(unconfigured) as api:
        assert await sync_khoros(api.applier, START) == 0


async def test_rewards_import_khoros_live_catches_up_from_since(tmp_path: Path, khoros: FakeKhoros) -> None:
    khoros.records = bulk_records(days=3)
    env = {
        **os.environ,
        "REWARDS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
        "REWARDS_ENVIRONMENT": "test",
        "REWARDS_KHOROS_COMMUNITY_URL": khoros.url,
        "REWARDS_KHOROS_BULK_URL": khoros.url + EXPORT_PATH,
        "REWARDS_KHOROS_BULK_TOKEN": TOKEN,
        "REWARDS_KHOROS_BULK_CLIENT_ID": CLIENT_ID,
    }
    env.pop("REWARDS_REDIS_URL", None)
    # Run as a child process while this test's loop serves the fake Khoros.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rewards.cli", "import", "khoros", "--live", "--since", "2023-11-01",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    (report,) = json.loads(out)
    assert report["stream"] == "bulk" and report["error"] is None and report["accepted"] == 3 * 4
    assert TOKEN not in out.decode() + err.decode()
