"""Compiling handlers: code that cannot run is refused as InvalidSettings, saying why."""

from __future__ import annotations

import types

import pytest

from segfn.errors import InvalidSettings
from segfn.sandbox.compiler import Handler, compile_handler


def refusal(source: str) -> str:
    with pytest.raises(InvalidSettings) as caught:
        compile_handler(Handler(source, "github.py"))
    return str(caught.value)


def test_valid_handler_compiles():
    code = compile_handler(Handler("def on_request(request, settings):\n    pass\n"))
    assert isinstance(code, types.CodeType)


def test_syntax_error_names_file_and_line():
    message = refusal("def on_request(request, settings):\n    x = (\n\n")
    assert message.startswith("github.py:2: syntax error:")
    assert "never closed" in message


def test_syntax_error_without_a_line_has_no_placeholder():
    message = refusal("def on_request(request, settings):\n    x = 1\0\n")
    assert message.startswith("github.py: syntax error:")
    assert "None" not in message


def test_async_on_request_says_to_write_def():
    message = refusal("async def on_request(request, settings):\n    pass\n")
    assert message.startswith("github.py:1:")
    assert "write def on_request(request, settings):" in message


def test_other_async_function_is_refused_with_its_line():
    message = refusal("def on_request(request, settings):\n    pass\n\n"
                      "async def helper():\n    pass\n")
    assert message.startswith("github.py:4:")
    assert "def helper(...)" in message


def test_await_is_refused():
    message = refusal("def on_request(request, settings):\n    x = [await y for y in z]\n")
    assert "await is not supported" in message


def test_missing_on_request():
    message = refusal("def handle(request, settings):\n    pass\n")
    assert "no on_request function" in message
    assert "def on_request(request, settings):" in message


def test_nested_on_request_does_not_count():
    assert "no on_request function" in refusal("class A:\n    def on_request(self):\n"
                                               "        pass\n")


def test_restricted_python_errors_carry_line_numbers():
    message = refusal("def on_request(request, settings):\n    x = 1\n"
                      "    return ().__class__\n")
    assert message.startswith('github.py:3: "__class__" is not available to functions: '
                              'it starts with "_"')


def test_several_restricted_errors_are_all_reported():
    message = refusal("def on_request(request, settings):\n    eval('1')\n    exec('2')\n")
    assert message == ("github.py:2: eval() is not available to functions; "
                       "github.py:3: exec() is not available to functions")


# hole: valid but deeply nested code crashed the compiler with RecursionError or MemoryError
# (a BadRequest, or a retired worker) instead of being refused as code that cannot run.
@pytest.mark.parametrize("expression", ["-" * 500 + "1", "-" * 100_000 + "1",
                                        "1" + " + 1" * 2000])
def test_deeply_nested_code_is_refused_not_crashed(expression):
    message = refusal(f"def on_request(request, settings):\n    x = {expression}\n")
    assert message == "github.py: the code is nested too deeply to compile; split long " \
                      "expressions up"


def test_handler_key_depends_on_source_and_filename():
    assert Handler("a", "x.py").key != Handler("b", "x.py").key
    assert Handler("a", "x.py").key != Handler("a", "y.py").key
    assert Handler("a", "x.py").key == Handler("a", "x.py").key


def test_a_missing_on_request_names_the_file_and_a_line():
    assert refusal("def handle(request, settings):\n    pass\n").startswith(
        "github.py:1: no on_request function")


@pytest.mark.parametrize(("statement", "reworded"), [
    ("_x = 1", '"_x" is not available to functions: it starts with "_", which is the '
               "sandbox's; rename it"),
    ("d = {}\n    d['k'] += 1", "x[key] += ... is not available to functions; write "
                               "x[key] = x[key] + ..."),
    ("request.n += 1", "obj.name += ... is not available to functions; write "
                       "obj.name = obj.name + ..."),
    ("return request.gi_frame", '"gi_frame" is not available to functions'),
])
def test_restricted_pythons_messages_are_reworded(statement, reworded):
    message = refusal(f"def on_request(request, settings):\n    {statement}\n")
    assert message.endswith(f": {reworded}")
    assert "RestrictedPython" not in message and "not allowed" not in message
