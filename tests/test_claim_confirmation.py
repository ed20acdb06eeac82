"""After a claim or a decline on /me (POST-redirect-GET), the expert's page says once what they got (the code, the
seat's date and place) or why it did not work; a manager's view of a member words the perks about the member, not
"you"."""

import re

from tests.test_web import (
    Web,
    community,
    perk_web,  # noqa: F401 (a fixture)
    rules_with_test_perk,  # noqa: F401 (used by the fixture)
)


def _outcome(page: str) -> str:
    found = re.search(r'<section class="card outcome[^"]*" id="outcome"[^>]*>(.*?)</section>', page, re.S)
    return "" if found is None else found.group(1)


async def test_a_claim_is_confirmed_once_with_the_code(perk_web: Web) -> None:  # noqa: F811
    web = perk_web
    await community(web)
    uploaded = await web.forum.post("/v1/admin/perks/router-beta/codes", json={"codes": ["BETA-7731"]})
    assert uploaded.status_code == 200, uploaded.text
    await web.sign_in("piotr")
    assert _outcome((await web.browser.get("/me")).text) == ""

    claimed = await web.browser.post("/me/perks/router-beta/claim", data={"csrf_token": await web.csrf_token()})
    assert claimed.status_code == 303 and claimed.headers["location"] == "/me#outcome"
    said = _outcome((await web.browser.get("/me")).text)
    assert "You claimed Router beta programme" in said
    assert 'data-testid="claimed-code">BETA-7731</code>' in said
    assert "https://beta.example.test/router" in said
    assert _outcome((await web.browser.get("/me")).text) == ""  # a reload does not say it again


async def test_a_claim_that_does_not_work_says_why_on_the_page(perk_web: Web) -> None:  # noqa: F811
    web = perk_web
    await community(web)
    await web.sign_in("anna")  # 10 reputation: nothing is offered to her
    refused = await web.browser.post("/me/perks/router-beta/claim", data={"csrf_token": await web.csrf_token()})
    assert refused.status_code == 303 and refused.headers["location"] == "/me#outcome"
    page = (await web.browser.get("/me")).text
    said = _outcome(page)
    assert 'role="alert"' in page and "Router beta programme was not claimed" in said
    assert "The perk was not changed: there is no open offer of Router beta programme for this user" in said

    # A flash is the member's own: another member's browser with the cookie sees nothing.
    await web.sign_in("piotr")
    assert _outcome((await web.browser.get("/me")).text) == ""


async def test_a_decline_is_confirmed_and_said_in_polish_too(perk_web: Web) -> None:  # noqa: F811
    web = perk_web
    await community(web)
    await web.sign_in("piotr", locale="pl")
    declined = await web.browser.post("/me/perks/router-beta/decline", data={"csrf_token": await web.csrf_token()})
    assert declined.status_code == 303
    said = _outcome((await web.browser.get("/me")).text)
    assert "Odrzucono: Router beta programme" in said


async def test_a_manager_reads_a_member_s_perks_about_the_member(perk_web: Web) -> None:  # noqa: F811
    web = perk_web
    await community(web)  # piotr is offered the perk
    await web.sign_in("mia", roles=["manager"])
    person = (await web.browser.get("/admin/people/piotr")).text
    assert "Offered to you" not in person and "Offered, awaiting the member's answer" in person
    assert "To be claimed or declined by" in person and "Claim or decline by" not in person
    await web.sign_in("piotr")
    assert "Offered to you" in (await web.browser.get("/me")).text
