"""Public-key schemes: Discord (Ed25519) and SendGrid (ECDSA), against their libraries."""

import base64

import nacl.signing
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from discord_interactions import verify_key
from sendgrid.helpers.eventwebhook import EventWebhook

from segfn.signatures import verify_signature
from tests.signing import BODY, STALE, b64, now, refused, request


def _discord(signer, stamp, body=BODY):
    signed = signer.sign(str(stamp).encode() + body)
    return {"X-Signature-Ed25519": signed.signature.hex(), "X-Signature-Timestamp": str(stamp)}


def test_discord_library_both_ways():
    # Signed with PyNaCl as Discord's docs do, verified by ours and by Discord's own
    # discord-interactions.
    signer = nacl.signing.SigningKey.generate()
    public = signer.verify_key.encode().hex()
    headers = _discord(signer, now())
    verify_signature(request(headers), "discord", public)
    assert verify_key(BODY, headers["X-Signature-Ed25519"], headers["X-Signature-Timestamp"],
                      public)
    other = nacl.signing.SigningKey.generate().verify_key.encode().hex()
    refused("discord", headers, "discord: X-Signature-Ed25519 does not match the body",
            secret=other)
    refused("discord", headers, "does not match the body", body=BODY + b" ", secret=public)
    stale = _discord(signer, now() - STALE)
    refused("discord", stale, "discord: signature is \\d+ s old, tolerance is 300 s",
            secret=public)
    verify_signature(request(stale), "discord", public, tolerance=STALE + 60)
    refused("discord", {"X-Signature-Timestamp": "1"}, "discord: no X-Signature-Ed25519 header",
            secret=public)


def test_discord_bad_keys_and_signatures():
    signer = nacl.signing.SigningKey.generate()
    headers = _discord(signer, now())
    refused("discord", headers, "discord: the public key is not hexadecimal", secret="zz")
    refused("discord", headers, "discord: the public key is not 32 bytes", secret="abcd")
    refused("discord", {**headers, "X-Signature-Ed25519": "not hex"},
            "discord: the X-Signature-Ed25519 header is not hexadecimal",
            secret=signer.verify_key.encode().hex())


def _sendgrid_key():
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(der).decode()


def _sendgrid(private, stamp, body=BODY):
    signature = private.sign(str(stamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": b64(signature),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(stamp)}


def test_sendgrid_library_both_ways():
    # Signed with the P-256 key SendGrid uses; verified by ours and by SendGrid's own
    # sendgrid.helpers.eventwebhook, with the key as SendGrid's settings page shows it.
    private, public = _sendgrid_key()
    headers = _sendgrid(private, now())
    verify_signature(request(headers), "sendgrid", public)
    assert EventWebhook(public).verify_signature(
        BODY.decode(), headers["X-Twilio-Email-Event-Webhook-Signature"],
        headers["X-Twilio-Email-Event-Webhook-Timestamp"])
    _, other = _sendgrid_key()
    refused("sendgrid", headers, "sendgrid: X-Twilio-Email-Event-Webhook-Signature does not "
            "match the body", secret=other)
    refused("sendgrid", headers, "does not match the body", body=BODY + b" ", secret=public)
    stale = _sendgrid(private, now() - STALE)
    refused("sendgrid", stale, "sendgrid: signature is \\d+ s old, tolerance is 300 s",
            secret=public)
    verify_signature(request(stale), "sendgrid", public, tolerance=STALE + 60)
    refused("sendgrid", {}, "sendgrid: no X-Twilio-Email-Event-Webhook-Timestamp header",
            secret=public)


def test_sendgrid_key_forms():
    private, public = _sendgrid_key()
    headers = _sendgrid(private, now())
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    verify_signature(request(headers), "sendgrid", pem.decode())
    refused("sendgrid", headers, "sendgrid: the verification key is not base64",
            secret="not base64!")
    refused("sendgrid", headers, "sendgrid: the verification key is not a public key",
            secret=b64(b"0123456789"))
    ed25519 = nacl.signing.SigningKey.generate().verify_key.encode()
    # The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
    spki = bytes.fromhex("302a300506032b6570032100") + ed25519
    refused("sendgrid", headers, "sendgrid: the verification key is not an elliptic-curve key",
            secret=b64(spki))


def test_sendgrid_published_vector():
    # The signed delivery in SendGrid's own tests (sendgrid/sendgrid-python,
    # test/unit/test_eventwebhook.py): the body ends in CRLF.
    key = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRq"
           "e62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==")
    body = (b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address",'
            b'"sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",'
            b'"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-'
            b'5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",'
            b'"timestamp":1600112492}]\r\n')
    headers = {"X-Twilio-Email-Event-Webhook-Timestamp": "1600112502",
               "X-Twilio-Email-Event-Webhook-Signature": "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVm"
                                                        "xG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh8"
                                                        "9M15TluLtEZtM="}
    verify_signature(request(headers, body), "sendgrid", key, now=1600112502)
    refused("sendgrid", headers, "signature is \\d+ s old", body=body, secret=key)
    refused("sendgrid", headers, "does not match the body", body=body.rstrip(), secret=key,
            now=1600112502)
