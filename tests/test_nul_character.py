"""The NUL character, which PostgreSQL's text cannot hold, is refused at the edge with a 422 that names where it
is, on both databases, and nothing is stored (on PostgreSQL these requests used to end in a 500)."""

import pytest

from tests.conftest import Api
from tests.factories import answer, upvote

ANSWER = answer("a1", "anna", "q1")

NUL_MESSAGE = "text cannot contain the NUL character (\\u0000)"


def fields(response: object) -> list[str]:
    return [item["field"] for item in response.json()["detail"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/users/anna%00", "path.user_id"),
        ("/v1/users/anna%00/badges", "path.user_id"),
        ("/v1/users/anna%00/perks", "path.user_id"),
        ("/v1/users/anna%00/history", "path.user_id"),
        ("/v1/leaderboards/reputation/around/anna%00", "path.user_id"),
        ("/v1/events/forum/e%00", "path.event_id"),
        ("/v1/users?ids=anna,b%00b", "query.ids"),
        ("/v1/audit?actor=key%00", "query.actor"),
        ("/v1/events?source=forum&id=e%00", "query.id"),
        ("/u/anna%00", "path.user_id"),
    ],
)
async def test_a_nul_in_the_address_is_a_422_naming_the_parameter(api: Api, path: str, field: str) -> None:
    await api.post_events(upvote("olga", ANSWER))
    response = await api.client.get(path)
    assert response.status_code == 422, response.text
    assert fields(response) == [field]
    assert response.json()["error"] == f"the request is invalid: {field}: {NUL_MESSAGE}"


async def test_a_nul_in_a_json_body_is_a_422_naming_the_field_and_nothing_is_stored(api: Api) -> None:
    await api.post_events(upvote("olga", ANSWER))

    webhook = await api.client.post("/v1/webhooks", json={"url": "https://forum.example/hook\u0000"})
    assert webhook.status_code == 422 and fields(webhook) == ["body.url"], webhook.text
    assert (await api.client.get("/v1/webhooks")).json()["webhooks"] == []

    grant = {"user_id": "anna", "badge_id": "teacher", "reason": "for the\u0000 router guide"}
    granted = await api.client.post("/v1/admin/badges/grant", json=grant)
    assert granted.status_code == 422 and fields(granted) == ["body.reason"], granted.text

    adjust = await api.client.post("/v1/users/anna/adjust", json={"points": 5, "reason": "thanks\u0000"})
    assert adjust.status_code == 422 and fields(adjust) == ["body.reason"], adjust.text
    assert await api.reputation("anna") == 10

    codes = await api.client.post("/v1/admin/perks/beta-5g-router/codes", json={"codes": ["OK-1", "BAD\u0000"]})
    assert codes.status_code == 422, codes.text
    assert codes.json()["error"] == f"the request is invalid: body.codes: {NUL_MESSAGE} (item 1)"
    perks = (await api.client.get("/v1/perks")).json()["perks"]
    assert next(p for p in perks if p["id"] == "beta-5g-router")["codes_left"] == 0

    audit = (await api.client.get("/v1/audit")).json()["entries"]
    assert [entry["action"] for entry in audit] == ["ruleset.published"]  # the start-up's, and no other
