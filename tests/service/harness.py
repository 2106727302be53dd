"""A real ``segfn serve`` on loopback, and a client for its API; or its app in process."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from runner.config import RunnerConfig, build_runtime
from runner.service import catalog
from runner.service.api import service_app
from runner.service.keyring import Keyring
from runner.service.operations import Service
from runner.store import Store
from segfn.cli.serve import CATALOG_FILE
from tests.runner.harness import SEGFN, Runner, wait_until
from tests.stored import change

# A GitHub "issues" delivery, as examples/github.py reads it.
ISSUE = {"action": "opened", "sender": {"id": 7, "login": "ada"},
         "issue": {"id": 1, "number": 3, "title": "t", "state": "open"},
         "repository": {"id": 9, "full_name": "acme/app"}}


def signed(body: dict[str, Any], secret: str) -> dict[str, Any]:
    """httpx arguments posting ``body`` as a GitHub delivery signed with ``secret``."""
    raw = json.dumps(body).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"content": raw, "headers": {"Content-Type": "application/json",
                                        "X-GitHub-Event": "issues",
                                        "X-Hub-Signature-256": f"sha256={signature}"}}


# A handler that tracks what it is sent, or fails when told to.
HIT = '''
def on_request(request, settings):
    body = request.json()
    if body.get("fail"):
        raise ValueError("told to fail")
    Segment.track({"event": "Hit", "userId": "u1", "properties": body})
'''
# A tester request for HIT.
TEST_REQUEST = {"payload": {"body": {"n": 7}, "headers": {"Content-Type": "application/json"}}}


class Serve(Runner):
    """A ``segfn serve`` subprocess; ``owner_token`` is the token its first start printed."""

    def __init__(self, data_dir: Path, args: list[str], env: dict[str, str] | None = None
                 ) -> None:
        super().__init__(Path("-"), data_dir, args)
        self.env = env or {}
        self._client: httpx.Client | None = None

    def command(self) -> list[str]:
        return [*SEGFN, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
                *self.args]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def owner_token(self) -> str:
        """The token printed on the first start (the line after the one announcing it)."""
        index = wait_until(lambda: next((i for i, line in enumerate(self.output)
                                         if "Workspace Owner token" in line), None))
        return wait_until(lambda: len(self.output) > index + 1 and self.output[index + 1])

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any
            ) -> httpx.Response:
        """Call ``/api/v1{path}`` with ``token`` (the owner's by default)."""
        headers = kwargs.pop("headers", {})
        if token != "":
            headers.setdefault("Authorization", f"Bearer {token or self.owner_token}")
        kwargs.setdefault("timeout", 30)
        if self._client is None:
            # One connection pool for the whole test: a client per call costs ~0.1 s.
            self._client = httpx.Client()
        return self._client.request(method, f"{self.url}api/v1{path}", headers=headers,
                                    **kwargs)

    def webhook(self, source: dict[str, Any], json_body: Any = None, **kwargs: Any
                ) -> httpx.Response:
        """POST to a source's webhook URL."""
        kwargs.setdefault("timeout", 15)
        if json_body is not None:
            kwargs["json"] = json_body
        return httpx.post(source["webhook_url"], **kwargs)


class Cli:
    """Runs ``segfn`` with its own config dir; each call checks the exit code."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir

    def __call__(self, *args: str | Path, code: int = 0,
                 **env: str) -> subprocess.CompletedProcess[str]:
        # The login comes from this config dir or ``env`` only, never from the caller's.
        clean = {k: v for k, v in os.environ.items()
                 if k not in ("SEGFN_URL", "SEGFN_TOKEN", "SEGFN_CONFIG_DIR")}
        done = subprocess.run(
            [*SEGFN, *map(str, args)], capture_output=True, text=True, timeout=60,
            env={**clean, "NO_COLOR": "1", "SEGFN_CONFIG_DIR": str(self.config_dir), **env})
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def json(self, *args: str | Path, code: int = 0, **env: str) -> Any:
        return json.loads(self(*args, "--json", code=code, **env).stdout)


@contextlib.contextmanager
def in_process(data_dir: Path, keyring: Keyring | None = None
               ) -> Iterator[tuple[TestClient, str]]:
    """The app ``segfn serve`` serves, run in this process by Starlette's TestClient over a
    real catalog, store and workers (with ``keyring`` as its secret key): the client, and
    the Workspace Owner token of its workspace "default". Webhook URLs point at the
    client's own base URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _, owner = change(data_dir / CATALOG_FILE, lambda db: catalog.create_workspace(
        db, "default"))
    store = Store(data_dir / CATALOG_FILE)
    try:
        service = Service(store, keyring, "http://testserver")
        runtime = build_runtime(RunnerConfig(data_dir, workers=1, max_workers=4),
                                service.resolve, sealer=keyring)
        with TestClient(service_app(service, runtime)) as client:
            yield client, owner
    finally:
        store.close()
