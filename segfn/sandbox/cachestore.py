"""The parent's side of ``cache``: a diskcache per deployed source, answering workers.

A worker opens no file; its handler's ``cache.load`` and ``cache.delete`` arrive here as
``CacheRequest`` frames (see ``pool.py``), each answered from the store of the source the
job runs for, which the worker never names. Every store lives under one root, one directory
a name (``function/source`` in the runner), and is used from one thread of its own: the
event loop never waits on the disk, and diskcache's SQLite connections, which belong to
the thread that opened them, are closed where they were opened.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import diskcache

from segfn.cache import CacheAnswer, CacheAnswerer, CacheRequest

SIZE_LIMIT = 64 * 1024 * 1024
# Stores kept open at once; the least recently used is closed (and reopened when needed).
KEEP_OPEN = 64


def _check(parts: tuple[str, ...]) -> None:
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
            raise ValueError(f"{part!r} cannot name a cache")


def _path(root: Path, parts: tuple[str, ...]) -> Path:
    _check(parts)
    return root.joinpath(*parts)


class CacheStores:
    """The caches under ``root``: ``answerer(*name)`` is the callback that answers a job's
    cache requests from the store of that name (give it to ``WorkerPool.invoke``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._open: OrderedDict[Path, diskcache.Cache] = OrderedDict()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segfn-cache")

    def answerer(self, *name: str) -> CacheAnswerer:
        # Checked now, made into a path only when asked: most jobs use no cache.
        _check(name)

        async def answer(request: CacheRequest) -> CacheAnswer:
            return await self._in_thread(self._answer, self.root.joinpath(*name), request)

        return answer

    async def drop(self, *name: str) -> None:
        """Delete the store of that name, or every store under it (a function's sources)."""
        await self._in_thread(self._drop, _path(self.root, name))

    async def close(self) -> None:
        await self._in_thread(self._close_all)
        self._thread.shutdown(wait=False)

    async def __aenter__(self) -> CacheStores:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _in_thread(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    # Everything below runs in the store's thread.

    def _answer(self, path: Path, request: CacheRequest) -> CacheAnswer:
        try:
            store = self._store(path)
            if request.op == "get":
                value = store.get(request.key)
                return CacheAnswer(value if isinstance(value, str) else None)
            if request.op == "set":
                store.set(request.key, request.value, expire=request.expire)
            else:
                store.delete(request.key)
            return CacheAnswer()
        except Exception as exc:  # noqa: BLE001 - a failing disk is the handler's error
            return CacheAnswer(error=f"{type(exc).__name__}: {exc}")

    def _store(self, path: Path) -> diskcache.Cache:
        store = self._open.get(path)
        if store is None:
            store = diskcache.Cache(str(path), size_limit=SIZE_LIMIT,
                                    eviction_policy="least-recently-used")
            self._open[path] = store
            while len(self._open) > KEEP_OPEN:
                self._open.popitem(last=False)[1].close()
        self._open.move_to_end(path)
        return store

    def _drop(self, path: Path) -> None:
        for opened in [p for p in self._open if p == path or path in p.parents]:
            self._open.pop(opened).close()
        shutil.rmtree(path, ignore_errors=True)

    def _close_all(self) -> None:
        while self._open:
            self._open.popitem()[1].close()
