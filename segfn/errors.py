"""The exceptions a handler raises or sees, and how each is classified.

A handler raises these to tell the runtime what went wrong; the runtime turns every
exception into one of the error types of the contract (``BadRequest``, ``Retry``, ...),
which decides the webhook's answer and whether the invocation is retried.
"""

from __future__ import annotations


class RetryError(Exception):
    """Raise to have the delivery stored and run again later (answered 202)."""


class ValidationError(Exception):
    """The delivery or an event built from it is invalid (MessageRejected, 400)."""


class InvalidEventPayload(Exception):
    """The delivery's payload is not what the function expects (MessageRejected, 400)."""


class EventNotSupported(Exception):
    """The function does not handle this kind of delivery (UnsupportedEventType, 400)."""


class MessageTooLarge(ValidationError):
    """A completed Segment message is over 32 KiB."""


class FetchError(Exception):
    """``fetch`` could not get a response: refused address, network failure, time out."""


class InvalidSettings(Exception):
    """The function cannot run: bad code, a forbidden import, a missing setting."""


class BodyError(ValueError):
    """The request body cannot be read as asked (not JSON, not UTF-8, not a form)."""


class SandboxViolation(Exception):
    """Handler code reached for something the sandbox does not allow."""


class Timeout(Exception):
    """The invocation ran past its wall-clock limit."""


BAD_REQUEST = "BadRequest"
INVALID_SETTINGS = "InvalidSettings"
MESSAGE_REJECTED = "MessageRejected"
UNSUPPORTED_EVENT_TYPE = "UnsupportedEventType"
MESSAGE_TOO_LARGE = "MessageTooLarge"
RETRY = "Retry"
TIMEOUT = "Timeout"

ERROR_TYPES = frozenset({BAD_REQUEST, INVALID_SETTINGS, MESSAGE_REJECTED,
                         UNSUPPORTED_EVENT_TYPE, MESSAGE_TOO_LARGE, RETRY, TIMEOUT})
RETRYABLE = frozenset({RETRY, TIMEOUT})

# Order matters: MessageTooLarge is a ValidationError, so it is looked up first.
_TYPES: tuple[tuple[type[BaseException], str], ...] = (
    (MessageTooLarge, MESSAGE_TOO_LARGE),
    (ValidationError, MESSAGE_REJECTED),
    (InvalidEventPayload, MESSAGE_REJECTED),
    (EventNotSupported, UNSUPPORTED_EVENT_TYPE),
    (RetryError, RETRY),
    (Timeout, TIMEOUT),
    (InvalidSettings, INVALID_SETTINGS),
)


def error_type(exc: BaseException) -> str:
    """The contract's error type for an exception that escaped a handler."""
    # issubclass of its type: isinstance would ask the object for its __class__.
    for cls, name in _TYPES:
        if issubclass(type(exc), cls):
            return name
    return BAD_REQUEST
