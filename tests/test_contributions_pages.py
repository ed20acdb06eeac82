"""The contributions pages over HTTP, on SQLite and PostgreSQL: an expert reports on /me/contributions, a manager
decides in /admin/contributions; the forms' tokens, who may see what, and refusals worded for the reader."""

from collections.abc import AsyncIterator

import pytest

from tests.test_console_ops import as_manager, audit_actions, text_of
from tests.test_web import Web, open_web, web_settings


@pytest.fixture
async def web(database_url: str) -> AsyncIterator[Web]:
    async with open_web(web_settings(database_url)) as opened:
        yield opened


async def report_as(web: Web, user: str, **fields: str) -> str:
    await web.sign_in(user)
    token = await web.csrf_token("/me/contributions")
    form = {"kind": "workshop", "title": "Ran the router workshop in Warsaw", "link": "https://example.com/w", **fields}
    response = await web.browser.post("/me/contributions", data={**form, "csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/me/contributions?done=reported"
    listed = await web.forum.get("/v1/contributions", params={"user_id": user})
    return str(listed.json()["contributions"][0]["id"])


async def test_an_expert_reports_a_manager_approves_and_the_expert_sees_it(web: Web) -> None:
    number = await report_as(web, "piotr")
    mine = text_of(await web.browser.get("/me/contributions?done=reported"))
    assert "Reported. A manager will approve or deny it." in mine
    assert "Ran the router workshop in Warsaw Workshop run Waiting for a manager" in mine
    assert "My contributions" in text_of(await web.browser.get("/me"))

    token = await as_manager(web)
    queue = await web.browser.get("/admin/contributions")
    assert "Waiting for a decision (1)" in text_of(queue) and 'href="https://example.com/w"' in queue.text
    decided = await web.browser.post(
        f"/admin/contributions/{number}/decide",
        data={"action": "approve", "comment": "Great turnout", "csrf_token": token},
    )
    assert decided.status_code == 303
    page = text_of(await web.browser.get(decided.headers["location"]))
    assert f"Approved contribution {number} of piotr." in page and "Nothing is waiting." in page
    assert await audit_actions(web, action="contribution.") == ["contribution.approve"]

    await web.sign_in("piotr")
    mine = text_of(await web.browser.get("/me/contributions"))
    assert "Approved" in mine and "Manager's comment: Great turnout" in mine
    assert "+50 workshop: Ran the router workshop in Warsaw" in text_of(await web.browser.get("/me"))

    token = await as_manager(web)
    again = await web.browser.post(
        f"/admin/contributions/{number}/decide", data={"action": "deny", "comment": "oops", "csrf_token": token}
    )
    assert again.status_code == 409
    assert "This contribution was decided already; nothing changed." in text_of(again)


async def test_refusals_keep_the_form_and_say_what_to_change(web: Web) -> None:
    await web.sign_in("piotr")
    token = await web.csrf_token("/me/contributions")
    sent = {"kind": "workshop", "title": "Workshop", "link": "javascript:alert(1)", "csrf_token": token}
    refused = await web.browser.post("/me/contributions", data=sent)
    assert refused.status_code == 422
    assert "A link is a web address starting with https:// or http://." in text_of(refused)
    assert 'value="javascript:alert(1)"' in refused.text and 'href="javascript' not in refused.text
    none = await web.browser.post("/me/contributions", data={**sent, "link": "", "file_name": ""})
    assert "Give a link or the name of a file that shows the contribution." in text_of(none)
    unknown = await web.browser.post("/me/contributions", data={**sent, "kind": "talk", "link": "https://a.example"})
    assert unknown.status_code == 422 and "Choose one of the kinds in the list." in text_of(unknown)
    assert (await web.browser.get("/language/pl")).status_code == 303
    polish = await web.browser.post("/me/contributions", data={**sent, "link": "ftp://x"})
    assert polish.status_code == 422 and "https://" in text_of(polish) and "A link is" not in text_of(polish)
    assert (await web.forum.get("/v1/contributions")).json()["contributions"] == []


async def test_a_denial_needs_a_comment_and_the_expert_reads_it(web: Web) -> None:
    number = await report_as(web, "anna", kind="beta-feedback", title="Beta feedback for the 5G router")
    token = await as_manager(web)
    silent = await web.browser.post(
        f"/admin/contributions/{number}/decide", data={"action": "deny", "comment": "", "csrf_token": token}
    )
    assert silent.status_code == 422
    assert "to deny a contribution, say why" in text_of(silent)
    denied = await web.browser.post(
        f"/admin/contributions/{number}/decide",
        data={"action": "deny", "comment": "The beta ended before this report", "csrf_token": token},
    )
    assert denied.status_code == 303
    await web.sign_in("anna")
    mine = text_of(await web.browser.get("/me/contributions"))
    assert "Denied" in mine and "Manager's comment: The beta ended before this report" in mine


async def test_experts_withdraw_their_own_reports_only_and_only_managers_decide(web: Web) -> None:
    number = await report_as(web, "anna")
    await web.sign_in("piotr")
    token = await web.csrf_token("/me/contributions")
    assert (await web.browser.get("/admin/contributions")).status_code == 403
    forged = await web.browser.post(
        f"/admin/contributions/{number}/decide", data={"action": "approve", "csrf_token": token}
    )
    assert forged.status_code == 403
    not_mine = await web.browser.post(f"/me/contributions/{number}/withdraw", data={"csrf_token": token})
    assert not_mine.status_code == 404 and f"piotr reported no contribution {number}" in text_of(not_mine)

    await web.sign_in("anna")
    token = await web.csrf_token("/me/contributions")
    no_token = await web.browser.post(f"/me/contributions/{number}/withdraw", data={})
    assert no_token.status_code == 403
    withdrawn = await web.browser.post(f"/me/contributions/{number}/withdraw", data={"csrf_token": token})
    assert withdrawn.status_code == 303
    assert "Withdrawn" in text_of(await web.browser.get("/me/contributions"))
    assert (await web.forum.get(f"/v1/contributions/{number}")).json()["status"] == "withdrawn"
