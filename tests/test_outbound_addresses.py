"""Webhooks go to public addresses only: the API refuses loopback, private, link-local, multicast, reserved and
cloud metadata addresses in every spelling unless REWARDS_WEBHOOK_ALLOWED_NETWORKS allows them, and delivery checks
again, after resolving the host, connecting only to the address it checked."""

import ipaddress
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from rewards.config import Settings
from rewards.db import unit_of_work
from rewards.outbound import AddressPolicy
from rewards.outbox import repository, service
from rewards.outbox.models import DeliveryStatus
from rewards.outbox.schemas import DeliveryOut
from rewards.outbox.service import Notification, record
from rewards.runtime import Runtime
from tests.conftest import make_settings, open_api
from tests.webhook_receiver import Receiver

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SETTING = "REWARDS_WEBHOOK_ALLOWED_NETWORKS"

# (url, the address the refusal names, the kind of address it names)
REFUSED = [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "cloud metadata"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254", "cloud metadata"),
    ("http://100.100.100.200/latest/meta-data/", "100.100.100.200", "cloud metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "169.254.169.254", "cloud metadata"),
    ("http://[::1]:6379/", "::1", "loopback"),
    ("http://127.0.0.1:8080/hook", "127.0.0.1", "loopback"),
    ("http://127.8.9.10/", "127.8.9.10", "loopback"),
    ("http://localhost:8000/hook", "127.0.0.1", "loopback"),
    ("https://LOCALHOST./hook", "127.0.0.1", "loopback"),
    ("http://api.localhost/", "127.0.0.1", "loopback"),
    # The spellings resolvers accept (inet_aton): decimal, hex, octal, fewer than four parts.
    ("http://2852039166/", "169.254.169.254", "cloud metadata"),
    ("http://0xa9fea9fe/", "169.254.169.254", "cloud metadata"),
    ("http://0x7f.1/", "127.0.0.1", "loopback"),
    ("http://017700000001/", "127.0.0.1", "loopback"),
    ("http://0177.0.0.1/", "127.0.0.1", "loopback"),
    ("http://127.1/", "127.0.0.1", "loopback"),
    ("http://10.1/", "10.0.0.1", "private"),
    # IPv4 inside IPv6: mapped, NAT64, 6to4.
    ("http://[::ffff:127.0.0.1]:6379/", "127.0.0.1", "loopback"),
    ("http://[::ffff:a9fe:a9fe]/", "169.254.169.254", "cloud metadata"),
    ("http://[64:ff9b::10.0.0.1]/", "10.0.0.1", "private"),
    ("http://[2002:c0a8:0101::1]/", "192.168.1.1", "private"),
    ("http://0.0.0.0:8000/", "0.0.0.0", "unspecified"),  # noqa: S104 (URLs to refuse, not binds)
    ("http://0/", "0.0.0.0", "unspecified"),  # noqa: S104
    ("http://[::]/", "::", "unspecified"),
    ("http://10.0.0.5/hook", "10.0.0.5", "private address (RFC 1918)"),
    ("http://172.16.3.4/hook", "172.16.3.4", "private address (RFC 1918)"),
    ("http://192.168.1.1/hook", "192.168.1.1", "private address (RFC 1918)"),
    ("http://[fc00::1]/", "fc00::1", "unique-local"),
    ("http://[fd12:3456::1]/", "fd12:3456::1", "unique-local"),
    ("http://100.64.0.1/", "100.64.0.1", "carrier-grade NAT"),
    ("http://169.254.10.20/", "169.254.10.20", "link-local"),
    ("http://[fe80::1]/", "fe80::1", "link-local"),
    ("http://[fe80::1%25eth0]/", "fe80::1", "link-local"),
    ("http://224.0.0.1/", "224.0.0.1", "multicast"),
    ("http://[ff02::1]/", "ff02::1", "multicast"),
    ("http://240.0.0.1/", "240.0.0.1", "reserved"),
    ("http://255.255.255.255/", "255.255.255.255", "reserved"),
    ("http://192.0.2.10/", "192.0.2.10", "not globally reachable"),
]


def public_only(database_url: str, **overrides: Any) -> Settings:
    """The policy as shipped: no network allowed (conftest allows the test receiver's loopback)."""
    return make_settings(database_url, **{"webhook_allowed_networks": "", **overrides})


@pytest.fixture
def no_lookup_of(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Names the code under test must not look up: the test fails if it does."""
    forbidden: set[str] = set()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        assert host not in forbidden, f"{host} was looked up"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield forbidden


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """A resolver under the test's control: `dns[name]` is the list of answers, one per look-up in turn (an
    empty answer: no such name); other names resolve as usual."""
    answers: dict[str, list[list[str]]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host  # anyio (httpx's connections) passes bytes
        if name not in answers:
            return real(host, port, *args, **kwargs)
        addresses = answers[name].pop(0)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))
            for address in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


# Registration ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "address", "kind"), REFUSED, ids=[url for url, _, _ in REFUSED])
async def test_the_api_refuses_each_kind_of_address(database_url: str, url: str, address: str, kind: str) -> None:
    async with open_api(public_only(database_url)) as api:
        response = await api.client.post("/v1/webhooks", json={"url": url})
        assert response.status_code == 422, response.text
        body = response.json()
        [problem] = body["detail"]
        assert problem["field"] == "body.url"
        for words in (address, kind, SETTING):
            assert words in problem["message"], problem["message"]
            assert words in body["error"]
        assert (await api.client.get("/v1/webhooks")).json()["webhooks"] == []


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/hooks/rewards",
        "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/hook",
        "https://[::ffff:93.184.215.14]/hook",
        "https://hooks.example.com/rewards",  # a name: judged when a delivery resolves it, not now
    ],
)
async def test_a_public_address_is_accepted_without_connecting(
    database_url: str, no_lookup_of: set[str], url: str
) -> None:
    no_lookup_of.add("hooks.example.com")
    async with open_api(public_only(database_url)) as api:
        created = await api.client.post("/v1/webhooks", json={"url": url})
        assert created.status_code == 201, created.text
        assert created.json()["refused_because"] is None
        [listed] = (await api.client.get("/v1/webhooks")).json()["webhooks"]
        assert listed["url"] == url and listed["refused_because"] is None


async def test_the_setting_allows_the_networks_it_lists(database_url: str) -> None:
    settings = public_only(
        database_url, webhook_allowed_networks="10.0.0.0/8, fd00::/8,192.168.7.7,169.254.0.0/16,100.100.100.200"
    )
    async with open_api(settings) as api:
        for url in [
            "http://10.20.30.40:8080/hook",
            "http://[::ffff:10.0.0.9]/hook",  # the IPv4 address it stands for is allowed
            "http://0x0a.1/hook",
            "http://192.168.7.7/hook",
            "http://169.254.1.1/hook",  # a device on the link-local network listed
            "http://100.100.100.200/",  # a metadata address listed as itself
        ]:
            created = await api.client.post("/v1/webhooks", json={"url": url})
            assert created.status_code == 201, (url, created.text)
        for url in [
            "http://192.168.7.8/hook",
            "http://169.254.169.254/latest/meta-data/",  # a metadata address in a listed network: still refused
            "http://[fd00:ec2::254]/",
        ]:
            refused = await api.client.post("/v1/webhooks", json={"url": url})
            assert refused.status_code == 422, (url, refused.text)


def test_a_network_the_setting_cannot_read_fails_at_start_up() -> None:
    with pytest.raises(ValidationError, match=r"'10\.0\.0\.0/33' is not a network"):
        Settings(webhook_allowed_networks="10.0.0.0/8,10.0.0.0/33")


# Delivery -------------------------------------------------------------------------------------------------


async def _store_endpoint(runtime: Runtime, url: str) -> int:
    """An endpoint as one registered before the address policy was left it: stored as it was given."""
    async with unit_of_work(runtime.sessionmaker) as uow:
        row = await repository.add_endpoint(
            uow.session, url=url, secret="whsec_test", topics=[], description=None, active=True, created_at=NOW
        )
        return row.id


async def _notify(runtime: Runtime, user_id: str = "u1") -> None:
    notification = Notification("badge.awarded", user_id, {"badge": "solver"}, NOW, f"badge.awarded:{user_id}:solver")
    async with unit_of_work(runtime.sessionmaker) as uow:
        await record(uow.session, [notification], NOW)


async def _only_delivery(runtime: Runtime, endpoint_id: int) -> DeliveryOut:
    async with runtime.sessionmaker() as session:
        [delivery] = (await service.deliveries(session, endpoint_id, before=None, limit=10, status=None)).deliveries
    return delivery


def _port(receiver: Receiver) -> str:
    return receiver.url.rsplit(":", 1)[1]


async def test_a_stored_endpoint_on_localhost_is_refused_at_send_time_and_says_why(
    database_url: str, receiver: Receiver
) -> None:
    async with open_api(public_only(database_url)) as api:
        runtime = api.runtime
        endpoint_id = await _store_endpoint(runtime, f"http://localhost:{_port(receiver)}/hook")
        await _notify(runtime)

        assert await service.deliver_due(runtime, NOW) == 1

        assert receiver.received == []
        delivery = await _only_delivery(runtime, endpoint_id)
        # A failed attempt like any other: recorded with the reason, retried on the usual schedule.
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.next_attempt_at is not None and delivery.next_attempt_at > NOW
        assert delivery.last_status_code is None
        assert delivery.last_error is not None
        for words in ("ForbiddenAddress", "localhost", "127.0.0.1", "loopback", SETTING):
            assert words in delivery.last_error, delivery.last_error
        assert [(entry.attempt, entry.status_code, entry.error) for entry in delivery.log] == [
            (1, None, delivery.last_error)
        ]

        # The endpoint list says why, and a ping fails with the same reason.
        [listed] = (await api.client.get("/v1/webhooks")).json()["webhooks"]
        assert "127.0.0.1" in listed["refused_because"] and SETTING in listed["refused_because"]
        ping = (await api.client.post(f"/v1/webhooks/{endpoint_id}/test")).json()
        assert ping["status"] == "failed" and "ForbiddenAddress" in ping["last_error"]
        assert receiver.received == []


async def test_a_name_that_resolves_to_a_forbidden_address_is_refused_at_send_time(
    database_url: str, receiver: Receiver, dns: dict[str, list[list[str]]]
) -> None:
    dns["rebound.example"] = [["127.0.0.1"]]
    async with open_api(public_only(database_url)) as api:
        endpoint_id = await _store_endpoint(api.runtime, f"http://rebound.example:{_port(receiver)}/hook")
        await _notify(api.runtime, "u1")

        assert await service.deliver_due(api.runtime, NOW) == 1

        assert receiver.received == []
        delivery = await _only_delivery(api.runtime, endpoint_id)
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.last_error is not None
        assert "ForbiddenAddress" in delivery.last_error
        assert "rebound.example resolves to 127.0.0.1, a loopback address" in delivery.last_error
        assert SETTING in delivery.last_error
        assert dns["rebound.example"] == []  # looked up once


def test_every_address_a_name_resolves_to_must_be_allowed() -> None:
    public, private = ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("10.0.0.1")
    refusal = AddressPolicy().refusal_of_addresses("mixed.example", [public, private])
    assert refusal is not None and "mixed.example resolves to 10.0.0.1, a private address" in refusal
    assert AddressPolicy().refusal_of_addresses("public.example", [public]) is None
    assert (
        AddressPolicy((ipaddress.ip_network("10.0.0.0/8"),)).refusal_of_addresses("m.example", [public, private])
        is None
    )


async def test_each_delivery_checks_the_name_again_and_connects_only_to_the_address_it_checked(
    database_url: str, receiver: Receiver, dns: dict[str, list[list[str]]]
) -> None:
    """DNS rebinding. The name first answers 127.0.0.1 (allowed here), then 127.0.0.2 (not allowed, and nothing
    listens there). The first delivery arrives only if it connected to the address it checked: a second look-up
    would get 127.0.0.2. The next delivery looks the name up again and is refused before connecting."""
    dns["receiver.example"] = [["127.0.0.1"], ["127.0.0.2"]]
    settings = public_only(database_url, webhook_allowed_networks="127.0.0.1/32")
    async with open_api(settings) as api:
        endpoint_id = await _store_endpoint(api.runtime, f"http://receiver.example:{_port(receiver)}/hook")
        await _notify(api.runtime, "u1")

        assert await service.deliver_due(api.runtime, NOW) == 1

        assert (await _only_delivery(api.runtime, endpoint_id)).status == DeliveryStatus.DELIVERED
        [received] = receiver.received
        assert received.headers["host"] == f"receiver.example:{_port(receiver)}"
        assert received.path == "/hook"
        assert dns["receiver.example"] == [["127.0.0.2"]]  # looked up once

        await _notify(api.runtime, "u2")
        assert await service.deliver_due(api.runtime, NOW) == 1

        assert len(receiver.received) == 1
        async with api.runtime.sessionmaker() as session:
            page = await service.deliveries(session, endpoint_id, before=None, limit=10, status=None)
        rebound = page.deliveries[0]
        assert rebound.status == DeliveryStatus.PENDING
        assert rebound.last_error is not None
        assert "ForbiddenAddress" in rebound.last_error
        assert "receiver.example resolves to 127.0.0.2, a loopback address" in rebound.last_error
