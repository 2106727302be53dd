"""What a service shows people names things by name: the serve log, /metrics, the token
that saved each version, and a function's description, taken from its docstring."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.runner.harness import wait_until
from tests.service.harness import Cli, Serve

DOCUMENTED = '''"""Count signups from the landing page.

Each delivery is one track call.
"""

def on_request(request, settings):
    Segment.track({"event": "Signed Up", "userId": "u1"})
'''


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    serve = Serve(tmp_path_factory.mktemp("serve"), []).start()
    yield serve
    serve.stop()


def test_a_function_without_a_description_shows_its_docstring(
        cli: Cli, tmp_path: Path) -> None:
    handler = tmp_path / "signups.py"
    handler.write_text(DOCUMENTED)
    cli("deploy", handler)
    cli("functions", "create", "described", "--code", handler, "--description", "Mine.")
    listed = {f["name"]: f for f in cli.json("functions", "list")["functions"]}
    assert listed["signups"]["description"] == "Count signups from the landing page."
    assert listed["described"]["description"] == "Mine."
    assert "Count signups from the landing page." in cli("functions", "list").stdout

    # Code without a docstring, then code with one: the first docstring saved is taken.
    bare = tmp_path / "bare.py"
    bare.write_text(DOCUMENTED.split('"""\n')[-1])
    cli("deploy", bare)
    assert {f["name"]: f["description"] for f in cli.json("functions", "list")["functions"]
            }["bare"] == ""
    bare.write_text(DOCUMENTED)
    cli("deploy", bare)
    assert {f["name"]: f["description"] for f in cli.json("functions", "list")["functions"]
            }["bare"] == "Count signups from the landing page."


def test_versions_show_the_name_of_the_token_that_saved_them(
        serve: Serve, cli: Cli, tmp_path: Path) -> None:
    handler = tmp_path / "tokened.py"
    handler.write_text(DOCUMENTED)
    cli("deploy", handler)
    secret = cli("tokens", "create", "ci-bot", "--role", "functions_admin").stdout \
        .splitlines()[-1]
    handler.write_text(DOCUMENTED + "\n# two\n")
    cli("deploy", handler, SEGFN_URL=serve.url, SEGFN_TOKEN=secret)

    versions = cli.json("functions", "versions", "tokened")["versions"]
    assert [(v["number"], v["created_by_name"]) for v in versions] == [(2, "ci-bot"),
                                                                       (1, "owner")]
    table = cli("functions", "versions", "tokened").stdout
    assert "ci-bot" in table and "owner" in table and "tok_" not in table


def test_the_serve_log_and_metrics_name_the_source_function_and_workspace(
        serve: Serve, cli: Cli, tmp_path: Path) -> None:
    handler = tmp_path / "landing.py"
    handler.write_text(DOCUMENTED)
    cli("deploy", handler)
    url = cli("sources", "connect", "landing-prod", "--function", "landing").stdout \
        .splitlines()[-1]
    source = cli.json("sources", "show", "landing-prod")
    assert serve.webhook({"webhook_url": url}, {}).status_code == 200

    line = wait_until(lambda: next((line for line in serve.output
                                    if "default/landing-prod" in line), None))
    assert line.startswith("200 default/landing-prod ok") and source["id"] not in line
    metrics = httpx.get(serve.url + "metrics").text
    assert ('segfn_invocations_total{function="landing",outcome="ok",source="landing-prod",'
            'workspace="default"} 1.0') in metrics
    assert source["id"] not in metrics and source["function"] not in metrics


def test_events_of_a_source_say_which_service_they_come_from(
        serve: Serve, cli: Cli, tmp_path: Path) -> None:
    handler = tmp_path / "told.py"
    handler.write_text(DOCUMENTED)
    cli("deploy", handler)
    cli("sources", "connect", "told", "--function", "told")
    shown = cli("events", "--source", "told")
    assert shown.stdout == "no events\n"
    assert shown.stderr == f"events of source told of {serve.url.rstrip('/')}\n"
    assert json.loads(cli("events", "--source", "told", "--json").stdout) == {"events": []}
