"""GET /v1/users/{id} and its history: reputation explained entry by entry, newest first."""

import asyncpg
from sqlalchemy import make_url

from tests.conftest import Api, make_settings, open_api
from tests.factories import accept, answer, downvote, remove, restore, retract, upvote

A = answer("a9", "expert", "q1")


async def test_a_user_never_seen_is_404_with_a_message(api: Api) -> None:
    response = await api.client.get("/v1/users/nobody")
    assert response.status_code == 404
    assert "nobody" in response.json()["error"]


async def test_everyone_an_event_names_is_known(api: Api) -> None:
    await api.post_events(upvote("v1", A))
    for user, reputation in (("v1", 0), ("expert", 10)):
        body = (await api.client.get(f"/v1/users/{user}")).json()
        assert body["reputation"] == reputation and body["suspended"] is False
    assert (await api.client.get("/v1/users/v1")).json()["last_active_at"] == "2026-03-02T09:00:00Z"


async def test_history_explains_every_change_in_words_newest_first(api: Api) -> None:
    await api.post_events(upvote("v1", A), downvote("v2", A), accept("asker", A), retract("v1", A, "up"))
    await api.post_events(remove("mod", A, "spam"), restore("mod", A))
    history = (await api.client.get("/v1/users/expert/history")).json()
    reasons = [entry["reason"] for entry in history["entries"]]
    assert reasons[-3:] == ["+15 answer a9 accepted", "-2 downvote on answer a9", "+10 upvote on answer a9"]
    assert "-10 upvote on answer a9 undone: vote retracted" in reasons
    assert "-100 answer a9 removed as spam" in reasons
    assert "+100 answer a9 removed as spam undone: post restored" in reasons
    assert history["reputation"] == sum(entry["points"] for entry in history["entries"]) == 13
    ids = [entry["id"] for entry in history["entries"]]
    assert ids == sorted(ids, reverse=True)
    undo = next(e for e in history["entries"] if e["reason"].endswith("vote retracted"))
    original = next(e for e in history["entries"] if e["reason"] == "+10 upvote on answer a9")
    assert undo["reverses_id"] == original["id"] and undo["kind"] == "reversal"


async def test_history_pages_with_a_cursor(api: Api) -> None:
    await api.post_events(*(upvote(f"v{i}", answer(f"a{i}", "expert", "q1"), minutes=i) for i in range(7)))
    seen: list[int] = []
    before = None
    while True:
        params = {"limit": 3, **({"before": before} if before is not None else {})}
        page = (await api.client.get("/v1/users/expert/history", params=params)).json()
        seen += [entry["id"] for entry in page["entries"]]
        before = page["next_before"]
        if before is None:
            break
    assert len(seen) == len(set(seen)) == 7
    bad = await api.client.get("/v1/users/expert/history", params={"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.json()["error"]


async def test_a_connection_the_database_dropped_fails_one_read_with_503_then_reads_work(
    postgres_database_url: str,
) -> None:
    """Connections are not pinged before use: the request that meets a dropped one is told to retry, and the
    pool replaces its connections, so the retry works. Nothing answers 500."""
    async with open_api(make_settings(postgres_database_url)) as api:
        await api.post_events(upvote("v1", A))
        assert await api.reputation("expert") == 10
        await _drop_connections_to(postgres_database_url)
        response = await api.client.get("/v1/users/expert")
        assert response.status_code == 503, response.text
        assert "retry" in response.json()["error"] and response.headers["retry-after"] == "1"
        assert await api.reputation("expert") == 10


async def _drop_connections_to(url: str) -> None:
    """What a database restart or a failover does to the engine's pooled connections."""
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        dropped = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    assert dropped >= 1
