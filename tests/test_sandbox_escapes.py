"""Escape attempts against the sandbox, each stopped in a known way.

Every attempt runs in the production worker pool through the pytest plugin. Each case
asserts *how* it is stopped (the contract's error type and a fragment of the message; a
compile refusal is InvalidSettings), and that the pool then still runs a well-behaved
handler. Cases marked "hole" were open before the fix that accompanies them.
"""

from __future__ import annotations

import collections
import functools
import textwrap
import types

import pytest

from segfn.errors import SandboxViolation
from segfn.sandbox.execute import sandbox_registry, sdk_names
from segfn.sandbox.guards import checked, guarded_getattr
from segfn.sandbox.modules import ModuleProxy

WELL_BEHAVED = """
def on_request(request, settings):
    Segment.track({"event": "Still Fine", "userId": "1"})
"""


def handler(body: str, prelude: str = "") -> str:
    """Handler source: ``prelude`` at module level, ``body`` inside on_request."""
    return (textwrap.dedent(prelude) + "\ndef on_request(request, settings):\n"
            + textwrap.indent(textwrap.dedent(body), "    "))


def attempt(load_handler, source: str, **post):
    """Run ``source`` once; then check the same pool still serves a plain handler."""
    result = load_handler(source=source, settings={"apiKey": "k"}).post(json={"a": 1}, **post)
    after = load_handler(source=WELL_BEHAVED).post(json={})
    assert after.ok, after.error
    assert [t["event"] for t in after.tracks] == ["Still Fine"]
    return result


def assert_stopped(result, kind: str, fragment: str) -> None:
    assert not result.ok, f"attack ran: logs={result.logs}"
    assert result.error.type == kind, result.error
    assert fragment in result.error.message, result.error.message


BAD = "BadRequest"
COMPILE = "InvalidSettings"
REFUSED = "not allowed in a function"
UNDERSCORE = "starts with \"_\""

STR_SUBCLASS = """
class S(str):
    def startswith(self, prefix):
        return False
"""

# (id, source, error type, message fragment)
CASES = [
    # Dunder walks
    ("dunder-walk-literal", handler("().__class__.__bases__[0].__subclasses__()"),
     COMPILE, '"__class__" is not available to functions'),
    ("dunder-walk-getattr-string", handler("getattr((), '__cla' + 'ss__')"), BAD, UNDERSCORE),
    ("dunder-walk-hasattr-default", handler("""
        if hasattr((), '__cla' + 'ss__') or getattr((), '__cla' + 'ss__', None) is not None:
            Segment.track({"event": "leak", "userId": "1"})
     """), BAD, UNDERSCORE),
    ("vars-builtin", handler("vars(request)"), BAD, "name 'vars' is not defined"),
    ("mro-by-getattr", handler("getattr(int, 'm' + 'ro')()"), BAD, 'the attribute "mro"'),
    # hole: a str subclass overriding startswith slipped a dunder past guarded_getattr
    ("str-subclass-attribute-name", handler("getattr((), S('__class__'))", STR_SUBCLASS),
     BAD, UNDERSCORE),
    # Frame and code walks
    ("generator-gi-frame-literal", handler("(x for x in []).gi_frame.f_back.f_globals"),
     COMPILE, '"gi_frame" is not available to functions'),
    ("generator-gi-frame-getattr", handler("getattr((x for x in []), 'gi_' + 'frame')"),
     BAD, 'the attribute "gi_frame"'),
    ("generator-gi-code-getattr", handler("getattr((x for x in []), 'gi_' + 'code')"),
     BAD, 'the attribute "gi_code"'),
    ("function-code-getattr", handler("getattr(on_request, '__co' + 'de__')"), BAD, UNDERSCORE),
    ("traceback-literal", handler("""
        try:
            1 / 0
        except Exception as e:
            e.__traceback__.tb_frame
     """), COMPILE, '"__traceback__" is not available to functions'),
    ("traceback-getattr-concat", handler("""
        try:
            1 / 0
        except Exception as e:
            getattr(e, '__tra' + 'ceback__')
     """), BAD, UNDERSCORE),
    ("traceback-tb-frame-name", handler("""
        try:
            1 / 0
        except Exception as e:
            getattr(e, 'tb_' + 'frame')
     """), BAD, 'the attribute "tb_frame"'),
    # hole: type(int) was the real `type`, whose three-argument form built a class with an
    # __exit__ that receives the traceback
    ("traceback-via-exit-of-built-class", handler("""
        def leave(self, kind, exc, tb):
            console.log(str(tb))
            return True
        manager = type(int)('M', (), {'__enter__': lambda self: self, '__exit__': leave})
        with manager():
            1 / 0
     """), BAD, "the builtin 'type'"),
    ("match-class-pattern", handler("""
        match request:
            case object(__class__=cls):
                pass
     """), COMPILE, "Match statements are not available to functions"),
    # Format strings
    ("str-format-attribute", handler("'{0.__class__}'.format(1)"), BAD, "str.format"),
    ("str-format-map", handler("'{x.__class__}'.format_map({'x': 1})"), BAD, "str.format"),
    ("str-format-unbound", handler("str.format('{0.__class__}', 1)"), BAD, "str.format"),
    ("str-format-via-getattr", handler("getattr('{0.__init__}', 'for' + 'mat')(1)"),
     BAD, "str.format"),
    ("str-subclass-format", handler("S('{0.__class__}').format(1)", "class S(str):\n    pass"),
     BAD, "str.format"),
    # hole: super() reached str.format on a str subclass past the type check
    ("super-str-format", handler("super(S, S('{0.__class__}')).format(1)",
                                 "class S(str):\n    pass"), BAD, "str.format"),
    ("string-formatter", handler("import string\nstring.Formatter().format('{0.__class__}', 1)"),
     BAD, "no exposed name 'Formatter'"),
    ("from-string-import-formatter", "from string import Formatter\n" + handler("pass"),
     COMPILE, "string.Formatter is not available"),
    ("hostile-repr-for-fstring", handler("f'{Hostile()!r}'", """
        class Hostile:
            def __repr__(self):
                return 'x'
     """), COMPILE, '"__repr__" is not available to functions'),
    ("percent-format-attribute", handler("'%(__class__)s' % request"), BAD, "TypeError"),
    # Module attributes that lead to os, sys, builtins
    ("uuid-os", handler("import uuid\nuuid.os.system('id')"), BAD,
     "module 'uuid' has no exposed name 'os'"),
    ("re-enum-sys", handler("import re\nre.enum.sys"), BAD, "no exposed name 'enum'"),
    ("json-codecs", handler("import json\njson.codecs"), BAD, "no exposed name 'codecs'"),
    ("random-private-os", handler("import random\ngetattr(random, '_' + 'os')"), BAD, UNDERSCORE),
    ("datetime-sys", handler("import datetime\ndatetime.sys"), BAD, "no exposed name 'sys'"),
    ("collections-abc", handler("import collections\ncollections.abc"), BAD,
     "no exposed name 'abc'"),
    ("typing-sys", handler("import typing\ntyping.sys"), BAD, "no exposed name 'sys'"),
    ("decimal-c-module", handler("import decimal\ngetattr(decimal, '_decimal')"), BAD, UNDERSCORE),
    ("zoneinfo-tzpath", handler("import zoneinfo\nzoneinfo.reset_tzpath(['/'])"), BAD,
     "no exposed name 'reset_tzpath'"),
    ("jwt-algorithms", handler("import jwt\njwt.algorithms"), BAD, "no exposed name 'algorithms'"),
    ("phonenumbers-submodule", handler("import phonenumbers\nphonenumbers.phonenumberutil"),
     BAD, "no exposed name 'phonenumberutil'"),
    ("functools-wraps", handler("import functools\nfunctools.wraps"), BAD,
     "no exposed name 'wraps'"),
    ("module-proxy-name", handler("import json\nget = getattr(json, '_mem' + 'bers')"), BAD,
     UNDERSCORE),
    # hole: singledispatch.register eval()s string annotations outside the guards
    ("singledispatch-annotation-eval", handler("""
        import functools
        dispatch = functools.singledispatch(len)
        def leak(x: "().__class__.__base__.__subclasses__()"):
            pass
        dispatch.register(leak)
     """), BAD, "no exposed name 'singledispatch'"),
    ("typing-get-type-hints", handler("import typing\ntyping.get_type_hints(on_request)"), BAD,
     "no exposed name 'get_type_hints'"),
    # Imports
    ("from-json-import-codecs", "from json import codecs\n" + handler("pass"), COMPILE,
     "json.codecs is not available"),
    ("from-os-import-path", "from os import path\n" + handler("pass"), COMPILE,
     "module 'os' is not available"),
    ("import-os-path-as", "import os.path as p\n" + handler("pass"), COMPILE,
     "module 'os.path' is not available"),
    ("relative-import", "from . import segment\n" + handler("pass"), COMPILE,
     "relative imports are not available"),
    ("dunder-import", handler("__import__('os')"), COMPILE, '"__import__" is not available'),
    ("import-importlib", "import importlib\n" + handler("pass"), COMPILE,
     "module 'importlib' is not available"),
    ("from-urllib-import-request", "from urllib import request as r\n" + handler("pass"),
     COMPILE, "urllib.request is not available"),
    ("import-ctypes", "import ctypes\n" + handler("pass"), COMPILE, "'ctypes' is not available"),
    ("import-signal", "import signal\n" + handler("pass"), COMPILE, "'signal' is not available"),
    ("import-sys-recursionlimit", handler("import sys\nsys.setrecursionlimit(10**6)"), COMPILE,
     "'sys' is not available"),
    ("import-star", "from json import *\n" + handler("pass"), COMPILE, ""),
    # Builtins
    ("open", handler("open('/etc/passwd').read()"), BAD, "name 'open' is not defined"),
    ("eval", handler("eval('1')"), COMPILE, "eval() is not available to functions"),
    ("exec", handler("exec('1')"), COMPILE, "exec() is not available to functions"),
    ("compile", handler("compile('1', 'x', 'exec')"), BAD, "name 'compile' is not defined"),
    ("globals", handler("globals()"), BAD, "name 'globals' is not defined"),
    ("locals", handler("locals()"), BAD, "name 'locals' is not defined"),
    ("type-three-arguments", handler("type('X', (), {})"), BAD, "takes 1 positional argument"),
    ("breakpoint", handler("breakpoint()"), COMPILE, '"breakpoint" is reserved in functions'),
    ("input", handler("input()"), BAD, "name 'input' is not defined"),
    ("help", handler("help()"), BAD, "name 'help' is not defined"),
    ("memoryview", handler("memoryview(b'x')"), BAD, "name 'memoryview' is not defined"),
    ("super-object-setattr", handler("getattr(super(type(settings), settings), '__set' + "
                                     "'attr__')"), BAD, UNDERSCORE),
    ("partial-of-getattr", handler("import functools\n"
                                   "functools.partial(getattr, (), '__class__')()"),
     BAD, UNDERSCORE),
    ("bound-method-self", handler("import random\ngetattr(random.random, '__se' + 'lf__')"),
     BAD, UNDERSCORE),
    # Metaclasses
    ("metaclass-subclass-of-type", handler("pass", "class M(type):\n    pass"), BAD,
     "a class whose base is not a class"),
    ("metaclass-keyword", handler("pass", "class A(metaclass=type):\n    pass"), COMPILE,
     'The keyword argument "metaclass" is not available to functions'),
    ("metaclass-via-type-of-class", handler("pass", "class X(type(int)):\n    pass"), BAD,
     "the builtin 'type'"),
    ("metaclass-abcmeta-of-settings", handler("type(type(settings))('X', (), {})"), BAD,
     f"{REFUSED}: metaclasses"),
    ("class-based-on-typing-alias", handler("pass", "import typing\nclass A(typing.Mapping):\n"
                                                    "    pass"), BAD,
     "a class whose base is not a class"),
    ("hostile-reduce-for-deepcopy", handler("import copy\ncopy.deepcopy(X())", """
        class X:
            def __reduce__(self):
                return (print, ('x',))
     """), COMPILE, '"__reduce__" is not available to functions'),
    ("decorator-reads-globals", handler("pass", """
        def grab(func):
            return getattr(func, '__glob' + 'als__')
        @grab
        def inner():
            pass
     """), BAD, UNDERSCORE),
    # Shadowing the guards
    ("shadow-getattr", "_getattr_ = getattr\n" + handler("pass"), COMPILE,
     '"_getattr_" is not available to functions'),
    ("shadow-write", "_write_ = lambda ob: ob\n" + handler("pass"), COMPILE,
     '"_write_" is not available to functions'),
    ("shadow-builtins", "__builtins__ = {}\n" + handler("pass"), COMPILE,
     '"__builtins__" is not available to functions'),
    ("shadow-print", "_print_ = None\n" + handler("pass"), COMPILE,
     '"_print_" is not available to functions'),
    ("shadow-parameter", "def on_request(request, settings, _getattr_=getattr):\n    pass\n",
     COMPILE, '"_getattr_" is not available to functions'),
    ("shadow-global-statement", handler("global _getattr_\n_getattr_ = getattr"), COMPILE,
     '"_getattr_" is not available to functions'),
    ("shadow-walrus", handler("(_getattr_ := getattr)"), COMPILE,
     '"_getattr_" is not available to functions'),
    ("shadow-import-as", "import json as _getattr_\n" + handler("pass"), COMPILE,
     '"_getattr_" is not available to functions'),
    ("shadow-except-as", handler("try:\n    1 / 0\nexcept Exception as _write_:\n    pass"),
     COMPILE, '"_write_" is not available to functions'),
    # Writing on SDK, module and builtin objects
    ("write-segment-track", handler("Segment.track = print"), BAD,
     "changing a SegmentClient object"),
    ("write-settings", handler("settings.apiKey = 'x'"), BAD, "changing a Settings object"),
    ("write-headers-internals", handler("request.headers._values = {}"), COMPILE,
     '"_values" is not available to functions'),
    ("setattr-headers-internals", handler("setattr(request.headers, '_values', {})"), BAD,
     "changing a Headers object"),
    ("write-module-proxy", handler("import json\njson.loads = print"), BAD,
     "changing a ModuleProxy object"),
    ("write-exposed-class", handler("import json\njson.JSONDecoder.x = 1"), BAD,
     "changing a type object"),
    ("write-builtin-type", handler("setattr(int, 'x', 1)"), BAD, "changing a type object"),
    ("write-decimal-context", handler("import decimal\ndecimal.getcontext().prec = 2"), BAD,
     "changing a Context object"),
    ("write-dunder-on-own-class", handler("setattr(A, '__exit__', print)", "class A:\n    pass"),
     BAD, 'assigning "__exit__"'),
    # hole: the same str subclass trick on setattr
    ("write-dunder-str-subclass", handler("setattr(A, S('__init_subclass__'), print)",
                                          STR_SUBCLASS + "class A:\n    pass"),
     BAD, 'assigning "__init_subclass__"'),
    # hole: hashlib's sets were the module's own, shared by every invocation
    ("mutate-hashlib-algorithms", handler("import hashlib\n"
                                          "hashlib.algorithms_available.add('x')"),
     BAD, "'frozenset' object has no attribute 'add'"),
    # hole: ABC registries are process-wide; registering changes isinstance for everyone
    ("abc-register-via-typing", handler("import typing\ntyping.Mapping.register(str)"), BAD,
     "registering virtual subclasses"),
    ("abc-register-via-settings-type", handler("type(settings).register(int)"), BAD,
     "registering virtual subclasses"),
    # hole: deepcopy's memo held the originals of everything copied (PyJWT's registry)
    ("deepcopy-memo-originals", handler("import copy, jwt\ncopy.deepcopy(jwt.encode, {})"), BAD,
     "takes 1 positional argument"),
    # hole: urlsplit is a shared lru_cache whose statistics show other invocations' calls
    ("lru-cache-of-shared-function", handler("import urllib.parse\n"
                                             "urllib.parse.urlsplit.cache_info()"),
     BAD, "has no attribute 'cache_info'"),
    ("fetch-globals", handler("getattr(fetch, '__glob' + 'als__')"), BAD, UNDERSCORE),
    ("re-purge", handler("import re\nre.purge()"), BAD, "no exposed name 'purge'"),
    ("random-seed", handler("import random\nrandom.seed(1)"), BAD, "no exposed name 'seed'"),
    ("try-star", handler("try:\n    pass\nexcept* Exception:\n    pass"), COMPILE,
     "TryStar statements are not available to functions"),
]


@pytest.mark.parametrize(("source", "kind", "fragment"),
                         [pytest.param(s, k, f, id=i) for i, s, k, f in CASES])
def test_escape_is_stopped(load_handler, source, kind, fragment):
    assert_stopped(attempt(load_handler, source), kind, fragment)


def test_there_are_at_least_forty_distinct_escapes():
    assert len({case[0] for case in CASES}) == len(CASES) >= 40


def test_dir_lists_no_underscore_names(load_handler):
    result = attempt(load_handler, handler("""
        import json
        for target in ((), request, settings, json, Segment, console, fetch, int):
            console.log(" ".join(dir(target)))
    """))
    assert result.ok, result.error
    assert len(result.logs) == 8
    assert not any(name.startswith("_") for line in result.logs for name in line.split())


def test_print_file_argument_goes_to_the_logs(load_handler):
    result = attempt(load_handler, handler("print('hello', file=request)"))
    assert result.ok, result.error
    assert result.logs == ["hello"]


def test_cache_and_fetch_show_only_their_public_calls(load_handler):
    result = attempt(load_handler, handler("console.log(dir(cache), dir(console))"))
    assert result.ok, result.error
    assert result.logs == ["['delete', 'load'] ['error', 'info', 'log', 'warn']"]


# Leaking state across invocations


def test_module_level_state_starts_fresh_each_invocation(load_handler):
    loaded = load_handler(source=handler("""
        SEEN["count"] = SEEN.get("count", 0) + 1
        console.log(str(SEEN["count"]))
    """, "SEEN = {}"))
    assert [loaded.post(json={}).logs for _ in range(4)] == [["1"]] * 4


def test_decimal_context_changes_do_not_leak(load_handler):
    change = load_handler(source=handler("""
        import decimal
        decimal.getcontext().clear_traps()
        try:
            decimal.getcontext().prec = 2
        except Exception as exc:
            console.log(str(exc))
    """))
    read = load_handler(source=handler("""
        import decimal
        console.log(str(decimal.getcontext().prec))
        decimal.Decimal(1) / decimal.Decimal(0)
    """))
    for _ in range(3):
        assert change.post(json={}).logs == [f"{REFUSED}: changing a Context object"]
    for _ in range(3):
        result = read.post(json={})
        assert result.logs == ["28"]
        assert_stopped(result, BAD, "DivisionByZero")


# hole: random's module functions shared one Mersenne Twister; 624 outputs reveal its state,
# so one invocation could predict another's "random" values.
PREDICT_RANDOM = handler("""
    import random
    outputs = [random.getrandbits(32) for _ in range(624)]
    state = [untemper(y) for y in outputs]
    clone = random.Random()
    clone.setstate((3, tuple(state + [624]), None))
    guess = clone.getrandbits(32)
    console.log("predicted" if guess == random.getrandbits(32) else "unpredictable")
""", """
    def unshift_right(y, shift):
        result = y
        for _ in range(32 // shift + 1):
            result = y ^ (result >> shift)
        return result

    def unshift_left(y, shift, mask):
        result = y
        for _ in range(32 // shift + 1):
            result = y ^ ((result << shift) & mask)
        return result & 0xFFFFFFFF

    def untemper(y):
        y = unshift_right(y, 18)
        y = unshift_left(y, 15, 0xEFC60000)
        y = unshift_left(y, 7, 0x9D2C5680)
        return unshift_right(y, 11)
""")


def test_random_module_functions_cannot_be_predicted(load_handler):
    result = attempt(load_handler, PREDICT_RANDOM)
    assert result.ok, result.error
    assert result.logs == ["unpredictable"]


def test_mutating_a_module_member_does_not_leak(load_handler):
    mutate = load_handler(source=handler("""
        import json
        for attempt in (lambda: setattr(json.JSONDecoder, 'x', 1),
                        lambda: setattr(json, 'dumps', len)):
            try:
                attempt()
            except Exception as exc:
                console.log(str(exc))
    """))
    check = load_handler(source=handler("""
        import json
        console.log(str(hasattr(json.JSONDecoder, 'x')), json.dumps([1]))
    """))
    assert mutate.post(json={}).logs == [f"{REFUSED}: changing a type object",
                                         f"{REFUSED}: changing a ModuleProxy object"]
    assert check.post(json={}).logs == ["False [1]"]


# Every exposed name, walked through the guard


def _exposed_roots() -> dict[str, object]:
    registry = sandbox_registry()
    roots: dict[str, object] = {name: registry.proxy(name) for name in registry.names()}
    roots.update({f"builtin {name}": value for name, value in sdk_names().items()})
    return roots


def _public_members(obj: object):
    for name in dir(obj):
        if name.startswith("_"):
            continue
        try:
            yield name, guarded_getattr(obj, name)
        except (AttributeError, SandboxViolation):
            continue
        except Exception:  # noqa: BLE001 - a property that fails on a class is no leak
            continue


_FORBIDDEN = (types.ModuleType, types.FrameType, types.CodeType, types.TracebackType)
_SHARED_MUTABLE = (dict, list, set, bytearray, collections.deque)


def test_no_exposed_member_leads_to_a_module_frame_or_code_two_levels_deep():
    found = []
    for root_name, root in _exposed_roots().items():
        for name, value in _public_members(root):
            path = f"{root_name}.{name}"
            if isinstance(value, _FORBIDDEN) or (isinstance(value, type)
                                                 and issubclass(value, type)):
                found.append(path)
            if isinstance(value, _SHARED_MUTABLE):
                found.append(f"{path} (shared {type(value).__name__})")
            if isinstance(value, functools._lru_cache_wrapper):
                found.append(f"{path} (shared lru_cache)")
            if isinstance(value, ModuleProxy):
                continue
            for sub, deeper in _public_members(value):
                if isinstance(deeper, _FORBIDDEN) or (isinstance(deeper, type)
                                                      and issubclass(deeper, type)):
                    found.append(f"{path}.{sub}")
    assert found == []


def test_the_walk_covers_every_exposed_module():
    roots = _exposed_roots()
    assert {"json", "re", "uuid", "typing", "jwt", "phonenumbers", "decimal", "zoneinfo",
            "functools", "random", "segfn"} <= set(roots)
    assert sum(1 for root in roots.values() for _ in _public_members(root)) > 300


def test_checked_refuses_what_a_handler_must_never_hold():
    for value in (types, compile("1", "x", "eval"), type, type(collections.abc.Mapping),
                  collections.abc.Mapping.register):
        with pytest.raises(SandboxViolation):
            checked(value)


# What handlers legitimately do still works


def test_classes_with_init_and_attribute_writes(load_handler):
    result = attempt(load_handler, handler("""
        item = Item("a")
        item.count = 2
        Item.label = "items"
        console.log(f"{item.name} {item.count} {Item.label} {Child('b').describe()}")
    """, """
        class Item:
            def __init__(self, name):
                self.name = name

            def describe(self):
                return "item " + self.name

        class Child(Item):
            def describe(self):
                return "child of " + super().describe()
    """))
    assert result.ok, result.error
    assert result.logs == ["a 2 items child of item b"]


def test_common_library_use(load_handler):
    result = attempt(load_handler, handler("""
        import base64, copy, datetime, decimal, hashlib, hmac, json, random, re, zlib
        import urllib.parse
        body = request.json()
        squares = {n: n * n for n in range(4) if n}
        digest = hmac.new(settings.apiKey.encode(), request.raw_body, hashlib.sha256)
        when = datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)
        match = re.match(r"(\\w+)-(\\d+)", "issue-42")
        seeded = [random.Random(7).random() for _ in range(2)]
        with decimal.localcontext(prec=3):
            third = str(decimal.Decimal(1) / decimal.Decimal(3))
        try:
            json.loads("{")
        except json.JSONDecodeError:
            broken = True
        Segment.track({
            "event": "Checked",
            "userId": request.headers.get("X-User", "nobody"),
            "properties": {
                "a": body["a"], "squares": json.dumps(squares), "sig": digest.hexdigest()[:8],
                "when": when.isoformat(), "number": match.group(2), "third": third,
                "same": seeded[0] == seeded[1], "broken": broken,
                "copy": copy.deepcopy({"k": [1]}),
                "zip": zlib.decompress(zlib.compress(b"abc")).decode(),
                "b64": base64.b64encode(b"hi").decode(),
                "host": urllib.parse.urlsplit("https://x.test/p").netloc,
                "sha": "sha256" in hashlib.algorithms_available,
                "pick": random.choice([5]),
            },
        })
    """), headers={"X-User": "u1"})
    assert result.ok, result.error
    (track,) = result.tracks
    assert track["userId"] == "u1"
    assert track["properties"] == {
        "a": 1, "squares": '{"1": 1, "2": 4, "3": 9}',
        "sig": track["properties"]["sig"], "when": "2024-01-02T00:00:00+00:00", "number": "42",
        "third": "0.333", "same": True, "broken": True, "copy": {"k": [1]}, "zip": "abc",
        "b64": "aGk=", "host": "x.test", "sha": True, "pick": 5,
    }
    assert len(track["properties"]["sig"]) == 8
