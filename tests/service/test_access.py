"""Every role against every endpoint: the permission matrix of docs/service-api.md.

The service's app in process (Starlette's TestClient; the rest of tests/service drive a real
``segfn serve``), one workspace with functions A ("alpha") and B ("beta"), two versions each
and a source on each. ``MATRIX`` is the expected answer of every endpoint to every token, written
out from the contract's "roles" column (not from runner/access.py). Each cell is a test of
its own: a mutating request is one that succeeds when allowed, so an allowed cell proves the
change happened, and a refused cell proves nothing changed.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from runner.service.keyring import Keyring, generate_key
from tests.paths import ROOT
from tests.runner.harness import wait_until
from tests.service.harness import HIT as CODE
from tests.service.harness import TEST_REQUEST, in_process

CODE_V2 = CODE + "\n# version 2\n"
# Well formed, but no token of this service.
GARBAGE = "sfn_" + "Zz0-" * 10 + "Zz0"

# The tokens, in MATRIX column order.
TOKENS = ("owner", "fa-all", "fa-A", "fr-all", "fr-A", "sa", "fa-A+sa", "revoked", "none",
          "garbage")
# The grants of the tokens made through the API; True: the grant covers function A only.
GRANTS: dict[str, list[tuple[str, bool]]] = {
    "fa-all": [("functions_admin", False)],
    "fa-A": [("functions_admin", True)],
    "fr-all": [("functions_read", False)],
    "fr-A": [("functions_read", True)],
    "sa": [("source_admin", False)],
    "fa-A+sa": [("functions_admin", True), ("source_admin", False)],
}

# Rows: "METHOD path [target]", the path as the contract writes it; the target "A" or "B" is
# the function, or the source connected to that function, that the request is about.
# Columns, in TOKENS order: the owner, functions_admin of all functions, functions_admin
# [A], functions_read of all, functions_read [A], source_admin, functions_admin [A] together
# with source_admin, a revoked (Workspace Owner) token, no token, a garbage token.
# fmt: off
MATRIX: dict[str, str] = {
    #                                                own fa  faA fr  frA sa  fAs rev non gar
    "GET /whoami":                                   "200 200 200 200 200 200 200 401 401 401",
    "GET /functions":                                "200 200 200 200 200 200 200 401 401 401",
    "POST /functions":                               "201 201 403 403 403 403 403 401 401 401",
    "GET /functions/{function} A":                   "200 200 200 200 200 200 200 401 401 401",
    "GET /functions/{function} B":                   "200 200 404 200 404 200 200 401 401 401",
    "PATCH /functions/{function} A":                 "200 200 200 403 403 403 200 401 401 401",
    "PATCH /functions/{function} B":                 "200 200 404 403 404 403 403 401 401 401",
    "DELETE /functions/{function} A":                "204 204 204 403 403 403 204 401 401 401",
    "DELETE /functions/{function} B":                "204 204 404 403 404 403 403 401 401 401",
    "GET /functions/{function}/versions A":          "200 200 200 200 200 200 200 401 401 401",
    "GET /functions/{function}/versions B":          "200 200 404 200 404 200 200 401 401 401",
    "GET /functions/{function}/versions/{number} A": "200 200 200 200 200 200 200 401 401 401",
    "GET /functions/{function}/versions/{number} B": "200 200 404 200 404 200 200 401 401 401",
    "POST /functions/{function}/test A":             "200 200 200 200 200 403 200 401 401 401",
    "POST /functions/{function}/test B":             "200 200 404 200 404 403 403 401 401 401",
    "GET /functions/{function}/errors A":            "200 200 200 200 200 403 200 401 401 401",
    "GET /functions/{function}/errors B":            "200 200 404 200 404 403 403 401 401 401",
    "POST /functions/{function}/deploy A":           "200 403 403 403 403 200 200 401 401 401",
    "POST /functions/{function}/deploy B":           "200 403 404 403 404 200 200 401 401 401",
    "GET /sources":                                  "200 403 403 403 403 200 200 401 401 401",
    "POST /sources A":                               "201 403 403 403 403 201 201 401 401 401",
    "POST /sources B":                               "201 403 403 403 403 201 201 401 401 401",
    "GET /sources/{source} A":                       "200 403 403 403 403 200 200 401 401 401",
    "GET /sources/{source} B":                       "200 403 403 403 403 200 200 401 401 401",
    "PATCH /sources/{source} A":                     "200 403 403 403 403 200 200 401 401 401",
    "PATCH /sources/{source} B":                     "200 403 403 403 403 200 200 401 401 401",
    "DELETE /sources/{source} A":                    "204 403 403 403 403 204 204 401 401 401",
    "DELETE /sources/{source} B":                    "204 403 403 403 403 204 204 401 401 401",
    "GET /sources/{source}/errors A":                "200 403 403 403 403 200 200 401 401 401",
    "GET /sources/{source}/errors B":                "200 403 403 403 403 200 200 401 401 401",
    "POST /sources/{source}/errors/retry A":         "200 403 403 403 403 200 200 401 401 401",
    "POST /sources/{source}/errors/retry B":         "200 403 403 403 403 200 200 401 401 401",
    "GET /sources/{source}/dead-letters A":          "200 403 403 403 403 200 200 401 401 401",
    "GET /sources/{source}/dead-letters B":          "200 403 403 403 403 200 200 401 401 401",
    "POST /sources/{source}/dead-letters/resend A":  "200 403 403 403 403 200 200 401 401 401",
    "POST /sources/{source}/dead-letters/resend B":  "200 403 403 403 403 200 200 401 401 401",
    "GET /sources/{source}/deliveries A":            "200 403 403 403 403 200 200 401 401 401",
    "GET /sources/{source}/deliveries B":            "200 403 403 403 403 200 200 401 401 401",
    "POST /sources/{source}/replay A":               "200 403 403 403 403 200 200 401 401 401",
    "POST /sources/{source}/replay B":               "200 403 403 403 403 200 200 401 401 401",
    "GET /sources/{source}/shadow A":                "200 403 403 403 403 200 200 401 401 401",
    "GET /sources/{source}/shadow B":                "200 403 403 403 403 200 200 401 401 401",
    "PUT /sources/{source}/shadow A":                "200 403 403 403 403 200 200 401 401 401",
    "PUT /sources/{source}/shadow B":                "200 403 403 403 403 200 200 401 401 401",
    "DELETE /sources/{source}/shadow A":             "200 403 403 403 403 200 200 401 401 401",
    "DELETE /sources/{source}/shadow B":             "200 403 403 403 403 200 200 401 401 401",
    "GET /sources/{source}/events A":                "200 403 403 403 403 200 200 401 401 401",
    "GET /sources/{source}/events B":                "200 403 403 403 403 200 200 401 401 401",
    "GET /tokens":                                   "200 403 403 403 403 403 403 401 401 401",
    "POST /tokens":                                  "201 403 403 403 403 403 403 401 401 401",
    "DELETE /tokens/{id}":                           "204 403 403 403 403 403 403 401 401 401",
    "GET /openapi.json":                             "200 200 200 200 200 200 200 200 200 200",
}
# fmt: on

# Of A and B, what GET /functions lists for each token allowed to list.
LISTED = {"owner": {"A", "B"}, "fa-all": {"A", "B"}, "fa-A": {"A"}, "fr-all": {"A", "B"},
          "fr-A": {"A"}, "sa": {"A", "B"}, "fa-A+sa": {"A", "B"}}
ERROR_TYPES = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@dataclass
class World:
    """A client of the API, what the fixture made in it, and the secret of every token."""

    client: httpx.Client
    owner: str
    workspace: str = ""
    functions: dict[str, str] = field(default_factory=dict)  # "A"/"B": function id
    sources: dict[str, str] = field(default_factory=dict)  # "A"/"B": id of its source
    secret_of: dict[str, str] = field(default_factory=dict)  # token: secret ("" for none)

    def api(self, method: str, path: str, secret: str, **kwargs: Any) -> httpx.Response:
        """``/api/v1{path}`` with ``secret`` as the bearer token; no header if it is ""."""
        headers = kwargs.pop("headers", {})
        if secret:
            headers.setdefault("Authorization", f"Bearer {secret}")
        return self.client.request(method, path, headers=headers, **kwargs)

    def call(self, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method path`` as ``token`` (one of TOKENS)."""
        return self.api(method, path, self.secret_of[token], **kwargs)

    def as_owner(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        """``method path`` as the owner, which must answer ``expect``; the JSON answer."""
        response = self.api(method, path, self.owner, **kwargs)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None

    def status_as_owner(self, path: str) -> int:
        return self.api("GET", path, self.owner).status_code

    def new_function(self, name: str | None = None) -> str:
        created = self.as_owner("POST", "/functions", 201,
                                json={"name": name or unique("fn"), "code": CODE})
        return created["function"]["id"]

    def new_source(self, function_id: str, version: int = 1) -> dict[str, Any]:
        return self.as_owner("POST", "/sources", 201, json={
            "name": unique("src"), "function": function_id, "version": version})

    def new_token(self, roles: list[dict[str, Any]]) -> dict[str, Any]:
        return self.as_owner("POST", "/tokens", 201, json={"name": unique("tok"),
                                                           "roles": roles})

    def mint(self, token: str, scope: str) -> str:
        """A secret for ``token``, its "A" grants covering function ``scope`` (id or name)."""
        if token == "owner":
            return self.owner
        if token == "none":
            return ""
        if token == "garbage":
            return GARBAGE
        if token == "revoked":
            # Even a Workspace Owner token is nothing once revoked.
            made = self.new_token([{"role": "workspace_owner", "functions": None}])
            self.as_owner("DELETE", f"/tokens/{made['token']['id']}", 204)
            return made["secret"]
        return self.new_token(grants(token, scope))["secret"]


def grants(token: str, scope: str) -> list[dict[str, Any]]:
    return [{"role": role, "functions": [scope] if scoped else None}
            for role, scoped in GRANTS[token]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # A secret key: the errors log keeps the requests it redacts (webhook URLs) to retry them.
    with in_process(tmp_path_factory.mktemp("access") / "data",
                    Keyring([generate_key()])) as (app, owner):
        app.base_url = app.base_url.join("/api/v1")
        world = World(app, owner)
        world.workspace = world.as_owner("GET", "/whoami")["workspace"]["id"]
        for letter, name in (("A", "alpha"), ("B", "beta")):
            function_id = world.new_function(name)
            world.functions[letter] = function_id
            saved = world.as_owner("PATCH", f"/functions/{function_id}", json={"code": CODE_V2})
            assert saved["version"]["number"] == 2
            source = world.as_owner("POST", "/sources", 201, json={
                "name": f"src-{letter.lower()}", "function": function_id, "version": 1,
                "capture_days": 7})
            world.sources[letter] = source["id"]
            # An event and an error entry, for the errors and events endpoints to show (and
            # two captured deliveries, for deliveries and replay).
            assert app.post(source["webhook_url"], json={"n": 1}).status_code == 200
            assert app.post(source["webhook_url"], json={"fail": True}).status_code == 400
        for token in TOKENS:
            # Function references in grants may be names; the token keeps the id.
            world.secret_of[token] = world.mint(token, "alpha")
        yield world


# Probes: send one cell's request as a token; answer the response and a check of what the
# request did (or did not do), given whether the matrix says it was allowed.
Check = Callable[[bool], None]
Probe = Callable[[World, str, str], tuple[httpx.Response, Check]]


def _whoami(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", "/whoami")

    def check(allowed: bool) -> None:
        if allowed:
            answer = response.json()
            assert answer["workspace"] == {"id": w.workspace, "name": "default"}
            if token in GRANTS:
                assert answer["token"]["roles"] == grants(token, w.functions["A"])
    return response, check


def _list_functions(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", "/functions")

    def check(allowed: bool) -> None:
        if allowed:
            listed = {f["id"] for f in response.json()["functions"]}
            assert {k for k, v in w.functions.items() if v in listed} == LISTED[token]
    return response, check


def _create_function(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    name = unique("created")
    response = w.call(token, "POST", "/functions", json={"name": name, "code": CODE})

    def check(allowed: bool) -> None:
        assert w.status_as_owner(f"/functions/{name}") == (200 if allowed else 404)
    return response, check


def _get_function(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", f"/functions/{w.functions[target]}")

    def check(allowed: bool) -> None:
        if allowed:
            assert response.json()["id"] == w.functions[target]
    return response, check


def _patch_function(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    path = f"/functions/{w.functions[target]}"
    before = w.as_owner("GET", path)
    description = unique("described")
    response = w.call(token, "PATCH", path, json={"description": description})

    def check(allowed: bool) -> None:
        after = w.as_owner("GET", path)
        if allowed:
            assert after["description"] == description
            assert after["latest_version"] == 2  # a description alone makes no version
        else:
            assert after == before
    return response, check


def _delete_function(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    # Deleting is for good, so each cell deletes a function of its own, with a source on
    # it, and uses a token of the same roles whose "A" is that function (target A) or A
    # (target B: the function is outside the token's subset).
    doomed = w.new_function()
    source = w.new_source(doomed)
    secret = w.mint(token, doomed if target == "A" else w.functions["A"])
    before = w.as_owner("GET", f"/functions/{doomed}")
    response = w.api("DELETE", f"/functions/{doomed}?force=true", secret)

    def check(allowed: bool) -> None:
        if allowed:
            assert w.status_as_owner(f"/functions/{doomed}") == 404
            assert w.status_as_owner(f"/sources/{source['id']}") == 404
        else:
            assert w.as_owner("GET", f"/functions/{doomed}") == before
            assert w.as_owner("GET", f"/sources/{source['id']}") == source
    return response, check


def _list_versions(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", f"/functions/{w.functions[target]}/versions")

    def check(allowed: bool) -> None:
        if allowed:
            assert [v["number"] for v in response.json()["versions"]] == [2, 1]
    return response, check


def _get_version(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", f"/functions/{w.functions[target]}/versions/1")

    def check(allowed: bool) -> None:
        if allowed:
            assert response.json()["number"] == 1
            assert response.json()["code"] == CODE
    return response, check


def _test_function(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "POST", f"/functions/{w.functions[target]}/test",
                      json=TEST_REQUEST)

    def check(allowed: bool) -> None:
        if allowed:
            result = response.json()
            assert result["ok"] is True, result
            assert [m["properties"] for m in result["messages"]] == [{"n": 7}]
    return response, check


def _function_errors(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", f"/functions/{w.functions[target]}/errors")

    def check(allowed: bool) -> None:
        if allowed:
            errors = response.json()["errors"]
            assert errors
            assert {e["function"] for e in errors} == {w.functions[target]}
    return response, check


def _deploy(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    function, source = w.functions[target], w.sources[target]
    w.as_owner("POST", f"/functions/{function}/deploy", json={"version": 1,
                                                              "sources": [source]})
    before = w.as_owner("GET", f"/sources/{source}")
    assert before["version"] == 1
    response = w.call(token, "POST", f"/functions/{function}/deploy",
                      json={"version": 2, "sources": [source]})

    def check(allowed: bool) -> None:
        after = w.as_owner("GET", f"/sources/{source}")
        if allowed:
            assert [s["id"] for s in response.json()["deployed"]] == [source]
            assert after["version"] == 2
        else:
            assert after == before
    return response, check


def _list_sources(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", "/sources")

    def check(allowed: bool) -> None:
        if allowed:
            listed = {s["id"] for s in response.json()["sources"]}
            assert set(w.sources.values()) <= listed
    return response, check


def _connect_source(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    name = unique("connected")
    response = w.call(token, "POST", "/sources",
                      json={"name": name, "function": w.functions[target]})

    def check(allowed: bool) -> None:
        if allowed:
            assert w.as_owner("GET", f"/sources/{name}")["function"] == w.functions[target]
        else:
            assert w.status_as_owner(f"/sources/{name}") == 404
    return response, check


def _get_source(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", f"/sources/{w.sources[target]}")

    def check(allowed: bool) -> None:
        if allowed:
            assert response.json()["id"] == w.sources[target]
    return response, check


def _patch_source(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    path = f"/sources/{w.sources[target]}"
    before = w.as_owner("GET", path)
    write_key = unique("key")
    response = w.call(token, "PATCH", path, json={"write_key": write_key})

    def check(allowed: bool) -> None:
        after = w.as_owner("GET", path)
        if allowed:
            assert after["write_key"] == write_key
        else:
            assert after == before
    return response, check


def _delete_source(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    source = w.new_source(w.functions[target])
    response = w.call(token, "DELETE", f"/sources/{source['id']}")

    def check(allowed: bool) -> None:
        if allowed:
            assert w.status_as_owner(f"/sources/{source['id']}") == 404
        else:
            assert w.as_owner("GET", f"/sources/{source['id']}") == source
    return response, check


def _source_errors(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", f"/sources/{w.sources[target]}/errors")

    def check(allowed: bool) -> None:
        if allowed:
            errors = response.json()["errors"]
            assert errors
            assert {e["source"] for e in errors} == {w.sources[target]}
    return response, check


def _source_dead_letters(w: World, token: str, target: str
                         ) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", f"/sources/{w.sources[target]}/dead-letters")

    def check(allowed: bool) -> None:
        if allowed:  # the embedded store: nothing is ever refused by a destination
            assert response.json() == {"dead_letters": []}
    return response, check


def _retry_errors(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    # Each cell fails a delivery of its own, and asks for that entry to run again.
    path = f"/sources/{w.sources[target]}"
    webhook = w.as_owner("GET", path)["webhook_url"]
    assert w.client.post(webhook, json={"fail": True}).status_code == 400
    entry = w.as_owner("GET", f"{path}/errors")["errors"][0]
    response = w.call(token, "POST", f"{path}/errors/retry", json={"ids": [entry["id"]]})

    def check(allowed: bool) -> None:
        def logged() -> list[dict[str, Any]]:
            return [e for e in w.as_owner("GET", f"{path}/errors")["errors"]
                    if e["invocation_id"] == entry["invocation_id"]]
        if allowed:
            assert response.json() == {"queued": [{"id": entry["id"], "invocation_id": entry[
                "invocation_id"]}], "refused": [], "left": 0}
            # It ran again, failed again, and is logged again with one attempt more.
            again = wait_until(lambda: [e for e in logged() if e["id"] != entry["id"]])
            assert [e["attempts"] for e in again] == [2]
            assert entry["id"] not in [e["id"] for e in logged()]
        else:
            assert logged() == [entry]
    return response, check


def _resend_dead_letters(w: World, token: str, target: str
                         ) -> tuple[httpx.Response, Check]:
    response = w.call(token, "POST", f"/sources/{w.sources[target]}/dead-letters/resend",
                      json={"all": True})

    def check(allowed: bool) -> None:
        if allowed:  # the embedded store has no dead letters, so none needs a destination
            assert response.json() == {"resent": [], "refused": [], "left": 0}
    return response, check


def _source_deliveries(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", f"/sources/{w.sources[target]}/deliveries")

    def check(allowed: bool) -> None:
        if allowed:
            kept = response.json()["deliveries"]
            assert {d["source"] for d in kept} == {w.sources[target]}
            assert [d["emitted"][0]["properties"] for d in kept if d["emitted"]] == [{"n": 1}]
    return response, check


def _replay(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "POST", f"/sources/{w.sources[target]}/replay",
                      json={"version": 2})

    def check(allowed: bool) -> None:
        if allowed:  # version 2 only adds a comment: every delivery is the same
            answer = response.json()
            assert answer["replayed"] >= 2 and answer["same"] == answer["replayed"]
    return response, check


def _shadowed(w: World, target: str, version: int | None) -> str:
    """The path of ``target``'s shadow, set by the owner to ``version`` (None: none)."""
    path = f"/sources/{w.sources[target]}/shadow"
    if version is None:
        w.as_owner("DELETE", path)
    else:
        w.as_owner("PUT", path, json={"version": version})
    return path


def _shadow_version(w: World, target: str) -> int | None:
    version: int | None = w.as_owner("GET", f"/sources/{w.sources[target]}")["shadow_version"]
    return version


def _get_shadow(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", _shadowed(w, target, 2))

    def check(allowed: bool) -> None:
        if allowed:
            answer = response.json()
            assert (answer["source"], answer["version"]) == (w.sources[target], 2)
    return response, check


def _start_shadow(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "PUT", _shadowed(w, target, None), json={"version": 2})

    def check(allowed: bool) -> None:
        assert _shadow_version(w, target) == (2 if allowed else None)
    return response, check


def _end_shadow(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "DELETE", _shadowed(w, target, 2))

    def check(allowed: bool) -> None:
        assert _shadow_version(w, target) == (None if allowed else 2)
    return response, check


def _source_events(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", f"/sources/{w.sources[target]}/events")

    def check(allowed: bool) -> None:
        if allowed:
            events = response.json()["events"]
            assert [e["message"]["properties"] for e in events] == [{"n": 1}]
            assert {e["source"] for e in events} == {w.sources[target]}
    return response, check


def _list_tokens(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", "/tokens")

    def check(allowed: bool) -> None:
        if allowed:
            tokens = response.json()["tokens"]
            assert all("secret" not in t and "secret_hash" not in t for t in tokens)
            assert len(tokens) >= len(GRANTS) + 2  # the owner, the revoked one, GRANTS
            assert any(t["revoked_at"] for t in tokens)
    return response, check


def _create_token(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    name = unique("minted")
    response = w.call(token, "POST", "/tokens", json={
        "name": name, "roles": [{"role": "functions_read", "functions": None}]})

    def check(allowed: bool) -> None:
        names = {t["name"] for t in w.as_owner("GET", "/tokens")["tokens"]}
        assert (name in names) == allowed
        if allowed:
            minted = response.json()["secret"]
            assert w.api("GET", "/whoami", minted).status_code == 200
    return response, check


def _revoke_token(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    victim = w.new_token([{"role": "functions_read", "functions": None}])
    response = w.call(token, "DELETE", f"/tokens/{victim['token']['id']}")

    def check(allowed: bool) -> None:
        status = w.api("GET", "/whoami", victim["secret"]).status_code
        assert status == (401 if allowed else 200)
    return response, check


def _openapi(w: World, token: str, target: str) -> tuple[httpx.Response, Check]:
    response = w.call(token, "GET", "/openapi.json")

    def check(allowed: bool) -> None:
        assert response.json()["openapi"].startswith("3.1")
    return response, check


PROBES: dict[tuple[str, str], Probe] = {
    ("GET", "/whoami"): _whoami,
    ("GET", "/functions"): _list_functions,
    ("POST", "/functions"): _create_function,
    ("GET", "/functions/{function}"): _get_function,
    ("PATCH", "/functions/{function}"): _patch_function,
    ("DELETE", "/functions/{function}"): _delete_function,
    ("GET", "/functions/{function}/versions"): _list_versions,
    ("GET", "/functions/{function}/versions/{number}"): _get_version,
    ("POST", "/functions/{function}/test"): _test_function,
    ("GET", "/functions/{function}/errors"): _function_errors,
    ("POST", "/functions/{function}/deploy"): _deploy,
    ("GET", "/sources"): _list_sources,
    ("POST", "/sources"): _connect_source,
    ("GET", "/sources/{source}"): _get_source,
    ("PATCH", "/sources/{source}"): _patch_source,
    ("DELETE", "/sources/{source}"): _delete_source,
    ("GET", "/sources/{source}/errors"): _source_errors,
    ("POST", "/sources/{source}/errors/retry"): _retry_errors,
    ("GET", "/sources/{source}/dead-letters"): _source_dead_letters,
    ("POST", "/sources/{source}/dead-letters/resend"): _resend_dead_letters,
    ("GET", "/sources/{source}/events"): _source_events,
    ("GET", "/sources/{source}/deliveries"): _source_deliveries,
    ("POST", "/sources/{source}/replay"): _replay,
    ("GET", "/sources/{source}/shadow"): _get_shadow,
    ("PUT", "/sources/{source}/shadow"): _start_shadow,
    ("DELETE", "/sources/{source}/shadow"): _end_shadow,
    ("GET", "/tokens"): _list_tokens,
    ("POST", "/tokens"): _create_token,
    ("DELETE", "/tokens/{id}"): _revoke_token,
    ("GET", "/openapi.json"): _openapi,
}


def _cells() -> Iterator[Any]:
    for row, statuses in MATRIX.items():
        method, path, target = _row(row)
        about = f" [{target}]" if target else ""
        for token, status in zip(TOKENS, statuses.split(), strict=True):
            yield pytest.param(method, path, target, token, int(status),
                               id=f"{method} {path}{about} as {token} -> {status}")


def _row(row: str) -> tuple[str, str, str]:
    """``"PATCH /functions/{function} A"``: (method, path, target or "")."""
    method, path, *target = row.split()
    return method, path, "".join(target)


@pytest.mark.parametrize(("method", "path", "target", "token", "status"), list(_cells()))
def test_access(world: World, method: str, path: str, target: str, token: str,
                status: int) -> None:
    response, check = PROBES[method, path](world, token, target)
    assert response.status_code == status, response.text
    if status in ERROR_TYPES:
        assert response.json() == {"ok": False, "error": {
            "type": ERROR_TYPES[status], "message": response.json()["error"]["message"]}}
    check(status < 400)


def test_the_matrix_covers_every_endpoint_of_the_contract() -> None:
    table = (ROOT / "docs" / "service-api.md").read_text()
    endpoints = {(method, path.split("?")[0]) for method, path in re.findall(
        r"^\| `(GET|POST|PUT|PATCH|DELETE) (/\S+)` \|", table, flags=re.MULTILINE)}
    assert len(endpoints) == 30
    assert {_row(row)[:2] for row in MATRIX} == endpoints == set(PROBES)


def test_a_malformed_authorization_header_is_unauthorized(world: World) -> None:
    # A wrong scheme or a missing secret is as unauthenticated as no header at all.
    for header in ("Basic " + world.owner, "Bearer", world.owner, "Bearer sfn_"):
        response = world.api("GET", "/whoami", "",
                                   headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error"]["type"] == "Unauthorized"
    # The scheme is case-insensitive (RFC 9110), so this proves the refusals above.
    response = world.api("GET", "/whoami", "",
                               headers={"Authorization": "bearer " + world.owner})
    assert response.status_code == 200
