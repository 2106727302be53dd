"""What a deployed function's failure says: the fix to its author, no line to the sender."""

from __future__ import annotations

from typing import Any

from tests.service.harness import Serve

READS_A_SETTING = """
def on_request(request, settings):
    region = settings["region"]
"""


def test_a_missing_setting_names_the_sources_settings_and_the_line(start_serve: Any
                                                                    ) -> None:
    serve: Serve = start_serve()
    assert serve.api("POST", "/functions", json={"name": "regional",
                                                 "code": READS_A_SETTING}).status_code == 201
    source = serve.api("POST", "/sources", json={"name": "eu", "function": "regional"}).json()
    answer = serve.webhook(source, {})
    assert answer.status_code == 500
    reason = ("setting 'region' is not set; give it in the source's settings "
              "(segfn sources configure SOURCE --set NAME=VALUE)")
    assert answer.json()["error"] == {"type": "InvalidSettings", "message": reason}
    [logged] = serve.api("GET", "/sources/eu/errors").json()["errors"]
    assert logged["error"]["message"] == f"regional.py:3: {reason}"
