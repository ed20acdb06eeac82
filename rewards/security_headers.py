"""Security headers on every response: a Content-Security-Policy fitted to what the response is, `nosniff`, and a
referrer policy. Headers a route set itself are left as they are."""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The pages load only this site's stylesheet: no script, no inline style, no plugin; images may also be members'
# pictures from the forum (any https address: an image runs nothing). No page is meant to be framed (the forum
# shows a member's reputation with the flair image, not by framing a page).
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' https:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# The API reference is FastAPI's Swagger UI and ReDoc: their scripts, styles and fonts come from CDNs, Swagger UI
# starts from an inline script, ReDoc searches in a blob: worker. They show only the service's own OpenAPI schema.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
# Anything else (JSON, the flair SVG, CSV, the stylesheet) loads nothing: opened on its own, an SVG runs nothing.
RESOURCE_POLICY = "default-src 'none'; frame-ancestors 'none'"


def page_policy_with_style_nonce(nonce: str) -> str:
    """PAGE_POLICY for a page whose own script adds <style> elements carrying this response's nonce: the rules
    editor (CodeMirror puts its theme in a <style> element). Scripts stay 'self' only; style attributes and
    <style> elements without the nonce stay refused. The route sets it, and the middleware leaves it as it is."""
    return f"{PAGE_POLICY}; style-src 'self' 'nonce-{nonce}'"


def headers_for(path: str, content_type: str) -> dict[str, str]:
    """The headers an answer of this type at this path carries."""
    page = content_type.startswith("text/html")
    policy = (DOCS_POLICY if path.startswith(DOCS_PATHS) else PAGE_POLICY) if page else RESOURCE_POLICY
    found = {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
    if page:
        found["X-Frame-Options"] = "DENY"  # frame-ancestors for older browsers
    return found


class SecurityHeaders:
    """Pure ASGI, so streamed bodies pass through untouched: only the start of each response is changed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in headers_for(path, headers.get("content-type", "")).items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
