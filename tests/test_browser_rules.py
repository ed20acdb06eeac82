"""The rules console in a real browser: a manager edits a rule, sees the preview's differences and publishes it
"from now on". `REWARDS_SCREENSHOTS=1` saves docs/screenshots/rules-preview.png (docs/rules.md shows it)."""

from pathlib import Path

import httpx
from playwright.async_api import Browser, expect

from rewards.config import Settings
from tests.conftest import open_api
from tests.test_browser import (
    Server,
    _community,
    browser,
    chromium,
    running_server,
    screenshots,
    server,
)
from tests.test_web import rules_with_test_perk

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
    editor = page.get_by_label("Rules (YAML)")  # the code editor (tests/test_rules_editor_browser.py)
    source = await page.locator("textarea[name=source]").input_value()  # the draft as the server sent it
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


async def test_a_retroactive_publish_runs_in_the_background_and_the_rules_page_follows_it(
    tmp_path: Path, browser: Browser
) -> None:
    """`make run`'s set-up, the scheduler on: the request is queued, the scheduler runs the replay in the
    background, and the rules page reloads itself until it shows the result."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'rewards.db'}"
    rules = rules_with_test_perk(tmp_path)
    async with open_api(Settings(database_url=database_url, environment="test", rules_path=rules)) as api:
        await api.post_events(*_community())
    async with running_server(tmp_path, database_url, rules, REWARDS_RUN_SCHEDULER="true") as scheduled:
        context = await browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
        page = await context.new_page()
        await page.goto(f"{scheduled.url}/dev/signin?next=/admin/rules/edit")
        await page.get_by_role("button", name="Sign in as demo manager").click()
        editor = page.get_by_label("Rules (YAML)")
        source = await page.locator("textarea[name=source]").input_value()
        await editor.fill(source.replace(UPVOTE_AWARD, UPVOTE_AWARD.replace("10", "20")))
        await page.get_by_label(
            "Retroactively: recompute everything from the event log under the new rules, in the background "
            "(the rules page shows its progress)."
        ).check()
        await page.get_by_label("Comment (why; shown in the history and the audit log)").fill("Recount upvotes")
        await page.get_by_role("button", name="Publish", exact=True).click()

        await expect(page.get_by_test_id("queued-notice")).to_contain_text("The retroactive publish is queued")
        jobs = page.get_by_test_id("publish-jobs")
        await expect(jobs).to_contain_text("Recount upvotes")
        # No click: the page reloads itself every 5 s while the job is unfinished.
        await expect(jobs).to_contain_text("Published: 10 events recomputed (0 failed)", timeout=30_000)
        await expect(page.get_by_test_id("queued-notice")).to_have_count(0)
        history = page.locator(".history-table tbody tr").first
        await expect(history).to_contain_text("retroactively")
        async with httpx.AsyncClient() as client:
            profile = await client.get(f"{scheduled.url}/u/piotr.expert")
        assert 'data-testid="reputation">150<' in profile.text  # re-scored: 6 upvotes at 20, 1 accept
        await context.close()
