"""Checking a handler before it is served: it compiles, and every import is exposed."""

from __future__ import annotations

import pytest

from segfn.sandbox.compiler import CompileError, Handler
from segfn.sandbox.execute import sandbox_registry
from segfn.sandbox.preflight import check_handler


def problems(source: str, extra: dict[str, list[str]] | None = None
             ) -> list[tuple[int | None, str]] | None:
    try:
        check_handler(Handler(source, "hook.py"), sandbox_registry(extra))
    except CompileError as exc:
        return list(exc.problems)
    return None


def test_a_handler_that_imports_what_is_exposed_passes() -> None:
    assert problems("import json\nimport urllib.parse\nfrom segfn import Segment, fetch\n"
                    "def on_request(request, settings):\n    from re import compile\n") is None


def test_an_import_inside_on_request_is_refused_with_its_line() -> None:
    [(line, reason)] = problems("def on_request(request, settings):\n    if 0:\n"
                                "        import requests\n") or []
    assert line == 3
    assert reason.startswith("module 'requests' is not available to functions; fetch(url, "
                             "...) makes HTTP requests, with no import; available: base64")


@pytest.mark.parametrize(("statement", "reason"), [
    ("import os", "module 'os' is not available to functions; available: "),
    ("import urllib.request", "module 'urllib.request' is not available to functions; fetch("),
    ("from json import load", "json.load is not available to functions"),
    ("from . import sibling", "relative imports are not available to functions"),
    ("import logging", "module 'logging' is not available to functions; console.log("),
])
def test_each_refused_import_is_named(statement: str, reason: str) -> None:
    found = problems(f"{statement}\ndef on_request(request, settings):\n    pass\n")
    assert found is not None and found[0][0] == 1 and found[0][1].startswith(reason), found


def test_every_refused_import_is_listed() -> None:
    found = problems("import os\nimport sys\ndef on_request(request, settings):\n    pass\n")
    assert [line for line, _ in found or []] == [1, 2]


def test_the_operators_extra_modules_may_be_imported() -> None:
    source = "from textwrap import dedent\ndef on_request(request, settings):\n    pass\n"
    assert problems(source) is not None
    assert problems(source, {"textwrap": ["dedent"]}) is None


def test_code_that_does_not_compile_is_refused_first() -> None:
    assert problems("import os\ndef on_request(request, settings)\n") == [
        (2, "syntax error: expected ':'")]
    assert problems("import json\n") == [
        (1, "no on_request function; define def on_request(request, settings): at the "
            "top level")]
