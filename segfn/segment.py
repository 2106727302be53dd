"""``Segment``: the calls a handler makes to emit events and objects."""

from __future__ import annotations

from typing import Any

from segfn import messages
from segfn.sandbox import scope


class SegmentClient:
    """Emits Segment-spec messages into the invocation it was given to.

    Each call takes one dict in Segment's camelCase (``{"userId": "42"}``) or snake_case
    keyword arguments (``user_id="42"``). A call that fails validation raises
    ``ValidationError`` and emits nothing; messages are delivered only if ``on_request``
    returns normally.
    """

    __slots__ = ("_scope",)

    def __init__(self, running: scope.Scope | None) -> None:
        self._scope = running

    def identify(self, *args: Any, **kwargs: Any) -> None:
        self._emit("identify", args, kwargs)

    def track(self, *args: Any, **kwargs: Any) -> None:
        self._emit("track", args, kwargs)

    def page(self, *args: Any, **kwargs: Any) -> None:
        self._emit("page", args, kwargs)

    def screen(self, *args: Any, **kwargs: Any) -> None:
        self._emit("screen", args, kwargs)

    def group(self, *args: Any, **kwargs: Any) -> None:
        self._emit("group", args, kwargs)

    def alias(self, *args: Any, **kwargs: Any) -> None:
        self._emit("alias", args, kwargs)

    def set(self, *args: Any, **kwargs: Any) -> None:
        """Save an object (``collection``, ``id``, ``properties``) to the object store."""
        running = scope.live(self._scope)
        running.objects.append(messages.build_object(messages.call_fields("set", args, kwargs)))

    def _emit(self, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        running = scope.live(self._scope)
        fields = messages.call_fields(kind, args, kwargs)
        # The sequence number is taken only for a valid call, so a refused call leaves the
        # messageIds of later calls as they would have been.
        message = messages.build_message(kind, fields, invocation_id=running.invocation_id,
                                         sequence=running.sequence, now=running.now())
        running.next_sequence()
        running.messages.append(message)

    def __repr__(self) -> str:
        return "<segfn Segment>"


# What ``from segfn import Segment`` gives outside the sandbox; inside, each invocation's
# namespace (and its ``segfn`` module) has a ``SegmentClient`` of its own.
Segment = SegmentClient(None)
