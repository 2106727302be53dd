"""segfn: Segment Source Functions in Python.

A handler is a module with ``def on_request(request, settings)``. Inside the sandbox the
names below are available without import; importing them from ``segfn`` gives editors and
type checkers the same objects::

    from segfn import Segment, ValidationError

    def on_request(request, settings):
        body = request.json()
        Segment.track({"event": "Issue Opened", "userId": str(body["sender"]["id"])})
"""

from segfn.cache import cache
from segfn.console import console
from segfn.encoding import atob, btoa
from segfn.errors import (
    EventNotSupported,
    FetchError,
    InvalidEventPayload,
    MessageTooLarge,
    RetryError,
    ValidationError,
)
from segfn.fetch import Response, fetch, fetch_all
from segfn.identities import anonymous_id, iso_timestamp, normalize_email
from segfn.properties import compact, require
from segfn.request import Request
from segfn.segment import Segment
from segfn.signatures import verify_hmac, verify_signature
from segfn.version import VERSION

__version__ = VERSION

__all__ = [
    "EventNotSupported",
    "FetchError",
    "InvalidEventPayload",
    "MessageTooLarge",
    "Request",
    "Response",
    "RetryError",
    "Segment",
    "ValidationError",
    "atob",
    "btoa",
    "cache",
    "console",
    "fetch",
    "fetch_all",
    "anonymous_id",
    "compact",
    "require",
    "iso_timestamp",
    "normalize_email",
    "verify_hmac",
    "verify_signature",
]
