"""The pages in a real browser: headless Chromium (Playwright) against a real uvicorn server on a temp SQLite file.

`REWARDS_SCREENSHOTS=1` also saves the main pages to docs/screenshots/ (docs/pages.md shows them).
"""

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from bench.bench_end_to_end import free_port
from rewards import PROJECT_ROOT
from rewards.config import Settings
from tests.conftest import open_api
from tests.factories import accept, answer, upvote
from tests.test_web import rules_with_test_perk

CHROMIUM = "/usr/bin/chromium"
HOW_TO_INSTALL = "install it: `apt-get update && apt-get install -y chromium` (.ci/run does this when it is missing)"
SSO_SECRET = "browser-test-sso-secret-long-enough-for-hs256"
SESSION_SECRET = "browser-test-session-secret-long-enough-too"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1440, "height": 900}  # the wide screen every page is also tested on
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"


@dataclass(frozen=True)
class Server:
    url: str
    log: Path


def _community() -> list[dict[str, object]]:
    """piotr.expert answers well: 6 upvotes (+60) and 2 accepted answers (+30) = 90; anna.k: 2 upvotes (+20)."""
    events: list[dict[str, object]] = []
    minutes = 0.0
    for number, (asker, answerer, voters, accepted) in enumerate(
        [
            ("jan.w", "piotr.expert", ["ola", "marek", "tomek"], True),
            ("ewa.n", "piotr.expert", ["ola", "kasia"], True),
            ("jan.w", "anna.k", ["marek", "ola"], False),
            ("tomek", "piotr.expert", ["jan.w"], False),
        ],
        start=1,
    ):
        post = answer(f"a{number}", answerer, f"q{number}")
        for voter in voters:
            minutes += 47
            events.append(upvote(voter, post, minutes=minutes))
        if accepted:
            events.append(accept(asker, post, minutes=minutes + 90))
        minutes += 1440  # a day later
    return events


@pytest.fixture(scope="module")
def chromium() -> str:
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: {HOW_TO_INSTALL}", pytrace=False)
    return CHROMIUM if os.access(CHROMIUM, os.X_OK) else str(shutil.which("chromium"))


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    """A development server (demo sign-in on) as `make run` starts it, with a small community in its database."""
    folder = tmp_path_factory.mktemp("browser")
    database_url = f"sqlite+aiosqlite:///{folder / 'rewards.db'}"
    rules = rules_with_test_perk(folder)  # a beta perk at 30 reputation: piotr.expert is offered it
    async with open_api(Settings(database_url=database_url, environment="test", rules_path=rules)) as api:
        await api.post_events(*_community())
        uploaded = await api.client.post("/v1/admin/perks/router-beta/codes", json={"codes": ["BETA-7731"]})
        assert uploaded.status_code == 200, uploaded.text
    async with running_server(folder, database_url, rules) as running:
        yield running


@asynccontextmanager
async def running_server(folder: Path, database_url: str, rules: Path, **settings: str) -> AsyncIterator[Server]:
    """`rewards.app` under uvicorn in development mode (demo sign-in on), in its own process, until the block
    ends; `settings` are more `REWARDS_*` variables (`REWARDS_STAFF_USERS=...`)."""
    port = free_port()
    log = folder / "server.log"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REWARDS_")}
    environment.update(
        {
            "REWARDS_DATABASE_URL": database_url,
            "REWARDS_ENVIRONMENT": "development",
            "REWARDS_RULES_PATH": str(rules),
            "REWARDS_RUN_SCHEDULER": "false",
            "REWARDS_SSO_SECRET": SSO_SECRET,
            "REWARDS_SESSION_SECRET": SESSION_SECRET,
            "PYTHONPATH": str(PROJECT_ROOT),
            **settings,
        }
    )
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "rewards.app:create_app", "--factory", "--port", str(port)],
            cwd=folder,  # no stray .env
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_up(url, process, log)
        yield Server(url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


async def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{_tail(log)}", pytrace=False)
            try:
                if (await client.get(f"{url}/v1/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    pytest.fail(f"the server did not answer within 60 s:\n{_tail(log)}", pytrace=False)


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def screenshots() -> Iterator[Path | None]:
    if os.environ.get("REWARDS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        yield SCREENSHOTS
    else:
        yield None


async def _phone(browser: Browser, locale: str = "en-GB") -> Page:
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, locale=locale)
    return await context.new_page()


async def _no_sideways_scrolling(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a {PHONE['width']}px phone"


def _token(server: Server, sub: str, *, locale: str | None = None, roles: list[str] | None = None) -> str:
    now = int(time.time())
    claims: dict[str, object] = {"iss": "forum", "aud": "rewards", "sub": sub, "name": sub, "iat": now, "exp": now + 60}
    if locale:
        claims["locale"] = locale
    if roles:
        claims["roles"] = roles
    return jwt.encode(claims, SSO_SECRET, algorithm="HS256")


async def test_an_expert_signs_in_on_a_phone_and_sees_reputation_rank_and_history(
    server: Server, browser: Browser, screenshots: Path | None
) -> None:
    page = await _phone(browser)
    await page.goto(f"{server.url}/me")
    assert page.url.startswith(f"{server.url}/signin?next=")  # anonymous: sent to sign in first
    await page.get_by_role("link", name="Development sign-in (demo users)").click()
    await expect(page.get_by_text("Development only.")).to_be_visible()
    await page.get_by_role("button", name="Sign in as demo expert (piotr.expert)").click()

    assert page.url == f"{server.url}/me"
    await expect(page.get_by_test_id("reputation")).to_have_text("90")
    await expect(page.get_by_text("Contributor", exact=True)).to_be_visible()
    await expect(page.get_by_text("410 more to Trusted Helper")).to_be_visible()
    progress = page.get_by_role("progressbar", name="410 more to Trusted Helper")
    assert await progress.get_attribute("value") == "9"  # (90 - 50) / (500 - 50)
    history = page.locator("ol.history .reason")
    await expect(history).to_have_count(8)
    await expect(history.first).to_have_text("+10 upvote on answer a4")
    await expect(page.get_by_text("+15 answer a2 accepted")).to_be_visible()
    await expect(page.locator("#badges")).to_contain_text("Teacher")

    # An offered perk: claim it, and the code is there.
    offer = page.locator("#perk-router-beta")
    await expect(offer).to_contain_text("Claim or decline by")
    await offer.get_by_role("button", name="Claim Router beta programme").click()
    assert page.url == f"{server.url}/me#outcome"  # the confirmation, then the perk under Active
    await expect(page.locator("#perk-router-beta code")).to_have_text("BETA-7731")
    await expect(page.get_by_role("heading", name="Offered to you")).to_have_count(0)
    await _no_sideways_scrolling(page)
    if screenshots:
        await page.screenshot(path=screenshots / "me.png", full_page=True)

    await page.goto(f"{server.url}/u/piotr.expert")
    await expect(page.get_by_role("heading", level=1)).to_have_text("piotr.expert")
    await expect(page.get_by_test_id("reputation")).to_have_text("90")
    await _no_sideways_scrolling(page)
    if screenshots:
        await page.screenshot(path=screenshots / "profile.png", full_page=True)
    # The skip link is the keyboard's first stop and leads to the content.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.keyboard.press("Enter")
    assert page.url.endswith("#main")

    # An expert has no console: no link to it, and the address itself is refused.
    await expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    response = await page.goto(f"{server.url}/admin")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", name="Managers only")).to_be_visible()

    # Signing out is a CSRF-protected form that works without JavaScript.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    await page.goto(f"{server.url}/me")
    assert page.url.startswith(f"{server.url}/signin")


async def test_a_polish_user_sees_polish(server: Server, browser: Browser) -> None:
    # From the browser's language...
    page = await _phone(browser, locale="pl-PL")
    await page.goto(f"{server.url}/signin")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Zaloguj się")
    assert await page.get_attribute("html", "lang") == "pl"

    # ...and from the forum's locale claim, whatever the browser asks for.
    page = await _phone(browser, locale="en-US")
    await page.goto(f"{server.url}/sso?token={_token(server, 'anna.k', locale='pl')}&next=/me")
    assert page.url == f"{server.url}/me"
    await expect(page.get_by_role("heading", name="Historia reputacji")).to_be_visible()
    await expect(page.get_by_text("Jeszcze 30 do rangi Współtwórca")).to_be_visible()
    await expect(page.get_by_role("button", name="Wyloguj się")).to_be_visible()
    # The language menu switches back without JavaScript.
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", name="Reputation history")).to_be_visible()


async def test_a_manager_reaches_the_console_and_reads_a_member_s_ledger(
    server: Server, browser: Browser, screenshots: Path | None
) -> None:
    page = await _phone(browser)
    await page.goto(f"{server.url}/dev/signin?next=/admin")
    await page.get_by_role("button", name="Sign in as demo manager").click()
    assert page.url == f"{server.url}/admin"
    await expect(page.get_by_role("heading", name="Console")).to_be_visible()
    await expect(page.get_by_role("link", name="Admin")).to_have_attribute("aria-current", "page")
    await _no_sideways_scrolling(page)
    if screenshots:
        await page.screenshot(path=screenshots / "admin.png", full_page=True)

    await page.get_by_role("link", name="People").click()
    await page.get_by_label("Name, username or user id").fill("pio")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("table")).to_contain_text("piotr.expert")
    await page.get_by_role("link", name="piotr.expert").click()
    await expect(page.get_by_text("+15 answer a1 accepted")).to_be_visible()
    await _no_sideways_scrolling(page)
    if screenshots:
        await page.screenshot(path=screenshots / "admin-people.png", full_page=True)


async def test_the_pages_work_under_their_content_security_policy(server: Server, browser: Browser) -> None:
    """Every page is served with a policy that allows this site's files only; the browser blocks nothing on them
    (an inline style or script would be refused, and Chromium says so on the console)."""
    page = await _phone(browser)
    refused: list[str] = []
    page.on("console", lambda message: refused.append(f"{page.url}: {message.text}"))
    await page.goto(f"{server.url}/dev/signin?next=/admin")
    await page.get_by_role("button", name="Sign in as demo manager").click()
    for path in [
        "/",
        "/leaderboards?board=reputation&period=all-time",
        "/me",
        "/u/piotr.expert",
        "/admin",
        "/admin/people?q=pio",
        "/admin/people/piotr.expert",
        "/admin/perks",
        "/admin/dashboard",
        "/admin/audit",
        "/admin/rules",
        "/admin/rules/edit",
    ]:
        response = await page.goto(f"{server.url}{path}")
        assert response is not None and response.status == 200, path
        policy = await response.header_value("content-security-policy")
        assert policy is not None and "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
    # The styles that were inline are the stylesheet's now: the dashboard's table still scrolls on a phone.
    await page.goto(f"{server.url}/admin/dashboard")
    wrapper = page.locator(".table-wrap").first
    assert await wrapper.evaluate("element => getComputedStyle(element).overflowX") == "auto"
    assert [line for line in refused if "Content Security Policy" in line] == []
