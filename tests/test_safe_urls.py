"""Addresses from the rules file are http(s) or refused, pages link only to http(s), and every response carries
the security headers (a Content-Security-Policy the pages work under, nosniff, a referrer policy)."""

import re
from typing import Any

import httpx
import pytest

from rewards import PROJECT_ROOT
from rewards.engine.loader import check_ruleset_text
from rewards.security_headers import DOCS_POLICY, PAGE_POLICY, RESOURCE_POLICY
from rewards.web import i18n
from tests.conftest import Api
from tests.factories import answer, upvote

DEFAULT = (PROJECT_ROOT / "rules" / "default.yaml").read_text()
HOSTILE = "javascript:alert(document.domain)"
REFUSED = [
    HOSTILE,
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "/beta/router",  # a path: on the forum it would lead somewhere else than on the engine's pages
    "//evil.example/router",
    "https:evil.example",
    "https://",
]
TEMPLATES = PROJECT_ROOT / "templates"


def _with_perk_url(url: str) -> str:
    perk = f"""  - id: router-beta
    name: Router beta programme
    description: Try the next home router before launch.
    kind: beta_access
    details:
      url: {_yaml_text(url)}
"""
    assert DEFAULT.count("\nperks:\n") == 1
    return DEFAULT.replace("\nperks:\n", "\nperks:\n" + perk, 1)


def _with_badge_icon(icon: str) -> str:
    assert DEFAULT.count('    icon: "🎓"\n') == 1
    return DEFAULT.replace('    icon: "🎓"\n', f"    icon: {_yaml_text(icon)}\n", 1)


def _yaml_text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"'


def _line_of(source: str, text: str) -> int:
    assert source.count(text) == 1
    return source[: source.index(text)].count("\n") + 1


@pytest.mark.parametrize("url", REFUSED)
def test_a_perk_link_that_is_not_an_absolute_http_address_is_refused_at_its_line(url: str) -> None:
    source = _with_perk_url(url)
    problems, spec = check_ruleset_text(source, "rules.yaml")
    assert spec is None
    [problem] = problems
    line = _line_of(source, f"      url: {_yaml_text(url)}\n")
    assert (problem.file, problem.line, problem.field) == ("rules.yaml", line, "perks.0.details.url")
    assert problem.message.startswith("`url` must be an absolute http:// or https:// address")
    assert repr(url) in problem.message


@pytest.mark.parametrize("url", ["https://beta.example.test/router?from=rewards#top", "HTTP://intranet.example/"])
def test_a_perk_link_to_a_web_address_is_accepted(url: str) -> None:
    problems, spec = check_ruleset_text(_with_perk_url(url), "rules.yaml")
    assert problems == [] and spec is not None
    assert spec.perks[0].details.url == url


@pytest.mark.parametrize("icon", [HOSTILE, " javascript:alert(1)", "data:image/svg+xml,<svg onload=alert(1)>", "//x.y"])
def test_a_badge_icon_is_a_symbol_or_a_web_address(icon: str) -> None:
    source = _with_badge_icon(icon)
    problems, spec = check_ruleset_text(source, "rules.yaml")
    assert spec is None
    [problem] = problems
    assert problem.line == _line_of(source, f"    icon: {_yaml_text(icon)}\n") and problem.field.endswith(".icon")
    assert problem.message.startswith("`icon` is a short symbol or an image's absolute http:// or https:// address")
    for fine in ["🏆", ":trophy:", "https://forum.example.com/images/solver.png"]:
        assert check_ruleset_text(_with_badge_icon(fine), "rules.yaml")[0] == []


async def test_validate_and_publish_refuse_a_javascript_link_naming_the_field_and_line(api: Api) -> None:
    source = _with_perk_url(HOSTILE)
    line = _line_of(source, f"      url: {_yaml_text(HOSTILE)}\n")
    before = (await api.client.get("/v1/rulesets")).json()["published_version"]

    validated = await api.client.post("/v1/rulesets/validate", json={"source": source})
    assert validated.status_code == 422
    assert f"line {line}: `url` must be an absolute http:// or https:// address" in validated.json()["error"]
    [problem] = validated.json()["detail"]
    assert (problem["line"], problem["field"]) == (line, "perks.0.details.url")

    for mode in ("from_now_on", "retroactive"):
        published = await api.client.post(
            "/v1/rulesets/publish", json={"source": source, "mode": mode, "comment": "a beta link"}
        )
        assert published.status_code == 422, published.text
        assert f":{line}: perks.0.details.url: `url` must be an absolute" in published.json()["error"]
    assert (await api.client.get("/v1/rulesets")).json()["published_version"] == before


def _perk_details(url: str | None) -> str:
    macros: Any = i18n.environment("en").get_template("web/_macros.html").module
    html: str = str(macros.perk_details({"details": {"date": None, "place": None, "url": url}}))
    return html


@pytest.mark.parametrize("url", REFUSED)
def test_a_page_shows_an_address_that_is_not_http_as_text_never_as_a_link(url: str) -> None:
    # Grants shown on /me carry what the rules said when they were made: the page does not rely on validation.
    html = _perk_details(url)
    assert "<a" not in html and "href" not in html and "<script" not in html
    assert re.search(r"<p>.+</p>", html)  # still shown, as text


def test_a_page_links_an_http_address() -> None:
    assert '<a href="https://beta.example.test/r?a=1&amp;b=2">' in _perk_details("https://beta.example.test/r?a=1&b=2")
    assert _perk_details(None).strip() == ""


def test_every_address_a_template_puts_in_href_or_src_is_a_local_path_or_checked() -> None:
    # A new `href="{{ ... }}"` fed from data must go through `web_url`; the others lead to this site's own paths.
    local_or_trusted = (
        "link(",  # leaderboards.html: /leaderboards?board=...
        "path ",  # _macros.html history(): the page's own path, given by the template that calls it
        "base ",  # admin/_person_actions.html: /admin/people/<id>
        "forum_login_url ",  # REWARDS_SSO_LOGIN_URL: the operator's setting, not data
    )
    for template in TEMPLATES.rglob("*.html"):
        for expression in re.findall(r'(?:href|src|action)="\{\{\s*([^}]*)\}\}', template.read_text()):
            assert "|web_url" in expression or expression.startswith(local_or_trusted), (
                f"{template.relative_to(PROJECT_ROOT)}: href/src from {expression.strip()!r} is not checked by web_url"
            )


def test_no_template_has_inline_script_style_or_event_handlers() -> None:
    # The pages' Content-Security-Policy allows this site's files only: inline code or styles would be blocked.
    # A script file of this site's (the rules editor's /static/editor.js) is allowed.
    inline = re.compile(
        r'<script(?! src="/static/[a-z-]+\.js" defer></script>)|<style|\sstyle=|\son[a-z]+=', re.IGNORECASE
    )
    for template in [*TEMPLATES.rglob("*.html"), *TEMPLATES.rglob("*.svg")]:
        found = inline.search(template.read_text())
        assert found is None, f"{template.relative_to(PROJECT_ROOT)}: {found and found.group()!r}"


def _assert_common_headers(headers: Any) -> None:
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


async def test_pages_json_and_the_flair_carry_the_security_headers(api: Api) -> None:
    await api.post_events(upvote("v1", answer("a1", "expert", "q1")))

    page = await api.client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == PAGE_POLICY
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in PAGE_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    _assert_common_headers(page.headers)
    missing = await api.client.get("/no-such-page", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and missing.headers["content-security-policy"] == PAGE_POLICY

    for path in ("/v1/users/expert", "/v1/no-such-endpoint", "/v1/users/expert/flair.svg", "/static/site.css"):
        response = await api.client.get(path)
        assert response.headers["content-security-policy"] == RESOURCE_POLICY, path
        _assert_common_headers(response.headers)
    flair = await api.client.get("/v1/users/expert/flair.svg", headers={"Authorization": ""})
    assert flair.status_code == 200 and flair.headers["content-type"] == "image/svg+xml"
    assert flair.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"  # runs nothing
    _assert_common_headers(flair.headers)

    docs = await api.client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-security-policy"] == DOCS_POLICY
    _assert_common_headers(docs.headers)


async def test_an_unexpected_error_answers_json_with_the_security_headers_too(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starlette answers an unhandled error from outside every middleware: the handler adds the headers itself."""
    from rewards.users import service as users_service

    async def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("a bug")

    monkeypatch.setattr(users_service, "profile_json", broken)
    app = api.client._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://rewards.test", headers=api.client.headers
    ) as client:
        response = await client.get("/v1/users/expert")
    assert response.status_code == 500
    assert response.json()["error"].startswith("internal error")
    assert response.headers["content-security-policy"] == RESOURCE_POLICY
    _assert_common_headers(response.headers)
