"""Request body limits: counted as a body arrives, before it is parsed and before the key is checked.

Starlette's `RequestBodyLimitMiddleware` does the counting, with the app's default limit; a route that takes more
declares FastAPI's `max_body_size` (rewards.inputs), which raises the limit for its requests. This module only
makes the refusal speak the API's language: when a route answered without reading the body (a missing key, a
route without a body), Starlette replaces that answer with a plain-text 413; the API's errors are JSON that says
what the limit is.
"""

import orjson
from starlette.datastructures import Headers
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large_message(limit: object, declared: str | None) -> str:
    size = f"the body is {int(declared):,} bytes" if declared and declared.isdigit() else "the body is too large"
    most = f"at most {limit:,} bytes" if isinstance(limit, int) else "less"
    return f"{size}; this endpoint takes {most}: send less in one request"


class JsonTooLarge:
    """Outside the limiter: its plain-text 413 becomes `{"error", "detail"}`. Only requests that declare a body
    larger than the smallest limit are watched; the others pass untouched."""

    def __init__(self, app: ASGIApp, *, smallest: int) -> None:
        self.app = app
        self.smallest = smallest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is None or not declared.isdigit() or int(declared) <= self.smallest:
            await self.app(scope, receive, send)
            return
        replacing = False

        async def send_json(message: Message) -> None:
            nonlocal replacing
            if message["type"] == "http.response.start" and message["status"] == 413:
                headers = dict(message.get("headers", []))
                replacing = headers.get(b"content-type", b"").startswith(b"text/plain")
            if not replacing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                return  # sent with the body, once its length is known
            if not message.get("more_body", False):
                body = orjson.dumps(
                    {"error": too_large_message(scope.get(MAX_BODY_SIZE_SCOPE_KEY), declared), "detail": None}
                )
                await send(
                    {
                        "type": "http.response.start",
                        "status": 413,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_json)
