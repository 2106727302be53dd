"""Values that reach handler code from host code, however they arrive, pass ``checked``.

The guards used to see attribute, item and iteration syntax only: what a call returned,
what an exception carried and what a loop yielded reached the handler unchecked. Two holes
followed, both from handler code to arbitrary Python in the worker (the "hole" cases
below); the tests after them stop each road a careless host function could open, against
``tests/careless_host.py`` exposed as an operator's module.
"""

from __future__ import annotations

import builtins
import copy
import datetime
import decimal
import json
import textwrap
import types
from pathlib import Path

import pytest

from segfn.errors import SandboxViolation
from segfn.sandbox.compiler import CHECKED, Handler, compile_handler
from segfn.sandbox.guards import checked, restricted_globals
from segfn.sandbox.invocation import HttpRequest, Job
from segfn.sandbox.modules import default_registry
from segfn.sandbox.pool import BlockingPool
from tests import careless_host
from tests.test_sandbox_escapes import BAD, REFUSED, assert_stopped, attempt, handler

NAMESPACE = f"{REFUSED}: the namespace of a module"
TYPE_REFUSED = "type() gives only the function's own classes and the classes it can import"

# hole: verify_hmac looked its algorithm up with getattr(hashlib, name); "__builtins__"
# gave the builtins dict to hmac.new, whose AttributeError carried it as .obj, and .get()
# on it returned the real open.
VERIFY_HMAC_BUILTINS = handler("""
    try:
        verify_hmac(b"x", "k", "s", algorithm="__builtins__")
    except Exception as e:
        found = getattr(e, "obj", None)
        if found is None:
            raise
    real_open = found.get("open")
    console.log(str(real_open), real_open("/etc/hostname").read())
""")

# hole: type() of a typing alias handed out typing._GenericAlias; one built with the name
# "__builtins__" reduces, under copy.copy, to operator.getitem(typing.__builtins__, args):
# the real eval and __import__.
TYPING_ALIAS_COPY = handler("""
    Alias = type(typing.List[int])
    real_eval = copy.copy(Alias(int, ("eval",), name="__builtins__"))
    console.log(str(real_eval), str(real_eval("().__class__.__base__.__subclasses__()")[:1]))
""", "import copy, typing")


def test_verify_hmac_algorithm_cannot_reach_the_builtins(load_handler):
    assert_stopped(attempt(load_handler, VERIFY_HMAC_BUILTINS), BAD,
                   "verify_hmac: algorithm must be one of md5, sha1, sha224, sha256, sha384, "
                   "sha512, not '__builtins__'")


def test_typing_alias_copy_cannot_reach_eval(load_handler):
    assert_stopped(attempt(load_handler, TYPING_ALIAS_COPY), BAD,
                   f"{TYPE_REFUSED}, not typing._GenericAlias")


@pytest.mark.parametrize(("body", "fragment"), [
    # The copy of an object whose reduce is typing's own runs typing's code, not the data's.
    ("copy.copy(typing.List[int])", "copy.copy copies plain data and objects of the "
                                    "function's own classes, not a typing._GenericAlias"),
    ("copy.deepcopy({'k': [typing.List[int]]})", "copy.deepcopy copies plain data and objects "
                                                 "of the function's own classes, not a "
                                                 "typing._GenericAlias"),
    ("copy.deepcopy([Holder(typing.Optional[int])])", "not a typing._UnionGenericAlias"),
])
def test_copy_refuses_objects_that_reduce_by_their_own_code(load_handler, body, fragment):
    source = handler(body, """
        import copy, typing
        class Holder:
            def __init__(self, value):
                self.value = value
    """)
    assert_stopped(attempt(load_handler, source), BAD, fragment)


def test_copy_still_copies_plain_data_and_handler_objects(load_handler):
    result = attempt(load_handler, handler("""
        import collections, copy, datetime, decimal, uuid
        point = Point(1, [2, 3])
        twin = copy.deepcopy(point)
        twin.rest.append(4)
        shallow = copy.copy(point)
        data = {"when": datetime.datetime(2024, 1, 2), "amount": decimal.Decimal("1.5"),
                "id": uuid.UUID(int=1), "counts": collections.Counter("aab"),
                "grouped": collections.defaultdict(list, {"a": [1]}), "t": (1, {2})}
        clone = copy.deepcopy(data)
        console.log(str(point.rest), str(twin.rest), str(shallow.rest is point.rest),
                    str(clone == data), str(clone["grouped"]["b"]),
                    str(copy.deepcopy({"p": point})["p"] is point))
    """, """
        class Point:
            def __init__(self, x, rest):
                self.x = x
                self.rest = rest
    """))
    assert result.ok, result.error
    assert result.logs == ["[2, 3] [2, 3, 4] True True [] False"]


def test_type_gives_the_classes_a_handler_can_name(load_handler):
    result = attempt(load_handler, handler("""
        try:
            json.loads("{")
        except Exception as e:
            error = e
        values = [None, 1, "s", b"b", 1.5, True, [], {}, (), {1}, range(2), Mine(), settings,
                  request, request.headers, Segment, error, ValueError("x"),
                  datetime.datetime(2024, 1, 1), decimal.Decimal(1), re.compile("x"),
                  iter([]), {}.items()]
        console.log(" ".join(str(type(v)).split("'")[1] for v in values))
        console.log(str(type(1) is int), str(type(Mine()) is Mine))
    """, """
        import datetime, decimal, json, re
        class Mine:
            pass
    """))
    assert result.ok, result.error
    assert result.logs == [
        "NoneType int str bytes float bool list dict tuple set range handler.Mine "
        "segfn.settings.Settings segfn.request.Request segfn.request.Headers "
        "segfn.segment.SegmentClient json.decoder.JSONDecodeError ValueError "
        "datetime.datetime decimal.Decimal re.Pattern list_iterator dict_items",
        "True True",
    ]


# Every road from a careless host function


@pytest.fixture(scope="module")
def careless_pool():
    # A top-level module of its own folder, as an operator's would be: not tests.careless_host,
    # since the worker finds a distribution's stray top-level "tests" package (some install
    # one into site-packages) before any folder that is not site-packages.
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(Path(careless_host.__file__).parent))
        with BlockingPool(size=1, modules={"careless_host": list(careless_host.NAMES)}) as pool:
            yield pool


def run(pool: BlockingPool, body: str, prelude: str = ""):
    source = handler(body, "import careless_host as host\n" + prelude)
    result = pool.invoke(Job(Handler(source, "handler.py"),
                             HttpRequest(b"{}", (), "http://localhost/"), {}))
    after = pool.invoke(Job(Handler(handler("console.log('fine')"), "handler.py"),
                            HttpRequest(b"{}", (), "http://localhost/"), {}))
    assert after.logs == ["fine"], after.error
    return result


ROADS = [
    ("call-result-builtin", "f = host.builtin('open')\nconsole.log(f('/etc/hostname').read())",
     f"{REFUSED}: the builtin 'open'"),
    ("call-result-eval", "f = host.builtin('eval')\nconsole.log(str(f('().__class__')))",
     f"{REFUSED}: the builtin 'eval'"),
    ("call-result-builtins-dict", "ns = host.namespace()\nconsole.log(ns.get('__name__'))",
     NAMESPACE),
    ("call-result-module-dict", "ns = host.module_namespace()\nconsole.log(ns.get('__name__'))",
     NAMESPACE),
    ("call-result-next", "ns = next(iter(host.pair()[1:]))\nconsole.log(ns.get('__name__'))",
     NAMESPACE),
    ("exception-attribute", """
        try:
            host.digest_with('__builtins__')
        except Exception as e:
            console.log(e.obj.get('__name__'))
     """, NAMESPACE),
    ("exception-args-loop", """
        try:
            host.raising()
        except Exception as e:
            for item in e.args:
                if isinstance(item, dict):
                    console.log(item.get('__name__'))
     """, NAMESPACE),
    ("exception-args-unpack", """
        try:
            host.raising()
        except Exception as e:
            text, ns = e.args
            console.log(ns.get('__name__'))
     """, NAMESPACE),
    ("unpacking", "one, ns = host.pair()\nconsole.log(ns.get('__name__'))", NAMESPACE),
    ("loop-unpacking", "for one, ns in [host.pair()]:\n    console.log(ns.get('__name__'))",
     NAMESPACE),
    ("comprehension", "console.log(str([x.get('__name__') for x in host.pair()[1:]]))",
     NAMESPACE),
    ("callback-def", "host.call_with(grab)", NAMESPACE,
     "def grab(ns):\n    console.log(ns.get('__name__'))\n"),
    ("callback-lambda", "host.call_with(lambda ns: console.log(ns.get('__name__')))", NAMESPACE),
    ("with-target", "with host.entered() as ns:\n    console.log(ns.get('__name__'))", NAMESPACE),
    ("decorator", "console.log(str(leak('1 + 1')))", f"{REFUSED}: the builtin 'eval'",
     "@host.as_eval\ndef leak():\n    pass\n"),
    ("type-of-a-private-class", "console.log(str(type(host.private())))",
     f"{TYPE_REFUSED}, not careless_host._Private"),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in ROADS])
def test_every_road_from_host_code_is_checked(careless_pool, case):
    _, body, fragment, *prelude = case
    assert_stopped(run(careless_pool, body, *prelude), BAD, fragment)


def test_careless_host_is_exposed_and_plain_values_pass(careless_pool):
    result = run(careless_pool, """
        one, rest = host.pair()[0], host.call_with(lambda ns: 2)
        console.log(str(one + rest))
    """)
    assert result.ok, result.error
    assert result.logs == ["3"]


# checked() itself


def _executed(namespace: dict) -> dict:
    exec("x = 1", namespace)  # exec() adds the real builtins
    return namespace


@pytest.mark.parametrize("namespace", [
    vars(builtins), vars(json), vars(decimal), _executed(vars(types.ModuleType("made"))),
    _executed({"__name__": "namedtuple_X"}),
    {"__builtins__": {"open": open}, "__name__": "namedtuple_X"},
], ids=["builtins", "json", "decimal", "new-module", "exec-namespace", "exec-builtins-dict"])
def test_checked_refuses_every_module_namespace(namespace):
    with pytest.raises(SandboxViolation, match="the namespace of a module"):
        checked(namespace)


@pytest.mark.parametrize("data", [
    {"__builtins__": {"open": "a string"}, "__name__": "json", "__spec__": None},
    {"__name__": "builtins", "__spec__": {"name": "x"}},
    {"__builtins__": None},
], ids=["builtins-key", "spec-key", "builtins-null"])
def test_checked_passes_data_whose_keys_only_look_like_a_namespace(data):
    # A webhook's JSON may have any keys; only what they hold tells a namespace.
    assert checked(data) is data


def test_checked_passes_plain_values():
    values = [{"__name__": "a name"}, {"a": 1}, [vars(builtins)], datetime.date(2024, 1, 1),
              copy.copy, "__builtins__"]
    assert [checked(v) for v in values] == values


# The compiler puts the check on every road


def test_compiled_code_checks_every_value_host_code_hands_it():
    source = textwrap.dedent("""
        def on_request(request, settings):
            pass

        @decorate
        def decorated():
            pass

        def callback(argument, *rest, key=None, **more):
            return argument

        with make("entered") as entered:
            pass
        with make(("a", "b")) as (first, second):
            pass
        result = make("returned")
        apply = (lambda value: value)(make("lambda"))
        callback("argument", "rest", key="key", extra="more")
    """)
    seen = []

    def check(value):
        seen.append(value)
        return value

    class Manager:
        def __init__(self, value):
            self.value = value

        def __enter__(self):
            return self.value

        def __exit__(self, *exc):
            return False

    namespace = {**restricted_globals(default_registry()), CHECKED: check,
                 "decorate": lambda func: "decorated", "make": Manager}
    exec(compile_handler(Handler(source)), namespace)
    values = [v.value if isinstance(v, Manager) else v for v in seen]
    assert values == [
        "decorated",              # what the decorator made
        "entered", "entered",     # the call's result, then the with target
        ("a", "b"), ("a", "b"),   # the same for a tuple target, before it is unpacked
        "returned", "lambda",     # make("lambda"), then the lambda's argument,
        "lambda", "lambda",       # its read and what the lambda call returned
        "argument", "key", ("rest",), {"extra": "more"},  # the function's parameters,
        "argument",               # and what its call returned
    ]


# Exposed functions that take a name: each looks it up in a table of its own, never on a
# module or a namespace (audited; these hold that down).
@pytest.mark.parametrize(("body", "fragment"), [
    ("import hashlib\nhashlib.new('__builtins__')", "unsupported"),
    ("import hmac\nhmac.new(b'k', b'x', '__builtins__')", "unsupported"),
    ("import hashlib\nhashlib.pbkdf2_hmac('__builtins__', b'p', b's', 1)",
     "unsupported"),
    ("import jwt\njwt.encode({}, 'k', algorithm='__builtins__')", "Algorithm not supported"),
    ("import phonenumbers\nphonenumbers.parse('1234', '__builtins__')", "invalid default region"),
    ("import zoneinfo\nzoneinfo.ZoneInfo('../../etc/passwd')", "subdirectories of TZPATH"),
    ("import csv\ncsv.reader([], dialect='__builtins__')", "unknown dialect"),
    ("'x'.encode('__builtins__')", "unknown encoding"),
])
def test_names_a_handler_passes_are_looked_up_in_tables(load_handler, body, fragment):
    assert_stopped(attempt(load_handler, handler(body)), BAD, fragment)
