"""The modules a handler may import, each exposed as a proxy that lists its allowed names.

A handler never holds a real module object: ``import json`` gives a ``ModuleProxy`` whose
only attributes are the names below, so no attribute path (``uuid.os``, ``re.enum.sys``,
``json.codecs``) leads to the interpreter, files or processes. The operator can expose more
with ``register``.
"""

from __future__ import annotations

import collections
import copy as _copy
import datetime
import decimal
import importlib
import json
import random as _random
import types
import urllib.parse as _urlparse
import uuid
import zlib as _zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from segfn.errors import InvalidSettings, SandboxViolation
from segfn.sandbox.handler_classes import is_handler_class
from segfn.sandbox.imports import unavailable

MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024


class ModuleProxy:
    """A read-only namespace standing in for a module inside the sandbox."""

    __slots__ = ("_name", "_members")

    def __init__(self, name: str, members: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_members", dict(members))

    def __getattr__(self, attr: str) -> Any:
        try:
            return self._members[attr]
        except KeyError:
            raise AttributeError(f"module {self._name!r} has no exposed name {attr!r}") from None

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError(f"module {self._name!r} is read-only")

    def __dir__(self) -> list[str]:
        return sorted(self._members)

    def __repr__(self) -> str:
        return f"<module {self._name!r} (segfn sandbox)>"


def _bounded_decompress(data: bytes, wbits: int = _zlib.MAX_WBITS) -> bytes:
    """``zlib.decompress`` that refuses to inflate past ``MAX_DECOMPRESSED_BYTES``."""
    inflater = _zlib.decompressobj(wbits)
    out = inflater.decompress(data, MAX_DECOMPRESSED_BYTES)
    if not inflater.unconsumed_tail:
        # Output zlib still holds back once the input is used up also counts.
        out += inflater.flush()
    if inflater.unconsumed_tail or len(out) > MAX_DECOMPRESSED_BYTES:
        raise ValueError(f"decompressed data exceeds {MAX_DECOMPRESSED_BYTES} bytes")
    return out


# What copy and deepcopy may take apart. Any other object is copied by its own
# ``__reduce__``, which returns a callable and its arguments for copy to call: host code of
# the object's choosing, on the object's data (``typing._GenericAlias`` reduces to a lookup
# in typing's globals by a name the alias holds). These copy by known rules instead.
_ATOMS = frozenset({type(None), bool, int, float, complex, str, bytes, range,
                    types.FunctionType, types.BuiltinFunctionType, decimal.Decimal,
                    datetime.date, datetime.datetime, datetime.time, datetime.timedelta,
                    datetime.timezone, uuid.UUID})
_CONTAINERS = frozenset({tuple, list, dict, set, frozenset, bytearray, collections.deque,
                         collections.OrderedDict, collections.defaultdict,
                         collections.Counter})
# Bases a handler's class may have without bringing a reduce of its own.
_PLAIN_BASES = frozenset({object, BaseException, Exception}) | _CONTAINERS | _ATOMS


def _refuse_copy(function: str, value: Any) -> SandboxViolation:
    cls = type(value)
    return SandboxViolation(
        f"not allowed in a function: {function} copies plain data and objects of the "
        f"function's own classes, not a {cls.__module__}.{cls.__qualname__}; build the "
        "copy from its values")


def _copies_plainly(value: Any) -> bool:
    """``value`` is copied by a rule copy knows, not by a ``__reduce__`` of its own."""
    cls = type(value)
    if cls in _ATOMS or cls in _CONTAINERS or isinstance(value, type):
        return True
    return is_handler_class(cls) and all(
        is_handler_class(base) or base in _PLAIN_BASES for base in cls.__mro__)


def _parts(value: Any) -> Iterator[Any]:
    """What deepcopy copies along with ``value``."""
    if isinstance(value, dict):
        yield from value.keys()
        yield from value.values()
        if isinstance(value, collections.defaultdict):
            yield value.default_factory
    elif isinstance(value, tuple | list | set | frozenset | collections.deque):
        yield from value
    if is_handler_class(type(value)):
        yield from getattr(value, "__dict__", {}).values()
        if isinstance(value, BaseException):
            yield from value.args


def _check_deep(value: Any) -> None:
    seen: set[int] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if id(item) in seen or isinstance(item, type):
            continue
        seen.add(id(item))
        if not _copies_plainly(item):
            raise _refuse_copy("copy.deepcopy", item)
        pending.extend(_parts(item))


def _shallow_copy(value: Any) -> Any:
    """``copy.copy`` of plain data or a handler's object (only the top level is copied)."""
    if not _copies_plainly(value):
        raise _refuse_copy("copy.copy", value)
    return _copy.copy(value)


def _deepcopy(value: Any) -> Any:
    """``copy.deepcopy`` of plain data and handlers' objects, without ``memo``: the memo a
    caller passes gets the originals of everything copied, so ``deepcopy(jwt.encode, memo)``
    would hand out PyJWT's global algorithm registry."""
    _check_deep(value)
    return _copy.deepcopy(value)


def _urlsplit(url: str, scheme: str = "", allow_fragments: bool = True) -> Any:
    # urllib.parse.urlsplit is an lru_cache shared by every invocation in the worker:
    # its cache_info() and cache_clear() would let one invocation observe or disturb another.
    return _urlparse.urlsplit(url, scheme, allow_fragments)


def _hashlib_members() -> dict[str, Any]:
    import hashlib

    members = _pick("hashlib", ("md5", "sha1", "sha224", "sha256", "sha384", "sha512",
                                "sha3_224", "sha3_256", "sha3_384", "sha3_512", "blake2b",
                                "blake2s", "new", "pbkdf2_hmac"))()
    # The module's own sets are shared: one invocation could add to them for the next.
    members["algorithms_available"] = frozenset(hashlib.algorithms_available)
    members["algorithms_guaranteed"] = frozenset(hashlib.algorithms_guaranteed)
    return members


# The module-level functions of ``random`` share one seedable Mersenne Twister: 624 outputs
# reveal its state, so one invocation could predict another's values. These draw from the OS;
# ``random.Random(seed)`` remains for reproducible sequences.
_RANDOM_FUNCTIONS = ("random", "randint", "randrange", "choice", "choices", "shuffle", "sample",
                     "uniform", "gauss", "normalvariate", "triangular", "betavariate",
                     "expovariate", "getrandbits", "randbytes")


def _random_members() -> dict[str, Any]:
    source = _random.SystemRandom()
    return {"Random": _random.Random,
            **{name: getattr(source, name) for name in _RANDOM_FUNCTIONS}}


def _defused_xml() -> dict[str, Any]:
    import xml.etree.ElementTree as stdlib_et

    import defusedxml.ElementTree as defused_et

    return {
        "fromstring": defused_et.fromstring,
        "XML": defused_et.XML,
        "ParseError": stdlib_et.ParseError,
        "Element": stdlib_et.Element,
        "SubElement": stdlib_et.SubElement,
        "tostring": stdlib_et.tostring,
        "iselement": stdlib_et.iselement,
    }


def _pick(module_name: str, names: Iterable[str]) -> Callable[[], dict[str, Any]]:
    def load() -> dict[str, Any]:
        module = importlib.import_module(module_name)
        return {name: getattr(module, name) for name in names}

    return load


def _pick_checked(module_name: str, names: Iterable[str]) -> Callable[[], dict[str, Any]]:
    """``_pick`` for names an operator chose: refuses a name that is itself a module, since
    ``from m import x`` hands it over without passing through the guards."""
    pick = _pick(module_name, names)

    def load() -> dict[str, Any]:
        members = pick()
        for name, value in members.items():
            if isinstance(value, types.ModuleType):
                raise ValueError(f"{module_name}.{name} is a module; list the names in it "
                                 f"as a module of their own ({value.__name__})")
        return members

    return load


def read_module_config(path: str) -> dict[str, list[str]]:
    """An operator's extra modules: a JSON object of module name to the names it exposes.

    Checked here, in the process that reads it, so that a mistake stops the command at
    start rather than every worker: each module must import and have each listed name.
    """
    try:
        with open(path, encoding="utf-8") as file:
            config = json.load(file)
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(config, dict) or not all(
            isinstance(names, list) and all(isinstance(n, str) and not n.startswith("_")
                                            for n in names)
            for names in config.values()):
        raise ValueError(f"{path}: expected {{\"module\": [\"name\", ...]}} with names "
                         "that do not start with _")
    for module_name, names in config.items():
        try:
            _pick_checked(module_name, names)()
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"{path}: {module_name}: {exc}") from None
    return config


_RE_FLAGS = ("A", "ASCII", "I", "IGNORECASE", "M", "MULTILINE", "S", "DOTALL", "X", "VERBOSE",
             "U", "UNICODE")
_ROUNDING = ("ROUND_UP", "ROUND_DOWN", "ROUND_CEILING", "ROUND_FLOOR", "ROUND_HALF_UP",
             "ROUND_HALF_DOWN", "ROUND_HALF_EVEN", "ROUND_05UP")

# Each entry lists public names that compute. Left out on purpose: anything that reads
# files (json.load, csv field_size_limit), global interpreter state (random.seed,
# decimal.setcontext), the network (jwt.PyJWKClient), subprocesses (uuid.uuid1, which may
# shell out for a MAC address), code evaluation (typing.get_type_hints,
# functools.singledispatch) and dunder copying (functools.wraps, functools.update_wrapper).
_DEFAULTS: dict[str, Callable[[], dict[str, Any]]] = {
    "json": _pick("json", ("loads", "dumps", "JSONDecodeError", "JSONEncoder", "JSONDecoder")),
    "re": _pick("re", ("compile", "match", "fullmatch", "search", "sub", "subn", "split",
                       "findall", "finditer", "escape", "error", "Pattern", "Match")
                + _RE_FLAGS),
    "math": _pick("math", [n for n in dir(importlib.import_module("math"))
                           if not n.startswith("_")]),
    "datetime": _pick("datetime", ("date", "datetime", "time", "timedelta", "timezone",
                                   "tzinfo", "MINYEAR", "MAXYEAR", "UTC")),
    "zoneinfo": _pick("zoneinfo", ("ZoneInfo", "ZoneInfoNotFoundError", "available_timezones")),
    "time": _pick("time", ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter",
                           "perf_counter_ns", "gmtime", "localtime", "mktime", "strftime",
                           "strptime", "sleep", "struct_time", "asctime", "ctime", "timezone",
                           "altzone", "daylight", "tzname")),
    "base64": _pick("base64", ("b64encode", "b64decode", "urlsafe_b64encode",
                               "urlsafe_b64decode", "standard_b64encode", "standard_b64decode",
                               "b32encode", "b32decode", "b16encode", "b16decode", "b85encode",
                               "b85decode", "a85encode", "a85decode", "encodebytes",
                               "decodebytes")),
    "hashlib": _hashlib_members,
    "hmac": _pick("hmac", ("new", "compare_digest", "digest", "HMAC")),
    "secrets": _pick("secrets", ("token_bytes", "token_hex", "token_urlsafe", "choice",
                                 "randbelow", "randbits", "compare_digest")),
    "uuid": _pick("uuid", ("UUID", "uuid3", "uuid4", "uuid5", "NAMESPACE_DNS", "NAMESPACE_URL",
                           "NAMESPACE_OID", "NAMESPACE_X500")),
    "zlib": lambda: {
        "compress": _zlib.compress,
        "decompress": _bounded_decompress,
        "crc32": _zlib.crc32,
        "adler32": _zlib.adler32,
        "error": _zlib.error,
        "MAX_WBITS": _zlib.MAX_WBITS,
    },
    "urllib.parse": lambda: {
        **_pick("urllib.parse", ("quote", "quote_plus", "quote_from_bytes", "unquote",
                                 "unquote_plus", "unquote_to_bytes", "urlencode", "urlparse",
                                 "urlunparse", "urlunsplit", "urljoin", "urldefrag", "parse_qs",
                                 "parse_qsl"))(),
        "urlsplit": _urlsplit,
    },
    "xml.etree.ElementTree": _defused_xml,
    "csv": _pick("csv", ("reader", "writer", "DictReader", "DictWriter", "Error", "excel",
                         "excel_tab", "unix_dialect", "QUOTE_ALL", "QUOTE_MINIMAL",
                         "QUOTE_NONE", "QUOTE_NONNUMERIC")),
    "decimal": _pick("decimal", ("Decimal", "Context", "localcontext", "getcontext",
                                 "InvalidOperation", "DivisionByZero", "Inexact", "Rounded",
                                 "DecimalException") + _ROUNDING),
    "random": _random_members,
    "string": _pick("string", ("ascii_letters", "ascii_lowercase", "ascii_uppercase", "digits",
                               "hexdigits", "octdigits", "punctuation", "printable",
                               "whitespace", "capwords")),
    "itertools": _pick("itertools", [n for n in dir(importlib.import_module("itertools"))
                                     if not n.startswith("_")]),
    # Not singledispatch: its register() reads string annotations with typing.get_type_hints,
    # which eval()s them outside the guards.
    "functools": _pick("functools", ("reduce", "partial", "lru_cache", "cache", "cmp_to_key",
                                     "total_ordering", "cached_property", "partialmethod")),
    "collections": _pick("collections", ("Counter", "OrderedDict", "defaultdict", "deque",
                                         "namedtuple", "ChainMap")),
    "statistics": _pick("statistics", ("mean", "fmean", "geometric_mean", "harmonic_mean",
                                       "median", "median_low", "median_high", "median_grouped",
                                       "mode", "multimode", "pstdev", "pvariance", "stdev",
                                       "variance", "quantiles", "StatisticsError")),
    "copy": lambda: {"copy": _shallow_copy, "deepcopy": _deepcopy},
    "typing": _pick("typing", ("Any", "Optional", "Union", "List", "Dict", "Tuple", "Set",
                               "FrozenSet", "Callable", "Iterable", "Iterator", "Mapping",
                               "MutableMapping", "Sequence", "Literal", "TypedDict",
                               "NamedTuple", "cast", "TYPE_CHECKING", "Final")),
    "jwt": _pick("jwt", ("encode", "decode", "get_unverified_header", "PyJWTError",
                         "InvalidTokenError", "DecodeError", "InvalidSignatureError",
                         "ExpiredSignatureError", "InvalidAudienceError", "InvalidIssuerError",
                         "ImmatureSignatureError", "MissingRequiredClaimError")),
    "phonenumbers": _pick("phonenumbers", ("parse", "format_number", "PhoneNumberFormat",
                                           "is_valid_number", "is_possible_number",
                                           "NumberParseException", "region_code_for_number",
                                           "number_type", "PhoneNumberType", "PhoneNumber",
                                           "country_code_for_region")),
}


class ModuleRegistry:
    """Which modules handler code may import, loaded lazily into proxies."""

    def __init__(self, loaders: Mapping[str, Callable[[], Mapping[str, Any]]]) -> None:
        self._loaders = dict(loaders)
        self._proxies: dict[str, ModuleProxy] = {}
        self._classes: frozenset[type] | None = None

    def names(self) -> list[str]:
        return sorted(self._loaders)

    def expose(self, config: Mapping[str, Iterable[str]]) -> None:
        """Expose an operator's extra modules (see ``read_module_config``)."""
        for name, names in config.items():
            self.register(name, _pick_checked(name, list(names)))

    def register(self, name: str, members: Mapping[str, Any] | Callable[[], Mapping[str, Any]]
                 ) -> None:
        """Expose module ``name`` with exactly ``members`` (a mapping, or a function making one)."""
        self._loaders[name] = members if callable(members) else (lambda: members)
        self._proxies = {k: v for k, v in self._proxies.items()
                         if k != name and not name.startswith(k + ".")}
        self._classes = None

    def proxy(self, name: str) -> ModuleProxy:
        """The proxy for an exposed module or for a package above one (``urllib``)."""
        if name not in self._proxies:
            self._proxies[name] = self._build(name)
        return self._proxies[name]

    def _build(self, name: str) -> ModuleProxy:
        members: dict[str, Any] = {}
        if name in self._loaders:
            members.update(self._loaders[name]())
        prefix = name + "."
        children = {sub[len(prefix):].split(".")[0] for sub in self._loaders
                    if sub.startswith(prefix)}
        for child in children:
            members[child] = self.proxy(prefix + child)
        if not members:
            raise InvalidSettings(unavailable(name, self.names()))
        return ModuleProxy(name, members)

    def classes(self) -> frozenset[type]:
        """The classes a handler can name through the exposed modules: the classes among
        their members and the classes of their plain values (``Segment``, ``re.I``).

        Loads every exposed module the first time it is asked.
        """
        if self._classes is None:
            found: set[type] = set()
            for name in self._loaders:
                for value in object.__getattribute__(self.proxy(name), "_members").values():
                    if isinstance(value, type):
                        found.add(value)
                    elif not callable(value) and not isinstance(value, ModuleProxy):
                        found.add(type(value))
            self._classes = frozenset(found)
        return self._classes

    def is_exposed(self, name: str) -> bool:
        return any(sub == name or sub.startswith(name + ".") for sub in self._loaders)


def default_registry() -> ModuleRegistry:
    return ModuleRegistry(_DEFAULTS)
