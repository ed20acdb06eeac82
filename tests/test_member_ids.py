"""Every member id intake accepts can be reached at every per-member route, slashes and control characters
included; every member has a rank, below zero too; a flair is well-formed XML whatever the id holds."""

import xml.etree.ElementTree as ElementTree
from urllib.parse import quote

from rewards.engine.ranks import standing
from tests.conftest import Api
from tests.engine_harness import Community
from tests.factories import answer, downvote, upvote

TEAM_ALICE = "team/alice"
SVG = "{http://www.w3.org/2000/svg}"


def parse_svg(text: str) -> ElementTree.Element:
    return ElementTree.fromstring(text)  # noqa: S314 (our own image, parsed to prove it is well-formed)


async def test_a_member_id_with_a_slash_is_reachable_at_every_per_member_route(api: Api) -> None:
    a1 = answer("a1", TEAM_ALICE, "q1")
    await api.post_events(upvote("bob", a1), upvote("carol", a1, minutes=1))
    profile = await api.client.get(f"/v1/users/{TEAM_ALICE}")
    assert profile.status_code == 200, profile.text
    assert (profile.json()["user_id"], profile.json()["reputation"]) == (TEAM_ALICE, 20)
    encoded = await api.client.get(f"/v1/users/{quote(TEAM_ALICE, safe='')}")  # team%2Falice
    assert encoded.status_code == 200 and encoded.json()["user_id"] == TEAM_ALICE
    history = await api.client.get(f"/v1/users/{TEAM_ALICE}/history")
    assert history.status_code == 200, history.text
    assert [entry["user_id"] for entry in history.json()["entries"]] == [TEAM_ALICE, TEAM_ALICE]
    perks = await api.client.get(f"/v1/users/{TEAM_ALICE}/perks")
    assert perks.status_code == 200 and perks.json()["user_id"] == TEAM_ALICE
    badges = await api.client.get(f"/v1/users/{TEAM_ALICE}/badges")
    assert badges.status_code == 200 and badges.json()["user_id"] == TEAM_ALICE
    claim = await api.client.post(f"/v1/users/{TEAM_ALICE}/perks/beta-5g-router/claim")
    assert claim.status_code == 409 and "no open offer" in claim.json()["error"]  # the route, not a 404
    flair = await api.client.get(f"/v1/users/{TEAM_ALICE}/flair.svg")
    assert flair.status_code == 200
    assert parse_svg(flair.text).findtext(f"{SVG}title") == f"{TEAM_ALICE}: 20 reputation, Newcomer"
    around = await api.client.get(f"/v1/leaderboards/reputation/around/{TEAM_ALICE}")
    assert around.status_code == 200, around.text
    assert [entry["user_id"] for entry in around.json()["entries"]] == [TEAM_ALICE]
    adjusted = await api.client.post(f"/v1/users/{TEAM_ALICE}/adjust", json={"points": 5, "reason": "workshop host"})
    assert adjusted.status_code == 201 and adjusted.json()["reputation"] == 25


async def test_sub_resources_still_route_for_plain_ids_and_an_unknown_id_is_a_404_naming_it(api: Api) -> None:
    await api.post_events(upvote("bob", answer("a1", "alice", "q1")))
    perks = await api.client.get("/v1/users/alice/perks")
    assert perks.status_code == 200 and perks.json()["user_id"] == "alice"  # not the profile of "alice/perks"
    badges = await api.client.get("/v1/users/alice/badges")
    assert badges.status_code == 200 and badges.json()["user_id"] == "alice"
    history = await api.client.get("/v1/users/alice/history")
    assert history.status_code == 200 and history.json()["entries"][0]["user_id"] == "alice"
    unknown = await api.client.get("/v1/users/team/bob")
    assert unknown.status_code == 404 and "'team/bob'" in unknown.json()["error"]


async def test_a_member_below_zero_reputation_holds_the_first_rank(api: Api) -> None:
    a1 = answer("a1", "grumpy", "q1")
    await api.post_events(downvote("bob", a1), downvote("carol", a1, minutes=1))
    profile = (await api.client.get("/v1/users/grumpy")).json()
    assert profile["reputation"] == -4
    assert profile["rank"] == {"id": "newcomer", "title": "Newcomer", "reputation": 0, "renewal": None}
    assert profile["next_rank"]["title"] == "Contributor" and profile["next_rank"]["reputation_needed"] == 54
    page = (await api.client.get("/v1/users", params={"ids": "grumpy"})).json()
    assert page["users"][0]["rank"]["title"] == "Newcomer"
    flair = (await api.client.get("/v1/users/grumpy/flair.svg")).text
    assert parse_svg(flair).findtext(f"{SVG}title") == "grumpy: -4 reputation, Newcomer"


def test_the_first_rank_is_everyones_however_low_and_losing_points_below_zero_is_no_rank_change() -> None:
    ranks = Community().ruleset.spec.ranks
    for reputation in (-1, -2_000_000, 0):
        assert standing(ranks, reputation).rank == ranks[0]
    community = Community()
    a1 = answer("a1", "grumpy", "q1")
    community.send(upvote("bob", a1), *(downvote(f"d{n}", a1, minutes=n) for n in range(8)))
    assert community.rep("grumpy") == -6
    community.send(upvote("carol", a1, minutes=10))
    assert community.rep("grumpy") == 4
    assert community.rank_changes() == []  # Newcomer throughout: below zero and back


async def test_a_flair_is_well_formed_xml_whatever_characters_the_id_holds(api: Api) -> None:
    odd = "ctl\x01\x08\x0b\x0c\x1f\x7f<&>\"'\nend"
    await api.post_events(upvote("bob", answer("a1", odd, "q1")))
    assert (await api.client.get(f"/v1/users/{quote(odd, safe='')}")).json()["user_id"] == odd
    flair = await api.client.get(f"/v1/users/{quote(odd, safe='')}/flair.svg")
    assert flair.status_code == 200
    image = parse_svg(flair.text)
    shown = "ctl\ufffd\ufffd\ufffd\ufffd\ufffd\x7f<&>\"'"
    assert image.findtext(f"{SVG}title") == f"{shown}\nend: 10 reputation, Newcomer"
    assert next(text.text for text in image.iter(f"{SVG}text")) == f"{shown}\nend"
