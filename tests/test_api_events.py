"""POST /v1/events and GET /v1/events over HTTP, on SQLite and on PostgreSQL."""

import json
from pathlib import Path

import pytest

from rewards.auth.service import Scope
from tests.conftest import Api, make_settings, open_api
from tests.factories import accept, answer, event, question, upvote

Q = question("q1", "asker")
A = answer("a1", "expert", "q1")


async def test_a_single_event_and_a_batch_are_accepted_and_applied(api: Api) -> None:
    single = await api.post_events(upvote("v1", A))
    assert single["accepted"] == 1 and single["duplicates"] == 0 and single["mode"] == "embedded"
    batch = await api.post_events(upvote("v2", A), accept("asker", A))
    assert batch["accepted"] == 2
    assert await api.reputation("expert") == 35
    health = (await api.client.get("/v1/health")).json()
    assert health == {"status": "ok", "pending_events": 0}


async def test_a_redelivered_event_is_a_duplicate_and_changes_nothing(api: Api) -> None:
    vote = upvote("v1", A)
    await api.post_events(vote)
    again = await api.post_events(vote, vote)
    assert again["accepted"] == 0 and again["duplicates"] == 2 and again["duplicate_ids"] == [vote["id"]] * 2
    assert await api.reputation("expert") == 10


async def test_the_same_id_from_another_source_is_a_different_event(api: Api) -> None:
    vote = upvote("v1", A)
    other = dict(upvote("v2", A), id=vote["id"], source="other-forum")
    result = await api.post_events(vote, other)
    assert result["accepted"] == 2
    assert await api.reputation("expert") == 20


async def test_a_batch_with_an_invalid_event_is_refused_whole_with_an_error_per_item(api: Api) -> None:
    good = upvote("v1", A)
    no_post = event("post.upvoted", {"actor": "v2"})
    wrong_types = dict(upvote("v3", A), time="yesterday", specversion="0.3")
    response = await api.client.post("/v1/events", json=[good, no_post, wrong_types, 42])
    assert response.status_code == 422
    body = response.json()
    assert "nothing was stored" in body["error"]
    by_item = {(d["index"], d["field"]) for d in body["detail"]}
    assert (1, "data.post") in by_item
    assert {(2, "time"), (2, "specversion")} <= by_item
    assert (3, "(event)") in by_item
    assert all(d["id"] == no_post["id"] for d in body["detail"] if d["index"] == 1)
    missing = await api.client.get("/v1/events", params={"source": "forum", "id": good["id"]})
    assert missing.status_code == 404
    assert (await api.client.get("/v1/users/expert")).status_code == 404


def _nested(depth: int) -> object:
    value: object = "deep"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e["data"]["post"].update(author=17), "data.post.author"),
        (lambda e: e["data"].update(actor=""), "data.actor"),
        (lambda e: e.update(id="x" * 10_000), "id"),
        (lambda e: e.update(type="Not A Type!"), "type"),
        (lambda e: e.update(time="2026-03-02T09:00:00"), "time"),
        (lambda e: e["data"]["post"].update(kind="question"), "data.post.kind"),
        (lambda e: e["data"].update(extra=_nested(30)), "data"),
        (lambda e: e["data"]["post"].update(tags="wifi"), "data.post.tags"),
    ],
)
async def test_hostile_or_wrong_input_gets_a_clear_422_never_a_500(api: Api, mutate, field) -> None:  # type: ignore[no-untyped-def]
    bad = accept("asker", dict(A))
    bad["data"]["post"] = dict(A)
    mutate(bad)
    response = await api.client.post("/v1/events", json=bad)
    assert response.status_code == 422, response.text
    assert field in {d["field"] for d in response.json()["detail"]}


async def test_malformed_or_oversized_bodies_are_refused_with_a_message(api: Api) -> None:
    response = await api.client.post(
        "/v1/events", content=b'{"specversion": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
    response = await api.client.post(
        "/v1/events", content=b"[" * 5000 + b"]" * 5000, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422)
    response = await api.client.post("/v1/events", content=b"x", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    huge = json.dumps([upvote("v1", A)] * 20_000).encode()
    assert len(huge) > api.runtime.settings.max_body_bytes
    response = await api.client.post("/v1/events", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "limit" in response.json()["error"]
    too_many = [upvote(f"v{i}", A) for i in range(api.runtime.settings.max_events_per_request + 1)]
    response = await api.client.post("/v1/events", json=too_many)
    assert response.status_code == 413
    response = await api.client.post("/v1/events", json=[])
    assert response.status_code == 422


async def test_keys_need_the_right_scope(api: Api) -> None:
    client = api.client
    vote = upvote("v1", A)
    assert (await client.post("/v1/events", json=vote, headers={"Authorization": ""})).status_code == 401
    assert (
        await client.post("/v1/events", json=vote, headers={"Authorization": "Bearer rk_nope_nope"})
    ).status_code == 401
    reader = await api.key(Scope.READ)
    writer = await api.key(Scope.EVENTS_WRITE)
    refused = await client.post("/v1/events", json=vote, headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403 and "events:write" in refused.json()["error"]
    # The key alone in X-API-Key (the client's own Authorization is blanked: two different keys are refused).
    alone = {"Authorization": "", "X-API-Key": writer}
    assert (await client.post("/v1/events", json=vote, headers=alone)).status_code == 202
    assert (await client.get("/v1/users/expert", headers={"Authorization": f"Bearer {writer}"})).status_code == 403
    assert (await client.get("/v1/users/expert", headers={"Authorization": f"Bearer {reader}"})).status_code == 200


async def test_event_status_explains_what_it_did(api: Api) -> None:
    vote = upvote("v1", A)
    repeat = upvote("v1", A)
    own = upvote("expert", A)
    await api.post_events(vote, repeat, own)
    applied = (await api.client.get(f"/v1/events/forum/{vote['id']}")).json()
    assert applied["status"] == "applied" and applied["rules_fired"] == ["upvote"]
    assert [(e["user_id"], e["points"], e["reason"]) for e in applied["ledger_entries"]] == [
        ("expert", 10, "+10 upvote on answer a1")
    ]
    noop = (await api.client.get("/v1/events", params={"source": "forum", "id": repeat["id"]})).json()
    assert noop["ledger_entries"] == [] and "repeat" in noop["notes"][0]
    skipped = (await api.client.get(f"/v1/events/forum/{own['id']}")).json()
    assert "actor != post.author" in skipped["notes"][0]


FRAGILE_RULES = """
ruleset: fragile
points:
  - id: workshop-host
    on: workshop.hosted
    subject: workshop
    award:
      - to: host
        points: 50
  - id: upvote
    on: post.upvoted
    award:
      - to: post.author
        points: 10
"""


async def test_an_event_whose_rules_fail_is_recorded_as_failed_and_does_not_block_others(
    database_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "fragile.yaml"
    rules.write_text(FRAGILE_RULES)
    async with open_api(make_settings(database_url, rules_path=rules)) as api:
        broken = event("workshop.hosted", {"actor": "pm", "workshop": "w1"})  # no `host`
        fine = event("workshop.hosted", {"actor": "pm", "workshop": "w2", "host": "expert"})
        await api.post_events(upvote("v1", A), broken, fine, upvote("v2", A))
        assert await api.reputation("expert") == 70
        status = (await api.client.get(f"/v1/events/forum/{broken['id']}")).json()
        assert status["status"] == "failed"
        assert "recipient `host` is missing" in status["error"]
        assert status["ledger_entries"] == []
        assert (await api.client.get("/v1/health")).json()["pending_events"] == 0


async def test_event_sources_with_slashes_can_be_looked_up(api: Api) -> None:
    vote = dict(upvote("v1", A), source="https://forum.example.com/community")
    await api.post_events(vote)
    response = await api.client.get(f"/v1/events/https://forum.example.com/community/{vote['id']}")
    assert response.status_code == 200 and response.json()["status"] == "applied"
    assert (await api.client.get("/v1/events/forum/unknown")).status_code == 404


async def test_custom_event_types_are_stored_and_explained(api: Api) -> None:
    custom = event("workshop.attended", {"actor": "u1", "workshop": "w1"})
    await api.post_events(custom)
    status = (await api.client.get(f"/v1/events/forum/{custom['id']}")).json()
    assert status["status"] == "applied"
    assert "no rule of ruleset 'default' listens to 'workshop.attended'" in status["notes"]


async def test_the_openapi_document_publishes_the_event_schemas(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert "Event_post_upvoted" in schemas and "Event_custom" in schemas
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][1]["type"] == "array"
    assert (await api.client.get("/docs")).status_code == 200


async def test_the_home_page_says_what_is_running(api: Api) -> None:
    await api.post_events(upvote("v1", A))
    response = await api.client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "embedded" in response.text and "default" in response.text
