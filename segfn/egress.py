"""Performing a handler's ``fetch`` calls, and which addresses they may reach.

The check happens where the connection is made: the host name is resolved, every address
is checked, and the connection goes to the address that was checked, so a name that
resolves to a forbidden address (or changes its answer in between) never gets a packet.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import attrs
import httpcore
import httpx

MAX_RESPONSE_BYTES = 10 * 1024 * 1024

_LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))


@attrs.frozen
class EgressPolicy:
    """Where ``fetch`` may go. Link-local addresses (cloud metadata) are never allowed."""

    allow_loopback: bool = False
    allow_private: bool = False
    refused_prefixes: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be reached, or None if it may."""
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in _LINK_LOCAL):
            return f"{address} is a link-local address (cloud metadata)"
        if ip.is_loopback:
            return None if self.allow_loopback else f"{address} is a loopback address"
        if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
            return f"{address} is not a routable address"
        if ip.is_private:
            return None if self.allow_private else f"{address} is a private address"
        return None

    def refused_url(self, url: str) -> str | None:
        for prefix in self.refused_prefixes:
            if prefix and url.startswith(prefix):
                return "functions are unable to send data back to their own webhooks"
        return None


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks and connects to the checked address only."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, policy: EgressPolicy) -> None:
        self._inner = inner
        self._policy = policy

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:
            reason = self._policy.refusal(address)
            if reason:
                raise httpcore.ConnectError(f"refused: {host} resolves to {reason}")
        return await self._inner.connect_tcp(addresses[0], port, timeout=timeout,
                                             local_address=local_address,
                                             socket_options=socket_options)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise httpcore.ConnectError("refused: unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_client(policy: EgressPolicy, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client whose every connection goes through ``policy``."""
    transport = httpx.AsyncHTTPTransport(retries=0)
    # httpx has no public hook for the network backend; the pool it builds has one.
    pool = transport._pool
    pool._network_backend = _GuardedBackend(pool._network_backend, policy)
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False,
                             **kwargs)


class Egress:
    """A ``Fetcher`` for the worker pool that performs requests for real."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._client = guarded_client(policy)

    async def __call__(self, requests: list[dict[str, Any]], budget: float
                       ) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self._one(r, budget) for r in requests)))

    async def _one(self, request: dict[str, Any], budget: float) -> dict[str, Any]:
        url = request["url"]
        refused = self.policy.refused_url(url)
        if refused:
            return {"error": f"refused: {refused}"}
        timeout = min(budget, request.get("timeout") or budget)
        try:
            async with asyncio.timeout(timeout):
                response = await self._client.request(
                    request["method"], url, headers=request["headers"],
                    content=base64.b64decode(request["body"]) or None, timeout=timeout)
        except TimeoutError:
            return {"error": f"fetch {url}: timed out after {timeout:.1f}s"}
        except (httpx.HTTPError, httpcore.ConnectError, ValueError) as exc:
            return {"error": f"fetch {url}: {exc}"}
        if len(response.content) > MAX_RESPONSE_BYTES:
            return {"error": f"fetch {url}: response over {MAX_RESPONSE_BYTES} bytes"}
        return {"status": response.status_code, "url": str(response.url),
                "headers": [list(h) for h in response.headers.multi_items()],
                "body": base64.b64encode(response.content).decode("ascii")}

    async def aclose(self) -> None:
        await self._client.aclose()
