"""Reported contributions in headless Chromium (Playwright) against a real uvicorn: an expert reports a workshop on
a phone, a manager approves it in the console with a comment, the expert sees the status, the comment and the
points."""

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from rewards import PROJECT_ROOT
from rewards.config import Settings
from tests.conftest import open_api
from tests.test_browser import (
    Server,
    _community,
    _no_sideways_scrolling,
    _phone,
    _token,
    browser,  # noqa: F401 (a fixture)
    chromium,  # noqa: F401 (a fixture)
    running_server,
)

RULES = PROJECT_ROOT / "rules" / "default.yaml"


@pytest.fixture(scope="module")
async def contributions_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    folder = tmp_path_factory.mktemp("browser-contributions")
    database_url = f"sqlite+aiosqlite:///{folder / 'rewards.db'}"
    async with open_api(Settings(database_url=database_url, environment="test", rules_path=RULES)) as api:
        await api.post_events(*_community())
    async with running_server(folder, database_url, RULES) as running:
        yield running


async def test_an_expert_reports_a_workshop_a_manager_approves_it_and_the_expert_sees_the_points(
    contributions_server: Server,
    browser: Browser,  # noqa: F811
) -> None:
    server = contributions_server
    expert = await _phone(browser)
    await expert.goto(f"{server.url}/sso?token={_token(server, 'anna.k')}&next=/me")
    await expect(expert.get_by_test_id("reputation")).to_have_text("20")
    await expert.get_by_role("link", name="My contributions").click()
    assert expert.url == f"{server.url}/me/contributions"

    await expert.get_by_label("Kind").select_option(label="Workshop run")
    await expert.get_by_label("What you did").fill("Ran the router workshop in Warsaw")
    await expert.get_by_label("Link that shows it (https://...)").fill("javascript:alert(1)")
    await expert.get_by_role("button", name="Report").click()
    await expect(expert.get_by_role("alert")).to_have_text("A link is a web address starting with https:// or http://.")
    await expect(expert.get_by_label("What you did")).to_have_value("Ran the router workshop in Warsaw")
    await expert.get_by_label("Link that shows it (https://...)").fill("")
    await expert.get_by_label("Or the name of a file you sent the managers").fill("warsaw-agenda.pdf")
    await expert.get_by_role("button", name="Report").click()
    await expect(expert.get_by_role("status")).to_have_text("Reported. A manager will approve or deny it.")
    reports = expert.get_by_test_id("my-contributions")
    await expect(reports).to_contain_text("Ran the router workshop in Warsaw")
    await expect(reports).to_contain_text("Waiting for a manager")
    await _no_sideways_scrolling(expert)

    manager = await _phone(browser)
    await manager.goto(f"{server.url}/dev/signin?next=/admin")
    await manager.get_by_role("button", name="Sign in as demo manager").click()
    await manager.get_by_role("link", name="Contributions", exact=True).click()
    assert manager.url == f"{server.url}/admin/contributions"
    await expect(manager.get_by_role("heading", name="Waiting for a decision (1)")).to_be_visible()
    card = manager.locator("section", has_text="Ran the router workshop in Warsaw")
    await expect(card).to_contain_text("warsaw-agenda.pdf")
    await card.get_by_label("Comment for anna.k (required to deny)").fill("Forty people came, thank you")
    await card.get_by_role("button", name="Approve").click()
    await expect(manager.get_by_role("status")).to_contain_text("of anna.k.")
    await expect(manager.get_by_text("Nothing is waiting.")).to_be_visible()
    await expect(manager.get_by_test_id("decided")).to_contain_text("Forty people came, thank you")
    await _no_sideways_scrolling(manager)
    await manager.goto(f"{server.url}/admin/audit?action=contribution.")
    await expect(manager.get_by_test_id("audit")).to_contain_text("contribution.approve")

    await expert.reload()
    await expect(reports).to_contain_text("Approved")
    await expect(reports).to_contain_text("Manager's comment: Forty people came, thank you")
    await expert.get_by_role("link", name="My perks").first.click()
    await expect(expert.get_by_test_id("reputation")).to_have_text("70")
    await expect(expert.get_by_text("+50 workshop: Ran the router workshop in Warsaw")).to_be_visible()
