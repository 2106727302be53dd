"""Schemes that send a shared secret itself rather than a signature of the body.

They prove only that the sender knows the secret, not that the body is the one it sent:
a provider offering a signature should be checked by that instead.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from segfn.errors import ValidationError
from segfn.request import Request
from segfn.signatures.checks import header


def gitlab(request: Request, secret: str) -> None:
    """``X-Gitlab-Token``: the webhook's secret token, as typed into GitLab."""
    if not hmac.compare_digest(header(request, "X-Gitlab-Token").encode(), secret.encode()):
        raise ValidationError("X-Gitlab-Token is not the secret token")


def pipedrive(request: Request, secret: str) -> None:
    """HTTP basic auth, ``Authorization: Basic base64(user:password)``; the secret is
    ``user:password`` as set on the webhook."""
    scheme, _, credentials = header(request, "Authorization").partition(" ")
    if scheme.lower() != "basic":
        raise ValidationError("Authorization is not Basic")
    try:
        given = base64.b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("Authorization Basic credentials are not base64") from None
    if not hmac.compare_digest(given, secret.encode()):
        raise ValidationError("Authorization Basic credentials are not user:password")


SCHEMES = {"gitlab": gitlab, "pipedrive": pipedrive}
