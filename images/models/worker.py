"""The background worker's rows: how far each job has read the change feed, the webhooks
and their deliveries (images/worker/)."""

import uuid

from django.db import models
from django.utils import timezone


class WorkerCursor(models.Model):
    """How far a background job has read the change feed (images/worker/): the last event
    it has finished with. It moves only after the work is done, so a worker killed at any
    moment leaves the next one to redo, never to skip."""

    job = models.CharField(max_length=32, unique=True)
    cursor = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.job} at {self.cursor}"


class Webhook(models.Model):
    """A subscription to the change feed, pushed to ``url`` by the worker, signed with
    ``secret`` (Standard Webhooks). ``cursor`` is the last event it is done with (delivered,
    refused by the receiver or left out by its filters); events go out one at a time, in
    cursor order. While an event fails, ``retry_at`` is when it is tried again."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=2048)
    actions = models.JSONField(default=list, blank=True)  # empty: every action
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    cursor = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)  # of the event after ``cursor``
    failing_since = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.TextField(blank=True, default="")
    delivered = models.BigIntegerField(default=0)  # attempts by outcome, for /metrics
    failed = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One attempt to deliver one event to one webhook (the recent ones are kept)."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered"  # 2xx
        REJECTED = "rejected"  # another 4xx: the receiver refused it, not retried
        RETRYING = "retrying"  # 5xx, 429, timeout, network error: tried again later
        REFUSED = "refused"  # the address is not allowed: not sent, the webhook paused

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    cursor = models.BigIntegerField()
    attempt = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["webhook", "-id"], name="webhook_delivery_recent")]

    def __str__(self) -> str:
        return f"{self.cursor} {self.outcome}"
