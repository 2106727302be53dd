"""Two ``segfn serve`` nodes on one PostgreSQL database are one service: either answers any
source, and when one is killed with SIGKILL the other sends what it had claimed and runs
its due retries, with the same messageIds, nothing lost."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.service.keyring import generate_key
from tests.runner.destination import Answer, FaultyDestination
from tests.runner.harness import SEGFN, wait_until
from tests.service.harness import Serve

# Short, so that a dead node's leases lapse within the test; above the batch POST of a
# destination that answers at once.
LEASE = "3"
HANDLER = """
from segfn import Segment, RetryError

def on_request(request, settings):
    body = request.json()
    if body.get("retry") and not settings.get("fixed"):
        raise RetryError("try again later")
    Segment.track({"event": "Hit", "userId": "u", "properties": body})
"""
BURST = 60


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


Fleet = tuple[Serve, Serve, str]


@pytest.fixture
def start_fleet(migrated_postgres_url: str, start_serve: Callable[..., Serve], tmp_path: Path,
                destination: FaultyDestination) -> Callable[..., Fleet]:
    """Start two nodes on one database and one key, each with a data dir of its own,
    sending to ``destination``, with ``--rate-limit`` as given; they and the token of their
    workspace."""
    def start(rate_limit: float = 0) -> Fleet:
        made = subprocess.run([*SEGFN, "admin", "create-workspace", "acme", "--database",
                               migrated_postgres_url, "--json"], capture_output=True,
                              text=True, timeout=60, check=True)
        env = {"SEGFN_SECRET_KEY": generate_key()}
        a, b = (start_serve("--database", migrated_postgres_url, "--rate-limit",
                            str(rate_limit), "--segment-endpoint", destination.url,
                            "--write-key", "wk", "--lease-seconds", LEASE,
                            "--retry-time-scale", "0.02", data_dir=tmp_path / f"node-{n}",
                            env=env) for n in "ab")
        return a, b, json.loads(made.stdout)["token"]
    return start


@pytest.fixture
def fleet(start_fleet: Callable[..., Fleet]) -> Fleet:
    return start_fleet()


def via(node: Serve, source: dict[str, Any]) -> dict[str, Any]:
    """``source`` with its webhook URL on ``node`` (each node's URL is its own)."""
    path = "/fn/" + source["webhook_url"].split("/fn/", 1)[1]
    return {**source, "webhook_url": node.url.rstrip("/") + path}


def connect(node: Serve, token: str) -> dict[str, Any]:
    ok(node.api("POST", "/functions", token, json={
        "name": "hits", "code": HANDLER,
        "settings_schema": [{"label": "Fixed", "type": "boolean"}]}), 201)
    source: dict[str, Any] = ok(node.api("POST", "/sources", token,
                                         json={"name": "s", "function": "hits"}), 201)
    return source


# A change on one node is in effect on the other within 2 s (the feed polls every second);
# the waits below allow a little more, for a loaded machine.
WITHIN = 3.0


def test_a_change_on_one_node_is_in_effect_on_the_other(
        fleet: Fleet, destination: FaultyDestination) -> None:
    a, b, token = fleet
    source = connect(a, token)
    accepted: list[int] = []

    def answer(node: Serve, n: int) -> int:
        status: int = node.webhook(via(node, source), {"n": n}).status_code
        if status == 200:
            accepted.append(n)
        return status

    wait_until(lambda: answer(b, 1) == 200, WITHIN)
    # A deploy on a: b runs the new version.
    ok(a.api("PATCH", "/functions/hits", token, json={"code": HANDLER.replace('"Hit"',
                                                                              '"Hit 2"')}))
    ok(a.api("POST", "/functions/hits/deploy", token, json={"sources": "all"}))
    wait_until(lambda: answer(b, 5) == 200 and destination.taken
               and destination.taken[-1]["event"] == "Hit 2", WITHIN)
    ok(a.api("PATCH", "/sources/s", token, json={"paused": True}))
    wait_until(lambda: answer(b, 2) == 503, WITHIN)
    ok(a.api("PATCH", "/sources/s", token, json={"paused": False}))
    wait_until(lambda: answer(b, 3) == 200, WITHIN)
    ok(b.api("DELETE", "/sources/s", token), 204)
    wait_until(lambda: answer(a, 4) == 404, WITHIN)
    wait_until(lambda: len(destination.taken) >= len(accepted))
    assert sorted(m["properties"]["n"] for m in destination.taken) == sorted(accepted)
    assert {1, 3, 5} <= set(accepted)
    # A revoked token is refused by every node at once: tokens are read per request.
    made = ok(a.api("POST", "/tokens", token, json={
        "name": "ci", "roles": [{"role": "workspace_owner"}]}), 201)
    assert b.api("GET", "/whoami", made["secret"]).status_code == 200
    ok(b.api("DELETE", f"/tokens/{made['token']['id']}", token), 204)
    assert a.api("GET", "/whoami", made["secret"]).status_code == 401
    # Each stops cleanly, its listening thread and leases let go of.
    assert (a.stop(), b.stop()) == (0, 0)


def test_a_node_killed_under_load_loses_nothing_and_its_retries_run_on_the_other(
        fleet: Fleet, destination: FaultyDestination) -> None:
    a, b, token = fleet
    source = connect(a, token)
    wait_until(lambda: b.webhook(via(b, source), {"n": -2}).status_code == 200, WITHIN)
    # The destination is down: both nodes claim outbox rows and hold them, failing.
    destination.default = Answer(503)
    answered: dict[int, int] = {}
    lock = threading.Lock()

    def send(node: Serve, numbers: range) -> None:
        for n in numbers:
            try:
                status = node.webhook(via(node, source), {"n": n}, timeout=5).status_code
            except httpx.HTTPError:
                continue  # the killed node's connections end unanswered
            with lock:
                answered[n] = status

    senders = [threading.Thread(target=send, args=(node, range(start, BURST, 2)))
               for start, node in enumerate((a, b))]
    for sender in senders:
        sender.start()
    wait_until(lambda: len(answered) >= BURST // 3)
    # A retry queued by the node about to die, due soon after it.
    assert a.webhook(source, {"retry": True, "n": -1}).status_code == 202
    wait_until(lambda: any(r.answer.status == 503 for r in destination.received))
    a.process.kill()  # SIGKILL
    a.process.wait(10)
    for sender in senders:
        sender.join(60)
    delivered = {n for n, status in answered.items() if status == 200}
    assert len(delivered) >= BURST // 3
    # The retry succeeds once the source is fixed; the destination comes back.
    ok(b.api("PATCH", "/sources/s", token, json={"settings": {"fixed": True}}))
    destination.default = Answer()

    def taken() -> set[int]:
        return {m["properties"]["n"] for m in destination.taken}

    wait_until(lambda: delivered | {-1, -2} <= taken(), timeout=60)
    # At least once, never a different copy: a message sent twice has one messageId.
    ids: dict[int, set[str]] = {}
    for message in destination.taken:
        ids.setdefault(message["properties"]["n"], set()).add(message["messageId"])
    assert all(len(found) == 1 for found in ids.values()), ids
    # The other node ran the dead one's retry: it is off the queue, nothing is left.
    wait_until(lambda: ok(b.api("GET", "/sources/s/errors", token))["errors"] == [] and
               not _waiting(b))


def _waiting(node: Serve) -> int:
    """The outbox depth and queued retries ``node`` reports in its metrics."""
    text = httpx.get(node.url + "metrics", timeout=10).text
    return sum(int(float(line.split()[-1])) for line in text.splitlines()
               if line.startswith(("segfn_outbox_depth", "segfn_retries_queued")))


def test_a_sources_rate_limit_holds_on_each_node(start_fleet: Callable[..., Fleet]) -> None:
    """The documented tolerance: a source gets ``--rate-limit`` N a second on each node,
    so at most K x N a second behind K nodes (README, "Running a fleet")."""
    a, b, token = start_fleet(rate_limit=2)
    source = connect(a, token)
    wait_until(lambda: b.webhook(via(b, source), {"n": 0}).status_code in (200, 429), WITHIN)
    started = time.monotonic()
    statuses = [node.webhook(via(node, source), {"n": n}).status_code
                for n in range(1, 13) for node in (a, b)]
    elapsed = time.monotonic() - started
    assert set(statuses) == {200, 429}
    # Each node's bucket: its burst of 2 and 2 a second since; and no more, both together.
    assert statuses.count(200) <= 2 * (2 + 2 * elapsed)
    assert statuses.count(200) >= 2
