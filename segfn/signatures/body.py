"""Schemes that sign the body alone with a shared secret, in one header."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from segfn.errors import ValidationError
from segfn.request import Request
from segfn.signatures.checks import digest, encoded, header, matches


@attrs.frozen
class BodyHmac:
    """``header: <prefix><hex or base64 HMAC of the body>``."""

    header: str
    encoding: str = "hex"
    prefix: str = ""
    algorithm: str = "sha256"

    def __call__(self, request: Request, secret: str) -> None:
        signature = header(request, self.header)
        if not signature.startswith(self.prefix):
            raise ValidationError(f"{self.header} does not start with {self.prefix!r}")
        expected = encoded(digest(secret, request.raw_body, self.algorithm), self.encoding)
        if not matches([signature.removeprefix(self.prefix)], expected):
            raise ValidationError(f"{self.header} does not match the body")


def docusign(request: Request, secret: str) -> None:
    """DocuSign Connect: ``X-DocuSign-Signature-1`` (``-2``... one per active key), base64."""
    names = [name for name in request.headers.keys() if name.startswith("x-docusign-signature-")]
    if not names:
        raise ValidationError("no X-DocuSign-Signature-1 header")
    expected = encoded(digest(secret, request.raw_body), "base64")
    if not matches([request.headers.get(name) or "" for name in names], expected):
        raise ValidationError("no X-DocuSign-Signature-N header matches the body")


SCHEMES: dict[str, Callable[..., None]] = {
    "github": BodyHmac("X-Hub-Signature-256", prefix="sha256="),
    "shopify": BodyHmac("X-Shopify-Hmac-Sha256", encoding="base64"),
    "typeform": BodyHmac("Typeform-Signature", encoding="base64", prefix="sha256="),
    "woocommerce": BodyHmac("X-WC-Webhook-Signature", encoding="base64"),
    "intercom": BodyHmac("X-Hub-Signature", prefix="sha1=", algorithm="sha1"),
    "vercel": BodyHmac("x-vercel-signature", algorithm="sha1"),
    "asana": BodyHmac("X-Hook-Signature"),
    "sentry": BodyHmac("Sentry-Hook-Signature"),
    "docusign": docusign,
}
