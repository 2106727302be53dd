"""Running one job inside a worker process: a fresh namespace, the handler, the outcome."""

from __future__ import annotations

import builtins
import decimal
import functools
import time
import traceback
import types
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from segfn import errors
from segfn.cache import Cache
from segfn.console import Console, printer
from segfn.errors import InvalidSettings
from segfn.fetch import FetchClient
from segfn.request import Request
from segfn.respond import Reply, respond
from segfn.sandbox import protocol, scope
from segfn.sandbox.compiler import CompileError, Handler, compile_handler
from segfn.sandbox.guards import restricted_globals
from segfn.sandbox.invocation import MAX_ERROR_CHARS, Failure, Job, Result, cut
from segfn.sandbox.modules import ModuleProxy, ModuleRegistry, default_registry
from segfn.segment import SegmentClient
from segfn.settings import Settings

MEMORY_EXCEEDED = "memory limit exceeded"
_BOTH = ("the function both emitted and returned respond(...): a handshake answer is "
         "given alone, so return respond(...) before any Segment call")


SDK_MODULE = "segfn"


@functools.cache
def _shared_names() -> dict[str, Any]:
    """The SDK names that hold no invocation's state: classes, errors, pure helpers."""
    from segfn.encoding import atob, btoa
    from segfn.fetch import Response
    from segfn.identities import anonymous_id, iso_timestamp, normalize_email
    from segfn.properties import compact, require
    from segfn.signatures import verify_hmac, verify_signature

    return {
        "atob": atob,
        "btoa": btoa,
        "Request": Request,
        "Response": Response,
        "RetryError": errors.RetryError,
        "ValidationError": errors.ValidationError,
        "InvalidEventPayload": errors.InvalidEventPayload,
        "EventNotSupported": errors.EventNotSupported,
        "MessageTooLarge": errors.MessageTooLarge,
        "FetchError": errors.FetchError,
        "anonymous_id": anonymous_id,
        "compact": compact,
        "require": require,
        "respond": respond,
        "iso_timestamp": iso_timestamp,
        "normalize_email": normalize_email,
        "verify_hmac": verify_hmac,
        "verify_signature": verify_signature,
    }


def _bound_names(running: scope.Scope | None) -> dict[str, Any]:
    """The SDK objects that act for ``running`` alone (with no scope, they refuse)."""
    client = FetchClient(running)
    return {"Segment": SegmentClient(running), "cache": Cache(running), "fetch": client.fetch,
            "fetch_all": client.fetch_all, "console": Console(running)}


def sdk_names(running: scope.Scope | None = None) -> dict[str, Any]:
    """The names every handler finds without importing (and can import from ``segfn``).

    ``Segment``, ``cache``, ``fetch``, ``fetch_all`` and ``console`` are made for
    ``running`` and act only for it; with no scope they refuse, as outside the sandbox.
    """
    return {**_shared_names(), **_bound_names(running)}


def _importer(shared: Callable[..., Any], bound: Mapping[str, Any]) -> Callable[..., Any]:
    """``__import__`` for one invocation: the shared guard decides what may be imported,
    and ``segfn`` is that invocation's own SDK (``bound`` and the shared names)."""
    sdk: ModuleProxy | None = None

    def guarded_import(name: str, globals: Any = None, locals: Any = None,
                       fromlist: Any = (), level: int = 0) -> ModuleProxy:
        nonlocal sdk
        module = shared(name, globals, locals, fromlist, level)
        if name != SDK_MODULE:
            return module
        if sdk is None:
            sdk = ModuleProxy(SDK_MODULE, {**_shared_names(), **bound})
        return sdk

    return guarded_import


def sandbox_registry(extra: Mapping[str, Iterable[str]] | None = None) -> ModuleRegistry:
    """The default modules, ``segfn`` itself as handlers see it, and the operator's extra
    modules (module name to exposed names)."""
    registry = default_registry()
    registry.register(SDK_MODULE, sdk_names)
    registry.expose(extra or {})
    return registry


class Executor:
    """Compiles handlers once and runs each job in its own namespace."""

    def __init__(self, registry: ModuleRegistry | None = None) -> None:
        registry = registry or sandbox_registry()
        hooks = restricted_globals(registry)
        self._base: Mapping[str, Any] = {**hooks, **_shared_names(), "__name__": "handler"}
        self._builtins: Mapping[str, Any] = hooks["__builtins__"]
        self._compiled: OrderedDict[str, types.CodeType | CompileError] = OrderedDict()

    def _namespace(self, running: scope.Scope) -> dict[str, Any]:
        """A fresh namespace whose SDK objects, ``print`` and ``import segfn`` all act for
        ``running`` alone."""
        bound = _bound_names(running)
        builtins = dict(self._builtins)
        builtins["__import__"] = _importer(self._builtins["__import__"], bound)
        namespace = dict(self._base)
        namespace.update(bound)
        namespace["__builtins__"] = builtins
        namespace["_print_"] = printer(running)
        return namespace

    def _code(self, handler: Handler) -> types.CodeType:
        key = handler.key
        if key not in self._compiled:
            try:
                self._compiled[key] = compile_handler(handler)
            except CompileError as exc:
                self._compiled[key] = exc
            while len(self._compiled) > protocol.HANDLERS_KEPT:
                self._compiled.popitem(last=False)
        self._compiled.move_to_end(key)
        code = self._compiled[key]
        if isinstance(code, CompileError):
            raise CompileError(code.filename, code.problems)
        return code

    def run(self, job: Job, running: scope.Scope) -> Result:
        """Run ``job`` within ``running``; never raises for anything the handler does."""
        started = time.perf_counter()
        error: Failure | None = None
        returned: Any = None
        try:
            with decimal.localcontext(decimal.Context()):
                returned = self._call(job, running)
        except BaseException as exc:  # noqa: BLE001 - every handler failure is a result
            error = describe(exc, job.handler.filename)
        finally:
            # Whatever of the handler outlives the call (a generator finalized later, in
            # another invocation's thread) finds its SDK objects refusing.
            running.end()
        duration = (time.perf_counter() - started) * 1000
        # Exactly a Reply: type() is not fooled by a handler's class claiming to be one.
        reply = returned if type(returned) is Reply else None
        if error is None and reply is not None and (running.messages or running.objects):
            error = Failure(errors.BAD_REQUEST, _BOTH)
        if error is not None:
            return Result(logs=running.logs, error=error, duration_ms=duration)
        return Result(running.messages, running.objects, running.logs,
                      None, duration, reply)

    def _call(self, job: Job, running: scope.Scope) -> Any:
        code = self._code(job.handler)
        namespace = self._namespace(running)
        exec(code, namespace)
        on_request = namespace.get("on_request")
        if not callable(on_request):
            raise InvalidSettings("on_request is not a function")
        request = Request(job.request.body, job.request.headers, job.request.url,
                          alphabetize=job.alphabetize, method=job.request.method)
        return on_request(request, Settings(job.settings, job.settings_given_in))


def _handler_line(exc: BaseException, filename: str) -> int | None:
    line = None
    for frame, lineno in traceback.walk_tb(_TRACEBACK.__get__(exc)):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


# Read through the descriptors of the built-in classes, never through the object or its
# class, which a handler may have defined (an ``args`` property, for one).
_ARGS = BaseException.__dict__["args"]
_TRACEBACK = BaseException.__dict__["__traceback__"]
_NAME = type.__dict__["__name__"]
_BUILTIN_EXCEPTIONS = frozenset(value for value in vars(builtins).values()
                                if isinstance(value, type) and issubclass(value, BaseException))
# Built-in exceptions whose text is not their arguments; C builds it from plain values.
_FORMATTED = (OSError, UnicodeError)
_PLAIN = (str, int, float, bool, type(None), bytes)
_MAX_ARGS = 8
_MAX_INT_BITS = 4096


def _name(cls: type) -> str:
    return str.__str__(_NAME.__get__(cls))[:100]


def _plain(value: object, quoted: bool) -> str:
    """Text for an exception argument without running any of its code: plain values as
    ``str()`` or ``repr()`` would show them, anything else by the name of its type."""
    kind = type(value)
    if kind is str:
        text = value[:MAX_ERROR_CHARS]  # type: ignore[index]
        return repr(text) if quoted else text
    if kind is bytes:
        return repr(value[:MAX_ERROR_CHARS])  # type: ignore[index]
    if kind is int and value.bit_length() > _MAX_INT_BITS:  # type: ignore[attr-defined]
        return "<int>"
    if kind in _PLAIN:
        return repr(value)
    return f"<{_name(kind)}>"


def _text(exc: BaseException) -> str:
    cls = type(exc)
    args = _ARGS.__get__(exc)
    if (cls in _BUILTIN_EXCEPTIONS and issubclass(cls, _FORMATTED)
            and all(type(a) in _PLAIN for a in args)):
        return cut(str(exc))
    if len(args) == 1:
        return _plain(args[0], quoted=issubclass(cls, KeyError))
    shown = [_plain(a, quoted=True) for a in args[:_MAX_ARGS]]
    return "(" + ", ".join(shown + ["..."] * (len(args) > _MAX_ARGS)) + ")"


def describe(exc: BaseException, filename: str) -> Failure:
    """The error type, a message naming the exception, and where in the handler it was
    raised (``FILE:LINE``); no trace.

    Never runs code of the handler's: no ``str()`` or ``repr()`` of what it raised or of
    the arguments it gave; and always returns.
    """
    try:
        return _describe(exc, filename)
    except BaseException:  # noqa: BLE001 - an interruption landing here, memory running out
        return Failure(errors.BAD_REQUEST, "the function failed")


def _compile_failure(exc: CompileError) -> Failure:
    # Every reason, but only the first line: the message goes back to webhook senders.
    return Failure(errors.INVALID_SETTINGS, "; ".join(r for _, r in exc.problems),
                   exc.where(exc.problems[0][0]))


def _describe(exc: BaseException, filename: str) -> Failure:
    if issubclass(type(exc), MemoryError):
        return Failure(errors.BAD_REQUEST, MEMORY_EXCEEDED)
    if type(exc) is CompileError:  # only the compiler makes one: handlers cannot name it
        return _compile_failure(exc)
    kind = errors.error_type(exc)
    line = _handler_line(exc, filename)
    where = f"{filename}:{line}" if line else ""
    if kind == errors.TIMEOUT:
        # The worker, which knows the limit, words it (invocation.timed_out).
        return Failure(kind, "the function ran past its time limit", where)
    name = _name(type(exc))
    text = _text(exc) or name
    if kind == errors.INVALID_SETTINGS:
        return Failure(kind, text, where)
    return Failure(kind, f"{name}: {cut(text, MAX_ERROR_CHARS - len(name) - 2)}", where)
