"""The programme dashboard in headless Chromium against a real uvicorn: on a 390 px phone and a 1,440 px desktop, in
English and Polish, with its charts, its CSV downloads and tables whose words never break inside.

`REWARDS_SCREENSHOTS=1` also saves docs/screenshots/dashboard-{phone,desktop}-{en,pl}.png.
"""

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from rewards import PROJECT_ROOT
from rewards.config import Settings
from tests.conftest import open_api
from tests.factories import event
from tests.test_browser import (
    DESKTOP,
    PHONE,
    Server,
    browser,  # noqa: F401 (a fixture)
    chromium,  # noqa: F401 (a fixture)
    running_server,
    screenshots,  # noqa: F401 (a fixture)
)
from tests.test_dashboard_trends import hand_community

RULES = PROJECT_ROOT / "rules" / "default.yaml"
HEADINGS = {
    "en": ("Support by the community, week by week", "Download as CSV"),
    "pl": ("Wsparcie społeczności tydzień po tygodniu", "Pobierz jako CSV"),
}


@pytest.fixture(scope="module")
async def dashboard_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    """A development server holding the hand-computed community of tests/test_dashboard_trends.py."""
    folder = tmp_path_factory.mktemp("browser-dashboard")
    database_url = f"sqlite+aiosqlite:///{folder / 'rewards.db'}"
    async with open_api(Settings(database_url=database_url, environment="test", rules_path=RULES)) as api:
        await api.post_events(*(event(type_, data, at=when) for type_, data, when in hand_community()))
    async with running_server(folder, database_url, RULES, REWARDS_STAFF_USERS="sam.staff") as running:
        yield running


async def signed_in_manager(chromium_browser: Browser, server: Server, viewport: ViewportSize, locale: str) -> Page:
    context = await chromium_browser.new_context(
        viewport=viewport,
        device_scale_factor=2 if viewport == PHONE else 1,
        is_mobile=viewport == PHONE,
        locale="pl-PL" if locale == "pl" else "en-GB",
        timezone_id="Europe/Warsaw",
        accept_downloads=True,
    )
    page = await context.new_page()
    await page.goto(f"{server.url}/language/{locale}")
    await page.goto(f"{server.url}/dev/signin?next=/admin/dashboard")
    await page.locator("button[name=who][value=manager]").click()
    await page.wait_for_url(f"{server.url}/admin/dashboard")
    return page


async def words_broken_inside(page: Page) -> list[str]:
    """Table cells of the dashboard's figures that could break a word inside, or whose text overflows them."""
    result: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll('table.figures th, table.figures td')].flatMap(cell => {
            const style = getComputedStyle(cell);
            const bad = style.overflowWrap === 'anywhere' || style.overflowWrap === 'break-word'
                || style.wordBreak === 'break-all' || style.wordBreak === 'break-word'
                || cell.scrollWidth > cell.clientWidth + 1;
            if (!bad) return [];
            // A cell may wrap between words: each word must fit on one line of it.
            return [cell.textContent.trim()];
        })"""
    )
    return result


@pytest.mark.parametrize(("viewport", "locale"), [(PHONE, "en"), (PHONE, "pl"), (DESKTOP, "en"), (DESKTOP, "pl")])
async def test_a_manager_reads_the_dashboard_and_downloads_its_numbers(
    dashboard_server: Server,
    browser: Browser,  # noqa: F811
    screenshots: Path | None,  # noqa: F811
    viewport: ViewportSize,
    locale: str,
) -> None:
    page = await signed_in_manager(browser, dashboard_server, viewport, locale)
    # It opens on the log's own last 30 days (the newest event is on 1 May 2026), not on today's.
    await expect(page.locator("#from")).to_have_value("2026-04-02")
    await expect(page.locator("#to")).to_have_value("2026-05-01")
    await page.locator("#from").fill("2026-03-02")
    await page.locator("#to").fill("2026-03-15")
    await page.locator("form[action='/admin/dashboard'] button[type=submit]").click()
    await page.wait_for_url("**/admin/dashboard?from=2026-03-02&to=2026-03-15")

    heading, download_label = HEADINGS[locale]
    await expect(page.get_by_role("heading", name=heading)).to_be_visible()
    shares = page.get_by_test_id("shares-chart")
    await expect(shares).to_be_visible()
    assert await shares.get_attribute("role") == "img"
    assert "2026-03-02" in (await shares.locator("title").first.text_content() or "")
    await expect(page.get_by_test_id("experts-chart")).to_be_visible()
    week = page.get_by_test_id("week-2026-W10")
    await expect(week.locator("td").nth(0)).to_have_text("4")
    await expect(week.locator("td").nth(1)).to_have_text("50%")
    await expect(page.get_by_test_id("cohort-badge-solver-bronze").locator("td").nth(1)).to_have_text(
        "1.5" if locale == "en" else "1,5"
    )
    assert await words_broken_inside(page) == []
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"the page is {width}px wide on a {viewport['width']}px screen"

    async with page.expect_download() as downloading:
        await page.get_by_test_id("csv-weeks").click()
    download = await downloading.value
    assert download.suggested_filename == "dashboard-weeks-2026-03-02-2026-03-15.csv"
    saved = await download.path()
    rows = list(csv.DictReader(io.StringIO(await asyncio.to_thread(Path(saved).read_text, encoding="utf-8"))))
    assert [(row["week"], row["questions"], row["answered_by_community_percent"]) for row in rows] == [
        ("2026-W10", "4", "50"),
        ("2026-W11", "2", "50"),
    ]
    await expect(page.get_by_test_id("csv-months")).to_have_text(download_label)
    if screenshots:
        name = f"dashboard-{'phone' if viewport == PHONE else 'desktop'}-{locale}.png"
        await page.screenshot(path=screenshots / name, full_page=True)
    await page.context.close()
