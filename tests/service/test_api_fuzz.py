"""A fuzz of the service API: thousands of generated requests to one real service.

Every route gets every method, bodies that are nearly right (a field missing, mistyped or
extra, values from a pool of awkward ones), raw bytes that are barely JSON or not at all,
odd path parameters and query strings, every kind of Authorization header and content
type, and bodies over the limit. No answer may be a 5xx; every 4xx is a JSON error; the
service must still be healthy at the end. The generator is seeded, so a failure repeats.
"""

from __future__ import annotations

import http.client
import json
import random
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from email.message import Message
from typing import Any

import httpx
import pytest

from runner.service.keyring import generate_key
from tests.runner.harness import SEGFN
from tests.service.fuzzing import ECHO, FAILS, LOUD, QUIET, SETTINGS, Fuzzed, Generator, World
from tests.service.harness import Serve

SEED = 20261126
ROUNDS = 5000


class Client:
    """HTTP/1.1 with keep-alive, sending the request line and headers as generated.

    http.client rather than httpx, which would take ".." out of the path.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def send(self, request: Fuzzed) -> tuple[int, Message, bytes]:
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                             timeout=60)
            try:
                self.connection.request(request.method, request.target, body=request.body,
                                        headers=request.headers)
                answer = self.connection.getresponse()
                data = answer.read()
                if answer.will_close:
                    self.close()
                return answer.status, answer.headers, data
            except ConnectionError:  # the server closed a kept-alive connection
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def problem_with(request: Fuzzed, status: int, headers: Message, data: bytes) -> str | None:
    """What is wrong with an answer, or None."""
    if status >= 500:
        return "a server error"
    if request.method == "HEAD":
        return None
    if 400 <= status < 500:
        try:
            answer = json.loads(data)
        except ValueError:
            return "an error that is not JSON"
        answer = answer if isinstance(answer, dict) else {}
        error = answer.get("error")
        if answer.get("ok") is not False or not isinstance(error, dict) or not all(
                isinstance(error.get(key), str) and error[key] for key in ("type", "message")):
            return "an error that is not {ok: false, error: {type, message}}"
        if status == 405 and not headers.get("Allow"):
            return "a 405 without Allow"
    elif status in (200, 201):
        try:
            json.loads(data)
        except ValueError:
            return "an answer that is not JSON"
    return None


# The service and what it holds

@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    serve = Serve(data_dir, [], {"SEGFN_SECRET_KEY": generate_key()}).start()
    try:
        yield populate(serve)
        assert httpx.get(serve.url + "healthz", timeout=10).status_code == 200
    finally:
        serve.stop()


def populate(serve: Serve) -> World:
    """Functions, sources and tokens of two workspaces for the fuzz to aim at."""
    def call(method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        answer = serve.api(method, path, token=token, **kwargs)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    refs: dict[str, list[str]] = {"function": [], "source": [], "token": [], "capture": []}
    protected: set[str] = set()
    for name, code in (("stable", ECHO), ("loud", LOUD), ("fails", FAILS), ("victim", QUIET)):
        made = call("POST", "/functions", json={"name": name, "code": code,
                                                "settings_schema": SETTINGS})["function"]
        refs["function"] += [made["id"], name]
        for source in (f"{name}-src", f"{name}-src2"):
            made_source = call("POST", "/sources", json={
                "name": source, "function": name,
                "settings": {"repo": "segfn", "apiKey": "k-secret", "count": 3}})
            refs["source"] += [made_source["id"], source]
        if name != "victim":
            protected |= {made["id"], name, *refs["source"][-4:]}

    secrets = {"owner": serve.owner_token}
    grants = {"admin": [{"role": "functions_admin", "functions": ["stable", "loud"]}],
              "reader": [{"role": "functions_read", "functions": ["stable"]}],
              "ops": [{"role": "source_admin"}],
              "everyone": [{"role": r} for r in ("functions_admin", "source_admin")],
              "revoked": [{"role": "workspace_owner"}]}
    for name, roles in grants.items():
        made = call("POST", "/tokens", json={"name": name, "roles": roles})
        secrets[name] = made["secret"]
        refs["token"].append(made["token"]["id"])
        protected.add(made["token"]["id"])
    call("DELETE", f"/tokens/{refs['token'][-1]}")
    protected.add(call("GET", "/whoami")["token"]["id"])
    refs["capture"].append(call("POST", "/captures")["id"])

    # Another workspace, whose ids the fuzz uses with this workspace's tokens and back.
    done = subprocess.run([*SEGFN, "admin", "create-workspace", "other", "--data-dir",
                           str(serve.data_dir)], capture_output=True, text=True, check=True)
    other = secrets["other"] = done.stdout.strip().splitlines()[-1]
    theirs = call("POST", "/functions", other, json={"name": "theirs", "code": QUIET})
    their_source = call("POST", "/sources", other, json={"name": "their-src",
                                                         "function": "theirs"})
    refs["function"].append(theirs["function"]["id"])
    refs["source"].append(their_source["id"])
    refs["token"].append(call("GET", "/whoami", other)["token"]["id"])
    protected |= {refs["token"][-1], theirs["function"]["id"], their_source["id"]}
    return World(serve.port, secrets, refs, protected)


def send_all(world: World, requests: Iterable[Fuzzed]) -> Counter[int]:
    """Send the requests in turn; fail on the answers that break the rules; the statuses."""
    client = Client(world.port)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for request in requests:
        status, headers, data = client.send(request)
        statuses[status] += 1
        problem = problem_with(request, status, headers, data)
        if problem:
            failures.append(f"{problem}: {request} -> {status} {data[:300]!r}")
        world.learn(request.method, request.path, status, data)
    client.close()
    assert not failures, "\n".join(failures[:15]) + f"\n({len(failures)} in all)"
    return statuses


def test_every_route_method_header_and_malformed_body(world: World) -> None:
    statuses = send_all(world, Generator(random.Random(SEED), world).sweep())
    assert sum(statuses.values()) > 800
    assert {200, 400, 401, 403, 404, 405, 415} <= set(statuses), statuses


def test_random_requests(world: World) -> None:
    generator = Generator(random.Random(SEED + 1), world)
    statuses = send_all(world, (generator.request() for _ in range(ROUNDS)))
    # The fuzz reached past the checks at the door, into every kind of answer.
    assert {200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422} <= set(statuses), \
        statuses
    serve_url = f"http://127.0.0.1:{world.port}/"
    assert httpx.get(serve_url + "healthz", timeout=10).status_code == 200
    owner = {"Authorization": f"Bearer {world.secrets['owner']}"}
    assert httpx.get(serve_url + "api/v1/whoami", headers=owner, timeout=10).status_code == 200


HUGE = 10**400


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/sources", {"name": "huge", "function": "{f}", "settings": {"count": HUGE}}),
    ("PATCH", "/sources/{s}", {"settings": {"count": HUGE}}),
    ("POST", "/functions/{f}/test", {"payload": {"body": {}}, "settings": {"count": HUGE}}),
])
def test_a_number_setting_beyond_the_float_range_is_refused(
        world: World, method: str, path: str, body: dict[str, Any]) -> None:
    # A function and source of its own: the fuzz may have deleted any other.
    url = f"http://127.0.0.1:{world.port}/api/v1"
    owner = {"Authorization": f"Bearer {world.secrets['owner']}"}
    name = f"huge{uuid.uuid4().hex[:8]}"
    for route, made in (("/functions", {"name": name, "code": ECHO, "settings_schema": SETTINGS}),
                        ("/sources", {"name": f"{name}-src", "function": name})):
        assert httpx.post(url + route, json=made, headers=owner, timeout=30).status_code == 201
    body = json.loads(json.dumps(body).replace('"{f}"', json.dumps(name)))
    answer = httpx.request(method, url + path.format(f=name, s=f"{name}-src"), json=body,
                           headers=owner, timeout=30)
    assert answer.status_code in (400, 422), answer.text
    assert "count must be a number" in answer.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/api/v1/functions/a%0Ab/versions", "/fn/a%0Ab"])
def test_a_newline_inside_a_path_is_a_json_error(world: World, path: str) -> None:
    answer = httpx.get(f"http://127.0.0.1:{world.port}{path}", timeout=10,
                       headers={"Authorization": f"Bearer {world.secrets['owner']}"})
    assert answer.status_code < 500
    assert answer.json()["ok"] is False
