"""A manager's input that would silently break things is refused with what to do instead: a perk or a badge
granted by hand to an id no event has named (a typo would hold a seat nobody sees), and seats set below the
seats held. Through the API and the console alike."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import upvote
from tests.test_web import A9, Web, community, open_web, rules_with_test_perk, web_settings

PERK = "router-beta"  # 30 reputation, 5 seats, claim within 7 days


@pytest.fixture
async def web(database_url: str, tmp_path: Path) -> AsyncIterator[Web]:
    """piotr (35: offered the beta) and anna (10) are members; the forum client holds an admin key."""
    async with open_web(web_settings(database_url, rules_path=rules_with_test_perk(tmp_path))) as opened:
        await community(opened)
        yield opened


async def beta(web: Web) -> dict[str, Any]:
    perks = (await web.forum.get("/v1/perks")).json()["perks"]
    found: dict[str, Any] = next(perk for perk in perks if perk["id"] == PERK)
    return found


async def audit_actions(web: Web) -> list[str]:
    response = await web.forum.get("/v1/audit")
    assert response.status_code == 200, response.text
    return [entry["action"] for entry in response.json()["entries"]]


async def as_manager(web: Web) -> str:
    await web.sign_in("mia", roles=["manager"])
    return await web.csrf_token("/admin/perks")


async def test_a_perk_granted_by_hand_to_an_id_no_event_named_is_refused_naming_it(web: Web) -> None:
    before = await beta(web)
    typo = await web.forum.post(f"/v1/admin/perks/{PERK}/grant", json={"user_id": "piort", "reason": "beta tester"})
    assert typo.status_code == 404, typo.text
    assert typo.json()["error"].startswith("user 'piort' has not appeared in any event yet: check the id")
    assert await beta(web) == before  # no seat taken
    assert "perk.grant" not in await audit_actions(web)
    # A member some event named is granted as before.
    granted = await web.forum.post(f"/v1/admin/perks/{PERK}/grant", json={"user_id": "anna", "reason": "tester"})
    assert granted.status_code == 201 and granted.json()["status"] == "active"


async def test_the_console_refuses_a_perk_for_an_unknown_member_from_both_forms(web: Web) -> None:
    token = await as_manager(web)
    from_perks_page = await web.browser.post(
        f"/admin/perks/{PERK}/decide",
        data={"csrf_token": token, "action": "grant", "user_id": "piort", "reason": "beta tester"},
    )
    assert from_perks_page.status_code == 404
    assert "user &#39;piort&#39; has not appeared in any event yet" in from_perks_page.text
    from_person_page = await web.browser.post(
        "/admin/people/piort/perks/grant", data={"csrf_token": token, "perk_id": PERK, "reason": "beta tester"}
    )
    assert from_person_page.status_code == 404
    assert (await beta(web))["seats_taken"] == 1  # piotr's offer only


async def test_a_badge_granted_by_hand_to_an_id_no_event_named_is_refused_naming_it(web: Web) -> None:
    body = {"user_id": "piort", "badge_id": "solver", "tier": "bronze", "reason": "migrated from the old forum"}
    refused = await web.forum.post("/v1/admin/badges/grant", json=body)
    assert refused.status_code == 404 and refused.json()["error"] == "user 'piort' has not appeared in any event yet"
    assert "badge.grant" not in await audit_actions(web)


async def test_seats_below_the_seats_held_are_refused_saying_how_many_hold_them_and_what_to_do(web: Web) -> None:
    granted = await web.forum.post(f"/v1/admin/perks/{PERK}/grant", json={"user_id": "anna", "reason": "tester"})
    assert granted.status_code == 201  # piotr holds an offer, anna the perk: 2 of 5
    refused = await web.forum.put(f"/v1/admin/perks/{PERK}/seats", json={"seats": 1})
    assert refused.status_code == 409, refused.text
    assert refused.json() == {
        "error": "2 members hold seats of Router beta programme (1 offered, 1 active), more than 1 seats: set at "
        "least 2, or revoke grants first (each frees its seat) and then lower the seats",
        "detail": {"seats_held": 2, "seats": 1},
    }
    after = await beta(web)
    assert (after["seats"], after["seats_taken"]) == (5, 2)
    assert "perk.set_seats" not in await audit_actions(web)
    exactly = await web.forum.put(f"/v1/admin/perks/{PERK}/seats", json={"seats": 2})
    assert exactly.status_code == 200 and exactly.json()["seats"] == 2
    # The console's seats form says the same.
    token = await as_manager(web)
    page = await web.browser.post(f"/admin/perks/{PERK}/seats", data={"csrf_token": token, "seats": "1"})
    assert page.status_code == 409 and "2 members hold seats of Router beta programme" in page.text
    # Revoking first, as the refusal says, lets the seats go down.
    revoked = await web.forum.post(f"/v1/admin/perks/{PERK}/revoke", json={"user_id": "anna", "reason": "ended"})
    assert revoked.status_code == 200
    assert (await web.forum.put(f"/v1/admin/perks/{PERK}/seats", json={"seats": 1})).status_code == 200


async def test_back_to_the_rules_files_seats_is_refused_too_when_more_hold_seats(web: Web) -> None:
    await web.post_events(upvote("zoe", A9, minutes=30))  # a sixth member
    assert (await web.forum.put(f"/v1/admin/perks/{PERK}/seats", json={"seats": 10})).status_code == 200
    for member in ("anna", "v1", "v2", "asker", "zoe"):
        granted = await web.forum.post(f"/v1/admin/perks/{PERK}/grant", json={"user_id": member, "reason": "tester"})
        assert granted.status_code == 201, granted.text
    refused = await web.forum.put(f"/v1/admin/perks/{PERK}/seats", json={"seats": None})
    assert refused.status_code == 409
    assert (
        "6 members hold seats of Router beta programme (1 offered, 5 active), more than the rules file's 5 seats"
        in (refused.json()["error"])
    )
