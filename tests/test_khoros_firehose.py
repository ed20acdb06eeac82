"""The Khoros Firehose receiver, as far as the public facts go: the token endpoint Khoros calls with the client id
and secret, batched deliveries with that token, deduplicated when Khoros retries them, and items of a shape the
receiver does not know stored as they came and reported, not guessed at."""

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rewards.connectors import firehose
from rewards.imports.khoros import flatten
from tests.conftest import Api, make_settings, open_api

CLIENT_ID = "khoros-firehose"
SECRET = "a-firehose-client-secret-of-40-characters!"
SOURCE = "khoros:community.example.com"


@pytest.fixture
async def receiver_api(database_url: str) -> AsyncIterator[Api]:
    settings = make_settings(
        database_url,
        khoros_community_url="https://community.example.com",
        khoros_firehose_client_id=CLIENT_ID,
        khoros_firehose_client_secret=SECRET,
    )
    async with open_api(settings) as api:
        yield api


async def token(api: Api) -> str:
    response = await api.client.post(
        "/v1/connectors/khoros/firehose/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET},
        headers={"Authorization": ""},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3600
    value: str = answer["access_token"]
    return value


async def deliver(api: Api, payload: Any, bearer: str, expect: int = 200) -> dict[str, Any]:
    response = await api.client.post(
        "/v1/connectors/khoros/firehose", json=payload, headers={"Authorization": f"Bearer {bearer}"}
    )
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


KUDO = {
    "document.id": "fh-1",
    "action.key": "kudos.give",
    "event.time.ms": 1700000100000,
    "user.uid": "502",
    "target.user.uid": "501",
    "message.uid": "9001",
    "message.is_topic": "false",
    "conversation.uid": "9000",
    "action.weight": 2,
}
# The same kind of record, nested as a JSON producer might send it.
NESTED_PUBLISH = {
    "document": {"id": "fh-2"},
    "action": {"key": "messages.publish"},
    "event": {"time": {"ms": "1700000000000"}},
    "user": {"uid": "501"},
    "message": {"uid": "9001", "is_topic": False},
    "conversation": {"uid": "9000"},
    "board": {"uid": "routers"},
}
STRANGE = {"eventType": "LikeCreated", "likeId": 77, "payload": {"who": "x"}}


async def test_the_token_endpoint_takes_the_firehose_client_credentials_in_each_form(receiver_api: Api) -> None:
    api = receiver_api
    url = "/v1/connectors/khoros/firehose/token"
    wrong = await api.client.post(url, data={"client_id": CLIENT_ID, "client_secret": "wrong"})
    assert wrong.status_code == 401 and "invalid_client" in wrong.json()["error"]
    as_json = await api.client.post(url, json={"client_id": CLIENT_ID, "client_secret": SECRET})
    assert as_json.status_code == 200
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    as_basic = await api.client.post(url, headers={"Authorization": f"Basic {basic}"})
    assert as_basic.status_code == 200 and await token(api)
    assert SECRET not in as_basic.text


async def test_a_batch_is_stored_once_and_unknown_items_are_kept_and_reported(receiver_api: Api) -> None:
    api = receiver_api
    assert (await deliver(api, [KUDO], "not-a-token", expect=401))["error"]
    response = await api.client.post("/v1/connectors/khoros/firehose", json=[KUDO])  # the API key is no token
    assert response.status_code == 401
    bearer = await token(api)

    first = await deliver(api, {"events": [NESTED_PUBLISH, KUDO, STRANGE]}, bearer)
    assert first["accepted"] == 3 and first["duplicates"] == 0 and first["unknown"] == 1
    assert "not a shape the receiver knows" in first["unknown_reasons"][0]
    # Khoros retries a batch that was not acknowledged: the same items again are duplicates.
    again = await deliver(api, [STRANGE, KUDO, NESTED_PUBLISH], bearer)
    assert again["accepted"] == 0 and again["duplicates"] == 3

    kudo = await api.client.get("/v1/events", params={"source": SOURCE, "id": "kudos-9001-502"})
    assert kudo.status_code == 200 and kudo.json()["type"] == "post.upvoted"
    assert kudo.json()["status"] == "applied"
    assert await api.reputation("501") == 10  # the default rules give +10 an upvote; rules/khoros.yaml reads the weight
    strange_id = "firehose-" + firehose.item_id(STRANGE, flatten(STRANGE))
    stored = await api.client.get("/v1/events", params={"source": SOURCE, "id": strange_id})
    assert stored.status_code == 200 and stored.json()["type"] == firehose.UNKNOWN

    # A kudo on a message nobody has seen: stored as unknown with the reason, not credited to a guess.
    orphan = {**KUDO, "document.id": "fh-3", "message.uid": "5555"}
    del orphan["target.user.uid"]
    answer = await deliver(api, orphan, bearer)
    assert answer["accepted"] == 1 and answer["unknown"] == 1 and "author unknown" in answer["unknown_reasons"][0]


def test_batches_come_as_arrays_wrapped_arrays_or_single_objects() -> None:
    assert firehose.batch_items([1, 2]) == [1, 2]
    assert firehose.batch_items({"records": [{"a": 1}]}) == [{"a": 1}]
    assert firehose.batch_items({"whatever": [{"a": 1}], "count": 1}) == [{"a": 1}]
    assert firehose.batch_items({"a": 1}) == [{"a": 1}]
    same = {"b": 2, "a": 1}
    assert firehose.item_id(same, same) == firehose.item_id({"a": 1, "b": 2}, same)  # key order does not matter


async def test_the_receiver_is_off_until_configured(database_url: str) -> None:
    async with open_api(make_settings(database_url)) as api:
        response = await api.client.post("/v1/connectors/khoros/firehose/token", data={"client_id": "x"})
        assert response.status_code == 404 and "off" in response.json()["error"]
        delivery = await api.client.post("/v1/connectors/khoros/firehose", json=[KUDO])
        assert delivery.status_code == 404
