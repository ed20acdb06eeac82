"""Taking access away works at once: a revoked API key, a signed-out session and a member a manager signed out are
refused on the next request, in every process; sign-in tokens are short-lived and kept out of the access log."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from bench.bench_end_to_end import free_port
from rewards import PROJECT_ROOT
from rewards.auth import repository as auth_repository
from rewards.auth.service import Scope
from tests.conftest import make_settings, open_api
from tests.test_cli import rewards
from tests.test_web import SESSION_SECRET, SSO_SECRET, Web, community, open_web, web_settings

SESSION_COOKIE = "rewards_session"


@pytest.fixture
async def web(database_url: str) -> AsyncIterator[Web]:
    async with open_web(web_settings(database_url)) as opened:
        yield opened


async def status_with(web: Web, cookie: str, path: str = "/me") -> int:
    """What a browser holding only this session cookie (a copy, another device) gets."""
    web.browser.cookies.clear()
    return (await web.browser.get(path, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})).status_code


def sign_in_as(web: Web, cookie: str) -> None:
    """The browser now holds only this session cookie."""
    web.browser.cookies.clear()
    web.browser.cookies.set(SESSION_COOKIE, cookie)


# --- API keys -------------------------------------------------------------------------------------------------------


async def test_a_key_revoked_by_another_process_is_refused_on_the_next_request(database_url: str) -> None:
    async with open_api(make_settings(database_url, run_scheduler=False)) as api:
        key = await api.key(Scope.READ)
        headers = {"Authorization": f"Bearer {key}"}
        # 404: the key got past authentication (nobody is named yet). Twice, so that any cache would hold it.
        for _ in range(2):
            assert (await api.client.get("/v1/users/nobody", headers=headers)).status_code == 404
        # The operator's command, in its own process: nothing in this one is told.
        revoked = await asyncio.to_thread(rewards, "apikey", "revoke", key.split("_")[1], database_url=database_url)
        assert revoked.returncode == 0, revoked.stderr
        refused = await api.client.get("/v1/users/nobody", headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "the API key is unknown or revoked"
        assert (await api.client.get("/v1/users/nobody")).status_code == 404  # other keys are untouched


async def test_production_mode_skips_the_database_for_known_keys_and_still_refuses_a_revoked_one_at_once(
    postgres_database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis, a key this process verified is not read from the database again while the revocations marker
    stands; the operator's revocation moves it, so the next request reads the database and is refused."""
    settings = make_settings(postgres_database_url, redis_url=redis_url, run_scheduler=False)
    async with open_api(settings) as api:
        key = await api.key(Scope.READ)
        headers = {"Authorization": f"Bearer {key}"}
        reads: list[str] = []
        real = auth_repository.active_key

        async def counted(session: Any, prefix: str) -> Any:
            reads.append(prefix)
            return await real(session, prefix)

        monkeypatch.setattr(auth_repository, "active_key", counted)
        for _ in range(3):
            assert (await api.client.get("/v1/users/nobody", headers=headers)).status_code == 404
        assert reads.count(key.split("_")[1]) == 1  # verified once, then known
        revoked = await asyncio.to_thread(
            rewards, "apikey", "revoke", key.split("_")[1], database_url=postgres_database_url, redis_url=redis_url
        )
        assert revoked.returncode == 0, revoked.stderr
        refused = await api.client.get("/v1/users/nobody", headers=headers)
        assert refused.status_code == 401, refused.text
        assert reads.count(key.split("_")[1]) == 2


# --- browser sessions -----------------------------------------------------------------------------------------------


async def test_signing_out_ends_every_copy_of_the_session_on_every_device(web: Web) -> None:
    await web.sign_in("piotr")
    copied = web.browser.cookies[SESSION_COOKIE]
    await web.sign_in("piotr")  # the same member on another device
    other_device = web.browser.cookies[SESSION_COOKIE]
    assert other_device != copied and await status_with(web, copied) == 200
    web.browser.cookies.clear()
    home = await web.browser.get("/", headers={"Cookie": f"{SESSION_COOKIE}={copied}"})
    assert 'action="/signout"' in home.text  # the page shell offers the signed-in member to sign out

    sign_in_as(web, other_device)
    signed_out = await web.browser.post("/signout", data={"csrf_token": await web.csrf_token()})
    assert signed_out.status_code == 303

    for cookie in (copied, other_device):
        assert await status_with(web, cookie) == 303  # sent to sign in, as nobody
        home = await web.browser.get("/", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
        assert home.status_code == 200 and 'action="/signout"' not in home.text  # the shell shows nobody
        # Nobody, not a redirect loop: the sign-in page is shown to the holder of an ended session.
        assert await status_with(web, cookie, "/signin?next=%2Fme") == 200
    # Signing in again opens a new session that works.
    await web.sign_in("piotr")
    assert (await web.browser.get("/me")).status_code == 200


async def test_a_manager_signs_a_member_out_everywhere_from_the_console_with_a_reason_on_record(web: Web) -> None:
    await community(web)
    await web.sign_in("piotr")
    member = web.browser.cookies[SESSION_COOKIE]
    await web.sign_in("boss", roles=["manager"])
    manager = web.browser.cookies[SESSION_COOKIE]

    page = await web.browser.get("/admin/people/piotr")
    assert page.status_code == 200 and "Sign out everywhere" in page.text
    assert 'action="/admin/people/piotr/sessions/end"' in page.text
    token = await web.csrf_token("/admin/people/piotr")
    end = "/admin/people/piotr/sessions/end"

    assert (await web.browser.post(end, data={"reason": "lost phone"})).status_code == 403  # no form token
    without_reason = await web.browser.post(end, data={"csrf_token": token, "reason": ""})
    assert without_reason.status_code == 422 and "Give a reason" in without_reason.text
    assert await status_with(web, member) == 200  # neither ended anything

    sign_in_as(web, manager)
    done = await web.browser.post(end, data={"csrf_token": token, "reason": "lost phone"})
    assert done.status_code == 200 and "Signed out everywhere" in done.text

    assert await status_with(web, member) == 303
    assert await status_with(web, manager, "/admin") == 200  # the manager's own session goes on
    audit = (await web.forum.get("/v1/audit", params={"action": "sessions.end"})).json()["entries"]
    assert [(e["actor"], e["user_id"], e["reason"]) for e in audit] == [("user:boss", "piotr", "lost phone")]
    sign_in_as(web, manager)
    unknown = await web.browser.post(
        "/admin/people/nobody-yet/sessions/end", data={"csrf_token": token, "reason": "x y z"}
    )
    assert unknown.status_code == 404


# --- sign-in tokens -------------------------------------------------------------------------------------------------


async def test_a_sign_in_token_that_lives_longer_than_the_limit_is_refused(web: Web) -> None:
    now = int(time.time())
    year = 365 * 86400
    too_long = {
        "minted for a year": web.token(iat=now, exp=now + year),
        "no iat, a year left": web.token(iat=None, exp=now + year),
        "minted a year ago, a minute left": web.token(iat=now - year, exp=now + 60),
    }
    for case, token in too_long.items():
        response = await web.browser.post("/sso", data={"token": token})
        assert response.status_code == 401, case
        assert "valid for more than 600 seconds" in response.text, (case, response.text)
        assert SESSION_COOKIE not in response.headers.get("set-cookie", ""), case
    assert (await web.browser.get("/me")).status_code == 303
    within = await web.browser.post("/sso", data={"token": web.token(iat=now, exp=now + 600), "next": "/me"})
    assert within.status_code == 303 and (await web.browser.get("/me")).status_code == 200


async def test_the_lifetime_limit_is_a_setting(database_url: str) -> None:
    async with open_web(web_settings(database_url, sso_max_token_lifetime_seconds=60)) as web:
        now = int(time.time())
        response = await web.browser.post("/sso", data={"token": web.token(iat=now, exp=now + 120)})
        assert response.status_code == 401 and "valid for more than 60 seconds" in response.text


async def test_a_token_in_the_address_is_used_once_and_the_browser_moves_on_to_a_clean_one(web: Web) -> None:
    response = await web.browser.get("/sso", params={"token": web.token("piotr"), "next": "/me"})
    assert response.status_code == 303 and response.headers["location"] == "/me"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_uvicorn_s_access_log_never_shows_a_sign_in_token(tmp_path: Path) -> None:
    """A real uvicorn with its own logging set-up, as `rewards serve` runs it."""
    port = free_port()
    env = {
        **os.environ,
        "REWARDS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'rewards.db'}",
        "REWARDS_ENVIRONMENT": "test",
        "REWARDS_SSO_SECRET": SSO_SECRET,
        "REWARDS_SESSION_SECRET": SESSION_SECRET,
        "REWARDS_RUN_SCHEDULER": "false",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REWARDS_REDIS_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "rewards.app:create_app", "--factory", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/static/site.css", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "uvicorn did not start"
                time.sleep(0.2)
        now = int(time.time())
        claims = {"iss": "forum", "aud": "rewards", "sub": "piotr", "iat": now, "exp": now + 60}
        token = jwt.encode(claims, SSO_SECRET, algorithm="HS256")
        response = httpx.get(f"{base}/sso", params={"token": token, "next": "/me"}, timeout=10)
        assert response.status_code == 303
        # With a trailing slash the router redirects to /sso, query and all: that line hides it too.
        slashed = httpx.get(f"{base}/sso/", params={"token": token}, timeout=10)
        assert slashed.status_code == 307
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert '"GET /sso?<hidden> HTTP/1.1" 303' in output, output
    assert '"GET /sso/?<hidden> HTTP/1.1" 307' in output, output
    assert token not in output and token.split(".")[1] not in output
