"""The rules console in a real browser: a manager edits a rule, sees the preview's differences and publishes it
"from now on". `REWARDS_SCREENSHOTS=1` saves docs/screenshots/rules-preview.png (the README shows it)."""

from pathlib import Path

import httpx
from playwright.async_api import Browser, expect

from tests.test_browser import Server, browser, chromium, screenshots, server

__all__ = ["browser", "chromium", "screenshots", "server"]  # fixtures, shared with the other browser tests

UPVOTE_AWARD = "        points: 10\n        cap: upvotes-per-day\n"


async def test_a_manager_edits_a_rule_previews_its_impact_and_publishes_it_from_now_on(
    server: Server, browser: Browser, screenshots: Path | None
) -> None:
    context = await browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    page = await context.new_page()
    await page.goto(f"{server.url}/dev/signin?next=/admin")
    await page.get_by_role("button", name="Sign in as demo manager").click()
    await page.get_by_role("link", name="Rules", exact=True).click()
    await expect(page.get_by_role("heading", name="Publication history")).to_be_visible()
    await page.get_by_role("link", name="Edit a draft").click()

    # Upvotes count double: piotr.expert's 6 upvotes give 120 instead of 60.
    editor = page.get_by_label("Rules (YAML)")
    source = await editor.input_value()
    assert source.count(UPVOTE_AWARD) == 1
    await editor.fill(source.replace(UPVOTE_AWARD, UPVOTE_AWARD.replace("10", "20")))
    await page.get_by_role("button", name="Validate").click()
    await expect(page.get_by_test_id("draft-valid")).to_have_text("The draft is valid.")
    await page.get_by_role("button", name="Preview", exact=True).click()

    report = page.get_by_test_id("preview")
    await expect(report.get_by_role("heading", name="Impact of the draft")).to_be_visible()
    await expect(report).to_contain_text("The whole event log, run from an empty state")
    movers = page.get_by_test_id("movers")
    await expect(movers.get_by_role("row").nth(1)).to_have_accessible_name("piotr.expert 90 150 +60")
    await expect(movers).to_contain_text("anna.k")
    await expect(page.get_by_test_id("events-affected")).to_have_text("8")  # the community's upvotes
    board = page.get_by_test_id("board-reputation")
    await expect(board.get_by_role("row").nth(1)).to_have_accessible_name("1 piotr.expert (90) piotr.expert (150)")
    if screenshots:
        await page.screenshot(path=screenshots / "rules-preview.png", full_page=True)

    # Publish from now on: past awards stay as they were.
    await expect(
        page.get_by_label("From now on: past awards stay as they are; new events use the new rules.")
    ).to_be_checked()
    await page.get_by_label("Comment (why; shown in the history and the audit log)").fill("Upvotes count double")
    await page.get_by_role("button", name="Publish", exact=True).click()
    await expect(page.get_by_test_id("published-notice")).to_contain_text("is published.")
    history = page.locator(".history-table tbody tr").first
    await expect(history).to_contain_text("Upvotes count double")
    await expect(history).to_contain_text("from now on")
    await expect(history).to_contain_text("user:demo-manager")
    async with httpx.AsyncClient() as client:
        profile = await client.get(f"{server.url}/u/piotr.expert")
    assert 'data-testid="reputation">90<' in profile.text  # not re-scored
