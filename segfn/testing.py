"""The pytest plugin: test handlers in the production sandbox.

::

    def test_issue_opened(load_handler):
        github = load_handler("examples/github.py", settings={"secret": "s3cret"})
        github.respond("https://api.github.com/users/octocat", json={"name": "Mona"})
        result = github.post(json={"action": "opened", ...},
                             headers={"X-GitHub-Event": "issues"})
        assert result.ok
        assert result.tracks[0]["event"] == "Issue Opened"

A handler's answer to a verification handshake is ``result.reply`` (``content_type``,
``body``, ``json()``); ``handler.get(query=...)`` sends the GET some providers verify with.

Handlers run in the same worker processes, guards and limits as in production. Calls to
``fetch`` are answered by ``respond`` routes; a fetch no route answers fails with
``FetchError``, so a test never reaches the network by accident (pass ``network=True``
to ``load_handler`` to allow real requests to loopback addresses).
"""

from __future__ import annotations

import itertools
import json as jsonlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from segfn.cache import CacheAnswerer
from segfn.fetch import FetchAnswer, FetchRequest
from segfn.payloads import load_payload
from segfn.request import Headers
from segfn.sandbox.cachestore import CacheStores
from segfn.sandbox.compiler import Handler
from segfn.sandbox.egress import Egress, EgressPolicy
from segfn.sandbox.invocation import HttpRequest, Job, Result
from segfn.sandbox.modules import read_module_config
from segfn.sandbox.pool import BlockingPool
from segfn.sandbox.webhook import build_request


@attrs.frozen
class Route:
    url: str
    method: str | None
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def matches(self, request: FetchRequest) -> bool:
        if self.method is not None and self.method != request.method:
            return False
        if self.url.endswith("*"):
            return request.url.startswith(self.url[:-1])
        return request.url == self.url


class FakeWeb:
    """Answers fetch calls from routes, and records every request it was asked for."""

    def __init__(self, fallback: Egress | None = None) -> None:
        self.routes: list[Route] = []
        self.requests: list[dict[str, Any]] = []
        self._fallback = fallback

    def add(self, url: str, *, method: str | None = None, status: int = 200,
            json: Any = None, text: str | None = None, body: bytes | None = None,
            headers: Mapping[str, str] | None = None) -> None:
        pairs = list((headers or {}).items())
        if json is not None:
            body = jsonlib.dumps(json).encode()
            pairs.append(("content-type", "application/json"))
        elif text is not None:
            body = text.encode()
            pairs.append(("content-type", "text/plain; charset=utf-8"))
        # Later routes win, so a test can override a route set up earlier.
        self.routes.insert(0, Route(url, method.upper() if method else None, status,
                                    tuple(pairs), body or b""))

    async def __call__(self, requests: list[FetchRequest], budget: float
                       ) -> list[FetchAnswer]:
        answers: list[FetchAnswer | None] = []
        unanswered = []
        for request in requests:
            # A test reads these as plain data: fetches[0]["url"], ["body"] as bytes,
            # ["headers"]["Authorization"] by name, whatever its case.
            self.requests.append({**request.to_dict(), "body": request.body,
                                  "headers": Headers(request.headers)})
            route = next((r for r in self.routes if r.matches(request)), None)
            if route is None:
                answers.append(None)
                unanswered.append(request)
                continue
            answers.append(FetchAnswer(route.status, request.url, route.headers, route.body))
        if unanswered and self._fallback is not None:
            real = iter(await self._fallback(unanswered, budget))
            return [a if a is not None else next(real) for a in answers]
        return [a if a is not None else
                FetchAnswer.failed(f"no test response for {r.method} {r.url}; "
                                   "add one with handler.respond(url, ...)")
                for a, r in zip(answers, requests, strict=True)]


class LoadedHandler:
    """A handler with its settings, ready to receive test deliveries."""

    def __init__(self, pool: BlockingPool, handler: Handler, settings: Mapping[str, Any],
                 cache: CacheAnswerer, web: FakeWeb) -> None:
        self.handler = handler
        self.settings = dict(settings)
        self._pool = pool
        self._cache = cache
        self._web = web

    def respond(self, url: str, *, method: str | None = None, status: int = 200,
                json: Any = None, text: str | None = None, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> None:
        """Answer the handler's fetch of ``url`` (a trailing ``*`` matches a prefix)."""
        self._web.add(url, method=method, status=status, json=json, text=text, body=body,
                      headers=headers)

    @property
    def fetches(self) -> list[dict[str, Any]]:
        """Every fetch request the handler made, in order: ``{"method", "url", "headers",
        "body", "timeout"}``; ``headers`` is read like ``request.headers`` (by name, any
        case: ``["Authorization"]``, ``get``, ``get_all``), ``body`` is bytes."""
        return self._web.requests

    def post(self, body: bytes | str | None = None, *, json: Any = None,
             data: Any = None, headers: Mapping[str, str] | None = None,
             query: str | Mapping[str, Any] | None = None, url: str | None = None,
             content_type: str | None = None, settings: Mapping[str, Any] | None = None,
             invocation_id: str | None = None) -> Result:
        """Deliver one request to the handler and return what it emitted."""
        request = build_request(body, json=json, data=data, headers=headers or {},
                                query=query, url=url, content_type=content_type)
        return self._invoke(request, settings, invocation_id)

    def get(self, *, query: str | Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None, url: str | None = None,
            settings: Mapping[str, Any] | None = None,
            invocation_id: str | None = None) -> Result:
        """Deliver a GET, as a source that takes GET (``--allow-get``) receives one."""
        request = build_request(headers=headers or {}, query=query, url=url, method="GET")
        return self._invoke(request, settings, invocation_id)

    def _invoke(self, request: HttpRequest, settings: Mapping[str, Any] | None,
                invocation_id: str | None) -> Result:
        merged = {**self.settings, **(settings or {})}
        job = Job(self.handler, request, merged,
                  settings_given_in="settings= of load_handler or of the delivery")
        if invocation_id:
            job = attrs.evolve(job, invocation_id=invocation_id)
        return self._pool.invoke(job, self._web, self._cache)

    def post_payload(self, path: str | Path, **overrides: Any) -> Result:
        """Deliver a payload file (SPEC 12); keyword arguments override its parts."""
        payload = load_payload(path)
        settings = {**payload.settings, **overrides.pop("settings", {})}
        replaced = dict(overrides.pop("headers", {}))
        # A header given here replaces the payload's, whatever the case of its name.
        names = {name.lower() for name in replaced}
        headers = {**{name: values for name, values in payload.headers.items()
                      if name.lower() not in names}, **replaced}
        overrides.setdefault("query", payload.query)
        overrides.setdefault("url", payload.url)
        return self.post(payload.body, headers=headers, settings=settings, **overrides)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("segfn_modules", "a JSON file of extra modules handlers may import, as "
                  "given to segfn run --modules (relative to the rootdir)")


@pytest.fixture(scope="session")
def segfn_pool(pytestconfig: pytest.Config) -> Iterator[BlockingPool]:
    """The sandbox worker processes shared by every test of the session, with the extra
    modules the ``segfn_modules`` ini option names, as deployed with ``--modules``."""
    configured = pytestconfig.getini("segfn_modules")
    modules = read_module_config(str(pytestconfig.rootpath / configured)) if configured else {}
    with BlockingPool(size=2, modules=modules) as pool:
        yield pool


@pytest.fixture
def load_handler(segfn_pool: BlockingPool, tmp_path: Path
                 ) -> Iterator[Callable[..., LoadedHandler]]:
    """Load a handler from a file path (or ``source=``) with settings; each starts with an
    empty cache."""
    egress = Egress(EgressPolicy(allow_loopback=True))
    caches = CacheStores(tmp_path / "caches")
    loaded = itertools.count(1)

    def load(path: str | Path | None = None, *, source: str | None = None,
             settings: Mapping[str, Any] | None = None,
             network: bool = False) -> LoadedHandler:
        if (path is None) == (source is None):
            raise TypeError("load_handler takes a file path or source=, not both")
        if path is not None:
            handler = Handler(Path(path).read_text("utf-8"), Path(path).name)
        else:
            handler = Handler(source or "", "handler.py")
        return LoadedHandler(segfn_pool, handler, settings or {},
                             caches.answerer(f"handler-{next(loaded)}"),
                             FakeWeb(egress if network else None))

    yield load
    # The client's connections belong to the pool's event loop: close them there.
    segfn_pool.run(egress.aclose())
    segfn_pool.run(caches.close())
