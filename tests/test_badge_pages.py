"""A badge's page and its holders over HTTP: who holds it (names beside ids, tier, since when, newest first, a page at
a time), how to earn it and what the viewer still misses; the member pages show a per-post badge held for several
posts as one row with its count and links to the posts, and every badge name leads to its page."""

import re
from typing import Any

from tests.factories import accept, answer, upvote
from tests.test_web import (
    Web,
    community,
    web,  # noqa: F401 (a fixture)
)

FORUM = "https://forum.example.org"
SOURCE = f"discourse:{FORUM}"


def _nice_answers(author: str, *post_ids: str) -> list[dict[str, Any]]:
    """Ten upvotes on each of `post_ids` (Nice Answer is an answer with a score of 10)."""
    events: list[dict[str, Any]] = []
    for number, post_id in enumerate(post_ids):
        post = answer(post_id, author, f"t{number}")
        events += [upvote(f"voter{vote}", post, minutes=number * 20 + vote, source=SOURCE) for vote in range(10)]
    return events


async def _holders(opened: Web, badge_id: str, **params: Any) -> dict[str, Any]:
    response = await opened.forum.get(f"/v1/badges/{badge_id}/holders", params=params)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_the_api_lists_holders_newest_first_with_names_a_page_at_a_time(web: Web) -> None:  # noqa: F811
    # Three members earn Solver (bronze) one after the other; piotr has a name on the forum.
    await web.post_events(
        *[accept("asker", answer(f"a{n}", who, f"q{n}"), minutes=n) for n, who in enumerate(["piotr", "anna", "ola"])]
    )
    named = await web.forum.put("/v1/users/piotr/profile", json={"display_name": "Piotr Ekspert"})
    assert named.status_code == 200, named.text

    first = await _holders(web, "solver", limit=2)
    assert first["badge"]["id"] == "solver" and first["badge"]["criterion"] == "Accepted answers"
    assert [tier["holders"] for tier in first["badge"]["tiers"]] == [3, 0, 0]
    assert [(h["user_id"], h["display_name"], h["tier"]) for h in first["holders"]] == [
        ("ola", "ola", "bronze"),
        ("anna", "anna", "bronze"),
    ]
    assert first["holders"][0]["since"] > first["holders"][1]["since"]
    assert first["next_cursor"]
    second = await _holders(web, "solver", limit=2, cursor=first["next_cursor"])
    assert [(h["user_id"], h["display_name"]) for h in second["holders"]] == [("piotr", "Piotr Ekspert")]
    assert second["next_cursor"] is None
    assert (await _holders(web, "solver", tier="gold"))["holders"] == []


async def test_the_api_refuses_unknown_badges_tiers_and_cursors_with_a_reason(web: Web) -> None:  # noqa: F811
    unknown = await web.forum.get("/v1/badges/no-such-badge/holders")
    assert unknown.status_code == 404 and "no badge 'no-such-badge'" in unknown.json()["error"]
    tier = await web.forum.get("/v1/badges/solver/holders", params={"tier": "platinum"})
    assert tier.status_code == 422 and "bronze, silver, gold" in tier.json()["error"]
    for cursor in ["not-a-cursor", "W10", "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwiXHUwMDAwIiwiYnJvbnplIl0"]:
        bad = await web.forum.get("/v1/badges/solver/holders", params={"cursor": cursor})
        assert bad.status_code == 422 and "next_cursor" in bad.json()["error"], (cursor, bad.text)
    limit = await web.forum.get("/v1/badges/solver/holders", params={"limit": 0})
    assert limit.status_code == 422
    anonymous = await web.browser.get("/v1/badges/solver/holders")
    assert anonymous.status_code == 401


async def test_the_badge_page_says_how_to_earn_it_who_holds_it_and_what_the_viewer_still_misses(web: Web) -> None:  # noqa: F811
    await community(web)  # piotr: one accepted answer (Solver bronze)
    page = await web.browser.get("/badges/solver")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Solver</h1>" in text and "Answers accepted as the solution." in text
    assert "Counted: Accepted answers." in text
    assert 'href="/u/piotr"' in text and "Sign in to see how far you are." in text
    assert re.search(r"<time[^>]*>[^<]+</time>", text)

    await web.sign_in("piotr")
    mine = (await web.browser.get("/badges/solver")).text
    assert "You hold it: bronze since" in mine
    assert "Still missing: 24 more accepted answers" in mine  # silver at 25
    await web.sign_in("anna")
    theirs = (await web.browser.get("/badges/solver")).text
    assert "Still missing: 1 more accepted answers" in theirs  # bronze at 1

    await web.browser.get("/language/pl")
    polish = await web.browser.get("/badges/solver")
    assert "Jak ją zdobyć" in polish.text and "Rozwiązujący" in polish.text

    await web.browser.get("/language/en")
    missing = await web.browser.get("/badges/no-such-badge", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "No such badge" in missing.text
    bad = await web.browser.get("/badges/solver?cursor=nonsense", headers={"Accept": "text/html"})
    assert bad.status_code == 422 and "next_cursor" in bad.text


async def test_a_per_post_badge_held_for_several_posts_is_one_row_with_its_count_and_the_posts(web: Web) -> None:  # noqa: F811
    await web.post_events(*_nice_answers("piotr", "p11", "p12", "p13"))
    profile = (await web.browser.get("/u/piotr")).text
    rows = re.findall(r'<li class="badge tier-bronze" data-badge="nice-answer">', profile)
    assert len(rows) == 1, profile
    row = profile.split('data-badge="nice-answer">', 1)[1].split("</li>", 1)[0]
    assert "\u00d73" in row and 'href="/badges/nice-answer"' in row
    assert [f"{FORUM}/p/{n}" for n in (13, 12, 11)] == re.findall(r'href="(https://[^"]+)"', row)
    holders = await _holders(web, "nice-answer")
    assert [(h["user_id"], h["posts"]) for h in holders["holders"]] == [("piotr", 3)]
    page = (await web.browser.get("/badges/nice-answer")).text
    assert "Counted for each answer on its own: Score." in page and '<th scope="col" class="num">Posts</th>' in page
