"""Slow clients against a real `rewards serve`: headers and bodies have deadlines, headers a size limit.

Each test holds a raw socket the way a slowloris client does and asserts the server closes it well before a
generous bound (the deadlines here are 1 s; the bound is 10 s), never how fast exactly."""

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.bench_end_to_end import free_port
from rewards import PROJECT_ROOT

DEADLINE_SECONDS = 1
BOUND_SECONDS = 10.0  # "closed before this": generous, for a loaded machine
MAX_HEADER_BYTES = 8192


@dataclass(frozen=True)
class Server:
    port: int
    log: Path

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=BOUND_SECONDS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("slow-clients")
    port = free_port()
    env = {
        **os.environ,
        "REWARDS_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'serve.db'}",
        "REWARDS_ENVIRONMENT": "test",
        "REWARDS_REQUEST_HEADER_TIMEOUT_SECONDS": str(DEADLINE_SECONDS),
        "REWARDS_REQUEST_BODY_TIMEOUT_SECONDS": str(DEADLINE_SECONDS),
        "REWARDS_MAX_REQUEST_HEADER_BYTES": str(MAX_HEADER_BYTES),
    }
    env.pop("REWARDS_REDIS_URL", None)
    log = folder / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "rewards.cli", "serve", "--port", str(port), "--no-access-log"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            started = time.monotonic()
            while True:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() - started < 120, log.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            yield Server(port, log)
        finally:
            process.terminate()
            process.wait(timeout=30)


def _until_closed(connection: socket.socket, trickle: bytes = b"") -> tuple[bytes, float, int]:
    """Read until the server closes the connection, sending `trickle` a byte every 0.2 s meanwhile. Returns what
    was read, the seconds it took and the bytes trickled; fails if the connection is still open after the bound."""
    started = time.monotonic()
    received = b""
    sent = 0
    connection.settimeout(0.2)
    while time.monotonic() - started < BOUND_SECONDS:
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            if sent < len(trickle):
                try:
                    connection.sendall(trickle[sent : sent + 1])
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += 1
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    else:
        pytest.fail(f"the connection is still open after {BOUND_SECONDS} s; received {received!r}")
    return received, time.monotonic() - started, sent


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    with server.connect() as connection:
        received, _, _ = _until_closed(connection)
    assert received == b""  # nothing was asked, nothing is answered


def test_half_a_request_line_then_silence_gets_408_and_the_connection_closed(server: Server) -> None:
    with server.connect() as connection:
        connection.sendall(b"GET /v1/hea")
        received, _, _ = _until_closed(connection)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert b"headers did not arrive within 1 seconds" in received


def test_headers_trickled_a_byte_at_a_time_are_cut_however_steadily_they_come(server: Server) -> None:
    """Each byte comes well within any idle timeout; the deadline counts from the start all the same."""
    with server.connect() as connection:
        connection.sendall(b"GET /v1/health HTTP/1.1\r\nHost: rewards\r\nX-Slow: ")
        received, _, sent = _until_closed(connection, trickle=b"a" * 1000)
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert sent < 1000


def test_a_body_trickled_a_byte_at_a_time_is_cut(server: Server) -> None:
    body = b'{"user_id": "' + b"a" * 1000 + b'"}'
    head = (
        b"POST /v1/admin/badges/grant HTTP/1.1\r\nHost: rewards\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    )
    with server.connect() as connection:
        connection.sendall(head)
        received, _, sent = _until_closed(connection, trickle=body)
    assert sent < len(body)  # cut before the body was complete
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert b"body did not arrive within 1 seconds" in received


def test_headers_over_the_limit_get_431_and_the_connection_closed(server: Server) -> None:
    with server.connect() as connection:
        connection.sendall(b"GET /v1/health HTTP/1.1\r\nHost: rewards\r\n")
        try:
            for _ in range(100):  # 100 KiB of headers, more than the limit
                connection.sendall(b"X-Big: " + b"b" * 1024 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while still sending
        received, _, _ = _until_closed(connection)
    assert received.startswith(b"HTTP/1.1 431 "), received
    assert f"over {MAX_HEADER_BYTES:,} bytes".encode() in received


def test_a_prompt_client_keeps_its_connection_past_the_header_deadline_between_requests(server: Server) -> None:
    """The headers' deadline of the first request ends when they are in; a kept-alive connection that waits
    longer than it (within the keep-alive timeout) for its next request is not cut."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=BOUND_SECONDS)
    try:
        sockets = []
        for _ in range(2):
            connection.request("GET", "/v1/health")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b'{"status":"ok","pending_events":0}')
            sockets.append(connection.sock)
            time.sleep(DEADLINE_SECONDS + 0.5)
        assert sockets[0] is sockets[1]  # one connection, never reopened
    finally:
        connection.close()
    assert "Exception" not in server.log.read_text()
