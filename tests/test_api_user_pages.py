"""The forum frontend's reads: a page of users in one call with ETag/304, and the embeddable SVG flair."""

import xml.etree.ElementTree as ET

from tests.conftest import Api
from tests.factories import answer, upvote

A = answer("a1", "expert", "q1")


async def test_a_page_of_users_in_one_call_in_the_order_asked(api: Api) -> None:
    await api.post_events(upvote("v1", A), upvote("v2", answer("a2", "rival", "q1")))
    response = await api.client.get("/v1/users", params={"ids": "rival,nobody,expert,v1,expert"})
    assert response.status_code == 200
    body = response.json()
    assert [(u["user_id"], u["reputation"]) for u in body["users"]] == [("rival", 10), ("expert", 10), ("v1", 0)]
    assert body["missing"] == ["nobody"]
    assert response.headers["cache-control"] == "private, max-age=10"


async def test_etag_answers_304_until_one_of_the_users_changes(api: Api) -> None:
    await api.post_events(upvote("v1", A))
    first = await api.client.get("/v1/users", params={"ids": "expert,v1"})
    etag = first.headers["etag"]
    again = await api.client.get("/v1/users", params={"ids": "expert,v1"}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    await api.post_events(upvote("v9", answer("a9", "someone-else", "q1")))  # neither user changes
    assert (
        await api.client.get("/v1/users", params={"ids": "expert,v1"}, headers={"If-None-Match": etag})
    ).status_code == 304
    await api.post_events(upvote("v2", A))  # expert changes
    changed = await api.client.get("/v1/users", params={"ids": "expert,v1"}, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["users"][0]["reputation"] == 20
    other_page = await api.client.get("/v1/users", params={"ids": "v1,expert"}, headers={"If-None-Match": etag})
    assert other_page.status_code == 200  # another page (order) has its own validator


async def test_the_page_size_is_limited_with_a_clear_message(api: Api) -> None:
    too_many = ",".join(f"u{i}" for i in range(101))
    response = await api.client.get("/v1/users", params={"ids": too_many})
    assert response.status_code == 422 and "at most 100" in response.json()["error"]
    assert (await api.client.get("/v1/users", params={"ids": " , "})).status_code == 422
    assert (await api.client.get("/v1/users")).status_code == 422


async def test_flair_is_a_public_cacheable_svg(api: Api) -> None:
    author = "<b>&\"o'neil"
    # five upvotes a day, under the daily cap: 1,200 reputation
    await api.post_events(*(upvote(f"v{i}", answer(f"a{i}", author, "q1"), minutes=i * 288) for i in range(120)))
    response = await api.client.get(f"/v1/users/{author}/flair.svg", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "public, max-age=300"
    svg = ET.fromstring(response.text)  # noqa: S314 (our own output) well-formed XML, the id escaped, not injected
    texts = [node.text for node in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == [author, "1,200 · Trusted Helper"]
    assert "<b>" not in response.text
    not_modified = await api.client.get(
        f"/v1/users/{author}/flair.svg", headers={"If-None-Match": response.headers["etag"]}
    )
    assert not_modified.status_code == 304
    unknown = await api.client.get("/v1/users/nobody/flair.svg")  # a newcomer's flair: no broken image
    assert unknown.status_code == 200 and ">new member<" in unknown.text
