"""The console's operations pages and the leaderboards in headless Chromium (Playwright) against a real uvicorn.

`REWARDS_SCREENSHOTS=1` also saves docs/screenshots/{admin-perks,dashboard,leaderboards}.png.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from rewards.config import Settings
from tests.conftest import open_api
from tests.factories import answer, event, question
from tests.test_browser import (
    Server,
    _community,
    _no_sideways_scrolling,
    _phone,
    _token,
    browser,  # noqa: F401 (a fixture)
    chromium,  # noqa: F401 (a fixture)
    running_server,
    screenshots,  # noqa: F401 (a fixture)
)
from tests.test_console_ops import rules_for_console

STAFF = "sam.staff"


def _questions() -> list[dict[str, object]]:
    """The questions behind the browser community's answers, answered first by their experts; q5 by staff."""
    events: list[dict[str, object]] = []
    for number, (asker, answerer) in enumerate(
        [("jan.w", "piotr.expert"), ("ewa.n", "piotr.expert"), ("jan.w", "anna.k"), ("tomek", "piotr.expert")],
        start=1,
    ):
        start = (number - 1) * 1487.0
        events.append(event("question.posted", {"actor": asker, "post": question(f"q{number}", asker)}, minutes=start))
        post = answer(f"a{number}", answerer, f"q{number}")
        events.append(event("answer.posted", {"actor": answerer, "post": post}, minutes=start + 20 * number))
    events.append(event("question.posted", {"actor": "ola", "post": question("q5", "ola")}, minutes=100))
    events.append(event("answer.posted", {"actor": STAFF, "post": answer("a5", STAFF, "q5")}, minutes=105))
    return events


@pytest.fixture(scope="module")
async def console_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    """A development server with the browser community, its questions, a beta and a workshop that needs approval
    (piotr.expert's request waits for a manager)."""
    folder = tmp_path_factory.mktemp("browser-console")
    database_url = f"sqlite+aiosqlite:///{folder / 'rewards.db'}"
    rules = rules_for_console(folder)
    async with open_api(Settings(database_url=database_url, environment="test", rules_path=rules)) as api:
        await api.post_events(*_questions(), *_community())
    async with running_server(folder, database_url, rules, REWARDS_STAFF_USERS=STAFF) as running:
        yield running


async def test_a_manager_approves_a_workshop_request_and_uploads_codes(
    console_server: Server,
    browser: Browser,  # noqa: F811
    screenshots: Path | None,  # noqa: F811
) -> None:
    server = console_server
    page = await _phone(browser)
    await page.goto(f"{server.url}/dev/signin?next=/admin")
    await page.get_by_role("button", name="Sign in as demo manager").click()
    await page.get_by_role("link", name="Perks", exact=True).click()
    assert page.url == f"{server.url}/admin/perks"

    workshop = page.locator("#perk-mini-workshop")
    await expect(workshop.get_by_test_id("seats-mini-workshop")).to_have_text("1 of 1")
    await workshop.get_by_label("Reason for piotr.expert (required)").fill("Runs the best answers on routers")
    await workshop.get_by_role("button", name="Approve").click()
    await expect(page.get_by_role("status")).to_have_text("Approved mini-workshop for piotr.expert.")
    await expect(page.locator("#perk-mini-workshop")).to_contain_text("claim by")

    beta = page.locator("#perk-router-beta")
    await beta.get_by_text("Change Router beta programme").click()
    await beta.get_by_label("Codes, one a line").fill("BETA-1001\nBETA-1002\nBETA-1003")
    await beta.get_by_role("button", name="Upload codes").click()
    await expect(page.get_by_role("status")).to_have_text("Added 3 new codes to router-beta.")
    await expect(page.get_by_test_id("codes-router-beta")).to_have_text("3")
    await _no_sideways_scrolling(page)
    if screenshots:
        await page.screenshot(path=screenshots / "admin-perks.png", full_page=True)

    await page.goto(f"{server.url}/admin/audit?actor=user:demo-manager")
    await expect(page.get_by_test_id("audit")).to_contain_text("perk.codes_upload")
    await expect(page.get_by_test_id("audit")).to_contain_text("perk.approve")

    await page.goto(f"{server.url}/admin/dashboard")
    await page.get_by_label("From (UTC)").fill("2026-03-01")
    await page.get_by_label("To, inclusive (UTC)").fill("2026-03-14")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_test_id("questions")).to_have_text("5")
    await expect(page.get_by_test_id("answered-community")).to_have_text("4")
    await expect(page.get_by_test_id("answered-staff")).to_have_text("1")
    await expect(page.get_by_test_id("community-share")).to_have_text("80%")
    await expect(page.get_by_role("img", name="20 events from 2026-03-01 to 2026-03-14, per day")).to_be_visible()
    await _no_sideways_scrolling(page)
    if screenshots:
        await page.screenshot(path=screenshots / "dashboard.png", full_page=True)


async def test_an_expert_on_a_phone_sees_my_spot_and_the_leaderboards(
    console_server: Server,
    browser: Browser,  # noqa: F811
    screenshots: Path | None,  # noqa: F811
) -> None:
    server = console_server
    page = await _phone(browser)
    await page.goto(f"{server.url}/sso?token={_token(server, 'anna.k')}&next=/me")
    spot = page.locator("#my-spot")
    await expect(spot.get_by_role("heading", name="My spot")).to_be_visible()
    all_time = spot.get_by_test_id("spot-reputation-all-time")
    await expect(all_time).to_contain_text("#2 you")
    await expect(all_time.get_by_role("link", name="piotr.expert")).to_be_visible()
    await _no_sideways_scrolling(page)

    await spot.get_by_role("link", name="All leaderboards").click()
    assert page.url == f"{server.url}/leaderboards"
    board = page.get_by_test_id("board")
    await expect(board.locator("tbody tr").first).to_contain_text("piotr.expert")
    await expect(board.locator("tr[aria-current]")).to_contain_text("anna.k")
    await page.get_by_role("link", name="Month").click()
    await page.get_by_label("Which period").fill("2026-03")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_test_id("board")).to_contain_text("2026-03")
    await expect(page.get_by_role("link", name="Previous: 2026-02")).to_be_visible()
    await _no_sideways_scrolling(page)
    if screenshots:
        await page.screenshot(path=screenshots / "leaderboards.png", full_page=True)
    await page.get_by_role("link", name="piotr.expert").first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("piotr.expert")
