"""The managers' console in headless Chromium, on a 390 px phone and a 1,440 px desktop, in English and Polish, in
Europe/Warsaw: the demo manager lands on /admin; on a desktop the pages use a wide column; no table breaks a word or an
id ("Mem/ber", "114/2"): a table wider than a phone scrolls inside its box, never the page.

`REWARDS_SCREENSHOTS=1` also saves docs/screenshots/console-<page>-<phone|desktop>-<en|pl>.png.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from rewards.config import Settings
from tests.conftest import open_api
from tests.test_badge_pages_browser import community
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

PAGES = {
    "home": "/admin",
    "people": "/admin/people?q=o",
    "person": "/admin/people/piotr.expert",
    "perks": "/admin/perks",
    "contributions": "/admin/contributions",
    "audit": "/admin/audit",
    "rules": "/admin/rules",
}
# Text of a cell or heading that wraps onto two lines inside a word (a line break between two letters or digits).
BROKEN_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll('.console th, .console td')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent;
      let previousTop = null;
      for (let i = 0; i < text.length; i++) {
        const range = document.createRange();
        range.setStart(node, i); range.setEnd(node, i + 1);
        const rect = range.getBoundingClientRect();
        if (rect.width === 0) continue;
        if (previousTop !== null && rect.top > previousTop + 2 && /\\w/.test(text[i]) && /\\w/.test(text[i - 1] || ''))
          broken.push(text.trim());
        previousTop = rect.top;
      }
    }
  }
  return broken;
}"""


@pytest.fixture(scope="module")
async def console_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    folder = tmp_path_factory.mktemp("browser-console")
    database_url = f"sqlite+aiosqlite:///{folder / 'rewards.db'}"
    rules = rules_with_test_perk(folder)
    async with open_api(Settings(database_url=database_url, environment="test", rules_path=rules)) as api:
        await api.post_events(*community())
        # A manager's action, so that the audit log has a row with an id, a time and a reason.
        granted = await api.client.post(
            "/v1/admin/badges/grant",
            json={"user_id": "ola.k", "badge_id": "solver", "reason": "Answered the router thread at the meetup"},
        )
        assert granted.status_code == 201, granted.text
        profile = {"display_name": "Piotr Ekspert", "time_zone": "Europe/Warsaw"}
        named = await api.client.put("/v1/users/piotr.expert/profile", json=profile)
        assert named.status_code == 200, named.text
    async with running_server(folder, database_url, rules) as running:
        yield running


async def _manager(chromium_browser: Browser, viewport: ViewportSize, url: str, language: str) -> Page:
    context = await chromium_browser.new_context(
        viewport=viewport,
        device_scale_factor=2 if viewport == PHONE else 1,
        is_mobile=viewport == PHONE,
        locale="pl-PL" if language == "pl" else "en-GB",
        timezone_id="Europe/Warsaw",
    )
    page = await context.new_page()
    await page.goto(f"{url}/dev/signin")
    await page.locator("select#locale").select_option(language)
    await page.locator("button[value=manager]").click()
    assert page.url == f"{url}/admin", page.url  # the demo manager lands on the console, not an empty /me
    return page


CASES = [(PHONE, "phone", "en"), (DESKTOP, "desktop", "en"), (PHONE, "phone", "pl"), (DESKTOP, "desktop", "pl")]


@pytest.mark.parametrize(("viewport", "name", "language"), CASES)
async def test_every_console_page_fits_and_keeps_words_whole(
    console_server: Server,
    browser: Browser,  # noqa: F811 (the fixture imported above)
    screenshots: Path | None,  # noqa: F811
    viewport: ViewportSize,
    name: str,
    language: str,
) -> None:
    page = await _manager(browser, viewport, console_server.url, language)
    for page_name, path in PAGES.items():
        response = await page.goto(f"{console_server.url}{path}")
        assert response is not None and response.status == 200, path
        await expect(page.locator("main > .console")).to_be_visible()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{path} is {width}px wide on a {viewport['width']}px screen"
        assert await page.evaluate(BROKEN_WORDS) == [], path
        main = await page.locator("main").bounding_box()
        assert main is not None
        if viewport == DESKTOP:
            assert main["width"] >= 1200, (path, main["width"])  # the wide column, not ~740 px
        if screenshots:
            await page.screenshot(path=screenshots / f"console-{page_name}-{name}-{language}.png", full_page=True)


async def test_the_member_view_speaks_of_the_member_not_you(
    console_server: Server,
    browser: Browser,  # noqa: F811
) -> None:
    page = await _manager(browser, DESKTOP, console_server.url, "en")
    await page.goto(f"{console_server.url}/admin/people/piotr.expert")
    perks = page.locator("#perks")
    await expect(perks.get_by_role("heading", name="Offered, awaiting the member's answer")).to_be_visible()
    await expect(perks).not_to_contain_text("Offered to you")
    await expect(perks.get_by_role("button")).to_have_count(0)
    # The badges link to their pages, a per-post one as one row with its count.
    nice = page.locator('#badges li[data-badge="nice-answer"]')
    await expect(nice.get_by_test_id("badge-count")).to_have_text("\u00d72")
    await nice.get_by_role("link", name="Nice Answer").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Nice Answer")
