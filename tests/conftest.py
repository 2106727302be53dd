"""The worker pools the sandbox and SDK tests run handlers in, shared by every module.

Starting a pool's workers takes about half a second, so the modules share two pools for
the whole session instead of starting their own: ``pool``, the pool of the segfn pytest
plugin (segfn/testing.py), which the examples' tests and handler authors' tests use too;
and ``short_pool``, whose workers stop a runaway handler after ``SHORT.timeout`` seconds,
for the tests of the limits themselves. A test that needs other limits or modules starts
a pool of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from segfn.sandbox.pool import BlockingPool, Limits

SHORT = Limits(timeout=1.0, grace=0.5)


@pytest.fixture(scope="session")
def pool(segfn_pool: BlockingPool) -> BlockingPool:
    return segfn_pool


@pytest.fixture(scope="session")
def short_pool() -> Iterator[BlockingPool]:
    with BlockingPool(size=2, limits=SHORT) as blocking:
        yield blocking
