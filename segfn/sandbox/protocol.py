"""Frames between a worker and its parent: a 4-byte big-endian length, then JSON.

JSON rather than pickle, so that even a worker whose sandbox was broken cannot make the
parent run code by what it sends. The parent trusts nothing else about a worker's frames
either: it reads them with a much smaller size limit, refuses what is not strict UTF-8 JSON
(``NaN`` and ``Infinity`` included), and every string it decodes is valid Unicode, lone
surrogates replaced, so nothing downstream (the store, a terminal) meets one.
"""

from __future__ import annotations

import json
import math
import struct
from collections import OrderedDict
from collections.abc import Iterator
from typing import IO, Any, Generic, TypeVar

import orjson

from segfn import jsontext

# What the parent sends a worker: a job (its request body is at most 512 KiB) or the
# answers to a fetch (each response up to 10 MiB).
MAX_FRAME = 64 * 1024 * 1024
# What one invocation may send back: its messages, objects, logs and error text, measured
# as its result frame (compact UTF-8 JSON). Room for two Tracking API batches of 500 KB,
# enough for a 512 KiB webhook fanned out into completed messages, and logs (64 KiB) besides.
MAX_OUTPUT_BYTES = 1024 * 1024
# No frame from a worker is larger: a result frame is the invocation's output, and a fetch
# frame (a request body going out) is held to the same size.
MAX_WORKER_FRAME = MAX_OUTPUT_BYTES
# Jobs one worker runs at once (all but one waiting on fetch). Each has a thread whose stack
# counts against the worker's address-space limit, so the parent never sends more.
MAX_JOBS_PER_WORKER = 32
# Handlers a worker keeps by key. The parent sends a handler's source only to a worker that
# does not keep it, and names it by its key otherwise: both keep the same keys in the same
# order (``Kept``), the parent as it sends its frames and the worker as it reads them.
HANDLERS_KEPT = 256
_HEADER = struct.Struct(">I")
HEADER_SIZE = _HEADER.size
T = TypeVar("T")
# Nineteen digits in a row: maybe an integer beyond 64 bits, which orjson reads as a float.
# Found as a run of zeros in the frame with every digit made a zero and every other byte a
# space: a C pass over the bytes, several times faster than a regular expression.
_LONG_DIGITS = b"0" * 19
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))


class FrameTooLarge(ValueError):
    """A message over the size limit: the reader on the other side would refuse it."""


class ProtocolError(ValueError):
    """A frame the reader refuses: over the limit, not JSON, or not of the right shape."""


def encode(message: dict[str, Any], limit: int = MAX_FRAME) -> bytes:
    # Not ASCII-escaped: then a \ud8xx escape never comes from an honest encoder, and the
    # decoder takes its slow path only for frames that carry one.
    data = jsontext.dumps(message)
    if len(data) > limit:
        raise FrameTooLarge(f"frame of {len(data)} bytes is over the limit of {limit}")
    return _HEADER.pack(len(data)) + data


def strict_loads(text: str) -> Any:
    """JSON as its grammar has it: Python's ``json`` would also read NaN and Infinity, and
    read 1e400 as infinity, values no JSON encoder (ours included) writes back. The
    worker's frames and the service API's bodies are read with it; ``ValueError`` says
    what is wrong."""
    if text.startswith("\ufeff"):
        # As json.loads refuses it, naming the fix: the decoder alone says "Expecting value".
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _STRICT.decode(text)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is beyond the range of a JSON number (a double)")
    return number


# One decoder for every call: ``json.loads`` given hooks makes a decoder (and its scanner)
# a call, 1.4 us of the 4.5 a job frame took to read.
_STRICT = json.JSONDecoder(parse_constant=_not_json, parse_float=_finite)


def _loads(data: bytes) -> Any:
    """``strict_loads`` of UTF-8 ``data``, by orjson when it reads the same: it refuses
    NaN, Infinity, numbers beyond a double, lone surrogates and bytes that are not UTF-8,
    but reads an integer beyond 64 bits as a float, so those go the slow way, as does
    whatever it refuses (for the reason ``strict_loads`` gives); all of it in a process
    without orjson (``jsontext.without_orjson``)."""
    if jsontext.uses_orjson() and _LONG_DIGITS not in data.translate(_DIGITS_AS_ZEROS):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return strict_loads(data.decode("utf-8"))


def decode(data: bytes) -> dict[str, Any]:
    """The message of one frame's bytes; ``ProtocolError`` for anything but a JSON object."""
    try:
        message = _loads(data)
        if b"\\ud" in data or b"\\uD" in data:
            # Escapes of surrogates: the JSON decoder keeps a lone one as is.
            message = json.loads(jsontext.valid_utf8(json.dumps(message, ensure_ascii=False)))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("frame is not a JSON object")
    return message


def frame_size(header: bytes | bytearray, limit: int = MAX_FRAME) -> int:
    """The size a frame's header announces; ``ProtocolError`` if over ``limit``."""
    (size,) = _HEADER.unpack(header)
    if size > limit:
        raise ProtocolError(f"frame of {size} bytes is over the limit of {limit}")
    return size


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    """The next frame from a blocking stream (the parent's, in a worker); None at its end."""
    header = stream.read(HEADER_SIZE)
    if len(header) < HEADER_SIZE:
        return None
    size = frame_size(header)
    data = stream.read(size)
    return decode(data) if len(data) == size else None


class Frames:
    """The messages of a byte stream read in chunks of any size (a worker's stdout): each
    chunk fed in gives back the frames it completes, so one read can settle many. A
    frame's size is checked as soon as its header is in, before its body is waited for.
    """

    def __init__(self, limit: int = MAX_WORKER_FRAME) -> None:
        self.limit = limit
        self._pending = bytearray()

    def feed(self, chunk: bytes) -> Iterator[dict[str, Any]]:
        """The messages ``chunk`` completes, in order, each decoded as it is reached, so
        that those before a bad frame are had before its ``ProtocolError``."""
        pending = self._pending
        pending += chunk
        start = 0
        while len(pending) - start >= HEADER_SIZE:
            size = frame_size(pending[start:start + HEADER_SIZE], self.limit)
            end = start + HEADER_SIZE + size
            if end > len(pending):
                break
            body = bytes(pending[start + HEADER_SIZE:end])
            start = end
            yield decode(body)
        del pending[:start]


def field(message: dict[str, Any], name: str, *kinds: type) -> Any:
    """``message[name]``, which must be of one of ``kinds`` exactly (``True`` is no int)."""
    value = message.get(name)
    if type(value) not in kinds:
        raise ProtocolError(f"{message.get('op')} frame: {name} is not "
                            + " or ".join(k.__name__ for k in kinds))
    return value


class Kept(Generic[T]):
    """The ``HANDLERS_KEPT`` handlers used last, by key: using one more forgets the one used
    longest ago. The same uses in the same order keep the same keys, on either side."""

    def __init__(self) -> None:
        self._kept: OrderedDict[str, T] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._kept

    def use(self, key: str) -> T | None:
        """The value kept for ``key``, now the one used last; None if it is not kept."""
        value = self._kept.get(key)
        if value is not None:
            self._kept.move_to_end(key)
        return value

    def keep(self, key: str, value: T) -> None:
        """Keep ``value`` for ``key``, as the one used last."""
        self._kept[key] = value
        self._kept.move_to_end(key)
        while len(self._kept) > HANDLERS_KEPT:
            self._kept.popitem(last=False)
