"""Where fetch may go: the policy, and proof that a refused address never gets a packet.

The parent process performs every fetch, so a spy on ``socket.socket.connect`` in this
process sees every connection attempt (and lets only loopback ones through, so that even a
test run against a broken policy sends nothing off this machine); host names are answered
by a stand-in for ``socket.getaddrinfo``, so no test asks a real DNS server anything.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import socket
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from segfn.fetch import FetchRequest
from segfn.sandbox import egress
from segfn.sandbox.egress import OWN_WEBHOOKS, Egress, EgressPolicy, own_url_in
from tests.local_http import LocalServer, local_server

FAKE_DNS = {
    "metadata.test": ["169.254.169.254"],
    "metadata6.test": ["fe80::1"],
    "mixed.test": ["127.0.0.1", "169.254.169.254"],
    "local.test": ["127.0.0.1"],
    "self.test": ["127.0.0.1"],
    "hooks.test": ["127.0.0.1"],
    "cgnat.test": ["100.100.100.200"],
    "sitelocal.test": ["fec0::1"],
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
        if address[0] not in ("127.0.0.1", "::1"):
            raise OSError(errno.ENETUNREACH, "the test lets no packet leave loopback")
        return real_connect(self, address)

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                    flags: int = 0) -> Any:
        name = str(host).rstrip(".").lower()
        if name in FAKE_DNS:
            return [info for address in FAKE_DNS[name]
                    for info in real_getaddrinfo(address, port, family, type, proto, flags)]
        # Numeric spellings (0x7f000001) are parsed, never looked up.
        return real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def perform(policy: EgressPolicy, *urls: str, budget: float = 5.0) -> list[dict[str, Any]]:
    """The answers to GETs of ``urls``, as the worker's frame carries them."""
    async def run() -> list[dict[str, Any]]:
        performer = Egress(policy)
        try:
            answers = await performer([FetchRequest(url) for url in urls], budget)
            return [answer.to_dict() for answer in answers]
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


@pytest.mark.parametrize("address", [
    "100.64.0.1", "100.100.100.200", "100.127.255.254", "fec0::1", "feff::1",
    "::ffff:100.100.100.200",
])
def test_carrier_grade_nat_and_site_local_are_private(address: str) -> None:
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


OWN_SPELLINGS = [
    "https://hooks.example/hooks/abc",
    "HTTPS://HOOKS.EXAMPLE/hooks/abc",
    "https://hooks.example:443/hooks/abc",
    "https://hooks.example/other/../hooks/abc",
    "https://hooks.example./hooks/abc",
    "https://hooks%2eexample/hooks/abc",
    "https://hooks%2Eexample%2E/hooks/abc",
    "https://hooks.example/%68ooks/abc",
    "https://hooks.example/hooks%2fabc",
    "http://hooks.example/hooks/abc",
    "http://hooks.example:80/hooks/abc",
    "https://hooks\u3002example/hooks/abc",
    "https://hooks.example/hooks",
]
OTHER_URLS = [
    "https://hooks.example/other", "https://hooks.example:8443/hooks/abc",
    "http://hooks.example:443/hooks/abc", "https://api.example/hooks/abc",
    "https://hooks.example/hooksabc", "https://hooks.example.evil/hooks/abc",
    "https://hooks.example@evil.example/hooks/abc",
]


@pytest.mark.parametrize("url", OWN_SPELLINGS)
def test_the_runners_own_webhooks_are_refused_however_spelled(url: str) -> None:
    policy = EgressPolicy(refused_prefixes=["https://hooks.example/hooks/"])
    assert policy.refused_url(url) == OWN_WEBHOOKS


@pytest.mark.parametrize("url", OTHER_URLS)
def test_other_urls_are_not_the_runners_own(url: str) -> None:
    policy = EgressPolicy(refused_prefixes=["https://hooks.example/hooks/"])
    assert policy.refused_url(url) is None


@pytest.mark.parametrize(("prefix", "url"), [
    ("https://b\u00fccher.example", "https://xn--bcher-kva.example/fn/a"),
    ("https://xn--bcher-kva.example/", "https://B\u00dcCHER.example./fn/a"),
    ("http://127.0.0.1:8080", "http://[::ffff:127.0.0.1]:8080/fn/a"),
])
def test_hosts_compare_as_idna_and_addresses_as_addresses(prefix: str, url: str) -> None:
    assert EgressPolicy(refused_prefixes=[prefix]).refused_url(url) == OWN_WEBHOOKS


@pytest.mark.parametrize("url", OWN_SPELLINGS)
def test_code_that_writes_an_own_url_out_is_found(url: str) -> None:
    code = f"def on_request(request, settings):\n    fetch('{url}', method='POST')\n"
    assert own_url_in(code, ["https://hooks.example/hooks/"]) == url


def test_code_with_other_urls_only_is_not_found() -> None:
    code = "".join(f"fetch({url!r})\n" for url in OTHER_URLS)
    assert own_url_in(code, ["https://hooks.example/hooks/", ""]) is None


# The runner's own listening sockets

PORT = 8080


@pytest.mark.parametrize(("listening", "address"), [
    (("127.0.0.1", PORT), "127.0.0.1"),
    (("127.0.0.1", PORT), "::ffff:127.0.0.1"),
    (("127.0.0.1", PORT), "64:ff9b::7f00:1"),
    (("127.0.0.1", PORT), "0.0.0.0"),
    (("127.0.0.1", PORT), "::"),
    (("::1", PORT), "::1"),
    (("0.0.0.0", PORT), "127.0.0.1"),
    (("0.0.0.0", PORT), "127.9.9.9"),
    (("0.0.0.0", PORT), "::ffff:127.0.0.2"),
    (("::", PORT), "127.0.0.1"),
    (("::", PORT), "::1"),
])
def test_the_runners_own_socket_is_refused(listening: tuple[str, int], address: str) -> None:
    policy = EgressPolicy(allow_loopback=True, allow_private=True, listening=[listening])
    assert OWN_WEBHOOKS in (policy.refusal(address, PORT) or "")
    assert policy.refusal(address) != policy.refusal(address, PORT)


@pytest.mark.parametrize(("listening", "address", "port"), [
    (("127.0.0.1", PORT), "127.0.0.1", PORT + 1),
    (("127.0.0.1", PORT), "127.0.0.2", PORT),
    (("::1", PORT), "127.0.0.1", PORT),
    # Not an address of this machine: binding to it fails, so it is someone else.
    (("0.0.0.0", PORT), "93.184.215.14", PORT),
    (("::", PORT), "2606:4700::1111", PORT),
])
def test_other_sockets_are_not_the_runners_own(listening: tuple[str, int], address: str,
                                               port: int) -> None:
    policy = EgressPolicy(allow_loopback=True, listening=[listening])
    assert policy.refusal(address, port) is None


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


@pytest.mark.parametrize("spelling", [
    "http://127.0.0.1:{port}/", "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/", "http://0x7f000001:{port}/",
    "http://self.test:{port}/", "http://SELF.test.:{port}/",
    "http://0.0.0.0:{port}/", "http://[::]:{port}/",
])
@pytest.mark.parametrize("bound", ["127.0.0.1", "0.0.0.0"])
def test_the_runners_own_socket_is_refused_without_a_connection(
        connects: list[str], server: LocalServer, spelling: str, bound: str) -> None:
    port = server.server_address[1]
    policy = EgressPolicy(allow_loopback=True, listening=[(bound, port)])
    (answer,) = perform(policy, spelling.format(port=port))
    assert OWN_WEBHOOKS in answer["error"]
    assert connects == [] and server.connections == 0


def test_another_port_on_the_same_address_is_reached(connects: list[str],
                                                     server: LocalServer) -> None:
    port = server.server_address[1]
    policy = EgressPolicy(allow_loopback=True, listening=[("0.0.0.0", port + 1)])
    (answer,) = perform(policy, f"http://0x7f000001:{port}/echo")
    assert answer["status"] == 200
    assert connects == ["127.0.0.1"] and server.connections == 1


@pytest.mark.parametrize("url", [
    "http://cgnat.test/", "http://sitelocal.test/", "http://100.100.100.200/latest/",
    "http://[fec0::1]/", "http://[::ffff:100.64.0.1]/",
])
def test_carrier_grade_nat_and_site_local_are_refused_before_connecting(
        connects: list[str], url: str) -> None:
    (answer,) = perform(EgressPolicy(allow_loopback=True), url)
    assert "private address" in answer["error"]
    assert connects == []


def test_the_public_url_is_refused_before_resolving_however_spelled(
        connects: list[str], server: LocalServer) -> None:
    port = server.server_address[1]
    # hooks.test resolves to the local server: a request that got through would reach it.
    policy = EgressPolicy(allow_loopback=True, refused_prefixes=[f"https://hooks.test:{port}"])
    answers = perform(policy, f"http://HOOKS.test.:{port}/fn/abc",
                      f"http://hooks%2etest:{port}/fn/abc", f"https://hooks.test:{port}/")
    assert [answer["error"] for answer in answers] == [f"refused: {OWN_WEBHOOKS}"] * 3
    assert connects == [] and server.connections == 0


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


# How much one fetch or fetch_all call may ask for and hold


def test_more_requests_than_a_call_may_make_are_all_refused_unsent(server: LocalServer
                                                                   ) -> None:
    urls = [f"{server.url}/echo"] * (egress.MAX_FETCH_REQUESTS + 1)
    answers = perform(EgressPolicy(allow_loopback=True), *urls)
    assert len(answers) == len(urls)
    assert all(f"at most {egress.MAX_FETCH_REQUESTS} requests" in a["error"] for a in answers)
    assert server.connections == 0
    assert perform(EgressPolicy(allow_loopback=True),
                   *urls[:egress.MAX_FETCH_REQUESTS])[-1]["status"] == 200


def test_large_responses_hold_no_more_than_the_total_while_read(server: LocalServer) -> None:
    size, count = egress.MAX_RESPONSE_BYTES, 40
    tracemalloc.start()
    try:
        answers = perform(EgressPolicy(allow_loopback=True),
                          *[f"{server.url}/bytes/{size}"] * count)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    bodies = [len(base64.b64decode(a["body"])) for a in answers if "body" in a]
    errors = [a["error"] for a in answers if "error" in a]
    # Each answer is a whole response or an error saying why not; whole ones fit the total.
    assert all(b == size for b in bodies) and sum(bodies) <= egress.MAX_FETCH_BYTES
    assert len(errors) == count - len(bodies) > 0
    assert all(e.endswith(f"over {egress.MAX_FETCH_BYTES} bytes in total") for e in errors)
    # Held at once: at most the total, as bodies or their base64 (4/3 of them), and one
    # response's copies while it is encoded.
    assert peak < egress.MAX_FETCH_BYTES * 4 / 3 + 3 * egress.MAX_RESPONSE_BYTES, peak


def test_responses_that_fit_the_total_together_all_come_back(server: LocalServer) -> None:
    size = egress.MAX_FETCH_BYTES // 4
    answers = perform(EgressPolicy(allow_loopback=True), *[f"{server.url}/bytes/{size}"] * 3)
    assert [len(base64.b64decode(a["body"])) for a in answers] == [size] * 3
