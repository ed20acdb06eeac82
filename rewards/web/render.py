"""Rendering a page: who is looking, in which language, the form token, the page shell; and the error pages."""

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from rewards.config import Settings
from rewards.web import csrf, i18n, sessions
from rewards.web.i18n import N_
from rewards.web.sessions import Viewer

LANGUAGE_COOKIE = "rewards_lang"
# The browser's time zone (`Intl`), written by /static/time-zone.js: used when the forum did not say the member's.
TIME_ZONE_COOKIE = "rewards_tz"


class PageError(Exception):
    """An expected failure of a page, shown as an HTML page with its status. `title` and `message` are catalog
    message ids (`message` may hold `%(name)s` placeholders filled from `params`)."""

    def __init__(self, status_code: int, title: str, message: str, **params: str) -> None:
        super().__init__(message % params)
        self.status_code = status_code
        self.title = title
        self.message = message
        self.params = params


class SignInRequired(Exception):
    """An anonymous visitor asked for a page that needs a signed-in person: send them to sign in, then back."""


@dataclass(frozen=True)
class PageContext:
    settings: Settings
    viewer: Viewer | None
    locale: str
    csrf_token: str
    new_csrf_cookie: bool
    # The zone the page's times are shown in: the member's (SSO `zoneinfo`, their profile), else the browser's,
    # else REWARDS_DEFAULT_TIME_ZONE.
    time_zone: str = "UTC"


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def page_context(request: Request) -> PageContext:
    """Computed once per request (dependencies and error handlers share it)."""
    cached: PageContext | None = getattr(request.state, "page_context", None)
    if cached is not None:
        return cached
    settings = settings_of(request)
    viewer = sessions.read(settings, request.cookies.get(sessions.SESSION_COOKIE))
    locale = i18n.choose(
        chosen=request.cookies.get(LANGUAGE_COOKIE),
        claimed=viewer.locale if viewer is not None else None,
        accept_language=request.headers.get("accept-language"),
    )
    token, new = csrf.token_for(request, viewer)
    browser_zone = request.cookies.get(TIME_ZONE_COOKIE)
    time_zone = browser_zone if browser_zone and i18n.zone(browser_zone) is not None else settings.default_time_zone
    context = PageContext(settings, viewer, locale, token, new, time_zone)
    request.state.page_context = context
    return context


def with_member_time_zone(context: PageContext, member_zone: str | None) -> PageContext:
    """The context with the signed-in member's own time zone (from their profile), when the forum said it."""
    if member_zone is None or i18n.zone(member_zone) is None:
        return context
    return replace(context, time_zone=member_zone)


def local_path(value: str | None, default: str = "/me") -> str:
    """`value` when it is a path on this site, else `default`: `?next=` never leads to another site."""
    if not value or len(value) > 2000 or "\\" in value or any(ord(char) < 32 for char in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return default
    return value


def render(request: Request, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    context = page_context(request)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    shell = {
        "viewer": context.viewer,
        "csrf_field": csrf.FIELD,
        "csrf_token": context.csrf_token,
        "current_path": request.url.path,
        "here": quote(path, safe=""),
        "languages": [(locale, i18n.language_name(locale)) for locale in i18n.LOCALES],
        "development": context.settings.environment == "development",
    }
    with i18n.reading(context.time_zone, request.app.state.runtime.ruleset.texts):
        body = i18n.environment(context.locale).get_template(template).render(**shell, **values)
    response = HTMLResponse(body, status_code=status_code)
    # Pages show personal data; nothing in between may keep them.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Language"] = context.locale
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if context.new_csrf_cookie:
        csrf.remember(context.settings, response, context.csrf_token)
    return response


def error_page(request: Request, status_code: int, title: str, message: str, **params: str) -> HTMLResponse:
    return render(request, "web/error.html", status_code=status_code, title=title, message=message, params=params)


_NOT_PAGES = ("/v1/", "/docs", "/redoc", "/openapi.json", "/static/")


def wants_page(request: Request) -> bool:
    """A browser asking for one of the site's pages (not the API or its documentation): its errors are pages."""
    return "text/html" in request.headers.get("accept", "") and not request.url.path.startswith(_NOT_PAGES)


def invalid_request_page(request: Request, problems: list[tuple[str, str]]) -> HTMLResponse:
    """A 422 for a browser: the address or form had a value the page cannot take."""
    listed = "; ".join(f"{name}: {message}" for name, message in problems)
    return error_page(
        request,
        422,
        N_("This address or form cannot be used"),
        N_("Correct it and try again. %(problems)s"),
        problems=listed,
    )


def not_found_page(request: Request) -> HTMLResponse:
    return error_page(
        request,
        404,
        N_("Page not found"),
        N_("There is no page at this address. Check the address, or start again from the home page."),
    )


def install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(PageError)
    async def page_error(request: Request, error: PageError) -> Response:
        return error_page(request, error.status_code, error.title, error.message, **error.params)

    @app.exception_handler(csrf.CsrfRefused)
    async def csrf_refused(request: Request, _error: csrf.CsrfRefused) -> Response:
        return error_page(
            request,
            403,
            N_("This form has expired"),
            N_(
                "The form was sent without its security token, or with an old one (CSRF protection). "
                "Go back, reload the page and send it again."
            ),
        )

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, _error: SignInRequired) -> Response:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(wanted, safe='')}", status_code=303)
