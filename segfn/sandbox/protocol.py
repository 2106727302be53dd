"""Frames between a worker and its parent: a 4-byte big-endian length, then JSON.

JSON rather than pickle, so that even a worker whose sandbox was broken cannot make the
parent run code by what it sends.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import IO, Any

MAX_FRAME = 64 * 1024 * 1024
# Jobs one worker runs at once (all but one waiting on fetch). Each has a thread whose stack
# counts against the worker's address-space limit, so the parent never sends more.
MAX_JOBS_PER_WORKER = 32
_HEADER = struct.Struct(">I")


class FrameTooLarge(ValueError):
    """A message over ``MAX_FRAME`` bytes: the reader on the other side would refuse it."""


def encode(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_FRAME:
        raise FrameTooLarge(f"frame of {len(data)} bytes is over the limit of {MAX_FRAME}")
    return _HEADER.pack(len(data)) + data


def _decode(data: bytes) -> dict[str, Any]:
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError("frame is not a JSON object")
    return message


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    """The next frame from a blocking stream; None at end of stream."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is over the limit")
    return _decode(stream.read(size))


async def read_frame_async(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    try:
        header = await reader.readexactly(_HEADER.size)
        (size,) = _HEADER.unpack(header)
        if size > MAX_FRAME:
            raise ValueError(f"frame of {size} bytes is over the limit")
        return _decode(await reader.readexactly(size))
    except asyncio.IncompleteReadError:
        return None
