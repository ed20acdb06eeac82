"""The rules file's texts and the times, as a member in Warsaw reads them, in headless Chromium against a real
uvicorn: badge, rank, perk and board names, perk descriptions and ledger reasons in Polish (from the shipped rules
file's `pl:` texts), times in the member's zone in their language's format, a workshop declared `09:00+01:00` shown
at 09:00 with the zone's name; on a 390 px phone and a 1,440 px desktop, in English and Polish.

`REWARDS_SCREENSHOTS=1` also saves docs/screenshots/me-{en,pl}-warsaw-{phone,desktop}.png.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from rewards import PROJECT_ROOT
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

RULES = PROJECT_ROOT / "rules" / "default.yaml"


@pytest.fixture(scope="module")
async def warsaw_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    """piotr.expert (three upvotes, an accepted answer, a seat at the Warsaw workshop) lives in Warsaw, as the
    forum's SSO `zoneinfo` says; the server's own default zone is New York, which only readers without one see."""
    folder = tmp_path_factory.mktemp("browser-warsaw")
    database_url = f"sqlite+aiosqlite:///{folder / 'rewards.db'}"
    first = answer("p11", "piotr.expert", "t1")
    async with open_api(Settings(database_url=database_url, environment="test", rules_path=RULES)) as api:
        await api.post_events(
            upvote("jan", first, minutes=1),
            upvote("ewa", first, minutes=2),
            upvote("kasia", first, minutes=3),
            accept("jan", first, minutes=4),
        )
        key = api.client.headers["Authorization"]
    async with running_server(folder, database_url, RULES, REWARDS_DEFAULT_TIME_ZONE="America/New_York") as running:
        async with httpx.AsyncClient(base_url=running.url, headers={"Authorization": key}) as forum:
            response = await forum.put(
                "/v1/users/piotr.expert/profile", json={"display_name": "Piotr", "time_zone": "Europe/Warsaw"}
            )
            assert response.status_code == 200, response.text
            response = await forum.post(
                "/v1/admin/perks/expert-workshop/grant", json={"user_id": "piotr.expert", "reason": "speaker"}
            )
            assert response.status_code == 201, response.text
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


# What each language shows (English as the pages have it, with CLDR's `en` formats). The ledger's times: the
# events were at 09:0x UTC on 2 March 2026, 10:0x in Warsaw; CLDR has no English short name for Warsaw's zone.
SHOWN = {
    "pl-PL": {
        "rank": "Nowicjusz",
        "reason": "+15 odpowiedź p11 zaakceptowana",
        "upvote": "+10 głos w górę za wpis p11",
        "accepted_at": "2 mar 2026, 10:04 CET",
        "badge": "Rozwiązujący",
        "perk": "Warsztaty ekspertów w Warszawie",
        "when": "12 mar 2027, 09:00 czas środkowoeuropejski standardowy",
        "place": "Warszawa, ul. Marszałkowska 10, sala 4.2",
        "board": "Reputacja",
    },
    "en-GB": {
        "rank": "Newcomer",
        "reason": "+15 answer p11 accepted",
        "upvote": "+10 upvote on answer p11",
        "accepted_at": "Mar 2, 2026, 10:04 AM +0100",
        "badge": "Solver",
        "perk": "Expert workshop in Warsaw",
        "when": "Mar 12, 2027, 9:00 AM Central European Standard Time",
        "place": "Warsaw, ul. Marszałkowska 10, room 4.2",
        "board": "Reputation",
    },
}


@pytest.mark.parametrize("locale", ["pl-PL", "en-GB"])
@pytest.mark.parametrize(("viewport", "name"), [(PHONE, "phone"), (DESKTOP, "desktop")])
async def test_a_member_in_warsaw_reads_the_rules_and_times_in_their_language_and_zone(
    warsaw_server: Server,
    browser: Browser,  # noqa: F811 (the fixture imported above)
    screenshots: Path | None,  # noqa: F811
    viewport: ViewportSize,
    name: str,
    locale: str,
) -> None:
    shown = SHOWN[locale]
    page = await _page(browser, viewport, locale)
    await page.goto(f"{warsaw_server.url}/dev/signin?next=/me")
    await page.locator("button[value=expert]").click()
    await expect(page.locator(".standing .rank")).to_have_text(shown["rank"])
    history = page.locator("ol.history")
    accepted = history.locator("li", has_text=shown["reason"])
    await expect(accepted).to_have_count(1)
    await expect(accepted.locator("time")).to_have_text(shown["accepted_at"])
    await expect(history.locator("li", has_text=shown["upvote"])).to_have_count(3)
    await expect(page.locator("#badges .name").first).to_have_text(shown["badge"])
    perk = page.locator("#perk-expert-workshop")
    await expect(perk.locator("strong")).to_have_text(shown["perk"])
    await expect(perk).to_contain_text(shown["when"])
    await expect(perk).to_contain_text(shown["place"])
    body = await page.locator("main").inner_text()
    assert "UTC" not in body and ":00:00" not in body, body
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"/me is {width}px wide on a {viewport['width']}px screen"
    if screenshots:
        short = locale.split("-")[0]
        await page.screenshot(path=screenshots / f"me-{short}-warsaw-{name}.png", full_page=True)

    await page.goto(f"{warsaw_server.url}/leaderboards?board=reputation&period=all-time")
    await expect(page.get_by_role("heading", level=2)).to_have_text(shown["board"])
    await expect(page.get_by_test_id("board").locator("tbody tr").first).to_contain_text(shown["rank"])
    if screenshots:
        short = locale.split("-")[0]
        await page.screenshot(path=screenshots / f"leaderboards-{short}-warsaw-{name}.png", full_page=True)


async def test_a_reader_without_a_zone_of_their_own_gets_times_in_the_browsers_zone(
    warsaw_server: Server,
    browser: Browser,  # noqa: F811 (the fixture imported above)
) -> None:
    """/static/time-zone.js tells the server the browser's zone (a cookie): the public profile's times are in the
    server's default zone (New York) on the first page, in the browser's (Tokyo) from the next one on."""
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="Asia/Tokyo")
    page = await context.new_page()
    await page.goto(f"{warsaw_server.url}/u/piotr.expert")
    accepted = page.locator("main time").first  # the badge the accepted answer earned, at 09:04 UTC
    await expect(accepted).to_have_text("Mar 2, 2026, 4:04 AM EST")  # in New York
    cookies = {cookie["name"]: cookie["value"] for cookie in await context.cookies()}
    assert cookies.get("rewards_tz") == "Asia/Tokyo"
    await page.reload()
    await expect(accepted).to_have_text("Mar 2, 2026, 6:04 PM +0900")  # and in Tokyo
    await context.close()
