"""Members by name in headless Chromium against a real uvicorn: the leaderboard, a member's public page and their
console page show names and pictures (the id where no name is known, a letter where no picture is), link out to the
forum, and fit a 390 px phone and a 1,440 px desktop, in English and Polish, in a time zone other than UTC.

`REWARDS_SCREENSHOTS=1` also saves docs/screenshots/members-{leaderboard,profile,person}-{phone,desktop}.png.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, ViewportSize, expect

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
FORUM = "https://forum.example.org"
SOURCE = f"discourse:{FORUM}"
LONG_NAME = "Maksymilian Aleksander Ostrowski-Wiśniewski z Podkarpacia"


def _community() -> list[dict[str, object]]:
    """piotr.expert: three upvotes and an accepted answer; ola.k: two upvotes; tomek: one (no profile at all)."""
    first, second, third = (
        answer("p11", "piotr.expert", "t1"),
        answer("p12", "ola.k", "t2"),
        answer("p13", "tomek", "t3"),
    )
    return [
        upvote("jan", first, minutes=1, source=SOURCE),
        upvote("ewa", first, minutes=2, source=SOURCE),
        upvote("kasia", first, minutes=3, source=SOURCE),
        accept("jan", first, minutes=4, source=SOURCE),
        upvote("jan", second, minutes=5, source=SOURCE),
        upvote("ewa", second, minutes=6, source=SOURCE),
        upvote("jan", third, minutes=7, source=SOURCE),
    ]


@pytest.fixture(scope="module")
async def members_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    """A development server whose members have profiles: piotr.expert with a picture (served by the server
    itself: the test has no network) and a forum profile, ola.k with a very long name and no picture."""
    folder = tmp_path_factory.mktemp("browser-members")
    database_url = f"sqlite+aiosqlite:///{folder / 'rewards.db'}"
    async with open_api(Settings(database_url=database_url, environment="test", rules_path=RULES)) as api:
        await api.post_events(*_community())
        key = api.client.headers["Authorization"]
    async with running_server(folder, database_url, RULES) as running:
        async with httpx.AsyncClient(base_url=running.url, headers={"Authorization": key}) as forum:
            piotr = {
                "display_name": "Piotr Ekspert",
                "username": "piotr",
                "avatar_url": f"{running.url}/static/favicon.svg",
                "profile_url": f"{FORUM}/u/piotr",
            }
            for user_id, profile in (("piotr.expert", piotr), ("ola.k", {"display_name": LONG_NAME})):
                response = await forum.put(f"/v1/users/{user_id}/profile", json=profile)
                assert response.status_code == 200, response.text
        yield running


async def _page(chromium_browser: Browser, viewport: ViewportSize, locale: str = "en-GB") -> Page:
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


async def _picture_shown(picture: Locator) -> None:
    await expect(picture).to_be_visible()
    loaded = await picture.evaluate("image => image.complete && image.naturalWidth > 0")
    assert loaded, await picture.get_attribute("src")
    box = await picture.bounding_box()
    assert box is not None and 20 <= box["width"] <= 80 and box["width"] == box["height"]


@pytest.mark.parametrize(("viewport", "name"), [(PHONE, "phone"), (DESKTOP, "desktop")])
async def test_the_leaderboard_shows_names_and_pictures(
    members_server: Server,
    browser: Browser,  # noqa: F811 (the fixture imported above)
    screenshots: Path | None,  # noqa: F811
    viewport: ViewportSize,
    name: str,
) -> None:
    page = await _page(browser, viewport)
    await page.goto(f"{members_server.url}/leaderboards?board=reputation&period=all-time")
    board = page.get_by_test_id("board")
    first = board.locator("tbody tr").first
    await expect(first.get_by_role("link", name="Piotr Ekspert")).to_have_attribute("href", "/u/piotr.expert")
    await _picture_shown(first.locator("img.avatar"))
    # A long name wraps inside its cell; a member without a profile is shown by the id, with its first letter.
    second = board.locator("tbody tr", has=page.locator('[data-member="ola.k"]'))
    await expect(second.get_by_role("link", name=LONG_NAME)).to_be_visible()
    await expect(second.locator(".avatar.initial")).to_have_text("M")
    third = board.locator("tbody tr", has=page.locator('[data-member="tomek"]'))
    await expect(third.get_by_role("link", name="tomek", exact=True)).to_have_attribute("href", "/u/tomek")
    await expect(third.locator(".avatar.initial")).to_have_text("T")
    cell = await second.locator("td").nth(1).bounding_box()
    assert cell is not None and cell["x"] + cell["width"] <= viewport["width"]
    await _fits(page, viewport)
    if screenshots:
        await page.screenshot(path=screenshots / f"members-leaderboard-{name}.png", full_page=True)

    # The member's public page: picture, name, id, and the way back to the forum.
    await first.get_by_role("link", name="Piotr Ekspert").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Piotr Ekspert")
    await expect(page.get_by_test_id("member-id")).to_have_text("piotr.expert")
    await expect(page.get_by_test_id("forum-profile")).to_have_attribute("href", f"{FORUM}/u/piotr")
    await _picture_shown(page.locator(".member-title img.avatar"))
    await _fits(page, viewport)
    if screenshots:
        await page.screenshot(path=screenshots / f"members-profile-{name}.png", full_page=True)


@pytest.mark.parametrize(("viewport", "name", "locale"), [(PHONE, "phone", "pl-PL"), (DESKTOP, "desktop", "en-GB")])
async def test_the_console_finds_a_member_by_name_and_links_their_ledger_to_the_posts(
    members_server: Server,
    browser: Browser,  # noqa: F811 (the fixture imported above)
    screenshots: Path | None,  # noqa: F811
    viewport: ViewportSize,
    name: str,
    locale: str,
) -> None:
    page = await _page(browser, viewport, locale)
    await page.goto(f"{members_server.url}/dev/signin?next=/admin/people")
    await page.locator("button[value=manager]").click()
    polish = locale.startswith("pl")
    await page.get_by_label("Nazwa, login lub identyfikator członka" if polish else "Name, username or user id").fill(
        "EKSPERT"
    )
    await page.get_by_role("button", name="Szukaj" if polish else "Search").click()
    found = page.get_by_role("table")
    await expect(found).to_contain_text("Piotr Ekspert")
    await expect(found.locator(".member-id")).to_have_text("piotr.expert")
    await found.get_by_role("link", name="Piotr Ekspert").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Piotr Ekspert")
    # Every line of the ledger links to its post on the forum (the reasons are in the page's language).
    lines = page.locator("ol.history .reason")
    await expect(lines).to_have_count(4)
    await expect(page.locator(f'ol.history .reason a[href="{FORUM}/p/11"]')).to_have_count(4)
    accepted = "+15 odpowiedź p11 zaakceptowana" if polish else "+15 answer p11 accepted"
    await expect(page.get_by_role("link", name=accepted)).to_be_visible()
    await _picture_shown(page.locator(".member-title img.avatar"))
    await _fits(page, viewport)
    if screenshots:
        await page.screenshot(path=screenshots / f"members-person-{name}.png", full_page=True)
