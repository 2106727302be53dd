"""Workspaces are isolated: nothing of one is reachable, listed or changed from another.

One server for the module, with workspace "default" (the first start's) and workspace
"second", made by ``segfn admin create-workspace`` while the server runs. The other
workspace's resources answer 404, never 403: their existence is not disclosed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.service.keyring import generate_key
from tests.service.harness import HIT as CODE
from tests.service.harness import SEGFN, TEST_REQUEST, Serve

OTHER_CODE = CODE.replace('"Hit"', '"Other Hit"')


def create_workspace(data_dir: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SEGFN, "admin", "create-workspace", name, "--data-dir",
                           str(data_dir)], capture_output=True, text=True, timeout=60)


def created_token(done: subprocess.CompletedProcess[str]) -> str:
    """The owner token ``segfn admin create-workspace`` printed on its last line."""
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip().splitlines()[-1]
    assert secret.startswith("sfn_") and len(secret) == 47, done.stdout
    return secret


def assert_duplicate_refused(data_dir: Path, name: str) -> None:
    done = create_workspace(data_dir, name)
    assert done.returncode == 1
    assert f"a workspace named '{name}' already exists" in done.stderr
    assert "sfn_" not in done.stdout + done.stderr  # no token for a workspace not made


@dataclass
class Tenant:
    """A workspace as its owner sees it through the API."""

    client: httpx.Client
    secret: str

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, headers={
            "Authorization": f"Bearer {self.secret}"}, **kwargs)

    def ok(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None

    def ids(self, collection: str) -> set[str]:
        return {item["id"] for item in self.ok("GET", f"/{collection}")[collection]}

    def snapshot(self) -> dict[str, Any]:
        """Everything of the workspace the API shows, but when tokens were last used."""
        functions = self.ok("GET", "/functions")["functions"]
        sources = self.ok("GET", "/sources")["sources"]
        return {
            "functions": functions,
            "versions": {f["id"]: self.ok("GET", f"/functions/{f['id']}/versions")
                         for f in functions},
            "sources": sources,
            # A retry from outside would take an entry out of the errors log.
            "errors": {s["id"]: self.ok("GET", f"/sources/{s['id']}/errors")["errors"]
                       for s in sources},
            "tokens": [{k: v for k, v in t.items() if k != "last_used_at"}
                       for t in self.ok("GET", "/tokens")["tokens"]]}


@dataclass
class Workspaces:
    serve: Serve
    one: Tenant  # "default"
    two: Tenant  # "second"
    # Of workspace one: its function only-one, the source src-one on it, a token.
    function: dict[str, Any]
    source: dict[str, Any]
    token: dict[str, Any]
    # Of workspace two: its function mine and the source src-two on it.
    own_function: dict[str, Any]
    own_source: dict[str, Any]


@pytest.fixture(scope="module")
def spaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspaces]:
    data_dir = tmp_path_factory.mktemp("isolation") / "data"
    # A secret key, so that the errors log keeps what a retry from outside could take.
    serve = Serve(data_dir, [], {"SEGFN_SECRET_KEY": generate_key()}).start()
    client = httpx.Client(base_url=f"{serve.url}api/v1", timeout=30)
    try:
        one = Tenant(client, serve.owner_token)
        # Made while the server runs; the server takes its token at once.
        two = Tenant(client, created_token(create_workspace(data_dir, "second")))
        assert two.ok("GET", "/whoami")["workspace"]["name"] == "second"
        spaces = Workspaces(serve, one, two, *_populate(serve, one, "only-one", "src-one"),
                            *_populate(serve, two, "mine", "src-two")[:2])
        yield spaces
    finally:
        client.close()
        serve.stop()


def _populate(serve: Serve, tenant: Tenant, function_name: str, source_name: str
              ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A function of two versions, a source with an event and an error on it, a token."""
    function = tenant.ok("POST", "/functions", 201,
                         json={"name": function_name, "code": CODE})["function"]
    function = tenant.ok("PATCH", f"/functions/{function['id']}",
                         json={"code": OTHER_CODE})["function"]
    source = tenant.ok("POST", "/sources", 201,
                       json={"name": source_name, "function": function["id"], "version": 1,
                             "capture_days": 1})
    assert serve.webhook(source, {"n": 1}).status_code == 200
    assert serve.webhook(source, {"fail": True}).status_code == 400
    token = tenant.ok("POST", "/tokens", 201, json={
        "name": f"{function_name}-reader",
        "roles": [{"role": "functions_read", "functions": None}]})["token"]
    return function, source, token


# What workspace two's owner tries on workspace one. "{function}", "{source}" and "{token}"
# are workspace one's, by id or by name; "{own_function}" and "{own_source}" are workspace
# two's own.
PROBES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "get function": ("GET", "/functions/{function}", None),
    "edit function": ("PATCH", "/functions/{function}", {"description": "taken over"}),
    "delete function": ("DELETE", "/functions/{function}?force=true", None),
    "list versions": ("GET", "/functions/{function}/versions", None),
    "get version": ("GET", "/functions/{function}/versions/1", None),
    "test function": ("POST", "/functions/{function}/test", TEST_REQUEST),
    "function errors": ("GET", "/functions/{function}/errors", None),
    "deploy its sources": ("POST", "/functions/{function}/deploy",
                           {"version": 1, "sources": "all"}),
    "deploy its version to an own source": (
        "POST", "/functions/{function}/deploy", {"version": 1, "sources": ["{own_source}"]}),
    "deploy an own version to its source": (
        "POST", "/functions/{own_function}/deploy", {"version": 1, "sources": ["{source}"]}),
    "connect a source to its function": (
        "POST", "/sources", {"name": "stolen", "function": "{function}"}),
    "get source": ("GET", "/sources/{source}", None),
    "configure source": ("PATCH", "/sources/{source}", {"paused": True, "write_key": "x"}),
    "delete source": ("DELETE", "/sources/{source}", None),
    "source errors": ("GET", "/sources/{source}/errors", None),
    "retry source errors": ("POST", "/sources/{source}/errors/retry", {"all": True}),
    "resend dead letters": ("POST", "/sources/{source}/dead-letters/resend", {"all": True}),
    "source events": ("GET", "/sources/{source}/events", None),
    "source deliveries": ("GET", "/sources/{source}/deliveries", None),
    "replay its deliveries": ("POST", "/sources/{source}/replay", {"version": 2}),
    "revoke token": ("DELETE", "/tokens/{token}", None),
    "token for its function": ("POST", "/tokens", {
        "name": "sneaky", "roles": [{"role": "functions_admin", "functions": ["{function}"]}]}),
}


def _fill(template: Any, refs: dict[str, str]) -> Any:
    if isinstance(template, str):
        return template.format(**refs)
    if isinstance(template, list):
        return [_fill(item, refs) for item in template]
    if isinstance(template, dict):
        return {key: _fill(value, refs) for key, value in template.items()}
    return template


@pytest.mark.parametrize("by", ["id", "name"])
@pytest.mark.parametrize("probe", list(PROBES))
def test_the_other_workspace_is_not_found(spaces: Workspaces, probe: str, by: str) -> None:
    method, path, body = PROBES[probe]
    refs = {"function": spaces.function[by], "source": spaces.source[by],
            "token": spaces.token[by], "own_function": spaces.own_function["id"],
            "own_source": spaces.own_source["id"]}
    before = spaces.one.snapshot(), spaces.two.snapshot()
    kwargs = {} if body is None else {"json": _fill(body, refs)}
    response = spaces.two.call(method, _fill(path, refs), **kwargs)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["type"] == "NotFound"
    assert (spaces.one.snapshot(), spaces.two.snapshot()) == before
    # The token of workspace one still works, whatever was tried on it.
    one_reader = spaces.one.call("GET", f"/functions/{spaces.function['id']}")
    assert one_reader.status_code == 200


@pytest.mark.parametrize("probe", ["get function", "edit function", "get source",
                                   "source events", "source deliveries",
                                   "replay its deliveries", "revoke token"])
def test_the_same_requests_work_in_their_own_workspace(spaces: Workspaces, probe: str) -> None:
    # The probes above are requests that work for workspace one's own owner, so their 404
    # is the workspace boundary and not a malformed request.
    method, path, body = PROBES[probe]
    if probe == "revoke token":
        victim = spaces.one.ok("POST", "/tokens", 201, json={
            "name": "victim", "roles": [{"role": "source_admin", "functions": None}]})
        refs = {"token": victim["token"]["id"]}
    else:
        refs = {"function": spaces.function["name"], "source": spaces.source["name"]}
    kwargs = {} if body is None else {"json": _fill(body, refs)}
    assert spaces.one.call(method, _fill(path, refs), **kwargs).status_code in (200, 204)


def test_lists_hold_only_the_workspace_own_items(spaces: Workspaces) -> None:
    one, two = spaces.one, spaces.two
    for collection in ("functions", "sources", "tokens"):
        assert one.ids(collection) and two.ids(collection)
        assert not one.ids(collection) & two.ids(collection), collection
    assert {f["name"] for f in two.ok("GET", "/functions")["functions"]} >= {"mine"}
    assert "only-one" not in {f["name"] for f in two.ok("GET", "/functions")["functions"]}
    assert {s["name"] for s in two.ok("GET", "/sources")["sources"]} == {"src-two"}
    assert "only-one-reader" not in {t["name"] for t in two.ok("GET", "/tokens")["tokens"]}
    # The errors and events of a workspace's own function and source are its own only.
    errors = two.ok("GET", f"/functions/{spaces.own_function['id']}/errors")["errors"]
    assert errors and {e["source"] for e in errors} == {spaces.own_source["id"]}
    events = two.ok("GET", f"/sources/{spaces.own_source['id']}/events")["events"]
    assert events and {e["source"] for e in events} == {spaces.own_source["id"]}
    kept = two.ok("GET", f"/sources/{spaces.own_source['id']}/deliveries")["deliveries"]
    assert len(kept) == 2 and {d["source"] for d in kept} == {spaces.own_source["id"]}
    # Deploying "all" moves only the workspace's own sources.
    deployed = two.ok("POST", f"/functions/{spaces.own_function['id']}/deploy",
                      json={"version": 1, "sources": "all"})["deployed"]
    assert [s["id"] for s in deployed] == [spaces.own_source["id"]]


def test_whoami_names_each_workspace(spaces: Workspaces) -> None:
    one = spaces.one.ok("GET", "/whoami")["workspace"]
    two = spaces.two.ok("GET", "/whoami")["workspace"]
    assert one["name"] == "default" and two["name"] == "second"
    assert one["id"] != two["id"]


def events_of_a_test(tenant: Tenant) -> list[str]:
    result = tenant.ok("POST", "/functions/shared/test", json=TEST_REQUEST)
    return [message["event"] for message in result["messages"]]


def test_the_same_names_live_independently_in_both_workspaces(spaces: Workspaces) -> None:
    one, two = spaces.one, spaces.two
    mine = one.ok("POST", "/functions", 201, json={"name": "shared", "code": CODE})["function"]
    theirs = two.ok("POST", "/functions", 201,
                    json={"name": "shared", "code": OTHER_CODE})["function"]
    assert mine["id"] != theirs["id"]
    # A source of the same name as workspace one's, on workspace two's "shared".
    same_name = two.ok("POST", "/sources", 201,
                       json={"name": spaces.source["name"], "function": "shared"})
    assert same_name["id"] != spaces.source["id"]
    assert two.ok("GET", f"/sources/{spaces.source['name']}")["id"] == same_name["id"]
    assert one.ok("GET", f"/sources/{spaces.source['name']}")["id"] == spaces.source["id"]
    try:
        assert one.ok("GET", "/functions/shared")["id"] == mine["id"]
        assert two.ok("GET", "/functions/shared")["id"] == theirs["id"]
        # Each runs its own code.
        assert events_of_a_test(one) == ["Hit"]
        assert events_of_a_test(two) == ["Other Hit"]
        # Changing and deleting workspace two's leaves workspace one's as it was.
        before = one.ok("GET", "/functions/shared")
        saved = two.ok("PATCH", "/functions/shared",
                       json={"code": CODE, "description": "two's"})
        assert saved["version"]["number"] == 2
        assert one.ok("GET", "/functions/shared") == before
        two.ok("DELETE", "/functions/shared?force=true", 204)
        assert two.call("GET", "/functions/shared").status_code == 404
        assert two.call("GET", f"/sources/{same_name['id']}").status_code == 404
        assert one.ok("GET", "/functions/shared") == before
        assert one.ok("GET", f"/sources/{spaces.source['id']}")["id"] == spaces.source["id"]
    finally:
        one.ok("DELETE", "/functions/shared?force=true", 204)


def test_a_duplicate_workspace_name_is_refused_while_serving(spaces: Workspaces) -> None:
    for name in ("default", "second"):
        assert_duplicate_refused(spaces.serve.data_dir, name)
    # Both workspaces are as they were: their owners' tokens still work.
    assert spaces.one.ok("GET", "/whoami")["workspace"]["name"] == "default"
    assert spaces.two.ok("GET", "/whoami")["workspace"]["name"] == "second"


def test_create_workspace_offline_then_start(start_serve: Callable[..., Serve],
                                             tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_serve(data_dir=data_dir)
    default_token = first.owner_token
    assert first.stop() == 0
    offline_token = created_token(create_workspace(data_dir, "offline"))
    assert_duplicate_refused(data_dir, "offline")
    assert_duplicate_refused(data_dir, "default")

    again = start_serve(data_dir=data_dir)
    workspaces = {}
    for secret in (default_token, offline_token):
        response = again.api("GET", "/whoami", token=secret)
        assert response.status_code == 200, response.text
        workspaces[response.json()["workspace"]["name"]] = response.json()["workspace"]["id"]
    assert set(workspaces) == {"default", "offline"}
    assert len(set(workspaces.values())) == 2
    # The new workspace is usable, and its function is not the other's.
    created = again.api("POST", "/functions", token=offline_token,
                        json={"name": "fresh", "code": CODE})
    assert created.status_code == 201, created.text
    assert again.api("GET", "/functions/fresh", token=default_token).status_code == 404
    # Workspaces exist, so this start made no new "default" and printed no token.
    assert any("source(s)" in line for line in again.output)
    assert not any("Workspace Owner token" in line for line in again.output)


def test_two_workspaces_functions_run_in_different_processes(spaces: Workspaces) -> None:
    for source in (spaces.source, spaces.own_source, spaces.source, spaces.own_source):
        assert spaces.serve.webhook(source, {"n": 2}).status_code == 200
    workers = httpx.get(spaces.serve.url + "healthz", timeout=10).json()["workers"]
    pids: dict[tuple[str, str], set[int]] = {}
    for worker in workers:
        pids.setdefault((worker["workspace"], worker["function"]), set()).add(worker["pid"])
    one = (spaces.one.ok("GET", "/whoami")["workspace"]["id"], spaces.function["id"])
    two = (spaces.two.ok("GET", "/whoami")["workspace"]["id"], spaces.own_function["id"])
    assert one in pids and two in pids
    assert not pids[one] & pids[two]
    assert len({w["pid"] for w in workers}) == len(workers)  # no pid listed twice
    # segfn serve starts only with every confinement in force (no --insecure-workers here).
    for worker in workers:
        assert worker["uid"] != 0
        assert set(worker["confinements"]) == {
            "environment", "mount-namespace", "pid-namespace", "network-namespace",
            "unprivileged", "no-new-privs", "rlimits", "seccomp"}
