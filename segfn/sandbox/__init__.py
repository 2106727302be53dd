"""The sandbox: compiling handler code and running it in confined worker processes.

Handler code never imports this package; each SDK object a handler is given holds its
invocation's ``segfn.sandbox.scope.Scope``. Everything else here is the machinery
``segfn invoke``, the pytest plugin and the runner drive:

- ``compiler``, ``guards``, ``modules``: RestrictedPython, the checks on every attribute,
  item and call, and the module proxies handlers may import;
- ``worker``, ``execute``, ``scope``: the worker process and one job inside it;
- ``pool``, ``protocol``: the parent's side, and the frames between the two;
- ``invocation``, ``webhook``: the values that cross (a job, a result) and building a job's
  request from a delivery;
- ``egress``: the parent performing a handler's ``fetch`` calls under a policy;
- ``cachestore``: the parent answering a handler's ``cache`` calls from a store per source.

The names below are the public surface. They load on first use, so that the SDK importing
``scope`` does not pull the pool into every handler's worker.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "BlockingPool": "pool",
    "WorkerPool": "pool",
    "Limits": "pool",
    "SandboxUnavailable": "pool",
    "Handler": "compiler",
    "compile_handler": "compiler",
    "HttpRequest": "invocation",
    "Job": "invocation",
    "Result": "invocation",
    "Failure": "invocation",
    "build_request": "webhook",
    "Egress": "egress",
    "EgressPolicy": "egress",
    "CacheStores": "cachestore",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'segfn.sandbox' has no attribute {name!r}")
    return getattr(importlib.import_module(f"segfn.sandbox.{_PUBLIC[name]}"), name)
