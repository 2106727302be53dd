"""Redrive through a real ``segfn serve`` and the CLI: failed deliveries run again once a
fix is deployed, and dead letters are resent once the destination takes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from runner.service.keyring import generate_key
from tests.runner.destination import FaultyDestination
from tests.runner.harness import BROKEN, FIXED, TRACK, wait_until
from tests.service.harness import Cli, Serve


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def order(serve: Serve, source: dict[str, Any], user: str) -> httpx.Response:
    return serve.webhook(source, {"user": user}, headers={"X-Api-Token": f"tok-{user}"})


def test_failed_deliveries_run_again_with_the_fix_deployed(
        start_serve: Any, destination: FaultyDestination, tmp_path: Path) -> None:
    serve = start_serve("--segment-endpoint", destination.url,
                        env={"SEGFN_SECRET_KEY": generate_key()})
    ok(serve.api("POST", "/functions", json={"name": "orders", "code": BROKEN}), 201)
    shop = ok(serve.api("POST", "/sources", json={"name": "shop", "function": "orders",
                                                  "write_key": "key-shop"}), 201)
    assert [order(serve, shop, u).status_code for u in ("u1", "u2")] == [400, 400]
    cli = Cli(tmp_path / "config")
    cli("login", serve.url, serve.owner_token)
    logged = cli.json("errors", "--source", "shop")["errors"]
    assert [(e["attempts"], e["retryable"]) for e in logged] == [(1, True), (1, True)]
    assert ["x-api-token", "[redacted]"] in logged[0]["request"]["headers"]
    assert "tok-u2" not in str(logged) and "[redacted]" in logged[0]["request"]["url"]

    # The fix, saved as version 2 and deployed; then every failed delivery runs again.
    ok(serve.api("PATCH", "/functions/orders", json={"code": FIXED}))
    ok(serve.api("POST", "/functions/orders/deploy", json={"version": 2, "sources": ["shop"]}))
    done = cli.json("errors", "retry", "--all", "--source", "shop")
    assert sorted(q["id"] for q in done["queued"]) == sorted(e["id"] for e in logged)
    assert done["refused"] == [] and done["left"] == 0
    taken = wait_until(lambda: len(destination.taken) == 2 and destination.taken)
    assert sorted((m["userId"], m["properties"]["token"]) for m in taken) == [
        ("u1", "tok-u1"), ("u2", "tok-u2")]
    assert {r.write_key for r in destination.received} == {"key-shop"}
    assert cli.json("errors", "--source", "shop")["errors"] == []

    # Asking again: nothing left to run; an id that is not there is said so, exit 1.
    assert "queued 0 to run again" in cli("errors", "retry", "--all", "--source", "shop").stdout
    missing = cli("errors", "retry", str(logged[0]["id"]), "--source", "shop", code=1)
    assert f"#{logged[0]['id']}: no such entry of this source" in missing.stderr
    cli("errors", "retry", "--source", "shop", code=2)  # neither ids nor --all


def test_without_a_secret_key_a_redacted_request_is_not_retried_and_says_why(
        start_serve: Any, tmp_path: Path) -> None:
    serve = start_serve()
    ok(serve.api("POST", "/functions", json={"name": "orders", "code": BROKEN}), 201)
    shop = ok(serve.api("POST", "/sources", json={"name": "shop", "function": "orders"}), 201)
    assert order(serve, shop, "u1").status_code == 400
    cli = Cli(tmp_path / "config")
    cli("login", serve.url, serve.owner_token)
    [entry] = cli.json("errors", "--source", "shop")["errors"]
    assert entry["retryable"] is False
    assert "cannot be retried" in cli("errors", "--source", "shop").stdout
    refused = cli("errors", "retry", "--all", "--source", "shop", code=1)
    assert "secret key" in refused.stderr and f"#{entry['id']}" in refused.stderr
    # Nothing was lost by asking: the entry is still there, as it was.
    assert cli.json("errors", "--source", "shop")["errors"] == [entry]


def test_a_dead_letter_is_resent_once_the_destination_takes_it(
        start_serve: Any, destination: FaultyDestination, tmp_path: Path) -> None:
    serve = start_serve("--segment-endpoint", destination.url,
                        env={"SEGFN_SECRET_KEY": generate_key()})
    destination.refuse_message = lambda m: m["type"] == "track"
    ok(serve.api("POST", "/functions", json={"name": "plans", "code": TRACK}), 201)
    acme = ok(serve.api("POST", "/sources", json={"name": "acme", "function": "plans",
                                                  "write_key": "key-one"}), 201)
    assert serve.webhook(acme, {}).status_code == 200
    cli = Cli(tmp_path / "config")
    cli("login", serve.url, serve.owner_token)
    [first] = wait_until(lambda: cli.json("dead-letters", "list", "--source", "acme")[
        "dead_letters"])
    assert [m["type"] for m in destination.taken] == ["identify"]

    # Resent while the destination still refuses it: a dead letter again, a new one.
    done = cli.json("dead-letters", "resend", "--all", "--source", "acme")
    assert done == {"resent": [{"id": first["id"], "messages": 1}], "refused": [], "left": 0}
    [again] = wait_until(lambda: cli.json("dead-letters", "--source", "acme")["dead_letters"])
    assert again["id"] != first["id"] and again["batch"]["batch"] == first["batch"]["batch"]

    # The destination takes it now; resent by id, it is delivered under the source's key.
    destination.refuse_message = None
    text = cli("dead-letters", "resend", str(again["id"]), "--source", "acme").stdout
    assert "resent 1 dead letter(s): the service sends them now" in text
    track = wait_until(lambda: [m for m in destination.taken if m["type"] == "track"])
    assert [m["messageId"] for m in track] == [first["batch"]["batch"][0]["messageId"]]
    assert {r.write_key for r in destination.received} == {"key-one"}
    assert cli.json("dead-letters", "--source", "acme")["dead_letters"] == []
