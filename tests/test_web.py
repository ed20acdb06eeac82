"""The pages for people over HTTP: forum sign-in, sessions, CSRF, languages, every page and who may see it."""

import html as html_module
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from pydantic import ValidationError

from rewards import PROJECT_ROOT
from rewards.app import create_app
from rewards.auth.service import Scope, create_key
from rewards.config import DEVELOPMENT_SESSION_SECRET, Settings
from rewards.db import unit_of_work
from rewards.runtime import utcnow
from rewards.web import i18n
from rewards.web.render import local_path
from tests.factories import accept, answer, upvote

SSO_SECRET = "test-sso-secret-that-is-long-enough-for-hs256"
SESSION_SECRET = "test-session-secret-that-is-long-enough-too"
BASE = "https://rewards.test"  # https: the session cookie is Secure outside development

A9 = answer("a9", "piotr", "q1")
B1 = answer("b1", "anna", "q2")


@dataclass
class Web:
    """A browser (cookies, no API key) and a forum (the API key) on one app."""

    browser: httpx.AsyncClient
    forum: httpx.AsyncClient
    settings: Settings

    def token(
        self, sub: str | None = "piotr", *, secret: str = SSO_SECRET, algorithm: str = "HS256", **claims: Any
    ) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.settings.sso_issuer,
            "aud": self.settings.sso_audience,
            "sub": sub,
            "name": (sub or "").title(),
            "roles": [],
            "iat": now,
            "exp": now + 120,
        }
        body.update(claims)
        body = {key: value for key, value in body.items() if value is not None}
        return jwt.encode(body, secret, algorithm=algorithm)

    async def sign_in(self, sub: str = "piotr", **claims: Any) -> httpx.Response:
        response = await self.browser.get("/sso", params={"token": self.token(sub, **claims), "next": "/me"})
        assert response.status_code == 303, response.text
        return response

    async def post_events(self, *events: dict[str, Any]) -> None:
        response = await self.forum.post("/v1/events", json=list(events))
        assert response.status_code == 202, response.text

    async def csrf_token(self, path: str = "/me") -> str:
        page = await self.browser.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None, page.text
        return found.group(1)


def web_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "sso_secret": SSO_SECRET,
        "session_secret": SESSION_SECRET,
        "run_scheduler": False,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def open_web(settings: Settings) -> AsyncIterator[Web]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with unit_of_work(app.state.runtime.sessionmaker) as uow:
            key = await create_key(uow.session, "forum", [Scope.ADMIN], utcnow())
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url=BASE) as browser,
            httpx.AsyncClient(transport=transport, base_url=BASE, headers={"Authorization": f"Bearer {key}"}) as forum,
        ):
            yield Web(browser, forum, settings)


@pytest.fixture
async def web(database_url: str) -> AsyncIterator[Web]:
    async with open_web(web_settings(database_url)) as opened:
        yield opened


@pytest.fixture
async def dev_web(database_url: str) -> AsyncIterator[Web]:
    """The development environment (demo sign-in on), as `make run` serves it over http://127.0.0.1."""
    settings = web_settings(database_url, environment="development", sso_secret=None)
    async with open_web(settings) as opened:
        yield opened


async def community(web: Web) -> None:
    # piotr: two upvotes and an accepted answer (+35); anna: one upvote (+10).
    await web.post_events(
        upvote("v1", A9),
        upvote("v2", A9, minutes=1),
        accept("asker", A9, minutes=2),
        upvote("v1", B1, minutes=3),
    )


# --- sign-in and sessions -------------------------------------------------------------------------------------------


async def test_anonymous_visitors_are_sent_to_sign_in_and_back(web: Web) -> None:
    for path, back in (("/me", "%2Fme"), ("/admin", "%2Fadmin"), ("/admin/people?q=pi", "%2Fadmin%2Fpeople%3Fq%3Dpi")):
        response = await web.browser.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/signin?next={back}"
    page = await web.browser.get("/signin", params={"next": "/admin"})
    assert page.status_code == 200 and "Sign in" in page.text
    assert "/dev/signin" not in page.text  # not in development


async def test_a_forum_token_opens_a_session_and_me_shows_reputation_rank_progress_and_history(web: Web) -> None:
    await community(web)
    response = await web.sign_in("piotr")
    assert response.headers["location"] == "/me"
    cookie = response.headers["set-cookie"].lower()
    assert "rewards_session=" in cookie
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie
    assert f"max-age={web.settings.session_max_age_seconds}" in cookie
    page = await web.browser.get("/me")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert '<span class="big" data-testid="reputation">35</span>' in page.text
    assert "Newcomer" in page.text and "15 more to Contributor" in page.text
    assert '<progress id="rank-progress" max="100" value="70">' in page.text
    reasons = re.findall(r'<span class="reason">([^<]+)</span>', page.text)
    assert reasons == ["+15 answer a9 accepted", "+10 upvote on answer a9", "+10 upvote on answer a9"]
    assert "Signed in as Piotr (piotr)" in page.text


async def test_the_forum_can_post_the_token_as_a_form(web: Web) -> None:
    response = await web.browser.post("/sso", data={"token": web.token("anna"), "next": "/u/anna"})
    assert response.status_code == 303 and response.headers["location"] == "/u/anna"
    me = await web.browser.get("/me")
    assert me.status_code == 200 and "(anna)" in me.text


async def test_a_member_no_event_has_named_yet_gets_an_honest_empty_page(web: Web) -> None:
    await web.sign_in("newcomer")
    page = await web.browser.get("/me")
    assert page.status_code == 200 and "No forum event has named you yet" in page.text
    assert 'data-testid="reputation"' not in page.text


def _bad_tokens(web: Web) -> dict[str, tuple[str, str]]:
    now = int(time.time())
    return {
        "forged": (web.token(secret="another-secret-that-is-also-32-bytes-long"), "signature does not verify"),
        "expired": (web.token(exp=now - 3600, iat=now - 7200), "has expired"),
        "wrong audience": (web.token(aud="another-service"), "another service (wrong audience)"),
        "wrong issuer": (web.token(iss="https://evil.example"), "configured forum (wrong issuer)"),
        "no expiry": (web.token(exp=None), "lacks the exp claim"),
        "unsigned": (jwt.encode({"sub": "piotr"}, "", algorithm="none"), "signed with none are not accepted"),
        "not a jwt": ("not-a-token", "is not a JWT"),
        "empty sub": (web.token(sub=""), "must be a string of 1 to 195 characters"),
        "sub too long": (web.token(sub="u" * 196), "must be a string of 1 to 195 characters"),
        "sub with NUL": (web.token(sub="piotr\x00"), "without NUL"),
        "no sub": (web.token(None), "lacks the sub claim"),
        "roles not a list": (web.token(roles="manager"), "must be a list of strings"),
    }


async def test_forged_expired_and_misaddressed_tokens_are_refused_with_a_clear_401_page(web: Web) -> None:
    for case, (token, message) in _bad_tokens(web).items():
        response = await web.browser.get("/sso", params={"token": token})
        assert response.status_code == 401, case
        assert response.headers["content-type"].startswith("text/html"), case
        assert "Sign-in refused" in response.text and message in response.text, (case, response.text)
        assert "rewards_session" not in response.headers.get("set-cookie", ""), case
        assert (await web.browser.get("/me")).status_code == 303, case
    missing = await web.browser.get("/sso")
    assert missing.status_code == 401 and "no sign-in token was given" in missing.text


async def test_the_token_leeway_is_small(web: Web) -> None:
    now = int(time.time())
    await web.sign_in("piotr", exp=now - 5)  # within the 30 s leeway: clocks of forum and engine differ a little
    response = await web.browser.get("/sso", params={"token": web.token(exp=now - 120)})
    assert response.status_code == 401


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize("configured", ["pem", "pem file", "jwks file"])
async def test_rs256_tokens_verify_against_the_configured_public_key_or_jwks(
    database_url: str, tmp_path: Path, configured: str
) -> None:
    forum_key, other_key = _rsa_key(), _rsa_key()
    overrides: dict[str, Any] = {"sso_secret": None}
    if configured == "pem":
        overrides["sso_public_key"] = _pem(forum_key)
    elif configured == "pem file":
        (tmp_path / "forum.pem").write_text(_pem(forum_key))
        overrides["sso_public_key"] = str(tmp_path / "forum.pem")
    else:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(forum_key.public_key()))
        (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "forum-1", "use": "sig"}]}))
        overrides["sso_jwks_url"] = str(tmp_path / "jwks.json")
    async with open_web(web_settings(database_url, **overrides)) as web:
        headers = {"kid": "forum-1"}
        good = jwt.encode(_claims(web.settings, "piotr"), forum_key, algorithm="RS256", headers=headers)
        forged = jwt.encode(_claims(web.settings, "piotr"), other_key, algorithm="RS256", headers=headers)
        response = await web.browser.get("/sso", params={"token": forged})
        assert response.status_code == 401 and "Sign-in refused" in response.text
        assert (await web.browser.get("/me")).status_code == 303
        assert (await web.browser.get("/sso", params={"token": good})).status_code == 303
        me = await web.browser.get("/me")
        assert me.status_code == 200 and "(piotr)" in me.text


def _claims(settings: Settings, sub: str) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": settings.sso_issuer, "aud": settings.sso_audience, "sub": sub, "exp": now + 60, "iat": now}


async def test_a_tampered_or_expired_session_cookie_is_nobody(web: Web) -> None:
    await web.sign_in("piotr")
    original = web.browser.cookies["rewards_session"]
    web.browser.cookies.clear()

    async def status_with(cookie: str, path: str = "/me") -> int:
        return (await web.browser.get(path, headers={"Cookie": f"rewards_session={cookie}"})).status_code

    assert await status_with(original) == 200
    assert await status_with(original[:-2] + ("AA" if not original.endswith("AA") else "BB")) == 303
    payload = {"u": "piotr", "n": "Piotr", "l": None, "r": ["manager"], "c": "x" * 43}

    class SignedLongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - web.settings.session_max_age_seconds - 10

    stale = URLSafeTimedSerializer(SESSION_SECRET, salt="rewards.session", signer=SignedLongAgo).dumps(payload)
    assert await status_with(stale) == 303
    assert await status_with(URLSafeTimedSerializer("another secret", salt="rewards.session").dumps(payload)) == 303
    # The same payload, in time and signed with the engine's secret, is accepted.
    fresh = URLSafeTimedSerializer(SESSION_SECRET, salt="rewards.session").dumps(payload)
    assert await status_with(fresh, "/admin") == 200


async def test_sign_out_ends_the_session(web: Web) -> None:
    await web.sign_in("piotr")
    token = await web.csrf_token()
    response = await web.browser.post("/signout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert 'rewards_session=""' in response.headers["set-cookie"]
    assert (await web.browser.get("/me")).status_code == 303


# --- permissions -----------------------------------------------------------------------------------------------------


async def test_an_expert_sees_only_their_own_page_and_cannot_reach_the_console(web: Web) -> None:
    await community(web)
    await web.sign_in("anna")
    page = await web.browser.get("/me", params={"user": "piotr", "user_id": "piotr"})
    assert page.status_code == 200
    assert re.findall(r'<span class="reason">([^<]+)</span>', page.text) == ["+10 upvote on answer b1"]
    assert "answer a9" not in page.text  # piotr's history (a bare "a9" can occur in a random token)
    assert 'href="/admin"' not in page.text
    for path in ("/admin", "/admin/people?q=piotr", "/admin/people/piotr"):
        refused = await web.browser.get(path)
        assert refused.status_code == 403, path
        assert "Managers only" in refused.text and "+10 upvote on answer a9" not in refused.text


async def test_a_manager_reaches_the_console_finds_people_and_reads_their_ledger(web: Web) -> None:
    await community(web)
    await web.sign_in("mia", roles=["manager"])
    console = await web.browser.get("/admin")
    assert console.status_code == 200 and 'href="/admin/people"' in console.text
    found = await web.browser.get("/admin/people", params={"q": "pi"})
    assert found.status_code == 200
    assert re.findall(r'<a href="/admin/people/([^"]+)">', found.text) == ["piotr"]
    nobody = await web.browser.get("/admin/people", params={"q": "zz%"})
    assert "No member's name, username or id matches zz%." in nobody.text
    ledger = await web.browser.get("/admin/people/piotr")
    assert ledger.status_code == 200
    assert re.findall(r'<span class="reason">([^<]+)</span>', ledger.text)[0] == "+15 answer a9 accepted"
    assert (await web.browser.get("/admin/people/nobody")).status_code == 404
    # An admin role counts as a manager too.
    await web.sign_in("root", roles=["admin", "unknown-role"])
    assert (await web.browser.get("/admin")).status_code == 200


async def test_the_public_profile_is_for_everyone_and_unknown_members_get_a_404_page(web: Web) -> None:
    await community(web)
    profile = await web.browser.get("/u/piotr")
    assert profile.status_code == 200
    assert "<h1>piotr</h1>" in profile.text and 'data-testid="reputation">35<' in profile.text
    assert "upvote on answer" not in profile.text  # the ledger is the member's own business
    missing = await web.browser.get("/u/nobody")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "No such member" in missing.text and "No event has named the user nobody yet." in missing.text


async def test_a_browser_gets_pages_for_bad_addresses_and_the_api_keeps_json(web: Web) -> None:
    await community(web)
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    lost = await web.browser.get("/no/such/page", headers=html)
    assert lost.status_code == 404 and lost.headers["content-type"].startswith("text/html")
    assert "There is no page at this address." in lost.text

    bad = await web.browser.get("/u/piotr%00", headers={**html, "Accept-Language": "pl"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    assert "Nie można użyć tego adresu ani formularza" in bad.text
    assert "user_id: text cannot contain the NUL character" in html_module.unescape(bad.text)

    # The API answers JSON whatever the client accepts; so do pages to a client that does not ask for HTML.
    for path in ("/v1/users/piotr%00", "/v1/no-such-endpoint"):
        api = await web.browser.get(path, headers=html)
        assert api.headers["content-type"] == "application/json" and "error" in api.json(), path
    plain = await web.browser.get("/u/piotr%00")
    assert plain.status_code == 422 and plain.json()["detail"][0]["field"] == "path.user_id"


async def test_user_ids_are_escaped_on_every_page(web: Web) -> None:
    author = '<script>alert("x")</script>'
    await web.post_events(upvote("v1", answer("a1", author, "q1")))
    await web.sign_in(author, roles=["manager"])
    for path in ("/me", f"/u/{author}", f"/admin/people?q={author[:3]}"):
        page = await web.browser.get(path)
        assert page.status_code == 200, path
        assert "<script>" not in page.text and "&lt;script&gt;" in page.text, path


# --- CSRF ------------------------------------------------------------------------------------------------------------


async def test_a_post_without_the_form_token_is_refused_with_403(web: Web) -> None:
    await web.sign_in("piotr")
    for data in ({}, {"csrf_token": "guessed"}, {"csrf_token": ""}):
        refused = await web.browser.post("/signout", data=data)
        assert refused.status_code == 403
        assert "This form has expired" in refused.text and "CSRF" in refused.text
    assert (await web.browser.get("/me")).status_code == 200  # still signed in


async def test_the_form_token_belongs_to_one_session(web: Web) -> None:
    await web.sign_in("piotr")
    old = await web.csrf_token()
    await web.sign_in("anna")  # a new session gets a new token
    assert await web.csrf_token() != old
    assert (await web.browser.post("/signout", data={"csrf_token": old})).status_code == 403


async def test_machines_with_api_keys_need_no_form_token_and_a_session_cookie_is_no_api_key(web: Web) -> None:
    await web.sign_in("piotr", roles=["admin"])
    await web.post_events(upvote("v1", A9))  # the forum's key, no CSRF token
    as_browser = await web.browser.post("/v1/events", json=[upvote("v2", A9)])
    assert as_browser.status_code == 401  # the session cookie does not authenticate the API


async def test_the_development_sign_in_form_is_csrf_protected_too(dev_web: Web) -> None:
    refused = await dev_web.browser.post("/dev/signin", data={"who": "manager"})
    assert refused.status_code == 403
    assert "rewards_session" not in refused.headers.get("set-cookie", "")


# --- development sign-in ---------------------------------------------------------------------------------------------


async def test_development_sign_in_offers_the_demo_manager_and_the_community_s_top_expert(dev_web: Web) -> None:
    await community(dev_web)
    page = await dev_web.browser.get("/dev/signin")
    assert page.status_code == 200
    assert "Development only." in page.text and "Sign in as demo expert (piotr)" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    signed_in = await dev_web.browser.post(
        "/dev/signin", data={"csrf_token": token.group(1), "who": "expert", "locale": "", "next": "/me"}
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/me"
    assert "secure" not in signed_in.headers["set-cookie"].lower()  # development runs over http://127.0.0.1
    me = await dev_web.browser.get("/me")
    assert 'data-testid="reputation">35<' in me.text
    assert (await dev_web.browser.get("/admin")).status_code == 403
    manager = await dev_web.browser.post(
        "/dev/signin", data={"csrf_token": await dev_web.csrf_token(), "who": "manager", "next": "/admin"}
    )
    assert manager.headers["location"] == "/admin"
    assert (await dev_web.browser.get("/admin")).status_code == 200


async def test_development_sign_in_does_not_exist_outside_development(web: Web) -> None:
    assert (await web.browser.get("/dev/signin")).status_code == 404
    await web.browser.get("/signin")  # any page gives a visitor the double-submit cookie for forms before sign-in
    token = web.browser.cookies["rewards_csrf"]
    refused = await web.browser.post("/dev/signin", data={"csrf_token": token, "who": "manager"})
    assert refused.status_code == 404
    assert (await web.browser.get("/me")).status_code == 303


# --- languages -------------------------------------------------------------------------------------------------------


async def test_polish_from_accept_language(web: Web) -> None:
    page = await web.browser.get("/signin", headers={"Accept-Language": "pl-PL,pl;q=0.9,en-US;q=0.8"})
    assert page.headers["content-language"] == "pl"
    assert '<html lang="pl">' in page.text
    assert "<h1>Zaloguj się</h1>" in page.text and "Przejdź do treści" in page.text
    english = await web.browser.get("/signin", headers={"Accept-Language": "de-DE,en;q=0.5,pl;q=0.1"})
    assert english.headers["content-language"] == "en" and "<h1>Sign in</h1>" in english.text
    fallback = await web.browser.get("/signin", headers={"Accept-Language": "fr, de;q=0.5"})
    assert fallback.headers["content-language"] == "en"


async def test_polish_from_the_locale_claim_with_polish_dates_and_numbers(web: Web) -> None:
    await community(web)
    await web.sign_in("piotr", locale="pl-PL")
    page = await web.browser.get("/me", headers={"Accept-Language": "en"})
    assert page.headers["content-language"] == "pl"
    assert "Historia reputacji" in page.text and "Jeszcze 15 do rangi Współtwórca" in page.text
    assert "2 mar 2026" in page.text  # Babel's Polish date (the events happened on 2 March 2026)
    await web.sign_in("piotr", locale="en")
    english = await web.browser.get("/me", headers={"Accept-Language": "pl"})
    assert "Reputation history" in english.text and "Mar 2, 2026" in english.text


async def test_sign_in_refusals_are_translated(web: Web) -> None:
    response = await web.browser.get(
        "/sso", params={"token": web.token(aud="other")}, headers={"Accept-Language": "pl"}
    )
    assert response.status_code == 401 and "Odmowa logowania" in response.text
    assert "token logowania wydano dla innej usługi" in response.text


async def test_a_language_picked_on_the_page_wins(web: Web) -> None:
    await community(web)
    await web.sign_in("piotr", locale="en")
    picked = await web.browser.get("/language/pl", params={"next": "/me"})
    assert picked.status_code == 303 and picked.headers["location"] == "/me"
    assert "Historia reputacji" in (await web.browser.get("/me")).text
    assert (await web.browser.get("/language/xx")).status_code == 404


async def test_every_message_of_the_pages_is_translated_to_polish() -> None:
    with (i18n.LOCALES_DIR / "pl" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="pl")
    translated = {message.id for message in catalog if message.id and message.string and not message.fuzzy}
    method_map = [("rewards/web/**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    extracted = {
        message
        for _, _, message, _, _ in extract_from_dir(
            PROJECT_ROOT, method_map, options_map=options, keywords={"_": None, "gettext": None, "N_": None}
        )
        if isinstance(message, str)
    }
    assert len(extracted) > 50
    assert sorted(extracted - translated) == [], "run `make messages` and translate the new entries"


# --- redirects and settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wanted", "goes_to"),
    [
        ("/admin/people?q=pi", "/admin/people?q=pi"),
        ("https://evil.example/me", "/me"),
        ("//evil.example/me", "/me"),
        ("/\\evil.example", "/me"),
        ("\\\\evil.example", "/me"),
        ("javascript:alert(1)", "/me"),
        ("me", "/me"),
        ("/me\r\nSet-Cookie: x=1", "/me"),
        ("", "/me"),
    ],
)
async def test_next_only_ever_leads_to_a_path_on_this_site(web: Web, wanted: str, goes_to: str) -> None:
    assert local_path(wanted) == goes_to
    response = await web.browser.get("/sso", params={"token": web.token(), "next": wanted})
    assert response.status_code == 303 and response.headers["location"] == goes_to
    language = await web.browser.get("/language/en", params={"next": wanted})
    assert language.headers["location"] == (goes_to if goes_to != "/me" else "/")


def test_production_refuses_placeholder_and_short_secrets() -> None:
    production: dict[str, Any] = {"environment": "production", "database_url": "postgresql+asyncpg://db/rewards"}
    for secret in (DEVELOPMENT_SESSION_SECRET, "changeme", "short"):
        with pytest.raises(ValidationError, match="placeholder or shorter than 32"):
            Settings(**production, session_secret=secret)
        with pytest.raises(ValidationError, match="placeholder or shorter than 32"):
            Settings(**production, session_secret=SESSION_SECRET, sso_secret=secret)
    with pytest.raises(ValidationError, match="REWARDS_SESSION_SECRET is not set"):
        Settings(**production, sso_secret=SSO_SECRET)
    fine = Settings(**production, sso_secret=SSO_SECRET, session_secret=SESSION_SECRET)
    assert fine.cookie_secure and fine.sso_hs256_secret == SSO_SECRET
    unset = Settings(**production)
    assert unset.sso_hs256_secret is None and unset.session_signing_secret is None
    assert Settings(environment="development").cookie_secure is False


async def test_without_a_session_secret_sign_in_is_off_and_says_so(database_url: str) -> None:
    # Outside production an unset secret falls back to the development one; production has none. (model_copy
    # skips the validator that refuses SQLite in production: the rule under test is the same on both.)
    settings = web_settings(database_url, session_secret=None).model_copy(update={"environment": "production"})
    async with open_web(settings) as web:
        response = await web.browser.get("/sso", params={"token": web.token()})
        assert response.status_code == 503 and "Sign-in is not set up" in response.text


async def test_the_home_page_and_the_stylesheet_are_served_in_the_shell(web: Web) -> None:
    home = await web.browser.get("/")
    assert home.status_code == 200
    assert 'class="skip-link" href="#main"' in home.text and '<main id="main"' in home.text
    assert 'href="/signin?next=%2F"' in home.text
    css = await web.browser.get("/static/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


# --- badges and perks ------------------------------------------------------------------------------------------------

TEST_PERK = """  - id: router-beta
    name: Router beta programme
    description: Try the next home router before launch.
    kind: beta_access
    eligibility:
      reputation: 30
    seats: 5
    claim_within_days: 7
    details:
      url: https://beta.example.test/router
"""


def rules_with_test_perk(folder: Path) -> Path:
    """The default rules plus a perk within reach of a small test community (30 reputation, a beta code)."""
    default = (PROJECT_ROOT / "rules" / "default.yaml").read_text()
    assert default.count("\nperks:\n") == 1
    path = folder / "rules.yaml"
    path.write_text(default.replace("\nperks:\n", "\nperks:\n" + TEST_PERK, 1))
    return path


@pytest.fixture
async def perk_web(database_url: str, tmp_path: Path) -> AsyncIterator[Web]:
    async with open_web(web_settings(database_url, rules_path=rules_with_test_perk(tmp_path))) as opened:
        yield opened


async def test_an_expert_claims_an_offered_perk_and_sees_its_code(perk_web: Web) -> None:
    web = perk_web
    await community(web)  # piotr reaches 35 (offered the perk), anna 10 (in reach)
    uploaded = await web.forum.post("/v1/admin/perks/router-beta/codes", json={"codes": ["BETA-7731"]})
    assert uploaded.status_code == 200, uploaded.text
    await web.sign_in("piotr")
    page = await web.browser.get("/me")
    assert "Offered to you" in page.text and "Router beta programme" in page.text
    assert 'action="/me/perks/router-beta/claim"' in page.text and "BETA-7731" not in page.text

    refused = await web.browser.post("/me/perks/router-beta/claim", data={})
    assert refused.status_code == 403
    assert "Offered to you" in (await web.browser.get("/me")).text  # nothing changed

    claimed = await web.browser.post("/me/perks/router-beta/claim", data={"csrf_token": await web.csrf_token()})
    assert claimed.status_code == 303 and claimed.headers["location"] == "/me#outcome"
    page = await web.browser.get("/me")
    assert '<code class="perk-code">BETA-7731</code>' in page.text and "Offered to you" not in page.text
    again = await web.browser.post("/me/perks/router-beta/claim", data={"csrf_token": await web.csrf_token()})
    assert again.status_code == 303 and "The perk was not changed" in (await web.browser.get("/me")).text

    # Another expert's page shows what they still miss, and they cannot claim an offer they do not have.
    await web.sign_in("anna")
    page = await web.browser.get("/me")
    assert "In reach" in page.text and "Still missing: 20 more reputation" in page.text
    assert "BETA-7731" not in page.text and "/claim" not in page.text
    stolen = await web.browser.post("/me/perks/router-beta/claim", data={"csrf_token": await web.csrf_token()})
    assert stolen.status_code == 303
    assert "BETA-7731" not in (await web.browser.get("/me")).text
    unknown = await web.browser.post("/me/perks/router-beta/steal", data={"csrf_token": await web.csrf_token()})
    assert unknown.status_code == 404

    # A manager sees the member's perks in the console, without buttons to answer for them.
    await web.sign_in("mia", roles=["manager"])
    person = await web.browser.get("/admin/people/piotr")
    assert "BETA-7731" in person.text and "/claim" not in person.text


async def test_declining_an_offer_ends_it(perk_web: Web) -> None:
    await community(perk_web)
    await perk_web.sign_in("piotr")
    assert 'action="/me/perks/router-beta/decline"' in (await perk_web.browser.get("/me")).text
    token = await perk_web.csrf_token()
    declined = await perk_web.browser.post("/me/perks/router-beta/decline", data={"csrf_token": token})
    assert declined.status_code == 303
    page = await perk_web.browser.get("/me")
    assert "Offered to you" not in page.text and 'action="/me/perks/router-beta/claim"' not in page.text


async def test_badges_are_on_the_expert_s_page_and_the_public_profile_but_perks_only_on_their_own(
    perk_web: Web,
) -> None:
    await community(perk_web)
    profile = await perk_web.browser.get("/u/piotr")
    assert '<h2 id="badges-title">Badges</h2>' in profile.text
    earned = re.findall(r'<a class="name" href="/badges/[^"]+">([^<]+)</a>', profile.text)
    assert {"Teacher", "Solver"} <= set(earned)  # an answer with a score of 1 or more; one accepted answer
    assert "Next badges" in profile.text and "Solver</a> (silver): 1 / 25" in profile.text
    assert "Perks" not in profile.text and "Router beta programme" not in profile.text
    await perk_web.sign_in("piotr", locale="pl")
    mine = await perk_web.browser.get("/me")
    assert "Odznaki" in mine.text and "Przywileje" in mine.text and "</a> (srebrna): 1 / 25" in mine.text
