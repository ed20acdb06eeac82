"""Reads encoded once per change: a board page, around-me, a page of users, a profile and the flair are sent from
bytes kept per process, and are still exactly the answers built from the models, changing with every event, every
badge granted by hand and every suspension; boards carry an ETag and answer 304."""

from datetime import UTC, datetime, timedelta
from typing import Any

from rewards.leaderboards import service as leaderboards
from rewards.users import service as users
from rewards.users.schemas import UsersPageOut
from tests.conftest import Api, make_settings, open_api
from tests.factories import event
from tests.test_leaderboards import T0, post_and_apply, votes


async def grant(api: Api, user_id: str, badge_id: str = "student") -> None:
    body = {"user_id": user_id, "badge_id": badge_id, "post": "q-old", "reason": "migrated from the old forum"}
    response = await api.client.post("/v1/admin/badges/grant", json=body)
    assert response.status_code == 201, response.text


async def built_board(api: Api, **params: Any) -> dict[str, Any]:
    """The page as the models give it, without the kept bytes."""
    async with api.runtime.sessionmaker() as session:
        page = await leaderboards.board_page(
            api.runtime, session, "reputation", params.get("period", "all-time"), None, 50, 0, datetime.now(UTC)
        )
    return page.model_dump(mode="json")


async def test_board_pages_are_the_models_answer_with_an_etag_and_change_with_events_badges_and_suspensions(
    postgres_database_url: str, redis_url: str
) -> None:
    async with open_api(make_settings(postgres_database_url, redis_url=redis_url)) as api:
        await post_and_apply(api, *votes("ann", 3), *votes("bob", 2), *votes("cid", 2, at=T0 + timedelta(hours=2)))
        assert await leaderboards.heal(api.runtime, datetime.now(UTC)) == 1
        first = await api.client.get("/v1/leaderboards/reputation")
        assert first.status_code == 200 and first.json()["served_from"] == "redis"
        assert first.json() == await built_board(api)
        etag = first.headers["etag"]
        again = await api.client.get("/v1/leaderboards/reputation")
        assert again.content == first.content and again.headers["etag"] == etag
        unchanged = await api.client.get("/v1/leaderboards/reputation", headers={"If-None-Match": etag})
        assert unchanged.status_code == 304 and unchanged.headers["etag"] == etag and unchanged.content == b""

        # A badge granted by hand changes no event seq, yet the page shows it at once.
        await grant(api, "bob")
        granted = await api.client.get("/v1/leaderboards/reputation", headers={"If-None-Match": etag})
        assert granted.status_code == 200 and granted.headers["etag"] != etag
        assert granted.json() == await built_board(api)
        bob = next(entry for entry in granted.json()["entries"] if entry["user_id"] == "bob")
        assert bob["badges"]["top"][0]["id"] == "student"

        # An event moves the board; a suspension hides a member; around-me follows both.
        await post_and_apply(api, *votes("dan", 4), event("user.suspended", {"actor": "m", "user": "bob"}, at=T0))
        moved = (await api.client.get("/v1/leaderboards/reputation")).json()
        assert [(e["rank"], e["user_id"], e["score"]) for e in moved["entries"]] == [
            (1, "dan", 40),
            (2, "ann", 30),
            (3, "cid", 20),
        ]
        assert moved == await built_board(api)
        around = await api.client.get("/v1/leaderboards/reputation/around/cid", params={"radius": 1})
        assert [e["user_id"] for e in around.json()["entries"]] == ["ann", "cid"] and "etag" in around.headers
        assert (await api.client.get("/v1/leaderboards/reputation/around/bob")).status_code == 404


async def test_users_profiles_and_flair_are_the_models_answer_and_follow_every_change(api: Api) -> None:
    await api.post_events(*votes("ann", 3), *votes("bob", 1))
    page = await api.client.get("/v1/users", params={"ids": "bob,nobody,ann"})
    async with api.runtime.sessionmaker() as session:
        ranks = api.runtime.ruleset.spec.ranks
        expected = UsersPageOut(
            users=[await users.profile(session, u, ranks, api.runtime.ruleset) for u in ("bob", "ann")],
            missing=["nobody"],
        )
    assert page.content == expected.model_dump_json().encode()
    profile = await api.client.get("/v1/users/ann")
    assert profile.content == expected.users[1].model_dump_json().encode()
    assert (await api.client.get("/v1/users/ann")).content == profile.content

    await grant(api, "ann")
    regranted = (await api.client.get("/v1/users/ann")).json()
    assert "student" in [badge["id"] for badge in regranted["badges"]["top"]]
    again = await api.client.get("/v1/users", params={"ids": "bob,nobody,ann"})
    assert again.headers["etag"] != page.headers["etag"]
    assert again.json()["users"][1] == regranted

    flair = await api.client.get("/v1/users/ann/flair.svg")
    assert flair.status_code == 200 and "ann: 30 reputation" in flair.text
    cached = await api.client.get("/v1/users/ann/flair.svg", headers={"If-None-Match": flair.headers["etag"]})
    assert cached.status_code == 304
    await api.post_events(*votes("ann", 4))  # a fourth fan: 40
    redrawn = await api.client.get("/v1/users/ann/flair.svg", headers={"If-None-Match": flair.headers["etag"]})
    assert redrawn.status_code == 200 and "ann: 40 reputation" in redrawn.text
