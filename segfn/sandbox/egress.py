"""Performing a handler's ``fetch`` calls, and which addresses they may reach.

The check happens where the connection is made: the host name is resolved, every address
is checked, and the connection goes to the addresses that were checked, so a name that
resolves to a forbidden address (or changes its answer in between) never gets a packet.
A URL whose host is an address is checked before the request, since aiohttp connects to
such a host without asking the resolver.

The runner's own webhooks are refused twice over: by address and port, wherever the URL's
host leads (the runner's listening sockets), and by URL, for a public URL that reaches the
runner through something in front of it (``refused_prefixes``).

aiohttp rather than httpx: at 64 concurrent requests httpx's connection pool spent about
25 ms of CPU a request here, aiohttp 0.3 ms.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Iterable

import aiohttp
import attrs
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from segfn.fetch import FetchAnswer, FetchRequest

MAX_RESPONSE_BYTES = 10 * 1024 * 1024
# One fetch or fetch_all call: how many requests, and how many response bytes (headers and
# bodies) the parent holds for it at once. Its answer frame, base64 making the bodies 4/3,
# stays well under protocol.MAX_FRAME.
MAX_FETCH_REQUESTS = 64
MAX_FETCH_BYTES = 16 * 1024 * 1024

OWN_WEBHOOKS = "functions are unable to send data back to their own webhooks"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
# Private in all but the name of Python's is_private: carrier-grade NAT (one cloud's
# metadata service is 100.100.100.200) and the deprecated IPv6 site-local range.
_PRIVATE_TOO = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("fec0::/10"))
# NAT64 (RFC 6052): on a NAT64 network 64:ff9b::a9fe:a9fe reaches 169.254.169.254.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CHUNK = 64 * 1024


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _canonical(address: str) -> IPAddress:
    """``address`` as the address a connection to it reaches: embedded IPv4 unwrapped."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return _embedded_ipv4(ip) or ip
    return ip


def _is_local(ip: IPAddress) -> bool:
    """Whether ``ip`` is one of this machine's addresses, asked without sending a packet:
    only a local address can be bound to."""
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(ip), 0))
    except OSError:
        return False
    return True


def listening_on(host: str, port: int) -> tuple[tuple[str, int], ...]:
    """The (address, port) pairs a server started with ``--host host --port port`` binds."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    return tuple(dict.fromkeys((str(info[4][0]), port) for info in infos))


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen
class EgressPolicy:
    """Where ``fetch`` may go. Link-local addresses (cloud metadata) are never allowed.

    ``listening`` lists the runner's own listening sockets as (address, port): a fetch that
    would connect to one is refused, however its URL is spelled; on an unspecified address
    (0.0.0.0, ::) every address of this machine on that port is the runner's own.
    ``refused_prefixes`` lists URLs that reach the runner some other way (its public URL).
    """

    allow_loopback: bool = False
    allow_private: bool = False
    refused_prefixes: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    listening: tuple[tuple[str, int], ...] = attrs.field(
        default=(), converter=lambda pairs: tuple((str(a), int(p)) for a, p in pairs))

    def refusal(self, address: str, port: int | None = None) -> str | None:
        """Why ``address`` (on ``port``, if known) may not be reached, or None if it may."""
        ip = _canonical(address)
        if port is not None and self._is_own(ip, port):
            return f"{address} port {port} is this runner: {OWN_WEBHOOKS}"
        if any(ip in net for net in _LINK_LOCAL):
            return f"{address} is a link-local address (cloud metadata)"
        if ip.is_loopback:
            return None if self.allow_loopback else f"{address} is a loopback address"
        if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
            return f"{address} is not a routable address"
        if ip.is_private or any(ip in net for net in _PRIVATE_TOO):
            return None if self.allow_private else f"{address} is a private address"
        return None

    def _is_own(self, ip: IPAddress, port: int) -> bool:
        for own_address, own_port in self.listening:
            if port != own_port:
                continue
            own = _canonical(own_address)
            # Connecting to 0.0.0.0 or :: reaches this machine, whatever it listens on.
            if ip == own or ip.is_unspecified or (own.is_unspecified and _is_local(ip)):
                return True
        return False

    def refused_url(self, url: str) -> str | None:
        """Why ``url`` may not be fetched (it is one of the runner's own), or None."""
        if any(_is_under(url, prefix) for prefix in self.refused_prefixes if prefix):
            return OWN_WEBHOOKS
        return None


# A URL written out in code: a scheme, "://", then up to a quote, a space or a backslash.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"`<>\\]+")


def own_url_in(text: str, prefixes: Iterable[str]) -> str | None:
    """The first URL written in ``text`` that is under one of ``prefixes``, or None."""
    prefixes = [prefix for prefix in prefixes if prefix]
    for match in _URL_IN_TEXT.finditer(text):
        if any(_is_under(match.group(), prefix) for prefix in prefixes):
            return match.group()
    return None


def _is_under(url: str, prefix: str) -> bool:
    """Whether ``url`` reaches what ``prefix`` does, compared as a server routes them."""
    target, base = _location(url), _location(prefix)
    if target is None or base is None:
        return False
    return target[:2] == base[:2] and target[2][:len(base[2])] == base[2]


def _location(url: str) -> tuple[str, int | None, tuple[str, ...]] | None:
    """``url`` as (host, port, path segments), or None if it has no host.

    The host lower-case, percent-decoded, IDNA-encoded, without a trailing dot; the port
    None when it is its scheme's default, so that http and https name the same place (a
    proxy in front of the runner may serve both); the path decoded, without dot segments.
    """
    try:
        parsed = URL(url)
        if not parsed.raw_host:
            return None
        host = _host(parsed.raw_host)
    except ValueError:
        return None
    port = None if parsed.is_default_port() else parsed.port
    return host, port, tuple(segment for segment in parsed.path.split("/") if segment)


def _host(raw: str) -> str:
    decoded = urllib.parse.unquote(raw).rstrip(".").lower()
    if _is_address(decoded):
        return str(_canonical(decoded))
    return URL.build(scheme="http", host=decoded).raw_host or decoded


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _GuardedResolver(AbstractResolver):
    """Resolves a host name and refuses it if any of its addresses is refused."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, family=family)
        except OSError as exc:
            # aiohttp keeps only strerror of what a resolver raises.
            raise OSError(errno.EHOSTUNREACH, f"cannot resolve {host}: {exc}") from exc
        # An address family's sockaddr starts with (address, port), as str and int.
        found = [(info, str(info[4][0]), int(info[4][1])) for info in infos]
        for _, address, number in found:
            reason = self._policy.refusal(address, number)
            if reason:
                raise PermissionError(errno.EACCES, f"refused: {host} resolves to {reason}")
        return [ResolveResult(hostname=host, host=address, port=number, family=info[0],
                              proto=info[2], flags=socket.AI_NUMERICHOST)
                for info, address, number in found]

    async def close(self) -> None:
        pass


class Egress:
    """A ``Fetcher`` for the worker pool that performs requests for real."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the event loop it is created in.
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=_GuardedResolver(self.policy),
                                             limit=256)
            # read_bufsize: what aiohttp buffers unread per connection (twice this), so
            # that data not yet counted against the caps stays small.
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                                  auto_decompress=True, read_bufsize=_CHUNK)
        return self._session

    async def __call__(self, requests: list[FetchRequest], budget: float
                       ) -> list[FetchAnswer]:
        if len(requests) > MAX_FETCH_REQUESTS:
            # None is sent: a handler would not know which of its requests had happened.
            refusal = (f"refused: fetch_all of {len(requests)} requests; at most "
                       f"{MAX_FETCH_REQUESTS} requests a call")
            return [FetchAnswer.failed(refusal) for _ in requests]
        room = _Room()
        if len(requests) == 1:  # fetch(): no task to make, nothing to gather
            return [await self._one(requests[0], budget, room)]
        return list(await asyncio.gather(*(self._one(r, budget, room) for r in requests)))

    def _refused(self, url: str) -> str | None:
        refused = self.policy.refused_url(url)
        if refused:
            return f"refused: {refused}"
        try:
            parsed = URL(url)
        except ValueError:
            return f"not a URL: {url!r}"
        if parsed.host and _is_address(parsed.host):
            reason = self.policy.refusal(parsed.host, parsed.port)
            if reason:
                return f"refused: {reason}"
        return None

    async def _one(self, request: FetchRequest, budget: float, room: _Room) -> FetchAnswer:
        url = request.url
        refused = self._refused(url)
        if refused:
            return FetchAnswer.failed(refused)
        timeout = min(budget, request.timeout or budget)
        try:
            # aiohttp's total timeout covers it all: resolving, connecting, sending and
            # reading the response to its end.
            return await self._send(request, timeout, room)
        except TimeoutError:
            return FetchAnswer.failed(f"fetch {url}: timed out after {timeout:.1f}s")
        except aiohttp.ClientConnectorError as exc:
            return FetchAnswer.failed(f"fetch {url}: {exc.strerror or exc}")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return FetchAnswer.failed(f"fetch {url}: {exc}")

    async def _send(self, request: FetchRequest, timeout: float, room: _Room) -> FetchAnswer:
        async with self._client().request(
                request.method, request.url, headers=list(request.headers),
                data=request.body or None, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            headers = tuple(response.headers.items())
            body = await _read(response, room, sum(len(n) + len(v) for n, v in headers))
        return FetchAnswer(response.status, str(response.url), headers, bytes(body))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _Room:
    """Response bytes one fetch or fetch_all call may still read, shared by its requests.

    Bytes read count whether or not their response comes back, so that a call never reads
    more than ``MAX_FETCH_BYTES`` in all.
    """

    def __init__(self) -> None:
        self.left = MAX_FETCH_BYTES

    def take(self, size: int) -> bool:
        if size > self.left:
            self.left = 0  # over: every response still being read fails, not just this one
            return False
        self.left -= size
        return True


async def _read(response: aiohttp.ClientResponse, room: _Room, header_bytes: int
                ) -> bytearray:
    """``response``'s body, read no further than the caps whatever Content-Length says."""
    over_total = f"responses to one fetch_all call over {MAX_FETCH_BYTES} bytes in total"
    if not room.take(header_bytes):
        raise ValueError(over_total)
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        if len(body) + len(chunk) > MAX_RESPONSE_BYTES:
            raise ValueError(f"response over {MAX_RESPONSE_BYTES} bytes")
        if not room.take(len(chunk)):
            raise ValueError(over_total)
        body += chunk
    return body
