"""Talkable: referral program webhooks as Segment events about advocates and friends.

In Talkable (Menu > Webhooks) create these webhooks with this function's URL:

| webhook               | emits                                                 |
| --------------------- | ----------------------------------------------------- |
| Offer Signup          | identify + ``Offer Signed Up`` (the advocate)         |
| Claim Signup          | identify + ``Offer Claimed`` (the friend)             |
| Post Share            | ``Offer Shared`` (the advocate)                       |
| Referral              | identify + ``Referral Approved`` (the advocate)       |
| Reward                | ``Reward Earned`` (whoever gets the reward)           |

Other webhook types raise EventNotSupported.

Talkable posts ``application/x-www-form-urlencoded`` with the webhook's data as JSON in the
``payload`` parameter (and ``key``, ``site``, ``type`` beside it); the samples its
dashboard sends, and proxies that re-post them, are one JSON body. Both are read.

Talkable knows people by email: each event's anonymousId is derived from it with
``anonymous_id(email)``, and when Talkable also has your own customer id for the person
(from the purchase or event that made them an advocate) it is the userId. A person with
neither is refused.

Settings:

| name        | type   | required | encrypted | meaning                                     |
| ----------- | ------ | -------- | --------- | ------------------------------------------- |
| securityKey | string | no       | yes       | the site's webhook security key; when set,  |
|             |        |          |           | the ``key`` of every delivery must match it |
"""

import hmac
import json

from segfn import EventNotSupported, Segment, ValidationError, anonymous_id

EVENTS = {
    "offer_signup_web_hook": "Offer Signed Up",
    "claim_signup_web_hook": "Offer Claimed",
    "post_share_web_hook": "Offer Shared",
    "referral_web_hook": "Referral Approved",
    "reward_web_hook": "Reward Earned",
}


def on_request(request, settings):
    body = delivery(request)
    if settings.get("securityKey"):
        # Talkable authenticates itself with the site's key in the body, not a signature.
        if not hmac.compare_digest(str(body.get("key", "")), settings["securityKey"]):
            raise ValidationError("key does not match the security key")
    kind = body.get("type")
    if not kind:
        raise ValidationError("type is missing")
    if kind not in EVENTS:
        raise EventNotSupported(f"Talkable webhook {kind} is not supported")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise ValidationError("payload is missing")

    campaign = payload.get("campaign") or {}
    common = {"campaign_id": campaign.get("id"), "campaign_type": campaign.get("type"),
              "test": body.get("test", False)}
    if kind in ("offer_signup_web_hook", "claim_signup_web_hook"):
        subject = person_ids(payload, "payload")
        identify(subject, payload)
        offer = payload.get("offer") or {}
        properties = {"short_url_code": offer.get("short_url_code"),
                      "subscribed": payload.get("sub_choice")}
    elif kind == "post_share_web_hook":
        subject = person_ids(payload.get("origin"), "payload.origin")
        share = payload.get("share_info") or {}
        properties = {"share_type": payload.get("share_type"),
                      "recipient_count": len(share.get("recipients") or [])}
    elif kind == "referral_web_hook":
        referrer = payload.get("referrer") or {}
        subject = person_ids(referrer.get("origin") or referrer, "payload.referrer")
        identify(subject, referrer.get("person"))
        properties = referral_properties(payload)
    else:
        # The person rewarded, or (for a share or signup reward) the advocate's origin.
        subject = person_ids(payload.get("person") or payload.get("origin"), "payload.origin")
        properties = reward_properties(payload.get("reward") or {})

    Segment.track({**subject, "event": EVENTS[kind], "properties": {
        name: value for name, value in {**common, **properties}.items() if value is not None}})


def delivery(request):
    """The webhook as one object: ``key``, ``type``, ``site``, ``test`` and ``payload``."""
    if not request.headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded"):
        return request.json()
    form = request.form()
    if not form.get("payload"):
        raise ValidationError("the payload parameter is missing")
    try:
        payload = json.loads(form["payload"])
    except ValueError:
        raise ValidationError("the payload parameter is not JSON") from None
    if "type" not in form and isinstance(payload, dict) and "payload" in payload:
        return payload  # the whole webhook in the one parameter
    return {"key": form.get("key"), "type": form.get("type"), "site": form.get("site"),
            "test": form.get("test") in ("true", "1"), "payload": payload}


def person_ids(person, where):
    """userId (your customer id, when Talkable has it) and anonymousId (from the email)."""
    person = person or {}
    if not person.get("email") and not person.get("customer_id"):
        raise ValidationError(f"{where} has neither email nor customer_id")
    ids = {"userId": person.get("customer_id")}
    if person.get("email"):
        ids["anonymousId"] = anonymous_id(person["email"])
    return ids


def identify(subject, person):
    if not person:
        return
    traits = {
        "email": person.get("email"),
        "firstName": person.get("first_name"),
        "lastName": person.get("last_name"),
        "gender": person.get("gender"),
        "subscribed": person.get("sub_choice"),
        "opted_in_at": person.get("opted_in_at"),
        "unsubscribed_at": person.get("unsubscribed_at"),
        "referral_count": (person.get("referral_counts") or {}).get("approved"),
    }
    Segment.identify({**subject, "traits": {
        name: value for name, value in traits.items() if value is not None}})


def referral_properties(payload):
    referrer = payload.get("referrer") or {}
    referred = payload.get("referred") or {}
    order = referred.get("origin") or {}
    return {
        "referred_email": referred.get("email"),
        "order_id": order.get("order_number"),
        "subtotal": order.get("subtotal"),
        "coupon": order.get("coupon_code"),
        "reward_amount": number(referrer.get("amount")),
        "reward_incentive": referrer.get("incentive"),
        "reward_description": referrer.get("incentive_description"),
    }


def reward_properties(reward):
    return {
        "reason": reward.get("reason"),
        "incentive_type": reward.get("incentive_type"),
        "description": reward.get("incentive_description"),
        "amount": number(reward.get("amount")),
        "coupon": reward.get("coupon_code"),
    }


def number(text):
    """Talkable sends amounts as strings ("5.00")."""
    return None if text is None else float(text)
