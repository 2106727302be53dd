"""Functions, versions and sources through a real ``segfn serve``: the issue's story.

Create a function from an example, connect two sources with their own settings and write
keys, post to both, see each one's events reach the Tracking API under its own key; then
save, save & deploy, roll back, pause, retry across a deploy, and delete.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.service.keyring import generate_key
from tests.local_http import LocalServer, local_server
from tests.paths import ROOT
from tests.runner.destination import FaultyDestination
from tests.runner.harness import FakeSegment, basic_user, wait_until
from tests.service.harness import ISSUE, Cli, Serve, signed

GITHUB = (ROOT / "examples" / "github.py").read_text()
SCHEMA = [{"label": "Webhook Secret", "encrypted": True}]

VERSIONED = """
from segfn import Segment, RetryError

def on_request(request, settings):
    body = request.json()
    if body.get("retry") and VERSION == 1:
        raise RetryError("try again later")
    Segment.track({"event": "Version " + str(VERSION), "userId": settings["user"]})
"""


def versioned(number: int) -> str:
    return f"VERSION = {number}\n" + VERSIONED



@pytest.fixture
def serve(start_serve: Any) -> Serve:
    """Events go to the embedded store, where the API shows them per source."""
    return start_serve("--retry-time-scale", "0.001", env={"SEGFN_SECRET_KEY": generate_key()})


@pytest.fixture
def serve_to_segment(start_serve: Any, fake_segment: FakeSegment) -> Serve:
    """Events go to a Tracking API, under each source's write key."""
    return start_serve("--segment-endpoint", fake_segment.url, "--retry-time-scale", "0.001",
                       env={"SEGFN_SECRET_KEY": generate_key()})


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def test_two_sources_of_one_function_deliver_under_their_own_write_keys(
        serve_to_segment: Serve, fake_segment: FakeSegment) -> None:
    serve = serve_to_segment
    ok(serve.api("POST", "/functions", json={"name": "github", "code": GITHUB,
                                             "settings_schema": SCHEMA}), 201)
    one = ok(serve.api("POST", "/sources", json={
        "name": "acme", "function": "github", "settings": {"webhookSecret": "s3cret-one"},
        "write_key": "key-one"}), 201)
    two = ok(serve.api("POST", "/sources", json={
        "name": "globex", "function": "github", "settings": {"webhookSecret": "s3cret-two"},
        "write_key": "key-two"}), 201)
    assert one["webhook_url"] != two["webhook_url"]
    # Without a service-wide key, every source needs its own, now and later.
    for refused in (serve.api("POST", "/sources", json={"name": "keyless", "function": "github"}),
                    serve.api("PATCH", "/sources/acme", json={"write_key": None}),
                    serve.api("PATCH", "/sources/acme", json={"write_key": ""})):
        assert refused.status_code == 422 and "write_key" in refused.json()["error"]["message"]
    # The token in the path is the only thing that tells sources apart: 256 random bits.
    assert len(one["webhook_url"].rsplit("/", 1)[1]) >= 43

    assert httpx.post(one["webhook_url"], **signed(ISSUE, "s3cret-one")).status_code == 200
    issue = {**ISSUE, "sender": {"id": 8, "login": "bob"}}
    assert httpx.post(two["webhook_url"], **signed(issue, "s3cret-two")).status_code == 200
    # Each source checks the signature with its own secret.
    wrong = httpx.post(two["webhook_url"], **signed(issue, "s3cret-one"))
    assert (wrong.status_code, wrong.json()["error"]["type"]) == (400, "MessageRejected")

    wait_until(lambda: len(fake_segment.messages) == 4)
    by_key: dict[str, set[str]] = {}
    for batch, auth in zip(fake_segment.batches, fake_segment.auth, strict=True):
        by_key.setdefault(basic_user(auth), set()).update(
            m["userId"] for m in batch["body"]["batch"])
    assert by_key == {"key-one": {"7"}, "key-two": {"8"}}

    errors = ok(serve.api("GET", "/sources/globex/errors"))["errors"]
    assert [e["error"]["type"] for e in errors] == ["MessageRejected"]
    assert dict(errors[0]["request"]["headers"])["x-hub-signature-256"] == "[redacted]"
    # The webhook token is a credential: whoever reads the errors log does not learn it.
    assert errors[0]["request"]["url"] == serve.url + "fn/[redacted]"
    assert ok(serve.api("GET", "/sources/acme/errors"))["errors"] == []


def test_save_leaves_sources_and_deploy_and_rollback_move_them(serve: Serve) -> None:
    schema = [{"label": "User", "required": True}]
    ok(serve.api("POST", "/functions", json={"name": "ver", "code": versioned(1),
                                             "settings_schema": schema}), 201)
    a = ok(serve.api("POST", "/sources", json={"name": "a", "function": "ver",
                                               "settings": {"user": "ua"}}), 201)
    b = ok(serve.api("POST", "/sources", json={"name": "b", "function": "ver",
                                               "settings": {"user": "ub"}}), 201)

    def events_of(source: dict[str, Any]) -> list[str]:
        found = ok(serve.api("GET", f"/sources/{source['id']}/events"))["events"]
        return [(e["message"]["event"], e["message"]["userId"]) for e in found]

    def post_both() -> None:
        assert serve.webhook(a, {}).status_code == 200
        assert serve.webhook(b, {}).status_code == 200

    saved = ok(serve.api("PATCH", "/functions/ver", json={"code": versioned(2)}))
    assert (saved["created"], saved["version"]["number"]) == (True, 2)
    post_both()  # Save alone: both still run version 1.
    deployed = ok(serve.api("POST", "/functions/ver/deploy", json={"sources": ["a"]}))
    assert [(s["name"], s["version"]) for s in deployed["deployed"]] == [("a", 2)]
    post_both()  # Save & deploy to a: a runs 2, b still 1.
    ok(serve.api("POST", "/functions/ver/deploy", json={"version": 1, "sources": ["a"]}))
    post_both()  # Rolled back: both run 1 again.
    assert events_of(a) == [("Version 1", "ua"), ("Version 2", "ua"), ("Version 1", "ua")]
    assert events_of(b) == [("Version 1", "ub")] * 3
    # The console's "recent events": the newest, newest first.
    newest = ok(serve.api("GET", f"/sources/{a['id']}/events?limit=2&newest=TRUE"))["events"]
    assert [e["message"]["event"] for e in newest] == ["Version 1", "Version 2"]
    assert newest[0]["id"] > newest[1]["id"]
    assert serve.api("GET", f"/sources/{a['id']}/events?newest=1").status_code == 400

    unchanged = ok(serve.api("PATCH", "/functions/ver", json={"code": versioned(2)}))
    assert (unchanged["created"], unchanged["version"]["number"]) == (False, 2)
    versions = ok(serve.api("GET", "/functions/ver/versions"))["versions"]
    assert [v["number"] for v in versions] == [2, 1]
    assert ok(serve.api("GET", "/functions/ver/versions/1"))["code"] == versioned(1)


def test_a_retry_runs_the_version_deployed_at_retry_time(serve: Serve) -> None:
    # Scaled retry waits are 60-180 ms: enough to deploy version 2 before the retry runs.
    ok(serve.api("POST", "/functions", json={"name": "ver", "code": versioned(1),
                                             "settings_schema": [{"label": "User"}]}), 201)
    source = ok(serve.api("POST", "/sources", json={"name": "a", "function": "ver",
                                                    "settings": {"user": "u"}}), 201)
    ok(serve.api("PATCH", "/functions/ver", json={"code": versioned(2)}))
    answer = serve.webhook(source, {"retry": True})
    assert (answer.status_code, answer.json()["error"]["type"]) == (202, "Retry")
    ok(serve.api("POST", "/functions/ver/deploy", json={"sources": "all"}))
    found = wait_until(lambda: ok(serve.api("GET", "/sources/a/events"))["events"])
    assert [e["message"]["event"] for e in found] == ["Version 2"]


def test_settings_are_checked_against_the_schema_at_save_never_at_the_webhook(
        serve: Serve) -> None:
    schema = [{"label": "User", "required": True}, {"label": "Retries", "type": "number"}]
    ok(serve.api("POST", "/functions", json={"name": "ver", "code": versioned(1),
                                             "settings_schema": schema}), 201)
    missing = serve.api("POST", "/sources", json={"name": "a", "function": "ver"})
    assert missing.status_code == 422
    assert "user is required" in missing.json()["error"]["message"]
    mistyped = serve.api("POST", "/sources", json={
        "name": "a", "function": "ver", "settings": {"user": "u", "retries": "three"}})
    assert mistyped.status_code == 422 and "retries" in mistyped.json()["error"]["message"]
    source = ok(serve.api("POST", "/sources", json={"name": "a", "function": "ver",
                                                    "settings": {"user": "u"}}), 201)
    assert serve.api("PATCH", "/sources/a", json={"settings": {"user": None}}
                     ).status_code == 422

    # Version 2 needs a setting source a lacks: deploying it is refused, nothing moves.
    ok(serve.api("PATCH", "/functions/ver", json={
        "code": versioned(2), "settings_schema": [*schema, {"label": "Region",
                                                            "required": True}]}))
    refused = serve.api("POST", "/functions/ver/deploy", json={"sources": "all"})
    assert refused.status_code == 422 and "region" in refused.json()["error"]["message"]
    assert ok(serve.api("GET", "/sources/a"))["version"] == 1
    assert serve.webhook(source, {}).status_code == 200


def test_code_that_does_not_compile_or_posts_to_itself_makes_no_version(serve: Serve) -> None:
    broken = serve.api("POST", "/functions", json={"name": "bad", "code": "def on_request(:"})
    assert broken.status_code == 422
    assert broken.json()["error"] == {"type": "CompileError",
                                      "message": "bad.py:1: syntax error: invalid syntax"}
    assert ok(serve.api("GET", "/functions"))["functions"] == []

    ok(serve.api("POST", "/functions", json={"name": "ver", "code": versioned(1)}), 201)
    loop = versioned(2) + f"\nHOOK = '{serve.url.rstrip('/')}/fn/abc'\n"
    refused = serve.api("PATCH", "/functions/ver", json={"code": loop})
    assert refused.status_code == 422
    assert "unable to send data back to their own webhooks" in refused.json()["error"][
        "message"]
    assert [v["number"] for v in ok(serve.api("GET", "/functions/ver/versions"))[
        "versions"]] == [1]


@pytest.fixture
def front() -> Iterator[LocalServer]:
    """What the public URL reaches in front of the service (a proxy): counts connections."""
    with local_server() as running:
        yield running


def test_the_public_url_is_refused_in_code_and_in_fetches_however_spelled(
        start_serve: Any, front: LocalServer) -> None:
    public = f"https://127.0.0.1:{front.server_address[1]}"
    serve = start_serve("--public-url", public, "--allow-private-fetch")
    spelled = [public.replace("https", "http"), public.replace("127.0.0.1", "127.0.0.1."),
               public.replace("127.0.0.1", "127%2e0.0.1"),
               public.replace("127.0.0.1", "[::ffff:7f00:1]").upper()]
    for url in spelled:
        code = versioned(1) + f"\nHOOK = '{url}/fn/abc'\n"
        refused = serve.api("POST", "/functions", json={"name": "loop", "code": code})
        assert refused.status_code == 422, (url, refused.text)
        assert "unable to send data back to their own webhooks" in refused.json()["error"][
            "message"]

    # Built at run time, the URL is not in the code: the fetch itself is refused.
    ok(serve.api("POST", "/functions", json={"name": "loop", "code": """
def on_request(request, settings):
    failures = []
    for url in request.json()["urls"]:
        try:
            fetch(url, method="POST", json={})
        except FetchError as exc:
            failures.append(str(exc))
    console.log(*failures)
"""}), 201)
    urls = [public.replace("https", "http") + "/fn/x",
            public.replace("https", "HTTP").replace("127.0.0.1", "[::ffff:127.0.0.1]")
            + "/%66n/x",
            f"http://0x7f000001:{serve.port}/fn/x"]
    tested = ok(serve.api("POST", "/functions/loop/test",
                          json={"payload": {"body": {"urls": urls}}}))
    assert tested["ok"], tested
    assert tested["logs"][0].count("unable to send data back to their own webhooks") == 3
    assert front.connections == 0


def test_paused_sources_refuse_deliveries_so_senders_keep_them(serve: Serve) -> None:
    ok(serve.api("POST", "/functions", json={"name": "ver", "code": versioned(1),
                                             "settings_schema": [{"label": "User"}]}), 201)
    source = ok(serve.api("POST", "/sources", json={"name": "a", "function": "ver",
                                                    "settings": {"user": "u"}}), 201)
    assert ok(serve.api("PATCH", "/sources/a", json={"paused": True}))["paused"] is True
    paused = serve.webhook(source, {})
    assert (paused.status_code, paused.json()["error"]["type"]) == (503, "SourcePaused")
    assert paused.headers["Retry-After"] == "60"
    metrics = httpx.get(serve.url + "metrics").text
    assert 'segfn_webhook_refusals_total{status="503"} 1.0' in metrics
    ok(serve.api("PATCH", "/sources/a", json={"paused": False}))
    assert serve.webhook(source, {}).status_code == 200
    assert len(ok(serve.api("GET", "/sources/a/events"))["events"]) == 1


def test_deleting_a_function_is_refused_while_sources_use_it(serve: Serve) -> None:
    # The source's store is made when it first uses its cache.
    caches = versioned(1).replace("def on_request(request, settings):\n",
                                  "def on_request(request, settings):\n"
                                  "    cache.load('seen', -1, lambda: True)\n")
    ok(serve.api("POST", "/functions", json={"name": "ver", "code": caches,
                                             "settings_schema": [{"label": "User"}]}), 201)
    source = ok(serve.api("POST", "/sources", json={"name": "a", "function": "ver",
                                                    "settings": {"user": "u"}}), 201)
    refused = serve.api("DELETE", "/functions/ver")
    assert refused.status_code == 409 and "a" in refused.json()["error"]["message"]
    assert serve.webhook(source, {}).status_code == 200
    cache = serve.data_dir / "cache" / source["function"]
    assert (cache / source["id"]).is_dir()
    assert serve.api("DELETE", "/functions/ver", params={"force": "true"}).status_code == 204
    assert serve.webhook(source, {}).status_code == 404
    assert serve.api("GET", "/sources/a").status_code == 404
    assert not cache.exists()


def test_metrics_count_invocations_by_function_source_and_outcome(
        serve_to_segment: Serve, fake_segment: FakeSegment) -> None:
    serve = serve_to_segment
    ok(serve.api("POST", "/functions", json={"name": "ver", "code": versioned(1),
                                             "settings_schema": [{"label": "User"}]}), 201)
    source = ok(serve.api("POST", "/sources", json={
        "name": "a", "function": "ver", "settings": {"user": "u"}, "write_key": "k"}), 201)
    fake_segment.answers = [(503, {})] * 3
    for body in ({}, {}, {"retry": True}):
        serve.webhook(source, body)
    # By name, not id: the workspace's, the function's and the source's.
    labels = 'function="ver",outcome="{}",source="a",workspace="default"'

    def scrape() -> str:
        return httpx.get(serve.url + "metrics").text

    # Version 1 always asks for a retry: the first run and its 6 retries are all counted.
    text = wait_until(lambda: f"{{{labels.format('Retry')}}} 7.0" in scrape() and scrape())
    assert f"segfn_invocations_total{{{labels.format('ok')}}} 2.0" in text
    assert 'segfn_invocation_duration_seconds_count{function="ver",source="a",' \
           'workspace="default"}' in text
    assert source["id"] not in text and source["function"] not in text
    assert "segfn_retries_queued 0.0" in text
    failures = wait_until(lambda: [line for line in scrape().splitlines()
                                   if line.startswith("segfn_delivery_failures_total{")])
    assert sum(float(line.rsplit(" ", 1)[1]) for line in failures) == 3.0
    wait_until(lambda: "segfn_outbox_depth 0.0" in scrape())
    assert len(fake_segment.messages) == 2


def test_the_first_start_prints_the_owner_token_once(start_serve: Any, tmp_path: Path) -> None:
    first = start_serve(data_dir=tmp_path / "data")
    token = first.owner_token
    assert first.api("GET", "/whoami", token).json()["workspace"]["name"] == "default"
    first.stop()
    second = start_serve(data_dir=tmp_path / "data")
    assert not any("Workspace Owner token" in line for line in second.output)
    assert second.api("GET", "/whoami", token).status_code == 200


def test_webhooks_check_what_segfn_run_checks_in_the_same_order(serve: Serve) -> None:
    ok(serve.api("POST", "/functions", json={"name": "ver", "code": versioned(1),
                                             "settings_schema": [{"label": "User"}]}), 201)
    source = ok(serve.api("POST", "/sources", json={"name": "a", "function": "ver",
                                                    "settings": {"user": "u"}}), 201)
    url = source["webhook_url"]
    answers = {
        "GET": httpx.get(url),
        "unknown token": httpx.post(url[:-4] + "xxxx", json={}),
        "text/plain": httpx.post(url, content=b"{}", headers={"Content-Type": "text/plain"}),
        "too large": httpx.post(url, content=b" " * (512 * 1024 + 1),
                                headers={"Content-Type": "application/json"}),
        "not JSON": httpx.post(url, content=b"{", headers={"Content-Type": "application/json"}),
    }
    assert {what: (a.status_code, a.json()["error"]["type"]) for what, a in answers.items()} == {
        "GET": (405, "MethodNotAllowed"), "unknown token": (404, "NotFound"),
        "text/plain": (415, "UnsupportedMediaType"), "too large": (413, "PayloadTooLarge"),
        "not JSON": (400, "BadRequest")}
    assert answers["GET"].headers["Allow"] == "POST"


def test_retries_survive_a_kill_and_run_the_version_deployed_after_it(
        start_serve: Any, tmp_path: Path) -> None:
    key = {"SEGFN_SECRET_KEY": generate_key()}
    first = start_serve("--retry-time-scale", "0.005", env=key)
    token = first.owner_token
    ok(first.api("POST", "/functions", json={"name": "ver", "code": versioned(1),
                                             "settings_schema": [{"label": "User"}]}), 201)
    ok(first.api("PATCH", "/functions/ver", json={"code": versioned(2)}))
    source = ok(first.api("POST", "/sources", json={"name": "a", "function": "ver",
                                                    "version": 1, "settings": {"user": "u"}}),
                201)
    assert first.webhook(source, {"retry": True}).status_code == 202
    first.kill()

    second = start_serve("--retry-time-scale", "0.005", data_dir=first.data_dir, env=key)
    ok(second.api("POST", "/functions/ver/deploy", token, json={"sources": ["a"]}))
    found = wait_until(lambda: ok(second.api("GET", "/sources/a/events", token))["events"])
    assert [e["message"]["event"] for e in found] == ["Version 2"]


def test_a_setting_dropped_by_a_version_keeps_its_value_for_a_rollback(serve: Serve) -> None:
    echo = """
from segfn import Segment

def on_request(request, settings):
    Segment.track({"event": "Seen", "userId": "u", "properties": dict(settings)})
"""
    region = {"label": "Region", "required": True}
    token = {"label": "Token", "encrypted": True}
    ok(serve.api("POST", "/functions", json={"name": "echo", "code": echo,
                                             "settings_schema": [region, token]}), 201)
    source = ok(serve.api("POST", "/sources", json={
        "name": "a", "function": "echo", "settings": {"region": "eu", "token": "t0k3n"}}), 201)
    ok(serve.api("PATCH", "/functions/echo", json={"settings_schema": []}))
    ok(serve.api("POST", "/functions/echo/deploy", json={"sources": "all"}))
    # Unknown names are still refused when they are what is being set.
    assert serve.api("PATCH", "/sources/a", json={"settings": {"regoin": "us"}}
                     ).status_code == 422
    ok(serve.api("POST", "/functions/echo/deploy", json={"version": 1, "sources": ["a"]}))
    assert serve.webhook(source, {}).status_code == 200
    stored = ok(serve.api("GET", "/sources/a/events"))["events"]
    assert stored[-1]["message"]["properties"] == {"region": "eu", "token": "t0k3n"}
    assert ok(serve.api("GET", "/sources/a"))["secrets"] == {"token": "set"}


def test_each_source_has_its_own_rate_limit(start_serve: Any) -> None:
    serve = start_serve("--rate-limit", "2")
    ok(serve.api("POST", "/functions", json={"name": "ver", "code": versioned(1),
                                             "settings_schema": [{"label": "User"}]}), 201)
    a, b = (ok(serve.api("POST", "/sources", json={"name": name, "function": "ver",
                                                   "settings": {"user": name}}), 201)
            for name in ("a", "b"))
    burst = [serve.webhook(a, {}) for _ in range(6)]
    limited = [answer for answer in burst if answer.status_code == 429]
    assert limited and all(answer.json()["error"]["type"] == "RateLimited"
                           and int(answer.headers["Retry-After"]) >= 1 for answer in limited)
    # Source b has a bucket of its own, untouched by a's burst.
    assert serve.webhook(b, {}).status_code == 200


def test_sources_of_one_function_never_share_a_cache(serve: Serve) -> None:
    # The classic: a token fetched with one source's credentials, cached under a fixed key.
    cached = """
from segfn import Segment, cache

def on_request(request, settings):
    token = cache.load("access-token", None, lambda: "token-for-" + settings["account"])
    Segment.track({"event": "Used", "userId": "u", "properties": {"token": token}})
"""
    ok(serve.api("POST", "/functions", json={"name": "cached", "code": cached,
                                             "settings_schema": [{"label": "Account"}]}), 201)
    for name in ("a", "b"):
        source = ok(serve.api("POST", "/sources", json={
            "name": name, "function": "cached", "settings": {"account": name}}), 201)
        for _ in range(2):
            assert serve.webhook(source, {}).status_code == 200
    for name in ("a", "b"):
        stored = ok(serve.api("GET", f"/sources/{name}/events"))["events"]
        assert [e["message"]["properties"]["token"] for e in stored] == [f"token-for-{name}"] * 2
    a = ok(serve.api("GET", "/sources/a"))
    assert serve.api("DELETE", "/sources/a").status_code == 204
    caches = serve.data_dir / "cache" / a["function"]
    assert [path.name for path in caches.iterdir()] == [ok(serve.api("GET", "/sources/b"))["id"]]


def test_a_message_the_destination_refuses_is_a_dead_letter_of_its_source(
        start_serve: Any, destination: FaultyDestination, tmp_path: Path) -> None:
    serve = start_serve("--segment-endpoint", destination.url,
                        env={"SEGFN_SECRET_KEY": generate_key()})
    # The identify is taken; the track is refused whatever batch it is in.
    destination.refuse_message = lambda m: m["type"] == "track"
    ok(serve.api("POST", "/functions", json={"name": "github", "code": GITHUB,
                                             "settings_schema": SCHEMA}), 201)
    acme = ok(serve.api("POST", "/sources", json={
        "name": "acme", "function": "github", "settings": {"webhookSecret": "s3cret-one"},
        "write_key": "key-one"}), 201)
    assert httpx.post(acme["webhook_url"], **signed(ISSUE, "s3cret-one")).status_code == 200
    letters = wait_until(lambda: ok(serve.api(
        "GET", "/sources/acme/dead-letters"))["dead_letters"])
    assert [(d["source"], d["status"]) for d in letters] == [(acme["id"], 400)]
    assert [(m["type"], m["userId"]) for d in letters for m in d["batch"]["batch"]] == [
        ("track", "7")]
    assert [m["type"] for m in destination.taken] == ["identify"]
    # The CLI reads the same list, as JSON and as text.
    cli = Cli(tmp_path / "config")
    cli("login", serve.url, serve.owner_token)
    assert cli.json("dead-letters", "--source", "acme")["dead_letters"] == letters
    text = cli("dead-letters", "--source", "acme").stdout
    assert "dead letter 400" in text and "7" in text


def test_with_port_0_the_chosen_port_is_the_public_url_and_refused_to_fetch(
        tmp_path: Path) -> None:
    serve = Serve(tmp_path / "data", ["--allow-private-fetch"])
    serve.port = 0
    serve.start()
    try:
        assert serve.port != 0
        assert serve.api("GET", "/whoami", serve.owner_token).status_code == 200
        ok(serve.api("POST", "/functions", json={"name": "loop", "code": """
def on_request(request, settings):
    fetch(request.json()["url"], method="POST", json={})
"""}), 201)
        tested = ok(serve.api("POST", "/functions/loop/test",
                              json={"payload": {"body": {"url": serve.url + "fn/x"}}}))
        assert "unable to send data back to their own webhooks" in tested["error"]["message"]
    finally:
        serve.stop()
