"""Deadlines for receiving a request, which uvicorn does not have: `rewards serve` runs this HTTP protocol.

uvicorn's only connection timeout is the keep-alive one, for the quiet between two requests, and any byte that
arrives stops it; so a client that sends half a request line, or trickles headers or a body a byte at a time,
holds its connection (and a file descriptor) for as long as it likes, and headers have no size limit with
httptools. Here the headers must be complete within `REWARDS_REQUEST_HEADER_TIMEOUT_SECONDS` of the connection
opening (or of the request's first byte, on a kept-alive connection), and within
`REWARDS_MAX_REQUEST_HEADER_BYTES`; the body within `REWARDS_REQUEST_BODY_TIMEOUT_SECONDS` of the headers.
Deadlines, not idle timeouts: a trickle never resets them. Past one, the connection gets `408` (when a request
had begun and nothing was answered yet) and is closed; too many header bytes get `431`. A reverse proxy in
front should still do the same (README, Deploy it at scale): it also limits connections per client.
"""

import asyncio
import logging
from typing import Any

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from rewards.config import get_settings

log = logging.getLogger("uvicorn.error")

REQUEST_TIMEOUT = (408, b"Request Timeout")
HEADERS_TOO_LARGE = (431, b"Request Header Fields Too Large")


def refusal(status: tuple[int, bytes], message: str) -> bytes:
    """A complete response that closes the connection, with the API's `{"error", "detail"}` body."""
    body = orjson.dumps({"error": message, "detail": None})
    code, phrase = status
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (
        code,
        phrase,
        len(body),
    )
    return head + body


class HttpProtocolWithDeadlines(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for the headers and one for the body, and a header size
    limit. One timer per connection: armed for the headers when it opens (and when a later request begins), for
    the body once the headers are in, disarmed when the request is complete."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = get_settings()
        self.header_timeout = settings.request_header_timeout_seconds
        self.body_timeout = settings.request_body_timeout_seconds
        self.max_header_bytes = settings.max_request_header_bytes
        self.deadline: asyncio.TimerHandle | None = None
        self.header_bytes = 0
        self.request_begun = False  # some bytes of a request arrived: a timeout is answered with 408
        self.refused = False  # answered by this class and closing: the parser's further callbacks do nothing

    # -- the timer

    def _arm(self, seconds: float, stage: str) -> None:
        self._disarm()
        self.deadline = self.loop.call_later(seconds, self._expired, stage, seconds)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _expired(self, stage: str, seconds: float) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
        log.info("%sclosed the connection: the request's %s did not arrive within %g s", client, stage, seconds)
        # 408 for a request that began and has no answer yet (an application may answer before reading the body).
        answered = stage == "body" and self.cycle is not None and self.cycle.response_started
        unanswered = self.request_begun and not answered
        if unanswered:
            message = f"the request's {stage} did not arrive within {seconds:g} seconds: send it at once"
            self._refuse(REQUEST_TIMEOUT, message)
        else:
            self.transport.close()

    def _refuse(self, status: tuple[int, bytes], message: str) -> None:
        self.refused = True
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            # The application may still be reading the body: to it, the client is gone (as it soon will be).
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.write(refusal(status, message))
        self.transport.close()

    # -- the connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the connection is the WebSocket protocol's from here
        super().handle_websocket_upgrade()

    # -- the parser's callbacks

    def on_message_begin(self) -> None:
        if self.refused:
            return
        self.request_begun = True
        self.header_bytes = 0
        if self.deadline is None:  # a later request on a kept-alive connection
            self._arm(self.header_timeout, "headers")
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if self._count(len(url)):
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._count(len(name) + len(value) + 4):  # ": " and CRLF
            super().on_header(name, value)

    def _count(self, size: int) -> bool:
        """Add header bytes; False once the request is refused."""
        if self.refused:
            return False
        self.header_bytes += size
        if self.header_bytes > self.max_header_bytes:
            self._refuse(
                HEADERS_TOO_LARGE,
                f"the request line and headers are over {self.max_header_bytes:,} bytes: send fewer or shorter ones",
            )
            return False
        return True

    def on_headers_complete(self) -> None:
        if self.refused:
            return
        self._arm(self.body_timeout, "body")  # disarmed at once by on_message_complete when there is none
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self.refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self.refused:
            return
        self._disarm()
        self.request_begun = False
        super().on_message_complete()
