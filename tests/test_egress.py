"""Where fetch may go: the policy, and proof that a refused address never gets a packet.

The parent process performs every fetch, so a spy on ``socket.socket.connect`` in this
process sees every connection attempt; host names are answered by a stand-in for
``socket.getaddrinfo``, so no test asks a real DNS server anything.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from segfn.sandbox import egress
from segfn.sandbox.egress import Egress, EgressPolicy
from tests.local_http import LocalServer, local_server

FAKE_DNS = {
    "metadata.test": ["169.254.169.254"],
    "metadata6.test": ["fe80::1"],
    "mixed.test": ["127.0.0.1", "169.254.169.254"],
    "local.test": ["127.0.0.1"],
}


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address this process tries to connect to; names resolve through FAKE_DNS."""
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        attempts.append(address[0])
        return real_connect(self, address)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in FAKE_DNS:
            return [info for address in FAKE_DNS[host]
                    for info in real_getaddrinfo(address, port, *args, **kwargs)]
        if host.endswith(".test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def perform(policy: EgressPolicy, *urls: str, budget: float = 5.0) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        performer = Egress(policy)
        try:
            return await performer([{"url": url, "method": "GET", "headers": [], "body": "",
                                     "timeout": None} for url in urls], budget)
        finally:
            await performer.aclose()

    return asyncio.run(run())


# The policy


@pytest.mark.parametrize("address", [
    "169.254.169.254", "169.254.0.1", "fe80::1", "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1",
])
def test_link_local_is_refused_whatever_the_policy_allows(address: str) -> None:
    policy = EgressPolicy(allow_loopback=True, allow_private=True)
    assert "link-local" in (policy.refusal(address) or "")


@pytest.mark.parametrize("address", [
    "10.0.0.1", "172.16.5.4", "192.168.1.1", "fc00::1", "fd12:3456::1", "::ffff:10.1.2.3",
])
def test_private_addresses_are_refused_unless_allowed(address: str) -> None:
    assert "private" in (EgressPolicy().refusal(address) or "")
    assert EgressPolicy(allow_private=True).refusal(address) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_allowed_only_when_asked(address: str) -> None:
    assert "loopback" in (EgressPolicy().refusal(address) or "")
    assert EgressPolicy(allow_private=True).refusal(address) is not None
    assert EgressPolicy(allow_loopback=True).refusal(address) is None


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "224.0.0.1", "240.0.0.1"])
def test_unroutable_addresses_are_refused(address: str) -> None:
    assert EgressPolicy(allow_loopback=True, allow_private=True).refusal(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert EgressPolicy().refusal(address) is None


@pytest.mark.parametrize("url", [
    "https://hooks.example/hooks/abc",
    "HTTPS://HOOKS.EXAMPLE/hooks/abc",
    "https://hooks.example:443/hooks/abc",
    "https://hooks.example/other/../hooks/abc",
])
def test_the_runners_own_webhooks_are_refused_however_spelled(url: str) -> None:
    policy = EgressPolicy(refused_prefixes=["https://hooks.example/hooks/"])
    assert "own webhooks" in (policy.refused_url(url) or "")


@pytest.mark.parametrize("url", [
    "https://hooks.example/other", "https://hooks.example:8443/hooks/abc",
    "http://hooks.example/hooks/abc", "https://api.example/hooks/abc",
])
def test_other_urls_are_not_the_runners_own(url: str) -> None:
    policy = EgressPolicy(refused_prefixes=["https://hooks.example/hooks/"])
    assert policy.refused_url(url) is None


# Performing requests: refusals happen before any connection


def test_metadata_address_is_refused_before_connecting(connects: list[str],
                                                       server: LocalServer) -> None:
    policy = EgressPolicy(allow_loopback=True)
    refused, allowed = perform(policy, "http://169.254.169.254/latest/meta-data/",
                               f"{server.url}/echo")
    assert "link-local" in refused["error"]
    assert allowed["status"] == 200
    # The spy works (it saw the allowed request) and saw nothing else.
    assert connects == ["127.0.0.1"]


@pytest.mark.parametrize("url", [
    "http://metadata.test/latest/", "http://metadata6.test/", "http://mixed.test/",
    "http://[::ffff:169.254.169.254]/", "http://[::ffff:a9fe:a9fe]/",
])
def test_names_and_spellings_of_link_local_are_refused_before_connecting(
        connects: list[str], url: str) -> None:
    (answer,) = perform(EgressPolicy(allow_loopback=True, allow_private=True), url)
    assert "link-local" in answer["error"]
    assert connects == []


def test_loopback_is_refused_by_default_and_never_reached(connects: list[str],
                                                          server: LocalServer) -> None:
    direct, named = perform(EgressPolicy(), f"{server.url}/echo", "http://local.test/echo")
    assert "loopback" in direct["error"] and "loopback" in named["error"]
    assert connects == []
    assert server.hits["/echo"] == 0


def test_own_webhook_prefix_is_refused_before_connecting(connects: list[str],
                                                         server: LocalServer) -> None:
    policy = EgressPolicy(allow_loopback=True, refused_prefixes=[f"{server.url}/hooks/"])
    (answer,) = perform(policy, f"{server.url}/hooks/token")
    assert "own webhooks" in answer["error"]
    assert connects == [] and server.hits == {}


def test_a_name_that_does_not_resolve_is_an_error_answer(connects: list[str]) -> None:
    (answer,) = perform(EgressPolicy(), "http://nowhere.test/")
    assert "cannot resolve nowhere.test" in answer["error"]


def test_a_closed_port_is_an_error_answer() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # bound, never listening: connection refused
        (answer,) = perform(EgressPolicy(allow_loopback=True), f"http://127.0.0.1:{closed}/")
    assert answer["error"].startswith(f"fetch http://127.0.0.1:{closed}/:")


def test_a_slow_response_times_out_within_the_budget(server: LocalServer) -> None:
    (answer,) = perform(EgressPolicy(allow_loopback=True), f"{server.url}/sleep/2000",
                        budget=0.3)
    assert "timed out after 0.3s" in answer["error"]


def test_a_large_response_is_refused_without_reading_it_all(server: LocalServer) -> None:
    sent = 8 * egress.MAX_RESPONSE_BYTES
    (answer,) = perform(EgressPolicy(allow_loopback=True), f"{server.url}/bytes/{sent}")
    assert answer["error"].endswith(f"response over {egress.MAX_RESPONSE_BYTES} bytes")
    # The server stopped when the client hung up: the body was streamed, not slurped.
    assert server.streamed < sent / 2


def test_a_response_under_the_cap_is_read_whole(server: LocalServer) -> None:
    (answer,) = perform(EgressPolicy(allow_loopback=True), f"{server.url}/bytes/{2 ** 20}")
    assert answer["status"] == 200
    assert base64.b64decode(answer["body"]) == b"x" * 2 ** 20
