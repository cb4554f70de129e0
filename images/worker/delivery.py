"""Webhook deliveries: each active webhook's events after its cursor, one at a time, in
cursor order, POSTed signed (Standard Webhooks; images/services/webhooks.py).

- 2xx: delivered, the cursor moves on. Another 4xx (but 408, 429): the receiver refused
  this event; recorded, not retried, the cursor moves on. 410 Gone: the webhook is paused.
- 5xx, 408, 429, a timeout or a network error: the same event is tried again after an
  exponential back-off with jitter (IMAGES_WEBHOOK_RETRY_BASE, doubled each time, an hour
  at most); after IMAGES_WEBHOOK_RETRY_HOURS of failures the webhook is paused, the
  reason recorded. Events behind it wait: the order holds.
- An address the rules refuse (a private one, a host not allowed) is not contacted: the
  webhook is paused with the reason.

The cursor moves only after the attempt is recorded: a worker killed in between sends the
event again, with the same ``webhook-id`` (its cursor), which lets a receiver drop repeats.
"""

import json
import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from images.api.serializers.history import EventSerializer
from images.api.serializers.images import ImageSerializer, TrashedImageSerializer
from images.errors import DownloadFailed, DownloadTimeout, InvalidUrl, UrlNotAllowed
from images.infra import fetch
from images.models import Image, ImageEvent, Webhook, WebhookDelivery
from images.services import webhooks
from images.worker.claim import claimed

logger = logging.getLogger(__name__)

BATCH = 100
MAX_DELAY = 3600.0  # seconds between two attempts, at most
KEEP_DELIVERIES = 1000  # attempts kept per webhook
Outcome = WebhookDelivery.Outcome


def run() -> int:
    """One round over the webhooks that are due, up to BATCH events each; the number of
    events handled. On PostgreSQL each event is a transaction of its own, its webhook's row
    locked: a worker killed mid-batch repeats one event, not the batch."""
    now = timezone.now()
    due = Webhook.objects.filter(active=True).filter(
        Q(retry_at__isnull=True) | Q(retry_at__lte=now)
    )
    step = 1 if connection.vendor == "postgresql" else BATCH
    handled = 0
    for pk in due.values_list("pk", flat=True):
        for _ in range(0, BATCH, step):
            with claimed(Webhook.objects.filter(pk=pk, active=True)) as webhook:
                done = deliver_due(webhook, limit=step) if webhook is not None else 0
            handled += done
            if not done:
                break
    return handled


def backlog() -> dict[Webhook, int]:
    """Events after each webhook's cursor (for /metrics; filters not applied)."""
    top = ImageEvent.objects.order_by("-cursor").values_list("cursor", flat=True).first() or 0
    return {webhook: max(top - webhook.cursor, 0) for webhook in Webhook.objects.all()}


def deliver_due(webhook: Webhook, *, limit: int = BATCH) -> int:
    """Up to ``limit`` events after the webhook's cursor, in order, stopping at one that
    fails; the number handled (0: nothing due)."""
    if webhook.retry_at is not None and webhook.retry_at > timezone.now():
        return 0
    events = ImageEvent.objects.filter(cursor__gt=webhook.cursor).order_by("cursor")[:limit]
    handled = 0
    for event in events:
        image = Image.all_objects.filter(pk=event.image_id).first()
        if webhooks.matches(webhook, event, image):
            outcome = attempt(webhook, event, image)
            if outcome not in (Outcome.DELIVERED, Outcome.REJECTED):
                return handled + 1
        if not _advance(webhook, event.cursor):
            return handled + 1  # changed meanwhile (redelivered, resumed): read it again
        handled += 1
    return handled


def payload(event: ImageEvent, image: Image | None) -> dict:
    data = dict(EventSerializer(event).data)
    if image is None:
        data["image"] = None
    elif image.trashed:
        data["image"] = TrashedImageSerializer(image).data
    else:
        data["image"] = ImageSerializer(image).data
    return {"type": f"image.{event.action}", "timestamp": data["at"], "data": data}


def attempt(webhook: Webhook, event: ImageEvent, image: Image | None) -> str:
    """POST the event once; record the attempt and its consequence; its outcome."""
    body = json.dumps(payload(event, image), cls=JSONEncoder, separators=(",", ":")).encode()
    message_id, timestamp = str(event.cursor), int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(
            secret=webhook.secret, message_id=message_id, timestamp=timestamp, body=body
        ),
    }
    started = time.monotonic()
    status, error = None, ""
    try:
        status = fetch.post(
            webhook.url, body=body, headers=headers, policy=webhooks.delivery_policy()
        )
    except (InvalidUrl, UrlNotAllowed) as exc:
        outcome, error = Outcome.REFUSED, exc.detail
    except (DownloadFailed, DownloadTimeout) as exc:
        outcome, error = Outcome.RETRYING, exc.detail.replace("download", "delivery")
    else:
        if 200 <= status < 300:
            outcome = Outcome.DELIVERED
        elif 400 <= status < 500 and status not in (408, 429):
            outcome = Outcome.REJECTED
        else:
            outcome = Outcome.RETRYING
    WebhookDelivery.objects.create(
        webhook=webhook,
        cursor=event.cursor,
        attempt=webhook.attempts + 1,
        outcome=outcome,
        response_code=status,
        duration_ms=round((time.monotonic() - started) * 1000),
        error=error,
    )
    _prune(webhook)
    counted = "delivered" if outcome == Outcome.DELIVERED else "failed"
    Webhook.objects.filter(pk=webhook.pk).update(**{counted: F(counted) + 1})
    if outcome == Outcome.REFUSED:
        _pause(webhook, f"The address was refused: {error}")
    elif status == 410:
        _pause(webhook, "The receiver answered 410 Gone.")
    elif outcome == Outcome.RETRYING:
        _retry_later(webhook, event.cursor, reason=error or f"The receiver answered {status}.")
    return outcome


def _advance(webhook: Webhook, cursor: int) -> bool:
    """Move the cursor past ``cursor``, unless the webhook's cursor changed meanwhile."""
    moved = Webhook.objects.filter(pk=webhook.pk, cursor=webhook.cursor).update(
        cursor=cursor, attempts=0, failing_since=None, retry_at=None
    )
    webhook.cursor, webhook.attempts = cursor, 0
    return bool(moved)


def _retry_later(webhook: Webhook, cursor: int, *, reason: str) -> None:
    now = timezone.now()
    failing_since = webhook.failing_since or now
    attempts = webhook.attempts + 1
    if now - failing_since >= timedelta(hours=settings.IMAGES_WEBHOOK_RETRY_HOURS):
        hours = settings.IMAGES_WEBHOOK_RETRY_HOURS
        _pause(webhook, f"Event {cursor} failed for {hours:g} hours; last: {reason}")
        return
    delay = min(settings.IMAGES_WEBHOOK_RETRY_BASE * 2 ** (attempts - 1), MAX_DELAY)
    delay = delay / 2 + random.uniform(0, delay / 2)  # jitter: receivers coming back unsynced
    Webhook.objects.filter(pk=webhook.pk, cursor=webhook.cursor).update(
        attempts=attempts, failing_since=failing_since, retry_at=now + timedelta(seconds=delay)
    )


def _pause(webhook: Webhook, reason: str) -> None:
    logger.warning("webhook %s paused: %s", webhook.pk, reason)
    Webhook.objects.filter(pk=webhook.pk, cursor=webhook.cursor).update(
        active=False, paused_reason=reason, retry_at=None
    )


def _prune(webhook: Webhook) -> None:
    """Keep the last KEEP_DELIVERIES attempts (checked every hundredth)."""
    newest = webhook.deliveries.values_list("pk", flat=True).first()
    if newest is None or newest % 100:
        return
    oldest_kept = webhook.deliveries.values_list("pk", flat=True)[
        KEEP_DELIVERIES - 1 : KEEP_DELIVERIES
    ]
    if oldest_kept:
        webhook.deliveries.filter(pk__lt=oldest_kept[0]).delete()
