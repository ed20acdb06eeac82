"""Where the engine may connect on someone else's say-so (webhook URLs): public addresses only, unless an operator
lists networks to allow. `AddressPolicy` decides from a host or its addresses alone; `GuardedTransport` is the httpx
transport that enforces it at connect time: it resolves a host once, refuses if any address is forbidden, and
connects to an address it checked, so a DNS answer that changes after the check (rebinding) cannot move it."""

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The setting an operator allows networks with, named in every refusal.
ALLOWED_NETWORKS_SETTING = "REWARDS_WEBHOOK_ALLOWED_NETWORKS"

METADATA_KIND = "a cloud metadata address"
# AWS (IPv4 and IPv6), GCP and Azure (169.254.169.254 too), Alibaba Cloud.
METADATA_ADDRESSES: frozenset[Address] = frozenset(
    ipaddress.ip_address(text) for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# Names that mean this machine or a metadata service whatever DNS says, refused without resolving them.
LOCAL_NAMES: dict[str, Address] = {
    "localhost": ipaddress.ip_address("127.0.0.1"),
    "metadata.google.internal": ipaddress.ip_address("169.254.169.254"),
}

# Checked in this order, so an address gets the most telling name. Whatever is left and is not globally
# reachable (documentation, benchmarking and protocol ranges...) is refused as special-purpose.
_FORBIDDEN_NETWORKS: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(network), kind)
    for network, kind in (
        # 0.0.0.0/8 reaches this very host on Linux (http://0/ is http://127.0.0.1/).
        ("0.0.0.0/8", "an unspecified address ('this host')"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("10.0.0.0/8", "a private address (RFC 1918)"),
        ("172.16.0.0/12", "a private address (RFC 1918)"),
        ("192.168.0.0/16", "a private address (RFC 1918)"),
        ("100.64.0.0/10", "a shared address (carrier-grade NAT, RFC 6598)"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fe80::/10", "a link-local address"),
        ("fc00::/7", "a unique-local address (private)"),
        ("fec0::/10", "a site-local address (private)"),
        ("ff00::/8", "a multicast address"),
    )
)
# IPv6 ranges whose last 32 bits are an IPv4 address a connection really goes to.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

# A host whose last label is a number is an IPv4 address in inet_aton's spellings (decimal, octal, hex, one to
# four parts: 2852039166, 0x7f.1, 017700000001), as URL parsers and getaddrinfo read it; never a name.
_NUMBER = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


def parse_networks(text: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, fd00::/8, 192.0.2.7` (commas, spaces allowed; a bare address is its own /32 or /128)."""
    networks: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as error:
            raise ValueError(f"{item!r} is not a network such as 10.0.0.0/8 or fd00::/8 ({error})") from error
    return tuple(networks)


def literal_address(host: str) -> Address | None:
    """The address a URL's host spells, in any spelling a resolver accepts; None for a host name.

    Raises ValueError for a host that ends in a number but is no IPv4 address (`1.2.3.4.5`, `08.1`)."""
    text = unquote(host.strip("[]"))
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    parts = text.removesuffix(".").split(".")
    if not _NUMBER.match(parts[-1]):
        return None
    numbers = [_ipv4_part(part, text) for part in parts]
    if len(numbers) > 4 or any(number > 255 for number in numbers[:-1]):
        raise ValueError(f"{host} is neither a host name nor an IPv4 address")
    last_bits = 8 * (5 - len(numbers))
    if numbers[-1] >= 1 << last_bits:
        raise ValueError(f"{host} is neither a host name nor an IPv4 address")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value |= number << (24 - 8 * index)
    return ipaddress.IPv4Address(value)


def _ipv4_part(part: str, host: str) -> int:
    try:
        if part[:2].lower() == "0x":
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part, 8)
        return int(part, 10)
    except ValueError as error:
        raise ValueError(f"{host} is neither a host name nor an IPv4 address") from error


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, NAT64, 6to4, IPv4-compatible), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_kind(address: Address) -> str | None:
    """What makes `address` no place to send to ("a loopback address"...); None for a public address."""
    if address in METADATA_ADDRESSES:
        return METADATA_KIND
    for network, kind in _FORBIDDEN_NETWORKS:
        if address.version == network.version and address in network:
            return kind
    inner = embedded_ipv4(address)
    if inner is not None:
        inner_kind = forbidden_kind(inner)
        return None if inner_kind is None else f"{inner_kind} ({inner} inside an IPv6 address)"
    if not address.is_global:
        return "a special-purpose address (not globally reachable)"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses only, and those in `allowed` (an operator's networks, `ALLOWED_NETWORKS_SETTING`)."""

    allowed: tuple[Network, ...] = ()
    setting: str = ALLOWED_NETWORKS_SETTING

    def allows(self, address: Address) -> bool:
        """In a listed network; a cloud metadata address only when listed as itself (`169.254.169.254`), never
        because a wider network holds it (allowing `169.254.0.0/16` for a device must not open the metadata
        service, which hands out the machine's credentials)."""
        candidates = [address] + [inner for inner in [embedded_ipv4(address)] if inner is not None]
        metadata = any(candidate in METADATA_ADDRESSES for candidate in candidates)
        return any(
            candidate.version == network.version
            and candidate in network
            and (not metadata or network.num_addresses == 1)
            for candidate in candidates
            for network in self.allowed
        )

    def refusal_of_host(self, host: str) -> str | None:
        """Why `host` (a URL's host) is refused, judged without DNS: an address in any spelling, or a name that
        is always local. None for any other name: its addresses are judged when it is resolved."""
        try:
            address = literal_address(host)
        except ValueError as error:
            return str(error)
        if address is not None:
            plain = _is_plain_address(host)
            return self._refusal(f"{host} is" if plain else f"{host} is the address {address},", address)
        name = host.lower().removesuffix(".")
        known = LOCAL_NAMES.get("localhost" if name.endswith(".localhost") else name)
        return None if known is None else self._refusal(f"{host} is always {known},", known)

    def refusal_of_addresses(self, host: str, addresses: Sequence[Address]) -> str | None:
        """Why connecting to `host`, resolved to `addresses`, is refused: any forbidden one refuses them all."""
        for address in addresses:
            refusal = self._refusal(f"{host} resolves to {address},", address)
            if refusal is not None:
                return refusal
        return None

    def _refusal(self, subject: str, address: Address) -> str | None:
        kind = forbidden_kind(address)
        if kind is None or self.allows(address):
            return None
        inner = embedded_ipv4(address)
        target = inner if inner is not None and forbidden_kind(inner) else address
        example = f"{str(target).split('%')[0]}/{target.max_prefixlen}"
        return (
            f"{subject} {kind}, where webhooks go only if an operator allows its network in {self.setting} "
            f"(networks, comma-separated: e.g. {self.setting}={example})"
        )


def _is_plain_address(host: str) -> bool:
    try:
        ipaddress.ip_address(unquote(host.strip("[]")))
    except ValueError:
        return False
    return True


# Delivery: resolve once, check, connect to what was checked. ---------------------------------------------------


class ForbiddenAddress(httpx.ConnectError):
    """A connection the address policy refused: nothing was sent."""


Resolver = Callable[[str, int], Awaitable[Sequence[Address]]]


async def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (the system resolver, as a connection would use it), in its order."""
    found: list[Address] = []
    for family, _, _, _, sockaddr in await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6):
            address = ipaddress.ip_address(sockaddr[0])
            if address not in found:
                found.append(address)
    return found


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends a request only to an address `policy` allows, connecting to the address it
    checked (the URL's host rewritten to it; the Host header and TLS server name keep the name, so certificates
    are still verified against the name). A refusal raises `ForbiddenAddress`; redirects, if a client follows
    them, come back through here and are checked the same way."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver = resolve) -> None:
        self.policy = policy
        self.resolver = resolver
        # One pool per scheme, host and port as written: a TLS connection verified for one name is never reused
        # for another name that resolves to the same address.
        self._transports: dict[tuple[str, str, int], httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        literal = self._refuse_or_literal(request, host)
        addresses = [literal] if literal is not None else await self._resolve_checked(request, host, port)
        transport = self._transports.get((url.scheme, host, port))
        if transport is None:
            transport = self._transports[(url.scheme, host, port)] = httpx.AsyncHTTPTransport()
        extensions = dict(request.extensions)
        if literal is None:
            extensions["sni_hostname"] = host
        last_error: httpx.ConnectError | None = None
        for address in addresses:
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=str(address).replace("%", "%25")),
                headers=request.headers,  # Host: the name, as written
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await transport.handle_async_request(pinned)
            except httpx.ConnectError as error:  # the next address, as a client given several would
                last_error = error
        assert last_error is not None  # a host always has an address here
        raise last_error

    def _refuse_or_literal(self, request: httpx.Request, host: str) -> Address | None:
        refusal = self.policy.refusal_of_host(host)
        if refusal is not None:
            raise ForbiddenAddress(f"refused to connect: {refusal}", request=request)
        return literal_address(host)

    async def _resolve_checked(self, request: httpx.Request, host: str, port: int) -> Sequence[Address]:
        timeout = request.extensions.get("timeout", {}).get("connect")
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.resolver(host, port)
        except TimeoutError as error:
            raise httpx.ConnectTimeout(f"resolving {host} timed out", request=request) from error
        except OSError as error:  # socket.gaierror: no such name, or no DNS
            raise httpx.ConnectError(f"cannot resolve {host}: {error}", request=request) from error
        if not addresses:
            raise httpx.ConnectError(f"{host} resolves to no address", request=request)
        refusal = self.policy.refusal_of_addresses(host, addresses)
        if refusal is not None:
            raise ForbiddenAddress(f"refused to connect: {refusal}", request=request)
        return addresses

    async def aclose(self) -> None:
        transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            await transport.aclose()
