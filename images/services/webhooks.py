"""Webhook subscriptions: create, change, remove, replay; and what a delivery sends.

A subscription starts at the feed's current end: it is told of what happens after it was
made. Its URL is checked when it is made (and again by the worker at every delivery) under
the rules of URL downloads (images/infra/fetch.py): http(s), no private address unless
IMAGES_ALLOW_PRIVATE_URLS, only IMAGES_URL_ALLOWED_HOSTS when set.

Signatures follow the Standard Webhooks specification: the secret is ``whsec_`` and the
base64 of random bytes; ``webhook-signature`` is ``v1,`` and the base64 of an HMAC-SHA256,
keyed with those bytes, of ``"{webhook-id}.{webhook-timestamp}.{body}"``.
"""

import base64
import hashlib
import hmac
import json
import secrets
import uuid

from django.db import transaction
from django.db.models import Max

from images.errors import WebhookNotFound
from images.infra import fetch
from images.models import Image, ImageEvent, Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64
ACTIONS = tuple(ImageEvent.Action.values)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def sign(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of ``body``."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def delivery_policy() -> fetch.FetchPolicy:
    """The address rules of URL downloads, with the webhook's own timeout."""
    from django.conf import settings

    from images.incoming import url_fetch_policy

    policy = url_fetch_policy()
    return fetch.FetchPolicy(
        max_bytes=policy.max_bytes,
        timeout=settings.IMAGES_WEBHOOK_TIMEOUT,
        connect_timeout=min(policy.connect_timeout, settings.IMAGES_WEBHOOK_TIMEOUT),
        allow_private=policy.allow_private,
        allowed_hosts=policy.allowed_hosts,
        max_redirects=0,
    )


def check_url(url: str) -> None:
    """``InvalidUrl``, ``UrlNotAllowed`` or ``DownloadFailed`` (a host that does not
    resolve) for a URL the worker would refuse to deliver to."""
    fetch.check_url(url, delivery_policy())  # the same check as every hop of a download


def webhook_create(
    *,
    url: str,
    actions: list[str] | None = None,
    tags: list[str] | None = None,
    metadata: dict | None = None,
    active: bool = True,
) -> Webhook:
    """A new webhook from the feed's current end; ``actions`` None: all of them."""
    check_url(url)
    with transaction.atomic():
        start = ImageEvent.objects.aggregate(top=Max("cursor"))["top"] or 0
        return Webhook.objects.create(
            url=url,
            actions=list(actions or ACTIONS),
            tags=tags or [],
            metadata=metadata or {},
            active=active,
            secret=new_secret(),
            cursor=start,
        )


def webhook_get(*, webhook_id: uuid.UUID) -> Webhook:
    try:
        return Webhook.objects.get(pk=webhook_id)
    except Webhook.DoesNotExist:
        raise WebhookNotFound() from None


def webhook_update(*, webhook_id: uuid.UUID, **changes) -> Webhook:
    """Change the fields given; ``active`` true resumes a paused webhook at the event it
    stopped at, with its retries started afresh."""
    if "url" in changes:
        check_url(changes["url"])
    with transaction.atomic():
        webhook = _locked(webhook_id)
        for field, value in changes.items():
            setattr(webhook, field, value)
        fields = list(changes)
        if changes.get("active"):
            fields += _reset_retries(webhook)
        # Only these columns: the worker moves ``cursor`` meanwhile (SQLite locks no row).
        webhook.save(update_fields=fields)
    return webhook


def webhook_delete(*, webhook_id: uuid.UUID) -> None:
    deleted, _ = Webhook.objects.filter(pk=webhook_id).delete()
    if not deleted:
        raise WebhookNotFound()


def webhook_redeliver(*, webhook_id: uuid.UUID, after: int) -> Webhook:
    """Deliver again every matching event after cursor ``after``, in order (the webhook
    resumed, if paused)."""
    with transaction.atomic():
        webhook = _locked(webhook_id)
        webhook.cursor = after
        webhook.active = True
        _reset_retries(webhook)
        webhook.save()
    return webhook


def _locked(webhook_id: uuid.UUID) -> Webhook:
    try:
        return Webhook.objects.select_for_update().get(pk=webhook_id)
    except Webhook.DoesNotExist:
        raise WebhookNotFound() from None


def _reset_retries(webhook: Webhook) -> list[str]:
    webhook.attempts = 0
    webhook.failing_since = None
    webhook.retry_at = None
    webhook.paused_reason = ""
    return ["attempts", "failing_since", "retry_at", "paused_reason"]


def matches(webhook: Webhook, event: ImageEvent, image: Image | None) -> bool:
    """Whether the webhook wants the event: its action, and the image's tags and metadata
    as they are now (a purged image matches only a webhook without tag or metadata
    filters)."""
    if webhook.actions and event.action not in webhook.actions:
        return False
    if not webhook.tags and not webhook.metadata:
        return True
    if image is None:
        return False
    if not set(webhook.tags) <= set(image.tags):
        return False
    return all(
        key in image.metadata and _same(image.metadata[key], value)
        for key, value in webhook.metadata.items()
    )


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
