"""Portable badges in a real browser: /me offers the credential, its public verification page says valid, then
revoked once a manager revokes the badge."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from rewards.config import Settings
from tests.conftest import Api, open_api
from tests.test_browser import Server, _community, browser, chromium, running_server  # noqa: F401 (fixtures)
from tests.test_web import rules_with_test_perk


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Server, str, Path]]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'rewards.db'}"
    rules = rules_with_test_perk(tmp_path)
    async with open_api(Settings(database_url=database_url, environment="test", rules_path=rules)) as api:
        await api.post_events(*_community())
    async with running_server(tmp_path, database_url, rules) as running:
        yield running, database_url, rules


async def test_a_member_downloads_a_credential_whose_page_says_valid_then_revoked(
    served: tuple[Server, str, Path],
    browser: Browser,  # noqa: F811 (the fixture imported above)
) -> None:
    server, database_url, rules = served
    page = await (await browser.new_context(locale="en-GB")).new_page()
    await page.goto(f"{server.url}/dev/signin?next=/me")
    await page.get_by_role("button", name="Sign in as demo expert (piotr.expert)").click()
    assert page.url == f"{server.url}/me"

    teacher = page.locator("#credentials li", has_text="Teacher").first
    await expect(teacher.get_by_role("link", name="Download credential")).to_be_visible()
    async with page.expect_download() as downloading:
        await teacher.get_by_role("link", name="Download credential").click()
    download = await downloading.value
    assert download.suggested_filename == "teacher-bronze.json"
    linkedin = await teacher.get_by_role("link", name="Add to LinkedIn profile").get_attribute("href")
    assert linkedin is not None and linkedin.startswith("/me/credentials/teacher/bronze/linkedin?post=")

    await teacher.get_by_role("link", name="Verification page").click()
    assert "/credentials/" in page.url
    verification = page.url
    await expect(page.get_by_test_id("credential-status")).to_have_text("Valid")
    await expect(page.get_by_test_id("credential-badge")).to_have_text("Teacher")
    await expect(page.get_by_text("piotr.expert", exact=True)).to_be_visible()

    # A manager revokes the badge; anyone opening the page (no sign-in) now reads "Revoked".
    async with open_api(Settings(database_url=database_url, environment="test", rules_path=rules)) as api:
        await revoke_teacher(api)
    anonymous = await (await browser.new_context(locale="en-GB")).new_page()
    await anonymous.goto(verification)
    await expect(anonymous.get_by_test_id("credential-status")).to_have_text("Revoked")
    await expect(anonymous.get_by_role("link", name="Sign in", exact=True)).to_be_visible()  # nobody signed in


async def revoke_teacher(api: Api) -> None:
    held = (await api.client.get("/v1/users/piotr.expert/badges")).json()["earned"]
    teacher = next(badge for badge in held if badge["badge_id"] == "teacher")
    revoked = await api.client.post(
        "/v1/admin/badges/revoke",
        json={"user_id": "piotr.expert", "badge_id": "teacher", "post": teacher["post"], "reason": "a sock puppet"},
    )
    assert revoked.status_code == 200, revoked.text
