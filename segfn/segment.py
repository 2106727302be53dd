"""``Segment``: the calls a handler makes to emit events and objects."""

from __future__ import annotations

from typing import Any

from segfn import messages
from segfn.sandbox import scope


class SegmentClient:
    """Emits Segment-spec messages into the running invocation.

    Each call takes one dict in Segment's camelCase (``{"userId": "42"}``) or snake_case
    keyword arguments (``user_id="42"``). A call that fails validation raises
    ``ValidationError`` and emits nothing; messages are delivered only if ``on_request``
    returns normally.
    """

    __slots__ = ()

    def identify(self, *args: Any, **kwargs: Any) -> None:
        _emit("identify", args, kwargs)

    def track(self, *args: Any, **kwargs: Any) -> None:
        _emit("track", args, kwargs)

    def page(self, *args: Any, **kwargs: Any) -> None:
        _emit("page", args, kwargs)

    def screen(self, *args: Any, **kwargs: Any) -> None:
        _emit("screen", args, kwargs)

    def group(self, *args: Any, **kwargs: Any) -> None:
        _emit("group", args, kwargs)

    def alias(self, *args: Any, **kwargs: Any) -> None:
        _emit("alias", args, kwargs)

    def set(self, *args: Any, **kwargs: Any) -> None:
        """Save an object (``collection``, ``id``, ``properties``) to the object store."""
        running = scope.current()
        running.objects.append(messages.build_object(messages.call_fields("set", args, kwargs)))

    def __repr__(self) -> str:
        return "<segfn Segment>"


def _emit(kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    running = scope.current()
    fields = messages.call_fields(kind, args, kwargs)
    # The sequence number is taken only for a valid call, so a refused call leaves the
    # messageIds of later calls as they would have been.
    message = messages.build_message(kind, fields, invocation_id=running.invocation_id,
                                     sequence=running.sequence, now=running.now())
    running.next_sequence()
    running.messages.append(message)


Segment = SegmentClient()
