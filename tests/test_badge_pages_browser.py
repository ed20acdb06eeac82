"""The expert's pages in headless Chromium against a real uvicorn, on a 390 px phone and a 1,440 px desktop, in English
and Polish, in Europe/Warsaw: a per-post badge held for two posts is one row with its count and links to the posts;
its name leads to the badge's page (how to earn it, where the viewer stands, who holds it); a claim on /me is
confirmed with the code.

`REWARDS_SCREENSHOTS=1` also saves docs/screenshots/badge-page-{phone,desktop}-{en,pl}.png and
badge-page-claimed-{phone,desktop}.png.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from rewards.config import Settings
from tests.conftest import open_api
from tests.factories import accept, answer, upvote
from tests.test_browser import (
    DESKTOP,
    PHONE,
    Server,
    browser,  # noqa: F401 (a fixture)
    chromium,  # noqa: F401 (a fixture)
    running_server,
    screenshots,  # noqa: F401 (a fixture)
)
from tests.test_web import rules_with_test_perk

FORUM = "https://forum.example.org"
SOURCE = f"discourse:{FORUM}"


def community() -> list[dict[str, object]]:
    """piotr.expert: two answers with 10 upvotes each (Nice Answer twice) and one accepted; ola.k: one nice answer."""
    events: list[dict[str, object]] = []
    for number, (author, post_id) in enumerate([("piotr.expert", "p11"), ("ola.k", "p21"), ("piotr.expert", "p12")]):
        post = answer(post_id, author, f"t{number}")
        events += [upvote(f"voter{n}", post, minutes=number * 60 + n, source=SOURCE) for n in range(10)]
    events.append(accept("jan", answer("p11", "piotr.expert", "t0"), minutes=500, source=SOURCE))
    return events


@pytest.fixture(scope="module")
async def badge_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    folder = tmp_path_factory.mktemp("browser-badges")
    database_url = f"sqlite+aiosqlite:///{folder / 'rewards.db'}"
    rules = rules_with_test_perk(folder)  # a beta perk at 30 reputation: piotr.expert is offered it
    async with open_api(Settings(database_url=database_url, environment="test", rules_path=rules)) as api:
        await api.post_events(*community())
        uploaded = await api.client.post("/v1/admin/perks/router-beta/codes", json={"codes": ["BETA-7731"]})
        assert uploaded.status_code == 200, uploaded.text
        key = api.client.headers["Authorization"]
    async with running_server(folder, database_url, rules) as running:
        async with httpx.AsyncClient(base_url=running.url, headers={"Authorization": key}) as forum:
            profile = {"display_name": "Piotr Ekspert", "time_zone": "Europe/Warsaw"}
            named = await forum.put("/v1/users/piotr.expert/profile", json=profile)
            assert named.status_code == 200, named.text
        yield running


async def _page(chromium_browser: Browser, viewport: ViewportSize, locale: str) -> Page:
    context = await chromium_browser.new_context(
        viewport=viewport,
        device_scale_factor=2 if viewport == PHONE else 1,
        is_mobile=viewport == PHONE,
        locale=locale,
        timezone_id="Europe/Warsaw",
    )
    return await context.new_page()


async def _fits(page: Page, viewport: ViewportSize) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{page.url} is {width}px wide on a {viewport['width']}px screen"


async def _sign_in_as_expert(page: Page, url: str, locale: str) -> None:
    await page.goto(f"{url}/dev/signin?next=/me")
    await page.locator("select#locale").select_option(locale)
    await page.locator("button[value=expert]").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Piotr Ekspert")


CASES = [(PHONE, "phone", "en"), (DESKTOP, "desktop", "en"), (PHONE, "phone", "pl"), (DESKTOP, "desktop", "pl")]


@pytest.mark.parametrize(("viewport", "name", "language"), CASES)
async def test_a_per_post_badge_is_one_row_and_leads_to_the_badge_s_page(
    badge_server: Server,
    browser: Browser,  # noqa: F811 (the fixture imported above)
    screenshots: Path | None,  # noqa: F811
    viewport: ViewportSize,
    name: str,
    language: str,
) -> None:
    polish = language == "pl"
    page = await _page(browser, viewport, "pl-PL" if polish else "en-GB")
    await _sign_in_as_expert(page, badge_server.url, language)
    row = page.locator('#badges li[data-badge="nice-answer"]')
    await expect(row).to_have_count(1)
    await expect(row.get_by_test_id("badge-count")).to_have_text("\u00d72")
    await expect(row.get_by_role("link", name="p12")).to_have_attribute("href", f"{FORUM}/p/12")
    await expect(row.get_by_role("link", name="p11")).to_have_attribute("href", f"{FORUM}/p/11")
    await _fits(page, viewport)

    await row.get_by_role("link", name="Dobra odpowiedź" if polish else "Nice Answer").click()
    assert page.url.endswith("/badges/nice-answer")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dobra odpowiedź" if polish else "Nice Answer")
    await expect(page.get_by_role("heading", name="Jak ją zdobyć" if polish else "How to earn it")).to_be_visible()
    holders = page.get_by_test_id("holders")
    await expect(holders.locator("tbody tr")).to_have_count(2)
    # Newest first by when each member first earned it: ola.k after piotr.expert's first nice answer.
    await expect(holders.locator("tbody tr").first.get_by_role("link", name="ola.k")).to_be_visible()
    piotr = holders.locator("tbody tr").nth(1)
    await expect(piotr.get_by_role("link", name="Piotr Ekspert")).to_have_attribute("href", "/u/piotr.expert")
    await expect(piotr.locator("td.num")).to_have_text("2")
    since = await piotr.locator("time").inner_text()
    assert "UTC" not in since and "10:09" in since, since  # 09:09 UTC, in Warsaw
    await expect(page.get_by_test_id("viewer-holds")).to_contain_text("2")
    await _fits(page, viewport)
    if screenshots:
        await page.screenshot(path=screenshots / f"badge-page-{name}-{language}.png", full_page=True)

    # A badge within reach: what is still missing, in words.
    await page.goto(f"{badge_server.url}/badges/solver")
    missing = page.get_by_test_id("still-missing")
    await expect(missing).to_contain_text(
        "Jeszcze brakuje: zaakceptowane odpowiedzi: 24" if polish else "Still missing: 24 more accepted answers"
    )
    await _fits(page, viewport)


@pytest.mark.parametrize(("viewport", "name"), [(PHONE, "phone"), (DESKTOP, "desktop")])
async def test_a_claim_on_the_expert_s_page_is_confirmed_with_the_code(
    tmp_path_factory: pytest.TempPathFactory,
    browser: Browser,  # noqa: F811
    screenshots: Path | None,  # noqa: F811
    viewport: ViewportSize,
    name: str,
) -> None:
    # Its own server: a claim changes the data the other tests read.
    folder = tmp_path_factory.mktemp(f"browser-claim-{name}")
    database_url = f"sqlite+aiosqlite:///{folder / 'rewards.db'}"
    rules = rules_with_test_perk(folder)
    async with open_api(Settings(database_url=database_url, environment="test", rules_path=rules)) as api:
        await api.post_events(*community())
        uploaded = await api.client.post("/v1/admin/perks/router-beta/codes", json={"codes": ["BETA-7731"]})
        assert uploaded.status_code == 200, uploaded.text
    async with running_server(folder, database_url, rules) as server:
        page = await _page(browser, viewport, "en-GB")
        await page.goto(f"{server.url}/dev/signin?next=/me")
        await page.locator("button[value=expert]").click()
        await page.get_by_role("button", name="Claim Router beta programme").click()
        outcome = page.get_by_test_id("outcome")
        await expect(outcome).to_be_visible()
        await expect(outcome).to_have_attribute("role", "status")
        await expect(outcome.get_by_role("heading")).to_have_text("You claimed Router beta programme")
        await expect(outcome.get_by_test_id("claimed-code")).to_have_text("BETA-7731")
        assert page.url.endswith("/me#outcome")
        await _fits(page, viewport)
        if screenshots:
            await page.screenshot(path=screenshots / f"badge-page-claimed-{name}.png")
        await page.reload()
        await expect(page.get_by_test_id("outcome")).to_have_count(0)  # said once
